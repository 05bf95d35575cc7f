/* The builder's internals, shared by the files behind build.h and nothing
 * outside engine/build/:
 *   builder.c  the plan (stages, args, target) and the loop over steps
 *   bstate.c   a stage's state: its base (FROM), layers, config, keys
 *   bconfig.c  the instructions that change only the config (ENV, CMD...)
 *   brun.c     RUN: a container on the stage's layers, its upper kept
 *   differ.c   an overlay upper directory into a layer blob
 *   bcopy.c    COPY and ADD: the sources, their digest, the layer
 *   bcache.c   the cache: a step's key -> its layer
 *   bwork.c    temporary directories, the lock, what killed builds left
 *   bimage.c   the image: config, manifest, names */
#ifndef SV_BUILD_INT_H
#define SV_BUILD_INT_H

#include "build/build.h"
#include "build/dockerfile.h"
#include "build/ignore.h"
#include "host/userns.h"

#include <jansson.h>

struct blayer {
    char digest[SV_DIGEST_LEN + 1];  /* the blob's; "" while it has none (see dir) */
    char diff_id[SV_DIGEST_LEN + 1]; /* its uncompressed tar's */
    char *media_type;
    int64_t size;
    /* Its unpacked directory, <state root>/images/layers/DIR-UID: the
     * blob's hex; for a RUN of a stage that no image takes, whose layer
     * gets no blob (it is only read back here), the step's key's. */
    char dir[65];
};

struct bvar {
    char *name;
    char *value; /* NULL: declared without a value */
};

struct bvars {
    struct bvar *v;
    size_t n;
};

struct bstage {
    char *name;   /* the AS name, lower-cased; NULL when none */
    size_t index; /* 0 for the first stage */
    size_t first; /* its FROM's index among the instructions */
    size_t end;   /* one past its last instruction */
    bool needed, done;
    bool in_image; /* its layers are the image's (the target, or what it is FROM) */
    char *label;   /* as progress shows it: the name, else "stage-N" */
    char *base;    /* what it is FROM, as the user wrote it (expanded) */
    /* The state after the steps so far. */
    char key[SV_DIGEST_LEN + 1]; /* the cache key chain */
    struct blayer *layers;
    size_t n_layers;
    json_t *config;  /* the image config's "config" object */
    json_t *history; /* its "history" array */
    char **shell;    /* SHELL, else /bin/sh -c */
    struct bvars args;
    int64_t created; /* unix seconds: the newest layer's, for a stable config */
    bool cmd_set;    /* CMD given in this stage (ENTRYPOINT then keeps it) */
};

struct build {
    const struct sv_build_opts *o;
    struct sv_dockerfile df;
    struct bstage *stages;
    size_t n_stages;
    struct bvars global; /* ARGs before the first FROM */
    struct bvars given;  /* --build-arg */
    bool *given_used;
    char *context; /* real path */
    struct sv_ignore ignore;
    json_t *file_cache; /* bsource.c: the context's file digests, by path */
    bool file_cache_dirty;
    struct sv_idmap map;
    FILE *out;
    sv_error_t *err; /* the caller's, for sv_builder_fail */
    /* bwork.c */
    int lock_fd;
    char *work; /* <state root>/images/build */
    unsigned seq;
};

/* A step being carried out, as progress names it. */
struct bstep {
    struct build *b;
    struct bstage *st;
    const struct sv_df_inst *in;
    size_t n, total; /* its number in its stage (FROM is 1), of */
    char *shown;     /* the instruction, shortened */
    int64_t t0;      /* ms */
};

/* ---- builder.c -------------------------------------------------------------- */

/* "Containerfile:12: " and the rest: an error about step s. */
int sv_builder_fail(const struct bstep *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The step's progress line: "[stage 2/5] RUN ..." then what (CACHED,
 * DONE 1.2s); what NULL: the line alone, before a step's output. */
void sv_builder_progress(const struct bstep *s, const char *what);
/* The step's last line: CACHED, or DONE and how long it took. */
void sv_builder_step_end(const struct bstep *s, bool cached);

/* ---- bstate.c --------------------------------------------------------------- */

void sv_bstate_clear(struct bstage *st);
/* FROM scratch, FROM a stage (copied), FROM an image (pulled when missing). */
void sv_bstate_scratch(struct bstage *st);
void sv_bstate_from_stage(struct bstage *st, const struct bstage *src);
int sv_bstate_from_image(struct build *b, struct bstage *st, const char *ref, sv_error_t *err);
/* key = sha256(key, "\n", parts..., NULL): the chain moves on. */
int sv_bstate_chain(struct bstage *st, sv_error_t *err, ...) __attribute__((sentinel));
/* A history entry for the step (empty: it made no layer). */
void sv_bstate_history(struct bstage *st, const char *created_by, bool empty);
void sv_bstate_add_layer(struct bstage *st, const struct blayer *l);
/* <state root>/images/layers/DIR-UID of a layer. */
char *sv_bstate_layer_path(const struct build *b, const struct blayer *l);
/* The stage's variables for expansion: its ENV, then its ARGs. */
const char *sv_bstate_lookup(void *stage, const char *name);
/* Its ENV as "K=V" strings plus the ARGs ENV does not set (a RUN's
 * environment), NULL-terminated. */
char **sv_bstate_run_env(const struct bstage *st);
/* Set K=V in the config's Env. */
void sv_bstate_setenv(struct bstage *st, const char *k, const char *v);
/* The unpacked layers, top first (unpacking what is not yet): n of them. */
int sv_bstate_layer_dirs(struct build *b, const struct bstage *st, char ***dirs, size_t *n,
                         sv_error_t *err);
/* "2006-01-02T15:04:05Z" of t. */
char *sv_bstate_time(int64_t t);

/* ---- bvars (bstate.c) ------------------------------------------------------- */

void sv_bvars_set(struct bvars *vs, const char *name, const char *value);
struct bvar *sv_bvars_find(const struct bvars *vs, const char *name);
void sv_bvars_clear(struct bvars *vs);

/* ---- bconfig.c -------------------------------------------------------------- */

/* An instruction that changes the config only (ENV, ARG, LABEL, EXPOSE,
 * VOLUME, USER, WORKDIR, STOPSIGNAL, HEALTHCHECK, SHELL, CMD, ENTRYPOINT,
 * MAINTAINER, ONBUILD): the config, the history and the key move on. */
int sv_bconfig_apply(struct bstep *s, sv_error_t *err);

/* ---- brun.c ----------------------------------------------------------------- */

int sv_brun_step(struct bstep *s, sv_error_t *err);

/* ---- bcopy.c ---------------------------------------------------------------- */

int sv_bcopy_step(struct bstep *s, sv_error_t *err);

/* ---- differ.c --------------------------------------------------------------- */

/* The layer a RUN's overlay upper directory holds, as a blob (see
 * tarw.h; out NULL: none); the directory is made an unpacked layer of the
 * store in place either way (overlay's own xattrs dropped, its opaque
 * marks for both kinds of mount). *empty when the step changed nothing.
 * An unpacked layer is read the same way (its blob, made later). */
struct sv_tarw_out;
int sv_differ_commit(const char *upper, const struct sv_idmap *map, bool gzip,
                     struct sv_tarw_out *out, bool *empty, sv_error_t *err);

/* ---- bcache.c --------------------------------------------------------------- */

struct bcache_entry {
    struct blayer layer; /* media_type: a static string */
    bool empty;          /* the step made no layer */
    int64_t created;
};
/* 0: a hit whose blob is in the store (or whose unpacked layer is, for
 * map's ids); 1: none. */
int sv_bcache_get(const char *key, const struct sv_idmap *map, struct bcache_entry *e);
int sv_bcache_put(const char *key, const struct bcache_entry *e, sv_error_t *err);
/* The diff_id of a stored blob, computed once. */
int sv_bcache_diff_id(const char *blob, char diff_id[SV_DIGEST_LEN + 1], sv_error_t *err);

/* ---- bwork.c ---------------------------------------------------------------- */

/* Take this build's lock and remove what dead builds left. */
int sv_bwork_begin(struct build *b, sv_error_t *err);
void sv_bwork_end(struct build *b);
/* A new temporary directory of this build, owned by the containers' root
 * (0700): a RUN's upper and work directories go in it. */
int sv_bwork_tmpdir(struct build *b, char **dir, sv_error_t *err);
/* Record the id of the container a step runs (for a later build, should
 * this one be killed), and forget it. */
void sv_bwork_note_container(const char *tmpdir, const char *id);
/* dir (a step's upper directory, or what COPY wrote) becomes the
 * unpacked layer l names, made durable as a whole: a RUN's own syncs
 * returned at once (SV_SECCOMP_NO_SYNC), one syncfs here instead of
 * thousands of fsyncs in dpkg. */
int sv_bwork_keep(struct build *b, const char *dir, const struct blayer *l, sv_error_t *err);
/* An empty directory owned by the containers' root: the lower layer of a
 * RUN on scratch. */
int sv_bwork_empty_dir(struct build *b, char **dir, sv_error_t *err);
/* Was the build interrupted? The pid to kill when it is (0: none). */
bool sv_bwork_interrupted(void);
void sv_bwork_watch(pid_t pid);

/* ---- bimage.c --------------------------------------------------------------- */

/* The stage's state as an image in the store, named by every tag. */
int sv_bimage_commit(struct build *b, struct bstage *st, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err);

#endif

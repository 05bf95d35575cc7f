/* servos build (see build.h): the plan, then the steps. The plan reads
 * the Containerfile whole, splits it into stages, settles the ARGs given
 * before the first FROM, and marks the stages the target needs (its FROM
 * chain and what it copies --from); the steps then run stage by stage,
 * each one a config change (bconfig.c), a RUN (brun.c) or a COPY/ADD
 * (bcopy.c), and the target's state becomes the image (bimage.c). */
#include "build/build_int.h"
#include "build/bsource.h"
#include "build/dfword.h"

#include "image/imgstore.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- progress and errors ---------------------------------------------------- */

static char *shorten(const char *text)
{
    size_t n = strcspn(text, "\n");
    if (n > 72)
        return sv_xasprintf("%.69s...", text);
    return sv_xstrndup(text, n);
}

void sv_builder_progress(const struct bstep *s, const char *what)
{
    FILE *out = s->b->out;
    if (out == NULL)
        return;
    fprintf(out, "[%s %zu/%zu] %s%s%s\n", s->st->label, s->n, s->total, s->shown,
            what && *what ? "  " : "", what ? what : "");
    fflush(out);
}

void sv_builder_step_end(const struct bstep *s, bool cached)
{
    char done[48];
    if (cached)
        snprintf(done, sizeof(done), "CACHED");
    else
        snprintf(done, sizeof(done), "DONE %.1fs", (double)(sv_now_ms() - s->t0) / 1000);
    sv_builder_progress(s, done);
}

int sv_builder_fail(const struct bstep *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    /* Called with a cause already set, whose text fmt took in: one error,
     * the step's place in front of it. */
    sv_error_t *err = s->b->err;
    sv_error_free(err);
    sv_error(err, status, "%s:%d: %s: %s", s->b->df.path, s->in->line, s->shown,
             msg ? msg : "out of memory");
    free(msg);
    return -1;
}

/* ---- ARG --------------------------------------------------------------------- */

/* BuildKit's automatic platform ARGs (a stage sees one it declares). */
static const char *predefined(const char *name)
{
    static char platform[64];
    snprintf(platform, sizeof(platform), "linux/%s", sv_image_arch());
    if (strcmp(name, "TARGETPLATFORM") == 0 || strcmp(name, "BUILDPLATFORM") == 0)
        return platform;
    if (strcmp(name, "TARGETOS") == 0 || strcmp(name, "BUILDOS") == 0)
        return "linux";
    if (strcmp(name, "TARGETARCH") == 0 || strcmp(name, "BUILDARCH") == 0)
        return sv_image_arch();
    if (strcmp(name, "TARGETVARIANT") == 0 || strcmp(name, "BUILDVARIANT") == 0)
        return "";
    return NULL;
}

static const char *global_lookup(void *bp, const char *name)
{
    struct build *b = bp;
    struct bvar *v = sv_bvars_find(&b->global, name);
    return v ? v->value : predefined(name);
}

/* The value an ARG gets: --build-arg, else its default, else the global
 * ARG of that name (a stage's ARG without a default takes it), else a
 * predefined one. */
static const char *arg_value(struct build *b, const char *name, const char *dflt, bool global)
{
    for (size_t i = 0; i < b->given.n; i++)
        if (strcmp(b->given.v[i].name, name) == 0) {
            b->given_used[i] = true;
            return b->given.v[i].value;
        }
    if (dflt)
        return dflt;
    struct bvar *g = global ? NULL : sv_bvars_find(&b->global, name);
    if (g && g->value)
        return g->value;
    return predefined(name);
}

static int arg_step(struct bstep *s, struct bvars *into, sv_error_t *err)
{
    struct build *b = s->b;
    bool global = s->st == NULL;
    cleanup_strv char **w = NULL;
    if (sv_dfword_split(s->in->args, b->df.escape, global ? global_lookup : sv_bstate_lookup,
                        global ? (void *)b : (void *)s->st, &w, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    for (char **p = w; *p; p++) {
        char *eq = strchr(*p, '=');
        size_t len = eq ? (size_t)(eq - *p) : strlen(*p);
        if (!sv_dfword_valid_name(*p, len))
            return sv_builder_fail(s, 0, "\"%s\" is not NAME or NAME=DEFAULT", *p);
        if (eq)
            *eq = '\0';
        const char *v = arg_value(b, *p, eq ? eq + 1 : NULL, global);
        sv_bvars_set(into, *p, v);
        if (!global) {
            cleanup_free char *kv = sv_xasprintf("%s%s%s", *p, v ? "=" : "", v ? v : "");
            if (sv_bstate_chain(s->st, err, "ARG", kv, NULL) < 0)
                return -1;
        }
    }
    if (!global)
        sv_builder_progress(s, "");
    return 0;
}

/* ---- the plan -------------------------------------------------------------------- */

static struct bstage *stage_named(struct build *b, const char *name, size_t before)
{
    for (size_t i = 0; i < before && i < b->n_stages; i++)
        if (b->stages[i].name && strcasecmp(b->stages[i].name, name) == 0)
            return &b->stages[i];
    char *end;
    long idx = strtol(name, &end, 10);
    if (*name && *end == '\0' && idx >= 0 && (size_t)idx < before)
        return &b->stages[idx];
    return NULL;
}

/* FROM [--platform=P] IMAGE [AS NAME]: the stage's base and name. */
static int plan_from(struct build *b, struct bstage *st, const struct sv_df_inst *in,
                     sv_error_t *err)
{
    struct bstep s = {.b = b, .st = st, .in = in, .shown = sv_xstrdup(in->text)};
    cleanup_free char *shown = s.shown;
    cleanup_strv char **w = NULL;
    if (sv_dfword_split(in->args, b->df.escape, global_lookup, b, &w, err) < 0)
        return sv_builder_fail(&s, 0, "%s", (*err)->msg);
    size_t n = 0;
    while (w[n])
        n++;
    if (!(n == 1 || (n == 3 && strcasecmp(w[1], "AS") == 0)))
        return sv_builder_fail(&s, 0, "expected FROM IMAGE [AS NAME]");
    const char *platform = sv_dockerfile_flag(in, "platform", NULL);
    if (platform) {
        cleanup_free char *p = NULL;
        if (sv_dfword_expand(platform, b->df.escape, global_lookup, b, &p, err) < 0)
            return sv_builder_fail(&s, 0, "%s", (*err)->msg);
        cleanup_free char *mine = sv_xasprintf("linux/%s", sv_image_arch());
        if (strcmp(p, mine) != 0)
            return sv_builder_fail(&s, 0,
                                   "--platform=%s: servos builds for this host's platform (%s) "
                                   "only",
                                   p, mine);
    }
    st->base = sv_xstrdup(w[0]);
    if (n == 3) {
        for (char *c = w[2]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (stage_named(b, w[2], st->index))
            return sv_builder_fail(&s, 0, "a stage called \"%s\" already exists", w[2]);
        st->name = sv_xstrdup(w[2]);
    }
    st->label = st->name ? sv_xstrdup(st->name) : sv_xasprintf("stage-%zu", st->index);
    return 0;
}

static int plan_stages(struct build *b, sv_error_t *err)
{
    size_t first = 0;
    while (b->df.insts[first].kind != SV_DF_FROM) {
        struct bstep s = {.b = b, .in = &b->df.insts[first]};
        s.shown = shorten(s.in->text);
        int rc = arg_step(&s, &b->global, err);
        free(s.shown);
        if (rc < 0)
            return -1;
        first++;
    }
    for (size_t i = first; i < b->df.n; i++) {
        if (b->df.insts[i].kind != SV_DF_FROM)
            continue;
        b->stages = sv_xrealloc(b->stages, (b->n_stages + 1) * sizeof(*b->stages));
        struct bstage *st = &b->stages[b->n_stages];
        memset(st, 0, sizeof(*st));
        st->index = b->n_stages++;
        st->first = i;
        if (st->index > 0)
            b->stages[st->index - 1].end = i;
        st->end = b->df.n;
        if (plan_from(b, st, &b->df.insts[i], err) < 0)
            return -1;
    }
    return 0;
}

/* Mark st and the stages it needs. */
static void mark_needed(struct build *b, struct bstage *st)
{
    if (st->needed)
        return;
    st->needed = true;
    struct bstage *base = stage_named(b, st->base, st->index);
    if (base)
        mark_needed(b, base);
    for (size_t i = st->first + 1; i < st->end; i++) {
        const char *from = sv_dockerfile_flag(&b->df.insts[i], "from", NULL);
        if (b->df.insts[i].kind != SV_DF_COPY || from == NULL)
            continue;
        cleanup_free char *f = NULL;
        if (sv_dfword_expand(from, b->df.escape, global_lookup, b, &f, NULL) < 0)
            continue;
        struct bstage *dep = stage_named(b, f, st->index);
        if (dep)
            mark_needed(b, dep);
    }
}

static int plan_target(struct build *b, struct bstage **target, sv_error_t *err)
{
    if (b->o->target == NULL) {
        *target = &b->stages[b->n_stages - 1];
    } else if ((*target = stage_named(b, b->o->target, b->n_stages)) == NULL) {
        size_t len = 1;
        for (size_t i = 0; i < b->n_stages; i++)
            len += (b->stages[i].name ? strlen(b->stages[i].name) : 0) + 2;
        cleanup_free char *names = sv_xcalloc(1, len);
        for (size_t i = 0; i < b->n_stages; i++)
            if (b->stages[i].name)
                sprintf(names + strlen(names), "%s%s", *names ? ", " : "", b->stages[i].name);
        return sv_error(err, 0, "%s: no stage \"%s\" (%s%s)", b->df.path, b->o->target,
                        *names ? "stages: " : "no stage has a name", names);
    }
    mark_needed(b, *target);
    /* The stages whose layers the image holds: the target and what it
     * is FROM, down the chain. The others' RUN layers need no blob. */
    for (struct bstage *st = *target; st; st = stage_named(b, st->base, st->index))
        st->in_image = true;
    return 0;
}

/* ---- running the steps ------------------------------------------------------------ */

static int from_step(struct bstep *s, sv_error_t *err)
{
    struct bstage *st = s->st;
    struct bstage *src = stage_named(s->b, st->base, st->index);
    if (strcasecmp(st->base, "scratch") == 0)
        sv_bstate_scratch(st);
    else if (src)
        sv_bstate_from_stage(st, src);
    else if (sv_bstate_from_image(s->b, st, st->base, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    if (s->b->out && json_array_size(json_object_get(st->config, "OnBuild")))
        fprintf(s->b->out, "servos build: %s:%d: the ONBUILD triggers of %s are not run\n",
                s->b->df.path, s->in->line, st->base);
    json_object_del(st->config, "OnBuild");
    /* Proxy settings given with --build-arg reach RUN without an ARG (as
     * with Docker), and stay out of the cache key and the image. */
    static const char *const proxies[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                          "NO_PROXY",   "no_proxy",   "FTP_PROXY",   "ftp_proxy",
                                          "ALL_PROXY",  "all_proxy"};
    for (size_t i = 0; i < SV_ARRAY_LEN(proxies); i++)
        for (size_t k = 0; k < s->b->given.n; k++)
            if (strcmp(s->b->given.v[k].name, proxies[i]) == 0) {
                sv_bvars_set(&st->args, proxies[i], s->b->given.v[k].value);
                s->b->given_used[k] = true;
            }
    free(s->shown);
    s->shown =
        sv_xasprintf("FROM %s%s%s", st->base, st->name ? " AS " : "", st->name ? st->name : "");
    sv_builder_progress(s, "");
    return 0;
}

static int run_step(struct bstep *s, sv_error_t *err)
{
    switch (s->in->kind) {
    case SV_DF_FROM:
        return from_step(s, err);
    case SV_DF_ARG:
        return arg_step(s, &s->st->args, err);
    case SV_DF_RUN:
        return sv_brun_step(s, err);
    case SV_DF_COPY:
    case SV_DF_ADD:
        return sv_bcopy_step(s, err);
    default:
        return sv_bconfig_apply(s, err);
    }
}

static int run_stage(struct build *b, struct bstage *st, sv_error_t *err)
{
    for (size_t i = st->first; i < st->end; i++) {
        struct bstep s = {.b = b,
                          .st = st,
                          .in = &b->df.insts[i],
                          .n = i - st->first + 1,
                          .total = st->end - st->first,
                          .t0 = sv_now_ms()};
        s.shown = shorten(s.in->text);
        int rc = sv_bwork_interrupted() ? sv_error(err, EINTR, "interrupted") : run_step(&s, err);
        if (rc < 0 && *err && strncmp((*err)->msg, b->df.path, strlen(b->df.path)) != 0 &&
            (*err)->status != EINTR)
            sv_error_wrap(err, "%s:%d: %s", b->df.path, s.in->line, s.shown);
        free(s.shown);
        if (rc < 0)
            return -1;
    }
    st->done = true;
    return 0;
}

/* ---- the build ----------------------------------------------------------------------- */

/* -f FILE, else CONTEXT/Containerfile, else CONTEXT/Dockerfile. */
static int read_file(struct build *b, sv_error_t *err)
{
    cleanup_free char *path = NULL;
    if (b->o->file) {
        path = sv_xstrdup(b->o->file);
    } else {
        path = sv_xasprintf("%s/Containerfile", b->o->context);
        if (access(path, F_OK) < 0) {
            free(path);
            path = sv_xasprintf("%s/Dockerfile", b->o->context);
        }
    }
    cleanup_free char *text = NULL;
    size_t len;
    sv_error_t e = NULL;
    if (sv_read_file(path, 4 << 20, &text, &len, &e) < 0) {
        int status = e->status;
        sv_error_free(&e);
        if (b->o->file == NULL && status == ENOENT)
            return sv_error(err, 0, "%s: no Containerfile or Dockerfile (give one with -f)",
                            b->o->context);
        return sv_error(err, status, "cannot read %s", path);
    }
    if (sv_dockerfile_parse(path, text, len, &b->df, err) < 0)
        return -1;
    if (b->df.syntax && b->out)
        fprintf(b->out, "servos build: %s: # syntax=%s is ignored (servos reads the file itself)\n",
                path, b->df.syntax);
    return 0;
}

/* The ignore file: beside the Containerfile (NAME.containerignore,
 * NAME.dockerignore), else the context's .containerignore or
 * .dockerignore. */
static int read_ignore(struct build *b, sv_error_t *err)
{
    const char *names[] = {".containerignore", ".dockerignore", "/.containerignore",
                           "/.dockerignore"};
    for (size_t i = 0; i < SV_ARRAY_LEN(names); i++) {
        cleanup_free char *p = sv_xasprintf("%s%s", i < 2 ? b->df.path : b->context, names[i]);
        if (access(p, F_OK) == 0)
            return sv_ignore_load(p, &b->ignore, err);
    }
    return 0;
}

static int read_build_args(struct build *b, sv_error_t *err)
{
    size_t n = 0;
    for (char **a = b->o->build_args; a && *a; a++) {
        char *eq = strchr(*a, '=');
        cleanup_free char *name = eq ? sv_xstrndup(*a, (size_t)(eq - *a)) : sv_xstrdup(*a);
        if (!sv_dfword_valid_name(name, strlen(name)))
            return sv_error(err, EINVAL, "--build-arg %s: expected NAME=VALUE (or NAME)", *a);
        const char *v = eq ? eq + 1 : getenv(name);
        if (v) /* a NAME the caller does not have is no argument, as in Docker */
            sv_bvars_set(&b->given, name, v), n++;
    }
    b->given_used = sv_xcalloc(b->given.n + 1, sizeof(bool));
    return 0;
}

static void warn_unused(const struct build *b)
{
    for (size_t i = 0; b->out && i < b->given.n; i++)
        if (!b->given_used[i])
            fprintf(b->out, "servos build: --build-arg %s: no ARG %s in %s; not used\n",
                    b->given.v[i].name, b->given.v[i].name, b->df.path);
}

static void build_clear(struct build *b)
{
    sv_bsource_cache_save(b);
    json_decref(b->file_cache);
    sv_bwork_end(b);
    for (size_t i = 0; i < b->n_stages; i++) {
        sv_bstate_clear(&b->stages[i]);
        free(b->stages[i].name);
        free(b->stages[i].label);
        free(b->stages[i].base);
    }
    free(b->stages);
    sv_bvars_clear(&b->global);
    sv_bvars_clear(&b->given);
    free(b->given_used);
    free(b->context);
    free(b->work);
    sv_ignore_clear(&b->ignore);
    sv_dockerfile_clear(&b->df);
}

static int build(struct build *b, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    char real[4096];
    struct stat st;
    if (realpath(b->o->context, real) == NULL || stat(real, &st) < 0)
        return sv_error(err, errno, "build context %s", b->o->context);
    if (!S_ISDIR(st.st_mode))
        return sv_error(err, ENOTDIR, "build context %s: not a directory", b->o->context);
    b->context = sv_xstrdup(real);
    struct bstage *target;
    if (read_file(b, err) < 0 || read_ignore(b, err) < 0 || read_build_args(b, err) < 0 ||
        plan_stages(b, err) < 0 || plan_target(b, &target, err) < 0)
        return -1;
    if (sv_userns_range(&b->map, err) < 0 || sv_bwork_begin(b, err) < 0)
        return -1;
    int64_t t0 = sv_now_ms();
    for (size_t i = 0; i <= target->index; i++)
        if (b->stages[i].needed && run_stage(b, &b->stages[i], err) < 0)
            return -1;
    if (sv_bimage_commit(b, target, digest, err) < 0)
        return -1;
    warn_unused(b);
    if (b->out) {
        char **t = b->o->tags;
        fprintf(b->out, "[done] %.19s%s%s in %.1fs\n", digest, t && *t ? " as " : "",
                t && *t ? *t : "", (double)(sv_now_ms() - t0) / 1000);
        fflush(b->out);
    }
    return 0;
}

int sv_build_run(const struct sv_build_opts *o, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    struct build b = {.o = o, .out = o->progress, .lock_fd = -1, .err = err};
    int rc = build(&b, digest, err);
    build_clear(&b);
    return rc;
}

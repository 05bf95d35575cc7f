/* servos build: a Containerfile (or Dockerfile) and its context in, an
 * OCI image in the store out (imgstore.h), as `servos run NAME` and a
 * stack's services use any pulled image.
 *
 * Plan, then execute: the file is parsed whole (dockerfile.h) and the
 * stages the target needs are found before anything runs. Each RUN runs
 * in a servos container with the isolation of `servos run` (user
 * namespace, seccomp, capabilities; the host's network unless
 * --network none), on an overlay whose upper directory becomes the step's
 * layer; COPY and ADD write their layer straight from the files. Every
 * layer is a gzip'ed tar blob with its diff_id.
 *
 * The cache: a step's key chains the key before it, the instruction as
 * expanded and, for COPY/ADD, the digest of the files it reads (or of the
 * stage it reads them from); a key seen before gives its layer back
 * without running anything. Nothing changed: no step runs, and the image
 * is the same one, digest and all.
 *
 * A build writes into temporary directories of its own and renames
 * results into place; its RUN containers die with it. What a killed
 * build leaves (a temporary directory, an empty cgroup) the next build
 * removes before it starts (bwork.c). */
#ifndef SV_BUILD_H
#define SV_BUILD_H

#include "core/digest.h"
#include "core/util.h"

#include <stdio.h>

struct sv_build_opts {
    const char *context; /* the build context, a directory */
    const char *file;    /* NULL: CONTEXT/Containerfile, else CONTEXT/Dockerfile */
    char **tags;         /* names for the image, NULL-terminated; may be NULL */
    char **build_args;   /* "NAME=VALUE", or "NAME" for the caller's own; may be NULL */
    const char *target;  /* the stage to build; NULL: the last */
    bool no_cache;       /* run every step (the results still fill the cache) */
    bool network_none;   /* RUN steps get loopback only */
    FILE *progress;      /* a line per step, RUN output; NULL: silent */
};

/* Build; digest: the image's manifest digest. A failed or interrupted
 * build names no image and leaves none half-written. */
int sv_build_run(const struct sv_build_opts *o, char digest[SV_DIGEST_LEN + 1], sv_error_t *err);

/* The name -t NAME gives an image in the store (a bare "app" is
 * "localhost/app:latest", as podman names it); NULL with err when NAME is
 * no image reference. */
char *sv_build_image_name(const char *name, sv_error_t *err);

/* Set by a SIGINT/SIGTERM handler of the caller: the build stops at once
 * (its running step killed) and cleans up after itself. */
void sv_build_interrupt(void);

#endif

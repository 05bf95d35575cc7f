/* Containerfiles (Dockerfiles) parsed into instructions, as Docker's
 * parser reads them: parser directives at the top ("# escape=" honoured,
 * "# syntax=" noted and ignored), comment lines, line continuations with
 * the escape character, each instruction's flags (--from=...) and, where
 * an instruction has one, its exec (JSON) form. Words are not expanded
 * here: ARG and ENV values are known only while building (dfword.h).
 * Every error names the file and the instruction's line. */
#ifndef SV_DOCKERFILE_H
#define SV_DOCKERFILE_H

#include "core/util.h"

enum sv_df_kind {
    SV_DF_FROM,
    SV_DF_RUN,
    SV_DF_CMD,
    SV_DF_LABEL,
    SV_DF_MAINTAINER,
    SV_DF_EXPOSE,
    SV_DF_ENV,
    SV_DF_ADD,
    SV_DF_COPY,
    SV_DF_ENTRYPOINT,
    SV_DF_VOLUME,
    SV_DF_USER,
    SV_DF_WORKDIR,
    SV_DF_ARG,
    SV_DF_ONBUILD,
    SV_DF_STOPSIGNAL,
    SV_DF_HEALTHCHECK,
    SV_DF_SHELL,
};

struct sv_df_flag {
    char *name;  /* "from", without the dashes */
    char *value; /* NULL for a bare --link */
};

struct sv_df_inst {
    enum sv_df_kind kind;
    int line;    /* where it starts */
    char *text;  /* the instruction as written, continuations joined */
    char *args;  /* what follows the keyword and the flags */
    char **json; /* the exec form's strings (NULL-terminated), else NULL */
    struct sv_df_flag *flags;
    size_t n_flags;
};

struct sv_dockerfile {
    char *path;   /* as errors name it */
    char escape;  /* '\\' or '`' */
    char *syntax; /* the "# syntax=" directive's value, or NULL */
    struct sv_df_inst *insts;
    size_t n;
};

/* Parse text (len bytes) read from path. */
int sv_dockerfile_parse(const char *path, const char *text, size_t len, struct sv_dockerfile *df,
                        sv_error_t *err);
void sv_dockerfile_clear(struct sv_dockerfile *df);
static inline void sv_dockerfile_clearp(struct sv_dockerfile *df)
{
    sv_dockerfile_clear(df);
}
#define cleanup_dockerfile __attribute__((cleanup(sv_dockerfile_clearp)))

/* The instruction's name as written in files ("COPY"). */
const char *sv_dockerfile_keyword(enum sv_df_kind kind);
/* The value of flag name (--name=value), or NULL; *present tells a bare
 * flag from an absent one when not NULL. */
const char *sv_dockerfile_flag(const struct sv_df_inst *in, const char *name, bool *present);

#endif

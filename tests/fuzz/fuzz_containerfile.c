/* libFuzzer target: servos build's front, what a Containerfile and an
 * ignore file are read with before anything runs: the parser (directives,
 * continuations, flags, exec forms, heredocs), the word lexer on every
 * instruction's arguments (quotes, escapes, ${VAR:-x}) under both escape
 * characters, and the .dockerignore matcher. make fuzz runs it. */
#include "build/dfword.h"
#include "build/dockerfile.h"
#include "build/ignore.h"

#include <stdlib.h>
#include <string.h>

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "A") == 0 ? "a value" : strcmp(name, "E") == 0 ? "" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct sv_dockerfile df;
    sv_error_t err = NULL;
    if (sv_dockerfile_parse("Containerfile", text, size, &df, &err) == 0) {
        for (size_t i = 0; i < df.n; i++) {
            char **w = NULL, *one = NULL;
            if (sv_dfword_split(df.insts[i].args, df.escape, lookup, NULL, &w, &err) == 0)
                sv_strv_free(w);
            sv_error_free(&err);
            if (sv_dfword_expand(df.insts[i].args, df.escape, lookup, NULL, &one, &err) == 0)
                free(one);
            sv_error_free(&err);
        }
        sv_dockerfile_clear(&df);
    }
    sv_error_free(&err);
    /* The same bytes as an ignore file, matched against a few paths. */
    struct sv_ignore ig = {0};
    sv_ignore_parse(text, &ig);
    static const char *const paths[] = {"a", "src/main.c", "node_modules/x/y.js", ".git/HEAD",
                                        "docs/a/b/tmp/f"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        (void)sv_ignore_excluded(&ig, paths[i]);
    sv_ignore_clear(&ig);
    free(text);
    return 0;
}

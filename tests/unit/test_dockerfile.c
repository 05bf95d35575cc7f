/* Unit tests for the Containerfile parser, its word lexer and the
 * .dockerignore matcher (engine/build/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/dfword.h"
#include "build/dockerfile.h"
#include "build/ignore.h"

/* Parse text; on failure the error's message, else NULL. */
static char *parse(const char *text, struct sv_dockerfile *df)
{
    sv_error_t err = NULL;
    if (sv_dockerfile_parse("Containerfile", text, strlen(text), df, &err) == 0)
        return NULL;
    char *msg = strdup(err->msg);
    sv_error_free(&err);
    return msg;
}

static void expect_error(const char *text, const char *want)
{
    struct sv_dockerfile df;
    char *msg = parse(text, &df);
    if (msg == NULL) {
        sv_dockerfile_clear(&df);
        fail_msg("no error for: %s", text);
    }
    if (strstr(msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", msg, want);
    free(msg);
}

static void test_every_instruction(void **state)
{
    (void)state;
    const char *text = "ARG BASE=debian\n"
                       "FROM $BASE AS build\n"
                       "RUN apt-get update\n"
                       "CMD [\"sh\", \"-c\", \"echo hi\"]\n"
                       "LABEL a=b \"c d\"=e\n"
                       "MAINTAINER someone\n"
                       "EXPOSE 80/tcp 443\n"
                       "ENV A=1 B=2\n"
                       "ADD --chown=1:1 a.tar /x/\n"
                       "COPY --from=build --chmod=755 /a /b\n"
                       "ENTRYPOINT /bin/app\n"
                       "VOLUME [\"/data\"]\n"
                       "USER app:app\n"
                       "WORKDIR /srv\n"
                       "ONBUILD RUN echo later\n"
                       "STOPSIGNAL SIGQUIT\n"
                       "HEALTHCHECK --interval=5s --retries=2 CMD curl -f localhost\n"
                       "SHELL [\"/bin/bash\", \"-c\"]\n"
                       "from scratch\n";
    struct sv_dockerfile df;
    char *msg = parse(text, &df);
    assert_null(msg);
    assert_int_equal(df.n, 19);
    enum sv_df_kind want[] = {
        SV_DF_ARG,        SV_DF_FROM,        SV_DF_RUN,   SV_DF_CMD,     SV_DF_LABEL,
        SV_DF_MAINTAINER, SV_DF_EXPOSE,      SV_DF_ENV,   SV_DF_ADD,     SV_DF_COPY,
        SV_DF_ENTRYPOINT, SV_DF_VOLUME,      SV_DF_USER,  SV_DF_WORKDIR, SV_DF_ONBUILD,
        SV_DF_STOPSIGNAL, SV_DF_HEALTHCHECK, SV_DF_SHELL, SV_DF_FROM};
    for (size_t i = 0; i < df.n; i++) {
        assert_int_equal(df.insts[i].kind, want[i]);
        assert_int_equal(df.insts[i].line, (int)i + 1);
    }
    assert_string_equal(df.insts[3].json[2], "echo hi");
    assert_null(df.insts[10].json); /* shell form */
    assert_string_equal(df.insts[10].args, "/bin/app");
    assert_string_equal(sv_dockerfile_flag(&df.insts[9], "from", NULL), "build");
    assert_string_equal(sv_dockerfile_flag(&df.insts[9], "chmod", NULL), "755");
    assert_string_equal(df.insts[9].args, "/a /b");
    assert_string_equal(sv_dockerfile_flag(&df.insts[16], "interval", NULL), "5s");
    assert_string_equal(df.insts[16].args, "CMD curl -f localhost");
    assert_string_equal(df.insts[17].json[0], "/bin/bash");
    assert_string_equal(df.insts[18].args, "scratch");
    sv_dockerfile_clear(&df);
}

static void test_continuations_and_comments(void **state)
{
    (void)state;
    const char *text = "# a comment\n"
                       "\n"
                       "FROM scratch\n"
                       "RUN echo one \\\n"
                       "# a comment inside\n"
                       "\n"
                       "    two \\   \n"
                       "    three\r\n"
                       "   # indented comment\n"
                       "ENV X=1\n";
    struct sv_dockerfile df;
    assert_null(parse(text, &df));
    assert_int_equal(df.n, 3);
    assert_string_equal(df.insts[1].args, "echo one     two     three");
    assert_int_equal(df.insts[1].line, 4);
    assert_int_equal(df.insts[2].line, 10);
    assert_null(df.syntax);
    sv_dockerfile_clear(&df);
}

static void test_directives(void **state)
{
    (void)state;
    struct sv_dockerfile df;
    assert_null(parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nRUN echo a `\n b\n"
                      "COPY a\\b c\n",
                      &df));
    assert_string_equal(df.syntax, "docker/dockerfile:1");
    assert_int_equal(df.escape, '`');
    assert_string_equal(df.insts[1].args, "echo a  b");
    assert_string_equal(df.insts[2].args, "a\\b c");
    sv_dockerfile_clear(&df);
    /* After an instruction, a directive is a comment. */
    assert_null(parse("FROM scratch\n# escape=`\nRUN a \\\n b\n", &df));
    assert_int_equal(df.escape, '\\');
    assert_string_equal(df.insts[1].args, "a  b");
    sv_dockerfile_clear(&df);
    expect_error("# escape=x\nFROM scratch\n", "escape must be");
    expect_error("# escape=`\n# escape=\\\nFROM scratch\n", "only one escape");
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_error("FROM scratch\nFORM x\n", "Containerfile:2: unknown instruction \"FORM\" (did you "
                                           "mean \"FROM\"?)");
    expect_error("FROM scratch\nBOGUS\n", "Containerfile:2: unknown instruction \"BOGUS\"");
    expect_error("RUN echo\nFROM scratch\n", "Containerfile:1: RUN before the first FROM");
    expect_error("ARG A=1\n", "no FROM");
    expect_error("FROM scratch\nRUN\n", "Containerfile:2: RUN needs a command");
    expect_error("FROM scratch\nCOPY --bogus=1 a b\n", "COPY does not take the flag --bogus");
    expect_error("FROM scratch\nRUN --from=x echo\n", "RUN does not take the flag --from");
    expect_error("FROM scratch\nSHELL /bin/sh -c\n", "SHELL takes the JSON form");
    expect_error("FROM scratch\nRUN <<EOF\necho hi\nEOF\n", "Containerfile:2: RUN with a heredoc");
    expect_error("FROM scratch\nCOPY <<-EOT /x\n", "heredoc");
    expect_error("FROM scratch\nONBUILD FROM x\n", "ONBUILD FROM is not allowed");
    expect_error("FROM scratch\nONBUILD NOPE x\n", "unknown instruction \"NOPE\"");
    expect_error("FROM scratch\nRUN \\\n", "Containerfile:2: RUN needs a command");
    /* Not heredocs: shell arithmetic, a JSON form. */
    struct sv_dockerfile df;
    assert_null(
        parse("FROM scratch\nRUN echo $((1<<4))\nRUN [\"sh\", \"-c\", \"x <<EOF\"]\n", &df));
    sv_dockerfile_clear(&df);
}

static void test_exec_form(void **state)
{
    (void)state;
    struct sv_dockerfile df;
    assert_null(parse("FROM scratch\nRUN [\"a\", \"b c\"]\nRUN [not json]\nCMD []\n"
                      "ENTRYPOINT [\"x\", 1]\n",
                      &df));
    assert_string_equal(df.insts[1].json[1], "b c");
    assert_null(df.insts[2].json);
    assert_non_null(df.insts[3].json);
    assert_null(df.insts[3].json[0]);
    assert_null(df.insts[4].json); /* not all strings: the shell form */
    sv_dockerfile_clear(&df);
}

/* ---- words ---------------------------------------------------------------- */

static const char *vars(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "A") == 0)
        return "alpha";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    if (strcmp(name, "SP") == 0)
        return "a b";
    return NULL;
}

static char *expand(const char *text)
{
    char *out = NULL;
    sv_error_t err = NULL;
    if (sv_dfword_expand(text, '\\', vars, NULL, &out, &err) < 0) {
        out = strdup(err->msg);
        sv_error_free(&err);
        return out;
    }
    return out;
}

static void expect_expand(const char *text, const char *want)
{
    char *got = expand(text);
    if (strcmp(got, want) != 0)
        fail_msg("%s -> \"%s\", want \"%s\"", text, got, want);
    free(got);
}

static void expect_expand_error(const char *text, const char *want)
{
    char *got = expand(text);
    if (strstr(got, want) == NULL)
        fail_msg("%s -> \"%s\", want an error with \"%s\"", text, got, want);
    free(got);
}

static void test_expand(void **state)
{
    (void)state;
    expect_expand("$A", "alpha");
    expect_expand("${A}x", "alphax");
    expect_expand("$Ax", "");
    expect_expand("'$A'", "$A");
    expect_expand("\"$A b\"", "alpha b");
    expect_expand("\\$A", "$A");
    expect_expand("\"\\$A \\\" \\x\"", "$A \" \\x");
    expect_expand("${NONE:-def}", "def");
    expect_expand("${EMPTY:-def}", "def");
    expect_expand("${EMPTY-def}", "");
    expect_expand("${NONE-def}", "def");
    expect_expand("${A:+set}", "set");
    expect_expand("${EMPTY:+set}", "");
    expect_expand("${EMPTY+set}", "set");
    expect_expand("${NONE:-${A}}", "alpha");
    expect_expand("${NONE:-'a b'}", "a b");
    expect_expand("$ 5$", "$ 5$");
    expect_expand("a   b", "a   b");
    expect_expand_error("${NONE:?must be set}", "NONE: must be set");
    expect_expand_error("${A", "missing \"}\"");
    expect_expand_error("${A%x}", "bad substitution");
    expect_expand_error("'open", "unterminated single quote");
    expect_expand_error("\"open", "unterminated double quote");
}

static void test_split(void **state)
{
    (void)state;
    char **w = NULL;
    sv_error_t err = NULL;
    assert_int_equal(sv_dfword_split("  a \"b c\" $SP '' d\\ e  ", '\\', vars, NULL, &w, &err), 0);
    assert_string_equal(w[0], "a");
    assert_string_equal(w[1], "b c");
    assert_string_equal(w[2], "a b"); /* an expansion is never split */
    assert_string_equal(w[3], "");
    assert_string_equal(w[4], "d e");
    assert_null(w[5]);
    sv_strv_free(w);
    assert_int_equal(sv_dfword_split("C:\\dir `$A", '`', vars, NULL, &w, &err), 0);
    assert_string_equal(w[0], "C:\\dir");
    assert_string_equal(w[1], "$A");
    sv_strv_free(w);
    assert_int_equal(sv_dfword_split("", '\\', vars, NULL, &w, &err), 0);
    assert_null(w[0]);
    sv_strv_free(w);
}

/* ---- .dockerignore -------------------------------------------------------- */

static void test_ignore(void **state)
{
    (void)state;
    struct sv_ignore ig = {0};
    sv_ignore_parse("# comment\n"
                    "*.md\n"
                    "!README.md\n"
                    "/build/\n"
                    "**/*.o\n"
                    "node_modules\n"
                    "docs/**/tmp\n"
                    "secret?.txt\n"
                    "  \n",
                    &ig);
    assert_int_equal(ig.n, 7);
    assert_true(sv_ignore_excluded(&ig, "CHANGES.md"));
    assert_false(sv_ignore_excluded(&ig, "README.md"));
    assert_false(sv_ignore_excluded(&ig, "sub/CHANGES.md")); /* "*" stays in its directory */
    assert_true(sv_ignore_excluded(&ig, "build"));
    assert_true(sv_ignore_excluded(&ig, "build/out/x"));
    assert_true(sv_ignore_excluded(&ig, "a.o"));
    assert_true(sv_ignore_excluded(&ig, "src/deep/a.o"));
    assert_false(sv_ignore_excluded(&ig, "src/a.c"));
    assert_true(sv_ignore_excluded(&ig, "node_modules/x/y.js"));
    assert_true(sv_ignore_excluded(&ig, "docs/tmp"));
    assert_true(sv_ignore_excluded(&ig, "docs/a/b/tmp/f"));
    assert_true(sv_ignore_excluded(&ig, "secret1.txt"));
    assert_false(sv_ignore_excluded(&ig, "secret10.txt"));
    assert_false(sv_ignore_excluded(&ig, "./src/./main.c"));
    sv_ignore_clear(&ig);
    sv_ignore_parse("*\n!keep\n!dir/keep.txt\n", &ig);
    assert_true(sv_ignore_excluded(&ig, "other"));
    assert_false(sv_ignore_excluded(&ig, "keep"));
    assert_true(sv_ignore_excluded(&ig, "dir/drop.txt"));
    assert_false(sv_ignore_excluded(&ig, "dir/keep.txt"));
    sv_ignore_clear(&ig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_instruction),
        cmocka_unit_test(test_continuations_and_comments),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_exec_form),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_ignore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for git source names and pins (engine/git/gitsrc.c): the forms
 * users write, credentials kept out of every printed name, paths that
 * would leave the repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "git/gitsrc.h"

static void parse_ok(const char *arg, const char *url, const char *ref, const char *path,
                     const char *display, const char *key)
{
    struct sv_git_source src;
    sv_error_t err = NULL;
    assert_int_equal(sv_git_source_parse(arg, &src, &err), 1);
    assert_string_equal(src.url, url);
    if (ref)
        assert_string_equal(src.ref, ref);
    else
        assert_null(src.ref);
    assert_string_equal(src.path, path);
    assert_string_equal(src.display, display);
    assert_string_equal(src.key, key);
    sv_git_source_free(&src);
}

static void parse_fails(const char *arg, const char *message_part)
{
    struct sv_git_source src;
    sv_error_t err = NULL;
    assert_int_equal(sv_git_source_parse(arg, &src, &err), -1);
    assert_non_null(strstr(err->msg, message_part));
    sv_error_free(&err);
    sv_git_source_free(&src);
}

static void test_forms(void **state)
{
    (void)state;
    parse_ok("git+https://example.org/org/envs.git#v1.2:stacks/dev/Envirofile.lua",
             "https://example.org/org/envs.git", "v1.2", "stacks/dev/Envirofile.lua",
             "git+https://example.org/org/envs.git#v1.2:stacks/dev/Envirofile.lua",
             "https://example.org/org/envs.git#v1.2");
    parse_ok("git://example.org/envs.git", "git://example.org/envs.git", NULL, "",
             "git://example.org/envs.git", "git://example.org/envs.git#HEAD");
    parse_ok("git+ssh://git@example.org/org/envs.git#:dev/", "ssh://git@example.org/org/envs.git",
             NULL, "dev", "git+ssh://git@example.org/org/envs.git#:dev",
             "ssh://git@example.org/org/envs.git#HEAD");
    parse_ok("git+file:///srv/envs.git#main:./a//b/", "file:///srv/envs.git", "main", "a/b",
             "git+file:///srv/envs.git#main:a/b", "file:///srv/envs.git#main");
}

static void test_credentials_stay_out_of_names(void **state)
{
    (void)state;
    struct sv_git_source src;
    sv_error_t err = NULL;
    assert_int_equal(
        sv_git_source_parse("git+https://bob:t0ken@example.org/r.git#main", &src, &err), 1);
    assert_string_equal(src.url, "https://bob:t0ken@example.org/r.git");
    assert_string_equal(src.display, "git+https://example.org/r.git#main");
    assert_string_equal(src.key, "https://example.org/r.git#main");
    assert_string_equal(src.secret, "bob:t0ken");
    sv_git_source_free(&src);
    /* A token as the user name, as forges hand them out. */
    assert_int_equal(sv_git_source_parse("git+https://ghp_abc@example.org/r.git", &src, &err), 1);
    assert_null(strstr(src.display, "ghp_abc"));
    assert_null(strstr(src.key, "ghp_abc"));
    sv_git_source_free(&src);
}

static void test_bad_sources(void **state)
{
    (void)state;
    parse_fails("git+https://example.org/r.git#main:../etc", "leaves the repository");
    parse_fails("git+https://example.org/r.git#main:a/../../b", "leaves the repository");
    parse_fails("git+https://example.org/r.git#main:/etc", "leaves the repository");
    parse_fails("git+#main", "needs a URL");
}

static void test_plain_paths_are_not_git(void **state)
{
    (void)state;
    struct sv_git_source src;
    sv_error_t err = NULL;
    assert_int_equal(sv_git_source_parse("Envirofile.lua", &src, &err), 0);
    assert_int_equal(sv_git_source_parse("/nonexistent/dir", &src, &err), 0);
    assert_int_equal(sv_git_source_parse("/tmp", &src, &err), 0);
    assert_null(err);
}

static void test_pins(void **state)
{
    (void)state;
    const char *pins = "source\tgit://h/envs.git#main\t0123456789012345678901234567890123456789\n"
                       "import\tfile:///l.git#v1\tabcdefabcdefabcdefabcdefabcdefabcdefabcd\n";
    char key[256], commit[41];
    assert_true(sv_git_pins_source(pins, key, sizeof(key), commit));
    assert_string_equal(key, "git://h/envs.git#main");
    assert_string_equal(commit, "0123456789012345678901234567890123456789");
    assert_true(sv_git_pin_lookup(pins, "file:///l.git#v1", commit));
    assert_string_equal(commit, "abcdefabcdefabcdefabcdefabcdefabcdefabcd");
    assert_false(sv_git_pin_lookup(pins, "file:///l.git#v", commit));
    assert_false(sv_git_pin_lookup(NULL, "x", commit));
    assert_false(sv_git_pins_source("import\tk\tabcdefabcdefabcdefabcdefabcdefabcdefabcd\n", key,
                                    sizeof(key), commit));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),       cmocka_unit_test(test_credentials_stay_out_of_names),
        cmocka_unit_test(test_bad_sources), cmocka_unit_test(test_plain_paths_are_not_git),
        cmocka_unit_test(test_pins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

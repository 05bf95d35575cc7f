/* Unit tests for the value parsers, .env files and interpolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/units.h"
#include "manifests/dotenv.h"
#include "manifests/interpolate.h"

static int64_t size_of(const char *s)
{
    int64_t v = -1;
    sv_error_t err = NULL;
    if (sv_parse_size(s, &v, &err) < 0) {
        sv_error_free(&err);
        return -1;
    }
    return v;
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(size_of("512M"), 512LL << 20);
    assert_int_equal(size_of("1G"), 1LL << 30);
    assert_int_equal(size_of("8GB"), 8LL << 30);
    assert_int_equal(size_of("512Mi"), 512LL << 20);
    assert_int_equal(size_of("256KB"), 256LL << 10);
    assert_int_equal(size_of("1.5g"), 3LL << 29);
    assert_int_equal(size_of("1024"), 1024);
    assert_int_equal(size_of("100b"), 100);
    assert_int_equal(size_of("12XB"), -1);
    assert_int_equal(size_of(""), -1);
    assert_int_equal(size_of("-1M"), -1);
    assert_int_equal(size_of("M"), -1);
    assert_int_equal(size_of("1.5"), -1);
    assert_int_equal(size_of("99999999999T"), -1);
}

static int64_t ms_of(const char *s)
{
    int64_t v = -1;
    sv_error_t err = NULL;
    if (sv_parse_duration(s, &v, &err) < 0) {
        sv_error_free(&err);
        return -1;
    }
    return v;
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(ms_of("500ms"), 500);
    assert_int_equal(ms_of("2s"), 2000);
    assert_int_equal(ms_of("1m30s"), 90000);
    assert_int_equal(ms_of("1h"), 3600000);
    assert_int_equal(ms_of("1.5s"), 1500);
    assert_int_equal(ms_of("10"), 10000);
    assert_int_equal(ms_of("soon"), -1);
    assert_int_equal(ms_of("1x"), -1);
    assert_int_equal(ms_of(""), -1);
    assert_int_equal(ms_of("1s2"), -1);
}

static void test_ports(void **state)
{
    (void)state;
    struct sv_port_spec p[8];
    size_t n;
    sv_error_t err = NULL;
    assert_int_equal(sv_parse_ports("8080:80", p, 8, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].host, 8080);
    assert_int_equal(p[0].container, 80);
    assert_string_equal(p[0].host_ip, "127.0.0.1");
    assert_string_equal(p[0].protocol, "tcp");
    assert_int_equal(sv_parse_ports("0.0.0.0:53:53/udp", p, 8, &n, &err), 0);
    assert_string_equal(p[0].host_ip, "0.0.0.0");
    assert_string_equal(p[0].protocol, "udp");
    assert_int_equal(sv_parse_ports("80", p, 8, &n, &err), 0);
    assert_int_equal(p[0].host, 0);
    assert_int_equal(sv_parse_ports("8000-8002:9000-9002", p, 8, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(p[2].host, 8002);
    assert_int_equal(p[2].container, 9002);
    assert_int_equal(sv_parse_ports("[::1]:8080:80", p, 8, &n, &err), 0);
    assert_string_equal(p[0].host_ip, "::1");
    const char *bad[] = {"80:abc", "70000", "0", "8000-8002:9000", "1:2/sctp", "", ":80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sv_parse_ports(bad[i], p, 8, &n, &err), -1);
        sv_error_free(&err);
    }
}

/* --device's PATH[:PATH_IN][:PERMS], as Docker reads it. */
static void test_devices(void **state)
{
    (void)state;
    struct sv_device_spec d;
    sv_error_t err = NULL;
    const struct {
        const char *in, *source, *target, *access;
    } good[] = {
        {"/dev/ttyUSB0", "/dev/ttyUSB0", "/dev/ttyUSB0", "rwm"},
        {"/dev/ttyUSB0:/dev/ttyS1", "/dev/ttyUSB0", "/dev/ttyS1", "rwm"},
        {"/dev/ttyUSB0:rw", "/dev/ttyUSB0", "/dev/ttyUSB0", "rw"},
        {"/dev/ttyUSB0:/dev/x:mr", "/dev/ttyUSB0", "/dev/x", "rm"},
        {"/dev//serial/by-id/x:/dev/./tty0:r", "/dev/serial/by-id/x", "/dev/tty0", "r"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(sv_parse_device(good[i].in, &d, &err), 0);
        assert_string_equal(d.source, good[i].source);
        assert_string_equal(d.target, good[i].target);
        assert_string_equal(d.access, good[i].access);
        sv_device_spec_clear(&d);
    }
    const char *bad[] = {"",
                         "ttyUSB0",
                         "/dev/a:relative",
                         "/dev/a:/dev/b:rwx",
                         "/dev/a:/dev/b:rr",
                         "/dev/a:/dev/b:",
                         "/dev/a:/b:/c:rw",
                         "/dev/a:/proc/x",
                         "/dev/a:/",
                         "/dev/a:/dev",
                         "/dev/a:/dev/pts/3",
                         "nvidia.com/gpu=all"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sv_parse_device(bad[i], &d, &err), -1);
        assert_null(d.source);
        sv_error_free(&err);
    }
}

static void test_restart_and_signals(void **state)
{
    (void)state;
    enum sv_restart_policy p;
    int max, sig;
    sv_error_t err = NULL;
    assert_int_equal(sv_parse_restart("on-failure:3", &p, &max, &err), 0);
    assert_int_equal(p, SV_RESTART_ON_FAILURE);
    assert_int_equal(max, 3);
    assert_int_equal(sv_parse_restart("unless-stopped", &p, &max, &err), 0);
    assert_int_equal(sv_parse_restart("alwys", &p, &max, &err), -1);
    assert_non_null(strstr(err->msg, "did you mean \"always\""));
    sv_error_free(&err);
    assert_int_equal(sv_parse_signal("SIGINT", &sig, &err), 0);
    assert_int_equal(sig, 2);
    assert_int_equal(sv_parse_signal("term", &sig, &err), 0);
    assert_int_equal(sig, 15);
    assert_int_equal(sv_parse_signal("9", &sig, &err), 0);
    assert_int_equal(sig, 9);
    assert_int_equal(sv_parse_signal("SIGNOPE", &sig, &err), -1);
    sv_error_free(&err);
}

struct env_capture {
    char buf[512];
};

static void capture(void *ud, const char *k, const char *v)
{
    struct env_capture *c = ud;
    snprintf(c->buf + strlen(c->buf), sizeof(c->buf) - strlen(c->buf), "%s=[%s];", k, v);
}

static void test_dotenv(void **state)
{
    (void)state;
    struct env_capture c = {""};
    sv_error_t err = NULL;
    const char *text = "# comment\n\nA=1\nexport B = two words # note\nC='lit $X # no'\n"
                       "D=\"l1\\nl2\"\nE=\n";
    assert_int_equal(sv_dotenv_parse(".env", text, capture, &c, &err), 0);
    assert_string_equal(c.buf, "A=[1];B=[two words];C=[lit $X # no];D=[l1\nl2];E=[];");
    assert_int_equal(sv_dotenv_parse(".env", "A=1\nnot a line\n", capture, &c, &err), -1);
    assert_string_equal(err->msg, ".env:2: expected KEY=VALUE");
    sv_error_free(&err);
}

static const char *lookup(void *ud, const char *name)
{
    (void)ud;
    if (strcmp(name, "SET") == 0)
        return "yes";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static char *interp(const char *s)
{
    struct sv_interp ip = {.lookup = lookup};
    char *out = NULL, *errmsg = NULL;
    if (sv_interpolate(s, &ip, &out, &errmsg) < 0)
        return errmsg; /* tests compare messages too */
    return out ? out : strdup(s);
}

static void check_interp(const char *in, const char *want)
{
    char *got = interp(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_interpolation(void **state)
{
    (void)state;
    check_interp("plain", "plain");
    check_interp("$SET ${SET} $$SET", "yes yes $SET");
    check_interp("${UNSET:-def} ${EMPTY:-def} ${EMPTY-def}", "def def ");
    check_interp("${SET:+alt} ${UNSET:+alt}x", "alt x");
    check_interp("${UNSET:-${SET}}", "yes");
    check_interp("${UNSET:?need it}", "required variable UNSET is missing a value: need it");
    check_interp("${UNSET?}", "required variable UNSET is not set");
    check_interp("${SET", "unterminated \"${\" in \"${SET\"");
    check_interp("${1BAD}", "invalid interpolation \"${1BAD}\" (expected ${NAME}, "
                            "${NAME:-default} or ${NAME:?error})");
    check_interp("cost: 5$", "cost: 5$");
}

static void test_suggest(void **state)
{
    (void)state;
    const char *c[] = {"replicas", "restart", "ports"};
    assert_string_equal(sv_suggest("replics", c, 3), "replicas");
    assert_string_equal(sv_suggest("port", c, 3), "ports");
    assert_null(sv_suggest("zzzzzz", c, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),   cmocka_unit_test(test_durations),
        cmocka_unit_test(test_ports),   cmocka_unit_test(test_restart_and_signals),
        cmocka_unit_test(test_dotenv),  cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_suggest), cmocka_unit_test(test_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

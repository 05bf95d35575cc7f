/* Unit tests for the graph's JSON (engine/graph/graph_json.c, core/json.c):
 * the service hash must not move between releases, or every running stack
 * recreates its services after an upgrade. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/graph.h"
#include "core/json.h"

/* A service using most keys, with the values an Envirofile would give. */
static struct sv_service *sample_service(struct sv_graph *g)
{
    struct sv_service *s = sv_graph_alloc(g, sizeof(*s));
    static const char *cmd[] = {"/bin/sh", "-c", "exec httpd -f -p 8080", NULL};
    static const char *empty[] = {NULL};
    static const char *test[] = {"/bin/sh", "-c", "test -e /data/ready", NULL};
    static struct sv_kv env[] = {{"DB_HOST", "db"}, {"MODE", "caf\xc3\xa9 \x1b[1m"}};
    static struct sv_mount mounts[] = {{SV_MOUNT_VOLUME, "pgdata", "/data", false, false, NULL},
                                       {SV_MOUNT_TMPFS, NULL, "/tmp", false, false, "size=64m"}};
    static struct sv_port_spec ports[] = {{"127.0.0.1", 8080, 80, "tcp"}};
    static struct sv_dep deps[] = {{"db", SV_DEP_HEALTHY}};
    static struct sv_health health = {test, 1000, 30000, 0, 10};
    s->name = "web";
    s->image = "host";
    s->command = cmd;
    s->env = env;
    s->n_env = 2;
    s->replicas = 3;
    s->memory = 256 << 20;
    s->cpus = 0.1;
    s->pids = -1;
    s->mounts = mounts;
    s->n_mounts = 2;
    s->ports = ports;
    s->n_ports = 1;
    s->deps = deps;
    s->n_deps = 1;
    s->restart = SV_RESTART_ON_FAILURE;
    s->restart_max = 3;
    s->health = &health;
    s->stop_grace_ms = -1;
    s->network = "stack";
    s->userns = "auto";
    s->cap_add = s->cap_drop = s->profiles = empty;
    return s;
}

static void test_service_hash_is_pinned(void **state)
{
    (void)state;
    struct sv_graph *g = sv_graph_new();
    struct sv_service *s = sample_service(g);
    /* What servos gave this service before its JSON went through jansson,
     * and since: if it moves, an upgrade recreates every service of every
     * running stack. */
    assert_int_equal(sv_graph_json_hash(s), 0x06949012651a5589ULL);
    uint64_t h = sv_graph_json_hash(s);
    s->replicas = 7; /* scaling is not a change of spec */
    assert_int_equal(sv_graph_json_hash(s), h);
    s->cpus = 0.2;
    assert_int_not_equal(sv_graph_json_hash(s), h);
    sv_graph_free(g);
}

static char *value_text(const struct sv_value *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sv_graph_json_print_value(v, f);
    fclose(f);
    return buf;
}

/* The forms servos wrote before jansson did, which hashes are made of. */
static void test_value_forms(void **state)
{
    (void)state;
    static const double reals[] = {0.1, 1.0 / 3, 1e-5, 1e20, 4.0, -0.0, 9007199254740992.0};
    struct sv_value items[SV_ARRAY_LEN(reals) + 3];
    for (size_t i = 0; i < SV_ARRAY_LEN(reals); i++)
        items[i] = (struct sv_value){.kind = SV_NUM, .u.d = reals[i]};
    size_t n = SV_ARRAY_LEN(reals);
    items[n++] = (struct sv_value){.kind = SV_INT, .u.i = -3};
    items[n++] = (struct sv_value){.kind = SV_STR, .u.s = "\b\f\x1b\x7f\t\"\\/\xe2\x82\xac"};
    items[n++] = (struct sv_value){.kind = SV_NULL};
    struct sv_value list = {.kind = SV_ARRAY, .u.list = {n, items, NULL}};
    char *text = value_text(&list);
    assert_string_equal(text, "[0.1,0.33333333333333331,1e-05,1e+20,4.0,-0.0,9007199254740992,-3,"
                              "\"\\u0008\\u000c\\u001b\\u007f\\t\\\"\\\\/\xe2\x82\xac\",null]");
    free(text);
}

/* jansson holds UTF-8 only: a stray byte keeps its own character. */
static void test_bytes_that_are_not_utf8(void **state)
{
    (void)state;
    struct sv_value v = {.kind = SV_STR, .u.s = "caf\xe9!\xff"};
    char *text = value_text(&v);
    assert_string_equal(text, "\"caf\xee\xbf\xa9!\xee\xbf\xbf\"");
    free(text);
    json_t *j = sv_json_string("\xc0\x80 \xed\xa0\x80"); /* overlong NUL, a surrogate */
    assert_string_equal(json_string_value(j), "\xee\xbf\x80\xee\xbe\x80 \xee\xbf\xad\xee\xbe\xa0"
                                              "\xee\xbe\x80");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_hash_is_pinned),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_bytes_that_are_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

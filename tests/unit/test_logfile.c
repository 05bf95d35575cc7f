/* Unit tests for capped, rotated container logs (engine/log/logfile.c): what
 * a container writes into the FIFO lands in files that never pass
 * max-size, at most max-file of them, and a reader sees it all, in order,
 * across rotations, also while they happen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log/logfile.h"
#include "runtime/rootfs.h"

static char dir[] = "/tmp/servos-logfile-XXXXXX";
static char path[256];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/servos-logfile-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/logs/app.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return sv_rmtree(dir, NULL);
}

static off_t size_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Write lines "0\n" .. "n-1\n" (each padded to width) through the FIFO,
 * pumping as a reader would. */
static void write_lines(struct sv_log *l, int from, int to, int width)
{
    int w = sv_log_writer(l, NULL);
    assert_true(w >= 0);
    char line[256];
    for (int i = from; i < to; i++) {
        int n = snprintf(line, sizeof(line), "%-*d\n", width - 1, i);
        assert_int_equal(write(w, line, (size_t)n), n);
        if (i % 16 == 0)
            assert_int_equal(sv_log_pump(l, NULL), 0);
    }
    close(w);
    assert_int_equal(sv_log_pump(l, NULL), 0);
}

/* Everything a reader shows from where it stands, as numbers in order. */
static int read_numbers(struct sv_log_reader *r, int *first, int *last)
{
    char buf[4096], acc[64];
    size_t alen = 0;
    int count = 0;
    ssize_t n;
    bool rotated;
    *first = *last = -1;
    while ((n = sv_log_reader_peek(r, buf, sizeof(buf), &rotated)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                assert_true(alen < sizeof(acc) - 1);
                acc[alen++] = buf[i];
                continue;
            }
            acc[alen] = '\0';
            int v = atoi(acc);
            if (*first < 0)
                *first = v;
            else
                assert_int_equal(v, *last + 1);
            *last = v;
            count++;
            alen = 0;
        }
        sv_log_reader_skip(r, (size_t)n);
    }
    return count;
}

static void test_options(void **state)
{
    (void)state;
    struct sv_log_opts o;
    sv_log_opts_init(&o);
    assert_int_equal(o.max_size, 10 << 20);
    assert_int_equal(o.max_files, 3);
    assert_int_equal(sv_log_opt_parse(&o, "max-size=2m", NULL), 0);
    assert_int_equal(o.max_size, 2 << 20);
    assert_int_equal(sv_log_opt_parse(&o, "max-file=5", NULL), 0);
    assert_int_equal(o.max_files, 5);
    sv_error_t err = NULL;
    assert_int_equal(sv_log_opt_parse(&o, "max-size=10", &err), -1);
    sv_error_free(&err);
    assert_int_equal(sv_log_opt_parse(&o, "max-file=0", &err), -1);
    sv_error_free(&err);
    assert_int_equal(sv_log_opt_parse(&o, "compress=true", &err), -1);
    assert_non_null(strstr(err->msg, "max-size"));
    sv_error_free(&err);
}

static void test_cap_and_order(void **state)
{
    (void)state;
    struct sv_log_opts o = {4096, 3};
    struct sv_log *l = NULL;
    assert_int_equal(sv_log_open(path, &o, true, &l, NULL), 0);
    write_lines(l, 0, 2000, 20); /* 40 KB through a 3 x 4 KB log */
    sv_log_stamp(l, 1234);
    char p1[300], p2[300], p3[300];
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    snprintf(p3, sizeof(p3), "%s.3", path);
    assert_in_range(size_of(path), 1, 4096);
    assert_int_equal(size_of(p1) % 20, 0); /* files end at a line's end */
    assert_in_range(size_of(p1), 4096 - 20, 4096);
    assert_in_range(size_of(p2), 4096 - 20, 4096);
    assert_int_equal(size_of(p3), -1);
    struct sv_log_reader r;
    sv_log_reader_init(&r, path);
    int first, last;
    int n = read_numbers(&r, &first, &last);
    assert_int_equal(last, 1999);
    assert_int_equal(n, last - first + 1);
    assert_int_equal(sv_log_reader_time(&r, size_of(path)), 1234);
    sv_log_reader_free(&r);
    sv_log_close(l);
    sv_log_remove(path);
    assert_int_equal(size_of(path), -1);
    assert_int_equal(size_of(p1), -1);
}

static void test_tail_across_files(void **state)
{
    (void)state;
    struct sv_log_opts o = {2048, 4};
    struct sv_log *l = NULL;
    assert_int_equal(sv_log_open(path, &o, false, &l, NULL), 0);
    write_lines(l, 0, 300, 16);
    struct sv_log_reader r;
    int first, last;
    for (long tail = 1; tail <= 200; tail += 37) {
        sv_log_reader_init(&r, path);
        sv_log_reader_seek(&r, tail); /* 128 lines per file: crosses files */
        assert_int_equal(read_numbers(&r, &first, &last), tail);
        assert_int_equal(last, 299);
        sv_log_reader_free(&r);
    }
    sv_log_reader_init(&r, path);
    sv_log_reader_seek(&r, 0);
    assert_int_equal(read_numbers(&r, &first, &last), 0);
    sv_log_reader_free(&r);
    sv_log_close(l);
    sv_log_remove(path);
}

static void test_reader_follows_rotations(void **state)
{
    (void)state;
    struct sv_log_opts o = {1024, 3};
    struct sv_log *l = NULL;
    assert_int_equal(sv_log_open(path, &o, false, &l, NULL), 0);
    struct sv_log_reader r;
    sv_log_reader_init(&r, path);
    int first, last, total = 0, prev = -1;
    /* A follower that reads between bursts sees every line once, in
     * order, though each burst rotates the files more than once. */
    for (int burst = 0; burst < 5; burst++) {
        write_lines(l, burst * 100, (burst + 1) * 100, 16);
        int n = read_numbers(&r, &first, &last);
        assert_int_equal(first, prev + 1);
        prev = last;
        total += n;
    }
    assert_int_equal(total, 500);
    sv_log_reader_free(&r);
    sv_log_close(l);
    sv_log_remove(path);
}

static void test_one_file(void **state)
{
    (void)state;
    struct sv_log_opts o = {1024, 1};
    struct sv_log *l = NULL;
    assert_int_equal(sv_log_open(path, &o, false, &l, NULL), 0);
    write_lines(l, 0, 500, 10);
    char p1[300];
    snprintf(p1, sizeof(p1), "%s.1", path);
    assert_in_range(size_of(path), 1, 1024);
    assert_int_equal(size_of(p1), -1);
    sv_log_close(l);
    sv_log_remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test_setup_teardown(test_cap_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_across_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_follows_rotations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

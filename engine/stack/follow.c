#include "stack/follow.h"
#include "stack/rows.h"
#include "core/statedir.h"
#include "log/logfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct follow_one {
    struct sv_log_reader rd; /* the replica's log, across its rotated files */
    char *prefix;
};

struct sv_follow {
    struct follow_one *v;
    size_t n;
    bool colour, timestamps;
};

static const char *const colours[] = {"\033[36m", "\033[33m", "\033[32m",
                                      "\033[35m", "\033[34m", "\033[31m"};

struct sv_follow *sv_follow_open(const char *stack, const char *only, bool colour, bool timestamps)
{
    struct sv_follow *f = sv_xcalloc(1, sizeof(*f));
    f->colour = colour;
    f->timestamps = timestamps;
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t err = NULL;
    if (sv_rows_list(NULL, stack, &rows, &err) < 0) {
        sv_error_free(&err);
        return f;
    }
    f->v = sv_xcalloc(rows.n + 1, sizeof(*f->v));
    size_t width = 0;
    for (size_t i = 0; i < rows.n; i++) {
        size_t w = strlen(rows.v[i].service) + 4;
        width = w > width ? w : width;
    }
    const char *last = NULL;
    int ci = -1;
    for (size_t i = 0; i < rows.n; i++) {
        const struct sv_ctr_row *r = &rows.v[i];
        char label[256];
        snprintf(label, sizeof(label), "%s-%d", r->service, r->replica);
        if (only && strcmp(only, r->service) != 0 && strcmp(only, label) != 0)
            continue;
        if (last == NULL || strcmp(last, r->service) != 0)
            ci++;
        last = r->service;
        cleanup_free char *path = sv_statedir_replica_log(stack, r->service, r->replica);
        sv_log_reader_init(&f->v[f->n].rd, path);
        f->v[f->n].prefix =
            sv_xasprintf("%s%-*s", colour ? colours[ci % 6] : "", (int)width, label);
        f->n++;
    }
    return f;
}

size_t sv_follow_count(const struct sv_follow *f)
{
    return f->n;
}

void sv_follow_seek(struct sv_follow *f, long tail)
{
    for (size_t i = 0; i < f->n && tail >= 0; i++)
        sv_log_reader_seek(&f->v[i].rd, tail); /* across its rotated files */
}

static void print_time(long long ms)
{
    if (ms == 0) {
        printf("%-23s ", "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%s.%03lld ", buf, ms % 1000);
}

/* New complete lines of one log with its prefix (the rest of a line that
 * a rotation cut, or one longer than the buffer, as a line of its own). */
static void print_one(const struct sv_follow *f, struct follow_one *o)
{
    char buf[65536];
    ssize_t n;
    bool rotated;
    while ((n = sv_log_reader_peek(&o->rd, buf, sizeof(buf), &rotated)) > 0) {
        ssize_t end = n;
        while (end > 0 && buf[end - 1] != '\n')
            end--;
        if (end == 0 && n < (ssize_t)sizeof(buf) && !rotated)
            break; /* an unfinished line: wait for the rest */
        if (end == 0)
            end = n;
        for (ssize_t i = 0, s = 0; i < end; i++)
            if (buf[i] == '\n' || i == end - 1) {
                printf("%s |%s ", o->prefix, f->colour ? "\033[0m" : "");
                if (f->timestamps)
                    print_time(sv_log_reader_time(&o->rd, o->rd.off + i + 1));
                printf("%.*s%s", (int)(i - s + 1), buf + s, buf[i] == '\n' ? "" : "\n");
                s = i + 1;
            }
        sv_log_reader_skip(&o->rd, (size_t)end);
    }
    fflush(stdout);
}

void sv_follow_print(struct sv_follow *f)
{
    for (size_t i = 0; i < f->n; i++)
        print_one(f, &f->v[i]);
}

void sv_follow_free(struct sv_follow *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        sv_log_reader_free(&f->v[i].rd);
        free(f->v[i].prefix);
    }
    free(f->v);
    free(f);
}

/* alternate: time commands run by run, interleaved (A B C A B C ...), never
 * one block after the other, so that whatever the machine does meanwhile
 * (another job, frequency scaling, a cache warming up) falls on all of them
 * alike. Each command is exec'd directly (no shell: its start-up would
 * weigh on millisecond figures), with stdout and stderr to /dev/null.
 *
 *   alternate [-n RUNS] [-w WARMUP] NAME=COMMAND ARGS... [-- NAME=COMMAND ...]
 *
 * Prints one line a command:
 *   NAME median_ms p25_ms p75_ms min_ms max_ms rss_median_kb failures
 * Peak RSS is the child's as wait4 reports it (the largest process of the
 * tree that was waited for, like /usr/bin/time's %M). A run that exits
 * non-zero counts as a failure; its time is still kept. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cmd {
    const char *name;
    char **argv;
    double *ms;
    long *rss;
    int failures;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_once(struct cmd *c, double *ms, long *rss)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp(c->argv[0], c->argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    *ms = now_ms() - t0;
    *rss = ru.ru_maxrss;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of sorted v (nearest rank). */
static double quantile(const double *v, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    int runs = 30, warmup = 3, opt;
    while ((opt = getopt(argc, argv, "+n:w:")) != -1) {
        if (opt == 'n')
            runs = atoi(optarg);
        else if (opt == 'w')
            warmup = atoi(optarg);
        else
            return 2;
    }
    struct cmd cmds[16];
    int n = 0;
    for (int i = optind; i < argc && n < 16;) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            fprintf(stderr, "alternate: want NAME=COMMAND, got %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        cmds[n].name = argv[i];
        argv[i] = eq + 1;
        cmds[n].argv = &argv[i];
        int j = i;
        while (j < argc && strcmp(argv[j], "--") != 0)
            j++;
        i = j < argc ? j + 1 : j;
        argv[j < argc ? j : argc] = NULL; /* argv[argc] is NULL already */
        cmds[n].ms = calloc((size_t)runs, sizeof(double));
        cmds[n].rss = calloc((size_t)runs, sizeof(long));
        cmds[n].failures = 0;
        n++;
    }
    if (n == 0 || runs < 1) {
        fprintf(stderr,
                "usage: alternate [-n RUNS] [-w WARMUP] NAME=CMD ARGS... [-- NAME=CMD ...]\n");
        return 2;
    }
    double ms;
    long rss;
    for (int r = 0; r < warmup; r++)
        for (int k = 0; k < n; k++)
            run_once(&cmds[k], &ms, &rss);
    /* Round r starts at command r % n: no command always runs right
     * after the same other one. */
    for (int r = 0; r < runs; r++)
        for (int k0 = 0; k0 < n; k0++) {
            struct cmd *c = &cmds[(k0 + r) % n];
            int rc = run_once(c, &c->ms[r], &c->rss[r]);
            if (rc != 0)
                c->failures++;
        }
    for (int k = 0; k < n; k++) {
        struct cmd *c = &cmds[k];
        qsort(c->ms, (size_t)runs, sizeof(double), cmp_double);
        qsort(c->rss, (size_t)runs, sizeof(long), cmp_long);
        printf("%s %.2f %.2f %.2f %.2f %.2f %ld %d\n", c->name, quantile(c->ms, runs, 0.5),
               quantile(c->ms, runs, 0.25), quantile(c->ms, runs, 0.75), c->ms[0], c->ms[runs - 1],
               c->rss[runs / 2], c->failures);
    }
    return 0;
}

/* A verb's --help text, read back and parsed (cli_helptext.h). */
#include "cli/cli_helptext.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- reading --help back -------------------------------------------------------- */

/* Everything fd gives until its end (or an error), NUL-terminated. */
static char *read_to_end(int fd, size_t *len)
{
    char *buf = NULL;
    *len = 0;
    FILE *mem = open_memstream(&buf, len);
    if (mem == NULL)
        sv_oom();
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        fwrite(chunk, 1, (size_t)r, mem);
    }
    fclose(mem); /* by hand: it is what sets buf and len */
    return buf;
}

/* What `servos ARGV...` prints on stdout, from a child that runs the verb
 * as the command line would (its getopt state, globals and exit stay its
 * own); NULL when it fails or prints nothing. */
static char *verb_output(const struct sv_verb *v, int argc, char **argv)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) < 0)
        return NULL;
    cleanup_close int rd = fd[0];
    cleanup_close int wr = fd[1];
    fflush(NULL); /* the child must not print what this process buffered */
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(wr, STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
            _exit(127);
        /* A verb that ignored --help and went to work must not hold up
         * `make install`: it gets 10 s. */
        alarm(10);
        int rc = v->run(argc, argv);
        fflush(stdout);
        _exit(rc);
    }
    /* Ours goes before the read: the read ends only when the child's is
     * the last write end. */
    close(wr);
    wr = -1;
    size_t len;
    cleanup_free char *buf = read_to_end(rd, &len);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0)
        return NULL;
    return sv_steal(buf);
}

char *sv_helptext_read(const struct sv_verb *v)
{
    char *argv[] = {(char *)v->name, "--help", NULL};
    char *text = verb_output(v, 2, argv);
    return text ? text : sv_xstrdup(v->usage);
}

char *sv_helptext_version_line(void)
{
    const struct sv_verb *v = sv_cli_find("version");
    char *argv[] = {"version", NULL};
    char *text = v ? verb_output(v, 1, argv) : NULL;
    if (text == NULL || text[0] == '\n') {
        free(text);
        return sv_xstrdup("servos");
    }
    text[strcspn(text, "\n")] = '\0';
    return text;
}

/* ---- the help text, parsed ------------------------------------------------------ */

/* Deeper than this, an indented line continues the definition above it. */
#define TERM_MAX_INDENT 6

static void help_push(struct sv_helptext *h, enum sv_helptext_kind kind, char *text, char *desc)
{
    h->p = sv_xrealloc(h->p, (h->n + 1) * sizeof(*h->p));
    h->p[h->n++] = (struct sv_helptext_piece){kind, text, desc};
}

void sv_helptext_free(struct sv_helptext *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->p[i].text);
        free(h->p[i].desc);
    }
    free(h->p);
    *h = (struct sv_helptext){0};
}

static size_t indent_of(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ')
        n++;
    return n;
}

/* A line that is no synopsis line: a break, a paragraph's line, a
 * definition, or the continuation of the definition at *item. */
static void help_line(struct sv_helptext *h, const char *line, size_t *item)
{
    size_t ind = indent_of(line);
    if (line[0] == '\0') {
        help_push(h, SV_HELPTEXT_BREAK, NULL, NULL);
        *item = SIZE_MAX;
    } else if (ind == 0) {
        help_push(h, SV_HELPTEXT_TEXT, sv_xstrdup(line), NULL);
        *item = SIZE_MAX;
    } else if (ind > TERM_MAX_INDENT && *item != SIZE_MAX) {
        char *d = h->p[*item].desc;
        h->p[*item].desc = sv_xasprintf("%s%s%s", d, d[0] ? " " : "", line + ind);
        free(d);
    } else if (ind > TERM_MAX_INDENT) {
        help_push(h, SV_HELPTEXT_TEXT, sv_xstrdup(line + ind), NULL);
    } else {
        const char *term = line + ind;
        const char *gap = strstr(term, "  ");
        help_push(h, SV_HELPTEXT_ITEM, sv_xstrndup(term, gap ? (size_t)(gap - term) : strlen(term)),
                  sv_xstrdup(gap ? gap + indent_of(gap) : ""));
        *item = h->n - 1;
    }
}

void sv_helptext_parse(const char *txt, struct sv_helptext *h)
{
    bool in_usage = false;
    size_t item = SIZE_MAX; /* the definition continuation lines extend */
    *h = (struct sv_helptext){0};
    for (const char *s = txt; *s;) {
        size_t len = strcspn(s, "\n");
        cleanup_free char *line = sv_xstrndup(s, len);
        s += len + (s[len] == '\n');
        size_t end = strlen(line);
        while (end > 0 && isspace((unsigned char)line[end - 1]))
            line[--end] = '\0';
        size_t ind = indent_of(line);
        if (strncmp(line, "usage: ", 7) == 0) {
            help_push(h, SV_HELPTEXT_USAGE, sv_xstrdup(line + 7 + indent_of(line + 7)), NULL);
            in_usage = true;
            item = SIZE_MAX;
            continue;
        }
        if (in_usage && ind > 0 && strncmp(line + ind, "servos ", 7) == 0) {
            help_push(h, SV_HELPTEXT_USAGE, sv_xstrdup(line + ind), NULL);
            continue;
        }
        in_usage = false;
        help_line(h, line, &item);
    }
}

bool sv_helptext_has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)s[i]))
            return true;
    return false;
}

bool sv_helptext_has_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (islower((unsigned char)s[i]))
            return true;
    return false;
}

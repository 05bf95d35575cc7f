#include "lua/memo.h"
#include "core/store.h"
#include "core/util.h"
#include "lua/load.h"
#include "lua/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMO_MAGIC "servos-memo 1\n"

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static char *memo_path(const char *abs_path)
{
    char h[17];
    sv_inputs_hash(abs_path, strlen(abs_path), h);
    return sv_xasprintf("%s/memo/%s", sv_state_root(), h);
}

void sv_memo_save(const char *abs_path, const char *stack, const struct sv_inputs *in)
{
    if (in->volatile_ || strchr(abs_path, '\n'))
        return;
    cleanup_free char *dir = sv_xasprintf("%s/memo", sv_state_root());
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return;
    cleanup_free char *path = memo_path(abs_path);
    cleanup_free char *tmp = sv_xasprintf("%s.%d", path, (int)getpid());
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    cleanup_free char *head = sv_xasprintf(MEMO_MAGIC "path %s\nstack %s\n", abs_path, stack);
    bool ok = write_all(fd, head, strlen(head)) == 0 &&
              (in->len == 0 || write_all(fd, in->lines, in->len) == 0);
    if (!ok || rename(tmp, path) < 0)
        unlink(tmp);
}

/* Does the input on this line ("file PATH HASH", ...) still hold? */
static bool input_holds(char *line)
{
    char *key = strchr(line, ' ');
    if (key == NULL)
        return false;
    *key++ = '\0';
    char *hash = strrchr(key, ' ');
    if (strcmp(line, "nofile") == 0)
        return access(key, F_OK) < 0 && errno == ENOENT;
    if (strcmp(line, "noenv") == 0)
        return getenv(key) == NULL;
    if (hash == NULL)
        return false;
    *hash++ = '\0';
    char now[17];
    if (strcmp(line, "env") == 0) {
        const char *v = getenv(key);
        if (v == NULL)
            return false;
        sv_inputs_hash(v, strlen(v), now);
        return strcmp(now, hash) == 0;
    }
    if (strcmp(line, "file") == 0) {
        cleanup_free char *text = NULL;
        size_t len = 0;
        sv_error_t err = NULL;
        if (sv_read_file(key, SV_MAX_INPUT_BYTES, &text, &len, &err) < 0) {
            sv_error_free(&err);
            return false;
        }
        sv_inputs_hash(text, len, now);
        return strcmp(now, hash) == 0;
    }
    return false;
}

char *sv_memo_stack(const char *abs_path)
{
    cleanup_free char *path = memo_path(abs_path);
    cleanup_free char *text = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(path, 1 << 20, &text, &len, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    if (strncmp(text, MEMO_MAGIC, strlen(MEMO_MAGIC)) != 0)
        return NULL;
    char *save = NULL, *stack = NULL;
    bool same_path = false;
    for (char *line = strtok_r(text + strlen(MEMO_MAGIC), "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "path ", 5) == 0)
            same_path = strcmp(line + 5, abs_path) == 0; /* two paths, one hash */
        else if (strncmp(line, "stack ", 6) == 0)
            stack = line + 6;
        else if (!same_path || !input_holds(line))
            return NULL;
    }
    return same_path && stack && sv_load_valid_stack_name(stack) ? sv_xstrdup(stack) : NULL;
}

/* remote-blobs.json: {"registry": {"sha256:...": ["repo", ...]}}, the
 * most recent repository first, a few per blob. Read and rewritten whole
 * under a lock, replaced by rename. */
#include "image/regblobs.h"

#include "core/json.h"
#include "core/store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define REPOS_PER_BLOB 4 /* mounts are tried from the first few only */

static char *file_path(void)
{
    return sv_xasprintf("%s/images/remote-blobs.json", sv_state_root());
}

/* The file's lock, taken; -1 when there is no image store to lock. */
static int lock_file(int op)
{
    cleanup_free char *path = sv_xasprintf("%s/images/remote-blobs.lock", sv_state_root());
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, op) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static json_t *load(void)
{
    cleanup_free char *path = file_path();
    json_t *root = json_load_file(path, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    return root;
}

/* repo first in list, once, and no more than REPOS_PER_BLOB of them. */
static void put_first(json_t *list, const char *repo)
{
    for (size_t i = json_array_size(list); i-- > 0;)
        if (strcmp(json_string_value(json_array_get(list, i)) ?: "", repo) == 0)
            json_array_remove(list, i);
    json_array_insert_new(list, 0, json_string(repo));
    while (json_array_size(list) > REPOS_PER_BLOB)
        json_array_remove(list, REPOS_PER_BLOB);
}

void sv_regblobs_note(const char *registry, const char *repo,
                      const char (*digests)[SV_DIGEST_LEN + 1], size_t n)
{
    cleanup_close int lock = lock_file(LOCK_EX);
    if (lock < 0)
        return;
    cleanup_json json_t *root = load();
    json_t *reg = json_object_get(root, registry);
    if (!json_is_object(reg)) {
        reg = json_object();
        json_object_set_new(root, registry, reg);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *list = json_object_get(reg, digests[i]);
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(reg, digests[i], list);
        }
        put_first(list, repo);
    }
    cleanup_free char *path = file_path();
    cleanup_free char *tmp = sv_xasprintf("%s.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return;
    sv_json_print(root, f, SV_JSON_COMPACT | SV_JSON_SORTED);
    if (ferror(f) | fclose(f) || rename(tmp, path) < 0)
        unlink(tmp);
}

char **sv_regblobs_sources(const char *registry, const char *digest, const char *repo)
{
    cleanup_close int lock = lock_file(LOCK_SH);
    if (lock < 0)
        return NULL;
    cleanup_json json_t *root = load();
    json_t *list = json_object_get(json_object_get(root, registry), digest);
    size_t n = json_array_size(list), k = 0;
    if (n == 0)
        return NULL;
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *r = json_string_value(json_array_get(list, i));
        if (r && strcmp(r, repo) != 0)
            v[k++] = sv_xstrdup(r);
    }
    return v;
}

/* Apply: PUT /v1/stacks/NAME (or POST /v1/stacks) with an Envirofile, a
 * Compose file or a ProServe manifest as the body, several files, a path
 * on this host, or a git source. What is uploaded is kept under
 * <root>/api/stacks/NAME (the stack's supervisor evaluates it again after
 * a restart, as it does a file the CLI named); relative paths in it
 * (volumes, includes) are relative to that directory.
 *
 * Two commands: `servos config` first, so that a file that does not
 * evaluate is the client's error (400, with its file:line) and leaves the
 * running stack and its files alone; then `servos apply`. */
#include "api/api_int.h"
#include "core/fs.h"
#include "core/json.h"
#include "lua/load.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct apply {
    struct sv_api_req *rq;
    char *name;   /* NULL until the file names it */
    char *target; /* what servos evaluates: a file, a directory, a source */
    char *upload; /* the upload's directory when there is one */
    char *staged; /* where it was written, until it replaces the last one */
    char **env;   /* "K=V", NULL-terminated */
};

static void apply_free(struct apply *a)
{
    if (a->staged)
        sv_rmtree(a->staged, NULL);
    sv_api_release(a->rq);
    free(a->name);
    free(a->target);
    free(a->upload);
    free(a->staged);
    sv_strv_free(a->env);
    free(a);
}

/* ---- the body ---------------------------------------------------------------------- */

static bool type_is(const char *ct, const char *const *names)
{
    for (; ct && *names; names++)
        if (strncasecmp(ct, *names, strlen(*names)) == 0)
            return true;
    return false;
}

static bool looks_yaml(const char *s)
{
    /* A top-level key of Compose or of a ProServe manifest at a line's start. */
    static const char *const keys[] = {"services:", "name:",     "version:",   "x-",
                                       "volumes:",  "networks:", "endpoints:", NULL};
    for (const char *l = s; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        for (size_t i = 0; keys[i]; i++)
            if (strncmp(l, keys[i], strlen(keys[i])) == 0)
                return true;
    return false;
}

/* A relative path with no "..", "." or empty part, not too deep. */
static bool safe_relative(const char *p)
{
    if (*p == '\0' || *p == '/' || strlen(p) > 255)
        return false;
    int depth = 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.') ||
            ++depth > 8)
            return false;
        s += n + (s[n] == '/');
    }
    return true;
}

static int write_file(const char *dir, const char *rel, const char *text, size_t len,
                      sv_error_t *err)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, rel);
    cleanup_free char *parent = sv_dirname(path);
    if (sv_mkdir_p_mode(parent, 0700, err) < 0)
        return -1;
    cleanup_fclose FILE *f = sv_fopen_mode(path, O_TRUNC | O_EXCL, 0600);
    if (f == NULL)
        return sv_error(err, errno, "cannot write %s", rel);
    if (fwrite(text, 1, len, f) != len || fclose(sv_steal(f)) != 0)
        return sv_error(err, errno, "cannot write %s", rel);
    return 0;
}

/* Stage one file (kind "lua" or "yaml") or a map of files; sets target. */
static int stage(struct apply *a, const char *one, size_t len, const char *kind, json_t *files,
                 sv_error_t *err)
{
    a->upload = sv_xasprintf("%s/api/stacks/%s", sv_state_root(), a->name);
    a->staged = sv_xasprintf("%s.new", a->upload);
    sv_rmtree(a->staged, NULL);
    if (sv_mkdir_p_mode(a->staged, 0700, err) < 0)
        return -1;
    if (one) {
        const char *file = strcmp(kind, "yaml") == 0 ? "servos.yaml" : "Envirofile.lua";
        a->target = sv_xasprintf("%s/%s", a->upload, file);
        return write_file(a->staged, file, one, len, err);
    }
    const char *rel;
    json_t *v;
    if (json_object_size(files) == 0)
        return sv_error(err, 0, "\"files\" holds no file");
    json_object_foreach(files, rel, v)
    {
        if (!safe_relative(rel))
            return sv_error(err, 0,
                            "\"files\": \"%s\" is not a relative path inside the "
                            "stack's directory",
                            rel);
        if (!json_is_string(v))
            return sv_error(err, 0, "\"files\": \"%s\" must be the file's text", rel);
        if (write_file(a->staged, rel, json_string_value(v), json_string_length(v), err) < 0)
            return -1;
    }
    a->target = sv_xstrdup(a->upload); /* the directory, as one stack */
    return 0;
}

/* Upload staged: in place of the last one. */
static int unstage(struct apply *a, sv_error_t *err)
{
    if (a->staged == NULL)
        return 0;
    cleanup_free char *old = sv_xasprintf("%s.old", a->upload);
    sv_rmtree(old, NULL);
    if (rename(a->upload, old) < 0 && errno != ENOENT)
        return sv_error(err, errno, "cannot replace %s", a->upload);
    if (rename(a->staged, a->upload) < 0)
        return sv_error(err, errno, "cannot move %s into place", a->staged);
    sv_rmtree(old, NULL);
    free(a->staged);
    a->staged = NULL;
    return 0;
}

static int env_of(struct apply *a, json_t *env, sv_error_t *err)
{
    if (env == NULL)
        return 0;
    if (!json_is_object(env))
        return sv_error(err, 0, "\"env\" must be an object of strings");
    a->env = sv_xcalloc(json_object_size(env) + 1, sizeof(*a->env));
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v) || *k == '\0' || strchr(k, '='))
            return sv_error(err, 0, "\"env\": \"%s\" must be a name with a string value", k);
        a->env[n++] = sv_xasprintf("%s=%s", k, json_string_value(v));
    }
    return 0;
}

/* The JSON form: {name, content+format | files | path | source, env}. */
static int from_json(struct apply *a, json_t *b, sv_error_t *err)
{
    const char *name = json_string_value(json_object_get(b, "name"));
    if (json_object_get(b, "name") && name == NULL)
        return sv_error(err, 0, "\"name\" must be a string");
    if (name && a->name && strcmp(name, a->name) != 0)
        return sv_error(err, 0, "the body names stack \"%s\", the path \"%s\"", name, a->name);
    if (name && a->name == NULL)
        a->name = sv_xstrdup(name);
    if (a->name && !sv_load_valid_stack_name(a->name))
        return sv_error(err, 0, "\"%s\" is not a valid stack name", a->name);
    if (env_of(a, json_object_get(b, "env"), err) < 0)
        return -1;
    json_t *content = json_object_get(b, "content"), *files = json_object_get(b, "files");
    const char *path = json_string_value(json_object_get(b, "path"));
    const char *source = json_string_value(json_object_get(b, "source"));
    int given = !!content + !!files + !!path + !!source;
    if (given != 1)
        return sv_error(err, 0,
                        "give one of \"content\" (with \"format\": lua or yaml), \"files\", "
                        "\"path\" or \"source\"");
    if (path || source) {
        if (path && path[0] != '/')
            return sv_error(err, 0,
                            "\"path\" must be absolute (a path on the daemon's "
                            "host)");
        a->target = sv_xstrdup(path ? path : source);
        return 0;
    }
    if (a->name == NULL)
        return sv_error(err, 0,
                        "an uploaded file needs the stack's name: PUT "
                        "/v1/stacks/NAME, or \"name\" in the body");
    if (files)
        return json_is_object(files) ? stage(a, NULL, 0, NULL, files, err)
                                     : sv_error(err, 0,
                                                "\"files\" must be an object of "
                                                "path: text");
    const char *format = json_string_value(json_object_get(b, "format"));
    if (!json_is_string(content))
        return sv_error(err, 0, "\"content\" must be the file's text");
    const char *text = json_string_value(content);
    if (format == NULL)
        format = looks_yaml(text) ? "yaml" : "lua";
    if (strcmp(format, "lua") != 0 && strcmp(format, "yaml") != 0)
        return sv_error(err, 0, "\"format\" is lua or yaml, not \"%s\"", format);
    return stage(a, text, json_string_length(content), format, NULL, err);
}

static int from_body(struct apply *a, sv_error_t *err)
{
    static const char *const keys[] = {"name", "content", "format", "files",
                                       "path", "source",  "env",    NULL};
    static const char *const json_types[] = {"application/json", NULL};
    static const char *const yaml_types[] = {"application/yaml", "application/x-yaml", "text/yaml",
                                             "text/x-yaml", NULL};
    static const char *const lua_types[] = {"text/x-lua", "application/x-lua", "text/lua", NULL};
    size_t len;
    const char *body = sv_api_body(a->rq, &len);
    const char *ct = sv_api_header(a->rq, "Content-Type");
    bool json = type_is(ct, json_types) || (!type_is(ct, yaml_types) && !type_is(ct, lua_types) &&
                                            body[strspn(body, " \t\r\n")] == '{');
    if (json) {
        cleanup_json json_t *b = sv_api_body_object(a->rq, keys);
        return b ? from_json(a, b, err) : -2; /* -2: answered already */
    }
    if (len == 0)
        return sv_error(err, 0,
                        "the body is empty: send the Envirofile, Compose file or "
                        "manifest, or JSON");
    if (a->name == NULL)
        return sv_error(err, 0,
                        "an uploaded file needs the stack's name: PUT "
                        "/v1/stacks/NAME");
    bool yaml = type_is(ct, yaml_types) || (!type_is(ct, lua_types) && looks_yaml(body));
    return stage(a, body, len, yaml ? "yaml" : "lua", NULL, err);
}

/* ---- the two commands ----------------------------------------------------------------- */

/* A command's message with the upload's directory left out, so that it
 * names the client's own file ("Envirofile.lua:3: ..."). */
static void error_of(struct apply *a, unsigned status, const char *code, const char *err,
                     size_t len)
{
    cleanup_free char *text = sv_xstrndup(err, len);
    for (const char *dir = a->staged ? a->staged : a->upload; dir;) {
        cleanup_free char *prefix = sv_xasprintf("%s/", dir);
        char *p;
        while ((p = strstr(text, prefix)) != NULL)
            memmove(p, p + strlen(prefix), strlen(p + strlen(prefix)) + 1);
        dir = dir == a->staged ? a->upload : NULL;
    }
    cleanup_free char *msg = rjob_message(text, strlen(text));
    sv_api_reply_error(a->rq, status, code, "%s", *msg ? msg : "the command failed");
}

static void applied(void *ud, int code, const char *out, size_t out_len, const char *err,
                    size_t err_len)
{
    struct apply *a = ud;
    if (code != 0) {
        error_of(a, 500, "apply_failed", err, err_len);
    } else {
        sv_error_t e = NULL;
        json_t *doc = rstack_doc(a->name, true, &e);
        if (doc == NULL) { /* applied, but not readable now: the name at least */
            sv_error_free(&e);
            doc = json_object();
            sv_json_set(doc, "name", sv_json_string(a->name));
        }
        cleanup_free char *text = sv_xstrndup(out, out_len);
        sv_json_set(doc, "output", sv_json_string(text));
        sv_api_reply_json(a->rq, 200, doc);
    }
    apply_free(a);
}

static const struct sv_api_job_ops apply_ops = {NULL, applied};

static void checked(void *ud, int code, const char *out, size_t out_len, const char *err,
                    size_t err_len)
{
    struct apply *a = ud;
    sv_error_t e = NULL;
    if (code != 0) {
        error_of(a, 400, "invalid", err, err_len);
        apply_free(a);
        return;
    }
    if (a->name == NULL) { /* named by the file: `servos config` says how */
        cleanup_json json_t *g = json_loadb(out, out_len, 0, NULL);
        const char *s = json_string_value(json_object_get(g, "stack"));
        a->name = s ? sv_xstrdup(s) : NULL;
    }
    if (a->name == NULL) {
        sv_api_reply_error(a->rq, 500, "failed", "servos config did not name the stack");
        apply_free(a);
        return;
    }
    char *argv[] = {"apply", "-p", a->name, a->target, NULL};
    if (unstage(a, &e) < 0 || sv_api_job_start(argv, NULL, a->env, &apply_ops, a, &e) < 0) {
        sv_api_reply_error(a->rq, 500, "failed", "%s", e->msg);
        sv_error_free(&e);
        apply_free(a);
    }
}

static const struct sv_api_job_ops check_ops = {NULL, checked};

void r_apply(struct sv_api_req *rq)
{
    struct apply *a = sv_xcalloc(1, sizeof(*a));
    a->rq = rq;
    sv_api_hold(rq);
    const char *name = sv_api_param(rq, "name");
    sv_error_t err = NULL;
    if (name && !sv_load_valid_stack_name(name)) {
        sv_api_reply_error(rq, 400, "bad_request",
                           "\"%s\" is not a valid stack name (a letter or digit first, then "
                           "letters, digits, '-', '_' or '.')",
                           name);
        apply_free(a);
        return;
    }
    a->name = name ? sv_xstrdup(name) : NULL;
    int rc = from_body(a, &err);
    if (rc < 0) {
        if (rc == -1)
            sv_api_reply_error(rq, 400, "bad_request", "%s", err->msg);
        sv_error_free(&err);
        apply_free(a);
        return;
    }
    /* Evaluated where it was staged: the names it reads are beside it. */
    cleanup_free char *staged_target =
        a->staged ? sv_xasprintf("%s%s", a->staged, a->target + strlen(a->upload)) : NULL;
    char *argv[] = {"config", "-p", a->name, staged_target ? staged_target : a->target, NULL};
    if (a->name == NULL) {
        argv[1] = argv[3];
        argv[2] = NULL;
    }
    if (sv_api_job_start(argv, NULL, a->env, &check_ops, a, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        apply_free(a);
    }
}

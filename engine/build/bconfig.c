/* The instructions that change the image config and nothing on disk:
 * each sets its field (Env, Labels, ExposedPorts, Volumes, User,
 * WorkingDir, StopSignal, Healthcheck, Shell, Cmd, Entrypoint, OnBuild),
 * adds an empty-layer history entry, and moves the cache key on by its
 * text as expanded, so later steps depend on it. Words are expanded with
 * the stage's ENV, then its ARGs, as Docker does. */
#include "build/build_int.h"
#include "build/dfword.h"

#include "core/safepath.h"
#include "graph/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int words(struct bstep *s, char ***out, sv_error_t *err)
{
    if (sv_dfword_split(s->in->args, s->b->df.escape, sv_bstate_lookup, s->st, out, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    return 0;
}

static int word(struct bstep *s, const char *text, char **out, sv_error_t *err)
{
    if (sv_dfword_expand(text, s->b->df.escape, sv_bstate_lookup, s->st, out, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    return 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* A command as CMD, ENTRYPOINT and HEALTHCHECK keep it: the exec form,
 * else the shell form run by SHELL. */
static json_t *command(const struct bstage *st, const struct sv_df_inst *in, const char *args)
{
    if (in->json)
        return strv_json(in->json);
    json_t *a = strv_json(st->shell);
    json_array_append_new(a, json_string(args));
    return a;
}

/* KEY=VALUE words (or the old "KEY VALUE..." form) of ENV and LABEL,
 * each handed to set. */
static int pairs(struct bstep *s, void (*set)(struct bstage *, const char *, const char *),
                 json_t *shown, sv_error_t *err)
{
    const char *args = s->in->args;
    size_t first = strcspn(args, " \t");
    if (memchr(args, '=', first) == NULL) { /* ENV KEY some value */
        const char *rest = args + first + strspn(args + first, " \t");
        cleanup_free char *k = NULL, *v = NULL;
        if (*rest == '\0')
            return sv_builder_fail(s, 0, "expected KEY=VALUE (or KEY VALUE)");
        cleanup_free char *key = sv_xstrndup(args, first);
        if (word(s, key, &k, err) < 0 || word(s, rest, &v, err) < 0)
            return -1;
        set(s->st, k, v);
        json_array_append_new(shown, json_pack("[s,s]", k, v));
        return 0;
    }
    cleanup_strv char **w = NULL;
    if (words(s, &w, err) < 0)
        return -1;
    /* Expanded against the state before this instruction, then set. */
    for (char **p = w; *p; p++) {
        char *eq = strchr(*p, '=');
        if (eq == NULL || eq == *p)
            return sv_builder_fail(s, 0, "\"%s\" is not KEY=VALUE", *p);
        *eq = '\0';
        json_array_append_new(shown, json_pack("[s,s]", *p, eq + 1));
    }
    for (size_t i = 0; i < json_array_size(shown); i++) {
        json_t *kv = json_array_get(shown, i);
        set(s->st, json_string_value(json_array_get(kv, 0)),
            json_string_value(json_array_get(kv, 1)));
    }
    return 0;
}

static void set_label(struct bstage *st, const char *k, const char *v)
{
    json_t *l = json_object_get(st->config, "Labels");
    if (!json_is_object(l)) {
        l = json_object();
        json_object_set_new(st->config, "Labels", l);
    }
    json_object_set_new(l, k, json_string(v));
}

/* "80", "80/udp", "8000-8002/tcp" into ExposedPorts. */
static int expose(struct bstep *s, const char *w, json_t *ports, sv_error_t *err)
{
    char *end;
    const char *slash = strchr(w, '/');
    const char *proto = slash ? slash + 1 : "tcp";
    long lo = strtol(w, &end, 10), hi = lo;
    if (*end == '-')
        hi = strtol(end + 1, &end, 10);
    if (end != (slash ? slash : w + strlen(w)) || lo < 1 || hi > 65535 || hi < lo ||
        hi - lo > 1000 || (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")))
        return sv_builder_fail(s, 0, "\"%s\" is not PORT[/tcp|udp] or FIRST-LAST[/tcp|udp]", w);
    for (long p = lo; p <= hi; p++) {
        char key[32];
        snprintf(key, sizeof(key), "%ld/%s", p, proto);
        json_object_set_new(ports, key, json_object());
    }
    return 0;
}

static json_t *object_field(struct bstage *st, const char *name)
{
    json_t *o = json_object_get(st->config, name);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(st->config, name, o);
    }
    return o;
}

static int list_field(struct bstep *s, const char *name, sv_error_t *err)
{
    cleanup_strv char **w = NULL;
    if (s->in->json == NULL && words(s, &w, err) < 0)
        return -1;
    char *const *v = s->in->json ? s->in->json : w;
    json_t *o = object_field(s->st, name);
    for (; *v; v++) {
        if (strcmp(name, "ExposedPorts") == 0 && expose(s, *v, o, err) < 0)
            return -1;
        if (strcmp(name, "Volumes") == 0) {
            if (**v == '\0')
                return sv_builder_fail(s, 0, "VOLUME needs a path");
            json_object_set_new(o, *v, json_object());
        }
    }
    return 0;
}

static int workdir(struct bstep *s, sv_error_t *err)
{
    cleanup_free char *w = NULL;
    if (word(s, s->in->args, &w, err) < 0)
        return -1;
    const char *cur = json_string_value(json_object_get(s->st->config, "WorkingDir"));
    cleanup_free char *joined =
        w[0] == '/' ? sv_xstrdup(w) : sv_xasprintf("%s/%s", cur && *cur ? cur : "", w);
    cleanup_free char *clean = sv_path_clean(joined[0] ? joined : "/");
    json_object_set_new(s->st->config, "WorkingDir", json_string(clean));
    return 0;
}

static int64_t ns_flag(struct bstep *s, const char *name, int64_t dflt, sv_error_t *err)
{
    const char *v = sv_dockerfile_flag(s->in, name, NULL);
    int64_t ms;
    if (v == NULL)
        return dflt;
    if (sv_parse_duration(v, &ms, err) < 0) {
        sv_builder_fail(s, 0, "--%s=%s: %s", name, v, (*err)->msg);
        return -1;
    }
    return ms * 1000000;
}

static int healthcheck(struct bstep *s, sv_error_t *err)
{
    const char *a = s->in->args;
    if (strcasecmp(a, "NONE") == 0) {
        json_object_set_new(s->st->config, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
        return 0;
    }
    if (strncasecmp(a, "CMD", 3) != 0 || (a[3] != ' ' && a[3] != '\t' && a[3] != '['))
        return sv_builder_fail(s, 0, "expected HEALTHCHECK [OPTIONS] CMD command, or NONE");
    const char *cmd = a + 3 + strspn(a + 3, " \t");
    cleanup_strv char **json = NULL;
    if (cmd[0] == '[') {
        cleanup_json json_t *arr = json_loads(cmd, 0, NULL);
        for (size_t i = 0; json_is_array(arr) && i < json_array_size(arr); i++) {
            if (i == 0)
                json = sv_xcalloc(json_array_size(arr) + 1, sizeof(char *));
            json[i] = sv_xstrdup(json_string_value(json_array_get(arr, i)) ?: "");
        }
    }
    json_t *test = json ? strv_json(json) : json_pack("[s]", cmd);
    json_array_insert_new(test, 0, json_string(json ? "CMD" : "CMD-SHELL"));
    json_t *h = json_pack("{s:o}", "Test", test);
    static const char *const durations[][2] = {{"interval", "Interval"},
                                               {"timeout", "Timeout"},
                                               {"start-period", "StartPeriod"},
                                               {"start-interval", "StartInterval"}};
    for (size_t i = 0; i < SV_ARRAY_LEN(durations); i++) {
        int64_t ns = ns_flag(s, durations[i][0], 0, err);
        if (ns < 0) {
            json_decref(h);
            return -1;
        }
        if (ns)
            json_object_set_new(h, durations[i][1], json_integer(ns));
    }
    const char *r = sv_dockerfile_flag(s->in, "retries", NULL);
    char *end = NULL;
    long retries = r ? strtol(r, &end, 10) : 0;
    if (r && (*end || retries < 0 || end == r)) {
        json_decref(h);
        return sv_builder_fail(s, 0, "--retries=%s: expected a number", r);
    }
    if (retries)
        json_object_set_new(h, "Retries", json_integer(retries));
    json_object_set_new(s->st->config, "Healthcheck", h);
    return 0;
}

static int set_string(struct bstep *s, const char *field, bool signal, sv_error_t *err)
{
    cleanup_free char *w = NULL;
    if (word(s, s->in->args, &w, err) < 0)
        return -1;
    int sig;
    if (signal && sv_parse_signal(w, &sig, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    json_object_set_new(s->st->config, field, json_string(w));
    return 0;
}

static int shell(struct bstep *s)
{
    sv_strv_free(s->st->shell);
    size_t n = 0;
    while (s->in->json[n])
        n++;
    s->st->shell = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        s->st->shell[i] = sv_xstrdup(s->in->json[i]);
    json_object_set_new(s->st->config, "Shell", strv_json(s->in->json));
    return 0;
}

static int cmd_entrypoint(struct bstep *s)
{
    bool entry = s->in->kind == SV_DF_ENTRYPOINT;
    json_t *c = command(s->st, s->in, s->in->args);
    json_object_set_new(s->st->config, entry ? "Entrypoint" : "Cmd", c);
    if (entry && !s->st->cmd_set) /* a base image's CMD is for its own ENTRYPOINT */
        json_object_del(s->st->config, "Cmd");
    s->st->cmd_set |= !entry;
    return 0;
}

static void set_env(struct bstage *st, const char *k, const char *v)
{
    sv_bstate_setenv(st, k, v);
}

/* The instruction's effect on the config; shown: what it set, for the
 * history and the key. */
static int apply(struct bstep *s, json_t *shown, sv_error_t *err)
{
    switch (s->in->kind) {
    case SV_DF_ENV:
        return pairs(s, set_env, shown, err);
    case SV_DF_LABEL:
        return pairs(s, set_label, shown, err);
    case SV_DF_EXPOSE:
        return list_field(s, "ExposedPorts", err);
    case SV_DF_VOLUME:
        return list_field(s, "Volumes", err);
    case SV_DF_USER:
        return set_string(s, "User", false, err);
    case SV_DF_STOPSIGNAL:
        return set_string(s, "StopSignal", true, err);
    case SV_DF_WORKDIR:
        return workdir(s, err);
    case SV_DF_HEALTHCHECK:
        return healthcheck(s, err);
    case SV_DF_SHELL:
        return shell(s);
    case SV_DF_CMD:
    case SV_DF_ENTRYPOINT:
        return cmd_entrypoint(s);
    case SV_DF_MAINTAINER:
        set_label(s->st, "maintainer", s->in->args);
        return 0;
    case SV_DF_ONBUILD: {
        json_t *o = json_object_get(s->st->config, "OnBuild");
        if (!json_is_array(o))
            json_object_set_new(s->st->config, "OnBuild", o = json_array());
        json_array_append_new(o, json_string(s->in->args));
        return 0;
    }
    default:
        return sv_builder_fail(s, 0, "not a config instruction");
    }
}

int sv_bconfig_apply(struct bstep *s, sv_error_t *err)
{
    cleanup_json json_t *shown = json_array();
    if (apply(s, shown, err) < 0)
        return -1;
    /* The key moves on by the config this step made (all of it: what an
     * ENV expanded to, a CMD in its final form). */
    cleanup_free char *cfg = json_dumps(s->st->config, JSON_COMPACT | JSON_SORT_KEYS);
    const char *kw = sv_dockerfile_keyword(s->in->kind);
    if (sv_bstate_chain(s->st, err, kw, cfg, NULL) < 0)
        return -1;
    cleanup_free char *by = NULL;
    if (json_array_size(shown)) {
        size_t len = strlen(kw) + 1;
        for (size_t i = 0; i < json_array_size(shown); i++)
            len += strlen(json_string_value(json_array_get(json_array_get(shown, i), 0))) +
                   strlen(json_string_value(json_array_get(json_array_get(shown, i), 1))) + 2;
        by = sv_xcalloc(1, len + 1);
        strcpy(by, kw);
        for (size_t i = 0; i < json_array_size(shown); i++)
            sprintf(by + strlen(by), " %s=%s",
                    json_string_value(json_array_get(json_array_get(shown, i), 0)),
                    json_string_value(json_array_get(json_array_get(shown, i), 1)));
    } else {
        by = sv_xasprintf("%s %s", kw, s->in->args);
    }
    sv_bstate_history(s->st, by, true);
    sv_builder_progress(s, "");
    return 0;
}

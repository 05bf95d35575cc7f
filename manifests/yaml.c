#include "manifests/yaml.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum frame_kind { FRAME_MAP, FRAME_SEQ };

struct frame {
    enum frame_kind kind;
    int base;      /* stack index of the table; lines at base+1, anchor at base+2 */
    lua_Integer n; /* items so far (sequences) */
    bool key_pending, key_is_merge;
    int key_line, line;
};

/* Lives in a Lua userdata so a Lua error (say, out of memory) anywhere in
 * the loop still releases the parser, the current event and scratch memory
 * through __gc. */
struct yaml_state {
    yaml_parser_t parser;
    bool parser_ready;
    yaml_event_t event;
    bool event_live;
    char *scratch;
    int depth;
    struct frame frames[SV_YAML_MAX_DEPTH];
};

static int yaml_state_gc(lua_State *L)
{
    struct yaml_state *st = lua_touserdata(L, 1);
    if (st->event_live)
        yaml_event_delete(&st->event);
    st->event_live = false;
    if (st->parser_ready)
        yaml_parser_delete(&st->parser);
    st->parser_ready = false;
    free(st->scratch);
    st->scratch = NULL;
    return 0;
}

struct yaml_reader {
    lua_State *L;
    const char *path;
    struct yaml_state *st;
    int lines_idx, anchors_idx;
    const struct sv_interp *ip;
};

static int line_of(const yaml_mark_t *m)
{
    return (int)m->line + 1;
}

static void fail(struct yaml_reader *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void fail(struct yaml_reader *c, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushfstring(c->L, "%s:%d: ", c->path, line);
    lua_pushvfstring(c->L, fmt, ap);
    va_end(ap);
    lua_concat(c->L, 2);
    /* Release libyaml now rather than at some later GC. */
    lua_pushcfunction(c->L, yaml_state_gc);
    lua_pushlightuserdata(c->L, c->st);
    lua_call(c->L, 1, 0);
    lua_error(c->L);
    __builtin_unreachable();
}

static bool all_digits(const char *s, int base)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        int ch = (unsigned char)*s;
        bool ok = base == 16 ? (ch >= '0' && ch <= '9') || ((ch | 32) >= 'a' && (ch | 32) <= 'f')
                             : ch >= '0' && ch < '0' + base;
        if (!ok)
            return false;
    }
    return true;
}

static bool is_float(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits = true;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Push a plain scalar with the YAML 1.2 core schema's types. */
static void push_plain(lua_State *L, const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < SV_ARRAY_LEN(nulls); i++)
        if (strcmp(s, nulls[i]) == 0) {
            lua_pushlightuserdata(L, SV_YAML_NULL);
            return;
        }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        lua_pushboolean(L, 1);
        return;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        lua_pushboolean(L, 0);
        return;
    }
    const char *d = (*s == '-' || *s == '+') ? s + 1 : s;
    int base = 0;
    if (all_digits(d, 10))
        base = 10;
    else if (d == s && strncmp(s, "0x", 2) == 0 && all_digits(s + 2, 16))
        base = 16;
    else if (d == s && strncmp(s, "0o", 2) == 0 && all_digits(s + 2, 8))
        base = 8;
    if (base) {
        errno = 0;
        long long v = strtoll(base == 8 ? s + 2 : s, NULL, base);
        if (errno == 0) {
            lua_pushinteger(L, (lua_Integer)v);
            return;
        }
    }
    if (is_float(s)) {
        lua_pushnumber(L, strtod(s, NULL));
        return;
    }
    const char *f = (*s == '-' || *s == '+') ? s + 1 : s;
    if (!strcmp(f, ".inf") || !strcmp(f, ".Inf") || !strcmp(f, ".INF")) {
        lua_pushnumber(L, *s == '-' ? -HUGE_VAL : HUGE_VAL);
        return;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        lua_pushnumber(L, NAN);
        return;
    }
    lua_pushstring(L, s);
}

static void push_scalar_value(struct yaml_reader *c, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    bool str_tag = tag && (!strcmp(tag, YAML_STR_TAG) || !strcmp(tag, "!!str"));
    if (c->ip && strchr(text, '$')) {
        /* The lookups call Lua, which may raise: the text being built stays
         * in scratch, and so does a message, so the state's __gc frees them. */
        char *errmsg = NULL;
        if (sv_interpolate(text, c->ip, &c->st->scratch, &errmsg) < 0) {
            c->st->scratch = errmsg;
            fail(c, line_of(&ev->start_mark), "%s", errmsg);
        }
        if (c->st->scratch)
            text = c->st->scratch;
    }
    if (plain && !str_tag)
        push_plain(c->L, text);
    else
        lua_pushstring(c->L, text);
    free(c->st->scratch);
    c->st->scratch = NULL;
}

/* lines[tbl][key] for the line table at index lines */
static lua_Integer get_key_line(lua_State *L, int lines, int key)
{
    lua_pushvalue(L, key);
    lua_rawget(L, lines);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Merge the mapping at the top of the stack (or each mapping of a sequence)
 * into the frame's table: keys already there win, later explicit keys
 * override (their line is stored negative to mark them as merged). */
static void merge_into(struct yaml_reader *c, struct frame *f, int line)
{
    lua_State *L = c->L;
    int src = lua_gettop(L);
    lua_pushvalue(L, src);
    lua_rawget(L, c->lines_idx);
    int src_lines = lua_gettop(L);
    if (!lua_istable(L, src) || !lua_istable(L, src_lines))
        fail(c, line, "a merge key (<<) needs a mapping or a list of mappings");
    lua_pushboolean(L, 1);
    lua_rawget(L, src_lines);
    bool is_seq = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "seq") == 0;
    lua_pop(L, 1);
    if (is_seq) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, src);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, src, i);
            merge_into(c, f, line);
        }
        lua_settop(L, src - 1);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, src)) {
        int key = lua_gettop(L) - 1;
        lua_pushvalue(L, key);
        lua_rawget(L, f->base);
        bool present = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (!present) {
            lua_pushvalue(L, key);
            lua_pushvalue(L, key + 1);
            lua_rawset(L, f->base);
            lua_Integer l = get_key_line(L, src_lines, key);
            lua_pushvalue(L, key);
            lua_pushinteger(L, -(l > 0 ? l : -l));
            lua_rawset(L, f->base + 1);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, src - 1);
}

/* A value is complete at the top of the stack: attach it to its parent. */
static void add_value(struct yaml_reader *c, int line)
{
    lua_State *L = c->L;
    if (c->st->depth == 0)
        return; /* the document's root stays on the stack */
    struct frame *f = &c->st->frames[c->st->depth - 1];
    if (f->kind == FRAME_SEQ) {
        f->n++;
        lua_pushinteger(L, line);
        lua_rawseti(L, f->base + 1, f->n);
        lua_rawseti(L, f->base, f->n);
        return;
    }
    /* stack: ... key value */
    if (f->key_is_merge) {
        merge_into(c, f, f->key_line);
    } else {
        int key = lua_gettop(L) - 1;
        lua_pushvalue(L, key);
        lua_rawget(L, f->base);
        bool dup = !lua_isnil(L, -1);
        lua_pop(L, 1);
        lua_Integer prev = get_key_line(L, f->base + 1, key);
        if (dup && prev > 0)
            fail(c, f->key_line, "key \"%s\" appears twice in this mapping (first at line %d)",
                 lua_tostring(L, key), (int)prev);
        lua_pushvalue(L, key);
        lua_pushinteger(L, f->key_line);
        lua_rawset(L, f->base + 1);
        lua_rawset(L, f->base);
    }
    lua_settop(L, f->base + 2);
    f->key_pending = false;
}

static void open_container(struct yaml_reader *c, enum frame_kind kind, const yaml_char_t *anchor,
                           int line)
{
    lua_State *L = c->L;
    struct yaml_state *st = c->st;
    if (st->depth > 0) {
        struct frame *p = &st->frames[st->depth - 1];
        if (p->kind == FRAME_MAP && !p->key_pending)
            fail(c, line, "mapping keys must be plain scalars, not %s",
                 kind == FRAME_MAP ? "mappings" : "lists");
    }
    if (st->depth >= SV_YAML_MAX_DEPTH)
        fail(c, line, "nesting deeper than %d levels", SV_YAML_MAX_DEPTH);
    if (!lua_checkstack(L, 8))
        fail(c, line, "nesting too deep");
    lua_newtable(L);
    int base = lua_gettop(L);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, line);
    lua_rawseti(L, -2, 0);
    lua_pushboolean(L, 1);
    lua_pushstring(L, kind == FRAME_MAP ? "map" : "seq");
    lua_rawset(L, -3);
    lua_pushvalue(L, base);
    lua_pushvalue(L, base + 1);
    lua_rawset(L, c->lines_idx);
    if (anchor) {
        lua_pushstring(L, (const char *)anchor);
        /* Mark the anchor as under construction: an alias to it from inside
         * would make a cycle. */
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 0);
        lua_rawset(L, c->anchors_idx);
    } else {
        lua_pushnil(L);
    }
    struct frame *f = &st->frames[st->depth++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->base = base;
    f->line = line;
}

static void close_container(struct yaml_reader *c)
{
    lua_State *L = c->L;
    struct frame f = c->st->frames[--c->st->depth];
    if (!lua_isnil(L, f.base + 2)) {
        lua_pushvalue(L, f.base + 2);
        lua_pushvalue(L, f.base);
        lua_rawset(L, c->anchors_idx);
    }
    lua_settop(L, f.base);
    add_value(c, f.line);
}

static void handle_scalar(struct yaml_reader *c, const yaml_event_t *ev)
{
    lua_State *L = c->L;
    int line = line_of(&ev->start_mark);
    struct frame *f = c->st->depth ? &c->st->frames[c->st->depth - 1] : NULL;
    if (f && f->kind == FRAME_MAP && !f->key_pending) {
        const char *k = (const char *)ev->data.scalar.value;
        lua_pushstring(L, k);
        f->key_pending = true;
        f->key_is_merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(k, "<<") == 0;
        f->key_line = line;
        return;
    }
    push_scalar_value(c, ev);
    if (ev->data.scalar.anchor) {
        lua_pushstring(L, (const char *)ev->data.scalar.anchor);
        lua_pushvalue(L, -2);
        lua_rawset(L, c->anchors_idx);
    }
    add_value(c, line);
}

static void handle_alias(struct yaml_reader *c, const yaml_event_t *ev)
{
    lua_State *L = c->L;
    int line = line_of(&ev->start_mark);
    const char *name = (const char *)ev->data.alias.anchor;
    struct frame *f = c->st->depth ? &c->st->frames[c->st->depth - 1] : NULL;
    if (f && f->kind == FRAME_MAP && !f->key_pending)
        fail(c, line, "an alias (*%s) cannot be used as a mapping key", name);
    lua_pushstring(L, name);
    lua_rawget(L, c->anchors_idx);
    if (lua_isnil(L, -1))
        fail(c, line, "unknown anchor: *%s is used but &%s is never defined before it", name, name);
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
        fail(c, line,
             "alias *%s refers to the node that contains it (recursive YAML is not "
             "supported)",
             name);
    add_value(c, line);
}

void sv_yaml_push(lua_State *L, const char *path, const char *text, size_t len, int lines_idx,
                  const struct sv_interp *ip)
{
    lines_idx = lua_absindex(L, lines_idx);
    struct yaml_state *st = lua_newuserdatauv(L, sizeof(*st), 0);
    memset(st, 0, sizeof(*st));
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, yaml_state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    int st_idx = lua_gettop(L);
    lua_newtable(L);
    struct yaml_reader c = {.L = L,
                            .path = path,
                            .st = st,
                            .lines_idx = lines_idx,
                            .anchors_idx = lua_gettop(L),
                            .ip = ip};

    if (!yaml_parser_initialize(&st->parser))
        fail(&c, 1, "cannot initialise the YAML parser");
    st->parser_ready = true;
    yaml_parser_set_input_string(&st->parser, (const unsigned char *)text, len);

    int documents = 0;
    bool root = false;
    for (;;) {
        if (!yaml_parser_parse(&st->parser, &st->event)) {
            const yaml_parser_t *p = &st->parser;
            int line = line_of(&p->problem_mark);
            if (p->error == YAML_READER_ERROR) {
                /* Reader errors (bad bytes) carry an offset, not a mark. */
                line = 1;
                for (size_t i = 0; i < p->problem_offset && i < len; i++)
                    line += text[i] == '\n';
            }
            fail(&c, line, "YAML syntax error: %s%s%s", p->problem ? p->problem : "invalid YAML",
                 p->context ? " " : "", p->context ? p->context : "");
        }
        st->event_live = true;
        yaml_event_t *ev = &st->event;
        int line = line_of(&ev->start_mark);
        bool done = false;
        switch (ev->type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1)
                fail(&c, line,
                     "a second YAML document (---) in one file; servos reads one "
                     "document per file");
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_SCALAR_EVENT:
            handle_scalar(&c, ev);
            root = true;
            break;
        case YAML_ALIAS_EVENT:
            handle_alias(&c, ev);
            root = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
            open_container(&c, FRAME_SEQ, ev->data.sequence_start.anchor, line);
            break;
        case YAML_MAPPING_START_EVENT:
            open_container(&c, FRAME_MAP, ev->data.mapping_start.anchor, line);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            close_container(&c);
            root = true;
            break;
        default:
            break;
        }
        yaml_event_delete(ev);
        st->event_live = false;
        if (done)
            break;
    }
    if (!root)
        lua_pushnil(L);
    else if (lua_touserdata(L, -1) == SV_YAML_NULL && lua_islightuserdata(L, -1))
        lua_pushnil(L), lua_replace(L, -2);
    yaml_parser_delete(&st->parser);
    st->parser_ready = false;
    /* Leave only the root: drop the state and anchors under it. */
    lua_replace(L, st_idx);
    lua_settop(L, st_idx);
}

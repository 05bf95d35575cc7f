/* servos proserve-host and proserve-lua: what a ProServe service's
 * container runs (see proserve.h), and the runner of its Lua handlers.
 * Neither is meant to be typed by hand; `servos apply manifest.yaml`
 * starts them. */
#include "cli/cli.h"
#include "core/json.h"
#include "proserve/phandler.h"
#include "proserve/proserve.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

/* Both verbs take one operand and no option but --help: -1 when argv
 * holds just that, else the exit code of what was said. */
static int one_operand(const char *verb, int argc, char **argv, const char *want)
{
    const struct sv_verb *v = sv_cli_find(verb);
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(v, false);
    if (argc > 1 && argv[1][0] == '-')
        return sv_cli_misuse(v, "unknown option \"%s\"", argv[1]);
    if (argc != 2)
        return sv_cli_misuse(v, "%s", want);
    return -1;
}

int sv_cmd_proserve_host(int argc, char **argv)
{
    /* --direct-handlers: no supervisor to start handlers through (a pod
     * that `servos export kubernetes` made); a stack never passes it */
    bool direct = argc > 1 && strcmp(argv[1], "--direct-handlers") == 0;
    if (direct)
        argv[1] = argv[0], argc--, argv++;
    int rc = one_operand("proserve-host", argc, argv,
                         "one MANIFEST.json (servos apply manifest.yaml runs this)");
    if (rc >= 0)
        return rc;
    sv_handler_set_direct(direct);
    return sv_proserve_serve(argv[1]);
}

/* ---- Lua handlers: request JSON on stdin, answer JSON on stdout ------------------ */

/* A JSON value as the Lua value that says the same. */
static void push_json_as_lua(lua_State *L, json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x)
        {
            push_json_as_lua(L, x);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x)
        {
            push_json_as_lua(L, x);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        break;
    default:
        lua_pushnil(L);
    }
}

/* The Lua value at idx as JSON: a table with keys 1..n only is an array,
 * any other table an object. */
static json_t *lua_value_json(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > 64)
        return json_null();
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        return lua_isinteger(L, idx) ? json_integer(lua_tointeger(L, idx))
                                     : json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return json_stringn(s, len);
    }
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx), keys = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            keys++;
            lua_pop(L, 1);
        }
        if (n > 0 && keys == n) {
            json_t *a = json_array();
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                json_array_append_new(a, lua_value_json(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return a;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pushvalue(L, -2);
            const char *k = lua_tostring(L, -1);
            if (k)
                json_object_set_new(o, k, lua_value_json(L, -2, depth + 1));
            lua_pop(L, 2);
        }
        return o;
    }
    default:
        return json_null();
    }
}

static void lua_closep(lua_State **L)
{
    if (*L)
        lua_close(*L);
}

/* Call the function on top of the stack with the request; false (the
 * error said) when it fails. */
static bool call_with_request(lua_State *L)
{
    lua_getglobal(L, "request");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        return true;
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return false;
}

/* Run the handler script: the chunk's return value answers; a function
 * it returns, or else a global handler or main, is called with the
 * request. False (the error said) when it fails. */
static bool run_handler(lua_State *L, const char *script)
{
    if (luaL_loadfile(L, script) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return false;
    }
    if (lua_isfunction(L, -1))
        return call_with_request(L);
    if (!lua_isnil(L, -1))
        return true;
    lua_pop(L, 1);
    lua_getglobal(L, "handler");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_getglobal(L, "main");
    }
    return lua_isfunction(L, -1) ? call_with_request(L) : true;
}

/* ---- Lua WebSocket handlers: a line per message each way (proserve/wsmsg.h) ---------- */

/* The Lua value at idx as one line of the handler's stdout: a string as
 * text (bytes that are not UTF-8, or binary = true, as {"$binary"}), any
 * other value as JSON. */
static void ws_emit(lua_State *L, int idx, bool binary, const char *wrap)
{
    idx = lua_absindex(L, idx);
    cleanup_json json_t *v = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *str = binary ? NULL : json_stringn(s, len);
        if (str == NULL) {
            cleanup_free char *b64 = sv_base64_encode(s, len);
            v = json_pack("{s:s}", "$binary", b64);
        } else {
            v = str;
        }
    } else {
        v = lua_value_json(L, idx, 0);
    }
    json_t *wrapped = wrap ? json_pack("{s:O}", wrap, v) : NULL;
    if (wrapped) {
        json_decref(v);
        v = wrapped;
    }
    cleanup_free char *text = sv_json_dumps(v, SV_JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
}

static int ws_send(lua_State *L)
{
    ws_emit(L, 1, false, NULL);
    return 0;
}

static int ws_send_binary(lua_State *L)
{
    luaL_checkstring(L, 1);
    ws_emit(L, 1, true, NULL);
    return 0;
}

static int ws_broadcast(lua_State *L)
{
    ws_emit(L, 1, false, "$broadcast");
    return 0;
}

static int ws_close(lua_State *L)
{
    lua_Integer code = luaL_optinteger(L, 1, 1000);
    const char *reason = luaL_optstring(L, 2, "");
    cleanup_json json_t *v = json_pack("{s:I,s:s}", "$close", (json_int_t)code, "reason", reason);
    cleanup_free char *text = sv_json_dumps(v ? v : json_null(), SV_JSON_COMPACT);
    printf("%s\n", text);
    fflush(stdout);
    return 0;
}

/* Call the global hook (on_connect, on_disconnect) with ws, if there is
 * one; what it returns is sent. */
static void ws_hook(lua_State *L, const char *name, int ws)
{
    lua_getglobal(L, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_pushvalue(L, ws);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        ws_emit(L, -1, false, NULL);
    lua_pop(L, 1);
}

/* One message (a line of stdin) to the handler at fn, with ws. */
static void ws_message(lua_State *L, int fn, int ws, const char *line, size_t n)
{
    cleanup_json json_t *j = json_loadb(line, n, JSON_DECODE_ANY, NULL);
    json_t *b = json_object_size(j) == 1 ? json_object_get(j, "$binary") : NULL;
    bool binary = json_is_string(b);
    if (binary) {
        size_t len = 0;
        cleanup_free char *bytes = sv_base64_decode_n(json_string_value(b), &len);
        lua_pushlstring(L, bytes ? bytes : "", bytes ? len : 0);
    } else {
        push_json_as_lua(L, j ? j : json_null());
    }
    lua_pushboolean(L, binary);
    lua_setfield(L, ws, "binary");
    lua_pushvalue(L, fn);
    lua_insert(L, -2);
    lua_pushvalue(L, ws);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        fprintf(stderr, "%s\n", lua_tostring(L, -1)); /* logged; the connection goes on */
    else if (!lua_isnil(L, -1))
        ws_emit(L, -1, binary && lua_type(L, -1) == LUA_TSTRING, NULL);
    lua_pop(L, 1);
}

/* The handler: the chunk's function, or a global one by ProServe's names. */
static bool ws_find_handler(lua_State *L, const char *script)
{
    if (luaL_loadfile(L, script) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return false;
    }
    if (lua_isfunction(L, -1))
        return true;
    lua_pop(L, 1);
    for (const char *n = "handle_websocket\0on_message\0handler\0main\0"; *n; n += strlen(n) + 1) {
        lua_getglobal(L, n);
        if (lua_isfunction(L, -1))
            return true;
        lua_pop(L, 1);
    }
    fprintf(stderr, "%s: no function (return one, or define on_message(msg, ws))\n", script);
    return false;
}

static int run_websocket(lua_State *L, const char *script)
{
    static const luaL_Reg fns[] = {{"send", ws_send},
                                   {"send_binary", ws_send_binary},
                                   {"broadcast", ws_broadcast},
                                   {"close", ws_close},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_getglobal(L, "request");
    lua_setfield(L, -2, "request");
    int ws = lua_gettop(L);
    if (!ws_find_handler(L, script))
        return 1;
    int fn = lua_gettop(L);
    ws_hook(L, "on_connect", ws);
    cleanup_free char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0)
        ws_message(L, fn, ws, line, (size_t)n);
    ws_hook(L, "on_disconnect", ws);
    return 0;
}

int sv_cmd_proserve_lua(int argc, char **argv)
{
    bool websocket = argc == 3 && strcmp(argv[2], "--websocket") == 0;
    if (websocket)
        argc = 2;
    int rc = one_operand("proserve-lua", argc, argv, "one SCRIPT.lua, the request on stdin");
    if (rc >= 0)
        return rc;
    if (websocket) {
        __attribute__((cleanup(lua_closep))) lua_State *L = luaL_newstate();
        luaL_openlibs(L);
        json_error_t jerr;
        const char *rq = getenv("PROSERVE_REQUEST");
        cleanup_json json_t *req = json_loads(rq ? rq : "{}", 0, &jerr);
        push_json_as_lua(L, req ? req : json_object());
        lua_setglobal(L, "request");
        return run_websocket(L, argv[1]);
    }
    __attribute__((cleanup(lua_closep))) lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    {
        json_error_t jerr;
        cleanup_json json_t *req = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
        if (req)
            push_json_as_lua(L, req);
        else
            lua_pushnil(L);
        lua_setglobal(L, "request");
    }
    if (!run_handler(L, argv[1]))
        return 1;
    cleanup_json json_t *out = lua_value_json(L, -1, 0);
    sv_json_print(out ? out : json_null(), stdout, SV_JSON_COMPACT);
    return 0;
}

-- A ProServe manifest's served blocks, each checked and resolved for the
-- service host (engine/proserve/): endpoints, WebSockets (v1's
-- websocket_handlers, v2's websockets), background tasks, static files,
-- TLS, shell commands and converters, proxy rules, deployment. Each
-- function takes the load's context cx = { path, doc, base, body } and
-- writes what the service host needs into cx.body.
local host = ...
local U = host.stdlib("yamlutil")
local C = host.stdlib("proserve_check")
local null = U.null
local M = {}

local methods = { GET = true, POST = true, PUT = true, DELETE = true, PATCH = true, HEAD = true, OPTIONS = true }

-- Each item of the list doc[key] (a mapping) through check(item, i, at).
local function each(cx, key, holds, check)
  local list = C.typed(cx.path, cx.doc, key, "seq", "a list" .. holds)
  if not list then return end
  for i, item in ipairs(list) do
    local at = U.at(cx.path, list, i)
    if not U.is_map(item) then U.fail(at, key .. ": item " .. i .. " must be a mapping" .. holds) end
    check(item, i, at)
  end
end

local function route_path(cx, item, key, i)
  if type(item.path) ~= "string" or item.path:sub(1, 1) ~= "/" then
    U.fail(U.at(cx.path, item, item.path ~= nil and "path" or nil),
           key .. ": item " .. i .. ": path must be a string starting with /")
  end
  return item.path
end

-- ---- shell commands and converters -----------------------------------------------------------

-- converters: NAME -> { type, delimiter }; shell_commands: [{ name,
-- command, converter }]; shell_config: { shell, timeout, working_dir, env }.
function M.shell(cx)
  local doc, path = cx.doc, cx.path
  cx.converters = {}
  local convs = C.typed(path, doc, "converters", "map", "a mapping of name: {type: ...}")
  for name, c in pairs(convs or {}) do
    local at = U.at(path, convs, name)
    if not U.is_map(c) then U.fail(at, "converters: " .. tostring(name) .. ": expected a mapping with type") end
    C.keys(path, c, "converters: " .. tostring(name), C.converter)
    local t = c.type
    if type(t) ~= "string" or not C.converter_types[t] then
      U.fail(U.at(path, c, c.type ~= nil and "type" or nil), "converters: " .. tostring(name) .. ': type "' ..
             tostring(t) .. '" is not one of json, text, lines, csv, table, keyvalue' ..
             (type(t) == "string" and U.suggest(t, C.converter_types) or ""))
    end
    C.typed(path, c, "delimiter", "string", "a string", "converters: " .. tostring(name) .. ": delimiter")
    cx.converters[name] = { type = t, delimiter = c.delimiter }
  end
  cx.commands = {}
  each(cx, "shell_commands", " with name and command", function(sc, i, at)
    C.keys(path, sc, "shell_commands: item " .. i, C.shell_command)
    if type(sc.name) ~= "string" or type(sc.command) ~= "string" then
      U.fail(at, "shell_commands: item " .. i .. " needs a name and a command (strings)")
    end
    if cx.commands[sc.name] then U.fail(at, 'shell_commands: "' .. sc.name .. '" is named twice') end
    C.seconds(path, sc, "timeout", "shell_commands: " .. sc.name .. ": timeout")
    cx.commands[sc.name] = sc
  end)
  local sc = C.typed(path, doc, "shell_config", "map", "a mapping")
  if sc then
    C.keys(path, sc, "shell_config", C.shell_config)
    C.typed(path, sc, "shell", "string", "a shell's path", "shell_config: shell")
    C.seconds(path, sc, "timeout", "shell_config: timeout")
    C.typed(path, sc, "env", "map", "a mapping of NAME: value", "shell_config: env")
    local wd = C.typed(path, sc, "working_dir", "string", "a directory", "shell_config: working_dir")
    if wd then
      cx.body.shell_workdir = C.relative(cx.base, C.need(cx.base, wd, "dir", U.at(path, sc, "working_dir"), "shell_config: working_dir"))
    end
  end
end

-- A converter by name (built-in or from converters:) as the service host
-- takes it.
local function converter(cx, name, at, label)
  if name == nil or name == null then return nil end
  if type(name) ~= "string" then U.fail(at, label .. ": converter: expected a name") end
  if cx.converters[name] then return cx.converters[name] end
  if C.converter_types[name] then return { type = name } end
  local all = {}
  for k in pairs(C.converter_types) do all[k] = true end
  for k in pairs(cx.converters) do all[k] = true end
  U.fail(at, label .. ': converter "' .. name .. '" is neither built in (json, text, lines, csv, table, ' ..
         'keyvalue) nor one of converters:' .. U.suggest(name, all))
end

-- A shell_command: a shell_commands name, or a command line.
local function shell_run(cx, item, at, label)
  local cmd = item.shell_command
  if type(cmd) ~= "string" or cmd == "" then U.fail(at, label .. ": shell_command must be a command (a string)") end
  local named = cx.commands[cmd]
  local conv_at = U.at(cx.path, item, item.converter ~= nil and "converter" or "shell_command")
  local conv = converter(cx, item.converter, conv_at, label)
  if named then
    conv = conv or converter(cx, named.converter, U.at(cx.path, named, "converter"), "shell_commands: " .. cmd)
    return { command = named.command, convert = conv, timeout = tonumber(named.timeout) }
  end
  return { command = cmd, convert = conv }
end

-- ---- endpoints, WebSockets, tasks ------------------------------------------------------------

function M.endpoints(cx)
  local path = cx.path
  each(cx, "endpoints", " with path and method", function(ep, i, at)
    C.keys(path, ep, "endpoints: item " .. i, C.endpoint)
    local p = route_path(cx, ep, "endpoints", i)
    local label = "endpoints: " .. p
    local m = ep.method or "GET"
    for _, one in ipairs(type(m) == "table" and m or { m }) do
      if type(one) ~= "string" or not methods[one:upper()] then
        U.fail(U.at(path, ep, "method"), label .. ': "' .. tostring(one) ..
               '" is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)')
      end
    end
    local kinds = 0
    for _, k in ipairs({ "script", "shell_command", "response", "handler" }) do
      if ep[k] ~= nil and ep[k] ~= null then kinds = kinds + 1 end
    end
    if kinds ~= 1 then U.fail(at, label .. ": needs exactly one of script, shell_command, response or handler") end
    if ep.shell_command ~= nil then
      ep.run = shell_run(cx, ep, U.at(path, ep, "shell_command"), label)
    elseif ep.script ~= nil or ep.handler ~= nil then
      local k = ep.script ~= nil and "script" or "handler"
      ep.run = C.resolve(cx.base, ep[k], U.at(path, ep, k), label .. ": " .. k,
                         { module = cx.module, board = cx.board })
      if ep.converter ~= nil then
        U.fail(U.at(path, ep, "converter"), label .. ": converter is for shell_command endpoints")
      end
    elseif ep.converter ~= nil then
      U.fail(U.at(path, ep, "converter"), label .. ": converter is for shell_command endpoints")
    end
  end)
end

-- on_connect / on_disconnect: a mapping (or any value but a string) is a
-- message sent as it is; a string names a script run at that moment.
local function ws_event(cx, ws, key, label)
  local v = ws[key]
  if v == nil or v == null then return end
  if type(v) == "string" then
    ws[key .. "_run"] = C.resolve(cx.base, v, U.at(cx.path, ws, key), label .. ": " .. key, { module = cx.module })
  end
end

function M.websockets(cx)
  local seen = {}
  for _, key in ipairs({ "websocket_handlers", "websockets" }) do
    each(cx, key, " with path and handler", function(ws, i, at)
      C.keys(cx.path, ws, key .. ": item " .. i, C.websocket)
      local p = route_path(cx, ws, key, i)
      local label = key .. ": " .. p
      if seen[p] then U.fail(U.at(cx.path, ws, "path"), label .. ": this path is a WebSocket already (at " .. seen[p] .. ")") end
      seen[p] = U.at(cx.path, ws, "path")
      if ws.script ~= nil and ws.handler ~= nil then U.fail(at, label .. ": give script or handler, not both") end
      local k = ws.script ~= nil and "script" or ws.handler ~= nil and "handler" or nil
      if k == nil then
        U.fail(at, label .. ": needs a script or a handler (a built-in one too: echo, broadcast)")
      end
      ws.run = C.resolve(cx.base, ws[k], U.at(cx.path, ws, k), label .. ": " .. k,
                         { module = cx.module, builtin = true })
      ws_event(cx, ws, "on_connect", label)
      ws_event(cx, ws, "on_disconnect", label)
      cx.has_ws = true
    end)
  end
end

function M.tasks(cx)
  each(cx, "background_tasks", "", function(t, i, at)
    local label = "background_tasks: item " .. i
    C.keys(cx.path, t, label, C.task)
    local kinds = (t.script ~= nil and 1 or 0) + (t.shell_command ~= nil and 1 or 0) + (t.handler ~= nil and 1 or 0)
    if kinds ~= 1 then U.fail(at, label .. " needs one of script, handler or shell_command") end
    C.seconds(cx.path, t, "interval", label .. ": interval")
    C.typed(cx.path, t, "broadcast", "boolean", "true or false", label .. ": broadcast")
    if t.shell_command ~= nil then
      t.run = shell_run(cx, t, U.at(cx.path, t, "shell_command"), label)
    else
      local k = t.script ~= nil and "script" or "handler"
      t.run = C.resolve(cx.base, t[k], U.at(cx.path, t, k), label .. ": " .. k, { module = cx.module })
    end
    if t.broadcast == true and not cx.has_ws then
      U.warn(U.at(cx.path, t, "broadcast"), label .. ": broadcast: the manifest has no WebSocket to send to")
    end
  end)
end

-- ---- static files ------------------------------------------------------------------------------

function M.static(cx)
  local path, doc, base = cx.path, cx.doc, cx.base
  local dirs = C.typed(path, doc, "static_dirs", "map", "a mapping of URL path: directory")
  for url, d in pairs(dirs or {}) do
    local at = U.at(path, dirs, url)
    if type(url) ~= "string" or url:sub(1, 1) ~= "/" then U.fail(at, "static_dirs: " .. tostring(url) .. ": the URL path must start with /") end
    if type(d) ~= "string" then U.fail(at, "static_dirs: " .. url .. ": expected a directory") end
    C.need(base, d, "dir", at, "static_dirs: " .. url)
  end
  local st = C.typed(path, doc, "static", "map", "a mapping with enabled and path")
  if st then
    C.keys(path, st, "static", C.static)
    C.typed(path, st, "enabled", "boolean", "true or false", "static: enabled")
    if st.enabled ~= false then
      local p = C.typed(path, st, "path", "string", "a directory", "static: path")
      if not p then U.fail(U.at(path, doc, "static"), "static: needs a path (the directory to serve)") end
      C.need(base, p, "dir", U.at(path, st, "path"), "static: path")
    end
  end
  local files = C.typed(path, doc, "static_files", "map", "a mapping of URL path: file")
  for url, f in pairs(files or {}) do
    local at = U.at(path, files, url)
    if type(url) ~= "string" or url:sub(1, 1) ~= "/" then U.fail(at, "static_files: " .. tostring(url) .. ": the URL path must start with /") end
    if type(f) ~= "string" then U.fail(at, "static_files: " .. url .. ": expected a file") end
    C.need(base, f, "file", at, "static_files: " .. url)
  end
  local sh = C.typed(path, doc, "static_hosting", "map", "a mapping with enabled, path, index, spa_fallback")
  if sh then
    C.keys(path, sh, "static_hosting", C.static_hosting)
    C.typed(path, sh, "enabled", "boolean", "true or false", "static_hosting: enabled")
    C.typed(path, sh, "spa_fallback", "boolean", "true or false", "static_hosting: spa_fallback")
    C.typed(path, sh, "index", "string", "a file name", "static_hosting: index")
    C.typed(path, sh, "cache_max_age", "integer", "a number of seconds", "static_hosting: cache_max_age")
    local prefix = C.typed(path, sh, "prefix", "string", "a URL path", "static_hosting: prefix")
    if prefix and prefix:sub(1, 1) ~= "/" then U.fail(U.at(path, sh, "prefix"), "static_hosting: prefix must start with /") end
    if sh.enabled ~= false then
      local p = C.typed(path, sh, "path", "string", "a directory", "static_hosting: path")
      if not p then U.fail(U.at(path, doc, "static_hosting"), "static_hosting: needs a path (the site's directory)") end
      C.need(base, p, "dir", U.at(path, sh, "path"), "static_hosting: path")
    end
  end
end

-- ---- TLS --------------------------------------------------------------------------------------------

local providers = { selfsigned = true, letsencrypt = true, cloudflare = true, files = true }

function M.tls(cx)
  local path, doc = cx.path, cx.doc
  local on = C.typed(path, doc, "enable_tls", "boolean", "true or false")
  local files = {}
  for _, k in ipairs({ "tls_cert", "tls_key", "tls_ca_cert" }) do
    files[k] = C.typed(path, doc, k, "string", "a file")
  end
  local provider = C.typed(path, doc, "tls_provider", "string", "selfsigned, letsencrypt or cloudflare")
  local domain = C.typed(path, doc, "domain", "string", "a host name")
  if not on then
    for _, k in ipairs({ "tls_cert", "tls_key", "tls_ca_cert" }) do
      if files[k] then U.warn(U.at(path, doc, k), k .. ": enable_tls is not true, so the service is plain HTTP and " .. k .. " is not used") end
    end
    return
  end
  if provider and not providers[provider] then
    U.fail(U.at(path, doc, "tls_provider"), 'tls_provider: "' .. provider .. '" is not one of selfsigned, letsencrypt, cloudflare' .. U.suggest(provider, providers))
  end
  if (files.tls_cert ~= nil) ~= (files.tls_key ~= nil) then
    U.fail(U.at(path, doc, files.tls_cert and "tls_cert" or "tls_key"), "enable_tls: give both tls_cert and tls_key (or neither, for tls_provider: selfsigned)")
  end
  local tls = { domain = domain or "localhost" }
  if files.tls_cert then
    tls.cert = C.need(cx.base, files.tls_cert, "file", U.at(path, doc, "tls_cert"), "tls_cert")
    tls.key = C.need(cx.base, files.tls_key, "file", U.at(path, doc, "tls_key"), "tls_key")
    tls.provider = "files"
    if provider and provider ~= "selfsigned" then
      U.warn(U.at(path, doc, "tls_provider"), "tls_provider: " .. provider .. " is not used: tls_cert and tls_key are given")
    end
  else
    tls.provider = provider or "selfsigned"
    if tls.provider == "letsencrypt" or tls.provider == "cloudflare" then
      U.fail(U.at(path, doc, "tls_provider"), "tls_provider: " .. tls.provider .. " needs an ACME exchange with " ..
             (tls.provider == "letsencrypt" and "Let's Encrypt" or "Cloudflare") .. " over the network, which servos " ..
             "does not do; give tls_cert and tls_key (from certbot, say), or tls_provider: selfsigned")
    end
  end
  if files.tls_ca_cert then
    tls.ca = C.need(cx.base, files.tls_ca_cert, "file", U.at(path, doc, "tls_ca_cert"), "tls_ca_cert")
  end
  cx.body.tls = tls
end

-- ---- proxy rules --------------------------------------------------------------------------------

function M.proxy(cx)
  local seen = {}
  each(cx, "api_proxy_rules", " with path and target", function(r, i, at)
    local label = "api_proxy_rules: item " .. i
    C.keys(cx.path, r, label, C.proxy_rule)
    local p = route_path(cx, r, "api_proxy_rules", i)
    if seen[p] then U.fail(U.at(cx.path, r, "path"), label .. ": " .. p .. " is proxied twice") end
    seen[p] = true
    local t = r.target
    local tat = U.at(cx.path, r, t ~= nil and "target" or nil)
    if type(t) ~= "string" then U.fail(tat, label .. ": target must be a URL (http://SERVICE:PORT)") end
    local scheme, hostport, rest = t:match("^(%a+)://([^/]+)(.*)$")
    if scheme ~= "http" then
      U.fail(tat, label .. ': target "' .. t .. '": only http:// upstreams (a stack service by name, or a loopback address)')
    end
    local name, port = hostport:match("^(.-):(%d+)$")
    name = name or hostport
    port = tonumber(port or 80)
    if name == "" or port < 1 or port > 65535 or name:find("[^%w%.%-_]") then
      U.fail(tat, label .. ': target "' .. t .. '": expected http://HOST:PORT[/path]')
    end
    C.typed(cx.path, r, "strip_prefix", "boolean", "true or false", label .. ": strip_prefix")
    C.seconds(cx.path, r, "timeout", label .. ": timeout")
    local h = C.typed(cx.path, r, "headers", "map", "a mapping of header: value", label .. ": headers")
    for k, v in pairs(h or {}) do
      if type(v) ~= "string" and type(v) ~= "number" then
        U.fail(U.at(cx.path, h, k), label .. ": headers: " .. tostring(k) .. ": expected a value")
      end
    end
    r.upstream = { host = name, port = port, base = rest ~= "" and rest or nil }
  end)
end

-- ---- deployment ---------------------------------------------------------------------------------

-- deployment: { replicas, resources: { memory, cpus } } into the service's
-- spec (put(key, value, tbl, tkey) records where each came from).
function M.deployment(cx, put)
  local path = cx.path
  local d = C.typed(path, cx.doc, "deployment", "map", "a mapping with replicas and resources")
  if not d then return end
  C.keys(path, d, "deployment", C.deployment)
  local r = d.replicas
  if r ~= nil and r ~= null then
    if math.type(r) ~= "integer" or r < 0 then
      U.fail(U.at(path, d, "replicas"), "deployment: replicas: expected a whole number from 0, got " .. tostring(r))
    end
    put("replicas", r, d, "replicas")
  end
  local res = C.typed(path, d, "resources", "map", "a mapping with memory and cpus", "deployment: resources")
  if not res then return end
  C.keys(path, res, "deployment: resources", C.deploy_resources)
  local function take(tbl, label)
    local mem = tbl.memory
    if mem ~= nil and mem ~= null then put("memory", mem, tbl, "memory") end
    for _, k in ipairs({ "cpus", "cpu" }) do
      local v = tbl[k]
      if v ~= nil and v ~= null then
        local n = type(v) == "number" and v or (type(v) == "string" and tonumber(v))
        if not n or n <= 0 then U.fail(U.at(path, tbl, k), label .. k .. ": expected a number of CPUs above 0, got " .. tostring(v)) end
        put("cpus", n, tbl, k)
      end
    end
  end
  take(res, "deployment: resources: ")
  local lim = C.typed(path, res, "limits", "map", "a mapping with memory and cpus", "deployment: resources: limits")
  if lim then
    C.keys(path, lim, "deployment: resources: limits", C.deploy_limits)
    take(lim, "deployment: resources: limits: ")
  end
end

return M

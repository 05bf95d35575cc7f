-- ProServe manifests, checked key by key: every block's keys are known
-- (a typo is an error with a suggestion), the keys of ProServe's format
-- that servos does not serve are warnings that name them, and what the
-- manifest points at (scripts, directories, certificates) must be there
-- when it is read, not at the first request. stdlib/proserve.lua calls
-- these in order and builds the graph from what they return.
local host = ...
local U = host.stdlib("yamlutil")
local null = U.null
local M = {}

local function set_of(words)
  local t = {}
  for w in words:gmatch("%S+") do t[w] = true end
  return t
end

-- Is v something (not null, false, "" or an empty table)?
local function given(v)
  if v == nil or v == null or v == false or v == "" then return false end
  return type(v) ~= "table" or next(v) ~= nil
end
M.given = given

-- An unserved key: warn with why, unless the value is its default (asks
-- for nothing: `requires_edpmt: false`, `framework: python`).
local function unserved(why, default)
  return { why = why, default = default }
end

-- ---- the blocks' keys ------------------------------------------------------------------

local grpc = "servos serves no gRPC"
local board = "board configuration, which servos does not use"
M.top = {
  -- served (or meaning nothing to serve)
  name = true, version = true, description = true, type = true, port = true, host = true,
  server = true, enable_cors = true, cors_origins = true, enable_health = true,
  enable_metrics = true, enable_tls = true, tls_cert = true, tls_key = true, tls_ca_cert = true,
  tls_provider = true, domain = true, platform = true, board = true, background_tasks = true,
  endpoints = true, websocket_handlers = true, websockets = true, shell_config = true,
  converters = true, env_vars = true, deployment = true, shell_commands = true,
  static_dirs = true, static_files = true, static_hosting = true, static = true,
  api_proxy_rules = true, development = true, production = true, environment = true,
  isolation = true, env_files = true, requires_proserve = true, handler_module = true,
  -- ProServe's, not served
  framework = unserved("servos serves the manifest itself and generates no framework code", "python"),
  framework_config = unserved("servos generates no framework code"),
  proxy_server = unserved("servos starts no proxy server in front; the service host answers directly", "none"),
  proxy_config = unserved("servos starts no proxy server"),
  proserve_url = unserved("servos is the ProServe runtime here and connects to no other"),
  requires_edpmt = unserved("EDPMT hardware control is not part of servos", false),
  edpmt_url = unserved("EDPMT hardware control is not part of servos"),
  enable_tracing = unserved("servos exports no traces", false),
  ssl_context = unserved("a Python ssl context; use tls_cert and tls_key"),
  grpc_port = unserved(grpc),
  grpc_reflection = unserved(grpc, true),
  grpc_health_check = unserved(grpc, true),
  grpc_max_workers = unserved(grpc, 10),
  grpc_services = unserved(grpc),
  proto_files = unserved(grpc),
  proto_generate = unserved(grpc, true),
  grpc_interceptors = unserved(grpc),
  device_config = unserved(board),
  micropython_scripts = unserved(board),
  wifi_config = unserved(board),
  automation_rules = unserved("servos runs no automation rules"),
  monitoring = unserved("servos' /metrics is enable_metrics"),
  metrics = unserved("servos' /metrics is enable_metrics"),
  health = unserved("servos' /health is enable_health"),
  logging = unserved("requests and handler output go to servos logs"),
  database = unserved("servos connects no database; give handlers its address in environment"),
  cdn_resources = unserved("servos fetches no CDN resources"),
  middleware = unserved("servos runs no middleware"),
  security = unserved("servos applies no authentication or rate limits of ProServe's"),
  dependencies = unserved("a stack's depends_on (Envirofile or Compose) orders services"),
  init_module = unserved("servos imports no Python module at start"),
}

M.isolation = {
  mode = true, timeout = true, memory_limit = true, cpu_limit = true, network_isolation = true,
  filesystem_isolation = true, environment_isolation = true, platform = true, board = true,
  image = true, resources = true, fallback_on_platform_failure = true,
  fallback_on_docker_failure = true,
  auto_environment = unserved("servos installs nothing for a handler; it runs with what its image has", false),
  force_environment = unserved("servos installs nothing for a handler; it runs with what its image has"),
  libraries = true, firmware_version = true, -- the board modes' (checked there)
}
M.resources = set_of("memory cpu cpus pids")
M.endpoint = set_of("path method script handler shell_command response converter description name summary tags")
M.websocket = set_of("path script handler on_connect on_disconnect description name")
M.task = set_of("script handler shell_command interval broadcast name description converter")
M.static = set_of("enabled path")
M.static_hosting = set_of("enabled path prefix index spa_fallback cache_max_age")
M.deployment = set_of("replicas resources")
M.deploy_resources = set_of("memory cpu cpus limits")
M.deploy_limits = set_of("memory cpu cpus")
M.proxy_rule = set_of("path target strip_prefix timeout headers description name")
M.shell_command = set_of("name command converter description timeout")
M.converter = set_of("type delimiter description")
M.shell_config = set_of("shell timeout working_dir env")

M.types = set_of("http websocket grpc hybrid static mqtt micropython arduino")
M.converter_types = set_of("json text lines csv table keyvalue")
M.builtin_ws = { echo = true, broadcast = true }

-- Every key of tbl known to schema; an unserved one warned about. what
-- prefixes messages ("isolation", "endpoints: /x"); noun names an unknown
-- key ("key").
function M.keys(path, tbl, what, schema, noun)
  local prefix = what and what ~= "" and (what .. ": ") or ""
  -- In the order written, so the first mistake is the one reported.
  local order, lines = {}, host.lines(tbl) or {}
  for k in pairs(tbl) do order[#order + 1] = k end
  local function line(k) local n = lines[k] or 0; return n < 0 and -n or n end
  table.sort(order, function(a, b)
    if line(a) ~= line(b) then return line(a) < line(b) end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(order) do
    local v = tbl[k]
    local s = type(k) == "string" and schema[k] or nil
    local at = U.at(path, tbl, k)
    if s == nil then
      U.fail(at, prefix .. "unknown " .. (noun or "key") .. ' "' .. tostring(k) .. '"' .. U.suggest(tostring(k), schema))
    elseif type(s) == "table" and given(v) and v ~= s.default then
      U.warn(at, prefix .. k .. ": not served by servos (" .. s.why .. "); ignored")
    end
  end
end

-- ---- values ----------------------------------------------------------------------------

local function describe(v)
  return U.is_seq(v) and "a list" or U.is_map(v) and "a mapping" or v == null and "nothing" or type(v)
end

-- tbl[key] as want ("string", "boolean", "number", "integer", "map",
-- "seq"), or nil when absent.
function M.typed(path, tbl, key, want, what, label)
  local v = tbl[key]
  if v == nil or v == null then return nil end
  local ok
  if want == "map" then ok = U.is_map(v) or (type(v) == "table" and next(v) == nil)
  elseif want == "seq" then ok = U.is_seq(v) or (type(v) == "table" and next(v) == nil)
  elseif want == "integer" then ok = math.type(v) == "integer"
  else ok = type(v) == want end
  if not ok then
    U.fail(U.at(path, tbl, key), (label or key) .. ": expected " .. (what or want) .. ", got " .. describe(v))
  end
  return v
end

-- A number of seconds above 0 (a number, or a numeric string).
function M.seconds(path, tbl, key, label)
  local v = tbl[key]
  if v == nil or v == null then return nil end
  local n = type(v) == "number" and v or (type(v) == "string" and tonumber(v))
  if not n or n <= 0 then
    U.fail(U.at(path, tbl, key), (label or key) .. ": expected a number of seconds above 0, got " .. tostring(v))
  end
  return n
end

-- ---- files the manifest names ------------------------------------------------------------

-- A path as the service will see it: absolute, or under the manifest's
-- directory (base), which is all of that directory the service's container
-- has. Returns the absolute path, or nil and why not.
local function under(base, rel)
  if rel:sub(1, 1) == "/" then return rel end
  local parts = {}
  for seg in rel:gmatch("[^/]+") do
    if seg == ".." then
      if #parts == 0 then return nil, "outside the manifest's directory, which is all the service sees of it" end
      parts[#parts] = nil
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  return #parts == 0 and base or base .. "/" .. table.concat(parts, "/")
end

-- A file or directory the manifest names; fails (with at) when missing.
function M.need(base, rel, want, at, label)
  local full, why = under(base, rel)
  if not full then U.fail(at, label .. ": " .. rel .. " is " .. why) end
  local kind = host.kind(full)
  if kind ~= want then
    U.fail(at, label .. ": " .. rel .. (kind == nil and " does not exist" or
           (" is not a " .. (want == "dir" and "directory" or "file"))) ..
           " (looked for " .. full .. ")")
  end
  return full
end

local exts = { py = "python", sh = "shell", lua = "lua" }

-- A path under base as relative to it (the service host joins it to
-- base_dir, wherever the manifest's directory is: a stack's bind, or a
-- pod's ConfigMap); any other path as it is.
function M.relative(base, full)
  if full == base then return "." end
  if full:sub(1, #base + 1) == base .. "/" then return full:sub(#base + 2) end
  return full
end

-- What a script or handler reference runs: { target = file, ["function"]
-- = name (Python) } or { builtin = "echo" } (WebSockets only). ProServe's
-- names: a file beside the manifest ("handlers/hello.py"), a Python
-- module and function ("handlers.hello.main", "hello.main"), a module's
-- name ("chat_handler" -> chat_handler.py or handlers/chat_handler.py), a
-- function of handler_module. Fails with where it looked.
function M.resolve(base, ref, at, label, opts)
  opts = opts or {}
  if type(ref) ~= "string" or ref == "" then U.fail(at, label .. ": expected a script path or handler name") end
  local ext = ref:match("%.(%w+)$")
  -- A board mode's handler is a sketch or a MicroPython script its runtime
  -- finds by name: handlers/echo is handlers/echo.ino, a sketch directory,
  -- or handlers/echo.py (board/bproserve.h).
  if opts.board then
    for _, cand in ipairs({ ref, ref .. ".ino", ref .. ".py" }) do
      local full = under(base, cand)
      local kind = full and host.kind(full)
      if kind == "file" or kind == "dir" then return { target = M.relative(base, under(base, ref)) } end
    end
  end
  if ref:find("/", 1, true) or exts[ext] then
    return { target = M.relative(base, M.need(base, ref, "file", at, label)) }
  end
  local tried = {}
  local function try(rel, fn)
    local full = under(base, rel)
    tried[#tried + 1] = rel
    if full and host.kind(full) == "file" then return { target = M.relative(base, full), ["function"] = fn } end
  end
  local r = try(ref)
  if r then return r end
  local mod, fn = ref:match("^(.+)%.([%w_]+)$")
  if mod then
    local file = mod:gsub("%.", "/")
    r = try(file .. ".py", fn) or try(file .. "/__init__.py", fn)
    if r then return r end
  end
  if ref:match("^[%w_]+$") then
    r = try(ref .. ".py") or try("handlers/" .. ref .. ".py")
    if r then return r end
    if opts.module then return { target = opts.module, ["function"] = ref } end
    if opts.builtin and M.builtin_ws[ref] then return { builtin = ref } end
  end
  U.fail(at, label .. ': "' .. ref .. '" names no file beside the manifest (looked for ' ..
         table.concat(tried, ", ") .. (opts.module and "" or "; or give handler_module") ..
         (opts.builtin and "; built-in WebSocket handlers: echo, broadcast" or "") .. ")")
end

return M

-- ProServe manifests: one HTTP service each. The manifest's body is kept in
-- the graph (`proserve`) for the service host (engine/proserve/proserve.c) and for
-- the supervisor, which starts every handler with the per-handler limits
-- (engine/proserve/pgateway.h); the service-wide ones (cpu, pids, a read-only root)
-- become the service's, so `servos config` shows them.
local host = ...
local sv = host.stdlib("servos")
local U = host.stdlib("yamlutil")
local null = U.null
local M = {}

-- Every key of ProServe's ServiceManifest (v1), plus v2's websockets and
-- static, plus the legacy server: block.
local known = {}
for k in ([[name version description type port host grpc_port grpc_reflection
  grpc_health_check grpc_max_workers framework framework_config proxy_server
  proxy_config requires_proserve proserve_url requires_edpmt edpmt_url enable_cors
  cors_origins enable_health enable_metrics enable_tracing enable_tls tls_cert tls_key
  tls_ca_cert ssl_context tls_provider domain platform board device_config
  micropython_scripts wifi_config background_tasks automation_rules monitoring
  endpoints grpc_services proto_files proto_generate grpc_interceptors
  websocket_handlers shell_config converters env_vars logging database metrics health
  deployment shell_commands static_dirs static_files static_hosting cdn_resources
  api_proxy_rules middleware security dependencies development production
  environment init_module handler_module isolation env_files websockets static server]]):gmatch("%S+") do
  known[k] = true
end

local modes = { none = true, process = true, container = true, docker = true, sandbox = true,
                micropython = true, arduino = true, kubernetes = true }
local methods = { GET = true, POST = true, PUT = true, DELETE = true, PATCH = true, HEAD = true, OPTIONS = true }

local isolation_defaults = {
  mode = "none", timeout = 30, memory_limit = null, cpu_limit = null,
  network_isolation = false, filesystem_isolation = false, environment_isolation = true,
  auto_environment = false, platform = null, board = null,
}

local function check_type(path, tbl, key, want, what)
  local v = tbl[key]
  if v == nil or v == null then return nil end
  local ok
  if want == "map" then ok = U.is_map(v) or (type(v) == "table" and next(v) == nil)
  elseif want == "seq" then ok = U.is_seq(v) or (type(v) == "table" and next(v) == nil)
  elseif want == "integer" then ok = math.type(v) == "integer"
  else ok = type(v) == want end
  if not ok then
    U.fail(U.at(path, tbl, key), key .. ": expected " .. (what or want) .. ", got " ..
           (U.is_seq(v) and "a list" or U.is_map(v) and "a mapping" or type(v)))
  end
  return v
end

-- check(path, item, i, at) for each item of the list doc[key] (which may be
-- missing); an item that is no mapping fails first ("must be a mapping",
-- then what such a mapping holds when it says so).
local function each_mapping(path, doc, key, list_is, item_holds, check)
  local list = check_type(path, doc, key, "seq", list_is)
  if not list then return end
  for i, item in ipairs(list) do
    local at = U.at(path, list, i)
    if not U.is_map(item) then U.fail(at, key .. ": item " .. i .. " must be a mapping" .. item_holds) end
    check(path, item, i, at)
  end
end

local function check_endpoint(path, ep, i, at)
  if type(ep.path) ~= "string" or ep.path:sub(1, 1) ~= "/" then
    U.fail(U.at(path, ep, "path"), "endpoints: item " .. i .. ": path must be a string starting with /")
  end
  local m = ep.method or "GET"
  local list = type(m) == "table" and m or { m }
  for _, one in ipairs(list) do
    if type(one) ~= "string" or not methods[one:upper()] then
      U.fail(U.at(path, ep, "method"), "endpoints: " .. ep.path .. ": \"" .. tostring(one) ..
             "\" is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS)")
    end
  end
  local kinds = 0
  for _, k in ipairs({ "script", "shell_command", "response", "handler" }) do
    if ep[k] ~= nil and ep[k] ~= null then kinds = kinds + 1 end
  end
  if kinds ~= 1 then
    U.fail(at, "endpoints: " .. ep.path .. ": needs exactly one of script, shell_command, response or handler")
  end
  if ep.converter ~= nil and ep.converter ~= "json" and ep.converter ~= "text" and type(ep.converter) ~= "string" then
    U.fail(U.at(path, ep, "converter"), "endpoints: " .. ep.path .. ": converter must be json or text")
  end
end

local function check_task(path, t, i, at)
  if (t.script == nil or t.script == null) and (t.shell_command == nil or t.shell_command == null) then
    U.fail(at, "background_tasks: item " .. i .. " needs a script or a shell_command")
  end
  local iv = t.interval
  if iv ~= nil and (type(iv) ~= "number" or iv <= 0) then
    U.fail(U.at(path, t, "interval"), "background_tasks: item " .. i .. ": interval must be a number of seconds above 0")
  end
end

-- The .env of the project root (the manifest's directory, or its parent
-- when the manifest sits in manifests/), then env_files, which override
-- the host environment as ProServe's load_dotenv(override=True) does.
local function variables(path, raw)
  local dir = U.dir_of(path)
  local root = dir
  if dir:match("/manifests$") then root = U.dir_of(dir) elseif dir == "manifests" then root = "." end
  local fallback = U.dotenv(root)
  local override = {}
  local files = raw.env_files
  if files ~= nil and files ~= null then
    if not U.is_seq(files) then U.fail(U.at(path, raw, "env_files"), "env_files: expected a list of paths") end
    for i, f in ipairs(files) do
      if type(f) ~= "string" then U.fail(U.at(path, files, i), "env_files: expected paths") end
      local full = f:sub(1, 1) == "/" and f or (root == "." and f or root .. "/" .. f)
      local vals = host.dotenv(full)
      if vals then for k, v in pairs(vals) do override[k] = v end end
    end
  end
  return fallback, override
end

function M.load(path, raw)
  local fallback, override = variables(path, raw)
  local doc = host.yaml_load(path, fallback, override)
  for k in pairs(doc) do
    if type(k) ~= "string" or not known[k] then
      U.fail(U.at(path, doc, k), 'unknown ProServe manifest key "' .. tostring(k) .. '"' .. U.suggest(tostring(k), known))
    end
  end
  -- Legacy `server: {host, port}`
  if U.is_map(doc.server) then
    doc.host = doc.host or doc.server.host
    doc.port = doc.port or doc.server.port
  end
  local name = check_type(path, doc, "name", "string", "a service name")
  local port = doc.port
  if type(port) == "string" and port:match("^%d+$") then port = math.tointeger(tonumber(port)) end
  if port == nil or port == null then port = 8080 end
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    U.fail(U.at(path, doc, "port"), "port: expected a port number from 1 to 65535, got " .. tostring(port))
  end
  local listen = doc.host
  if listen == nil or listen == null then listen = "127.0.0.1" end
  if type(listen) ~= "string" then U.fail(U.at(path, doc, "host"), "host: expected an address") end
  check_type(path, doc, "enable_health", "boolean")
  check_type(path, doc, "enable_metrics", "boolean")
  check_type(path, doc, "enable_cors", "boolean")
  check_type(path, doc, "environment", "map", "a mapping of NAME: value")
  check_type(path, doc, "static_dirs", "map", "a mapping of URL path: directory")
  check_type(path, doc, "static", "map", "a mapping with enabled and path")
  check_type(path, doc, "websocket_handlers", "seq", "a list")
  check_type(path, doc, "websockets", "seq", "a list")
  each_mapping(path, doc, "endpoints", "a list of endpoints", " with path and method", check_endpoint)
  each_mapping(path, doc, "background_tasks", "a list of tasks", "", check_task)

  local iso = {}
  for k, v in pairs(isolation_defaults) do iso[k] = v end
  local user_iso = check_type(path, doc, "isolation", "map", "a mapping")
  if user_iso then for k, v in pairs(user_iso) do iso[k] = v end end
  local mode = iso.mode
  if type(mode) ~= "string" or not modes[mode] then
    U.fail(U.at(path, user_iso or doc, "mode"), 'isolation.mode: "' .. tostring(mode) ..
           '" is not one of none, process, container, docker, sandbox, micropython, arduino, kubernetes' ..
           (type(mode) == "string" and U.suggest(mode, modes) or ""))
  end
  if iso.timeout ~= null and (type(iso.timeout) ~= "number" or iso.timeout <= 0) then
    U.fail(U.at(path, user_iso or doc, "timeout"), "isolation.timeout: expected a number of seconds above 0")
  end
  -- fallback_on_*: what a board mode does when its runtime is missing
  -- here (servos runs the handlers as mode process unless false).
  for k, v in pairs(iso) do
    if type(k) == "string" and k:match("^fallback_on_") and v ~= null and type(v) ~= "boolean" then
      U.fail(U.at(path, user_iso or doc, k), "isolation." .. k .. ": expected true or false")
    end
  end

  local spec, lines = {}, {}
  local function put(key, value, tbl, tkey)
    spec[key] = value
    lines[key] = U.at(path, tbl or doc, tkey or key)
  end
  local iso_at = user_iso or doc
  -- Limits apply to the processes servos runs; for boards they describe the
  -- device and stay in the isolation block only.
  if mode ~= "micropython" and mode ~= "arduino" then
    -- memory_limit and network_isolation hold for each handler (the
    -- supervisor gives each run a cgroup and, isolated, a network namespace
    -- of its own); the service's HTTP front stays reachable on the stack
    -- network. CPU is shared: the container's.
    local res = U.is_map(iso.resources) and iso.resources or {}
    local cpu = iso.cpu_limit ~= null and iso.cpu_limit or res.cpu or res.cpus
    if cpu ~= nil and cpu ~= null then
      put("cpus", cpu, iso.cpu_limit ~= null and iso_at or res, iso.cpu_limit ~= null and "cpu_limit" or "cpu")
    end
    if iso.filesystem_isolation == true then put("read_only", true, iso_at, "filesystem_isolation") end
    -- Every handler runs in a cgroup under the service's (with a pids
    -- limit of its own, isolation.resources.pids); the service's bounds
    -- them all together, so no manifest can take the host's pid space
    -- (32768 pids on many hosts, shared by everything).
    put("pids", 4096, iso_at, "mode")
  end
  -- isolation.image is each handler's container's (the service host itself
  -- runs on the host's root file system); it stays in the body.
  local platform = (doc.platform ~= nil and doc.platform ~= null) and doc.platform or iso.platform
  local board = (doc.board ~= nil and doc.board ~= null) and doc.board or iso.board
  if platform ~= null and platform ~= nil then put("platform", platform) end
  if board ~= null and board ~= nil then put("board", board) end

  -- environment: values; env_vars: names passed through from the host (a
  -- list), or a mapping of values (the dataclass's Dict form).
  local env = {}
  if doc.environment and doc.environment ~= null then
    for k, v in pairs(doc.environment) do env[k] = v end
  end
  local ev = doc.env_vars
  if ev ~= nil and ev ~= null then
    if U.is_seq(ev) then
      for i, n in ipairs(ev) do
        if type(n) ~= "string" then U.fail(U.at(path, ev, i), "env_vars: expected variable names") end
        if env[n] == nil then env[n] = null end -- null: take the host's value
      end
    elseif U.is_map(ev) then
      for k, v in pairs(ev) do if env[k] == nil then env[k] = v end end
    else
      U.fail(U.at(path, doc, "env_vars"), "env_vars: expected a list of names or a mapping")
    end
  end
  if next(env) ~= nil then put("env", env, doc, doc.environment and "environment" or "env_vars") end
  put("ports", { { target = port, published = port, host_ip = listen } }, doc, doc.port and "port" or "name")

  -- The manifest as the service host will read it.
  local body = {}
  for k, v in pairs(doc) do
    if k ~= "server" and k ~= "name" then body[k] = v end
  end
  body.name, body.port, body.host, body.isolation = name, port, listen, iso
  body.version = doc.version or "1.0.0"
  body.type = doc.type or "http"
  if doc.enable_health == nil then body.enable_health = true end
  if doc.enable_metrics == nil then body.enable_metrics = false end
  body.base_dir = host.realpath(U.dir_of(path))
  -- What ProServe's load_dotenv would put in the environment: .env, then
  -- env_files over it; the host's own variables win over both.
  local loaded = {}
  for k, v in pairs(fallback or {}) do loaded[k] = v end
  for k, v in pairs(override or {}) do loaded[k] = v end
  if next(loaded) ~= nil then body.dotenv = loaded end
  put("proserve", body, doc, "name")
  sv.declare(name, spec, U.at(path, doc, "name"), lines, "proserve")
end

return M

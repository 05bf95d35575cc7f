-- ProServe manifests: one HTTP service each. The manifest's body is kept in
-- the graph (`proserve`) for the service host (engine/proserve/proserve.c) and for
-- the supervisor, which starts every handler with the per-handler limits
-- (engine/proserve/pgateway.h); the service-wide ones (cpu, pids, a read-only root)
-- become the service's, so `servos config` shows them.
local host = ...
local sv = host.stdlib("servos")
local U = host.stdlib("yamlutil")
local C = host.stdlib("proserve_check")
local B = host.stdlib("proserve_blocks")
local null = U.null
local M = {}

local modes = { none = true, process = true, container = true, docker = true, sandbox = true,
                micropython = true, arduino = true, kubernetes = true }

local isolation_defaults = {
  mode = "none", timeout = 30, memory_limit = null, cpu_limit = null,
  network_isolation = false, filesystem_isolation = false, environment_isolation = true,
  auto_environment = false, platform = null, board = null,
}

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

-- development: / production: merged over the manifest (mappings key by
-- key, anything else replaced), chosen by PROSERVE_ENV or ENV (env_files,
-- the host, then .env, as the manifest's own ${VAR}s): development when
-- neither is set, as ProServe. Each merged key keeps the line it was
-- written on.
local function merge(dst, src)
  local dl, sl = host.lines(dst), host.lines(src)
  for k, v in pairs(src) do
    if U.is_map(v) and U.is_map(dst[k]) then
      merge(dst[k], v)
    else
      dst[k] = v
      if dl and sl then dl[k] = sl[k] end
    end
  end
end

local env_names = { development = "development", dev = "development", production = "production", prod = "production" }

local function environment_block(path, doc, fallback, override)
  if doc.development == nil and doc.production == nil then return nil end
  local var, value = "PROSERVE_ENV", nil
  for _, name in ipairs({ "PROSERVE_ENV", "ENV" }) do
    value = override[name] or os.getenv(name) or fallback[name]
    if value ~= nil and value ~= "" then var = name; break end
    value = nil
  end
  local which = env_names[(value or "development"):lower()]
  if which == nil then
    U.warn(U.at(path, doc, doc.production ~= nil and "production" or "development"),
           var .. "=" .. value .. " is neither development nor production, so neither block applies")
    return nil
  end
  local block = doc[which]
  if block == nil or block == null then return which end
  if not U.is_map(block) then U.fail(U.at(path, doc, which), which .. ": expected a mapping of manifest keys") end
  for k in pairs(block) do
    if k == "development" or k == "production" or k == "name" then
      U.fail(U.at(path, block, k), which .. ": " .. tostring(k) .. " cannot be changed per environment")
    end
  end
  merge(doc, block)
  return which
end

-- type: ProServe's list; http, websocket, hybrid and static are served,
-- grpc and mqtt would silently be HTTP services: errors that say so.
local function check_type(path, doc, iso_mode_given)
  local t = doc.type
  if t == nil or t == null then return "http" end
  local at = U.at(path, doc, "type")
  if type(t) ~= "string" or not C.types[t] then
    U.fail(at, 'type: "' .. tostring(t) .. '" is not one of http, websocket, hybrid, static, grpc, mqtt, ' ..
           'micropython, arduino' .. (type(t) == "string" and U.suggest(t, C.types) or ""))
  end
  if t == "grpc" then
    U.fail(at, "type: grpc: servos serves no gRPC (it compiles no proto_files and runs no gRPC server); " ..
           "serve the API over HTTP (type: http, or hybrid for HTTP and WebSockets)")
  elseif t == "mqtt" then
    U.fail(at, "type: mqtt: servos runs no MQTT broker or client; run one as a service of the stack " ..
           "(an Envirofile or Compose file beside the manifest) and talk to it from the handlers")
  end
  if (t == "micropython" or t == "arduino") and iso_mode_given and iso_mode_given ~= t then
    U.fail(at, "type: " .. t .. " runs on a board, but isolation.mode is " .. tostring(iso_mode_given))
  end
  return t
end

-- isolation: its keys, mode, timeout and resources (defaults as ProServe's).
local function isolation(path, doc, type_)
  local iso = {}
  for k, v in pairs(isolation_defaults) do iso[k] = v end
  local user_iso = C.typed(path, doc, "isolation", "map", "a mapping")
  if user_iso then
    C.keys(path, user_iso, "isolation", C.isolation)
    for k, v in pairs(user_iso) do iso[k] = v end
  end
  if (type_ == "micropython" or type_ == "arduino") and (user_iso == nil or user_iso.mode == nil) then
    iso.mode = type_
  end
  local at_of = user_iso or doc
  local mode = iso.mode
  if type(mode) ~= "string" or not modes[mode] then
    U.fail(U.at(path, at_of, "mode"), 'isolation.mode: "' .. tostring(mode) ..
           '" is not one of none, process, container, docker, sandbox, micropython, arduino, kubernetes' ..
           (type(mode) == "string" and U.suggest(mode, modes) or ""))
  end
  if iso.timeout ~= null and (type(iso.timeout) ~= "number" or iso.timeout <= 0) then
    U.fail(U.at(path, at_of, "timeout"), "isolation.timeout: expected a number of seconds above 0")
  end
  for _, k in ipairs({ "network_isolation", "filesystem_isolation", "environment_isolation",
                       "fallback_on_platform_failure", "fallback_on_docker_failure" }) do
    if user_iso then C.typed(path, user_iso, k, "boolean", "true or false", "isolation." .. k) end
  end
  if user_iso then
    C.typed(path, user_iso, "image", "string", "an image reference", "isolation.image")
    local res = C.typed(path, user_iso, "resources", "map", "a mapping with memory, cpu, pids", "isolation.resources")
    if res then C.keys(path, res, "isolation.resources", C.resources) end
    if mode ~= "micropython" and mode ~= "arduino" then
      for _, k in ipairs({ "libraries", "firmware_version" }) do
        if C.given(user_iso[k]) then
          U.warn(U.at(path, user_iso, k), "isolation." .. k .. ": only the board modes (arduino, micropython) use it; ignored for mode " .. mode)
        end
      end
    end
  end
  return iso, user_iso
end

function M.load(path, raw)
  local fallback, override = variables(path, raw)
  -- ${VAR} unset is empty, an unset $VAR stays (a shell command's own),
  -- as ProServe's expand_env_vars and os.path.expandvars do.
  local doc = host.yaml_load(path, fallback, override, true)
  local applied = environment_block(path, doc, fallback or {}, override or {})
  C.keys(path, doc, nil, C.top, "ProServe manifest key")
  -- Legacy `server: {host, port}`
  if U.is_map(doc.server) then
    doc.host = doc.host or doc.server.host
    doc.port = doc.port or doc.server.port
  end
  local name = C.typed(path, doc, "name", "string", "a service name")
  local port = doc.port
  if type(port) == "string" and port:match("^%d+$") then port = math.tointeger(tonumber(port)) end
  if port == nil or port == null then port = 8080 end
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    U.fail(U.at(path, doc, "port"), "port: expected a port number from 1 to 65535, got " .. tostring(port))
  end
  local listen = doc.host
  if listen == nil or listen == null then listen = "127.0.0.1" end
  if type(listen) ~= "string" then U.fail(U.at(path, doc, "host"), "host: expected an address") end
  for _, k in ipairs({ "enable_health", "enable_metrics", "enable_cors" }) do C.typed(path, doc, k, "boolean", "true or false") end
  C.typed(path, doc, "environment", "map", "a mapping of NAME: value")
  local user_mode = U.is_map(doc.isolation) and doc.isolation.mode or nil
  local type_ = check_type(path, doc, user_mode)
  if doc.grpc_port ~= nil and type_ == "hybrid" then
    U.warn(U.at(path, doc, "grpc_port"), "grpc_port: type hybrid is served as HTTP and WebSockets; servos serves no gRPC")
  end
  local iso, user_iso = isolation(path, doc, type_)
  local mode = iso.mode

  local body = {}
  local cx = { path = path, doc = doc, base = host.realpath(U.dir_of(path)), body = body,
               board = (mode == "arduino" or mode == "micropython") and mode or nil }
  local hm = C.typed(path, doc, "handler_module", "string", "a Python module")
  if hm then
    local r = C.resolve(cx.base, hm:find("/", 1, true) and hm or hm:gsub("%.", "/") .. ".py",
                        U.at(path, doc, "handler_module"), "handler_module")
    cx.module = r.target -- relative to base, as every target
  end
  B.shell(cx)
  B.endpoints(cx)
  B.websockets(cx)
  B.tasks(cx)
  B.static(cx)
  B.tls(cx)
  B.proxy(cx)

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
  -- deployment: the service's replicas and limits (over isolation's cpu).
  B.deployment(cx, put)
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
  for k, v in pairs(doc) do
    if k ~= "server" and k ~= "name" and k ~= "development" and k ~= "production" then body[k] = v end
  end
  body.name, body.port, body.host, body.isolation = name, port, listen, iso
  body.version = doc.version or "1.0.0"
  body.type = type_
  if applied then body.environment_block = applied end
  if doc.enable_health == nil then body.enable_health = true end
  if doc.enable_metrics == nil then body.enable_metrics = false end
  body.base_dir = cx.base
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

-- Compose files: a top-level `services:` map becomes service{} declarations
-- with the same keys the Envirofile DSL uses, so lua/extract.c checks them
-- all in one place. Keys servos does not support yet are warnings that name
-- them; keys Compose does not know are errors with a suggestion.
local host = ...
local sv = host.stdlib("servos")
local U = host.stdlib("yamlutil")
local null = U.null
local M = {}

local top_known = {
  version = "ignore", name = true, services = true, volumes = true,
  networks = true, configs = true, secrets = true, include = "warn",
}

-- compose key -> handler(ctx, value) or a string: "warn" (not supported
-- yet) / "ignore" (meaningless here).
local service_keys

local function set(ctx, key, value, ckey)
  ctx.spec[key] = value
  ctx.lines[key] = U.at(ctx.path, ctx.svc, ckey or key)
end

local function as_argv(ctx, ckey, v)
  if type(v) == "string" then
    local words = U.shell_split(v, U.at(ctx.path, ctx.svc, ckey))
    if #words == 0 then U.fail(U.at(ctx.path, ctx.svc, ckey), ckey .. ": the command is empty") end
    return words
  end
  return v
end

local function same(key)
  return function(ctx, v, ckey) set(ctx, key, v, ckey) end
end

-- networks: a list of names, or a mapping of names to null or settings;
-- of the settings, aliases are supported.
local net_unsupported = { ipv4_address = 1, ipv6_address = 1, link_local_ips = 1, priority = 1,
                          mac_address = 1, driver_opts = 1, gw_priority = 1, interface_name = 1 }
local function service_networks(ctx, v)
  if not U.is_map(v) then return v end
  local out = {}
  for name, opts in pairs(v) do
    if opts == null then
      out[name] = true
    elseif U.is_map(opts) then
      local o = {}
      for ok, ov in pairs(opts) do
        local at = U.at(ctx.path, opts, ok)
        if ok == "aliases" then
          if ov ~= null then o.aliases = ov end
        elseif net_unsupported[ok] then
          U.warn(at, 'service "' .. ctx.name .. '": networks.' .. tostring(name) .. '.' .. ok ..
                 ' is not supported yet; ignored')
        else
          U.fail(at, 'service "' .. ctx.name .. '": networks.' .. tostring(name) .. ': unknown key "' ..
                 tostring(ok) .. '"' .. U.suggest(tostring(ok), { aliases = 1, ipv4_address = 1, priority = 1 }))
        end
      end
      out[name] = o
    else
      out[name] = opts -- extract_net.c names what is wrong with it
    end
  end
  return out
end

-- extra_hosts: "host-gateway" means the host, which no stack reaches: left
-- out with a warning, the rest checked by extract_net.c.
local function extra_hosts(ctx, v, k)
  local function gateway(name, ip)
    if ip ~= "host-gateway" then return false end
    U.warn(U.at(ctx.path, ctx.svc, k), 'service "' .. ctx.name .. '": extra_hosts: ' .. tostring(name) ..
           ' -> host-gateway left out: a stack\'s network has no route to the host')
    return true
  end
  local out = {}
  if U.is_seq(v) then
    for _, item in ipairs(v) do
      local name, ip = tostring(item):match("^([^=:]*)[=:](.*)$")
      if not gateway(name, ip) then out[#out + 1] = item end
    end
  elseif U.is_map(v) then
    for name, ip in pairs(v) do
      if not gateway(name, ip) then out[name] = ip end
    end
  else
    return v
  end
  return out
end

local function volume_long(ctx, v, ckey)
  if not U.is_map(v) then return v end
  local out = { type = v.type, source = v.source, target = v.target, read_only = v.read_only }
  if type(v.tmpfs) == "table" and v.tmpfs.size ~= nil then out.size = tostring(v.tmpfs.size) end
  for k in pairs(v) do
    if not (k == "type" or k == "source" or k == "target" or k == "read_only" or k == "tmpfs"
            or k == "volume" or k == "bind" or k == "consistency") then
      U.warn(U.at(ctx.path, v, k), 'service "' .. ctx.name .. '": volumes: "' .. k .. '" is not supported yet; ignored')
    end
  end
  return out
end

local function limits(ctx, deploy, ckey)
  local res = deploy.resources
  if res == nil or res == null then return end
  if not U.is_map(res) then U.fail(U.at(ctx.path, deploy, "resources"), "deploy.resources: expected a mapping") end
  local lim = res.limits
  if lim ~= nil and lim ~= null then
    if not U.is_map(lim) then U.fail(U.at(ctx.path, res, "limits"), "deploy.resources.limits: expected a mapping") end
    for k, v in pairs(lim) do
      local at = U.at(ctx.path, lim, k)
      if k == "cpus" then ctx.spec.cpus = v; ctx.lines.cpus = at
      elseif k == "memory" then ctx.spec.memory = v; ctx.lines.memory = at
      elseif k == "pids" then ctx.spec.pids = v; ctx.lines.pids = at
      else U.fail(at, 'service "' .. ctx.name .. '": deploy.resources.limits: unknown key "' .. k .. '"' ..
                      U.suggest(k, { cpus = 1, memory = 1, pids = 1 })) end
    end
  end
  if res.reservations ~= nil then
    U.warn(U.at(ctx.path, res, "reservations"), 'service "' .. ctx.name .. '": deploy.resources.reservations is not supported yet; ignored')
  end
end

service_keys = {
  image = same("image"),
  command = function(ctx, v, k) set(ctx, "command", as_argv(ctx, k, v), k) end,
  entrypoint = function(ctx, v, k) set(ctx, "entrypoint", as_argv(ctx, k, v), k) end,
  environment = same("env"),
  env_file = same("env_file"),
  volumes = function(ctx, v, k)
    if U.is_seq(v) then
      local out = {}
      for i, item in ipairs(v) do out[i] = volume_long(ctx, item, k) end
      v = out
    end
    set(ctx, "volumes", v, k)
  end,
  ports = function(ctx, v, k)
    if U.is_seq(v) then
      local out = {}
      for i, p in ipairs(v) do
        if U.is_map(p) then
          out[i] = { target = p.target, published = p.published, host_ip = p.host_ip, protocol = p.protocol }
        else
          out[i] = p
        end
      end
      v = out
    end
    set(ctx, "ports", v, k)
  end,
  depends_on = same("depends_on"),
  healthcheck = function(ctx, v, k)
    if U.is_map(v) and v.start_interval ~= nil then
      U.warn(U.at(ctx.path, v, "start_interval"), 'service "' .. ctx.name .. '": healthcheck.start_interval is not supported yet; ignored')
      local copy = {}
      for hk, hv in pairs(v) do if hk ~= "start_interval" then copy[hk] = hv end end
      v = copy
    end
    set(ctx, "healthcheck", v, k)
  end,
  restart = same("restart"),
  deploy = function(ctx, v, k)
    if not U.is_map(v) then U.fail(U.at(ctx.path, ctx.svc, k), "deploy: expected a mapping") end
    for dk, dv in pairs(v) do
      if dk == "replicas" then set(ctx, "replicas", dv, k); ctx.lines.replicas = U.at(ctx.path, v, dk)
      elseif dk == "resources" then limits(ctx, v, k)
      elseif dk == "restart_policy" or dk == "placement" or dk == "update_config" or dk == "rollback_config"
          or dk == "mode" or dk == "labels" or dk == "endpoint_mode" then
        U.warn(U.at(ctx.path, v, dk), 'service "' .. ctx.name .. '": deploy.' .. dk .. ' is not supported yet; ignored')
      else
        U.fail(U.at(ctx.path, v, dk), 'service "' .. ctx.name .. '": deploy: unknown key "' .. dk .. '"' ..
               U.suggest(dk, { replicas = 1, resources = 1, restart_policy = 1, placement = 1 }))
      end
    end
  end,
  scale = same("replicas"),
  mem_limit = same("memory"),
  cpus = same("cpus"),
  pids_limit = same("pids"),
  working_dir = same("working_dir"),
  user = same("user"),
  hostname = same("hostname"),
  cap_add = same("cap_add"),
  cap_drop = same("cap_drop"),
  read_only = same("read_only"),
  init = same("init"),
  tty = same("tty"),
  stdin_open = same("stdin_open"),
  tmpfs = same("tmpfs"),
  stop_signal = same("stop_signal"),
  stop_grace_period = same("stop_grace_period"),
  labels = same("labels"),
  profiles = same("profiles"),
  network_mode = function(ctx, v, k)
    local map = { none = "none", host = "host", bridge = "stack", default = "stack" }
    if type(v) ~= "string" or not map[v] then
      U.fail(U.at(ctx.path, ctx.svc, k), 'service "' .. ctx.name .. '": network_mode: "' .. tostring(v) ..
             '" is not supported (expected none, host or bridge)')
    end
    set(ctx, "network", map[v], k)
  end,
  networks = function(ctx, v, k) set(ctx, "networks", service_networks(ctx, v), k) end,
  build = function(ctx, v, k)
    -- A context directory, or a mapping of which servos builds context,
    -- dockerfile, args and target; the rest is named and left out.
    if type(v) == "string" then set(ctx, "build", v, k) return end
    if not U.is_map(v) then U.fail(U.at(ctx.path, ctx.svc, k), 'service "' .. ctx.name .. '": build: expected a context path or a mapping') end
    local out = {}
    for bk, bv in pairs(v) do
      if bk == "context" or bk == "dockerfile" or bk == "args" or bk == "target" then
        out[bk] = bv
      else
        U.warn(U.at(ctx.path, v, bk), 'service "' .. ctx.name .. '": build.' .. tostring(bk) .. ' is not supported; ignored')
      end
    end
    if out.context == nil then out.context = "." end
    set(ctx, "build", out, k)
  end,
  container_name = "warn", expose = "ignore", extends = "warn",
  privileged = "warn", shm_size = "warn", ulimits = "warn", sysctls = same("sysctls"), devices = same("devices"),
  logging = function(ctx, v, k)
    -- Replicas' output always goes to servos' own files: a file driver's
    -- size options are kept, anything else is a warning.
    if not U.is_map(v) then U.fail(U.at(ctx.path, ctx.svc, k), "logging: expected a mapping") end
    local out = {}
    local d = v.driver
    if d ~= nil and d ~= "json-file" and d ~= "local" and d ~= "k8s-file" then
      U.warn(U.at(ctx.path, v, "driver"), 'service "' .. ctx.name .. '": logging.driver "' ..
             tostring(d) .. '" is not supported; the output goes to servos\' log files')
    end
    if v.options ~= nil and v.options ~= null then
      if not U.is_map(v.options) then U.fail(U.at(ctx.path, v, "options"), "logging.options: expected a mapping") end
      for ok, ov in pairs(v.options) do
        if ok == "max-size" or ok == "max-file" then
          out.options = out.options or {}
          out.options[ok] = ov
        else
          U.warn(U.at(ctx.path, v.options, ok), 'service "' .. ctx.name .. '": logging.options.' ..
                 tostring(ok) .. ' is not supported; ignored')
        end
      end
    end
    set(ctx, "logging", out, k)
  end,
  dns = "warn", dns_search = "warn",
  extra_hosts = function(ctx, v, k) set(ctx, "extra_hosts", extra_hosts(ctx, v, k), k) end,
  security_opt = "warn", platform = same("platform"), pull_policy = "warn",
  links = "warn", external_links = "warn", ipc = "warn", pid = "warn", cgroup_parent = "warn",
  userns_mode = function(ctx, v, k)
    -- "host" (no user namespace) as servos' userns; Docker's default ("")
    -- and podman's "auto" are servos' own default
    if v == "host" or v == "auto" then set(ctx, "userns", v, k)
    elseif v ~= "" then
      U.warn(U.at(ctx.path, ctx.svc, k), 'service "' .. ctx.name .. '": userns_mode "' .. tostring(v) ..
             '" is not supported (host or auto); ignored')
    end
  end,
  configs = same("configs"), secrets = same("secrets"), mem_reservation = "warn",
  memswap_limit = "warn", cpu_shares = "warn", cpu_quota = "warn", cpuset = "warn",
  oom_score_adj = "warn", domainname = "warn", mac_address = "warn", develop = "warn",
  attach = "warn", group_add = "warn", storage_opt = "warn",
  runtime = function(ctx, v, k)
    U.warn(U.at(ctx.path, ctx.svc, k), 'service "' .. ctx.name .. '": runtime "' .. tostring(v) ..
           '" is not used: servos runs every container itself')
  end,
}
-- (Outside the table, clear of its build line.) The replica's container
-- name and hostname; lua/extract_process.c checks it.
service_keys.container_name = same("container_name")

local function load_service(path, name, svc)
  local at = U.at(path, svc)
  if svc == null then svc = {} end
  if not U.is_map(svc) and next(svc) ~= nil then
    U.fail(at, 'service "' .. name .. '": expected a mapping of settings')
  end
  local ctx = { path = path, name = name, svc = svc, spec = {}, lines = {} }
  for k, v in pairs(svc) do
    local h = service_keys[k]
    if type(k) ~= "string" then
      U.fail(U.at(path, svc, k), 'service "' .. name .. '": keys must be names')
    elseif k:sub(1, 2) == "x-" then
      -- extension fields are for the user's anchors
    elseif h == nil then
      U.fail(U.at(path, svc, k), 'service "' .. name .. '": unknown key "' .. k .. '"' .. U.suggest(k, service_keys))
    elseif h == "warn" then
      U.warn(U.at(path, svc, k), 'service "' .. name .. '": "' .. k .. '" is not supported yet; ignored')
    elseif h ~= "ignore" and v ~= null then
      h(ctx, v, k)
    end
  end
  sv.declare(name, ctx.spec, at, ctx.lines, "compose")
end

-- Top-level networks: each a bridge of the stack's; internal is supported,
-- a driver other than bridge and external networks are warnings.
local function load_networks(path, doc)
  local nets = doc.networks
  if nets == nil or nets == null then return end
  if not U.is_map(nets) then U.fail(U.at(path, doc, "networks"), "networks: expected a mapping of network names") end
  for name, opts in pairs(nets) do
    local at = U.at(path, nets, name)
    local what = 'network "' .. tostring(name) .. '": '
    local o = {}
    if opts ~= null then
      if not U.is_map(opts) then U.fail(at, what .. "expected a mapping of settings") end
      for ok, ov in pairs(opts) do
        local oat = U.at(path, opts, ok)
        if ok == "internal" then
          o.internal = ov
        elseif ok == "driver" then
          if ov ~= "bridge" and ov ~= null then
            U.warn(oat, what .. 'driver "' .. tostring(ov) .. '" is not supported; servos makes a bridge')
          end
        elseif ok == "external" then
          if ov ~= false then
            U.warn(oat, what .. "external networks are not supported; servos makes one for the stack")
          end
        elseif ok == "ipam" or ok == "driver_opts" or ok == "enable_ipv6" then
          U.warn(oat, what .. '"' .. ok .. '" is not supported yet; ignored')
        elseif ok == "name" or ok == "labels" or ok == "attachable" or ok:sub(1, 2) == "x-" then
          -- names and labels of the engine's own objects: nothing to do here
        else
          U.fail(oat, what .. 'unknown key "' .. tostring(ok) .. '"' ..
                 U.suggest(tostring(ok), { internal = 1, driver = 1, external = 1, ipam = 1, name = 1 }))
        end
      end
    end
    sv.network(tostring(name), o, at)
  end
end

-- Top-level secrets and configs: file (relative to this file), environment
-- (the variable's value, from the environment or .env) or content.
local function load_files(path, doc, kind, dir)
  local t = doc[kind .. "s"]
  if t == nil or t == null then return end
  if not U.is_map(t) then U.fail(U.at(path, doc, kind .. "s"), kind .. "s: expected a mapping of names") end
  local dotenv
  for name, opts in pairs(t) do
    local at = U.at(path, t, name)
    local what = kind .. ' "' .. tostring(name) .. '": '
    if not U.is_map(opts) then U.fail(at, what .. "expected a mapping with file, environment or content") end
    local o, value = {}, nil
    for ok, ov in pairs(opts) do
      local oat = U.at(path, opts, ok)
      if ok == "file" or ok == "environment" or ok == "content" then
        o[ok] = ov
      elseif ok == "external" then
        if ov ~= false then
          U.fail(oat, what .. "external " .. kind .. "s (kept by a swarm) are not available; give file, environment or content")
        end
      elseif ok == "name" or ok == "labels" or ok:sub(1, 2) == "x-" then
        -- a swarm's names: nothing to do here
      elseif ok == "driver" or ok == "driver_opts" or ok == "template_driver" then
        U.warn(oat, what .. '"' .. ok .. '" is not supported; ignored')
      else
        U.fail(oat, what .. 'unknown key "' .. tostring(ok) .. '"' ..
               U.suggest(tostring(ok), { file = 1, environment = 1, content = 1, external = 1 }))
      end
    end
    if type(o.environment) == "string" then
      dotenv = dotenv or U.dotenv(dir)
      value = os.getenv(o.environment) or dotenv[o.environment]
    end
    sv.file(kind, tostring(name), o, at, value)
  end
end

function M.load(path, raw)
  local dir = U.dir_of(path)
  local doc = host.yaml_load(path, U.dotenv(dir))
  for k in pairs(doc) do
    local known = top_known[k]
    if type(k) == "string" and k:sub(1, 2) == "x-" then
    elseif known == nil then
      U.fail(U.at(path, doc, k), 'unknown top-level key "' .. tostring(k) .. '"' .. U.suggest(tostring(k), top_known))
    elseif known == "warn" then
      U.warn(U.at(path, doc, k), 'top-level "' .. k .. '" is not supported yet; ignored')
    end
  end
  if doc.name ~= nil and doc.name ~= null then
    if type(doc.name) ~= "string" then U.fail(U.at(path, doc, "name"), "name: expected a string") end
    local ok, msg = pcall(stack, doc.name)
    if not ok then U.fail(U.at(path, doc, "name"), (msg:gsub("^[^:]*:%d+: ", ""))) end
  end
  if doc.volumes ~= nil and doc.volumes ~= null then
    if not U.is_map(doc.volumes) then U.fail(U.at(path, doc, "volumes"), "volumes: expected a mapping of volume names") end
    for vname, opts in pairs(doc.volumes) do
      local vat = U.at(path, doc.volumes, vname)
      if opts ~= null and type(opts) == "table" and next(opts) ~= nil then
        for ok in pairs(opts) do
          U.warn(U.at(path, opts, ok), 'volume "' .. vname .. '": "' .. ok .. '" is not supported yet; ignored')
        end
      end
      local ok, msg = pcall(volume, tostring(vname))
      if not ok then U.fail(vat, (msg:gsub("^[^:]*:%d+: ", ""))) end
      sv.decl.volumes[#sv.decl.volumes].where = vat
    end
  end
  load_networks(path, doc)
  load_files(path, doc, "secret", dir)
  load_files(path, doc, "config", dir)
  local services = doc.services
  if services == null then services = {} end
  if not U.is_map(services) and next(services) ~= nil then
    U.fail(U.at(path, doc, "services"), "services: expected a mapping of service names to settings")
  end
  -- Declare in file order so "declared twice" errors point at the later one.
  local names = {}
  for name in pairs(services) do names[#names + 1] = name end
  local lines = host.lines(services) or {}
  table.sort(names, function(a, b) return (lines[a] or 0) < (lines[b] or 0) end)
  for _, name in ipairs(names) do
    if type(name) ~= "string" then U.fail(U.at(path, services, name), "service names must be strings") end
    load_service(path, name, services[name])
  end
end

return M

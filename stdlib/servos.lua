-- The Envirofile DSL: stack, service, Container, volume, env, include,
-- import, read_file. Declarations are only recorded here; the C side checks every
-- value and builds the service graph, so there is one validator for every
-- input format. Loaded once per evaluation by lua/sandbox.c, which passes the
-- private host functions (`host`) and keeps the returned table.

local host = ...
local M = {}
local decl = { stack = nil, stack_where = nil, services = {}, volumes = {}, networks = {}, files = {} }
M.decl = decl

-- Captured before the sandbox hides them from user code.
local io_open = io.open
local real_collectgarbage = collectgarbage
local setmetatable, getmetatable, rawget, type, error, pairs, ipairs, tostring, select, next =
    setmetatable, getmetatable, rawget, type, error, pairs, ipairs, tostring, select, next
local sformat, ssub, sfind, smatch = string.format, string.sub, string.find, string.match

-- file, line of the innermost frame that runs user code, so an error raised
-- deep inside a helper still points at the user's line.
local where_info = host.where

local function where()
  local file, line = where_info()
  return file .. ":" .. line
end
M.where = where

local function fail(msg, at)
  error((at or where()) .. ": " .. msg, 0)
end
M.fail = fail

local function dir_of(path)
  return smatch(path, "^(.*)/[^/]*$") or "."
end

-- The directory of the file whose code is running now: include, read_file
-- and relative volume paths resolve against it.
local function current_dir()
  local file = where_info()
  return dir_of(file)
end
M.current_dir = current_dir

-- what names the operation for the error when code from a repository
-- reaches outside it (see host.confine).
local function resolve(path, what)
  local full
  if ssub(path, 1, 1) == "/" then
    full = path
  else
    local d = current_dir()
    full = d == "." and path or d .. "/" .. path
  end
  if not host.confine(full) then fail(sformat('%s: "%s" is outside the repository', what, path)) end
  return full
end

-- Service handles -------------------------------------------------------

-- A handle keeps its record under a key only this file can name (rawget
-- skips the metamethods; a weak handle -> record table was a measurable
-- share of evaluating 10,000 services).
local REC = {}
local by_name = {}
local handle_mt = {}

handle_mt.__index = function(h, k)
  local rec = rawget(h, REC)
  if k == "name" or k == "host" then return rec.name end
  if k == "run" then return function(self) return self end end -- Enviro's web.run()
  return rec.spec[k]
end

handle_mt.__newindex = function(h, k, v)
  local rec = rawget(h, REC)
  if k == "name" or k == "host" then
    fail(sformat('service "%s": %s cannot be changed after declaration', rec.name, k))
  end
  rec.spec[k] = v
  rec.lines = rec.lines or {}
  rec.lines[k] = where()
end

-- service "x" { ... } calls the handle with the spec table.
handle_mt.__call = function(h, spec)
  local rec = rawget(h, REC)
  if type(spec) ~= "table" then
    fail(sformat('service "%s": expected a table of settings, got %s', rec.name, type(spec)))
  end
  local own = rec.spec
  if next(own) == nil then
    rec.spec = host.clone(spec)
  else
    for k, v in pairs(spec) do own[k] = v end
  end
  return h
end

handle_mt.__pairs = function(h) return next, rawget(h, REC).spec, nil end
handle_mt.__tostring = function(h) return rawget(h, REC).name end

local function check_name(what, name, at)
  if type(name) ~= "string" then
    fail(sformat("%s: expected a name (a string), got %s", what, type(name)), at)
  end
  if not smatch(name, "^[A-Za-z0-9][A-Za-z0-9_.-]*$") or #name > 63 then
    fail(sformat('%s: "%s" is not a valid name (letters, digits, "_", "." and "-", starting ' ..
      'with a letter or digit, at most 63 characters)', what, name), at)
  end
end

-- Declare a service; spec is owned by the record from now on. Other stdlib
-- modules (compose, proserve) call this too, with the line of the YAML key
-- and per-key lines.
local dir_cache = {} -- "file:line" -> directory of file, per declaration site
function M.declare(name, spec, at, lines, kind)
  at = at or where()
  check_name("service", name, at)
  local prev = by_name[name]
  if prev then
    fail(sformat('service "%s" is declared twice (first at %s)', name, prev.where), at)
  end
  local dir = dir_cache[at]
  if dir == nil then
    dir = dir_of(smatch(at, "^(.*):%d+$") or at)
    dir_cache[at] = dir
  end
  local rec = { name = name, spec = spec or {}, where = at, lines = lines,
                dir = dir, kind = kind or "service" }
  by_name[name] = rec
  local services = decl.services
  services[#services + 1] = rec
  return setmetatable({ [REC] = rec }, handle_mt)
end

function service(arg)
  if type(arg) == "table" and getmetatable(arg) == nil then
    -- service { name = "x", ... }
    local name = arg.name
    if name == nil then fail("service: the table needs a name, or write service \"x\" { ... }") end
    local spec = {}
    for k, v in pairs(arg) do if k ~= "name" then spec[k] = v end end
    return M.declare(name, spec)
  end
  return M.declare(arg, {})
end

-- The Enviro style: Container { name = "web", cpu = 2.0, memory = "4GB" }.
function Container(arg)
  if type(arg) ~= "table" then
    fail("Container: expected a table, like Container { name = \"web\", image = \"host\" }")
  end
  if arg.name == nil then fail("Container: the table needs a name") end
  local spec = {}
  for k, v in pairs(arg) do if k ~= "name" then spec[k] = v end end
  return M.declare(arg.name, spec, nil, nil, "Container")
end

function stack(name)
  check_name("stack", name)
  if decl.stack and decl.stack ~= name then
    fail(sformat('stack is named twice ("%s" at %s, then "%s")', decl.stack, decl.stack_where, name))
  end
  decl.stack, decl.stack_where = name, where()
end

function volume(name)
  local at = where()
  check_name("volume", name, at)
  decl.volumes[#decl.volumes + 1] = { name = name, where = at }
  -- volume "x" { } is allowed for symmetry; no options are defined yet.
  return function(opts)
    if type(opts) ~= "table" then fail(sformat('volume "%s": expected a table of options', name)) end
    for k in pairs(opts) do
      fail(sformat('volume "%s": unknown option "%s" (volumes take no options yet)', name, tostring(k)))
    end
  end
end

-- Networks, secrets and configs: recorded with their options; the C side
-- checks the options (lua/extract_decl.c). Compose's loader calls M.network
-- and M.file with the line of its YAML key.
function M.network(name, opts, at)
  check_name("network", name, at)
  local rec = { name = name, where = at, opts = opts or {} }
  decl.networks[#decl.networks + 1] = rec
  return rec
end

-- value: a secret's content from the environment, looked up here where
-- env() and .env are known.
function M.file(kind, name, opts, at, value)
  check_name(kind, name, at)
  local rec = { name = name, where = at, config = kind == "config", opts = opts, value = value }
  decl.files[#decl.files + 1] = rec
  return rec
end

-- network "back" { internal = true }; services join it with
-- networks = { "back" }.
function network(name)
  local rec = M.network(name, {}, where())
  return function(opts)
    if type(opts) ~= "table" then fail(sformat('network "%s": expected a table of options', name)) end
    rec.opts = opts
  end
end

-- secret "db_password" { file = "./db_password.txt" } (or environment =
-- "VAR", or content = "..."); config "nginx" { ... } the same.
local function file_decl(kind)
  return function(name)
    local rec = M.file(kind, name, nil, where())
    return function(opts)
      if type(opts) ~= "table" then
        fail(sformat('%s "%s": expected a table with file, environment or content', kind, name))
      end
      rec.opts = opts
      if type(opts.environment) == "string" then rec.value = env(opts.environment) end
    end
  end
end
secret = file_decl("secret")
config = file_decl("config")

-- Host environment --------------------------------------------------------

local dotenv_cache = {}
local function dotenv_for(dir)
  local t = dotenv_cache[dir]
  if t == nil then
    t = host.dotenv(dir == "." and ".env" or dir .. "/.env") or false
    dotenv_cache[dir] = t
  end
  return t or nil
end

-- env("NAME", default): the host's variable, else the .env beside the
-- Envirofile, else the default.
function env(name, default)
  if type(name) ~= "string" then fail("env: expected a variable name (a string)") end
  local v = os.getenv(name)
  if v ~= nil then return v end
  local d = dotenv_for(current_dir())
  if d and d[name] ~= nil then return d[name] end
  return default
end

-- Files -----------------------------------------------------------------

local including = {}
local include_depth = 0

function include(path)
  if type(path) ~= "string" then fail("include: expected a path (a string)") end
  local full = resolve(path, "include")
  if including[full] then fail(sformat('include: "%s" includes itself (an include cycle)', path)) end
  if include_depth >= 32 then fail("include: more than 32 nested includes") end
  local chunk, msg = host.loadfile(full)
  if not chunk then fail("include: " .. msg) end
  including[full], include_depth = true, include_depth + 1
  local results = table.pack(chunk())
  including[full], include_depth = nil, include_depth - 1
  return table.unpack(results, 1, results.n)
end

-- import "git+URL#REF:lib/db.lua" (or a path): evaluate a module once and
-- return what it returns; a git module is fetched (or taken from the cache)
-- and pinned to the commit the stack was brought up with.
local imported, importing = {}, {}

function import(spec)
  if type(spec) ~= "string" then
    fail('import: expected a module ("git+URL#REF:path/to/module.lua" or a path)')
  end
  local full
  if ssub(spec, 1, 4) == "git+" or ssub(spec, 1, 6) == "git://" then
    local msg
    full, msg = host.git(spec)
    if not full then fail("import: " .. tostring(msg)) end
  else
    local path, frag = smatch(spec, "^([^#]*)(#.*)$")
    full = resolve(path or spec, "import")
    if frag then -- a local repository: PATH#REF:file
      local msg
      full, msg = host.git(full .. frag)
      if not full then fail("import: " .. (msg or ('"' .. spec .. '" is not a git repository'))) end
    end
  end
  local done = imported[full]
  if done then return table.unpack(done, 1, done.n) end
  if importing[full] then fail(sformat('import: "%s" imports itself (an import cycle)', spec)) end
  local chunk, msg = host.loadfile(full)
  if not chunk then fail("import: " .. msg) end
  importing[full] = true
  local results = table.pack(chunk())
  importing[full], imported[full] = nil, results
  return table.unpack(results, 1, results.n)
end

function read_file(path)
  if type(path) ~= "string" then fail("read_file: expected a path (a string)") end
  local data, msg = host.readfile(resolve(path, "read_file"))
  if not data then fail("read_file: " .. msg) end
  return data
end

-- The sandbox -------------------------------------------------------------

local function forbidden(name, why)
  return function() fail(sformat("%s is not available in an Envirofile (%s)", name, why)) end
end
local no_programs = "Envirofiles cannot run programs"
local no_writes = "Envirofiles cannot write or remove files"

os.execute = forbidden("os.execute", no_programs)
os.exit = forbidden("os.exit", "use error() to stop with a message")
os.remove = forbidden("os.remove", no_writes)
os.rename = forbidden("os.rename", no_writes)
os.tmpname = forbidden("os.tmpname", no_writes)
os.setlocale = forbidden("os.setlocale", "the locale belongs to servos")
io.popen = forbidden("io.popen", no_programs)
io.tmpfile = forbidden("io.tmpfile", no_writes)
io.output = forbidden("io.output", no_writes)
io.input = forbidden("io.input", "use io.open or read_file")
io.close = forbidden("io.close", "close the file handle instead")
io.read = forbidden("io.read", "Envirofiles have no standard input")
io.stdin, io.stdout = nil, nil

-- print and io.write go to stderr: stdout carries `servos config` output.
local stderr = io.stderr
function print(...)
  local n = select("#", ...)
  for i = 1, n do
    if i > 1 then stderr:write("\t") end
    stderr:write(tostring((select(i, ...))))
  end
  stderr:write("\n")
end
io.write = function(...) stderr:write(...) end
io.stderr = nil

io.open = function(path, mode)
  if type(path) ~= "string" then fail("io.open: expected a path (a string)") end
  mode = mode or "r"
  if mode ~= "r" and mode ~= "rb" then fail("io.open: " .. no_writes .. " (open with mode \"r\")") end
  return io_open(resolve(path, "io.open"), mode)
end
io.lines = function(path, ...)
  if path == nil then fail("io.lines: Envirofiles have no standard input") end
  local f, msg = io.open(path, "r")
  if not f then fail("io.lines: " .. msg) end
  return f:lines(...)
end

dofile = forbidden("dofile", "use include")
loadfile = forbidden("loadfile", "use include")
require = forbidden("require", "use include")
package = nil
string.dump = forbidden("string.dump", "binary chunks are not allowed")
local real_load = load
load = function(chunk, name, mode, envt)
  if mode ~= nil and mode ~= "t" then fail("load: binary chunks are not allowed in an Envirofile") end
  if envt ~= nil then return real_load(chunk, name, "t", envt) end
  return real_load(chunk, name, "t")
end
debug = setmetatable({}, { __index = function(_, k)
  fail(sformat("debug.%s is not available in an Envirofile (the debug library is disabled)", tostring(k)))
end })
collectgarbage = function(opt)
  if opt == nil or opt == "collect" or opt == "count" or opt == "step" then
    return real_collectgarbage(opt or "collect")
  end
  fail('collectgarbage: only "collect", "count" and "step" are available in an Envirofile')
end

return M

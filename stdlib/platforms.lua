-- Loads the platform tables of platforms/ (embedded data files), each in an
-- empty environment: they are data, not code with access to anything.
local host = ...
local M = {}
local cache

function M.all()
  if cache then return cache end
  local list = {}
  for name, src in pairs(host.embedded("platforms/")) do
    local chunk, msg = load(src, "=" .. name, "t", {})
    if not chunk then error("internal error in " .. name .. ": " .. msg, 0) end
    local p = chunk()
    p.file = name
    list[#list + 1] = p
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  cache = list
  return list
end

local function named(t, name, key)
  if t[key] == name then return true end
  for _, a in ipairs(t.aliases or {}) do
    if a == name then return true end
  end
  return false
end

-- The platform and board entries for a board id or alias, or nil.
function M.find_board(id)
  for _, p in ipairs(M.all()) do
    for _, b in ipairs(p.boards) do
      if named(b, id, "id") then return p, b end
    end
  end
end

-- A platform by name or alias (ProServe's raspberry_pi), or nil.
function M.find_platform(name)
  for _, p in ipairs(M.all()) do
    if named(p, name, "name") then return p end
  end
end

-- The toolchain families boards build with (of one platform's boards
-- when given), sorted.
function M.families(platform)
  local seen, list = {}, {}
  for _, p in ipairs(M.all()) do
    for _, b in ipairs(platform == nil and p.boards or p.name == platform and p.boards or {}) do
      local f = b.toolchain and b.toolchain.family
      if f and not seen[f] then seen[f] = true; list[#list + 1] = f end
    end
  end
  table.sort(list)
  return list
end

return M

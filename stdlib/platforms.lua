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

-- The platform and board entries for a board id, or nil.
function M.find_board(id)
  for _, p in ipairs(M.all()) do
    for _, b in ipairs(p.boards) do
      if b.id == id then return p, b end
    end
  end
end

function M.find_platform(name)
  for _, p in ipairs(M.all()) do
    if p.name == name then return p end
  end
end

return M

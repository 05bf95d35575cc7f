-- A YAML file: a Compose file when it has a top-level `services:`, a
-- ProServe manifest when it has a top-level `name:` (and no services).
local host = ...
local M = {}

function M.load(path)
  local raw = host.yaml_load(path) -- not interpolated: only to tell the format
  if raw == nil then
    error(path .. ":1: the file is empty (expected a Compose file with services: or a ProServe manifest with name:)", 0)
  end
  local lines = host.lines(raw)
  if type(raw) ~= "table" or not lines or lines[true] ~= "map" then
    error(path .. ":1: expected a mapping at the top (a Compose file with services:, or a ProServe manifest with name:)", 0)
  end
  if raw.services ~= nil then return host.stdlib("compose").load(path, raw) end
  if raw.name ~= nil then return host.stdlib("proserve").load(path, raw) end
  error(path .. ":1: neither a Compose file (no top-level services:) nor a ProServe manifest (no top-level name:)", 0)
end

return M

-- Helpers shared by the YAML schema mappings: where a key was written,
-- warnings, type checks, did-you-mean, shell-word splitting.
local host = ...
local M = {}
local null = host.null
M.null = null

-- "path:line" of tbl[key] (or of tbl itself when key is nil).
function M.at(path, tbl, key)
  local l = host.lines(tbl)
  local n = l and ((key ~= nil and l[key]) or l[0])
  if n and n < 0 then n = -n end
  return path .. ":" .. (n or 1)
end

function M.fail(at, msg) error(at .. ": " .. msg, 0) end

local warned = {}
function M.warn(at, msg)
  local line = "servos: warning: " .. at .. ": " .. msg .. "\n"
  if not warned[line] then
    warned[line] = true
    host.warn(line)
  end
end

function M.is_map(v)
  local l = type(v) == "table" and host.lines(v)
  return l and l[true] == "map" or false
end

function M.is_seq(v)
  local l = type(v) == "table" and host.lines(v)
  return l and l[true] == "seq" or false
end

local function distance(a, b)
  if #a > 40 or #b > 40 then return 99 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- " (did you mean "x"?)" or "".
function M.suggest(word, candidates)
  local best, bd = nil, 99
  for name in pairs(candidates) do
    local d = distance(word, name)
    if d < bd or (d == bd and name < best) then best, bd = name, d end
  end
  local allowed = #word <= 3 and 1 or (#word // 3 + 1)
  if best and bd <= allowed then return ' (did you mean "' .. best .. '"?)' end
  return ""
end

-- Split a command string into words the way a POSIX shell would for plain
-- words and quotes (no expansions), as Compose does for string commands.
function M.shell_split(s, at)
  local words, cur, i, n, in_word = {}, {}, 1, #s, false
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" then
      local j = s:find("'", i + 1, true)
      if not j then M.fail(at, "unterminated ' quote in: " .. s) end
      cur[#cur + 1] = s:sub(i + 1, j - 1); in_word = true; i = j
    elseif c == '"' then
      local j, buf = i + 1, {}
      while true do
        if j > n then M.fail(at, 'unterminated " quote in: ' .. s) end
        local d = s:sub(j, j)
        if d == '"' then break end
        if d == "\\" and j < n and s:sub(j + 1, j + 1):match('["\\$`]') then
          j = j + 1; d = s:sub(j, j)
        end
        buf[#buf + 1] = d; j = j + 1
      end
      cur[#cur + 1] = table.concat(buf); in_word = true; i = j
    elseif c == "\\" and i < n then
      cur[#cur + 1] = s:sub(i + 1, i + 1); in_word = true; i = i + 1
    elseif c:match("%s") then
      if in_word then words[#words + 1] = table.concat(cur); cur = {}; in_word = false end
    else
      cur[#cur + 1] = c; in_word = true
    end
    i = i + 1
  end
  if in_word then words[#words + 1] = table.concat(cur) end
  return words
end

-- Directory of a path, and the .env values there (or {}).
function M.dir_of(path) return path:match("^(.*)/[^/]*$") or "." end

function M.dotenv(dir)
  return host.dotenv(dir == "." and ".env" or dir .. "/.env") or {}
end

return M

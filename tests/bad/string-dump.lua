-- expect: string-dump.lua:2: string.dump is not available in an Envirofile
local s = string.dump(function() end)

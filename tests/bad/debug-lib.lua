-- expect: debug-lib.lua:2: debug.getinfo is not available in an Envirofile
local i = debug.getinfo(1)

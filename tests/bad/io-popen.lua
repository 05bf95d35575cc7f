-- expect: io-popen.lua:2: io.popen is not available in an Envirofile
local f = io.popen("id")

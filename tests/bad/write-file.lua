-- expect: write-file.lua:2: io.open: Envirofiles cannot write or remove files
local f = io.open("/tmp/servos-pwned", "w")

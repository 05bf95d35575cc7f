-- expect: binary-load.lua:2: load: binary chunks are not allowed in an Envirofile
load("\27Lua", "x", "b")

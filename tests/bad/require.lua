-- expect: require.lua:2: require is not available in an Envirofile \(use include\)
local x = require("os")

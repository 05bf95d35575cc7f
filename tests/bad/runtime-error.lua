-- expect: runtime-error.lua:3: attempt to index a nil value
local cfg = nil
service "x" { image = cfg.image }

-- expect: endless-loop.lua:2: evaluation stopped after .* instructions \(an endless loop\?\)
while true do end

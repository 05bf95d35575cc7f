-- expect: memory-bomb.lua:[23]: evaluation used more than .* MB of memory
local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(1000) .. i end

-- expect: bad-cap.lua:2: service "x": cap_add: "NET_ADMINZ" is not a capability
service "x" { cap_add = { "NET_ADMINZ" } }

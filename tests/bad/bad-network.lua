-- expect: bad-network.lua:2: service "x": network: "bridge" is not one of stack, none or host
service "x" { network = "bridge" }

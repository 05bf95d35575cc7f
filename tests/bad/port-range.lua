-- expect: port-range.lua:2: service "p": ports: "70000" is not a port mapping
service "p" { ports = { "70000" } }

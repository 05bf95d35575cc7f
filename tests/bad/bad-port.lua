-- expect: bad-port.lua:2: service "p": ports: "80:abc" is not a port mapping
service "p" { ports = { "80:abc" } }

-- expect: bad-size.lua:2: service "db": memory: "12XB" is not a size
service "db" { memory = "12XB" }

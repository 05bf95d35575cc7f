-- expect: relative-target.lua:2: service "v": volumes: the path inside the container must be absolute
service "v" { volumes = { "./x:data" } }

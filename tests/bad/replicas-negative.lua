-- expect: replicas-negative.lua:2: service "w": replicas: -2 is out of range
service "w" { replicas = -2 }

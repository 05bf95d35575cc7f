-- expect: replicas-float.lua:2: service "w": replicas: expected a whole number, got 1.5
service "w" { replicas = 1.5 }

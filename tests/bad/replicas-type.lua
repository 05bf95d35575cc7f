-- expect: replicas-type.lua:2: service "w": replicas: expected a whole number, got the string "three"
service "w" { replicas = "three" }

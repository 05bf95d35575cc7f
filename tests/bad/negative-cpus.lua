-- expect: negative-cpus.lua:2: service "db": cpus: -1 CPUs is out of range
service "db" { cpus = -1 }

-- expect: undeclared-volume.lua:3: service "db": volume "pgdat" is not declared \(did you mean "pgdata"\?\)
volume "pgdata"
service "db" { volumes = { "pgdat:/data" } }

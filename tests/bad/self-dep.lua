-- expect: self-dep.lua:2: service "a" depends on itself
service "a" { depends_on = { "a" } }

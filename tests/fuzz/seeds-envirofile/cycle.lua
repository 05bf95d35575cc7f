-- expect: cycle.lua:[0-9]+: dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)
service "a" { depends_on = { "b" } }
service "b" { depends_on = { "c" } }
service "c" { depends_on = { "a" } }

-- expect: missing-dep.lua:3: service "web": depends_on names "dbb", which is not a service of this stack \(did you mean "db"\?\)
service "db" {}
service "web" { depends_on = { dbb = "healthy" } }

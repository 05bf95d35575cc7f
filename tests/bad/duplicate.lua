-- expect: duplicate.lua:3: service "web" is declared twice \(first at duplicate.lua:2\)
service "web" {}
service "web" {}

-- expect: bad-condition.lua:3: service "web": depends_on: db: "ready" is not a condition
service "db" {}
service "web" { depends_on = { db = "ready" } }

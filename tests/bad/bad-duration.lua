-- expect: bad-duration.lua:2: service "h": healthcheck: "soon" is not a duration
service "h" { healthcheck = { test = "true", interval = "soon" } }

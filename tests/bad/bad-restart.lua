-- expect: bad-restart.lua:2: service "r": restart: "alwys" is not a restart policy .*did you mean "always"
service "r" { restart = "alwys" }

-- expect: board-emulate-key.lua:2: service "fw": emulate: unknown key "tme" \(did you mean "time"\?\) \(expected time, realtime\)
service "fw" { board = "uno", build = "./blink", emulate = { tme = "1s" } }

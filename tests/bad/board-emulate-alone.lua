-- expect: board-emulate-alone.lua:2: service "fw": emulate: is for a board service \(board = "uno", build = its sources\)
service "fw" { emulate = true }

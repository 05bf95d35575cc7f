-- expect: board-flash-emulate.lua:2: service "fw": flash: a board service's firmware is flashed or emulated, not both \(leave emulate out\)
service "fw" { board = "uno", build = "./blink", emulate = true, flash = "/dev/ttyACM0" }

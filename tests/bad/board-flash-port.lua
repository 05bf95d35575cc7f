-- expect: board-flash-port.lua:2: service "fw": flash: needs the board's port, a device under /dev \("/dev/ttyACM0"\)
service "fw" { board = "uno", build = "./blink", flash = { port = "ttyACM0" } }

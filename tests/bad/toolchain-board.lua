-- expect: toolchain-board.lua:2: service "fw": toolchain: "cortex-m" does not build for board "uno", which builds with avr
service "fw" { board = "arduino_uno", toolchain = "cortex-m" }

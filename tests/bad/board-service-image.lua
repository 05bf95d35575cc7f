-- expect: board-service-image.lua:2: service "fw": image: a board service \(board with build\) runs in its board's toolchain image; leave image out
service "fw" { board = "uno", build = "./blink", image = "alpine" }

-- expect: board-service-dockerfile.lua:2: service "fw": build: for a board service, build is its sources \(a sketch's directory, a .ino or a C file\): no dockerfile, target or args
service "fw" { board = "uno", build = { context = "./blink", dockerfile = "Containerfile" } }

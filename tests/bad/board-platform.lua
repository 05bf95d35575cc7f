-- expect: board-platform.lua:2: service "fw": platform: "x86_64" does not go with board "uno" \(platform "arduino"\): leave platform out, the board says it
service "fw" { board = "uno", platform = "x86_64" }

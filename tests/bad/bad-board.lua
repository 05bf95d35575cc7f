-- expect: bad-board.lua:2: service "fw": board: unknown board "unoo" \(did you mean "uno"\?\)
service "fw" { board = "unoo" }

-- expect: bad-type-command.lua:2: service "c": command: expected a list of arguments or a shell command string, got boolean
service "c" { command = true }

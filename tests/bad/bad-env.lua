-- expect: bad-env.lua:2: service "x": env: A: expected a string, number or boolean, got table
service "x" { env = { A = {} } }

-- expect: alias-conflict.lua:2: service "x": both "cpus?" and "cpus?" are set; keep one
service "x" { cpu = 1, cpus = 2 }

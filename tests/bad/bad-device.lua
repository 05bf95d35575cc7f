-- expect: bad-device.lua:2: service "board": devices: "ttyUSB0": the device must be an absolute path \(/dev/\.\.\.\)
service "board" { command = "true",
  devices = { "ttyUSB0" } }

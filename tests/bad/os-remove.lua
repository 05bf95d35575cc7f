-- expect: os-remove.lua:2: os.remove is not available in an Envirofile
os.remove("/tmp/x")

-- expect: os-execute.lua:2: os.execute is not available in an Envirofile \(Envirofiles cannot run programs\)
os.execute("rm -rf /")

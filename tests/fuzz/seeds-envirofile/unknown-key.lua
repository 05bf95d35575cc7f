-- expect: unknown-key.lua:2: service "web": unknown key "replics" \(did you mean "replicas"\?\)
service "web" {
  replics = 3, command = "true",
}

-- expect: late-typo.lua:4: service "w": unknown key "replica" \(did you mean "replicas"\?\)
local w = service "w" {}
-- a mutation after declaration is reported at its own line
w.replica = 3

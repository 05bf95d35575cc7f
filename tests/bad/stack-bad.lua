-- expect: stack-bad.lua:2: stack: "no spaces" is not a valid name
stack "no spaces"

-- expect: secret-no-source.lua:2: secret "token": unknown option "fil" \(did you mean "file"\?\)
secret "token" { fil = "./token.txt" }

-- expect: include-self.lua:2: include: "include-self.lua" includes itself
include "include-self.lua"

-- expect: include-missing.lua:2: include: .*nope.lua: No such file or directory
include "nope.lua"

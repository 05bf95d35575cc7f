-- expect: bad-name.lua:2: service: "my web" is not a valid name
service "my web" {}

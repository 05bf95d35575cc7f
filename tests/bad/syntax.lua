-- expect: syntax.lua:3: .*near
service "web" {
  command = "true" image = "host"
}

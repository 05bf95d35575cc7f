-- The Enviro README's example, as an Envirofile: with ENV=production the
-- worker gets 4 CPUs, 8 GB and 10 replicas; otherwise 1 CPU, 1 GB, 1 replica.
local production = env("ENV") == "production"

local web = Container {
  name   = "web-app",
  image  = "host",
  cpu    = production and 4.0 or 1.0,
  memory = production and "8GB" or "1GB",
  command = "exec sleep 1000000",
}

if production then
  web.replicas = 10
end

web.run()

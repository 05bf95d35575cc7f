-- The DSL tour of README.md (section "The Envirofile DSL"): a database gated
-- on health, a web tier that scales in production, and an Enviro-style worker.
local prod = env("ENV", "dev") == "production"   -- host environment, with default

stack "shop"

volume "pgdata"

local db = service "db" {
  image   = "host",
  command = { "sh", "-c", "mkdir -p /data && touch /data/ready && exec sleep 1000000" },
  env     = { PGDATA = "/data" },
  volumes = { "pgdata:/data" },
  memory  = "256M", cpus = 0.5, pids = 128,
  healthcheck = { test = { "sh", "-c", "test -e /data/ready" }, interval = "1s", retries = 10 },
}

service "web" {
  command    = "exec httpd -f -p 8080",
  replicas   = prod and 4 or 1,
  ports      = { "8080:8080" },
  depends_on = { db = "healthy" },
  restart    = "on-failure",
  env        = { DB_HOST = db.host },
}

local worker = Container { name = "worker", cpu = prod and 4.0 or 1.0,
                           memory = prod and "8GB" or "1GB", command = "exec sleep 1000000" }
if prod then worker.replicas = 10 end

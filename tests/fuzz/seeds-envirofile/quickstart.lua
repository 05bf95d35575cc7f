-- Quick start: a tiny web page served by busybox httpd, and a client that
-- checks it by name. Uses the host rootfs, so nothing is downloaded.
stack "quickstart"

service "web" {
  command = { "sh", "-c", "mkdir -p /tmp/www && echo 'hello from servos' > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www" },
  ports   = { "8080:8080" },
  memory  = "64M",
  pids    = 64,
  healthcheck = { test = "busybox wget -q -O /dev/null http://127.0.0.1:8080/", interval = "1s", retries = 5 },
}

service "client" {
  command    = "sleep 1; busybox wget -q -O - http://web:8080/ && exec sleep 1000000",
  depends_on = { web = "healthy" },
  restart    = "on-failure:3",
}

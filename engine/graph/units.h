/* Parsers for the values users write in Envirofiles and manifests. Each one
 * returns 0 or -1 and, on failure, a message saying what was expected, which
 * the caller prefixes with file:line and the key. */
#ifndef SV_UNITS_H
#define SV_UNITS_H

#include "core/util.h"

/* "512M", "1G", "8GB", "512Mi", "1.5g", "1024" (bytes). Binary multiples,
 * as Docker does. */
int sv_parse_size(const char *s, int64_t *bytes, sv_error_t *err);
/* "500ms", "2s", "1m30s", "1h", "1.5s"; a bare number is seconds. */
int sv_parse_duration(const char *s, int64_t *ms, sv_error_t *err);
/* "0.5", "2"; must be > 0 and <= 1024. */
int sv_parse_cpus(const char *s, double *cpus, sv_error_t *err);

enum sv_restart_policy {
    SV_RESTART_NO,
    SV_RESTART_ALWAYS,
    SV_RESTART_ON_FAILURE,
    SV_RESTART_UNLESS_STOPPED
};
/* "no" | "always" | "on-failure[:N]" | "unless-stopped" */
int sv_parse_restart(const char *s, enum sv_restart_policy *p, int *max_retries, sv_error_t *err);
const char *sv_restart_name(enum sv_restart_policy p);

/* A published port. host == 0 means "any free port"; host_ip is 127.0.0.1
 * unless the mapping names an address. Ranges expand into several entries. */
struct sv_port_spec {
    char host_ip[64];
    int host, container;
    char protocol[4]; /* "tcp" or "udp" */
};
/* "80", "8080:80", "127.0.0.1:8080:80", "8080:80/udp", "8000-8002:9000-9002".
 * Fills up to max entries; *n is how many. */
int sv_parse_ports(const char *s, struct sv_port_spec *out, size_t max, size_t *n, sv_error_t *err);

/* A host device node passed into a container (--device, a service's
 * devices): where it is on the host (a link to it is followed), where it
 * shows inside, and what the container may do with it: "r", "w", "m"
 * (mknod) or several, in that order. */
struct sv_device_spec {
    const char *source, *target;
    char access[4];
};
/* "PATH", "PATH:PATH_IN", "PATH:rw", "PATH:PATH_IN:rwm", as Docker reads
 * --device: PATH_IN is PATH when left out, access "rwm". source and
 * target are newly allocated (sv_device_spec_clear frees them). Only the
 * text is checked here: whether PATH is a device node is the runtime's
 * to say when the container is made. */
int sv_parse_device(const char *s, struct sv_device_spec *out, sv_error_t *err);
void sv_device_spec_clear(struct sv_device_spec *d);

/* "SIGTERM", "TERM", "15" -> 15 */
int sv_parse_signal(const char *s, int *signo, sv_error_t *err);
const char *sv_signal_name(int signo);

#endif

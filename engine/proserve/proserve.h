/* The ProServe service host: the process a ProServe manifest's service
 * runs (`servos proserve-host MANIFEST.json`, inside the service's
 * container). An HTTP front (libmicrohttpd, loaded on first use) answers
 * the manifest's endpoints: inline responses, script and shell handlers
 * (each request in a fresh isolated process, see phandler.h), static files,
 * /health and /metrics; background tasks run beside it. */
#ifndef SV_PROSERVE_H
#define SV_PROSERVE_H

#include "core/util.h"

/* Serve the manifest (the graph's `proserve` body as JSON) until SIGTERM
 * or SIGINT. Returns the process exit code. */
int sv_proserve_serve(const char *manifest_json);

#endif

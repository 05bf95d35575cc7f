/* The service graph for another engine: Kubernetes objects (`servos
 * export kubernetes`) or a Compose file (`servos export compose`). Made
 * from the graph alone, never from the input file, so every front end
 * exports the same way. Plan, then write: every object and every warning
 * is planned first; an error (or a warning under strict) writes nothing.
 * Every key of the graph is either mapped or a warning that names it and
 * the service (xkeys.c lists which, and `--keys` prints that list). */
#ifndef SV_EXPORT_H
#define SV_EXPORT_H

#include "export/xdoc.h"
#include "graph/graph.h"

enum sv_export_publish {
    SV_PUBLISH_LOADBALANCER, /* a Service of type LoadBalancer per published service */
    SV_PUBLISH_NODEPORT,     /* ... of type NodePort */
    SV_PUBLISH_HOSTPORT,     /* hostPort on the container, as servos publishes on its host */
};

struct sv_export_opts {
    const char *namespace;      /* metadata.namespace of every object, or NULL */
    const char *image_registry; /* where images of the local store are pushed, or NULL */
    const char *host_image;     /* what image "host" becomes, or NULL: an error */
    const char *servos_image;   /* ProServe services' image, or NULL: REGISTRY/servos:VERSION */
    const char *wait_image;     /* the init containers' that wait for a dependency */
    const char *cluster_domain; /* the cluster's DNS domain (cluster.local) */
    const char *volume_size;    /* a claim's size unless a service's label says */
    const char *version;        /* servos' own, for the default servos image */
    enum sv_export_publish publish;
    bool allow_hostpath, strict;
    const char *const *statefulsets; /* services asked to be StatefulSets, NULL-terminated */
};

/* One object (Kubernetes) or the whole file (Compose), in writing order. */
struct sv_export_obj {
    const char *kind, *name;
    const char *file;   /* its file under -o DIR */
    bool secret;        /* holds secret data: its file is 0600 */
    struct sv_xn *root; /* the document */
};

struct sv_export {
    struct sv_xdoc doc; /* every node and string below */
    struct sv_export_obj *objs;
    size_t n_objs;
    char **warnings; /* "file:line: service "x": key: what" */
    size_t n_warnings;
};

void sv_export_clear(struct sv_export *x);
static inline void sv_export_clearp(struct sv_export *x)
{
    sv_export_clear(x);
}
#define cleanup_export __attribute__((cleanup(sv_export_clearp)))

/* kube.c: plan the export of g into x (initialised with {0}). Fails on what cannot
 * run on the other engine (an image of this host, a UDP port, a name
 * collision), naming the service and the key; warnings are in x. */
int sv_kube_export(const struct sv_graph *g, const struct sv_export_opts *o, struct sv_export *x,
                   sv_error_t *err);
/* xcompose.c */
int sv_xcompose_export(const struct sv_graph *g, const struct sv_export_opts *o,
                       struct sv_export *x, sv_error_t *err);

/* Write x: dir "-" is one multi-document stream on stdout; else one file
 * per object in dir (made if missing), each written whole or not at all. */
int sv_export_write(const struct sv_export *x, const char *dir, sv_error_t *err);
/* The one object of x (a Compose file) to path, whole or not at all. */
int sv_export_write_file(const struct sv_export *x, const char *path, sv_error_t *err);

/* xkeys.c: every key of a service and of the stack in `servos config`,
 * and what each becomes; compose: for the Compose file, else Kubernetes.
 * Printed one per line: KEY, "mapped" or "warning", and how. */
void sv_xkeys_print(FILE *out, bool compose);

#endif

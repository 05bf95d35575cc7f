/* The parts of an export (export.h is its face):
 *   xdoc.c           the document tree and its YAML
 *   export.c         what both exporters share: warnings, errors, objects,
 *                    images, writing the result
 *   xnames.c         names, label values and quantities as Kubernetes wants them
 *   kube.c           the stack's objects: workloads, Services, claims,
 *                    network policies
 *   kube_pod.c       a service's pod: its container, security context,
 *                    probe, resources, init containers
 *   kube_vol.c       volumes, tmpfs, secrets and configs in a pod, and the
 *                    Secrets, ConfigMaps and claims they need
 *   kube_proserve.c  a ProServe service: servos' service host with its
 *                    manifest and handlers in a ConfigMap
 *   xcompose.c       the Compose file
 *   xkeys.c          every graph key and what it becomes */
#ifndef SV_EXPORT_INT_H
#define SV_EXPORT_INT_H

#include "export/export.h"

/* A named volume: who mounts it (kube_vol.c). */
struct kvol_stat {
    const char *name;
    size_t users; /* pods that may mount it at once, 2 standing for "several" */
    int64_t size; /* the largest servos.volume.size of its services, or 0 */
    bool used, only_sts;
    long last; /* the service counted last */
};

/* One export being planned. */
struct xp {
    const struct sv_graph *g;
    const struct sv_export_opts *o;
    struct sv_export *x;
    struct sv_xdoc *d;
    sv_error_t *err;
    const char **names; /* each service's name on the other engine (parallel to g->services) */
    bool *job;          /* a service that another waits to complete: a Job */
    bool *sts;          /* a StatefulSet */
    const char *stack;  /* the stack's name as a label value */
    struct kvol_stat *vstats; /* sorted by name */
    size_t n_vstats;
};

/* ---- export.c ---- */

/* A warning: "file:line: service "NAME": KEY: what" (s NULL: the stack's
 * "STACK: KEY: what"). */
void sv_export_warn(struct xp *p, const struct sv_service *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same as the export's error; returns -1. */
int sv_export_fail(struct xp *p, const struct sv_service *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A new object with an empty root map, written to file under -o DIR. */
struct sv_export_obj *sv_export_add(struct xp *p, const char *kind, const char *name,
                                    const char *file);
/* A Kubernetes object, its root holding apiVersion, kind and metadata (name,
 * namespace, the stack's labels, and the git source's annotations);
 * its file is NAME-KIND.yaml. */
struct sv_xn *sv_export_object(struct xp *p, const char *api, const char *kind, const char *name);
/* Its metadata's labels or annotations map, made on first use. */
struct sv_xn *sv_export_meta(struct xp *p, struct sv_xn *root, const char *which);
/* The image s runs on the other engine: its reference, a local image's
 * under --image-registry, or --host-image for "host"; an error names the
 * service when it cannot run there (a root file system path, "host"). */
int sv_export_image(struct xp *p, const struct sv_service *s, const char **out);
/* The servos image (ProServe services). */
const char *sv_export_servos_image(struct xp *p);
/* The value of s's label key, or NULL. */
const char *sv_export_label(const struct sv_service *s, const char *key);

/* ---- xnames.c ---- */

/* s as a DNS label (RFC 1123; RFC 1035 when letter_first): lowercase
 * letters, digits and "-", at most 63 characters (a longer one keeps a
 * hash of the rest). */
const char *sv_xname_dns(struct sv_xdoc *d, const char *s, bool letter_first);
/* name + "-" + suffix as a DNS label of at most 63. */
const char *sv_xname_join(struct sv_xdoc *d, const char *name, const char *suffix);
/* Is s a label key (prefix/name) or value Kubernetes accepts? */
bool sv_xname_label_key_ok(const char *s);
bool sv_xname_label_value_ok(const char *s);
/* bytes as a quantity ("256Mi", "1Gi", or bytes); cpus as one ("500m", "2"). */
const char *sv_xname_bytes(struct sv_xdoc *d, int64_t bytes);
const char *sv_xname_cpus(struct sv_xdoc *d, double cpus);
/* ms in whole seconds, rounded up (at least min); *exact: no rounding. */
int64_t sv_xname_seconds(int64_t ms, int64_t min, bool *exact);
/* A duration as Compose writes it: "1500ms", "30s", "2m". */
const char *sv_xname_duration(struct sv_xdoc *d, int64_t ms);
/* A capability as Kubernetes names it: "NET_ADMIN" (no CAP_, upper case). */
const char *sv_xname_cap(struct sv_xdoc *d, const char *cap);

/* ---- kube_pod.c ---- */

/* s's pod template spec into spec (a map); job: restartPolicy for a Job;
 * claims: a StatefulSet's volumeClaimTemplates (see sv_kvol_pod). */
int sv_kpod_spec(struct xp *p, const struct sv_service *s, struct sv_xn *spec, bool job,
                 struct sv_xn *claims);
/* The labels that select s's pods, into map. */
void sv_kpod_selector(struct xp *p, const struct sv_service *s, struct sv_xn *map);
/* s's own labels (those Kubernetes takes as labels) into labels, the rest
 * and servos' own notes into the annotations of root (an object, or a
 * pod template: a map with metadata). */
void sv_kpod_labels(struct xp *p, const struct sv_service *s, struct sv_xn *labels,
                    struct sv_xn *root);
/* Is s reached by name (a Service of its own)? Not on network none or host. */
bool sv_kpod_reachable(const struct sv_service *s);

/* ---- kube_vol.c ---- */

/* s's mounts, secrets and configs: volumeMounts into ctr, volumes into
 * spec; claims: the StatefulSet's volumeClaimTemplates (NULL for other
 * workloads, whose named volumes are claims of the stack). */
int sv_kvol_pod(struct xp *p, const struct sv_service *s, struct sv_xn *spec, struct sv_xn *ctr,
                struct sv_xn *claims);
/* The stack's Secrets and ConfigMaps, and the claims of its named
 * volumes (but those only StatefulSets use). */
int sv_kvol_objects(struct xp *p);
/* A claim's spec (access modes, size) for volume name, as services use it. */
int sv_kvol_claim_spec(struct xp *p, const char *volume, struct sv_xn *spec);
/* Does s mount a named volume? */
bool sv_kvol_has_named(const struct sv_service *s);

/* ---- kube_proserve.c ---- */

/* A ProServe service runs servos' service host: its ConfigMap (the
 * manifest and the files it names), made before the workload; *items:
 * the files, for sv_kps_mounts. Fails when there is no servos image. */
int sv_kps_container(struct xp *p, const struct sv_service *s, struct sv_xn **items);
/* The container's image and command; its probe (GET /health); its mounts
 * of the ConfigMap: the manifest, and the files at the pod's base_dir. */
void sv_kps_process(struct xp *p, const struct sv_service *s, struct sv_xn *ctr);
void sv_kps_probe(struct xp *p, const struct sv_service *s, struct sv_xn *ctr);
void sv_kps_mounts(struct xp *p, const struct sv_service *s, struct sv_xn *spec, struct sv_xn *ctr,
                   struct sv_xn *items);

#endif

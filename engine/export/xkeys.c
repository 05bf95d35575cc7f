/* Every key `servos config` prints, and what each export makes of it:
 * "mapped" (and how) or "warning" (no counterpart: a warning names the
 * key and the service whenever a service sets it). tests/88-export.t
 * holds this list against the graph's keys, so a key added to the graph
 * and forgotten here fails there. */
#include "export/export.h"

static const struct xkey {
    const char *key;
    const char *kube; /* NULL: a warning */
    const char *compose;
} keys[] = {
    {"stack", "label app.kubernetes.io/part-of of every object", "name"},
    {"source", "annotation servos/source (a stack from git)", NULL},
    {"commit", "annotation servos/commit (a stack from git)", NULL},
    {"volumes", "a PersistentVolumeClaim each (size: label servos.volume.size, else --volume-size)",
     "volumes"},
    {"networks", "a NetworkPolicy each: members take traffic from one another only", "networks"},
    {"networks.internal", "nothing to do: no published Service reaches a service only there",
     "networks.*.internal"},
    {"secrets", "a Secret each", "secrets (file or environment)"},
    {"configs", "a ConfigMap each", "configs (file, environment or content)"},
    {"service.image",
     "image (a local image under --image-registry; \"host\" only with --host-image)", "image"},
    {"service.command", "args", "command"},
    {"service.entrypoint", "command", "entrypoint"},
    {"service.env", "env", "environment"},
    {"service.replicas", "replicas", "deploy.replicas"},
    {"service.memory", "resources.limits and requests, memory", "deploy.resources.limits.memory"},
    {"service.cpus", "resources.limits and requests, cpu", "deploy.resources.limits.cpus"},
    {"service.pids", NULL, "deploy.resources.limits.pids"},
    {"service.volumes",
     "volumeMounts: a claim, an emptyDir (anonymous; tmpfs: medium Memory, sizeLimit), a "
     "hostPath only with --allow-hostpath",
     "volumes"},
    {"service.ports",
     "a headless Service's ports, and a Service of type LoadBalancer or NodePort (or hostPort) "
     "with a NetworkPolicy that lets them in",
     "ports"},
    {"service.depends_on",
     "an init container per started or healthy dependency, waiting for its Service; completed: a "
     "Job, and a warning",
     "depends_on"},
    {"service.restart",
     "a Deployment restarts always (on-failure: a warning); a Job's restartPolicy", "restart"},
    {"service.healthcheck", "readinessProbe (exec)", "healthcheck"},
    {"service.working_dir", "workingDir", "working_dir"},
    {"service.user", "securityContext runAsUser, runAsGroup (numeric ids; a name: a warning)",
     "user"},
    {"service.hostname", "hostname", "hostname"},
    {"service.read_only", "securityContext readOnlyRootFilesystem", "read_only"},
    {"service.init", "shareProcessNamespace (the pause process is pid 1)", "init"},
    {"service.tty", "tty", "tty"},
    {"service.stdin_open", "stdin", "stdin_open"},
    {"service.cap_add", "securityContext capabilities: drop ALL, add servos' set", "cap_add"},
    {"service.cap_drop", "securityContext capabilities: drop ALL, add servos' set", "cap_drop"},
    {"service.stop_signal", NULL, "stop_signal"},
    {"service.stop_grace_period_ms", "terminationGracePeriodSeconds", "stop_grace_period"},
    {"service.labels", "labels (annotations where Kubernetes refuses them as labels)", "labels"},
    {"service.network", "host: hostNetwork; none: a NetworkPolicy that lets nothing in or out",
     "network_mode"},
    {"service.userns", "hostUsers: false (auto)", "userns_mode (host)"},
    {"service.platform", "nodeSelector kubernetes.io/os and arch (an OCI platform)", "platform"},
    {"service.board", NULL, NULL},
    {"service.toolchain", NULL, NULL},
    {"service.emulate", NULL, NULL},
    {"service.flash", NULL, NULL},
    {"service.profiles", "annotation servos/profiles", "profiles"},
    {"service.logging", NULL, "logging"},
    {"service.proserve",
     "servos' service host in --servos-image, the manifest and its files in a ConfigMap",
     "servos' service host in --servos-image, the manifest as a config"},
    {"service.container_name", "hostname, and a headless Service of that name", "container_name"},
    {"service.networks",
     "pod labels the networks' NetworkPolicies select; aliases: headless Services", "networks"},
    {"service.secrets", "a Secret's file (subPath) at its target, with its mode", "secrets"},
    {"service.configs", "a ConfigMap's file (subPath) at its target, with its mode", "configs"},
    {"service.sysctls", "securityContext sysctls", "sysctls"},
    {"service.extra_hosts", "hostAliases", "extra_hosts"},
    {"service.devices", NULL, "devices"},
    {"service.build", NULL, "build (context, dockerfile, target, args)"},
};

void sv_xkeys_print(FILE *out, bool compose)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(keys); i++) {
        const char *how = compose ? keys[i].compose : keys[i].kube;
        fprintf(out, "%-30s %-8s %s\n", keys[i].key, how ? "mapped" : "warning",
                how ? how : "no counterpart: a warning names the service");
    }
}

/*
 * The runtime side of CNI, as libcni (containernetworking/cni) does it (docs/agent.md "CNI"):
 * the network is the first configuration file of the conf dir in lexical order (.conflist, or a
 * single-plugin .conf/.json); ADD runs its plugins in order, each with the previous one's result
 * as prevResult; the final result is cached in libcni's format under
 * <cache-dir>/results/<network>-<containerID>-<ifname>; DEL runs the plugins in reverse order with
 * the cached result; CHECK in order with it; GC deletes cached attachments that no pod owns and
 * then sends GC (CNI 1.1) with the valid attachments. Plugins are found in the bin dirs
 * (colon-separated, CNI_PATH) and run with the CNI_* environment; a failing plugin's error JSON
 * becomes the error message (code = the CNI error code).
 *
 * Thread-safe: the loaded network is read-only; every call spawns its own processes.
 */
#ifndef K8C_AGENT_CNI_RUNTIME_H
#define K8C_AGENT_CNI_RUNTIME_H

#include <jansson.h>

#include "error.h"

struct k8c_cni_opts {
	const char *bin_dir;   /* colon-separated plugin directories (CNI_PATH) */
	const char *conf_dir;  /* network configurations */
	const char *cache_dir; /* libcni's result cache */
};

/* One pod's attachment. */
struct k8c_cni_att {
	const char *container_id; /* the sandbox id (the agent uses the pod uid) */
	const char *netns;  /* path of the pod's network namespace; NULL/"" on a DEL without */
	const char *ifname; /* "eth0" */
	const char *pod_namespace, *pod_name, *pod_uid; /* CNI_ARGS K8S_POD_* (may be NULL) */
};

struct k8c_cni;

/*
 * Write <conf_dir>/10-k8c.conflist for this node (bridge `bridge`, k8c-host-local over pod_cidr
 * with its reservations in ipam_data_dir, masquerade except toward cluster_cidr (may be NULL:
 * pod-to-pod traffic across nodes keeps the pod's address) unless the conf dir already holds a
 * configuration. Returns 1 when written, 0 when one was there, -1 on error.
 */
int k8c_cni_write_default_conf(const char *conf_dir, const char *bridge, const char *pod_cidr,
			       const char *ipam_data_dir, const char *cluster_cidr,
			       struct k8c_error *err);

/* Load the network from opts->conf_dir (first file in lexical order). */
struct k8c_cni *k8c_cni_new(const struct k8c_cni_opts *opts, struct k8c_error *err);
void k8c_cni_free(struct k8c_cni *c);
const char *k8c_cni_network_name(const struct k8c_cni *c);

/* ADD through the chain; *result (may be NULL) receives the final result (new reference). */
int k8c_cni_add(struct k8c_cni *c, const struct k8c_cni_att *a, json_t **result,
		struct k8c_error *err);
/* DEL in reverse order with the cached result; removes the cache entry. Idempotent. */
int k8c_cni_del(struct k8c_cni *c, const struct k8c_cni_att *a, struct k8c_error *err);
/* CHECK (cniVersion >= 0.4.0) with the cached result. */
int k8c_cni_check(struct k8c_cni *c, const struct k8c_cni_att *a, struct k8c_error *err);
/* The cached result of an attachment (new reference), or NULL with err->code ENOENT. */
json_t *k8c_cni_cached_result(struct k8c_cni *c, const char *container_id, const char *ifname,
			      struct k8c_error *err);
/*
 * Container ids with a cache entry of this network (NULL-terminated, malloc'd; free each and the
 * array).
 */
char **k8c_cni_cached_ids(struct k8c_cni *c, struct k8c_error *err);
/*
 * Delete every cached attachment whose container id is not in valid (NULL-terminated), with the
 * configuration it was added with, then (cniVersion >= 1.1.0) GC with the valid attachments.
 * Returns the number of attachments deleted, or -1 (the deletions that worked stay done).
 */
int k8c_cni_gc(struct k8c_cni *c, const char *const *valid, const char *ifname,
	       struct k8c_error *err);

#endif

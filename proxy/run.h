/* k8c-proxy's event loop: informers on Services and EndpointSlices -> model -> backend. */
#ifndef K8C_PROXY_RUN_H
#define K8C_PROXY_RUN_H

#include "backend.h"
#include "kubeconfig.h"
#include "model.h"
#include "nodeaddr.h"

struct proxy_run_opts {
	const struct proxy_backend_ops *ops;
	void *be;
	struct proxy_model *m;
	const struct k8c_kubeconfig *kc;
	/* syncs at most this often; a change after a quiet time goes at once */
	unsigned min_sync_ms;
	const char *metrics_addr; /* host:port for /healthz and /metrics, or NULL */
	int netns_fd; /* the node's network namespace (health-check ports), -1: the current one */
	/* --nodeport-addresses (NULL: every local address): re-resolved when the node's addresses
	 * change and, with `primary`, from the Node named node_name (an informer on it) */
	struct proxy_npaddr *npaddr;
	const char *node_name;
};

/* Runs until SIGTERM or SIGINT (returns 0) or a fatal error (-1, err set). The rules stay in
 * place when it returns, so a restarted proxy takes over without touching the data path. */
int proxy_run(const struct proxy_run_opts *o, struct k8c_error *err);

#endif

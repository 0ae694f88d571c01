/* k8c-server's HTTPS front end: TLS with client certificates, h2o evloop, the API handlers. */
#ifndef K8C_SERVER_H
#define K8C_SERVER_H

#include "ctrl_manager.h"
#include "error.h"

struct server_config {
	const char *data_dir;	  /* state.db, pki/, admin.kubeconfig */
	const char *bind_address; /* IPv4 or IPv6 literal; 0.0.0.0 = every address */
	int port;
	int kube_minor;	      /* the Kubernetes minor version /version reports */
	int compact_interval; /* seconds between compactions, 0 = never */
	int event_ttl;	      /* seconds an Event is kept after its last write, 0 = forever */
	int threads;	      /* event-loop threads (>= 1) */
	const struct ctrl_flags *ctrl; /* the in-process controller manager (server_ctrl.h) */
};

/*
 * Open the store, make the certificates, create the default namespaces and serve until SIGTERM
 * or SIGINT; then close the watches and the store and return 0.
 */
int server_run(const struct server_config *cfg, struct k8c_error *err);

#endif

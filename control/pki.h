/*
 * The cluster's certificates: a CA, the API server's serving certificate and the admin client
 * certificate, made on first start under <data-dir>/pki and reused afterwards, and
 * <data-dir>/admin.kubeconfig with everything embedded, so that kubectl works with
 * KUBECONFIG=<data-dir>/admin.kubeconfig and nothing else.
 */
#ifndef K8C_PKI_H
#define K8C_PKI_H

#include <stddef.h>

#include "error.h"

struct pki_request {
	const char *data_dir; /* files go to <data_dir>/pki and <data_dir>/admin.kubeconfig */
	const char *const
		*san_ips; /* serving certificate IP SANs (127.0.0.1, node IPs, 10.96.0.1) */
	size_t n_san_ips;
	const char *const
		*san_dns; /* DNS SANs (localhost, kubernetes, kubernetes.default.svc...) */
	size_t n_san_dns;
	const char *server_url;	  /* written into the kubeconfig, e.g. https://127.0.0.1:6443 */
	const char *cluster_name; /* kubeconfig cluster/context name, e.g. "k8c" */
};

struct pki_paths {
	char *ca_crt, *ca_key;
	char *server_crt, *server_key;
	char *admin_crt, *admin_key; /* CN=kubernetes-admin, O=system:masters */
	char *kubeconfig;
};

/*
 * Make what is missing (keys: EC P-256; CA valid 10 years, leaf certificates 1 year, renewed when
 * they expire within 30 days or the serving certificate lacks a requested SAN), reuse what
 * exists, write the kubeconfig (always rewritten, atomically). Private keys are mode 0600.
 */
int pki_ensure(const struct pki_request *req, struct pki_paths *out, struct k8c_error *err);
void pki_paths_free(struct pki_paths *p);

#endif

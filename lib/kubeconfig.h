/*
 * Where an API client finds the API server and how it authenticates: a kubeconfig file (as
 * kubectl reads it) or the in-cluster service account. The result holds everything in memory
 * (certificates and keys as PEM blobs, the token as a string), so the client never reopens a file.
 */
#ifndef K8C_KUBECONFIG_H
#define K8C_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct k8c_kubeconfig {
	char *source;	       /* the file read, or "in-cluster config", for messages */
	char *context;	       /* context used; NULL for in-cluster */
	char *server;	       /* "https://host:port" with no trailing '/' */
	char *tls_server_name; /* cluster.tls-server-name, or NULL */
	char *ca;	       /* PEM of the CA bundle, or NULL (the system's CAs) */
	size_t ca_len;
	bool insecure; /* insecure-skip-tls-verify */
	char *cert;    /* client certificate PEM, or NULL */
	size_t cert_len;
	char *key; /* client key PEM, or NULL */
	size_t key_len;
	char *token;	  /* bearer token, or NULL */
	char *token_file; /* where the token was read from (re-readable), or NULL */
	char *namespace;  /* the context's namespace, or "default" */
};

/*
 * Read kubeconfig file `path`, with `context` overriding current-context when not NULL. Relative
 * file names inside are resolved against the kubeconfig's directory, as kubectl does. Errors
 * name the file and the field: "kubeconfig /x/config: user \"admin\": client-key-data: not
 * valid base64".
 */
int k8c_kubeconfig_load(const char *path, const char *context, struct k8c_kubeconfig *out,
			struct k8c_error *err);
/* As k8c_kubeconfig_load() on a document in memory; `name` is used in messages. */
int k8c_kubeconfig_parse(const char *name, const char *text, size_t len, const char *base_dir,
			 const char *context, struct k8c_kubeconfig *out, struct k8c_error *err);
/*
 * In-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, and the service
 * account's token, ca.crt and namespace in `dir` (NULL: /var/run/secrets/kubernetes.io/
 * serviceaccount).
 */
int k8c_kubeconfig_in_cluster(const char *dir, struct k8c_kubeconfig *out, struct k8c_error *err);
/*
 * What a component's --kubeconfig flag means: `path` if set, else $KUBECONFIG (its first entry),
 * else the in-cluster config when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
 */
int k8c_kubeconfig_default(const char *path, const char *context, struct k8c_kubeconfig *out,
			   struct k8c_error *err);
void k8c_kubeconfig_free(struct k8c_kubeconfig *cfg);

/* Decode base64 (standard alphabet, padding optional, whitespace ignored); NULL when invalid. */
char *k8c_base64_decode(const char *in, size_t *out_len);

#endif

/*
 * TLS for k8c-ingress: SSL_CTXs from kubernetes.io/tls Secrets, a self-signed default certificate,
 * chosen per connection by SNI (docs/ingress.md).
 */
#ifndef K8C_INGRESS_TLS_H
#define K8C_INGRESS_TLS_H

#include <jansson.h>
#include <openssl/ssl.h>

#include "error.h"

/* A server context with a self-signed certificate for CN "k8c-ingress default" (new key). */
SSL_CTX *ing_tls_default_ctx(struct k8c_error *err);
/* A server context from a Secret of type kubernetes.io/tls (tls.crt chain, tls.key). */
SSL_CTX *ing_tls_secret_ctx(const json_t *secret, struct k8c_error *err);
/* SSL_CTX_free for the route table's ctx_free. */
void ing_tls_ctx_free(void *ctx);
/* The informer transform for Secrets: metadata, type, and data only for kubernetes.io/tls. */
json_t *ing_tls_secret_transform(json_t *obj);

#endif

/*
 * Service-account tokens: JWTs signed RS256 with the cluster's service-account key
 * (<data-dir>/pki/sa.key, public half sa.pub), made by the API server (TokenRequest) and by the
 * legacy token controller, verified by the API server (control/api_auth.c). OpenSSL.
 */
#ifndef K8C_SA_TOKEN_H
#define K8C_SA_TOKEN_H

#include <stdbool.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "error.h"

/* The issuer (iss) of bound tokens and their default audience, as kubeadm's clusters. */
#define SA_TOKEN_ISSUER "https://kubernetes.default.svc.cluster.local"
/* The issuer of legacy Secret-based tokens, as kube's. */
#define SA_TOKEN_LEGACY_ISSUER "kubernetes/serviceaccount"

/* Load key_path (RSA private key PEM), or make a 2048-bit one there (0600) and its public key
 * at pub_path when key_path does not exist. */
EVP_PKEY *sa_key_ensure(const char *key_path, const char *pub_path, struct k8c_error *err);
/* Load a private key PEM file. */
EVP_PKEY *sa_key_load(const char *key_path, struct k8c_error *err);

/* header.claims.signature, RS256, kid from the public key (malloc'd). */
char *sa_token_sign(EVP_PKEY *key, const json_t *claims, struct k8c_error *err);
/*
 * Check the signature (RS256 only) and exp/nbf against now; the claims (new reference) or NULL
 * with err.
 */
json_t *sa_token_verify(EVP_PKEY *key, const char *token, struct k8c_error *err);

/* Standard base64 with padding (malloc'd), for Secret data. */
char *sa_base64(const void *in, size_t len);

#endif

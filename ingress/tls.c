/* TLS contexts of k8c-ingress (tls.h). */
#include <string.h>

#include <h2o.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "kubeconfig.h"
#include "tls.h"

static SSL_CTX *base_ctx(struct k8c_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		k8c_error_set(err, 0, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
	return ctx;
}

static int ssl_error(struct k8c_error *err, const char *what)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	return k8c_error_set(err, 0, "%s: %s", what, e ? ERR_error_string(e, NULL) : "failed");
}

SSL_CTX *ing_tls_default_ctx(struct k8c_error *err)
{
	SSL_CTX *ctx = base_ctx(err);
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	X509_NAME *name;

	if (!ctx)
		return NULL;
	if (!(key = EVP_EC_gen("P-256")) || !(crt = X509_new())) {
		ssl_error(err, "default certificate: key");
		goto fail;
	}
	X509_set_version(crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), 10L * 365 * 24 * 3600);
	X509_set_pubkey(crt, key);
	name = X509_get_subject_name(crt);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"k8c-ingress default", -1, -1, 0);
	X509_set_issuer_name(crt, name);
	if (!X509_sign(crt, key, EVP_sha256()) || SSL_CTX_use_certificate(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		ssl_error(err, "default certificate");
		goto fail;
	}
	X509_free(crt);
	EVP_PKEY_free(key);
	return ctx;
fail:
	X509_free(crt);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *ing_tls_secret_ctx(const json_t *secret, struct k8c_error *err)
{
	const json_t *data = json_object_get(secret, "data");
	const char *type = json_string_value(json_object_get(secret, "type"));
	const char *crt64 = json_string_value(json_object_get(data, "tls.crt"));
	const char *key64 = json_string_value(json_object_get(data, "tls.key"));
	_cleanup_free_ char *crt = NULL, *key = NULL;
	size_t crt_len = 0, key_len = 0;
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;

	if (!type || strcmp(type, "kubernetes.io/tls")) {
		k8c_error_set(err, 0, "type is %s, not kubernetes.io/tls", type ? type : "unset");
		return NULL;
	}
	if (!crt64 || !key64 || !(crt = k8c_base64_decode(crt64, &crt_len)) ||
	    !(key = k8c_base64_decode(key64, &key_len))) {
		k8c_error_set(err, 0, "data has no valid tls.crt and tls.key");
		return NULL;
	}
	if (!(ctx = base_ctx(err)))
		return NULL;
	bio = BIO_new_mem_buf(crt, (int)crt_len);
	if (!bio || !(x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		ssl_error(err, "tls.crt");
		goto fail;
	}
	X509_free(x);
	x = NULL;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) { /* the rest of the chain */
		if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			ssl_error(err, "tls.crt chain");
			goto fail;
		}
		x = NULL; /* owned by ctx */
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_mem_buf(key, (int)key_len);
	if (!bio || !(pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, "tls.key");
		goto fail;
	}
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return ctx;
fail:
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

void ing_tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

json_t *ing_tls_secret_transform(json_t *obj)
{
	const json_t *md = json_object_get(obj, "metadata");
	const char *type = json_string_value(json_object_get(obj, "type"));
	json_t *out = json_object(), *m = json_object();
	static const char *const keep[] = {"name", "namespace", "resourceVersion", "uid"};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (json_object_get(md, keep[i]))
			json_object_set(m, keep[i], json_object_get(md, keep[i]));
	json_object_set_new(out, "metadata", m);
	if (type)
		json_object_set(out, "type", json_object_get(obj, "type"));
	if (type && !strcmp(type, "kubernetes.io/tls") && json_object_get(obj, "data"))
		json_object_set(out, "data", json_object_get(obj, "data"));
	return out;
}

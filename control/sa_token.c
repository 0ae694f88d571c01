/* Service-account tokens: RS256 JWTs (sa_token.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "cleanup.h"
#include "sa_token.h"

static int ssl_error(struct k8c_error *err, const char *what)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	return k8c_error_set(err, 0, "%s: %s", what, e ? ERR_error_string(e, NULL) : "failed");
}

static char *b64(const unsigned char *in, size_t len, const char *t, bool pad)
{
	char *out = k8c_xmalloc(len * 4 / 3 + 4), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		*o++ = t[v >> 18 & 63], *o++ = t[v >> 12 & 63], *o++ = t[v >> 6 & 63],
		*o++ = t[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		*o++ = t[v >> 18 & 63], *o++ = t[v >> 12 & 63];
		if (pad)
			*o++ = '=', *o++ = '=';
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		*o++ = t[v >> 18 & 63], *o++ = t[v >> 12 & 63], *o++ = t[v >> 6 & 63];
		if (pad)
			*o++ = '=';
	}
	*o = 0;
	return out;
}

static char *b64url(const unsigned char *in, size_t len)
{
	return b64(in, len, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		   false);
}

char *sa_base64(const void *in, size_t len)
{
	return b64(in, len, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
		   true);
}

/* base64url without padding; NULL when invalid. */
static unsigned char *b64url_decode(const char *in, size_t n, size_t *out_len)
{
	unsigned char *out = k8c_xmalloc(n * 3 / 4 + 3);
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int v = c >= 'A' && c <= 'Z'   ? c - 'A'
			: c >= 'a' && c <= 'z' ? c - 'a' + 26
			: c >= '0' && c <= '9' ? c - '0' + 52
			: c == '-'	       ? 62
			: c == '_'	       ? 63
					       : -1;

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = o;
	return out;
}

EVP_PKEY *sa_key_load(const char *key_path, struct k8c_error *err)
{
	FILE *f = fopen(key_path, "r");
	EVP_PKEY *k;

	if (!f) {
		k8c_error_errno(err, 0, errno, "service-account key %s", key_path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		ssl_error(err, "service-account key: not an RSA private key");
		k8c_error_wrap(err, "%s", key_path);
		return NULL;
	}
	return k;
}

static int write_pem(const char *path, EVP_PKEY *k, bool private, struct k8c_error *err)
{
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private ? 0600 : 0644);
	FILE *f;
	int ok;

	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "%s", tmp);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return k8c_error_errno(err, 0, errno, "%s", tmp);
	}
	ok = private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_PUBKEY(f, k);
	if (fclose(f) != 0 || !ok) {
		unlink(tmp);
		return k8c_error_set(err, 0, "%s: write failed", tmp);
	}
	if (rename(tmp, path) < 0)
		return k8c_error_errno(err, 0, errno, "rename %s", tmp);
	return 0;
}

EVP_PKEY *sa_key_ensure(const char *key_path, const char *pub_path, struct k8c_error *err)
{
	EVP_PKEY *k;

	if (access(key_path, F_OK) == 0) {
		if (!(k = sa_key_load(key_path, err)))
			return NULL;
		if (access(pub_path, F_OK) != 0 && write_pem(pub_path, k, false, err) < 0) {
			EVP_PKEY_free(k);
			return NULL;
		}
		return k;
	}
	if (!(k = EVP_RSA_gen(2048))) {
		ssl_error(err, "service-account key: RSA key generation");
		return NULL;
	}
	if (write_pem(key_path, k, true, err) < 0 || write_pem(pub_path, k, false, err) < 0) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* kid: base64url(SHA-256(DER of the public key)), as kube-apiserver's. */
static char *key_id(EVP_PKEY *key)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(key, &der);
	char *kid;

	if (n <= 0)
		return k8c_xstrdup("");
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	kid = b64url(md, sizeof(md));
	return kid;
}

char *sa_token_sign(EVP_PKEY *key, const json_t *claims, struct k8c_error *err)
{
	_cleanup_free_ char *kid = key_id(key), *hj = NULL, *cj = NULL, *h64 = NULL, *c64 = NULL,
			    *input = NULL, *s64 = NULL;
	_cleanup_json_ json_t *header = json_pack("{s:s, s:s}", "alg", "RS256", "kid", kid);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	char *out = NULL;

	hj = json_dumps(header, JSON_COMPACT);
	cj = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	h64 = b64url((const unsigned char *)hj, strlen(hj));
	c64 = b64url((const unsigned char *)cj, strlen(cj));
	input = k8c_xasprintf("%s.%s", h64, c64);
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input, strlen(input)) != 1) {
		ssl_error(err, "token signature");
		goto out;
	}
	sig = k8c_xmalloc(sig_len);
	if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1) {
		ssl_error(err, "token signature");
		goto out;
	}
	s64 = b64url(sig, sig_len);
	out = k8c_xasprintf("%s.%s", input, s64);
out:
	free(sig);
	EVP_MD_CTX_free(md);
	return out;
}

json_t *sa_token_verify(EVP_PKEY *key, const char *token, struct k8c_error *err)
{
	const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	_cleanup_free_ unsigned char *h = NULL, *c = NULL, *sig = NULL;
	_cleanup_json_ json_t *header = NULL, *claims = NULL;
	size_t hl, cl, sl;
	EVP_MD_CTX *md;
	int ok;
	json_t *exp, *nbf;
	time_t now = time(NULL);

	if (!d1 || !d2 || strchr(d2 + 1, '.')) {
		k8c_error_set(err, 401, "token: not a JWT");
		return NULL;
	}
	if (!(h = b64url_decode(token, (size_t)(d1 - token), &hl)) ||
	    !(c = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl)) ||
	    !(sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sl))) {
		k8c_error_set(err, 401, "token: bad base64url");
		return NULL;
	}
	header = json_loadb((const char *)h, hl, 0, NULL);
	claims = json_loadb((const char *)c, cl, 0, NULL);
	if (!json_is_object(header) || !json_is_object(claims)) {
		k8c_error_set(err, 401, "token: header or claims not a JSON object");
		return NULL;
	}
	if (!json_is_string(json_object_get(header, "alg")) ||
	    strcmp(json_string_value(json_object_get(header, "alg")), "RS256") != 0) {
		k8c_error_set(err, 401, "token: algorithm is not RS256");
		return NULL;
	}
	md = EVP_MD_CTX_new();
	ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, sig, sl, (const unsigned char *)token, (size_t)(d2 - token)) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok) {
		k8c_error_set(err, 401, "token: bad signature");
		return NULL;
	}
	exp = json_object_get(claims, "exp");
	nbf = json_object_get(claims, "nbf");
	if (exp && (!json_is_integer(exp) || json_integer_value(exp) < now)) {
		k8c_error_set(err, 401, "token: expired");
		return NULL;
	}
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + 60)) {
		k8c_error_set(err, 401, "token: not valid yet");
		return NULL;
	}
	return json_incref(claims);
}

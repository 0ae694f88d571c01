/*
 * Service-account tokens in the API server (api_auth.h): the bearer authenticator and
 * TokenRequest, as kube-apiserver's serviceaccount authenticator and TokenREST.
 *
 * Bound tokens (TokenRequest): iss https://kubernetes.default.svc.cluster.local, aud (must
 * include the issuer to be accepted here, kube's --api-audiences default), sub
 * system:serviceaccount:NS:NAME, exp/iat/nbf, and "kubernetes.io": {namespace, serviceaccount
 * {name, uid}, pod or secret {name, uid}}. Legacy tokens (Secrets of type
 * kubernetes.io/service-account-token, filled by the serviceaccount-token controller): iss
 * kubernetes/serviceaccount and the flat kubernetes.io/serviceaccount/... claims, no expiry;
 * accepted while the Secret still holds exactly that token. Either is refused (401) once its
 * service account (or bound object) is gone or was recreated with another uid.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_auth.h"
#include "api_kind.h"
#include "cleanup.h"
#include "kubeconfig.h"
#include "log.h"
#include "objutil.h"
#include "sa_token.h"

#define TOKEN_DEFAULT_S 3600
#define TOKEN_MIN_S	600

static EVP_PKEY *sa_key; /* read-only once the loops run */

int api_auth_init(const char *pki_dir, struct k8c_error *err)
{
	_cleanup_free_ char *key = k8c_xasprintf("%s/sa.key", pki_dir);
	_cleanup_free_ char *pub = k8c_xasprintf("%s/sa.pub", pki_dir);

	if (!(sa_key = sa_key_ensure(key, pub, err)))
		return -1;
	return 0;
}

void api_auth_free(void)
{
	EVP_PKEY_free(sa_key);
	sa_key = NULL;
}

/* The stored object at key, or NULL. */
static json_t *load(struct store *store, const char *key)
{
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *o;

	if (store_get(store, key, &kv, &err) < 0) {
		k8c_error_clear(&err);
		return NULL;
	}
	o = json_loadb(kv.value, kv.value_len, 0, NULL);
	store_kv_free(&kv);
	return o;
}

/* The object res/ns/name exists with this uid (uid NULL: any). */
static bool exists(struct store *store, const char *res, const char *ns, const char *name,
		   const char *uid)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_json_ json_t *o = NULL;
	const char *have;

	if (!ns || !name)
		return false;
	key = k8c_xasprintf("/registry/%s/%s/%s", res, ns, name);
	o = load(store, key);
	have = k8c_str_at(o, "metadata.uid");
	return o && (!uid || (have && strcmp(have, uid) == 0)) &&
	       !k8c_at(o, "metadata.deletionTimestamp");
}

static bool aud_ok(const json_t *aud)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), SA_TOKEN_ISSUER) == 0;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), SA_TOKEN_ISSUER) == 0)
			return true;
	}
	return false;
}

static bool check_bound(struct store *store, json_t *claims)
{
	json_t *k = json_object_get(claims, "kubernetes.io");
	const char *ns = k8c_str_at(k, "namespace");

	if (!aud_ok(json_object_get(claims, "aud")))
		return false;
	if (!exists(store, "serviceaccounts", ns, k8c_str_at(k, "serviceaccount.name"),
		    k8c_str_at(k, "serviceaccount.uid")))
		return false;
	if (json_object_get(k, "pod") &&
	    !exists(store, "pods", ns, k8c_str_at(k, "pod.name"), k8c_str_at(k, "pod.uid")))
		return false;
	if (json_object_get(k, "secret") &&
	    !exists(store, "secrets", ns, k8c_str_at(k, "secret.name"),
		    k8c_str_at(k, "secret.uid")))
		return false;
	return true;
}

static bool check_legacy(struct store *store, json_t *claims, const char *token)
{
	const char *ns = json_string_value(
		json_object_get(claims, "kubernetes.io/serviceaccount/namespace"));
	const char *sa = json_string_value(
		json_object_get(claims, "kubernetes.io/serviceaccount/service-account.name"));
	const char *uid = json_string_value(
		json_object_get(claims, "kubernetes.io/serviceaccount/service-account.uid"));
	const char *sec = json_string_value(
		json_object_get(claims, "kubernetes.io/serviceaccount/secret.name"));
	_cleanup_free_ char *key = NULL, *have = NULL;
	_cleanup_json_ json_t *secret = NULL;
	size_t len = 0;

	if (!exists(store, "serviceaccounts", ns, sa, uid) || !sec)
		return false;
	key = k8c_xasprintf("/registry/secrets/%s/%s", ns, sec);
	secret = load(store, key);
	if (!k8c_str_at(secret, "data.token") ||
	    !(have = k8c_base64_decode(k8c_str_at(secret, "data.token"), &len)))
		return false;
	return len == strlen(token) && memcmp(have, token, len) == 0;
}

bool api_auth_bearer(struct store *store, h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	_cleanup_free_ char *token = NULL;
	_cleanup_json_ json_t *claims = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *iss;
	h2o_iovec_t v;
	bool ok = false;

	if (i < 0 || !sa_key)
		return false;
	v = req->headers.entries[i].value;
	if (v.len <= 7 || strncasecmp(v.base, "Bearer ", 7) != 0)
		return false;
	token = k8c_xmalloc(v.len - 7 + 1);
	memcpy(token, v.base + 7, v.len - 7);
	token[v.len - 7] = 0;
	if (!(claims = sa_token_verify(sa_key, token, &err))) {
		k8c_log_debug("bearer token refused", "error=\"%s\"", err.msg);
		k8c_error_clear(&err);
		return false;
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	if (iss && strcmp(iss, SA_TOKEN_ISSUER) == 0)
		ok = check_bound(store, claims);
	else if (iss && strcmp(iss, SA_TOKEN_LEGACY_ISSUER) == 0)
		ok = check_legacy(store, claims, token);
	if (!ok)
		k8c_log_debug("bearer token refused",
			      "sub=\"%s\" reason=\"issuer, audience or "
			      "object gone\"",
			      json_string_value(json_object_get(claims, "sub"))
				      ? json_string_value(json_object_get(claims, "sub"))
				      : "");
	return ok;
}

void api_token_serve(struct api *api, h2o_req_t *req, const char *ns, const char *name)
{
	_cleanup_json_ json_t *b = NULL, *sa = NULL, *bound = NULL, *claims = NULL, *out = NULL;
	_cleanup_free_ char *key = NULL, *token = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *spec, *aud, *ref, *kio;
	long long exp_s;
	time_t now = time(NULL);
	char ts[21], exp_ts[21];

	if (req->method.len != 4 || memcmp(req->method.base, "POST", 4) != 0) {
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
		return;
	}
	/* JSON, YAML or protobuf (kubectl 1.33 sends a protobuf TokenRequest) */
	b = req->entity.len ? api_request_body(req) : json_object();
	if (!b)
		return;
	spec = json_object_get(b, "spec");
	exp_s = k8c_int_at(spec, "expirationSeconds", TOKEN_DEFAULT_S);
	if (exp_s < TOKEN_MIN_S || exp_s > (1LL << 32)) {
		api_send_status(req, 422, "Invalid",
				json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "name", name, "kind",
					  "TokenRequest", "causes", "reason", "FieldValueInvalid",
					  "message",
					  exp_s < TOKEN_MIN_S
						  ? "may not specify a duration less than 10 "
						    "minutes"
						  : "may not specify a duration larger than 2^32 "
						    "seconds",
					  "field", "spec.expirationSeconds"),
				"TokenRequest.authentication.k8s.io \"%s\" is invalid: "
				"spec.expirationSeconds: Invalid value: %lld: %s",
				name, exp_s,
				exp_s < TOKEN_MIN_S
					? "may not specify a duration less than 10 minutes"
					: "may not specify a duration larger than 2^32 seconds");
		return;
	}
	key = k8c_xasprintf("/registry/serviceaccounts/%s/%s", ns, name);
	if (!(sa = load(api->store, key))) {
		api_send_status(req, 404, "NotFound",
				json_pack("{s:s, s:s}", "name", name, "kind", "serviceaccounts"),
				"serviceaccounts \"%s\" not found", name);
		return;
	}
	aud = json_object_get(spec, "audiences");
	if (!json_is_array(aud) || json_array_size(aud) == 0)
		aud = NULL;
	kio = json_pack("{s:s, s:{s:s, s:s}}", "namespace", ns, "serviceaccount", "name", name,
			"uid",
			k8c_str_at(sa, "metadata.uid") ? k8c_str_at(sa, "metadata.uid") : "");
	ref = json_object_get(spec, "boundObjectRef");
	if (json_is_object(ref)) {
		const char *kind = k8c_str_at(ref, "kind"), *rname = k8c_str_at(ref, "name");
		const char *ruid = k8c_str_at(ref, "uid"), *res, *have;
		_cleanup_free_ char *rkey = NULL;

		res = kind && strcmp(kind, "Pod") == 0	    ? "pods"
		      : kind && strcmp(kind, "Secret") == 0 ? "secrets"
							    : NULL;
		if (!res || !rname) {
			json_decref(kio);
			api_send_status(req, 400, "BadRequest", NULL,
					"cannot bind token for object of kind %s (Pod and Secret "
					"are supported) with name \"%s\"",
					kind ? kind : "", rname ? rname : "");
			return;
		}
		rkey = k8c_xasprintf("/registry/%s/%s/%s", res, ns, rname);
		if (!(bound = load(api->store, rkey))) {
			json_decref(kio);
			api_send_status(req, 404, "NotFound",
					json_pack("{s:s, s:s}", "name", rname, "kind", res),
					"%s \"%s\" not found", res, rname);
			return;
		}
		have = k8c_str_at(bound, "metadata.uid");
		if (ruid && *ruid && (!have || strcmp(have, ruid) != 0)) {
			json_decref(kio);
			api_send_status(req, 409, "Conflict", NULL,
					"the UID in the bound object reference (%s) does not match "
					"the UID in record. The object might have been deleted and "
					"then recreated",
					ruid);
			return;
		}
		json_object_set_new(
			kio, strcmp(res, "pods") == 0 ? "pod" : "secret",
			json_pack("{s:s, s:s}", "name", rname, "uid", have ? have : ""));
	}
	claims =
		json_pack("{s:O?, s:I, s:I, s:s, s:I, s:o, s:s}", "aud", aud, "exp",
			  (json_int_t)(now + exp_s), "iat", (json_int_t)now, "iss", SA_TOKEN_ISSUER,
			  "nbf", (json_int_t)now, "kubernetes.io", kio, "sub", "");
	if (!aud)
		json_object_set_new(claims, "aud", json_pack("[s]", SA_TOKEN_ISSUER));
	json_object_set_new(claims, "sub", json_sprintf("system:serviceaccount:%s:%s", ns, name));
	if (!(token = sa_token_sign(sa_key, claims, &err))) {
		api_send_status(req, 500, "InternalError", NULL, "%s", err.msg);
		k8c_error_clear(&err);
		return;
	}
	k8c_rfc3339(now, ts);
	k8c_rfc3339(now + exp_s, exp_ts);
	out = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:O, s:I}, s:{s:s, s:s}}", "kind",
			"TokenRequest", "apiVersion", "authentication.k8s.io/v1", "metadata",
			"name", name, "namespace", ns, "creationTimestamp", ts, "spec", "audiences",
			json_object_get(claims, "aud"), "expirationSeconds", (json_int_t)exp_s,
			"status", "token", token, "expirationTimestamp", exp_ts);
	if (json_is_object(ref))
		json_object_set(json_object_get(out, "spec"), "boundObjectRef", ref);
	api_send_json(req, 201, out);
}

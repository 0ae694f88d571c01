/*
 * Namespaces: list, get, create, update, delete and watch over the store, keys
 * /registry/namespaces/<name>. The stored JSON carries no resourceVersion: it is the key's
 * mod_revision, set on the way out (as kube-apiserver's etcd3 storage does).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "api.h"
#include "cleanup.h"

#define NS_PREFIX "/registry/namespaces/"
#define KIND	  "Namespace"
/* a watch whose client does not keep up is ended once this much is queued */
#define WATCH_MAX_PENDING (16u * 1024 * 1024)

K8C_DEFINE_CLEANUP(store_kv_freep, struct store_kv, store_kv_free)

/* One requirement of a field or label selector: key=value, key!=value, key, !key. */
struct sel_req {
	char *key, *value; /* value NULL: existence test */
	bool negate;
};

struct selector {
	struct sel_req *reqs;
	size_t n;
};

static void selector_free(struct selector *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->reqs[i].key);
		free(s->reqs[i].value);
	}
	free(s->reqs);
	s->reqs = NULL;
	s->n = 0;
}

static char *trim_dup(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return strndup(s, len);
}

/* Equality-based selectors only ("in", "notin" come with the label index). */
static int selector_parse(const char *text, bool field, struct selector *out, struct k8c_error *err)
{
	const char *p = text;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		_cleanup_free_ char *term = trim_dup(p, len);
		struct sel_req r = {0};
		char *op;

		p += len + (comma ? 1 : 0);
		if (!*term)
			continue;
		if ((op = strstr(term, "!="))) {
			r.negate = true;
			r.key = trim_dup(term, (size_t)(op - term));
			r.value = trim_dup(op + 2, strlen(op + 2));
		} else if ((op = strstr(term, "=="))) {
			r.key = trim_dup(term, (size_t)(op - term));
			r.value = trim_dup(op + 2, strlen(op + 2));
		} else if ((op = strchr(term, '='))) {
			r.key = trim_dup(term, (size_t)(op - term));
			r.value = trim_dup(op + 1, strlen(op + 1));
		} else if (!field && term[0] == '!') {
			r.negate = true;
			r.key = trim_dup(term + 1, strlen(term + 1));
		} else if (!field && !strpbrk(term, " ()")) {
			r.key = k8c_xstrdup(term);
		} else {
			selector_free(out);
			return k8c_error_set(err, 400, "unable to parse requirement: \"%s\"", term);
		}
		if (!*r.key || strpbrk(r.key, " ()") || (r.value && strpbrk(r.value, " ()"))) {
			free(r.key);
			free(r.value);
			selector_free(out);
			return k8c_error_set(err, 400, "unable to parse requirement: \"%s\"", term);
		}
		if (field && strcmp(r.key, "metadata.name") != 0 &&
		    strcmp(r.key, "status.phase") != 0) {
			free(r.key);
			free(r.value);
			selector_free(out);
			return k8c_error_set(err, 400, "field label not supported: %s", term);
		}
		out->reqs = k8c_xrealloc(out->reqs, (out->n + 1) * sizeof(*out->reqs));
		out->reqs[out->n++] = r;
	}
	return 0;
}

static const char *field_value(json_t *obj, const char *key)
{
	if (strcmp(key, "metadata.name") == 0)
		return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	if (strcmp(key, "status.phase") == 0)
		return json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	return NULL;
}

static bool selector_match(const struct selector *s, json_t *obj, bool field)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");

	for (size_t i = 0; i < s->n; i++) {
		const struct sel_req *r = &s->reqs[i];
		const char *v = field ? field_value(obj, r->key)
				      : json_string_value(json_object_get(labels, r->key));
		bool ok;

		if (field && !v)
			v = "";
		if (!r->value)
			ok = (v != NULL) != r->negate;
		else if (r->negate)
			ok = !v || strcmp(v, r->value) != 0;
		else
			ok = v && strcmp(v, r->value) == 0;
		if (!ok)
			return false;
	}
	return true;
}

/* The stored object with its resourceVersion, or NULL when the stored bytes are not JSON. */
static json_t *ns_decode(const void *value, size_t len, int64_t rev)
{
	json_t *obj = json_loadb(value, len, 0, NULL);

	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	api_set_resource_version(obj, rev);
	return obj;
}

static json_t *table_columns(void)
{
	return json_pack("[{s:s, s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:s, s:i}, "
			 "{s:s, s:s, s:s, s:s, s:i}]",
			 "name", "Name", "type", "string", "format", "name", "description",
			 "Name must be unique within a namespace.", "priority", 0, "name", "Status",
			 "type", "string", "format", "", "description",
			 "The status of the namespace", "priority", 0, "name", "Age", "type",
			 "string", "format", "", "description",
			 "CreationTimestamp is a timestamp representing the server time when this "
			 "object was created.",
			 "priority", 0);
}

static json_t *table_row(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *phase =
		json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	char age[32];

	api_age(json_string_value(json_object_get(meta, "creationTimestamp")), age, sizeof(age));
	return json_pack("{s:[s,s,s], s:{s:s, s:s, s:O}}", "cells", name ? name : "",
			 phase ? phase : "", age, "object", "kind", "PartialObjectMetadata",
			 "apiVersion", "meta.k8s.io/v1", "metadata", meta);
}

static json_t *table_new(const char *rv)
{
	return json_pack("{s:s, s:s, s:{s:s}, s:o, s:[]}", "kind", "Table", "apiVersion",
			 "meta.k8s.io/v1", "metadata", "resourceVersion", rv, "columnDefinitions",
			 table_columns(), "rows");
}

static json_t *table_one(json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	json_t *t = table_new(rv ? rv : "");

	json_array_append_new(json_object_get(t, "rows"), table_row(obj));
	return t;
}

static void send_object(h2o_req_t *req, int status, json_t *obj)
{
	if (api_wants_table(req)) {
		_cleanup_json_ json_t *t = table_one(obj);

		api_send_json(req, status, t);
		return;
	}
	api_send_json(req, status, obj);
}

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
static const char *dns1123_label_error(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (c == '-' && i > 0 && i < n - 1)))
			return "a lowercase RFC 1123 label must consist of lower case alphanumeric "
			       "characters or '-', and must start and end with an alphanumeric "
			       "character (e.g. 'my-name',  or '123-abc', regex used for "
			       "validation "
			       "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
	}
	return n ? NULL : "name or generateName is required";
}

static void send_invalid(h2o_req_t *req, const char *name, const char *field, const char *value,
			 const char *detail)
{
	_cleanup_free_ char *msg = value ? k8c_xasprintf("Invalid value: \"%s\": %s", value, detail)
					 : k8c_xasprintf("Required value: %s", detail);
	json_t *details = json_pack(
		"{s:s, s:s, s:[{s:s, s:s, s:s}]}", "name", name, "kind", KIND, "causes", "reason",
		value ? "FieldValueInvalid" : "FieldValueRequired", "message", msg, "field", field);

	api_send_status(req, 422, "Invalid", details, "%s \"%s\" is invalid: %s: %s", KIND, name,
			field, msg);
}

static bool content_type_ok(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	h2o_iovec_t v;

	if (i < 0)
		return true; /* kubectl sends none on some PUTs: JSON */
	v = req->headers.entries[i].value;
	return v.len >= 16 && strncasecmp(v.base, "application/json", 16) == 0 &&
	       (v.len == 16 || v.base[16] == ';' || v.base[16] == ' ');
}

/* Merge patches only: JSON patch and server-side apply come later (415 until then). */
static bool patch_type_ok(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	h2o_iovec_t v;

	if (i < 0)
		return false;
	v = req->headers.entries[i].value;
	for (const char *const *t =
		     (const char *const[]){"application/merge-patch+json",
					   "application/strategic-merge-patch+json", NULL};
	     *t; t++) {
		size_t n = strlen(*t);

		if (v.len >= n && strncasecmp(v.base, *t, n) == 0 &&
		    (v.len == n || v.base[n] == ';' || v.base[n] == ' '))
			return true;
	}
	return false;
}

/* The request body as a JSON object, or NULL after answering the error. */
static json_t *parse_body(h2o_req_t *req, bool patch)
{
	json_error_t jerr;
	json_t *obj;

	if (!(patch ? patch_type_ok(req) : content_type_ok(req))) {
		ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
		h2o_iovec_t ct = i >= 0 ? req->headers.entries[i].value
					: h2o_iovec_init(H2O_STRLIT("no Content-Type"));

		api_send_status(req, 415, "UnsupportedMediaType", NULL,
				"the body of the request was in an unknown format - accepted media "
				"types include: %s (got %.*s)",
				patch ? "application/merge-patch+json, "
					"application/strategic-merge-patch+json"
				      : "application/json",
				(int)(ct.len > 100 ? 100 : ct.len), ct.base);
		return NULL;
	}
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return NULL;
	}
	obj = json_loadb(req->entity.base ? req->entity.base : "", req->entity.len, 0, &jerr);
	if (!obj) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request could not be decoded as JSON: %s",
				jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request must be a JSON object");
		return NULL;
	}
	return obj;
}

/* Check a Namespace (kind, apiVersion, metadata types); NULL after answering the error. */
static json_t *check_object(h2o_req_t *req, json_t *obj)
{
	json_t *meta, *v;
	const char *s;

	v = json_object_get(obj, "kind");
	s = json_string_value(v);
	if (v && (!s || (strcmp(s, KIND) != 0 && *s))) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL,
				"the kind of the object must be Namespace");
		return NULL;
	}
	v = json_object_get(obj, "apiVersion");
	s = json_string_value(v);
	if (v && (!s || (strcmp(s, "v1") != 0 && *s))) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL,
				"the apiVersion of the object must be v1");
		return NULL;
	}
	meta = json_object_get(obj, "metadata");
	if (meta && !json_is_object(meta) && !json_is_null(meta)) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL, "metadata must be an object");
		return NULL;
	}
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(obj, "metadata", meta);
	}
	for (const char *const *k = (const char *const[]){"labels", "annotations", NULL}; *k; k++) {
		const char *key;
		json_t *val, *m = json_object_get(meta, *k);

		if (!m || json_is_null(m))
			continue;
		if (!json_is_object(m)) {
			json_decref(obj);
			api_send_status(req, 400, "BadRequest", NULL,
					"metadata.%s must be an object of strings", *k);
			return NULL;
		}
		json_object_foreach(m, key, val)
		{
			if (!json_is_string(val)) {
				/* key belongs to obj: answer before releasing it */
				api_send_status(req, 400, "BadRequest", NULL,
						"metadata.%s.%s must be a string", *k, key);
				json_decref(obj);
				return NULL;
			}
		}
	}
	for (const char *const *k = (const char *const[]){"name", "generateName", NULL}; *k; k++) {
		v = json_object_get(meta, *k);
		if (v && !json_is_string(v) && !json_is_null(v)) {
			json_decref(obj);
			api_send_status(req, 400, "BadRequest", NULL,
					"metadata.%s must be a string", *k);
			return NULL;
		}
	}
	json_object_set_new(obj, "kind", json_string(KIND));
	json_object_set_new(obj, "apiVersion", json_string("v1"));
	return obj;
}

/* The request body as a Namespace object, or NULL after answering the error. */
static json_t *read_body(h2o_req_t *req)
{
	json_t *obj = parse_body(req, false);

	return obj ? check_object(req, obj) : NULL;
}

static void random_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		abort();
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static char *generate_name(const char *base)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	unsigned char r[5];
	char suffix[6];

	if (RAND_bytes(r, sizeof(r)) != 1)
		abort();
	for (int i = 0; i < 5; i++)
		suffix[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
	suffix[5] = '\0';
	return k8c_xasprintf("%.58s%s", base, suffix);
}

static void now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void key_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, NS_PREFIX "%s", name);
}

/* What the server sets on a new Namespace (uid, creationTimestamp, finalizer, phase). */
static void ns_default(json_t *obj, const char *name)
{
	json_t *meta = json_object_get(obj, "metadata"), *labels;
	char uid[37], ts[32];

	json_object_set_new(meta, "name", json_string(name));
	random_uuid(uid);
	now_rfc3339(ts, sizeof(ts));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(ts));
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "namespace");
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "selfLink");
	labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	/* kube-apiserver sets this label on every namespace since 1.21 */
	json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
	json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
	json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
}

int api_namespaces_bootstrap(struct store *store, struct k8c_error *err)
{
	static const char *const names[] = {"default", "kube-system", "kube-public",
					    "kube-node-lease"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_json_ json_t *obj =
			json_pack("{s:s, s:s, s:{}}", "kind", KIND, "apiVersion", "v1", "metadata");
		_cleanup_free_ char *value = NULL;
		char key[128];
		int64_t rev;

		ns_default(obj, names[i]);
		value = json_dumps(obj, JSON_COMPACT);
		key_of(key, sizeof(key), names[i]);
		if (store_create(store, key, value, strlen(value), &rev, err) < 0) {
			if (err->code != STORE_E_EXISTS)
				return k8c_error_wrap(err, "namespace %s", names[i]);
			k8c_error_clear(err);
		}
	}
	return 0;
}

static void ns_create(struct api *api, h2o_req_t *req)
{
	_cleanup_json_ json_t *obj = read_body(req);
	_cleanup_free_ char *generated = NULL;
	_cleanup_free_ char *value = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *name, *gen, *problem;
	char key[128];
	json_t *meta;
	int64_t rev;

	if (!obj)
		return;
	meta = json_object_get(obj, "metadata");
	name = json_string_value(json_object_get(meta, "name"));
	gen = json_string_value(json_object_get(meta, "generateName"));
	if ((!name || !*name) && gen && *gen) {
		generated = generate_name(gen);
		name = generated;
	}
	if (!name || !*name) {
		send_invalid(req, "", "metadata.name", NULL, "name or generateName is required");
		return;
	}
	/* ns_default() replaces metadata.name: keep our own copy */
	if (!generated) {
		generated = k8c_xstrdup(name);
		name = generated;
		gen = NULL;
	}
	if ((problem = dns1123_label_error(name))) {
		send_invalid(req, name, gen ? "metadata.generateName" : "metadata.name",
			     gen ? gen : name, problem);
		return;
	}
	ns_default(obj, name);
	value = json_dumps(obj, JSON_COMPACT);
	key_of(key, sizeof(key), name);
	if (store_create(api->store, key, value, strlen(value), &rev, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	api_set_resource_version(obj, rev);
	api_send_json(req, 201, obj);
}

static bool parse_rev(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s) {
		*out = 0;
		return true;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/*
 * Store obj (a checked Namespace) as the new version of name if its mod_revision is expected
 * (0 = any). Only metadata changes: spec and status change through /finalize and /status
 * (kube-apiserver's namespace strategy).
 */
static void ns_replace(struct api *api, h2o_req_t *req, const char *name, json_t *obj,
		       int64_t expected)
{
	_cleanup_json_ json_t *cur = NULL;
	_cleanup_free_ char *value = NULL;
	__attribute__((cleanup(store_kv_freep))) struct store_kv *kvp = NULL;
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	const char *bname;
	json_t *meta, *cmeta;
	int64_t rev;
	char key[128];

	meta = json_object_get(obj, "metadata");
	bname = json_string_value(json_object_get(meta, "name"));
	if (!bname || strcmp(bname, name) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the name of the object (%s) does not match the name on the URL "
				"(%s)",
				bname ? bname : "", name);
		return;
	}
	key_of(key, sizeof(key), name);
	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	kvp = &kv;
	cur = ns_decode(kv.value, kv.value_len, kv.mod_revision);
	if (!cur) {
		api_send_status(req, 500, "InternalError", NULL, "stored namespace %s is corrupt",
				name);
		return;
	}
	cmeta = json_object_get(cur, "metadata");
	for (const char *const *k = (const char *const[]){"labels", "annotations", "finalizers",
							  "ownerReferences", NULL};
	     *k; k++) {
		json_t *v = json_object_get(meta, *k);

		if (v && !json_is_null(v))
			json_object_set(cmeta, *k, v);
		else
			json_object_del(cmeta, *k);
	}
	if (!json_is_object(json_object_get(cmeta, "labels")))
		json_object_set_new(cmeta, "labels", json_object());
	json_object_set_new(json_object_get(cmeta, "labels"), "kubernetes.io/metadata.name",
			    json_string(name));
	json_object_del(cmeta, "resourceVersion");
	value = json_dumps(cur, JSON_COMPACT);
	if (store_update(api->store, key, value, strlen(value), expected, &rev, NULL, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	api_set_resource_version(cur, rev);
	api_send_json(req, 200, cur);
}

static void ns_update(struct api *api, h2o_req_t *req, const char *name)
{
	_cleanup_json_ json_t *obj = read_body(req);
	const char *rvs;
	int64_t expected;

	if (!obj)
		return;
	rvs = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (!parse_rev(rvs, &expected)) {
		send_invalid(req, name, "metadata.resourceVersion", rvs,
			     "must be a decimal resource version");
		return;
	}
	ns_replace(api, req, name, obj, expected);
}

/* RFC 7386 JSON merge patch; strategic-merge directives ($patch...) are dropped. */
static void merge_patch(json_t *target, json_t *patch)
{
	const char *k;
	json_t *v;

	json_object_foreach(patch, k, v)
	{
		json_t *t = json_object_get(target, k);

		if (k[0] == '$')
			continue;
		if (json_is_null(v)) {
			json_object_del(target, k);
		} else if (json_is_object(v)) {
			if (!json_is_object(t)) {
				t = json_object();
				json_object_set_new(target, k, t);
			}
			merge_patch(t, v);
		} else {
			json_object_set(target, k, v);
		}
	}
}

static void ns_patch(struct api *api, h2o_req_t *req, const char *name)
{
	_cleanup_json_ json_t *patch = parse_body(req, true);
	_cleanup_json_ json_t *obj = NULL;
	__attribute__((cleanup(store_kv_freep))) struct store_kv *kvp = NULL;
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *prv;
	int64_t expected;
	char key[128];

	if (!patch)
		return;
	key_of(key, sizeof(key), name);
	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	kvp = &kv;
	obj = ns_decode(kv.value, kv.value_len, kv.mod_revision);
	if (!obj) {
		api_send_status(req, 500, "InternalError", NULL, "stored namespace %s is corrupt",
				name);
		return;
	}
	/* a resourceVersion in the patch is a precondition, else the version just read */
	prv = json_object_get(json_object_get(patch, "metadata"), "resourceVersion");
	expected = kv.mod_revision;
	if (prv && !parse_rev(json_string_value(prv), &expected)) {
		send_invalid(req, name, "metadata.resourceVersion", json_string_value(prv),
			     "must be a decimal resource version");
		return;
	}
	merge_patch(obj, patch);
	if (!check_object(req, obj)) {
		obj = NULL; /* check_object released it */
		return;
	}
	ns_replace(api, req, name, obj, expected);
}

static void ns_get(struct api *api, h2o_req_t *req, const char *name)
{
	__attribute__((cleanup(store_kv_freep))) struct store_kv *kvp = NULL;
	_cleanup_json_ json_t *obj = NULL;
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	char key[128];

	key_of(key, sizeof(key), name);
	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	kvp = &kv;
	obj = ns_decode(kv.value, kv.value_len, kv.mod_revision);
	if (!obj) {
		api_send_status(req, 500, "InternalError", NULL, "stored namespace %s is corrupt",
				name);
		return;
	}
	send_object(req, 200, obj);
}

static void ns_delete(struct api *api, h2o_req_t *req, const char *name)
{
	__attribute__((cleanup(store_kv_freep))) struct store_kv *kvp = NULL;
	_cleanup_json_ json_t *obj = NULL;
	struct store_kv prev = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	char key[128];
	int64_t rev;

	/* DeleteOptions (propagationPolicy...) are accepted and ignored: removal is immediate */
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return;
	}
	key_of(key, sizeof(key), name);
	if (store_delete(api->store, key, 0, &rev, &prev, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	kvp = &prev;
	obj = ns_decode(prev.value, prev.value_len, rev);
	if (!obj) {
		_cleanup_json_ json_t *st =
			json_pack("{s:s, s:s, s:{}, s:s, s:{s:s, s:s}}", "kind", "Status",
				  "apiVersion", "v1", "metadata", "status", "Success", "details",
				  "name", name, "kind", "namespaces");

		api_send_json(req, 200, st);
		return;
	}
	api_send_json(req, 200, obj);
}

/* Watch streams. */

struct api_watch {
	h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
	struct api *api;
	h2o_req_t *req;
	struct store_watch *sw;
	h2o_socket_t *sock; /* a dup of the store watch's eventfd in the loop */
	uint64_t deadline;  /* h2o_now() milliseconds; 0 = none */
	struct api_watch *next, **pprev;
	char *pending, *inflight;
	size_t pending_len, pending_cap;
	bool sending, done, finished, stopped;
	bool table;
	int64_t last_rev; /* of the last event delivered (or the watch's start) */
	struct selector fields, labels;
};

/* Release what can call us back: store watch, fd, timer; the request may live on. */
static void watch_release(struct api_watch *w)
{
	if (w->sock) {
		h2o_socket_read_stop(w->sock);
		h2o_socket_close(w->sock);
		w->sock = NULL;
	}
	if (w->sw) {
		store_watch_close(w->sw);
		w->sw = NULL;
	}
	if (w->pprev) {
		*w->pprev = w->next;
		if (w->next)
			w->next->pprev = w->pprev;
		w->pprev = NULL;
		w->next = NULL;
	}
}

void api_watch_close(struct api_watch *w)
{
	watch_release(w);
}

static void watch_dispose(void *p)
{
	struct api_watch *w = p;

	watch_release(w);
	free(w->pending);
	free(w->inflight);
	selector_free(&w->fields);
	selector_free(&w->labels);
}

static void watch_append(struct api_watch *w, const char *type, json_t *obj)
{
	_cleanup_json_ json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
	_cleanup_free_ char *s = json_dumps(ev, JSON_COMPACT);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (w->pending_len + n + 1 > w->pending_cap) {
		w->pending_cap = (w->pending_len + n + 1) * 2;
		w->pending = k8c_xrealloc(w->pending, w->pending_cap);
	}
	memcpy(w->pending + w->pending_len, s, n);
	w->pending[w->pending_len + n] = '\n';
	w->pending_len += n + 1;
}

static void watch_append_object(struct api_watch *w, const char *type, json_t *obj)
{
	if (!selector_match(&w->fields, obj, true) || !selector_match(&w->labels, obj, false))
		return;
	if (w->table) {
		_cleanup_json_ json_t *t = table_one(obj);

		watch_append(w, type, t);
		return;
	}
	watch_append(w, type, obj);
}

static void watch_flush(struct api_watch *w)
{
	h2o_iovec_t buf;

	if (w->sending || w->stopped || w->finished)
		return;
	if (w->pending_len == 0 && !w->done)
		return;
	free(w->inflight);
	w->inflight = w->pending;
	buf = h2o_iovec_init(w->pending, w->pending_len);
	w->pending = NULL;
	w->pending_len = w->pending_cap = 0;
	w->sending = true;
	if (w->done) {
		w->finished = true;
		watch_release(w);
	}
	h2o_send(w->req, &buf, buf.len ? 1 : 0,
		 w->finished ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void watch_fail(struct api_watch *w, int code, const char *reason, const char *msg)
{
	_cleanup_json_ json_t *st = api_status_new(code, reason, msg);

	watch_append(w, "ERROR", st);
	w->done = true;
}

/* kube-apiserver's wording, which the Python client parses to restart: "... X (Y)". */
static void watch_expired(struct api_watch *w)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *msg = NULL;
	int64_t compacted = 0;

	if (store_compacted(w->api->store, &compacted, &err) < 0)
		k8c_error_clear(&err);
	msg = k8c_xasprintf("too old resource version: %lld (%lld)", (long long)w->last_rev,
			    (long long)compacted);
	watch_fail(w, 410, "Expired", msg);
}

static void watch_pump(struct api_watch *w)
{
	struct store_event *evs[64];
	struct k8c_error err = K8C_ERROR_INIT;
	int n;

	while (w->sw && !w->done) {
		n = store_watch_next(w->sw, evs, 64, &err);
		if (n < 0) {
			if (err.code == STORE_E_EXPIRED)
				watch_expired(w);
			else
				watch_fail(w, 500, "InternalError", err.msg ? err.msg : "store");
			k8c_error_clear(&err);
			break;
		}
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			json_t *obj =
				ns_decode(evs[i]->value, evs[i]->value_len, evs[i]->mod_revision);

			w->last_rev = evs[i]->mod_revision;
			if (obj) {
				watch_append_object(w, store_event_type_name(evs[i]->type), obj);
				json_decref(obj);
			}
			store_event_unref(evs[i]);
		}
		if (w->pending_len > WATCH_MAX_PENDING)
			w->done = true; /* the client re-watches from its last revision */
	}
	watch_flush(w);
}

static void watch_on_readable(h2o_socket_t *sock, const char *err)
{
	struct api_watch *w = sock->data;

	if (sock->input->size)
		h2o_buffer_consume(&sock->input, sock->input->size);
	if (err) {
		watch_fail(w, 500, "InternalError", "watch notification failed");
		watch_flush(w);
		return;
	}
	watch_pump(w);
}

/* timeoutSeconds: checked once a second for every open watch. */
static void watch_on_tick(h2o_timeout_entry_t *entry)
{
	struct api *api = H2O_STRUCT_FROM_MEMBER(struct api, tick_entry, entry);
	uint64_t now = h2o_now(api->loop);
	struct api_watch *w, *next;

	for (w = api->watches; w; w = next) {
		next = w->next;
		if (w->deadline && now >= w->deadline) {
			w->done = true;
			watch_flush(w);
		}
	}
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

void api_watch_start(struct api *api)
{
	h2o_timeout_init(api->loop, &api->tick, 1000);
	api->tick_entry.cb = watch_on_tick;
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

static void watch_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct api_watch *w = (struct api_watch *)gen;

	w->sending = false;
	free(w->inflight);
	w->inflight = NULL;
	watch_flush(w);
}

static void watch_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct api_watch *w = (struct api_watch *)gen;

	w->stopped = true;
	watch_release(w);
}

static void ns_watch(struct api *api, h2o_req_t *req, const struct selector *fields,
		     const struct selector *labels)
{
	_cleanup_free_ char *rvs = api_query(req, "resourceVersion");
	_cleanup_free_ char *tos = api_query(req, "timeoutSeconds");
	struct k8c_error err = K8C_ERROR_INIT;
	struct api_watch *w;
	int64_t rev, start;
	long long timeout = 0;
	int fd;

	if (!parse_rev(rvs, &rev)) {
		api_send_status(req, 400, "BadRequest", NULL, "invalid resourceVersion \"%s\"",
				rvs);
		return;
	}
	if (tos && *tos) {
		char *end;

		timeout = strtoll(tos, &end, 10);
		if (*end || timeout < 0) {
			api_send_status(req, 400, "BadRequest", NULL,
					"invalid timeoutSeconds \"%s\"", tos);
			return;
		}
	}
	w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), watch_dispose);
	memset(w, 0, sizeof(*w));
	w->gen.proceed = watch_proceed;
	w->gen.stop = watch_stop;
	w->api = api;
	w->req = req;
	w->table = api_wants_table(req);
	w->fields = *fields;
	w->labels = *labels;
	start = rev;
	if (rev == 0) {
		/* no revision: synthetic ADDED events for the current state first */
		struct store_list l = {0};

		if (store_list(api->store, NS_PREFIX, 0, 0, NULL, &l, &err) < 0) {
			api_send_store_error(req, &err, "namespaces", "");
			k8c_error_clear(&err);
			return;
		}
		for (size_t i = 0; i < l.n; i++) {
			json_t *obj = ns_decode(l.items[i].value, l.items[i].value_len,
						l.items[i].mod_revision);

			if (obj) {
				watch_append_object(w, "ADDED", obj);
				json_decref(obj);
			}
		}
		start = l.revision;
		store_list_free(&l);
	}
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_start_response(req, &w->gen);
	w->last_rev = start;
	if (store_watch(api->store, NS_PREFIX, start, &w->sw, &err) < 0) {
		/* too old a revision: 200 and an ERROR event, as the Python client expects */
		if (err.code == STORE_E_EXPIRED)
			watch_expired(w);
		else
			watch_fail(w, 500, "InternalError", err.msg ? err.msg : "watch failed");
		k8c_error_clear(&err);
		watch_flush(w);
		return;
	}
	w->next = api->watches;
	if (w->next)
		w->next->pprev = &w->next;
	api->watches = w;
	w->pprev = &api->watches;
	fd = dup(store_watch_fd(w->sw));
	if (fd < 0) {
		watch_fail(w, 500, "InternalError", "dup of the watch fd failed");
		watch_flush(w);
		return;
	}
	w->sock = h2o_evloop_socket_create(api->loop, fd, 0);
	w->sock->data = w;
	h2o_socket_read_start(w->sock, watch_on_readable);
	if (timeout > 0)
		w->deadline = h2o_now(api->loop) + (uint64_t)timeout * 1000;
	/* send the headers (and any initial events) now: clients wait for them */
	w->sending = true;
	{
		h2o_iovec_t buf = h2o_iovec_init(w->pending, w->pending_len);

		w->inflight = w->pending;
		w->pending = NULL;
		w->pending_len = w->pending_cap = 0;
		h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_IN_PROGRESS);
	}
}

static void ns_list(struct api *api, h2o_req_t *req)
{
	_cleanup_free_ char *fs = api_query(req, "fieldSelector");
	_cleanup_free_ char *ls = api_query(req, "labelSelector");
	_cleanup_free_ char *limits = api_query(req, "limit");
	_cleanup_free_ char *cont = api_query(req, "continue");
	_cleanup_json_ json_t *out = NULL;
	struct selector fields = {0}, labels = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	char *after = NULL, rvbuf[24], key[160];
	long long limit = 0;
	int64_t rev = 0;
	bool table;
	json_t *items;

	if ((fs && selector_parse(fs, true, &fields, &err) < 0) ||
	    (ls && selector_parse(ls, false, &labels, &err) < 0)) {
		api_send_status(req, 400, "BadRequest", NULL, "%s", err.msg);
		k8c_error_clear(&err);
		selector_free(&fields);
		return;
	}
	if (api_query_bool(req, "watch")) {
		ns_watch(api, req, &fields, &labels);
		return;
	}
	if (limits && *limits) {
		char *end;

		limit = strtoll(limits, &end, 10);
		if (*end || limit < 0)
			limit = 0;
	}
	if (cont && *cont) {
		/* our continue token: "<revision>:<last name>" */
		char *colon = strchr(cont, ':');
		long long r;
		char *end;

		r = colon ? strtoll(cont, &end, 10) : -1;
		if (!colon || end != colon || r <= 0 || strlen(colon + 1) > 100) {
			api_send_status(req, 400, "BadRequest", NULL, "invalid continue token");
			goto out;
		}
		rev = r;
		snprintf(key, sizeof(key), NS_PREFIX "%s", colon + 1);
		after = key;
	}
	if (store_list(api->store, NS_PREFIX, rev, (size_t)limit, after, &l, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", "");
		k8c_error_clear(&err);
		goto out;
	}
	snprintf(rvbuf, sizeof(rvbuf), "%lld", (long long)l.revision);
	table = api_wants_table(req);
	if (table) {
		out = table_new(rvbuf);
		items = json_object_get(out, "rows");
	} else {
		out = json_pack("{s:s, s:s, s:{s:s}, s:[]}", "kind", "NamespaceList", "apiVersion",
				"v1", "metadata", "resourceVersion", rvbuf, "items");
		items = json_object_get(out, "items");
	}
	for (size_t i = 0; i < l.n; i++) {
		json_t *obj =
			ns_decode(l.items[i].value, l.items[i].value_len, l.items[i].mod_revision);

		if (!obj)
			continue;
		if (selector_match(&fields, obj, true) && selector_match(&labels, obj, false))
			json_array_append_new(items, table ? table_row(obj) : json_incref(obj));
		json_decref(obj);
	}
	if (l.more && l.n) {
		const char *last = l.items[l.n - 1].key + strlen(NS_PREFIX);
		_cleanup_free_ char *tok = k8c_xasprintf("%lld:%s", (long long)l.revision, last);

		json_object_set_new(json_object_get(out, "metadata"), "continue", json_string(tok));
	}
	store_list_free(&l);
	api_send_json(req, 200, out);
out:
	selector_free(&fields);
	selector_free(&labels);
}

void api_namespaces(struct api *api, h2o_req_t *req, const char *rest, size_t rest_len)
{
	char name[64];
	const char *m = req->method.base;
	size_t mlen = req->method.len;

#define METHOD(s) (mlen == strlen(s) && memcmp(m, s, mlen) == 0)
	if (rest_len == 0) {
		if (METHOD("GET"))
			ns_list(api, req);
		else if (METHOD("POST"))
			ns_create(api, req);
		else
			api_send_status(req, 405, "MethodNotAllowed", NULL,
					"the server does not allow this method on the requested "
					"resource");
		return;
	}
	/* rest is "/name"; subresources and namespaced resources are not served yet */
	if (rest_len - 1 >= sizeof(name) || memchr(rest + 1, '/', rest_len - 1)) {
		api_send_status(req, 404, "NotFound", NULL,
				"the server could not find the requested resource");
		return;
	}
	memcpy(name, rest + 1, rest_len - 1);
	name[rest_len - 1] = '\0';
	if (METHOD("GET"))
		ns_get(api, req, name);
	else if (METHOD("PUT"))
		ns_update(api, req, name);
	else if (METHOD("PATCH"))
		ns_patch(api, req, name);
	else if (METHOD("DELETE"))
		ns_delete(api, req, name);
	else
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
#undef METHOD
}

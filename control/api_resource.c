/*
 * The generic resource handlers: list, get, create, update, patch, delete, deletecollection and
 * watch for every entry of the registry (api_registry.h), keys /registry/<resource>/<name> for
 * cluster-scoped and /registry/<resource>/<namespace>/<name> for namespaced resources. The stored
 * JSON carries no resourceVersion: it is the key's mod_revision, set on the way out (as
 * kube-apiserver's etcd3 storage does).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "api.h"
#include "api_auth.h"
#include "api_delete.h"
#include "api_patch.h"
#include "api_protobuf.h"
#include "api_schema.h"
#include "api_quota.h"
#include "api_validate.h"
#include "cleanup.h"
#include "yaml_json.h"

K8C_DEFINE_CLEANUP(store_kv_freep, struct store_kv, store_kv_free)

static void sel_req_free(struct sel_req *r)
{
	free(r->key);
	free(r->value);
	for (size_t i = 0; i < r->nset; i++)
		free(r->set[i]);
	free(r->set);
}

void selector_free(struct selector *s)
{
	for (size_t i = 0; i < s->n; i++)
		sel_req_free(&s->reqs[i]);
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

/*
 * "key in (a,b)" / "key notin (a,b)" in term (trimmed): r gets the key and the set; 1 when term
 * is such a requirement, 0 when it is not, <0 when it is malformed.
 */
static int set_requirement(const char *term, struct sel_req *r)
{
	const char *sp = strpbrk(term, " \t"), *op, *open, *close, *p;

	if (!sp)
		return 0;
	for (op = sp; *op == ' ' || *op == '\t'; op++)
		;
	if (strncmp(op, "in", 2) == 0 && (op[2] == ' ' || op[2] == '('))
		open = op + 2;
	else if (strncmp(op, "notin", 5) == 0 && (op[5] == ' ' || op[5] == '('))
		open = op + 5, r->negate = true;
	else
		return 0;
	while (*open == ' ' || *open == '\t')
		open++;
	close = strrchr(open, ')');
	if (*open != '(' || !close || close[1] != '\0')
		return -1;
	r->key = trim_dup(term, (size_t)(sp - term));
	for (p = open + 1; p <= close;) {
		const char *end = memchr(p, ',', (size_t)(close - p));

		if (!end)
			end = close;
		r->set = k8c_xrealloc(r->set, (r->nset + 1) * sizeof(*r->set));
		r->set[r->nset++] = trim_dup(p, (size_t)(end - p));
		if (strpbrk(r->set[r->nset - 1], " ()"))
			return -1;
		p = end + 1;
	}
	return 1;
}

/*
 * Label selectors: key=value, key==value, key!=value, key, !key, key in (a,b), key notin (a,b);
 * field selectors: the equality forms. Terms are separated by commas outside parentheses.
 */
static int selector_parse(const struct api_resource *res, const char *text, bool field,
			  struct selector *out, struct k8c_error *err)
{
	const char *p = text;

	while (*p) {
		size_t len = 0;
		int depth = 0, set;

		while (p[len] && (p[len] != ',' || depth > 0)) {
			depth += p[len] == '(' ? 1 : p[len] == ')' ? -1 : 0;
			len++;
		}
		_cleanup_free_ char *term = trim_dup(p, len);
		struct sel_req r = {0};
		char *op;

		p += len + (p[len] == ',' ? 1 : 0);
		if (!*term)
			continue;
		set = field ? 0 : set_requirement(term, &r);
		if (set < 0) {
			sel_req_free(&r);
			selector_free(out);
			return k8c_error_set(err, 400, "unable to parse requirement: \"%s\"", term);
		} else if (set > 0) {
			/* r is filled */
		} else if ((op = strstr(term, "!="))) {
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
			sel_req_free(&r);
			selector_free(out);
			return k8c_error_set(err, 400, "unable to parse requirement: \"%s\"", term);
		}
		if (field && !api_field_supported(res, r.key)) {
			k8c_error_set(err, 400, "field label not supported: %s", r.key);
			sel_req_free(&r);
			selector_free(out);
			return -1;
		}
		out->reqs = k8c_xrealloc(out->reqs, (out->n + 1) * sizeof(*out->reqs));
		out->reqs[out->n++] = r;
	}
	return 0;
}

static const char *field_value(json_t *obj, const char *key)
{
	json_t *v = obj;
	char part[64];

	while (v && *key) {
		size_t n = strcspn(key, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, key, n);
		part[n] = '\0';
		v = json_object_get(v, part);
		key += n + (key[n] == '.');
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return json_string_value(v);
}

bool selector_match(const struct selector *s, json_t *obj, bool field)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");

	for (size_t i = 0; i < s->n; i++) {
		const struct sel_req *r = &s->reqs[i];
		const char *v = field ? field_value(obj, r->key)
				      : json_string_value(json_object_get(labels, r->key));
		bool ok;

		if (field && !v)
			v = "";
		if (r->set) {
			bool in = false;

			for (size_t k = 0; v && k < r->nset && !in; k++)
				in = strcmp(v, r->set[k]) == 0;
			ok = in != r->negate;
		} else if (!r->value)
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
json_t *obj_decode(const void *value, size_t len, int64_t rev)
{
	json_t *obj = json_loadb(value, len, 0, NULL);

	if (!json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	api_set_resource_version(obj, rev);
	return obj;
}

static json_t *table_row(const struct api_resource *r, json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");

	return json_pack("{s:o, s:{s:s, s:s, s:O}}", "cells", r->cells(obj), "object", "kind",
			 "PartialObjectMetadata", "apiVersion", "meta.k8s.io/v1", "metadata", meta);
}

static json_t *table_new(const struct api_resource *r, const char *rv)
{
	return json_pack("{s:s, s:s, s:{s:s}, s:o, s:[]}", "kind", "Table", "apiVersion",
			 "meta.k8s.io/v1", "metadata", "resourceVersion", rv, "columnDefinitions",
			 api_registry_columns(r), "rows");
}

json_t *table_one(const struct api_resource *r, json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	json_t *t = table_new(r, rv ? rv : "");

	json_array_append_new(json_object_get(t, "rows"), table_row(r, obj));
	return t;
}

/* obj (stored version) in r's version, for an answer: a legacy version's conversion. */
json_t *out_version(const struct api_resource *r, json_t *obj)
{
	if (r->from_storage)
		r->from_storage(obj);
	return obj;
}

static void send_object(const struct api_resource *r, h2o_req_t *req, int status, json_t *obj)
{
	if (api_wants_table(req)) {
		_cleanup_json_ json_t *t = table_one(r, obj);

		api_send_json(req, status, t);
		return;
	}
	api_send_json(req, status, out_version(r, obj));
}

/* 422 Invalid with causes (stolen), worded as kube-apiserver's. */
static void send_causes(h2o_req_t *req, const struct api_resource *r, const char *name,
			json_t *causes)
{
	api_send_invalid(req, r->group, r->kind, name, causes);
}

static void send_invalid(h2o_req_t *req, const struct api_resource *r, const char *name,
			 const char *field, const char *value, const char *detail)
{
	json_t *causes = json_array();

	if (value)
		api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: \"%s\": %s",
			      value, detail);
	else
		api_cause_add(causes, "FieldValueRequired", field, "Required value: %s", detail);
	send_causes(req, r, name, causes);
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

/* The patch type of the request's Content-Type; false when it is none of the three. */
static bool patch_type_ok(h2o_req_t *req, enum api_patch_type *type)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);

	return i >= 0 && api_patch_type(req->headers.entries[i].value.base,
					req->headers.entries[i].value.len, type) == 0;
}

static bool is_protobuf(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);

	return i >= 0 && api_protobuf_content_type(req->headers.entries[i].value.base,
						   req->headers.entries[i].value.len);
}

/* kubectl 1.32+ `create <kind>` sends protobuf: decode it to the JSON it stands for. */
static json_t *parse_protobuf_body(h2o_req_t *req)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *obj;

	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return NULL;
	}
	obj = api_protobuf_decode(req->entity.base ? req->entity.base : "", req->entity.len, &err);
	if (!obj)
		api_send_status(req, err.code,
				err.code == 415 ? "UnsupportedMediaType" : "BadRequest", NULL, "%s",
				err.msg);
	k8c_error_clear(&err);
	return obj;
}

/* The request body as a JSON object, or NULL after answering the error. */
/* Content-Type application/yaml (kube-apiserver decodes YAML bodies of creates and updates). */
static bool is_yaml(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	h2o_iovec_t v;

	if (i < 0)
		return false;
	v = req->headers.entries[i].value;
	return v.len >= 16 && strncasecmp(v.base, "application/yaml", 16) == 0 &&
	       (v.len == 16 || v.base[16] == ';' || v.base[16] == ' ');
}

static json_t *parse_yaml_body(h2o_req_t *req)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *obj = k8c_yaml_to_json(req->entity.base ? req->entity.base : "", req->entity.len,
				       true, &err);

	if (!obj) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request could not be decoded as YAML: %s",
				err.msg ? err.msg : "invalid");
		k8c_error_clear(&err);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request must be a YAML mapping (an object)");
		return NULL;
	}
	return obj;
}

static json_t *parse_body(h2o_req_t *req, bool patch)
{
	enum api_patch_type type;
	json_error_t jerr;
	json_t *obj;

	if (!patch && is_protobuf(req))
		return parse_protobuf_body(req);
	if (!patch && is_yaml(req) && req->entity.len <= API_MAX_BODY)
		return parse_yaml_body(req);
	if (!(patch ? patch_type_ok(req, &type) : content_type_ok(req) || is_yaml(req))) {
		ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
		h2o_iovec_t ct = i >= 0 ? req->headers.entries[i].value
					: h2o_iovec_init(H2O_STRLIT("no Content-Type"));

		api_send_status(req, 415, "UnsupportedMediaType", NULL,
				"the body of the request was in an unknown format - accepted media "
				"types include: %s (got %.*s)",
				patch ? API_PATCH_MEDIA_TYPES
				      : "application/json, application/yaml, "
					"application/vnd.kubernetes.protobuf",
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

/* Check kind, apiVersion and metadata types of a body for r; NULL after answering the error. */
static json_t *check_object(const struct api_resource *r, h2o_req_t *req, json_t *obj)
{
	_cleanup_free_ char *api_version = api_registry_api_version(r);
	json_t *meta, *v;
	const char *s;

	v = json_object_get(obj, "kind");
	s = json_string_value(v);
	if (v && (!s || (strcmp(s, r->kind) != 0 && *s))) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL, "the kind of the object must be %s",
				r->kind);
		return NULL;
	}
	v = json_object_get(obj, "apiVersion");
	s = json_string_value(v);
	if (v && (!s || (strcmp(s, api_version) != 0 && *s))) {
		json_decref(obj);
		api_send_status(req, 400, "BadRequest", NULL,
				"the apiVersion of the object must be %s", api_version);
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
	for (const char *const *k = (const char *const[]){"name", "generateName", "namespace",
							  "resourceVersion", NULL};
	     *k; k++) {
		v = json_object_get(meta, *k);
		if (v && !json_is_string(v) && !json_is_null(v)) {
			json_decref(obj);
			api_send_status(req, 400, "BadRequest", NULL,
					"metadata.%s must be a string", *k);
			return NULL;
		}
	}
	json_object_set_new(obj, "kind", json_string(r->kind));
	json_object_set_new(obj, "apiVersion", json_string(api_version));
	return obj;
}

/* The request body as an object of r (in its stored version), or NULL after answering. */
static json_t *read_body(const struct api_resource *r, h2o_req_t *req)
{
	json_t *obj = parse_body(req, false);

	obj = obj ? check_object(r, req, obj) : NULL;
	if (obj && !api_field_validate(req, r, obj, !is_protobuf(req) && !is_yaml(req))) {
		json_decref(obj);
		return NULL;
	}
	if (obj && r->to_storage)
		r->to_storage(obj);
	return obj;
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

bool parse_rev(const char *s, int64_t *out)
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

static char *key_of(const struct api_resource *r, const char *ns, const char *name)
{
	const char *s = api_registry_store_name(r);

	return r->namespaced ? k8c_xasprintf("/registry/%s/%s/%s", s, ns, name)
			     : k8c_xasprintf("/registry/%s/%s", s, name);
}

/* The prefix of a collection: one namespace, or all of them when ns is NULL. */
static char *prefix_of(const struct api_resource *r, const char *ns)
{
	const char *s = api_registry_store_name(r);

	return r->namespaced && ns ? k8c_xasprintf("/registry/%s/%s/", s, ns)
				   : k8c_xasprintf("/registry/%s/", s);
}

/* Read and decode the stored version of a key; <0 after answering the error. */
static int load(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *key,
		const char *name, json_t **out, int64_t *rev)
{
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;

	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, r->resource, name);
		k8c_error_clear(&err);
		return -1;
	}
	*out = obj_decode(kv.value, kv.value_len, kv.mod_revision);
	*rev = kv.mod_revision;
	store_kv_free(&kv);
	if (!*out) {
		api_send_status(req, 500, "InternalError", NULL, "stored %s %s is corrupt",
				r->resource, name);
		return -1;
	}
	return 0;
}

static void set_meta_string(json_t *meta, const char *key, const char *value)
{
	json_object_set_new(meta, key, json_string(value));
}

/*
 * Defaults, mutating admission, then validation; <0 after answering (422). old is NULL on create.
 */
static int admit(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		 const char *name, json_t *obj, const json_t *old)
{
	json_t *causes;

	if (r->defaults)
		r->defaults(obj);
	if (!old && r->on_create)
		r->on_create(obj);
	if (api_admission_mutate(api, req, r, ns, name, obj, old) < 0)
		return -1;
	causes = json_array();
	api_validate_meta(obj, causes);
	if (r->validate)
		r->validate(obj, old, causes);
	api_delete_validate_meta(obj, old, causes);
	if (json_array_size(causes)) {
		send_causes(req, r, name, causes);
		return -1;
	}
	json_decref(causes);
	return 0;
}

static void res_create(struct api *api, h2o_req_t *req, const struct api_resource *r,
		       const char *ns)
{
	_cleanup_json_ json_t *obj = NULL;
	_cleanup_free_ char *name = NULL, *key = NULL, *value = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *given, *gen, *bns, *problem;
	char uid[37], ts[32];
	json_t *meta;
	int64_t rev;
	bool dry;

	if (api_dry_run(req, "CreateOptions", &dry) < 0)
		return;
	obj = read_body(r, req);
	if (!obj)
		return;
	meta = json_object_get(obj, "metadata");
	bns = json_string_value(json_object_get(meta, "namespace"));
	if (r->namespaced && bns && *bns && strcmp(bns, ns) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the namespace of the provided object does not match the namespace "
				"sent on the request");
		return;
	}
	given = json_string_value(json_object_get(meta, "name"));
	gen = json_string_value(json_object_get(meta, "generateName"));
	if ((!given || !*given) && gen && *gen)
		name = generate_name(gen);
	else if (given && *given)
		name = k8c_xstrdup(given), gen = NULL;
	if (!name) {
		send_invalid(req, r, "", "metadata.name", NULL, "name or generateName is required");
		return;
	}
	if ((problem = api_name_error(r->name_rule, name))) {
		send_invalid(req, r, name, gen ? "metadata.generateName" : "metadata.name",
			     gen ? gen : name, problem);
		return;
	}
	if (r->namespaced) {
		/* 404 when the namespace is missing, 403 when it is Terminating */
		if (api_namespace_admit_create(api, req, r, ns, name) < 0)
			return;
		set_meta_string(meta, "namespace", ns);
	} else {
		json_object_del(meta, "namespace");
	}
	set_meta_string(meta, "name", name);
	random_uuid(uid);
	now_rfc3339(ts, sizeof(ts));
	set_meta_string(meta, "uid", uid);
	set_meta_string(meta, "creationTimestamp", ts);
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	json_object_del(meta, "selfLink");
	json_object_del(meta, "managedFields");
	if (json_is_object(json_object_get(obj, "spec")) && strcmp(r->resource, "namespaces"))
		json_object_set_new(meta, "generation", json_integer(1));
	else
		json_object_del(meta, "generation");
	if (r->has_status && !r->create_keeps_status)
		json_object_del(obj, "status");
	if (admit(api, req, r, ns, name, obj, NULL) < 0)
		return;
	if (api_admission_validate(api, req, r, ns, name, obj, NULL, dry) < 0)
		return;
	if (r->allocate) {
		json_t *causes = json_array();

		if (r->allocate(api->store, obj, NULL, causes) < 0) {
			send_causes(req, r, name, causes);
			return;
		}
		json_decref(causes);
	}
	if (dry) {
		/* dryRun=All: everything but the write (no resourceVersion, as kube) */
		if (r->allocate)
			api_services_settle(); /* what it chose stays free */
		send_object(r, req, 201, obj);
		return;
	}
	value = json_dumps(obj, JSON_COMPACT);
	key = key_of(r, ns, name);
	int wrc = store_create(api->store, key, value, strlen(value), &rev, &err);
	if (r->allocate)
		api_services_settle();
	if (wrc < 0) {
		api_send_store_error(req, &err, r->resource, name);
		k8c_error_clear(&err);
		return;
	}
	api_set_resource_version(obj, rev);
	send_object(r, req, 201, obj);
}

/*
 * Store obj as the new version of name if its mod_revision is expected (0 = any); old is the
 * stored version. For /status (status_only) only the status changes; otherwise the status of a
 * resource with a status subresource is kept, and system metadata is always kept. With conflict
 * non-NULL, a stale expected is not answered but reported there (the caller retries).
 */
static void res_replace(struct api *api, h2o_req_t *req, const struct api_resource *r,
			const char *ns, const char *name, json_t *obj, json_t *old,
			int64_t expected, bool status_only, bool *conflict)
{
	static const char *const sys[] = {"uid",
					  "creationTimestamp",
					  "name",
					  "namespace",
					  "generation",
					  "deletionTimestamp",
					  "deletionGracePeriodSeconds",
					  NULL};
	_cleanup_free_ char *key = key_of(r, ns, name), *value = NULL;
	_cleanup_json_ json_t *next = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *meta, *ometa, *ospec, *nspec;
	const char *bname, *bns;
	int64_t rev;
	bool dry;

	if (api_dry_run(req, req->method.len == 5 ? "PatchOptions" : "UpdateOptions", &dry) < 0)
		return;
	meta = json_object_get(obj, "metadata");
	bname = json_string_value(json_object_get(meta, "name"));
	bns = json_string_value(json_object_get(meta, "namespace"));
	if (!bname || strcmp(bname, name) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the name of the object (%s) does not match the name on the URL "
				"(%s)",
				bname ? bname : "", name);
		return;
	}
	if (r->namespaced && bns && *bns && strcmp(bns, ns) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the namespace of the provided object does not match the namespace "
				"sent on the request");
		return;
	}
	if (status_only) {
		next = json_deep_copy(old);
		json_object_set(next, "status", json_object_get(obj, "status"));
	} else {
		next = json_incref(obj);
		if (r->has_status)
			json_object_set(next, "status", json_object_get(old, "status"));
		if (r->on_update)
			r->on_update(next, old);
	}
	meta = json_object_get(next, "metadata");
	ometa = json_object_get(old, "metadata");
	for (const char *const *k = sys; *k; k++) {
		json_t *v = json_object_get(ometa, *k);

		if (v)
			json_object_set(meta, *k, v);
		else
			json_object_del(meta, *k);
	}
	json_object_del(meta, "resourceVersion");
	json_object_del(meta, "selfLink");
	json_object_del(meta, "managedFields");
	if (admit(api, req, r, ns, name, next, old) < 0)
		return;
	if (!status_only && api_admission_validate(api, req, r, ns, name, next, old, dry) < 0)
		return;
	if (r->allocate && !status_only) {
		json_t *causes = json_array();

		if (r->allocate(api->store, next, old, causes) < 0) {
			send_causes(req, r, name, causes);
			return;
		}
		json_decref(causes);
	}
	ospec = json_object_get(old, "spec");
	nspec = json_object_get(next, "spec");
	if (json_object_get(ometa, "generation") && !json_equal(ospec, nspec))
		json_object_set_new(
			meta, "generation",
			json_integer(json_integer_value(json_object_get(ometa, "generation")) + 1));
	if (r->allocate && !status_only && (dry || api_delete_on_update(r, next, old)))
		api_services_settle(); /* no write of next follows */
	if (dry) {
		/* dryRun=All: the object as it would be, with the stored resourceVersion */
		set_meta_string(meta, "resourceVersion",
				json_string_value(json_object_get(ometa, "resourceVersion")) ?: "");
		send_object(r, req, 200, next);
		return;
	}
	if (api_delete_on_update(r, next, old)) {
		/* the last finalizer of an object being deleted is gone: so is the object */
		if (api_delete_finish_update(api, req, r, key, name, next, old, expected,
					     conflict != NULL) > 0)
			*conflict = true;
		return;
	}
	value = json_dumps(next, JSON_COMPACT);
	int wrc = store_update(api->store, key, value, strlen(value), expected, &rev, NULL, &err);
	if (r->allocate && !status_only)
		api_services_settle();
	if (wrc < 0) {
		if (conflict && err.code == STORE_E_CONFLICT) {
			*conflict = true;
			k8c_error_clear(&err);
			return;
		}
		api_send_store_error(req, &err, r->resource, name);
		k8c_error_clear(&err);
		return;
	}
	api_set_resource_version(next, rev);
	send_object(r, req, 200, next);
}

static void res_update(struct api *api, h2o_req_t *req, const struct api_resource *r,
		       const char *ns, const char *name, bool status_only)
{
	_cleanup_json_ json_t *obj = read_body(r, req);
	_cleanup_json_ json_t *old = NULL;
	_cleanup_free_ char *key = NULL;
	const char *rvs;
	int64_t expected, cur;

	if (!obj)
		return;
	rvs = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (!parse_rev(rvs, &expected)) {
		send_invalid(req, r, name, "metadata.resourceVersion", rvs,
			     "must be a decimal resource version");
		return;
	}
	key = key_of(r, ns, name);
	if (load(api, req, r, key, name, &old, &cur) < 0)
		return;
	res_replace(api, req, r, ns, name, obj, old, expected, status_only, NULL);
}

/*
 * One PATCH attempt: the patch applied to the stored object in r's version (a legacy version's
 * conversion first), then stored. A metadata.resourceVersion in the patched object other than
 * the stored one makes the write conditional on it (409 when stale), as kube's optimistic
 * concurrency. Otherwise, when may_retry, true is returned without an answer if the object
 * changed meanwhile: kube-apiserver's GuaranteedUpdate applies the patch again to the new one.
 */
static bool patch_attempt(struct api *api, h2o_req_t *req, const struct api_resource *r,
			  const char *ns, const char *name, bool status_only,
			  enum api_patch_type type, bool may_retry)
{
	_cleanup_json_ json_t *old = NULL, *obj = NULL, *st = NULL;
	_cleanup_free_ char *key = key_of(r, ns, name);
	struct k8c_error err = K8C_ERROR_INIT;
	bool conflict = false;
	json_t *checked;
	const char *prv;
	int64_t expected, cur;

	if (load(api, req, r, key, name, &old, &cur) < 0)
		return false;
	obj = out_version(r, json_deep_copy(old));
	{
		json_t *patched =
			api_patch_apply(obj, req->entity.base, req->entity.len, type,
					api_schema_kind(r->group, r->version, r->kind), &err);

		json_decref(obj);
		obj = patched;
	}
	if (!obj) {
		st = api_patch_error_status(&err);
		k8c_error_clear(&err);
		api_send_json(req, (int)json_integer_value(json_object_get(st, "code")), st);
		return false;
	}
	if (!json_is_object(obj)) {
		api_send_status(req, 422, "Invalid", NULL,
				"the patched %s \"%s\" is not a JSON object", r->kind, name);
		return false;
	}
	expected = cur;
	prv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (prv && *prv && !parse_rev(prv, &expected)) {
		send_invalid(req, r, name, "metadata.resourceVersion", prv,
			     "must be a decimal resource version");
		return false;
	}
	checked = check_object(r, req, json_incref(obj));
	if (!checked)
		return false; /* check_object released the reference it was given */
	json_decref(checked);
	/* fieldValidation: unknown fields of the patched object (duplicates in a merge body) */
	if (!api_field_validate(req, r, obj, type != API_PATCH_JSON))
		return false;
	if (r->to_storage)
		r->to_storage(obj);
	res_replace(api, req, r, ns, name, obj, old, expected, status_only,
		    may_retry && expected == cur ? &conflict : NULL);
	return conflict;
}

static void res_patch(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		      const char *name, bool status_only)
{
	enum api_patch_type type;
	int attempt = 0;

	if (!patch_type_ok(req, &type)) {
		json_decref(parse_body(req, true)); /* it answers the 415 */
		return;
	}
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return;
	}
	while (patch_attempt(api, req, r, ns, name, status_only, type, ++attempt < 5))
		;
}

static void res_get(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		    const char *name)
{
	_cleanup_free_ char *key = key_of(r, ns, name);
	_cleanup_json_ json_t *obj = NULL;
	int64_t rev;

	if (load(api, req, r, key, name, &obj, &rev) < 0)
		return;
	send_object(r, req, 200, obj);
}

/*
 * The LIST fast path: the stored JSON of each object is copied into the answer with its
 * resourceVersion spliced into metadata, instead of decoding and re-encoding every object
 * (with 100,000 objects that was most of the LIST's time and memory).
 */
struct rawbuf {
	char *p;
	size_t n, cap;
};

static void rawbuf_add(struct rawbuf *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->p = k8c_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[i] is '"': the index after the closing quote, 0 when unterminated. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* The index after the JSON value at s[i], 0 when malformed. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return 0;
	if (s[i] == '"')
		return skip_string(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && !strchr(",}] \t\n\r", s[i]))
			i++;
		return i;
	}
	for (; i < n; i++) {
		if (s[i] == '"') {
			if (!(i = skip_string(s, n, i)))
				return 0;
			i--;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* The index just after the '{' of the top-level "metadata" object, 0 when there is none. */
static size_t metadata_open(const char *s, size_t n)
{
	size_t i = skip_ws(s, n, 0);

	if (i >= n || s[i] != '{')
		return 0;
	i = skip_ws(s, n, i + 1);
	while (i < n && s[i] == '"') {
		size_t k = skip_string(s, n, i);
		bool meta = k == i + 10 && memcmp(s + i, "\"metadata\"", 10) == 0;

		if (!k)
			return 0;
		i = skip_ws(s, n, k);
		if (i >= n || s[i] != ':')
			return 0;
		i = skip_ws(s, n, i + 1);
		if (meta)
			return i < n && s[i] == '{' ? i + 1 : 0;
		if (!(i = skip_value(s, n, i)))
			return 0;
		i = skip_ws(s, n, i);
		if (i < n && s[i] == ',')
			i = skip_ws(s, n, i + 1);
	}
	return 0;
}

/* Append the stored object with its resourceVersion; false when it is not JSON. */
static bool rawbuf_add_object(struct rawbuf *b, const struct store_kv *kv)
{
	const char *v = kv->value;
	size_t at = memmem(v, kv->value_len, "\"resourceVersion\"", 17)
			    ? 0
			    : metadata_open(v, kv->value_len);
	char rv[48];
	int n;

	if (!at) {
		_cleanup_json_ json_t *obj = obj_decode(kv->value, kv->value_len, kv->mod_revision);
		_cleanup_free_ char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

		if (!s)
			return false;
		rawbuf_add(b, s, strlen(s));
		return true;
	}
	n = snprintf(rv, sizeof(rv), "\"resourceVersion\":\"%lld\"%s", (long long)kv->mod_revision,
		     v[skip_ws(v, kv->value_len, at)] == '}' ? "" : ",");
	rawbuf_add(b, v, at);
	rawbuf_add(b, rv, (size_t)n);
	rawbuf_add(b, v + at, kv->value_len - at);
	return true;
}

static void rawbuf_dispose(void *p)
{
	free(*(char **)p);
}

/* Answer 200 with b's bytes as JSON; b is taken over (freed with the request). */
static void rawbuf_send(h2o_req_t *req, struct rawbuf *b)
{
	static h2o_generator_t gen = {NULL, NULL};
	char **hold = h2o_mem_alloc_shared(&req->pool, sizeof(char *), rawbuf_dispose);
	h2o_iovec_t body = h2o_iovec_init(b->p, b->n);

	*hold = b->p;
	b->p = NULL;
	req->res.status = 200;
	req->res.reason = "OK";
	req->res.content_length = body.len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_start_response(req, &gen);
	h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

/*
 * List (or watch, or with del delete) the collection of r in ns (NULL: every namespace). A
 * deletecollection answers the list of what it deleted.
 */
static void res_list(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		     bool del)
{
	_cleanup_free_ char *prefix = prefix_of(r, ns);
	_cleanup_free_ char *list_kind = k8c_xasprintf("%sList", r->kind);
	_cleanup_free_ char *api_version = api_registry_api_version(r);
	_cleanup_free_ char *fs = api_query(req, "fieldSelector");
	_cleanup_free_ char *ls = api_query(req, "labelSelector");
	_cleanup_free_ char *limits = api_query(req, "limit");
	_cleanup_free_ char *cont = api_query(req, "continue");
	_cleanup_free_ char *rvs = api_query(req, "resourceVersion");
	_cleanup_free_ char *rvm = api_query(req, "resourceVersionMatch");
	_cleanup_free_ char *start = NULL, *after = NULL, *next = NULL;
	_cleanup_json_ json_t *out = NULL;
	struct selector fields = {0}, labels = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	char rvbuf[24];
	long long limit = 0, matched = 0;
	int64_t rev = 0, list_rev = 0;
	bool table, exact = false, raw;
	struct rawbuf rb = {0};
	json_t *items;
	struct api_delete_options *dopts = NULL; /* deletecollection's, applied to each item */

	if ((fs && selector_parse(r, fs, true, &fields, &err) < 0) ||
	    (ls && selector_parse(r, ls, false, &labels, &err) < 0)) {
		api_send_status(req, 400, "BadRequest", NULL, "%s", err.msg);
		k8c_error_clear(&err);
		selector_free(&fields);
		return;
	}
	if (!del && api_query_bool(req, "watch")) {
		api_watch_serve(api, req, r, prefix, &fields, &labels);
		return;
	}
	if (del && !(dopts = api_delete_options_read(req)))
		goto out;
	if (limits && *limits) {
		char *end;

		limit = strtoll(limits, &end, 10);
		if (*end || limit < 0)
			limit = 0;
	}
	if (rvm && *rvm && strcmp(rvm, "Exact") != 0 && strcmp(rvm, "NotOlderThan") != 0) {
		api_send_status(
			req, 400, "BadRequest", NULL,
			"resourceVersionMatch: Unsupported value: \"%s\": supported values: "
			"\"Exact\", \"NotOlderThan\"",
			rvm);
		goto out;
	}
	if (cont && *cont) {
		if (rvs && *rvs && strcmp(rvs, "0") != 0) {
			api_send_status(req, 400, "BadRequest", NULL,
					"specifying resource version is not allowed when using "
					"continue");
			goto out;
		}
		if (api_continue_decode(cont, &rev, &start) < 0) {
			api_send_status(req, 400, "BadRequest", NULL,
					"continue key is not valid: incorrect encoded start "
					"resourceVersion (version meta.k8s.io/v1)");
			goto out;
		}
		after = k8c_xasprintf("%s%s", prefix, start);
	} else if (rvs && *rvs && strcmp(rvs, "0") != 0) {
		/*
		 * resourceVersion=R: Exact (or unset with a limit, as kube) reads at R; NotOlderThan
		 * (or unset without a limit) reads the latest, which is never older than R. An R
		 * newer than the store is 504 either way; a compacted one 410 for an exact read.
		 */
		int64_t want, cur;

		if (!parse_rev(rvs, &want)) {
			api_send_status(req, 400, "BadRequest", NULL,
					"resourceVersion: Invalid value: \"%s\": must be a number",
					rvs);
			goto out;
		}
		exact = (rvm && strcmp(rvm, "Exact") == 0) || (!(rvm && *rvm) && limit > 0);
		if (store_revision(api->store, &cur, &err) < 0) {
			api_send_store_error(req, &err, r->resource, "");
			k8c_error_clear(&err);
			goto out;
		}
		if (want > cur) {
			api_send_status(req, 504, "Timeout", NULL,
					"Too large resource version: %lld, current: %lld",
					(long long)want, (long long)cur);
			goto out;
		}
		if (exact)
			rev = want;
	}
	if (del)
		limit = 0, rev = 0, free(after), after = NULL;
	table = !del && api_wants_table(req);
	raw = !del && !table && !r->from_storage && !fields.n && !labels.n;
	if (raw) {
		_cleanup_free_ char *head =
			k8c_xasprintf("{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"items\":[",
				      list_kind, api_version);

		rawbuf_add(&rb, head, strlen(head));
	}
	for (;;) {
		if (store_list(api->store, prefix, rev, (size_t)limit, after, &l, &err) < 0) {
			if (err.code == STORE_E_EXPIRED && cont && *cont)
				api_send_status(
					req, 410, "Expired", NULL,
					"The provided continue parameter is too old to display a "
					"consistent list result. You can start a new list without "
					"the continue parameter, or use the continue token in this "
					"response to retrieve the remainder of the results. "
					"Continuing with the provided token results in an "
					"inconsistent list - objects that were created, modified, "
					"or "
					"deleted between the time the first chunk was returned and "
					"now may show up in the list.");
			else if (err.code == STORE_E_EXPIRED)
				api_send_status(req, 410, "Expired", NULL,
						"too old resource version: %s", rvs ? rvs : "");
			else
				api_send_store_error(req, &err, r->resource, "");
			k8c_error_clear(&err);
			goto out;
		}
		if (!out) {
			list_rev = l.revision;
			snprintf(rvbuf, sizeof(rvbuf), "%lld", (long long)list_rev);
			if (table) {
				out = table_new(r, rvbuf);
			} else {
				out = json_pack("{s:s, s:s, s:{s:s}, s:[]}", "kind", list_kind,
						"apiVersion", api_version, "metadata",
						"resourceVersion", rvbuf, "items");
			}
			/* the following pages are read at the first one's revision */
			rev = list_rev;
		}
		items = json_object_get(out, table ? "rows" : "items");
		for (size_t i = 0; i < l.n; i++) {
			json_t *obj = NULL;

			free(after);
			after = k8c_xstrdup(l.items[i].key);
			if (raw) {
				size_t mark = rb.n;

				if (matched > 0)
					rawbuf_add(&rb, ",", 1);
				if (!rawbuf_add_object(&rb, &l.items[i])) {
					rb.n = mark;
					continue;
				}
				if (limit && ++matched >= limit && (i + 1 < l.n || l.more)) {
					next = api_continue_encode(list_rev,
								   after + strlen(prefix));
					break;
				}
				if (!limit)
					matched++;
				continue;
			}
			obj = obj_decode(l.items[i].value, l.items[i].value_len,
					 l.items[i].mod_revision);
			if (!obj)
				continue;
			if (!selector_match(&fields, obj, true) ||
			    !selector_match(&labels, obj, false)) {
				json_decref(obj);
				continue;
			}
			/* as kube: each item deleted as by its own DELETE; the answer lists them */
			if (del && api_delete_item(api, r, l.items[i].key, dopts, &err) < 0) {
				k8c_error_clear(
					&err); /* gone meanwhile, or a failed precondition */
				json_decref(obj);
				continue;
			}
			json_array_append_new(items, table ? table_row(r, obj)
							   : json_incref(out_version(r, obj)));
			json_decref(obj);
			if (limit && ++matched >= limit && (i + 1 < l.n || l.more)) {
				next = api_continue_encode(list_rev, after + strlen(prefix));
				break;
			}
		}
		if (next || !l.more || !l.n)
			break;
		store_list_free(&l);
	}
	store_list_free(&l);
	if (raw) {
		/* metadata after the items: its continue is known only now */
		_cleanup_free_ char *tail = k8c_xasprintf(
			"],\"metadata\":{\"resourceVersion\":\"%s\"%s%s%s}}", rvbuf,
			next ? ",\"continue\":\"" : "", next ? next : "", next ? "\"" : "");

		rawbuf_add(&rb, tail, strlen(tail));
		rawbuf_send(req, &rb);
		goto out;
	}
	if (next)
		json_object_set_new(json_object_get(out, "metadata"), "continue",
				    json_string(next));
	api_send_json(req, 200, out);
out:
	api_delete_options_release(dopts);
	free(rb.p);
	selector_free(&fields);
	selector_free(&labels);
}

int api_namespaces_bootstrap(struct store *store, struct k8c_error *err)
{
	static const char *const names[] = {"default", "kube-system", "kube-public",
					    "kube-node-lease"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_free_ char *value = NULL, *key = NULL;
		_cleanup_json_ json_t *obj = NULL;
		char uid[37], ts[32];
		int64_t rev;

		random_uuid(uid);
		now_rfc3339(ts, sizeof(ts));
		obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "kind", "Namespace", "apiVersion",
				"v1", "metadata", "name", names[i], "uid", uid, "creationTimestamp",
				ts);
		api_namespace_on_create(obj);
		value = json_dumps(obj, JSON_COMPACT);
		key = k8c_xasprintf("/registry/namespaces/%s", names[i]);
		if (store_create(store, key, value, strlen(value), &rev, err) < 0) {
			if (err->code != STORE_E_EXISTS)
				return k8c_error_wrap(err, "namespace %s", names[i]);
			k8c_error_clear(err);
		}
	}
	return 0;
}

/*
 * Create obj at key when absent. When present and field differs from the stored one (the server
 * came back on another address or port), the stored object gets obj's field.
 */
static int ensure(struct store *store, const char *key, json_t *obj, const char *field,
		  struct k8c_error *err)
{
	json_t *meta = json_object_get(obj, "metadata");
	_cleanup_free_ char *value = NULL;
	_cleanup_json_ json_t *cur = NULL;
	struct store_kv kv = {0};
	char uid[37], ts[32];
	int64_t rev;

	random_uuid(uid);
	now_rfc3339(ts, sizeof(ts));
	set_meta_string(meta, "uid", uid);
	set_meta_string(meta, "creationTimestamp", ts);
	value = json_dumps(obj, JSON_COMPACT);
	if (store_create(store, key, value, strlen(value), &rev, err) == 0)
		return 0;
	if (err->code != STORE_E_EXISTS || !field)
		return err->code == STORE_E_EXISTS ? (k8c_error_clear(err), 0) : -1;
	k8c_error_clear(err);
	if (store_get(store, key, &kv, err) < 0)
		return -1;
	cur = json_loadb(kv.value, kv.value_len, 0, NULL);
	rev = kv.mod_revision;
	store_kv_free(&kv);
	if (!json_is_object(cur) ||
	    json_equal(json_object_get(cur, field), json_object_get(obj, field)))
		return 0;
	json_object_set(cur, field, json_object_get(obj, field));
	free(value);
	value = json_dumps(cur, JSON_COMPACT);
	return store_update(store, key, value, strlen(value), rev, &rev, NULL, err);
}

int api_kubernetes_service_bootstrap(struct store *store, const char *bind_address, int port,
				     struct k8c_error *err)
{
	bool v6 = strchr(bind_address, ':') != NULL;
	const char *addr = bind_address;
	_cleanup_json_ json_t *svc = NULL, *ep = NULL, *slice = NULL;

	if (strcmp(addr, "0.0.0.0") == 0)
		addr = "127.0.0.1";
	else if (strcmp(addr, "::") == 0)
		addr = "::1";
	svc = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:{s:s, s:s}}, s:{s:s, s:s, s:[s], "
			"s:[{s:s, s:i, s:s, s:i}], s:s, s:[s], s:s, s:s}, s:{s:{}}}",
			"kind", "Service", "apiVersion", "v1", "metadata", "name", "kubernetes",
			"namespace", "default", "generation", 1, "labels", "component", "apiserver",
			"provider", "kubernetes", "spec", "type", "ClusterIP", "clusterIP",
			"10.96.0.1", "clusterIPs", "10.96.0.1", "ports", "name", "https", "port",
			443, "protocol", "TCP", "targetPort", port, "sessionAffinity", "None",
			"ipFamilies", "IPv4", "ipFamilyPolicy", "SingleStack",
			"internalTrafficPolicy", "Cluster", "status", "loadBalancer");
	ep = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:[{s:[{s:s}], s:[{s:s, s:i, s:s}]}]}",
		       "kind", "Endpoints", "apiVersion", "v1", "metadata", "name", "kubernetes",
		       "namespace", "default", "labels", "endpointslice.kubernetes.io/skip-mirror",
		       "true", "subsets", "addresses", "ip", addr, "ports", "name", "https", "port",
		       port, "protocol", "TCP");
	slice = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:[s], s:{s:b}}], "
			  "s:[{s:s, s:i, s:s}]}",
			  "kind", "EndpointSlice", "apiVersion", "discovery.k8s.io/v1", "metadata",
			  "name", "kubernetes", "namespace", "default", "labels",
			  "kubernetes.io/service-name", "kubernetes", "addressType",
			  v6 ? "IPv6" : "IPv4", "endpoints", "addresses", addr, "conditions",
			  "ready", 1, "ports", "name", "https", "port", port, "protocol", "TCP");
	if (!svc || !ep || !slice)
		return k8c_error_set(err, STORE_E_INVALID, "kubernetes service objects");
	if (ensure(store, "/registry/services/default/kubernetes", svc, "spec", err) < 0)
		return k8c_error_wrap(err, "service default/kubernetes");
	if (ensure(store, "/registry/endpoints/default/kubernetes", ep, "subsets", err) < 0)
		return k8c_error_wrap(err, "endpoints default/kubernetes");
	if (ensure(store, "/registry/endpointslices/default/kubernetes", slice, "endpoints", err) <
		    0 ||
	    ensure(store, "/registry/endpointslices/default/kubernetes", slice, "ports", err) < 0 ||
	    ensure(store, "/registry/endpointslices/default/kubernetes", slice, "addressType",
		   err) < 0)
		return k8c_error_wrap(err, "endpointslice default/kubernetes");
	return 0;
}

static void send_method_not_allowed(h2o_req_t *req)
{
	api_send_status(req, 405, "MethodNotAllowed", NULL,
			"the server does not allow this method on the requested resource");
}

void api_resource_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
			const char *ns, const char *name, const char *sub)
{
	const char *m = req->method.base;
	size_t mlen = req->method.len;
	bool status = sub != NULL;

#define METHOD(s) (mlen == strlen(s) && memcmp(m, s, mlen) == 0)
	if (!name) {
		if (METHOD("GET"))
			res_list(api, req, r, ns, false);
		else if (METHOD("POST") && (ns || !r->namespaced))
			res_create(api, req, r, ns);
		else if (METHOD("DELETE") && (ns || !r->namespaced) && !r->verbs)
			res_list(api, req, r, ns, true);
		else
			send_method_not_allowed(req);
		return;
	}
	if (sub && strcmp(sub, "finalize") == 0 && !*r->group &&
	    strcmp(r->resource, "namespaces") == 0) {
		api_namespace_finalize_serve(api, req, r, name);
		return;
	}
	if (sub && ns && !*r->group && strcmp(r->resource, "serviceaccounts") == 0 &&
	    strcmp(sub, "token") == 0) {
		api_token_serve(api, req, ns, name);
		return;
	}
	if (sub && ns && !*r->group && strcmp(r->resource, "pods") == 0 &&
	    api_pods_serve(api, req, ns, name, sub))
		return;
	if (sub && strcmp(sub, "scale") == 0 && r->has_scale) {
		api_scale_serve(api, req, r, ns, name);
		return;
	}
	if (sub && (strcmp(sub, "status") != 0 || !r->has_status)) {
		api_send_status(req, 404, "NotFound", NULL,
				"the server could not find the requested resource");
		return;
	}
	if (METHOD("GET"))
		res_get(api, req, r, ns, name);
	else if (METHOD("PUT"))
		res_update(api, req, r, ns, name, status);
	else if (METHOD("PATCH"))
		res_patch(api, req, r, ns, name, status);
	else if (METHOD("DELETE") && !status)
		api_delete_serve(api, req, r, ns, name);
	else
		send_method_not_allowed(req);
#undef METHOD
}

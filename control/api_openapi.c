/*
 * OpenAPI v3 (/openapi/v3: the discovery of the group-versions, /openapi/v3/api/v1 and
 * /openapi/v3/apis/{group}/{version}: one OpenAPI 3.0 document each) built from the schema of
 * the served kinds (api_schema.h) and the registry, and server-side field validation
 * (fieldValidation=Strict|Warn|Ignore) of request bodies against that schema.
 *
 * The documents are built once, on first use (pthread_once), and never change: each is served
 * with the hash kube-apiserver uses (upper-case hex SHA-512 of the body) as ETag and as the
 * ?hash= of its discovery URL; a request carrying the current hash may be cached for a year.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

#include "api.h"
#include "api_schema.h"
#include "cleanup.h"

struct openapi_doc {
	char *gv;   /* "api/v1", "apis/apps/v1" */
	char *body; /* the document (compact JSON) */
	size_t len;
	char etag[SHA512_DIGEST_LENGTH * 2 + 1];
};

static struct {
	pthread_once_t once;
	struct openapi_doc *docs;
	size_t ndocs;
	char *discovery;
	size_t discovery_len;
	char discovery_etag[SHA512_DIGEST_LENGTH * 2 + 1];
	char last_modified[64];
} openapi = {.once = PTHREAD_ONCE_INIT};

#define META	      "io.k8s.apimachinery.pkg.apis.meta.v1."
#define INT_OR_STRING "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
#define QUANTITY      "io.k8s.apimachinery.pkg.api.resource.Quantity"
#define TIME	      META "Time"
#define LIST_META     META "ListMeta"

static json_t *ref(const char *name)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
	return json_pack("{s:[{s:s}]}", "allOf", "$ref", buf);
}

static void add_type(json_t *schemas, const struct api_schema_type *t);

static json_t *value_schema(json_t *schemas, enum api_schema_kind kind,
			    const struct api_schema_type *type)
{
	switch (kind) {
	case API_SCHEMA_OBJECT:
		if (!type)
			return json_pack("{s:s}", "type", "object");
		add_type(schemas, type);
		return ref(api_schema_type_name(type));
	case API_SCHEMA_ARRAY:
		return json_pack("{s:s, s:{}}", "type", "array", "items");
	case API_SCHEMA_MAP:
		return json_pack("{s:s}", "type", "object");
	case API_SCHEMA_STRING:
		return json_pack("{s:s}", "type", "string");
	case API_SCHEMA_INTEGER:
		return json_pack("{s:s, s:s}", "type", "integer", "format", "int64");
	case API_SCHEMA_NUMBER:
		return json_pack("{s:s, s:s}", "type", "number", "format", "double");
	case API_SCHEMA_BOOLEAN:
		return json_pack("{s:s}", "type", "boolean");
	case API_SCHEMA_INT_OR_STRING:
		return ref(INT_OR_STRING);
	case API_SCHEMA_QUANTITY:
		return ref(QUANTITY);
	case API_SCHEMA_TIME:
		return ref(TIME);
	case API_SCHEMA_BYTES:
		return json_pack("{s:s, s:s}", "type", "string", "format", "byte");
	case API_SCHEMA_ANY:
	default:
		return json_pack("{s:s, s:b}", "type", "object",
				 "x-kubernetes-preserve-unknown-fields", 1);
	}
}

static json_t *field_schema(json_t *schemas, const struct api_schema_field *f)
{
	json_t *s;

	if (f->kind == API_SCHEMA_ARRAY)
		s = json_pack("{s:s, s:o}", "type", "array", "items",
			      value_schema(schemas, f->elem, f->type));
	else if (f->kind == API_SCHEMA_MAP)
		s = json_pack("{s:s, s:o}", "type", "object", "additionalProperties",
			      value_schema(schemas, f->elem, f->type));
	else
		s = value_schema(schemas, f->kind, f->type);
	if (f->description && *f->description)
		json_object_set_new(s, "description", json_string(f->description));
	if (f->merge_key)
		json_object_set_new(s, "x-kubernetes-patch-merge-key", json_string(f->merge_key));
	if (f->strategy) {
		char buf[64] = "";

		if (f->strategy & API_SCHEMA_MERGE)
			strcat(buf, "merge");
		if (f->strategy & API_SCHEMA_REPLACE)
			strcat(buf, *buf ? ",replace" : "replace");
		if (f->strategy & API_SCHEMA_RETAIN_KEYS)
			strcat(buf, *buf ? ",retainKeys" : "retainKeys");
		json_object_set_new(s, "x-kubernetes-patch-strategy", json_string(buf));
	}
	return s;
}

static json_t *gvk(const char *group, const char *version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s}", "group", group, "kind", kind, "version", version);
}

/* t's schema (and the types it refers to) in schemas, once. */
static void add_type(json_t *schemas, const struct api_schema_type *t)
{
	const char *name = api_schema_type_name(t), *g, *v, *k;
	json_t *s, *props, *required;

	if (json_object_get(schemas, name))
		return;
	s = json_pack("{s:s}", "type", "object");
	json_object_set_new(schemas, name, s); /* before the fields: types may recur */
	if (*api_schema_type_description(t))
		json_object_set_new(s, "description", json_string(api_schema_type_description(t)));
	props = json_object();
	required = json_array();
	for (size_t i = 0; i < api_schema_nfields(t); i++) {
		const struct api_schema_field *f = api_schema_field_at(t, i);

		json_object_set_new(props, f->name, field_schema(schemas, f));
		if (f->required)
			json_array_append_new(required, json_string(f->name));
	}
	json_object_set_new(s, "properties", props);
	if (json_array_size(required))
		json_object_set_new(s, "required", required);
	else
		json_decref(required);
	if (api_schema_open(t))
		json_object_set_new(s, "x-kubernetes-preserve-unknown-fields", json_true());
	if (api_schema_type_gvk(t, &g, &v, &k))
		json_object_set_new(s, "x-kubernetes-group-version-kind",
				    json_pack("[o]", gvk(g, v, k)));
}

static void add_common(json_t *schemas)
{
	/* as kube-openapi's OpenAPIV3OneOfTypes: explain shows <IntOrString>, <Quantity> */
	json_object_set_new(schemas, INT_OR_STRING,
			    json_pack("{s:s, s:s, s:[{s:s}, {s:s}]}", "description",
				      "IntOrString is a type that can hold an int32 or a string.",
				      "format", "int-or-string", "oneOf", "type", "integer", "type",
				      "string"));
	json_object_set_new(schemas, QUANTITY,
			    json_pack("{s:s, s:[{s:s}, {s:s}]}", "description",
				      "Quantity is a fixed-point representation of a number, e.g. "
				      "100m, 1Gi, 2.5 (a string or a number).",
				      "oneOf", "type", "string", "type", "number"));
	json_object_set_new(schemas, TIME,
			    json_pack("{s:s, s:s, s:s}", "description",
				      "Time is a wrapper around time.Time: RFC 3339 in UTC, e.g. "
				      "2006-01-02T15:04:05Z.",
				      "type", "string", "format", "date-time"));
	json_object_set_new(
		schemas, LIST_META,
		json_pack("{s:s, s:s, s:{s:{s:s}, s:{s:s, s:s}, s:{s:s}, s:{s:s}}}", "description",
			  "ListMeta describes metadata that synthetic resources must have, "
			  "including lists and various status objects.",
			  "type", "object", "properties", "continue", "type", "string",
			  "remainingItemCount", "type", "integer", "format", "int64",
			  "resourceVersion", "type", "string", "selfLink", "type", "string"));
}

/* The list type of kind (PodList), named next to the kind's type. */
static char *add_list_type(json_t *schemas, const struct api_resource *r,
			   const struct api_schema_type *t)
{
	const char *name = api_schema_type_name(t);
	char *list_name = NULL;
	_cleanup_free_ char *kind = NULL, *desc = NULL;

	if (asprintf(&list_name, "%sList", name) < 0 || asprintf(&kind, "%sList", r->kind) < 0 ||
	    asprintf(&desc, "%sList is a list of %s objects.", r->kind, r->kind) < 0)
		abort();
	if (json_object_get(schemas, list_name))
		return list_name;
	json_object_set_new(
		schemas, list_name,
		json_pack("{s:s, s:s, s:{s:{s:s}, s:{s:s, s:o}, s:{s:s}, s:o}, s:[s], s:[o]}",
			  "description", desc, "type", "object", "properties", "apiVersion", "type",
			  "string", "items", "type", "array", "items", ref(name), "kind", "type",
			  "string", "metadata", ref(LIST_META), "required", "items",
			  "x-kubernetes-group-version-kind", gvk(r->group, r->version, kind)));
	return list_name;
}

static bool has_verb(const struct api_resource *r, const char *verb)
{
	if (!r->verbs)
		return true;
	for (const char *const *v = r->verbs; *v; v++)
		if (strcmp(*v, verb) == 0)
			return true;
	return false;
}

static json_t *query_param(const char *name, const char *type, const char *desc)
{
	return json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", name, "in", "query", "description",
			 desc, "schema", "type", type);
}

/* The query parameters of a write (create, update, patch). */
static json_t *write_params(bool patch)
{
	json_t *p = json_pack(
		"[o, o, o]",
		query_param("dryRun", "string",
			    "When present, indicates that modifications should not be persisted."),
		query_param("fieldManager", "string",
			    "fieldManager is a name associated with the actor or entity that is "
			    "making these changes."),
		query_param(
			"fieldValidation", "string",
			"fieldValidation instructs the server on how to handle objects in the "
			"request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid "
			"values are: - Ignore: unknown fields are silently dropped and only the "
			"last duplicate field is kept. - Warn: a warning is sent via the standard "
			"warning response header for each unknown and each duplicate field; this "
			"is the default. - Strict: the request fails with a BadRequest error if "
			"any unknown fields would be dropped from the object, or if any duplicate "
			"fields are present."));

	if (patch)
		json_array_append_new(p,
				      query_param("force", "boolean",
						  "Force is going to \"force\" Apply requests."));
	return p;
}

static json_t *json_content(json_t *schema)
{
	return json_pack("{s:{s:o}, s:{s:o}}", "application/json", "schema", json_incref(schema),
			 "application/yaml", "schema", schema);
}

/*
 * One operation: action is kube's x-kubernetes-action (get, list, post, put, patch, delete,
 * deletecollection), op_id its operationId, body/resp the schema names of the request body
 * and the response (NULL: none).
 */
static json_t *operation(const char *op_id, const char *action, const char *tag, json_t *gvk_obj,
			 const char *body, const char *resp, json_t *params)
{
	json_t *op = json_pack("{s:[s], s:s, s:s, s:o, s:o}", "tags", tag, "operationId", op_id,
			       "x-kubernetes-action", action, "x-kubernetes-group-version-kind",
			       gvk_obj, "parameters", params ? params : json_array());
	json_t *responses = json_object();

	if (body && strcmp(action, "patch") == 0) {
		json_t *any = json_pack("{s:s}", "type", "object");

		json_object_set_new(op, "requestBody",
				    json_pack("{s:{s:{s:O}, s:{s:O}, s:{s:O}, s:{s:O}}, s:b}",
					      "content", "application/apply-patch+yaml", "schema",
					      any, "application/json-patch+json", "schema", any,
					      "application/merge-patch+json", "schema", any,
					      "application/strategic-merge-patch+json", "schema",
					      any, "required", 1));
		json_decref(any);
	} else if (body) {
		json_object_set_new(op, "requestBody",
				    json_pack("{s:{s:{s:o}}, s:b}", "content", "*/*", "schema",
					      ref(body), "required", 1));
	}
	if (resp)
		json_object_set_new(responses, "200",
				    json_pack("{s:s, s:o}", "description", "OK", "content",
					      json_content(ref(resp))));
	else
		json_object_set_new(responses, "200", json_pack("{s:s}", "description", "OK"));
	if (strcmp(action, "post") == 0 && resp) {
		json_object_set_new(responses, "201",
				    json_pack("{s:s, s:o}", "description", "Created", "content",
					      json_content(ref(resp))));
		json_object_set_new(responses, "202",
				    json_pack("{s:s, s:o}", "description", "Accepted", "content",
					      json_content(ref(resp))));
	}
	if (strcmp(action, "put") == 0 && resp)
		json_object_set_new(responses, "201",
				    json_pack("{s:s, s:o}", "description", "Created", "content",
					      json_content(ref(resp))));
	json_object_set_new(responses, "401", json_pack("{s:s}", "description", "Unauthorized"));
	json_object_set_new(op, "responses", responses);
	return op;
}

/* "CoreV1", "AppsV1", "NetworkingV1", "RbacAuthorizationV1", "ExtensionsV1beta1". */
static void gv_camel(const char *group, const char *version, char *out, size_t len)
{
	size_t n = 0;
	bool up = true;
	const char *g = *group ? group : "core";
	const char *end = strstr(g, ".k8s.io");

	if (!end)
		end = g + strlen(g);
	for (const char *p = g; p < end && n + 1 < len; p++) {
		if (*p == '.') {
			up = true;
			continue;
		}
		out[n++] = up ? (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p) : *p;
		up = false;
	}
	for (const char *p = version; *p && n + 1 < len; p++)
		out[n++] = p == version ? (char)(*p - 32) : *p;
	out[n] = '\0';
}

static json_t *path_params(bool namespaced, bool named)
{
	json_t *p = json_array();

	if (named)
		json_array_append_new(p, json_pack("{s:s, s:s, s:s, s:b, s:{s:s}, s:b}", "name",
						   "name", "in", "path", "description",
						   "name of the object", "required", 1, "schema",
						   "type", "string", "uniqueItems", 1));
	if (namespaced)
		json_array_append_new(
			p, json_pack("{s:s, s:s, s:s, s:b, s:{s:s}, s:b}", "name", "namespace",
				     "in", "path", "description",
				     "object name and auth scope, such as for teams and projects",
				     "required", 1, "schema", "type", "string", "uniqueItems", 1));
	json_array_append_new(p, query_param("pretty", "string",
					     "If 'true', then the output is pretty printed."));
	return p;
}

static json_t *list_params(void)
{
	return json_pack(
		"[o, o, o, o, o, o, o]",
		query_param("continue", "string", "The continue option of a paginated list."),
		query_param("fieldSelector", "string",
			    "A selector to restrict the list of returned objects by their fields."),
		query_param("labelSelector", "string",
			    "A selector to restrict the list of returned objects by their labels."),
		query_param("limit", "integer", "The maximum number of responses to return."),
		query_param(
			"resourceVersion", "string",
			"Constraint on the resource versions that a request may be served from."),
		query_param("timeoutSeconds", "integer", "Timeout for the list/watch call."),
		query_param("watch", "boolean",
			    "Watch for changes to the described resources and return them as a "
			    "stream of add, update, and remove notifications."));
}

static void add_paths(json_t *paths, json_t *schemas, const struct api_resource *r)
{
	const struct api_schema_type *t = api_schema_kind(r->group, r->version, r->kind);
	const struct api_schema_type *scale = api_schema_kind("autoscaling", "v1", "Scale");
	char base[256], coll[384], item[448], sub[512], gvc[64], id[256];
	_cleanup_free_ char *list = NULL;
	const char *name, *tag, *ns = r->namespaced ? "Namespaced" : "";
	json_t *pi;

	if (!t)
		return;
	add_type(schemas, t);
	name = api_schema_type_name(t);
	list = add_list_type(schemas, r, t);
	gv_camel(r->group, r->version, gvc, sizeof(gvc));
	tag = gvc; /* kube tags by group-version too */
	if (*r->group)
		snprintf(base, sizeof(base), "/apis/%s/%s", r->group, r->version);
	else
		snprintf(base, sizeof(base), "/api/%s", r->version);
	if (r->namespaced)
		snprintf(coll, sizeof(coll), "%s/namespaces/{namespace}/%s", base, r->resource);
	else
		snprintf(coll, sizeof(coll), "%s/%s", base, r->resource);
	snprintf(item, sizeof(item), "%s/{name}", coll);

	pi = json_pack("{s:o}", "parameters", path_params(r->namespaced, false));
	if (has_verb(r, "list")) {
		snprintf(id, sizeof(id), "list%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "get",
				    operation(id, "list", tag, gvk(r->group, r->version, r->kind),
					      NULL, list, list_params()));
	}
	if (has_verb(r, "create")) {
		snprintf(id, sizeof(id), "create%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "post",
				    operation(id, "post", tag, gvk(r->group, r->version, r->kind),
					      name, name, write_params(false)));
	}
	if (has_verb(r, "deletecollection")) {
		snprintf(id, sizeof(id), "deletecollection%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "delete",
				    operation(id, "deletecollection", tag,
					      gvk(r->group, r->version, r->kind), NULL, NULL,
					      list_params()));
	}
	json_object_set_new(paths, coll, pi);
	if (r->namespaced && has_verb(r, "list")) {
		char all[448];

		snprintf(all, sizeof(all), "%s/%s", base, r->resource);
		snprintf(id, sizeof(id), "list%s%sForAllNamespaces", gvc, r->kind);
		json_object_set_new(
			paths, all,
			json_pack("{s:o, s:o}", "parameters", path_params(false, false), "get",
				  operation(id, "list", tag, gvk(r->group, r->version, r->kind),
					    NULL, list, list_params())));
	}

	pi = json_pack("{s:o}", "parameters", path_params(r->namespaced, true));
	if (has_verb(r, "get")) {
		snprintf(id, sizeof(id), "read%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "get",
				    operation(id, "get", tag, gvk(r->group, r->version, r->kind),
					      NULL, name, NULL));
	}
	if (has_verb(r, "update")) {
		snprintf(id, sizeof(id), "replace%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "put",
				    operation(id, "put", tag, gvk(r->group, r->version, r->kind),
					      name, name, write_params(false)));
	}
	if (has_verb(r, "patch")) {
		snprintf(id, sizeof(id), "patch%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "patch",
				    operation(id, "patch", tag, gvk(r->group, r->version, r->kind),
					      name, name, write_params(true)));
	}
	if (has_verb(r, "delete")) {
		snprintf(id, sizeof(id), "delete%s%s%s", gvc, ns, r->kind);
		json_object_set_new(pi, "delete",
				    operation(id, "delete", tag, gvk(r->group, r->version, r->kind),
					      NULL, NULL, NULL));
	}
	json_object_set_new(paths, item, pi);

	for (int s = 0; s < 2; s++) {
		const char *what = s ? "Scale" : "Status", *sname = s ? NULL : name;
		json_t *k;

		if (s == 0 && !r->has_status)
			continue;
		if (s == 1) {
			if (!r->has_scale || !scale)
				continue;
			add_type(schemas, scale);
			sname = api_schema_type_name(scale);
		}
		snprintf(sub, sizeof(sub), "%s/%s", item, s ? "scale" : "status");
		k = s ? gvk("autoscaling", "v1", "Scale") : gvk(r->group, r->version, r->kind);
		pi = json_pack("{s:o}", "parameters", path_params(r->namespaced, true));
		snprintf(id, sizeof(id), "read%s%s%s%s", gvc, ns, r->kind, what);
		json_object_set_new(
			pi, "get", operation(id, "get", tag, json_deep_copy(k), NULL, sname, NULL));
		snprintf(id, sizeof(id), "replace%s%s%s%s", gvc, ns, r->kind, what);
		json_object_set_new(pi, "put",
				    operation(id, "put", tag, json_deep_copy(k), sname, sname,
					      write_params(false)));
		snprintf(id, sizeof(id), "patch%s%s%s%s", gvc, ns, r->kind, what);
		json_object_set_new(
			pi, "patch",
			operation(id, "patch", tag, k, sname, sname, write_params(true)));
		json_object_set_new(paths, sub, pi);
	}
}

static void hash_hex(const char *data, size_t len, char out[SHA512_DIGEST_LENGTH * 2 + 1])
{
	unsigned char md[SHA512_DIGEST_LENGTH];

	SHA512((const unsigned char *)data, len, md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static void build_all(void)
{
	_cleanup_json_ json_t *discovery = json_pack("{s:{}}", "paths");
	json_t *dpaths = json_object_get(discovery, "paths");
	time_t now = time(NULL);
	struct tm tm;

	openapi.docs = k8c_xmalloc(sizeof(openapi.docs[0]) * (api_registry_count() + 1));
	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		_cleanup_json_ json_t *doc = NULL;
		struct openapi_doc *d;
		json_t *paths, *schemas;
		char gv[256], url[512];
		bool seen = false;

		snprintf(gv, sizeof(gv), *r->group ? "apis/%s/%s" : "api/%s%.0s",
			 *r->group ? r->group : r->version, r->version);
		for (size_t j = 0; j < openapi.ndocs; j++)
			seen |= strcmp(openapi.docs[j].gv, gv) == 0;
		if (seen)
			continue;
		doc = json_pack("{s:s, s:{s:s, s:s}, s:{}, s:{s:{}}}", "openapi", "3.0.0", "info",
				"title", "Kubernetes", "version", "v1." K8C_VERSION, "paths",
				"components", "schemas");
		paths = json_object_get(doc, "paths");
		schemas = json_object_get(json_object_get(doc, "components"), "schemas");
		add_common(schemas);
		for (size_t j = i; j < api_registry_count(); j++) {
			const struct api_resource *o = api_registry_at(j);

			if (strcmp(o->group, r->group) == 0 && strcmp(o->version, r->version) == 0)
				add_paths(paths, schemas, o);
		}
		d = &openapi.docs[openapi.ndocs++];
		d->gv = k8c_xstrdup(gv);
		d->body = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
		if (!d->body)
			abort();
		d->len = strlen(d->body);
		hash_hex(d->body, d->len, d->etag);
		snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", gv, d->etag);
		json_object_set_new(dpaths, gv, json_pack("{s:s}", "serverRelativeURL", url));
	}
	openapi.discovery = json_dumps(discovery, JSON_COMPACT | JSON_SORT_KEYS);
	if (!openapi.discovery)
		abort();
	openapi.discovery_len = strlen(openapi.discovery);
	hash_hex(openapi.discovery, openapi.discovery_len, openapi.discovery_etag);
	gmtime_r(&now, &tm);
	strftime(openapi.last_modified, sizeof(openapi.last_modified), "%a, %d %b %Y %H:%M:%S GMT",
		 &tm);
}

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *value)
{
	h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);

	h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
}

/* Whether If-None-Match names etag (quoted, or *). */
static bool not_modified(h2o_req_t *req, const char *etag)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
	h2o_iovec_t v;
	size_t n = strlen(etag);

	if (i < 0)
		return false;
	v = req->headers.entries[i].value;
	if (v.len == 1 && v.base[0] == '*')
		return true;
	for (size_t k = 0; k + n + 2 <= v.len; k++)
		if (v.base[k] == '"' && memcmp(v.base + k + 1, etag, n) == 0 &&
		    v.base[k + n + 1] == '"')
			return true;
	return false;
}

static void send_doc(h2o_req_t *req, const char *body, size_t len, const char *etag)
{
	char quoted[SHA512_DIGEST_LENGTH * 2 + 3];

	snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
	add_header(req, H2O_TOKEN_ETAG, quoted);
	add_header(req, H2O_TOKEN_LAST_MODIFIED, openapi.last_modified);
	if (not_modified(req, etag)) {
		req->res.status = 304;
		req->res.reason = "Not Modified";
		h2o_send_inline(req, "", 0);
		return;
	}
	req->res.status = 200;
	req->res.reason = "OK";
	req->res.content_length = len;
	add_header(req, H2O_TOKEN_CONTENT_TYPE, "application/json");
	h2o_send_inline(req, body, len);
}

/* Whether the Accept header admits JSON: absent, any type, application/any or JSON. */
static bool accepts_json(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
	h2o_iovec_t v;

	if (i < 0)
		return true;
	v = req->headers.entries[i].value;
	return v.len == 0 || memmem(v.base, v.len, "*/*", 3) || memmem(v.base, v.len, "/*", 2) ||
	       memmem(v.base, v.len, "application/json", 16);
}

void api_openapi_serve(h2o_req_t *req, h2o_iovec_t path)
{
	static const char prefix[] = "/openapi/v3";
	const size_t plen = sizeof(prefix) - 1;
	_cleanup_free_ char *hash = NULL;

	pthread_once(&openapi.once, build_all);
	if (path.len == plen) {
		send_doc(req, openapi.discovery, openapi.discovery_len, openapi.discovery_etag);
		return;
	}
	for (size_t i = 0; i < openapi.ndocs; i++) {
		const struct openapi_doc *d = &openapi.docs[i];

		if (path.len != plen + 1 + strlen(d->gv) ||
		    memcmp(path.base + plen + 1, d->gv, path.len - plen - 1) != 0)
			continue;
		add_header(req, H2O_TOKEN_VARY, "Accept");
		if (!accepts_json(req)) {
			req->res.status = 406;
			req->res.reason = "Not Acceptable";
			h2o_send_inline(req, "", 0);
			return;
		}
		hash = api_query(req, "hash");
		if (hash && *hash) {
			char loc[512], expires[64];
			time_t later = time(NULL) + 365 * 24 * 3600;
			struct tm tm;

			if (strcmp(hash, d->etag) != 0) {
				snprintf(loc, sizeof(loc), "/openapi/v3/%s?hash=%s", d->gv,
					 d->etag);
				add_header(req, H2O_TOKEN_LOCATION, loc);
				req->res.status = 301;
				req->res.reason = "Moved Permanently";
				h2o_send_inline(req, "", 0);
				return;
			}
			gmtime_r(&later, &tm);
			strftime(expires, sizeof(expires), "%a, %d %b %Y %H:%M:%S GMT", &tm);
			add_header(req, H2O_TOKEN_CACHE_CONTROL, "public, immutable");
			add_header(req, H2O_TOKEN_EXPIRES, expires);
		}
		send_doc(req, d->body, d->len, d->etag);
		return;
	}
	api_send_status(req, 404, "NotFound", NULL,
			"the server could not find the requested resource (path %.*s)",
			(int)(path.len > 256 ? 256 : path.len), path.base);
}

/* Server-side field validation. */

enum field_validation { FV_IGNORE, FV_WARN, FV_STRICT };

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A float64 as Go's %v prints it: shortest digits, exponent form below 1e-4 and from 1e+06. */
static void go_float(FILE *f, double v)
{
	char buf[64], digits[32];
	int prec, exp, nd = 0;

	if (v == 0) {
		fputs(signbit(v) ? "-0" : "0", f);
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	for (const char *p = buf; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp < -4 || exp >= 6) {
		fprintf(f, "%s%c%s%s", v < 0 ? "-" : "", digits[0], nd > 1 ? "." : "", digits + 1);
		fprintf(f, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	} else {
		fprintf(f, "%.*f", nd - 1 - exp > 0 ? nd - 1 - exp : 0, v);
	}
}

/*
 * v as Go's %+v prints the map[string]interface{} of a JSON value decoded by sigs.k8s.io/json
 * (integers int64, other numbers float64).
 */
static void go_value(FILE *f, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char **keys = k8c_xmalloc(sizeof(*keys) * (json_object_size(v) + 1));
		const char *key;
		json_t *val;
		size_t n = 0;

		json_object_foreach((json_t *)v, key, val) keys[n++] = key;
		qsort(keys, n, sizeof(*keys), key_cmp);
		fputs("map[", f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s%s:", i ? " " : "", keys[i]);
			go_value(f, json_object_get(v, keys[i]));
		}
		fputc(']', f);
		free(keys);
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *el;

		fputc('[', f);
		json_array_foreach((json_t *)v, i, el)
		{
			if (i)
				fputc(' ', f);
			go_value(f, el);
		}
		fputc(']', f);
		break;
	}
	case JSON_STRING:
		fwrite(json_string_value(v), 1, json_string_length(v), f);
		break;
	case JSON_INTEGER: /* sigs.k8s.io/json keeps integers int64 */
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		go_float(f, json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	default:
		fputs("<nil>", f);
	}
}

/* s quoted as Go's %q (the value of a field.Invalid error). */
static void go_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * A strict error of a patch, as kube-apiserver's patcher words it: 422 Invalid with one cause on
 * field "patch" whose value is the patch (strategic: Go's rendering of the decoded map) or the
 * patched object (merge patch: its JSON).
 */
static void send_patch_invalid(h2o_req_t *req, const json_t *patched, const char *errors)
{
	char *value = NULL, *msg = NULL;
	size_t vlen = 0, mlen = 0;
	FILE *f = open_memstream(&value, &vlen);
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	json_t *causes;

	if (i >= 0 && memmem(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
			     "strategic-merge-patch", 21)) {
		_cleanup_json_ json_t *patch = json_loadb(req->entity.base ? req->entity.base : "",
							  req->entity.len, 0, NULL);

		go_value(f, patch);
	} else {
		_cleanup_free_ char *js = json_dumps(patched, JSON_COMPACT | JSON_SORT_KEYS);

		fputs(js ? js : "", f);
	}
	fclose(f);
	f = open_memstream(&msg, &mlen);
	fputs("Invalid value: ", f);
	go_quote(f, value);
	fprintf(f, ": strict decoding error: %s", errors);
	fclose(f);
	causes = json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueInvalid", "message", msg,
			   "field", "patch");
	api_send_status(req, 422, "Invalid",
			json_pack("{s:s, s:s, s:s, s:o}", "name", "", "group", "", "kind", "",
				  "causes", causes),
			" \"\" is invalid: patch: %s", msg);
	free(value);
	free(msg);
}

bool api_field_validate(h2o_req_t *req, const struct api_resource *r, json_t *obj, bool raw_body)
{
	_cleanup_free_ char *dir = api_query(req, "fieldValidation");
	_cleanup_json_ json_t *problems = NULL;
	const struct api_schema_type *t;
	enum field_validation fv;

	if (!dir || !*dir || strcmp(dir, "Warn") == 0) {
		fv = FV_WARN; /* kube-apiserver's default since 1.23 */
	} else if (strcmp(dir, "Strict") == 0) {
		fv = FV_STRICT;
	} else if (strcmp(dir, "Ignore") == 0) {
		fv = FV_IGNORE;
	} else {
		api_send_status(req, 400, "BadRequest", NULL,
				"fieldValidation: Unsupported value: \"%s\": supported values: "
				"\"Ignore\", \"Strict\", \"Warn\"",
				dir);
		return false;
	}
	t = api_schema_kind(r->group, r->version, r->kind);
	if (!t)
		return true;
	if (fv == FV_IGNORE) {
		api_schema_drop_unknown(t, obj);
		return true;
	}
	problems = json_array();
	if (raw_body && req->entity.len)
		api_schema_duplicate_fields(req->entity.base, req->entity.len, problems);
	api_schema_unknown_fields(t, obj, problems);
	if (!json_array_size(problems))
		return true;
	if (fv == FV_STRICT) {
		size_t i, cap = 64, n = 0;
		_cleanup_free_ char *msg = k8c_xmalloc(cap);
		json_t *p;

		msg[0] = '\0';
		json_array_foreach(problems, i, p)
		{
			const char *s = json_string_value(p);
			size_t sl = strlen(s);

			while (n + sl + 3 > cap)
				msg = k8c_xrealloc(msg, cap *= 2);
			n += (size_t)sprintf(msg + n, "%s%s", i ? ", " : "", s);
		}
		/* a decoded body (create, update) names its kind as kube's decoder does */
		if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PATCH")))
			send_patch_invalid(req, obj, msg);
		else
			api_send_status(req, 400, "BadRequest", NULL,
					"%s in version \"%s\" cannot be handled as a %s: strict "
					"decoding error: %s",
					r->kind, r->version, r->kind, msg);
		return false;
	}
	api_schema_drop_unknown(t, obj);
	{
		size_t i;
		json_t *p;

		json_array_foreach(problems, i, p)
		{
			const char *s = json_string_value(p);
			_cleanup_free_ char *w = k8c_xmalloc(strlen(s) * 2 + 16);
			char *o = w + sprintf(w, "299 - \"");

			for (; *s; s++) {
				if (*s == '"' || *s == '\\')
					*o++ = '\\';
				*o++ = *s;
			}
			strcpy(o, "\"");
			h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("warning"),
					      0, NULL, h2o_strdup(&req->pool, w, SIZE_MAX).base,
					      strlen(w));
		}
	}
	return true;
}

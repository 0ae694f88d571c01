/*
 * The /scale subresource (deployments, replicasets, statefulsets, replicationcontrollers): an
 * autoscaling/v1 Scale view of spec.replicas. `kubectl scale` GETs the object, then PATCHes the
 * Scale with a merge patch; `--current-replicas` GETs and PUTs the Scale (without a
 * Content-Type).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_patch.h"
#include "api_schema.h"
#include "cleanup.h"

static bool header_is(h2o_req_t *req, const char *type)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	size_t n = strlen(type);
	h2o_iovec_t v;

	if (i < 0)
		return false;
	v = req->headers.entries[i].value;
	return v.len >= n && strncasecmp(v.base, type, n) == 0 &&
	       (v.len == n || v.base[n] == ';' || v.base[n] == ' ');
}

static bool method_is(h2o_req_t *req, const char *m)
{
	return req->method.len == strlen(m) && memcmp(req->method.base, m, req->method.len) == 0;
}

static void send_scale_invalid(h2o_req_t *req, const char *name, json_t *causes)
{
	json_t *c = json_array_get(causes, 0);

	api_send_status(req, 422, "Invalid",
			json_pack("{s:s, s:s, s:s, s:O}", "name", name, "group", "autoscaling",
				  "kind", "Scale", "causes", causes),
			"Scale.autoscaling \"%s\" is invalid: %s: %s", name,
			json_string_value(json_object_get(c, "field")),
			json_string_value(json_object_get(c, "message")));
}

/*
 * The body as a JSON object, or NULL after answering the error. A patch is only checked (its
 * type in *type) and stands as null: api_patch_apply reads it.
 */
static json_t *scale_body(h2o_req_t *req, bool patch, enum api_patch_type *type)
{
	ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	json_error_t jerr;
	json_t *body;
	bool ok = patch ? ct >= 0 && api_patch_type(req->headers.entries[ct].value.base,
						    req->headers.entries[ct].value.len, type) == 0
			: ct < 0 || header_is(req, "application/json");

	if (!ok) {
		api_send_status(req, 415, "UnsupportedMediaType", NULL,
				"the body of the request was in an unknown format - accepted media "
				"types include: %s",
				patch ? API_PATCH_MEDIA_TYPES : "application/json");
		return NULL;
	}
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return NULL;
	}
	if (patch)
		return json_null();
	body = json_loadb(req->entity.base ? req->entity.base : "", req->entity.len, 0, &jerr);
	if (!json_is_object(body)) {
		json_decref(body);
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request could not be decoded as a JSON object");
		return NULL;
	}
	return body;
}

void api_scale_serve(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		     const char *name)
{
	const char *store_name = api_registry_store_name(r);
	_cleanup_free_ char *key =
		r->namespaced ? k8c_xasprintf("/registry/%s/%s/%s", store_name, ns, name)
			      : k8c_xasprintf("/registry/%s/%s", store_name, name);
	_cleanup_json_ json_t *obj = NULL, *scale = NULL, *body = NULL, *causes = NULL;
	_cleanup_free_ char *value = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_kv kv = {0};
	bool put = method_is(req, "PUT"), patch = method_is(req, "PATCH");
	enum api_patch_type type = API_PATCH_MERGE;
	json_t *meta, *ospec;
	const char *rvs;
	int64_t expected, rev;

	if (!put && !patch && !method_is(req, "GET")) {
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
		return;
	}
	if ((put || patch) && !(body = scale_body(req, patch, &type)))
		return;
	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, r->resource, name);
		k8c_error_clear(&err);
		return;
	}
	obj = json_loadb(kv.value, kv.value_len, 0, NULL);
	expected = kv.mod_revision;
	store_kv_free(&kv);
	if (!json_is_object(obj)) {
		api_send_status(req, 500, "InternalError", NULL, "stored %s %s is corrupt",
				r->resource, name);
		return;
	}
	api_set_resource_version(obj, expected);
	scale = api_scale_of(r, obj);
	if (!put && !patch) {
		api_send_json(req, 200, scale);
		return;
	}
	if (patch) {
		json_t *patched =
			api_patch_apply(scale, req->entity.base, req->entity.len, type,
					api_schema_kind("autoscaling", "v1", "Scale"), &err);
		_cleanup_json_ json_t *st = NULL;

		if (!patched) {
			st = api_patch_error_status(&err);
			k8c_error_clear(&err);
			api_send_json(req, (int)json_integer_value(json_object_get(st, "code")),
				      st);
			return;
		}
		json_decref(scale);
		scale = patched;
		if (!json_is_object(scale)) {
			api_send_status(req, 400, "BadRequest", NULL,
					"the patched Scale is not a JSON object");
			return;
		}
	} else {
		json_decref(scale);
		scale = json_incref(body);
	}
	/* a resourceVersion in the Scale is a precondition */
	rvs = json_string_value(
		json_object_get(json_object_get(scale, "metadata"), "resourceVersion"));
	if (rvs && *rvs) {
		char *end;

		errno = 0;
		expected = strtoll(rvs, &end, 10);
		if (errno || *end || expected < 0) {
			api_send_status(req, 400, "BadRequest", NULL,
					"invalid resourceVersion \"%s\"", rvs);
			return;
		}
	}
	causes = json_array();
	ospec = json_deep_copy(json_object_get(obj, "spec"));
	if (api_scale_apply(obj, scale, causes) < 0) {
		json_decref(ospec);
		send_scale_invalid(req, name, causes);
		return;
	}
	meta = json_object_get(obj, "metadata");
	if (!json_equal(ospec, json_object_get(obj, "spec")) && json_object_get(meta, "generation"))
		json_object_set_new(
			meta, "generation",
			json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
	json_decref(ospec);
	json_object_del(meta, "resourceVersion");
	value = json_dumps(obj, JSON_COMPACT);
	if (store_update(api->store, key, value, strlen(value), expected, &rev, NULL, &err) < 0) {
		api_send_store_error(req, &err, r->resource, name);
		k8c_error_clear(&err);
		return;
	}
	api_set_resource_version(obj, rev);
	json_decref(scale);
	scale = api_scale_of(r, obj);
	api_send_json(req, 200, scale);
}

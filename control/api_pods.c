/*
 * The Pod subresources that are not the generic status: pods/binding (what a scheduler posts to
 * put a pod on a node), pods/log and pods/exec (proxied to the pod's node agent).
 *
 * binding follows kube-apiserver's BindingREST: the Binding's name must be the pod's, its target
 * a Node by name; a pod that already has a node or is being deleted is a 409 Conflict; otherwise
 * spec.nodeName is set, the Binding's annotations are copied onto the pod, and the PodScheduled
 * condition becomes True, in one optimistic update retried on conflicts. The answer is a
 * Success Status with code 201.
 *
 * log and exec check what kube-apiserver checks before it proxies to the kubelet (the pod, the
 * container choice, that the pod has a node, for exec that it has not completed) with the same
 * messages, then api_node_proxy.c streams from the pod's node agent (agent/node_server.c).
 */
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_kind.h"
#include "cleanup.h"

static json_t *pod_load(struct api *api, h2o_req_t *req, const char *key, const char *name,
			int64_t *rev)
{
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *pod;

	if (store_get(api->store, key, &kv, &err) < 0) {
		api_send_store_error(req, &err, "pods", name);
		k8c_error_clear(&err);
		return NULL;
	}
	pod = json_loadb(kv.value, kv.value_len, 0, NULL);
	*rev = kv.mod_revision;
	store_kv_free(&kv);
	if (!json_is_object(pod)) {
		json_decref(pod);
		api_send_status(req, 500, "InternalError", NULL, "stored pod %s is corrupt", name);
		return NULL;
	}
	return pod;
}

/* Set (or add) the PodScheduled condition to True. */
static void set_scheduled(json_t *pod)
{
	json_t *status = api_jobj(pod, "status"), *conds = json_object_get(status, "conditions");
	json_t *c = NULL, *e;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_foreach(conds, i, e)
	{
		if (json_is_object(e) && strcmp(api_jstr(e, "type") ?: "", "PodScheduled") == 0)
			c = e;
	}
	if (!c) {
		c = json_object();
		json_array_append_new(conds, c);
		json_object_set_new(c, "type", json_string("PodScheduled"));
	}
	if (strcmp(api_jstr(c, "status") ?: "", "True") != 0)
		json_object_set_new(c, "lastTransitionTime", json_string(ts));
	json_object_set_new(c, "status", json_string("True"));
	json_object_set_new(c, "lastProbeTime", json_null());
	json_object_del(c, "reason");
	json_object_del(c, "message");
}

/* name is NULL for POST .../bindings (the Binding names the pod). */
static void pod_binding(struct api *api, h2o_req_t *req, const char *ns, const char *name)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_json_ json_t *b = NULL;
	json_error_t jerr;
	const char *bname, *node, *tkind;

	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return;
	}
	b = json_loadb(req->entity.base ? req->entity.base : "", req->entity.len, 0, &jerr);
	if (!json_is_object(b)) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request could not be decoded as a Binding: %s",
				b ? "not a JSON object" : jerr.text);
		return;
	}
	bname = api_jstr(b, "metadata.name");
	if (!name && (!bname || !*bname)) {
		api_send_status(req, 422, "Invalid",
				json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "kind", "Binding", "causes",
					  "reason", "FieldValueRequired", "message",
					  "Required value: name or generateName is required",
					  "field", "metadata.name"),
				"Binding \"\" is invalid: metadata.name: Required value: name or "
				"generateName is required");
		return;
	}
	if (!name)
		name = bname;
	key = k8c_xasprintf("/registry/pods/%s/%s", ns, name);
	if (bname && *bname && strcmp(bname, name) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"name in URL does not match name in Binding object");
		return;
	}
	node = api_jstr(b, "target.name");
	tkind = api_jstr(b, "target.kind");
	if (!node || !*node || (tkind && *tkind && strcmp(tkind, "Node") != 0)) {
		json_t *causes = json_pack(
			"[{s:s, s:s, s:s}]", "reason",
			node && *node ? "FieldValueNotSupported" : "FieldValueRequired", "message",
			node && *node ? "Unsupported value: must be empty or \"Node\""
				      : "Required value",
			"field", node && *node ? "target.kind" : "target.name");

		api_send_status(req, 422, "Invalid",
				json_pack("{s:s, s:s, s:o}", "name", name, "kind", "Binding",
					  "causes", causes),
				"Binding \"%s\" is invalid: %s", name,
				node && *node ? "target.kind: Unsupported value"
					      : "target.name: Required value");
		return;
	}
	for (int attempt = 0; attempt < 16; attempt++) {
		_cleanup_json_ json_t *pod = NULL;
		_cleanup_free_ char *value = NULL;
		struct k8c_error err = K8C_ERROR_INIT;
		json_t *spec, *ann, *v;
		const char *cur, *k;
		int64_t rev;

		pod = pod_load(api, req, key, name, &rev);
		if (!pod)
			return;
		if (api_jget(pod, "metadata.deletionTimestamp")) {
			api_send_status(
				req, 409, "Conflict",
				json_pack("{s:s, s:s}", "name", name, "kind", "pods"),
				"Operation cannot be fulfilled on pods/binding \"%s\": pod %s "
				"is being deleted, cannot be assigned to a host",
				name, name);
			return;
		}
		spec = api_jobj(pod, "spec");
		cur = api_jstr(spec, "nodeName");
		if (cur && *cur) {
			api_send_status(
				req, 409, "Conflict",
				json_pack("{s:s, s:s}", "name", name, "kind", "pods"),
				"Operation cannot be fulfilled on pods/binding \"%s\": pod %s "
				"is already assigned to node \"%s\"",
				name, name, cur);
			return;
		}
		json_object_set_new(spec, "nodeName", json_string(node));
		ann = json_object_get(json_object_get(b, "metadata"), "annotations");
		if (json_is_object(ann) && json_object_size(ann)) {
			json_t *pann = api_jobj(api_jobj(pod, "metadata"), "annotations");

			json_object_foreach(ann, k, v)
			{
				json_object_set(pann, k, v);
			}
		}
		set_scheduled(pod);
		json_object_del(api_jobj(pod, "metadata"), "resourceVersion");
		value = json_dumps(pod, JSON_COMPACT);
		if (store_update(api->store, key, value, strlen(value), rev, &rev, NULL, &err) >=
		    0) {
			_cleanup_json_ json_t *st = json_pack(
				"{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
				"metadata", "status", "Success", "code", 201);

			api_send_json(req, 201, st);
			return;
		}
		if (err.code != STORE_E_CONFLICT) {
			api_send_store_error(req, &err, "pods", name);
			k8c_error_clear(&err);
			return;
		}
		k8c_error_clear(&err);
	}
	api_send_status(
		req, 409, "Conflict", NULL,
		"Operation cannot be fulfilled on pods/binding \"%s\": the pod kept changing",
		name);
}

/* The names of a pod's containers (and init containers), comma-space separated. */
static char *container_names(json_t *spec, const char *field)
{
	char *out = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&out, &len);
	json_t *c;

	if (!f)
		return k8c_xstrdup("");
	json_array_foreach(json_object_get(spec, field), i, c)
	{
		fprintf(f, "%s%s", i ? " " : "", api_jstr(c, "name") ?: "");
	}
	fclose(f);
	return out;
}

static bool has_container(json_t *spec, const char *name)
{
	static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
	json_t *c;
	size_t i;

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		json_array_foreach(json_object_get(spec, lists[l]), i, c)
		{
			if (strcmp(api_jstr(c, "name") ?: "", name) == 0)
				return true;
		}
	return false;
}

/*
 * What kube-apiserver checks before it proxies to the node: the pod, the container (the only
 * one when none is named), that the pod has a node; for exec that the pod has not completed.
 * The node's name and the container (malloc'd), or false after answering.
 */
static bool pod_target(struct api *api, h2o_req_t *req, const char *ns, const char *name, bool exec,
		       char **node, char **container)
{
	_cleanup_free_ char *key = k8c_xasprintf("/registry/pods/%s/%s", ns, name);
	_cleanup_free_ char *c = api_query(req, "container");
	_cleanup_json_ json_t *pod = NULL;
	json_t *spec;
	const char *n, *phase;
	int64_t rev;

	pod = pod_load(api, req, key, name, &rev);
	if (!pod)
		return false;
	spec = json_object_get(pod, "spec");
	if (!c || !*c) {
		size_t cnt = json_array_size(json_object_get(spec, "containers"));

		if (cnt != 1) {
			_cleanup_free_ char *names = container_names(spec, "containers");
			_cleanup_free_ char *inits = container_names(spec, "initContainers");

			api_send_status(req, 400, "BadRequest", NULL,
					"a container name must be specified for pod %s, choose one "
					"of: [%s]%s%s%s",
					name, names,
					*inits ? " or one of the init containers: [" : "", inits,
					*inits ? "]" : "");
			return false;
		}
		free(c);
		c = k8c_xstrdup(
			api_jstr(json_array_get(json_object_get(spec, "containers"), 0), "name")
				?: "");
	} else if (!has_container(spec, c)) {
		api_send_status(req, 400, "BadRequest", NULL,
				"container %s is not valid for pod %s", c, name);
		return false;
	}
	phase = api_jstr(pod, "status.phase");
	if (exec && phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
		api_send_status(
			req, 400, "BadRequest", NULL,
			"cannot exec into a container in a completed pod; current phase is %s",
			phase);
		return false;
	}
	n = api_jstr(spec, "nodeName");
	if (!n || !*n) {
		api_send_status(req, 400, "BadRequest", NULL,
				"pod %s does not have a host assigned", name);
		return false;
	}
	*node = k8c_xstrdup(n);
	*container = k8c_steal_ptr(c);
	return true;
}

/* The node agent's path for pod's container: /<endpoint>/ns/pod/container?<the query>. */
static char *node_path(h2o_req_t *req, const char *endpoint, const char *ns, const char *name,
		       const char *container)
{
	h2o_iovec_t q = req->query_at == SIZE_MAX ? h2o_iovec_init("", 0)
						  : h2o_iovec_init(req->path.base + req->query_at,
								   req->path.len - req->query_at);

	return k8c_xasprintf("/%s/%s/%s/%s%.*s", endpoint, ns, name, container, (int)q.len, q.base);
}

static void pod_log(struct api *api, h2o_req_t *req, const char *ns, const char *name)
{
	_cleanup_free_ char *node = NULL, *container = NULL, *path = NULL;

	if (!pod_target(api, req, ns, name, false, &node, &container))
		return;
	path = node_path(req, "containerLogs", ns, name, container);
	api_node_proxy(api, req, node, path, false);
}

/*
 * exec: an upgrade to WebSocket (v5.channel.k8s.io for kubectl 1.30+, v4 for the Python client)
 * or SPDY/3.1 (older kubectls), over HTTP/1.1, relayed to the node.
 */
static void pod_exec(struct api *api, h2o_req_t *req, const char *ns, const char *name)
{
	_cleanup_free_ char *node = NULL, *container = NULL, *path = NULL;
	bool up = req->upgrade.base &&
		  (h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")) ||
		   h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("spdy/3.1")));

	if (!pod_target(api, req, ns, name, true, &node, &container))
		return;
	if (!up || req->version >= 0x200) {
		api_send_status(req, 400, "BadRequest", NULL,
				"Upgrade request required: exec is served over WebSocket "
				"(v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1, on HTTP/1.1");
		return;
	}
	path = node_path(req, "exec", ns, name, container);
	api_node_proxy(api, req, node, path, true);
}

bool api_pods_serve(struct api *api, h2o_req_t *req, const char *ns, const char *name,
		    const char *sub)
{
	bool binding = !name || strcmp(sub, "binding") == 0;
	bool exec = !binding && strcmp(sub, "exec") == 0;
	const char *want = binding ? "POST" : "GET";

	if (!binding && !exec && strcmp(sub, "log") != 0)
		return false;
	if (exec && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
		want = "POST"; /* GET (WebSocket) or POST (SPDY) */
	if (req->method.len != strlen(want) || memcmp(req->method.base, want, req->method.len)) {
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
		return true;
	}
	/* name NULL: POST /api/v1/namespaces/{ns}/bindings */
	if (binding)
		pod_binding(api, req, ns, name);
	else if (exec)
		pod_exec(api, req, ns, name);
	else
		pod_log(api, req, ns, name);
	return true;
}

/*
 * The Kubernetes HTTP API on top of the store: routing, discovery, Status errors and one file
 * generic set of resource handlers (api_resource.c) driven by the registry (api_registry.h). Everything here runs on the h2o event-loop thread.
 */
#ifndef K8C_API_H
#define K8C_API_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <h2o.h>

#include "api_registry.h"
#include "store.h"

/* Bodies above this are refused with 413 (kube-apiserver's limit for JSON is 3 MiB too). */
#define API_MAX_BODY (3u * 1024 * 1024)

struct api_watch;
struct api_deleter;
struct watch_cache;

struct api {
	struct store *store;
	h2o_loop_t *loop;
	int kube_minor;
	char *server_address;		 /* host:port for serverAddressByClientCIDRs */
	struct api_watch *watches;	 /* open watch streams, closed by api_shutdown() */
	struct watch_cache *watch_cache; /* this thread's encoded events (api_watch.c) */
	h2o_timeout_t tick;		 /* ends watches at their timeoutSeconds */
	h2o_timeout_entry_t tick_entry;
	struct api_deleter *deleter; /* api_delete.c's worker */
	SSL_CTX *node_tls;	     /* client TLS to node agents (api_node_proxy.c), shared */
	h2o_timeout_t node_timeout;  /* this thread's node proxy deadlines */
	bool node_timeout_ready;
};

/* Start the watch timer (once, after api->loop is set). */
void api_watch_start(struct api *api);

/* Serve one request (already authenticated). Always answers. */
void api_handle(struct api *api, h2o_req_t *req);

/* Close every open watch stream (before store_close()). */
void api_shutdown(struct api *api);

/* Answer a JSON body (dumped compactly) with status; body's reference is kept by the caller. */
void api_send_json(h2o_req_t *req, int status, json_t *body);

/* Answer a Failure Status; reason "NotFound", "Invalid"...; causes may be NULL (stolen). */
void api_send_status(h2o_req_t *req, int status, const char *reason, json_t *details,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A Status object (for ERROR watch events). */
json_t *api_status_new(int code, const char *reason, const char *message);

/* The decoded value of query parameter name (malloc'd), or NULL when absent. */
char *api_query(h2o_req_t *req, const char *name);

/*
 * 422 Invalid with causes ({reason, message, field}; stolen), worded as kube-apiserver's:
 * `Deployment.apps "web" is invalid: [spec.replicas: ..., ...]` (no group for the core group).
 */
void api_send_invalid(h2o_req_t *req, const char *group, const char *kind, const char *name,
		      json_t *causes);

/*
 * The dryRun query parameter of a create/update/patch: *dry when it is "All"; any other value is
 * answered 422 (options_kind "CreateOptions", "UpdateOptions", "PatchOptions") and <0 returned.
 */
int api_dry_run(h2o_req_t *req, const char *options_kind, bool *dry);

/* Whether a boolean query parameter is set ("1", "true", "True"...). */
bool api_query_bool(h2o_req_t *req, const char *name);

/* Whether the Accept header asks for a meta.k8s.io Table. */
bool api_wants_table(h2o_req_t *req);

/* Set metadata.resourceVersion of a stored object (its mod_revision). */
void api_set_resource_version(json_t *obj, int64_t rev);

/* Map a store error to its Status answer. */
void api_send_store_error(h2o_req_t *req, const struct k8c_error *err, const char *kind,
			  const char *name);

/*
 * Serve one resource request (api_resource.c): ns is the namespace of a namespaced path (NULL
 * for cluster-scoped resources and for lists across namespaces), name NULL for the collection,
 * sub a subresource ("status") or NULL.
 */
void api_resource_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
			const char *ns, const char *name, const char *sub);

/* Serve .../{name}/scale of a resource with has_scale (api_scale.c). */
void api_scale_serve(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		     const char *name);

/*
 * Serve pods/binding, pods/log and pods/exec (api_pods.c), and with name NULL the core group's bindings
 * collection (POST namespaces/{ns}/bindings); false for another subresource.
 */
bool api_pods_serve(struct api *api, h2o_req_t *req, const char *ns, const char *name,
		    const char *sub);

/*
 * pods/log and pods/exec (api_node_proxy.c): proxy req to path (with its query) on the agent of
 * node, streaming the answer; upgrade: the client's WebSocket handshake is relayed and the two
 * connections joined. Always answers. api_node_client_tls(): the TLS context for it (client
 * certificate crt/key), shared by the threads.
 */
void api_node_proxy(struct api *api, h2o_req_t *req, const char *node, const char *path,
		    bool upgrade);
SSL_CTX *api_node_client_tls(const char *crt, const char *key, struct k8c_error *err);

/* Create the namespaces every cluster has (default, kube-system...) when absent. */
int api_namespaces_bootstrap(struct store *store, struct k8c_error *err);

/*
 * Create the `kubernetes` Service in default (10.96.0.1, port 443 https to port), its Endpoints
 * and EndpointSlice (address bind_address, 127.0.0.1 for 0.0.0.0, ::1 for ::) when absent; an
 * existing one whose spec/address/port differ is updated. Idempotent.
 */
int api_kubernetes_service_bootstrap(struct store *store, const char *bind_address, int port,
				     struct k8c_error *err);

/*
 * Deletion (api_delete.c): DELETE of an object with DeleteOptions (finalizers, graceful pod
 * deletion, namespaces going Terminating); PUT /api/v1/namespaces/{name}/finalize; the check of
 * a create's namespace (404 when missing, 403 when Terminating; <0 after answering); the delete
 * that ends an update removing the last finalizer (api_delete_on_update() said so; at expected,
 * else old's version; answers, except a conflict with retry: 1, the caller applies it again).
 */
void api_delete_serve(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		      const char *name);
void api_namespace_finalize_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
				  const char *name);
int api_namespace_admit_create(struct api *api, h2o_req_t *req, const struct api_resource *r,
			       const char *ns, const char *name);
int api_delete_finish_update(struct api *api, h2o_req_t *req, const struct api_resource *r,
			     const char *key, const char *name, json_t *next, const json_t *old,
			     int64_t expected, bool retry);

/*
 * deletecollection (api_delete.c): the request's DeleteOptions (body or query), validated, as a
 * new struct, NULL after answering the error; the DELETE of one item with them (0, or <0 with
 * err: store codes, 409 for a failed precondition); release (NULL-safe).
 */
struct api_delete_options;
struct api_delete_options *api_delete_options_read(h2o_req_t *req);
int api_delete_item(struct api *api, const struct api_resource *r, const char *key,
		    const struct api_delete_options *o, struct k8c_error *err);
void api_delete_options_release(struct api_delete_options *o);

/*
 * The deletion worker (one thread per server, shared by the loop threads through their
 * api->deleter): empties and finalizes Terminating namespaces (resuming after a restart) and
 * deletes Events older than event_ttl seconds (0 = never). Stop it before store_close().
 * api_delete_kick() wakes it (a namespace began terminating).
 */
struct api_deleter *api_deleter_start(struct store *store, int event_ttl, struct k8c_error *err);
void api_delete_kick(struct api *api);
void api_deleter_stop(struct api_deleter *d);

/* GET /openapi/v3 and /openapi/v3/{api/v1,apis/<group>/<version>} (api_openapi.c). */
void api_openapi_serve(h2o_req_t *req, h2o_iovec_t path);

/*
 * Server-side field validation of obj, a request body of r (api_openapi.c): by the query's
 * fieldValidation (Strict, Warn (the default) or Ignore), unknown fields (api_schema.h) and,
 * with raw_body, duplicate keys in req's body are an error (Strict: false returned after
 * answering 400, or 422 for a PATCH as kube's patcher) or one Warning header each (Warn). Under Warn and Ignore the unknown fields are
 * dropped from obj, as kube-apiserver's decoding drops them. For a patch, pass the patched
 * object (after check_object, before to_storage).
 */
bool api_field_validate(h2o_req_t *req, const struct api_resource *r, json_t *obj, bool raw_body);

/*
 * Shared by api_resource.c (which defines them) and api_watch.c: selectors, decoding a stored
 * object, its Table form and its served version.
 */
/* One requirement of a field or label selector: key=value, key!=value, key, !key. */
/* A label requirement may also be set-based: key in (a,b), key notin (a,b) (negate). */
struct sel_req {
	char *key, *value; /* value NULL: existence test (or a set test when set is not NULL) */
	char **set;	   /* in/notin values, nset of them */
	size_t nset;
	bool negate;
};

struct selector {
	struct sel_req *reqs;
	size_t n;
};

void selector_free(struct selector *s);
bool selector_match(const struct selector *s, json_t *obj, bool field);
/* The stored object with its resourceVersion, or NULL when the stored bytes are not JSON. */
json_t *obj_decode(const void *value, size_t len, int64_t rev);
/*
 * The body of a create or update as a JSON object, from JSON, YAML or Kubernetes protobuf (by
 * Content-Type), or NULL after answering the error (415, 413, 400).
 */
json_t *api_request_body(h2o_req_t *req);
/* A one-row Table of obj. */
json_t *table_one(const struct api_resource *r, json_t *obj);
/* obj (stored version) in r's version, for an answer: a legacy version's conversion. */
json_t *out_version(const struct api_resource *r, json_t *obj);
/* A resourceVersion query value ("" or NULL = 0); false when not a number. */
bool parse_rev(const char *s, int64_t *out);

/*
 * Serve a watch of the keys under prefix (api_watch.c); takes over the selectors (freed when
 * the watch ends, also on errors).
 */
void api_watch_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
		     const char *prefix, const struct selector *fields,
		     const struct selector *labels);

/* Close a watch stream (from shutdown). */
void api_watch_close(struct api_watch *w);

/*
 * Shutdown: end every open watch's response properly (what is queued, then the end of the
 * stream); the loop must run a little longer for the ends to be written. api_watch_live() is
 * the number of this thread's watch responses not yet finished and freed by h2o.
 */
void api_watch_end_all(struct api *api);
size_t api_watch_live(const struct api *api);

/* Release the thread's watch event cache (after api_shutdown()). */
void api_watch_cache_free(struct api *api);

#endif

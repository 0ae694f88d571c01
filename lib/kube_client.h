/*
 * A Kubernetes API client over libcurl (HTTPS, HTTP/2 when offered, keep-alive) and jansson.
 *
 * One struct k8c_kube is used by one thread at a time (it owns a curl handle and its connection
 * cache); a component makes one per thread that talks to the server (each informer has its own).
 * Calls block until the answer or an error; k8c_kube_interrupt() from any thread makes the
 * current and every later call of that client fail at once (used to stop an informer's watch).
 *
 * Errors: a non-2xx answer sets err->code to the HTTP status and err->msg to
 * "GET /api/v1/namespaces/x: 404 NotFound: namespaces \"x\" not found" (the Status' reason and
 * message); k8c_kube_last_reason() gives the reason alone ("AlreadyExists", "Conflict"...).
 * Transport errors (connect, TLS, timeout) have code 0.
 */
#ifndef K8C_KUBE_CLIENT_H
#define K8C_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"
#include "kubeconfig.h"

/* A resource: group ("" for the core group), version, plural resource name. */
struct k8c_gvr {
	const char *group;
	const char *version;
	const char *resource;
};

#define K8C_GVR(g, v, r)       ((struct k8c_gvr){(g), (v), (r)})
#define K8C_GVR_PODS	       K8C_GVR("", "v1", "pods")
#define K8C_GVR_SERVICES       K8C_GVR("", "v1", "services")
#define K8C_GVR_NODES	       K8C_GVR("", "v1", "nodes")
#define K8C_GVR_CONFIGMAPS     K8C_GVR("", "v1", "configmaps")
#define K8C_GVR_SECRETS	       K8C_GVR("", "v1", "secrets")
#define K8C_GVR_EVENTS	       K8C_GVR("", "v1", "events")
#define K8C_GVR_NAMESPACES     K8C_GVR("", "v1", "namespaces")
#define K8C_GVR_ENDPOINTSLICES K8C_GVR("discovery.k8s.io", "v1", "endpointslices")
#define K8C_GVR_LEASES	       K8C_GVR("coordination.k8s.io", "v1", "leases")
#define K8C_GVR_INGRESSES      K8C_GVR("networking.k8s.io", "v1", "ingresses")
#define K8C_GVR_INGRESSCLASSES K8C_GVR("networking.k8s.io", "v1", "ingressclasses")

/* Parse "v1/pods", "discovery.k8s.io/v1/endpointslices"; the strings point into s. */
int k8c_gvr_parse(char *s, struct k8c_gvr *out, struct k8c_error *err);

struct k8c_kube;

/* user_agent: "k8c-proxy/0.1.0" or NULL for "k8c/<version>". */
struct k8c_kube *k8c_kube_new(const struct k8c_kubeconfig *cfg, const char *user_agent,
			      struct k8c_error *err);
void k8c_kube_free(struct k8c_kube *c);
/* Any thread: the running call and every later one fail with "interrupted" (code 0). */
void k8c_kube_interrupt(struct k8c_kube *c);
bool k8c_kube_interrupted(struct k8c_kube *c);
/* The Status reason of the last non-2xx answer ("" when none). */
const char *k8c_kube_last_reason(struct k8c_kube *c);
/* The server URL and whether the last answer came over HTTP/2. */
const char *k8c_kube_server(struct k8c_kube *c);
bool k8c_kube_last_http2(struct k8c_kube *c);

/*
 * The generic request. path starts with '/', query (without '?') may be NULL. body is sent as
 * JSON with content_type (NULL: application/json). *out (may be NULL) receives the parsed answer.
 */
int k8c_kube_request(struct k8c_kube *c, const char *method, const char *path, const char *query,
		     const json_t *body, const char *content_type, json_t **out,
		     struct k8c_error *err);
/* A GET whose answer is not JSON (pods/log): *out the body, NUL-terminated (malloc'd), *len
 * its length. */
int k8c_kube_request_text(struct k8c_kube *c, const char *path, const char *query, char **out,
			  size_t *len, struct k8c_error *err);
/* "/api/v1/namespaces/NS/RES/NAME/SUB" with the NULL parts left out (ns NULL: cluster scope). */
char *k8c_kube_path(struct k8c_gvr gvr, const char *ns, const char *name, const char *sub);

int k8c_kube_get(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		 json_t **out, struct k8c_error *err);

struct k8c_list_opts {
	const char *label_selector; /* NULL: none */
	const char *field_selector;
	long limit; /* page size; 0: one page of everything */
};
/*
 * List every page (limit/continue): *items is a new array of the objects, *rv the list's
 * resourceVersion (malloc'd). A continue token that expired mid-way (410) restarts the list
 * once from the start, since the pages must come from one snapshot.
 */
int k8c_kube_list(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
		  const struct k8c_list_opts *opts, json_t **items, char **rv,
		  struct k8c_error *err);
int k8c_kube_create(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const json_t *obj,
		    json_t **out, struct k8c_error *err);
/* PUT of obj to its name (metadata.name); sub NULL or "status", "scale"... */
int k8c_kube_update(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const json_t *obj,
		    json_t **out, struct k8c_error *err);
int k8c_kube_update_status(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
			   const json_t *obj, json_t **out, struct k8c_error *err);

enum k8c_patch_type {
	K8C_PATCH_MERGE,     /* application/merge-patch+json */
	K8C_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
	K8C_PATCH_JSON,	     /* application/json-patch+json (an array of operations) */
};
/* Parse "merge", "strategic", "json"; -1 otherwise. */
int k8c_patch_type_parse(const char *s);
int k8c_kube_patch(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		   const char *sub, enum k8c_patch_type type, const json_t *patch, json_t **out,
		   struct k8c_error *err);
/* options: a DeleteOptions object (propagationPolicy, preconditions...) or NULL. */
int k8c_kube_delete(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		    const json_t *options, json_t **out, struct k8c_error *err);

struct k8c_watch_opts {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version; /* watch events after this one; NULL: from now with ADDEDs */
	bool allow_bookmarks;
	long timeout_seconds; /* the server ends the stream after this; 0: the server's default */
};
/*
 * Called for each event: type is "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"; object is
 * borrowed. Return < 0 to stop the watch (k8c_kube_watch then returns -1 with err as the callback
 * left it).
 */
typedef int (*k8c_watch_fn)(const char *type, json_t *object, void *arg, struct k8c_error *err);
/*
 * Stream a watch until the server ends it (returns 0), an error (-1), or the callback stops it.
 * An ERROR event returns -1 with err->code from its Status (410 when the resourceVersion is too
 * old), as an HTTP error does.
 */
int k8c_kube_watch(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
		   const struct k8c_watch_opts *opts, k8c_watch_fn fn, void *arg,
		   struct k8c_error *err);

/*
 * Incremental framing of a stream of JSON values (watch events, one per line or back to back),
 * for data arriving in chunks cut anywhere: a value is parsed once its closing brace arrives.
 */
struct k8c_json_stream {
	char *buf;
	size_t len, cap;
	size_t scan;  /* bytes of buf already scanned */
	size_t start; /* start of the current value in buf */
	int depth;
	bool in_string, escape;
	size_t max; /* largest value accepted (bytes); 0: 64 MiB */
};
typedef int (*k8c_json_value_fn)(json_t *value, void *arg, struct k8c_error *err);
/* Feed bytes; fn is called (value borrowed) for each complete value. -1 on malformed input. */
int k8c_json_stream_feed(struct k8c_json_stream *s, const char *data, size_t n,
			 k8c_json_value_fn fn, void *arg, struct k8c_error *err);
/* True when the bytes fed so far end between two values (nothing pending but whitespace). */
bool k8c_json_stream_idle(const struct k8c_json_stream *s);
void k8c_json_stream_reset(struct k8c_json_stream *s);

#endif

/*
 * An informer: list+watch of one resource kept in a local cache, delivered as deltas.
 *
 * A background thread (one per informer) does all the HTTP: it lists (paginated), watches from the
 * list's resourceVersion with bookmarks, resumes from the last resourceVersion after an error, an
 * EOF or a server restart (exponential back-off, 0.2 s to 30 s), and relists after 410 Gone. It
 * parses JSON and puts messages on a queue, then makes an eventfd readable.
 *
 * The owner's thread polls k8c_informer_fd() in its own event loop and calls
 * k8c_informer_dispatch(), which applies the queued messages to the cache and calls the owner's
 * function with one delta per change. The cache is touched only by the owner's thread, so the
 * owner reads it (k8c_informer_get, _cache, _index) without locks; a single-threaded component
 * stays single-threaded. A relist is applied as the difference against the cache: adds, updates
 * (resourceVersion changed) and deletes for objects that vanished. See docs/client.md.
 */
#ifndef K8C_INFORMER_H
#define K8C_INFORMER_H

#include <stdbool.h>
#include <jansson.h>

#include "error.h"
#include "kube_client.h"
#include "kubeconfig.h"

enum k8c_delta_type {
	K8C_DELTA_ADD,
	K8C_DELTA_UPDATE,
	K8C_DELTA_DELETE,
	K8C_DELTA_SYNCED, /* once: the first list is in the cache (has_synced turned true) */
	K8C_DELTA_ERROR,  /* the background thread met an error (msg); it retries by itself */
};

struct k8c_delta {
	enum k8c_delta_type type;
	const char *key; /* "namespace/name", or "name" for cluster-scoped objects */
	json_t *old;	 /* UPDATE, DELETE: the cached object before (borrowed) */
	json_t *new;	 /* ADD, UPDATE: the object now; DELETE: its last state (borrowed) */
	const char *msg; /* ERROR */
};

typedef void (*k8c_delta_fn)(const struct k8c_delta *d, void *arg);
/*
 * Optional: a reduced copy of a received object to cache instead (e.g. the proxy drops what it
 * never reads: managedFields, annotations...), as client-go's SetTransform. Called in the
 * background thread, so it must only look at obj. Returns a new reference (may be obj increfed).
 */
typedef json_t *(*k8c_transform_fn)(json_t *obj);
/* The secondary index key of an object (malloc'd), or NULL to leave it out of the index. */
typedef char *(*k8c_index_fn)(const json_t *obj);

struct k8c_informer_opts {
	struct k8c_gvr gvr;
	const char *namespace; /* NULL: all namespaces (or a cluster-scoped resource) */
	const char *label_selector;
	const char *field_selector; /* e.g. "spec.nodeName=node1" */
	k8c_index_fn index;	    /* optional */
	k8c_transform_fn transform; /* optional */
	long page_size;		    /* list page size; 0: 500 */
	const char *user_agent;
};

struct k8c_informer;

/* Copies what it needs from cfg and opts. Nothing runs until k8c_informer_start(). */
struct k8c_informer *k8c_informer_new(const struct k8c_kubeconfig *cfg,
				      const struct k8c_informer_opts *opts, struct k8c_error *err);
int k8c_informer_start(struct k8c_informer *inf, struct k8c_error *err);
/* Stops the thread (interrupting its request) and frees everything, cached objects included. */
void k8c_informer_free(struct k8c_informer *inf);

/* Readable when k8c_informer_dispatch() has work (edge: dispatch drains it). */
int k8c_informer_fd(const struct k8c_informer *inf);
/*
 * Apply what the thread queued; fn (may be NULL) sees each delta after the cache changed.
 * Returns the number of deltas delivered. Non-blocking. Owner's thread only.
 */
int k8c_informer_dispatch(struct k8c_informer *inf, k8c_delta_fn fn, void *arg);
bool k8c_informer_has_synced(const struct k8c_informer *inf);

/* Cache reads (owner's thread; borrowed references valid until the next dispatch). */
json_t *k8c_informer_get(const struct k8c_informer *inf, const char *ns, const char *name);
/* The cache itself: a JSON object key → object. Do not modify. */
json_t *k8c_informer_cache(const struct k8c_informer *inf);
/* The objects whose index key is `key`: a JSON object key → object, or NULL. */
json_t *k8c_informer_index(const struct k8c_informer *inf, const char *key);
/* "ns/name" or "name" of an object (malloc'd), as the cache keys it. */
char *k8c_object_key(const json_t *obj);

/* Counters for tests and /metrics (owner's thread reads; updated by the background thread). */
struct k8c_informer_stats {
	unsigned long lists, watches, relists_410, errors;
};
void k8c_informer_stats(const struct k8c_informer *inf, struct k8c_informer_stats *out);

#endif

/*
 * What the endpoints controllers share on top of their informers: the index of pods by label
 * (namespace, key=value) and of Services by one pair of their selector, so that a pod event
 * finds its Services and a Service sync finds its pods in O(matching objects), never by a scan
 * of every Service or every pod; and the overlay of objects a controller wrote that its
 * informer has not delivered yet, so a sync on a stale cache neither duplicates a slice it just
 * created nor fails on a resourceVersion it just replaced.
 */
#ifndef K8C_EPS_INDEX_H
#define K8C_EPS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "controller.h"
#include "informer.h"
#include "strmap.h"

struct eps_pod_index {
	struct strmap by_label; /* "ns\x1fkey=value" -> struct strmap of pod keys */
};

/* Keep the index up to date with a pods informer's delta. */
void eps_pod_index_delta(struct eps_pod_index *ix, const struct k8c_delta *d);
void eps_pod_index_free(struct eps_pod_index *ix);
/*
 * The pods (borrowed from the informer) a Service's selector selects, in *out (malloc'd, may be
 * NULL when 0). Returns the count.
 */
size_t eps_service_pods(const struct eps_pod_index *ix, struct k8c_informer *pods,
			const json_t *svc, json_t ***out);

/* The informer index function for Services: "ns\x1fkey=value" of their smallest selector key. */
char *eps_service_index_key(const json_t *svc);
/* Call fn for each Service (from the informer indexed by eps_service_index_key) selecting pod. */
void eps_services_for_pod(struct k8c_informer *svcs, const json_t *pod,
			  void (*fn)(const json_t *svc, void *arg), void *arg);
/* Transform for pod informers: drops managedFields and annotations (never read here). */
json_t *eps_pod_transform(json_t *pod);

/*
 * What the endpoint and endpointslice controllers share: the Services (indexed by
 * eps_service_index_key), the pods (eps_pod_transform) and the pod index. It is the FIRST
 * member of each one's private data (k8c_ctrl_data), so that the handlers below find it.
 */
struct eps_svc_pods {
	struct k8c_informer *svc, *pods;
	struct eps_pod_index ix;
};

/*
 * Ask for both informers: a Service change queues its key; a pod change updates the index and
 * queues the Services that select the pod (before and after a change of labels).
 */
int eps_svc_pods_init(struct k8c_ctrl *c, struct eps_svc_pods *sp, struct k8c_error *err);
/*
 * The sync preamble: key "ns/name" split (*ns malloc'd, NULL for a key without a namespace;
 * *name points into key) and the Service from the cache (NULL: gone).
 */
json_t *eps_sync_service(struct eps_svc_pods *sp, const char *key, char **ns, const char **name);
void eps_svc_pods_free(struct eps_svc_pods *sp);

/* Objects written by a controller, per owner key, until its informer catches up. */
struct eps_overlay {
	struct strmap owners; /* owner key -> json object name -> object, or null when deleted */
};

/* Record a write (obj NULL: deleted; obj is copied by reference). */
void eps_overlay_put(struct eps_overlay *o, const char *owner, const char *name, json_t *obj);
/*
 * The owner's objects now: cached (an object from the informer: key -> object, may be NULL)
 * with our newer writes in place of older cached versions, created ones not yet cached added and
 * deleted ones left out. Entries the cache has caught up with are forgotten. New array.
 */
json_t *eps_overlay_merge(struct eps_overlay *o, const char *owner, const json_t *cached);
/* obj (from a watch) is the echo of our own write: same name and resourceVersion as recorded. */
bool eps_overlay_own(const struct eps_overlay *o, const char *owner, const json_t *obj);
void eps_overlay_free(struct eps_overlay *o);

#endif

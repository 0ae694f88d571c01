/*
 * Small helpers over Kubernetes objects (jansson), shared by the controllers, the scheduler and
 * the agent: nested field access, label selectors against labels, owner references, pod
 * readiness, RFC 3339 timestamps. Pure functions; objects are borrowed.
 */
#ifndef K8C_OBJUTIL_H
#define K8C_OBJUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

/* The value at a dotted path ("metadata.labels", "spec.template.spec"), or NULL. */
json_t *k8c_at(const json_t *obj, const char *path);
/* The string at a dotted path, or NULL when absent or not a string. */
const char *k8c_str_at(const json_t *obj, const char *path);
/* The integer at a dotted path, or def when absent or not an integer. */
long long k8c_int_at(const json_t *obj, const char *path, long long def);

/*
 * A metav1.LabelSelector (matchLabels, matchExpressions with In, NotIn, Exists, DoesNotExist)
 * against a labels object (NULL: no labels). As Kubernetes' LabelSelectorAsSelector: a NULL
 * selector matches nothing, an empty one ({}) matches everything. An unknown operator matches
 * nothing.
 */
bool k8c_label_selector_matches(const json_t *selector, const json_t *labels);
/* A plain map selector (Service, ReplicationController): every pair present. Empty: all. */
bool k8c_map_selector_matches(const json_t *selector, const json_t *labels);

/* The ownerReference with controller: true, or NULL. */
json_t *k8c_controller_ref(const json_t *obj);
/* Whether obj has an ownerReference with this uid. */
bool k8c_has_owner_uid(const json_t *obj, const char *uid);

/* status.conditions[] entry of this type, or NULL. */
json_t *k8c_condition(const json_t *obj, const char *type);
/* The condition's status is "True". */
bool k8c_condition_true(const json_t *obj, const char *type);
/* Ready condition True. */
bool k8c_pod_ready(const json_t *pod);
/* Not Succeeded/Failed and not being deleted (as controller.IsPodActive). */
bool k8c_pod_active(const json_t *pod);
/* The pod's spec.nodeName (malloc'd), NULL when unbound: an informer index of pods by node. */
char *k8c_pod_node_index(const json_t *pod);
/* The first status.addresses entry of a Node of that type ("InternalIP", ...), or NULL. */
const char *k8c_node_address(const json_t *node, const char *type);

/* RFC 3339 in UTC with seconds ("2026-11-27T14:10:00Z"); buf of at least 21 bytes. */
void k8c_rfc3339(time_t t, char buf[21]);
/* With microseconds ("...:00.123456Z", as metav1.MicroTime); buf of at least 28 bytes. */
void k8c_rfc3339_micro(const struct timespec *ts, char buf[28]);
/* Seconds since the epoch of an RFC 3339 timestamp (fraction and offset honoured); -1 if bad. */
time_t k8c_rfc3339_parse(const char *s);

#endif

/*
 * Quota accounting after Kubernetes' quota evaluators (pkg/quota/v1): what an object uses of the
 * resources a ResourceQuota can limit, which quotas apply to it (scopes), resource list
 * arithmetic, the checks of ResourceQuota admission, and the LimitRange defaults and checks of
 * the LimitRanger admission. Shared by the API server's admission (api_quota.c) and the
 * resourcequota controller. Pure JSON work over borrowed objects; unit-tested
 * (tests/unit/test_quota_eval.c).
 *
 * A resource list is a JSON object of resource name to quantity string, as in a ResourceQuota's
 * status.used. Resources are named by group and plural ("" for the core group).
 */
#ifndef K8C_QUOTA_EVAL_H
#define K8C_QUOTA_EVAL_H

#include <stdbool.h>
#include <time.h>
#include <jansson.h>

/* Whether the evaluator of group/resource tracks the quota resource name. */
bool quota_tracks(const char *group, const char *resource, const char *name);

/* Whether group/resource has usage beyond its object count (pods, services, claims). */
bool quota_handles_update(const char *group, const char *resource);

/*
 * The usage of obj (a new resource list): count/<resource>[.<group>], the legacy names (pods,
 * services, secrets...), and for pods their compute requests and limits (not for pods in a
 * terminal phase or past their deletion grace period at now), for services their node ports and
 * load balancers, for claims their storage, per storage class too.
 */
json_t *quota_usage(const char *group, const char *resource, const json_t *obj, time_t now);

/*
 * Whether the quota's scopes (spec.scopes and spec.scopeSelector) select obj: BestEffort,
 * NotBestEffort, Terminating, NotTerminating and PriorityClass for pods; a scoped quota selects
 * nothing else.
 */
bool quota_scopes_match(const json_t *quota, const char *group, const char *resource,
			const json_t *obj);

/* Whether the quota applies: it tracks one of the names of its status.hard, and scopes match. */
bool quota_matches(const json_t *quota, const char *group, const char *resource, const json_t *obj);

/*
 * ValidateResourceQuotaSpec's scope rules, as causes: "unsupported scope", "unsupported scope
 * applied to resource" (BestEffort: only pods; the other pod scopes: pods and compute
 * resources), "conflicting scopes" (BestEffort with NotBestEffort, Terminating with
 * NotTerminating).
 */
void quota_validate_scopes(const json_t *quota, json_t *causes);

/* a += b for every name of b (a keeps the format of its nonzero values). */
void quota_list_add(json_t *a, const json_t *b);
/* a - b, names of a only, never below zero (a new list). */
json_t *quota_list_sub(const json_t *a, const json_t *b);
/* Without the zero quantities (a new list). */
json_t *quota_list_nonzero(const json_t *a);
/* Only the names that are in names' keys (a new list). */
json_t *quota_list_mask(const json_t *a, const json_t *names);
/* Whether a and b hold the same quantities (compared as quantities, names of both). */
bool quota_list_equal(const json_t *a, const json_t *b);
/* "a=1,b=2" sorted by name (malloc'd), as kube's prettyPrint. */
char *quota_list_text(const json_t *a);

/*
 * For a pod and a quota whose status.hard constrains cpu or memory: NULL, or kube's message
 * "must specify limits.cpu for: a,b; requests.memory for: a" (malloc'd).
 */
char *quota_pod_constraints(const json_t *hard, const json_t *pod);

/*
 * The ResourceQuota admission check of one quota against the usage delta of a request (obj,
 * old: NULL on create). Returns 0 when it does not apply or allows (then *charged, when not NULL,
 * gets the quota's new status.used, or NULL when unchanged), or -1 with *msg (malloc'd) as kube's
 * reason: "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2", "failed quota:
 * q: must specify ...", "status unknown for quota: q, resources: pods".
 */
int quota_check(const json_t *quota, const char *group, const char *resource, const json_t *obj,
		const json_t *old, time_t now, json_t **charged, char **msg);

/*
 * Charges in flight. The admission charges a quota before the object is written, and the
 * controller recounts from its caches, which may not hold the object yet: were it to write that
 * count, a burst of creates could overshoot. So the admission also records each create it
 * charged in the quota's status.k8cPendingCharges ({"<resource>[.<group>]/<name>": {uid, at,
 * used}}), and the controller keeps counting an entry until it sees the object (same name and
 * uid) or QUOTA_PENDING_S seconds passed (the create failed), then drops it.
 */
#define QUOTA_PENDING_FIELD "k8cPendingCharges"
#define QUOTA_PENDING_S	    30

/* The pending key of an object: "pods/web", "deployments.apps/web". malloc'd. */
char *quota_pending_key(const char *group, const char *resource, const char *name);
/* Add an entry to status (delta: what was charged), dropping the expired ones. */
void quota_pending_add(json_t *status, const char *key, const char *uid, const json_t *delta,
		       time_t now);
/*
 * The entries of status still pending at now, given seen (pending key -> uid of the objects
 * counted): a new object, possibly empty; their usage is added to used. *next_expiry gets the
 * first expiry time of those kept (0 when none).
 */
json_t *quota_pending_keep(const json_t *status, const json_t *seen, time_t now, json_t *used,
			   time_t *next_expiry);

/*
 * LimitRanger on a pod's create: each LimitRange (ranges: array) of type Container sets its
 * default and defaultRequest on containers (and init containers) without them, with the
 * kubernetes.io/limit-ranger annotation; then min, max and maxLimitRequestRatio of types
 * Container and Pod are checked. 0, or -1 with *msg (malloc'd) as kube's ("Maximum cpu usage
 * per Container is 1, but limit is 2.", several as "[a, b]").
 */
int limitrange_pod(json_t *pod, const json_t *ranges, char **msg);
/* Type PersistentVolumeClaim's min and max against a claim's storage request. */
int limitrange_pvc(const json_t *pvc, const json_t *ranges, char **msg);

/*
 * DefaultStorageClass: the name of the default StorageClass among classes (an array), the one
 * annotated storageclass.kubernetes.io/is-default-class "true" (or the beta annotation), the
 * newest of several; NULL when none.
 */
const char *storage_default_class(const json_t *classes);

#endif

/*
 * The workload controllers (ReplicaSet, ReplicationController, Deployment, DaemonSet,
 * StatefulSet; docs/controllers.md) and the pure logic they share, unit-tested in
 * tests/unit/test_workloads.c. The logic mirrors Kubernetes' pkg/controller/{replicaset,
 * deployment,daemon,statefulset} and deployment/util: the same rounding, orderings,
 * annotations and conditions. Objects are jansson values, borrowed unless said otherwise.
 */
#ifndef K8C_CTRL_WORKLOADS_H
#define K8C_CTRL_WORKLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

/* The controllers' definitions are in ctrl_controllers.h. */

/* Annotations and labels, as Kubernetes spells them. */
#define WL_REVISION_ANN		"deployment.kubernetes.io/revision"
#define WL_REVISION_HISTORY_ANN "deployment.kubernetes.io/revision-history"
#define WL_DESIRED_ANN		"deployment.kubernetes.io/desired-replicas"
#define WL_MAX_ANN		"deployment.kubernetes.io/max-replicas"
#define WL_POD_TEMPLATE_HASH	"pod-template-hash"
#define WL_CONTROLLER_REV_HASH	"controller-revision-hash"
#define WL_BURST_REPLICAS	500 /* creates or deletes per sync, as kube's burstReplicas */
#define WL_EXPECTATIONS_TTL_S	300

/* ---- integers or percents ---- */

/*
 * An IntOrString against a total (intstr.GetScaledValueFromIntOrPercent): an integer as is,
 * "N%" as N*total/100 rounded up or down. def when v is NULL; -1 when malformed.
 */
long wl_scaled_value(const json_t *v, long total, bool round_up, long def);
/* maxSurge (rounded up) and maxUnavailable (down); both 0 makes maxUnavailable 1. */
void wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, long desired,
		   long *surge, long *unavailable);
long wl_deploy_replicas(const json_t *d); /* spec.replicas, default 1 */
long wl_deploy_max_surge(const json_t *d);
long wl_deploy_max_unavailable(const json_t *d);

/* ---- templates ---- */

/*
 * The pod-template-hash of a pod template and a collision count (< 0: none): FNV-1a 32 of the
 * template's canonical JSON (sorted keys) and the count, then its decimal digits encoded with
 * Kubernetes' SafeEncodeString alphabet (no vowels, no 0/1/3). out: at least 11 bytes.
 */
void wl_template_hash(const json_t *tmpl, long long collision, char out[11]);
/* A copy without what kube's decoding would drop (a null metadata.creationTimestamp). */
json_t *wl_template_normalized(const json_t *tmpl);
/* Two pod templates equal once the pod-template-hash label is left out (EqualIgnoreHash). */
bool wl_templates_equal_ignore_hash(const json_t *a, const json_t *b);

/* ---- pods ---- */

/* A new pod from a template (GetPodFromTemplate): generateName "<prefix>-", labels, owner. */
json_t *wl_pod_from_template(const json_t *tmpl, const char *ns, const char *prefix,
			     const json_t *owner_ref);
/* An ownerReference to obj: controller and blockOwnerDeletion true. New reference. */
json_t *wl_controller_ref(const json_t *obj, const char *api_version, const char *kind);
/* Ready for at least min_ready seconds at now (podutil.IsPodAvailable). */
bool wl_pod_available(const json_t *pod, long min_ready, time_t now);
/*
 * Order pods for deletion, the first deleted first (ActivePodsWithRanks): unassigned before
 * assigned, Pending before Unknown before Running, not ready before ready, more pods of the
 * set on the same node before fewer, ready for less time before longer, more restarts before
 * fewer, newer before older. related: the set's active pods (for the per-node ranks).
 */
void wl_sort_pods_for_deletion(json_t **pods, size_t n, json_t *const *related, size_t nrelated);
/*
 * Run fn count times in batches of 1, 2, 4... (slowStartBatch), stopping after the first batch
 * with a failure. Returns the number of successes; *attempted the calls made.
 */
int wl_slow_start(int count, int initial, int (*fn)(void *arg, int i), void *arg, int *attempted);
/* The same with the batches run by batch(arg, first, n), which returns how many failed. */
int wl_slow_start_batches(int count, int initial, int (*batch)(void *arg, int first, int n),
			  void *arg, int *attempted);

/*
 * Parallel creates (as kube's slowStartBatch, whose batches run in goroutines): a pool of up to
 * WL_PAR_THREADS threads, each with an API client of its own, started on first use. Run on it,
 * a batch has WL_PAR_THREADS + 1 calls in flight (the controller's thread takes part); fn must
 * then be thread-safe and use wl_par_kube() for its requests. The controller's thread waits for
 * the batch: caches do not change meanwhile. A stopping controller ends the batch early (the
 * calls not made count as failed).
 */
#define WL_PAR_THREADS 15
struct wl_par;
struct k8c_ctrl;
struct wl_par *wl_par_new(struct k8c_ctrl *c);
void wl_par_free(struct wl_par *p);
int wl_par_slow_start(struct wl_par *p, int count, int initial, int (*fn)(void *arg, int i),
		      void *arg, int *attempted);
/* The API client for a call of fn: the pool thread's own, or the controller's. */
struct k8c_kube *wl_par_kube(struct k8c_ctrl *c);

/* ---- ReplicaSet / ReplicationController ---- */

/*
 * The status of a ReplicaSet or ReplicationController from its active, owned pods
 * (calculateStatus): replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
 * observedGeneration, and the ReplicaFailure condition from failure (reason/message of a
 * failed create or delete, or NULL to clear it). New reference.
 */
json_t *wl_rs_status(const json_t *rs, json_t *const *pods, size_t n, const char *fail_reason,
		     const char *fail_msg, time_t now);

/* ---- conditions ---- */

/* A condition {type,status,reason,message,lastUpdateTime,lastTransitionTime} at now. */
json_t *wl_condition(const char *type, const char *status, const char *reason, const char *msg,
		     time_t now, bool with_update_time);
/*
 * SetDeploymentCondition: no change when status and reason are the same; a same-status change
 * keeps lastTransitionTime. conds is the status.conditions array (modified). Steals cond.
 */
void wl_set_condition(json_t *conds, json_t *cond);
void wl_remove_condition(json_t *conds, const char *type);
json_t *wl_get_condition(const json_t *conds, const char *type);

/* ---- Deployment ---- */

long wl_rs_replicas(const json_t *rs);				/* spec.replicas, default 1 */
long wl_ann_long(const json_t *obj, const char *ann, long def); /* an integer annotation */
long wl_max_revision(json_t *const *rss, size_t n);
/* FindNewReplicaSet: the oldest RS whose template equals the deployment's (or -1). */
int wl_find_new_rs(const json_t *d, json_t *const *rss, size_t n);
/* NewRSNewReplicas: the new RS's next size under the deployment's strategy. */
long wl_new_rs_new_replicas(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs);
/*
 * Proportional scaling (DeploymentController.scale, rolling update case): the new sizes of the
 * active RSes all[0..n) (out[i]); returns whether any changes. Kube's order: largest first
 * when adding (newer first on ties), when removing largest first (older first on ties).
 */
void wl_proportional_scale(const json_t *d, json_t *const *all, size_t n, long *out);
/* FindActiveOrLatest: index into (new first, then olds) or -1. */
int wl_find_active_or_latest(json_t *new_rs, json_t *const *olds, size_t n);
bool wl_is_saturated(const json_t *d, const json_t *rs);
/*
 * Rolling update, scale down of old RSes (reconcileOldReplicaSets): the new sizes of olds
 * (out[i], sorted oldest first inside) given the new RS (may be NULL). Returns the total
 * scaled down.
 */
long wl_rolling_scale_down(const json_t *d, json_t *const *olds, size_t n, const json_t *new_rs,
			   long *out);
/* The status (calculateStatus) with the Available condition; the old conditions are kept. */
json_t *wl_deploy_status(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs,
			 time_t now);
bool wl_deploy_complete(const json_t *d, const json_t *status);
bool wl_deploy_progressing(const json_t *d, const json_t *status);
bool wl_deploy_timed_out(const json_t *d, const json_t *status, time_t now);
bool wl_has_progress_deadline(const json_t *d);
/*
 * SetNewReplicaSetAnnotations: copy the deployment's annotations (but kubectl's and the
 * deployment.kubernetes.io ones), set the revision (keeping a revision-history), and when !exists
 * the desired/max replicas. Returns whether rs changed.
 */
bool wl_set_new_rs_annotations(const json_t *d, json_t *rs, long revision, bool exists);
/* SetReplicasAnnotations: desired-replicas and max-replicas; whether changed. */
bool wl_set_replicas_annotations(json_t *rs, long desired, long max);

/* ---- DaemonSet ---- */

/* A toleration tolerates a taint (ToleratesTaint). */
bool wl_toleration_tolerates(const json_t *toleration, const json_t *taint);
/* nodeSelectorTerms of a NodeSelector (ORed) against a node (labels and metadata.name). */
bool wl_node_selector_matches(const json_t *node_selector, const json_t *node);
/*
 * NodeShouldRunDaemonPod for a pod spec (with the daemon tolerations added): should_run (a new
 * pod may be placed) and should_continue (an existing pod may stay: no untolerated NoExecute).
 */
void wl_node_should_run(const json_t *pod_spec, const json_t *node, bool *should_run,
			bool *should_continue);
/* Add the tolerations every daemon pod gets (AddOrUpdateDaemonPodTolerations). */
void wl_add_daemon_tolerations(json_t *pod_spec);
/* Require the node by name (ReplaceDaemonSetPodNodeNameNodeAffinity). */
void wl_set_node_name_affinity(json_t *pod_spec, const char *node);
/* The node a daemon pod is for: spec.nodeName, or its matchFields metadata.name affinity. */
const char *wl_daemon_pod_node(const json_t *pod);

/* ---- expectations (ControllerExpectations with UID-tracked deletions) ---- */

struct wl_expectations;
struct wl_expectations *wl_expectations_new(void);
void wl_expectations_free(struct wl_expectations *e);
void wl_expect_creations(struct wl_expectations *e, const char *key, long adds, time_t now);
void wl_expect_deletion(struct wl_expectations *e, const char *key, const char *pod_key,
			time_t now);
void wl_creation_observed(struct wl_expectations *e, const char *key);
void wl_deletion_observed(struct wl_expectations *e, const char *key, const char *pod_key);
/* Nothing pending, never set, or older than WL_EXPECTATIONS_TTL_S. */
bool wl_expectations_satisfied(struct wl_expectations *e, const char *key, time_t now);
void wl_expectations_delete(struct wl_expectations *e, const char *key);

/* ---- helpers for informer indexes ---- */

/* Index key: the controller ownerReference's uid, or "-orphan/<namespace>" when none. */
char *wl_index_by_controller(const json_t *obj);
char *wl_orphan_index_key(const char *ns);
/*
 * Informer transforms: drop managedFields and set apiVersion and kind when a list left them out
 * (Events name the kind of their object).
 */
json_t *wl_transform_pod(json_t *obj);
json_t *wl_transform_rs(json_t *obj);
json_t *wl_transform_rc(json_t *obj);
json_t *wl_transform_deploy(json_t *obj);
json_t *wl_transform_ds(json_t *obj);
json_t *wl_transform_sts(json_t *obj);
json_t *wl_transform_plain(json_t *obj); /* managedFields only */
/* The items of an index bucket (borrowed), NULL-terminated, malloc'd array. n may be NULL. */
json_t **wl_bucket(json_t *bucket, size_t *n);

/* ---- shared by the controllers (ctrl_wl_common.c; need the runtime) ---- */

struct k8c_ctrl;
struct k8c_error;
struct k8c_gvr;

/* The API's message of a failed request (after "<code> <Reason>: "), else the whole text. */
const char *wl_api_message(const struct k8c_error *err);
/* Split "ns/name" into malloc'd parts. */
void wl_split_key(const char *key, char **ns, char **name);
/* PUT obj (a copy of a cached object) with status to /status; the answer is dropped. */
int wl_update_status(struct k8c_ctrl *c, struct k8c_gvr gvr, const json_t *obj, json_t *status,
		     struct k8c_error *err);

/*
 * ClaimObjects (ControllerRefManager): of the candidates (active objects in the owner's
 * namespace, owned or orphans), keep those owned that match, release those owned that stop
 * matching, adopt orphans that match (once a fresh GET of the owner confirms its uid and that
 * it is not being deleted). matches(obj, arg). Returns a malloc'd NULL-terminated array of the
 * claimed objects (borrowed from the cache, or new answers kept alive in *keep), *n its size.
 */
json_t **wl_claim(struct k8c_ctrl *c, const json_t *owner, struct k8c_gvr owner_gvr,
		  const char *api_version, const char *kind, struct k8c_gvr gvr,
		  json_t *const *cands, size_t ncands,
		  bool (*matches)(const json_t *, const void *), const void *arg, json_t *keep,
		  size_t *n, struct k8c_error *err);

#define WL_GVR_CREV K8C_GVR("apps", "v1", "controllerrevisions")

/* The data of a ControllerRevision for a template: {"spec":{"template":{..,"$patch":"replace"}}}. */
json_t *wl_revision_data(const json_t *owner);
/*
 * constructHistory of the DaemonSet and StatefulSet controllers: the ControllerRevision
 * <owner>-<hash> holding the owner's template (revs: the informer's revisions owned by it),
 * created with revision max+1, or an existing equal one renumbered to max+1 when it is not the
 * newest (a rollback). Returns the revision (a new reference) and its hash in hash.
 */
json_t *wl_current_revision(struct k8c_ctrl *c, const json_t *owner, const char *kind,
			    json_t *const *revs, size_t nrevs, char hash[11],
			    struct k8c_error *err);
/*
 * Delete the oldest revisions beyond spec.revisionHistoryLimit (default 10) that no live pod
 * uses (in_use: a JSON object whose keys are the hash label values in use) and are not cur.
 */
int wl_cleanup_history(struct k8c_ctrl *c, const json_t *owner, json_t *const *revs, size_t nrevs,
		       const json_t *cur, const json_t *in_use, const char *label,
		       struct k8c_error *err);

#endif

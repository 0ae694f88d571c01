/*
 * The ReplicaSet and ReplicationController controllers (one implementation, as Kubernetes'
 * pkg/controller/replicaset serves both): keep spec.replicas active pods, created in slow-start
 * batches and deleted in the order of wl_sort_pods_for_deletion; adopt matching orphans,
 * release pods that stop matching; status and the ReplicaFailure condition through /status;
 * Events SuccessfulCreate, SuccessfulDelete, FailedCreate, FailedDelete.
 * Expectations (ctrl_workloads.h) keep a sync from acting twice before the informer saw its
 * own creates and deletes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "controller.h"
#include "ctrl_controllers.h"
#include "ctrl_workloads.h"
#include "log.h"
#include "objutil.h"

struct rs_kind {
	const char *api_version, *kind;
	struct k8c_gvr gvr;
	bool map_selector; /* ReplicationController: spec.selector is a map */
};

static const struct rs_kind rs_kind = {"apps/v1", "ReplicaSet",
				       K8C_GVR("apps", "v1", "replicasets"), false};
static const struct rs_kind rc_kind = {"v1", "ReplicationController",
				       K8C_GVR("", "v1", "replicationcontrollers"), true};

struct rs_ctrl {
	struct k8c_ctrl *c;
	const struct rs_kind *k;
	struct k8c_informer *sets, *pods;
	struct wl_expectations *exp;
	struct wl_par *par; /* the slow-start batches' parallel creates */
};

struct claim_arg {
	const struct rs_ctrl *rc;
	const json_t *set;
};

static bool matches(const struct rs_ctrl *rc, const json_t *set, const json_t *pod);

static bool set_matches(const json_t *pod, const void *arg)
{
	const struct claim_arg *a = arg;

	return matches(a->rc, a->set, pod);
}

static bool matches(const struct rs_ctrl *rc, const json_t *set, const json_t *pod)
{
	json_t *sel = k8c_at(set, "spec.selector");
	json_t *labels = k8c_at(pod, "metadata.labels");

	if (rc->k->map_selector)
		return json_is_object(sel) && json_object_size(sel) > 0 &&
		       k8c_map_selector_matches(sel, labels);
	return k8c_label_selector_matches(sel, labels);
}

/* The key of the set a pod's controllerRef names, when it is of our kind. malloc'd. */
static char *owner_key(const struct rs_ctrl *rc, const json_t *pod)
{
	json_t *ref = k8c_controller_ref(pod);
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));

	if (!kind || !name || strcmp(kind, rc->k->kind) != 0)
		return NULL;
	return k8c_xasprintf("%s/%s", k8c_str_at(pod, "metadata.namespace") ?: "", name);
}

/* Orphans: every set of the namespace that selects the pod gets a look (adoption). */
static void enqueue_selecting(struct rs_ctrl *rc, const json_t *pod)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *k;
	json_t *set;

	json_object_foreach(k8c_informer_cache(rc->sets), k, set)
	{
		if (!ns || strcmp(k8c_str_at(set, "metadata.namespace") ?: "", ns) != 0)
			continue;
		if (matches(rc, set, pod))
			k8c_ctrl_enqueue(rc->c, k);
	}
}

static void on_set(const struct k8c_delta *d, void *arg)
{
	struct rs_ctrl *rc = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_DELETE) {
		wl_expectations_delete(rc->exp, d->key);
		return;
	}
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(rc->c, d->key);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct rs_ctrl *rc = k8c_ctrl_data(arg);
	_cleanup_free_ char *nk = NULL, *ok = NULL;

	switch (d->type) {
	case K8C_DELTA_ADD:
		nk = owner_key(rc, d->new);
		if (!nk) {
			if (!k8c_controller_ref(d->new))
				enqueue_selecting(rc, d->new);
			return;
		}
		if (k8c_at(d->new, "metadata.deletionTimestamp"))
			wl_deletion_observed(rc->exp, nk, d->key);
		else
			wl_creation_observed(rc->exp, nk);
		k8c_ctrl_enqueue(rc->c, nk);
		return;
	case K8C_DELTA_UPDATE:
		nk = owner_key(rc, d->new);
		ok = owner_key(rc, d->old);
		if (nk && k8c_at(d->new, "metadata.deletionTimestamp") &&
		    !k8c_at(d->old, "metadata.deletionTimestamp"))
			wl_deletion_observed(rc->exp, nk, d->key);
		if (ok && (!nk || strcmp(ok, nk) != 0))
			k8c_ctrl_enqueue(rc->c, ok);
		if (nk)
			k8c_ctrl_enqueue(rc->c, nk);
		else if (!k8c_controller_ref(d->new))
			enqueue_selecting(rc, d->new);
		return;
	case K8C_DELTA_DELETE:
		nk = owner_key(rc, d->new);
		if (nk) {
			wl_deletion_observed(rc->exp, nk, d->key);
			k8c_ctrl_enqueue(rc->c, nk);
		}
		return;
	default:
		return;
	}
}

static int rs_init_kind(struct k8c_ctrl *c, const struct rs_kind *k, struct k8c_error *err)
{
	struct rs_ctrl *rc = k8c_xcalloc(1, sizeof(*rc));
	struct k8c_informer_opts so = {
		.gvr = k->gvr, .transform = k->map_selector ? wl_transform_rc : wl_transform_rs};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS,
				       .index = wl_index_by_controller,
				       .transform = wl_transform_pod};

	rc->c = c;
	rc->k = k;
	rc->exp = wl_expectations_new();
	rc->par = wl_par_new(c);
	k8c_ctrl_set_data(c, rc);
	rc->sets = k8c_ctrl_informer(c, &so, on_set, err);
	if (!rc->sets)
		return -1;
	rc->pods = k8c_ctrl_informer(c, &po, on_pod, err);
	return rc->pods ? 0 : -1;
}

static int rs_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	return rs_init_kind(c, &rs_kind, err);
}

static int rc_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	return rs_init_kind(c, &rc_kind, err);
}

static void rs_fini(struct k8c_ctrl *c)
{
	struct rs_ctrl *rc = k8c_ctrl_data(c);

	if (!rc)
		return;
	wl_par_free(rc->par);
	wl_expectations_free(rc->exp);
	free(rc);
}

/* One create of a batch; the calls of a batch run in parallel (wl_par_slow_start). */
struct create_ctx {
	struct rs_ctrl *rc;
	const json_t *set;
	json_t *pod;
	pthread_mutex_t mu;    /* for the two below */
	struct k8c_error *err; /* the first failure */
	bool terminating;      /* the namespace refused a create: being deleted */
};

static int create_one(void *arg, int i)
{
	struct create_ctx *x = arg;
	struct k8c_error e = K8C_ERROR_INIT;
	_cleanup_json_ json_t *out = NULL;

	(void)i;
	if (k8c_kube_create(wl_par_kube(x->rc->c), K8C_GVR_PODS,
			    k8c_str_at(x->set, "metadata.namespace"), x->pod, &out, &e) < 0) {
		/* as kube: a namespace being deleted refuses everything; not a failure of ours */
		if (e.code == 403 && e.msg && strstr(e.msg, "because it is being terminated")) {
			k8c_error_clear(&e);
			pthread_mutex_lock(&x->mu);
			x->terminating = true;
			pthread_mutex_unlock(&x->mu);
			return 0;
		}
		k8c_ctrl_event(x->rc->c, x->set, "Warning", "FailedCreate", "Error creating: %s",
			       wl_api_message(&e));
		pthread_mutex_lock(&x->mu);
		if (!x->err->msg)
			k8c_error_set(x->err, e.code, "%s", wl_api_message(&e));
		pthread_mutex_unlock(&x->mu);
		k8c_error_clear(&e);
		return -1;
	}
	k8c_ctrl_event(x->rc->c, x->set, "Normal", "SuccessfulCreate", "Created pod: %s",
		       k8c_str_at(out, "metadata.name") ?: "");
	return 0;
}

/* manageReplicas. fail_reason is set when a create or delete failed (err holds it). */
static int manage(struct rs_ctrl *rc, const char *key, const json_t *set, json_t **pods, size_t n,
		  const char **fail_reason, struct k8c_error *err)
{
	long want = (long)k8c_int_at(set, "spec.replicas", 1);
	long diff = (long)n - want;
	time_t now = time(NULL);

	if (diff < 0) {
		_cleanup_json_ json_t *ref =
			wl_controller_ref(set, rc->k->api_version, rc->k->kind);
		struct create_ctx x = {.rc = rc, .set = set, .err = err};
		int ok, tried;

		diff = -diff;
		if (diff > WL_BURST_REPLICAS)
			diff = WL_BURST_REPLICAS;
		x.pod = wl_pod_from_template(k8c_at(set, "spec.template"),
					     k8c_str_at(set, "metadata.namespace"),
					     k8c_str_at(set, "metadata.name"), ref);
		wl_expect_creations(rc->exp, key, diff, now);
		pthread_mutex_init(&x.mu, NULL);
		ok = wl_par_slow_start(rc->par, (int)diff, 1, create_one, &x, &tried);
		pthread_mutex_destroy(&x.mu);
		json_decref(x.pod);
		/* the ones never attempted or failed will not be observed */
		for (long i = ok; i < diff; i++)
			wl_creation_observed(rc->exp, key);
		if (x.terminating)
			wl_expectations_delete(rc->exp, key);
		if (ok < diff) {
			*fail_reason = "FailedCreate";
			return -1;
		}
		return 0;
	}
	if (diff > 0) {
		_cleanup_free_ json_t **victims = k8c_xcalloc(n ? n : 1, sizeof(*victims));
		int failed = 0;

		if (diff > WL_BURST_REPLICAS)
			diff = WL_BURST_REPLICAS;
		memcpy(victims, pods, n * sizeof(*victims));
		if (diff < (long)n)
			wl_sort_pods_for_deletion(victims, n, pods, n);
		for (long i = 0; i < diff; i++) {
			_cleanup_free_ char *pk = k8c_object_key(victims[i]);

			wl_expect_deletion(rc->exp, key, pk, now);
		}
		for (long i = 0; i < diff; i++) {
			const char *name = k8c_str_at(victims[i], "metadata.name");
			_cleanup_free_ char *pk = k8c_object_key(victims[i]);
			struct k8c_error e = K8C_ERROR_INIT;

			if (k8c_kube_delete(k8c_ctrl_kube(rc->c), K8C_GVR_PODS,
					    k8c_str_at(victims[i], "metadata.namespace"), name,
					    NULL, NULL, &e) < 0) {
				wl_deletion_observed(rc->exp, key, pk);
				if (e.code != 404) {
					k8c_ctrl_event(rc->c, set, "Warning", "FailedDelete",
						       "Error deleting: %s", wl_api_message(&e));
					if (!err->msg)
						k8c_error_set(err, e.code, "%s",
							      wl_api_message(&e));
					failed++;
				}
				k8c_error_clear(&e);
				continue;
			}
			k8c_ctrl_event(rc->c, set, "Normal", "SuccessfulDelete", "Deleted pod: %s",
				       name);
		}
		if (failed) {
			*fail_reason = "FailedDelete";
			return -1;
		}
	}
	return 0;
}

static int rs_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct rs_ctrl *rc = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL, *name = NULL, *orphan_key = NULL;
	_cleanup_free_ json_t **owned = NULL, **orphans = NULL, **cands = NULL, **pods = NULL;
	_cleanup_json_ json_t *keep = json_array(), *status = NULL;
	struct k8c_error merr = K8C_ERROR_INIT;
	const char *fail_reason = NULL;
	size_t no = 0, nor = 0, nc = 0, n = 0;
	json_t *set;
	time_t now = time(NULL);
	bool satisfied;
	int mr = 0;
	long min_ready;

	wl_split_key(key, &ns, &name);
	set = k8c_informer_get(rc->sets, ns, name);
	if (!set) {
		wl_expectations_delete(rc->exp, key);
		return 0;
	}
	satisfied = wl_expectations_satisfied(rc->exp, key, now);
	orphan_key = wl_orphan_index_key(ns);
	owned = wl_bucket(k8c_informer_index(rc->pods, k8c_str_at(set, "metadata.uid") ?: ""), &no);
	orphans = wl_bucket(k8c_informer_index(rc->pods, orphan_key), &nor);
	cands = k8c_xcalloc(no + nor + 1, sizeof(*cands));
	for (size_t i = 0; i < no; i++)
		if (k8c_pod_active(owned[i]))
			cands[nc++] = owned[i];
	for (size_t i = 0; i < nor; i++)
		if (k8c_pod_active(orphans[i]))
			cands[nc++] = orphans[i];
	pods = wl_claim(c, set, rc->k->gvr, rc->k->api_version, rc->k->kind, K8C_GVR_PODS, cands,
			nc, set_matches, &(struct claim_arg){rc, set}, keep, &n, err);
	if (!pods)
		return -1;
	if (satisfied && !k8c_at(set, "metadata.deletionTimestamp"))
		mr = manage(rc, key, set, pods, n, &fail_reason, &merr);
	status = wl_rs_status(set, pods, n, fail_reason, merr.msg, now);
	if (!json_equal(status, json_object_get(set, "status")) &&
	    wl_update_status(c, rc->k->gvr, set, status, err) < 0) {
		k8c_error_clear(&merr);
		return -1;
	}
	min_ready = (long)k8c_int_at(set, "spec.minReadySeconds", 0);
	if (min_ready > 0 &&
	    k8c_int_at(status, "readyReplicas", 0) != k8c_int_at(status, "availableReplicas", 0))
		k8c_ctrl_enqueue_after(c, key, min_ready * 1000);
	if (mr < 0) {
		k8c_error_set(err, merr.code, "%s %s: %s", rc->k->kind, key, merr.msg);
		k8c_error_clear(&merr);
		return -1;
	}
	return 0;
}

const struct k8c_controller_def ctrl_replicaset_def = {
	.name = "replicaset", .init = rs_init, .sync = rs_sync, .fini = rs_fini};
const struct k8c_controller_def ctrl_replicationcontroller_def = {.name = "replicationcontroller",
								  .component =
									  "replication-controller",
								  .init = rc_init,
								  .sync = rs_sync,
								  .fini = rs_fini};

/*
 * The Deployment controller (Kubernetes' pkg/controller/deployment): ReplicaSets named
 * <deployment>-<pod-template-hash>, RollingUpdate (maxSurge, maxUnavailable) and Recreate,
 * proportional scaling during a rollout, pause, the revision annotations, revisionHistoryLimit,
 * status with the Available and Progressing conditions (ProgressDeadlineExceeded), Events
 * ScalingReplicaSet. A rollback is kubectl's: it copies an old ReplicaSet's template into the
 * deployment, which then finds that ReplicaSet as its new one and gives it the next revision.
 */
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

#define GVR_DEPLOY K8C_GVR("apps", "v1", "deployments")
#define GVR_RS	   K8C_GVR("apps", "v1", "replicasets")

struct dp_ctrl {
	struct k8c_ctrl *c;
	struct k8c_informer *deps, *rss, *pods;
};

/* One sync: the deployment (an owned copy, replaced by each answer) and its ReplicaSets. */
struct dsync {
	struct dp_ctrl *dc;
	struct k8c_ctrl *c;
	json_t *d;
	json_t *rss; /* array of owned copies */
	int new_ix;  /* index in rss, -1: none */
	time_t now;
};

static char *deploy_owner_key(const json_t *rs)
{
	json_t *ref = k8c_controller_ref(rs);
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));

	if (!kind || !name || strcmp(kind, "Deployment") != 0)
		return NULL;
	return k8c_xasprintf("%s/%s", k8c_str_at(rs, "metadata.namespace") ?: "", name);
}

static void enqueue_selecting(struct dp_ctrl *dc, const json_t *rs)
{
	const char *ns = k8c_str_at(rs, "metadata.namespace") ?: "";
	const char *k;
	json_t *d;

	json_object_foreach(k8c_informer_cache(dc->deps), k, d)
	{
		if (strcmp(k8c_str_at(d, "metadata.namespace") ?: "", ns) == 0 &&
		    k8c_label_selector_matches(k8c_at(d, "spec.selector"),
					       k8c_at(rs, "metadata.labels")))
			k8c_ctrl_enqueue(dc->c, k);
	}
}

static void on_deploy(const struct k8c_delta *d, void *arg)
{
	struct dp_ctrl *dc = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(dc->c, d->key);
}

static void on_rs(const struct k8c_delta *d, void *arg)
{
	struct dp_ctrl *dc = k8c_ctrl_data(arg);
	_cleanup_free_ char *nk = NULL, *ok = NULL;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	nk = d->new ? deploy_owner_key(d->new) : NULL;
	ok = d->old ? deploy_owner_key(d->old) : NULL;
	if (ok && (!nk || strcmp(ok, nk) != 0))
		k8c_ctrl_enqueue(dc->c, ok);
	if (nk)
		k8c_ctrl_enqueue(dc->c, nk);
	else if (d->type != K8C_DELTA_DELETE && d->new && !k8c_controller_ref(d->new))
		enqueue_selecting(dc, d->new);
}

/* Recreate waits for the old pods to be gone: a pod's deletion is worth a look. */
static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct dp_ctrl *dc = k8c_ctrl_data(arg);
	json_t *ref, *rs;
	_cleanup_free_ char *dk = NULL;

	if (d->type != K8C_DELTA_DELETE)
		return;
	ref = k8c_controller_ref(d->new);
	if (!ref || strcmp(json_string_value(json_object_get(ref, "kind")) ?: "", "ReplicaSet"))
		return;
	rs = k8c_informer_get(dc->rss, k8c_str_at(d->new, "metadata.namespace"),
			      json_string_value(json_object_get(ref, "name")));
	dk = rs ? deploy_owner_key(rs) : NULL;
	if (dk)
		k8c_ctrl_enqueue(dc->c, dk);
}

static int dp_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct dp_ctrl *dc = k8c_xcalloc(1, sizeof(*dc));
	struct k8c_informer_opts dopt = {.gvr = GVR_DEPLOY, .transform = wl_transform_deploy};
	struct k8c_informer_opts ropt = {
		.gvr = GVR_RS, .index = wl_index_by_controller, .transform = wl_transform_rs};
	struct k8c_informer_opts popt = {.gvr = K8C_GVR_PODS,
					 .index = wl_index_by_controller,
					 .transform = wl_transform_pod};

	dc->c = c;
	k8c_ctrl_set_data(c, dc);
	if (!(dc->deps = k8c_ctrl_informer(c, &dopt, on_deploy, err)))
		return -1;
	if (!(dc->rss = k8c_ctrl_informer(c, &ropt, on_rs, err)))
		return -1;
	if (!(dc->pods = k8c_ctrl_informer(c, &popt, on_pod, err)))
		return -1;
	return 0;
}

static void dp_fini(struct k8c_ctrl *c)
{
	free(k8c_ctrl_data(c));
}

/* ---- writes ---- */

static json_t *rs_at(struct dsync *s, size_t i)
{
	return json_array_get(s->rss, i);
}

static json_t *new_rs(struct dsync *s)
{
	return s->new_ix >= 0 ? rs_at(s, (size_t)s->new_ix) : NULL;
}

/* The old RSes (every one but the new), borrowed, into a malloc'd array. */
static json_t **olds_of(struct dsync *s, size_t *n)
{
	json_t **v = k8c_xcalloc(json_array_size(s->rss) + 1, sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; i < json_array_size(s->rss); i++)
		if ((int)i != s->new_ix)
			v[k++] = rs_at(s, i);
	*n = k;
	return v;
}

static json_t **all_of(struct dsync *s, size_t *n)
{
	json_t **v = k8c_xcalloc(json_array_size(s->rss) + 1, sizeof(*v));

	for (size_t i = 0; i < json_array_size(s->rss); i++)
		v[i] = rs_at(s, i);
	*n = json_array_size(s->rss);
	return v;
}

static int index_of(struct dsync *s, const json_t *rs)
{
	for (size_t i = 0; i < json_array_size(s->rss); i++)
		if (rs_at(s, i) == rs)
			return (int)i;
	return -1;
}

/* PUT the deployment's status (s->d's); s->d becomes the answer. */
static int put_status(struct dsync *s, json_t *status, struct k8c_error *err)
{
	json_t *out = NULL;

	json_object_set(s->d, "status", status);
	if (k8c_kube_update_status(k8c_ctrl_kube(s->c), GVR_DEPLOY,
				   k8c_str_at(s->d, "metadata.namespace"), s->d, &out, err) < 0)
		return -1;
	json_decref(s->d);
	s->d = out;
	return 0;
}

/* The deployment's revision annotation (SetDeploymentRevision), by a merge patch. */
static int set_deploy_revision(struct dsync *s, const char *rev, struct k8c_error *err)
{
	_cleanup_json_ json_t *p = NULL;
	json_t *out = NULL, *status;
	const char *cur = json_string_value(
		json_object_get(k8c_at(s->d, "metadata.annotations"), WL_REVISION_ANN));

	if (!rev || (cur && strcmp(cur, rev) == 0))
		return 0;
	p = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", WL_REVISION_ANN, rev);
	if (k8c_kube_patch(k8c_ctrl_kube(s->c), GVR_DEPLOY, k8c_str_at(s->d, "metadata.namespace"),
			   k8c_str_at(s->d, "metadata.name"), NULL, K8C_PATCH_MERGE, p, &out,
			   err) < 0)
		return -1;
	/* keep the status this sync is building */
	status = json_incref(json_object_get(s->d, "status"));
	json_decref(s->d);
	s->d = out;
	if (status)
		json_object_set_new(s->d, "status", status);
	return 0;
}

/* scaleReplicaSet: size and the desired/max annotations. *scaled: the size changed. */
static int scale_rs(struct dsync *s, size_t ix, long scale, const char *op, bool *scaled,
		    struct k8c_error *err)
{
	json_t *rs = rs_at(s, ix);
	_cleanup_json_ json_t *copy = json_deep_copy(rs);
	long old = wl_rs_replicas(rs), want = wl_deploy_replicas(s->d);
	bool size = old != scale;
	bool ann = wl_set_replicas_annotations(copy, want, want + wl_deploy_max_surge(s->d));
	json_t *out = NULL;

	if (scaled)
		*scaled = false;
	if (!size && !ann)
		return 0;
	json_object_set_new(json_object_get(copy, "spec"), "replicas", json_integer(scale));
	if (k8c_kube_update(k8c_ctrl_kube(s->c), GVR_RS, k8c_str_at(rs, "metadata.namespace"), copy,
			    &out, err) < 0) {
		json_t *fresh = NULL;
		int r;

		if (err->code != 409)
			return -1;
		/* the ReplicaSet controller wrote its status meanwhile: once more on a fresh
		 * copy when its spec is still the one this decision was made on */
		k8c_error_clear(err);
		if (k8c_kube_get(k8c_ctrl_kube(s->c), GVR_RS, k8c_str_at(rs, "metadata.namespace"),
				 k8c_str_at(rs, "metadata.name"), &fresh, err) < 0)
			return -1;
		if (!json_equal(json_object_get(fresh, "spec"), json_object_get(rs, "spec"))) {
			json_decref(fresh);
			return k8c_error_set(err, 409, "replica set %s changed meanwhile",
					     k8c_str_at(rs, "metadata.name"));
		}
		json_object_set(fresh, "spec", json_object_get(copy, "spec"));
		json_object_set(json_object_get(fresh, "metadata"), "annotations",
				k8c_at(copy, "metadata.annotations"));
		r = k8c_kube_update(k8c_ctrl_kube(s->c), GVR_RS,
				    k8c_str_at(rs, "metadata.namespace"), fresh, &out, err);
		json_decref(fresh);
		if (r < 0)
			return -1;
	}
	json_array_set_new(s->rss, ix, out);
	if (size) {
		if (scaled)
			*scaled = true;
		k8c_ctrl_event(s->c, s->d, "Normal", "ScalingReplicaSet",
			       "Scaled %s replica set %s to %ld from %ld", op,
			       k8c_str_at(out, "metadata.name") ?: "", scale, old);
	}
	return 0;
}

/* getNewReplicaSet (and the revision sync of getAllReplicaSetsAndSyncRevision). */
static int get_new_rs(struct dsync *s, bool create, struct k8c_error *err)
{
	_cleanup_free_ json_t **olds = NULL;
	size_t nold;
	long revision;
	char rev[32];
	json_t *d = s->d, *conds;
	bool status_changed = false;
	_cleanup_json_ json_t *status = json_deep_copy(json_object_get(d, "status"));

	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	{
		_cleanup_free_ json_t **all = NULL;
		size_t n;

		all = all_of(s, &n);
		s->new_ix = wl_find_new_rs(d, all, n);
	}
	olds = olds_of(s, &nold);
	revision = wl_max_revision(olds, nold) + 1;
	snprintf(rev, sizeof(rev), "%ld", revision);
	if (s->new_ix >= 0) {
		json_t *rs = new_rs(s);
		_cleanup_json_ json_t *copy = json_deep_copy(rs);
		bool changed = wl_set_new_rs_annotations(d, copy, revision, true);
		json_t *mrs = k8c_at(d, "spec.minReadySeconds");

		if (k8c_int_at(rs, "spec.minReadySeconds", 0) !=
		    k8c_int_at(d, "spec.minReadySeconds", 0)) {
			json_object_set(json_object_get(copy, "spec"), "minReadySeconds",
					mrs ? mrs : json_integer(0));
			changed = true;
		}
		if (changed) {
			json_t *out = NULL;

			if (k8c_kube_update(k8c_ctrl_kube(s->c), GVR_RS,
					    k8c_str_at(rs, "metadata.namespace"), copy, &out,
					    err) < 0)
				return -1;
			json_array_set_new(s->rss, (size_t)s->new_ix, out);
			rs = out;
		}
		if (set_deploy_revision(
			    s,
			    json_string_value(json_object_get(k8c_at(rs, "metadata.annotations"),
							      WL_REVISION_ANN)),
			    err) < 0)
			return -1;
		if (wl_has_progress_deadline(s->d) && !wl_get_condition(conds, "Progressing")) {
			_cleanup_free_ char *m = k8c_xasprintf("Found new replica set \"%s\"",
							       k8c_str_at(rs, "metadata.name"));

			wl_set_condition(conds,
					 wl_condition("Progressing", "True", "FoundNewReplicaSet",
						      m, s->now, true));
			status_changed = true;
		}
		if (status_changed)
			return put_status(s, status, err);
		return 0;
	}
	if (!create)
		return 0;
	{
		json_t *tmpl = wl_template_normalized(k8c_at(d, "spec.template"));
		json_t *sel = json_deep_copy(k8c_at(d, "spec.selector"));
		json_t *tmeta, *labels, *ml, *rs, *out = NULL;
		json_t *cc = k8c_at(d, "status.collisionCount");
		char hash[11];
		long replicas;
		bool exists = false;
		_cleanup_free_ json_t **all = k8c_xcalloc(nold + 2, sizeof(*all));
		_cleanup_free_ char *name = NULL;

		wl_template_hash(k8c_at(d, "spec.template"),
				 json_is_integer(cc) ? json_integer_value(cc) : -1, hash);
		tmeta = json_object_get(tmpl, "metadata");
		if (!json_is_object(tmeta)) {
			tmeta = json_object();
			json_object_set_new(tmpl, "metadata", tmeta);
		}
		labels = json_object_get(tmeta, "labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(tmeta, "labels", labels);
		}
		json_object_set_new(labels, WL_POD_TEMPLATE_HASH, json_string(hash));
		ml = json_object_get(sel, "matchLabels");
		if (!json_is_object(ml)) {
			ml = json_object();
			json_object_set_new(sel, "matchLabels", ml);
		}
		json_object_set_new(ml, WL_POD_TEMPLATE_HASH, json_string(hash));
		name = k8c_xasprintf("%s-%s", k8c_str_at(d, "metadata.name"), hash);
		rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:[o], s:O}, s:{s:i, s:I, s:o, s:o}}",
			       "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name",
			       name, "namespace", k8c_str_at(d, "metadata.namespace"),
			       "ownerReferences", wl_controller_ref(d, "apps/v1", "Deployment"),
			       "labels", labels, "spec", "replicas", 0, "minReadySeconds",
			       (json_int_t)k8c_int_at(d, "spec.minReadySeconds", 0), "selector",
			       sel, "template", tmpl);
		memcpy(all, olds, nold * sizeof(*all));
		all[nold] = rs;
		replicas = wl_new_rs_new_replicas(d, all, nold + 1, rs);
		json_object_set_new(json_object_get(rs, "spec"), "replicas",
				    json_integer(replicas));
		wl_set_new_rs_annotations(d, rs, revision, false);
		if (k8c_kube_create(k8c_ctrl_kube(s->c), GVR_RS,
				    k8c_str_at(d, "metadata.namespace"), rs, &out, err) < 0) {
			json_t *existing;

			if (err->code != 409 || strcmp(k8c_kube_last_reason(k8c_ctrl_kube(s->c)),
						       "AlreadyExists") != 0) {
				_cleanup_free_ char *m =
					k8c_xasprintf("Failed to create new replica set \"%s\": %s",
						      name, wl_api_message(err));

				k8c_ctrl_event(s->c, d, "Warning", "FailedCreate", "%s", m);
				json_decref(rs);
				if (wl_has_progress_deadline(d)) {
					struct k8c_error e2 = K8C_ERROR_INIT;

					wl_set_condition(conds, wl_condition("Progressing", "False",
									     "FailedRSCreate", m,
									     s->now, true));
					put_status(s, status, &e2);
					k8c_error_clear(&e2);
				}
				return -1;
			}
			k8c_error_clear(err);
			existing = k8c_informer_get(s->dc->rss, k8c_str_at(d, "metadata.namespace"),
						    name);
			if (existing &&
			    strcmp(json_string_value(
					   json_object_get(k8c_controller_ref(existing), "uid"))
					   ?: "",
				   k8c_str_at(d, "metadata.uid") ?: "") == 0 &&
			    wl_templates_equal_ignore_hash(k8c_at(existing, "spec.template"),
							   k8c_at(d, "spec.template"))) {
				out = json_deep_copy(existing);
				exists = true;
			} else {
				/* a hash collision: the next hash uses a bumped collisionCount */
				json_object_set_new(
					status, "collisionCount",
					json_integer(json_is_integer(cc)
							     ? json_integer_value(cc) + 1
							     : 1));
				json_decref(rs);
				if (put_status(s, status, err) < 0)
					return -1;
				return k8c_error_set(err, 409,
						     "deployment %s: hash collision on replica set "
						     "%s, collisionCount bumped",
						     k8c_str_at(d, "metadata.name"), name);
			}
		}
		json_decref(rs);
		if (!exists && replicas > 0)
			k8c_ctrl_event(s->c, d, "Normal", "ScalingReplicaSet",
				       "Scaled up replica set %s from 0 to %ld",
				       k8c_str_at(out, "metadata.name") ?: "", replicas);
		json_array_append_new(s->rss, out);
		s->new_ix = (int)json_array_size(s->rss) - 1;
		if (set_deploy_revision(s, rev, err) < 0)
			return -1;
		if (!exists && wl_has_progress_deadline(s->d)) {
			_cleanup_free_ char *m =
				k8c_xasprintf("Created new replica set \"%s\"", name);

			wl_set_condition(conds,
					 wl_condition("Progressing", "True", "NewReplicaSetCreated",
						      m, s->now, true));
			return put_status(s, status, err);
		}
	}
	return 0;
}

/* ---- status ---- */

static json_t *replica_failure(struct dsync *s)
{
	json_t *n = new_rs(s), *c;

	if (n && (c = k8c_condition(n, "ReplicaFailure")))
		return c;
	for (size_t i = 0; i < json_array_size(s->rss); i++)
		if ((c = k8c_condition(rs_at(s, i), "ReplicaFailure")))
			return c;
	return NULL;
}

static void requeue_stuck(struct dsync *s, const json_t *status)
{
	json_t *c = wl_get_condition(json_object_get(status, "conditions"), "Progressing");
	const char *reason = json_string_value(json_object_get(c, "reason"));
	time_t from;
	long after;
	_cleanup_free_ char *key = NULL;

	if (!c || !wl_has_progress_deadline(s->d) ||
	    (reason && strcmp(reason, "NewReplicaSetAvailable") == 0) ||
	    wl_deploy_timed_out(s->d, status, s->now))
		return;
	from = k8c_rfc3339_parse(json_string_value(json_object_get(c, "lastUpdateTime")));
	if (from < 0)
		return;
	after = (long)(from + k8c_int_at(s->d, "spec.progressDeadlineSeconds", 600) - s->now);
	key = k8c_object_key(s->d);
	k8c_ctrl_enqueue_after(s->c, key, (after < 1 ? 1 : after + 1) * 1000);
}

static int sync_rollout_status(struct dsync *s, bool progress, struct k8c_error *err)
{
	_cleanup_free_ json_t **all = NULL;
	size_t n;
	_cleanup_json_ json_t *st = NULL;
	json_t *conds, *cur, *n_rs = new_rs(s), *fail;
	const char *name =
		n_rs ? k8c_str_at(n_rs, "metadata.name") : k8c_str_at(s->d, "metadata.name");
	const char *what = n_rs ? "ReplicaSet" : "Deployment";

	all = all_of(s, &n);
	st = wl_deploy_status(s->d, all, n, n_rs, s->now);
	conds = json_object_get(st, "conditions");
	if (progress) {
		bool deadline = wl_has_progress_deadline(s->d), complete;
		const char *reason;

		if (!deadline)
			wl_remove_condition(conds, "Progressing");
		cur = wl_get_condition(conds, "Progressing");
		reason = json_string_value(json_object_get(cur, "reason"));
		complete = k8c_int_at(st, "replicas", 0) == k8c_int_at(st, "updatedReplicas", 0) &&
			   reason && strcmp(reason, "NewReplicaSetAvailable") == 0;
		if (deadline && !complete) {
			if (wl_deploy_complete(s->d, st)) {
				_cleanup_free_ char *m = k8c_xasprintf(
					"%s \"%s\" has successfully progressed.", what, name);

				wl_set_condition(conds, wl_condition("Progressing", "True",
								     "NewReplicaSetAvailable", m,
								     s->now, true));
			} else if (wl_deploy_progressing(s->d, st)) {
				_cleanup_free_ char *m =
					k8c_xasprintf("%s \"%s\" is progressing.", what, name);
				json_t *c = wl_condition("Progressing", "True", "ReplicaSetUpdated",
							 m, s->now, true);
				const char *cs = json_string_value(json_object_get(cur, "status"));

				if (cur && cs && strcmp(cs, "True") == 0)
					json_object_set(c, "lastTransitionTime",
							json_object_get(cur, "lastTransitionTime"));
				wl_remove_condition(conds, "Progressing");
				json_array_append_new(conds, c);
			} else if (wl_deploy_timed_out(s->d, st, s->now)) {
				_cleanup_free_ char *m = k8c_xasprintf(
					"%s \"%s\" has timed out progressing.", what, name);

				wl_set_condition(conds, wl_condition("Progressing", "False",
								     "ProgressDeadlineExceeded", m,
								     s->now, true));
			}
		}
	}
	if ((fail = replica_failure(s)))
		wl_set_condition(
			conds,
			wl_condition("ReplicaFailure",
				     json_string_value(json_object_get(fail, "status")) ?: "True",
				     json_string_value(json_object_get(fail, "reason")),
				     json_string_value(json_object_get(fail, "message")), s->now,
				     true));
	else
		wl_remove_condition(conds, "ReplicaFailure");
	if (json_array_size(conds) == 0)
		json_object_del(st, "conditions");
	if (json_equal(st, json_object_get(s->d, "status"))) {
		if (progress)
			requeue_stuck(s, st);
		return 0;
	}
	if (put_status(s, st, err) < 0)
		return -1;
	if (progress)
		requeue_stuck(s, st);
	return 0;
}

/* ---- the steps ---- */

static int cleanup(struct dsync *s, struct k8c_error *err)
{
	json_t *lim = k8c_at(s->d, "spec.revisionHistoryLimit");
	_cleanup_free_ json_t **olds = NULL;
	size_t n, k = 0;
	long diff;

	if (!json_is_integer(lim))
		return 0;
	olds = olds_of(s, &n);
	for (size_t i = 0; i < n; i++)
		if (!k8c_at(olds[i], "metadata.deletionTimestamp"))
			olds[k++] = olds[i];
	diff = (long)k - (long)json_integer_value(lim);
	if (diff <= 0)
		return 0;
	/* ReplicaSetsByRevision: the lowest revisions go first */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && wl_ann_long(olds[j], WL_REVISION_ANN, 0) <
						    wl_ann_long(olds[j - 1], WL_REVISION_ANN, 0);
		     j--) {
			json_t *t = olds[j];

			olds[j] = olds[j - 1];
			olds[j - 1] = t;
		}
	for (long i = 0; i < diff; i++) {
		json_t *rs = olds[i];

		if (k8c_int_at(rs, "status.replicas", 0) != 0 || wl_rs_replicas(rs) != 0 ||
		    k8c_int_at(rs, "metadata.generation", 0) >
			    k8c_int_at(rs, "status.observedGeneration", 0))
			continue;
		if (k8c_kube_delete(k8c_ctrl_kube(s->c), GVR_RS,
				    k8c_str_at(rs, "metadata.namespace"),
				    k8c_str_at(rs, "metadata.name"), NULL, NULL, err) < 0) {
			if (err->code != 404)
				return -1;
			k8c_error_clear(err);
		}
	}
	return 0;
}

/* DeploymentController.scale */
static int scale(struct dsync *s, struct k8c_error *err)
{
	_cleanup_free_ json_t **olds = NULL;
	size_t n;
	json_t *nrs = new_rs(s);
	long want = wl_deploy_replicas(s->d);
	int ix;

	olds = olds_of(s, &n);
	ix = wl_find_active_or_latest(nrs, olds, n);
	if (ix >= 0) {
		json_t *rs = ix == 0 ? nrs : olds[ix - 1];

		if (wl_rs_replicas(rs) == want)
			return 0;
		return scale_rs(s, (size_t)index_of(s, rs), want,
				want > wl_rs_replicas(rs) ? "up" : "down", NULL, err);
	}
	if (wl_is_saturated(s->d, nrs)) {
		for (size_t i = 0; i < n; i++)
			if (wl_rs_replicas(olds[i]) > 0 &&
			    scale_rs(s, (size_t)index_of(s, olds[i]), 0, "down", NULL, err) < 0)
				return -1;
		return 0;
	}
	{
		const char *t = k8c_str_at(s->d, "spec.strategy.type");
		_cleanup_free_ json_t **act = k8c_xcalloc(n + 2, sizeof(*act));
		_cleanup_free_ long *out = k8c_xcalloc(n + 2, sizeof(*out));
		size_t k = 0;
		long before = 0, after = 0;

		if (t && strcmp(t, "RollingUpdate") != 0)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (wl_rs_replicas(olds[i]) > 0)
				act[k++] = olds[i];
		if (nrs && wl_rs_replicas(nrs) > 0)
			act[k++] = nrs;
		if (!k)
			return 0;
		wl_proportional_scale(s->d, act, k, out);
		for (size_t i = 0; i < k; i++) {
			before += wl_rs_replicas(act[i]);
			after += out[i];
		}
		for (size_t i = 0; i < k; i++) {
			int j = index_of(s, act[i]);

			if (scale_rs(s, (size_t)j, out[i], after > before ? "up" : "down", NULL,
				     err) < 0)
				return -1;
		}
	}
	return 0;
}

static bool is_scaling_event(struct dsync *s)
{
	long want = wl_deploy_replicas(s->d);

	for (size_t i = 0; i < json_array_size(s->rss); i++) {
		json_t *rs = rs_at(s, i);
		long d = wl_ann_long(rs, WL_DESIRED_ANN, -1);

		if (wl_rs_replicas(rs) > 0 && d >= 0 && d != want)
			return true;
	}
	return false;
}

/* dc.sync: scaling and paused deployments. */
static int sync_scale(struct dsync *s, struct k8c_error *err)
{
	if (get_new_rs(s, false, err) < 0 || scale(s, err) < 0)
		return -1;
	if (json_is_true(k8c_at(s->d, "spec.paused")) && cleanup(s, err) < 0)
		return -1;
	return sync_rollout_status(s, false, err);
}

static int rollout_rolling(struct dsync *s, struct k8c_error *err)
{
	long want = wl_deploy_replicas(s->d);
	bool scaled = false;
	json_t *nrs;

	if (get_new_rs(s, true, err) < 0)
		return -1;
	nrs = new_rs(s);
	/* reconcileNewReplicaSet */
	if (nrs && wl_rs_replicas(nrs) != want) {
		_cleanup_free_ json_t **all = NULL;
		size_t n;
		long next;

		all = all_of(s, &n);
		next = wl_rs_replicas(nrs) > want ? want
						  : wl_new_rs_new_replicas(s->d, all, n, nrs);
		if (scale_rs(s, (size_t)s->new_ix, next, next > wl_rs_replicas(nrs) ? "up" : "down",
			     &scaled, err) < 0)
			return -1;
		if (scaled)
			return sync_rollout_status(s, true, err);
	}
	/* reconcileOldReplicaSets */
	{
		_cleanup_free_ json_t **olds = NULL, **act = NULL;
		_cleanup_free_ long *out = NULL;
		size_t n, k = 0;

		olds = olds_of(s, &n);
		act = k8c_xcalloc(n + 1, sizeof(*act));
		out = k8c_xcalloc(n + 1, sizeof(*out));
		for (size_t i = 0; i < n; i++)
			if (wl_rs_replicas(olds[i]) > 0)
				act[k++] = olds[i];
		if (k && wl_rolling_scale_down(s->d, act, k, new_rs(s), out) > 0) {
			for (size_t i = 0; i < k; i++) {
				if (out[i] == wl_rs_replicas(act[i]))
					continue;
				if (scale_rs(s, (size_t)index_of(s, act[i]), out[i], "down", NULL,
					     err) < 0)
					return -1;
			}
			return sync_rollout_status(s, true, err);
		}
	}
	if (wl_deploy_complete(s->d, json_object_get(s->d, "status")) && cleanup(s, err) < 0)
		return -1;
	return sync_rollout_status(s, true, err);
}

static bool old_pods_running(struct dsync *s)
{
	for (size_t i = 0; i < json_array_size(s->rss); i++) {
		json_t *rs = rs_at(s, i), *bucket;
		const char *k;
		json_t *pod;

		if ((int)i == s->new_ix)
			continue;
		if (k8c_int_at(rs, "status.replicas", 0) > 0)
			return true;
		bucket = k8c_informer_index(s->dc->pods, k8c_str_at(rs, "metadata.uid") ?: "");
		json_object_foreach(bucket, k, pod)
		{
			const char *ph = k8c_str_at(pod, "status.phase");

			if (ph && (strcmp(ph, "Failed") == 0 || strcmp(ph, "Succeeded") == 0))
				continue;
			return true;
		}
	}
	return false;
}

static int rollout_recreate(struct dsync *s, struct k8c_error *err)
{
	bool any = false;

	if (get_new_rs(s, false, err) < 0)
		return -1;
	for (size_t i = 0; i < json_array_size(s->rss); i++) {
		bool scaled = false;

		if ((int)i == s->new_ix || wl_rs_replicas(rs_at(s, i)) == 0)
			continue;
		if (scale_rs(s, i, 0, "down", &scaled, err) < 0)
			return -1;
		any |= scaled;
	}
	if (any || old_pods_running(s))
		return sync_rollout_status(s, true, err);
	if (s->new_ix < 0 && get_new_rs(s, true, err) < 0)
		return -1;
	if (s->new_ix >= 0 &&
	    scale_rs(s, (size_t)s->new_ix, wl_deploy_replicas(s->d), "up", NULL, err) < 0)
		return -1;
	if (wl_deploy_complete(s->d, json_object_get(s->d, "status")) && cleanup(s, err) < 0)
		return -1;
	return sync_rollout_status(s, true, err);
}

/* checkPausedConditions */
static int paused_conditions(struct dsync *s, struct k8c_error *err)
{
	_cleanup_json_ json_t *status = NULL;
	json_t *conds, *cur;
	const char *reason;
	bool paused = json_is_true(k8c_at(s->d, "spec.paused")), exists;

	if (!wl_has_progress_deadline(s->d))
		return 0;
	status = json_deep_copy(json_object_get(s->d, "status"));
	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	cur = wl_get_condition(conds, "Progressing");
	reason = json_string_value(json_object_get(cur, "reason"));
	exists = reason && strcmp(reason, "DeploymentPaused") == 0;
	if (paused && !exists)
		wl_set_condition(conds, wl_condition("Progressing", "Unknown", "DeploymentPaused",
						     "Deployment is paused", s->now, true));
	else if (!paused && exists)
		wl_set_condition(conds, wl_condition("Progressing", "Unknown", "DeploymentResumed",
						     "Deployment is resumed", s->now, true));
	else
		return 0;
	return put_status(s, status, err);
}

static bool rs_selected(const json_t *rs, const void *arg)
{
	return k8c_label_selector_matches(k8c_at(arg, "spec.selector"),
					  k8c_at(rs, "metadata.labels"));
}

static int dp_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct dp_ctrl *dc = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL, *name = NULL, *ok = NULL;
	_cleanup_free_ json_t **owned = NULL, **orphans = NULL, **cands = NULL, **claimed = NULL;
	_cleanup_json_ json_t *keep = json_array();
	struct dsync s = {.dc = dc, .c = c, .new_ix = -1, .now = time(NULL)};
	size_t no, nor, nc = 0, n;
	json_t *d, *sel;
	int r;

	wl_split_key(key, &ns, &name);
	d = k8c_informer_get(dc->deps, ns, name);
	if (!d)
		return 0;
	sel = k8c_at(d, "spec.selector");
	if (json_is_object(sel) && !json_object_size(json_object_get(sel, "matchLabels")) &&
	    !json_array_size(json_object_get(sel, "matchExpressions"))) {
		k8c_ctrl_event(c, d, "Warning", "SelectingAll",
			       "This deployment is selecting all pods. A non-empty selector is "
			       "required.");
		return 0;
	}
	ok = wl_orphan_index_key(ns);
	owned = wl_bucket(k8c_informer_index(dc->rss, k8c_str_at(d, "metadata.uid") ?: ""), &no);
	orphans = wl_bucket(k8c_informer_index(dc->rss, ok), &nor);
	cands = k8c_xcalloc(no + nor + 1, sizeof(*cands));
	for (size_t i = 0; i < no; i++)
		cands[nc++] = owned[i];
	for (size_t i = 0; i < nor; i++)
		cands[nc++] = orphans[i];
	claimed = wl_claim(c, d, K8C_GVR("apps", "v1", "deployments"), "apps/v1", "Deployment",
			   GVR_RS, cands, nc, rs_selected, d, keep, &n, err);
	if (!claimed)
		return -1;
	s.d = json_deep_copy(d);
	s.rss = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(s.rss, json_deep_copy(claimed[i]));
	if (k8c_at(d, "metadata.deletionTimestamp")) {
		r = get_new_rs(&s, false, err);
		if (r == 0)
			r = sync_rollout_status(&s, false, err);
	} else if (paused_conditions(&s, err) < 0) {
		r = -1;
	} else if (json_is_true(k8c_at(s.d, "spec.paused"))) {
		r = sync_scale(&s, err);
	} else {
		/* isScalingEvent looks at the RSes as they are, with the new one known */
		_cleanup_free_ json_t **all = NULL;
		size_t na;

		all = all_of(&s, &na);
		s.new_ix = wl_find_new_rs(s.d, all, na);
		if (is_scaling_event(&s)) {
			r = sync_scale(&s, err);
		} else {
			const char *t = k8c_str_at(s.d, "spec.strategy.type");

			r = t && strcmp(t, "Recreate") == 0 ? rollout_recreate(&s, err)
							    : rollout_rolling(&s, err);
		}
	}
	json_decref(s.d);
	json_decref(s.rss);
	return r;
}

const struct k8c_controller_def ctrl_deployment_def = {
	.name = "deployment", .init = dp_init, .sync = dp_sync, .fini = dp_fini};

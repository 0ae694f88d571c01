/*
 * The StatefulSet controller (basic; Kubernetes' pkg/controller/statefulset): pods
 * <set>-0..N-1 with stable names (hostname, subdomain = serviceName, labels
 * statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index), a PVC per replica and
 * volumeClaimTemplate (<template>-<set>-<ordinal>), OrderedReady (create in order, each once
 * the previous is Running and Ready; scale down from the highest ordinal, one at a time) or
 * Parallel, RollingUpdate from the highest ordinal down to the partition and OnDelete, template
 * history in ControllerRevisions (currentRevision/updateRevision), status through /status.
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

#define GVR_STS K8C_GVR("apps", "v1", "statefulsets")
#define GVR_PVC K8C_GVR("", "v1", "persistentvolumeclaims")

struct sts_ctrl {
	struct k8c_ctrl *c;
	struct k8c_informer *sets, *pods, *pvcs, *revs;
};

static char *sts_owner_key(const json_t *pod)
{
	json_t *ref = k8c_controller_ref(pod);
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));

	if (!kind || !name || strcmp(kind, "StatefulSet") != 0)
		return NULL;
	return k8c_xasprintf("%s/%s", k8c_str_at(pod, "metadata.namespace") ?: "", name);
}

static void on_set(const struct k8c_delta *d, void *arg)
{
	struct sts_ctrl *sc = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(sc->c, d->key);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct sts_ctrl *sc = k8c_ctrl_data(arg);
	_cleanup_free_ char *nk = NULL, *ok = NULL;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	nk = d->new ? sts_owner_key(d->new) : NULL;
	ok = d->old ? sts_owner_key(d->old) : NULL;
	if (ok && (!nk || strcmp(ok, nk) != 0))
		k8c_ctrl_enqueue(sc->c, ok);
	if (nk) {
		k8c_ctrl_enqueue(sc->c, nk);
		return;
	}
	if (d->type != K8C_DELTA_DELETE && !k8c_controller_ref(d->new)) {
		const char *ns = k8c_str_at(d->new, "metadata.namespace") ?: "";
		const char *k;
		json_t *set;

		json_object_foreach(k8c_informer_cache(sc->sets), k, set)
		{
			if (strcmp(k8c_str_at(set, "metadata.namespace") ?: "", ns) == 0 &&
			    k8c_label_selector_matches(k8c_at(set, "spec.selector"),
						       k8c_at(d->new, "metadata.labels")))
				k8c_ctrl_enqueue(sc->c, k);
		}
	}
}

static int sts_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct sts_ctrl *sc = k8c_xcalloc(1, sizeof(*sc));
	struct k8c_informer_opts o1 = {.gvr = GVR_STS, .transform = wl_transform_sts};
	struct k8c_informer_opts o2 = {.gvr = K8C_GVR_PODS,
				       .index = wl_index_by_controller,
				       .transform = wl_transform_pod};
	struct k8c_informer_opts o3 = {.gvr = GVR_PVC, .transform = wl_transform_plain};
	struct k8c_informer_opts o4 = {.gvr = WL_GVR_CREV,
				       .index = wl_index_by_controller,
				       .transform = wl_transform_plain};

	sc->c = c;
	k8c_ctrl_set_data(c, sc);
	if (!(sc->sets = k8c_ctrl_informer(c, &o1, on_set, err)) ||
	    !(sc->pods = k8c_ctrl_informer(c, &o2, on_pod, err)) ||
	    !(sc->pvcs = k8c_ctrl_informer(c, &o3, NULL, err)) ||
	    !(sc->revs = k8c_ctrl_informer(c, &o4, NULL, err)))
		return -1;
	return 0;
}

static void sts_fini(struct k8c_ctrl *c)
{
	free(k8c_ctrl_data(c));
}

static bool pod_selected(const json_t *pod, const void *set)
{
	return k8c_label_selector_matches(k8c_at(set, "spec.selector"),
					  k8c_at(pod, "metadata.labels"));
}

/* The ordinal of "<set>-<n>", or -1. */
static long ordinal_of(const json_t *set, const json_t *pod)
{
	const char *sn = k8c_str_at(set, "metadata.name") ?: "";
	const char *pn = k8c_str_at(pod, "metadata.name") ?: "";
	size_t l = strlen(sn);
	char *end;
	long o;

	if (strncmp(pn, sn, l) != 0 || pn[l] != '-' || !pn[l + 1])
		return -1;
	o = strtol(pn + l + 1, &end, 10);
	return *end || o < 0 ? -1 : o;
}

static bool running_ready(const json_t *pod)
{
	const char *ph = k8c_str_at(pod, "status.phase");

	return ph && strcmp(ph, "Running") == 0 && k8c_pod_ready(pod);
}

static const char *pod_rev(const json_t *pod)
{
	return json_string_value(
		json_object_get(k8c_at(pod, "metadata.labels"), WL_CONTROLLER_REV_HASH));
}

static int create_claims(struct sts_ctrl *sc, const json_t *set, long ord, struct k8c_error *err)
{
	const char *ns = k8c_str_at(set, "metadata.namespace");
	size_t i;
	json_t *t;

	json_array_foreach(k8c_at(set, "spec.volumeClaimTemplates"), i, t)
	{
		_cleanup_free_ char *name =
			k8c_xasprintf("%s-%s-%ld", k8c_str_at(t, "metadata.name") ?: "",
				      k8c_str_at(set, "metadata.name") ?: "", ord);
		_cleanup_json_ json_t *pvc = NULL;
		json_t *labels;

		if (k8c_informer_get(sc->pvcs, ns, name))
			continue;
		labels = json_deep_copy(k8c_at(t, "metadata.labels"));
		if (!json_is_object(labels)) {
			json_decref(labels);
			labels = json_object();
		}
		json_object_update(labels, k8c_at(set, "spec.selector.matchLabels"));
		pvc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:O}", "apiVersion", "v1", "kind",
				"PersistentVolumeClaim", "metadata", "name", name, "namespace", ns,
				"labels", labels, "spec", k8c_at(t, "spec") ?: json_object());
		if (json_object_get(k8c_at(t, "metadata"), "annotations"))
			json_object_set(json_object_get(pvc, "metadata"), "annotations",
					k8c_at(t, "metadata.annotations"));
		if (k8c_kube_create(k8c_ctrl_kube(sc->c), GVR_PVC, ns, pvc, NULL, err) < 0) {
			if (err->code == 409) {
				k8c_error_clear(err);
				continue;
			}
			k8c_ctrl_event(sc->c, set, "Warning", "FailedCreate",
				       "create Claim %s for Pod %s-%ld in StatefulSet %s failed "
				       "error: %s",
				       name, k8c_str_at(set, "metadata.name"), ord,
				       k8c_str_at(set, "metadata.name"), wl_api_message(err));
			return -1;
		}
		k8c_ctrl_event(sc->c, set, "Normal", "SuccessfulCreate",
			       "create Claim %s Pod %s-%ld in StatefulSet %s success", name,
			       k8c_str_at(set, "metadata.name"), ord,
			       k8c_str_at(set, "metadata.name"));
	}
	return 0;
}

static int create_pod(struct sts_ctrl *sc, const json_t *set, long ord, const char *rev,
		      const json_t *tmpl, struct k8c_error *err)
{
	const char *sn = k8c_str_at(set, "metadata.name") ?: "";
	_cleanup_free_ char *name = k8c_xasprintf("%s-%ld", sn, ord);
	_cleanup_json_ json_t *ref = wl_controller_ref(set, "apps/v1", "StatefulSet");
	_cleanup_json_ json_t *pod =
		wl_pod_from_template(tmpl, k8c_str_at(set, "metadata.namespace"), sn, ref);
	json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
	json_t *labels = json_object_get(meta, "labels"), *vols, *t;
	const char *svc = k8c_str_at(set, "spec.serviceName");
	size_t i;
	char ix[32];

	if (create_claims(sc, set, ord, err) < 0)
		return -1;
	json_object_del(meta, "generateName");
	json_object_set_new(meta, "name", json_string(name));
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	snprintf(ix, sizeof(ix), "%ld", ord);
	json_object_set_new(labels, WL_CONTROLLER_REV_HASH, json_string(rev));
	json_object_set_new(labels, "statefulset.kubernetes.io/pod-name", json_string(name));
	json_object_set_new(labels, "apps.kubernetes.io/pod-index", json_string(ix));
	json_object_set_new(spec, "hostname", json_string(name));
	if (svc && *svc)
		json_object_set_new(spec, "subdomain", json_string(svc));
	vols = json_object_get(spec, "volumes");
	if (!json_is_array(vols)) {
		vols = json_array();
		json_object_set_new(spec, "volumes", vols);
	}
	json_array_foreach(k8c_at(set, "spec.volumeClaimTemplates"), i, t)
	{
		const char *vn = k8c_str_at(t, "metadata.name") ?: "";
		_cleanup_free_ char *claim = k8c_xasprintf("%s-%s-%ld", vn, sn, ord);
		json_t *v;

		for (size_t j = 0; j < json_array_size(vols);)
			if (strcmp(k8c_str_at(json_array_get(vols, j), "name") ?: "", vn) == 0)
				json_array_remove(vols, j);
			else
				j++;
		v = json_pack("{s:s, s:{s:s}}", "name", vn, "persistentVolumeClaim", "claimName",
			      claim);
		json_array_append_new(vols, v);
	}
	if (json_array_size(vols) == 0)
		json_object_del(spec, "volumes");
	if (k8c_kube_create(k8c_ctrl_kube(sc->c), K8C_GVR_PODS,
			    k8c_str_at(set, "metadata.namespace"), pod, NULL, err) < 0) {
		if (err->code == 409) {
			k8c_error_clear(err);
			return 0;
		}
		k8c_ctrl_event(sc->c, set, "Warning", "FailedCreate",
			       "create Pod %s in StatefulSet %s failed error: %s", name, sn,
			       wl_api_message(err));
		return -1;
	}
	k8c_ctrl_event(sc->c, set, "Normal", "SuccessfulCreate",
		       "create Pod %s in StatefulSet %s successful", name, sn);
	return 0;
}

static int delete_pod(struct sts_ctrl *sc, const json_t *set, const json_t *pod,
		      struct k8c_error *err)
{
	const char *name = k8c_str_at(pod, "metadata.name");

	if (k8c_kube_delete(k8c_ctrl_kube(sc->c), K8C_GVR_PODS,
			    k8c_str_at(pod, "metadata.namespace"), name, NULL, NULL, err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		k8c_ctrl_event(sc->c, set, "Warning", "FailedDelete",
			       "delete Pod %s in StatefulSet %s failed error: %s", name,
			       k8c_str_at(set, "metadata.name"), wl_api_message(err));
		return -1;
	}
	k8c_ctrl_event(sc->c, set, "Normal", "SuccessfulDelete",
		       "delete Pod %s in StatefulSet %s successful", name,
		       k8c_str_at(set, "metadata.name"));
	return 0;
}

static int sts_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct sts_ctrl *sc = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL, *name = NULL, *ok = NULL;
	_cleanup_free_ json_t **owned = NULL, **orphans = NULL, **cands = NULL, **pods = NULL,
			      **revs = NULL, **slot = NULL, **condemned = NULL;
	_cleanup_json_ json_t *keep = json_array(), *upd = NULL, *st = NULL,
			      *in_use = json_object();
	size_t no, nor, nc = 0, n, nrevs, ncond = 0;
	const json_t *set;
	long want, ready = 0, avail = 0, created = 0, cur_n = 0, upd_n = 0, partition = 0;
	const char *cur_rev, *upd_rev, *t;
	bool ordered, rolling, acted = false;
	char hash[11];
	long min_ready;
	time_t now = time(NULL);

	wl_split_key(key, &ns, &name);
	set = k8c_informer_get(sc->sets, ns, name);
	if (!set || k8c_at(set, "metadata.deletionTimestamp"))
		return 0;
	want = (long)k8c_int_at(set, "spec.replicas", 1);
	min_ready = (long)k8c_int_at(set, "spec.minReadySeconds", 0);
	t = k8c_str_at(set, "spec.podManagementPolicy");
	ordered = !t || strcmp(t, "Parallel") != 0;
	t = k8c_str_at(set, "spec.updateStrategy.type");
	rolling = !t || strcmp(t, "RollingUpdate") == 0;
	partition = (long)k8c_int_at(set, "spec.updateStrategy.rollingUpdate.partition", 0);
	revs = wl_bucket(k8c_informer_index(sc->revs, k8c_str_at(set, "metadata.uid") ?: ""),
			 &nrevs);
	upd = wl_current_revision(c, set, "StatefulSet", revs, nrevs, hash, err);
	if (!upd)
		return -1;
	upd_rev = k8c_str_at(upd, "metadata.name");
	cur_rev = k8c_str_at(set, "status.currentRevision");
	if (!cur_rev || !*cur_rev)
		cur_rev = upd_rev;
	ok = wl_orphan_index_key(ns);
	owned = wl_bucket(k8c_informer_index(sc->pods, k8c_str_at(set, "metadata.uid") ?: ""), &no);
	orphans = wl_bucket(k8c_informer_index(sc->pods, ok), &nor);
	cands = k8c_xcalloc(no + nor + 1, sizeof(*cands));
	for (size_t i = 0; i < no; i++)
		cands[nc++] = owned[i];
	for (size_t i = 0; i < nor; i++)
		if (k8c_pod_active(orphans[i]) && ordinal_of(set, orphans[i]) >= 0)
			cands[nc++] = orphans[i];
	pods = wl_claim(c, set, GVR_STS, "apps/v1", "StatefulSet", K8C_GVR_PODS, cands, nc,
			pod_selected, set, keep, &n, err);
	if (!pods)
		return -1;
	slot = k8c_xcalloc((size_t)want + 1, sizeof(*slot));
	condemned = k8c_xcalloc(n + 1, sizeof(*condemned));
	for (size_t i = 0; i < n; i++) {
		long o = ordinal_of(set, pods[i]);
		const char *r = pod_rev(pods[i]);

		if (o < 0)
			continue;
		if (r)
			json_object_set_new(in_use, r, json_true());
		created++;
		if (running_ready(pods[i])) {
			ready++;
			if (wl_pod_available(pods[i], min_ready, now))
				avail++;
		}
		if (r && strcmp(r, cur_rev) == 0)
			cur_n++;
		if (r && strcmp(r, upd_rev) == 0)
			upd_n++;
		if (o < want)
			slot[o] = pods[i];
		else
			condemned[ncond++] = pods[i];
	}
	/* create or replace in ordinal order */
	for (long o = 0; o < want && !acted; o++) {
		json_t *p = slot[o];
		const char *ph = p ? k8c_str_at(p, "status.phase") : NULL;

		if (p && ph && strcmp(ph, "Failed") == 0 &&
		    !k8c_at(p, "metadata.deletionTimestamp")) {
			if (delete_pod(sc, set, p, err) < 0)
				return -1;
			acted = ordered;
			continue;
		}
		if (!p) {
			/* below the partition a new pod is of the current revision (as kube) */
			const json_t *tmpl = k8c_at(set, "spec.template");
			const char *rev = upd_rev;
			_cleanup_json_ json_t *old_tmpl = NULL;

			if (rolling && o < partition && strcmp(cur_rev, upd_rev) != 0) {
				for (size_t i = 0; i < nrevs; i++) {
					if (strcmp(k8c_str_at(revs[i], "metadata.name") ?: "",
						   cur_rev) != 0)
						continue;
					old_tmpl = json_deep_copy(
						k8c_at(revs[i], "data.spec.template"));
					json_object_del(old_tmpl, "$patch");
					tmpl = old_tmpl;
					rev = cur_rev;
				}
			}
			if (create_pod(sc, set, o, rev, tmpl, err) < 0)
				return -1;
			acted = ordered;
			continue;
		}
		if (ordered && (k8c_at(p, "metadata.deletionTimestamp") || !running_ready(p)))
			acted = true; /* wait for it */
	}
	/* scale down: the highest ordinal first */
	if (!acted && ncond) {
		for (size_t i = 1; i < ncond; i++)
			for (size_t j = i; j > 0 && ordinal_of(set, condemned[j]) >
							    ordinal_of(set, condemned[j - 1]);
			     j--) {
				json_t *x = condemned[j];

				condemned[j] = condemned[j - 1];
				condemned[j - 1] = x;
			}
		for (size_t i = 0; i < ncond && !acted; i++) {
			if (k8c_at(condemned[i], "metadata.deletionTimestamp")) {
				acted = ordered;
				continue;
			}
			if (delete_pod(sc, set, condemned[i], err) < 0)
				return -1;
			acted = ordered;
		}
	}
	/* rolling update: from the highest ordinal down to the partition, one at a time */
	if (!acted && rolling && ready == want && ncond == 0) {
		for (long o = want - 1; o >= partition && o >= 0; o--) {
			json_t *p = slot[o];
			const char *r = p ? pod_rev(p) : NULL;

			if (!p)
				break;
			if (k8c_at(p, "metadata.deletionTimestamp"))
				break;
			if (!r || strcmp(r, upd_rev) != 0) {
				if (delete_pod(sc, set, p, err) < 0)
					return -1;
				break;
			}
		}
	}
	/* status */
	st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "observedGeneration",
		       (json_int_t)k8c_int_at(set, "metadata.generation", 0), "replicas",
		       (json_int_t)created, "readyReplicas", (json_int_t)ready, "currentReplicas",
		       (json_int_t)cur_n, "updatedReplicas", (json_int_t)upd_n, "currentRevision",
		       cur_rev, "updateRevision", upd_rev);
	json_object_set_new(st, "availableReplicas", json_integer(avail));
	json_object_set_new(st, "collisionCount",
			    json_integer(k8c_int_at(set, "status.collisionCount", 0)));
	/* completeRollingUpdate: every replica updated and ready */
	if (rolling && upd_n == want && ready == want && created == want) {
		json_object_set_new(st, "currentRevision", json_string(upd_rev));
		json_object_set_new(st, "currentReplicas", json_integer(upd_n));
	}
	static const char *const omit[] = {"readyReplicas", "currentReplicas", "updatedReplicas",
					   NULL};
	for (const char *const *k = omit; *k; k++)
		if (json_integer_value(json_object_get(st, *k)) == 0)
			json_object_del(st, *k);
	if (min_ready > 0 && ready != avail)
		k8c_ctrl_enqueue_after(c, key, min_ready * 1000);
	if (wl_cleanup_history(c, set, revs, nrevs, upd, in_use, WL_CONTROLLER_REV_HASH, err) < 0)
		return -1;
	if (json_equal(st, json_object_get(set, "status")))
		return 0;
	return wl_update_status(c, GVR_STS, set, st, err);
}

const struct k8c_controller_def ctrl_statefulset_def = {
	.name = "statefulset", .init = sts_init, .sync = sts_sync, .fini = sts_fini};

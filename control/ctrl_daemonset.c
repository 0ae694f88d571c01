/*
 * The DaemonSet controller (Kubernetes' pkg/controller/daemon): one pod per eligible node
 * (nodeSelector, required node affinity, taints against the pod's tolerations plus the daemon
 * ones), each pinned to its node by a required node affinity on metadata.name and bound by the
 * scheduler; failed pods replaced; pods on nodes that no longer want them deleted. Template
 * history in ControllerRevisions (label controller-revision-hash on pods), RollingUpdate by
 * maxUnavailable and OnDelete, status counts through /status.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "controller.h"
#include "ctrl_controllers.h"
#include "ctrl_workloads.h"
#include "log.h"
#include "objutil.h"

#define GVR_DS		  K8C_GVR("apps", "v1", "daemonsets")
#define DS_BURST_REPLICAS 250

struct ds_ctrl {
	struct k8c_ctrl *c;
	struct k8c_informer *dss, *pods, *nodes, *revs;
	struct wl_expectations *exp;
	struct wl_par *par; /* the slow-start batches' parallel creates */
};

static char *ds_owner_key(const json_t *pod)
{
	json_t *ref = k8c_controller_ref(pod);
	const char *kind = json_string_value(json_object_get(ref, "kind"));
	const char *name = json_string_value(json_object_get(ref, "name"));

	if (!kind || !name || strcmp(kind, "DaemonSet") != 0)
		return NULL;
	return k8c_xasprintf("%s/%s", k8c_str_at(pod, "metadata.namespace") ?: "", name);
}

static void enqueue_all(struct ds_ctrl *dc, const char *ns, const json_t *pod)
{
	const char *k;
	json_t *ds;

	json_object_foreach(k8c_informer_cache(dc->dss), k, ds)
	{
		if (ns && strcmp(k8c_str_at(ds, "metadata.namespace") ?: "", ns) != 0)
			continue;
		if (pod && !k8c_label_selector_matches(k8c_at(ds, "spec.selector"),
						       k8c_at(pod, "metadata.labels")))
			continue;
		k8c_ctrl_enqueue(dc->c, k);
	}
}

static void on_ds(const struct k8c_delta *d, void *arg)
{
	struct ds_ctrl *dc = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_DELETE)
		wl_expectations_delete(dc->exp, d->key);
	else if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(dc->c, d->key);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct ds_ctrl *dc = k8c_ctrl_data(arg);
	_cleanup_free_ char *nk = NULL, *ok = NULL;

	switch (d->type) {
	case K8C_DELTA_ADD:
		if (!(nk = ds_owner_key(d->new))) {
			if (!k8c_controller_ref(d->new))
				enqueue_all(dc, k8c_str_at(d->new, "metadata.namespace"), d->new);
			return;
		}
		if (k8c_at(d->new, "metadata.deletionTimestamp"))
			wl_deletion_observed(dc->exp, nk, d->key);
		else
			wl_creation_observed(dc->exp, nk);
		k8c_ctrl_enqueue(dc->c, nk);
		return;
	case K8C_DELTA_UPDATE:
		nk = ds_owner_key(d->new);
		ok = ds_owner_key(d->old);
		if (nk && k8c_at(d->new, "metadata.deletionTimestamp") &&
		    !k8c_at(d->old, "metadata.deletionTimestamp"))
			wl_deletion_observed(dc->exp, nk, d->key);
		if (ok && (!nk || strcmp(ok, nk) != 0))
			k8c_ctrl_enqueue(dc->c, ok);
		if (nk)
			k8c_ctrl_enqueue(dc->c, nk);
		else if (!k8c_controller_ref(d->new))
			enqueue_all(dc, k8c_str_at(d->new, "metadata.namespace"), d->new);
		return;
	case K8C_DELTA_DELETE:
		if ((nk = ds_owner_key(d->new))) {
			wl_deletion_observed(dc->exp, nk, d->key);
			k8c_ctrl_enqueue(dc->c, nk);
		}
		return;
	default:
		return;
	}
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	struct ds_ctrl *dc = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_UPDATE &&
	    json_equal(k8c_at(d->old, "metadata.labels"), k8c_at(d->new, "metadata.labels")) &&
	    json_equal(k8c_at(d->old, "spec"), k8c_at(d->new, "spec")))
		return;
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE || d->type == K8C_DELTA_DELETE)
		enqueue_all(dc, NULL, NULL);
}

static int ds_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct ds_ctrl *dc = k8c_xcalloc(1, sizeof(*dc));
	struct k8c_informer_opts o1 = {.gvr = GVR_DS, .transform = wl_transform_ds};
	struct k8c_informer_opts o2 = {.gvr = K8C_GVR_PODS,
				       .index = wl_index_by_controller,
				       .transform = wl_transform_pod};
	struct k8c_informer_opts o3 = {.gvr = K8C_GVR_NODES, .transform = wl_transform_plain};
	struct k8c_informer_opts o4 = {.gvr = WL_GVR_CREV,
				       .index = wl_index_by_controller,
				       .transform = wl_transform_plain};

	dc->c = c;
	dc->exp = wl_expectations_new();
	dc->par = wl_par_new(c);
	k8c_ctrl_set_data(c, dc);
	if (!(dc->dss = k8c_ctrl_informer(c, &o1, on_ds, err)) ||
	    !(dc->pods = k8c_ctrl_informer(c, &o2, on_pod, err)) ||
	    !(dc->nodes = k8c_ctrl_informer(c, &o3, on_node, err)) ||
	    !(dc->revs = k8c_ctrl_informer(c, &o4, NULL, err)))
		return -1;
	return 0;
}

static void ds_fini(struct k8c_ctrl *c)
{
	struct ds_ctrl *dc = k8c_ctrl_data(c);

	if (!dc)
		return;
	wl_par_free(dc->par);
	wl_expectations_free(dc->exp);
	free(dc);
}

static bool pod_selected(const json_t *pod, const void *ds)
{
	return k8c_label_selector_matches(k8c_at(ds, "spec.selector"),
					  k8c_at(pod, "metadata.labels"));
}

static const char *pod_hash(const json_t *pod)
{
	return json_string_value(
		json_object_get(k8c_at(pod, "metadata.labels"), WL_CONTROLLER_REV_HASH));
}

static int cmp_created(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	time_t ta = k8c_rfc3339_parse(k8c_str_at(a, "metadata.creationTimestamp"));
	time_t tb = k8c_rfc3339_parse(k8c_str_at(b, "metadata.creationTimestamp"));

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(k8c_str_at(a, "metadata.name") ?: "", k8c_str_at(b, "metadata.name") ?: "");
}

struct ds_sync {
	struct ds_ctrl *dc;
	struct k8c_ctrl *c;
	const json_t *ds;
	const char *key;
	char hash[11];
	json_t *by_node;	/* node name -> array of the DS's pods there (borrowed) */
	json_t *create;		/* node names that need a pod */
	json_t *del;		/* pods to delete */
	struct k8c_error first; /* creates of a batch run in parallel: under first_mu */
	pthread_mutex_t first_mu;
	time_t now;
	long surge; /* RollingUpdate maxSurge against desiredNumberScheduled */
};

static int create_on(void *arg, int i)
{
	struct ds_sync *s = arg;
	const char *node = json_string_value(json_array_get(s->create, (size_t)i));
	_cleanup_json_ json_t *ref = wl_controller_ref(s->ds, "apps/v1", "DaemonSet");
	_cleanup_json_ json_t *tmpl = json_deep_copy(k8c_at(s->ds, "spec.template"));
	_cleanup_json_ json_t *pod = NULL, *out = NULL;
	json_t *meta, *labels, *spec;
	struct k8c_error e = K8C_ERROR_INIT;
	char gen[32];

	meta = json_object_get(tmpl, "metadata");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(tmpl, "metadata", meta);
	}
	labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(meta, "labels", labels);
	}
	json_object_set_new(labels, WL_CONTROLLER_REV_HASH, json_string(s->hash));
	snprintf(gen, sizeof(gen), "%lld", k8c_int_at(s->ds, "metadata.generation", 1));
	json_object_set_new(labels, "pod-template-generation", json_string(gen));
	spec = json_object_get(tmpl, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(tmpl, "spec", spec);
	}
	wl_add_daemon_tolerations(spec);
	wl_set_node_name_affinity(spec, node);
	pod = wl_pod_from_template(tmpl, k8c_str_at(s->ds, "metadata.namespace"),
				   k8c_str_at(s->ds, "metadata.name"), ref);
	if (k8c_kube_create(wl_par_kube(s->c), K8C_GVR_PODS,
			    k8c_str_at(s->ds, "metadata.namespace"), pod, &out, &e) < 0) {
		k8c_ctrl_event(s->c, s->ds, "Warning", "FailedCreate", "Error creating: %s",
			       wl_api_message(&e));
		pthread_mutex_lock(&s->first_mu);
		if (!s->first.msg)
			k8c_error_set(&s->first, e.code, "%s", wl_api_message(&e));
		pthread_mutex_unlock(&s->first_mu);
		k8c_error_clear(&e);
		return -1;
	}
	k8c_ctrl_event(s->c, s->ds, "Normal", "SuccessfulCreate", "Created pod: %s",
		       k8c_str_at(out, "metadata.name") ?: "");
	return 0;
}

/* syncNodes: delete s->del, create on s->create (slow start), with expectations. */
static int sync_nodes(struct ds_sync *s, struct k8c_error *err)
{
	size_t ncreate = json_array_size(s->create), ndel = json_array_size(s->del);
	int ok, tried;
	int failed = 0;

	if (ncreate > DS_BURST_REPLICAS)
		ncreate = DS_BURST_REPLICAS;
	if (ndel > DS_BURST_REPLICAS)
		ndel = DS_BURST_REPLICAS;
	for (size_t i = 0; i < ndel; i++) {
		_cleanup_free_ char *pk = k8c_object_key(json_array_get(s->del, i));

		wl_expect_deletion(s->dc->exp, s->key, pk, s->now);
	}
	if (ncreate)
		wl_expect_creations(s->dc->exp, s->key, (long)ncreate, s->now);
	for (size_t i = 0; i < ndel; i++) {
		json_t *pod = json_array_get(s->del, i);
		const char *name = k8c_str_at(pod, "metadata.name");
		_cleanup_free_ char *pk = k8c_object_key(pod);
		struct k8c_error e = K8C_ERROR_INIT;

		if (k8c_kube_delete(k8c_ctrl_kube(s->c), K8C_GVR_PODS,
				    k8c_str_at(pod, "metadata.namespace"), name, NULL, NULL,
				    &e) < 0) {
			wl_deletion_observed(s->dc->exp, s->key, pk);
			if (e.code != 404) {
				k8c_ctrl_event(s->c, s->ds, "Warning", "FailedDelete",
					       "Error deleting: %s", wl_api_message(&e));
				if (!s->first.msg)
					k8c_error_set(&s->first, e.code, "%s", wl_api_message(&e));
				failed++;
			}
			k8c_error_clear(&e);
			continue;
		}
		k8c_ctrl_event(s->c, s->ds, "Normal", "SuccessfulDelete", "Deleted pod: %s", name);
	}
	ok = ncreate ? wl_par_slow_start(s->dc->par, (int)ncreate, 1, create_on, s, &tried) : 0;
	for (size_t i = (size_t)ok; i < ncreate; i++)
		wl_creation_observed(s->dc->exp, s->key);
	if (failed || (size_t)ok < ncreate)
		return k8c_error_set(err, s->first.code, "DaemonSet %s: %s", s->key,
				     s->first.msg ? s->first.msg : "create or delete failed");
	return 0;
}

/* manage: which nodes need a pod, which pods must go. */
static void plan(struct ds_sync *s)
{
	json_t *nodes = k8c_informer_cache(s->dc->nodes);
	json_t *spec = k8c_at(s->ds, "spec.template.spec");
	const char *k, *nn;
	json_t *node, *pods;

	json_object_foreach(nodes, k, node)
	{
		const char *name = k8c_str_at(node, "metadata.name");
		bool run, cont;
		size_t i;
		json_t *p, *live = json_array();

		wl_node_should_run(spec, node, &run, &cont);
		pods = json_object_get(s->by_node, name);
		if (run && !json_array_size(pods)) {
			json_array_append_new(s->create, json_string(name));
		} else if (cont && json_array_size(pods)) {
			json_array_foreach(pods, i, p)
			{
				const char *ph = k8c_str_at(p, "status.phase");

				if (k8c_at(p, "metadata.deletionTimestamp"))
					continue;
				if (ph && strcmp(ph, "Failed") == 0) {
					k8c_ctrl_event(s->c, s->ds, "Warning", "FailedDaemonPod",
						       "Found failed daemon pod %s/%s on node %s, "
						       "will try to kill it",
						       k8c_str_at(p, "metadata.namespace"),
						       k8c_str_at(p, "metadata.name"), name);
					json_array_append(s->del, p);
					continue;
				}
				json_array_append(live, p);
			}
			/* more than one: keep the oldest (when surging, the oldest new and the
			 * oldest old one) */
			if (json_array_size(live) > 1) {
				_cleanup_free_ json_t **v =
					k8c_xcalloc(json_array_size(live), sizeof(*v));
				bool have_new = false, have_old = false;

				json_array_foreach(live, i, p) v[i] = p;
				qsort(v, json_array_size(live), sizeof(*v), cmp_created);
				for (i = 0; i < json_array_size(live); i++) {
					const char *h = pod_hash(v[i]);
					bool cur = h && strcmp(h, s->hash) == 0;

					if (s->surge > 0 && cur && !have_new) {
						have_new = true;
						continue;
					}
					if (s->surge > 0 && !cur && !have_old) {
						have_old = true;
						continue;
					}
					if (s->surge == 0 && i == 0)
						continue;
					json_array_append(s->del, v[i]);
				}
			}
		} else if (!cont) {
			json_array_foreach(pods, i, p) if (!k8c_at(p, "metadata.deletionTimestamp"))
				json_array_append(s->del, p);
		}
		json_decref(live);
	}
	/* pods for nodes that are gone */
	json_object_foreach(s->by_node, nn, pods)
	{
		size_t i;
		json_t *p;

		if (json_object_get(nodes, nn))
			continue;
		json_array_foreach(pods, i, p) if (!k8c_at(p, "metadata.deletionTimestamp"))
			json_array_append(s->del, p);
	}
}

/* The new and old pod of a node (the last of each); false when it has several of one kind. */
static bool pods_on_node(struct ds_sync *s, json_t *pods, json_t **newp, json_t **oldp)
{
	size_t i;
	json_t *p;

	*newp = *oldp = NULL;
	json_array_foreach(pods, i, p)
	{
		const char *h = pod_hash(p);
		json_t **slot = h && strcmp(h, s->hash) == 0 ? newp : oldp;

		if (k8c_at(p, "metadata.deletionTimestamp"))
			continue;
		if (*slot)
			return false;
		*slot = p;
	}
	return true;
}

/*
 * rollingUpdate with maxSurge: a new pod is created next to an available old one (at most
 * maxSurge nodes at a time, at once where the old one is not available), and the old one is
 * deleted once the new one is available.
 */
static void plan_surge(struct ds_sync *s)
{
	long min_ready = (long)k8c_int_at(s->ds, "spec.minReadySeconds", 0), surging = 0;
	_cleanup_json_ json_t *allowed = json_array(), *cands = json_array();
	json_t *nodes = k8c_informer_cache(s->dc->nodes);
	const char *nn;
	json_t *pods;

	json_object_foreach(s->by_node, nn, pods)
	{
		json_t *newp, *oldp, *node = json_object_get(nodes, nn);
		bool run = false, cont = false;

		if (node)
			wl_node_should_run(k8c_at(s->ds, "spec.template.spec"), node, &run, &cont);
		if (!run)
			continue;
		if (!pods_on_node(s, pods, &newp, &oldp)) {
			surging++;
			continue;
		}
		if (!oldp)
			continue;
		if (!newp) {
			if (!wl_pod_available(oldp, min_ready, s->now))
				json_array_append_new(allowed, json_string(nn));
			else if (surging < s->surge)
				json_array_append_new(cands, json_string(nn));
			continue;
		}
		if (!wl_pod_available(newp, min_ready, s->now)) {
			surging++;
			continue;
		}
		json_array_append(s->del, oldp);
	}
	{
		long remaining = s->surge - surging;

		if (remaining < 0)
			remaining = 0;
		json_array_extend(s->create, allowed);
		for (long i = 0; i < remaining && i < (long)json_array_size(cands); i++)
			json_array_append(s->create, json_array_get(cands, (size_t)i));
	}
}

/* rollingUpdate with maxSurge 0: old pods deleted within maxUnavailable. */
static void plan_rolling(struct ds_sync *s, long desired)
{
	json_t *mu = k8c_at(s->ds, "spec.updateStrategy.rollingUpdate.maxUnavailable");
	long max_unavail = wl_scaled_value(mu, desired, true, 1), unavail = 0, remaining;
	long min_ready = (long)k8c_int_at(s->ds, "spec.minReadySeconds", 0);
	_cleanup_json_ json_t *replace = json_array(), *cands = json_array();
	json_t *nodes = k8c_informer_cache(s->dc->nodes);
	const char *nn;
	json_t *pods;

	if (s->surge > 0) {
		plan_surge(s);
		return;
	}
	if (max_unavail <= 0)
		max_unavail = 1;
	json_object_foreach(s->by_node, nn, pods)
	{
		json_t *newp = NULL, *oldp = NULL, *p, *node = json_object_get(nodes, nn);
		size_t i;
		bool run = false, cont = false;

		if (node)
			wl_node_should_run(k8c_at(s->ds, "spec.template.spec"), node, &run, &cont);
		if (!run)
			continue;
		json_array_foreach(pods, i, p)
		{
			const char *h = pod_hash(p);

			if (k8c_at(p, "metadata.deletionTimestamp"))
				continue;
			if (h && strcmp(h, s->hash) == 0)
				newp = p;
			else
				oldp = p;
		}
		if ((!newp && !oldp) || (newp && oldp)) {
			unavail++;
		} else if (newp) {
			if (!wl_pod_available(newp, min_ready, s->now))
				unavail++;
		} else if (!wl_pod_available(oldp, min_ready, s->now)) {
			json_array_append(replace, oldp);
		} else if (unavail < max_unavail) {
			json_array_append(cands, oldp);
		}
	}
	remaining = max_unavail - unavail;
	if (remaining < 0)
		remaining = 0;
	if (remaining > (long)json_array_size(cands))
		remaining = (long)json_array_size(cands);
	json_array_extend(s->del, replace);
	for (long i = 0; i < remaining; i++)
		json_array_append(s->del, json_array_get(cands, (size_t)i));
}

static int update_status(struct ds_sync *s, long *desired_out, struct k8c_error *err)
{
	json_t *nodes = k8c_informer_cache(s->dc->nodes);
	long desired = 0, current = 0, mis = 0, ready = 0, avail = 0, updated = 0;
	long min_ready = (long)k8c_int_at(s->ds, "spec.minReadySeconds", 0);
	const char *k;
	json_t *node, *st, *old = json_object_get(s->ds, "status");

	json_object_foreach(nodes, k, node)
	{
		const char *name = k8c_str_at(node, "metadata.name");
		json_t *pods = json_object_get(s->by_node, name);
		bool run, cont, scheduled = json_array_size(pods) > 0;

		wl_node_should_run(k8c_at(s->ds, "spec.template.spec"), node, &run, &cont);
		if (run) {
			desired++;
			if (scheduled) {
				_cleanup_free_ json_t **v =
					k8c_xcalloc(json_array_size(pods), sizeof(*v));
				size_t i;
				json_t *p;
				const char *h;

				current++;
				json_array_foreach(pods, i, p) v[i] = p;
				qsort(v, json_array_size(pods), sizeof(*v), cmp_created);
				if (k8c_pod_ready(v[0])) {
					ready++;
					if (wl_pod_available(v[0], min_ready, s->now))
						avail++;
				}
				h = pod_hash(v[0]);
				if (h && strcmp(h, s->hash) == 0)
					updated++;
			}
		} else if (scheduled) {
			mis++;
		}
	}
	*desired_out = desired;
	st = json_pack("{s:I, s:I, s:I, s:I, s:I}", "currentNumberScheduled", (json_int_t)current,
		       "numberMisscheduled", (json_int_t)mis, "desiredNumberScheduled",
		       (json_int_t)desired, "numberReady", (json_int_t)ready, "observedGeneration",
		       (json_int_t)k8c_int_at(s->ds, "metadata.generation", 0));
	if (updated)
		json_object_set_new(st, "updatedNumberScheduled", json_integer(updated));
	if (avail)
		json_object_set_new(st, "numberAvailable", json_integer(avail));
	if (desired - avail > 0)
		json_object_set_new(st, "numberUnavailable", json_integer(desired - avail));
	if (json_object_get(old, "collisionCount"))
		json_object_set(st, "collisionCount", json_object_get(old, "collisionCount"));
	if (min_ready > 0 && ready != avail)
		k8c_ctrl_enqueue_after(s->c, s->key, min_ready * 1000);
	if (json_equal(st, old)) {
		json_decref(st);
		return 0;
	}
	{
		int r = wl_update_status(s->c, GVR_DS, s->ds, st, err);

		json_decref(st);
		return r;
	}
}

static int ds_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct ds_ctrl *dc = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL, *name = NULL, *ok = NULL;
	_cleanup_free_ json_t **owned = NULL, **orphans = NULL, **cands = NULL, **pods = NULL,
			      **revs = NULL;
	_cleanup_json_ json_t *keep = json_array(), *cur = NULL, *by_node = json_object(),
			      *create = json_array(), *del = json_array(), *in_use = json_object();
	struct ds_sync s = {.dc = dc,
			    .c = c,
			    .key = key,
			    .first_mu = PTHREAD_MUTEX_INITIALIZER,
			    .now = time(NULL)};
	size_t no, nor, nc = 0, n, nrevs;
	const json_t *ds;
	long desired = 0;
	int r = 0;

	wl_split_key(key, &ns, &name);
	ds = k8c_informer_get(dc->dss, ns, name);
	if (!ds) {
		wl_expectations_delete(dc->exp, key);
		return 0;
	}
	if (k8c_at(ds, "metadata.deletionTimestamp"))
		return 0;
	s.ds = ds;
	s.by_node = by_node;
	{
		const char *t = k8c_str_at(ds, "spec.updateStrategy.type");
		const char *nk;
		json_t *node;
		long d = 0;

		json_object_foreach(k8c_informer_cache(dc->nodes), nk, node)
		{
			bool run, cont;

			wl_node_should_run(k8c_at(ds, "spec.template.spec"), node, &run, &cont);
			d += run;
		}
		if (!t || strcmp(t, "RollingUpdate") == 0)
			s.surge = wl_scaled_value(
				k8c_at(ds, "spec.updateStrategy.rollingUpdate.maxSurge"), d, true,
				0);
		if (s.surge < 0)
			s.surge = 0;
		desired = d;
	}
	s.create = create;
	s.del = del;
	revs = wl_bucket(k8c_informer_index(dc->revs, k8c_str_at(ds, "metadata.uid") ?: ""),
			 &nrevs);
	cur = wl_current_revision(c, ds, "DaemonSet", revs, nrevs, s.hash, err);
	if (!cur)
		return -1;
	ok = wl_orphan_index_key(ns);
	owned = wl_bucket(k8c_informer_index(dc->pods, k8c_str_at(ds, "metadata.uid") ?: ""), &no);
	orphans = wl_bucket(k8c_informer_index(dc->pods, ok), &nor);
	cands = k8c_xcalloc(no + nor + 1, sizeof(*cands));
	for (size_t i = 0; i < no; i++)
		cands[nc++] = owned[i];
	for (size_t i = 0; i < nor; i++)
		if (k8c_pod_active(orphans[i]))
			cands[nc++] = orphans[i];
	pods = wl_claim(c, ds, GVR_DS, "apps/v1", "DaemonSet", K8C_GVR_PODS, cands, nc,
			pod_selected, ds, keep, &n, err);
	if (!pods)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *node = wl_daemon_pod_node(pods[i]);
		json_t *a;
		const char *h = pod_hash(pods[i]);

		if (h)
			json_object_set_new(in_use, h, json_true());
		if (!node)
			continue;
		a = json_object_get(by_node, node);
		if (!a) {
			a = json_array();
			json_object_set_new(by_node, node, a);
		}
		json_array_append(a, pods[i]);
	}
	if (wl_expectations_satisfied(dc->exp, key, s.now)) {
		plan(&s);
		r = sync_nodes(&s, err);
		if (r == 0 && wl_expectations_satisfied(dc->exp, key, s.now)) {
			const char *t = k8c_str_at(ds, "spec.updateStrategy.type");

			if (!t || strcmp(t, "RollingUpdate") == 0) {
				struct k8c_error e2 = K8C_ERROR_INIT;

				json_array_clear(del);
				json_array_clear(create);
				plan_rolling(&s, desired);
				r = sync_nodes(&s, &e2);
				if (r < 0) {
					k8c_error_set(err, e2.code, "%s", e2.msg);
					k8c_error_clear(&e2);
				}
			}
		}
		if (r == 0)
			r = wl_cleanup_history(c, ds, revs, nrevs, cur, in_use,
					       WL_CONTROLLER_REV_HASH, err);
	}
	k8c_error_clear(&s.first);
	if (r < 0) {
		struct k8c_error e3 = K8C_ERROR_INIT;

		update_status(&s, &desired, &e3);
		k8c_error_clear(&e3);
		return -1;
	}
	return update_status(&s, &desired, err);
}

const struct k8c_controller_def ctrl_daemonset_def = {
	.name = "daemonset", .init = ds_init, .sync = ds_sync, .fini = ds_fini};

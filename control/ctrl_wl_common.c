/*
 * What the workload controllers share and that talks to the API: claims, status writes, the
 * pool of parallel creates.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "controller.h"
#include "ctrl_workloads.h"
#include "log.h"
#include "objutil.h"

const char *wl_api_message(const struct k8c_error *err)
{
	char pat[16];
	const char *p;

	if (!err->msg)
		return "";
	if (err->code <= 0)
		return err->msg;
	snprintf(pat, sizeof(pat), ": %d ", err->code);
	p = strstr(err->msg, pat);
	if (!p)
		return err->msg;
	p = strstr(p + strlen(pat), ": ");
	return p ? p + 2 : err->msg;
}

void wl_split_key(const char *key, char **ns, char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash) {
		*ns = NULL;
		*name = k8c_xstrdup(key);
		return;
	}
	*ns = strndup(key, (size_t)(slash - key));
	*name = k8c_xstrdup(slash + 1);
}

int wl_update_status(struct k8c_ctrl *c, struct k8c_gvr gvr, const json_t *obj, json_t *status,
		     struct k8c_error *err)
{
	_cleanup_json_ json_t *copy = json_deep_copy(obj), *fresh = NULL;
	const char *ns = k8c_str_at(obj, "metadata.namespace");

	json_object_set(copy, "status", status);
	if (k8c_kube_update_status(k8c_ctrl_kube(c), gvr, ns, copy, NULL, err) == 0)
		return 0;
	if (err->code != 409)
		return -1;
	/* as kube's updateReplicaSetStatus: one more try on a fresh copy (the spec or metadata
	 * moved, e.g. the deployment scaled it), instead of a rate-limited requeue */
	k8c_error_clear(err);
	if (k8c_kube_get(k8c_ctrl_kube(c), gvr, ns, k8c_str_at(obj, "metadata.name"), &fresh, err) <
	    0)
		return -1;
	if (k8c_int_at(fresh, "metadata.generation", 0) !=
	    k8c_int_at(obj, "metadata.generation", 0))
		return k8c_error_set(err, 409, "%s: changed while its status was computed",
				     k8c_str_at(obj, "metadata.name"));
	json_object_set(fresh, "status", status);
	return k8c_kube_update_status(k8c_ctrl_kube(c), gvr, ns, fresh, NULL, err);
}

/* ownerReferences without the one of uid (NULL when none are left). New reference. */
static json_t *refs_without(const json_t *obj, const char *uid)
{
	json_t *out = json_array();
	size_t i;
	json_t *r;

	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i, r)
	{
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (!u || strcmp(u, uid) != 0)
			json_array_append(out, r);
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return json_null();
	}
	return out;
}

static int patch_refs(struct k8c_ctrl *c, struct k8c_gvr gvr, const json_t *obj, json_t *refs,
		      json_t **out, struct k8c_error *err)
{
	_cleanup_json_ json_t *p =
		json_pack("{s:{s:o, s:s, s:s}}", "metadata", "ownerReferences", refs,
			  "resourceVersion", k8c_str_at(obj, "metadata.resourceVersion") ?: "",
			  "uid", k8c_str_at(obj, "metadata.uid") ?: "");

	return k8c_kube_patch(k8c_ctrl_kube(c), gvr, k8c_str_at(obj, "metadata.namespace"),
			      k8c_str_at(obj, "metadata.name"), NULL, K8C_PATCH_MERGE, p, out, err);
}

json_t **wl_claim(struct k8c_ctrl *c, const json_t *owner, struct k8c_gvr owner_gvr,
		  const char *api_version, const char *kind, struct k8c_gvr gvr,
		  json_t *const *cands, size_t ncands,
		  bool (*matches)(const json_t *, const void *), const void *arg, json_t *keep,
		  size_t *n, struct k8c_error *err)
{
	json_t **out = k8c_xcalloc(ncands + 1, sizeof(*out));
	const char *uid = k8c_str_at(owner, "metadata.uid") ?: "";
	bool deleting = k8c_at(owner, "metadata.deletionTimestamp") != NULL;
	int can_adopt = -1; /* unknown until the first orphan */
	size_t k = 0;

	for (size_t i = 0; i < ncands; i++) {
		json_t *o = cands[i], *ref = k8c_controller_ref(o), *ans = NULL;
		const char *ruid = json_string_value(json_object_get(ref, "uid"));
		bool m = matches(o, arg);

		if (ref) {
			if (!ruid || strcmp(ruid, uid) != 0)
				continue;
			if (m) {
				out[k++] = o;
				continue;
			}
			if (deleting)
				continue;
			/* release: it stopped matching */
			if (patch_refs(c, gvr, o, refs_without(o, uid), NULL, err) < 0 &&
			    err->code != 404 && err->code != 409) {
				free(out);
				return NULL;
			}
			k8c_error_clear(err);
			continue;
		}
		if (!m || deleting || k8c_at(o, "metadata.deletionTimestamp"))
			continue;
		if (can_adopt < 0) {
			_cleanup_json_ json_t *fresh = NULL;

			/* RecheckDeletionTimestamp: adopt only for a live owner of this uid */
			if (k8c_kube_get(k8c_ctrl_kube(c), owner_gvr,
					 k8c_str_at(owner, "metadata.namespace"),
					 k8c_str_at(owner, "metadata.name"), &fresh, err) < 0) {
				free(out);
				return NULL;
			}
			can_adopt = strcmp(k8c_str_at(fresh, "metadata.uid") ?: "", uid) == 0 &&
				    !k8c_at(fresh, "metadata.deletionTimestamp");
		}
		if (!can_adopt)
			continue;
		{
			json_t *refs = json_deep_copy(k8c_at(o, "metadata.ownerReferences"));

			if (!json_is_array(refs)) {
				json_decref(refs);
				refs = json_array();
			}
			json_array_append_new(refs, wl_controller_ref(owner, api_version, kind));
			if (patch_refs(c, gvr, o, refs, &ans, err) < 0) {
				if (err->code == 404 || err->code == 409) {
					k8c_error_clear(err);
					continue;
				}
				free(out);
				return NULL;
			}
		}
		json_array_append_new(keep, ans);
		out[k++] = ans;
	}
	*n = k;
	return out;
}

json_t *wl_revision_data(const json_t *owner)
{
	json_t *t = wl_template_normalized(k8c_at(owner, "spec.template"));

	if (!json_is_object(t)) {
		json_decref(t);
		t = json_object();
	}
	json_object_set_new(t, "$patch", json_string("replace"));
	return json_pack("{s:{s:o}}", "spec", "template", t);
}

json_t *wl_current_revision(struct k8c_ctrl *c, const json_t *owner, const char *kind,
			    json_t *const *revs, size_t nrevs, char hash[11], struct k8c_error *err)
{
	_cleanup_json_ json_t *data = wl_revision_data(owner);
	json_t *cc = k8c_at(owner, "status.collisionCount");
	json_t *cur = NULL, *rev, *labels, *out = NULL;
	long long max = 0;
	const char *ns = k8c_str_at(owner, "metadata.namespace");
	_cleanup_free_ char *name = NULL;

	for (size_t i = 0; i < nrevs; i++) {
		long long r = k8c_int_at(revs[i], "revision", 0);

		if (json_equal(json_object_get(revs[i], "data"), data) &&
		    (!cur || r > k8c_int_at(cur, "revision", 0)))
			cur = revs[i];
	}
	for (size_t i = 0; i < nrevs; i++) {
		long long r = k8c_int_at(revs[i], "revision", 0);

		if (revs[i] != cur && r > max)
			max = r;
	}
	wl_template_hash(data, json_is_integer(cc) ? json_integer_value(cc) : -1, hash);
	if (cur) {
		const char *h = json_string_value(
			json_object_get(k8c_at(cur, "metadata.labels"), WL_CONTROLLER_REV_HASH));
		const char *nm = k8c_str_at(cur, "metadata.name") ?: "";
		size_t on = strlen(k8c_str_at(owner, "metadata.name") ?: "");

		/* the hash of an existing revision is its label (or its name's tail) */
		if (h)
			snprintf(hash, 11, "%s", h);
		else if (strlen(nm) > on + 1)
			snprintf(hash, 11, "%s", nm + on + 1);
		if (k8c_int_at(cur, "revision", 0) > max)
			return json_incref(cur);
		{
			_cleanup_json_ json_t *copy = json_deep_copy(cur);

			json_object_set_new(copy, "revision", json_integer(max + 1));
			if (k8c_kube_update(k8c_ctrl_kube(c), WL_GVR_CREV, ns, copy, &out, err) < 0)
				return NULL;
			return out;
		}
	}
	name = k8c_xasprintf("%s-%s", k8c_str_at(owner, "metadata.name") ?: "", hash);
	labels = json_deep_copy(k8c_at(owner, "spec.template.metadata.labels"));
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	json_object_set_new(labels, WL_CONTROLLER_REV_HASH, json_string(hash));
	rev = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:O, s:I}", "apiVersion", "apps/v1",
			"kind", "ControllerRevision", "metadata", "name", name, "namespace", ns,
			"labels", labels, "ownerReferences",
			wl_controller_ref(owner, "apps/v1", kind), "data", data, "revision",
			(json_int_t)(max + 1));
	if (k8c_kube_create(k8c_ctrl_kube(c), WL_GVR_CREV, ns, rev, &out, err) < 0) {
		json_decref(rev);
		if (err->code == 409) {
			json_t *have = NULL;
			struct k8c_error e2 = K8C_ERROR_INIT;

			if (k8c_kube_get(k8c_ctrl_kube(c), WL_GVR_CREV, ns, name, &have, &e2) ==
				    0 &&
			    json_equal(json_object_get(have, "data"), data) &&
			    k8c_has_owner_uid(have, k8c_str_at(owner, "metadata.uid") ?: "")) {
				k8c_error_clear(err);
				return have;
			}
			json_decref(have);
			k8c_error_clear(&e2);
			k8c_error_wrap(err, "%s %s: revision %s collides", kind,
				       k8c_str_at(owner, "metadata.name"), name);
		}
		return NULL;
	}
	json_decref(rev);
	return out;
}

static int cmp_revision(const void *x, const void *y)
{
	long long a = k8c_int_at(*(json_t *const *)x, "revision", 0);
	long long b = k8c_int_at(*(json_t *const *)y, "revision", 0);

	return a < b ? -1 : a > b;
}

int wl_cleanup_history(struct k8c_ctrl *c, const json_t *owner, json_t *const *revs, size_t nrevs,
		       const json_t *cur, const json_t *in_use, const char *label,
		       struct k8c_error *err)
{
	long limit = (long)k8c_int_at(owner, "spec.revisionHistoryLimit", 10);
	_cleanup_free_ json_t **old = k8c_xcalloc(nrevs + 1, sizeof(*old));
	size_t n = 0;
	long excess;

	for (size_t i = 0; i < nrevs; i++) {
		const char *name = k8c_str_at(revs[i], "metadata.name") ?: "";
		const char *h = json_string_value(
			json_object_get(k8c_at(revs[i], "metadata.labels"), label));

		if (cur && strcmp(name, k8c_str_at(cur, "metadata.name") ?: "") == 0)
			continue;
		/* in use: a live pod carries its hash (DaemonSet) or its name (StatefulSet) */
		if ((h && json_object_get(in_use, h)) || json_object_get(in_use, name))
			continue;
		old[n++] = revs[i];
	}
	excess = (long)n - limit;
	if (excess <= 0)
		return 0;
	qsort(old, n, sizeof(*old), cmp_revision);
	for (long i = 0; i < excess; i++) {
		if (k8c_kube_delete(k8c_ctrl_kube(c), WL_GVR_CREV,
				    k8c_str_at(old[i], "metadata.namespace"),
				    k8c_str_at(old[i], "metadata.name"), NULL, NULL, err) < 0) {
			if (err->code != 404)
				return -1;
			k8c_error_clear(err);
		}
	}
	return 0;
}

/* ---- parallel creates ---- */

struct wl_par {
	struct k8c_ctrl *c;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	pthread_t th[WL_PAR_THREADS];
	struct k8c_kube *kube[WL_PAR_THREADS];
	int n_threads;
	bool started, stop;
	/* the running batch: calls next..end-1 still to make, `running` being made */
	int (*fn)(void *arg, int i);
	void *arg;
	int next, end, running, failed;
};

static __thread struct k8c_kube *par_kube; /* set on the pool's threads */

struct k8c_kube *wl_par_kube(struct k8c_ctrl *c)
{
	return par_kube ? par_kube : k8c_ctrl_kube(c);
}

/* Make the batch's calls while there are some; p->mu held (released around each call). */
static void par_take(struct wl_par *p)
{
	while (p->next < p->end) {
		int i = p->next++, r;

		if (k8c_kube_interrupted(k8c_ctrl_kube(p->c))) { /* the controller stops */
			p->failed += p->end - i;
			p->next = p->end;
			break;
		}
		p->running++;
		pthread_mutex_unlock(&p->mu);
		r = p->fn(p->arg, i);
		pthread_mutex_lock(&p->mu);
		p->running--;
		if (r < 0)
			p->failed++;
	}
	if (!p->running)
		pthread_cond_broadcast(&p->idle);
}

struct par_worker {
	struct wl_par *p;
	struct k8c_kube *kube;
};

static void *par_thread(void *arg)
{
	struct par_worker w = *(struct par_worker *)arg;

	free(arg);
	par_kube = w.kube;
	pthread_mutex_lock(&w.p->mu);
	while (!w.p->stop) {
		if (w.p->next < w.p->end)
			par_take(w.p);
		else
			pthread_cond_wait(&w.p->work, &w.p->mu);
	}
	pthread_mutex_unlock(&w.p->mu);
	return NULL;
}

struct wl_par *wl_par_new(struct k8c_ctrl *c)
{
	struct wl_par *p = k8c_xcalloc(1, sizeof(*p));

	p->c = c;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	return p;
}

/* The threads, on first use; fewer (even none: the batch then runs on the caller) on failure. */
static void par_start(struct wl_par *p)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *ua =
		k8c_xasprintf("k8c-controller-manager/%s-creates", k8c_ctrl_name(p->c));

	p->started = true;
	for (int i = 0; i < WL_PAR_THREADS; i++) {
		struct par_worker *w;

		p->kube[i] = k8c_kube_new(k8c_ctrl_config(p->c), ua, &err);
		if (!p->kube[i])
			break;
		w = k8c_xcalloc(1, sizeof(*w));
		*w = (struct par_worker){p, p->kube[i]};
		if (pthread_create(&p->th[i], NULL, par_thread, w) != 0) {
			free(w);
			k8c_kube_free(p->kube[i]);
			p->kube[i] = NULL;
			break;
		}
		p->n_threads++;
	}
	if (err.msg)
		k8c_log_warn("parallel creates", "controller=%s threads=%d error=\"%s\"",
			     k8c_ctrl_name(p->c), p->n_threads, err.msg);
	k8c_error_clear(&err);
}

void wl_par_free(struct wl_par *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_threads; i++) {
		pthread_join(p->th[i], NULL);
		k8c_kube_free(p->kube[i]);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	free(p);
}

struct par_batch {
	struct wl_par *p;
	int (*fn)(void *arg, int i);
	void *arg;
};

static int par_run(void *arg, int first, int n)
{
	struct par_batch *b = arg;
	struct wl_par *p = b->p;
	int failed;

	if (n > 1 && !p->started)
		par_start(p);
	pthread_mutex_lock(&p->mu);
	p->fn = b->fn;
	p->arg = b->arg;
	p->next = first;
	p->end = first + n;
	p->failed = 0;
	if (n > 1)
		pthread_cond_broadcast(&p->work);
	par_take(p);
	while (p->running)
		pthread_cond_wait(&p->idle, &p->mu);
	failed = p->failed;
	pthread_mutex_unlock(&p->mu);
	return failed;
}

int wl_par_slow_start(struct wl_par *p, int count, int initial, int (*fn)(void *arg, int i),
		      void *arg, int *attempted)
{
	struct par_batch b = {p, fn, arg};

	return wl_slow_start_batches(count, initial, par_run, &b, attempted);
}

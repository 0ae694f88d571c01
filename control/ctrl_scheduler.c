/*
 * scheduler: binds pending pods (spec.nodeName empty, schedulerName default-scheduler) to nodes
 * through pods/binding, as kube-scheduler's default profile does for the plugins k8c implements
 * (sched_fit.c). The node cache counts every pod bound or assumed on a node, so a burst never
 * overbooks one: a pod is assumed on its node before its binding is posted and forgotten again
 * if the binding fails. A pod that fits nowhere gets PodScheduled=False, reason Unschedulable,
 * kube's FitError message and a FailedScheduling Event, and waits until a node or a pod changes
 * (or a minute passes). docs/controllers.md.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "log.h"
#include "objutil.h"
#include "sched_fit.h"

#define K8C_GVR_PVCS	       K8C_GVR("", "v1", "persistentvolumeclaims")
#define K8C_GVR_PVS	       K8C_GVR("", "v1", "persistentvolumes")
#define K8C_GVR_STORAGECLASSES K8C_GVR("storage.k8s.io", "v1", "storageclasses")
#define SCHEDULER_NAME	       "default-scheduler"
#define SELECTED_NODE	       "volume.kubernetes.io/selected-node"
#define RETRY_UNSCHEDULABLE_MS 60000
/*
 * Bindings are posted by a few worker threads with clients of their own: one blocking POST (and
 * its Event) per pod on the controller's thread caps throughput at one round trip per pod; with
 * BIND_WORKERS in flight the controller thread only filters, scores and assumes.
 */
#define BIND_WORKERS  4
#define DRAIN_KEY     "\x01bindings" /* not a pod key: collects the workers' failures */
#define DRAIN_MS      20
#define BIND_RETRY_MS 200

struct bind_job {
	struct bind_job *next;
	char *key, *ns, *name, *node;
	char *uid, *rv; /* the Event's involvedObject */
	int code;	/* result: 0 bound, else the HTTP status (or -1 transport) */
	char *msg;
};

struct bind_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bind_job *todo, **todo_tail, *done;
	bool stop;
	pthread_t th[BIND_WORKERS];
	struct k8c_kube *kube[BIND_WORKERS];
	int n_threads;
	unsigned long in_flight; /* jobs pushed and not yet drained */
	struct k8c_ctrl *c;	 /* for Events */
};

struct sched_ctrl {
	struct k8c_informer *nodes, *pods, *pvcs, *pvs, *classes;
	struct sched_cache cache;
	struct strmap unschedulable; /* pod keys waiting for the cluster to change */
	struct sched_volumes vol;
	unsigned long long bound;
	struct bind_pool pool;
	bool drain_queued;
};

static bool ours(const json_t *pod)
{
	const char *s = k8c_str_at(pod, "spec.schedulerName");

	return !s || !*s || strcmp(s, SCHEDULER_NAME) == 0;
}

static bool pending(const json_t *pod)
{
	const char *n = k8c_str_at(pod, "spec.nodeName");
	json_t *dt = k8c_at(pod, "metadata.deletionTimestamp");

	return (!n || !*n) && (!dt || json_is_null(dt)) && ours(pod);
}

static bool terminal(const json_t *pod)
{
	const char *phase = k8c_str_at(pod, "status.phase");

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* Every pod that waits for a change gets another try. */
static void wake(struct k8c_ctrl *c, struct sched_ctrl *s)
{
	struct strmap_entry *e;
	size_t i;

	if (!s->unschedulable.n)
		return;
	for (e = strmap_first(&s->unschedulable, &i); e; e = strmap_next(&s->unschedulable, e, &i))
		k8c_ctrl_enqueue(c, e->key);
	strmap_free(&s->unschedulable, NULL);
}

/* Node changes that can make a pod fit: anything but status heartbeats. */
static bool node_changed(const json_t *a, const json_t *b)
{
	static const char *const paths[] = {"metadata.labels", "spec.taints", "spec.unschedulable",
					    "status.allocatable", "status.capacity"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		json_t *x = k8c_at(a, paths[i]), *y = k8c_at(b, paths[i]);

		if ((x || y) && (!x || !y || !json_equal(x, y)))
			return true;
	}
	return k8c_condition_true(a, "Ready") != k8c_condition_true(b, "Ready");
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct sched_ctrl *s = k8c_ctrl_data(c);

	switch (d->type) {
	case K8C_DELTA_ADD:
		sched_cache_node_set(&s->cache, d->new);
		wake(c, s);
		break;
	case K8C_DELTA_UPDATE:
		sched_cache_node_set(&s->cache, d->new);
		if (node_changed(d->old, d->new))
			wake(c, s);
		break;
	case K8C_DELTA_DELETE:
		sched_cache_node_del(&s->cache,
				     k8c_str_at(d->old ? d->old : d->new, "metadata.name") ?: "");
		break;
	default:
		break;
	}
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct sched_ctrl *s = k8c_ctrl_data(c);
	const json_t *pod = d->new ? d->new : d->old;
	const char *node = k8c_str_at(pod, "spec.nodeName");

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	if (d->type == K8C_DELTA_DELETE || terminal(pod)) {
		bool had = sched_cache_pod(&s->cache, d->key) != NULL;

		sched_cache_pod_del(&s->cache, d->key);
		strmap_del(&s->unschedulable, d->key);
		if (had)
			wake(c, s); /* its resources and ports are free */
		return;
	}
	if (node && *node) {
		struct sched_pod *p = sched_cache_pod(&s->cache, d->key);

		/* bound: count it (once: this replaces our assumption) */
		if (!p || p->assumed || d->type == K8C_DELTA_ADD || !d->old ||
		    !json_equal(k8c_at(d->old, "spec"), k8c_at(d->new, "spec")))
			sched_cache_pod_set(&s->cache, sched_pod_new(d->new));
		strmap_del(&s->unschedulable, d->key);
		return;
	}
	/* a waiting pod is tried again when its spec changes (tolerations added, gates removed) */
	if (d->type == K8C_DELTA_UPDATE && d->old &&
	    !json_equal(k8c_at(d->old, "spec"), k8c_at(d->new, "spec")))
		strmap_del(&s->unschedulable, d->key);
	if (pending(pod) && !strmap_get(&s->unschedulable, d->key))
		k8c_ctrl_enqueue(c, d->key);
}

static void on_volume(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		wake(c, k8c_ctrl_data(c));
}

static json_t *vol_pvc(void *arg, const char *ns, const char *name)
{
	return k8c_informer_get(((struct sched_ctrl *)arg)->pvcs, ns, name);
}

static json_t *vol_pv(void *arg, const char *name)
{
	return k8c_informer_get(((struct sched_ctrl *)arg)->pvs, NULL, name);
}

/* The scheduler reads little of a pod: drop what is heavy and never used. */
static json_t *pod_transform(json_t *pod)
{
	json_t *c = json_copy(pod), *md = json_copy(json_object_get(pod, "metadata"));

	json_object_del(md, "managedFields");
	json_object_set_new(c, "metadata", md);
	return c;
}

/* ---- the binding workers ---- */

static void job_free(struct bind_job *j)
{
	free(j->key);
	free(j->ns);
	free(j->name);
	free(j->node);
	free(j->msg);
	free(j->uid);
	free(j->rv);
	free(j);
}

/* The Scheduled Event (k8c_ctrl_event queues it for the process' broadcaster: any thread). */
static void post_event(struct k8c_ctrl *c, const struct bind_job *j)
{
	_cleanup_json_ json_t *ref = json_pack(
		"{s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "apiVersion", "v1", "kind", "Pod", "metadata",
		"namespace", j->ns, "name", j->name, "uid", j->uid, "resourceVersion", j->rv);

	k8c_ctrl_event(c, ref, "Normal", "Scheduled", "Successfully assigned %s to %s", j->key,
		       j->node);
}

struct worker_arg {
	struct bind_pool *p;
	struct k8c_kube *k;
};

static void *bind_worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct bind_pool *p = wa->p;
	struct k8c_kube *k = wa->k;

	free(wa);
	for (;;) {
		struct k8c_error err = K8C_ERROR_INIT;
		_cleanup_json_ json_t *binding = NULL;
		_cleanup_free_ char *path = NULL;
		struct bind_job *j;

		pthread_mutex_lock(&p->mu);
		while (!p->todo && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->todo;
		p->todo = j->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->mu);

		binding = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1",
				    "kind", "Binding", "metadata", "name", j->name, "namespace",
				    j->ns, "target", "apiVersion", "v1", "kind", "Node", "name",
				    j->node);
		path = k8c_kube_path(K8C_GVR_PODS, j->ns, j->name, "binding");
		if (k8c_kube_request(k, "POST", path, NULL, binding, NULL, NULL, &err) < 0) {
			j->code = err.code ? err.code : -1;
			j->msg = k8c_xstrdup(err.msg ? err.msg : "failed");
		} else {
			post_event(p->c, j);
		}
		k8c_error_clear(&err);
		pthread_mutex_lock(&p->mu);
		j->next = p->done;
		p->done = j;
		pthread_mutex_unlock(&p->mu);
	}
}

static void pool_start(struct bind_pool *p, const struct k8c_kubeconfig *cfg)
{
	struct k8c_error err = K8C_ERROR_INIT;

	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->todo_tail = &p->todo;
	for (int i = 0; cfg && i < BIND_WORKERS; i++) {
		struct worker_arg *wa;

		p->kube[i] = k8c_kube_new(cfg, "k8c-scheduler/binder", &err);
		if (!p->kube[i])
			break;
		wa = k8c_xcalloc(1, sizeof(*wa));
		*wa = (struct worker_arg){p, p->kube[i]};
		if (pthread_create(&p->th[i], NULL, bind_worker, wa) != 0) {
			free(wa);
			k8c_kube_free(p->kube[i]);
			p->kube[i] = NULL;
			break;
		}
		p->n_threads++;
	}
	if (err.msg)
		k8c_log_warn("binding workers", "error=\"%s\" workers=%d", err.msg, p->n_threads);
	k8c_error_clear(&err);
}

static void pool_stop(struct bind_pool *p)
{
	struct bind_job *j, *next;

	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_threads; i++)
		k8c_kube_interrupt(p->kube[i]);
	for (int i = 0; i < p->n_threads; i++) {
		pthread_join(p->th[i], NULL);
		k8c_kube_free(p->kube[i]);
	}
	for (j = p->todo; j; j = next) {
		next = j->next;
		job_free(j);
	}
	for (j = p->done; j; j = next) {
		next = j->next;
		job_free(j);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* Results of the workers: failed bindings are forgotten and the pod tried again. */
static void drain(struct k8c_ctrl *c, struct sched_ctrl *s)
{
	struct bind_job *j, *next;

	pthread_mutex_lock(&s->pool.mu);
	j = s->pool.done;
	s->pool.done = NULL;
	pthread_mutex_unlock(&s->pool.mu);
	for (; j; j = next) {
		next = j->next;
		s->pool.in_flight--;
		if (!j->code) {
			s->bound++;
		} else {
			struct sched_pod *p = sched_cache_pod(&s->cache, j->key);

			if (p && p->assumed)
				sched_cache_pod_del(&s->cache, j->key);
			if (j->code != 409 && j->code != 404) {
				char q[512];

				k8c_log_warn("binding failed (retrying)",
					     "controller=scheduler pod=%s node=%s error=%s", j->key,
					     j->node, k8c_log_quote(q, sizeof(q), j->msg));
				k8c_ctrl_enqueue_after(c, j->key, BIND_RETRY_MS);
			}
		}
		job_free(j);
	}
	if (s->pool.in_flight && !s->drain_queued) {
		s->drain_queued = true;
		k8c_ctrl_enqueue_after(c, DRAIN_KEY, DRAIN_MS);
	}
}

static void bind_async(struct k8c_ctrl *c, struct sched_ctrl *s, const char *key, const char *ns,
		       const char *name, const char *node, const json_t *pod)
{
	struct bind_job *j = k8c_xcalloc(1, sizeof(*j));

	j->key = k8c_xstrdup(key);
	j->ns = k8c_xstrdup(ns);
	j->name = k8c_xstrdup(name);
	j->node = k8c_xstrdup(node);
	j->uid = k8c_xstrdup(k8c_str_at(pod, "metadata.uid") ?: "");
	j->rv = k8c_xstrdup(k8c_str_at(pod, "metadata.resourceVersion") ?: "");
	pthread_mutex_lock(&s->pool.mu);
	*s->pool.todo_tail = j;
	s->pool.todo_tail = &j->next;
	pthread_cond_signal(&s->pool.cv);
	pthread_mutex_unlock(&s->pool.mu);
	s->pool.in_flight++;
	if (!s->drain_queued) {
		s->drain_queued = true;
		k8c_ctrl_enqueue_after(c, DRAIN_KEY, DRAIN_MS);
	}
}

static int sched_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct sched_ctrl *s = k8c_xcalloc(1, sizeof(*s));
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS, .transform = pod_transform};
	struct k8c_informer_opts vco = {.gvr = K8C_GVR_PVCS};
	struct k8c_informer_opts vo = {.gvr = K8C_GVR_PVS};
	struct k8c_informer_opts sco = {.gvr = K8C_GVR_STORAGECLASSES};

	sched_cache_init(&s->cache);
	s->vol = (struct sched_volumes){vol_pvc, vol_pv, s};
	s->pool.c = c;
	pool_start(&s->pool, k8c_ctrl_config(c));
	k8c_ctrl_set_data(c, s);
	if (!(s->nodes = k8c_ctrl_informer(c, &no, on_node, err)) ||
	    !(s->pods = k8c_ctrl_informer(c, &po, on_pod, err)) ||
	    !(s->pvcs = k8c_ctrl_informer(c, &vco, on_volume, err)) ||
	    !(s->pvs = k8c_ctrl_informer(c, &vo, on_volume, err)) ||
	    !(s->classes = k8c_ctrl_informer(c, &sco, NULL, err)))
		return -1;
	return 0;
}

/* The pod as an Event's object (informer items carry no kind). */
static json_t *pod_ref(const json_t *pod)
{
	json_t *r = json_pack("{s:s,s:s,s:O}", "apiVersion", "v1", "kind", "Pod", "metadata",
			      json_object_get(pod, "metadata"));

	return r;
}

/* PodScheduled=False with the reason and message, unless the pod says so already. */
static int set_unschedulable(struct k8c_ctrl *c, const json_t *pod, const char *reason,
			     const char *msg, struct k8c_error *err)
{
	json_t *cond = k8c_condition(pod, "PodScheduled");
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *name = k8c_str_at(pod, "metadata.name");
	_cleanup_json_ json_t *patch = NULL;
	char ts[21];

	if (cond && strcmp(k8c_str_at(cond, "status") ?: "", "False") == 0 &&
	    strcmp(k8c_str_at(cond, "reason") ?: "", reason) == 0 &&
	    strcmp(k8c_str_at(cond, "message") ?: "", msg) == 0)
		return 0;
	k8c_rfc3339(time(NULL), ts);
	patch = json_pack("{s:{s:[{s:s,s:s,s:s,s:s,s:n,s:s}]}}", "status", "conditions", "type",
			  "PodScheduled", "status", "False", "reason", reason, "message", msg,
			  "lastProbeTime", "lastTransitionTime",
			  cond && strcmp(k8c_str_at(cond, "status") ?: "", "False") == 0 &&
					  k8c_str_at(cond, "lastTransitionTime")
				  ? k8c_str_at(cond, "lastTransitionTime")
				  : ts);
	if (k8c_kube_patch(k8c_ctrl_kube(c), K8C_GVR_PODS, ns, name, "status", K8C_PATCH_STRATEGIC,
			   patch, NULL, err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "pod %s/%s: set PodScheduled", ns, name);
	}
	return 0;
}

/*
 * Volumes before any node is tried: a missing claim or an unbound claim of an Immediate class
 * stops here (kube's VolumeBinding PreFilter); *wffc says a claim waits for this pod's node.
 */
static const char *volume_prefilter(struct sched_ctrl *s, const json_t *pod, bool *wffc, char *buf,
				    size_t len)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	size_t i;
	json_t *v;

	*wffc = false;
	json_array_foreach(k8c_at(pod, "spec.volumes"), i, v)
	{
		const char *claim = k8c_str_at(v, "persistentVolumeClaim.claimName");
		const char *vn, *cls, *mode;
		json_t *pvc, *sc;

		if (!claim)
			continue;
		pvc = k8c_informer_get(s->pvcs, ns, claim);
		if (!pvc) {
			snprintf(buf, len, "persistentvolumeclaim \"%s\" not found", claim);
			return buf;
		}
		vn = k8c_str_at(pvc, "spec.volumeName");
		if (vn && *vn)
			continue;
		cls = k8c_str_at(pvc, "spec.storageClassName");
		sc = cls && *cls ? k8c_informer_get(s->classes, NULL, cls) : NULL;
		mode = sc ? k8c_str_at(sc, "volumeBindingMode") : NULL;
		if (mode && strcmp(mode, "WaitForFirstConsumer") == 0) {
			*wffc = true;
			continue;
		}
		return "pod has unbound immediate PersistentVolumeClaims";
	}
	return NULL;
}

/* WaitForFirstConsumer: tell each unbound claim the chosen node (the provisioner acts on it). */
static int select_node_for_claims(struct k8c_ctrl *c, struct sched_ctrl *s, const json_t *pod,
				  const char *node, struct k8c_error *err)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	size_t i;
	json_t *v;

	json_array_foreach(k8c_at(pod, "spec.volumes"), i, v)
	{
		const char *claim = k8c_str_at(v, "persistentVolumeClaim.claimName");
		json_t *pvc = claim ? k8c_informer_get(s->pvcs, ns, claim) : NULL;
		const char *vn = pvc ? k8c_str_at(pvc, "spec.volumeName") : NULL;
		const char *sel = pvc ? json_string_value(json_object_get(
						k8c_at(pvc, "metadata.annotations"), SELECTED_NODE))
				      : NULL;
		_cleanup_json_ json_t *patch = NULL;

		if (!pvc || (vn && *vn) || (sel && strcmp(sel, node) == 0))
			continue;
		patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", SELECTED_NODE, node);
		if (k8c_kube_patch(k8c_ctrl_kube(c), K8C_GVR_PVCS, ns, claim, NULL, K8C_PATCH_MERGE,
				   patch, NULL, err) < 0)
			return k8c_error_wrap(err, "persistentvolumeclaim %s/%s: select node %s",
					      ns, claim, node);
	}
	return 0;
}

static int unschedulable(struct k8c_ctrl *c, struct sched_ctrl *s, const char *key,
			 const json_t *pod, const char *msg, struct k8c_error *err)
{
	_cleanup_json_ json_t *ref = pod_ref(pod);

	strmap_set(&s->unschedulable, key, (void *)1);
	k8c_ctrl_enqueue_after(c, key, RETRY_UNSCHEDULABLE_MS);
	k8c_log_debug("pod unschedulable", "pod=%s message=\"%s\"", key, msg);
	k8c_ctrl_event(c, ref, "Warning", "FailedScheduling", "%s", msg);
	return set_unschedulable(c, pod, "Unschedulable", msg, err);
}

static int sched_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct sched_ctrl *s = k8c_ctrl_data(c);
	const char *slash = strchr(key, '/');
	_cleanup_free_ char *ns = slash ? strndup(key, (size_t)(slash - key)) : NULL;
	json_t *pod = ns ? k8c_informer_get(s->pods, ns, slash + 1) : NULL;
	_cleanup_json_ json_t *binding = NULL, *ref = NULL;
	_cleanup_free_ char *msg = NULL, *path = NULL;
	struct sched_pod *p;
	struct sched_node *n;
	const char *vmsg;
	char vbuf[512];
	bool wffc;

	drain(c, s);
	if (strcmp(key, DRAIN_KEY) == 0) {
		s->drain_queued = false;
		drain(c, s);
		return 0;
	}
	if (!pod || !pending(pod) || sched_cache_pod(&s->cache, key))
		return 0; /* gone, bound, not ours, or assumed with its binding on the way */
	strmap_del(&s->unschedulable, key);
	if (json_array_size(k8c_at(pod, "spec.schedulingGates"))) {
		/* kube's SchedulingGates PreEnqueue: not tried until the gates are gone */
		strmap_set(&s->unschedulable, key, (void *)1);
		return set_unschedulable(c, pod, "SchedulingGated",
					 "Scheduling is blocked due to non-empty scheduling gates",
					 err);
	}
	vmsg = volume_prefilter(s, pod, &wffc, vbuf, sizeof(vbuf));
	if (vmsg) {
		msg = k8c_xasprintf("0/%zu nodes are available: %s.", s->cache.n_nodes, vmsg);
		return unschedulable(c, s, key, pod, msg, err);
	}
	p = sched_pod_new(pod);
	n = sched_pick(&s->cache, p, &s->vol, &msg);
	if (!n) {
		sched_pod_free(p);
		return unschedulable(c, s, key, pod, msg, err);
	}
	if (wffc) {
		/* the claim gets a volume on n first; the pod is bound once it is Bound */
		int r = select_node_for_claims(c, s, pod, n->name, err);

		sched_pod_free(p);
		if (r < 0)
			return r;
		strmap_set(&s->unschedulable, key, (void *)1);
		k8c_ctrl_enqueue_after(c, key, 1000);
		return 0;
	}
	p->node = k8c_xstrdup(n->name);
	p->assumed = true;
	sched_cache_pod_set(&s->cache, p); /* p belongs to the cache now */
	if (s->pool.n_threads) {
		bind_async(c, s, key, ns, slash + 1, n->name, pod);
		return 0;
	}
	binding = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
			    "Binding", "metadata", "name", slash + 1, "namespace", ns, "target",
			    "apiVersion", "v1", "kind", "Node", "name", n->name);
	path = k8c_kube_path(K8C_GVR_PODS, ns, slash + 1, "binding");
	if (k8c_kube_request(k8c_ctrl_kube(c), "POST", path, NULL, binding, NULL, NULL, err) < 0) {
		sched_cache_pod_del(&s->cache, key);
		if (err->code == 409 || err->code == 404) {
			/* bound by someone else, or deleted: the informer will say */
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "pod %s: bind to %s", key, n->name);
	}
	s->bound++;
	ref = pod_ref(pod);
	k8c_ctrl_event(c, ref, "Normal", "Scheduled", "Successfully assigned %s to %s", key,
		       n->name);
	return 0;
}

static void sched_fini(struct k8c_ctrl *c)
{
	struct sched_ctrl *s = k8c_ctrl_data(c);

	if (!s)
		return;
	pool_stop(&s->pool);
	sched_cache_free(&s->cache);
	strmap_free(&s->unschedulable, NULL);
	free(s);
}

const struct k8c_controller_def ctrl_scheduler_def = {
	.name = "scheduler",
	.component = SCHEDULER_NAME,
	.init = sched_init,
	.sync = sched_sync,
	.fini = sched_fini,
};

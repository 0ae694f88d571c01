/*
 * podgc: pods that nothing else will ever finish, deleted as kube's pod garbage collector does.
 *
 * - Orphans: a pod bound (spec.nodeName) to a Node that does not exist. The node must have been
 *   missing from the cache for the quarantine (--pod-gc-quarantine, kube: 40 s, so that a pod
 *   bound just before its Node object appears is spared) and a GET of the Node must still answer
 *   404; then the pod is deleted with gracePeriodSeconds 0 (no agent will ever confirm it).
 *   Without this, a Deployment's pods on a node that died and was deleted stay forever.
 * - Unscheduled terminating pods: deleted (deletionTimestamp set) while no node holds them: no
 *   agent will finish the graceful deletion, so it is forced.
 *
 * Key: the pod's "ns/name". A node's deletion queues the pods the index has on it, after the
 * quarantine. Not done (kube does): terminated-pod threshold (--terminated-pod-gc-threshold)
 * and the out-of-service taint. docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "ctrl_manager.h"
#include "log.h"
#include "objutil.h"

struct podgc {
	struct k8c_informer *nodes, *pods;
	json_t *missing; /* node name -> monotonic ms when we first saw it missing */
};

static long quarantine_ms(void)
{
	return (long)ctrl_config.pod_gc_quarantine * 1000;
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct podgc *g = k8c_ctrl_data(c);
	const char *node;

	if (d->type == K8C_DELTA_DELETE || !d->new)
		return;
	node = k8c_str_at(d->new, "spec.nodeName");
	if (node && *node) {
		if (!k8c_informer_get(g->nodes, NULL, node))
			k8c_ctrl_enqueue_after(c, d->key, quarantine_ms());
	} else if (k8c_at(d->new, "metadata.deletionTimestamp")) {
		k8c_ctrl_enqueue(c, d->key);
	}
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct podgc *g = k8c_ctrl_data(c);
	const char *key;
	json_t *pod, *on;

	if (d->type != K8C_DELTA_DELETE) {
		json_object_del(g->missing, d->key); /* (back) in the cache */
		return;
	}
	if (!json_object_get(g->missing, d->key))
		json_object_set_new(g->missing, d->key, json_integer(k8c_ctrl_now_ms()));
	on = k8c_informer_index(g->pods, d->key);
	json_object_foreach(on, key, pod) k8c_ctrl_enqueue_after(c, key, quarantine_ms());
}

static int podgc_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct podgc *g = k8c_xcalloc(1, sizeof(*g));
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS, .index = k8c_pod_node_index};

	g->missing = json_object();
	k8c_ctrl_set_data(c, g);
	if (!(g->nodes = k8c_ctrl_informer(c, &no, on_node, err)) ||
	    !(g->pods = k8c_ctrl_informer(c, &po, on_pod, err)))
		return -1;
	return 0;
}

/* Delete the pod now, whatever its grace period: nothing on a node will ever finish it. */
static int force_delete(struct k8c_ctrl *c, const json_t *pod, const char *why,
			struct k8c_error *err)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *name = k8c_str_at(pod, "metadata.name");
	const char *uid = k8c_str_at(pod, "metadata.uid");
	_cleanup_json_ json_t *opts = NULL;

	/* the uid precondition spares a new pod of the same name */
	opts = json_pack("{s:s, s:s, s:i, s:{s:s?}}", "apiVersion", "v1", "kind", "DeleteOptions",
			 "gracePeriodSeconds", 0, "preconditions", "uid", uid);
	if (k8c_kube_delete(k8c_ctrl_kube(c), K8C_GVR_PODS, ns, name, opts, NULL, err) < 0) {
		if (err->code == 404 || err->code == 409) { /* gone, or another pod by now */
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "pod %s/%s: force delete (%s)", ns, name, why);
	}
	k8c_log_info("pod garbage-collected", "pod=%s/%s reason=\"%s\"", ns, name, why);
	return 0;
}

static int podgc_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct podgc *g = k8c_ctrl_data(c);
	_cleanup_json_ json_t *node_obj = NULL;
	_cleanup_free_ char *ns = k8c_xstrdup(key);
	char *name = strchr(ns, '/');
	const json_t *pod;
	const char *node;
	json_t *since;
	int64_t now = k8c_ctrl_now_ms(), waited;

	if (!name)
		return 0;
	*name++ = '\0';
	if (!(pod = k8c_informer_get(g->pods, ns, name)))
		return 0;
	node = k8c_str_at(pod, "spec.nodeName");
	if (!node || !*node)
		return k8c_at(pod, "metadata.deletionTimestamp")
			       ? force_delete(c, pod, "unscheduled and terminating", err)
			       : 0;
	if (k8c_informer_get(g->nodes, NULL, node)) {
		json_object_del(g->missing, node);
		return 0;
	}
	if (!(since = json_object_get(g->missing, node))) {
		json_object_set_new(g->missing, node, json_integer(now));
		k8c_ctrl_enqueue_after(c, key, quarantine_ms());
		return 0;
	}
	waited = now - json_integer_value(since);
	if (waited < quarantine_ms()) {
		k8c_ctrl_enqueue_after(c, key, quarantine_ms() - waited);
		return 0;
	}
	/* the cache may be behind: only the API's 404 makes the pod an orphan */
	if (k8c_kube_get(k8c_ctrl_kube(c), K8C_GVR_NODES, NULL, node, &node_obj, err) == 0) {
		json_object_del(g->missing, node);
		return 0;
	}
	if (err->code != 404)
		return k8c_error_wrap(err, "pod %s: node %s", key, node);
	k8c_error_clear(err);
	return force_delete(c, pod, "node gone", err);
}

static void podgc_fini(struct k8c_ctrl *c)
{
	struct podgc *g = k8c_ctrl_data(c);

	json_decref(g->missing);
	free(g);
}

const struct k8c_controller_def ctrl_podgc_def = {
	.name = "podgc",
	.component = "pod-garbage-collector",
	.init = podgc_init,
	.sync = podgc_sync,
	.fini = podgc_fini,
};

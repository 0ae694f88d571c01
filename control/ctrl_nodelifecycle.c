/*
 * nodelifecycle: node health from heartbeats, taints from the Ready condition, and taint-based
 * eviction, as kube's node lifecycle controller with its NoExecute taint manager.
 *
 * Health: a node's heartbeat is its Lease kube-node-lease/<node> (renewTime) or its Ready
 * condition's lastHeartbeatTime. Like client-go's leader election it is judged on our clock: the
 * time we last saw either change (a node first seen counts as just heard from, so a restart of
 * the controller gives every node a full grace period). When nothing changed for
 * --node-monitor-grace-period, the node's conditions become Unknown (Ready: reason
 * NodeStatusUnknown "Kubelet stopped posting node status.", or NodeStatusNeverUpdated when the
 * node never posted one) and its Ready pods are marked not ready.
 *
 * Taints follow Ready: False -> node.kubernetes.io/not-ready, Unknown ->
 * node.kubernetes.io/unreachable, each NoSchedule and NoExecute (timeAdded set); True -> none
 * of them. Eviction: a pod on a node with NoExecute taints that does not tolerate one of them is
 * deleted at once; one that tolerates them all for at most tolerationSeconds is deleted when the
 * shortest of those has passed since the taint's timeAdded; tolerations without seconds keep
 * it. Key: the node name. docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "ctrl_manager.h"
#include "log.h"
#include "objutil.h"

#define LEASE_NS	  "kube-node-lease"
#define TAINT_NOT_READY	  "node.kubernetes.io/not-ready"
#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"

struct nl {
	struct k8c_informer *nodes, *leases, *pods;
	json_t *health; /* node -> {seen: "renewTime|heartbeat", probe: monotonic ms} */
};

static bool has_noexecute(const json_t *node)
{
	json_t *t;
	size_t i;

	json_array_foreach(k8c_at(node, "spec.taints"), i, t)
	{
		const char *e = k8c_str_at(t, "effect");

		if (e && strcmp(e, "NoExecute") == 0)
			return true;
	}
	return false;
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE || d->type == K8C_DELTA_DELETE)
		k8c_ctrl_enqueue(arg, d->key);
}

static void on_lease(const struct k8c_delta *d, void *arg)
{
	const char *name = k8c_str_at(d->new ? d->new : d->old, "metadata.name");

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(arg, name);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct nl *s = k8c_ctrl_data(c);
	const char *node;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE)
		return;
	node = k8c_str_at(d->new, "spec.nodeName");
	if (node && *node && has_noexecute(k8c_informer_get(s->nodes, NULL, node)))
		k8c_ctrl_enqueue(c, node);
}

static int nl_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct nl *s = k8c_xcalloc(1, sizeof(*s));
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES};
	struct k8c_informer_opts lo = {.gvr = K8C_GVR_LEASES, .namespace = LEASE_NS};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS, .index = k8c_pod_node_index};

	k8c_ctrl_set_data(c, s);
	s->health = json_object();
	if (!(s->nodes = k8c_ctrl_informer(c, &no, on_node, err)) ||
	    !(s->leases = k8c_ctrl_informer(c, &lo, on_lease, err)) ||
	    !(s->pods = k8c_ctrl_informer(c, &po, on_pod, err)))
		return -1;
	return 0;
}

/* Set every condition Unknown (Ready added if missing); update_status. */
static int mark_unknown(struct k8c_ctrl *c, const json_t *node, const char *name,
			struct k8c_error *err)
{
	_cleanup_json_ json_t *copy = json_deep_copy(node);
	json_t *status = json_object_get(copy, "status"), *conds, *cond;
	char now[21];
	size_t i;

	k8c_rfc3339(time(NULL), now);
	if (!json_is_object(status)) {
		status = json_object();
		json_object_set_new(copy, "status", status);
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	if (!k8c_condition(copy, "Ready"))
		json_array_append_new(
			conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Ready",
					 "status", "Unknown", "reason", "NodeStatusNeverUpdated",
					 "message", "Kubelet never posted node status.",
					 "lastHeartbeatTime", now, "lastTransitionTime", now));
	json_array_foreach(conds, i, cond)
	{
		const char *st = k8c_str_at(cond, "status");

		if (!json_is_object(cond) || (st && strcmp(st, "Unknown") == 0))
			continue;
		json_object_set_new(cond, "status", json_string("Unknown"));
		json_object_set_new(cond, "reason", json_string("NodeStatusUnknown"));
		json_object_set_new(cond, "message",
				    json_string("Kubelet stopped posting node status."));
		json_object_set_new(cond, "lastTransitionTime", json_string(now));
	}
	if (k8c_kube_update_status(k8c_ctrl_kube(c), K8C_GVR_NODES, NULL, copy, NULL, err) < 0)
		return k8c_error_wrap(err, "node %s: conditions Unknown", name);
	k8c_log_info("node not heard from: conditions Unknown", "node=%s grace_s=%d", name,
		     ctrl_config.node_monitor_grace_period);
	k8c_ctrl_event(c, node, "Normal", "NodeNotReady", "Node %s status is now: NodeNotReady",
		       name);
	return 0;
}

static bool our_taint(const json_t *t)
{
	const char *k = k8c_str_at(t, "key"), *e = k8c_str_at(t, "effect");

	return k && e && (strcmp(k, TAINT_NOT_READY) == 0 || strcmp(k, TAINT_UNREACHABLE) == 0) &&
	       (strcmp(e, "NoSchedule") == 0 || strcmp(e, "NoExecute") == 0);
}

static const json_t *find_taint(const json_t *taints, const char *key, const char *effect)
{
	json_t *t;
	size_t i;

	json_array_foreach(taints, i, t)
	{
		const char *k = k8c_str_at(t, "key"), *e = k8c_str_at(t, "effect");

		if (k && e && strcmp(k, key) == 0 && strcmp(e, effect) == 0)
			return t;
	}
	return NULL;
}

/* Make our taints match want_key (NULL: none of them). 1 when the node was updated. */
static int sync_taints(struct k8c_ctrl *c, const json_t *node, const char *name,
		       const char *want_key, struct k8c_error *err)
{
	static const char *const effects[] = {"NoSchedule", "NoExecute"};
	const json_t *taints = k8c_at(node, "spec.taints");
	_cleanup_json_ json_t *copy = NULL, *next = json_array();
	bool changed = false;
	char now[21];
	json_t *t, *spec;
	size_t i;

	k8c_rfc3339(time(NULL), now);
	json_array_foreach(taints, i, t)
	{
		if (our_taint(t) && (!want_key || strcmp(k8c_str_at(t, "key"), want_key) != 0))
			changed = true; /* dropped */
		else
			json_array_append(next, t);
	}
	for (size_t e = 0; want_key && e < 2; e++)
		if (!find_taint(taints, want_key, effects[e])) {
			json_array_append_new(next,
					      json_pack("{s:s, s:s, s:s}", "key", want_key,
							"effect", effects[e], "timeAdded", now));
			changed = true;
		}
	if (!changed)
		return 0;
	copy = json_deep_copy(node);
	spec = json_object_get(copy, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(copy, "spec", spec);
	}
	if (json_array_size(next))
		json_object_set(spec, "taints", next);
	else
		json_object_del(spec, "taints");
	if (k8c_kube_update(k8c_ctrl_kube(c), K8C_GVR_NODES, NULL, copy, NULL, err) < 0)
		return k8c_error_wrap(err, "node %s: taints", name);
	k8c_log_info("node taints", "node=%s taint=%s", name, want_key ? want_key : "none");
	return 1;
}

/* Does toleration tol tolerate taint? (as v1.Toleration.ToleratesTaint) */
static bool tolerates(const json_t *tol, const json_t *taint)
{
	const char *tk = k8c_str_at(tol, "key"), *op = k8c_str_at(tol, "operator");
	const char *te = k8c_str_at(tol, "effect"), *tv = k8c_str_at(tol, "value");
	const char *k = k8c_str_at(taint, "key"), *e = k8c_str_at(taint, "effect");
	const char *v = k8c_str_at(taint, "value");

	if (te && *te && (!e || strcmp(te, e) != 0))
		return false;
	if (tk && *tk && (!k || strcmp(tk, k) != 0))
		return false;
	if (op && strcmp(op, "Exists") == 0)
		return true;
	if (!tk || !*tk)
		return false; /* an empty key needs Exists */
	return strcmp(tv ? tv : "", v ? v : "") == 0;
}

/*
 * When pod must go because of the NoExecute taints: 0 now, >0 at that time (wall clock s), -1
 * never.
 */
static time_t eviction_time(const json_t *pod, const json_t *taints)
{
	time_t when = -1;
	json_t *t;
	size_t i;

	json_array_foreach(taints, i, t)
	{
		const char *e = k8c_str_at(t, "effect");
		json_t *tol;
		size_t j;
		bool tolerated = false;
		long long min_s = -1;
		time_t added, at;

		if (!e || strcmp(e, "NoExecute") != 0)
			continue;
		json_array_foreach(k8c_at(pod, "spec.tolerations"), j, tol)
		{
			json_t *secs = json_object_get(tol, "tolerationSeconds");
			long long v;

			if (!tolerates(tol, t))
				continue;
			tolerated = true;
			if (!json_is_integer(secs))
				continue; /* forever, unless another one has seconds */
			v = json_integer_value(secs) > 0 ? json_integer_value(secs) : 0;
			if (min_s < 0 || v < min_s)
				min_s = v;
		}
		if (!tolerated)
			return 0;
		if (min_s < 0)
			continue;
		added = k8c_str_at(t, "timeAdded") ? k8c_rfc3339_parse(k8c_str_at(t, "timeAdded"))
						   : time(NULL);
		at = (added > 0 ? added : time(NULL)) + (time_t)min_s;
		if (at <= 0)
			at = 1;
		if (when < 0 || at < when)
			when = at;
	}
	return when;
}

static int mark_pods_not_ready(struct k8c_ctrl *c, struct nl *s, const char *name,
			       struct k8c_error *err)
{
	json_t *pods = k8c_informer_index(s->pods, name), *pod;
	const char *k;
	int ret = 0;

	json_object_foreach(pods, k, pod)
	{
		_cleanup_json_ json_t *copy = NULL;
		json_t *cond;
		char now[21];

		if (!k8c_condition_true(pod, "Ready"))
			continue;
		copy = json_deep_copy(pod);
		cond = k8c_condition(copy, "Ready");
		k8c_rfc3339(time(NULL), now);
		json_object_set_new(cond, "status", json_string("False"));
		json_object_set_new(cond, "lastTransitionTime", json_string(now));
		if (k8c_kube_update_status(k8c_ctrl_kube(c), K8C_GVR_PODS,
					   k8c_str_at(pod, "metadata.namespace"), copy, NULL,
					   err) < 0) {
			if (err->code == 404) {
				k8c_error_clear(err);
				continue;
			}
			k8c_error_wrap(err, "pod %s: Ready False", k);
			ret = -1;
		}
	}
	return ret;
}

static int evict(struct k8c_ctrl *c, struct nl *s, const json_t *node, const char *name,
		 struct k8c_error *err)
{
	json_t *pods = k8c_informer_index(s->pods, name), *pod;
	const json_t *taints = k8c_at(node, "spec.taints");
	time_t now = time(NULL), next = -1;
	const char *k;
	int ret = 0;

	json_object_foreach(pods, k, pod)
	{
		time_t at;
		const char *ns = k8c_str_at(pod, "metadata.namespace");
		const char *pname = k8c_str_at(pod, "metadata.name");

		if (k8c_at(pod, "metadata.deletionTimestamp"))
			continue;
		at = eviction_time(pod, taints);
		if (at < 0)
			continue;
		if (at > now) {
			if (next < 0 || at < next)
				next = at;
			continue;
		}
		if (k8c_kube_delete(k8c_ctrl_kube(c), K8C_GVR_PODS, ns, pname, NULL, NULL, err) <
		    0) {
			if (err->code == 404) {
				k8c_error_clear(err);
				continue;
			}
			k8c_error_wrap(err, "evict pod %s", k);
			ret = -1;
			continue;
		}
		k8c_log_info("pod evicted", "pod=%s node=%s", k, name);
		k8c_ctrl_event(c, pod, "Normal", "TaintManagerEviction",
			       "Marking for deletion Pod %s", k);
	}
	if (next > 0)
		k8c_ctrl_enqueue_after(c, name, (long)(next - now) * 1000 + 100);
	return ret;
}

static int nl_sync(struct k8c_ctrl *c, const char *name, struct k8c_error *err)
{
	struct nl *s = k8c_ctrl_data(c);
	json_t *node = k8c_informer_get(s->nodes, NULL, name), *h, *lease, *ready;
	_cleanup_free_ char *seen = NULL;
	int64_t now = k8c_ctrl_now_ms(),
		grace = (int64_t)ctrl_config.node_monitor_grace_period * 1000;
	int64_t probe;
	const char *st, *want = NULL;
	int r;

	if (!node) {
		json_object_del(s->health, name);
		return 0;
	}
	lease = k8c_informer_get(s->leases, LEASE_NS, name);
	ready = k8c_condition(node, "Ready");
	seen = k8c_xasprintf("%s|%s", lease ? k8c_str_at(lease, "spec.renewTime") : "",
			     k8c_str_at(ready, "lastHeartbeatTime")
				     ? k8c_str_at(ready, "lastHeartbeatTime")
				     : "");
	h = json_object_get(s->health, name);
	if (!h || strcmp(json_string_value(json_object_get(h, "seen")), seen) != 0) {
		h = json_pack("{s:s, s:I}", "seen", seen, "probe", (json_int_t)now);
		json_object_set_new(s->health, name, h);
	}
	probe = json_integer_value(json_object_get(h, "probe"));
	st = k8c_str_at(ready, "status");
	if (now >= probe + grace) {
		if (!st || strcmp(st, "Unknown") != 0)
			return mark_unknown(c, node, name, err); /* the update brings us back */
	} else {
		k8c_ctrl_enqueue_after(c, name, (long)(probe + grace - now) + 10);
	}
	if (st && strcmp(st, "False") == 0)
		want = TAINT_NOT_READY;
	else if (st && strcmp(st, "Unknown") == 0)
		want = TAINT_UNREACHABLE;
	if ((r = sync_taints(c, node, name, want, err)) != 0)
		return r; /* < 0, or updated: the informer brings the new node */
	if (want && mark_pods_not_ready(c, s, name, err) < 0)
		return -1;
	if (has_noexecute(node))
		return evict(c, s, node, name, err);
	return 0;
}

static void nl_fini(struct k8c_ctrl *c)
{
	struct nl *s = k8c_ctrl_data(c);

	if (!s)
		return;
	json_decref(s->health);
	free(s);
}

const struct k8c_controller_def ctrl_nodelifecycle_def = {
	.name = "nodelifecycle",
	.component = "node-controller",
	.init = nl_init,
	.sync = nl_sync,
	.fini = nl_fini,
};

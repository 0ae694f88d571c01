/*
 * Pure logic of the workload controllers (ctrl_workloads.h): what Kubernetes' deployment/util,
 * controller_utils and the daemon/replicaset helpers compute, over jansson objects.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_workloads.h"
#include "objutil.h"

/* ---- integers or percents ---- */

long wl_scaled_value(const json_t *v, long total, bool round_up, long def)
{
	const char *s, *p;
	long pct;

	if (!v)
		return def;
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	s = json_string_value(v);
	if (!s || !*s)
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++)
		;
	if (p == s || strcmp(p, "%") != 0) {
		/* a plain number as a string is what intstr.Parse accepts too */
		if (*p == '\0')
			return atol(s);
		return -1;
	}
	pct = atol(s);
	if (round_up)
		return (long)ceil((double)pct * (double)total / 100.0);
	return (long)floor((double)pct * (double)total / 100.0);
}

void wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, long desired,
		   long *surge, long *unavailable)
{
	json_t *d25 = json_string("25%");

	*surge = wl_scaled_value(max_surge ? max_surge : d25, desired, true, 0);
	*unavailable = wl_scaled_value(max_unavailable ? max_unavailable : d25, desired, false, 0);
	json_decref(d25);
	if (*surge < 0)
		*surge = 0;
	if (*unavailable < 0)
		*unavailable = 0;
	if (*surge == 0 && *unavailable == 0)
		*unavailable = 1;
}

long wl_deploy_replicas(const json_t *d)
{
	return (long)k8c_int_at(d, "spec.replicas", 1);
}

static bool is_rolling(const json_t *d)
{
	const char *t = k8c_str_at(d, "spec.strategy.type");

	return !t || strcmp(t, "RollingUpdate") == 0;
}

long wl_deploy_max_surge(const json_t *d)
{
	long s, u;

	if (!is_rolling(d))
		return 0;
	wl_fenceposts(k8c_at(d, "spec.strategy.rollingUpdate.maxSurge"),
		      k8c_at(d, "spec.strategy.rollingUpdate.maxUnavailable"),
		      wl_deploy_replicas(d), &s, &u);
	return s;
}

long wl_deploy_max_unavailable(const json_t *d)
{
	long s, u, r = wl_deploy_replicas(d);

	if (!is_rolling(d) || r == 0)
		return 0;
	wl_fenceposts(k8c_at(d, "spec.strategy.rollingUpdate.maxSurge"),
		      k8c_at(d, "spec.strategy.rollingUpdate.maxUnavailable"), r, &s, &u);
	return u > r ? r : u;
}

/* ---- templates ---- */

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void wl_template_hash(const json_t *tmpl, long long collision, char out[11])
{
	static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
	_cleanup_json_ json_t *norm = wl_template_normalized(tmpl);
	_cleanup_free_ char *s = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS);
	uint32_t h = fnv1a(2166136261u, s ? s : "", s ? strlen(s) : 0);
	char digits[11];
	size_t i;

	if (collision >= 0) {
		unsigned char b[8] = {0};
		uint32_t c = (uint32_t)collision;

		for (i = 0; i < 4; i++)
			b[i] = (unsigned char)(c >> (8 * i));
		h = fnv1a(h, b, sizeof(b));
	}
	snprintf(digits, sizeof(digits), "%u", h);
	for (i = 0; digits[i]; i++)
		out[i] = alphanums[(unsigned char)digits[i] % (sizeof(alphanums) - 1)];
	out[i] = '\0';
}

json_t *wl_template_normalized(const json_t *tmpl)
{
	json_t *c = json_deep_copy(tmpl);
	json_t *meta = json_object_get(c, "metadata");

	/* kubectl sends "creationTimestamp": null in templates (rollout undo); kube's typed
	 * decoding drops it, so it must not make two templates differ */
	if (json_is_null(json_object_get(meta, "creationTimestamp")))
		json_object_del(meta, "creationTimestamp");
	return c;
}

static json_t *without_hash(const json_t *tmpl)
{
	json_t *c = wl_template_normalized(tmpl);
	json_t *labels = k8c_at(c, "metadata.labels");

	if (json_is_object(labels)) {
		json_object_del(labels, WL_POD_TEMPLATE_HASH);
		if (json_object_size(labels) == 0)
			json_object_del(json_object_get(c, "metadata"), "labels");
	}
	return c;
}

bool wl_templates_equal_ignore_hash(const json_t *a, const json_t *b)
{
	_cleanup_json_ json_t *x = without_hash(a);
	_cleanup_json_ json_t *y = without_hash(b);
	json_t *mx = json_object_get(x, "metadata"), *my = json_object_get(y, "metadata");

	/* an empty metadata is no metadata */
	if (json_is_object(mx) && json_object_size(mx) == 0)
		json_object_del(x, "metadata");
	if (json_is_object(my) && json_object_size(my) == 0)
		json_object_del(y, "metadata");
	return json_equal(x, y);
}

/* ---- pods ---- */

json_t *wl_controller_ref(const json_t *obj, const char *api_version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind,
			 "name", k8c_str_at(obj, "metadata.name") ?: "", "uid",
			 k8c_str_at(obj, "metadata.uid") ?: "", "controller", 1,
			 "blockOwnerDeletion", 1);
}

json_t *wl_pod_from_template(const json_t *tmpl, const char *ns, const char *prefix,
			     const json_t *owner_ref)
{
	json_t *meta = json_object();
	json_t *pod =
		json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta);
	json_t *spec = k8c_at(tmpl, "spec");
	static const char *const copied[] = {"labels", "annotations", "finalizers", NULL};

	json_object_set_new(meta, "generateName", json_sprintf("%s-", prefix));
	json_object_set_new(meta, "namespace", json_string(ns));
	for (const char *const *k = copied; *k; k++) {
		json_t *v = json_object_get(json_object_get(tmpl, "metadata"), *k);

		if (v)
			json_object_set_new(meta, *k, json_deep_copy(v));
	}
	if (owner_ref)
		json_object_set_new(meta, "ownerReferences", json_pack("[O]", (json_t *)owner_ref));
	json_object_set_new(pod, "spec", spec ? json_deep_copy(spec) : json_object());
	return pod;
}

static time_t ready_since(const json_t *pod)
{
	json_t *c = k8c_condition(pod, "Ready");

	return k8c_rfc3339_parse(json_string_value(json_object_get(c, "lastTransitionTime")));
}

bool wl_pod_available(const json_t *pod, long min_ready, time_t now)
{
	time_t t;

	if (!k8c_pod_ready(pod))
		return false;
	if (min_ready <= 0)
		return true;
	t = ready_since(pod);
	return t >= 0 && t + min_ready <= now;
}

struct ranked {
	json_t *pod;
	long rank;
};

static int phase_ordinal(const json_t *pod)
{
	const char *p = k8c_str_at(pod, "status.phase");

	if (!p || strcmp(p, "Pending") == 0)
		return 0;
	if (strcmp(p, "Unknown") == 0)
		return 1;
	if (strcmp(p, "Running") == 0)
		return 2;
	return 0;
}

static long max_restarts(const json_t *pod)
{
	long m = 0;
	size_t i;
	json_t *cs;

	json_array_foreach(k8c_at(pod, "status.containerStatuses"), i, cs)
	{
		long r = (long)k8c_int_at(cs, "restartCount", 0);

		if (r > m)
			m = r;
	}
	return m;
}

/* afterOrZero: a zero (unknown) time first, then the later one. -1: a first, 1: b first. */
static int after_or_zero(time_t a, time_t b)
{
	if (a < 0 || b < 0)
		return a < 0 ? (b < 0 ? 0 : -1) : 1;
	return a > b ? -1 : (a < b ? 1 : 0);
}

static int cmp_deletion(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;
	const char *na = k8c_str_at(a->pod, "spec.nodeName") ?: "";
	const char *nb = k8c_str_at(b->pod, "spec.nodeName") ?: "";
	bool ra = k8c_pod_ready(a->pod), rb = k8c_pod_ready(b->pod);
	long ca, cb;
	int c;

	if (strcmp(na, nb) != 0 && (!*na || !*nb))
		return !*na ? -1 : 1;
	if (phase_ordinal(a->pod) != phase_ordinal(b->pod))
		return phase_ordinal(a->pod) < phase_ordinal(b->pod) ? -1 : 1;
	if (ra != rb)
		return !ra ? -1 : 1;
	{
		const char *sa = json_string_value(
			json_object_get(k8c_at(a->pod, "metadata.annotations"),
					"controller.kubernetes.io/pod-deletion-cost"));
		const char *sb = json_string_value(
			json_object_get(k8c_at(b->pod, "metadata.annotations"),
					"controller.kubernetes.io/pod-deletion-cost"));

		ca = sa ? atol(sa) : 0;
		cb = sb ? atol(sb) : 0;
	}
	if (ca != cb)
		return ca < cb ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank > b->rank ? -1 : 1;
	if (ra && rb) {
		c = after_or_zero(ready_since(a->pod), ready_since(b->pod));
		if (c)
			return c;
	}
	if (max_restarts(a->pod) != max_restarts(b->pod))
		return max_restarts(a->pod) > max_restarts(b->pod) ? -1 : 1;
	c = after_or_zero(k8c_rfc3339_parse(k8c_str_at(a->pod, "metadata.creationTimestamp")),
			  k8c_rfc3339_parse(k8c_str_at(b->pod, "metadata.creationTimestamp")));
	if (c)
		return c;
	return strcmp(k8c_str_at(a->pod, "metadata.name") ?: "",
		      k8c_str_at(b->pod, "metadata.name") ?: "");
}

void wl_sort_pods_for_deletion(json_t **pods, size_t n, json_t *const *related, size_t nrelated)
{
	_cleanup_json_ json_t *per_node = json_object();
	_cleanup_free_ struct ranked *r = k8c_xcalloc(n ? n : 1, sizeof(*r));

	for (size_t i = 0; i < nrelated; i++) {
		const char *node = k8c_str_at(related[i], "spec.nodeName");
		json_t *c;

		if (!node || !*node || !k8c_pod_active(related[i]))
			continue;
		c = json_object_get(per_node, node);
		json_object_set_new(per_node, node,
				    json_integer(c ? json_integer_value(c) + 1 : 1));
	}
	for (size_t i = 0; i < n; i++) {
		const char *node = k8c_str_at(pods[i], "spec.nodeName");

		r[i].pod = pods[i];
		r[i].rank = node ? (long)json_integer_value(json_object_get(per_node, node)) : 0;
	}
	qsort(r, n, sizeof(*r), cmp_deletion);
	for (size_t i = 0; i < n; i++)
		pods[i] = r[i].pod;
}

int wl_slow_start_batches(int count, int initial, int (*batch)(void *arg, int first, int n),
			  void *arg, int *attempted)
{
	int remaining = count, successes = 0, done = 0;
	int size = initial < remaining ? initial : remaining;

	while (size > 0) {
		int failed = batch(arg, done, size);

		done += size;
		successes += size - failed;
		if (failed)
			break;
		remaining -= size;
		size = 2 * size < remaining ? 2 * size : remaining;
	}
	if (attempted)
		*attempted = done;
	return successes;
}

struct seq_batch {
	int (*fn)(void *arg, int i);
	void *arg;
};

static int run_in_sequence(void *arg, int first, int n)
{
	struct seq_batch *b = arg;
	int failed = 0;

	for (int i = first; i < first + n; i++)
		if (b->fn(b->arg, i) < 0)
			failed++;
	return failed;
}

int wl_slow_start(int count, int initial, int (*fn)(void *arg, int i), void *arg, int *attempted)
{
	struct seq_batch b = {fn, arg};

	return wl_slow_start_batches(count, initial, run_in_sequence, &b, attempted);
}

/* ---- conditions ---- */

json_t *wl_condition(const char *type, const char *status, const char *reason, const char *msg,
		     time_t now, bool with_update_time)
{
	char ts[21];
	json_t *c;

	k8c_rfc3339(now, ts);
	c = json_pack("{s:s, s:s}", "type", type, "status", status);
	if (with_update_time)
		json_object_set_new(c, "lastUpdateTime", json_string(ts));
	json_object_set_new(c, "lastTransitionTime", json_string(ts));
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (msg)
		json_object_set_new(c, "message", json_string(msg));
	return c;
}

json_t *wl_get_condition(const json_t *conds, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(conds, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

void wl_remove_condition(json_t *conds, const char *type)
{
	for (size_t i = 0; i < json_array_size(conds);) {
		const char *t =
			json_string_value(json_object_get(json_array_get(conds, i), "type"));

		if (t && strcmp(t, type) == 0)
			json_array_remove(conds, i);
		else
			i++;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void wl_set_condition(json_t *conds, json_t *cond)
{
	const char *type = json_string_value(json_object_get(cond, "type"));
	json_t *cur = wl_get_condition(conds, type);

	if (cur) {
		bool same_status = str_eq(json_string_value(json_object_get(cur, "status")),
					  json_string_value(json_object_get(cond, "status")));

		if (same_status && str_eq(json_string_value(json_object_get(cur, "reason")),
					  json_string_value(json_object_get(cond, "reason")))) {
			json_decref(cond);
			return;
		}
		if (same_status && json_object_get(cur, "lastTransitionTime"))
			json_object_set(cond, "lastTransitionTime",
					json_object_get(cur, "lastTransitionTime"));
	}
	wl_remove_condition(conds, type);
	json_array_append_new(conds, cond);
}

/* ---- ReplicaSet / ReplicationController ---- */

json_t *wl_rs_status(const json_t *rs, json_t *const *pods, size_t n, const char *fail_reason,
		     const char *fail_msg, time_t now)
{
	json_t *old = json_object_get(rs, "status");
	json_t *conds = json_deep_copy(json_object_get(old, "conditions"));
	json_t *tlabels = k8c_at(rs, "spec.template.metadata.labels");
	long min_ready = (long)k8c_int_at(rs, "spec.minReadySeconds", 0);
	long fully = 0, ready = 0, avail = 0;
	json_t *st;

	for (size_t i = 0; i < n; i++) {
		if (k8c_map_selector_matches(tlabels, k8c_at(pods[i], "metadata.labels")))
			fully++;
		if (k8c_pod_ready(pods[i])) {
			ready++;
			if (wl_pod_available(pods[i], min_ready, now))
				avail++;
		}
	}
	if (!json_is_array(conds)) {
		json_decref(conds);
		conds = json_array();
	}
	if (fail_reason && !wl_get_condition(conds, "ReplicaFailure"))
		json_array_append_new(conds, wl_condition("ReplicaFailure", "True", fail_reason,
							  fail_msg, now, false));
	else if (!fail_reason)
		wl_remove_condition(conds, "ReplicaFailure");
	st = json_pack("{s:I}", "replicas", (json_int_t)n);
	if (fully)
		json_object_set_new(st, "fullyLabeledReplicas", json_integer(fully));
	if (ready)
		json_object_set_new(st, "readyReplicas", json_integer(ready));
	if (avail)
		json_object_set_new(st, "availableReplicas", json_integer(avail));
	json_object_set_new(st, "observedGeneration",
			    json_integer(k8c_int_at(rs, "metadata.generation", 0)));
	if (json_array_size(conds))
		json_object_set_new(st, "conditions", conds);
	else
		json_decref(conds);
	return st;
}

/* ---- Deployment ---- */

long wl_rs_replicas(const json_t *rs)
{
	return rs ? (long)k8c_int_at(rs, "spec.replicas", 1) : 0;
}

static long st(const json_t *rs, const char *field)
{
	return rs ? (long)k8c_int_at(json_object_get(rs, "status"), field, 0) : 0;
}

long wl_ann_long(const json_t *obj, const char *ann, long def)
{
	const char *v =
		json_string_value(json_object_get(k8c_at(obj, "metadata.annotations"), ann));
	char *end;
	long x;

	if (!v || !*v)
		return def;
	x = strtol(v, &end, 10);
	return *end ? def : x;
}

long wl_max_revision(json_t *const *rss, size_t n)
{
	long m = 0;

	for (size_t i = 0; i < n; i++) {
		long r = wl_ann_long(rss[i], WL_REVISION_ANN, 0);

		if (r > m)
			m = r;
	}
	return m;
}

static int cmp_created(const json_t *a, const json_t *b)
{
	time_t ta = k8c_rfc3339_parse(k8c_str_at(a, "metadata.creationTimestamp"));
	time_t tb = k8c_rfc3339_parse(k8c_str_at(b, "metadata.creationTimestamp"));

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(k8c_str_at(a, "metadata.name") ?: "", k8c_str_at(b, "metadata.name") ?: "");
}

int wl_find_new_rs(const json_t *d, json_t *const *rss, size_t n)
{
	json_t *tmpl = k8c_at(d, "spec.template");
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!wl_templates_equal_ignore_hash(k8c_at(rss[i], "spec.template"), tmpl))
			continue;
		if (best < 0 || cmp_created(rss[i], rss[best]) < 0)
			best = (int)i;
	}
	return best;
}

static long sum_spec(json_t *const *rss, size_t n)
{
	long s = 0;

	for (size_t i = 0; i < n; i++)
		s += rss[i] ? wl_rs_replicas(rss[i]) : 0;
	return s;
}

long wl_new_rs_new_replicas(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs)
{
	long cur, max_total, up, want = wl_deploy_replicas(d);

	if (!is_rolling(d))
		return want;
	cur = sum_spec(all, n);
	max_total = want + wl_deploy_max_surge(d);
	if (cur >= max_total)
		return wl_rs_replicas(new_rs);
	up = max_total - cur;
	if (up > want - wl_rs_replicas(new_rs))
		up = want - wl_rs_replicas(new_rs);
	return wl_rs_replicas(new_rs) + up;
}

static int sort_sign; /* 1: size then newer first; -1: size then older first */

static int cmp_size(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	long sa = wl_rs_replicas(a), sb = wl_rs_replicas(b);

	if (sa != sb)
		return sa > sb ? -1 : 1;
	return sort_sign > 0 ? -cmp_created(a, b) : cmp_created(a, b);
}

static long rs_fraction(const json_t *rs, const json_t *d)
{
	long want = wl_deploy_replicas(d), dep, ann;
	double size;

	if (want == 0)
		return -wl_rs_replicas(rs);
	dep = want + wl_deploy_max_surge(d);
	ann = wl_ann_long(rs, WL_MAX_ANN, -1);
	if (ann < 0)
		ann = (long)k8c_int_at(d, "status.replicas", 0);
	if (ann <= 0)
		return 0;
	size = (double)(wl_rs_replicas(rs) * dep) / (double)ann;
	return (long)round(size) - wl_rs_replicas(rs);
}

static long proportion(const json_t *rs, const json_t *d, long to_add, long added)
{
	long frac, allowed;

	if (!rs || wl_rs_replicas(rs) == 0 || to_add == 0 || to_add == added)
		return 0;
	frac = rs_fraction(rs, d);
	allowed = to_add - added;
	if (allowed > 0)
		return frac < allowed ? frac : allowed;
	return frac > allowed ? frac : allowed;
}

void wl_proportional_scale(const json_t *d, json_t *const *all, size_t n, long *out)
{
	_cleanup_free_ json_t **sorted = k8c_xcalloc(n ? n : 1, sizeof(*sorted));
	_cleanup_free_ long *size = k8c_xcalloc(n ? n : 1, sizeof(*size));
	long want = wl_deploy_replicas(d), allowed = 0, to_add, added = 0;

	memcpy(sorted, all, n * sizeof(*sorted));
	if (want > 0)
		allowed = want + wl_deploy_max_surge(d);
	to_add = allowed - sum_spec(all, n);
	sort_sign = to_add > 0 ? 1 : -1;
	if (to_add != 0)
		qsort(sorted, n, sizeof(*sorted), cmp_size);
	for (size_t i = 0; i < n; i++) {
		long p = to_add != 0 ? proportion(sorted[i], d, to_add, added) : 0;

		size[i] = wl_rs_replicas(sorted[i]) + p;
		added += p;
	}
	if (to_add != 0 && n > 0 && to_add - added != 0) {
		size[0] += to_add - added;
		if (size[0] < 0)
			size[0] = 0;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (sorted[j] == all[i])
				out[i] = size[j];
}

int wl_find_active_or_latest(json_t *new_rs, json_t *const *olds, size_t n)
{
	int active = -1, nactive = 0, newest = -1;

	if (!new_rs && n == 0)
		return -1;
	if (new_rs && wl_rs_replicas(new_rs) > 0) {
		active = 0;
		nactive++;
	}
	for (size_t i = 0; i < n; i++) {
		if (newest < 0 || cmp_created(olds[i], olds[newest - 1]) > 0)
			newest = (int)i + 1;
		if (wl_rs_replicas(olds[i]) > 0) {
			active = (int)i + 1;
			nactive++;
		}
	}
	if (nactive == 0)
		return new_rs ? 0 : newest;
	if (nactive == 1)
		return active;
	return -1;
}

bool wl_is_saturated(const json_t *d, const json_t *rs)
{
	long want = wl_deploy_replicas(d);

	return rs && wl_ann_long(rs, WL_DESIRED_ANN, -1) == want && wl_rs_replicas(rs) == want &&
	       st(rs, "availableReplicas") == want;
}

static int cmp_created_p(const void *x, const void *y)
{
	return cmp_created(*(json_t *const *)x, *(json_t *const *)y);
}

long wl_rolling_scale_down(const json_t *d, json_t *const *olds, size_t n, const json_t *new_rs,
			   long *out)
{
	_cleanup_free_ size_t *ord = k8c_xcalloc(n ? n : 1, sizeof(*ord));
	_cleanup_free_ json_t **sorted = k8c_xcalloc(n ? n : 1, sizeof(*sorted));
	long old_pods = sum_spec(olds, n), all_pods, min_avail, new_unavail, max_down;
	long total = 0, avail, down, t2 = 0;

	for (size_t i = 0; i < n; i++)
		out[i] = wl_rs_replicas(olds[i]);
	if (old_pods == 0)
		return 0;
	all_pods = old_pods + wl_rs_replicas(new_rs);
	min_avail = wl_deploy_replicas(d) - wl_deploy_max_unavailable(d);
	new_unavail = wl_rs_replicas(new_rs) - st(new_rs, "availableReplicas");
	max_down = all_pods - min_avail - new_unavail;
	if (max_down <= 0)
		return 0;
	memcpy(sorted, olds, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_created_p);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (olds[j] == sorted[i])
				ord[i] = j;
	/* cleanupUnhealthyReplicas */
	for (size_t i = 0; i < n && total < max_down; i++) {
		size_t k = ord[i];
		long unhealthy = out[k] - st(olds[k], "availableReplicas"), c;

		if (out[k] == 0 || unhealthy <= 0)
			continue;
		c = max_down - total < unhealthy ? max_down - total : unhealthy;
		out[k] -= c;
		total += c;
	}
	/* scaleDownOldReplicaSetsForRollingUpdate */
	avail = st(new_rs, "availableReplicas");
	for (size_t i = 0; i < n; i++)
		avail += st(olds[i], "availableReplicas");
	if (avail <= min_avail)
		return total;
	down = avail - min_avail;
	for (size_t i = 0; i < n && t2 < down; i++) {
		size_t k = ord[i];
		long c;

		if (out[k] == 0)
			continue;
		c = out[k] < down - t2 ? out[k] : down - t2;
		out[k] -= c;
		t2 += c;
	}
	return total + t2;
}

json_t *wl_deploy_status(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs,
			 time_t now)
{
	long avail = 0, total = sum_spec(all, n), actual = 0, ready = 0, unavail;
	json_t *conds = json_deep_copy(k8c_at(d, "status.conditions"));
	json_t *s, *cc;

	for (size_t i = 0; i < n; i++) {
		avail += st(all[i], "availableReplicas");
		actual += st(all[i], "replicas");
		ready += st(all[i], "readyReplicas");
	}
	unavail = total - avail < 0 ? 0 : total - avail;
	s = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "observedGeneration",
		      (json_int_t)k8c_int_at(d, "metadata.generation", 0), "replicas",
		      (json_int_t)actual, "updatedReplicas", (json_int_t)st(new_rs, "replicas"),
		      "readyReplicas", (json_int_t)ready, "availableReplicas", (json_int_t)avail,
		      "unavailableReplicas", (json_int_t)unavail);
	/* kube's omitempty: zero counts are left out */
	static const char *const counts[] = {
		"replicas",	     "updatedReplicas",	    "readyReplicas",
		"availableReplicas", "unavailableReplicas", NULL};
	for (const char *const *k = counts; *k; k++)
		if (json_integer_value(json_object_get(s, *k)) == 0)
			json_object_del(s, *k);
	if ((cc = k8c_at(d, "status.collisionCount")))
		json_object_set(s, "collisionCount", cc);
	if (!json_is_array(conds)) {
		json_decref(conds);
		conds = json_array();
	}
	if (avail >= wl_deploy_replicas(d) - wl_deploy_max_unavailable(d))
		wl_set_condition(conds,
				 wl_condition("Available", "True", "MinimumReplicasAvailable",
					      "Deployment has minimum availability.", now, true));
	else
		wl_set_condition(conds,
				 wl_condition("Available", "False", "MinimumReplicasUnavailable",
					      "Deployment does not have minimum availability.", now,
					      true));
	json_object_set_new(s, "conditions", conds);
	return s;
}

bool wl_deploy_complete(const json_t *d, const json_t *status)
{
	long want = wl_deploy_replicas(d);

	return k8c_int_at(status, "updatedReplicas", 0) == want &&
	       k8c_int_at(status, "replicas", 0) == want &&
	       k8c_int_at(status, "availableReplicas", 0) == want &&
	       k8c_int_at(status, "observedGeneration", 0) >=
		       k8c_int_at(d, "metadata.generation", 0);
}

bool wl_deploy_progressing(const json_t *d, const json_t *status)
{
	const json_t *old = json_object_get(d, "status");
	long old_old = k8c_int_at(old, "replicas", 0) - k8c_int_at(old, "updatedReplicas", 0);
	long new_old = k8c_int_at(status, "replicas", 0) - k8c_int_at(status, "updatedReplicas", 0);

	return k8c_int_at(status, "updatedReplicas", 0) > k8c_int_at(old, "updatedReplicas", 0) ||
	       new_old < old_old ||
	       k8c_int_at(status, "readyReplicas", 0) > k8c_int_at(old, "readyReplicas", 0) ||
	       k8c_int_at(status, "availableReplicas", 0) > k8c_int_at(old, "availableReplicas", 0);
}

bool wl_has_progress_deadline(const json_t *d)
{
	json_t *p = k8c_at(d, "spec.progressDeadlineSeconds");

	return json_is_integer(p) && json_integer_value(p) != 2147483647;
}

bool wl_deploy_timed_out(const json_t *d, const json_t *status, time_t now)
{
	json_t *c = wl_get_condition(json_object_get(status, "conditions"), "Progressing");
	const char *reason = json_string_value(json_object_get(c, "reason"));
	time_t from;

	if (!wl_has_progress_deadline(d) || !c)
		return false;
	if (str_eq(reason, "NewReplicaSetAvailable"))
		return false;
	if (str_eq(reason, "ProgressDeadlineExceeded"))
		return true;
	from = k8c_rfc3339_parse(json_string_value(json_object_get(c, "lastUpdateTime")));
	return from >= 0 && from + k8c_int_at(d, "spec.progressDeadlineSeconds", 600) < now;
}

static json_t *annotations_of(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *a = json_object_get(meta, "annotations");

	if (!json_is_object(a)) {
		a = json_object();
		json_object_set_new(meta, "annotations", a);
	}
	return a;
}

static bool set_ann(json_t *obj, const char *k, const char *v)
{
	json_t *a = annotations_of(obj);

	if (str_eq(json_string_value(json_object_get(a, k)), v))
		return false;
	json_object_set_new(a, k, json_string(v));
	return true;
}

bool wl_set_replicas_annotations(json_t *rs, long desired, long max)
{
	char b[32];
	bool changed;

	snprintf(b, sizeof(b), "%ld", desired);
	changed = set_ann(rs, WL_DESIRED_ANN, b);
	snprintf(b, sizeof(b), "%ld", max);
	changed |= set_ann(rs, WL_MAX_ANN, b);
	return changed;
}

static bool skip_copy(const char *k)
{
	return strcmp(k, "kubectl.kubernetes.io/last-applied-configuration") == 0 ||
	       strcmp(k, WL_REVISION_ANN) == 0 || strcmp(k, WL_REVISION_HISTORY_ANN) == 0 ||
	       strcmp(k, WL_DESIRED_ANN) == 0 || strcmp(k, WL_MAX_ANN) == 0 ||
	       strcmp(k, "deprecated.deployment.rollback.to") == 0;
}

bool wl_set_new_rs_annotations(const json_t *d, json_t *rs, long revision, bool exists)
{
	const char *k;
	json_t *v;
	bool changed = false;
	long old;
	char b[32];
	const char *olds;

	json_object_foreach(k8c_at(d, "metadata.annotations"), k, v)
	{
		if (skip_copy(k) || !json_is_string(v))
			continue;
		changed |= set_ann(rs, k, json_string_value(v));
	}
	olds = json_string_value(json_object_get(annotations_of(rs), WL_REVISION_ANN));
	old = wl_ann_long(rs, WL_REVISION_ANN, 0);
	if (olds && *olds && wl_ann_long(rs, WL_REVISION_ANN, -1) < 0)
		return changed; /* unparsable: kube leaves it */
	if (old < revision) {
		_cleanup_free_ char *prev = olds && *olds ? k8c_xstrdup(olds) : NULL;

		snprintf(b, sizeof(b), "%ld", revision);
		set_ann(rs, WL_REVISION_ANN, b);
		changed = true;
		if (prev) {
			const char *h = json_string_value(
				json_object_get(annotations_of(rs), WL_REVISION_HISTORY_ANN));
			_cleanup_free_ char *nh =
				h && *h ? k8c_xasprintf("%s,%s", h, prev) : k8c_xstrdup(prev);

			set_ann(rs, WL_REVISION_HISTORY_ANN, nh);
		}
	}
	if (!exists)
		changed |= wl_set_replicas_annotations(
			rs, wl_deploy_replicas(d), wl_deploy_replicas(d) + wl_deploy_max_surge(d));
	return changed;
}

/* ---- DaemonSet ---- */

bool wl_toleration_tolerates(const json_t *t, const json_t *taint)
{
	const char *eff = json_string_value(json_object_get(t, "effect"));
	const char *key = json_string_value(json_object_get(t, "key"));
	const char *op = json_string_value(json_object_get(t, "operator"));
	const char *val = json_string_value(json_object_get(t, "value"));
	const char *teff = json_string_value(json_object_get(taint, "effect"));
	const char *tkey = json_string_value(json_object_get(taint, "key"));
	const char *tval = json_string_value(json_object_get(taint, "value"));

	if (eff && *eff && !str_eq(eff, teff))
		return false;
	if (key && *key && !str_eq(key, tkey))
		return false;
	if (op && strcmp(op, "Exists") == 0)
		return true;
	if (!op || !*op || strcmp(op, "Equal") == 0)
		return str_eq(val && *val ? val : NULL, tval && *tval ? tval : NULL);
	return false;
}

static bool requirement_matches(const json_t *req, const char *have)
{
	const char *op = json_string_value(json_object_get(req, "operator"));
	json_t *vals = json_object_get(req, "values");
	size_t i;
	json_t *v;
	bool in = false;

	if (!op)
		return false;
	json_array_foreach(vals, i, v) if (have && str_eq(json_string_value(v), have)) in = true;
	if (strcmp(op, "In") == 0)
		return in;
	if (strcmp(op, "NotIn") == 0)
		return !in;
	if (strcmp(op, "Exists") == 0)
		return have != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return have == NULL;
	if ((strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) && have &&
	    json_array_size(vals) == 1) {
		long a = atol(have), b = atol(json_string_value(json_array_get(vals, 0)) ?: "0");

		return op[0] == 'G' ? a > b : a < b;
	}
	return false;
}

static bool term_matches(const json_t *term, const json_t *node)
{
	json_t *exprs = json_object_get(term, "matchExpressions");
	json_t *fields = json_object_get(term, "matchFields");
	json_t *labels = k8c_at(node, "metadata.labels");
	size_t i;
	json_t *r;

	if (!json_array_size(exprs) && !json_array_size(fields))
		return false;
	json_array_foreach(exprs, i, r)
	{
		const char *k = json_string_value(json_object_get(r, "key"));

		if (!k || !requirement_matches(r, json_string_value(json_object_get(labels, k))))
			return false;
	}
	json_array_foreach(fields, i, r)
	{
		const char *k = json_string_value(json_object_get(r, "key"));

		if (!k || strcmp(k, "metadata.name") != 0 ||
		    !requirement_matches(r, k8c_str_at(node, "metadata.name")))
			return false;
	}
	return true;
}

bool wl_node_selector_matches(const json_t *ns, const json_t *node)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(ns, "nodeSelectorTerms"), i,
			   t) if (term_matches(t, node)) return true;
	return false;
}

void wl_node_should_run(const json_t *spec, const json_t *node, bool *should_run,
			bool *should_continue)
{
	_cleanup_json_ json_t *s = json_deep_copy(spec);
	json_t *req, *taint, *tols;
	size_t i, j;

	*should_run = *should_continue = false;
	wl_add_daemon_tolerations(s);
	if (!k8c_map_selector_matches(json_object_get(s, "nodeSelector"),
				      k8c_at(node, "metadata.labels")))
		return;
	req = k8c_at(s, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
	if (req && !wl_node_selector_matches(req, node))
		return;
	*should_run = *should_continue = true;
	tols = json_object_get(s, "tolerations");
	json_array_foreach(k8c_at(node, "spec.taints"), i, taint)
	{
		const char *eff = json_string_value(json_object_get(taint, "effect"));
		bool ok = false;
		json_t *t;

		if (!eff || (strcmp(eff, "NoSchedule") != 0 && strcmp(eff, "NoExecute") != 0))
			continue;
		json_array_foreach(tols, j, t) if (wl_toleration_tolerates(t, taint)) ok = true;
		if (ok)
			continue;
		*should_run = false;
		if (strcmp(eff, "NoExecute") == 0)
			*should_continue = false;
	}
}

static void add_toleration(json_t *spec, const char *key, const char *effect)
{
	json_t *tols = json_object_get(spec, "tolerations");
	size_t i;
	json_t *t;

	if (!json_is_array(tols)) {
		tols = json_array();
		json_object_set_new(spec, "tolerations", tols);
	}
	json_array_foreach(tols, i, t)
	{
		if (str_eq(json_string_value(json_object_get(t, "key")), key) &&
		    str_eq(json_string_value(json_object_get(t, "effect")), effect) &&
		    str_eq(json_string_value(json_object_get(t, "operator")), "Exists"))
			return;
	}
	json_array_append_new(tols, json_pack("{s:s, s:s, s:s}", "key", key, "operator", "Exists",
					      "effect", effect));
}

void wl_add_daemon_tolerations(json_t *spec)
{
	add_toleration(spec, "node.kubernetes.io/not-ready", "NoExecute");
	add_toleration(spec, "node.kubernetes.io/unreachable", "NoExecute");
	add_toleration(spec, "node.kubernetes.io/disk-pressure", "NoSchedule");
	add_toleration(spec, "node.kubernetes.io/memory-pressure", "NoSchedule");
	add_toleration(spec, "node.kubernetes.io/pid-pressure", "NoSchedule");
	add_toleration(spec, "node.kubernetes.io/unschedulable", "NoSchedule");
	if (json_is_true(json_object_get(spec, "hostNetwork")))
		add_toleration(spec, "node.kubernetes.io/network-unavailable", "NoSchedule");
}

static json_t *obj_child(json_t *o, const char *k)
{
	json_t *c = json_object_get(o, k);

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(o, k, c);
	}
	return c;
}

void wl_set_node_name_affinity(json_t *spec, const char *node)
{
	json_t *na = obj_child(obj_child(spec, "affinity"), "nodeAffinity");
	json_t *req = obj_child(na, "requiredDuringSchedulingIgnoredDuringExecution");
	json_t *terms = json_object_get(req, "nodeSelectorTerms");
	json_t *field = json_pack("[{s:s, s:s, s:[s]}]", "key", "metadata.name", "operator", "In",
				  "values", node);
	size_t i;
	json_t *t;

	if (!json_array_size(terms)) {
		json_object_set_new(req, "nodeSelectorTerms",
				    json_pack("[{s:o}]", "matchFields", field));
		return;
	}
	json_array_foreach(terms, i, t) json_object_set(t, "matchFields", field);
	json_decref(field);
}

const char *wl_daemon_pod_node(const json_t *pod)
{
	const char *n = k8c_str_at(pod, "spec.nodeName");
	json_t *terms =
		k8c_at(pod, "spec.affinity.nodeAffinity."
			    "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
	size_t i, j;
	json_t *t, *f;

	if (n && *n)
		return n;
	json_array_foreach(terms, i, t)
	{
		json_array_foreach(json_object_get(t, "matchFields"), j, f)
		{
			json_t *v = json_object_get(f, "values");

			if (str_eq(json_string_value(json_object_get(f, "key")), "metadata.name") &&
			    str_eq(json_string_value(json_object_get(f, "operator")), "In") &&
			    json_array_size(v) == 1)
				return json_string_value(json_array_get(v, 0));
		}
	}
	return NULL;
}

/* ---- expectations ---- */

struct wl_expectations {
	json_t *m; /* key -> {"add": n, "del": {podkey: true}, "ts": t} */
};

struct wl_expectations *wl_expectations_new(void)
{
	struct wl_expectations *e = k8c_xcalloc(1, sizeof(*e));

	e->m = json_object();
	return e;
}

void wl_expectations_free(struct wl_expectations *e)
{
	if (!e)
		return;
	json_decref(e->m);
	free(e);
}

static json_t *exp_entry(struct wl_expectations *e, const char *key, time_t now)
{
	json_t *x = json_object_get(e->m, key);

	if (!x) {
		x = json_pack("{s:I, s:{}}", "add", (json_int_t)0, "del");
		json_object_set_new(e->m, key, x);
	}
	json_object_set_new(x, "ts", json_integer(now));
	return x;
}

void wl_expect_creations(struct wl_expectations *e, const char *key, long adds, time_t now)
{
	json_t *x = exp_entry(e, key, now);

	json_object_set_new(x, "add", json_integer(adds));
}

void wl_expect_deletion(struct wl_expectations *e, const char *key, const char *pod_key, time_t now)
{
	json_t *x = exp_entry(e, key, now);

	json_object_set_new(json_object_get(x, "del"), pod_key, json_true());
}

void wl_creation_observed(struct wl_expectations *e, const char *key)
{
	json_t *x = json_object_get(e->m, key);
	json_int_t a;

	if (!x)
		return;
	a = json_integer_value(json_object_get(x, "add"));
	if (a > 0)
		json_object_set_new(x, "add", json_integer(a - 1));
}

void wl_deletion_observed(struct wl_expectations *e, const char *key, const char *pod_key)
{
	json_t *x = json_object_get(e->m, key);

	if (x)
		json_object_del(json_object_get(x, "del"), pod_key);
}

bool wl_expectations_satisfied(struct wl_expectations *e, const char *key, time_t now)
{
	json_t *x = json_object_get(e->m, key);

	if (!x)
		return true;
	if (json_integer_value(json_object_get(x, "add")) <= 0 &&
	    json_object_size(json_object_get(x, "del")) == 0)
		return true;
	return now - json_integer_value(json_object_get(x, "ts")) > WL_EXPECTATIONS_TTL_S;
}

void wl_expectations_delete(struct wl_expectations *e, const char *key)
{
	json_object_del(e->m, key);
}

/* ---- index helpers ---- */

char *wl_orphan_index_key(const char *ns)
{
	return k8c_xasprintf("-orphan/%s", ns ? ns : "");
}

char *wl_index_by_controller(const json_t *obj)
{
	json_t *ref = k8c_controller_ref(obj);
	const char *uid = json_string_value(json_object_get(ref, "uid"));

	if (uid)
		return k8c_xstrdup(uid);
	return wl_orphan_index_key(k8c_str_at(obj, "metadata.namespace"));
}

json_t **wl_bucket(json_t *bucket, size_t *n)
{
	json_t **v = k8c_xcalloc(json_object_size(bucket) + 1, sizeof(*v));
	size_t i = 0;
	const char *k;
	json_t *o;

	json_object_foreach(bucket, k, o) v[i++] = o;
	if (n)
		*n = i;
	return v;
}

static json_t *transform(json_t *obj, const char *api_version, const char *kind)
{
	json_t *c = json_copy(obj);
	json_t *meta = json_object_get(c, "metadata");

	if (json_object_get(meta, "managedFields")) {
		meta = json_copy(meta);
		json_object_del(meta, "managedFields");
		json_object_set_new(c, "metadata", meta);
	}
	if (api_version && !json_object_get(c, "apiVersion"))
		json_object_set_new(c, "apiVersion", json_string(api_version));
	if (kind && !json_object_get(c, "kind"))
		json_object_set_new(c, "kind", json_string(kind));
	return c;
}

json_t *wl_transform_pod(json_t *obj)
{
	return transform(obj, "v1", "Pod");
}

json_t *wl_transform_rs(json_t *obj)
{
	return transform(obj, "apps/v1", "ReplicaSet");
}

json_t *wl_transform_rc(json_t *obj)
{
	return transform(obj, "v1", "ReplicationController");
}

json_t *wl_transform_deploy(json_t *obj)
{
	return transform(obj, "apps/v1", "Deployment");
}

json_t *wl_transform_ds(json_t *obj)
{
	return transform(obj, "apps/v1", "DaemonSet");
}

json_t *wl_transform_sts(json_t *obj)
{
	return transform(obj, "apps/v1", "StatefulSet");
}

json_t *wl_transform_plain(json_t *obj)
{
	return transform(obj, NULL, NULL);
}

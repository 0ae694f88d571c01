/* The pure logic of the workload controllers (control/ctrl_wl_logic.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctrl_workloads.h"
#include "objutil.h"

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, 0, &e);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", e.text, s);
	return v;
}

static void intstr(void **state)
{
	json_t *p25 = json_string("25%"), *i3 = json_integer(3), *z = json_integer(0);
	json_t *bad = json_string("x%");
	long s, u;

	(void)state;
	assert_int_equal(wl_scaled_value(p25, 10, true, 0), 3);
	assert_int_equal(wl_scaled_value(p25, 10, false, 0), 2);
	assert_int_equal(wl_scaled_value(i3, 10, false, 0), 3);
	assert_int_equal(wl_scaled_value(NULL, 10, false, 7), 7);
	assert_int_equal(wl_scaled_value(bad, 10, false, 0), -1);
	wl_fenceposts(p25, p25, 10, &s, &u);
	assert_int_equal(s, 3);
	assert_int_equal(u, 2);
	/* both zero: maxUnavailable becomes 1 */
	wl_fenceposts(z, z, 10, &s, &u);
	assert_int_equal(s, 0);
	assert_int_equal(u, 1);
	/* 25% of 1: surge rounds up to 1, unavailable down to 0 */
	wl_fenceposts(NULL, NULL, 1, &s, &u);
	assert_int_equal(s, 1);
	assert_int_equal(u, 0);
	json_decref(p25);
	json_decref(i3);
	json_decref(z);
	json_decref(bad);
}

static void deploy_max(void **state)
{
	json_t *d = J("{\"spec\":{\"replicas\":4,\"strategy\":{\"type\":\"RollingUpdate\","
		      "\"rollingUpdate\":{\"maxSurge\":\"50%\",\"maxUnavailable\":9}}}}");
	json_t *r = J("{\"spec\":{\"replicas\":4,\"strategy\":{\"type\":\"Recreate\"}}}");

	(void)state;
	assert_int_equal(wl_deploy_max_surge(d), 2);
	assert_int_equal(wl_deploy_max_unavailable(d), 4); /* capped at replicas */
	assert_int_equal(wl_deploy_max_surge(r), 0);
	assert_int_equal(wl_deploy_max_unavailable(r), 0);
	json_decref(d);
	json_decref(r);
}

static void hashing(void **state)
{
	json_t *t1 = J("{\"metadata\":{\"labels\":{\"app\":\"a\"}},\"spec\":{\"containers\":"
		       "[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}");
	json_t *t1b = J("{\"spec\":{\"containers\":[{\"image\":\"nginx:1\",\"name\":\"c\"}]},"
			"\"metadata\":{\"labels\":{\"app\":\"a\"}}}");
	json_t *t2 = J("{\"metadata\":{\"labels\":{\"app\":\"a\",\"pod-template-hash\":\"x\"}},"
		       "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}");
	json_t *t3 = J("{\"metadata\":{\"labels\":{\"app\":\"a\"}},\"spec\":{\"containers\":"
		       "[{\"name\":\"c\",\"image\":\"nginx:2\"}]}}");
	char h1[11], h1b[11], h2[11], hc[11];

	(void)state;
	wl_template_hash(t1, -1, h1);
	wl_template_hash(t1b, -1, h1b);
	wl_template_hash(t3, -1, h2);
	wl_template_hash(t1, 1, hc);
	assert_string_equal(h1, h1b); /* key order does not matter */
	assert_string_not_equal(h1, h2);
	assert_string_not_equal(h1, hc);
	assert_true(strlen(h1) >= 1 && strlen(h1) <= 10);
	assert_int_equal(strspn(h1, "bcdfghjklmnpqrstvwxz2456789"), strlen(h1));
	assert_true(wl_templates_equal_ignore_hash(t1, t2));
	/* kubectl rollout undo sends "creationTimestamp": null */
	json_object_set_new(json_object_get(t2, "metadata"), "creationTimestamp", json_null());
	assert_true(wl_templates_equal_ignore_hash(t1, t2));
	wl_template_hash(t2, -1, h1b);
	json_object_del(json_object_get(json_object_get(t2, "metadata"), "labels"),
			"pod-template-hash");
	wl_template_hash(t2, -1, h1b);
	assert_string_equal(h1, h1b);
	assert_false(wl_templates_equal_ignore_hash(t1, t3));
	json_decref(t1);
	json_decref(t1b);
	json_decref(t2);
	json_decref(t3);
}

static int fail_from;

static int try(void *arg, int i)
{
	int *calls = arg;

	(*calls)++;
	return fail_from >= 0 && i >= fail_from ? -1 : 0;
}

static void slow_start(void **state)
{
	int calls = 0, tried;

	(void)state;
	fail_from = -1;
	assert_int_equal(wl_slow_start(10, 1, try, &calls, &tried), 10);
	assert_int_equal(tried, 10);
	/* batches 1, 2, 4, 3: the 5th call (index 4) fails inside the batch of 4, which still
	 * runs to its end, and no later batch starts */
	calls = 0;
	fail_from = 4;
	assert_int_equal(wl_slow_start(10, 1, try, &calls, &tried), 4);
	assert_int_equal(tried, 7);
	assert_int_equal(calls, 7);
	fail_from = 0;
	assert_int_equal(wl_slow_start(5, 1, try, &calls, &tried), 0);
	assert_int_equal(tried, 1);
}

/* The batches as the parallel runner sees them: sizes 1, 2, 4, 8, 5 for 20; a failure in one
 * ends the run after it. */
struct batches {
	int sizes[16], firsts[16], n, fail_in;
};

static int record_batch(void *arg, int first, int n)
{
	struct batches *b = arg;

	b->firsts[b->n] = first;
	b->sizes[b->n++] = n;
	return b->n == b->fail_in ? 2 : 0;
}

static void slow_start_batches(void **state)
{
	struct batches b = {.fail_in = -1};
	int tried;

	(void)state;
	assert_int_equal(wl_slow_start_batches(20, 1, record_batch, &b, &tried), 20);
	assert_int_equal(tried, 20);
	assert_int_equal(b.n, 5);
	assert_int_equal(b.sizes[0], 1);
	assert_int_equal(b.sizes[3], 8);
	assert_int_equal(b.sizes[4], 5);
	assert_int_equal(b.firsts[4], 15);
	b = (struct batches){.fail_in = 3}; /* two of the batch of 4 fail */
	assert_int_equal(wl_slow_start_batches(20, 1, record_batch, &b, &tried), 5);
	assert_int_equal(tried, 7);
	assert_int_equal(b.n, 3);
}

static void deletion_order(void **state)
{
	json_t *unassigned = J("{\"metadata\":{\"name\":\"u\"},\"spec\":{}}");
	json_t *pending = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":\"n1\"},"
			    "\"status\":{\"phase\":\"Pending\"}}");
	json_t *notready = J("{\"metadata\":{\"name\":\"nr\"},\"spec\":{\"nodeName\":\"n2\"},"
			     "\"status\":{\"phase\":\"Running\"}}");
	json_t *old = J("{\"metadata\":{\"name\":\"old\",\"creationTimestamp\":"
			"\"2026-01-01T00:00:00Z\"},\"spec\":{\"nodeName\":\"n3\"},\"status\":{"
			"\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
			"\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}");
	json_t *newer = J("{\"metadata\":{\"name\":\"new\",\"creationTimestamp\":"
			  "\"2026-01-02T00:00:00Z\"},\"spec\":{\"nodeName\":\"n4\"},\"status\":{"
			  "\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
			  "\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}");
	json_t *pods[] = {old, newer, notready, pending, unassigned};

	(void)state;
	wl_sort_pods_for_deletion(pods, 5, pods, 5);
	assert_ptr_equal(pods[0], unassigned);
	assert_ptr_equal(pods[1], pending);
	assert_ptr_equal(pods[2], notready);
	assert_ptr_equal(pods[3], newer);
	assert_ptr_equal(pods[4], old);
	for (int i = 0; i < 5; i++)
		json_decref(pods[i]);
}

static void deletion_doubled_up(void **state)
{
#define POD_ON(name, node)                                                                         \
	"{\"metadata\":{\"name\":\"" name "\",\"creationTimestamp\":"                              \
	"\"2026-01-01T00:00:00Z\"},\"spec\":{\"nodeName\":\"" node "\"},\"status\":{"              \
	"\"phase\":\"Running\"}}"
	json_t *p[3];

	(void)state;
	p[0] = J(POD_ON("a", "n1"));
	p[1] = J(POD_ON("b", "n2"));
	p[2] = J(POD_ON("c", "n2"));
	/* two pods on n2: one of them goes first */
	wl_sort_pods_for_deletion(p, 3, p, 3);
	assert_string_equal(k8c_str_at(p[0], "spec.nodeName"), "n2");
	assert_string_equal(k8c_str_at(p[2], "spec.nodeName"), "n1");
	for (int i = 0; i < 3; i++)
		json_decref(p[i]);
}

static void rs_status(void **state)
{
	json_t *rs =
		J("{\"metadata\":{\"generation\":3},\"spec\":{\"replicas\":3,"
		  "\"minReadySeconds\":10,\"template\":{\"metadata\":{\"labels\":{\"app\":\"a\","
		  "\"v\":\"1\"}}}}}");
	json_t *a = J("{\"metadata\":{\"labels\":{\"app\":\"a\",\"v\":\"1\"}},\"status\":{"
		      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		      "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}");
	json_t *b = J("{\"metadata\":{\"labels\":{\"app\":\"a\"}},\"status\":{"
		      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		      "\"lastTransitionTime\":\"2026-01-01T00:00:05Z\"}]}}");
	json_t *pods[] = {a, b};
	time_t now = k8c_rfc3339_parse("2026-01-01T00:00:12Z");
	json_t *s = wl_rs_status(rs, pods, 2, NULL, NULL, now);

	(void)state;
	assert_int_equal(k8c_int_at(s, "replicas", -1), 2);
	assert_int_equal(k8c_int_at(s, "fullyLabeledReplicas", -1), 1);
	assert_int_equal(k8c_int_at(s, "readyReplicas", -1), 2);
	assert_int_equal(k8c_int_at(s, "availableReplicas", -1), 1); /* b ready 7 s < 10 s */
	assert_int_equal(k8c_int_at(s, "observedGeneration", -1), 3);
	assert_null(json_object_get(s, "conditions"));
	json_decref(s);
	s = wl_rs_status(rs, pods, 2, "FailedCreate", "pods \"x\" is forbidden: quota", now);
	assert_string_equal(
		k8c_str_at(json_array_get(json_object_get(s, "conditions"), 0), "reason"),
		"FailedCreate");
	json_object_set_new(rs, "status", s);
	s = wl_rs_status(rs, pods, 2, NULL, NULL, now);
	assert_null(json_object_get(s, "conditions")); /* cleared once creates work */
	json_decref(s);
	json_decref(rs);
	json_decref(a);
	json_decref(b);
}

static void conditions(void **state)
{
	json_t *conds = json_array();
	json_t *c;

	(void)state;
	wl_set_condition(conds, wl_condition("Progressing", "True", "NewReplicaSetCreated", "m",
					     1000, true));
	/* same status, other reason: replaced, the transition time kept */
	wl_set_condition(
		conds, wl_condition("Progressing", "True", "ReplicaSetUpdated", "m2", 2000, true));
	c = wl_get_condition(conds, "Progressing");
	assert_string_equal(k8c_str_at(c, "reason"), "ReplicaSetUpdated");
	assert_int_equal(k8c_rfc3339_parse(k8c_str_at(c, "lastTransitionTime")), 1000);
	assert_int_equal(k8c_rfc3339_parse(k8c_str_at(c, "lastUpdateTime")), 2000);
	/* same status and reason: untouched */
	wl_set_condition(
		conds, wl_condition("Progressing", "True", "ReplicaSetUpdated", "m3", 3000, true));
	assert_string_equal(k8c_str_at(wl_get_condition(conds, "Progressing"), "message"), "m2");
	wl_set_condition(conds, wl_condition("Progressing", "False", "ProgressDeadlineExceeded",
					     "m4", 4000, true));
	assert_int_equal(k8c_rfc3339_parse(k8c_str_at(wl_get_condition(conds, "Progressing"),
						      "lastTransitionTime")),
			 4000);
	assert_int_equal(json_array_size(conds), 1);
	wl_remove_condition(conds, "Progressing");
	assert_int_equal(json_array_size(conds), 0);
	json_decref(conds);
}

static json_t *rs(const char *name, const char *created, long spec, long avail, long maxann)
{
	char b[512];

	snprintf(b, sizeof(b),
		 "{\"metadata\":{\"name\":\"%s\",\"creationTimestamp\":\"%s\",\"annotations\":{"
		 "\"deployment.kubernetes.io/max-replicas\":\"%ld\"}},\"spec\":{\"replicas\":%ld},"
		 "\"status\":{\"replicas\":%ld,\"availableReplicas\":%ld,\"readyReplicas\":%ld}}",
		 name, created, maxann, spec, spec, avail, avail);
	return J(b);
}

static void rolling(void **state)
{
	/* 10 replicas, 25%: surge 3, unavailable 2 */
	json_t *d = J("{\"spec\":{\"replicas\":10}}");
	json_t *old = rs("old", "2026-01-01T00:00:00Z", 10, 10, 13);
	json_t *nw = rs("new", "2026-01-02T00:00:00Z", 0, 0, 13);
	json_t *all[] = {old, nw};
	long out[1];

	(void)state;
	/* the first step: the new RS surges to 3 */
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nw), 3);
	json_object_set_new(json_object_get(nw, "spec"), "replicas", json_integer(3));
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nw), 3); /* at 13 already */
	/* scale down: 13 pods, min available 8, new unavailable 3: down to 8 (by 2) */
	assert_int_equal(wl_rolling_scale_down(d, (json_t *[]){old}, 1, nw, out), 2);
	assert_int_equal(out[0], 8);
	/* an old RS with unhealthy pods loses those first */
	json_object_set_new(json_object_get(old, "status"), "availableReplicas", json_integer(7));
	assert_int_equal(wl_rolling_scale_down(d, (json_t *[]){old}, 1, nw, out), 2);
	assert_int_equal(out[0], 8);
	json_decref(d);
	json_decref(old);
	json_decref(nw);
}

static void proportional(void **state)
{
	/* kube's example: a 10-replica deployment (surge 3) scaled to 15 (surge 4) mid-rollout,
	 * RSes at 8 and 5 annotated with max-replicas 13 */
	json_t *d = J("{\"spec\":{\"replicas\":15},\"status\":{\"replicas\":13}}");
	json_t *a = rs("a", "2026-01-01T00:00:00Z", 8, 8, 13);
	json_t *b = rs("b", "2026-01-02T00:00:00Z", 5, 0, 13);
	json_t *all[] = {a, b};
	long out[2];

	(void)state;
	wl_proportional_scale(d, all, 2, out);
	/* allowed 19, add 6: a 8*19/13=11.7 -> 12 (+4), b 5*19/13=7.3 -> 7 (+2) */
	assert_int_equal(out[0], 12);
	assert_int_equal(out[1], 7);
	/* scaled down to 5 (surge 2): allowed 7, remove 6 */
	json_object_set_new(json_object_get(d, "spec"), "replicas", json_integer(5));
	wl_proportional_scale(d, all, 2, out);
	assert_int_equal(out[0] + out[1], 7);
	assert_int_equal(out[0], 4); /* 8*7/13 = 4.3 */
	assert_int_equal(out[1], 3); /* 5*7/13 = 2.7 */
	json_decref(d);
	json_decref(a);
	json_decref(b);
}

static void active_or_latest(void **state)
{
	json_t *a = rs("a", "2026-01-01T00:00:00Z", 0, 0, 1);
	json_t *b = rs("b", "2026-01-02T00:00:00Z", 0, 0, 1);
	json_t *c = rs("c", "2026-01-03T00:00:00Z", 2, 0, 1);
	json_t *olds[] = {a, b};

	(void)state;
	assert_int_equal(wl_find_active_or_latest(NULL, olds, 2), 2); /* newest old: b */
	assert_int_equal(wl_find_active_or_latest(c, olds, 2), 0);
	json_object_set_new(json_object_get(a, "spec"), "replicas", json_integer(1));
	assert_int_equal(wl_find_active_or_latest(c, olds, 2), -1); /* two active */
	assert_int_equal(wl_find_active_or_latest(NULL, NULL, 0), -1);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void deploy_status(void **state)
{
	json_t *d = J("{\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":3,"
		      "\"progressDeadlineSeconds\":600},\"status\":{\"observedGeneration\":1,"
		      "\"replicas\":3,\"updatedReplicas\":1}}");
	json_t *old = rs("old", "2026-01-01T00:00:00Z", 1, 1, 4);
	json_t *nw = rs("new", "2026-01-02T00:00:00Z", 3, 2, 4);
	json_t *all[] = {old, nw};
	json_t *s = wl_deploy_status(d, all, 2, nw, 5000);

	(void)state;
	assert_int_equal(k8c_int_at(s, "replicas", -1), 4);
	assert_int_equal(k8c_int_at(s, "updatedReplicas", -1), 3);
	assert_int_equal(k8c_int_at(s, "availableReplicas", -1), 3);
	assert_int_equal(k8c_int_at(s, "unavailableReplicas", -1), 1);
	assert_int_equal(k8c_int_at(s, "observedGeneration", -1), 2);
	assert_string_equal(
		k8c_str_at(wl_get_condition(json_object_get(s, "conditions"), "Available"),
			   "status"),
		"True");
	assert_false(wl_deploy_complete(d, s));
	assert_true(wl_deploy_progressing(d, s));
	json_decref(s);
	json_object_set_new(json_object_get(old, "spec"), "replicas", json_integer(0));
	json_object_set_new(json_object_get(old, "status"), "replicas", json_integer(0));
	json_object_set_new(json_object_get(old, "status"), "availableReplicas", json_integer(0));
	json_object_set_new(json_object_get(nw, "status"), "availableReplicas", json_integer(3));
	s = wl_deploy_status(d, all, 2, nw, 5000);
	assert_true(wl_deploy_complete(d, s));
	json_decref(s);
	json_decref(d);
	json_decref(old);
	json_decref(nw);
}

static void timed_out(void **state)
{
	json_t *d = J("{\"spec\":{\"progressDeadlineSeconds\":10}}");
	json_t *s = J("{\"conditions\":[{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":"
		      "\"ReplicaSetUpdated\",\"lastUpdateTime\":\"2026-01-01T00:00:00Z\"}]}");
	time_t t0 = k8c_rfc3339_parse("2026-01-01T00:00:00Z");

	(void)state;
	assert_true(wl_has_progress_deadline(d));
	assert_false(wl_deploy_timed_out(d, s, t0 + 10));
	assert_true(wl_deploy_timed_out(d, s, t0 + 11));
	json_decref(d);
	json_decref(s);
}

static void revisions(void **state)
{
	json_t *d = J("{\"metadata\":{\"annotations\":{\"team\":\"x\",\"kubectl.kubernetes.io/"
		      "last-applied-configuration\":\"{}\",\"deployment.kubernetes.io/revision\":"
		      "\"9\"}},\"spec\":{\"replicas\":4}}");
	json_t *r = J("{\"metadata\":{\"annotations\":{\"deployment.kubernetes.io/revision\":"
		      "\"2\"}}}");
	json_t *a;
	json_t *list[] = {r};

	(void)state;
	assert_true(wl_set_new_rs_annotations(d, r, 5, true));
	a = k8c_at(r, "metadata.annotations");
	assert_string_equal(json_string_value(json_object_get(a, WL_REVISION_ANN)), "5");
	assert_string_equal(json_string_value(json_object_get(a, WL_REVISION_HISTORY_ANN)), "2");
	assert_string_equal(json_string_value(json_object_get(a, "team")), "x");
	assert_null(json_object_get(a, "kubectl.kubernetes.io/last-applied-configuration"));
	assert_null(json_object_get(a, WL_DESIRED_ANN)); /* exists: not touched */
	assert_int_equal(wl_max_revision(list, 1), 5);
	assert_false(wl_set_new_rs_annotations(d, r, 5, true));
	assert_true(wl_set_new_rs_annotations(d, r, 5, false));
	assert_string_equal(json_string_value(json_object_get(a, WL_DESIRED_ANN)), "4");
	assert_string_equal(json_string_value(json_object_get(a, WL_MAX_ANN)), "5");
	json_decref(d);
	json_decref(r);
}

static void daemon_nodes(void **state)
{
	json_t *spec = J("{\"nodeSelector\":{\"role\":\"w\"}}");
	json_t *n1 = J("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"role\":\"w\"}}}");
	json_t *n2 = J("{\"metadata\":{\"name\":\"n2\",\"labels\":{\"role\":\"w\"}},\"spec\":{"
		       "\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":"
		       "\"NoSchedule\"}]}}");
	json_t *n3 = J("{\"metadata\":{\"name\":\"n3\",\"labels\":{\"role\":\"w\"}},\"spec\":{"
		       "\"taints\":[{\"key\":\"gone\",\"effect\":\"NoExecute\"}]}}");
	json_t *n4 = J("{\"metadata\":{\"name\":\"n4\",\"labels\":{\"role\":\"x\"}},\"spec\":{"
		       "\"unschedulable\":true,\"taints\":[{\"key\":\"node.kubernetes.io/"
		       "unschedulable\",\"effect\":\"NoSchedule\"}]}}");
	json_t *n5 = J("{\"metadata\":{\"name\":\"n5\",\"labels\":{\"role\":\"w\"}},\"spec\":{"
		       "\"taints\":[{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":"
		       "\"NoSchedule\"}]}}");
	json_t *tol = J("{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"db\"}");
	bool run, cont;

	(void)state;
	wl_node_should_run(spec, n1, &run, &cont);
	assert_true(run && cont);
	wl_node_should_run(spec, n2, &run, &cont);
	assert_false(run);
	assert_true(cont); /* NoSchedule: an existing pod stays */
	wl_node_should_run(spec, n3, &run, &cont);
	assert_false(run || cont);
	wl_node_should_run(spec, n4, &run, &cont); /* selector */
	assert_false(run || cont);
	wl_node_should_run(spec, n5, &run, &cont); /* daemon pods tolerate unschedulable */
	assert_true(run && cont);
	json_object_set_new(spec, "tolerations", json_pack("[O]", tol));
	wl_node_should_run(spec, n2, &run, &cont);
	assert_true(run && cont);
	assert_true(wl_toleration_tolerates(tol, json_array_get(k8c_at(n2, "spec.taints"), 0)));
	assert_false(wl_toleration_tolerates(tol, json_array_get(k8c_at(n3, "spec.taints"), 0)));
	/* the node-name affinity, and reading it back */
	wl_set_node_name_affinity(spec, "n2");
	{
		json_t *pod = json_pack("{s:O}", "spec", spec);

		assert_string_equal(wl_daemon_pod_node(pod), "n2");
		assert_true(wl_node_selector_matches(
			k8c_at(spec, "affinity.nodeAffinity."
				     "requiredDuringSchedulingIgnoredDuringExecution"),
			n2));
		assert_false(wl_node_selector_matches(
			k8c_at(spec, "affinity.nodeAffinity."
				     "requiredDuringSchedulingIgnoredDuringExecution"),
			n1));
		json_decref(pod);
	}
	json_decref(spec);
	json_decref(n1);
	json_decref(n2);
	json_decref(n3);
	json_decref(n4);
	json_decref(n5);
	json_decref(tol);
}

static void expectations(void **state)
{
	struct wl_expectations *e = wl_expectations_new();

	(void)state;
	assert_true(wl_expectations_satisfied(e, "ns/a", 100));
	wl_expect_creations(e, "ns/a", 2, 100);
	assert_false(wl_expectations_satisfied(e, "ns/a", 100));
	wl_creation_observed(e, "ns/a");
	assert_false(wl_expectations_satisfied(e, "ns/a", 100));
	wl_creation_observed(e, "ns/a");
	assert_true(wl_expectations_satisfied(e, "ns/a", 100));
	wl_expect_deletion(e, "ns/a", "ns/p1", 100);
	assert_false(wl_expectations_satisfied(e, "ns/a", 100));
	wl_deletion_observed(e, "ns/a", "ns/other");
	assert_false(wl_expectations_satisfied(e, "ns/a", 100));
	/* expired after five minutes */
	assert_true(wl_expectations_satisfied(e, "ns/a", 100 + WL_EXPECTATIONS_TTL_S + 1));
	wl_deletion_observed(e, "ns/a", "ns/p1");
	assert_true(wl_expectations_satisfied(e, "ns/a", 100));
	wl_expectations_free(e);
}

static void pod_template(void **state)
{
	json_t *tmpl = J("{\"metadata\":{\"labels\":{\"app\":\"a\"},\"annotations\":{\"x\":\"y\"}},"
			 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
	json_t *owner = J("{\"metadata\":{\"name\":\"web\",\"uid\":\"u1\"}}");
	json_t *ref = wl_controller_ref(owner, "apps/v1", "ReplicaSet");
	json_t *pod = wl_pod_from_template(tmpl, "ns", "web", ref);
	json_t *r = json_array_get(k8c_at(pod, "metadata.ownerReferences"), 0);
	char *ix;

	(void)state;
	assert_string_equal(k8c_str_at(pod, "metadata.generateName"), "web-");
	assert_string_equal(k8c_str_at(pod, "metadata.labels.app"), "a");
	assert_string_equal(k8c_str_at(r, "uid"), "u1");
	assert_true(json_is_true(json_object_get(r, "controller")));
	assert_true(json_is_true(json_object_get(r, "blockOwnerDeletion")));
	assert_string_equal(k8c_str_at(pod, "spec.containers.0.name") ?: "c", "c");
	ix = wl_index_by_controller(pod);
	assert_string_equal(ix, "u1");
	free(ix);
	json_object_del(json_object_get(pod, "metadata"), "ownerReferences");
	ix = wl_index_by_controller(pod);
	assert_string_equal(ix, "-orphan/ns");
	free(ix);
	json_decref(tmpl);
	json_decref(owner);
	json_decref(ref);
	json_decref(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(intstr),
		cmocka_unit_test(deploy_max),
		cmocka_unit_test(hashing),
		cmocka_unit_test(slow_start),
		cmocka_unit_test(slow_start_batches),
		cmocka_unit_test(deletion_order),
		cmocka_unit_test(deletion_doubled_up),
		cmocka_unit_test(rs_status),
		cmocka_unit_test(conditions),
		cmocka_unit_test(rolling),
		cmocka_unit_test(proportional),
		cmocka_unit_test(active_or_latest),
		cmocka_unit_test(deploy_status),
		cmocka_unit_test(timed_out),
		cmocka_unit_test(revisions),
		cmocka_unit_test(daemon_nodes),
		cmocka_unit_test(expectations),
		cmocka_unit_test(pod_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

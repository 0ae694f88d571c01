#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sched_fit.h"

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, 0, &e);

	if (!v)
		fprintf(stderr, "bad JSON in test: %s: %s\n", e.text, s);
	assert_non_null(v);
	return v;
}

/* A Ready node with cpu/memory allocatable; extra is merged into it (JSON text or NULL). */
static json_t *node(const char *name, const char *cpu, const char *mem, const char *extra)
{
	json_t *n = json_pack("{s:{s:s,s:{s:s}},s:{s:{s:s,s:s,s:s},s:[{s:s,s:s}]}}", "metadata",
			      "name", name, "labels", "kubernetes.io/hostname", name, "status",
			      "allocatable", "cpu", cpu, "memory", mem, "pods", "110", "conditions",
			      "type", "Ready", "status", "True");

	if (extra) {
		json_t *x = J(extra);

		json_object_update_recursive(n, x);
		json_decref(x);
	}
	return n;
}

static json_t *pod(const char *name, const char *cpu, const char *mem, const char *extra)
{
	json_t *p = json_pack("{s:{s:s,s:s},s:{s:[{s:s,s:{s:{}}}]}}", "metadata", "name", name,
			      "namespace", "default", "spec", "containers", "name", "c",
			      "resources", "requests");
	json_t *req = json_object_get(
		json_object_get(
			json_array_get(json_object_get(json_object_get(p, "spec"), "containers"),
				       0),
			"resources"),
		"requests");

	if (cpu)
		json_object_set_new(req, "cpu", json_string(cpu));
	if (mem)
		json_object_set_new(req, "memory", json_string(mem));
	if (extra) {
		json_t *x = J(extra);

		json_object_update_recursive(p, x);
		json_decref(x);
	}
	return p;
}

static void add_node(struct sched_cache *c, json_t *n)
{
	sched_cache_node_set(c, n);
	json_decref(n);
}

static struct sched_pod *mkpod(json_t *p)
{
	struct sched_pod *sp = sched_pod_new(p);

	json_decref(p);
	return sp;
}

static void bind(struct sched_cache *c, struct sched_pod *p, const char *node)
{
	free(p->node);
	p->node = strdup(node);
	sched_cache_pod_set(c, p);
}

static void requests(void **state)
{
	struct sched_res r;
	int64_t nzc, nzm;
	json_t *p = J("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"250m\","
		      "\"memory\":\"64Mi\"}}},{\"resources\":{\"limits\":{\"cpu\":\"1\","
		      "\"example.com/gpu\":\"2\"}}},{}],\"initContainers\":[{\"resources\":"
		      "{\"requests\":{\"cpu\":\"2\"}}}],\"overhead\":{\"memory\":\"1Mi\"}}}");

	(void)state;
	sched_pod_requests(p, &r, &nzc, &nzm);
	/* max(init 2000m, containers 250m+1000m) */
	assert_int_equal(r.cpu, 2000);
	assert_int_equal(r.mem, 65 * 1024 * 1024);
	assert_int_equal(r.n_scalar, 1);
	assert_string_equal(r.scalar[0].name, "example.com/gpu");
	assert_int_equal(r.scalar[0].v, 2);
	/* non-zero: the third container counts 100m and 200Mi; the second 200Mi */
	assert_int_equal(nzc, 2000);
	assert_int_equal(nzm, (64 + 200 + 200 + 1) * 1024LL * 1024);
	json_decref(p);
}

static void fit_and_message(void **state)
{
	struct sched_cache c;
	struct sched_pod *p;
	struct sched_node *n;
	char *msg;

	(void)state;
	sched_cache_init(&c);
	add_node(&c, node("a", "1", "1Gi", NULL));
	add_node(&c, node("b", "1", "1Gi", NULL));
	add_node(&c, node("t", "8", "8Gi",
			  "{\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":\"gpu\","
			  "\"effect\":\"NoSchedule\"}]}}"));
	p = mkpod(pod("big", "2", "100Mi", NULL));
	n = sched_pick(&c, p, NULL, &msg);
	assert_null(n);
	assert_string_equal(msg, "0/3 nodes are available: 1 node(s) had untolerated taint "
				 "{dedicated: gpu}, 2 Insufficient cpu.");
	free(msg);
	sched_pod_free(p);

	/* tolerating the taint lands on t */
	p = mkpod(pod("big", "2", "100Mi",
		      "{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\","
		      "\"value\":\"gpu\",\"effect\":\"NoSchedule\"}]}}"));
	n = sched_pick(&c, p, NULL, &msg);
	assert_non_null(n);
	assert_string_equal(n->name, "t");
	sched_pod_free(p);

	/* the accounting: 600m on a, then another 600m does not fit a */
	p = mkpod(pod("p1", "600m", "100Mi",
		      "{\"spec\":{\"nodeSelector\":{\"kubernetes.io/"
		      "hostname\":\"a\"}}}"));
	n = sched_pick(&c, p, NULL, &msg);
	assert_non_null(n);
	assert_string_equal(n->name, "a");
	bind(&c, p, "a");
	p = mkpod(pod("p2", "600m", "2Gi",
		      "{\"spec\":{\"nodeSelector\":{\"kubernetes.io/"
		      "hostname\":\"a\"}}}"));
	assert_null(sched_pick(&c, p, NULL, &msg));
	assert_string_equal(
		msg, "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient "
		     "memory, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had "
		     "untolerated taint {dedicated: gpu}.");
	free(msg);
	sched_pod_free(p);
	/* deleting p1 frees a */
	sched_cache_pod_del(&c, "default/p1");
	p = mkpod(pod("p2", "600m", "100Mi",
		      "{\"spec\":{\"nodeSelector\":{\"kubernetes.io/"
		      "hostname\":\"a\"}}}"));
	assert_non_null(sched_pick(&c, p, NULL, &msg));
	sched_pod_free(p);
	/* a pod rebound (same key) is counted once */
	p = mkpod(pod("p3", "600m", NULL, NULL));
	bind(&c, p, "b");
	p = mkpod(pod("p3", "600m", NULL, NULL));
	bind(&c, p, "b");
	assert_int_equal(((struct sched_node *)strmap_get(&c.node_by_name, "b"))->used.cpu, 600);
	assert_int_equal(((struct sched_node *)strmap_get(&c.node_by_name, "b"))->npods, 1);
	sched_cache_free(&c);
}

static void no_nodes_and_pods_limit(void **state)
{
	struct sched_cache c;
	struct sched_pod *p;
	char *msg;

	(void)state;
	sched_cache_init(&c);
	p = mkpod(pod("x", NULL, NULL, NULL));
	assert_null(sched_pick(&c, p, NULL, &msg));
	assert_string_equal(msg, "no nodes available to schedule pods");
	free(msg);
	add_node(&c, node("one", "1", "1Gi", "{\"status\":{\"allocatable\":{\"pods\":\"1\"}}}"));
	bind(&c, mkpod(pod("y", NULL, NULL, NULL)), "one");
	assert_null(sched_pick(&c, p, NULL, &msg));
	assert_string_equal(msg, "0/1 nodes are available: 1 Too many pods.");
	free(msg);
	sched_pod_free(p);
	sched_cache_free(&c);
}

static void taints_and_conditions(void **state)
{
	struct sched_cache c;
	struct sched_pod *p;
	char *msg;

	(void)state;
	sched_cache_init(&c);
	add_node(&c,
		 node("nr", "1", "1Gi",
		      "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}"));
	add_node(&c, node("cordoned", "1", "1Gi", "{\"spec\":{\"unschedulable\":true}}"));
	add_node(&c,
		 node("ne", "1", "1Gi",
		      "{\"spec\":{\"taints\":[{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"},"
		      "{\"key\":\"hard\",\"effect\":\"NoExecute\"}]}}"));
	p = mkpod(pod("x", NULL, NULL, NULL));
	assert_null(sched_pick(&c, p, NULL, &msg));
	assert_string_equal(msg, "0/3 nodes are available: 1 node(s) had untolerated taint "
				 "{hard: }, 1 node(s) had untolerated taint "
				 "{node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.");
	free(msg);
	sched_pod_free(p);
	/* tolerate everything (operator Exists, no key) */
	p = mkpod(pod("x", NULL, NULL, "{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}"));
	for (size_t i = 0; i < c.n_nodes; i++) {
		char r[256];

		assert_int_equal(sched_filter(c.nodes[i], p, NULL, r, sizeof(r)), 0);
	}
	sched_pod_free(p);
	sched_cache_free(&c);
}

static void tolerations(void **state)
{
	json_t *taint = J("{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoSchedule\"}");
	json_t *t;

	(void)state;
	t = J("[{\"key\":\"k\",\"operator\":\"Exists\"}]");
	assert_true(sched_tolerates(t, taint));
	json_decref(t);
	t = J("[{\"key\":\"k\",\"value\":\"w\"}]");
	assert_false(sched_tolerates(t, taint));
	json_decref(t);
	t = J("[{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoExecute\"}]");
	assert_false(sched_tolerates(t, taint));
	json_decref(t);
	t = J("[{\"key\":\"k\",\"value\":\"v\"}]");
	assert_true(sched_tolerates(t, taint));
	json_decref(t);
	t = J("[{\"value\":\"v\"}]"); /* no key needs Exists */
	assert_false(sched_tolerates(t, taint));
	json_decref(t);
	json_decref(taint);
}

static void affinity(void **state)
{
	json_t *n = node("n1", "1", "1Gi",
			 "{\"metadata\":{\"labels\":{\"zone\":\"z1\",\"gen\":\"5\"}}}");
	json_t *p;

	(void)state;
	p = J("{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringE"
	      "xecution\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\","
	      "\"operato"
	      "r\":\"In\",\"values\":[\"z2\"]}]},{\"matchFields\":[{\"key\":\"metadata.name\","
	      "\"oper"
	      "ator\":\"In\",\"values\":[\"n1\"]}]}]}}}}}");
	assert_true(sched_node_affinity_matches(p, n));
	json_decref(p);
	p = J("{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringE"
	      "xecution\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"gen\","
	      "\"operator"
	      "\":\"Gt\",\"values\":[\"4\"]},{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}],"
	      "\"matc"
	      "hFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"n1\"]}]}]"
	      "}"
	      "}}}}");
	assert_false(sched_node_affinity_matches(p, n));
	json_decref(p);
	p = J("{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringE"
	      "xecution\":{\"nodeSelectorTerms\":[{}]}}}}}");
	assert_false(sched_node_affinity_matches(p, n)); /* an empty term matches nothing */
	json_decref(p);
	p = J("{\"spec\":{\"nodeSelector\":{\"zone\":\"z1\"}}}");
	assert_true(sched_node_affinity_matches(p, n));
	json_decref(p);
	json_decref(n);
}

static void host_ports(void **state)
{
	struct sched_cache c;
	struct sched_pod *p;
	char *msg;
	const char *ports =
		"{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":"
		"80,\"hostPort\":8080}]}]}}";

	(void)state;
	sched_cache_init(&c);
	add_node(&c, node("a", "1", "1Gi", NULL));
	bind(&c, mkpod(pod("p1", NULL, NULL, ports)), "a");
	p = mkpod(pod("p2", NULL, NULL, ports));
	assert_null(sched_pick(&c, p, NULL, &msg));
	assert_string_equal(msg, "0/1 nodes are available: 1 node(s) didn't have free ports for "
				 "the requested pod ports.");
	free(msg);
	sched_pod_free(p);
	/* UDP on the same port is free */
	p = mkpod(pod("p3", NULL, NULL,
		      "{\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
		      "\"hostPort\":8080,\"protocol\":\"UDP\"}]}]}}"));
	assert_non_null(sched_pick(&c, p, NULL, &msg));
	sched_pod_free(p);
	sched_cache_pod_del(&c, "default/p1");
	p = mkpod(pod("p2", NULL, NULL, ports));
	assert_non_null(sched_pick(&c, p, NULL, &msg));
	sched_pod_free(p);
	sched_cache_free(&c);
}

static json_t *vol_pvc(void *arg, const char *ns, const char *name)
{
	(void)ns;
	return json_object_get(json_object_get(arg, "pvc"), name);
}

static json_t *vol_pv(void *arg, const char *name)
{
	return json_object_get(json_object_get(arg, "pv"), name);
}

static void local_pv(void **state)
{
	struct sched_cache c;
	struct sched_pod *p;
	struct sched_node *n;
	json_t *db =
		J("{\"pvc\":{\"data\":{\"spec\":{\"volumeName\":\"pv1\"}}},\"pv\":{\"pv1\":"
		  "{\"spec\":{\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchEx"
		  "pressions\":[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\""
		  ":[\"b\"]}]}]}}}}}}");
	struct sched_volumes vol = {vol_pvc, vol_pv, db};
	char *msg;

	(void)state;
	sched_cache_init(&c);
	add_node(&c, node("a", "1", "1Gi", NULL));
	add_node(&c, node("b", "1", "1Gi", NULL));
	add_node(&c, node("c", "1", "1Gi", NULL));
	p = mkpod(pod("x", NULL, NULL,
		      "{\"spec\":{\"volumes\":[{\"name\":\"v\",\"persistentVolumeClaim\":"
		      "{\"claimName\":\"data\"}}]}}"));
	for (int i = 0; i < 10; i++) {
		n = sched_pick(&c, p, &vol, &msg);
		assert_non_null(n);
		assert_string_equal(n->name, "b");
	}
	sched_cache_node_del(&c, "b");
	assert_null(sched_pick(&c, p, &vol, &msg));
	assert_string_equal(msg, "0/2 nodes are available: 2 node(s) had volume node affinity "
				 "conflict.");
	free(msg);
	sched_pod_free(p);
	json_decref(db);
	sched_cache_free(&c);
}

static void scores_spread(void **state)
{
	struct sched_cache c;
	int count[3] = {0};
	char *msg;

	(void)state;
	sched_cache_init(&c);
	add_node(&c, node("n0", "4", "8Gi", NULL));
	add_node(&c, node("n1", "4", "8Gi", NULL));
	add_node(&c, node("n2", "4", "8Gi", NULL));
	/* 30 pods of one ReplicaSet spread 10/10/10 */
	for (int i = 0; i < 30; i++) {
		char name[16];
		struct sched_pod *p;
		struct sched_node *n;

		snprintf(name, sizeof(name), "r-%d", i);
		p = mkpod(pod(name, "10m", "10Mi",
			      "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"rs1\",\"controller\":"
			      "true}]}}"));
		n = sched_pick(&c, p, NULL, &msg);
		assert_non_null(n);
		count[n->name[1] - '0']++;
		bind(&c, p, n->name);
	}
	assert_int_equal(count[0], 10);
	assert_int_equal(count[1], 10);
	assert_int_equal(count[2], 10);
	/* least allocated prefers the emptier node */
	{
		struct sched_pod *p = mkpod(pod("heavy", "3", "6Gi", NULL));
		struct sched_pod *q = mkpod(pod("probe", "100m", "100Mi", NULL));
		struct sched_node *n;

		bind(&c, p, "n0");
		n = strmap_get(&c.node_by_name, "n0");
		assert_true(sched_score_least_allocated(n, q) <
			    sched_score_least_allocated(strmap_get(&c.node_by_name, "n1"), q));
		for (int i = 0; i < 5; i++)
			assert_string_not_equal(sched_pick(&c, q, NULL, &msg)->name, "n0");
		sched_pod_free(q);
	}
	sched_cache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests),
		cmocka_unit_test(fit_and_message),
		cmocka_unit_test(no_nodes_and_pods_limit),
		cmocka_unit_test(taints_and_conditions),
		cmocka_unit_test(tolerations),
		cmocka_unit_test(affinity),
		cmocka_unit_test(host_ports),
		cmocka_unit_test(local_pv),
		cmocka_unit_test(scores_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

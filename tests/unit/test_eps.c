#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eps.h"
#include "objutil.h"

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, 0, &e);

	if (!v)
		fprintf(stderr, "bad JSON in test: %s: %s\n", e.text, s);
	assert_non_null(v);
	return v;
}

static json_t *svc(const char *extra)
{
	json_t *s = J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"uid\":\"su\","
		      "\"labels\":{\"team\":\"a\"}},\"spec\":{\"selector\":{\"app\":\"web\"},"
		      "\"clusterIP\":\"10.0.0.9\",\"ports\":[{\"name\":\"http\",\"port\":80,"
		      "\"protocol\":\"TCP\",\"targetPort\":\"web\"},{\"name\":\"m\",\"port\":9,"
		      "\"protocol\":\"TCP\",\"targetPort\":9090}]}}");

	if (extra) {
		json_t *x = J(extra);

		json_object_update_recursive(s, x);
		json_decref(x);
	}
	return s;
}

/* A Running pod with IP 10.1.0.<i> on node n<i%2>, ready or not, with named port web=8080. */
static json_t *pod(int i, bool ready, const char *extra)
{
	char name[32], ip[32], node[8];
	json_t *p;

	snprintf(name, sizeof(name), "web-%03d", i);
	snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
	snprintf(node, sizeof(node), "n%d", i % 2);
	p = json_pack("{s:{s:s,s:s,s:s,s:{s:s}},s:{s:s,s:[{s:s,s:[{s:s,s:i}]}]},"
		      "s:{s:s,s:s,s:[{s:s,s:s}]}}",
		      "metadata", "name", name, "namespace", "ns", "uid", name, "labels", "app",
		      "web", "spec", "nodeName", node, "containers", "name", "c", "ports", "name",
		      "web", "containerPort", 8080, "status", "phase", "Running", "podIP", ip,
		      "conditions", "type", "Ready", "status", ready ? "True" : "False");
	if (extra) {
		json_t *x = J(extra);

		json_object_update_recursive(p, x);
		json_decref(x);
	}
	return p;
}

static void free_pods(json_t **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(p[i]);
}

static void ports_and_inclusion(void **state)
{
	json_t *s = svc(NULL), *p, *ports;

	(void)state;
	p = pod(1, true, NULL);
	ports = eps_pod_ports(s, p);
	assert_int_equal(json_array_size(ports), 2);
	assert_int_equal(k8c_int_at(json_array_get(ports, 0), "port", 0), 8080);
	assert_string_equal(k8c_str_at(json_array_get(ports, 0), "name"), "http");
	assert_int_equal(k8c_int_at(json_array_get(ports, 1), "port", 0), 9090);
	json_decref(ports);
	assert_true(eps_pod_included(p, false));
	json_decref(p);
	/* no container port named web: only the numeric target */
	p = pod(2, true, "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
	ports = eps_pod_ports(s, p);
	assert_int_equal(json_array_size(ports), 1);
	json_decref(ports);
	json_decref(p);
	p = pod(3, true,
		"{\"spec\":{\"restartPolicy\":\"Never\"},\"status\":{\"phase\":"
		"\"Failed\"}}");
	assert_false(eps_pod_included(p, true));
	json_decref(p);
	p = pod(4, true, "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"}}");
	assert_false(eps_pod_included(p, false));
	assert_true(eps_pod_included(p, true));
	json_decref(p);
	p = pod(5, true, "{\"status\":{\"podIP\":\"\"}}");
	assert_false(eps_pod_included(p, true));
	json_decref(p);
	json_decref(s);
}

static void endpoints_object(void **state)
{
	json_t *s = svc(NULL), *want, *ss, *a;
	json_t *pods[5];

	(void)state;
	pods[0] = pod(2, true, NULL);
	pods[1] = pod(1, true, NULL);
	pods[2] = pod(3, false, NULL);
	pods[3] = pod(4, true, "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
	pods[4] = pod(5, true, "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"}}");
	want = eps_endpoints_want(s, pods, 5);
	assert_string_equal(k8c_str_at(want, "metadata.name"), "web");
	assert_string_equal(k8c_str_at(want, "metadata.labels.team"), "a");
	/* two subsets: {http, m} for pods 1,2 (ready) and 3 (not ready); {m} for pod 4 */
	assert_int_equal(json_array_size(json_object_get(want, "subsets")), 2);
	ss = json_array_get(json_object_get(want, "subsets"), 0);
	assert_int_equal(json_array_size(json_object_get(ss, "ports")), 2);
	assert_int_equal(json_array_size(json_object_get(ss, "addresses")), 2);
	a = json_array_get(json_object_get(ss, "addresses"), 0);
	assert_string_equal(k8c_str_at(a, "ip"), "10.1.0.2"); /* sorted by IP */
	assert_string_equal(k8c_str_at(a, "nodeName"), "n1");
	assert_string_equal(k8c_str_at(a, "targetRef.name"), "web-001");
	assert_string_equal(k8c_str_at(a, "targetRef.kind"), "Pod");
	assert_int_equal(json_array_size(json_object_get(ss, "notReadyAddresses")), 1);
	ss = json_array_get(json_object_get(want, "subsets"), 1);
	assert_int_equal(json_array_size(json_object_get(ss, "ports")), 1);
	assert_string_equal(k8c_str_at(json_array_get(json_object_get(ss, "ports"), 0), "name"),
			    "m");
	assert_false(eps_endpoints_differ(want, want));
	{
		json_t *have = json_deep_copy(want);

		json_object_set_new(have, "subsets", json_array());
		assert_true(eps_endpoints_differ(have, want));
		json_decref(have);
	}
	json_decref(want);
	json_decref(s);
	/* publishNotReadyAddresses: the unready and the terminating pod are addresses */
	s = svc("{\"spec\":{\"publishNotReadyAddresses\":true}}");
	want = eps_endpoints_want(s, pods, 5);
	ss = json_array_get(json_object_get(want, "subsets"), 0);
	assert_int_equal(json_array_size(json_object_get(ss, "addresses")), 4);
	assert_null(json_object_get(ss, "notReadyAddresses"));
	json_decref(want);
	json_decref(s);
	/* headless without ports: one subset without ports, with the hostname of the subdomain */
	s = J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\"},\"spec\":{\"selector\":"
	      "{\"app\":\"web\"},\"clusterIP\":\"None\"}}");
	{
		json_t *h = J("{\"spec\":{\"hostname\":\"h0\",\"subdomain\":\"web\"}}");

		json_object_update_recursive(pods[0], h);
		json_decref(h);
	}
	want = eps_endpoints_want(s, pods, 2);
	assert_non_null(
		json_object_get(k8c_at(want, "metadata.labels"), "service.kubernetes.io/headless"));
	ss = json_array_get(json_object_get(want, "subsets"), 0);
	assert_null(json_object_get(ss, "ports"));
	assert_int_equal(json_array_size(json_object_get(ss, "addresses")), 2);
	assert_string_equal(
		k8c_str_at(json_array_get(json_object_get(ss, "addresses"), 1), "hostname"), "h0");
	json_decref(want);
	json_decref(s);
	free_pods(pods, 5);
}

static void endpoints_truncated(void **state)
{
	json_t *s = svc(NULL), *want, *pods[1100];
	size_t ready = 0, notready = 0, i;
	json_t *ss;

	(void)state;
	for (i = 0; i < 1100; i++)
		pods[i] = pod((int)i, i % 4 != 0, NULL); /* 825 ready, 275 not */
	want = eps_endpoints_want(s, pods, 1100);
	json_array_foreach(json_object_get(want, "subsets"), i, ss)
	{
		ready += json_array_size(json_object_get(ss, "addresses"));
		notready += json_array_size(json_object_get(ss, "notReadyAddresses"));
	}
	assert_int_equal(ready, 825);
	assert_int_equal(notready, 175);
	assert_string_equal(json_string_value(json_object_get(k8c_at(want, "metadata.annotations"),
							      EPS_OVER_CAPACITY)),
			    "truncated");
	json_decref(want);
	want = eps_endpoints_want(s, pods, 1000);
	assert_null(k8c_at(want, "metadata.annotations"));
	json_decref(want);
	free_pods(pods, 1100);
	json_decref(s);
}

static json_t *zone_node(void *arg, const char *name)
{
	return json_object_get(arg, name);
}

static void slice_endpoint(void **state)
{
	json_t *s = svc(NULL);
	json_t *nodes = J("{\"n0\":{\"metadata\":{\"labels\":{\"topology.kubernetes.io/zone\":"
			  "\"z0\"}}}}");
	json_t *pods[3], *d, *ep;

	(void)state;
	pods[0] = pod(0, true, NULL);
	pods[1] = pod(1, false, NULL);
	pods[2] = pod(2, true, "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"}}");
	d = eps_slices_desired(s, pods, 3, zone_node, nodes);
	assert_int_equal(json_array_size(d), 3);
	ep = k8c_at(json_array_get(d, 0), "endpoint");
	assert_string_equal(k8c_str_at(ep, "zone"), "z0");
	assert_string_equal(k8c_str_at(ep, "nodeName"), "n0");
	assert_true(json_is_true(k8c_at(ep, "conditions.ready")));
	ep = k8c_at(json_array_get(d, 1), "endpoint");
	assert_null(json_object_get(ep, "zone"));
	assert_true(json_is_false(k8c_at(ep, "conditions.ready")));
	assert_true(json_is_false(k8c_at(ep, "conditions.serving")));
	/* terminating: serving (still ready) but not ready */
	ep = k8c_at(json_array_get(d, 2), "endpoint");
	assert_true(json_is_false(k8c_at(ep, "conditions.ready")));
	assert_true(json_is_true(k8c_at(ep, "conditions.serving")));
	assert_true(json_is_true(k8c_at(ep, "conditions.terminating")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "addressType")),
			    "IPv4");
	json_decref(d);
	free_pods(pods, 3);
	json_decref(nodes);
	json_decref(s);
}

/* Plan, then "apply" it as the server would: created slices get names. */
static json_t *apply(json_t *existing, json_t *create, json_t *update, json_t *del, int *seq)
{
	json_t *out = json_array(), *sl;
	size_t i, j;

	json_array_foreach(existing, i, sl)
	{
		const char *name = k8c_str_at(sl, "metadata.name");
		bool gone = false, replaced = false;
		json_t *x;

		json_array_foreach(del, j, x) gone |= strcmp(json_string_value(x), name) == 0;
		json_array_foreach(update, j, x)
		{
			if (strcmp(k8c_str_at(x, "metadata.name"), name) == 0) {
				json_array_append(out, x);
				replaced = true;
			}
		}
		if (!gone && !replaced)
			json_array_append(out, sl);
	}
	json_array_foreach(create, i, sl)
	{
		json_t *c = json_deep_copy(sl);
		char name[32];

		snprintf(name, sizeof(name), "web-%d", (*seq)++);
		json_object_set_new(json_object_get(c, "metadata"), "name", json_string(name));
		json_array_append_new(out, c);
	}
	return out;
}

static void slices_plan(void **state)
{
	json_t *s = svc(NULL), *pods[260], *d, *cr, *up, *del, *have, *next;
	json_t *labels = eps_slice_labels(s, "web", EPS_CONTROLLER, false);
	json_t *owners = eps_owner_refs("v1", "Service", s);
	struct eps_slice_meta meta = {"ns", "web-", labels, owners, "IPv4"};
	int seq = 0;
	size_t total = 0, i;
	json_t *sl;

	(void)state;
	for (i = 0; i < 250; i++)
		pods[i] = pod((int)i, true, NULL);
	d = eps_slices_desired(s, pods, 250, NULL, NULL);
	have = json_array();
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr), 3);
	assert_int_equal(json_array_size(up) + json_array_size(del), 0);
	sl = json_array_get(cr, 0);
	assert_string_equal(k8c_str_at(sl, "metadata.generateName"), "web-");
	assert_string_equal(k8c_str_at(sl, "addressType"), "IPv4");
	assert_string_equal(
		json_string_value(json_object_get(k8c_at(sl, "metadata.labels"), EPS_MANAGED_BY)),
		EPS_CONTROLLER);
	assert_string_equal(
		json_string_value(json_object_get(k8c_at(sl, "metadata.labels"), EPS_SERVICE_NAME)),
		"web");
	assert_string_equal(
		k8c_str_at(json_array_get(k8c_at(sl, "metadata.ownerReferences"), 0), "kind"),
		"Service");
	json_array_foreach(cr, i, sl) total += json_array_size(json_object_get(sl, "endpoints"));
	assert_int_equal(total, 250);
	assert_int_equal(json_array_size(json_object_get(json_array_get(cr, 0), "endpoints")), 100);
	next = apply(have, cr, up, del, &seq);
	json_decref(have);
	have = next;
	json_decref(d);
	json_decref(cr);
	json_decref(up);
	json_decref(del);

	/* same input: no writes */
	d = eps_slices_desired(s, pods, 250, NULL, NULL);
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr) + json_array_size(up) + json_array_size(del), 0);
	json_decref(d);
	json_decref(cr);
	json_decref(up);
	json_decref(del);

	/* one pod's readiness: one slice rewritten */
	json_decref(pods[120]);
	pods[120] = pod(120, false, NULL);
	d = eps_slices_desired(s, pods, 250, NULL, NULL);
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr), 0);
	assert_int_equal(json_array_size(up), 1);
	assert_int_equal(json_array_size(del), 0);
	assert_non_null(k8c_str_at(json_array_get(up, 0), "metadata.name"));
	next = apply(have, cr, up, del, &seq);
	json_decref(have);
	have = next;
	json_decref(d);
	json_decref(cr);
	json_decref(up);
	json_decref(del);

	/* 10 more pods fill the slice with room, no new slice */
	for (i = 250; i < 260; i++)
		pods[i] = pod((int)i, true, NULL);
	d = eps_slices_desired(s, pods, 260, NULL, NULL);
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr), 0);
	assert_int_equal(json_array_size(up), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(up, 0), "endpoints")), 60);
	next = apply(have, cr, up, del, &seq);
	json_decref(have);
	have = next;
	json_decref(d);
	json_decref(cr);
	json_decref(up);
	json_decref(del);

	/* no pods: one placeholder slice stays (emptied), the others go */
	d = json_array();
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr), 0);
	assert_int_equal(json_array_size(up), 1);
	assert_int_equal(json_array_size(del), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(up, 0), "endpoints")), 0);
	assert_int_equal(json_array_size(json_object_get(json_array_get(up, 0), "ports")), 0);
	next = apply(have, cr, up, del, &seq);
	json_decref(have);
	have = next;
	json_decref(cr);
	json_decref(up);
	json_decref(del);
	eps_slices_plan(&meta, d, have, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr) + json_array_size(up) + json_array_size(del), 0);
	json_decref(cr);
	json_decref(up);
	json_decref(del);
	json_decref(d);

	json_decref(have);
	free_pods(pods, 260);
	json_decref(labels);
	json_decref(owners);
	json_decref(s);
}

static void mirror(void **state)
{
	json_t *ep = J("{\"metadata\":{\"name\":\"ext\",\"labels\":{\"x\":\"y\"}},\"subsets\":[{"
		       "\"addresses\":[{\"ip\":\"192.0.2.1\"},{\"ip\":\"2001:db8::1\"}],"
		       "\"notReadyAddresses\":[{\"ip\":\"192.0.2.2\"}],\"ports\":[{\"name\":\"p\","
		       "\"port\":5432}]}]}");
	json_t *d = eps_mirror_desired(ep), *labels, *cr, *up, *del;
	json_t *owners = eps_owner_refs("v1", "Endpoints", ep);
	struct eps_slice_meta meta = {"ns", "ext-", NULL, owners, NULL};

	(void)state;
	assert_int_equal(json_array_size(d), 3);
	assert_string_equal(k8c_str_at(json_array_get(d, 1), "addressType"), "IPv6");
	assert_true(json_is_false(k8c_at(json_array_get(d, 2), "endpoint.conditions.ready")));
	assert_string_equal(
		k8c_str_at(json_array_get(k8c_at(json_array_get(d, 0), "ports"), 0), "protocol"),
		"TCP");
	labels = eps_slice_labels(ep, "ext", EPS_MIRRORING, false);
	assert_string_equal(k8c_str_at(labels, "x"), "y");
	meta.labels = labels;
	eps_slices_plan(&meta, d, NULL, EPS_MAX_PER_SLICE, &cr, &up, &del);
	assert_int_equal(json_array_size(cr), 2); /* one per address type */
	json_decref(cr);
	json_decref(up);
	json_decref(del);
	json_decref(labels);
	json_decref(owners);
	json_decref(d);
	json_decref(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ports_and_inclusion), cmocka_unit_test(endpoints_object),
		cmocka_unit_test(endpoints_truncated), cmocka_unit_test(slice_endpoint),
		cmocka_unit_test(slices_plan),	       cmocka_unit_test(mirror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

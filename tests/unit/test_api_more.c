/*
 * Continue tokens (kube's encoding), per-resource field selectors, and Service allocation
 * (ClusterIP 10.96.0.1 reserved, NodePorts 30000-32767: requested, taken, kept on update,
 * released by type ClusterIP) over a SQLite store in a temp dir.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_registry.h"
#include "cleanup.h"
#include "store.h"

static void continue_tokens(void **state)
{
	_cleanup_free_ char *t = api_continue_encode(12, "p2");
	_cleanup_free_ char *start = NULL, *s2 = NULL;
	int64_t rev = 0;

	(void)state;
	/* what kube-apiserver writes for {"v":"meta.k8s.io/v1","rv":12,"start":"p2\u0000"} */
	assert_string_equal(t,
			    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIsInN0YXJ0IjoicDJcdTAwMDAifQ");
	assert_int_equal(api_continue_decode(t, &rev, &start), 0);
	assert_int_equal(rev, 12);
	assert_string_equal(start, "p2");
	free(t);
	t = api_continue_encode(123456789, "kube-system/x.y-z");
	assert_int_equal(api_continue_decode(t, &rev, &s2), 0);
	assert_int_equal(rev, 123456789);
	assert_string_equal(s2, "kube-system/x.y-z");
	assert_int_equal(api_continue_decode("", &rev, &s2), -1);
	assert_int_equal(api_continue_decode("garbage", &rev, &s2), -1);
	assert_int_equal(api_continue_decode("12:p2", &rev, &s2), -1);
	/* {"v":"x","rv":1,"start":"a"} */
	assert_int_equal(api_continue_decode("eyJ2IjoieCIsInJ2IjoxLCJzdGFydCI6ImEifQ", &rev, &s2),
			 -1);
}

static const struct api_resource *core(const char *name)
{
	const struct api_resource *r = api_registry_lookup("", "v1", name, strlen(name));

	assert_non_null(r);
	return r;
}

static void field_selectors(void **state)
{
	(void)state;
	assert_true(api_field_supported(core("pods"), "spec.nodeName"));
	assert_true(api_field_supported(core("pods"), "status.phase"));
	assert_true(api_field_supported(core("pods"), "metadata.namespace"));
	assert_false(api_field_supported(core("pods"), "type"));
	assert_true(api_field_supported(core("events"), "involvedObject.uid"));
	assert_true(api_field_supported(core("events"), "involvedObject.kind"));
	assert_true(api_field_supported(core("secrets"), "type"));
	assert_false(api_field_supported(core("configmaps"), "type"));
	assert_true(api_field_supported(core("configmaps"), "metadata.name"));
	assert_true(api_field_supported(core("namespaces"), "metadata.name"));
	assert_false(api_field_supported(core("namespaces"), "metadata.namespace"));
	assert_true(api_field_supported(api_registry_lookup("apps", "v1", "deployments", 11),
					"metadata.name"));
	assert_false(api_field_supported(api_registry_lookup("apps", "v1", "deployments", 11),
					 "spec.nodeName"));
}

static char tmpdir[] = "/tmp/k8c-api-more-test.XXXXXX";

static json_t *svc(const char *name, const char *type, int node_port)
{
	json_t *s = json_pack("{s:{s:s, s:s}, s:{s:s, s:[{s:i, s:s}]}}", "metadata", "name", name,
			      "namespace", "default", "spec", "type", type, "ports", "port", 80,
			      "protocol", "TCP");

	if (node_port)
		json_object_set_new(
			json_array_get(json_object_get(json_object_get(s, "spec"), "ports"), 0),
			"nodePort", json_integer(node_port));
	return s;
}

static json_int_t node_port_of(const json_t *s)
{
	return json_integer_value(json_object_get(
		json_array_get(json_object_get(json_object_get(s, "spec"), "ports"), 0),
		"nodePort"));
}

static void put(struct store *st, const json_t *s)
{
	_cleanup_free_ char *v = json_dumps(s, JSON_COMPACT);
	_cleanup_free_ char *key = k8c_xasprintf(
		"/registry/services/default/%s",
		json_string_value(json_object_get(json_object_get(s, "metadata"), "name")));
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev;

	if (store_create(st, key, v, strlen(v), &rev, &err) == 0)
		return;
	k8c_error_clear(&err);
	if (store_update(st, key, v, strlen(v), 0, &rev, NULL, &err) < 0)
		fail_msg("%s", err.msg);
}

static void service_allocation(void **state)
{
	struct store_sqlite_config cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *path = NULL;
	struct store *st = NULL;
	json_t *a, *b, *c, *causes;
	json_int_t np;

	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	path = k8c_xasprintf("%s/state.db", tmpdir);
	cfg.path = path;
	assert_int_equal(store_sqlite_open(&cfg, &st, &err), 0);

	/* 10.96.0.1 is reserved */
	causes = json_array();
	a = svc("a", "ClusterIP", 0);
	json_object_set_new(json_object_get(a, "spec"), "clusterIP", json_string("10.96.0.1"));
	assert_int_equal(api_services_allocate(st, a, NULL, causes), -1);
	json_decref(a);
	json_decref(causes);

	/* a random NodePort in range */
	causes = json_array();
	a = svc("a", "NodePort", 0);
	assert_int_equal(api_services_allocate(st, a, NULL, causes), 0);
	np = node_port_of(a);
	assert_true(np >= 30000 && np <= 32767);
	assert_string_not_equal(
		json_string_value(json_object_get(json_object_get(a, "spec"), "clusterIP")),
		"10.96.0.1");
	put(st, a);

	/* the same one requested by another Service: taken; out of range */
	b = svc("b", "NodePort", (int)np);
	assert_int_equal(api_services_allocate(st, b, NULL, causes), -1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "field")),
			    "spec.ports[0].nodePort");
	json_decref(b);
	b = svc("b", "LoadBalancer", 80);
	assert_int_equal(api_services_allocate(st, b, NULL, causes), -1);
	json_decref(b);
	/* ClusterIP with a nodePort is forbidden */
	b = svc("b", "ClusterIP", 30001);
	assert_int_equal(api_services_allocate(st, b, NULL, causes), -1);
	json_decref(b);
	json_decref(causes);
	causes = json_array();

	/* an update without nodePort keeps it; the Service's own port is not "taken" */
	c = svc("a", "NodePort", 0);
	json_object_set(json_object_get(c, "spec"), "clusterIP",
			json_object_get(json_object_get(a, "spec"), "clusterIP"));
	assert_int_equal(api_services_allocate(st, c, a, causes), 0);
	assert_int_equal(node_port_of(c), np);
	json_decref(c);
	c = svc("a", "NodePort", (int)np);
	assert_int_equal(api_services_allocate(st, c, a, causes), 0);
	json_decref(c);

	/* back to ClusterIP: released */
	c = svc("a", "ClusterIP", (int)np);
	assert_int_equal(api_services_allocate(st, c, a, causes), 0);
	assert_int_equal(node_port_of(c), 0);
	put(st, c);
	json_decref(c);
	b = svc("b", "NodePort", (int)np);
	assert_int_equal(api_services_allocate(st, b, NULL, causes), 0);
	assert_int_equal(json_array_size(causes), 0);
	json_decref(b);
	json_decref(a);
	json_decref(causes);

	store_close(st);
	unlink(path);
	free(path);
	path = k8c_xasprintf("%s/state.db-wal", tmpdir);
	unlink(path);
	free(path);
	path = k8c_xasprintf("%s/state.db-shm", tmpdir);
	unlink(path);
	free(path);
	path = k8c_xasprintf("%s/state.db-lock", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(continue_tokens),
		cmocka_unit_test(field_selectors),
		cmocka_unit_test(service_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

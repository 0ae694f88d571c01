/* extensions/v1beta1 Ingress: its registry entry and the conversions to and from v1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "api_kind.h"
#include "api_registry.h"
#include "cleanup.h"

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

static void equal_json(json_t *got, const char *want)
{
	_cleanup_json_ json_t *w = load(want);

	if (!json_equal(got, w)) {
		_cleanup_free_ char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

		fail_msg("got %s, want %s", g, want);
	}
}

static const char legacy[] =
	"{\"apiVersion\":\"extensions/v1beta1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"w\"},"
	"\"spec\":{\"ingressClassName\":\"k8c\",\"backend\":{\"serviceName\":\"def\","
	"\"servicePort\":8080},\"tls\":[{\"hosts\":[\"a.example\"],\"secretName\":\"s\"}],"
	"\"rules\":[{\"host\":\"a.example\",\"http\":{\"paths\":["
	"{\"path\":\"/\",\"backend\":{\"serviceName\":\"web\",\"servicePort\":\"http\"}},"
	"{\"path\":\"/api\",\"pathType\":\"Prefix\",\"backend\":{\"serviceName\":\"api\","
	"\"servicePort\":80}},"
	"{\"path\":\"/static\",\"pathType\":\"Exact\",\"backend\":{\"resource\":{"
	"\"apiGroup\":\"k8c.io\",\"kind\":\"Bucket\",\"name\":\"b\"}}}]}}]}}";

static const char v1[] =
	"{\"apiVersion\":\"networking.k8s.io/"
	"v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"w\"},"
	"\"spec\":{\"ingressClassName\":\"k8c\",\"defaultBackend\":{\"service\":{\"name\":\"def\","
	"\"port\":{\"number\":8080}}},\"tls\":[{\"hosts\":[\"a.example\"],\"secretName\":\"s\"}],"
	"\"rules\":[{\"host\":\"a.example\",\"http\":{\"paths\":["
	"{\"path\":\"/\",\"pathType\":\"ImplementationSpecific\",\"backend\":{\"service\":{"
	"\"name\":\"web\",\"port\":{\"name\":\"http\"}}}},"
	"{\"path\":\"/api\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"api\","
	"\"port\":{\"number\":80}}}},"
	"{\"path\":\"/static\",\"pathType\":\"Exact\",\"backend\":{\"resource\":{"
	"\"apiGroup\":\"k8c.io\",\"kind\":\"Bucket\",\"name\":\"b\"}}}]}}]}}";

static void to_v1(void **state)
{
	_cleanup_json_ json_t *o = load(legacy);

	(void)state;
	api_ingress_to_v1(o);
	equal_json(o, v1);
}

static void to_v1beta1(void **state)
{
	_cleanup_json_ json_t *o = load(v1);
	_cleanup_json_ json_t *want = load(legacy);

	(void)state;
	api_ingress_to_v1beta1(o);
	/* the defaulted pathType stays */
	json_object_set_new(
		json_array_get(
			api_jget(json_array_get(api_jget(want, "spec.rules"), 0), "http.paths"), 0),
		"pathType", json_string("ImplementationSpecific"));
	if (!json_equal(o, want)) {
		_cleanup_free_ char *g = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);

		fail_msg("got %s", g);
	}
	/* and back again */
	api_ingress_to_v1(o);
	equal_json(o, v1);
}

static void edge_cases(void **state)
{
	_cleanup_json_ json_t *a = load("{\"spec\":{\"backend\":{\"serviceName\":\"x\"}}}");
	_cleanup_json_ json_t *b = load("{\"metadata\":{\"name\":\"n\"}}");
	_cleanup_json_ json_t *c = load("{\"spec\":{\"rules\":[{\"host\":\"h\"}]}}");

	(void)state;
	/* no port: service without port (v1 validation then answers 422) */
	api_ingress_to_v1(a);
	equal_json(a, "{\"apiVersion\":\"networking.k8s.io/v1\",\"spec\":{\"defaultBackend\":"
		      "{\"service\":{\"name\":\"x\"}}}}");
	api_ingress_to_v1(b);
	equal_json(b, "{\"apiVersion\":\"networking.k8s.io/v1\",\"metadata\":{\"name\":\"n\"}}");
	api_ingress_to_v1beta1(c);
	equal_json(c, "{\"apiVersion\":\"extensions/v1beta1\",\"spec\":{\"rules\":[{\"host\":"
		      "\"h\"}]}}");
}

static void registry_entry(void **state)
{
	const struct api_resource *r = api_registry_lookup("extensions", "v1beta1", "ingresses", 9);
	const struct api_resource *v =
		api_registry_lookup("networking.k8s.io", "v1", "ingresses", 9);
	_cleanup_json_ json_t *d = api_registry_discovery_gv("extensions", "v1beta1");
	_cleanup_json_ json_t *g = api_registry_group("extensions");
	_cleanup_json_ json_t *groups = api_registry_group_list();
	_cleanup_free_ char *av = NULL;
	json_t *e;
	size_t i;
	bool seen = false, net_first = false;

	(void)state;
	assert_non_null(r);
	assert_non_null(v);
	assert_true(r->namespaced);
	assert_string_equal(r->kind, "Ingress");
	assert_string_equal(api_registry_store_name(r), api_registry_store_name(v));
	assert_non_null(r->to_storage);
	assert_non_null(r->from_storage);
	assert_null(v->to_storage);
	av = api_registry_api_version(r);
	assert_string_equal(av, "extensions/v1beta1");
	assert_string_equal(json_string_value(json_object_get(d, "groupVersion")),
			    "extensions/v1beta1");
	e = json_array_get(json_object_get(d, "resources"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "name")), "ingresses");
	assert_string_equal(json_string_value(json_object_get(e, "kind")), "Ingress");
	assert_true(json_is_true(json_object_get(e, "namespaced")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "shortNames"), 0)),
			    "ing");
	json_array_foreach(json_object_get(d, "resources"), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));

		assert_true(strcmp(n, "ingresses") == 0 || strcmp(n, "ingresses/status") == 0);
	}
	assert_string_equal(json_string_value(api_jget(g, "preferredVersion.groupVersion")),
			    "extensions/v1beta1");
	json_array_foreach(json_object_get(groups, "groups"), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));

		if (strcmp(n, "networking.k8s.io") == 0 && !seen)
			net_first = true;
		if (strcmp(n, "extensions") == 0)
			seen = true;
	}
	assert_true(seen);
	assert_true(net_first);
	/* the v1 hooks run on the converted body */
	{
		_cleanup_json_ json_t *o = load(legacy);
		json_t *causes = json_array();

		r->to_storage(o);
		r->validate(o, NULL, causes);
		assert_int_equal(json_array_size(causes), 0);
		json_decref(causes);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(to_v1),
		cmocka_unit_test(to_v1beta1),
		cmocka_unit_test(edge_cases),
		cmocka_unit_test(registry_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

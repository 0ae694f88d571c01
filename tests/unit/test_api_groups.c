/* The named API groups' registry entries: lookup, discovery, defaults, validation, cells, Scale. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "api_registry.h"
#include "cleanup.h"

static const struct api_resource *res(const char *group, const char *name)
{
	const struct api_resource *r = api_registry_lookup(group, "v1", name, strlen(name));

	assert_non_null(r);
	return r;
}

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

/* The causes' fields of validating obj (defaulted) against old, as "field|field|". */
static const char *causes_of(const struct api_resource *r, json_t *obj, json_t *old)
{
	static char buf[512];
	json_t *causes = json_array(), *c;
	size_t i;

	if (r->defaults)
		r->defaults(obj);
	if (r->validate)
		r->validate(obj, old, causes);
	buf[0] = '\0';
	json_array_foreach(causes, i, c)
	{
		strncat(buf, json_string_value(json_object_get(c, "field")),
			sizeof(buf) - strlen(buf) - 2);
		strcat(buf, "|");
	}
	json_decref(causes);
	return buf;
}

static const char deploy[] =
	"{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"2020-01-01T00:00:00Z\"},"
	"\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":"
	"{\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},\"spec\":{\"containers\":[{\"name\":\"a\","
	"\"image\":\"nginx\"},{\"name\":\"b\",\"image\":\"busybox\"}]}}}}";

static void lookup_and_scope(void **state)
{
	(void)state;
	assert_string_equal(res("apps", "deployments")->kind, "Deployment");
	assert_false(res("storage.k8s.io", "storageclasses")->namespaced);
	assert_false(res("rbac.authorization.k8s.io", "clusterroles")->namespaced);
	assert_true(res("networking.k8s.io", "ingresses")->namespaced);
	assert_null(api_registry_lookup("apps", "v1", "pods", 4));
	assert_null(api_registry_lookup("apps", "v2", "deployments", 11));
	/* core events and events.k8s.io events are different entries with different keys */
	assert_string_equal(api_registry_store_name(api_registry_find("events", 6)), "events");
	assert_string_equal(api_registry_store_name(res("events.k8s.io", "events")),
			    "events.k8s.io/events");
	{
		_cleanup_free_ char *a = api_registry_api_version(res("apps", "deployments"));
		_cleanup_free_ char *b = api_registry_api_version(api_registry_find("pods", 4));

		assert_string_equal(a, "apps/v1");
		assert_string_equal(b, "v1");
	}
	assert_int_equal(api_registry_count(), api_registry_n + api_registry_groups_n);
	assert_ptr_equal(api_registry_at(api_registry_n), &api_registry_groups[0]);
}

static void discovery(void **state)
{
	_cleanup_json_ json_t *groups = api_registry_group_list();
	_cleanup_json_ json_t *apps = api_registry_discovery_gv("apps", "v1");
	_cleanup_json_ json_t *g = api_registry_group("rbac.authorization.k8s.io");
	json_t *e;
	size_t i;
	bool scale = false, deploy_seen = false;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(groups, "kind")), "APIGroupList");
	/* and extensions (v1beta1 Ingress, test_api_ingress_legacy) */
	assert_int_equal(json_array_size(json_object_get(groups, "groups")), 8);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_array_get(json_object_get(groups, "groups"), 0),
					"preferredVersion"),
			"groupVersion")),
		"apps/v1");
	assert_string_equal(json_string_value(json_object_get(apps, "groupVersion")), "apps/v1");
	json_array_foreach(json_object_get(apps, "resources"), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));

		if (strcmp(n, "deployments/scale") == 0) {
			scale = true;
			assert_string_equal(json_string_value(json_object_get(e, "group")),
					    "autoscaling");
			assert_string_equal(json_string_value(json_object_get(e, "kind")), "Scale");
		}
		if (strcmp(n, "deployments") == 0) {
			deploy_seen = true;
			assert_string_equal(json_string_value(json_array_get(
						    json_object_get(e, "shortNames"), 0)),
					    "deploy");
		}
	}
	assert_true(scale && deploy_seen);
	assert_null(api_registry_discovery_gv("apps", "v2"));
	assert_null(api_registry_group("autoscaling"));
	assert_string_equal(json_string_value(json_object_get(g, "kind")), "APIGroup");
}

static void deployment_defaults_and_cells(void **state)
{
	const struct api_resource *r = res("apps", "deployments");
	_cleanup_json_ json_t *d = load(deploy), *cells = NULL;

	(void)state;
	assert_string_equal(causes_of(r, d, NULL), "");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(d, "spec"), "replicas")), 1);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(json_object_get(d, "spec"), "strategy"),
					"rollingUpdate"),
			"maxSurge")),
		"25%");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "spec"),
							    "progressDeadlineSeconds")),
			 600);
	cells = r->cells(d);
	assert_int_equal(json_array_size(cells), 8);
	assert_string_equal(json_string_value(json_array_get(cells, 1)), "0/1");
	assert_string_equal(json_string_value(json_array_get(cells, 5)), "a,b");
	assert_string_equal(json_string_value(json_array_get(cells, 6)), "nginx,busybox");
	assert_string_equal(json_string_value(json_array_get(cells, 7)), "app=web");
}

static void deployment_validation(void **state)
{
	const struct api_resource *r = res("apps", "deployments");
	_cleanup_json_ json_t *nosel = load(deploy), *miss = load(deploy), *expr = load(deploy);
	_cleanup_json_ json_t *old = load(deploy), *changed = load(deploy);

	(void)state;
	json_object_del(json_object_get(nosel, "spec"), "selector");
	/* no selector selects nothing: kube reports the template's labels too */
	assert_string_equal(causes_of(r, nosel, NULL),
			    "spec.selector|spec.template.metadata.labels|");
	json_object_set_new(json_object_get(json_object_get(miss, "spec"), "selector"),
			    "matchLabels", json_pack("{s:s}", "app", "other"));
	assert_string_equal(causes_of(r, miss, NULL), "spec.template.metadata.labels|");
	json_object_set_new(
		json_object_get(json_object_get(expr, "spec"), "selector"), "matchExpressions",
		load("[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"fe\"]}]"));
	assert_string_equal(causes_of(r, expr, NULL), "spec.template.metadata.labels|");
	/* the selector is immutable */
	json_object_set_new(json_object_get(json_object_get(changed, "spec"), "selector"),
			    "matchLabels", json_pack("{s:s, s:s}", "app", "web", "tier", "fe"));
	r->defaults(old);
	assert_string_equal(causes_of(r, changed, old), "spec.selector|");
}

static void daemonset_and_storageclass(void **state)
{
	const struct api_resource *ds = res("apps", "daemonsets");
	const struct api_resource *sc = res("storage.k8s.io", "storageclasses");
	_cleanup_json_ json_t *d = load(deploy), *s = NULL, *cells = NULL;

	(void)state;
	json_object_set_new(d, "kind", json_string("DaemonSet"));
	assert_string_equal(causes_of(ds, d, NULL), "");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(json_object_get(d, "spec"),
								 "updateStrategy"),
						 "rollingUpdate"),
				 "maxUnavailable")),
			 1);
	s = load("{\"metadata\":{\"name\":\"fast\",\"annotations\":{\"storageclass.kubernetes.io/"
		 "is-default-class\":\"true\"}}}");
	assert_string_equal(causes_of(sc, s, NULL), "provisioner|");
	json_object_set_new(s, "provisioner", json_string("x.io/y"));
	assert_string_equal(causes_of(sc, s, NULL), "");
	cells = sc->cells(s);
	assert_string_equal(json_string_value(json_array_get(cells, 0)), "fast (default)");
	assert_string_equal(json_string_value(json_array_get(cells, 2)), "Delete");
	assert_string_equal(json_string_value(json_array_get(cells, 3)), "Immediate");
}

static void ingress_and_rbac(void **state)
{
	const struct api_resource *ing = res("networking.k8s.io", "ingresses");
	const struct api_resource *rb = res("rbac.authorization.k8s.io", "rolebindings");
	_cleanup_json_ json_t *i = load(
		"{\"metadata\":{\"name\":\"w\"},\"spec\":{\"rules\":[{\"host\":\"a.b\",\"http\":"
		"{\"paths\":[{\"path\":\"/\",\"backend\":{\"service\":{\"name\":\"w\",\"port\":"
		"{\"number\":80}}}}]}}]}}");
	_cleanup_json_ json_t *b =
		load("{\"metadata\":{\"name\":\"system:b\"},\"roleRef\":"
		     "{\"kind\":\"Role\",\"name\":\"r\"},\"subjects\":[{\"kind\":"
		     "\"ServiceAccount\",\"name\":\"sa\",\"namespace\":\"x\"}]}");
	_cleanup_json_ json_t *old = NULL, *cells = NULL;

	(void)state;
	assert_string_equal(causes_of(ing, i, NULL), "spec.rules[0].http.paths[0].pathType|");
	assert_null(api_name_error(rb->name_rule, "system:b"));
	assert_non_null(api_name_error(rb->name_rule, "a/b"));
	assert_string_equal(causes_of(rb, b, NULL), "");
	old = json_deep_copy(b);
	json_object_set_new(json_object_get(b, "roleRef"), "name", json_string("other"));
	assert_string_equal(causes_of(rb, b, old), "roleRef|");
	cells = rb->cells(old);
	assert_string_equal(json_string_value(json_array_get(cells, 1)), "Role/r");
	assert_string_equal(json_string_value(json_array_get(cells, 5)), "x/sa");
}

static void scale(void **state)
{
	const struct api_resource *r = res("apps", "deployments");
	const struct api_resource *rc = api_registry_find("replicationcontrollers", 22);
	_cleanup_json_ json_t *d = load(deploy), *s = NULL, *s2 = NULL, *bad = NULL, *causes = NULL;
	_cleanup_json_ json_t *c = load("{\"metadata\":{\"name\":\"c\"},\"spec\":{\"replicas\":2,"
					"\"selector\":{\"a\":\"b\"}},\"status\":{\"replicas\":1}}");

	(void)state;
	assert_true(r->has_scale && rc->has_scale);
	assert_false(res("apps", "daemonsets")->has_scale);
	r->defaults(d);
	s = api_scale_of(r, d);
	assert_string_equal(json_string_value(json_object_get(s, "apiVersion")), "autoscaling/v1");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(s, "spec"), "replicas")), 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(s, "status"), "selector")),
		"app=web");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(s, "metadata"), "name")), "web");
	json_object_set_new(json_object_get(s, "spec"), "replicas", json_integer(4));
	causes = json_array();
	assert_int_equal(api_scale_apply(d, s, causes), 0);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(d, "spec"), "replicas")), 4);
	bad = load("{\"spec\":{\"replicas\":-2}}");
	assert_true(api_scale_apply(d, bad, causes) < 0);
	assert_int_equal(json_array_size(causes), 1);
	s2 = api_scale_of(rc, c);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(s2, "status"), "selector")),
		"a=b");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(s2, "status"), "replicas")), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup_and_scope),
		cmocka_unit_test(discovery),
		cmocka_unit_test(deployment_defaults_and_cells),
		cmocka_unit_test(deployment_validation),
		cmocka_unit_test(daemonset_and_storageclass),
		cmocka_unit_test(ingress_and_rbac),
		cmocka_unit_test(scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

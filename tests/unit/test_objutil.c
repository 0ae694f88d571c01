#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "objutil.h"

static json_t *J(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);

	assert_non_null(v);
	return v;
}

static void paths(void **state)
{
	json_t *o = J("{\"metadata\":{\"name\":\"a\",\"generation\":3},\"spec\":{\"x\":[1]}}");

	(void)state;
	assert_string_equal(k8c_str_at(o, "metadata.name"), "a");
	assert_int_equal(k8c_int_at(o, "metadata.generation", -1), 3);
	assert_int_equal(k8c_int_at(o, "metadata.name", -1), -1);
	assert_null(k8c_at(o, "spec.x.y"));
	assert_null(k8c_at(o, "nope.deeper"));
	assert_true(json_is_array(k8c_at(o, "spec.x")));
	json_decref(o);
}

static void selectors(void **state)
{
	json_t *labels = J("{\"app\":\"web\",\"tier\":\"fe\"}");
	json_t *s;

	(void)state;
	assert_false(k8c_label_selector_matches(NULL, labels));
	s = J("{}");
	assert_true(k8c_label_selector_matches(s, labels));
	json_decref(s);
	s = J("{\"matchLabels\":{\"app\":\"web\"}}");
	assert_true(k8c_label_selector_matches(s, labels));
	assert_false(k8c_label_selector_matches(s, NULL));
	json_decref(s);
	s = J("{\"matchLabels\":{\"app\":\"db\"}}");
	assert_false(k8c_label_selector_matches(s, labels));
	json_decref(s);
	s = J("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"be\","
	      "\"fe\"]},"
	      "{\"key\":\"env\",\"operator\":\"DoesNotExist\"}]}");
	assert_true(k8c_label_selector_matches(s, labels));
	json_decref(s);
	s = J("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"fe\"]}"
	      "]}");
	assert_false(k8c_label_selector_matches(s, labels));
	json_decref(s);
	s = J("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"Exists\"},"
	      "{\"key\":\"app\",\"operator\":\"Bogus\"}]}");
	assert_false(k8c_label_selector_matches(s, labels));
	json_decref(s);
	s = J("{\"app\":\"web\"}");
	assert_true(k8c_map_selector_matches(s, labels));
	json_object_set_new(s, "tier", json_string("be"));
	assert_false(k8c_map_selector_matches(s, labels));
	json_decref(s);
	json_decref(labels);
}

static void pods(void **state)
{
	json_t *p = J("{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u1\"},{\"uid\":\"u2\","
		      "\"controller\":true}]},\"status\":{\"phase\":\"Running\",\"conditions\":["
		      "{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Initialized\","
		      "\"status\":\"False\"}]}}");

	(void)state;
	assert_string_equal(k8c_str_at(k8c_controller_ref(p), "uid"), "u2");
	assert_true(k8c_has_owner_uid(p, "u1"));
	assert_false(k8c_has_owner_uid(p, "u3"));
	assert_true(k8c_pod_ready(p));
	assert_false(k8c_condition_true(p, "Initialized"));
	assert_null(k8c_condition(p, "PodScheduled"));
	assert_true(k8c_pod_active(p));
	json_object_set_new(json_object_get(p, "status"), "phase", json_string("Succeeded"));
	assert_false(k8c_pod_active(p));
	json_decref(p);
}

static void times(void **state)
{
	char buf[28];
	struct timespec ts = {1700000000, 123456789};

	(void)state;
	k8c_rfc3339(1700000000, buf);
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
	k8c_rfc3339_micro(&ts, buf);
	assert_string_equal(buf, "2023-11-14T22:13:20.123456Z");
	assert_int_equal(k8c_rfc3339_parse("2023-11-14T22:13:20Z"), 1700000000);
	assert_int_equal(k8c_rfc3339_parse("2023-11-14T22:13:20.5Z"), 1700000000);
	assert_int_equal(k8c_rfc3339_parse("2023-11-14T23:13:20+01:00"), 1700000000);
	assert_int_equal(k8c_rfc3339_parse("2023-11-14"), -1);
	assert_int_equal(k8c_rfc3339_parse("2023-11-14T22:13:20Zjunk"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paths),
		cmocka_unit_test(selectors),
		cmocka_unit_test(pods),
		cmocka_unit_test(times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

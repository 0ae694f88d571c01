#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cni_types.h"

static const char *full_result =
	"{\"cniVersion\":\"1.1.0\","
	"\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"0a:58:0a:f4:00:01\"},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:00:05\",\"sandbox\":\"/var/run/netns/p\"}],"
	"\"ips\":[{\"address\":\"10.244.0.5/24\",\"gateway\":\"10.244.0.1\",\"interface\":1},"
	"{\"address\":\"fd00::5/64\",\"interface\":1}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.0.1\",\"mtu\":1400,\"table\":100},"
	"{\"dst\":\"10.96.0.0/12\"}],"
	"\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}";

static json_t *roundtrip(const char *in, const char *version)
{
	struct cni_result r;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *j = json_loads(in, 0, NULL), *out;

	assert_non_null(j);
	assert_int_equal(cni_result_parse(j, &r, &err), 0);
	out = cni_result_to_json(&r, version);
	cni_result_free(&r);
	json_decref(j);
	return out;
}

static void encode_v110(void **state)
{
	json_t *o = roundtrip(full_result, "1.1.0");
	json_t *rt0 = json_array_get(json_object_get(o, "routes"), 0);
	json_t *ip0 = json_array_get(json_object_get(o, "ips"), 0);

	assert_string_equal(json_string_value(json_object_get(o, "cniVersion")), "1.1.0");
	assert_int_equal(json_integer_value(json_object_get(rt0, "mtu")), 1400);
	assert_int_equal(json_integer_value(json_object_get(rt0, "table")), 100);
	assert_null(json_object_get(ip0, "version"));
	assert_int_equal(json_integer_value(json_object_get(ip0, "interface")), 1);
	assert_string_equal(json_string_value(json_object_get(ip0, "gateway")), "10.244.0.1");
	json_decref(o);
}

static void encode_v040_has_ip_version_and_no_11_fields(void **state)
{
	json_t *o = roundtrip(full_result, "0.4.0");
	json_t *rt0 = json_array_get(json_object_get(o, "routes"), 0);
	json_t *ip1 = json_array_get(json_object_get(o, "ips"), 1);

	assert_string_equal(json_string_value(json_object_get(ip1, "version")), "6");
	assert_null(json_object_get(rt0, "mtu"));
	assert_null(json_object_get(rt0, "table"));
	assert_string_equal(json_string_value(json_object_get(rt0, "gw")), "10.244.0.1");
	json_decref(o);
}

static void parse_errors_name_the_field(void **state)
{
	struct cni_result r;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *j = json_loads("{\"ips\":[{\"address\":\"10.0.0.1\"}]}", 0, NULL);

	assert_int_equal(cni_result_parse(j, &r, &err), -1);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	assert_non_null(strstr(err.msg, "ips[0]"));
	assert_non_null(strstr(err.msg, "address"));
	k8c_error_clear(&err);
	json_decref(j);
	j = json_loads(
		"{\"interfaces\":[],\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":3}]}", 0,
		NULL);
	assert_int_equal(cni_result_parse(j, &r, &err), -1);
	assert_non_null(strstr(err.msg, "out of range"));
	k8c_error_clear(&err);
	json_decref(j);
}

static void versions(void **state)
{
	assert_true(cni_version_supported("0.3.0"));
	assert_true(cni_version_supported("1.1.0"));
	assert_false(cni_version_supported("0.2.0"));
	assert_false(cni_version_supported("1.2.0"));
	assert_true(cni_version_cmp("0.4.0", "1.0.0") < 0);
	assert_true(cni_version_cmp("1.1.0", "1.0.0") > 0);
	assert_int_equal(cni_version_cmp("1.0.0", "1.0.0"), 0);
}

static void error_json(void **state)
{
	json_t *e = cni_error_json("1.0.0", 7, "bad", NULL);

	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")), "1.0.0");
	assert_int_equal(json_integer_value(json_object_get(e, "code")), 7);
	assert_string_equal(json_string_value(json_object_get(e, "msg")), "bad");
	json_decref(e);
	e = cni_error_json(NULL, 4, "x", NULL);
	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")),
			    CNI_LATEST_VERSION);
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encode_v110),
		cmocka_unit_test(encode_v040_has_ip_version_and_no_11_fields),
		cmocka_unit_test(parse_errors_name_the_field),
		cmocka_unit_test(versions),
		cmocka_unit_test(error_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

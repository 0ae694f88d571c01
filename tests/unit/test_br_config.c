#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "br_config.h"
#include "bridge.h"

static int parse(const char *conf, const char *cni_args, struct br_config *c, struct k8c_error *err)
{
	char args[256];
	const char *env[] = {"CNI_COMMAND=ADD",
			     "CNI_CONTAINERID=a",
			     "CNI_NETNS=/n",
			     "CNI_IFNAME=eth0",
			     "CNI_PATH=/x",
			     args,
			     NULL};
	struct cni_request req;
	int ret;

	snprintf(args, sizeof(args), "CNI_ARGS=%s", cni_args ? cni_args : "");
	if (cni_request_parse(&bridge_plugin, conf, strlen(conf), env, &req, err) < 0) {
		cni_request_free(&req);
		return -2;
	}
	ret = br_config_parse(&req, c, err);
	if (ret == 0)
		br_config_free(c);
	cni_request_free(&req);
	return ret;
}

#define PRE "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"type\":\"k8c-bridge\""

static void defaults(void **state)
{
	struct br_config c;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(PRE ",\"isDefaultGateway\":true}", NULL, &c, &err), 0);
	assert_string_equal(c.bridge, "cni0");
	assert_true(c.is_gateway);
	assert_true(c.preserve_default_vlan);
	assert_null(c.ipam_type);
	assert_string_equal(c.mac, "");
	assert_int_equal(c.n_masq_except, 0);
	br_config_free(&c);

	assert_int_equal(
		parse(PRE ",\"ipMasq\":true,\"ipMasqExceptions\":[\"10.244.3.1/16\",\"fd00::/8\"]}",
		      NULL, &c, &err),
		0);
	assert_int_equal(c.n_masq_except, 2);
	{
		char buf[K8C_IPNET_STRLEN];

		assert_string_equal(k8c_ipnet_format(&c.masq_except[0], buf), "10.244.0.0/16");
		assert_string_equal(k8c_ipnet_format(&c.masq_except[1], buf), "fd00::/8");
	}
	br_config_free(&c);
}

static void mac_precedence(void **state)
{
	struct br_config c;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(PRE "}", "MAC=0A:00:00:00:00:01", &c, &err), 0);
	assert_string_equal(c.mac, "0a:00:00:00:00:01");
	assert_int_equal(parse(PRE ",\"args\":{\"cni\":{\"mac\":\"0a:00:00:00:00:02\"}}}",
			       "MAC=0a:00:00:00:00:01", &c, &err),
			 0);
	assert_string_equal(c.mac, "0a:00:00:00:00:02");
	assert_int_equal(parse(PRE ",\"args\":{\"cni\":{\"mac\":\"0a:00:00:00:00:02\"}},"
				   "\"runtimeConfig\":{\"mac\":\"0a:00:00:00:00:03\"}}",
			       NULL, &c, &err),
			 0);
	assert_string_equal(c.mac, "0a:00:00:00:00:03");
}

static void expect_invalid(const char *conf, const char *needle)
{
	struct br_config c;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(conf, NULL, &c, &err), -1);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	k8c_error_clear(&err);
}

static void invalid(void **state)
{
	expect_invalid(PRE ",\"mtu\":\"1500\"}", "\"mtu\": expected an integer, got a string");
	expect_invalid(PRE ",\"isGateway\":1}", "\"isGateway\"");
	expect_invalid(PRE ",\"vlan\":4095}", "4095");
	expect_invalid(PRE ",\"vlan\":5,\"vlanTrunk\":[{\"id\":6}]}", "at the same time");
	expect_invalid(PRE ",\"vlanTrunk\":[{\"minID\":10}]}", "maxID is missing");
	expect_invalid(PRE ",\"vlanTrunk\":[{\"minID\":10,\"maxID\":5}]}", "greater");
	expect_invalid(PRE ",\"vlanTrunk\":[{\"id\":0}]}", "id 0");
	expect_invalid(PRE ",\"hairpinMode\":true,\"promiscMode\":true}", "hairpinMode");
	expect_invalid(PRE ",\"bridge\":\"abcdefghijklmnopq\"}", "not a valid interface name");
	expect_invalid(PRE ",\"ipMasqBackend\":\"ipvs\"}", "ipMasqBackend");
	expect_invalid(PRE ",\"ipMasqExceptions\":\"10.0.0.0/8\"}", "ipMasqExceptions");
	expect_invalid(PRE ",\"ipMasqExceptions\":[\"10.0.0.1\"]}", "ipMasqExceptions\"[0]");
	expect_invalid(PRE ",\"ipMasqExceptions\":[\"10.0.0.0/8\",7]}", "ipMasqExceptions\"[1]");
	expect_invalid(PRE ",\"runtimeConfig\":{\"mac\":\"zz\"}}", "runtimeConfig.mac");
	expect_invalid(PRE ",\"disableContainerInterface\":true,\"ipam\":{\"type\":\"x\"}}",
		       "disableContainerInterface");
	expect_invalid(PRE ",\"ipam\":[]}", "\"ipam\"");
}

static void trunk_sorted_unique(void **state)
{
	struct br_config c;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *conf = PRE ",\"vlanTrunk\":[{\"id\":7},{\"minID\":3,\"maxID\":5},{\"id\":4}]}";
	const char *env[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=/n",
			     "CNI_IFNAME=eth0", "CNI_PATH=/x",	     NULL};
	struct cni_request req;

	assert_int_equal(cni_request_parse(&bridge_plugin, conf, strlen(conf), env, &req, &err), 0);
	assert_int_equal(br_config_parse(&req, &c, &err), 0);
	assert_int_equal(c.n_vlan_trunk, 4);
	assert_int_equal(c.vlan_trunk[0], 3);
	assert_int_equal(c.vlan_trunk[3], 7);
	br_config_free(&c);
	cni_request_free(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(mac_precedence),
		cmocka_unit_test(invalid),
		cmocka_unit_test(trunk_sorted_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

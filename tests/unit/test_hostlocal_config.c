/* k8c-host-local config parsing: defaults, validation and requested IPs as the reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hl_config.h"

static int parse(const char *json, const char *env_ip, struct hl_config *cfg, struct k8c_error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(json, 0, &jerr);
	int r;

	assert_non_null(j);
	r = hl_config_parse(j, env_ip, cfg, err);
	json_decref(j);
	return r;
}

/* Expect a failure with code and a message containing needle. */
static void expect_error(const char *json, const char *env_ip, int code, const char *needle)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;

	assert_int_equal(parse(json, env_ip, &cfg, &err), -1);
	assert_int_equal(err.code, code);
	assert_non_null(err.msg);
	if (!strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	assert_int_equal(cfg.n_sets, 0);
	k8c_error_clear(&err);
}

static void assert_ip(const struct k8c_ipnet *ip, const char *want)
{
	char buf[K8C_IPNET_STRLEN];

	assert_string_equal(k8c_ip_format(ip, buf), want);
}

#define NET(ipam) "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":" ipam "}"

static void legacy_defaults_v4(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;
	const struct hl_range *r;

	assert_int_equal(parse(NET("{\"subnet\":\"10.1.2.0/24\"}"), NULL, &cfg, &err), 0);
	assert_int_equal(cfg.n_sets, 1);
	assert_int_equal(cfg.sets[0].n, 1);
	r = &cfg.sets[0].ranges[0];
	assert_ip(&r->start, "10.1.2.1");
	assert_ip(&r->end, "10.1.2.254");
	assert_ip(&r->gateway, "10.1.2.1");
	assert_int_equal(r->subnet.prefix, 24);
	assert_string_equal(cfg.data_dir, HL_DEFAULT_DATA_DIR);
	assert_string_equal(cfg.name, "n");
	assert_null(cfg.resolv_conf);
	assert_int_equal(cfg.lock_timeout_ms, HL_DEFAULT_LOCK_TIMEOUT_MS);
	/* 254 addresses less the gateway. */
	assert_int_equal(hl_rangeset_capacity(&cfg.sets[0]), 253);
	hl_config_free(&cfg);
}

static void defaults_v6_and_explicit(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;
	const struct hl_range *r;
	char *s;

	assert_int_equal(parse(NET("{\"ranges\":[[{\"subnet\":\"fd00::/120\"}],"
				   "[{\"subnet\":\"10.0.0.0/16\",\"rangeStart\":\"10.0.1.10\","
				   "\"rangeEnd\":\"10.0.1.20\",\"gateway\":\"10.0.0.254\"}]],"
				   "\"dataDir\":\"/d\",\"lockTimeoutMs\":250}"),
			       NULL, &cfg, &err),
			 0);
	assert_int_equal(cfg.n_sets, 2);
	r = &cfg.sets[0].ranges[0];
	assert_ip(&r->start, "fd00::1");
	assert_ip(&r->end, "fd00::ff");
	assert_ip(&r->gateway, "fd00::1");
	r = &cfg.sets[1].ranges[0];
	assert_ip(&r->start, "10.0.1.10");
	assert_ip(&r->end, "10.0.1.20");
	assert_ip(&r->gateway, "10.0.0.254");
	assert_int_equal(hl_rangeset_capacity(&cfg.sets[1]), 11);
	s = hl_rangeset_format(&cfg.sets[1]);
	assert_string_equal(s, "10.0.1.10-10.0.1.20");
	free(s);
	assert_string_equal(cfg.data_dir, "/d");
	assert_int_equal(cfg.lock_timeout_ms, 250);
	hl_config_free(&cfg);
}

static void range_order(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;

	/* runtimeConfig.ipRanges, then the legacy range, then ipam.ranges (reference order). */
	assert_int_equal(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\","
			       "\"runtimeConfig\":{\"ipRanges\":[[{\"subnet\":\"10.3.0.0/24\"}]]},"
			       "\"ipam\":{\"subnet\":\"10.1.0.0/"
			       "24\",\"ranges\":[[{\"subnet\":\"10.2.0.0/24\"}]]}}",
			       NULL, &cfg, &err),
			 0);
	assert_int_equal(cfg.n_sets, 3);
	assert_ip(&cfg.sets[0].ranges[0].subnet, "10.3.0.0");
	assert_ip(&cfg.sets[1].ranges[0].subnet, "10.1.0.0");
	assert_ip(&cfg.sets[2].ranges[0].subnet, "10.2.0.0");
	hl_config_free(&cfg);
}

static void invalid_configs(void **state)
{
	const int C = CNI_ERR_INVALID_CONFIG;

	expect_error("{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", NULL, C, "missing 'ipam'");
	expect_error(NET("{}"), NULL, C, "no IP ranges specified");
	expect_error(NET("{\"subnet\":\"10.1.2.0/33\"}"), NULL, C, "\"10.1.2.0/33\"");
	expect_error(NET("{\"subnet\":\"10.1.2.0\"}"), NULL, C, "ipam.subnet");
	expect_error(NET("{\"subnet\":\"10.1.2.5/24\"}"), NULL, C, "host bits");
	expect_error(NET("{\"subnet\":\"10.1.2.0/31\"}"), NULL, C, "too small");
	expect_error(NET("{\"subnet\":\"10.1.2.0/24\",\"rangeStart\":\"10.1.3.1\"}"), NULL, C,
		     "rangeStart: 10.1.3.1 not in network");
	expect_error(NET("{\"subnet\":\"10.1.2.0/24\",\"rangeStart\":\"10.1.2.50\","
			 "\"rangeEnd\":\"10.1.2.40\"}"),
		     NULL, C, "rangeEnd: 10.1.2.40");
	expect_error(NET("{\"subnet\":\"10.1.2.0/24\",\"rangeEnd\":\"fd00::1\"}"), NULL, C,
		     "rangeEnd");
	expect_error(NET("{\"subnet\":\"10.1.2.0/24\",\"gateway\":\"nope\"}"), NULL, C,
		     "ipam.gateway: invalid IP address \"nope\"");
	expect_error(NET("{\"ranges\":[[]]}"), NULL, C, "empty range set");
	expect_error(NET("{\"ranges\":[[{\"rangeStart\":\"10.0.0.1\"}]]}"), NULL, C,
		     "ipam.ranges[0][0].subnet: missing");
	expect_error(
		NET("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"fd00::/64\"}]]}"),
		NULL, C, "mixed address families");
	/* Overlap inside a set and across sets. */
	expect_error(
		NET("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"10.0.0.0/25\"}]]}"),
		NULL, C, "overlap");
	expect_error(
		NET("{\"ranges\":[[{\"subnet\":\"10.0.0.0/16\"}],[{\"subnet\":\"10.0.5.0/24\"}]]}"),
		NULL, C, "range set 0 (10.0.0.1-10.0.255.254) overlaps with 1");
	expect_error(
		NET("{\"subnet\":\"10.0.0.0/24\",\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}]]}"),
		NULL, C, "overlaps");
	/* Wrong types. */
	expect_error(NET("{\"ranges\":\"10.0.0.0/24\"}"), NULL, C, "ranges");
	expect_error(NET("{\"ranges\":[{\"subnet\":\"10.0.0.0/24\"}]}"), NULL, C,
		     "ipam.ranges[0]: expected an array");
	expect_error(NET("{\"subnet\":24}"), NULL, C, "subnet");
	expect_error(NET("{\"subnet\":\"10.0.0.0/24\",\"dataDir\":[]}"), NULL, C, "dataDir");
	expect_error(NET("{\"subnet\":\"10.0.0.0/24\",\"lockTimeoutMs\":0}"), NULL, C,
		     "lockTimeoutMs");
	expect_error(NET("{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"x\"}]}"), NULL, C,
		     "ipam.routes[0].dst");
	expect_error(NET("{\"subnet\":\"10.0.0.0/24\",\"routes\":{}}"), NULL, C, "routes");
	expect_error("{\"cniVersion\":\"1.0.0\",\"name\":\"../x\",\"ipam\":{\"subnet\":\"10.0.0.0/"
		     "24\"}}",
		     NULL, C, "name");
	expect_error(
		"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"args\":{\"cni\":{\"ips\":[\"bad\"]}},"
		"\"ipam\":{\"subnet\":\"10.0.0.0/24\"}}",
		NULL, C, "args.cni.ips[0]");
	expect_error(NET("{\"subnet\":\"10.0.0.0/24\"}"), "10.0.0.5,zzz", CNI_ERR_INVALID_ENV,
		     "\"zzz\"");
}

static void requested_ips(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;

	assert_int_equal(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\","
			       "\"args\":{\"cni\":{\"ips\":[\"10.0.0.7\",\"10.0.0.5\"]}},"
			       "\"runtimeConfig\":{\"ips\":[\"fd00::9/64\"]},"
			       "\"ipam\":{\"subnet\":\"10.0.0.0/24\"}}",
			       " 10.0.0.5 , 10.0.0.6", &cfg, &err),
			 0);
	/* Duplicates collapse; prefixes are dropped. */
	assert_int_equal(cfg.n_requested, 4);
	assert_ip(&cfg.requested[0], "10.0.0.5");
	assert_ip(&cfg.requested[1], "10.0.0.6");
	assert_ip(&cfg.requested[2], "10.0.0.7");
	assert_ip(&cfg.requested[3], "fd00::9");
	assert_int_equal(cfg.requested[3].prefix, -1);
	hl_config_free(&cfg);
}

static void routes(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;
	char buf[K8C_IPNET_STRLEN];

	assert_int_equal(
		parse(NET("{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\"},"
			  "{\"dst\":\"10.9.0.5/16\",\"gw\":\"10.0.0.3\",\"mtu\":1400}]}"),
		      NULL, &cfg, &err),
		0);
	assert_int_equal(cfg.n_routes, 2);
	assert_string_equal(k8c_ipnet_format(&cfg.routes[0].dst, buf), "0.0.0.0/0");
	assert_false(cfg.routes[0].has_gw);
	/* Host bits are kept in route destinations, as the reference prints them back. */
	assert_string_equal(k8c_ipnet_format(&cfg.routes[1].dst, buf), "10.9.0.5/16");
	assert_true(cfg.routes[1].has_gw);
	assert_ip(&cfg.routes[1].gw, "10.0.0.3");
	assert_int_equal(cfg.routes[1].mtu, 1400);
	hl_config_free(&cfg);
}

static void resolv_conf(void **state)
{
	char path[] = "/tmp/hl-resolv-XXXXXX";
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *dns = NULL;
	char *s;
	int fd = mkstemp(path);
	const char *text = "# comment\n; other\nnameserver 10.0.0.53\nnameserver fd00::53\n"
			   "domain example.com\nsearch a.example b.example\n"
			   "options ndots:5 timeout:1\nnameserver\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(hl_resolv_conf_parse(path, &dns, &err), 0);
	s = json_dumps(dns, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(s, "{\"domain\":\"example.com\",\"nameservers\":[\"10.0.0.53\","
			       "\"fd00::53\"],\"options\":[\"ndots:5\",\"timeout:1\"],"
			       "\"search\":[\"a.example\",\"b.example\"]}");
	free(s);
	json_decref(dns);
	unlink(path);
	assert_int_equal(hl_resolv_conf_parse(path, &dns, &err), -1);
	assert_int_equal(err.code, CNI_ERR_IO);
	k8c_error_clear(&err);
}

static void contains(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;
	struct k8c_ipnet ip;

	assert_int_equal(parse(NET("{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":"
				   "\"10.0.0.10\",\"rangeEnd\":\"10.0.0.20\"},{\"subnet\":"
				   "\"10.0.1.0/24\"}]]}"),
			       NULL, &cfg, &err),
			 0);
	k8c_ipnet_parse("10.0.0.9", 0, &ip);
	assert_null(hl_rangeset_find(&cfg.sets[0], &ip));
	k8c_ipnet_parse("10.0.0.20", 0, &ip);
	assert_ptr_equal(hl_rangeset_find(&cfg.sets[0], &ip), &cfg.sets[0].ranges[0]);
	k8c_ipnet_parse("10.0.1.255", 0, &ip);
	assert_null(hl_rangeset_find(&cfg.sets[0], &ip));
	k8c_ipnet_parse("10.0.1.254", 0, &ip);
	assert_ptr_equal(hl_rangeset_find(&cfg.sets[0], &ip), &cfg.sets[0].ranges[1]);
	hl_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(legacy_defaults_v4), cmocka_unit_test(defaults_v6_and_explicit),
		cmocka_unit_test(range_order),	      cmocka_unit_test(invalid_configs),
		cmocka_unit_test(requested_ips),      cmocka_unit_test(routes),
		cmocka_unit_test(resolv_conf),	      cmocka_unit_test(contains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ipaddr.h"

static void parse_and_format(void **state)
{
	struct k8c_ipnet n;
	char buf[K8C_IPNET_STRLEN];

	assert_int_equal(k8c_ipnet_parse("10.1.2.3/24", 1, &n), 0);
	assert_int_equal(n.family, AF_INET);
	assert_int_equal(n.prefix, 24);
	assert_string_equal(k8c_ipnet_format(&n, buf), "10.1.2.3/24");
	assert_string_equal(k8c_ip_format(&n, buf), "10.1.2.3");
	assert_int_equal(k8c_ipnet_parse("fd00::1/64", -1, &n), 0);
	assert_int_equal(n.family, AF_INET6);
	assert_string_equal(k8c_ipnet_format(&n, buf), "fd00::1/64");
	assert_int_equal(k8c_ipnet_parse("10.1.2.3", -1, &n), 0);
	assert_int_equal(n.prefix, -1);
}

static void parse_rejects(void **state)
{
	struct k8c_ipnet n;
	const char *bad[] = {"",
			     "10.1.2",
			     "10.1.2.3/33",
			     "10.1.2.3/",
			     "10.1.2.3/-1",
			     "10.1.2.3/024",
			     "fd00::1/129",
			     "300.1.1.1",
			     "10.1.2.3/2x",
			     "x"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(k8c_ipnet_parse(bad[i], -1, &n), -1);
	assert_int_equal(k8c_ipnet_parse("10.1.2.3", 1, &n), -1);   /* prefix required */
	assert_int_equal(k8c_ipnet_parse("10.1.2.3/8", 0, &n), -1); /* prefix forbidden */
}

static void contains_overlaps_mask(void **state)
{
	struct k8c_ipnet net, ip, other;
	char buf[K8C_IPNET_STRLEN];

	k8c_ipnet_parse("10.1.2.0/23", 1, &net);
	k8c_ipnet_parse("10.1.3.255", 0, &ip);
	assert_true(k8c_ipnet_contains(&net, &ip));
	k8c_ipnet_parse("10.1.4.0", 0, &ip);
	assert_false(k8c_ipnet_contains(&net, &ip));
	k8c_ipnet_parse("10.1.3.0/24", 1, &other);
	assert_true(k8c_ipnet_overlaps(&net, &other));
	k8c_ipnet_parse("10.1.4.0/24", 1, &other);
	assert_false(k8c_ipnet_overlaps(&net, &other));
	k8c_ipnet_parse("10.1.2.77/20", 1, &net);
	k8c_ipnet_mask(&net);
	assert_string_equal(k8c_ipnet_format(&net, buf), "10.1.0.0/20");
}

static void add_carries(void **state)
{
	struct k8c_ipnet ip;
	char buf[K8C_IPNET_STRLEN];

	k8c_ipnet_parse("10.1.2.255", 0, &ip);
	assert_int_equal(k8c_ip_add(&ip, 1), 0);
	assert_string_equal(k8c_ip_format(&ip, buf), "10.1.3.0");
	assert_int_equal(k8c_ip_add(&ip, -1), 0);
	assert_string_equal(k8c_ip_format(&ip, buf), "10.1.2.255");
	k8c_ipnet_parse("255.255.255.255", 0, &ip);
	assert_int_equal(k8c_ip_add(&ip, 1), -1);
	k8c_ipnet_parse("fd00::ffff", 0, &ip);
	assert_int_equal(k8c_ip_add(&ip, 2), 0);
	assert_string_equal(k8c_ip_format(&ip, buf), "fd00::1:1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_and_format),
		cmocka_unit_test(parse_rejects),
		cmocka_unit_test(contains_overlaps_mask),
		cmocka_unit_test(add_carries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

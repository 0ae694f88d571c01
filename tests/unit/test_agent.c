/* agent/: $(VAR) expansion, quantities, the CNI default conflist and configuration loading. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "cni_runtime.h"
#include "pod.h"

static void test_expand(void **state)
{
	char a[] = "A=1", bb[] = "BB=two", empty[] = "EMPTY=";
	char *env[] = {a, bb, empty, NULL};
	static const char *const cases[][2] = {
		{"$(A)", "1"},
		{"x$(BB)y", "xtwoy"},
		{"$(A)$(BB)", "1two"},
		{"$(NOPE)", "$(NOPE)"},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"$(EMPTY)|", "|"},
		{"$(A", "$(A"},
		{"plain $ text", "plain $ text"},
		{"", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = podenv_expand(cases[i][0], env);

		if (strcmp(got, cases[i][1]) != 0)
			fail_msg("expand [%s]: want [%s] got [%s]", cases[i][0], cases[i][1], got);
		free(got);
	}
}

static void test_quantity(void **state)
{
	long long v;

	assert_int_equal(quantity_parse("500m", true, &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(quantity_parse("2", true, &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(quantity_parse("0.1", true, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(quantity_parse("64Mi", false, &v), 0);
	assert_int_equal(v, 64LL << 20);
	assert_int_equal(quantity_parse("1G", false, &v), 0);
	assert_int_equal(v, 1000000000LL);
	assert_int_equal(quantity_parse("1.5Gi", false, &v), 0);
	assert_int_equal(v, 3LL << 29);
	assert_int_equal(quantity_parse("12x", false, &v), -1);
	assert_int_equal(quantity_parse("", false, &v), -1);
	assert_int_equal(quantity_parse("-1", false, &v), -1);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_cni_conf(void **state)
{
	char dir[] = "/tmp/k8c-test-agent.XXXXXX";
	char conf[256], path[300];
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_cni *c;

	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/conf", dir);
	struct k8c_cni_opts o = {.bin_dir = "/nonexistent", .conf_dir = conf, .cache_dir = dir};

	/* nothing there: an error that names the dir */
	assert_null(k8c_cni_new(&o, &err));
	assert_non_null(strstr(err.msg, conf));
	k8c_error_clear(&err);
	/* the default conflist, written once */
	assert_int_equal(
		k8c_cni_write_default_conf(conf, "k8c0", "10.1.2.0/24", "/x", "10.1.0.0/16", &err),
		1);
	assert_int_equal(k8c_cni_write_default_conf(conf, "k8c0", "10.9.9.0/24", "/x", NULL, &err),
			 0);
	c = k8c_cni_new(&o, &err);
	assert_non_null(c);
	assert_string_equal(k8c_cni_network_name(c), "k8c");
	k8c_cni_free(c);
	{
		/* the cluster CIDR is a masquerade exception: pod-to-pod keeps its address */
		json_t *j;

		snprintf(path, sizeof(path), "%s/10-k8c.conflist", conf);
		j = json_load_file(path, 0, NULL);
		assert_non_null(j);
		assert_string_equal(
			json_string_value(json_array_get(
				json_object_get(json_array_get(json_object_get(j, "plugins"), 0),
						"ipMasqExceptions"),
				0)),
			"10.1.0.0/16");
		json_decref(j);
	}
	/* a broken file first in order is skipped; a single-plugin .conf is a list of one */
	snprintf(path, sizeof(path), "%s/01-broken.conflist", conf);
	write_text(path, "{not json");
	snprintf(path, sizeof(path), "%s/05-single.conf", conf);
	write_text(path, "{\"cniVersion\": \"0.4.0\", \"name\": \"single\", \"type\": \"bridge\"}");
	snprintf(path, sizeof(path), "%s/00-ignored.txt", conf);
	write_text(path, "{}");
	c = k8c_cni_new(&o, &err);
	assert_non_null(c);
	assert_string_equal(k8c_cni_network_name(c), "single");
	/* no cache entry: ENOENT; ids: none */
	assert_null(k8c_cni_cached_result(c, "x", "eth0", &err));
	assert_int_equal(err.code, ENOENT);
	k8c_error_clear(&err);
	char **ids = k8c_cni_cached_ids(c, &err);

	assert_non_null(ids);
	assert_null(ids[0]);
	free(ids);
	/* a plugin that is not there: libcni's wording */
	struct k8c_cni_att a = {
		.container_id = "c1", .netns = "/proc/self/ns/net", .ifname = "eth0"};

	assert_int_equal(k8c_cni_add(c, &a, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "failed to find plugin \"bridge\" in path [/nonexistent]"));
	k8c_error_clear(&err);
	k8c_cni_free(c);
	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_quantity),
		cmocka_unit_test(test_cni_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

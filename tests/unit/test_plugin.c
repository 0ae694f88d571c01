#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "plugin.h"

static const char *const known[] = {"MAC", NULL};
static const struct cni_plugin plugin = {
	.name = "test", .about = "test", .known_args = known, .needs_netns = true};

#define CONF "{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"type\":\"k8c-bridge\"}"

static int parse(const char *conf, const char *const *env, struct cni_request *req,
		 struct k8c_error *err)
{
	return cni_request_parse(&plugin, conf, strlen(conf), env, req, err);
}

static void expect_code(const char *conf, const char *const *env, int code, const char *needle)
{
	struct cni_request req;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(conf, env, &req, &err), -1);
	assert_int_equal(err.code, code);
	if (needle && !strstr(err.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
	k8c_error_clear(&err);
	cni_request_free(&req);
}

static void add_ok(void **state)
{
	const char *env[] = {"CNI_COMMAND=ADD",
			     "CNI_CONTAINERID=abc-1.x_y",
			     "CNI_NETNS=/run/netns/x",
			     "CNI_IFNAME=eth0",
			     "CNI_PATH=/opt/cni/bin",
			     "CNI_ARGS=MAC=0a:00:00:00:00:01",
			     NULL};
	struct cni_request req;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(CONF, env, &req, &err), 0);
	assert_int_equal(req.command, CNI_CMD_ADD);
	assert_string_equal(req.name, "net");
	assert_string_equal(req.version, "1.0.0");
	assert_string_equal(cni_request_arg(&req, "MAC"), "0a:00:00:00:00:01");
	assert_null(req.prev_result);
	cni_request_free(&req);
}

static void bad_env(void **state)
{
	const char *no_cmd[] = {"CNI_PATH=/x", NULL};
	const char *bad_cmd[] = {"CNI_COMMAND=FOO", "CNI_PATH=/x", NULL};
	const char *long_if[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a",
				 "CNI_NETNS=/n",    "CNI_IFNAME=abcdefghijklmnop",
				 "CNI_PATH=/x",	    NULL};
	const char *bad_id[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=-a", "CNI_NETNS=/n",
				"CNI_IFNAME=eth0", "CNI_PATH=/x",	 NULL};
	const char *no_netns[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
				  "CNI_PATH=/x", NULL};
	const char *unknown_arg[] = {"CNI_COMMAND=ADD",
				     "CNI_CONTAINERID=a",
				     "CNI_NETNS=/n",
				     "CNI_IFNAME=eth0",
				     "CNI_PATH=/x",
				     "CNI_ARGS=FOO=1",
				     NULL};
	const char *bad_pair[] = {"CNI_COMMAND=ADD",
				  "CNI_CONTAINERID=a",
				  "CNI_NETNS=/n",
				  "CNI_IFNAME=eth0",
				  "CNI_PATH=/x",
				  "CNI_ARGS=FOO",
				  NULL};

	expect_code(CONF, no_cmd, CNI_ERR_INVALID_ENV, "CNI_COMMAND");
	expect_code(CONF, bad_cmd, CNI_ERR_INVALID_ENV, "FOO");
	expect_code(CONF, long_if, CNI_ERR_INVALID_ENV, "15");
	expect_code(CONF, bad_id, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID");
	expect_code(CONF, no_netns, CNI_ERR_INVALID_ENV, "CNI_NETNS");
	expect_code(CONF, unknown_arg, CNI_ERR_INVALID_ENV, "FOO");
	expect_code(CONF, bad_pair, CNI_ERR_INVALID_ENV, "FOO");
}

static void ignore_unknown_and_del_without_netns(void **state)
{
	const char *env[] = {"CNI_COMMAND=DEL",
			     "CNI_CONTAINERID=a",
			     "CNI_IFNAME=eth0",
			     "CNI_PATH=/x",
			     "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web;FOO=bar",
			     NULL};
	struct cni_request req;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(CONF, env, &req, &err), 0);
	assert_null(req.netns);
	assert_string_equal(cni_request_arg(&req, "K8S_POD_NAME"), "web");
	cni_request_free(&req);
}

static void bad_conf(void **state)
{
	const char *env[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=/n",
			     "CNI_IFNAME=eth0", "CNI_PATH=/x",	     NULL};
	const char *status[] = {"CNI_COMMAND=STATUS", "CNI_PATH=/x", NULL};

	expect_code("{\"cniVersion\":", env, CNI_ERR_DECODE, "invalid JSON");
	expect_code("[1]", env, CNI_ERR_DECODE, "an object");
	expect_code("{\"name\":\"n\"}", env, CNI_ERR_INCOMPATIBLE_VERSION, "cniVersion");
	expect_code("{\"cniVersion\":\"0.2.0\",\"name\":\"n\"}", env, CNI_ERR_INCOMPATIBLE_VERSION,
		    "0.2.0");
	expect_code("{\"cniVersion\":\"1.0.0\"}", env, CNI_ERR_INVALID_CONFIG, "name");
	expect_code("{\"cniVersion\":\"1.0.0\",\"name\":5}", env, CNI_ERR_INVALID_CONFIG,
		    "\"name\"");
	expect_code("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"prevResult\":3}", env,
		    CNI_ERR_DECODE, "prevResult");
	expect_code(CONF, status, CNI_ERR_INCOMPATIBLE_VERSION, "STATUS");
}

static void gc_attachments(void **state)
{
	const char *env[] = {"CNI_COMMAND=GC", "CNI_PATH=/x", NULL};
	const char *conf = "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"cni.dev/valid-attachments\":"
			   "[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]}";
	struct cni_request req;
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(parse(conf, env, &req, &err), 0);
	assert_true(cni_gc_attachment_valid(&req, "a", "eth0"));
	assert_false(cni_gc_attachment_valid(&req, "a", "eth1"));
	assert_false(cni_gc_attachment_valid(&req, "b", "eth0"));
	cni_request_free(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_ok),
		cmocka_unit_test(bad_env),
		cmocka_unit_test(ignore_unknown_and_del_without_netns),
		cmocka_unit_test(bad_conf),
		cmocka_unit_test(gc_attachments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

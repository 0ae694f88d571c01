/* Kubeconfig and in-cluster config parsing (lib/kubeconfig.c) on temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cleanup.h"
#include "kubeconfig.h"

/* base64 of "CA PEM\n", "CERT PEM\n", "KEY PEM\n" */
#define CA_B64	 "Q0EgUEVNCg=="
#define CERT_B64 "Q0VSVCBQRU0K"
#define KEY_B64	 "S0VZIFBFTQo="

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/k8c-kubeconfig-test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	_cleanup_free_ char *cmd = k8c_xasprintf("rm -rf '%s'", dir);

	return system(cmd) == 0 ? 0 : -1;
}

static char *write_file(const char *name, const char *text)
{
	char *path = k8c_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char full[] = "apiVersion: v1\n"
			   "kind: Config\n"
			   "clusters:\n"
			   "- name: other\n"
			   "  cluster:\n"
			   "    server: https://10.0.0.9:6443\n"
			   "    insecure-skip-tls-verify: true\n"
			   "- name: k8c\n"
			   "  cluster:\n"
			   "    server: \"https://127.0.0.1:6443/\"\n"
			   "    certificate-authority-data: " CA_B64 "\n"
			   "users:\n"
			   "- name: admin\n"
			   "  user:\n"
			   "    client-certificate-data: " CERT_B64 "\n"
			   "    client-key-data: " KEY_B64 "\n"
			   "- name: bot\n"
			   "  user:\n"
			   "    token: s3cret\n"
			   "contexts:\n"
			   "- name: k8c\n"
			   "  context: {cluster: k8c, user: admin, namespace: team-a}\n"
			   "- name: robot\n"
			   "  context:\n"
			   "    cluster: other\n"
			   "    user: bot\n"
			   "current-context: k8c\n"
			   "preferences: {}\n";

static void test_data_fields(void **state)
{
	_cleanup_free_ char *path = write_file("config", full);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	if (k8c_kubeconfig_load(path, NULL, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.source, path);
	assert_string_equal(c.context, "k8c");
	assert_string_equal(c.server, "https://127.0.0.1:6443");
	assert_string_equal(c.namespace, "team-a");
	assert_int_equal(c.ca_len, 7);
	assert_memory_equal(c.ca, "CA PEM\n", 7);
	assert_int_equal(c.cert_len, 9);
	assert_memory_equal(c.cert, "CERT PEM\n", 9);
	assert_int_equal(c.key_len, 8);
	assert_memory_equal(c.key, "KEY PEM\n", 8);
	assert_null(c.token);
	assert_false(c.insecure);
	k8c_kubeconfig_free(&c);

	/* The context override picks another cluster and user. */
	if (k8c_kubeconfig_load(path, "robot", &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.server, "https://10.0.0.9:6443");
	assert_true(c.insecure);
	assert_string_equal(c.token, "s3cret");
	assert_null(c.cert);
	assert_null(c.ca);
	assert_string_equal(c.namespace, "default");
	k8c_kubeconfig_free(&c);
}

/* File fields, relative to the kubeconfig's directory (as kubectl), and a token file. */
static void test_file_fields(void **state)
{
	_cleanup_free_ char *ca = write_file("ca.crt", "FILE CA\n");
	_cleanup_free_ char *crt = write_file("admin.crt", "FILE CERT\n");
	_cleanup_free_ char *key = write_file("admin.key", "FILE KEY\n");
	_cleanup_free_ char *tok = write_file("token", "tok-from-file\n");
	_cleanup_free_ char *text =
		k8c_xasprintf("clusters:\n- name: c\n  cluster:\n    server: https://[::1]:6443\n"
			      "    certificate-authority: ca.crt\n"
			      "users:\n- name: u\n  user:\n    client-certificate: %s\n"
			      "    client-key: admin.key\n    tokenFile: token\n"
			      "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
			      "current-context: x\n",
			      crt);
	_cleanup_free_ char *path = write_file("config-files", text);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	if (k8c_kubeconfig_load(path, NULL, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.server, "https://[::1]:6443");
	assert_string_equal(c.ca, "FILE CA\n");
	assert_string_equal(c.cert, "FILE CERT\n");
	assert_string_equal(c.key, "FILE KEY\n");
	assert_string_equal(c.token, "tok-from-file");
	assert_string_equal(c.token_file, tok);
	k8c_kubeconfig_free(&c);
}

/* Data wins over a file when both are given (the file need not exist). */
static void test_data_over_file(void **state)
{
	static const char text[] = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
				   "    certificate-authority: /nonexistent/ca.crt\n"
				   "    certificate-authority-data: " CA_B64 "\n"
				   "contexts:\n- name: x\n  context: {cluster: c}\n"
				   "current-context: x\n";
	_cleanup_free_ char *path = write_file("config-both", text);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	if (k8c_kubeconfig_load(path, NULL, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_memory_equal(c.ca, "CA PEM\n", 7);
	assert_null(c.cert);
	assert_null(c.token);
	k8c_kubeconfig_free(&c);
}

static void expect_error(const char *text, const char *context, const char *want)
{
	_cleanup_free_ char *path = write_file("config-bad", text);
	_cleanup_free_ char *full_want = k8c_xasprintf("kubeconfig %s: %s", path, want);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	assert_int_equal(k8c_kubeconfig_load(path, context, &c, &err), -1);
	assert_non_null(err.msg);
	if (strncmp(err.msg, full_want, strlen(full_want)))
		fail_msg("got \"%s\", want \"%s...\"", err.msg, full_want);
	assert_null(c.server);
	k8c_error_clear(&err);
}

#define CTX  "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
#define USER "users:\n- name: u\n  user: {token: t}\n"

static void test_errors(void **state)
{
	_cleanup_free_ char *missing = k8c_xasprintf("%s/none/config", dir);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	expect_error("clusters: []\n", NULL, "current-context is not set");
	expect_error(CTX, "y", "context \"y\" not found");
	expect_error(CTX USER, NULL, "context \"x\": cluster \"c\" not found");
	expect_error(CTX "clusters:\n- name: c\n  cluster: {server: https://h}\n", NULL,
		     "context \"x\": user \"u\" not found");
	expect_error(CTX USER "clusters:\n- name: c\n  cluster: {}\n", NULL,
		     "cluster \"c\": server is not set");
	expect_error(CTX USER "clusters:\n- name: c\n  cluster: {server: h:6443}\n", NULL,
		     "cluster \"c\": server \"h:6443\": not an http(s) URL");
	expect_error(CTX USER "clusters:\n- name: c\n  cluster: {server: https://h, "
			      "certificate-authority-data: 'not*base64'}\n",
		     NULL, "cluster \"c\": certificate-authority-data: not valid base64");
	expect_error(CTX USER "clusters:\n- name: c\n  cluster: {server: https://h, "
			      "certificate-authority: /nonexistent/ca.crt}\n",
		     NULL,
		     "cluster \"c\": certificate-authority /nonexistent/ca.crt: No such file "
		     "or directory");
	expect_error(CTX "users:\n- name: u\n  user: {client-certificate-data: " CERT_B64 "}\n"
			 "clusters:\n- name: c\n  cluster: {server: https://h}\n",
		     NULL, "user \"u\": client-certificate(-data) without client-key(-data)");
	expect_error(CTX "users:\n- name: u\n  user: {token: [a]}\n"
			 "clusters:\n- name: c\n  cluster: {server: https://h}\n",
		     NULL, "user \"u\": token: expected a string");
	expect_error(CTX USER "clusters:\n- name: c\n  cluster: {server: https://h, "
			      "insecure-skip-tls-verify: maybe}\n",
		     NULL, "cluster \"c\": insecure-skip-tls-verify: expected true or false");
	expect_error("clusters: [\n  {name: c\n", NULL, "line ");
	expect_error("- just\n- a list\n", NULL, "not a mapping");
	expect_error("contexts: {x: 1}\ncurrent-context: x\n", NULL, "contexts: expected a list");

	assert_int_equal(k8c_kubeconfig_load(missing, NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, missing));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	k8c_error_clear(&err);
}

static void test_in_cluster(void **state)
{
	_cleanup_free_ char *sa = k8c_xasprintf("%s/sa", dir);
	_cleanup_free_ char *t = NULL, *ca = NULL, *ns = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	assert_int_equal(mkdir(sa, 0700), 0);
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(k8c_kubeconfig_in_cluster(sa, &c, &err), -1);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	k8c_error_clear(&err);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(k8c_kubeconfig_in_cluster(sa, &c, &err), -1);
	assert_non_null(strstr(err.msg, "sa/token"));
	k8c_error_clear(&err);

	t = write_file("sa/token", "eyJhbGciOi.x.y\n");
	ca = write_file("sa/ca.crt", "SA CA\n");
	if (k8c_kubeconfig_in_cluster(sa, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token, "eyJhbGciOi.x.y");
	assert_string_equal(c.ca, "SA CA\n");
	assert_string_equal(c.namespace, "default");
	k8c_kubeconfig_free(&c);

	ns = write_file("sa/namespace", "kube-system");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	if (k8c_kubeconfig_in_cluster(sa, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_string_equal(c.namespace, "kube-system");
	k8c_kubeconfig_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* $KUBECONFIG: its first entry is read when no path is given. */
static void test_default(void **state)
{
	_cleanup_free_ char *path = write_file("config-env", full);
	_cleanup_free_ char *env = k8c_xasprintf("%s:/nonexistent", path);
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	setenv("KUBECONFIG", env, 1);
	if (k8c_kubeconfig_default(NULL, "robot", &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.source, path);
	assert_string_equal(c.token, "s3cret");
	k8c_kubeconfig_free(&c);
	unsetenv("KUBECONFIG");
}

static void test_base64(void **state)
{
	size_t n;
	char *p;

	p = k8c_base64_decode("aGVsbG8=", &n);
	assert_int_equal(n, 5);
	assert_string_equal(p, "hello");
	free(p);
	p = k8c_base64_decode("aGVs\nbG8", &n); /* no padding, a line break */
	assert_string_equal(p, "hello");
	free(p);
	p = k8c_base64_decode("", &n);
	assert_int_equal(n, 0);
	free(p);
	assert_null(k8c_base64_decode("aGVsbG8=x", &n));
	assert_null(k8c_base64_decode("a", &n));
	assert_null(k8c_base64_decode("a-b_", &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_fields),    cmocka_unit_test(test_file_fields),
		cmocka_unit_test(test_data_over_file), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_in_cluster),     cmocka_unit_test(test_default),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* control/sa_token.c (service-account JWTs) and control/ctrl_manager.c (--controllers and
 * duration flags). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctrl_manager.h"
#include "sa_token.h"

static EVP_PKEY *key, *other;
static char dir[] = "/tmp/k8c-test-ctrl.XXXXXX";

static int setup(void **state)
{
	char k[64], p[64];
	struct k8c_error err = K8C_ERROR_INIT;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(k, sizeof(k), "%s/sa.key", dir);
	snprintf(p, sizeof(p), "%s/sa.pub", dir);
	key = sa_key_ensure(k, p, &err);
	snprintf(k, sizeof(k), "%s/o.key", dir);
	snprintf(p, sizeof(p), "%s/o.pub", dir);
	other = sa_key_ensure(k, p, &err);
	return key && other ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void key_reused(void **state)
{
	char k[64], p[64];
	struct k8c_error err = K8C_ERROR_INIT;
	EVP_PKEY *again;

	(void)state;
	snprintf(k, sizeof(k), "%s/sa.key", dir);
	snprintf(p, sizeof(p), "%s/sa.pub", dir);
	again = sa_key_ensure(k, p, &err);
	assert_non_null(again);
	assert_int_equal(EVP_PKEY_eq(again, key), 1);
	EVP_PKEY_free(again);
	assert_null(sa_key_load(p, &err)); /* a public key is not a signing key */
	assert_non_null(err.msg);
	k8c_error_clear(&err);
}

static void sign_verify(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *claims =
		json_pack("{s:s, s:s, s:I}", "iss", "x", "sub", "system:serviceaccount:a:b", "exp",
			  (json_int_t)time(NULL) + 600);
	char *tok = sa_token_sign(key, claims, &err), *bad;
	json_t *got;
	size_t n;

	(void)state;
	assert_non_null(tok);
	got = sa_token_verify(key, tok, &err);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "sub")),
			    "system:serviceaccount:a:b");
	json_decref(got);
	/* another key */
	assert_null(sa_token_verify(other, tok, &err));
	assert_string_equal(err.msg, "token: bad signature");
	k8c_error_clear(&err);
	/* one character of the signature changed (in the middle: all its bits count) */
	bad = strdup(tok);
	n = strlen(bad) - 100;
	bad[n] = bad[n] == 'A' ? 'B' : 'A';
	assert_null(sa_token_verify(key, bad, &err));
	k8c_error_clear(&err);
	/* claims changed */
	strcpy(bad, tok);
	bad[strchr(bad, '.') - bad + 5] ^= 1;
	assert_null(sa_token_verify(key, bad, &err));
	k8c_error_clear(&err);
	free(bad);
	assert_null(sa_token_verify(key, "a.b", &err));
	k8c_error_clear(&err);
	free(tok);
	/* expired */
	json_object_set_new(claims, "exp", json_integer(time(NULL) - 1));
	tok = sa_token_sign(key, claims, &err);
	assert_null(sa_token_verify(key, tok, &err));
	assert_string_equal(err.msg, "token: expired");
	k8c_error_clear(&err);
	free(tok);
	json_decref(claims);
}

static void base64(void **state)
{
	char *s;

	(void)state;
	s = sa_base64("a", 1);
	assert_string_equal(s, "YQ==");
	free(s);
	s = sa_base64("ab", 2);
	assert_string_equal(s, "YWI=");
	free(s);
	s = sa_base64("abc\xff", 4);
	assert_string_equal(s, "YWJj/w==");
	free(s);
}

static char *joined(const char **names)
{
	static char buf[512];

	buf[0] = 0;
	for (size_t i = 0; names[i]; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "",
			 names[i]);
	return buf;
}

static void select_controllers(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	const char **names = NULL;
	size_t n = 0, all = 0;

	(void)state;
	while (ctrl_registry[all])
		all++;
	assert_int_equal(ctrl_select("*", &names, &n, &err), 0);
	assert_int_equal(n, all);
	free(names);
	assert_int_equal(ctrl_select("", &names, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(names[0]);
	free(names);
	assert_int_equal(ctrl_select("nodeipam,serviceaccount", &names, &n, &err), 0);
	/* registry order */
	assert_string_equal(joined(names), "serviceaccount,nodeipam");
	free(names);
	assert_int_equal(ctrl_select("*,-nodeipam,-garbagecollector", &names, &n, &err), 0);
	assert_int_equal(n, all - 2);
	assert_null(strstr(joined(names), "nodeipam"));
	assert_null(strstr(joined(names), "garbage"));
	assert_non_null(strstr(joined(names), "nodelifecycle"));
	free(names);
	assert_int_equal(ctrl_select("serviceaccount,-serviceaccount", &names, &n, &err), 0);
	assert_int_equal(n, 0);
	free(names);
	assert_int_equal(ctrl_select("*,nosuch", &names, &n, &err), -1);
	assert_string_equal(err.msg, "--controllers: \"nosuch\" is not a known controller");
	k8c_error_clear(&err);
	assert_int_equal(ctrl_select("-nosuch", &names, &n, &err), -1);
	k8c_error_clear(&err);
}

static void durations(void **state)
{
	int s = 0;

	(void)state;
	assert_int_equal(ctrl_parse_seconds("15s", &s), 0);
	assert_int_equal(s, 15);
	assert_int_equal(ctrl_parse_seconds("2m", &s), 0);
	assert_int_equal(s, 120);
	assert_int_equal(ctrl_parse_seconds("1h30m5s", &s), 0);
	assert_int_equal(s, 5405);
	assert_int_equal(ctrl_parse_seconds("40", &s), 0);
	assert_int_equal(s, 40);
	assert_int_equal(ctrl_parse_seconds("0", &s), -1);
	assert_int_equal(ctrl_parse_seconds("0s", &s), -1);
	assert_int_equal(ctrl_parse_seconds("x", &s), -1);
	assert_int_equal(ctrl_parse_seconds("5x", &s), -1);
	assert_int_equal(ctrl_parse_seconds("", &s), -1);
	assert_int_equal(ctrl_parse_seconds("1.5s", &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_reused), cmocka_unit_test(sign_verify),
		cmocka_unit_test(base64),     cmocka_unit_test(select_controllers),
		cmocka_unit_test(durations),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

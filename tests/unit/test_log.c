#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static void quote(void **state)
{
	char buf[64], tiny[8];

	(void)state;
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), "plain"), "plain");
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), ""), "\"\"");
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), "two words"), "\"two words\"");
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), "a=b"), "\"a=b\"");
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), "say \"hi\"\\"),
			    "\"say \\\"hi\\\"\\\\\"");
	assert_string_equal(k8c_log_quote(buf, sizeof(buf), "l1\nl2\t\x01"), "\"l1\\nl2\\t\\x01\"");
	/* truncated, still a closed quoted value */
	assert_string_equal(k8c_log_quote(tiny, sizeof(tiny), "a b c d e f"), "\"a b c\"");
	assert_string_equal(k8c_log_quote(tiny, sizeof(tiny), "longerthanbuf"), "\"longe\"");
}

static void levels(void **state)
{
	enum k8c_log_level l;

	(void)state;
	assert_int_equal(k8c_log_parse_level("debug", &l), 0);
	assert_int_equal(l, K8C_LOG_DEBUG);
	assert_int_equal(k8c_log_parse_level("INFO", &l), 0);
	assert_int_equal(l, K8C_LOG_INFO);
	assert_int_equal(k8c_log_parse_level("warning", &l), 0);
	assert_int_equal(l, K8C_LOG_WARN);
	assert_int_equal(k8c_log_parse_level("error", &l), 0);
	assert_int_equal(l, K8C_LOG_ERROR);
	assert_true(k8c_log_parse_level("verbose", &l) < 0);
	k8c_log_init("t", K8C_LOG_WARN);
	assert_false(k8c_log_enabled(K8C_LOG_INFO));
	assert_true(k8c_log_enabled(K8C_LOG_ERROR));
}

/* What k8c_log writes to stderr, captured through a temp file. */
static char *capture(enum k8c_log_level threshold, enum k8c_log_level level, const char *msg,
		     const char *kv_value)
{
	char path[] = "/tmp/k8c-test-log.XXXXXX", *out = calloc(1, 8192);
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && out);
	unlink(path);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	k8c_log_init("k8c-test", threshold);
	if (kv_value)
		k8c_log(level, msg, "key=%s n=%d", kv_value, 7);
	else
		k8c_log(level, msg, NULL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, out, 8191, 0);
	assert_true(n >= 0);
	close(fd);
	return out;
}

static void lines(void **state)
{
	char *out;

	(void)state;
	out = capture(K8C_LOG_INFO, K8C_LOG_INFO, "listening now", "v");
	assert_non_null(
		strstr(out, " level=info component=k8c-test msg=\"listening now\" key=v n=7\n"));
	assert_int_equal(strncmp(out, "time=", 5), 0);
	assert_int_equal(out[strlen("time=2026-11-27T11:50:00.123")], 'Z');
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);
	out = capture(K8C_LOG_INFO, K8C_LOG_DEBUG, "hidden", NULL);
	assert_string_equal(out, "");
	free(out);
	out = capture(K8C_LOG_DEBUG, K8C_LOG_ERROR, "bad", NULL);
	assert_non_null(strstr(out, " level=error component=k8c-test msg=bad\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quote),
		cmocka_unit_test(levels),
		cmocka_unit_test(lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

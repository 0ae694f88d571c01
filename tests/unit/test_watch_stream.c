/* The watch stream framer (k8c_json_stream): values cut at any chunk boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube_client.h"

/* Watch events as kube-apiserver writes them, with the characters that fool a naive framer. */
static const char *const events[] = {
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
	"\"resourceVersion\":\"5\"},\"data\":{\"k\":\"}{][\"}}}",
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\\\"}\"},\"data\":{\"q\":"
	"\"\\\\\",\"r\":\"\\\\\\\"{\"}}}",
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\",\"labels\":{}},\"a\":[[],"
	"[{}],{\"x\":[1,2,{\"y\":null}]}],\"u\":\"\\u00e9t\xc3\xa9 \\ud83d\\ude00\"}}",
	"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"99\"}}}",
};
#define N_EVENTS (sizeof(events) / sizeof(events[0]))

struct seen {
	json_t *values[64];
	size_t n;
};

static int collect(json_t *v, void *arg, struct k8c_error *err)
{
	struct seen *s = arg;

	assert_true(s->n < 64);
	s->values[s->n++] = json_incref(v);
	return 0;
}

static void seen_check(struct seen *s, size_t rounds)
{
	assert_int_equal(s->n, N_EVENTS * rounds);
	for (size_t i = 0; i < s->n; i++) {
		json_t *want = json_loads(events[i % N_EVENTS], 0, NULL);

		assert_non_null(want);
		assert_true(json_equal(want, s->values[i]));
		json_decref(want);
		json_decref(s->values[i]);
	}
	s->n = 0;
}

/* The stream as kube-apiserver sends it: one event per line. */
static char *stream_text(const char *sep)
{
	size_t len = 0;
	char *s;

	for (size_t i = 0; i < N_EVENTS; i++)
		len += strlen(events[i]) + strlen(sep);
	s = malloc(len + 1);
	assert_non_null(s);
	s[0] = '\0';
	for (size_t i = 0; i < N_EVENTS; i++) {
		strcat(s, events[i]);
		strcat(s, sep);
	}
	return s;
}

static void feed_ok(struct k8c_json_stream *js, const char *p, size_t n, struct seen *seen)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (k8c_json_stream_feed(js, p, n, collect, seen, &err) < 0)
		fail_msg("feed: %s", err.msg);
}

/* Every split of the stream into two chunks, with newlines and back to back. */
static void test_every_split(void **state)
{
	const char *seps[] = {"\n", "", "\r\n", " \n\t"};

	for (size_t k = 0; k < sizeof(seps) / sizeof(seps[0]); k++) {
		char *text = stream_text(seps[k]);
		size_t len = strlen(text);

		for (size_t cut = 0; cut <= len; cut++) {
			struct k8c_json_stream js = {0};
			struct seen seen = {0};

			feed_ok(&js, text, cut, &seen);
			feed_ok(&js, text + cut, len - cut, &seen);
			assert_true(k8c_json_stream_idle(&js));
			seen_check(&seen, 1);
			k8c_json_stream_reset(&js);
		}
		free(text);
	}
}

/* One byte at a time, and random chunk sizes over several rounds of the stream. */
static void test_random_chunks(void **state)
{
	char *text = stream_text("\n");
	size_t len = strlen(text);
	struct k8c_json_stream js = {0};
	struct seen seen = {0};

	for (size_t i = 0; i < len; i++) {
		feed_ok(&js, text + i, 1, &seen);
		/* Idle exactly after a value's newline or between values. */
		if (text[i] == '\n')
			assert_true(k8c_json_stream_idle(&js));
	}
	seen_check(&seen, 1);
	srand(42);
	for (int round = 0; round < 200; round++) {
		size_t off = 0;

		while (off < len) {
			size_t n = (size_t)(rand() % 97) + 1;

			if (n > len - off)
				n = len - off;
			feed_ok(&js, text + off, n, &seen);
			off += n;
		}
		seen_check(&seen, 1);
	}
	/* Zero-length feeds change nothing. */
	feed_ok(&js, text, 0, &seen);
	assert_true(k8c_json_stream_idle(&js));
	k8c_json_stream_reset(&js);
	free(text);
}

static void test_partial_is_not_idle(void **state)
{
	struct k8c_json_stream js = {0};
	struct seen seen = {0};

	feed_ok(&js, "{\"type\":\"ADDED\",\"object\":{\"a\":\"}", 32, &seen);
	assert_int_equal(seen.n, 0);
	assert_false(k8c_json_stream_idle(&js));
	feed_ok(&js, "\"}}\n", 4, &seen);
	assert_int_equal(seen.n, 1);
	assert_true(k8c_json_stream_idle(&js));
	json_decref(seen.values[0]);
	k8c_json_stream_reset(&js);
}

static void test_malformed(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_json_stream js = {0};
	struct seen seen = {0};

	/* Text between values. */
	assert_int_equal(k8c_json_stream_feed(&js, "{}\nnull\n", 8, collect, &seen, &err), -1);
	assert_non_null(strstr(err.msg, "unexpected 'n'"));
	json_decref(seen.values[0]);
	seen.n = 0;
	k8c_json_stream_reset(&js);
	k8c_error_clear(&err);
	/* Balanced braces around invalid JSON. */
	assert_int_equal(k8c_json_stream_feed(&js, "{\"a\" 1}", 7, collect, &seen, &err), -1);
	assert_non_null(strstr(err.msg, "JSON stream"));
	assert_int_equal(seen.n, 0);
	k8c_json_stream_reset(&js);
	k8c_error_clear(&err);
	/* A value beyond the limit. */
	js.max = 16;
	assert_int_equal(
		k8c_json_stream_feed(&js, "{\"aaaaaaaaaaaaaaaaaaaa", 22, collect, &seen, &err), -1);
	assert_non_null(strstr(err.msg, "larger than 16 bytes"));
	k8c_json_stream_reset(&js);
	k8c_error_clear(&err);
}

static int stop_at_second(json_t *v, void *arg, struct k8c_error *err)
{
	int *n = arg;

	if (++*n == 2)
		return k8c_error_set(err, 7, "stop");
	return 0;
}

static void test_callback_stops(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_json_stream js = {0};
	int n = 0;

	assert_int_equal(k8c_json_stream_feed(&js, "{}{}{}", 6, stop_at_second, &n, &err), -1);
	assert_int_equal(n, 2);
	assert_int_equal(err.code, 7);
	k8c_json_stream_reset(&js);
	k8c_error_clear(&err);
}

static void test_gvr_path(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char a[] = "v1/pods", b[] = "discovery.k8s.io/v1/endpointslices", c[] = "pods",
	     d[] = "a/b/c/d";
	struct k8c_gvr g;
	char *p;

	assert_int_equal(k8c_gvr_parse(a, &g, &err), 0);
	p = k8c_kube_path(g, "ns1", "web", "status");
	assert_string_equal(p, "/api/v1/namespaces/ns1/pods/web/status");
	free(p);
	assert_int_equal(k8c_gvr_parse(b, &g, &err), 0);
	p = k8c_kube_path(g, NULL, NULL, NULL);
	assert_string_equal(p, "/apis/discovery.k8s.io/v1/endpointslices");
	free(p);
	p = k8c_kube_path(K8C_GVR_NODES, NULL, "n1", NULL);
	assert_string_equal(p, "/api/v1/nodes/n1");
	free(p);
	assert_int_equal(k8c_gvr_parse(c, &g, &err), -1);
	k8c_error_clear(&err);
	assert_int_equal(k8c_gvr_parse(d, &g, &err), -1);
	k8c_error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),	    cmocka_unit_test(test_random_chunks),
		cmocka_unit_test(test_partial_is_not_idle), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_callback_stops),	    cmocka_unit_test(test_gvr_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

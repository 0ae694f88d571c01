/* Kubernetes protobuf bodies: hand-built messages decode to the JSON kubectl would have sent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api_protobuf.h"

/* A tiny protobuf encoder: messages are built inside out into byte buffers. */
struct buf {
	uint8_t b[4096];
	size_t n;
};

static void put_varint(struct buf *b, uint64_t v)
{
	do {
		assert_true(b->n < sizeof(b->b));
		b->b[b->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void put_bytes(struct buf *b, uint32_t num, const void *p, size_t n)
{
	put_varint(b, (uint64_t)num << 3 | 2);
	put_varint(b, n);
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put_str(struct buf *b, uint32_t num, const char *s)
{
	put_bytes(b, num, s, strlen(s));
}

static void put_msg(struct buf *b, uint32_t num, const struct buf *m)
{
	put_bytes(b, num, m->b, m->n);
}

static void put_int(struct buf *b, uint32_t num, uint64_t v)
{
	put_varint(b, (uint64_t)num << 3);
	put_varint(b, v);
}

static void put_entry(struct buf *b, uint32_t num, const char *k, const char *v)
{
	struct buf e = {.n = 0};

	put_str(&e, 1, k);
	put_str(&e, 2, v);
	put_msg(b, num, &e);
}

/* ObjectMeta as gogo-protobuf writes it: every non-pointer string, even empty ones. */
static void put_meta(struct buf *b, const char *name, const char *ns)
{
	struct buf m = {.n = 0}, t = {.n = 0};

	put_str(&m, 1, name);
	put_str(&m, 2, "");
	put_str(&m, 3, ns);
	put_str(&m, 4, "");
	put_str(&m, 5, "");
	put_str(&m, 6, "");
	put_int(&m, 7, 0);
	put_msg(&m, 8, &t); /* zero creationTimestamp */
	put_msg(b, 1, &m);
}

static struct buf envelope(const char *api_version, const char *kind, const struct buf *raw)
{
	struct buf b = {.b = {'k', '8', 's', 0}, .n = 4}, tm = {.n = 0};

	put_str(&tm, 1, api_version);
	put_str(&tm, 2, kind);
	put_msg(&b, 1, &tm);
	put_msg(&b, 2, raw);
	put_str(&b, 3, "");
	put_str(&b, 4, "");
	return b;
}

static void assert_decodes(const struct buf *b, const char *want)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *got = api_protobuf_decode(b->b, b->n, &err), *exp = json_loads(want, 0, NULL);

	if (!got)
		fail_msg("decode failed: %s", err.msg);
	assert_non_null(exp);
	if (!json_equal(got, exp)) {
		char *s = json_dumps(got, JSON_SORT_KEYS);

		fail_msg("got %s\nwant %s", s, want);
	}
	json_decref(got);
	json_decref(exp);
}

static void assert_fails(const void *p, size_t n, int code, const char *substr)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *got = api_protobuf_decode(p, n, &err);

	assert_null(got);
	assert_int_equal(err.code, code);
	assert_non_null(err.msg);
	if (!strstr(err.msg, substr))
		fail_msg("error %s lacks %s", err.msg, substr);
	k8c_error_clear(&err);
}

static void test_secret(void **state)
{
	struct buf o = {.n = 0}, e;

	(void)state;
	put_meta(&o, "s", "x");
	{
		struct buf d = {.n = 0};

		put_str(&d, 1, "a");
		put_bytes(&d, 2, "b\0\xff", 3);
		put_msg(&o, 2, &d);
	}
	put_str(&o, 3, "Opaque");
	e = envelope("v1", "Secret", &o);
	assert_decodes(&e,
		       "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\","
		       "\"namespace\":\"x\"},\"data\":{\"a\":\"YgD/\"},\"type\":\"Opaque\"}");
}

static void test_configmap_namespace(void **state)
{
	struct buf o = {.n = 0}, e, n = {.n = 0}, spec = {.n = 0};

	(void)state;
	put_meta(&o, "c", "x");
	put_entry(&o, 2, "k", "v");
	put_entry(&o, 2, "k2", "");
	{
		struct buf bin = {.n = 0};

		put_str(&bin, 1, "bin");
		put_bytes(&bin, 2, "\1\2\3", 3);
		put_msg(&o, 3, &bin);
	}
	put_int(&o, 4, 0); /* immutable: a *bool, kept when false */
	e = envelope("v1", "ConfigMap", &o);
	assert_decodes(&e, "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
			   "\"c\",\"namespace\":\"x\"},\"data\":{\"k\":\"v\",\"k2\":\"\"},"
			   "\"binaryData\":{\"bin\":\"AQID\"},\"immutable\":false}");

	put_meta(&n, "ns1", "");
	put_msg(&n, 2, &spec);
	put_msg(&n, 3, &spec); /* status is not decoded */
	e = envelope("v1", "Namespace", &n);
	assert_decodes(&e, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
			   "\"ns1\"},\"spec\":{}}");
}

static void test_service(void **state)
{
	struct buf o = {.n = 0}, spec = {.n = 0}, port = {.n = 0}, tp = {.n = 0}, e;

	(void)state;
	put_meta(&o, "web", "x");
	put_int(&tp, 1, 0);
	put_int(&tp, 2, 8080);
	put_str(&tp, 3, "");
	put_str(&port, 1, "80-8080");
	put_str(&port, 2, "TCP");
	put_int(&port, 3, 80);
	put_msg(&port, 4, &tp);
	put_int(&port, 5, 0);
	put_msg(&spec, 1, &port);
	put_entry(&spec, 2, "app", "web");
	put_str(&spec, 3, "");
	put_str(&spec, 4, "ClusterIP");
	put_msg(&o, 2, &spec);
	e = envelope("v1", "Service", &o);
	assert_decodes(&e,
		       "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
		       "\"web\",\"namespace\":\"x\"},\"spec\":{\"ports\":[{\"name\":\"80-8080\","
		       "\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}],\"selector\":{"
		       "\"app\":\"web\"},\"type\":\"ClusterIP\"}}");
}

static void test_quota_and_intstr(void **state)
{
	struct buf o = {.n = 0}, spec = {.n = 0}, ent = {.n = 0}, q = {.n = 0}, e;

	(void)state;
	put_meta(&o, "q", "x");
	put_str(&q, 1, "3");
	put_str(&ent, 1, "pods");
	put_msg(&ent, 2, &q);
	put_msg(&spec, 1, &ent);
	put_msg(&o, 2, &spec);
	e = envelope("v1", "ResourceQuota", &o);
	assert_decodes(&e,
		       "{\"kind\":\"ResourceQuota\",\"apiVersion\":\"v1\",\"metadata\":{"
		       "\"name\":\"q\",\"namespace\":\"x\"},\"spec\":{\"hard\":{\"pods\":\"3\"}}}");
}

static void test_deployment(void **state)
{
	struct buf o = {.n = 0}, spec = {.n = 0}, sel = {.n = 0}, tmpl = {.n = 0}, tm = {.n = 0},
		   ps = {.n = 0}, c = {.n = 0}, res = {.n = 0}, strat = {.n = 0}, ru = {.n = 0},
		   ios = {.n = 0}, e;

	(void)state;
	put_meta(&o, "web", "x");
	put_int(&spec, 1, 0); /* replicas: a pointer, 0 kept */
	put_entry(&sel, 1, "app", "web");
	put_msg(&spec, 2, &sel);
	put_entry(&tm, 11, "app", "web");
	{
		struct buf ts = {.n = 0};

		put_msg(&tm, 8, &ts);
	}
	put_msg(&tmpl, 1, &tm);
	put_str(&c, 1, "nginx");
	put_str(&c, 2, "nginx:1.27");
	put_str(&c, 3, "sh");
	put_str(&c, 3, "-c");
	put_msg(&c, 8, &res);
	put_str(&c, 14, "");
	put_int(&c, 16, 0);
	put_msg(&ps, 2, &c);
	put_msg(&tmpl, 2, &ps);
	put_msg(&spec, 3, &tmpl);
	put_int(&ios, 1, 1);
	put_int(&ios, 2, 0);
	put_str(&ios, 3, "25%");
	put_msg(&ru, 2, &ios);
	put_str(&strat, 1, "RollingUpdate");
	put_msg(&strat, 2, &ru);
	put_msg(&spec, 4, &strat);
	put_msg(&o, 2, &spec);
	{
		struct buf st = {.n = 0};

		put_int(&st, 1, 5);
		put_msg(&o, 3, &st);
	}
	e = envelope("apps/v1", "Deployment", &o);
	assert_decodes(&e,
		       "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":"
		       "\"web\",\"namespace\":\"x\"},\"spec\":{\"replicas\":0,\"selector\":{"
		       "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{"
		       "\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":"
		       "\"nginx:1.27\",\"command\":[\"sh\",\"-c\"],\"resources\":{}}]}},"
		       "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":"
		       "\"25%\"}}}}");
}

static void test_rbac_and_time(void **state)
{
	struct buf o = {.n = 0}, rule = {.n = 0}, e, b = {.n = 0}, subj = {.n = 0}, ref = {.n = 0},
		   m = {.n = 0}, t = {.n = 0};

	(void)state;
	put_str(&t, 1, "");
	put_int(&t, 1, 1700000000);
	put_str(&m, 1, "r");
	put_msg(&m, 8, &t);
	put_msg(&o, 1, &m);
	put_str(&rule, 1, "get");
	put_str(&rule, 1, "list");
	put_str(&rule, 2, "");
	put_str(&rule, 3, "pods");
	put_msg(&o, 2, &rule);
	e = envelope("rbac.authorization.k8s.io/v1", "Role", &o);
	assert_decodes(&e, "{\"kind\":\"Role\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\","
			   "\"metadata\":{\"name\":\"r\",\"creationTimestamp\":"
			   "\"2023-11-14T22:13:20Z\"},\"rules\":[{\"verbs\":[\"get\",\"list\"],"
			   "\"apiGroups\":[\"\"],\"resources\":[\"pods\"]}]}");

	put_meta(&b, "rb", "x");
	put_str(&subj, 1, "ServiceAccount");
	put_str(&subj, 2, "");
	put_str(&subj, 3, "sa");
	put_str(&subj, 4, "x");
	put_msg(&b, 2, &subj);
	put_str(&ref, 1, "rbac.authorization.k8s.io");
	put_str(&ref, 2, "Role");
	put_str(&ref, 3, "r");
	put_msg(&b, 3, &ref);
	e = envelope("rbac.authorization.k8s.io/v1", "RoleBinding", &b);
	assert_decodes(&e, "{\"kind\":\"RoleBinding\",\"apiVersion\":"
			   "\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"rb\","
			   "\"namespace\":\"x\"},\"subjects\":[{\"kind\":\"ServiceAccount\","
			   "\"name\":\"sa\",\"namespace\":\"x\"}],\"roleRef\":{\"apiGroup\":"
			   "\"rbac.authorization.k8s.io\",\"kind\":\"Role\",\"name\":\"r\"}}");
}

static void test_job_unknown_fields(void **state)
{
	struct buf o = {.n = 0}, spec = {.n = 0}, e;
	uint8_t fixed[] = {0x9d, 0x06, 1, 2, 3, 4, 0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8};

	(void)state;
	put_meta(&o, "j", "x");
	put_int(&spec, 7, 6);
	put_str(&spec, 99, "future field");
	memcpy(spec.b + spec.n, fixed, sizeof(fixed)); /* fields 99 (fixed32) and 99 (fixed64) */
	spec.n += sizeof(fixed);
	put_msg(&o, 2, &spec);
	e = envelope("batch/v1", "Job", &o);
	assert_decodes(&e, "{\"kind\":\"Job\",\"apiVersion\":\"batch/v1\",\"metadata\":{\"name\":"
			   "\"j\",\"namespace\":\"x\"},\"spec\":{\"backoffLimit\":6}}");
}

static void test_malformed(void **state)
{
	struct buf o = {.n = 0}, e;

	(void)state;
	assert_fails("", 0, 400, "magic");
	assert_fails("k8s\1", 4, 400, "magic");
	assert_fails("k8s\0\x0a", 5, 400, "truncated varint");
	assert_fails("k8s\0\x0a\x05\x0a\x01", 8, 400, "length past the end");
	assert_fails("k8s\0\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 16, 400, "varint");
	assert_fails("k8s\0\x0b", 5, 400, "wire type");
	assert_fails("k8s\0\x00\x01", 6, 400, "field number");
	assert_fails("k8s\0", 4, 400, "apiVersion and kind");

	put_meta(&o, "s", "x");
	e = envelope("v1", "Widget", &o);
	assert_fails(e.b, e.n, 415, "v1 Widget");
	e = envelope("v2", "Secret", &o);
	assert_fails(e.b, e.n, 415, "not supported");

	/* wrong wire type for a known field: metadata as a varint */
	o.n = 0;
	put_int(&o, 1, 3);
	e = envelope("v1", "Secret", &o);
	assert_fails(e.b, e.n, 400, "metadata");

	/* a label value that is not UTF-8 */
	o.n = 0;
	{
		struct buf m = {.n = 0}, ent = {.n = 0};

		put_str(&ent, 1, "k");
		put_bytes(&ent, 2, "\xc3\x28", 2);
		put_msg(&m, 11, &ent);
		put_msg(&o, 1, &m);
	}
	e = envelope("v1", "ConfigMap", &o);
	assert_fails(e.b, e.n, 400, "metadata: labels: string is not valid UTF-8");

	/* a truncated inner message */
	o.n = 0;
	put_meta(&o, "s", "x");
	e = envelope("v1", "Secret", &o);
	e.b[e.n - 6] = 0x7f; /* a length inside raw now runs past it */
	{
		struct k8c_error err = K8C_ERROR_INIT;
		json_t *j = api_protobuf_decode(e.b, e.n, &err);

		json_decref(j);
		k8c_error_clear(&err);
	}
}

/* Every prefix and single-byte corruption of a valid body decodes or fails cleanly. */
static void test_no_crash(void **state)
{
	struct buf o = {.n = 0}, e;

	(void)state;
	put_meta(&o, "s", "x");
	put_entry(&o, 2, "a", "b");
	put_str(&o, 3, "Opaque");
	e = envelope("v1", "Secret", &o);
	for (size_t n = 0; n <= e.n; n++) {
		struct k8c_error err = K8C_ERROR_INIT;
		json_t *j = api_protobuf_decode(e.b, n, &err);

		assert_true(j != NULL || err.code == 400 || err.code == 415);
		json_decref(j);
		k8c_error_clear(&err);
	}
	for (size_t i = 4; i < e.n; i++) {
		for (unsigned v = 0; v < 256; v += 17) {
			struct buf c = e;
			struct k8c_error err = K8C_ERROR_INIT;
			json_t *j;

			c.b[i] = (uint8_t)v;
			j = api_protobuf_decode(c.b, c.n, &err);
			json_decref(j);
			k8c_error_clear(&err);
		}
	}
}

static void test_content_type(void **state)
{
	(void)state;
	assert_true(api_protobuf_content_type(API_PROTOBUF_MEDIA_TYPE,
					      strlen(API_PROTOBUF_MEDIA_TYPE)));
	assert_true(api_protobuf_content_type("application/vnd.kubernetes.protobuf; x=y", 40));
	assert_false(
		api_protobuf_content_type("application/vnd.kubernetes.protobuf;stream=watch", 20));
	assert_false(api_protobuf_content_type("application/json", 16));
	assert_false(api_protobuf_content_type("application/vnd.kubernetes.protobufx", 36));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_configmap_namespace),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_quota_and_intstr),
		cmocka_unit_test(test_deployment),
		cmocka_unit_test(test_rbac_and_time),
		cmocka_unit_test(test_job_unknown_fields),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_crash),
		cmocka_unit_test(test_content_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

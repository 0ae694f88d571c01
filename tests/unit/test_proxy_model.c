/* proxy/model: Services and EndpointSlices (JSON) resolved into service port records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "backend.h"
#include "model.h"

static json_t *j(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		fail_msg("bad test JSON: %s: %s", e.text, text);
	return v;
}

static void apply(struct proxy_model *m, const char *text, bool deleted)
{
	json_t *o = j(text);
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(proxy_model_apply(m, o, NULL, deleted, &err), 0);
	json_decref(o);
}

#define SVC_WEB                                                                                    \
	"{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"ns1\",\"name\":\"web\"},"             \
	"\"spec\":{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.10\"],"                  \
	"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"                      \
	"{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53,\"nodePort\":30053}]}}"

#define SLICE_WEB_A                                                                                \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"ns1\",\"name\":\"web-a\","      \
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","           \
	"\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},"                       \
	"{\"name\":\"dns\",\"port\":5353,\"protocol\":\"UDP\"}],"                                  \
	"\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],\"conditions\":{\"ready\":true},"          \
	"\"nodeName\":\"n1\"},{\"addresses\":[\"10.244.0.4\"],\"nodeName\":\"n2\"}]}"

/* A second slice of the same service whose pods name the http port differently (8081). */
#define SLICE_WEB_B                                                                                \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"ns1\",\"name\":\"web-b\","      \
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","           \
	"\"ports\":[{\"name\":\"http\",\"port\":8081}],"                                           \
	"\"endpoints\":[{\"addresses\":[\"10.244.1.7\"],\"conditions\":{\"ready\":false,"          \
	"\"serving\":true,\"terminating\":true}}]}"

static void test_service_and_slices(void **state)
{
	struct proxy_model *m = proxy_model_new("n1");
	const struct proxy_svcport *http, *dns;
	const struct proxy_endpoint *use[8];
	char buf[K8C_IPNET_STRLEN];

	apply(m, SVC_WEB, false);
	assert_int_equal(proxy_model_count(m), 2);
	http = proxy_model_port(m, "ns1/web/tcp/http");
	dns = proxy_model_port(m, "ns1/web/udp/dns");
	assert_non_null(http);
	assert_non_null(dns);
	assert_int_equal(http->proto, IPPROTO_TCP);
	assert_int_equal(http->port, 80);
	assert_int_equal(dns->node_port, 30053);
	assert_int_equal(http->n_cluster_ips, 1);
	assert_string_equal(k8c_ip_format(&http->cluster_ips[0], buf), "10.96.0.10");
	assert_int_equal(http->n_eps, 0);

	apply(m, SLICE_WEB_A, false);
	apply(m, SLICE_WEB_B, false);
	http = proxy_model_port(m, "ns1/web/tcp/http");
	dns = proxy_model_port(m, "ns1/web/udp/dns");
	assert_int_equal(http->n_eps, 3);
	/* sorted by address; named target ports resolved per slice */
	assert_string_equal(k8c_ip_format(&http->eps[0].ip, buf), "10.244.0.4");
	assert_int_equal(http->eps[0].port, 8080);
	assert_true(http->eps[0].ready); /* no conditions: ready */
	assert_string_equal(k8c_ip_format(&http->eps[2].ip, buf), "10.244.1.7");
	assert_int_equal(http->eps[2].port, 8081);
	assert_false(http->eps[2].ready);
	assert_int_equal(dns->n_eps, 2);
	assert_int_equal(dns->eps[0].port, 5353);

	/* ready ones only; locally only n1's */
	assert_int_equal(proxy_svcport_usable(m, http, AF_INET, false, use), 2);
	assert_int_equal(proxy_svcport_usable(m, http, AF_INET, true, use), 1);
	assert_string_equal(k8c_ip_format(&use[0]->ip, buf), "10.244.0.5");
	assert_int_equal(proxy_svcport_usable(m, http, AF_INET6, false, use), 0);
	proxy_model_free(m);
}

static void test_terminating_fallback(void **state)
{
	struct proxy_model *m = proxy_model_new(NULL);
	const struct proxy_endpoint *use[4];
	const struct proxy_svcport *http;

	apply(m, SVC_WEB, false);
	apply(m, SLICE_WEB_B, false);
	http = proxy_model_port(m, "ns1/web/tcp/http");
	assert_int_equal(http->n_eps, 1);
	/* nothing ready: the serving and terminating endpoint */
	assert_int_equal(proxy_svcport_usable(m, http, AF_INET, false, use), 1);
	assert_int_equal(use[0]->port, 8081);
	proxy_model_free(m);
}

struct seen {
	char keys[8][64];
	bool gone[8];
	int n;
};

static void collect(const char *key, const struct proxy_svcport *old, const struct proxy_svcport *p,
		    void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->gone[s->n++] = p == NULL;
}

static bool seen_has(const struct seen *s, const char *key, bool gone)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0 && s->gone[i] == gone)
			return true;
	return false;
}

static void test_change_detection(void **state)
{
	struct proxy_model *m = proxy_model_new("n1");
	struct seen s = {0};

	apply(m, SVC_WEB, false);
	apply(m, SLICE_WEB_A, false);
	assert_int_equal(proxy_model_dirty_count(m), 2);
	proxy_model_clear_dirty(m);

	/* the same objects again: nothing changed */
	apply(m, SVC_WEB, false);
	apply(m, SLICE_WEB_A, false);
	assert_int_equal(proxy_model_dirty_count(m), 0);

	/* a slice that only serves http: only that record changes */
	apply(m, SLICE_WEB_B, false);
	proxy_model_each_dirty(m, collect, &s);
	assert_int_equal(s.n, 1);
	assert_true(seen_has(&s, "ns1/web/tcp/http", false));
	proxy_model_clear_dirty(m);

	/* deleting the slice: back to two endpoints, again only http */
	apply(m, SLICE_WEB_B, true);
	assert_int_equal(proxy_model_dirty_count(m), 1);
	assert_int_equal(proxy_model_port(m, "ns1/web/tcp/http")->n_eps, 2);
	proxy_model_clear_dirty(m);

	/* deleting the service removes both records */
	memset(&s, 0, sizeof(s));
	apply(m, SVC_WEB, true);
	proxy_model_each_dirty(m, collect, &s);
	assert_int_equal(s.n, 2);
	assert_true(seen_has(&s, "ns1/web/tcp/http", true));
	assert_true(seen_has(&s, "ns1/web/udp/dns", true));
	assert_int_equal(proxy_model_count(m), 0);

	/* the slices kept: the service coming back finds its endpoints */
	apply(m, SVC_WEB, false);
	assert_int_equal(proxy_model_port(m, "ns1/web/tcp/http")->n_eps, 2);
	proxy_model_free(m);
}

static void test_ignored_services(void **state)
{
	struct proxy_model *m = proxy_model_new(NULL);

	apply(m,
	      "{\"kind\":\"Service\",\"metadata\":{\"name\":\"h\"},\"spec\":{\"clusterIP\":"
	      "\"None\","
	      "\"ports\":[{\"port\":80}]}}",
	      false);
	apply(m,
	      "{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"type\":"
	      "\"ExternalName\",\"externalName\":\"example.com\",\"ports\":[{\"port\":80}]}}",
	      false);
	apply(m,
	      "{\"kind\":\"Service\",\"metadata\":{\"name\":\"o\",\"labels\":{\"service.kubernetes."
	      "io/service-proxy-name\":\"other\"}},\"spec\":{\"clusterIP\":\"10.96.0.3\","
	      "\"ports\":[{\"port\":80}]}}",
	      false);
	assert_int_equal(proxy_model_count(m), 0);
	proxy_model_free(m);
}

static void test_odd_input(void **state)
{
	struct proxy_model *m = proxy_model_new(NULL);
	const struct proxy_svcport *p;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *o;

	/* unnamed ports, one twice, a bad protocol, a port out of range, one good */
	apply(m,
	      "{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"a\",\"name\":\"odd\"},"
	      "\"spec\":{\"clusterIP\":\"10.96.0.7\",\"externalIPs\":[\"192.0.2.9\",\"bogus\"],"
	      "\"sessionAffinity\":\"ClientIP\",\"ports\":[{\"port\":80},{\"port\":81},"
	      "{\"port\":80},{\"port\":82,\"protocol\":\"ICMP\"},{\"port\":70000},{\"port\":\"x\"}]"
	      "}}",
	      false);
	/* endpoints without addresses, IPv6 in an IPv4 slice, duplicates, a bad port entry */
	apply(m,
	      "{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"a\",\"name\":\"odd-1\","
	      "\"labels\":{\"kubernetes.io/service-name\":\"odd\"}},\"addressType\":\"IPv4\","
	      "\"ports\":[{\"port\":9000}],\"endpoints\":[{\"addresses\":[]},{},"
	      "{\"addresses\":[\"fd00::1\"]},{\"addresses\":[\"10.1.0.1\"]},"
	      "{\"addresses\":[\"10.1.0.1\"]},{\"addresses\":[\"nonsense\"]},{\"addresses\":[7]}]}",
	      false);
	assert_int_equal(proxy_model_count(m), 2);
	p = proxy_model_port(m, "a/odd/tcp/#80");
	assert_non_null(p);
	assert_non_null(proxy_model_port(m, "a/odd/tcp/#81"));
	assert_int_equal(p->n_external_ips, 1);
	assert_true(p->affinity);
	assert_int_equal(p->affinity_timeout, PROXY_DEFAULT_AFFINITY_TIMEOUT);
	assert_int_equal(p->n_eps, 1);
	assert_int_equal(p->eps[0].port, 9000);

	/* objects that cannot be identified are refused, others are not disturbed */
	o = j("{\"kind\":\"Service\",\"metadata\":{}}");
	assert_int_equal(proxy_model_apply(m, o, NULL, false, &err), -1);
	assert_non_null(strstr(err.msg, "metadata.name"));
	json_decref(o);
	k8c_error_clear(&err);
	o = j("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}");
	assert_int_equal(proxy_model_apply(m, o, NULL, false, &err), -1);
	json_decref(o);
	k8c_error_clear(&err);
	assert_int_equal(proxy_model_count(m), 2);
	proxy_model_free(m);
}

static void test_replace(void **state)
{
	struct proxy_model *m = proxy_model_new(NULL);
	json_t *all = json_pack("{s:[o,o,o]}", "items", j(SVC_WEB), j(SLICE_WEB_A), j(SLICE_WEB_B));
	json_t *fewer = json_pack("{s:[o,o]}", "items", j(SVC_WEB), j(SLICE_WEB_A));
	struct k8c_error err = K8C_ERROR_INIT;

	assert_int_equal(proxy_model_replace(m, all, &err), 0);
	assert_int_equal(proxy_model_port(m, "ns1/web/tcp/http")->n_eps, 3);
	proxy_model_clear_dirty(m);
	assert_int_equal(proxy_model_replace(m, fewer, &err), 0);
	/* web-b is gone: http changed, dns did not */
	assert_int_equal(proxy_model_dirty_count(m), 1);
	assert_int_equal(proxy_model_port(m, "ns1/web/tcp/http")->n_eps, 2);
	json_decref(all);
	json_decref(fewer);
	proxy_model_free(m);
}

/* The bad input list, the cases test_odd_input does not cover: a huge port list, an IPv6
 * slice for an IPv4 service, the same IP and port claimed by two services. Each one is skipped
 * or kept on its own; the other services and the nftables sync (dry) go on. */
static void test_bad_input_sync(void **state)
{
	struct proxy_model *m = proxy_model_new(NULL);
	struct proxy_nft_config cfg = {0};
	struct proxy_sync_stats st;
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *svc, *slice, *ports, *sports;
	void *be;

	(void)state;
	/* 2,000 named ports on one service and its slice */
	svc = j("{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"b\",\"name\":\"many\"},"
		"\"spec\":{\"clusterIP\":\"10.96.0.50\",\"ports\":[]}}");
	slice = j("{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"b\",\"name\":"
		  "\"many-1\",\"labels\":{\"kubernetes.io/service-name\":\"many\"}},"
		  "\"addressType\":\"IPv4\",\"ports\":[],\"endpoints\":[{\"addresses\":"
		  "[\"10.1.0.1\"]}]}");
	ports = json_object_get(json_object_get(svc, "spec"), "ports");
	sports = json_object_get(slice, "ports");
	for (int i = 0; i < 2000; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		json_array_append_new(ports,
				      json_pack("{s:s,s:i}", "name", name, "port", 1000 + i));
		json_array_append_new(sports,
				      json_pack("{s:s,s:i}", "name", name, "port", 20000 + i));
	}
	assert_int_equal(proxy_model_apply(m, svc, NULL, false, &err), 0);
	assert_int_equal(proxy_model_apply(m, slice, NULL, false, &err), 0);
	json_decref(svc);
	json_decref(slice);
	assert_int_equal(proxy_model_count(m), 2000);
	assert_int_equal(proxy_model_port(m, "b/many/tcp/p1999")->eps[0].port, 21999);

	/* an IPv6 slice for an IPv4 service: kept as IPv6 endpoints (for an IPv6 table), never
	 * used for the IPv4 frontends (the backend rejects: no endpoints); the service stays */
	apply(m,
	      "{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"b\",\"name\":\"v6\"},"
	      "\"spec\":{\"clusterIP\":\"10.96.0.51\",\"ports\":[{\"name\":\"a\",\"port\":80}]}}",
	      false);
	apply(m,
	      "{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"b\",\"name\":\"v6-1\","
	      "\"labels\":{\"kubernetes.io/service-name\":\"v6\"}},\"addressType\":\"IPv6\","
	      "\"ports\":[{\"name\":\"a\",\"port\":8080}],\"endpoints\":[{\"addresses\":"
	      "[\"fd00::5\"]}]}",
	      false);
	assert_non_null(proxy_model_port(m, "b/v6/tcp/a"));
	{
		const struct proxy_svcport *p = proxy_model_port(m, "b/v6/tcp/a");
		const struct proxy_endpoint *out[2];

		assert_int_equal(p->n_eps, 1);
		assert_int_equal(p->eps[0].ip.family, AF_INET6);
		assert_int_equal(proxy_svcport_usable(m, p, AF_INET, false, out), 0);
	}

	/* two services with the same ClusterIP and port: both kept in the model; the backend
	 * gives the key to one and counts the conflict, and the sync of everything else goes on */
	for (int i = 0; i < 2; i++) {
		char text[512];

		snprintf(text, sizeof(text),
			 "{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"b\",\"name\":"
			 "\"dup%d\"},\"spec\":{\"clusterIP\":\"10.96.0.52\",\"ports\":[{\"name\":"
			 "\"a\",\"port\":80}]}}",
			 i);
		apply(m, text, false);
		snprintf(text, sizeof(text),
			 "{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"b\",\"name\":"
			 "\"dup%d-1\",\"labels\":{\"kubernetes.io/service-name\":\"dup%d\"}},"
			 "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"a\",\"port\":8080}],"
			 "\"endpoints\":[{\"addresses\":[\"10.2.0.%d\"]}]}",
			 i, i, i + 1);
		apply(m, text, false);
	}
	assert_int_equal(proxy_model_count(m), 2003);
	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	be = proxy_nft_new_dry(&cfg);
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	assert_true(st.conflicts >= 1); /* (the endpoint at index 0 of 10.96.0.52:80) */
	assert_int_equal(st.records, 2003);
	/* 2,000 service-ips, backends, no-endpoint-services (v6, dup), cluster-ips (3) ... */
	assert_true(st.elems_added >= 2000 + 2000 + 1 + 3);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_and_slices),
		cmocka_unit_test(test_terminating_fallback),
		cmocka_unit_test(test_change_detection),
		cmocka_unit_test(test_ignored_services),
		cmocka_unit_test(test_odd_input),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_bad_input_sync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

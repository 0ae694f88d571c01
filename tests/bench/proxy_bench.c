/*
 * k8c-proxy's nftables backend at scale: cold start of N services x 2 endpoints, the latency of
 * adding one service and of changing one service's endpoints at N, and a restart (read-back)
 * with nothing changed. Runs as root in network namespaces of its own (unshare per size), so the
 * host's nftables are never touched; the namespaces disappear with the process.
 *
 *   proxy_bench [N...]        (default: 10000 100000)
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "model.h"

#define SAMPLES 200

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static json_t *service(unsigned i, unsigned salt)
{
	char name[32], ip[32];

	snprintf(name, sizeof(name), "svc-%u", i);
	snprintf(ip, sizeof(ip), "10.%u.%u.%u", 96 + (i >> 16), (i >> 8) & 255, i & 255);
	(void)salt;
	return json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:[{s:s, s:i}]}}", "kind", "Service",
			 "metadata", "namespace", "bench", "name", name, "spec", "clusterIP", ip,
			 "ports", "name", "http", "port", 80);
}

static json_t *slice(unsigned i, unsigned salt)
{
	char name[32], svc[32], a[32], b[32];
	unsigned e = 2 * i + salt;

	snprintf(name, sizeof(name), "svc-%u-abcde", i);
	snprintf(svc, sizeof(svc), "svc-%u", i);
	snprintf(a, sizeof(a), "10.%u.%u.%u", 128 + (e >> 16), (e >> 8) & 255, e & 255);
	e++;
	snprintf(b, sizeof(b), "10.%u.%u.%u", 128 + (e >> 16), (e >> 8) & 255, e & 255);
	return json_pack("{s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:[{s:s, s:i}], s:[{s:[s]}, {s:[s]}]}",
			 "kind", "EndpointSlice", "metadata", "namespace", "bench", "name", name,
			 "labels", "kubernetes.io/service-name", svc, "addressType", "IPv4",
			 "ports", "name", "http", "port", 8080, "endpoints", "addresses", a,
			 "addresses", b);
}

static void apply(struct proxy_model *m, json_t *o)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (proxy_model_apply(m, o, NULL, false, &err) < 0) {
		fprintf(stderr, "proxy_bench: %s\n", err.msg);
		exit(1);
	}
	json_decref(o);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void sync_or_die(void *be, struct proxy_model *m, struct proxy_sync_stats *st)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (proxy_nft_ops.sync(be, m, false, st, &err) < 0) {
		fprintf(stderr, "proxy_bench: sync: %s\n", err.msg);
		exit(1);
	}
}

static void pct(const char *what, unsigned n, double *v, size_t k)
{
	qsort(v, k, sizeof(*v), cmp_d);
	printf("%-34s n=%-7u p50=%.2f ms  p99=%.2f ms  max=%.2f ms\n", what, n, v[k / 2],
	       v[(k * 99) / 100], v[k - 1]);
}

static void run(unsigned n)
{
	struct proxy_nft_config cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct proxy_sync_stats st;
	struct proxy_model *m;
	double t0, t_model, t_sync, v[SAMPLES];
	long rss_model;
	void *be;

	if (unshare(CLONE_NEWNET) < 0) {
		perror("proxy_bench: unshare(CLONE_NEWNET) (needs root)");
		exit(77);
	}
	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	be = proxy_nft_new(&cfg, &err);
	if (!be) {
		fprintf(stderr, "proxy_bench: %s\n", err.msg);
		exit(1);
	}
	m = proxy_model_new("node-1");
	t0 = now_ms();
	for (unsigned i = 0; i < n; i++) {
		apply(m, service(i, 0));
		apply(m, slice(i, 0));
	}
	t_model = now_ms() - t0;
	rss_model = rss_kib();
	t0 = now_ms();
	sync_or_die(be, m, &st);
	t_sync = now_ms() - t0;
	printf("%u services x 2 endpoints: model %.0f ms, cold sync %.0f ms (%zu messages in %zu "
	       "transactions, %zu elements), total %.2f s; RSS %ld MiB (%ld MiB after the model)\n",
	       n, t_model, t_sync, st.messages, st.transactions, st.elems_added,
	       (t_model + t_sync) / 1e3, rss_kib() / 1024, rss_model / 1024);

	for (unsigned k = 0; k < SAMPLES; k++) {
		t0 = now_ms();
		apply(m, service(n + k, 0));
		apply(m, slice(n + k, 0));
		sync_or_die(be, m, &st);
		v[k] = now_ms() - t0;
	}
	pct("add one service (model + sync)", n, v, SAMPLES);
	for (unsigned k = 0; k < SAMPLES; k++) {
		t0 = now_ms();
		apply(m, slice(k * 37 % n, 1 + k)); /* new endpoint addresses for one service */
		sync_or_die(be, m, &st);
		v[k] = now_ms() - t0;
		if (st.elems_added == 0) {
			fprintf(stderr, "proxy_bench: an endpoint change added no element\n");
			exit(1);
		}
	}
	pct("change one service's endpoints", n, v, SAMPLES);

	/* restart: a new backend reads the table back; nothing changed, nothing is sent */
	proxy_nft_ops.free(be);
	be = proxy_nft_new(&cfg, &err);
	t0 = now_ms();
	if (proxy_nft_ops.sync(be, m, true, &st, &err) < 0) {
		fprintf(stderr, "proxy_bench: restart sync: %s\n", err.msg);
		exit(1);
	}
	printf("restart with nothing changed (read back, diff): %.0f ms, %zu messages sent\n",
	       now_ms() - t0, st.messages);
	if (proxy_nft_ops.cleanup(be, &err) < 0)
		fprintf(stderr, "proxy_bench: cleanup: %s\n", err.msg);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned sizes[8] = {10000, 100000};
	int n = 2;

	if (argc > 1) {
		n = 0;
		for (int i = 1; i < argc && n < 8; i++)
			sizes[n++] = (unsigned)strtoul(argv[i], NULL, 10);
	}
	for (int i = 0; i < n; i++) {
		char load[64] = "?";
		FILE *f = fopen("/proc/loadavg", "r");

		if (f && !fgets(load, sizeof(load), f))
			snprintf(load, sizeof(load), "?\n");
		if (f)
			fclose(f);
		/* the machine is shared: its load explains outliers */
		printf("load average before: %s", load);
		run(sizes[i]);
	}
	return 0;
}

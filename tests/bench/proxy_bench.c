/*
 * k8c-proxy's backends at scale: cold start of N services x 2 endpoints, the latency of
 * adding one service and of changing one service's endpoints at N, and a restart (read-back)
 * with nothing changed. Runs as root in network namespaces of its own (unshare per size), so the
 * host's nftables are never touched; the namespaces disappear with the process. The eBPF backend
 * pins into a bpffs mounted in a private mount namespace and attaches to a cgroup v2 directory
 * of its own (removed at the end); nothing runs in that cgroup.
 *
 *   proxy_bench [--mode nftables|ebpf|both] [N...]    (default: both, 10000 100000)
 */
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
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

static const struct proxy_backend_ops *ops = &proxy_nft_ops;
static int run_sizes(const unsigned *sizes, int n);
static char cg_path[128], pin_dir[128];

static void *backend_new(const struct k8c_ipnet *svc_cidr, struct k8c_error *err)
{
	if (ops == &proxy_bpf_ops) {
		struct proxy_bpf_config bc = {
			.service_cidr = *svc_cidr, .pin_dir = pin_dir, .cgroup_path = cg_path};

		return proxy_bpf_new(&bc, err);
	}
	struct proxy_nft_config cfg = {.service_cidr = *svc_cidr};

	return proxy_nft_new(&cfg, err);
}

static void sync_or_die(void *be, struct proxy_model *m, struct proxy_sync_stats *st)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (ops->sync(be, m, false, st, &err) < 0) {
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
	struct k8c_ipnet svc_cidr;
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
	k8c_ipnet_parse("10.96.0.0/12", 1, &svc_cidr);
	be = backend_new(&svc_cidr, &err);
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
	printf("[%s] %u services x 2 endpoints: model %.0f ms, cold sync %.0f ms (%zu messages in "
	       "%zu "
	       "transactions, %zu elements), total %.2f s; RSS %ld MiB (%ld MiB after the model)\n",
	       ops->name, n, t_model, t_sync, st.messages, st.transactions, st.elems_added,
	       (t_model + t_sync) / 1e3, rss_kib() / 1024, rss_model / 1024);

	for (unsigned k = 0; k < SAMPLES; k++) {
		t0 = now_ms();
		apply(m, service(n + k, 0));
		apply(m, slice(n + k, 0));
		sync_or_die(be, m, &st);
		v[k] = now_ms() - t0;
	}
	pct(ops == &proxy_bpf_ops ? "[ebpf] add one service (model + sync)"
				  : "[nftables] add one service (model + sync)",
	    n, v, SAMPLES);
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
	pct(ops == &proxy_bpf_ops ? "[ebpf] change one service's endpoints"
				  : "[nftables] change one service's endpoints",
	    n, v, SAMPLES);

	/* restart: a new backend reads the table back; nothing changed, nothing is sent */
	ops->free(be);
	be = backend_new(&svc_cidr, &err);
	t0 = now_ms();
	if (!be || ops->sync(be, m, true, &st, &err) < 0) {
		fprintf(stderr, "proxy_bench: restart sync: %s\n", err.msg);
		exit(1);
	}
	printf("[%s] restart with nothing changed (read back, diff): %.0f ms, %zu messages sent\n",
	       ops->name, now_ms() - t0, st.messages);
	if (ops->cleanup(be, &err) < 0)
		fprintf(stderr, "proxy_bench: cleanup: %s\n", err.msg);
	ops->free(be);
	proxy_model_free(m);
	fflush(stdout);
}

/* A bpffs in a private mount namespace and a cgroup v2 directory of this process. */
static int ebpf_setup(void)
{
	snprintf(pin_dir, sizeof(pin_dir), "/tmp/k8c-proxy-bench-%d", (int)getpid());
	snprintf(cg_path, sizeof(cg_path), "/sys/fs/cgroup/unified/k8c-proxy-bench-%d",
		 (int)getpid());
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) < 0)
		snprintf(cg_path, sizeof(cg_path), "/sys/fs/cgroup/k8c-proxy-bench-%d",
			 (int)getpid());
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("proxy_bench: private mount namespace");
		return -1;
	}
	if (mkdir(pin_dir, 0700) < 0 || mount("bpf", pin_dir, "bpf", 0, NULL) < 0) {
		perror("proxy_bench: mount bpffs");
		return -1;
	}
	strcat(pin_dir, "/k8c");
	if (mkdir(cg_path, 0755) < 0) {
		perror("proxy_bench: cgroup directory");
		return -1;
	}
	return 0;
}

static void ebpf_teardown(void)
{
	char *slash;

	if (rmdir(cg_path) < 0)
		fprintf(stderr, "proxy_bench: rmdir %s: %s\n", cg_path, strerror(errno));
	slash = strrchr(pin_dir, '/');
	*slash = 0;
	umount(pin_dir);
	rmdir(pin_dir);
}

int main(int argc, char **argv)
{
	unsigned sizes[8] = {10000, 100000};
	int n = 2, first = 1, rc = 0;
	const struct proxy_backend_ops *modes[2] = {&proxy_nft_ops, &proxy_bpf_ops};
	int n_modes = 2;

	if (argc > 2 && strcmp(argv[1], "--mode") == 0) {
		if (strcmp(argv[2], "nftables") == 0) {
			n_modes = 1;
		} else if (strcmp(argv[2], "ebpf") == 0) {
			modes[0] = &proxy_bpf_ops;
			n_modes = 1;
		} else if (strcmp(argv[2], "both") != 0) {
			fprintf(stderr, "proxy_bench: --mode nftables|ebpf|both\n");
			return 2;
		}
		first = 3;
	}
	if (argc > first) {
		n = 0;
		for (int i = first; i < argc && n < 8; i++)
			sizes[n++] = (unsigned)strtoul(argv[i], NULL, 10);
	}
	for (int mi = 0; mi < n_modes; mi++) {
		ops = modes[mi];
		if (ops == &proxy_bpf_ops && ebpf_setup() < 0) {
			rc = 1;
			break;
		}
		rc |= run_sizes(sizes, n);
		if (ops == &proxy_bpf_ops)
			ebpf_teardown();
	}
	return rc;
}

static int run_sizes(const unsigned *sizes, int n)
{
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

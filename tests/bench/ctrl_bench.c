/*
 * Benchmarks of the scheduler and the endpointslice controller (issue 5), each against its own
 * k8c-server (started here with no controllers, next to this binary) and a k8c-controller-manager
 * started once the objects exist:
 *
 *   ctrl_bench sched [--nodes 100] [--pods 1000]
 *     fake nodes and pending pods are created first; then the manager runs the scheduler alone.
 *     Reports bindings/s between the manager's start and the last pod seen bound by a watch, and
 *     between the first and the last binding. Goal: >= 500 pods/s.
 *   ctrl_bench eps [--services 10000] [--flips 200]
 *     one pod per Service; the manager runs endpointslice; after every Service has its slice,
 *     one pod's Ready flips (PATCH pods/status) at a time and a watch of EndpointSlices times
 *     when the slice shows it. Goal: p99 <= 50 ms.
 *
 * Figures go to docs/BENCHMARKS.md ("Controllers"). Run on demand, never by ctest.
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "cleanup.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "objutil.h"

#define NS	     "bench"
#define FILL_THREADS 4

static char bindir[PATH_MAX], data_dir[64], kubeconfig[PATH_MAX];
static pid_t server_pid, manager_pid;
static struct k8c_kubeconfig cfg;

static void die(const char *what, struct k8c_error *err)
{
	fprintf(stderr, "ctrl_bench: %s: %s\n", what, err && err->msg ? err->msg : "failed");
	exit(1);
}

static pid_t spawn(const char **args, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (!freopen(log, "a", stderr))
			_exit(127);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

static void cleanup(void)
{
	char cmd[128];

	stop(&manager_pid);
	stop(&server_pid);
	if (data_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "ctrl_bench: could not remove %s\n", data_dir);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	exit(130); /* runs cleanup() */
}

static void start_server(void)
{
	char bin[PATH_MAX + 16], port[16], log[128];
	int p = 20000 + (int)(getpid() % 20000);
	struct k8c_error err = K8C_ERROR_INIT;
	const char *args[16];
	int n = 0;

	snprintf(data_dir, sizeof(data_dir), "/tmp/k8c-ctrl-bench.XXXXXX");
	if (!mkdtemp(data_dir))
		die("mkdtemp", NULL);
	snprintf(bin, sizeof(bin), "%s/k8c-server", bindir);
	snprintf(port, sizeof(port), "%d", p);
	snprintf(log, sizeof(log), "%s/server.log", data_dir);
	args[n++] = bin;
	args[n++] = "--data-dir";
	args[n++] = data_dir;
	args[n++] = "--secure-port";
	args[n++] = port;
	args[n++] = "--bind-address";
	args[n++] = "127.0.0.1";
	args[n++] = "--controllers=";
	args[n] = NULL;
	server_pid = spawn(args, log);
	snprintf(kubeconfig, sizeof(kubeconfig), "%s/admin.kubeconfig", data_dir);
	for (int i = 0; i < 200; i++) {
		struct k8c_kube *k;
		json_t *out = NULL;

		if (access(kubeconfig, R_OK) == 0 &&
		    k8c_kubeconfig_load(kubeconfig, NULL, &cfg, &err) == 0) {
			k = k8c_kube_new(&cfg, "ctrl-bench", &err);
			if (k && k8c_kube_request(k, "GET", "/api/v1/namespaces/default", NULL,
						  NULL, NULL, &out, &err) == 0) {
				k8c_kube_free(k);
				json_decref(out);
				printf("server: %s --data-dir %s --secure-port %d\n", bin, data_dir,
				       p);
				return;
			}
			k8c_kube_free(k);
			k8c_kubeconfig_free(&cfg);
			memset(&cfg, 0, sizeof(cfg));
		}
		k8c_error_clear(&err);
		usleep(50000);
	}
	die("server did not come up", NULL);
}

static void start_manager(const char *controllers)
{
	char bin[PATH_MAX + 32], ctl[128], kc[PATH_MAX + 16], log[128];
	const char *args[] = {bin, kc, ctl, "--leader-elect=false", NULL};

	snprintf(bin, sizeof(bin), "%s/k8c-controller-manager", bindir);
	snprintf(kc, sizeof(kc), "--kubeconfig=%s", kubeconfig);
	snprintf(ctl, sizeof(ctl), "--controllers=%s", controllers);
	snprintf(log, sizeof(log), "%s/manager.log", data_dir);
	manager_pid = spawn(args, log);
}

/* ---- parallel creation ---- */

typedef json_t *(*make_fn)(int i, struct k8c_gvr *gvr, const char **ns, json_t **status);

struct fill {
	make_fn make;
	int from, to;
};

static void *fill_thread(void *arg)
{
	struct fill *f = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = k8c_kube_new(&cfg, "ctrl-bench", &err);

	if (!k)
		die("client", &err);
	for (int i = f->from; i < f->to; i++) {
		struct k8c_gvr gvr;
		const char *ns = NULL;
		json_t *status = NULL, *obj = f->make(i, &gvr, &ns, &status);

		if (k8c_kube_create(k, gvr, ns, obj, NULL, &err) < 0)
			die("create", &err);
		if (status && k8c_kube_patch(k, gvr, ns, k8c_str_at(obj, "metadata.name"), "status",
					     K8C_PATCH_MERGE, status, NULL, &err) < 0)
			die("status", &err);
		json_decref(obj);
		json_decref(status);
	}
	k8c_kube_free(k);
	return NULL;
}

static void fill(make_fn make, int n)
{
	pthread_t th[FILL_THREADS];
	struct fill f[FILL_THREADS];

	for (int t = 0; t < FILL_THREADS; t++) {
		f[t] = (struct fill){make, n * t / FILL_THREADS, n * (t + 1) / FILL_THREADS};
		pthread_create(&th[t], NULL, fill_thread, &f[t]);
	}
	for (int t = 0; t < FILL_THREADS; t++)
		pthread_join(th[t], NULL);
}

static json_t *make_ns(void)
{
	return json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
			 "name", NS);
}

/* ---- sched ---- */

static int n_nodes = 100, n_pods = 1000, n_services = 10000, n_flips = 200;

static json_t *make_node(int i, struct k8c_gvr *gvr, const char **ns, json_t **status)
{
	char name[32];

	snprintf(name, sizeof(name), "fake-%03d", i);
	*gvr = K8C_GVR_NODES;
	*ns = NULL;
	*status = json_pack("{s:{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s}]}}", "status",
			    "capacity", "cpu", "32", "memory", "64Gi", "pods", "110", "allocatable",
			    "cpu", "32", "memory", "64Gi", "pods", "110", "conditions", "type",
			    "Ready", "status", "True");
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "Node",
			 "metadata", "name", name, "labels", "kubernetes.io/hostname", name);
}

static json_t *make_pending_pod(int i, struct k8c_gvr *gvr, const char **ns, json_t **status)
{
	char name[32];

	snprintf(name, sizeof(name), "p-%05d", i);
	*gvr = K8C_GVR_PODS;
	*ns = NS;
	*status = NULL;
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:[{s:s,s:s,s:{s:{s:s,s:s}}}]}}",
			 "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "labels",
			 "app", i % 2 ? "a" : "b", "spec", "containers", "name", "c", "image",
			 "example.invalid/x", "resources", "requests", "cpu", "100m", "memory",
			 "128Mi");
}

struct bound_watch {
	int want, seen;
	int64_t first, last;
	json_t *bound;	  /* names seen bound */
	json_t *per_node; /* node -> pods bound there */
};

static int on_pod_event(const char *type, json_t *obj, void *arg, struct k8c_error *err)
{
	struct bound_watch *w = arg;
	const char *node = k8c_str_at(obj, "spec.nodeName");
	const char *name = k8c_str_at(obj, "metadata.name");

	(void)type;
	if (!node || !*node || !name || json_object_get(w->bound, name))
		return 0;
	json_object_set_new(w->bound, name, json_true());
	json_object_set_new(
		w->per_node, node,
		json_integer(json_integer_value(json_object_get(w->per_node, node)) + 1));
	w->last = now_ns();
	if (!w->seen++)
		w->first = w->last;
	if (w->seen == w->want)
		return k8c_error_set(err, 0, "done");
	return 0;
}

static void bench_sched(void)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = k8c_kube_new(&cfg, "ctrl-bench", &err);
	struct bound_watch w = {.want = n_pods, .bound = json_object(), .per_node = json_object()};
	struct k8c_watch_opts wo = {0};
	json_t *items = NULL, *nsobj = make_ns();
	char *rv = NULL;
	int64_t t0, t1;

	if (!k || k8c_kube_create(k, K8C_GVR_NAMESPACES, NULL, nsobj, NULL, &err) < 0)
		die("namespace", &err);
	json_decref(nsobj);
	t0 = now_ns();
	fill(make_node, n_nodes);
	fill(make_pending_pod, n_pods);
	printf("setup: %d nodes and %d pending pods in %.1f s\n", n_nodes, n_pods,
	       (now_ns() - t0) / 1e9);
	if (k8c_kube_list(k, K8C_GVR_PODS, NS, NULL, &items, &rv, &err) < 0)
		die("list", &err);
	json_decref(items);
	wo.resource_version = rv;
	t0 = now_ns();
	start_manager("scheduler");
	k8c_kube_watch(k, K8C_GVR_PODS, NS, &wo, on_pod_event, &w, &err);
	t1 = now_ns();
	k8c_error_clear(&err);
	if (w.seen < n_pods) {
		fprintf(stderr, "ctrl_bench: only %d of %d pods bound\n", w.seen, n_pods);
		exit(1);
	}
	printf("scheduler: %d pods on %d nodes bound in %.3f s from the manager's start: %.0f "
	       "pods/s\n",
	       n_pods, n_nodes, (t1 - t0) / 1e9, n_pods / ((t1 - t0) / 1e9));
	printf("  first to last binding: %.3f s: %.0f pods/s (goal >= 500: ratio %.2f)\n",
	       (w.last - w.first) / 1e9, (n_pods - 1) / ((w.last - w.first) / 1e9),
	       (n_pods - 1) / ((w.last - w.first) / 1e9) / 500);
	{
		long long lo = -1, hi = 0;
		const char *name;
		json_t *v;

		json_object_foreach(w.per_node, name, v)
		{
			long long x = json_integer_value(v);

			lo = lo < 0 || x < lo ? x : lo;
			hi = x > hi ? x : hi;
		}
		printf("  pods per node: min %lld, max %lld over %zu nodes\n",
		       json_object_size(w.per_node) < (size_t)n_nodes ? 0 : lo, hi,
		       json_object_size(w.per_node));
	}
	free(rv);
	json_decref(w.per_node);
	json_decref(w.bound);
	k8c_kube_free(k);
}

/* ---- eps ---- */

static json_t *make_service(int i, struct k8c_gvr *gvr, const char **ns, json_t **status)
{
	char name[32];

	snprintf(name, sizeof(name), "s-%05d", i);
	*gvr = K8C_GVR_SERVICES;
	*ns = NS;
	*status = NULL;
	/*
	 * Headless: k8c-server's ClusterIP allocation parses every Service on each create (O(n)),
	 * which makes 10,000 ClusterIP Services take most of an hour to set up; the controller's
	 * work is the same for both kinds.
	 */
	return json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:{s:s},s:[{s:s,s:i,s:i}]}}", "apiVersion", "v1",
			 "kind", "Service", "metadata", "name", name, "spec", "clusterIP", "None",
			 "selector", "app", name, "ports", "name", "http", "port", 80, "targetPort",
			 8080);
}

static json_t *pod_status(int i, bool ready)
{
	char ip[32];

	snprintf(ip, sizeof(ip), "10.%d.%d.%d", 100 + i / 65536, (i / 256) % 256, i % 256);
	return json_pack("{s:{s:s,s:s,s:[{s:s}],s:[{s:s,s:s}]}}", "status", "phase", "Running",
			 "podIP", ip, "podIPs", "ip", ip, "conditions", "type", "Ready", "status",
			 ready ? "True" : "False");
}

static json_t *make_ready_pod(int i, struct k8c_gvr *gvr, const char **ns, json_t **status)
{
	char name[32], app[32];

	snprintf(name, sizeof(name), "sp-%05d", i);
	snprintf(app, sizeof(app), "s-%05d", i);
	*gvr = K8C_GVR_PODS;
	*ns = NS;
	*status = pod_status(i, true);
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s,s:[{s:s,s:s}]}}", "apiVersion", "v1",
			 "kind", "Pod", "metadata", "name", name, "labels", "app", app, "spec",
			 "nodeName", "fake-000", "containers", "name", "c", "image",
			 "example.invalid/x");
}

/* The watch thread: the slices' state per service ("ready" of its one endpoint), timestamped. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static json_t *slice_state; /* service -> "true"/"false"/"none" */
static json_t *slice_name;  /* service -> the name of its slice */
static int64_t last_change;
static int services_with_endpoint;

static int on_slice_event(const char *type, json_t *obj, void *arg, struct k8c_error *err)
{
	const char *svc = json_string_value(
		json_object_get(k8c_at(obj, "metadata.labels"), "kubernetes.io/service-name"));
	json_t *ep = json_array_get(json_object_get(obj, "endpoints"), 0);
	const char *st = !ep						? "none"
			 : json_is_true(k8c_at(ep, "conditions.ready")) ? "true"
									: "false";
	const char *old;

	(void)arg;
	(void)err;
	if (!svc || strcmp(type, "BOOKMARK") == 0)
		return 0;
	if (strcmp(type, "DELETED") == 0)
		st = "none";
	pthread_mutex_lock(&mu);
	old = json_string_value(json_object_get(slice_state, svc));
	if (!old || strcmp(old, st) != 0) {
		if ((!old || strcmp(old, "none") == 0) && strcmp(st, "none") != 0)
			services_with_endpoint++;
		else if (old && strcmp(old, "none") != 0 && strcmp(st, "none") == 0)
			services_with_endpoint--;
		json_object_set_new(slice_state, svc, json_string(st));
		if (strcmp(type, "DELETED") != 0)
			json_object_set(slice_name, svc, k8c_at(obj, "metadata.name"));
		last_change = now_ns();
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

static void *watch_thread(void *arg)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = k8c_kube_new(&cfg, "ctrl-bench-watch", &err);
	struct k8c_watch_opts wo = {.resource_version = arg, .timeout_seconds = 3600};

	if (!k)
		die("client", &err);
	k8c_kube_watch(k, K8C_GVR_ENDPOINTSLICES, NS, &wo, on_slice_event, NULL, &err);
	k8c_kube_free(k);
	return NULL;
}

static void bench_eps(void)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = k8c_kube_new(&cfg, "ctrl-bench", &err);
	json_t *items = NULL, *nsobj = make_ns();
	int64_t t0, *lat = k8c_xcalloc((size_t)n_flips, sizeof(*lat));
	int64_t *patch = k8c_xcalloc((size_t)n_flips, sizeof(*patch));
	int64_t *api = k8c_xcalloc((size_t)n_flips, sizeof(*api));
	char *rv = NULL;
	pthread_t th;
	unsigned seed = 42;

	if (!k || k8c_kube_create(k, K8C_GVR_NAMESPACES, NULL, nsobj, NULL, &err) < 0)
		die("namespace", &err);
	json_decref(nsobj);
	t0 = now_ns();
	fill(make_service, n_services);
	fill(make_ready_pod, n_services);
	printf("setup: %d headless services with one ready pod each in %.1f s\n", n_services,
	       (now_ns() - t0) / 1e9);
	if (k8c_kube_list(k, K8C_GVR_ENDPOINTSLICES, NS, NULL, &items, &rv, &err) < 0)
		die("list", &err);
	json_decref(items);
	slice_state = json_object();
	slice_name = json_object();
	pthread_create(&th, NULL, watch_thread, rv);
	t0 = now_ns();
	start_manager("endpointslice");
	pthread_mutex_lock(&mu);
	while (services_with_endpoint < n_services)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("endpointslice: %d slices written in %.1f s from the manager's start\n", n_services,
	       (now_ns() - t0) / 1e9);
	/* the controller still re-syncs each Service once for the echo of its own write: wait */
	sleep(3);
	for (int f = 0; f < n_flips; f++) {
		int i = (int)(rand_r(&seed) % (unsigned)n_services);
		char name[32], svc[32];
		const char *cur;
		bool ready;
		json_t *st;
		int64_t start;
		char *sname;

		snprintf(name, sizeof(name), "sp-%05d", i);
		snprintf(svc, sizeof(svc), "s-%05d", i);
		pthread_mutex_lock(&mu);
		cur = json_string_value(json_object_get(slice_state, svc));
		ready = !(cur && strcmp(cur, "true") == 0);
		pthread_mutex_unlock(&mu);
		st = pod_status(i, ready);
		pthread_mutex_lock(&mu);
		sname = k8c_xstrdup(json_string_value(json_object_get(slice_name, svc)) ?: "");
		pthread_mutex_unlock(&mu);
		start = now_ns();
		if (k8c_kube_patch(k, K8C_GVR_PODS, NS, name, "status", K8C_PATCH_MERGE, st, NULL,
				   &err) < 0)
			die("flip", &err);
		patch[f] = now_ns() - start;
		json_decref(st);
		/* when the slice changed in the API: GET it until it shows the flip */
		for (;;) {
			json_t *sl = NULL;
			bool done;

			if (k8c_kube_get(k, K8C_GVR_ENDPOINTSLICES, NS, sname, &sl, &err) < 0)
				die("get slice", &err);
			done = json_is_true(
				       k8c_at(json_array_get(json_object_get(sl, "endpoints"), 0),
					      "conditions.ready")) == ready;
			json_decref(sl);
			if (done)
				break;
			usleep(1000);
		}
		api[f] = now_ns() - start;
		free(sname);
		pthread_mutex_lock(&mu);
		for (;;) {
			cur = json_string_value(json_object_get(slice_state, svc));
			if (cur && strcmp(cur, ready ? "true" : "false") == 0)
				break;
			pthread_cond_wait(&cv, &mu);
		}
		lat[f] = last_change - start;
		pthread_mutex_unlock(&mu);
	}
	{
		double p99 = print_lat_indented("  ",
						"pod Ready flip (PATCH) to its EndpointSlice "
						"changed in the API (GET every 1 ms)",
						api, (size_t)n_flips);

		printf("  with %d services: p99 %.2f ms (goal <= 50 ms: ratio %.2f)\n", n_services,
		       p99, p99 / 50);
		print_lat_indented("  ", "of which the PATCH itself", patch, (size_t)n_flips);
		print_lat_indented("  ",
				   "flip to the slice's event at a watcher (one more watch hop)",
				   lat, (size_t)n_flips);
	}
	free(api);
	free(patch);
	free(lat);
	k8c_kube_free(k);
	/* the watch thread ends with the process */
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ctrl_bench sched [--nodes N] [--pods N]\n"
		"       ctrl_bench eps [--services N] [--flips N]\n"
		"Starts k8c-server and k8c-controller-manager from the directory of this binary\n"
		"(or --bin DIR); figures go to docs/BENCHMARKS.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"nodes", required_argument, NULL, 'n'},
		{"pods", required_argument, NULL, 'p'},
		{"services", required_argument, NULL, 's'},
		{"flips", required_argument, NULL, 'f'},
		{"bin", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *mode;
	char *slash;
	int o;

	snprintf(bindir, sizeof(bindir), "%s", argv[0]);
	slash = strrchr(bindir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(bindir, sizeof(bindir), ".");
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			n_nodes = atoi(optarg);
			break;
		case 'p':
			n_pods = atoi(optarg);
			break;
		case 's':
			n_services = atoi(optarg);
			break;
		case 'f':
			n_flips = atoi(optarg);
			break;
		case 'b':
			snprintf(bindir, sizeof(bindir), "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	mode = argv[optind];
	if (strcmp(mode, "sched") != 0 && strcmp(mode, "eps") != 0) {
		usage(stderr);
		return 2;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start_server();
	if (strcmp(mode, "sched") == 0)
		bench_sched();
	else
		bench_eps();
	return 0;
}

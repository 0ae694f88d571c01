/*
 * Container start/remove latency through agent/runtime.c (runc + k8c-shim), and the shims' memory.
 * Run on demand (never by ctest), as root, by runtime_bench.sh, which makes the busybox rootfs,
 * the network namespace and the temp dirs:
 *
 *   runtime_bench --rootfs DIR --netns PATH --dir DIR [--n 50]
 *
 * Cases: N sequential start + remove; N starts at once (one thread each) then N removes at once.
 * Latency of a start is the call, which returns once the container's process runs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <getopt.h>

#include "bench_util.h"
#include "runtime.h"

static struct k8c_runtime *rt;
static const char *rootfs, *netns, *dir;
static int64_t *lat;
static pthread_barrier_t barrier;

static void id_of(char *buf, size_t size, int i)
{
	snprintf(buf, size, "bench-%d", i);
}

static int start_one(int i)
{
	char id[32], *log;
	const char *lower[] = {rootfs, NULL};
	const char *argv[] = {"/bin/sleep", "1000", NULL};
	struct k8c_container_spec spec = {
		.rootfs_lower = lower,
		.argv = argv,
		.netns_path = netns,
		.memory_limit_bytes = 64 << 20,
		.cpu_shares = 102,
	};
	struct k8c_error err = K8C_ERROR_INIT;
	int rc;

	id_of(id, sizeof(id), i);
	spec.id = id;
	if (asprintf(&log, "%s/logs/%s.log", dir, id) < 0)
		abort();
	spec.log_path = log;
	rc = k8c_container_start(rt, &spec, &err);
	if (rc < 0)
		fprintf(stderr, "start %s: %s\n", id, err.msg);
	k8c_error_clear(&err);
	free(log);
	return rc;
}

static int remove_one(int i)
{
	char id[32];
	struct k8c_error err = K8C_ERROR_INIT;
	int rc;

	id_of(id, sizeof(id), i);
	rc = k8c_container_remove(rt, id, &err);
	if (rc < 0)
		fprintf(stderr, "remove %s: %s\n", id, err.msg);
	k8c_error_clear(&err);
	return rc;
}

static bool removing;

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t t;

	pthread_barrier_wait(&barrier);
	t = now_ns();
	if (removing)
		remove_one(i);
	else
		start_one(i);
	lat[i] = now_ns() - t;
	return NULL;
}

/* Sum of VmRSS of the k8c-shim processes, in KiB; *count gets their number. */
static long shims_rss(int *count)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long total = 0;

	*count = 0;
	while (d && (e = readdir(d))) {
		char path[300], line[256], comm[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || strncmp(comm, "k8c-shim", 8) != 0) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "VmRSS:", 6) == 0) {
				total += atol(line + 6);
				(*count)++;
			}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static void run_parallel(int n, bool rm, int64_t *wall)
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	int64_t t;

	removing = rm;
	pthread_barrier_init(&barrier, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	t = now_ns();
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	*wall = now_ns() - t;
	pthread_barrier_destroy(&barrier);
	free(th);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rootfs", required_argument, NULL, 'r'}, {"netns", required_argument, NULL, 'n'},
		{"dir", required_argument, NULL, 'd'},	  {"n", required_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0}};
	struct k8c_runtime_opts o = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	char *state, *runc_root;
	int n = 50, c, shims;
	int64_t *start_lat, wall;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rootfs = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'N':
			n = atoi(optarg);
			break;
		case 'h':
			printf("Usage: runtime_bench --rootfs DIR --netns PATH --dir DIR [--n 50]\n"
			       "Container start/remove latency via agent/runtime.c; run by "
			       "runtime_bench.sh.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!rootfs || !netns || !dir || n < 1) {
		fprintf(stderr, "runtime_bench: --rootfs, --netns and --dir are required\n");
		return 2;
	}
	if (asprintf(&state, "%s/state", dir) < 0 || asprintf(&runc_root, "%s/runc", dir) < 0)
		abort();
	o.state_dir = state;
	o.runc_root = runc_root;
	o.cgroup_parent = getenv("CGROUP_PARENT") ? getenv("CGROUP_PARENT") : "/k8c-bench";
	rt = k8c_runtime_new(&o, &err);
	if (!rt) {
		fprintf(stderr, "runtime: %s\n", err.msg);
		return 1;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	start_lat = calloc((size_t)n, sizeof(*start_lat));

	printf("sequential, %d containers (sleep; 64 MiB limit; the pod's netns):\n", n);
	for (int i = 0; i < n; i++) {
		int64_t t = now_ns();

		if (start_one(i) < 0)
			return 1;
		start_lat[i] = now_ns() - t;
		t = now_ns();
		if (remove_one(i) < 0)
			return 1;
		lat[i] = now_ns() - t;
	}
	print_lat_indented("  ", "start", start_lat, (size_t)n);
	print_lat_indented("  ", "remove", lat, (size_t)n);

	printf("%d at once:\n", n);
	run_parallel(n, false, &wall);
	memcpy(start_lat, lat, (size_t)n * sizeof(*lat));
	print_lat_indented("  ", "start", start_lat, (size_t)n);
	printf("  all started in %.0f ms\n", wall / 1e6);
	long rss = shims_rss(&shims);
	printf("  %d shims running: %ld KiB RSS in all, %.0f KiB each\n", shims, rss,
	       shims ? (double)rss / shims : 0.0);
	run_parallel(n, true, &wall);
	print_lat_indented("  ", "remove", lat, (size_t)n);
	printf("  all removed in %.0f ms\n", wall / 1e6);
	k8c_runtime_free(rt);
	return 0;
}

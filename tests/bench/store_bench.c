/*
 * Store benchmark: creates/s and latency with N writer threads (group commit), LIST of 100,000
 * keys, and watch fan-out to 1,000 watchers at 500 writes/s. Prints figures; results go to
 * docs/BENCHMARKS.md. Run: build/bin/store_bench [--dir DIR] [--sync-full] (see --help).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "cleanup.h"
#include "store.h"

static const char *dir;
static bool sync_full;
static double duration = 3.0;
static int keys = 100000;
static int watchers = 1000;
static int rate = 500;
static double watch_seconds = 5.0;
static int value_size = 600;

static void print_lat(const char *what, int64_t *lat, size_t n)
{
	print_lat_indented("", what, lat, n);
}

static struct store *open_store(const char *name)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/%s.db", dir, name);
	struct store_sqlite_config cfg = {.path = path, .sync_full = sync_full};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store *s = NULL;

	if (store_sqlite_open(&cfg, &s, &err) < 0) {
		fprintf(stderr, "store_bench: %s\n", err.msg);
		exit(1);
	}
	return s;
}

static char *make_value(size_t size)
{
	char *v = k8c_xmalloc(size + 1);
	size_t i;

	/* roughly a Pod's JSON in size; content does not matter to the store */
	for (i = 0; i < size; i++)
		v[i] = "abcdefghijklmnopqrstuvwxyz{}:,\""[i % 31];
	v[size] = '\0';
	return v;
}

struct writer {
	pthread_t t;
	struct store *s;
	int id;
	int64_t deadline; /* ns, or 0: write count keys */
	int count;
	int64_t *lat;
	size_t n, cap;
	const char *value;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	char key[96];
	int i;

	for (i = 0;; i++) {
		int64_t t0 = now_ns(), t1;

		if (w->deadline ? t0 >= w->deadline : i >= w->count)
			break;
		snprintf(key, sizeof(key), "/registry/pods/ns%d/pod-%d-%d", i % 50, w->id, i);
		if (store_create(w->s, key, w->value, strlen(w->value), NULL, &err) < 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
		t1 = now_ns();
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 4096;
			w->lat = k8c_xrealloc(w->lat, w->cap * sizeof(*w->lat));
		}
		w->lat[w->n++] = t1 - t0;
	}
	return NULL;
}

/* Run nthreads writers for duration (or count keys each); returns creates/s. */
static double run_writers(struct store *s, int nthreads, double secs, int count, int64_t **lat,
			  size_t *nlat)
{
	struct writer *w = k8c_xcalloc((size_t)nthreads, sizeof(*w));
	_cleanup_free_ char *value = make_value((size_t)value_size);
	int64_t t0 = now_ns(), elapsed;
	size_t total = 0, off = 0;
	int i;

	for (i = 0; i < nthreads; i++) {
		w[i].s = s;
		w[i].id = i;
		w[i].deadline = secs > 0 ? t0 + (int64_t)(secs * 1e9) : 0;
		w[i].count = count;
		w[i].value = value;
		pthread_create(&w[i].t, NULL, writer_main, &w[i]);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].n;
	}
	elapsed = now_ns() - t0;
	*lat = k8c_xmalloc(total * sizeof(**lat));
	for (i = 0; i < nthreads; i++) {
		memcpy(*lat + off, w[i].lat, w[i].n * sizeof(**lat));
		off += w[i].n;
		free(w[i].lat);
	}
	*nlat = total;
	free(w);
	return (double)total / (elapsed / 1e9);
}

static void bench_creates(void)
{
	const int threads[] = {1, 4, 16, 64};
	size_t i;

	printf("== creates (%d-byte values, %.0f s each, synchronous=%s)\n", value_size, duration,
	       sync_full ? "FULL" : "NORMAL");
	for (i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
		_cleanup_free_ char *name = k8c_xasprintf("creates%d", threads[i]);
		struct store *s = open_store(name);
		int64_t *lat;
		size_t n;
		double rate_s = run_writers(s, threads[i], duration, 0, &lat, &n);
		char what[64];

		snprintf(what, sizeof(what), "%2d writers: %7.0f creates/s, latency", threads[i],
			 rate_s);
		print_lat(what, lat, n);
		free(lat);
		store_close(s);
	}
}

static void bench_list(void)
{
	struct store *s = open_store("list");
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	int64_t *lat, t0, best = INT64_MAX;
	size_t n, total = 0;
	int pages = 0, i;
	double r;
	char after[128] = "";
	int64_t rev = 0;

	printf("== list\n");
	r = run_writers(s, 50, 0, keys / 50, &lat, &n);
	free(lat);
	printf("loaded %zu keys at %.0f creates/s (50 writers)\n", n, r);
	for (i = 0; i < 3; i++) {
		t0 = now_ns();
		if (store_list(s, "/registry/pods/", 0, 0, NULL, &l, &err) < 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
		t0 = now_ns() - t0;
		if (t0 < best)
			best = t0;
		printf("LIST %zu keys (one call): %.0f ms\n", l.n, t0 / 1e6);
		store_list_free(&l);
	}
	t0 = now_ns();
	do {
		if (store_list(s, "/registry/pods/", rev, 500, *after ? after : NULL, &l, &err) <
		    0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
		rev = l.revision;
		total += l.n;
		pages++;
		if (l.n)
			snprintf(after, sizeof(after), "%s", l.items[l.n - 1].key);
		i = l.more;
		store_list_free(&l);
	} while (i);
	t0 = now_ns() - t0;
	printf("LIST %zu keys in %d pages of 500: %.0f ms\n", total, pages, t0 / 1e6);
	t0 = now_ns();
	if (store_list(s, "/registry/pods/ns7/", 0, 0, NULL, &l, &err) < 0)
		exit(1);
	printf("LIST one namespace (%zu keys of %d): %.1f ms\n", l.n, keys, (now_ns() - t0) / 1e6);
	store_list_free(&l);

	/* a second version of every key, then compaction drops the first ones */
	if (store_list(s, "/registry/pods/", 0, 0, NULL, &l, &err) < 0)
		exit(1);
	t0 = now_ns();
	for (n = 0; n < l.n; n++) {
		if (store_update(s, l.items[n].key, "v2", 2, l.items[n].mod_revision, NULL, NULL,
				 &err) < 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
	}
	printf("updated %zu keys one at a time (1 writer): %.0f updates/s\n", l.n,
	       l.n / ((now_ns() - t0) / 1e9));
	store_list_free(&l);
	store_revision(s, &rev, &err);
	t0 = now_ns();
	if (store_compact(s, rev, &err) < 0) {
		fprintf(stderr, "store_bench: %s\n", err.msg);
		exit(1);
	}
	printf("compact %" PRId64 " revisions (%d superseded versions, chunks of 1000): %.0f ms\n",
	       rev, keys, (now_ns() - t0) / 1e6);
	store_close(s);
}

struct consumer {
	pthread_t t;
	int epfd;
	struct store_watch **w;
	int nw;
	int64_t *lat;
	size_t n, cap;
	volatile bool stop;
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct epoll_event ev[64];
	struct store_event *evs[64];
	struct k8c_error err = K8C_ERROR_INIT;

	while (!c->stop) {
		int nready = epoll_wait(c->epfd, ev, 64, 100), i, j, got;

		for (i = 0; i < nready; i++) {
			struct store_watch *w = ev[i].data.ptr;

			while ((got = store_watch_next(w, evs, 64, &err)) > 0) {
				int64_t t = now_ns();

				for (j = 0; j < got; j++) {
					int64_t sent = strtoll(evs[j]->value, NULL, 10);

					if (c->n == c->cap) {
						c->cap = c->cap ? c->cap * 2 : 65536;
						c->lat = k8c_xrealloc(c->lat,
								      c->cap * sizeof(*c->lat));
					}
					c->lat[c->n++] = t - sent;
					store_event_unref(evs[j]);
				}
			}
			if (got < 0) {
				fprintf(stderr, "store_bench: %s\n", err.msg);
				exit(1);
			}
		}
	}
	return NULL;
}

static void bench_watch(void)
{
	struct store *s = open_store("watch");
	struct k8c_error err = K8C_ERROR_INIT;
	struct consumer c[2] = {0};
	_cleanup_free_ char *filler = make_value((size_t)value_size - 32);
	_cleanup_free_ struct store_watch **all = k8c_xcalloc((size_t)watchers, sizeof(*all));
	int64_t start, next, interval = 1000000000 / rate, *wlat, *lat;
	int writes = (int)(rate * watch_seconds), i;
	size_t total = 0, off = 0;

	printf("== watch fan-out: %d watchers, %d writes/s for %.0f s, 2 consumer threads "
	       "(epoll)\n",
	       watchers, rate, watch_seconds);
	for (i = 0; i < 2; i++)
		c[i].epfd = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < watchers; i++) {
		struct epoll_event ev = {.events = EPOLLIN};

		if (store_watch(s, "/registry/pods/", 0, &all[i], &err) < 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
		ev.data.ptr = all[i];
		epoll_ctl(c[i % 2].epfd, EPOLL_CTL_ADD, store_watch_fd(all[i]), &ev);
	}
	for (i = 0; i < 2; i++)
		pthread_create(&c[i].t, NULL, consumer_main, &c[i]);
	wlat = k8c_xmalloc((size_t)writes * sizeof(*wlat));
	start = now_ns();
	next = start;
	for (i = 0; i < writes; i++) {
		struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
		char key[64], value[1024];
		int64_t t0;

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		t0 = now_ns();
		snprintf(key, sizeof(key), "/registry/pods/default/p%d", i);
		snprintf(value, sizeof(value), "%" PRId64 " %s", t0, filler);
		if (store_create(s, key, value, strlen(value), NULL, &err) < 0) {
			fprintf(stderr, "store_bench: %s\n", err.msg);
			exit(1);
		}
		wlat[i] = now_ns() - t0;
		next += interval;
	}
	/* let the consumers drain */
	for (i = 0; i < 50; i++) {
		if (c[0].n + c[1].n >= (size_t)writes * (size_t)watchers)
			break;
		usleep(100000);
	}
	for (i = 0; i < 2; i++) {
		c[i].stop = true;
		pthread_join(c[i].t, NULL);
		total += c[i].n;
	}
	printf("delivered %zu of %zu events in %.1f s\n", total, (size_t)writes * (size_t)watchers,
	       (now_ns() - start) / 1e9);
	print_lat("write (create) latency", wlat, (size_t)writes);
	lat = k8c_xmalloc(total * sizeof(*lat));
	for (i = 0; i < 2; i++) {
		memcpy(lat + off, c[i].lat, c[i].n * sizeof(*lat));
		off += c[i].n;
		free(c[i].lat);
		close(c[i].epfd);
	}
	print_lat("event delivery (write start -> watcher has it)", lat, total);
	free(lat);
	free(wlat);
	for (i = 0; i < watchers; i++)
		store_watch_close(all[i]);
	store_close(s);
}

static void usage(void)
{
	printf("Usage: store_bench [--dir DIR] [--sync-full] [--seconds S] [--keys N]\n"
	       "                   [--watchers N] [--rate W] [--only creates|list|watch]\n"
	       "Creates/s and latency with 1, 4, 16 and 64 writer threads, LIST of --keys keys\n"
	       "(default 100000), watch fan-out to --watchers (1000) at --rate writes/s (500).\n"
	       "Databases go to DIR (default: a fresh directory under /var/tmp, removed after).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"sync-full", no_argument, NULL, 'f'},
		{"seconds", required_argument, NULL, 's'},
		{"keys", required_argument, NULL, 'k'},
		{"watchers", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"only", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char tmpl[] = "/var/tmp/k8c-store-bench.XXXXXX";
	const char *only = NULL;
	struct rlimit rl;
	bool own_dir = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'f':
			sync_full = true;
			break;
		case 's':
			duration = atof(optarg);
			break;
		case 'k':
			keys = atoi(optarg);
			break;
		case 'w':
			watchers = atoi(optarg);
			break;
		case 'r':
			rate = atoi(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	/* one eventfd per watcher */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!dir) {
		if (!mkdtemp(tmpl)) {
			perror("mkdtemp");
			return 1;
		}
		dir = tmpl;
		own_dir = true;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("store_bench: %ld CPUs, databases in %s\n", sysconf(_SC_NPROCESSORS_ONLN), dir);
	if (!only || !strcmp(only, "creates"))
		bench_creates();
	if (!only || !strcmp(only, "list"))
		bench_list();
	if (!only || !strcmp(only, "watch"))
		bench_watch();
	if (own_dir) {
		_cleanup_free_ char *cmd = k8c_xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			fprintf(stderr, "store_bench: could not remove %s\n", dir);
	}
	return 0;
}

/*
 * API server benchmark over HTTPS (libcurl multi, HTTP/2 multiplexing or HTTP/1.1), measuring
 * the goals of issue 3 on a running k8c-server:
 *   1. 1,000 watchers of pods each receive every event; delivery p99 <= 100 ms at 500 writes/s
 *   2. sustained creates >= 2,000 small objects/s with p99 <= 20 ms
 *   3. LIST of 100,000 objects <= 1 s
 *   4. server RSS <= 50 MiB idle, <= 300 MiB holding 100,000 objects
 * It starts its own k8c-server (next to this binary) in a temporary data dir, or uses --server
 * URL with --data-dir DIR (for pki/ca.crt, admin.crt, admin.key). Figures go to
 * docs/BENCHMARKS.md, section "API server". Run: build/bin/api_bench --help.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "bench_util.h"

static const char *server_url;
static char *data_dir;
static char *ca, *cert, *key;
static bool http11;
static int threads_arg; /* --threads for the server we start; 0 = its default */
static int objects = 100000;
static int fill_conns = 4, fill_inflight = 16;
static double create_rate = 2000, create_seconds = 5;
static int watchers = 1000, watch_threads; /* default: one a connection */
static int streams = 100;		   /* watches a HTTP/2 connection */
static double watch_rate = 500, watch_seconds = 10;
static pid_t server_pid;
static const char *only; /* run one phase: rss, create, fill, list, watch */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

/* Sorts lat; prints p50/p99/max in ms and returns the p99 in ms. */
static double print_lat(const char *what, int64_t *lat, size_t n)
{
	return print_lat_indented("  ", what, lat, n);
}

static void ratio(const char *what, double value, double goal, bool lower_better)
{
	printf("  => %s: %.2f, goal %s %.0f, ratio %.2f (%s)\n", what, value,
	       lower_better ? "<=" : ">=", goal, value / goal,
	       (lower_better ? value <= goal : value >= goal) ? "met" : "NOT met");
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	(void)p, (void)u;
	return sz * n;
}

static CURL *easy(const char *path)
{
	CURL *h = curl_easy_init();
	char url[512];

	snprintf(url, sizeof(url), "%s%s", server_url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
			 http11 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, http11 ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	return h;
}

static CURLM *multi(void)
{
	CURLM *m = curl_multi_init();

	curl_multi_setopt(m, CURLMOPT_PIPELINING, http11 ? CURLPIPE_NOTHING : CURLPIPE_MULTIPLEX);
	return m;
}

static struct curl_slist *json_headers;

static void post(CURL *h, const char *body)
{
	curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_headers);
}

/* One blocking request; returns the status, body in *out (malloc'd) when out is not NULL. */
struct membuf {
	char *p;
	size_t n;
};

static size_t to_mem(char *p, size_t sz, size_t n, void *u)
{
	struct membuf *b = u;

	b->p = xrealloc(b->p, b->n + sz * n + 1);
	memcpy(b->p + b->n, p, sz * n);
	b->n += sz * n;
	b->p[b->n] = '\0';
	return sz * n;
}

static long request(const char *path, const char *body, struct membuf *out)
{
	CURL *h = easy(path);
	long code = 0;

	if (body)
		post(h, body);
	if (out) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_mem);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static long rss_kib(const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	if (!server_pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)server_pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

static void print_rss(const char *when, double goal_mib)
{
	long rss = rss_kib("VmRSS"), hwm = rss_kib("VmHWM");

	if (rss < 0) {
		printf("RSS %s: unknown (not our server)\n", when);
		return;
	}
	printf("RSS %s: %.1f MiB (peak %.1f MiB)\n", when, rss / 1024.0, hwm / 1024.0);
	ratio("RSS MiB", rss / 1024.0, goal_mib, true);
}

/*
 * A load driver: a thread with its own multi handle (its own connections) issuing requests,
 * either open-loop at rate per second (latency from the scheduled time, so a slow server is
 * not hidden by fewer requests) or closed-loop with inflight outstanding requests.
 */
struct driver {
	const char *ns;	    /* namespace */
	const char *res;    /* "configmaps" or "pods" */
	const char *prefix; /* object name prefix */
	double rate;	    /* per second for this thread; 0 = closed loop */
	int inflight;	    /* closed loop */
	int64_t first, end; /* object indices [first, end) */
	int64_t deadline;   /* open loop: stop issuing at this time */
	int64_t *sent;	    /* if set: sent[i - first] = issue time (for watch delivery) */
	int64_t *lat;	    /* latencies */
	size_t n_lat, errors;
	int64_t t0, t1;
	long first_error;
};

struct req {
	int64_t start;
};

static void issue(struct driver *d, CURLM *m, int64_t i, int64_t start)
{
	char path[256], body[512];
	CURL *h;
	struct req *r = xmalloc(sizeof(*r));

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/%s", d->ns, d->res);
	if (strcmp(d->res, "pods") == 0)
		snprintf(body, sizeof(body),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
			 "\"%s%" PRId64 "\",\"labels\":{\"app\":\"bench\"}},\"spec\":{"
			 "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
			 d->prefix, i);
	else
		snprintf(body, sizeof(body),
			 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
			 "\"%s%" PRId64 "\",\"labels\":{\"app\":\"bench\"}},\"data\":{\"key\":"
			 "\"value-%" PRId64 "\"}}",
			 d->prefix, i, i);
	h = easy(path);
	post(h, body);
	r->start = start;
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	if (d->sent)
		__atomic_store_n(&d->sent[i - d->first], start, __ATOMIC_RELEASE);
	curl_multi_add_handle(m, h);
}

static void *drive(void *arg)
{
	struct driver *d = arg;
	CURLM *m = multi();
	int64_t next_i = d->first, sched = now_ns(), period = 0;
	int running = 0, outstanding = 0;

	if (d->rate > 0)
		period = (int64_t)(1e9 / d->rate);
	d->lat = xmalloc(sizeof(int64_t) * (size_t)(d->end - d->first));
	d->t0 = now_ns();
	for (;;) {
		int64_t now = now_ns();
		CURLMsg *msg;
		int left, wait_ms = 100;

		if (d->rate > 0) {
			while (next_i < d->end && sched <= now && now < d->deadline) {
				issue(d, m, next_i++, sched);
				outstanding++;
				sched += period;
			}
			if (now >= d->deadline)
				d->end = next_i;
			if (next_i < d->end)
				wait_ms = (int)((sched - now + 999999) / 1000000);
		} else {
			while (next_i < d->end && outstanding < d->inflight) {
				issue(d, m, next_i++, now_ns());
				outstanding++;
			}
		}
		if (next_i >= d->end && outstanding == 0)
			break;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct req *r;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result != CURLE_OK || code != 201) {
				if (!d->errors++)
					d->first_error = msg->data.result != CURLE_OK
								 ? -(long)msg->data.result
								 : code;
			} else {
				d->lat[d->n_lat++] = now_ns() - r->start;
			}
			free(r);
			curl_multi_remove_handle(m, msg->easy_handle);
			curl_easy_cleanup(msg->easy_handle);
			outstanding--;
		}
		if (next_i >= d->end && outstanding == 0)
			break;
		curl_multi_poll(m, NULL, 0, wait_ms < 0 ? 0 : wait_ms, NULL);
	}
	d->t1 = now_ns();
	curl_multi_cleanup(m);
	return NULL;
}

/* Run n drivers over [first, first + count) split between them; returns the figures. */
static void run_drivers(const char *what, const char *ns, const char *res, const char *prefix,
			int n, double rate, int inflight, int64_t first, int64_t count,
			double seconds, int64_t *sent, double *rate_out, double *p99_out)
{
	struct driver *d = calloc((size_t)n, sizeof(*d));
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	int64_t *all, t0 = INT64_MAX, t1 = 0, start = now_ns();
	size_t total = 0, errors = 0;

	for (int k = 0; k < n; k++) {
		d[k].ns = ns;
		d[k].res = res;
		d[k].prefix = prefix;
		d[k].rate = rate / n;
		d[k].inflight = inflight;
		d[k].first = first + count * k / n;
		d[k].end = first + count * (k + 1) / n;
		/* a safety net only: open loops issue count requests on schedule */
		d[k].deadline =
			seconds > 0 ? start + (int64_t)((2 * seconds + 30) * 1e9) : INT64_MAX;
		d[k].sent = sent ? sent + (d[k].first - first) : NULL;
		pthread_create(&t[k], NULL, drive, &d[k]);
	}
	for (int k = 0; k < n; k++) {
		pthread_join(t[k], NULL);
		total += d[k].n_lat;
		errors += d[k].errors;
		t0 = d[k].t0 < t0 ? d[k].t0 : t0;
		t1 = d[k].t1 > t1 ? d[k].t1 : t1;
	}
	all = xmalloc(sizeof(int64_t) * (total + 1));
	total = 0;
	for (int k = 0; k < n; k++) {
		memcpy(all + total, d[k].lat, sizeof(int64_t) * d[k].n_lat);
		total += d[k].n_lat;
		if (d[k].errors)
			printf("  errors: %zu (first: %ld)\n", d[k].errors, d[k].first_error);
		free(d[k].lat);
	}
	*rate_out = total / ((t1 - t0) / 1e9);
	printf("  %s: %zu created in %.2f s = %.0f/s, %zu failed\n", what, total, (t1 - t0) / 1e9,
	       *rate_out, errors);
	*p99_out = print_lat("latency", all, total);
	free(all);
	free(d);
	free(t);
}

static void create_namespace(const char *ns)
{
	char body[256];
	long code;

	snprintf(body, sizeof(body),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}",
		 ns);
	code = request("/api/v1/namespaces", body, NULL);
	if (code != 201 && code != 409) {
		fprintf(stderr, "api_bench: create namespace %s: HTTP %ld\n", ns, code);
		exit(1);
	}
}

static void phase_create(void)
{
	double r, p99;

	printf("\n[2] sustained creates: ConfigMaps at %.0f/s for %.0f s (open loop over %d "
	       "connection(s))\n",
	       create_rate, create_seconds, fill_conns);
	create_namespace("bench-rate");
	run_drivers("open loop", "bench-rate", "configmaps", "r-", fill_conns, create_rate, 0, 0,
		    (int64_t)(create_rate * create_seconds), create_seconds, NULL, &r, &p99);
	/* An open loop sends on a schedule, so it can only fall short of its rate: it sustained
	 * the rate if it kept within 1 % of the schedule (the capacity is the closed loop's rate,
	 * phase 2b). */
	printf("  => creates/s: %.2f of %.0f offered, goal >= 2000 sustained, ratio %.2f (%s)\n", r,
	       create_rate, r / 2000,
	       create_rate >= 2000 && r >= 0.99 * create_rate ? "met" : "NOT met");
	ratio("create p99 ms", p99, 20, true);
}

static void phase_fill(void)
{
	double r, p99;

	printf("\n[2b] fill: %d ConfigMaps, closed loop, %d connection(s) x %d in flight\n",
	       objects, fill_conns, fill_inflight);
	create_namespace("bench");
	run_drivers("closed loop", "bench", "configmaps", "c-", fill_conns, 0, fill_inflight, 0,
		    objects, 0, NULL, &r, &p99);
	ratio("closed-loop creates/s (capacity)", r, 2000, false);
}

static void phase_list(void)
{
	printf("\n[3] LIST of /api/v1/namespaces/bench/configmaps (%d objects), 3 runs\n", objects);
	for (int run = 0; run < 3; run++) {
		struct membuf b = {0};
		int64_t t0 = now_ns(), t;
		long code = request("/api/v1/namespaces/bench/configmaps", NULL, &b);
		json_t *j, *items;

		t = now_ns() - t0;
		j = json_loadb(b.p ? b.p : "", b.n, 0, NULL);
		items = json_object_get(j, "items");
		printf("  run %d: HTTP %ld, %.1f MB, %zu items, %.3f s\n", run + 1, code, b.n / 1e6,
		       json_array_size(items), t / 1e9);
		if (run == 2)
			ratio("LIST seconds", t / 1e9, 1, true);
		json_decref(j);
		free(b.p);
	}
}

/*
 * CPU seconds used so far: ours (getrusage), the server's (/proc/PID/stat, when we started it)
 * and the whole machine's busy and total time (/proc/stat), to tell a slow server from a busy
 * machine: this machine is shared, and the client runs on the same cores.
 */
struct cpu_sample {
	double self, server, busy, total;
};

static void cpu_sample(struct cpu_sample *c)
{
	struct rusage ru;
	char path[64], buf[1024], *p;
	unsigned long long v[8] = {0};
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f;

	memset(c, 0, sizeof(*c));
	getrusage(RUSAGE_SELF, &ru);
	c->self = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		  ru.ru_stime.tv_usec / 1e6;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)server_pid);
	if (server_pid && (f = fopen(path, "r"))) {
		unsigned long ut = 0, st = 0;

		/* fields 14 and 15 (utime, stime), after the ")" that ends the command name */
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &st) == 2)
			c->server = (ut + st) / hz;
		fclose(f);
	}
	if ((f = fopen("/proc/stat", "r"))) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
			c->total = (v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]) / hz;
			c->busy = c->total - (v[3] + v[4]) / hz;
		}
		fclose(f);
	}
}

static void cpu_print(const struct cpu_sample *a, const struct cpu_sample *b, double seconds,
		      int64_t deliveries)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	printf("  CPU over %.1f s: server %.2f cores%s, client %.2f cores, machine %.0f%% busy of "
	       "%ld cores (other processes %.2f cores)\n",
	       seconds, (b->server - a->server) / seconds, server_pid ? "" : " (not ours: unknown)",
	       (b->self - a->self) / seconds, 100 * (b->busy - a->busy) / (b->total - a->total),
	       cores,
	       ((b->busy - a->busy) - (b->server - a->server) - (b->self - a->self)) / seconds);
	if (deliveries > 0)
		printf("  CPU per 1,000 event deliveries: server %.2f ms, client %.2f ms\n",
		       1e6 * (b->server - a->server) / (double)deliveries,
		       1e6 * (b->self - a->self) / (double)deliveries);
}

/* Watch phase: watchers over a few connections, a writer of pods at watch_rate. */
struct watcher {
	CURL *h;
	char *line;
	size_t len, cap;
	int64_t got;
	bool headers;
	struct wthread *t;
};

struct wthread {
	struct watcher *w;
	int n;
	int64_t *lat;
	size_t n_lat, cap_lat;
	int64_t bad;
	volatile bool stop;
	int started;
	int ended, failed; /* streams the server ended (cleanly, or failed: curl's error) */
	CURLcode first_fail;
};

static int64_t *watch_sent; /* issue time of pod i */
static int64_t watch_total;

static void watch_line(struct watcher *w, const char *s, size_t n)
{
	static const char pat[] = "\"name\":\"bw-";
	const char *p;
	int64_t now = now_ns(), i, sent;

	if (n < 10 || memcmp(s, "{\"type\":\"ADDED\"", 15) != 0)
		return;
	p = memmem(s, n, pat, sizeof(pat) - 1);
	if (!p)
		return;
	i = strtoll(p + sizeof(pat) - 1, NULL, 10);
	if (i < 0 || i >= watch_total ||
	    !(sent = __atomic_load_n(&watch_sent[i], __ATOMIC_ACQUIRE)))
		return;
	w->got++;
	if (w->t->n_lat == w->t->cap_lat) {
		w->t->cap_lat = w->t->cap_lat ? w->t->cap_lat * 2 : 1 << 20;
		w->t->lat = xrealloc(w->t->lat, w->t->cap_lat * sizeof(int64_t));
	}
	w->t->lat[w->t->n_lat++] = now - sent;
}

static size_t watch_write(char *p, size_t sz, size_t n, void *u)
{
	struct watcher *w = u;
	size_t len = sz * n, off = 0;

	while (off < len) {
		char *nl = memchr(p + off, '\n', len - off);
		size_t k = nl ? (size_t)(nl - (p + off)) : len - off;

		if (w->len + k > w->cap) {
			w->cap = (w->len + k) * 2 + 1024;
			w->line = xrealloc(w->line, w->cap);
		}
		memcpy(w->line + w->len, p + off, k);
		w->len += k;
		off += k;
		if (nl) {
			watch_line(w, w->line, w->len);
			w->len = 0;
			off++;
		}
	}
	return len;
}

static size_t watch_header(char *p, size_t sz, size_t n, void *u)
{
	struct watcher *w = u;

	if (!w->headers && n * sz >= 2 && p[0] == '\r' && p[1] == '\n') {
		w->headers = true;
		__atomic_add_fetch(&w->t->started, 1, __ATOMIC_RELAXED);
	}
	return sz * n;
}

static char watch_rv[32];

static void *watch_run(void *arg)
{
	struct wthread *t = arg;
	CURLM *m = multi();
	char path[256];
	int running;

	snprintf(path, sizeof(path),
		 "/api/v1/namespaces/bench-w/pods?watch=true&resourceVersion=%s", watch_rv);
	for (int i = 0; i < t->n; i++) {
		struct watcher *w = &t->w[i];

		w->t = t;
		w->h = easy(path);
		if (t->n > streams)
			curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)streams);
		curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
		curl_easy_setopt(w->h, CURLOPT_HEADERFUNCTION, watch_header);
		curl_easy_setopt(w->h, CURLOPT_HEADERDATA, w);
		curl_multi_add_handle(m, w->h);
	}
	while (!t->stop) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				t->ended++;
				if (msg->data.result != CURLE_OK && !t->failed++)
					t->first_fail = msg->data.result;
			}
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	for (int i = 0; i < t->n; i++) {
		curl_multi_remove_handle(m, t->w[i].h);
		curl_easy_cleanup(t->w[i].h);
		free(t->w[i].line);
	}
	curl_multi_cleanup(m);
	return NULL;
}

static void phase_watch(void)
{
	struct wthread *t = calloc((size_t)watch_threads, sizeof(*t));
	pthread_t *th = calloc((size_t)watch_threads, sizeof(*th));
	struct membuf b = {0};
	json_t *j;
	int64_t t0, *all, min_got = INT64_MAX, max_got = 0, total_lat = 0;
	double r, p99;
	int started;
	struct cpu_sample c0, c1;
	int64_t tw0, tw1;
	int ended = 0, failed = 0;
	CURLcode first_fail = CURLE_OK;

	printf("\n[1] watch: %d watchers of pods (%s, %d client threads), %.0f pod creates/s for "
	       "%.0f s\n",
	       watchers, http11 ? "HTTP/1.1, one connection each" : "HTTP/2 multiplexed",
	       watch_threads, watch_rate, watch_seconds);
	create_namespace("bench-w");
	if (request("/api/v1/namespaces/bench-w/pods?limit=1", NULL, &b) != 200) {
		fprintf(stderr, "api_bench: list pods failed\n");
		exit(1);
	}
	j = json_loads(b.p, 0, NULL);
	snprintf(watch_rv, sizeof(watch_rv), "%s",
		 json_string_value(
			 json_object_get(json_object_get(j, "metadata"), "resourceVersion")));
	json_decref(j);
	free(b.p);
	watch_total = (int64_t)(watch_rate * watch_seconds);
	watch_sent = calloc((size_t)watch_total, sizeof(int64_t));
	t0 = now_ns();
	for (int k = 0; k < watch_threads; k++) {
		t[k].n = watchers * (k + 1) / watch_threads - watchers * k / watch_threads;
		t[k].w = calloc((size_t)t[k].n, sizeof(struct watcher));
		pthread_create(&th[k], NULL, watch_run, &t[k]);
	}
	for (;;) {
		started = 0;
		for (int k = 0; k < watch_threads; k++)
			started += __atomic_load_n(&t[k].started, __ATOMIC_RELAXED);
		if (started == watchers || now_ns() - t0 > 60 * (int64_t)1000000000)
			break;
		usleep(10000);
	}
	printf("  %d/%d watches established in %.2f s\n", started, watchers, (now_ns() - t0) / 1e9);
	cpu_sample(&c0);
	tw0 = now_ns();
	run_drivers("pod writer", "bench-w", "pods", "bw-", 1, watch_rate, 0, 0, watch_total,
		    watch_seconds, watch_sent, &r, &p99);
	sleep(2); /* the last events in flight */
	cpu_sample(&c1);
	tw1 = now_ns();
	for (int k = 0; k < watch_threads; k++) {
		t[k].stop = true;
		pthread_join(th[k], NULL);
		total_lat += (int64_t)t[k].n_lat;
		ended += t[k].ended;
		if (t[k].failed && !failed)
			first_fail = t[k].first_fail;
		failed += t[k].failed;
	}
	if (ended)
		printf("  watch streams ended before the client stopped: %d (%d with an "
		       "error%s%s)\n",
		       ended, failed, failed ? ", first: " : "",
		       failed ? curl_easy_strerror(first_fail) : "");
	all = xmalloc(sizeof(int64_t) * (size_t)(total_lat + 1));
	total_lat = 0;
	for (int k = 0; k < watch_threads; k++) {
		memcpy(all + total_lat, t[k].lat, t[k].n_lat * sizeof(int64_t));
		total_lat += (int64_t)t[k].n_lat;
		free(t[k].lat);
		for (int i = 0; i < t[k].n; i++) {
			min_got = t[k].w[i].got < min_got ? t[k].w[i].got : min_got;
			max_got = t[k].w[i].got > max_got ? t[k].w[i].got : max_got;
		}
		free(t[k].w);
	}
	{
		int64_t created = 0;

		for (int64_t i = 0; i < watch_total; i++)
			created += watch_sent[i] != 0;
		printf("  events per watcher: min %" PRId64 ", max %" PRId64
		       " (pods written %" PRId64 ")\n",
		       min_got, max_got, created);
		printf("  every watcher got every event: %s\n", min_got == created ? "yes" : "NO");
	}
	p99 = print_lat("delivery (create issued -> event parsed by the watcher)", all,
			(size_t)total_lat);
	cpu_print(&c0, &c1, (tw1 - tw0) / 1e9, total_lat);
	ratio("delivery p99 ms", p99, 100, true);
	free(all);
	free(watch_sent);
	free(t);
	free(th);
}

static void start_server(const char *argv0)
{
	char bin[PATH_MAX], port[16], url[64], threads[16], log[PATH_MAX + 16], *slash;
	char tmpl[] = "/tmp/k8c-api-bench.XXXXXX";
	int p = 20000 + (int)(getpid() % 20000);

	snprintf(bin, sizeof(bin), "%s", argv0);
	slash = strrchr(bin, '/');
	snprintf(slash ? slash + 1 : bin, sizeof(bin) - (size_t)(slash ? slash + 1 - bin : 0),
		 "k8c-server");
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	data_dir = strdup(tmpl);
	snprintf(port, sizeof(port), "%d", p);
	snprintf(threads, sizeof(threads), "%d", threads_arg);
	snprintf(log, sizeof(log), "%s/server.log", data_dir);
	server_pid = fork();
	if (server_pid == 0) {
		char *args[16];
		int n = 0;

		if (!freopen(log, "w", stderr))
			_exit(127);
		args[n++] = bin;
		args[n++] = "--data-dir";
		args[n++] = data_dir;
		args[n++] = "--secure-port";
		args[n++] = port;
		args[n++] = "--bind-address";
		args[n++] = "127.0.0.1";
		args[n++] = "--controllers="; /* the API server alone */
		if (threads_arg) {
			args[n++] = "--threads";
			args[n++] = threads;
		}
		args[n] = NULL;
		execv(bin, args);
		_exit(127);
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", p);
	server_url = strdup(url);
	printf("server: %s --data-dir %s --secure-port %d%s%s (pid %d, log %s)\n", bin, data_dir, p,
	       threads_arg ? " --threads " : "", threads_arg ? threads : "", (int)server_pid, log);
}

static void stop_server(void)
{
	char cmd[PATH_MAX + 16];
	int st;

	if (!server_pid)
		return;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &st, 0);
	server_pid = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "api_bench: could not remove %s\n", data_dir);
}

/* Interrupted: stop the server we started (it would outlive us otherwise). */
static void on_signal(int sig)
{
	if (server_pid > 0)
		kill(server_pid, SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f)
{
	fputs("Usage: api_bench [OPTIONS]\n"
	      "  --server URL          use a running server (with --data-dir for its pki/)\n"
	      "  --data-dir DIR        the server's data dir (pki/ca.crt, admin.crt, admin.key)\n"
	      "  --threads N           --threads of the server started here (default: its own)\n"
	      "  --http1.1             HTTP/1.1 (one connection a watcher) instead of HTTP/2\n"
	      "  --objects N           objects for LIST and RSS (default 100000)\n"
	      "  --create-rate R       open-loop creates/s (default 2000)\n"
	      "  --create-seconds S    (default 5)\n"
	      "  --conns N             connections (threads) of the create phases (default 4)\n"
	      "  --inflight N          requests in flight a connection while filling (default 16)\n"
	      "  --watchers N          (default 1000)\n"
	      "  --watch-rate R        pod creates/s while watching (default 500)\n"
	      "  --watch-seconds S     (default 10)\n"
	      "  --watch-threads N     client threads (multi handles) of the watchers (default:\n"
	      "                        one for each --streams watchers, one connection each)\n"
	      "  --streams N           watches a HTTP/2 connection (default 100)\n"
	      "  --only PHASE          rss, create, fill, list or watch (fill precedes list)\n",
	      f);
}

static double num(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || v <= 0) {
		fprintf(stderr, "api_bench: \"%s\" is not a positive number\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 'S'},
		{"data-dir", required_argument, NULL, 'd'},
		{"threads", required_argument, NULL, 't'},
		{"http1.1", no_argument, NULL, '1'},
		{"objects", required_argument, NULL, 'o'},
		{"create-rate", required_argument, NULL, 'r'},
		{"create-seconds", required_argument, NULL, 's'},
		{"conns", required_argument, NULL, 'c'},
		{"inflight", required_argument, NULL, 'i'},
		{"watchers", required_argument, NULL, 'w'},
		{"watch-rate", required_argument, NULL, 'R'},
		{"watch-threads", required_argument, NULL, 'T'},
		{"streams", required_argument, NULL, 'M'},
		{"watch-seconds", required_argument, NULL, 'W'},
		{"only", required_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			server_url = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 't':
			threads_arg = (int)num(optarg);
			break;
		case '1':
			http11 = true;
			break;
		case 'o':
			objects = (int)num(optarg);
			break;
		case 'r':
			create_rate = num(optarg);
			break;
		case 's':
			create_seconds = num(optarg);
			break;
		case 'c':
			fill_conns = (int)num(optarg);
			break;
		case 'i':
			fill_inflight = (int)num(optarg);
			break;
		case 'w':
			watchers = (int)num(optarg);
			break;
		case 'R':
			watch_rate = num(optarg);
			break;
		case 'W':
			watch_seconds = num(optarg);
			break;
		case 'M':
			streams = (int)num(optarg);
			break;
		case 'T':
			watch_threads = (int)num(optarg);
			break;
		case 'O':
			only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!watch_threads)
		watch_threads = (watchers + streams - 1) / streams;
	if (server_url && !data_dir) {
		fprintf(stderr, "api_bench: --server needs --data-dir (for the admin cert)\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!server_url) {
		start_server(argv[0]);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}
	ca = malloc(PATH_MAX), cert = malloc(PATH_MAX), key = malloc(PATH_MAX);
	snprintf(ca, PATH_MAX, "%s/pki/ca.crt", data_dir);
	snprintf(cert, PATH_MAX, "%s/pki/admin.crt", data_dir);
	snprintf(key, PATH_MAX, "%s/pki/admin.key", data_dir);
	for (int i = 0;; i++) {
		struct stat st;

		if (stat(key, &st) == 0 && request("/healthz", NULL, NULL) == 200)
			break;
		if (i == 300) {
			fprintf(stderr, "api_bench: the server did not come up\n");
			stop_server();
			return 1;
		}
		usleep(100000);
	}
	printf("client: libcurl %s, %s\n", curl_version_info(CURLVERSION_NOW)->version,
	       http11 ? "HTTP/1.1" : "HTTP/2 (multiplexed)");
	if (!only || strcmp(only, "rss") == 0) {
		sleep(2);
		printf("\n[4a] idle\n");
		print_rss("idle", 50);
	}
	if (!only || strcmp(only, "create") == 0)
		phase_create();
	if (!only || strcmp(only, "fill") == 0 || strcmp(only, "list") == 0) {
		phase_fill();
		printf("\n[4b] holding %d objects\n", objects);
		print_rss("after the fill", 300);
	}
	if (!only || strcmp(only, "list") == 0) {
		phase_list();
		print_rss("after the LISTs", 300);
	}
	if (!only || strcmp(only, "watch") == 0) {
		phase_watch();
		print_rss("after the watch phase", 300);
	}
	stop_server();
	curl_slist_free_all(json_headers);
	curl_global_cleanup();
	return 0;
}

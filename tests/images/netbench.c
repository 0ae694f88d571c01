/*
 * netbench: the client of `k8c bench` (docs/up.md), run as a pod of k8c.io/netserver:latest
 * against netserver pods; linked statically like netserver. Each test is one TCP connection at a
 * time, run for --seconds after a warm-up that waits (up to --warmup seconds) for the target to
 * answer, so that a Service the proxy has not programmed yet is not measured as a failure.
 *
 *   netbench [--seconds S] [--warmup W] [--rounds R] TEST...    (R passes over the tests)
 *   TEST is ID,KIND,HOST:PORT[,HOST-HEADER] with KIND one of
 *     tput  HTTP keep-alive downloads of GET /bytes/N (netserver), counted in Gbit/s
 *     rps   HTTP keep-alive GET /hostname, one after another, in requests/s
 *     cps   a new connection per GET /healthz (Connection: close; the server closes first),
 *           in connections/s
 * One JSON object a line on stdout per test, as soon as it ends:
 *   {"id":ID,"kind":KIND,"value":V,"unit":U,"count":N,"errors":E,"seconds":T,"synRetrans":R}
 * (R: SYN retransmissions of the pod during the test, TcpExt TCPSynRetrans of /proc/net/netstat:
 * a SYN that a server's TIME_WAIT refused, PAWS, costs a second; -1 when not readable)
 * or {"id":ID,"kind":KIND,"error":"..."} when the target never answered; then {"done":true}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DOWNLOAD (64ULL << 20) /* bytes a GET /bytes/N of the throughput test asks for */

struct test {
	char id[64], kind[8], host[64], hosthdr[128];
	int port;
	unsigned lo, hi; /* source ports of its own (IP_LOCAL_PORT_RANGE) */
};

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* Linux >= 6.3 */
#endif

struct conn {
	int fd;
	char buf[1 << 16];
	size_t have; /* bytes in buf not consumed yet */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(struct conn *c, const struct test *t, char *why, size_t wlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
	struct timeval tv = {.tv_sec = 2};
	int one = 1;

	c->have = 0;
	if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1) {
		snprintf(why, wlen, "%s: not an IPv4 address", t->host);
		return -1;
	}
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, wlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Each test connects from source ports of its own: the server side of a path keeps
	 * TIME_WAIT entries of (client pod, port) -> (server pod, 8080), and a SYN of another path
	 * reaching the same four-tuple (a ClusterIP DNATed to the pod after the pod IP test) carries
	 * TCP timestamps from another offset (Linux keys it by the addresses the client sees), fails
	 * PAWS and is dropped until its retransmission 1 s later: a fourth of the connections/s.
	 * Best effort: older kernels refuse the option and share one range. */
	if (t->hi) {
		unsigned range = t->hi << 16 | t->lo;

		setsockopt(c->fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof(range));
	}
	/* a connect or read that hangs (a path that drops) ends after 2 s */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(why, wlen, "connect %s:%d: %s", t->host, t->port, strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_get(struct conn *c, const struct test *t, const char *path, int keep)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
			 t->hosthdr[0] ? t->hosthdr : t->host, keep ? "" : "Connection: close\r\n");

	return send_all(c->fd, req, (size_t)n);
}

/*
 * Read one response: its head, then its body (Content-Length; to EOF without one), counted in
 * *bytes as it comes. Stops early (returns 1) once deadline passes; -1 on an error or a status
 * other than 2xx, 0 when the response is whole.
 */
static int read_response(struct conn *c, unsigned long long *bytes, double deadline)
{
	char *end, *cl;
	unsigned long long want = 0, got;
	int status = 0, has_len = 0;
	size_t hlen;
	ssize_t r;

	for (;;) {
		c->buf[c->have] = 0;
		if ((end = strstr(c->buf, "\r\n\r\n")))
			break;
		if (c->have >= sizeof(c->buf) - 1)
			return -1;
		r = read(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have);
		if (r <= 0)
			return -1;
		c->have += (size_t)r;
	}
	hlen = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1 || status < 200 || status > 299)
		return -1;
	for (cl = c->buf; (cl = strstr(cl, "\r\n")) && cl < end; cl += 2)
		if (strncasecmp(cl + 2, "Content-Length:", 15) == 0) {
			want = strtoull(cl + 17, NULL, 10);
			has_len = 1;
		}
	got = c->have - hlen;
	if (has_len && got > want)
		got = want;
	*bytes += got;
	/* what follows this response in buf (pipelining does not happen here, but be exact) */
	memmove(c->buf, c->buf + hlen + got, c->have - hlen - got);
	c->have -= hlen + got;
	while (!has_len || got < want) {
		char sink[1 << 16];
		size_t room =
			has_len && want - got < sizeof(sink) ? (size_t)(want - got) : sizeof(sink);

		r = read(c->fd, sink, room);
		if (r == 0 && !has_len)
			return 0;
		if (r <= 0)
			return -1;
		got += (unsigned long long)r;
		*bytes += (unsigned long long)r;
		if (now() >= deadline)
			return 1;
	}
	return 0;
}

/* The network namespace's count of SYN retransmissions (TcpExt: TCPSynRetrans), or -1. */
static long long syn_retrans(void)
{
	FILE *f = fopen("/proc/net/netstat", "re");
	char names[8192], values[8192];
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		char *sn = NULL, *sv = NULL, *n, *x;

		if (strncmp(names, "TcpExt:", 7) != 0)
			continue;
		n = strtok_r(names, " \n", &sn);
		x = strtok_r(values, " \n", &sv);
		while (n && x) {
			if (!strcmp(n, "TCPSynRetrans"))
				v = strtoll(x, NULL, 10);
			n = strtok_r(NULL, " \n", &sn);
			x = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
	return v;
}

/* Until the target answers a GET /healthz (the Service is programmed), or for warmup s. */
static int warm_up(const struct test *t, double warmup, char *why, size_t wlen)
{
	double end = now() + warmup;
	struct conn *c = calloc(1, sizeof(*c));
	int ok = 0;

	do {
		unsigned long long b = 0;

		if (conn_open(c, t, why, wlen) == 0) {
			if (send_get(c, t, "/healthz", 0) == 0 && read_response(c, &b, 1e300) == 0)
				ok = 1;
			else
				snprintf(why, wlen, "GET /healthz from %s:%d: no 2xx answer",
					 t->host, t->port);
			conn_close(c);
		}
		if (!ok)
			usleep(100 * 1000);
	} while (!ok && now() < end);
	free(c);
	return ok ? 0 : -1;
}

static void run(const struct test *t, double secs, double warmup)
{
	struct conn *c = calloc(1, sizeof(*c));
	unsigned long long count = 0, errors = 0, bytes = 0;
	double t0, t1, value;
	long long syn0, syn1;
	char why[256] = "";
	const char *unit;

	c->fd = -1;
	if (warm_up(t, warmup, why, sizeof(why)) < 0) {
		printf("{\"id\":\"%s\",\"kind\":\"%s\",\"error\":\"%s\"}\n", t->id, t->kind, why);
		fflush(stdout);
		free(c);
		return;
	}
	syn0 = syn_retrans();
	t0 = now();
	t1 = t0 + secs;
	while (now() < t1) {
		int r;

		if (c->fd < 0 && conn_open(c, t, why, sizeof(why)) < 0) {
			errors++;
			usleep(10 * 1000);
			continue;
		}
		if (!strcmp(t->kind, "tput")) {
			char path[64];

			snprintf(path, sizeof(path), "/bytes/%llu", DOWNLOAD);
			r = send_get(c, t, path, 1) < 0 ? -1 : read_response(c, &bytes, t1);
			if (r == 0)
				count++;
			if (r != 0)
				conn_close(c);
		} else if (!strcmp(t->kind, "rps")) {
			r = send_get(c, t, "/hostname", 1) < 0 ? -1
							       : read_response(c, &bytes, 1e300);
			if (r == 0)
				count++;
			else
				conn_close(c);
		} else {
			r = send_get(c, t, "/healthz", 0) < 0 ? -1
							      : read_response(c, &bytes, 1e300);
			if (r == 0) {
				char x;

				/* the server closes first (its side keeps TIME_WAIT) */
				while (read(c->fd, &x, 1) > 0)
					;
				count++;
			}
			conn_close(c);
		}
		if (r < 0)
			errors++;
	}
	conn_close(c);
	secs = now() - t0;
	syn1 = syn_retrans();
	if (!strcmp(t->kind, "tput")) {
		value = (double)bytes * 8 / secs / 1e9;
		unit = "Gbit/s";
	} else {
		value = (double)count / secs;
		unit = !strcmp(t->kind, "rps") ? "req/s" : "conn/s";
	}
	printf("{\"id\":\"%s\",\"kind\":\"%s\",\"value\":%.4f,\"unit\":\"%s\",\"count\":%llu,"
	       "\"errors\":%llu,\"seconds\":%.3f,\"synRetrans\":%lld}\n",
	       t->id, t->kind, value, unit, count, errors, secs,
	       syn0 >= 0 && syn1 >= syn0 ? syn1 - syn0 : -1);
	fflush(stdout);
	free(c);
}

static int parse_test(const char *s, struct test *t)
{
	char buf[512], *f[4] = {0}, *save = NULL, *colon;
	int n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *p = strtok_r(buf, ",", &save); p && n < 4; p = strtok_r(NULL, ",", &save))
		f[n++] = p;
	if (n < 3 || !(colon = strrchr(f[2], ':')))
		return -1;
	*colon = 0;
	snprintf(t->id, sizeof(t->id), "%s", f[0]);
	snprintf(t->kind, sizeof(t->kind), "%s", f[1]);
	snprintf(t->host, sizeof(t->host), "%s", f[2]);
	t->port = atoi(colon + 1);
	if (f[3])
		snprintf(t->hosthdr, sizeof(t->hosthdr), "%s", f[3]);
	if (strcmp(t->kind, "tput") && strcmp(t->kind, "rps") && strcmp(t->kind, "cps"))
		return -1;
	for (const char *p = t->id; *p; p++)
		if (*p == '"' || *p == '\\')
			return -1;
	return t->port > 0 && t->port < 65536 ? 0 : -1;
}

static void usage(FILE *f)
{
	fputs("Usage: netbench [--seconds S] [--warmup W] [--rounds R] ID,KIND,IP:PORT[,HOST]...\n"
	      "KIND: tput (GET /bytes/N downloads, Gbit/s), rps (keep-alive GET /hostname,\n"
	      "requests/s), cps (a connection per GET /healthz, connections/s). One JSON line\n"
	      "per test on stdout, then {\"done\":true}. Targets are netserver (HTTP).\n",
	      f);
}

int main(int argc, char **argv)
{
	double secs = 3, warmup = 20;
	int i = 1, rounds = 1, first;
	struct test *tests;

	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[i], "--seconds"))
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--warmup"))
			warmup = atof(argv[++i]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[++i]);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (i == argc || secs <= 0 || rounds < 1) {
		usage(stderr);
		return 2;
	}
	first = i;
	if (argc - first > 10000 ||
	    !(tests = calloc((size_t)(unsigned)(argc - first), sizeof(*tests)))) {
		fprintf(stderr, "netbench: too many tests\n");
		return 2;
	}
	for (; i < argc; i++)
		if (parse_test(argv[i], &tests[i - first]) < 0) {
			fprintf(stderr, "netbench: \"%s\": not ID,tput|rps|cps,IP:PORT[,HOST]\n",
				argv[i]);
			return 2;
		}
	/* the netns's ephemeral range (32768-60999 by default) split between the tests */
	for (int t = 0, n = argc - first; t < n; t++) {
		unsigned band = (60999 - 32768 + 1) / (unsigned)n;

		if (band >= 64) {
			tests[t].lo = 32768 + (unsigned)t * band;
			tests[t].hi = tests[t].lo + band - 1;
		}
	}
	/* round after round over every test: a slow moment of the machine spreads over all */
	for (int r = 0; r < rounds; r++)
		for (int t = 0; t < argc - first; t++)
			run(&tests[t], secs, warmup);
	free(tests);
	printf("{\"done\":true}\n");
	return 0;
}

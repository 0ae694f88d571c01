/*
 * proxy_dp: the data-path load of tests/bench/proxy_dp_bench.sh (run in the namespaces that
 * script makes).
 *
 *   proxy_dp serve PORT          PORT: a sink (reads until EOF, a thread a connection);
 *                                PORT+1: accepts and closes at once (new connections/s);
 *                                PORT+2: echoes what it reads (established flows)
 *   proxy_dp tput IP PORT SECS   one TCP stream to the sink: prints Gbit/s
 *   proxy_dp conns IP PORT SECS  connect, wait for the server's close, close, again (PORT+1):
 *                                prints connections/s
 *   proxy_dp lat IP PORT N       N connections one after another: connect() time (the SYN, its
 *                                NAT lookup, the SYN-ACK) in microseconds: p50 p90 p99
 *   proxy_dp churn IP CPORT EPORT RATE FLOWS STOPFILE
 *                                (tests/bench/proxy_restart_bench.sh) until STOPFILE exists:
 *                                RATE new connections/s to IP:CPORT (a serve PORT+1: connect,
 *                                wait for the server's close; 4 threads on a fixed schedule)
 *                                and FLOWS long-lived connections to IP:EPORT (a serve PORT+2)
 *                                each sending 32 bytes and reading them back every 20 ms. Then
 *                                prints one line: conns= failed= slow= (a connect that took
 *                                over 200 ms: a SYN was retransmitted) rate= flows= broken=
 *                                (reset, closed, or silent for 3 s) exchanges=; the causes of
 *                                failures go to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "proxy_dp: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listener(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static void *sink(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static char buf[1 << 17];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return NULL;
}

static void *sink_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, sink, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
	return NULL;
}

static void *echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			break;
	close(fd);
	return NULL;
}

static void *echo_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, echo, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
	return NULL;
}

static int connect_to(const char *ip, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- churn: new connections at a fixed rate and long-lived flows, until a file exists ---- */

#define CHURN_THREADS 4

static struct {
	struct sockaddr_in conn, echo;
	double rate;
	atomic_bool stop;
	atomic_ulong conns, failed, slow, broken, exchanges;
} ch;

static void churn_fail(const char *what, int e)
{
	/* stderr is unbuffered: one write a line */
	fprintf(stderr, "proxy_dp churn: %s: %s\n", what, e ? strerror(e) : "closed");
}

/* connect with a deadline; returns the fd or -1 with errno set */
static int connect_within(const struct sockaddr_in *sa, int ms)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), e = 0;
	socklen_t el = sizeof(e);
	struct pollfd p;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		goto done;
	if (errno != EINPROGRESS)
		goto fail;
	p = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, ms) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
		goto fail;
	if (e) {
		errno = e;
		goto fail;
	}
done:
	fcntl(fd, F_SETFL, 0);
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static void *churn_conns(void *arg)
{
	double period = CHURN_THREADS / ch.rate,
	       next = now() + period * (double)(intptr_t)arg / CHURN_THREADS;
	struct timeval tv = {.tv_sec = 3};

	while (!atomic_load(&ch.stop)) {
		double t0 = now(), wait = next - t0;
		char c;
		int fd;

		if (wait > 0) {
			usleep((useconds_t)(wait * 1e6));
			t0 = now();
		}
		next += period;
		fd = connect_within(&ch.conn, 3000);
		atomic_fetch_add(&ch.conns, 1);
		if (fd < 0) {
			atomic_fetch_add(&ch.failed, 1);
			churn_fail("connect", errno);
			continue;
		}
		if (now() - t0 > 0.2)
			atomic_fetch_add(&ch.slow, 1);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (read(fd, &c, 1) != 0) { /* the server closes at once: EOF, nothing else */
			atomic_fetch_add(&ch.failed, 1);
			churn_fail("waiting for the server's close", errno);
		}
		close(fd);
	}
	return NULL;
}

static void *churn_flow(void *arg)
{
	struct timeval tv = {.tv_sec = 3};
	char out[32], in[32];
	int fd = connect_within(&ch.echo, 3000);

	(void)arg;
	if (fd < 0) {
		atomic_fetch_add(&ch.broken, 1);
		churn_fail("flow connect", errno);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(out, 'f', sizeof(out));
	while (!atomic_load(&ch.stop)) {
		size_t got = 0;

		if (write(fd, out, sizeof(out)) != (ssize_t)sizeof(out)) {
			atomic_fetch_add(&ch.broken, 1);
			churn_fail("flow write", errno);
			break;
		}
		while (got < sizeof(in)) {
			ssize_t n = read(fd, in + got, sizeof(in) - got);

			if (n <= 0) {
				atomic_fetch_add(&ch.broken, 1);
				churn_fail("flow read", n < 0 ? errno : 0);
				close(fd);
				return NULL;
			}
			got += (size_t)n;
		}
		atomic_fetch_add(&ch.exchanges, 1);
		usleep(20000);
	}
	close(fd);
	return NULL;
}

static int churn(char **argv)
{
	int flows = atoi(argv[6]);
	pthread_t t[CHURN_THREADS], *ft;
	double t0;

	ch.conn = (struct sockaddr_in){.sin_family = AF_INET,
				       .sin_port = htons((uint16_t)atoi(argv[3]))};
	ch.echo = (struct sockaddr_in){.sin_family = AF_INET,
				       .sin_port = htons((uint16_t)atoi(argv[4]))};
	ch.rate = atof(argv[5]);
	if (inet_pton(AF_INET, argv[2], &ch.conn.sin_addr) != 1 || ch.rate <= 0 || flows < 0)
		die("arguments");
	ch.echo.sin_addr = ch.conn.sin_addr;
	ft = calloc((size_t)flows + 1, sizeof(*ft));
	if (!ft)
		die("calloc");
	for (int i = 0; i < flows; i++)
		if (pthread_create(&ft[i], NULL, churn_flow, NULL) != 0)
			die("thread");
	t0 = now();
	for (intptr_t i = 0; i < CHURN_THREADS; i++)
		if (pthread_create(&t[i], NULL, churn_conns, (void *)i) != 0)
			die("thread");
	printf("started\n");
	fflush(stdout);
	while (access(argv[7], F_OK) != 0)
		usleep(20000);
	atomic_store(&ch.stop, true);
	for (int i = 0; i < CHURN_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < flows; i++)
		pthread_join(ft[i], NULL);
	printf("conns=%lu failed=%lu slow=%lu rate=%.0f flows=%d broken=%lu exchanges=%lu\n",
	       atomic_load(&ch.conns), atomic_load(&ch.failed), atomic_load(&ch.slow),
	       (double)atomic_load(&ch.conns) / (now() - t0), flows, atomic_load(&ch.broken),
	       atomic_load(&ch.exchanges));
	free(ft);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0) {
		int port = atoi(argv[2]), s = listener(port), c = listener(port + 1);
		pthread_t t;

		if (pthread_create(&t, NULL, sink_accept, (void *)(intptr_t)s) != 0 ||
		    pthread_create(&t, NULL, echo_accept, (void *)(intptr_t)listener(port + 2)) !=
			    0)
			die("thread");
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			int fd = accept(c, NULL, NULL);

			if (fd >= 0)
				close(fd);
		}
	}
	if (argc == 5 && strcmp(argv[1], "tput") == 0) {
		static char buf[1 << 17];
		int fd = connect_to(argv[2], atoi(argv[3]));
		double secs = atof(argv[4]), t0 = now(), t;
		unsigned long long bytes = 0;

		memset(buf, 'x', sizeof(buf));
		while ((t = now()) - t0 < secs) {
			ssize_t n = write(fd, buf, sizeof(buf));

			if (n < 0)
				die("write");
			bytes += (unsigned long long)n;
		}
		close(fd);
		printf("%.3f\n", (double)bytes * 8 / (t - t0) / 1e9);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "conns") == 0) {
		double secs = atof(argv[4]), t0 = now(), t;
		unsigned long n = 0;
		char c;

		while ((t = now()) - t0 < secs) {
			int fd = connect_to(argv[2], atoi(argv[3]) + 1);

			if (read(fd, &c, 1) <
			    0) /* the server closes first: its side keeps TIME_WAIT */
				die("read");
			close(fd);
			n++;
		}
		printf("%.0f\n", (double)n / (t - t0));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "lat") == 0) {
		int n = atoi(argv[4]);
		double *us = calloc((size_t)n, sizeof(*us));
		char c;

		if (!us || n < 1)
			die("count");
		for (int i = 0; i < n; i++) {
			double t0 = now();
			int fd = connect_to(argv[2], atoi(argv[3]) + 1);

			us[i] = (now() - t0) * 1e6;
			if (read(fd, &c, 1) < 0)
				die("read");
			close(fd);
		}
		qsort(us, (size_t)n, sizeof(*us), cmp_double);
		printf("%.1f %.1f %.1f\n", us[n / 2], us[n * 9 / 10], us[n * 99 / 100]);
		free(us);
		return 0;
	}
	if (argc == 8 && strcmp(argv[1], "churn") == 0)
		return churn(argv);
	fprintf(stderr, "usage: proxy_dp serve PORT | tput|conns IP PORT SECS | lat IP PORT N |\n"
			"       churn IP CPORT EPORT RATE FLOWS STOPFILE\n");
	return 2;
}

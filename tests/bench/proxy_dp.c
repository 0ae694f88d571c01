/*
 * proxy_dp: the data-path load of tests/bench/proxy_dp_bench.sh (run in the namespaces that
 * script makes).
 *
 *   proxy_dp serve PORT          PORT: a sink (reads until EOF, a thread a connection);
 *                                PORT+1: accepts and closes at once (new connections/s)
 *   proxy_dp tput IP PORT SECS   one TCP stream to the sink: prints Gbit/s
 *   proxy_dp conns IP PORT SECS  connect, wait for the server's close, close, again (PORT+1):
 *                                prints connections/s
 *   proxy_dp lat IP PORT N       N connections one after another: connect() time (the SYN, its
 *                                NAT lookup, the SYN-ACK) in microseconds: p50 p90 p99
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0) {
		int port = atoi(argv[2]), s = listener(port), c = listener(port + 1);
		pthread_t t;

		if (pthread_create(&t, NULL, sink_accept, (void *)(intptr_t)s) != 0)
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
	fprintf(stderr, "usage: proxy_dp serve PORT | tput|conns IP PORT SECS | lat IP PORT N\n");
	return 2;
}

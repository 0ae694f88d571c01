/*
 * netserver: the project's network test server (image k8c.io/netserver:latest), linked
 * statically so that it runs in any root filesystem. One thread per connection.
 *
 *   HTTP (--http-port, 8080; a comma-separated list serves HTTP on each: k8c bench gives each
 *        service path a server port of its own): GET / answers "<hostname> <client address>:<port>", /hostname,
 *        /clientip, /echo (the query's msg=, or the request body), /healthz, /status/CODE,
 *        /bytes/N (N zero bytes: the download of k8c bench's throughput test);
 *        --status CODE makes every other path answer CODE (readiness/liveness tests).
 *   TCP and UDP echo (--echo-port, 7), TCP discard (--discard-port, 9), TCP source
 *   (--source-port, 19: sends zeros until the client closes), for throughput tests.
 * A port of 0 turns that service off. SIGTERM ends it at once (it is often pid 1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum service { HTTP, ECHO, DISCARD, SOURCE };
#define MAX_HTTP_PORTS 8

static int http_status = 200;
static char hostname[256];

struct conn {
	int fd;
	enum service svc;
	struct sockaddr_storage peer;
};

static void peer_str(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, n, strchr(ip, ':') ? "[%s]:%d" : "%s:%d", ip, port);
		return;
	}
	inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
	port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	snprintf(out, n, "%s:%d", ip, port);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static int respond(int fd, int code, const char *body, size_t len, int keep)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: %s\r\n\r\n",
			 code, reason(code), len, keep ? "keep-alive" : "close");

	if (write_all(fd, head, (size_t)n) < 0)
		return -1;
	return len ? write_all(fd, body, len) : 0;
}

/* 200 with n zero bytes, written in 64 KiB pieces (a download of any size). */
static int respond_zeros(int fd, unsigned long long n, int keep, int head_only)
{
	static const char zeros[65536];
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			  "Content-Length: %llu\r\nConnection: %s\r\n\r\n",
			  n, keep ? "keep-alive" : "close");

	if (write_all(fd, head, (size_t)hl) < 0)
		return -1;
	while (!head_only && n) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		if (write_all(fd, zeros, k) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* The value of header name in the request head (case-insensitive), or NULL. */
static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2, *end;

		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			h += nl + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			end = strstr(h, "\r\n");
			*len = end ? (size_t)(end - h) : strlen(h);
			return h;
		}
	}
	return NULL;
}

/* %XX and + in a query value. */
static size_t url_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n) {
			char hex[3] = {s[i + 1], s[i + 2], 0};

			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	return o;
}

static void serve_http(struct conn *c)
{
	static const size_t cap = 1 << 20;
	char *buf = malloc(cap + 1), peer[80];
	size_t have = 0;

	peer_str(&c->peer, peer, sizeof(peer));
	for (;;) {
		char *end, *body, *path, *q, method[16], target[2048], out[4096];
		size_t hlen, blen = 0, vlen, olen;
		const char *v;
		int keep = 1, code = http_status, n;
		ssize_t r;

		buf[have] = '\0';
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			if (have >= cap)
				goto done;
			r = read(c->fd, buf + have, cap - have);
			if (r <= 0)
				goto done;
			have += (size_t)r;
			buf[have] = '\0';
		}
		hlen = (size_t)(end - buf) + 4;
		*end = '\0';
		if (sscanf(buf, "%15s %2047s", method, target) != 2) {
			respond(c->fd, 400, "bad request\n", 12, 0);
			goto done;
		}
		v = header(buf, "Content-Length", &vlen);
		if (v)
			blen = strtoul(v, NULL, 10);
		v = header(buf, "Connection", &vlen);
		if ((v && strncasecmp(v, "close", 5) == 0) || strstr(buf, "HTTP/1.0"))
			keep = 0;
		if (blen > cap - hlen) {
			respond(c->fd, 400, "body too large\n", 15, 0);
			goto done;
		}
		while (have < hlen + blen) {
			r = read(c->fd, buf + have, cap - have);
			if (r <= 0)
				goto done;
			have += (size_t)r;
		}
		body = buf + hlen;
		path = target;
		q = strchr(target, '?');
		if (q)
			*q++ = '\0';
		if (strcmp(path, "/") == 0) {
			n = snprintf(out, sizeof(out), "%s %s\n", hostname, peer);
			olen = (size_t)n;
		} else if (strcmp(path, "/hostname") == 0) {
			olen = (size_t)snprintf(out, sizeof(out), "%s\n", hostname);
		} else if (strcmp(path, "/clientip") == 0) {
			olen = (size_t)snprintf(out, sizeof(out), "%s\n", peer);
		} else if (strcmp(path, "/healthz") == 0) {
			olen = (size_t)snprintf(out, sizeof(out), "ok\n");
		} else if (strncmp(path, "/status/", 8) == 0) {
			code = atoi(path + 8);
			if (code < 100 || code > 599)
				code = 400;
			olen = (size_t)snprintf(out, sizeof(out), "%d\n", code);
		} else if (strncmp(path, "/bytes/", 7) == 0) {
			if (respond_zeros(c->fd, strtoull(path + 7, NULL, 10), keep,
					  strcmp(method, "HEAD") == 0) < 0 ||
			    !keep)
				goto done;
			goto next;
		} else if (strcmp(path, "/echo") == 0) {
			const char *msg = q ? strstr(q, "msg=") : NULL;

			if (msg && (msg == q || msg[-1] == '&')) {
				msg += 4;
				olen = url_decode(msg, strcspn(msg, "&"), out);
			} else {
				if (respond(c->fd, code, body, blen, keep) < 0 || !keep)
					goto done;
				goto next;
			}
		} else {
			code = 404;
			olen = (size_t)snprintf(out, sizeof(out), "404 page not found\n");
		}
		if (strcmp(method, "HEAD") == 0)
			olen = 0;
		if (respond(c->fd, code, out, olen, keep) < 0 || !keep)
			goto done;
	next:
		memmove(buf, buf + hlen + blen, have - hlen - blen);
		have -= hlen + blen;
	}
done:
	free(buf);
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	static char zeros[65536];
	char buf[65536];
	ssize_t n;

	switch (c->svc) {
	case HTTP:
		serve_http(c);
		break;
	case ECHO:
		while ((n = read(c->fd, buf, sizeof(buf))) > 0)
			if (write_all(c->fd, buf, (size_t)n) < 0)
				break;
		break;
	case DISCARD:
		while (read(c->fd, buf, sizeof(buf)) > 0)
			;
		break;
	case SOURCE:
		while (write_all(c->fd, zeros, sizeof(zeros)) == 0)
			;
		break;
	}
	close(c->fd);
	free(c);
	return NULL;
}

struct listener {
	int fd;
	enum service svc;
};

static void *accept_loop(void *arg)
{
	struct listener *l = arg;

	for (;;) {
		struct conn *c = calloc(1, sizeof(*c));
		socklen_t len = sizeof(c->peer);
		pthread_t t;
		int one = 1;

		c->fd = accept(l->fd, (struct sockaddr *)&c->peer, &len);
		if (c->fd < 0) {
			free(c);
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("netserver: accept");
			exit(1);
		}
		c->svc = l->svc;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve, c) != 0) {
			close(c->fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static void *udp_echo(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &len);

		if (n >= 0)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss, len);
	}
	return NULL;
}

/* A socket on the port for IPv6 and IPv4 (IPv4 alone where IPv6 is off). */
static int listen_on(int port, int type)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in s4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0)
			goto bound;
		close(fd);
	}
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s4, sizeof(s4)) < 0) {
		fprintf(stderr, "netserver: bind port %d: %s\n", port, strerror(errno));
		exit(1);
	}
bound:
	if (type == SOCK_STREAM && listen(fd, 1024) < 0) {
		fprintf(stderr, "netserver: listen port %d: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

static void on_term(int sig)
{
	_exit(0);
}

static int port_arg(const char *flag, const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > 65535) {
		fprintf(stderr, "netserver: %s: \"%s\" is not a port (0 turns it off)\n", flag, s);
		exit(2);
	}
	return (int)v;
}

/* --http-port N[,N...]: the ports into out (MAX_HTTP_PORTS at most); their count. */
static size_t http_port_list(const char *s, int *out)
{
	char buf[128], *save = NULL;
	size_t n = 0;

	if (strlen(s) >= sizeof(buf)) {
		fprintf(stderr, "netserver: --http-port: \"%s\" is too long\n", s);
		exit(2);
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == MAX_HTTP_PORTS) {
			fprintf(stderr, "netserver: --http-port: more than %d ports\n",
				MAX_HTTP_PORTS);
			exit(2);
		}
		out[n++] = port_arg("--http-port", t);
	}
	if (!n)
		out[n++] = port_arg("--http-port", s);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"http-port", required_argument, NULL, 'h'},
		{"echo-port", required_argument, NULL, 'e'},
		{"discard-port", required_argument, NULL, 'd'},
		{"source-port", required_argument, NULL, 's'},
		{"status", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'H'},
		{0},
	};
	int ports[4] = {8080, 7, 9, 19};
	int http_ports[MAX_HTTP_PORTS] = {8080};
	size_t n_http = 1;
	struct listener ls[4 + MAX_HTTP_PORTS];
	int c, udp = -1;
	pthread_t t;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			n_http = http_port_list(optarg, http_ports);
			ports[HTTP] = http_ports[0];
			break;
		case 'e':
			ports[ECHO] = port_arg("--echo-port", optarg);
			break;
		case 'd':
			ports[DISCARD] = port_arg("--discard-port", optarg);
			break;
		case 's':
			ports[SOURCE] = port_arg("--source-port", optarg);
			break;
		case 'S':
			http_status = atoi(optarg);
			if (http_status < 100 || http_status > 599) {
				fprintf(stderr, "netserver: --status: %s is not an HTTP status\n",
					optarg);
				return 2;
			}
			break;
		case 'H':
			puts("Usage: netserver [--http-port N[,N...]] [--echo-port N] "
			     "[--discard-port N]\n"
			     "                 [--source-port N] [--status CODE]\n"
			     "HTTP on 8080 (/, /hostname, /clientip, /echo, /healthz, "
			     "/status/CODE),\n"
			     "TCP+UDP echo on 7, TCP discard on 9, TCP source on 19; 0 turns one "
			     "off.\n"
			     "--status CODE: the status of every HTTP answer but /status/CODE.");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netserver: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	gethostname(hostname, sizeof(hostname) - 1);
	for (int i = 0; i < 4; i++) {
		ls[i].svc = (enum service)i;
		ls[i].fd = ports[i] ? listen_on(ports[i], SOCK_STREAM) : -1;
	}
	/* the HTTP ports after the first */
	for (size_t i = 1; i < n_http; i++) {
		ls[3 + i].svc = HTTP;
		ls[3 + i].fd = http_ports[i] ? listen_on(http_ports[i], SOCK_STREAM) : -1;
	}
	if (ports[ECHO]) {
		udp = listen_on(ports[ECHO], SOCK_DGRAM);
		pthread_create(&t, NULL, udp_echo, &udp);
	}
	fprintf(stderr, "netserver: http %d (%zu port(s)) echo %d discard %d source %d status %d\n",
		ports[HTTP], ports[HTTP] ? n_http : 0, ports[ECHO], ports[DISCARD], ports[SOURCE],
		http_status);
	for (size_t i = 0; i < 3 + n_http; i++)
		if (ls[i].fd >= 0)
			pthread_create(&t, NULL, accept_loop, &ls[i]);
	for (;;)
		pause();
}

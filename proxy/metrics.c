#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cleanup.h"
#include "metrics.h"

static const double bounds[PROXY_HIST_BUCKETS] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1};

void proxy_hist_observe(struct proxy_hist *h, double seconds)
{
	size_t i = 0;

	while (i < PROXY_HIST_BUCKETS && seconds > bounds[i])
		i++;
	h->counts[i]++;
	h->sum += seconds;
	h->n++;
}

int proxy_http_listen(const char *hostport, struct k8c_error *err)
{
	_cleanup_free_ char *host = k8c_xstrdup(hostport);
	char *port = strrchr(host, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int fd, one = 1, r;

	if (!port)
		return k8c_error_set(err, 0, "%s: not host:port", hostport);
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	r = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (r != 0)
		return k8c_error_set(err, 0, "%s: %s", hostport, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return k8c_error_errno(err, 0, e, "listen on %s", hostport);
	}
	freeaddrinfo(ai);
	return fd;
}

static void hist_print(FILE *f, const char *name, const char *help, const struct proxy_hist *h)
{
	unsigned long long cum = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < PROXY_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->n, name,
		h->sum, name, h->n);
}

struct counts {
	size_t eps;
};

static void count_eps(const struct proxy_svcport *p, void *arg)
{
	((struct counts *)arg)->eps += p->n_eps;
}

static char *metrics_text(const struct proxy_metrics *mt, const struct proxy_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	struct counts c = {0};

	if (!f)
		abort();
	proxy_model_each(m, count_eps, &c);
	hist_print(f, "k8c_proxy_sync_duration_seconds",
		   "Time from the start of a sync to the kernel's answer.", &mt->sync_seconds);
	hist_print(f, "k8c_proxy_programming_latency_seconds",
		   "Time from the first watch event after a sync to the kernel having its changes.",
		   &mt->latency_seconds);
	fprintf(f,
		"# HELP k8c_proxy_syncs_total Syncs by result.\n"
		"# TYPE k8c_proxy_syncs_total counter\n"
		"k8c_proxy_syncs_total{result=\"ok\"} %llu\n"
		"k8c_proxy_syncs_total{result=\"error\"} %llu\n"
		"# HELP k8c_proxy_service_ports Service ports programmed.\n"
		"# TYPE k8c_proxy_service_ports gauge\nk8c_proxy_service_ports %zu\n"
		"# HELP k8c_proxy_endpoints Endpoints of those service ports.\n"
		"# TYPE k8c_proxy_endpoints gauge\nk8c_proxy_endpoints %zu\n"
		"# HELP k8c_proxy_nftables_elements Map and set elements k8c-proxy owns.\n"
		"# TYPE k8c_proxy_nftables_elements gauge\nk8c_proxy_nftables_elements %zu\n"
		"# HELP k8c_proxy_conntrack_deleted_total Stale UDP flows deleted.\n"
		"# TYPE k8c_proxy_conntrack_deleted_total counter\n"
		"k8c_proxy_conntrack_deleted_total %llu\n"
		"# HELP k8c_proxy_conflicts_total Keys claimed by two services.\n"
		"# TYPE k8c_proxy_conflicts_total counter\nk8c_proxy_conflicts_total %llu\n",
		mt->syncs_ok, mt->syncs_failed, proxy_model_count(m), c.eps, mt->elements,
		mt->conntrack_deleted, mt->conflicts);
	fclose(f);
	return buf;
}

void proxy_http_serve(int lfd, const struct proxy_metrics *mt, const struct proxy_model *m)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	char req[1024];
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	_cleanup_free_ char *body = NULL;
	const char *status = "200 OK";
	char head[256];
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return;
	/* requests are tiny: one read, bounded, so a slow client cannot stall the loop for long */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = read(fd, req, sizeof(req) - 1);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (strncmp(req, "GET /metrics ", 13) == 0) {
		body = metrics_text(mt, m, &len);
	} else if (strncmp(req, "GET /healthz ", 13) == 0) {
		bool ok = mt->synced_once && !mt->last_failed;

		status = ok ? "200 OK" : "503 Service Unavailable";
		body = k8c_xstrdup(ok		     ? "ok\n"
				   : mt->last_failed ? "the last sync failed\n"
						     : "not synced yet\n");
		len = strlen(body);
	} else {
		status = "404 Not Found";
		body = k8c_xstrdup("404 page not found\n");
		len = strlen(body);
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, len);
	if (write(fd, head, strlen(head)) < 0 || write(fd, body, len) < 0)
		return;
}

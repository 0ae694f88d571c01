#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cleanup.h"
#include "health.h"
#include "log.h"
#include "netns.h"

struct hc_port {
	uint16_t port;
	int fd; /* -1: not open (bind failed; retried at the next update) */
	char *ns, *name;
	size_t local;
	bool seen; /* during an update */
};

struct proxy_health {
	int netns_fd;
	struct hc_port *ports;
	size_t n;
};

struct proxy_health *proxy_health_new(int netns_fd)
{
	struct proxy_health *h = k8c_xcalloc(1, sizeof(*h));

	h->netns_fd = netns_fd;
	return h;
}

static void port_clear(struct hc_port *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->ns);
	free(p->name);
}

void proxy_health_free(struct proxy_health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		port_clear(&h->ports[i]);
	free(h->ports);
	free(h);
}

static int listen_port(struct proxy_health *h, uint16_t port, struct k8c_error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1, saved = -1, e;

	/* a socket belongs to the namespace it was made in: the node's */
	if (h->netns_fd >= 0 && k8c_netns_enter(h->netns_fd, &saved, err) < 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	e = errno;
	if (saved >= 0)
		k8c_netns_restore(&saved);
	if (fd < 0)
		return k8c_error_errno(err, 0, e, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		e = errno;
		close(fd);
		return k8c_error_errno(err, 0, e, "listen on 0.0.0.0:%u", port);
	}
	return fd;
}

static struct hc_port *find(struct proxy_health *h, uint16_t port)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->ports[i].port == port)
			return &h->ports[i];
	return NULL;
}

struct collect {
	struct proxy_health *h;
	const char *node;
};

static void collect(const struct proxy_svcport *p, void *arg)
{
	struct collect *c = arg;
	const char *ns_end = strchr(p->key, '/'), *name_end;
	struct hc_port *hp;
	size_t local = 0;
	int nl, ml;

	if (!p->health_port || !ns_end || !(name_end = strchr(ns_end + 1, '/')))
		return;
	nl = (int)(ns_end - p->key);
	ml = (int)(name_end - ns_end - 1);
	/* kube-proxy counts the local endpoints that are ready */
	for (size_t i = 0; c->node && i < p->n_eps; i++)
		local += p->eps[i].ready && p->eps[i].node && strcmp(p->eps[i].node, c->node) == 0;
	hp = find(c->h, p->health_port);
	if (!hp) {
		c->h->ports = k8c_xrealloc(c->h->ports, (c->h->n + 1) * sizeof(*hp));
		hp = &c->h->ports[c->h->n++];
		*hp = (struct hc_port){.port = p->health_port, .fd = -1};
	}
	if (!hp->seen) {
		/* the first service port met of this health port names it (two services claiming
		 * one health port is an API error; the first wins) */
		free(hp->ns);
		free(hp->name);
		hp->ns = k8c_xasprintf("%.*s", nl, p->key);
		hp->name = k8c_xasprintf("%.*s", ml, ns_end + 1);
		hp->local = 0;
		hp->seen = true;
	}
	if ((int)strlen(hp->ns) == nl && strncmp(p->key, hp->ns, (size_t)nl) == 0 &&
	    (int)strlen(hp->name) == ml && strncmp(ns_end + 1, hp->name, (size_t)ml) == 0 &&
	    local > hp->local)
		hp->local = local; /* the service's ports: the largest count */
}

void proxy_health_update(struct proxy_health *h, const struct proxy_model *m)
{
	struct collect c = {.h = h, .node = proxy_model_node(m)};
	size_t j = 0;

	for (size_t i = 0; i < h->n; i++)
		h->ports[i].seen = false;
	proxy_model_each(m, collect, &c);
	for (size_t i = 0; i < h->n; i++) {
		struct hc_port *p = &h->ports[i];

		if (!p->seen) {
			k8c_log_info("health check port closed", "port=%u", p->port);
			port_clear(p);
			continue;
		}
		if (p->fd < 0) {
			struct k8c_error err = K8C_ERROR_INIT;

			p->fd = listen_port(h, p->port, &err);
			if (p->fd < 0)
				k8c_log_warn(
					"health check port not opened (retried at the next sync)",
					"port=%u service=%s/%s error=\"%s\"", p->port, p->ns,
					p->name, err.msg);
			else
				k8c_log_info("health check port open", "port=%u service=%s/%s",
					     p->port, p->ns, p->name);
			k8c_error_clear(&err);
		}
		h->ports[j++] = *p;
	}
	h->n = j;
}

size_t proxy_health_count(const struct proxy_health *h)
{
	return h->n;
}

size_t proxy_health_pollfds(const struct proxy_health *h, struct pollfd *p, size_t max)
{
	size_t i;

	for (i = 0; i < h->n && i < max; i++)
		p[i] = (struct pollfd){.fd = h->ports[i].fd, .events = POLLIN};
	return i;
}

void proxy_health_serve(struct proxy_health *h, size_t i, bool proxy_healthy)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	const struct hc_port *p;
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *text = NULL;
	char req[1024], head[384];
	int fd;
	bool ok;

	if (i >= h->n || h->ports[i].fd < 0)
		return;
	p = &h->ports[i];
	fd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* requests are tiny: one bounded read, so a slow client cannot stall the loop for long */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read(fd, req, sizeof(req)) <= 0) {
		close(fd);
		return;
	}
	/* kube-proxy answers every path and method the same way */
	ok = p->local > 0 && proxy_healthy;
	body = json_pack("{s:{s:s,s:s},s:I,s:b}", "service", "namespace", p->ns, "name", p->name,
			 "localEndpoints", (json_int_t)p->local, "serviceProxyHealthy",
			 proxy_healthy);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		close(fd);
		return;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.0 %s\r\nContent-Type: application/json\r\nX-Content-Type-Options: "
		 "nosniff\r\nX-Load-Balancing-Endpoint-Weight: %zu\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 ok ? "200 OK" : "503 Service Unavailable", p->local, strlen(text));
	if (write(fd, head, strlen(head)) >= 0)
		(void)!write(fd, text, strlen(text));
	close(fd);
}

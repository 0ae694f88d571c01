/*
 * k8c-ingress: an Ingress controller on h2o 2.2.5 (docs/ingress.md).
 *
 * The main thread runs the informers (Ingresses, IngressClasses, Services, EndpointSlices) in a
 * poll loop, rebuilds the route table after each batch of deltas and publishes it; the serving
 * thread runs h2o's event loop with one catch-all handler that routes with the current table and
 * hands the request to h2o's reverse proxy (h2o_reprocess_request with overrides).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "cleanup.h"
#include "informer.h"
#include "ipaddr.h"
#include "kube_client.h"
#include "objutil.h"
#include "kubeconfig.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "accesslog.h"
#include "tls.h"
#include "upool.h"

#define N_INFORMERS 5

static atomic_bool stop_requested;
static int access_log_fd = -1; /* --access-log */

/* The published table: readers compare the generation (one atomic load per request) and take
 * a reference under the lock only when it changed. */
static struct {
	pthread_mutex_t lock;
	struct ing_table *table;
	atomic_ulong generation;
} pub = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A keep-alive pool of upstream connections per endpoint address, per serving thread. */
struct pool_slot {
	char key[64]; /* "addr port" */
	h2o_socketpool_t *pool;
	unsigned long mark;  /* the sweep that last saw this endpoint in the current table */
	uint64_t down_until; /* passive health: a connect failed, skipped until then (loop ms) */
};

static h2o_globalconf_t conf; /* shared by the serving threads, read-only once they run */

struct serve_thread {
	h2o_context_t ctx;
	h2o_accept_ctx_t actx, actx_tls; /* HTTP, HTTPS (ssl_ctx: the default certificate) */
	h2o_socket_t *lsock, *lsock_tls;
	int lfd, lfd_tls;
	pthread_t tid;
	struct ing_table *table;   /* *ticket: the table this thread serves */
	struct ing_table **ticket; /* h2o shared entry holding a reference to table (or NULL) */
	unsigned long generation;
	struct pool_slot *pools; /* open addressing, size a power of two */
	size_t n_pools, cap_pools;
	unsigned long sweep_mark, swept_generation;
	size_t n_retired; /* pools of endpoints gone from the table, still busy */
	uint64_t last_sweep_ms, last_expire_ms;
	atomic_size_t live_pools; /* n_pools, for /metrics */
	struct ing_stats *stats;
	struct ing_alog *alog;	       /* --access-log's buffer, NULL when off */
	h2o_accept_ctx_t actx_metrics; /* thread 0 only */
	h2o_socket_t *lsock_metrics;
	int lfd_metrics;
	h2o_timeout_t connect_timeout;
	struct {
		unsigned ms;
		h2o_timeout_t to;
	} tmos[8]; /* proxy-connect-timeout values in use */
	size_t n_tmos;
	struct {
		unsigned ms;
		h2o_timeout_t io;
		h2o_http1client_ctx_t c;
	} cctxs[8]; /* proxy-read-timeout values in use: h2o client contexts */
	size_t n_cctxs;
};

/* Per request: the overrides handed to h2o's proxy, and the labels of its metrics. */
struct req_info {
	h2o_req_overrides_t ov; /* first: req->overrides points here */
	const char *ingress, *host;
	const struct ing_backend *b;
	const struct ing_endpoint *ep; /* the endpoint it was proxied to, for the access log */
	h2o_iovec_t path;	       /* rewrite-target's, with the query; base NULL: unchanged */
	bool cors;		       /* enable-cors: the response gets the CORS headers */
	h2o_iovec_t set_cookie; /* affinity: a Set-Cookie for the response, base NULL: none */
};

static struct serve_thread *threads;
static int n_threads = 1;
static h2o_hostconf_t *ingress_hosts[2], *metrics_hosts[2];

static unsigned long upstream_keepalive_ms = 2000;
static unsigned long connect_timeout_ms = 5000; /* --upstream-connect-timeout */
static unsigned long fail_timeout_ms = 10000;	/* --upstream-fail-timeout */
#define MAX_TRIES 3				/* endpoints tried per request (connect failures) */
static unsigned long read_timeout_ms = 60000;	/* as ingress-nginx's proxy-read-timeout */
static SSL_CTX *upstream_ssl_ctx;		/* backend-protocol HTTPS (no verification) */
static atomic_ulong pools_freed;		/* over all threads, for the log and /metrics */

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* "addr port" or "addr port https" into key (64 bytes): on every request, so no snprintf. */
static void endpoint_key(const struct ing_endpoint *ep, bool https, char *key, size_t n)
{
	size_t a = strnlen(ep->addr, sizeof(ep->addr)), k;
	char digits[5];
	unsigned port = ep->port, nd = 0;

	_Static_assert(sizeof(ep->addr) + 1 + 5 + 6 + 1 <= 64, "endpoint keys fit 64 bytes");
	if (n < 64)
		abort();
	memcpy(key, ep->addr, a);
	key[a] = ' ';
	k = a + 1;
	do
		digits[nd++] = (char)('0' + port % 10);
	while ((port /= 10));
	while (nd)
		key[k++] = digits[--nd];
	if (https) {
		memcpy(key + k, " https", 6);
		k += 6;
	}
	key[k] = '\0';
}

/* The slot of key, or the empty slot where it would go. */
static struct pool_slot *find_slot(struct pool_slot *slots, size_t cap, const char *key)
{
	size_t i;

	for (i = hash_str(key) & (cap - 1); slots[i].pool; i = (i + 1) & (cap - 1))
		if (!strcmp(slots[i].key, key))
			break;
	return &slots[i];
}

/* Rehash the pools that keep() accepts into a table of cap slots (a power of two). */
static int rehash_pools(struct serve_thread *st, size_t cap,
			bool (*keep)(struct serve_thread *, struct pool_slot *))
{
	struct pool_slot *n = calloc(cap, sizeof(*n));

	if (!n)
		return -1;
	st->n_pools = 0;
	for (size_t i = 0; i < st->cap_pools; i++) {
		if (!st->pools[i].pool || (keep && !keep(st, &st->pools[i])))
			continue;
		*find_slot(n, cap, st->pools[i].key) = st->pools[i];
		st->n_pools++;
	}
	free(st->pools);
	st->pools = n;
	st->cap_pools = cap;
	return 0;
}

/*
 * The socketpool of an endpoint, made on first use. A pool must outlive the connections it
 * handed out (they come back to it, or tell it when they close): sweep_pools() frees it only
 * once its endpoint left the current table and all its connections are idle in it.
 */
static h2o_socketpool_t *endpoint_pool(struct serve_thread *st, const struct ing_endpoint *ep,
				       bool https)
{
	char key[64];
	struct pool_slot *slot;
	struct sockaddr_storage ss = {0};
	socklen_t len;
	h2o_socketpool_t *pool;

	endpoint_key(ep, https, key, sizeof(key));
	if ((st->n_pools + 1) * 2 > st->cap_pools &&
	    rehash_pools(st, st->cap_pools ? 2 * st->cap_pools : 64, NULL) < 0)
		return NULL;
	slot = find_slot(st->pools, st->cap_pools, key);
	if (slot->pool)
		return slot->pool;
	if (inet_pton(AF_INET, ep->addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(ep->port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, ep->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(ep->port);
		len = sizeof(struct sockaddr_in6);
	} else {
		return NULL;
	}
	if (!(pool = ing_pool_new(st->ctx.loop, (struct sockaddr *)&ss, len, https,
				  upstream_keepalive_ms)))
		return NULL;
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	slot->pool = pool;
	slot->mark = st->sweep_mark;
	st->n_pools++;
	atomic_store(&st->live_pools, st->n_pools);
	return pool;
}

/* rehash_pools() filter: drop (dispose) the pools of endpoints gone that nothing uses. */
static bool keep_pool(struct serve_thread *st, struct pool_slot *s)
{
	if (s->mark == st->sweep_mark)
		return true;
	if (!ing_pool_unused(s->pool)) {
		st->n_retired++;
		return true;
	}
	k8c_log_debug("upstream pool freed", "endpoint=\"%s\"", s->key);
	ing_pool_free(s->pool); /* closes its idle connections */
	atomic_fetch_add(&pools_freed, 1);
	return false;
}

/*
 * Free the pools of the endpoints that are in no backend of the current table (requests in
 * flight on an older table hold leased connections, so their pools are not idle and wait for
 * the next sweep). Runs in the serving thread's loop, on each new table and then every second
 * while some retired pool is still busy.
 */
static void sweep_pools(struct serve_thread *st, struct ing_table *t)
{
	char key[64];

	if (!st->n_pools)
		return;
	st->sweep_mark++;
	for (size_t i = 0; t && i < t->n_backends; i++) {
		const struct ing_backend *b = t->backends[i];
		for (size_t j = 0; j < b->n_eps; j++) {
			struct pool_slot *s;
			endpoint_key(&b->eps[j], b->ann->backend_https, key, sizeof(key));
			if ((s = find_slot(st->pools, st->cap_pools, key))->pool)
				s->mark = st->sweep_mark;
		}
	}
	st->n_retired = 0;
	rehash_pools(st, st->cap_pools, keep_pool);
	atomic_store(&st->live_pools, st->n_pools);
}

static void publish_table(struct ing_table *t)
{
	struct ing_table *old;

	pthread_mutex_lock(&pub.lock);
	old = pub.table;
	pub.table = t;
	atomic_store(&pub.generation, t->generation);
	pthread_mutex_unlock(&pub.lock);
	ing_table_unref(old);
}

static void release_table(void *p)
{
	ing_table_unref(*(struct ing_table **)p);
}

/*
 * The table this thread serves. Its reference is held by a "ticket", an h2o shared entry that
 * each request links to its pool (on_req): the thread drops its own link when it takes a newer
 * table, and the last request on the old one frees it. A request costs a pool link (no malloc,
 * no atomic operation on the shared table).
 */
static struct ing_table *current_table(struct serve_thread *st)
{
	unsigned long g = atomic_load_explicit(&pub.generation, memory_order_acquire);

	if (g != st->generation) {
		struct ing_table *t;

		pthread_mutex_lock(&pub.lock);
		t = pub.table ? ing_table_ref(pub.table) : NULL;
		st->generation = t ? t->generation : 0;
		pthread_mutex_unlock(&pub.lock);
		if (st->ticket)
			h2o_mem_release_shared(st->ticket);
		st->ticket = NULL;
		if (t) {
			st->ticket = h2o_mem_alloc_shared(NULL, sizeof(*st->ticket), release_table);
			*st->ticket = t;
		}
		st->table = t;
	}
	return st->table;
}

/* X-Request-ID: 128 random-looking bits per request (splitmix64 seeded from getrandom). */
static _Thread_local uint64_t rid_state;

static uint64_t rid_next(void)
{
	uint64_t z;

	if (!rid_state && getrandom(&rid_state, sizeof(rid_state), 0) != sizeof(rid_state))
		rid_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&z;
	z = (rid_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int https_port; /* of --listen-https, 0: none (no ssl-redirect) */

/* ssl-redirect: 308 to https:// for a plain HTTP request to a TLS host. */
static bool redirected(struct ing_table *t, h2o_req_t *req, bool force)
{
	char host[256], *url;
	size_t n = 0;
	const struct ing_tls_host *th;
	int len;

	if (!https_port || req->scheme != &H2O_URL_SCHEME_HTTP)
		return false;
	while (n < req->authority.len && n < sizeof(host) - 1 && req->authority.base[n] != ':') {
		host[n] = req->authority.base[n];
		n++;
	}
	host[n] = '\0';
	if (!force && (!(th = ing_table_tls(t, host)) || !th->redirect))
		return false;
	len = https_port == 443
		      ? asprintf(&url, "https://%s%.*s", host, (int)req->path.len, req->path.base)
		      : asprintf(&url, "https://%s:%d%.*s", host, https_port, (int)req->path.len,
				 req->path.base);
	if (len < 0)
		return false;
	h2o_send_redirect(req, 308, "Permanent Redirect",
			  h2o_strdup(&req->pool, url, (size_t)len).base, (size_t)len);
	free(url);
	return true;
}

/* The metrics label of a rule host: "" for rules without a host, "*.foo.com" for a wildcard. */
static const char *host_label(h2o_req_t *req, const struct ing_table *t, const struct ing_host *h)
{
	if (!h || h == &t->any)
		return "";
	if (t->n_wild && h >= t->wild && h < t->wild + t->n_wild) {
		size_t n = strlen(h->name);
		char *s = h2o_mem_alloc_pool(&req->pool, n + 3);
		memcpy(s, "*.", 2);
		memcpy(s + 2, h->name, n + 1);
		return s;
	}
	return h->name;
}

/* X-Forwarded-Host and X-Request-ID (h2o's proxy adds X-Forwarded-For and -Proto). */
static void set_forward_headers(h2o_req_t *req)
{
	/* X-Forwarded-Host is ours: a client's own is replaced, never passed on */
	for (ssize_t i;
	     (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-host"), -1)) >= 0;)
		h2o_delete_header(&req->headers, i);
	h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-host"), 0, NULL,
			      req->input.authority.base, req->input.authority.len);
	if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1) < 0) {
		char *id = h2o_mem_alloc_pool(&req->pool, 33);
		uint64_t v[2] = {rid_next(), rid_next()};
		for (int i = 0; i < 32; i++)
			id[i] = "0123456789abcdef"[(v[i / 16] >> (60 - 4 * (i % 16))) & 15];
		id[32] = '\0';
		h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), 0,
				      NULL, id, 32);
	}
}

/* A connection attempt made before handing the request to h2o's proxy (which has no retry). */
struct attempt {
	struct serve_thread *st;
	h2o_req_t *req;
	struct req_info *info;
	const struct ing_backend *b;
	const struct ing_endpoint *ep;
	h2o_socketpool_t *pool;
	h2o_socketpool_connect_request_t *creq;
	h2o_timeout_entry_t timeout;
	const struct ing_endpoint *tried[MAX_TRIES];
	unsigned n_tried;
};

static struct pool_slot *slot_of(struct serve_thread *st, const struct ing_endpoint *ep, bool https)
{
	char key[64];
	struct pool_slot *s;

	if (!st->cap_pools)
		return NULL;
	endpoint_key(ep, https, key, sizeof(key));
	s = find_slot(st->pools, st->cap_pools, key);
	return s->pool ? s : NULL;
}

/*
 * The next endpoint in round robin that this request has not tried, skipping those that
 * refused a connection less than --upstream-fail-timeout ago (passive health) unless all are.
 */
static const struct ing_endpoint *pick(struct serve_thread *st, const struct ing_backend *b,
				       const struct attempt *a)
{
	const struct ing_endpoint *fallback = NULL;
	uint64_t now = h2o_now(st->ctx.loop);

	for (size_t k = 0; k < b->n_eps; k++) {
		const struct ing_endpoint *ep = ing_backend_pick(b);
		struct pool_slot *s;
		bool tried = false;

		for (unsigned i = 0; a && i < a->n_tried; i++)
			tried |= a->tried[i] == ep;
		if (tried)
			continue;
		if ((s = slot_of(st, ep, b->ann->backend_https)) && s->down_until > now) {
			if (!fallback)
				fallback = ep;
			continue;
		}
		return ep;
	}
	return fallback;
}

/* The h2o timeout of a backend's connect timeout (proxy-connect-timeout, else the flag's). */
static h2o_timeout_t *connect_timeout(struct serve_thread *st, const struct ing_backend *b)
{
	unsigned ms = b->ann->connect_timeout_ms;
	size_t i;

	if (!ms)
		return &st->connect_timeout;
	for (i = 0; i < st->n_tmos; i++)
		if (st->tmos[i].ms == ms)
			return &st->tmos[i].to;
	if (i == sizeof(st->tmos) / sizeof(st->tmos[0]))
		return &st->connect_timeout; /* more distinct values than slots: the default */
	st->tmos[i].ms = ms;
	h2o_timeout_init(st->ctx.loop, &st->tmos[i].to, ms);
	st->n_tmos++;
	return &st->tmos[i].to;
}

/*
 * The h2o client context of a backend: its I/O timeout is proxy-read-timeout (default 60 s),
 * which is also the idle timeout of a websocket passed through; TLS to HTTPS backends.
 */
static h2o_http1client_ctx_t *client_ctx(struct serve_thread *st, const struct ing_backend *b)
{
	unsigned ms =
		b && b->ann->read_timeout_ms ? b->ann->read_timeout_ms : (unsigned)read_timeout_ms;
	size_t i;

	for (i = 0; i < st->n_cctxs; i++)
		if (st->cctxs[i].ms == ms)
			return &st->cctxs[i].c;
	if (i == sizeof(st->cctxs) / sizeof(st->cctxs[0]))
		return &st->cctxs[0].c; /* the default's, made first */
	st->cctxs[i].ms = ms;
	h2o_timeout_init(st->ctx.loop, &st->cctxs[i].io, ms);
	st->cctxs[i].c = (h2o_http1client_ctx_t){
		.loop = st->ctx.loop,
		.getaddr_receiver = &st->ctx.receivers.hostinfo_getaddr,
		.io_timeout = &st->cctxs[i].io,
		.websocket_timeout = &st->cctxs[i].io,
		.ssl_ctx = upstream_ssl_ctx,
	};
	st->n_cctxs++;
	return &st->cctxs[i].c;
}

/* whitelist-source-range: whether the client's address is in one of the ranges. */
static bool source_allowed(h2o_req_t *req, const struct ing_annotations *an)
{
	struct sockaddr_storage ss;
	uint8_t a[16];
	int family;

	if (!req->conn->callbacks->get_peername ||
	    !req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss))
		return false;
	if (ss.ss_family == AF_INET) {
		family = AF_INET;
		memcpy(a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const uint8_t *v6 = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (!memcmp(v6, mapped, 12)) {
			family = AF_INET;
			memcpy(a, v6 + 12, 4);
		} else {
			family = AF_INET6;
			memcpy(a, v6, 16);
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < an->n_allow; i++) {
		const struct ing_cidr *c = &an->allow[i];
		unsigned full = c->bits / 8, rest = c->bits % 8;
		if (c->family != family || memcmp(a, c->addr, full))
			continue;
		if (rest && ((a[full] ^ c->addr[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

/*
 * limit-rps: a token bucket per (Ingress, client address) shared by the serving threads, of
 * limit-rps tokens a second and a burst of 5 times that (ingress-nginx's default burst
 * multiplier). A fixed table: a client whose slot is taken by another evicts it (a fresh bucket).
 */
#define LIMIT_SLOTS 16384
static struct {
	pthread_mutex_t lock;
	struct {
		uint64_t key;
		double tokens;
		uint64_t at_ms;
	} b[LIMIT_SLOTS];
} limits = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool rate_allowed(h2o_req_t *req, const struct ing_backend *b)
{
	struct sockaddr_storage ss = {0};
	uint64_t key = 1469598103934665603ULL, now = h2o_now(req->conn->ctx->loop);
	double rate = b->ann->limit_rps, burst = 5.0 * b->ann->limit_rps;
	const unsigned char *p;
	size_t n;
	bool ok;

	if (req->conn->callbacks->get_peername)
		req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
	for (const char *c = b->ingress; *c; c++)
		key = (key ^ (unsigned char)*c) * 1099511628211ULL;
	if (ss.ss_family == AF_INET)
		p = (const void *)&((struct sockaddr_in *)&ss)->sin_addr, n = 4;
	else
		p = (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, n = 16;
	for (size_t i = 0; i < n; i++)
		key = (key ^ p[i]) * 1099511628211ULL;
	key |= 1; /* 0 is a free slot */
	pthread_mutex_lock(&limits.lock);
	{
		typeof(limits.b[0]) *e = &limits.b[key % LIMIT_SLOTS];
		if (e->key != key) {
			e->key = key;
			e->tokens = burst;
			e->at_ms = now;
		}
		e->tokens += rate * (double)(now - e->at_ms) / 1000.0;
		if (e->tokens > burst)
			e->tokens = burst;
		e->at_ms = now;
		if ((ok = e->tokens >= 1.0))
			e->tokens -= 1.0;
	}
	pthread_mutex_unlock(&limits.lock);
	return ok;
}

/* rewrite-target: the new path (with the original query) into info->path; false if invalid. */
static bool rewrite(h2o_req_t *req, struct req_info *info, const struct ing_match *m,
		    const char *target)
{
	char out[4096];
	long n = ing_rewrite(m, target, req->path_normalized.base, req->path_normalized.len, out,
			     sizeof(out));
	const char *q = memchr(req->path.base, '?', req->path.len);
	size_t qlen = q ? req->path.len - (size_t)(q - req->path.base) : 0;
	char *p;

	if (n < 0 || strpbrk(out, " \r\n")) {
		k8c_log_warn("rewrite-target made no valid path (503)", "ingress=%s path=\"%.*s\"",
			     info->ingress, (int)req->path.len, req->path.base);
		return false;
	}
	p = h2o_mem_alloc_pool(&req->pool, (size_t)n + qlen + 1);
	memcpy(p, out, (size_t)n);
	if (qlen)
		memcpy(p + n, q, qlen);
	info->path = h2o_iovec_init(p, (size_t)n + qlen);
	return true;
}

static uint64_t endpoint_hash(const struct ing_endpoint *ep)
{
	uint64_t h = 1469598103934665603ULL;
	char key[64];

	endpoint_key(ep, false, key, sizeof(key));
	for (const char *c = key; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return h;
}

/* The value of the request's first cookie called name (up to ';'), NULL when it has none. */
static const char *cookie_value(h2o_req_t *req, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	ssize_t i = -1;

	while ((i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		for (size_t k = 0; k + nlen < v.len; k++) {
			const char *end;
			if ((k && v.base[k - 1] != ' ' && v.base[k - 1] != ';') ||
			    memcmp(v.base + k, name, nlen) || v.base[k + nlen] != '=')
				continue;
			k += nlen + 1;
			end = memchr(v.base + k, ';', v.len - k);
			*len = (end ? (size_t)(end - v.base) : v.len) - k;
			return v.base + k;
		}
	}
	return NULL;
}

/* canary-by-header, canary-by-cookie, canary-weight: whether this request goes to the canary. */
static bool canary_chosen(h2o_req_t *req, const struct ing_annotations *c)
{
	const char *hv = NULL, *cv = NULL;
	size_t hlen = 0, clen = 0;
	ssize_t i;

	if (c->canary_header && (i = h2o_find_header_by_str(&req->headers, c->canary_header,
							    strlen(c->canary_header), -1)) >= 0) {
		hv = req->headers.entries[i].value.base;
		hlen = req->headers.entries[i].value.len;
	}
	if (c->canary_cookie)
		cv = cookie_value(req, c->canary_cookie, &clen);
	return ing_canary_chosen(c, hv, hlen, cv, clen, (uint32_t)rid_next());
}

/*
 * affinity: cookie: the endpoint named by the request's cookie (16 hex digits of a hash of its
 * address and port) when it is still a ready endpoint of the backend and not marked down; else
 * NULL (round robin) and the response sets the cookie for the endpoint chosen.
 */
static const struct ing_endpoint *sticky(struct serve_thread *st, h2o_req_t *req,
					 struct req_info *info, const struct ing_backend *b)
{
	const char *name = b->ann->cookie_name;
	size_t vlen;
	const char *v = cookie_value(req, name, &vlen);

	if (v && vlen >= 16) {
		char hex[17];
		uint64_t want;
		memcpy(hex, v, 16);
		hex[16] = '\0';
		want = strtoull(hex, NULL, 16);
		for (size_t e = 0; e < b->n_eps; e++) {
			struct pool_slot *s = slot_of(st, &b->eps[e], b->ann->backend_https);
			if (endpoint_hash(&b->eps[e]) == want &&
			    !(s && s->down_until > h2o_now(st->ctx.loop)))
				return &b->eps[e];
		}
	}
	{
		const struct ing_endpoint *ep = pick(st, b, NULL);
		char *c;
		int len = asprintf(&c, "%s=%016llx; Path=/; HttpOnly", name,
				   (unsigned long long)endpoint_hash(ep));
		if (len > 0) {
			info->set_cookie = h2o_strdup(&req->pool, c, (size_t)len);
			free(c);
		}
		return ep;
	}
}

static void proxy_to(h2o_req_t *req, struct req_info *info, const struct ing_endpoint *ep,
		     h2o_socketpool_t *pool)
{
	h2o_req_overrides_t *ov = &info->ov;

	info->ep = ep;
	ov->client_ctx = client_ctx(
		H2O_STRUCT_FROM_MEMBER(struct serve_thread, ctx, req->conn->ctx), info->b);
	if (!(ov->socketpool = pool)) {
		ov->hostport.host = h2o_iovec_init(ep->addr, strlen(ep->addr));
		ov->hostport.port = ep->port;
	}
	h2o_reprocess_request(req, req->method, req->scheme, req->authority,
			      info->path.base ? info->path : req->path, ov, 0);
}

static void attempt_connected(h2o_socket_t *sock, const char *errstr, void *data);

static void attempt_failed(struct attempt *a, const char *why)
{
	struct pool_slot *s = slot_of(a->st, a->ep, a->b->ann->backend_https);
	const struct ing_endpoint *next;

	ing_stats_upstream_error(a->st->stats, a->info->ingress, a->info->host);
	if (s)
		s->down_until = h2o_now(a->st->ctx.loop) + fail_timeout_ms;
	k8c_log_warn("upstream connect failed",
		     "ingress=%s service=%s endpoint=%s:%u error=\"%s\"%s", a->b->ingress,
		     a->b->service, a->ep->addr, (unsigned)a->ep->port, why,
		     a->n_tried < MAX_TRIES ? " retry=another endpoint" : "");
	if (a->n_tried >= MAX_TRIES || !(next = pick(a->st, a->b, a))) {
		h2o_send_error_502(a->req, "Bad Gateway", "no endpoint accepted a connection\n", 0);
		return;
	}
	a->ep = next;
	a->tried[a->n_tried++] = next;
	if (!(a->pool = endpoint_pool(a->st, next, a->b->ann->backend_https)) ||
	    ing_pool_has_idle(a->pool)) {
		proxy_to(a->req, a->info, next, a->pool);
		return;
	}
	h2o_timeout_link(a->st->ctx.loop, connect_timeout(a->st, a->b), &a->timeout);
	h2o_socketpool_connect(&a->creq, a->pool, a->st->ctx.loop,
			       &a->st->ctx.receivers.hostinfo_getaddr, attempt_connected, a);
}

static void attempt_connected(h2o_socket_t *sock, const char *errstr, void *data)
{
	struct attempt *a = data;
	struct pool_slot *s;

	a->creq = NULL;
	h2o_timeout_unlink(&a->timeout);
	if (!sock) {
		attempt_failed(a, errstr ? errstr : "connection failed");
		return;
	}
	if ((s = slot_of(a->st, a->ep, a->b->ann->backend_https)))
		s->down_until = 0;
	/* into the pool, where h2o's proxy takes it at once */
	h2o_socketpool_return(a->pool, sock);
	proxy_to(a->req, a->info, a->ep, a->pool);
}

static void attempt_timed_out(h2o_timeout_entry_t *entry)
{
	struct attempt *a = H2O_STRUCT_FROM_MEMBER(struct attempt, timeout, entry);

	if (a->creq) {
		h2o_socketpool_cancel_connect(a->creq);
		a->creq = NULL;
	}
	attempt_failed(a, "connect timed out");
}

/* The request is gone (client closed) while a connection attempt is pending. */
static void attempt_dispose(void *p)
{
	struct attempt *a = p;

	if (a->creq)
		h2o_socketpool_cancel_connect(a->creq);
	if (h2o_timeout_is_linked(&a->timeout))
		h2o_timeout_unlink(&a->timeout);
}

/*
 * Proxy the request to an endpoint of b. When the endpoint's pool has an idle connection, h2o's
 * proxy uses it at once; else the connection is made here first (with --upstream-connect-timeout),
 * so that a refused or timed-out connect can go to another endpoint: up to MAX_TRIES endpoints,
 * each failure marking its endpoint down for --upstream-fail-timeout.
 */
static void try_endpoint(struct serve_thread *st, h2o_req_t *req, struct req_info *info,
			 const struct ing_backend *b, const struct ing_endpoint *ep)
{
	h2o_socketpool_t *pool;
	struct attempt *a;

	if (!ep)
		ep = pick(st, b, NULL);
	pool = endpoint_pool(st, ep, b->ann->backend_https);
	if (!pool || ing_pool_has_idle(pool)) {
		proxy_to(req, info, ep, pool);
		return;
	}
	a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), attempt_dispose);
	memset(a, 0, sizeof(*a));
	a->st = st;
	a->req = req;
	a->info = info;
	a->b = b;
	a->ep = ep;
	a->pool = pool;
	a->tried[a->n_tried++] = ep;
	a->timeout.cb = attempt_timed_out;
	h2o_timeout_link(st->ctx.loop, connect_timeout(st, b), &a->timeout);
	h2o_socketpool_connect(&a->creq, pool, st->ctx.loop, &st->ctx.receivers.hostinfo_getaddr,
			       attempt_connected, a);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct serve_thread *st = H2O_STRUCT_FROM_MEMBER(struct serve_thread, ctx, req->conn->ctx);
	struct ing_table *t = current_table(st);
	const struct ing_backend *b;
	struct ing_match m;
	struct req_info *info;
	h2o_iovec_t path = req->path_normalized;

	info = h2o_mem_alloc_pool(&req->pool, sizeof(*info));
	memset(info, 0, sizeof(*info));
	info->ingress = info->host = "";
	req->overrides = &info->ov; /* read by on_log() for the labels */
	if (!t) {
		h2o_send_error_503(req, "Service Unavailable", "not synced yet\n", 0);
		return 0;
	}
	/* the request keeps its table (the labels, and ep->addr) until its pool is freed */
	h2o_mem_link_shared(&req->pool, st->ticket);
	b = ing_table_match(t, req->authority.base, req->authority.len, path.base, path.len, &m);
	if (m.path && m.path->canary && canary_chosen(req, m.path->canary_by))
		b = m.path->canary;
	info->host = host_label(req, t, m.host);
	if (redirected(t, req, b && b->ann->force_ssl_redirect))
		return 0;
	if (!b) {
		h2o_send_error_404(req, "Not Found", "no rule matches\n", 0);
		return 0;
	}
	info->ingress = b->ingress;
	info->b = b;
	if (b->ann->allow_set && !source_allowed(req, b->ann)) {
		h2o_send_error_generic(req, 403, "Forbidden", "source address not allowed\n", 0);
		return 0;
	}
	if (b->ann->limit_rps && !rate_allowed(req, b)) {
		h2o_send_error_503(req, "Service Unavailable", "rate limited\n", 0);
		return 0;
	}
	if (b->ann->body_max > 0 && req->entity.base &&
	    (long long)req->entity.len > b->ann->body_max) {
		h2o_send_error_generic(req, 413, "Request Entity Too Large",
				       "request body too large\n", 0);
		return 0;
	}
	if (b->ann->enable_cors) {
		info->cors = true;
		if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
			static h2o_generator_t gen = {NULL, NULL};
			req->res.status = 204;
			req->res.reason = "No Content";
			h2o_start_response(req, &gen);
			h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
			return 0;
		}
	}
	if (b->error || !b->n_eps) {
		h2o_send_error_503(req, "Service Unavailable",
				   b->error ? "rule not served (see the Ingress' Events)\n"
					    : "no ready endpoints\n",
				   0);
		return 0;
	}
	if (b->ann->rewrite_target && !rewrite(req, info, &m, b->ann->rewrite_target)) {
		h2o_send_error_503(req, "Service Unavailable",
				   "rewrite-target made no valid path\n", 0);
		return 0;
	}
	set_forward_headers(req);
	try_endpoint(st, req, info, b, b->ann->affinity_cookie ? sticky(st, req, info, b) : NULL);
	return 0;
}

/* Response headers: CORS (enable-cors) and the affinity cookie. */
static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	const struct req_info *info = (const struct req_info *)req->overrides;

	if (info && info->cors) {
		static const struct {
			const char *name, *value;
		} cors[] = {
			{"access-control-allow-origin", "*"},
			{"access-control-allow-credentials", "true"},
			{"access-control-allow-methods", "GET, PUT, POST, DELETE, PATCH, OPTIONS"},
			{"access-control-allow-headers",
			 "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-"
			 "Control,Content-Type,Range,Authorization"},
			{"access-control-max-age", "1728000"},
		};
		for (size_t i = 0; i < sizeof(cors) / sizeof(cors[0]); i++)
			h2o_set_header_by_str(&req->pool, &req->res.headers, cors[i].name,
					      strlen(cors[i].name), 0, cors[i].value,
					      strlen(cors[i].value), 1);
	}
	if (info && info->set_cookie.base)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
			       info->set_cookie.base, info->set_cookie.len);
	h2o_setup_next_ostream(req, slot);
}

/* h2o's access-log hook, called once per request as it ends: the request metrics. */
static void on_log(h2o_logger_t *self, h2o_req_t *req)
{
	struct serve_thread *st = H2O_STRUCT_FROM_MEMBER(struct serve_thread, ctx, req->conn->ctx);
	const struct req_info *info = (const struct req_info *)req->overrides;
	int64_t usec = 0;

	if (!h2o_time_compute_duration(req, &usec))
		usec = 0;
	ing_stats_request(st->stats, info ? info->ingress : "", info ? info->host : "",
			  req->res.status, usec);
	if (st->alog) {
		char up[64] = "";
		if (info && info->ep)
			snprintf(up, sizeof(up), strchr(info->ep->addr, ':') ? "[%s]:%u" : "%s:%u",
				 info->ep->addr, (unsigned)info->ep->port);
		ing_alog_request(st->alog, access_log_fd, req, info ? info->ingress : "",
				 info ? info->host : "", up);
	}
}

static atomic_ulong published_generation;

/* The status writer's work (write_status hands it over, status_run does it). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	json_t *todo; /* "ns/name" -> [ns, name, serve]: the statuses to write */
	bool stop;
	struct k8c_kube *kc; /* its own client */
} sw = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void send_text(h2o_req_t *req, const char *type, const char *body, size_t len)
{
	static h2o_generator_t gen = {NULL, NULL};
	h2o_iovec_t v = h2o_strdup(&req->pool, body, len);

	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type,
		       strlen(type));
	h2o_start_response(req, &gen);
	h2o_send(req, &v, 1, H2O_SEND_STATE_FINAL);
}

/* --metrics-addr: /healthz (200 once the first table is served) and /metrics. */
static int on_metrics_req(h2o_handler_t *self, h2o_req_t *req)
{
	h2o_iovec_t p = req->path_normalized;
	struct ing_stats *all[64];
	size_t len = 0, pools = 0;
	char *buf = NULL;
	FILE *f;

	if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz"))) {
		if (!atomic_load(&published_generation))
			h2o_send_error_503(req, "Service Unavailable", "not synced yet\n", 0);
		else
			send_text(req, "text/plain", "ok\n", 3);
		return 0;
	}
	if (!h2o_memis(p.base, p.len, H2O_STRLIT("/metrics"))) {
		h2o_send_error_404(req, "Not Found", "only /healthz and /metrics here\n", 0);
		return 0;
	}
	if (!(f = open_memstream(&buf, &len))) {
		h2o_send_error_503(req, "Service Unavailable", "out of memory\n", 0);
		return 0;
	}
	for (int i = 0; i < n_threads; i++) {
		all[i] = threads[i].stats;
		pools += atomic_load(&threads[i].live_pools);
	}
	ing_stats_render(all, (size_t)n_threads, f);
	fprintf(f,
		"# HELP k8c_ingress_config_generation Generation of the route table served.\n"
		"# TYPE k8c_ingress_config_generation gauge\n"
		"k8c_ingress_config_generation %lu\n"
		"# HELP k8c_ingress_upstream_pools Keep-alive pools of upstream connections (one "
		"per endpoint per serving thread).\n"
		"# TYPE k8c_ingress_upstream_pools gauge\n"
		"k8c_ingress_upstream_pools %zu\n"
		"# HELP k8c_ingress_upstream_pools_freed_total Pools freed after their endpoint "
		"left the route table.\n"
		"# TYPE k8c_ingress_upstream_pools_freed_total counter\n"
		"k8c_ingress_upstream_pools_freed_total %lu\n",
		atomic_load(&published_generation), pools, atomic_load(&pools_freed));
	fclose(f);
	send_text(req, "text/plain; version=0.0.4", buf, len);
	free(buf);
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_accept_ctx_t *actx = listener->data;
	h2o_socket_t *sock;

	if (err)
		return;
	if (!(sock = h2o_evloop_socket_accept(listener)))
		return;
	h2o_accept(actx, sock);
}

static _Thread_local struct serve_thread *self_thread;

/* SNI: the certificate of the Secret named by the current table for this name, else the
 * default. SSL_set_SSL_CTX takes its own reference, so the table may go away afterwards. */
static int on_servername(SSL *ssl, int *al, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct ing_table *t = self_thread ? current_table(self_thread) : NULL;
	const struct ing_tls_host *th;

	if (t && name && (th = ing_table_tls(t, name)) && th->ctx)
		SSL_set_SSL_CTX(ssl, th->ctx);
	else if (t && t->default_ctx) /* --default-ssl-certificate */
		SSL_set_SSL_CTX(ssl, t->default_ctx);
	return SSL_TLSEXT_ERR_OK;
}

static h2o_socket_t *start_listener(struct serve_thread *st, int fd, h2o_accept_ctx_t *actx)
{
	h2o_socket_t *sock = h2o_evloop_socket_create(st->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);

	actx->ctx = &st->ctx;
	if (!actx->hosts)
		actx->hosts = ingress_hosts;
	sock->data = actx;
	h2o_socket_read_start(sock, on_accept);
	return sock;
}

static void *serve_run(void *arg)
{
	struct serve_thread *st = arg;

	self_thread = st;
	ing_loop_fifo();
	h2o_context_init(&st->ctx, h2o_evloop_create(), &conf);
	h2o_timeout_init(st->ctx.loop, &st->connect_timeout, connect_timeout_ms);
	client_ctx(st, NULL); /* cctxs[0]: the default read timeout's, the fallback when full */
	if (st->lfd >= 0)
		st->lsock = start_listener(st, st->lfd, &st->actx);
	if (st->lfd_tls >= 0)
		st->lsock_tls = start_listener(st, st->lfd_tls, &st->actx_tls);
	if (st->lfd_metrics >= 0) {
		st->actx_metrics.hosts = metrics_hosts;
		st->lsock_metrics = start_listener(st, st->lfd_metrics, &st->actx_metrics);
	}
	while (!atomic_load(&stop_requested)) {
		struct ing_table *t;
		uint64_t now;

		h2o_evloop_run(st->ctx.loop, 1000);
		if (st->alog && st->alog->len) /* the lines of this loop iteration, in one write */
			ing_alog_flush(st->alog, access_log_fd);
		t = current_table(st);
		now = h2o_now(st->ctx.loop);
		if (st->generation != st->swept_generation ||
		    (st->n_retired && now - st->last_sweep_ms >= 1000)) {
			sweep_pools(st, t);
			st->swept_generation = st->generation;
			st->last_sweep_ms = now;
		}
		if (now - st->last_expire_ms >= 1000) { /* idle upstream connections timed out */
			for (size_t i = 0; i < st->cap_pools; i++)
				if (st->pools[i].pool)
					ing_pool_expire(st->pools[i].pool);
			st->last_expire_ms = now;
		}
	}
	for (int i = 0; i < 3; i++) {
		h2o_socket_t *sock = i == 2 ? st->lsock_metrics : i ? st->lsock_tls : st->lsock;
		if (sock) {
			h2o_socket_read_stop(sock);
			h2o_socket_close(sock);
		}
	}
	if (st->ticket)
		h2o_mem_release_shared(st->ticket);
	st->ticket = NULL;
	st->table = NULL;
	if (st->alog)
		ing_alog_flush(st->alog, access_log_fd);
	/* the loop has stopped: no connection will come back to a pool */
	for (size_t i = 0; i < st->cap_pools; i++) {
		if (st->pools[i].pool)
			ing_pool_free(st->pools[i].pool);
	}
	free(st->pools);
	st->pools = NULL;
	h2o_timeout_dispose(st->ctx.loop, &st->connect_timeout);
	for (size_t i = 0; i < st->n_tmos; i++)
		h2o_timeout_dispose(st->ctx.loop, &st->tmos[i].to);
	for (size_t i = 0; i < st->n_cctxs; i++)
		h2o_timeout_dispose(st->ctx.loop, &st->cctxs[i].io);
	h2o_context_dispose(&st->ctx);
	h2o_evloop_destroy(st->ctx.loop);
	return NULL;
}

/* A listening socket on spec (ADDR:PORT, [IPv6]:PORT): one per serving thread on the same
 * address (SO_REUSEPORT), the kernel spreads the connections. */
static int listen_on(const char *flag, const char *spec, struct k8c_error *err)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : 0;
	int port, fd;

	if (!colon || n >= sizeof(host) || (port = atoi(colon + 1)) <= 0 || port > 65535)
		return k8c_error_set(err, 0, "%s %s: want ADDR:PORT", flag, spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)n - 2, spec + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)n, spec);
	if ((fd = k8c_tcp_listen(host, port, K8C_LISTEN_REUSEPORT, NULL, err)) < 0)
		return k8c_error_wrap(err, "%s %s", flag, spec);
	return fd;
}

/*
 * status.loadBalancer.ingress = [{ip|hostname: addr}] on every Ingress we serve, and cleared on
 * an Ingress we no longer serve (another class now) that still shows our address. Written only
 * when different, so our own status updates coming back as deltas write nothing.
 */
/*
 * Hand the status writer the Ingresses whose status differs from what it should be: ours (a set
 * of "ns/name") show addr, the others not. keys: only those Ingresses (a set), NULL: all.
 */
static void write_status(struct k8c_informer *ings, const json_t *ours, const char *addr,
			 json_t *keys)
{
	struct in6_addr a6;
	bool is_ip = inet_pton(AF_INET, addr, &a6) == 1 || inet_pton(AF_INET6, addr, &a6) == 1;
	_cleanup_json_ json_t *want = json_pack("[{s:s}]", is_ip ? "ip" : "hostname", addr);
	json_t *cache = k8c_informer_cache(ings), *over = keys ? keys : cache;
	json_t *todo = json_object();

	for (void *it = json_object_iter(over); it; it = json_object_iter_next(over, it)) {
		const char *key = json_object_iter_key(it);
		json_t *obj = keys ? json_object_get(cache, key) : json_object_iter_value(it);
		const json_t *md = json_object_get(obj, "metadata");
		const char *ns = json_string_value(json_object_get(md, "namespace"));
		const char *name = json_string_value(json_object_get(md, "name"));
		bool serve = json_object_get(ours, key) != NULL;
		json_t *cur = json_object_get(
			json_object_get(json_object_get(obj, "status"), "loadBalancer"), "ingress");

		if (!ns || !name || (serve ? json_equal(cur, want) : !json_equal(cur, want)))
			continue;
		json_object_set_new(todo, key, json_pack("[s,s,b]", ns, name, serve));
	}
	if (json_object_size(todo)) {
		pthread_mutex_lock(&sw.lock);
		json_object_update(sw.todo, todo); /* newer decisions replace older ones */
		pthread_cond_signal(&sw.cond);
		pthread_mutex_unlock(&sw.lock);
	}
	json_decref(todo);
}

/*
 * The status writer thread: patches status.loadBalancer of the Ingresses of the newest list
 * (a merge patch of the status alone: the cache holds reduced copies, ing_ingress_transform,
 * never to be written back), one by one, with a client of its own. Off the main thread, so that
 * writing 10,000 statuses after a start never delays a route change.
 */
static void *status_run(void *arg)
{
	const char *addr = arg;
	struct in6_addr a6;
	bool is_ip = inet_pton(AF_INET, addr, &a6) == 1 || inet_pton(AF_INET6, addr, &a6) == 1;
	_cleanup_json_ json_t *want = json_pack("[{s:s}]", is_ip ? "ip" : "hostname", addr);
	_cleanup_json_ json_t *none = json_array();

	for (;;) {
		json_t *item;
		void *it;
		const char *ns, *name;
		bool serve;
		_cleanup_json_ json_t *patch = NULL;
		struct k8c_error err = K8C_ERROR_INIT;

		pthread_mutex_lock(&sw.lock);
		while (!json_object_size(sw.todo) && !sw.stop)
			pthread_cond_wait(&sw.cond, &sw.lock);
		if (sw.stop) {
			pthread_mutex_unlock(&sw.lock);
			return NULL;
		}
		it = json_object_iter(sw.todo);
		item = json_incref(json_object_iter_value(it));
		json_object_del(sw.todo, json_object_iter_key(it));
		pthread_mutex_unlock(&sw.lock);
		ns = json_string_value(json_array_get(item, 0));
		name = json_string_value(json_array_get(item, 1));
		serve = json_is_true(json_array_get(item, 2));
		patch = json_pack("{s:{s:{s:O}}}", "status", "loadBalancer", "ingress",
				  serve ? want : none);
		if (k8c_kube_patch(sw.kc, K8C_GVR_INGRESSES, ns, name, "status", K8C_PATCH_MERGE,
				   patch, NULL, &err) < 0)
			k8c_log_warn("status update failed (retried on the next change)",
				     "ingress=%s/%s error=\"%s\"", ns, name,
				     err.msg ? err.msg : "?");
		else
			k8c_log_info(serve ? "status updated"
					   : "status cleared (not ours any more)",
				     "ingress=%s/%s address=%s", ns, name, addr);
		k8c_error_clear(&err);
		json_decref(item);
	}
}

/*
 * Load the certificates the table's TLS hosts name (one SSL_CTX per Secret per build). A missing
 * or bad Secret leaves the host on the default certificate, with a log line.
 */
static void ingress_event(struct k8c_kube *kc, struct k8c_informer *ings, const char *key,
			  const char *reason, const char *msg);

/*
 * Certificates loaded, by Secret "ns/name": reused while the informer's cached Secret is the same
 * object (an entry holds a reference on it, so the pointer cannot be another's), so that a route
 * change does not parse every certificate again. Entries no build used are freed after it.
 */
struct cert_entry {
	char *secret;
	json_t *obj; /* the Secret it was loaded from, NULL: not found */
	SSL_CTX *ctx;
	char *error; /* why ctx is NULL */
	unsigned long mark;
};
static struct {
	struct cert_entry *e;
	size_t n, cap;
	json_t *index; /* secret → index in e */
	unsigned long mark;
} certs;

/* A new reference on the SSL_CTX of a Secret (obj: the informer's, NULL when missing). */
static SSL_CTX *cert_get(const char *secret, const json_t *obj, struct k8c_error *err)
{
	json_t *i = certs.index ? json_object_get(certs.index, secret) : NULL;
	struct cert_entry *c = i ? &certs.e[json_integer_value(i)] : NULL;

	if (!c || c->obj != obj) {
		if (!c) {
			if (certs.n == certs.cap) {
				certs.cap = certs.cap ? 2 * certs.cap : 16;
				certs.e = k8c_xrealloc(certs.e, certs.cap * sizeof(*certs.e));
			}
			if (!certs.index)
				certs.index = json_object();
			json_object_set_new(certs.index, secret, json_integer((json_int_t)certs.n));
			c = &certs.e[certs.n++];
			*c = (struct cert_entry){.secret = strdup(secret)};
		}
		SSL_CTX_free(c->ctx);
		json_decref(c->obj);
		free(c->error);
		c->obj = json_incref((json_t *)obj);
		c->error = NULL;
		if (!obj)
			k8c_error_set(err, 0, "not found");
		else
			c->ctx = ing_tls_secret_ctx(obj, err);
		if (!c->ctx)
			c->error = strdup(err->msg ? err->msg : "?");
	} else if (!c->ctx) {
		k8c_error_set(err, 0, "%s", c->error ? c->error : "?");
	}
	c->mark = certs.mark;
	if (c->ctx && SSL_CTX_up_ref(c->ctx) != 1)
		return NULL;
	return c->ctx;
}

/* Free the entries this build did not use (and renumber the index). */
static void certs_sweep(void)
{
	size_t k = 0;

	for (size_t i = 0; i < certs.n; i++) {
		struct cert_entry *c = &certs.e[i];
		if (c->mark == certs.mark) {
			if (k != i) { /* moved: renumbered (the others keep their index) */
				certs.e[k] = *c;
				json_object_set_new(certs.index, certs.e[k].secret,
						    json_integer((json_int_t)k));
			}
			k++;
			continue;
		}
		json_object_del(certs.index, c->secret);
		SSL_CTX_free(c->ctx);
		json_decref(c->obj);
		free(c->error);
		free(c->secret);
	}
	certs.n = k;
}

static void attach_certs(struct ing_table *t, struct k8c_informer *secrets,
			 const char *default_secret, json_t **prev_bad, struct k8c_kube *kc,
			 struct k8c_informer *ings)
{
	json_t *bad = json_object(); /* "secret: error" of this build's unusable Secrets */
	_cleanup_json_ json_t *seen = json_object(); /* secret → index into all hosts, or -1 */
	size_t n = t->n_tls_exact + t->n_tls_wild;
	static char *default_error; /* logged when it changes */

	t->ctx_free = ing_tls_ctx_free;
	certs.mark++;
	if (default_secret) {
		const char *slash = strchr(default_secret, '/');
		_cleanup_free_ char *ns = strndup(default_secret, (size_t)(slash - default_secret));
		const json_t *obj = ns ? k8c_informer_get(secrets, ns, slash + 1) : NULL;
		struct k8c_error err = K8C_ERROR_INIT;

		t->default_ctx = cert_get(default_secret, obj, &err);
		if (!t->default_ctx && (!default_error || strcmp(default_error, err.msg))) {
			k8c_log_warn("--default-ssl-certificate not usable, the self-signed "
				     "certificate answers",
				     "secret=%s error=\"%s\"", default_secret, err.msg);
			free(default_error);
			default_error = strdup(err.msg);
		} else if (t->default_ctx && default_error) {
			k8c_log_info("--default-ssl-certificate loaded", "secret=%s",
				     default_secret);
			free(default_error);
			default_error = NULL;
		}
		k8c_error_clear(&err);
	}
	for (size_t i = 0; i < n; i++) {
		struct ing_tls_host *th =
			i < t->n_tls_exact ? &t->tls_exact[i] : &t->tls_wild[i - t->n_tls_exact];
		json_t *prev = json_object_get(seen, th->secret), *obj;
		const char *slash = strchr(th->secret, '/');
		char ns[256];
		struct k8c_error err = K8C_ERROR_INIT;

		if (prev) {
			json_int_t j = json_integer_value(prev);
			struct ing_tls_host *o = j < 0 ? NULL
						 : (size_t)j < t->n_tls_exact
							 ? &t->tls_exact[j]
							 : &t->tls_wild[(size_t)j - t->n_tls_exact];
			if (o && o->ctx && SSL_CTX_up_ref(o->ctx) == 1)
				th->ctx = o->ctx;
			continue;
		}
		if (!slash || (size_t)(slash - th->secret) >= sizeof(ns))
			continue;
		memcpy(ns, th->secret, (size_t)(slash - th->secret));
		ns[slash - th->secret] = '\0';
		obj = k8c_informer_get(secrets, ns, slash + 1);
		th->ctx = cert_get(th->secret, obj, &err);
		if (!th->ctx) {
			/* a log line and an Event when it becomes unusable, not on every build */
			char *what;
			if (asprintf(&what,
				     "TLS Secret %s not usable, the default certificate "
				     "answers %s: %s",
				     th->secret, th->name, err.msg ? err.msg : "?") >= 0) {
				if (!json_object_get(*prev_bad, what)) {
					k8c_log_warn(
						"TLS secret not usable, the default certificate "
						"answers",
						"secret=%s host=%s ingress=%s error=\"%s\"",
						th->secret, th->name, th->ingress,
						err.msg ? err.msg : "?");
					ingress_event(kc, ings, th->ingress, "TLSSecretNotUsable",
						      what);
				}
				json_object_set_new(bad, what, json_true());
				free(what);
			}
		}
		json_object_set_new(seen, th->secret, json_integer(th->ctx ? (json_int_t)i : -1));
		k8c_error_clear(&err);
	}
	certs_sweep();
	json_decref(*prev_bad);
	*prev_bad = bad;
}

/* A Warning Event on an Ingress ("ns/name", from the informer's cache). */
static void ingress_event(struct k8c_kube *kc, struct k8c_informer *ings, const char *key,
			  const char *reason, const char *msg)
{
	char ns[256], ts[21];
	const char *slash = strchr(key, '/');
	const json_t *obj;
	struct timespec now;
	_cleanup_json_ json_t *ev = NULL;
	_cleanup_free_ char *name = NULL;
	struct k8c_error err = K8C_ERROR_INIT;

	if (!kc || !slash || (size_t)(slash - key) >= sizeof(ns))
		return;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	if (!(obj = k8c_informer_get(ings, ns, slash + 1)))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	k8c_rfc3339(now.tv_sec, ts);
	if (asprintf(&name, "%s.%llx", slash + 1,
		     (unsigned long long)now.tv_sec * 1000000000ULL +
			     (unsigned long long)now.tv_nsec) < 0)
		return;
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s?}, s:s, s:s, s:s, "
		       "s:{s:s}, s:s, s:s, s:i, s:s}",
		       "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
		       ns, "involvedObject", "apiVersion", "networking.k8s.io/v1", "kind",
		       "Ingress", "namespace", ns, "name", slash + 1, "uid",
		       k8c_str_at(obj, "metadata.uid"), "reason", reason, "message", msg, "type",
		       "Warning", "source", "component", "k8c-ingress", "firstTimestamp", ts,
		       "lastTimestamp", ts, "count", 1, "reportingComponent", "k8c-ingress");
	if (ev && k8c_kube_create(kc, K8C_GVR_EVENTS, ns, ev, NULL, &err) < 0)
		k8c_log_warn("event not recorded", "ingress=%s reason=%s error=\"%s\"", key, reason,
			     err.msg ? err.msg : "?");
	k8c_error_clear(&err);
}

/*
 * One log line and one Event per backend error and annotation warning that the previous table
 * did not have (not on every rebuild).
 */
static void log_new_errors(const struct ing_table *t, json_t **prev, struct k8c_kube *kc,
			   struct k8c_informer *ings)
{
	json_t *now = json_object();

	for (size_t i = 0; i < t->n_backends; i++) {
		const struct ing_backend *b = t->backends[i];
		char *key, *msg;

		if (!b->error && b->n_eps)
			continue;
		if (asprintf(&key, "%s %s:%s %s", b->ingress, b->service, b->port,
			     b->error ? b->error : "no ready endpoints") < 0)
			continue;
		if (!json_object_get(*prev, key) && !json_object_get(now, key)) {
			k8c_log_warn("backend not served (503)",
				     "ingress=%s service=%s port=%s error=\"%s\"", b->ingress,
				     b->service, b->port,
				     b->error ? b->error : "no ready endpoints");
			if (b->error && asprintf(&msg, "backend %s:%s answers 503: %s", b->service,
						 b->port, b->error) >= 0) {
				ingress_event(kc, ings, b->ingress, "BackendNotServed", msg);
				free(msg);
			}
		}
		json_object_set_new(now, key, json_true());
		free(key);
	}
	for (size_t i = 0; i < t->n_anns && i < json_array_size(t->served); i++) {
		const char *ing = json_string_value(json_array_get(t->served, i));
		char *key;

		if (!t->warnings[i] || asprintf(&key, "ann %s %s", ing, t->warnings[i]) < 0)
			continue;
		if (!json_object_get(*prev, key) && !json_object_get(now, key)) {
			k8c_log_warn("annotation ignored", "ingress=%s error=\"%s\"", ing,
				     t->warnings[i]);
			ingress_event(kc, ings, ing, "InvalidAnnotation", t->warnings[i]);
		}
		json_object_set_new(now, key, json_true());
		free(key);
	}
	json_decref(*prev);
	*prev = now;
}

struct loop {
	const char *kind;
	bool changed;
	struct ing_builder *builder; /* Ingresses: told of status-only updates */
	/* Ingresses, Services, EndpointSlices: the keys added, changed or deleted since the last
	 * build */
	json_t *delta_keys;
	json_t *status_keys; /* Ingress updates that changed their status alone (no rebuild) */
};

static void on_delta(const struct k8c_delta *d, void *arg)
{
	struct loop *l = arg;

	switch (d->type) {
	case K8C_DELTA_ERROR:
		k8c_log_warn("watch error (retrying)", "kind=%s error=\"%s\"", l->kind,
			     d->msg ? d->msg : "?");
		break;
	case K8C_DELTA_SYNCED:
		k8c_log_info("informer synced", "kind=%s", l->kind);
		l->changed = true;
		break;
	case K8C_DELTA_UPDATE:
		/* our own status writes come back as updates: nothing to rebuild (the cache
		 * holds what ing_ingress_transform keeps, so this compares all the build reads) */
		if (!strcmp(l->kind, "Ingress") && ing_status_change_only(d->old, d->new)) {
			json_object_set(l->status_keys, d->key, json_true());
			if (l->builder)
				ing_builder_refresh(l->builder, d->key, d->old, d->new);
			break;
		}
		l->changed = true;
		if (l->delta_keys)
			json_object_set(l->delta_keys, d->key, json_true());
		break;
	default:
		l->changed = true;
		if (l->delta_keys && d->key)
			json_object_set(l->delta_keys, d->key, json_true());
	}
}

/* The address of Node name for the Ingresses' status: its ExternalIP, else its InternalIP (as
 * ingress-nginx reports its node's address). Read once, at start. */
static char *node_publish_address(struct k8c_kube *kc, const char *name, struct k8c_error *err)
{
	json_t *node = NULL;
	const char *addr;
	char *ret = NULL;

	if (k8c_kube_get(kc, K8C_GVR_NODES, NULL, name, &node, err) < 0) {
		k8c_error_wrap(err, "--node-name %s", name);
		return NULL;
	}
	if (!(addr = k8c_node_address(node, "ExternalIP")))
		addr = k8c_node_address(node, "InternalIP");
	if (!addr)
		k8c_error_set(err, 0,
			      "--node-name %s: the Node has no ExternalIP or InternalIP address",
			      name);
	else if (!(ret = strdup(addr)))
		k8c_error_set(err, 0, "out of memory");
	json_decref(node);
	return ret;
}

static void usage(FILE *f)
{
	fputs("usage: k8c-ingress [--kubeconfig PATH] [--listen-http ADDR:PORT]\n"
	      "                   [--listen-https ADDR:PORT]\n"
	      "                   [--controller-class NAME] [--publish-address ADDR]\n"
	      "                   [--node-name NAME]\n"
	      "                   [--upstream-keepalive-timeout MS] [--threads N]\n"
	      "                   [--metrics-addr ADDR:PORT] [--upstream-connect-timeout MS]\n"
	      "                   [--upstream-fail-timeout MS]\n"
	      "                   [--default-ssl-certificate NAMESPACE/NAME]\n"
	      "                   [--access-log PATH]\n"
	      "                   [--log-level debug|info|warn|error]\n"
	      "Serves the Ingresses of the IngressClasses whose spec.controller is NAME\n"
	      "(default k8c.io/ingress) over HTTP/1.1 on --listen-http (default 0.0.0.0:80) and\n"
	      "HTTPS (HTTP/1.1 and HTTP/2; certificates of kubernetes.io/tls Secrets by SNI, else "
	      "a\n"
	      "self-signed default) on --listen-https (default 0.0.0.0:443; \"\" for none), "
	      "proxying\n"
	      "to the ready endpoints of their Services (round robin). --publish-address goes "
	      "into\n"
	      "status.loadBalancer.ingress of every served Ingress (default: the ExternalIP, else\n"
	      "the InternalIP, of the Node --node-name; else the listen address when it is not\n"
	      "a wildcard; else none). Idle upstream connections are kept\n"
	      "for reuse for MS milliseconds (default 2000). N serving threads (default 1), each\n"
	      "with its own event loop and listening sockets (SO_REUSEPORT). /healthz and\n"
	      "/metrics (Prometheus) are served on --metrics-addr (default 0.0.0.0:10254; \"\"\n"
	      "for none). A connect to an endpoint that fails (refused, or not done within\n"
	      "--upstream-connect-timeout, default 5000) is retried on another endpoint (3 in\n"
	      "all), and that endpoint is skipped for --upstream-fail-timeout ms (default\n"
	      "10000; 0: never). --default-ssl-certificate: the kubernetes.io/tls Secret that\n"
	      "answers names without a certificate of their own (default: self-signed).\n"
	      "--access-log PATH: one line per request (nginx's combined format and the\n"
	      "duration, Ingress, rule host and endpoint) appended to PATH (\"-\": stdout);\n"
	      "default none.\n"
	      "See docs/ingress.md.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"kubeconfig", required_argument, NULL, 'k'},
		{"listen-http", required_argument, NULL, 'l'},
		{"listen-https", required_argument, NULL, 's'},
		{"controller-class", required_argument, NULL, 'c'},
		{"publish-address", required_argument, NULL, 'p'},
		{"node-name", required_argument, NULL, 'N'},
		{"log-level", required_argument, NULL, 'v'},
		{"threads", required_argument, NULL, 't'},
		{"upstream-keepalive-timeout", required_argument, NULL, 'u'},
		{"metrics-addr", required_argument, NULL, 'm'},
		{"default-ssl-certificate", required_argument, NULL, 'D'},
		{"upstream-connect-timeout", required_argument, NULL, 'C'},
		{"upstream-fail-timeout", required_argument, NULL, 'F'},
		{"access-log", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *kubeconfig = NULL, *listen_addr = "0.0.0.0:80", *listen_tls = "0.0.0.0:443",
		   *controller = ING_DEFAULT_CONTROLLER, *default_cert = NULL,
		   *metrics_addr = "0.0.0.0:10254", *access_log = NULL, *node_name = NULL;
	char *publish = NULL;
	enum k8c_log_level level = K8C_LOG_INFO;
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_informer *inf[N_INFORMERS] = {0};
	struct loop loops[N_INFORMERS] = {{.kind = "Ingress"},
					  {.kind = "IngressClass"},
					  {.kind = "Service"},
					  {.kind = "EndpointSlice"},
					  {.kind = "Secret"}};
	const struct k8c_gvr gvrs[N_INFORMERS] = {K8C_GVR_INGRESSES, K8C_GVR_INGRESSCLASSES,
						  K8C_GVR_SERVICES, K8C_GVR_ENDPOINTSLICES,
						  K8C_GVR_SECRETS};
	struct serve_thread *sts = NULL;
	int n_started = 0;
	pthread_t status_tid;
	bool status_started = false;
	struct k8c_kube *kc = NULL;
	SSL_CTX *default_ctx = NULL;
	json_t *prev_errors = json_object();
	struct ing_builder *builder = ing_builder_new(); /* the compiled Ingresses */
	json_t *pub_ours = NULL; /* the set of Ingresses served by the table published last */
	json_t *prev_bad_tls = json_object();
	unsigned long gen = 0;
	sigset_t mask;
	int sfd = -1, opt, rc = 1, i;

	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'k':
			kubeconfig = optarg;
			break;
		case 'l':
			listen_addr = optarg;
			break;
		case 's':
			listen_tls = optarg;
			break;
		case 'c':
			controller = optarg;
			break;
		case 'm':
			metrics_addr = optarg;
			break;
		case 'D':
			if (!strchr(optarg, '/') || optarg[0] == '/' || !strchr(optarg, '/')[1]) {
				fprintf(stderr,
					"k8c-ingress: --default-ssl-certificate %s: want "
					"NAMESPACE/NAME\n",
					optarg);
				return 2;
			}
			default_cert = optarg;
			break;
		case 'C':
		case 'F': {
			char *end;
			unsigned long v;
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || (opt == 'C' && !v)) {
				fprintf(stderr, "k8c-ingress: %s %s: want milliseconds\n",
					opt == 'C' ? "--upstream-connect-timeout"
						   : "--upstream-fail-timeout",
					optarg);
				return 2;
			}
			*(opt == 'C' ? &connect_timeout_ms : &fail_timeout_ms) = v;
			break;
		}
		case 'p':
			publish = strdup(optarg);
			break;
		case 'N':
			node_name = optarg;
			break;
		case 'A':
			access_log = optarg;
			break;
		case 'u': {
			char *end;
			errno = 0;
			upstream_keepalive_ms = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || !upstream_keepalive_ms) {
				fprintf(stderr,
					"k8c-ingress: --upstream-keepalive-timeout %s: want a "
					"number of "
					"milliseconds > 0\n",
					optarg);
				return 2;
			}
			break;
		}
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 1 || v > 64) {
				fprintf(stderr, "k8c-ingress: --threads %s: want 1 to 64\n",
					optarg);
				return 2;
			}
			n_threads = (int)v;
			break;
		}
		case 'v':
			if (k8c_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "k8c-ingress: --log-level %s: unknown level\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	k8c_log_init("k8c-ingress", level);
	sw.todo = json_object();
	loops[0].status_keys = json_object();
	loops[0].builder = builder;
	loops[0].delta_keys = json_object();
	loops[2].delta_keys = json_object(); /* a resolved Service port is reused unless named */
	loops[3].delta_keys = json_object();
	ing_read_stop_init(on_accept);
	if (!ing_pool_interposed()) {
		k8c_error_set(&err, 0, "libh2o does not call our upstream pools (upool.h)");
		goto out;
	}

	/* before any thread starts, so that every thread inherits the mask: the signals are read
	 * from the signalfd only */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (k8c_kubeconfig_default(kubeconfig, NULL, &cfg, &err) < 0)
		goto out;
	if (!(kc = k8c_kube_new(&cfg, "k8c-ingress/" K8C_VERSION, &err)))
		goto out;
	if (!publish && node_name && !(publish = node_publish_address(kc, node_name, &err)))
		goto out;
	if (!publish) {
		const char *colon = strrchr(listen_addr, ':');
		char *host = colon ? strndup(listen_addr, (size_t)(colon - listen_addr)) : NULL;
		if (host && *host && strcmp(host, "0.0.0.0") && strcmp(host, "[::]"))
			publish = host;
		else
			free(host);
	}
	if (publish) {
		if (!(sw.kc = k8c_kube_new(&cfg, "k8c-ingress/" K8C_VERSION, &err)))
			goto out;
		if ((errno = pthread_create(&status_tid, NULL, status_run, publish))) {
			k8c_error_errno(&err, 0, errno, "pthread_create");
			goto out;
		}
		status_started = true;
	}
	for (i = 0; i < N_INFORMERS; i++) {
		struct k8c_informer_opts o = {.gvr = gvrs[i], .user_agent = "k8c-ingress"};
		static const k8c_transform_fn transforms[N_INFORMERS] = {
			ing_ingress_transform,	  NULL, ing_service_transform, ing_slice_transform,
			ing_tls_secret_transform, /* only the certificates of kubernetes.io/tls */
		};
		o.transform = transforms[i]; /* what the build reads, not the whole objects */
		if (!(inf[i] = k8c_informer_new(&cfg, &o, &err)) ||
		    k8c_informer_start(inf[i], &err) < 0) {
			k8c_error_wrap(&err, "informer %s", loops[i].kind);
			goto out;
		}
	}
	if (access_log && !strcmp(access_log, "-")) {
		access_log_fd = STDOUT_FILENO;
	} else if (access_log &&
		   (access_log_fd = open(access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					 0644)) < 0) {
		k8c_error_errno(&err, 0, errno, "--access-log %s", access_log);
		goto out;
	}
	if (!(sts = calloc((size_t)n_threads, sizeof(*sts)))) {
		k8c_error_set(&err, 0, "out of memory");
		goto out;
	}
	threads = sts;
	for (i = 0; i < n_threads; i++) {
		sts[i].lfd = sts[i].lfd_tls = sts[i].lfd_metrics = -1;
		if (access_log_fd >= 0 && !(sts[i].alog = calloc(1, sizeof(*sts[i].alog)))) {
			k8c_error_set(&err, 0, "out of memory");
			goto out;
		}
		if (!(sts[i].stats = ing_stats_new())) {
			k8c_error_set(&err, 0, "out of memory");
			goto out;
		}
	}
	if (*metrics_addr &&
	    (sts[0].lfd_metrics = listen_on("--metrics-addr", metrics_addr, &err)) < 0)
		goto out;
	if (!(upstream_ssl_ctx = SSL_CTX_new(TLS_client_method()))) {
		k8c_error_set(&err, 0, "SSL_CTX_new (upstream) failed");
		goto out;
	}
	/* as ingress-nginx (proxy-ssl-verify off): backends' certificates are not verified */
	SSL_CTX_set_verify(upstream_ssl_ctx, SSL_VERIFY_NONE, NULL);
	if (*listen_tls) {
		https_port = atoi(strrchr(listen_tls, ':') + 1);
		if (!(default_ctx = ing_tls_default_ctx(&err)))
			goto out;
		SSL_CTX_set_tlsext_servername_callback(default_ctx, on_servername);
	}
	for (i = 0; i < n_threads; i++) {
		if (*listen_addr &&
		    (sts[i].lfd = listen_on("--listen-http", listen_addr, &err)) < 0)
			goto out;
		if (*listen_tls &&
		    (sts[i].lfd_tls = listen_on("--listen-https", listen_tls, &err)) < 0)
			goto out;
		sts[i].actx_tls.ssl_ctx = default_ctx;
	}

	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		k8c_error_errno(&err, 0, errno, "signalfd");
		goto out;
	}

	h2o_config_init(&conf);
	{
		h2o_pathconf_t *pc = h2o_config_register_path(
			ingress_hosts[0] = h2o_config_register_host(
				&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535),
			"/", 0);
		h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_req;
		h2o_create_logger(pc, sizeof(h2o_logger_t))->log_access = on_log;
		h2o_create_filter(pc, sizeof(h2o_filter_t))->on_setup_ostream = on_setup_ostream;
		h2o_create_handler(
			h2o_config_register_path(
				metrics_hosts[0] = h2o_config_register_host(
					&conf, h2o_iovec_init(H2O_STRLIT("metrics")), 65535),
				"/", 0),
			sizeof(h2o_handler_t))
			->on_req = on_metrics_req;
	}
	for (; n_started < n_threads; n_started++) {
		if ((errno = pthread_create(&sts[n_started].tid, NULL, serve_run,
					    &sts[n_started]))) {
			k8c_error_errno(&err, 0, errno, "pthread_create");
			goto out;
		}
	}
	k8c_log_info("listening", "http=%s https=%s threads=%d controller=%s publish=%s",
		     *listen_addr ? listen_addr : "-", *listen_tls ? listen_tls : "-", n_threads,
		     controller, publish ? publish : "-");

	while (!atomic_load(&stop_requested)) {
		struct pollfd pfd[N_INFORMERS + 1];
		bool changed = false, synced = true;

		for (i = 0; i < N_INFORMERS; i++)
			pfd[i] = (struct pollfd){.fd = k8c_informer_fd(inf[i]), .events = POLLIN};
		pfd[N_INFORMERS] = (struct pollfd){.fd = sfd, .events = POLLIN};
		if (poll(pfd, N_INFORMERS + 1, -1) < 0 && errno != EINTR) {
			k8c_error_errno(&err, 0, errno, "poll");
			goto out;
		}
		if (pfd[N_INFORMERS].revents & POLLIN) {
			k8c_log_info("stopping", NULL);
			atomic_store(&stop_requested, true);
			break;
		}
		json_object_clear(loops[0].status_keys);
		for (i = 0; i < N_INFORMERS; i++) {
			loops[i].changed = false;
			k8c_informer_dispatch(inf[i], on_delta, &loops[i]);
			changed |= loops[i].changed;
			synced &= k8c_informer_has_synced(inf[i]);
		}
		if (!changed && json_object_size(loops[0].status_keys) && publish && pub_ours) {
			/* statuses changed under us (ours, mostly): rewrite those that differ */
			write_status(inf[0], pub_ours, publish, loops[0].status_keys);
		}
		if (changed && synced) {
			/* only the Ingresses of this batch's deltas are looked at */
			struct ing_build_opts bo = {.controller = controller,
						    .generation = ++gen,
						    .changed = loops[0].delta_keys,
						    .changed_services = loops[2].delta_keys,
						    .changed_slices = loops[3].delta_keys};
			struct timespec t0, t1, c0, c1;
			struct ing_table *t;
			struct ing_build_stats bs;
			double ms;
			bool first;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
			t = ing_builder_build(
				builder, k8c_informer_cache(inf[0]), k8c_informer_cache(inf[1]),
				k8c_informer_cache(inf[2]), k8c_informer_cache(inf[3]), &bo, &err);
			if (!t) {
				k8c_log_error("route table build failed", "error=\"%s\"", err.msg);
				k8c_error_clear(&err);
				continue;
			}
			attach_certs(t, inf[4], default_cert, &prev_bad_tls, kc, inf[0]);
			log_new_errors(t, &prev_errors, kc, inf[0]);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
			ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
			ing_stats_build(ms / 1e3);
			ing_builder_stats(builder, &bs);
			k8c_log_info(
				"routes published",
				"generation=%lu ingresses=%zu hosts=%zu tls_hosts=%zu "
				"compiled=%zu removed=%zu by_keys=%d build_ms=%.1f cpu_ms=%.1f",
				gen, json_array_size(t->served), t->n_exact + t->n_wild,
				t->n_tls_exact + t->n_tls_wild, bs.compiled, bs.removed, bs.by_keys,
				ms,
				(double)(c1.tv_sec - c0.tv_sec) * 1e3 +
					(double)(c1.tv_nsec - c0.tv_nsec) / 1e6);
			ing_table_ref(t);
			publish_table(t);
			atomic_store(&published_generation, gen);
			/* the served set changed by the Ingresses compiled and dropped alone; so
			 * did the statuses to write, but for this batch's Ingress deltas: after the
			 * first table, only those are looked at (not all 10,000) */
			first = !pub_ours;
			if (first) /* every status is looked at, below */
				pub_ours = json_object();
			for (size_t k = 0; k < json_array_size(bs.removed_keys); k++) {
				const char *key =
					json_string_value(json_array_get(bs.removed_keys, k));
				json_object_del(pub_ours, key);
				if (!first)
					json_object_set(loops[0].delta_keys, key, json_true());
			}
			for (size_t k = 0; k < json_array_size(bs.added_keys); k++) {
				const char *key =
					json_string_value(json_array_get(bs.added_keys, k));
				json_object_set(pub_ours, key, json_true());
				if (!first)
					json_object_set(loops[0].delta_keys, key, json_true());
			}
			json_object_update(loops[0].delta_keys, loops[0].status_keys);
			if (publish)
				write_status(inf[0], pub_ours, publish,
					     first ? NULL : loops[0].delta_keys);
			json_object_clear(loops[0].delta_keys);
			json_object_clear(loops[2].delta_keys);
			json_object_clear(loops[3].delta_keys);
			ing_table_unref(t);
		}
	}
	rc = 0;
out:
	if (rc && err.msg)
		k8c_log_error("fatal", "error=\"%s\"", err.msg);
	atomic_store(&stop_requested, true);
	if (status_started) {
		pthread_mutex_lock(&sw.lock);
		sw.stop = true;
		pthread_cond_signal(&sw.cond);
		pthread_mutex_unlock(&sw.lock);
		pthread_join(status_tid, NULL); /* after the patch it may be doing */
	}
	json_decref(sw.todo);
	if (sw.kc)
		k8c_kube_free(sw.kc);
	for (i = 0; i < n_started; i++)
		pthread_join(sts[i].tid, NULL);
	if (n_started)
		h2o_config_dispose(&conf);
	ing_table_unref(pub.table);
	ing_builder_free(builder);
	certs.mark++;
	certs_sweep(); /* frees them all */
	json_decref(certs.index);
	free(certs.e);
	for (i = 0; i < N_INFORMERS; i++)
		if (inf[i])
			k8c_informer_free(inf[i]);
	if (kc)
		k8c_kube_free(kc);
	if (sfd >= 0)
		close(sfd);
	for (i = n_started; sts && i < n_threads; i++) {
		if (sts[i].lfd >= 0)
			close(sts[i].lfd);
		if (sts[i].lfd_tls >= 0)
			close(sts[i].lfd_tls);
		if (sts[i].lfd_metrics >= 0)
			close(sts[i].lfd_metrics);
	}
	for (i = 0; sts && i < n_threads; i++) {
		ing_stats_free(sts[i].stats);
		free(sts[i].alog);
	}
	if (access_log_fd > STDOUT_FILENO)
		close(access_log_fd);
	free(sts);
	SSL_CTX_free(default_ctx);
	SSL_CTX_free(upstream_ssl_ctx);
	json_decref(prev_errors);
	json_decref(pub_ours);
	json_decref(loops[0].status_keys);
	json_decref(loops[0].delta_keys);
	json_decref(loops[2].delta_keys);
	json_decref(loops[3].delta_keys);
	json_decref(prev_bad_tls);
	k8c_error_clear(&err);
	k8c_kubeconfig_free(&cfg);
	free(publish);
	return rc;
}

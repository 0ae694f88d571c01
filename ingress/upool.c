/* Upstream keep-alive pools that keep idle connections attached to the loop (upool.h). */
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>

#include "upool.h"

struct idle {
	h2o_socket_t *sock;
	uint64_t at; /* loop ms it was returned */
};

struct ing_pool {
	h2o_socketpool_t super; /* first: h2o's HTTP client reads is_ssl and peer.host */
	h2o_loop_t *loop;
	uint64_t keepalive_ms;
	size_t count;	   /* connections made and not closed: idle, leased or connecting */
	struct idle *idle; /* a stack: the most recently returned last */
	size_t n_idle, cap_idle;
	bool freed; /* ing_pool_free was called: the last on_close frees it */
};

/* h2o's type is opaque in its header: this is ours, used by the functions below only. */
struct st_h2o_socketpool_connect_request_t {
	struct ing_pool *pool;
	h2o_socket_t *sock;
	h2o_socketpool_connect_cb cb;
	void *data;
};

h2o_socketpool_t *ing_pool_new(h2o_loop_t *loop, const struct sockaddr *sa, socklen_t len,
			       bool https, uint64_t keepalive_ms)
{
	struct ing_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* h2o's own init fills peer (address, its text for TLS' server name); no interval timer
	 * (h2o_socketpool_set_timeout is not called): expiry is ing_pool_expire's */
	h2o_socketpool_init_by_address(&p->super, (struct sockaddr *)sa, len, https, SIZE_MAX);
	p->loop = loop;
	p->keepalive_ms = keepalive_ms;
	return &p->super;
}

static void pool_destroy(struct ing_pool *p)
{
	free(p->idle);
	h2o_socketpool_dispose(&p->super); /* h2o's: frees peer.host */
	free(p);
}

/* A connection of the pool is gone. A TLS connection's close completes later (h2o sends its
 * close_notify first), possibly after ing_pool_free: the pool lives until its last one. */
static void on_close(void *data)
{
	struct ing_pool *p = data;

	if (--p->count == 0 && p->freed)
		pool_destroy(p);
}

static void remove_idle(struct ing_pool *p, size_t i)
{
	memmove(&p->idle[i], &p->idle[i + 1], (p->n_idle - i - 1) * sizeof(p->idle[0]));
	p->n_idle--;
}

/* An idle connection became readable: closed by the endpoint, or bytes nobody asked for. */
static void on_idle_read(h2o_socket_t *sock, const char *err)
{
	struct ing_pool *p = sock->data;

	for (size_t i = p->n_idle; i-- > 0;) {
		if (p->idle[i].sock == sock) {
			remove_idle(p, i);
			break;
		}
	}
	h2o_socket_close(sock); /* on_close: count-- */
}

void ing_pool_expire(h2o_socketpool_t *pool)
{
	struct ing_pool *p = (struct ing_pool *)pool;
	uint64_t now = h2o_now(p->loop);
	size_t n = 0;

	while (n < p->n_idle && now - p->idle[n].at >= p->keepalive_ms)
		h2o_socket_close(p->idle[n++].sock);
	if (n) {
		memmove(p->idle, p->idle + n, (p->n_idle - n) * sizeof(p->idle[0]));
		p->n_idle -= n;
	}
}

bool ing_pool_has_idle(h2o_socketpool_t *pool)
{
	return ((struct ing_pool *)pool)->n_idle > 0;
}

bool ing_pool_unused(h2o_socketpool_t *pool)
{
	struct ing_pool *p = (struct ing_pool *)pool;

	return p->count == p->n_idle;
}

void ing_pool_free(h2o_socketpool_t *pool)
{
	struct ing_pool *p = (struct ing_pool *)pool;

	while (p->n_idle)
		h2o_socket_close(p->idle[--p->n_idle].sock); /* on_close: count-- */
	p->freed = true;
	if (p->count == 0)
		pool_destroy(p);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
	h2o_socketpool_connect_request_t *req = sock->data;
	h2o_socketpool_connect_cb cb = req->cb;
	void *data = req->data;

	free(req);
	if (err) {
		h2o_socket_close(sock);
		cb(NULL, "connection failed", data);
		return;
	}
	cb(sock, NULL, data);
}

/*
 * libh2o's HTTP client (and the retry path of main.c) call these three instead of h2o's own:
 * the executable's definitions come first in the dynamic linker's lookup.
 */
void h2o_socketpool_connect(h2o_socketpool_connect_request_t **_req, h2o_socketpool_t *pool,
			    h2o_loop_t *loop, h2o_multithread_receiver_t *getaddr_receiver,
			    h2o_socketpool_connect_cb cb, void *data)
{
	struct ing_pool *p = (struct ing_pool *)pool;
	h2o_socketpool_connect_request_t *req;

	(void)getaddr_receiver; /* pools are made by address: nothing to resolve */
	if (_req)
		*_req = NULL;
	ing_pool_expire(pool);
	if (p->n_idle) {
		h2o_socket_t *sock = p->idle[--p->n_idle].sock;
		/* stopped and restarted by the client within this loop iteration: no epoll change */
		h2o_socket_read_stop(sock);
		sock->data = NULL;
		sock->on_close.cb = on_close;
		sock->on_close.data = p;
		cb(sock, NULL, data);
		return;
	}
	if (!(req = calloc(1, sizeof(*req)))) {
		cb(NULL, "out of memory", data);
		return;
	}
	*req = (h2o_socketpool_connect_request_t){.pool = p, .cb = cb, .data = data};
	if (!(req->sock = h2o_socket_connect(loop, (struct sockaddr *)&pool->peer.sockaddr.bytes,
					     pool->peer.sockaddr.len, on_connect))) {
		free(req);
		cb(NULL, "failed to connect to host", data);
		return;
	}
	p->count++;
	req->sock->data = req;
	req->sock->on_close.cb = on_close;
	req->sock->on_close.data = p;
	if (_req)
		*_req = req;
}

void h2o_socketpool_cancel_connect(h2o_socketpool_connect_request_t *req)
{
	if (req->sock)
		h2o_socket_close(req->sock); /* on_close: count-- */
	free(req);
}

int h2o_socketpool_return(h2o_socketpool_t *pool, h2o_socket_t *sock)
{
	struct ing_pool *p = (struct ing_pool *)pool;

	if (p->n_idle == p->cap_idle) {
		size_t cap = p->cap_idle ? 2 * p->cap_idle : 8;
		struct idle *n = realloc(p->idle, cap * sizeof(*n));
		if (!n) {
			h2o_socket_close(sock);
			return -1;
		}
		p->idle = n;
		p->cap_idle = cap;
	}
	/* the client has consumed its input; a byte from now on is a close or a stray */
	p->idle[p->n_idle++] = (struct idle){sock, h2o_now(p->loop)};
	sock->data = p;
	h2o_socket_read_start(sock, on_idle_read);
	return 0;
}

/*
 * Lazy read stop. h2o's evloop turns h2o_socket_read_stop() into an epoll change at the next
 * loop iteration when the socket is still stopped then: h2o's HTTP/1 server stops reading the
 * client connection from the parsed request until its response is done (so that the request's
 * strings stay valid in the input buffer), which costs an epoll_ctl DEL and an ADD per proxied
 * request. Here a stop leaves the epoll registration alone: the socket keeps a read callback
 * (soft_stopped) and h2o's DONT_READ flag, so that the loop reads nothing into its buffer. A
 * start before any event costs nothing; an event while stopped (a pipelined request, the
 * client's close) makes it a real stop, h2o's own, once (epoll is level-triggered: the bytes
 * stay in the kernel until reading starts again).
 */
typedef void (*sock_fn)(h2o_socket_t *);
typedef void (*sock_start_fn)(h2o_socket_t *, h2o_socket_cb);
static sock_fn h2o_read_stop;	     /* libh2o's */
static sock_start_fn h2o_read_start; /* libh2o's */
static h2o_socket_cb never_lazy;     /* listening sockets' callback (DONT_READ of their own) */

static void soft_stopped(h2o_socket_t *sock, const char *err)
{
	(void)err; /* nothing was read: DONT_READ */
	h2o_socket_dont_read(sock, 0);
	h2o_read_stop(sock);
}

void h2o_socket_read_stop(h2o_socket_t *sock)
{
	if (sock->_cb.read == soft_stopped)
		return;
	if (!sock->_cb.read || sock->_cb.read == never_lazy) {
		h2o_read_stop(sock);
		return;
	}
	h2o_socket_dont_read(sock, 1);
	sock->_cb.read = soft_stopped;
}

void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
	if (sock->_cb.read == soft_stopped)
		h2o_socket_dont_read(sock, 0);
	h2o_read_start(sock, cb);
}

/*
 * h2o's proxy formats the client's address for X-Forwarded-For on every request with
 * h2o_socket_getnumerichost, which formats an IPv4 address with sprintf: the same text here
 * without stdio; other families go to h2o's (getnameinfo).
 */
typedef size_t (*numerichost_fn)(struct sockaddr *, socklen_t, char *);
static numerichost_fn h2o_numerichost; /* libh2o's */

size_t h2o_socket_getnumerichost(struct sockaddr *sa, socklen_t salen, char *buf)
{
	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((struct sockaddr_in *)sa)->sin_addr;
		char *p = buf;
		for (int i = 0; i < 4; i++) {
			unsigned v = a[i];
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return (size_t)(p - buf - 1);
	}
	return h2o_numerichost(sa, salen, buf);
}

/*
 * Event order. h2o's evloop pushes the sockets of an epoll_wait batch onto a stack (its
 * "pending" lists) and runs them from the top: the socket that became ready last runs first,
 * the first one last. epoll returns a batch in the order the sockets became ready, so under
 * load the oldest request of a batch waited longest (a wider latency tail than nginx, which runs
 * a batch in epoll's order: docs/BENCHMARKS.md "Ingress"). epoll_wait is ours in the executable
 * (libh2o calls it through its PLT): in a thread that called ing_loop_fifo(), it hands h2o the
 * batch reversed, so the stack runs it first ready, first served. Other threads get libc's.
 */
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
static epoll_wait_fn libc_epoll_wait; /* set once, by whichever thread calls first */
static __thread bool fifo;

static epoll_wait_fn real_epoll_wait(void)
{
	epoll_wait_fn f = __atomic_load_n(&libc_epoll_wait, __ATOMIC_ACQUIRE);

	if (!f) {
		f = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
		__atomic_store_n(&libc_epoll_wait, f, __ATOMIC_RELEASE);
	}
	return f;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	int n = real_epoll_wait()(epfd, events, maxevents, timeout);

	if (fifo)
		for (int i = 0, j = n - 1; i < j; i++, j--) {
			struct epoll_event e = events[i];
			events[i] = events[j];
			events[j] = e;
		}
	return n;
}

void ing_loop_fifo(void)
{
	fifo = true;
}

void ing_read_stop_init(h2o_socket_cb listener_cb)
{
	real_epoll_wait();
	h2o_numerichost = (numerichost_fn)dlsym(RTLD_NEXT, "h2o_socket_getnumerichost");
	h2o_read_stop = (sock_fn)dlsym(RTLD_NEXT, "h2o_socket_read_stop");
	h2o_read_start = (sock_start_fn)dlsym(RTLD_NEXT, "h2o_socket_read_start");
	never_lazy = listener_cb;
}

bool ing_pool_interposed(void)
{
	return h2o_read_stop && h2o_read_start && h2o_numerichost && libc_epoll_wait &&
	       dlsym(RTLD_DEFAULT, "epoll_wait") == (void *)epoll_wait &&
	       dlsym(RTLD_DEFAULT, "h2o_socket_read_stop") == (void *)h2o_socket_read_stop &&
	       dlsym(RTLD_DEFAULT, "h2o_socket_read_start") == (void *)h2o_socket_read_start &&
	       dlsym(RTLD_DEFAULT, "h2o_socketpool_return") == (void *)h2o_socketpool_return &&
	       dlsym(RTLD_DEFAULT, "h2o_socketpool_connect") == (void *)h2o_socketpool_connect &&
	       dlsym(RTLD_DEFAULT, "h2o_socketpool_cancel_connect") ==
		       (void *)h2o_socketpool_cancel_connect;
}

/*
 * The HTTPS listener: cfg->threads h2o evloop threads serving HTTP/1.1 and HTTP/2 (ALPN) over
 * TLS, each with its own loop, h2o context and struct api (watches, timers), all accepting from
 * one listening socket; a connection stays on the thread that accepted it. Client certificates
 * are requested and verified against the cluster CA; requests without one get 401 (health
 * endpoints excepted). Store calls are made from the loops: they block for a group commit
 * (< 1 ms here) while the other threads go on (docs/apiserver.md, "Threads").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api.h"
#include "api_auth.h"
#include "api_quota.h"
#include "cleanup.h"
#include "ipaddr.h"
#include "log.h"
#include "pki.h"
#include "server.h"
#include "server_ctrl.h"
#include "store.h"

struct server_handler {
	h2o_handler_t super;
	SSL_CTX *ssl_ctx;
};

/* One event-loop thread: everything in it is used by that thread only. */
struct srv_thread {
	pthread_t tid;
	int index;
	int lfd; /* its dup of the listening socket */
	h2o_context_t ctx;
	h2o_accept_ctx_t actx;
	struct api api;
	h2o_socket_t *lsock;
	h2o_timeout_t compact_timeout; /* thread 0 only */
	h2o_timeout_entry_t compact_entry;
	int64_t compact_next; /* the revision seen at the previous tick */
};

static volatile sig_atomic_t stop_requested;
/* the in-process controllers have stopped (they need the loops to answer until then) */
static atomic_int ctrl_stopped = 1;

/* how often a loop checks for a stop, and how long it then has to end its watches */
#define STOP_POLL_MS 100
#define DRAIN_MS     1000

static void on_signal(int sig)
{
	stop_requested = sig;
}

/*
 * h2o 2.2.5 has no accessor for a socket's OpenSSL object; its private TLS state
 * (struct st_h2o_socket_ssl_t, lib/common/socket.c) starts with the SSL_CTX and the SSL. The
 * SSL_CTX is checked against ours before the SSL is trusted, so a different layout fails closed.
 */
struct h2o_225_socket_ssl_head {
	SSL_CTX *ssl_ctx;
	SSL *ossl;
};

static bool client_verified(struct server_handler *h, h2o_req_t *req)
{
	h2o_socket_t *sock = req->conn->callbacks->get_socket
				     ? req->conn->callbacks->get_socket(req->conn)
				     : NULL;
	struct h2o_225_socket_ssl_head *head;

	if (!sock || !sock->ssl)
		return false;
	head = (struct h2o_225_socket_ssl_head *)sock->ssl;
	if (head->ssl_ctx != h->ssl_ctx || !head->ossl)
		return false;
	return SSL_get0_peer_certificate(head->ossl) != NULL &&
	       SSL_get_verify_result(head->ossl) == X509_V_OK;
}

static bool is_health(h2o_req_t *req)
{
	h2o_iovec_t p = req->path_normalized;

	return (p.len == 8 && memcmp(p.base, "/healthz", 8) == 0) ||
	       (p.len == 6 && memcmp(p.base, "/livez", 6) == 0) ||
	       (p.len == 7 && memcmp(p.base, "/readyz", 7) == 0);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct server_handler *h = (struct server_handler *)self;

	struct srv_thread *t = H2O_STRUCT_FROM_MEMBER(struct srv_thread, ctx, req->conn->ctx);

	if (!is_health(req) && !client_verified(h, req) && !api_auth_bearer(t->api.store, req)) {
		api_send_status(req, 401, "Unauthorized", NULL, "Unauthorized");
		return 0;
	}
	api_handle(&t->api, req);
	return 0;
}

static SSL_CTX *tls_context(const struct pki_paths *pki, struct k8c_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509_NAME) * cas;
	static const unsigned char sid_ctx[] = "k8c-server";
	unsigned long e;

	if (!ctx) {
		k8c_error_set(err, 0, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, pki->server_crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, pki->server_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, pki->ca_crt, NULL) != 1 ||
	    !(cas = SSL_load_client_CA_file(pki->ca_crt))) {
		e = ERR_get_error();
		k8c_error_set(err, 0, "TLS setup with %s: %s", pki->server_crt,
			      ERR_error_string(e, NULL));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_client_CA_list(ctx, cas);
	/* ask for a client certificate but let requests without one reach on_req (401 there) */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
	return ctx;
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

static bool wildcard(const char *addr)
{
	return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

/* Shared by the threads, read-only once they run. */
static struct {
	h2o_globalconf_t conf;
	SSL_CTX *ssl_ctx;
	struct store *store;
	int kube_minor;
	int compact_interval;
	char *server_address;
	struct srv_thread *threads;
	int n_threads;
	struct api_deleter *deleter; /* api_delete.c's worker, shared */
	SSL_CTX *node_tls;	     /* to node agents: pods/log, pods/exec */
} srv;

/*
 * As kube-apiserver: every interval, compact up to the revision seen one interval earlier, so
 * watchers can resume from anything newer than one interval. On thread 0.
 */
static void on_compact(h2o_timeout_entry_t *entry)
{
	struct srv_thread *t = H2O_STRUCT_FROM_MEMBER(struct srv_thread, compact_entry, entry);
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev = 0;

	if (t->compact_next > 0 && store_compact(srv.store, t->compact_next, &err) < 0) {
		char q[512];

		k8c_log_error("compaction failed", "revision=%lld error=%s",
			      (long long)t->compact_next,
			      k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
		k8c_error_clear(&err);
	}
	if (store_revision(srv.store, &rev, &err) < 0)
		k8c_error_clear(&err);
	t->compact_next = rev;
	h2o_timeout_link(t->ctx.loop, &t->compact_timeout, &t->compact_entry);
}

/* A loop thread: serve until stop is requested, then close its listener and watches. */
static void *thread_run(void *arg)
{
	struct srv_thread *t = arg;

	h2o_context_init(&t->ctx, h2o_evloop_create(), &srv.conf);
	t->actx.ctx = &t->ctx;
	t->actx.hosts = srv.conf.hosts;
	t->actx.ssl_ctx = srv.ssl_ctx;
	t->api.store = srv.store;
	t->api.loop = t->ctx.loop;
	t->api.kube_minor = srv.kube_minor;
	t->api.server_address = srv.server_address;
	t->api.deleter = srv.deleter;
	t->api.node_tls = srv.node_tls;
	api_watch_start(&t->api);
	if (t->index == 0 && srv.compact_interval > 0) {
		h2o_timeout_init(t->ctx.loop, &t->compact_timeout,
				 (uint64_t)srv.compact_interval * 1000);
		t->compact_entry.cb = on_compact;
		h2o_timeout_link(t->ctx.loop, &t->compact_timeout, &t->compact_entry);
	}
	t->lsock = h2o_evloop_socket_create(t->ctx.loop, t->lfd, H2O_SOCKET_FLAG_DONT_READ);
	t->lfd = -1;
	t->lsock->data = &t->actx;
	h2o_socket_read_start(t->lsock, on_accept);

	/* a signal interrupts one thread's epoll_wait: the others see the flag within STOP_POLL_MS */
	while (!stop_requested || !atomic_load(&ctrl_stopped))
		h2o_evloop_run(t->ctx.loop, STOP_POLL_MS);

	/*
	 * Stop: no new connections; GOAWAY to HTTP/2 clients (idle HTTP/1.1 connections are
	 * closed); every watch gets what is queued for it and the end of its response (an HTTP/2
	 * END_STREAM, the last chunk), for at most DRAIN_MS while the loop writes them.
	 */
	h2o_socket_read_stop(t->lsock);
	h2o_socket_close(t->lsock);
	h2o_context_request_shutdown(&t->ctx);
	api_watch_end_all(&t->api);
	{
		uint64_t until = h2o_now(t->ctx.loop) + DRAIN_MS;

		while (api_watch_live(&t->api) > 0 && h2o_now(t->ctx.loop) < until)
			h2o_evloop_run(t->ctx.loop, 10);
	}
	api_shutdown(&t->api);
	api_watch_cache_free(&t->api);
	h2o_timeout_unlink(&t->api.tick_entry);
	if (h2o_timeout_is_linked(&t->compact_entry))
		h2o_timeout_unlink(&t->compact_entry);
	return NULL;
}

int server_run(const struct server_config *cfg, struct k8c_error *err)
{
	_cleanup_free_ char *db = k8c_xasprintf("%s/state.db", cfg->data_dir);
	_cleanup_free_ char *url = NULL;
	const char *ips[3], *const dns[] = {"localhost", "kubernetes", "kubernetes.default",
					    "kubernetes.default.svc",
					    "kubernetes.default.svc.cluster.local"};
	struct store_sqlite_config scfg = {.path = db};
	struct pki_paths pki = {0};
	struct pki_request preq = {0};
	struct server_handler *h;
	struct store *store = NULL;
	SSL_CTX *ssl_ctx = NULL;
	size_t n_ips = 0;
	int lfd = -1, ret = -1;
	struct sigaction sa = {0};
	struct server_ctrl *ctrl = NULL;

	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "data dir %s", cfg->data_dir);
	if (store_sqlite_open(&scfg, &store, err) < 0)
		return k8c_error_wrap(err, "store %s", db);

	ips[n_ips++] = "127.0.0.1";
	if (!wildcard(cfg->bind_address) && strcmp(cfg->bind_address, "127.0.0.1") != 0)
		ips[n_ips++] = cfg->bind_address;
	ips[n_ips++] = "10.96.0.1";
	url = k8c_xasprintf("https://127.0.0.1:%d", cfg->port);
	preq.data_dir = cfg->data_dir;
	preq.san_ips = ips;
	preq.n_san_ips = n_ips;
	preq.san_dns = dns;
	preq.n_san_dns = sizeof(dns) / sizeof(dns[0]);
	preq.server_url = url;
	preq.cluster_name = "k8c";
	if (pki_ensure(&preq, &pki, err) < 0) {
		k8c_error_wrap(err, "certificates in %s", cfg->data_dir);
		goto out;
	}
	{
		_cleanup_free_ char *dir = k8c_xasprintf("%s/pki", cfg->data_dir);

		if (api_auth_init(dir, err) < 0)
			goto out;
		/* the in-process legacy token controller signs with the same key */
		if (!ctrl_config.sa_key_file)
			ctrl_config.sa_key_file = k8c_xasprintf("%s/sa.key", dir);
		if (!ctrl_config.root_ca_file)
			ctrl_config.root_ca_file = k8c_xstrdup(pki.ca_crt);
	}
	if (api_namespaces_bootstrap(store, err) < 0) {
		k8c_error_wrap(err, "default namespaces");
		goto out;
	}
	if (api_kubernetes_service_bootstrap(store, cfg->bind_address, cfg->port, err) < 0)
		goto out;
	if (!(ssl_ctx = tls_context(&pki, err)))
		goto out;
	if ((lfd = k8c_tcp_listen(cfg->bind_address, cfg->port, 0, NULL, err)) < 0)
		goto out;
	{
		struct k8c_error terr = K8C_ERROR_INIT;

		/* the admin certificate (system:masters) is what node agents see */
		if (!(srv.node_tls = api_node_client_tls(pki.admin_crt, pki.admin_key, &terr))) {
			char q[512];

			k8c_log_warn("no client TLS for node agents: pods/log and pods/exec fail",
				     "error=%s", k8c_log_quote(q, sizeof(q), terr.msg ?: "failed"));
			k8c_error_clear(&terr);
		}
	}

	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	h2o_config_init(&srv.conf);
	srv.conf.max_request_entity_size = API_MAX_BODY;
	h = (struct server_handler *)h2o_create_handler(
		h2o_config_register_path(
			h2o_config_register_host(&srv.conf, h2o_iovec_init(H2O_STRLIT("default")),
						 65535),
			"/", 0),
		sizeof(*h));
	h->super.on_req = on_req;
	h->ssl_ctx = ssl_ctx;
	srv.ssl_ctx = ssl_ctx;
	srv.store = store;
	srv.kube_minor = cfg->kube_minor;
	srv.compact_interval = cfg->compact_interval;
	srv.server_address = k8c_xasprintf(
		strchr(cfg->bind_address, ':') ? "[%s]:%d" : "%s:%d",
		wildcard(cfg->bind_address) ? "127.0.0.1" : cfg->bind_address, cfg->port);
	if (!(srv.deleter = api_deleter_start(store, cfg->event_ttl, err)))
		goto out;
	srv.n_threads = cfg->threads > 0 ? cfg->threads : 1;
	srv.threads = k8c_xmalloc(sizeof(*srv.threads) * (size_t)srv.n_threads);
	memset(srv.threads, 0, sizeof(*srv.threads) * (size_t)srv.n_threads);
	for (int i = 0; i < srv.n_threads; i++) {
		srv.threads[i].index = i;
		srv.threads[i].lfd = i == 0 ? lfd : fcntl(lfd, F_DUPFD_CLOEXEC, 0);
		if (srv.threads[i].lfd < 0) {
			k8c_error_errno(err, 0, errno, "dup of the listening socket");
			for (int k = 1; k < i; k++)
				close(srv.threads[k].lfd);
			goto out;
		}
	}
	lfd = -1; /* thread 0's now */
	k8c_log_info("listening", "url=https://%s%s%s:%d kube_minor=%d threads=%d",
		     strchr(cfg->bind_address, ':') ? "[" : "", cfg->bind_address,
		     strchr(cfg->bind_address, ':') ? "]" : "", cfg->port, cfg->kube_minor,
		     srv.n_threads);
	k8c_log_info("admin kubeconfig", "path=%s", pki.kubeconfig);
	if (cfg->ctrl) {
		_cleanup_free_ char *self = k8c_xasprintf("https://%s", srv.server_address);

		atomic_store(&ctrl_stopped, 0);
		ctrl = server_ctrl_start(cfg->ctrl, pki.kubeconfig, self, &stop_requested,
					 &ctrl_stopped, err);
		if (!ctrl && err->msg) {
			atomic_store(&ctrl_stopped, 1);
			for (int i = 0; i < srv.n_threads; i++)
				close(srv.threads[i].lfd);
			goto out;
		}
	}

	for (int i = 1; i < srv.n_threads; i++)
		if (pthread_create(&srv.threads[i].tid, NULL, thread_run, &srv.threads[i]) != 0)
			abort();
	thread_run(&srv.threads[0]);
	for (int i = 1; i < srv.n_threads; i++)
		pthread_join(srv.threads[i].tid, NULL);
	server_ctrl_free(ctrl);

	k8c_log_info("stopping", "signal=%s", stop_requested == SIGINT ? "SIGINT" : "SIGTERM");
	ret = 0;
out:
	api_deleter_stop(srv.deleter);
	srv.deleter = NULL;
	if (lfd >= 0)
		close(lfd);
	pki_paths_free(&pki);
	api_auth_free();
	api_quota_free();
	api_services_free();
	store_close(store);
	return ret;
}

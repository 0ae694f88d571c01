/*
 * The API server's side of pods/log and pods/exec: a request proxied to the pod's node agent
 * (agent/node_server.c, kubelet's port 10250), as kube-apiserver's LocationStreamer and
 * UpgradeAwareHandler do.
 *
 * The node is found in the store: its InternalIP (else ExternalIP, else Hostname) and
 * status.daemonEndpoints.kubeletEndpoint.Port (10250 when unset). The connection is TLS with the
 * server's client certificate (pki/admin.crt: the node agent accepts certificates of the cluster
 * CA); the node's serving certificate is not verified, as kube-apiserver without
 * --kubelet-certificate-authority.
 *
 * Logs: the upstream request is HTTP/1.0, so the answer's body is close-delimited; it is streamed
 * to the client as it arrives (reads pause while the client is slow), and a client that goes
 * away closes the upstream connection. Exec: the client's WebSocket handshake (HTTP/1.1) is
 * replayed to the node with the client's key and protocols; on the node's 101 the client gets a
 * 101 with the node's accept key and protocol, and the two connections are joined byte for byte
 * until either side closes. Anything but 101 is answered as a Status.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <h2o.h>

#include <h2o/http1.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "api.h"
#include "api_kind.h"
#include "cleanup.h"
#include "log.h"

#define NODE_TIMEOUT_MS 15000	      /* connect + TLS + the node's response headers */
#define HEAD_MAX	(64 * 1024)   /* the node's response headers */
#define ERR_BODY_MAX	(64 * 1024)   /* an error answer's body kept for the Status */
#define PENDING_HIGH	(1024 * 1024) /* log bytes buffered before upstream reads pause */
#define DEFAULT_PORT	10250

enum nstate { NP_CONNECT, NP_HEAD, NP_ERRBODY, NP_STREAM, NP_UPGRADING, NP_PIPE, NP_DONE };

struct nproxy {
	struct api *api;
	h2o_req_t *req; /* NULL once h2o disposed it */
	h2o_generator_t gen;
	enum nstate st;
	bool upgrade;
	char *node, *target; /* node name, "host:port" */
	char *request;	     /* the upstream request bytes */
	h2o_socket_t *up, *down;
	h2o_timeout_entry_t timeout;
	int status;						/* the node's answer */
	char *accept, *protocol, *stream_protocol, *up_upgrade; /* from the node's 101 */
	/* logs: bytes read from the node, not yet handed to h2o; the ones h2o is sending */
	char *pending, *out;
	size_t pending_len, pending_cap;
	bool sending, up_eof;
	bool closing; /* exec: one side ended; the other gets what is being written to it */
	/* exec: bytes after the node's 101 headers; one write in flight per direction */
	char *early, *to_up, *to_down;
};

struct nproxy_ref {
	struct nproxy *p;
};

SSL_CTX *api_node_client_tls(const char *crt, const char *key, struct k8c_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		k8c_error_set(err, 0, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		k8c_error_set(err, 0, "node client certificate %s: %s", crt,
			      ERR_error_string(ERR_get_error(), NULL));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

static void np_free(struct nproxy *p)
{
	if (h2o_timeout_is_linked(&p->timeout))
		h2o_timeout_unlink(&p->timeout);
	if (p->up)
		h2o_socket_close(p->up);
	if (p->down)
		h2o_socket_close(p->down);
	free(p->node);
	free(p->target);
	free(p->request);
	free(p->accept);
	free(p->protocol);
	free(p->stream_protocol);
	free(p->up_upgrade);
	free(p->pending);
	free(p->out);
	free(p->early);
	free(p->to_up);
	free(p->to_down);
	free(p);
}

/* The request is gone: what still runs is stopped, p freed unless the pipe owns it. */
static void ref_dispose(void *v)
{
	struct nproxy *p = ((struct nproxy_ref *)v)->p;

	if (!p)
		return;
	p->req = NULL;
	if (p->st == NP_UPGRADING || p->st == NP_PIPE)
		return; /* on_upgraded / the pipe end frees it */
	np_free(p);
}

static const char *reason_of(int code)
{
	return code == 400   ? "BadRequest"
	       : code == 404 ? "NotFound"
	       : code == 403 ? "Forbidden"
	       : code == 401 ? "Unauthorized"
	       : code == 503 ? "ServiceUnavailable"
	       : code == 504 ? "Timeout"
			     : "InternalError";
}

/* Answer an error (once, while the response has not started). */
static void np_fail(struct nproxy *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void np_fail(struct nproxy *p, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	h2o_req_t *req = p->req;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	p->st = NP_DONE;
	if (h2o_timeout_is_linked(&p->timeout))
		h2o_timeout_unlink(&p->timeout);
	if (p->up) {
		h2o_socket_close(p->up);
		p->up = NULL;
	}
	if (req)
		api_send_status(req, code, reason_of(code), NULL, "%s", msg);
	free(msg);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
	struct nproxy *p = H2O_STRUCT_FROM_MEMBER(struct nproxy, timeout, entry);

	np_fail(p, 504, "the node agent of node %s (%s) did not answer within %d s", p->node,
		p->target, NODE_TIMEOUT_MS / 1000);
}

/* ---- logs: streaming the body ---- */

static void up_on_body(h2o_socket_t *sock, const char *err);

static void np_flush(struct nproxy *p)
{
	h2o_iovec_t buf;

	if (p->sending || !p->req || p->st != NP_STREAM)
		return;
	if (p->pending_len) {
		free(p->out);
		p->out = p->pending;
		buf = h2o_iovec_init(p->out, p->pending_len);
		p->pending = NULL;
		p->pending_len = p->pending_cap = 0;
		p->sending = true;
		h2o_send(p->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (p->up_eof) {
		p->st = NP_DONE;
		h2o_send(p->req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	if (p->up)
		h2o_socket_read_start(p->up, up_on_body);
}

static void take_input(struct nproxy *p, h2o_socket_t *sock)
{
	size_t n = sock->input->size;

	if (!n)
		return;
	if (p->pending_len + n > p->pending_cap) {
		p->pending_cap = (p->pending_len + n) * 2;
		p->pending = realloc(p->pending, p->pending_cap);
		if (!p->pending)
			abort();
	}
	memcpy(p->pending + p->pending_len, sock->input->bytes, n);
	p->pending_len += n;
	h2o_buffer_consume(&sock->input, n);
}

static void up_on_body(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;

	take_input(p, sock);
	if (err) {
		h2o_socket_close(p->up);
		p->up = NULL;
		p->up_eof = true;
	} else if (p->sending || p->pending_len > PENDING_HIGH) {
		h2o_socket_read_stop(sock);
	}
	np_flush(p);
}

static void log_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct nproxy *p = H2O_STRUCT_FROM_MEMBER(struct nproxy, gen, gen);

	p->sending = false;
	np_flush(p);
}

static void log_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct nproxy *p = H2O_STRUCT_FROM_MEMBER(struct nproxy, gen, gen);

	/* the client went away: so does the upstream connection */
	p->st = NP_DONE;
	if (p->up) {
		h2o_socket_close(p->up);
		p->up = NULL;
	}
}

static void up_on_errbody(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;

	take_input(p, sock);
	if (!err && p->pending_len < ERR_BODY_MAX)
		return;
	{
		size_t n = p->pending_len;

		while (n && (p->pending[n - 1] == '\n' || p->pending[n - 1] == '\r'))
			n--;
		np_fail(p,
			p->status == 404 || p->status == 400 || p->status == 403 ? p->status : 500,
			"%.*s", (int)n, n ? p->pending : "the node agent answered an error");
	}
}

/* ---- exec: the joined connections ---- */

static void pipe_on_read(h2o_socket_t *sock, const char *err);

static void pipe_end(struct nproxy *p)
{
	p->st = NP_DONE;
	np_free(p);
}

static void pipe_on_written(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;
	bool to_up = sock == p->up;
	h2o_socket_t *from = to_up ? p->down : p->up;

	free(to_up ? p->to_up : p->to_down);
	if (to_up)
		p->to_up = NULL;
	else
		p->to_down = NULL;
	if (err || (p->closing && !p->to_up && !p->to_down)) {
		pipe_end(p);
		return;
	}
	if (p->closing)
		return;
	if (from->input->size)
		pipe_on_read(from, NULL);
	else
		h2o_socket_read_start(from, pipe_on_read);
}

static void pipe_on_read(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;
	bool from_up = sock == p->up;
	h2o_socket_t *to = from_up ? p->down : p->up;
	char **slot = from_up ? &p->to_down : &p->to_up;
	h2o_iovec_t buf;

	if (sock->input->size && !*slot) {
		*slot = k8c_xmalloc(sock->input->size);
		memcpy(*slot, sock->input->bytes, sock->input->size);
		buf = h2o_iovec_init(*slot, sock->input->size);
		h2o_buffer_consume(&sock->input, sock->input->size);
		h2o_socket_write(to, &buf, 1, pipe_on_written);
	}
	if (err) {
		/* one side closed: the other goes too, after what is being written to it */
		p->closing = true;
		h2o_socket_read_stop(p->up);
		h2o_socket_read_stop(p->down);
		if (!p->to_up && !p->to_down)
			pipe_end(p);
		return;
	}
	if (*slot)
		h2o_socket_read_stop(sock); /* until the write completes */
}

static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
	struct nproxy *p = data;

	if (!sock) {
		pipe_end(p);
		return;
	}
	p->st = NP_PIPE;
	p->down = sock;
	sock->data = p;
	h2o_buffer_consume(&sock->input, reqsize);
	free(p->early);
	p->early = NULL;
	if (sock->input->size)
		pipe_on_read(sock, NULL);
	else
		h2o_socket_read_start(sock, pipe_on_read);
	if (p->up->input->size)
		pipe_on_read(p->up, NULL);
	else
		h2o_socket_read_start(p->up, pipe_on_read);
}

/* ---- the node's response head ---- */

static bool header_is(const char *line, size_t len, const char *name, const char **val,
		      size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	*val = line + n + 1;
	*vlen = len - n - 1;
	while (*vlen && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	while (*vlen && ((*val)[*vlen - 1] == ' ' || (*val)[*vlen - 1] == '\r'))
		(*vlen)--;
	return true;
}

static void up_on_head(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;
	const char *b = sock->input->bytes, *end, *line, *val;
	size_t n = sock->input->size, vlen, headlen;
	void *found = n >= 4 ? memmem(b, n, "\r\n\r\n", 4) : NULL;

	if (!found) {
		if (err)
			np_fail(p, 502, "the node agent of node %s (%s) closed the connection: %s",
				p->node, p->target, err);
		else if (n > HEAD_MAX)
			np_fail(p, 502, "the node agent of node %s (%s) sent too large a header",
				p->node, p->target);
		return;
	}
	headlen = (size_t)((const char *)found - b) + 4;
	end = (const char *)found + 2;
	if (headlen < 12 || strncmp(b, "HTTP/1.", 7) != 0) {
		np_fail(p, 502, "the node agent of node %s (%s) did not answer HTTP", p->node,
			p->target);
		return;
	}
	p->status = atoi(b + 9);
	line = memchr(b, '\n', headlen) + 1;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = (size_t)(nl - line);

		if (header_is(line, len, "sec-websocket-accept", &val, &vlen))
			p->accept = strndup(val, vlen);
		else if (header_is(line, len, "sec-websocket-protocol", &val, &vlen))
			p->protocol = strndup(val, vlen);
		else if (header_is(line, len, "x-stream-protocol-version", &val, &vlen))
			p->stream_protocol = strndup(val, vlen);
		else if (header_is(line, len, "upgrade", &val, &vlen))
			p->up_upgrade = strndup(val, vlen);
		line = nl + 1;
	}
	h2o_buffer_consume(&sock->input, headlen);
	if (h2o_timeout_is_linked(&p->timeout))
		h2o_timeout_unlink(&p->timeout);
	/* (p->req is set here: its disposal closes p->up, and with it these callbacks) */
	if (p->upgrade && p->status == 101) {
		h2o_req_t *req = p->req;
		h2o_iovec_t early;
		size_t nearly = sock->input->size;

		if (!p->up_upgrade) {
			np_fail(p, 502, "the node agent of node %s answered 101 without Upgrade",
				p->node);
			return;
		}
		h2o_socket_read_stop(sock);
		req->res.status = 101;
		req->res.reason = "Switching Protocols";
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL,
			       p->up_upgrade, strlen(p->up_upgrade));
		if (p->accept)
			h2o_add_header_by_str(&req->pool, &req->res.headers,
					      H2O_STRLIT("sec-websocket-accept"), 0, NULL,
					      p->accept, strlen(p->accept));
		if (p->stream_protocol)
			h2o_add_header_by_str(&req->pool, &req->res.headers,
					      H2O_STRLIT("x-stream-protocol-version"), 0, NULL,
					      p->stream_protocol, strlen(p->stream_protocol));
		if (p->protocol)
			h2o_add_header_by_str(&req->pool, &req->res.headers,
					      H2O_STRLIT("sec-websocket-protocol"), 0, NULL,
					      p->protocol, strlen(p->protocol));
		/* frames the node sent right after its head go out with ours */
		p->early = k8c_xmalloc(nearly + 1);
		if (nearly) {
			memcpy(p->early, sock->input->bytes, nearly);
			h2o_buffer_consume(&sock->input, nearly);
		}
		early = h2o_iovec_init(p->early, nearly);
		p->st = NP_UPGRADING;
		h2o_http1_upgrade(req, nearly ? &early : NULL, nearly ? 1 : 0, on_upgraded, p);
		return;
	}
	if (p->status != 200) {
		p->st = NP_ERRBODY;
		take_input(p, sock);
		if (err) {
			up_on_errbody(sock, err);
			return;
		}
		h2o_socket_read_start(sock, up_on_errbody);
		return;
	}
	if (p->upgrade) {
		np_fail(p, 502, "the node agent of node %s did not upgrade the connection (%d)",
			p->node, p->status);
		return;
	}
	p->st = NP_STREAM;
	p->req->res.status = 200;
	p->req->res.reason = "OK";
	h2o_add_header(&p->req->pool, &p->req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("text/plain"));
	h2o_start_response(p->req, &p->gen);
	take_input(p, sock);
	if (err) {
		h2o_socket_close(p->up);
		p->up = NULL;
		p->up_eof = true;
	} else {
		h2o_socket_read_start(sock, up_on_body);
	}
	if (!p->pending_len && !p->up_eof) {
		/* headers now: a follow may wait long for its first line */
		p->sending = true;
		h2o_send(p->req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	np_flush(p);
}

static void up_on_sent(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;

	if (err) {
		np_fail(p, 502, "sending to the node agent of node %s (%s) failed: %s", p->node,
			p->target, err);
		return;
	}
	free(p->request);
	p->request = NULL;
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;
	h2o_iovec_t buf;

	if (err && err != h2o_socket_error_ssl_cert_name_mismatch &&
	    err != h2o_socket_error_ssl_cert_invalid) {
		np_fail(p, 502, "TLS with the node agent of node %s (%s) failed: %s", p->node,
			p->target, err);
		return;
	}
	p->st = NP_HEAD;
	buf = h2o_iovec_init(p->request, strlen(p->request));
	h2o_socket_write(sock, &buf, 1, up_on_sent);
	h2o_socket_read_start(sock, up_on_head);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
	struct nproxy *p = sock->data;

	if (err) {
		np_fail(p, 502, "the node agent of node %s is unreachable at %s: %s", p->node,
			p->target, err);
		return;
	}
	h2o_socket_ssl_handshake(sock, p->api->node_tls, p->node, on_handshake);
}

/* The node's address and agent port; false after answering. */
static bool node_target(struct api *api, h2o_req_t *req, const char *node, char *host,
			size_t hostlen, int *port)
{
	_cleanup_free_ char *key = k8c_xasprintf("/registry/nodes/%s", node);
	_cleanup_json_ json_t *obj = NULL;
	struct store_kv kv = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	static const char *const prefer[] = {"InternalIP", "ExternalIP", "Hostname"};
	json_t *addrs, *a, *pj;
	size_t i;

	if (store_get(api->store, key, &kv, &err) < 0) {
		if (err.code == STORE_E_NOT_FOUND)
			api_send_status(req, 404, "NotFound",
					json_pack("{s:s, s:s}", "name", node, "kind", "nodes"),
					"nodes \"%s\" not found", node);
		else
			api_send_store_error(req, &err, "nodes", node);
		k8c_error_clear(&err);
		return false;
	}
	obj = json_loadb(kv.value, kv.value_len, 0, NULL);
	store_kv_free(&kv);
	addrs = json_object_get(json_object_get(obj, "status"), "addresses");
	*host = 0;
	for (size_t k = 0; k < 3 && !*host; k++)
		json_array_foreach(addrs, i, a)
		{
			const char *t = api_jstr(a, "type"), *v = api_jstr(a, "address");

			if (t && v && *v && strcmp(t, prefer[k]) == 0) {
				snprintf(host, hostlen, "%s", v);
				break;
			}
		}
	if (!*host) {
		api_send_status(req, 500, "InternalError", NULL,
				"node %s has no address (status.addresses) to reach its agent at",
				node);
		return false;
	}
	pj = api_jget(obj, "status.daemonEndpoints.kubeletEndpoint.Port");
	*port = json_is_integer(pj) && json_integer_value(pj) > 0 && json_integer_value(pj) < 65536
			? (int)json_integer_value(pj)
			: DEFAULT_PORT;
	return true;
}

void api_node_proxy(struct api *api, h2o_req_t *req, const char *node, const char *path,
		    bool upgrade)
{
	char host[256];
	int port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char ports[8];
	struct nproxy *p;
	struct nproxy_ref *ref;
	FILE *f;
	size_t len = 0;
	int rc;

	if (!api->node_tls) {
		api_send_status(req, 503, "ServiceUnavailable", NULL,
				"this server has no client certificate for node agents");
		return;
	}
	if (!node_target(api, req, node, host, sizeof(host), &port))
		return;
	snprintf(ports, sizeof(ports), "%d", port);
	hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo(host, ports, &hints, &ai);
	if (rc == EAI_NONAME) {
		hints.ai_flags = 0;
		rc = getaddrinfo(host, ports, &hints, &ai);
	}
	if (rc != 0 || !ai) {
		api_send_status(req, 502, "InternalError", NULL,
				"the address %s of node %s does not resolve: %s", host, node,
				gai_strerror(rc));
		return;
	}
	p = k8c_xmalloc(sizeof(*p));
	memset(p, 0, sizeof(*p));
	p->api = api;
	p->req = req;
	p->upgrade = upgrade;
	p->node = k8c_xstrdup(node);
	p->target = k8c_xasprintf(strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	p->gen.proceed = log_proceed;
	p->gen.stop = log_stop;
	p->timeout.cb = on_timeout;
	f = open_memstream(&p->request, &len);
	if (!f)
		abort();
	if (upgrade) {
		static const char *const relay[] = {"sec-websocket-key", "sec-websocket-version",
						    "sec-websocket-protocol",
						    "x-stream-protocol-version"};

		/* the client's handshake: WebSocket (GET) or SPDY/3.1 (POST) */
		fprintf(f,
			"%.*s %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %.*s\r\n",
			(int)req->method.len, req->method.base, path, p->target,
			(int)req->upgrade.len, req->upgrade.base);
		for (size_t k = 0; k < sizeof(relay) / sizeof(relay[0]); k++) {
			ssize_t i = -1;

			while ((i = h2o_find_header_by_str(&req->headers, relay[k],
							   strlen(relay[k]), i)) >= 0)
				fprintf(f, "%s: %.*s\r\n", relay[k],
					(int)req->headers.entries[i].value.len,
					req->headers.entries[i].value.base);
		}
		fputs("Content-Length: 0\r\n\r\n", f);
	} else {
		fprintf(f, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: k8c-server\r\n\r\n", path,
			p->target);
	}
	fclose(f);
	ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), ref_dispose);
	ref->p = p;
	if (!api->node_timeout_ready) {
		h2o_timeout_init(api->loop, &api->node_timeout, NODE_TIMEOUT_MS);
		api->node_timeout_ready = true;
	}
	h2o_timeout_link(api->loop, &api->node_timeout, &p->timeout);
	p->up = h2o_socket_connect(api->loop, ai->ai_addr, ai->ai_addrlen, on_connect);
	freeaddrinfo(ai);
	if (!p->up) {
		np_fail(p, 502, "the node agent of node %s is unreachable at %s: connect failed",
			node, p->target);
		return;
	}
	p->up->data = p;
}

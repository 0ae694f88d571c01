/*
 * The node's HTTPS endpoint (node_server.h, docs/agent.md "Logs and exec"): kubelet's
 * /containerLogs and /exec on h2o 2.2.5's event loop, in a thread of its own.
 *
 * Logs: the CRI log format, one entry per line, `<RFC3339Nano> stdout|stderr F|P <text>`; a P
 * (partial) entry continues in the next one, so its text is written without a newline and the
 * next entry without a timestamp prefix. tailLines counts file lines from the end, across the
 * rotated files (<path>.<suffix>, oldest first by name) when the current file has too few;
 * otherwise only the current file is read, as kubelet does. follow keeps reading the current
 * path: at its end it polls, switches to the new file when the path was rotated (after draining
 * the old one), and ends once the container no longer runs and the file stopped growing.
 *
 * Exec: a WebSocket (h2o's, on wslay) carrying channel-prefixed binary messages; the process's
 * stdout/stderr (or its pty) become channels 1 and 2, channel 0 its stdin, 4 a resize of the
 * pty, 255 (v5) closes stdin; once the process exited and its outputs are drained, its
 * metav1.Status goes on channel 3 and the socket is closed with 1000.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <h2o.h>
#include <h2o/websocket.h>
#include <jansson.h>
#include <zlib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "ipaddr.h"
#include "log.h"
#include "node_server.h"

#define POLL_MS	       100	     /* follow: how often the end of a log file is looked at */
#define CLOSE_MS       5000	     /* exec: wait for the peer's close frame, then drop */
#define DRAIN_MS       2000	     /* exec: outputs still open this long after the exit */
#define OUT_CHUNK      (64 * 1024)   /* one h2o_send of log text */
#define LINE_MAX_BYTES (1024 * 1024) /* a longer raw line is passed on as it is */
#define WS_HIGH	       (1024 * 1024) /* exec: queued WebSocket bytes before reads pause */
#define READ_CHUNK     (32 * 1024)   /* exec: one message */

struct exec_sess;

struct k8c_node_server {
	struct k8c_node_server_ops ops;
	pthread_t tid;
	atomic_bool stop;
	int port;
	int lfd;
	SSL_CTX *ssl_ctx;
	h2o_globalconf_t conf;
	h2o_context_t ctx;
	h2o_accept_ctx_t actx;
	h2o_socket_t *lsock;
	h2o_timeout_t poll_timeout, close_timeout, drain_timeout;
	struct exec_sess *sessions; /* live exec sessions (stop kills their processes) */
};

/* ---- TLS ---- */

static int write_pem(const char *path, int mode, EVP_PKEY *key, X509 *crt, struct k8c_error *err)
{
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "create %s", tmp);
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		return k8c_error_errno(err, 0, errno, "fdopen %s", tmp);
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, crt);
	if (fclose(f) != 0 || !ok) {
		unlink(tmp);
		return k8c_error_set(err, 0, "write %s failed", tmp);
	}
	if (rename(tmp, path) < 0)
		return k8c_error_errno(err, 0, errno, "rename %s", tmp);
	return 0;
}

static int add_ext(X509 *crt, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)))
		return -1;
	X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

/* A self-signed serving certificate (EC P-256, one year) in dir, unless one exists. */
static int self_signed(const struct k8c_node_server_config *cfg, char **crt_path, char **key_path,
		       struct k8c_error *err)
{
	const char *dir = cfg->cert_dir ? cfg->cert_dir : ".";
	const char *cn = cfg->node_name && *cfg->node_name ? cfg->node_name : "k8c-node";
	_cleanup_free_ char *san = NULL;
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	X509_NAME *name;
	struct stat st;
	int ret = -1;

	*crt_path = k8c_xasprintf("%s/kubelet.crt", dir);
	*key_path = k8c_xasprintf("%s/kubelet.key", dir);
	if (stat(*crt_path, &st) == 0 && stat(*key_path, &st) == 0)
		return 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "certificate dir %s", dir);
	san = k8c_xasprintf("DNS:%s,IP:127.0.0.1", cn);
	for (size_t i = 0; i < cfg->n_san_ips; i++) {
		char *n = k8c_xasprintf("%s,IP:%s", san, cfg->san_ips[i]);

		free(san);
		san = n;
	}
	if (!(key = EVP_EC_gen("P-256")) || !(crt = X509_new())) {
		k8c_error_set(err, 0, "generate the node's serving key failed");
		goto out;
	}
	X509_set_version(crt, 2);
	{
		unsigned char serial[16];
		BIGNUM *bn;

		RAND_bytes(serial, sizeof(serial));
		serial[0] &= 0x7f;
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt));
		BN_free(bn);
	}
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), 365L * 24 * 3600);
	name = X509_get_subject_name(crt);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(crt, name);
	X509_set_pubkey(crt, key);
	if (add_ext(crt, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(crt, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(crt, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(crt, NID_subject_alt_name, san) < 0 || X509_sign(crt, key, EVP_sha256()) <= 0) {
		k8c_error_set(err, 0, "sign the node's serving certificate: %s",
			      ERR_error_string(ERR_get_error(), NULL));
		goto out;
	}
	if (write_pem(*key_path, 0600, key, NULL, err) < 0 ||
	    write_pem(*crt_path, 0644, NULL, crt, err) < 0)
		goto out;
	k8c_log_info("node serving certificate made", "path=%s", *crt_path);
	ret = 0;
out:
	EVP_PKEY_free(key);
	X509_free(crt);
	return ret;
}

static SSL_CTX *tls_context(const struct k8c_node_server_config *cfg, struct k8c_error *err)
{
	_cleanup_free_ char *crt = NULL, *key = NULL;
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) * cas;

	if (!cfg->client_ca_file) {
		k8c_error_set(err, 0, "a client CA file is required (the cluster CA)");
		return NULL;
	}
	if (cfg->cert_file || cfg->key_file) {
		if (!cfg->cert_file || !cfg->key_file) {
			k8c_error_set(err, 0, "a serving certificate needs both its file and key");
			return NULL;
		}
		crt = k8c_xstrdup(cfg->cert_file);
		key = k8c_xstrdup(cfg->key_file);
	} else if (self_signed(cfg, &crt, &key, err) < 0) {
		return NULL;
	}
	if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
		k8c_error_set(err, 0, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL) != 1 ||
	    !(cas = SSL_load_client_CA_file(cfg->client_ca_file))) {
		k8c_error_set(err, 0, "TLS setup with %s and client CA %s: %s", crt,
			      cfg->client_ca_file, ERR_error_string(ERR_get_error(), NULL));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_client_CA_list(ctx, cas);
	/* no client certificate of the cluster CA: no connection */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"k8c-node", 8);
	return ctx;
}

/* ---- request helpers ---- */

static void send_text(h2o_req_t *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void send_text(h2o_req_t *req, int status, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	size_t len;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	len = strlen(msg);
	req->res.status = status;
	req->res.reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Error";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("text/plain; charset=utf-8"));
	h2o_send_inline(req, h2o_strdup(&req->pool, msg, len).base, len);
	free(msg);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static char *url_decode(const char *s, size_t n)
{
	char *out = k8c_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
	}
	*o = 0;
	return out;
}

/* Every value of query parameter name (malloc'd, NULL-terminated), *n of them. */
static char **query_all(h2o_req_t *req, const char *name, size_t *n)
{
	const char *q, *end, *p;
	size_t nlen = strlen(name);
	char **vals = NULL;

	*n = 0;
	vals = k8c_xmalloc(sizeof(char *));
	vals[0] = NULL;
	if (req->query_at == SIZE_MAX)
		return vals;
	q = req->path.base + req->query_at + 1;
	end = req->path.base + req->path.len;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *eq;

		p = amp ? amp : end;
		eq = memchr(q, '=', (size_t)(p - q));
		if ((size_t)((eq ? eq : p) - q) == nlen && memcmp(q, name, nlen) == 0) {
			vals = realloc(vals, sizeof(char *) * (*n + 2));
			if (!vals)
				abort();
			vals[(*n)++] =
				eq ? url_decode(eq + 1, (size_t)(p - eq - 1)) : k8c_xstrdup("");
			vals[*n] = NULL;
		}
		q = p + 1;
	}
	return vals;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char *query_one(h2o_req_t *req, const char *name)
{
	size_t n;
	char **v = query_all(req, name, &n);
	char *r = n ? k8c_xstrdup(v[n - 1]) : NULL;

	strv_free(v);
	return r;
}

/* A boolean parameter: present with "", "1", "true" (any case) is true. */
static bool query_bool(h2o_req_t *req, const char *name)
{
	_cleanup_free_ char *v = query_one(req, name);

	return v && (!*v || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* /<prefix>/{ns}/{pod}/{container}: the three names (malloc'd), or false. */
static bool split_path(h2o_iovec_t p, size_t skip, char *out[3])
{
	const char *s = p.base + skip, *end = p.base + p.len;

	for (int i = 0; i < 3; i++) {
		const char *slash = memchr(s, '/', (size_t)(end - s));
		const char *e = slash ? slash : end;

		if (e == s || (i < 2 && !slash) || (i == 2 && slash && slash + 1 != end)) {
			for (int k = 0; k < i; k++)
				free(out[k]);
			return false;
		}
		out[i] = url_decode(s, (size_t)(e - s));
		s = e + 1;
	}
	return true;
}

/* RFC 3339 (fraction up to nanoseconds, Z or an offset) to nanoseconds since the epoch; -1. */
static int64_t parse_ts_ns(const char *s, size_t n)
{
	struct tm tm = {0};
	char buf[64];
	const char *p;
	char *end;
	int64_t ns = 0, scale = 100000000;
	time_t t;

	if (n >= sizeof(buf) || n < 20)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	t = timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		long hh = strtol(p + 1, &end, 10), mm = 0;

		if (*end == ':')
			mm = strtol(end + 1, &end, 10);
		t -= (*p == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
		p = end;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	return (int64_t)t * 1000000000 + ns;
}

/* ---- logs ---- */

struct log_file {
	char *path;
	off_t start;
};

struct log_stream {
	h2o_generator_t gen;
	h2o_req_t *req;
	struct k8c_node_server *srv;
	char *ns, *pod, *container, *path;
	struct log_file *files; /* rotated files (tail), then the current path */
	size_t nfiles, cur;
	int fd;
	dev_t dev;
	ino_t ino;
	bool follow, timestamps, partial, rotated_seen, ending, grew, done, sending;
	int64_t since_ns, limit, emitted;
	char *line;
	size_t line_len, line_cap;
	char *out;
	size_t out_len, out_cap;
	h2o_timeout_entry_t timer;
};

static void buf_append(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (!n)
		return;
	if (*len + n > *cap) {
		*cap = (*len + n) * 2 + 256;
		*b = realloc(*b, *cap);
		if (!*b)
			abort();
	}
	memcpy(*b + *len, s, n);
	*len += n;
}

/* Append to the output, honouring limitBytes; false once the limit is reached. */
static bool emit(struct log_stream *ls, const char *s, size_t n)
{
	if (ls->limit >= 0 && ls->emitted + (int64_t)n >= ls->limit) {
		n = (size_t)(ls->limit - ls->emitted);
		buf_append(&ls->out, &ls->out_len, &ls->out_cap, s, n);
		ls->emitted += (int64_t)n;
		return false;
	}
	buf_append(&ls->out, &ls->out_len, &ls->out_cap, s, n);
	ls->emitted += (int64_t)n;
	return true;
}

/* One CRI log line (no newline); false once the limit is reached. */
static bool log_line(struct log_stream *ls, const char *l, size_t n)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *sp3;
	const char *msg;
	bool partial;
	size_t mlen;

	if (!sp1 || !(sp2 = memchr(sp1 + 1, ' ', (size_t)(l + n - sp1 - 1))))
		return emit(ls, l, n) && emit(ls, "\n", 1); /* not CRI: as it is */
	sp3 = memchr(sp2 + 1, ' ', (size_t)(l + n - sp2 - 1));
	msg = sp3 ? sp3 + 1 : l + n;
	mlen = (size_t)(l + n - msg);
	partial = (size_t)((sp3 ? sp3 : l + n) - sp2 - 1) == 1 && sp2[1] == 'P';
	if (ls->since_ns > 0) {
		int64_t ts = parse_ts_ns(l, (size_t)(sp1 - l));

		if (ts >= 0 && ts < ls->since_ns)
			return true;
	}
	if (ls->timestamps && !ls->partial) {
		if (!emit(ls, l, (size_t)(sp1 - l) + 1))
			return false;
	}
	ls->partial = partial;
	if (!emit(ls, msg, mlen))
		return false;
	return partial || emit(ls, "\n", 1);
}

/* Raw bytes of the file: complete lines go out, the rest waits; false at the limit. */
static bool log_feed(struct log_stream *ls, const char *data, size_t n)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);

		if (!nl) {
			buf_append(&ls->line, &ls->line_len, &ls->line_cap, data, n);
			if (ls->line_len > LINE_MAX_BYTES) {
				bool more = log_line(ls, ls->line, ls->line_len);

				ls->line_len = 0;
				return more;
			}
			return true;
		}
		if (ls->line_len) {
			bool more;

			buf_append(&ls->line, &ls->line_len, &ls->line_cap, data,
				   (size_t)(nl - data));
			more = log_line(ls, ls->line, ls->line_len);
			ls->line_len = 0;
			if (!more)
				return false;
		} else if (!log_line(ls, data, (size_t)(nl - data))) {
			return false;
		}
		n -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	return true;
}

static int log_open(struct log_stream *ls, const char *path, off_t start)
{
	struct stat st;

	ls->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ls->fd < 0)
		return -1;
	if (fstat(ls->fd, &st) == 0) {
		ls->dev = st.st_dev;
		ls->ino = st.st_ino;
	}
	if (start > 0)
		lseek(ls->fd, start, SEEK_SET);
	return 0;
}

enum { FILL_WAIT, FILL_MORE, FILL_END };

/* Read until OUT_CHUNK bytes are ready or the files end. */
static int log_fill(struct log_stream *ls)
{
	char buf[16384];

	for (;;) {
		ssize_t n;
		struct stat st;

		if (ls->out_len >= OUT_CHUNK)
			return FILL_MORE;
		if (ls->fd < 0) {
			const struct log_file *f = &ls->files[ls->cur];

			if (log_open(ls, f->path, f->start) < 0) {
				if (ls->cur + 1 < ls->nfiles) {
					ls->cur++;
					continue;
				}
				if (!ls->follow)
					return FILL_END;
				if (ls->srv->ops.running &&
				    !ls->srv->ops.running(ls->srv->ops.data, ls->ns, ls->pod,
							  ls->container))
					return FILL_END;
				return FILL_WAIT; /* not there yet */
			}
		}
		n = read(ls->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FILL_END;
		if (n > 0) {
			ls->grew = true;
			if (!log_feed(ls, buf, (size_t)n))
				return FILL_END;
			continue;
		}
		/* the end of this file */
		if (ls->cur + 1 < ls->nfiles) {
			close(ls->fd);
			ls->fd = -1;
			ls->cur++;
			ls->line_len = 0;
			continue;
		}
		if (!ls->follow)
			return FILL_END;
		if (stat(ls->files[ls->cur].path, &st) == 0 &&
		    (st.st_ino != ls->ino || st.st_dev != ls->dev)) {
			/* rotated: what was written before the rename, then the new file */
			if (!ls->rotated_seen) {
				ls->rotated_seen = true;
				continue;
			}
			ls->rotated_seen = false;
			close(ls->fd);
			ls->fd = -1;
			ls->files[ls->cur].start = 0;
			ls->line_len = 0;
			continue;
		}
		if (fstat(ls->fd, &st) == 0 && st.st_size < lseek(ls->fd, 0, SEEK_CUR))
			lseek(ls->fd, 0, SEEK_SET); /* truncated in place */
		if (ls->srv->ops.running &&
		    !ls->srv->ops.running(ls->srv->ops.data, ls->ns, ls->pod, ls->container)) {
			/* stopped: one more poll to see that the file no longer grows */
			if (ls->ending && !ls->grew)
				return FILL_END;
			ls->ending = true;
		}
		ls->grew = false;
		return FILL_WAIT;
	}
}

static void log_pump(struct log_stream *ls);

/* Whether the client closed its side of the connection. */
static bool peer_gone(h2o_req_t *req)
{
	h2o_socket_t *sock = req->conn->callbacks->get_socket
				     ? req->conn->callbacks->get_socket(req->conn)
				     : NULL;
	struct pollfd pfd;

	if (!sock)
		return false;
	pfd.fd = h2o_socket_get_fd(sock);
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	return pfd.fd >= 0 && poll(&pfd, 1, 0) == 1 &&
	       (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void log_on_timer(h2o_timeout_entry_t *entry)
{
	struct log_stream *ls = H2O_STRUCT_FROM_MEMBER(struct log_stream, timer, entry);

	log_pump(ls);
}

static void log_pump(struct log_stream *ls)
{
	h2o_iovec_t buf;
	int st;

	if (ls->sending || ls->done || !ls->req)
		return;
	ls->out_len = 0;
	st = log_fill(ls);
	buf = h2o_iovec_init(ls->out, ls->out_len);
	if (st == FILL_END) {
		ls->done = true;
		h2o_send(ls->req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
		return;
	}
	if (buf.len) {
		ls->sending = true;
		h2o_send(ls->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
		return;
	}
	if (peer_gone(ls->req)) {
		/* h2o does not read an HTTP/1 connection while it answers: a follower that left
		 * is seen here, and its stream ends */
		ls->done = true;
		h2o_send(ls->req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	if (!h2o_timeout_is_linked(&ls->timer))
		h2o_timeout_link(ls->srv->ctx.loop, &ls->srv->poll_timeout, &ls->timer);
}

static void log_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct log_stream *ls = H2O_STRUCT_FROM_MEMBER(struct log_stream, gen, gen);

	ls->sending = false;
	log_pump(ls);
}

static void log_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct log_stream *ls = H2O_STRUCT_FROM_MEMBER(struct log_stream, gen, gen);

	ls->done = true;
	if (h2o_timeout_is_linked(&ls->timer))
		h2o_timeout_unlink(&ls->timer);
}

static void log_dispose(void *p)
{
	struct log_stream *ls = p;

	ls->req = NULL;
	if (h2o_timeout_is_linked(&ls->timer))
		h2o_timeout_unlink(&ls->timer);
	if (ls->fd >= 0)
		close(ls->fd);
	for (size_t i = 0; i < ls->nfiles; i++)
		free(ls->files[i].path);
	free(ls->files);
	free(ls->ns);
	free(ls->pod);
	free(ls->container);
	free(ls->path);
	free(ls->line);
	free(ls->out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rotated files of path (<path>.<suffix>, not .gz or .tmp), oldest first. */
static char **rotated_files(const char *path, size_t *n)
{
	_cleanup_free_ char *dir = k8c_xstrdup(path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : path;
	size_t blen = strlen(base);
	_cleanup_closedir_ DIR *d = NULL;
	char **v = NULL;
	struct dirent *e;

	*n = 0;
	if (slash)
		*slash = 0;
	if (!(d = opendir(slash ? (*dir ? dir : "/") : ".")))
		return NULL;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l <= blen + 1 || strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] != '.')
			continue;
		if ((l > 3 && strcmp(e->d_name + l - 3, ".gz") == 0) ||
		    (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0))
			continue;
		v = realloc(v, sizeof(char *) * (*n + 1));
		if (!v)
			abort();
		v[(*n)++] = slash ? k8c_xasprintf("%s/%s", *dir ? dir : "", e->d_name)
				  : k8c_xstrdup(e->d_name);
	}
	if (*n)
		qsort(v, *n, sizeof(char *), cmp_str);
	return v;
}

/* Whether a raw CRI line ends its entry (tag F, or not CRI at all). */
static bool line_ends_entry(const char *l, size_t n)
{
	const char *sp1 = memchr(l, ' ', n), *sp2;

	if (!sp1 || !(sp2 = memchr(sp1 + 1, ' ', (size_t)(l + n - sp1 - 1))))
		return true;
	return !(sp2 + 1 < l + n && sp2[1] == 'P' && (sp2 + 2 == l + n || sp2[2] == ' '));
}

/* Whether the complete line [start, end) of fd ends its entry (read from its first bytes). */
static bool line_at_ends_entry(int fd, off_t start, off_t end)
{
	char head[80];
	size_t want = (size_t)(end - start) < sizeof(head) ? (size_t)(end - start) : sizeof(head);
	ssize_t r = pread(fd, head, want, start);

	if (r <= 0)
		return true;
	/* a line longer than head: its tag is within the first bytes all the same */
	return line_ends_entry(head, (size_t)r);
}

/*
 * Where the last *need entries of the file begin (an entry: its P lines and the F line that
 * ends it), scanning back from the end; when the file has fewer, 0 and *need reduced by the
 * entries it has. An incomplete last line is not an entry yet.
 */
static off_t tail_start(const char *path, int64_t *need)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	struct stat st;
	int64_t count = 0;
	off_t pos, line_end = -1; /* the newline that ends the line being scanned */

	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	pos = st.st_size;
	while (pos > 0) {
		size_t len = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;

		pos -= (off_t)len;
		if (pread(fd, buf, len, pos) != (ssize_t)len)
			break;
		for (size_t k = len; k-- > 0;) {
			off_t at = pos + (off_t)k;

			if (buf[k] != '\n')
				continue;
			if (line_end >= 0 && line_at_ends_entry(fd, at + 1, line_end) &&
			    ++count == *need + 1) {
				*need = 0;
				return line_end + 1;
			}
			line_end = at;
		}
	}
	/* the first line of the file */
	if (line_end >= 0 && line_at_ends_entry(fd, 0, line_end) && ++count == *need + 1) {
		*need = 0;
		return line_end + 1;
	}
	*need -= count;
	if (*need < 0)
		*need = 0;
	return 0;
}

static void serve_logs(struct k8c_node_server *srv, h2o_req_t *req, char *names[3])
{
	_cleanup_free_ char *tail = query_one(req, "tailLines");
	_cleanup_free_ char *since_s = query_one(req, "sinceSeconds");
	_cleanup_free_ char *since_t = query_one(req, "sinceTime");
	_cleanup_free_ char *limit = query_one(req, "limitBytes");
	struct k8c_error err = K8C_ERROR_INIT;
	struct log_stream *ls;
	int64_t tail_n = -1, since_ns = 0, limit_n = -1;
	char *path, *end;

	if (tail && *tail) {
		tail_n = strtoll(tail, &end, 10);
		if (*end || tail_n < 0) {
			send_text(req, 400, "invalid tailLines %s", tail);
			return;
		}
	}
	if (limit && *limit) {
		limit_n = strtoll(limit, &end, 10);
		if (*end || limit_n < 1) {
			send_text(req, 400, "invalid limitBytes %s", limit);
			return;
		}
	}
	if (since_s && *since_s) {
		long long s = strtoll(since_s, &end, 10);
		struct timespec now;

		if (*end || s < 1) {
			send_text(req, 400, "invalid sinceSeconds %s", since_s);
			return;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		since_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - s * 1000000000LL;
	} else if (since_t && *since_t) {
		since_ns = parse_ts_ns(since_t, strlen(since_t));
		if (since_ns < 0) {
			send_text(req, 400, "invalid sinceTime %s", since_t);
			return;
		}
	}
	path = srv->ops.log_path(srv->ops.data, names[0], names[1], names[2],
				 query_bool(req, "previous"), &err);
	if (!path) {
		send_text(req, err.code >= 400 && err.code < 600 ? err.code : 500, "%s",
			  err.msg ? err.msg : "no log");
		k8c_error_clear(&err);
		return;
	}
	ls = h2o_mem_alloc_shared(&req->pool, sizeof(*ls), log_dispose);
	memset(ls, 0, sizeof(*ls));
	ls->gen.proceed = log_proceed;
	ls->gen.stop = log_stop;
	ls->req = req;
	ls->srv = srv;
	ls->fd = -1;
	ls->timer.cb = log_on_timer;
	ls->ns = k8c_xstrdup(names[0]);
	ls->pod = k8c_xstrdup(names[1]);
	ls->container = k8c_xstrdup(names[2]);
	ls->path = path;
	/* a previous instance has ended: its log does not grow */
	ls->follow = query_bool(req, "follow") && !query_bool(req, "previous");
	ls->timestamps = query_bool(req, "timestamps");
	ls->since_ns = since_ns;
	ls->limit = limit_n;
	if (tail_n >= 0) {
		size_t nrot = 0;
		char **rot = rotated_files(path, &nrot);
		int64_t need = tail_n;
		off_t start = tail_start(path, &need);
		size_t first = nrot; /* index in rot of the oldest file read */
		off_t first_start = 0;

		ls->files = k8c_xmalloc(sizeof(*ls->files) * (nrot + 1));
		while (need > 0 && first > 0) {
			first--;
			first_start = tail_start(rot[first], &need);
			if (need == 0)
				break;
		}
		if (tail_n == 0 || start > 0 || first == nrot)
			first = nrot; /* the current file alone has enough */
		for (size_t i = first; i < nrot; i++) {
			ls->files[ls->nfiles].path = rot[i];
			ls->files[ls->nfiles++].start = i == first ? first_start : 0;
			rot[i] = NULL;
		}
		for (size_t i = 0; i < nrot; i++)
			free(rot[i]);
		free(rot);
		ls->files[ls->nfiles].path = k8c_xstrdup(path);
		ls->files[ls->nfiles++].start = start;
	} else {
		ls->files = k8c_xmalloc(sizeof(*ls->files));
		ls->files[0].path = k8c_xstrdup(path);
		ls->files[0].start = 0;
		ls->nfiles = 1;
	}
	/* a tail of a rotated file is counted from a newline: no partial line leads */
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("text/plain"));
	h2o_start_response(req, &ls->gen);
	if (ls->follow) {
		/* the headers first: the client sees the stream open before any line */
		ls->sending = true;
		h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
	} else {
		log_pump(ls);
	}
}

/* ---- exec ---- */

enum { R_ERROR, R_STDIN, R_STDOUT, R_STDERR, R_RESIZE, R_N };

struct exec_sess {
	struct k8c_node_server *srv;
	struct exec_sess *next, **pprev;
	h2o_websocket_conn_t *ws;
	int proto; /* 4 or 5 */
	bool tty, ws_closed, status_sent, exited, out_eof, err_eof, paused;
	h2o_socket_t *in, *out, *err, *pidsock;
	int pty; /* the pty master (resize), or -1 */
	pid_t pid;
	int wstatus;
	char *cmd; /* "[sh -c ...]" for the message */
	char *in_pending;
	size_t in_pending_len, in_pending_cap;
	char *in_flight;
	bool in_writing, in_close;
	int depth; /* > 0 while sess_send() runs: a close seen inside waits for the caller */
	h2o_timeout_entry_t close_timer, drain_timer, resume_timer, reap_timer;
	bool reaping; /* exited, its status asked of ops.wait_exit */
	/*
	 * SPDY/3.1 (kubectl 1.29 and older): the upgraded connection; the client's streams, one per
	 * role, in the order client-go creates them (error, stdin, stdout, stderr, resize: those
	 * the query asks for); the process starts once they are all there.
	 */
	bool is_spdy, spdy_writing, started, want_in;
	h2o_socket_t *spdy;
	int roles[R_N], nroles, nseen;
	uint32_t sid[R_N];
	char *sp_pending, *sp_flight;
	size_t sp_pending_len, sp_pending_cap;
	z_stream zout;
	bool z_ready;
	char *resize_buf;
	size_t resize_len, resize_cap;
	char *ns, *pod, *container, **argv;
};

static void sess_maybe_free(struct exec_sess *s)
{
	if (s->depth || !s->ws_closed || s->pidsock || s->reaping || s->in || s->out || s->err)
		return;
	if (h2o_timeout_is_linked(&s->close_timer))
		h2o_timeout_unlink(&s->close_timer);
	if (h2o_timeout_is_linked(&s->drain_timer))
		h2o_timeout_unlink(&s->drain_timer);
	if (h2o_timeout_is_linked(&s->resume_timer))
		h2o_timeout_unlink(&s->resume_timer);
	if (h2o_timeout_is_linked(&s->reap_timer))
		h2o_timeout_unlink(&s->reap_timer);
	if (s->pprev) {
		*s->pprev = s->next;
		if (s->next)
			s->next->pprev = s->pprev;
	}
	free(s->cmd);
	free(s->in_pending);
	free(s->in_flight);
	free(s->sp_pending);
	free(s->sp_flight);
	free(s->resize_buf);
	free(s->ns);
	free(s->pod);
	free(s->container);
	strv_free(s->argv);
	if (s->z_ready)
		deflateEnd(&s->zout);
	free(s);
}

static void close_sock(h2o_socket_t **sp)
{
	if (*sp) {
		h2o_socket_close(*sp);
		*sp = NULL;
	}
}

static void spdy_frame_data(struct exec_sess *s, int role, const void *data, size_t len, bool fin);

static void sess_send(struct exec_sess *s, unsigned char chan, const void *data, size_t len)
{
	struct wslay_event_msg msg;
	unsigned char *b;

	if (s->ws_closed)
		return;
	if (s->is_spdy) {
		spdy_frame_data(s,
				chan == 1   ? R_STDOUT
				: chan == 2 ? R_STDERR
					    : R_ERROR,
				data, len, false);
		return;
	}
	if (!s->ws)
		return;
	b = k8c_xmalloc(len + 1);
	b[0] = chan;
	if (len)
		memcpy(b + 1, data, len);
	msg.opcode = WSLAY_BINARY_FRAME;
	msg.msg = b;
	msg.msg_length = len + 1;
	wslay_event_queue_msg(s->ws->ws_ctx, &msg);
	free(b);
	s->depth++;
	if (s->ws->sock)
		h2o_websocket_proceed(s->ws); /* may close it: on_ws_msg(NULL) */
	s->depth--;
}

/* The WebSocket is gone: the process loses its stdio (stdin once what is queued is written). */
static void sess_drop_stdio(struct exec_sess *s)
{
	s->in_close = true;
	s->in_pending_len = 0;
	if (!s->in_writing)
		close_sock(&s->in);
	close_sock(&s->out);
	close_sock(&s->err);
	s->out_eof = s->err_eof = true;
}

static void sess_finish(struct exec_sess *s);

/* After the Status: a close frame, or the ends of the SPDY streams; the peer closes then. */
static void sess_end_transport(struct exec_sess *s)
{
	if (s->ws_closed)
		return;
	if (s->is_spdy) {
		spdy_frame_data(s, R_ERROR, NULL, 0, true);
		spdy_frame_data(s, R_STDOUT, NULL, 0, true);
		spdy_frame_data(s, R_STDERR, NULL, 0, true);
	} else if (s->ws) {
		wslay_event_queue_close(s->ws->ws_ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
		if (s->ws->sock)
			h2o_websocket_proceed(s->ws);
	}
	if (!s->ws_closed && !h2o_timeout_is_linked(&s->close_timer))
		h2o_timeout_link(s->srv->ctx.loop, &s->srv->close_timeout, &s->close_timer);
}

/* Bytes queued for the client. */
static size_t sess_queued(struct exec_sess *s)
{
	if (s->ws_closed)
		return 0;
	if (s->is_spdy)
		return s->sp_pending_len;
	return s->ws ? wslay_event_get_queued_msg_length(s->ws->ws_ctx) : 0;
}

static void on_close_timer(h2o_timeout_entry_t *entry)
{
	struct exec_sess *s = H2O_STRUCT_FROM_MEMBER(struct exec_sess, close_timer, entry);

	/* the peer never answered our close frame (or never closed its SPDY connection) */
	if (!s->ws_closed && s->ws) {
		h2o_websocket_close(s->ws);
		s->ws = NULL;
	}
	close_sock(&s->spdy);
	s->ws_closed = true;
	close_sock(&s->in);
	close_sock(&s->out);
	close_sock(&s->err);
	sess_maybe_free(s);
}

static void on_drain_timer(h2o_timeout_entry_t *entry)
{
	struct exec_sess *s = H2O_STRUCT_FROM_MEMBER(struct exec_sess, drain_timer, entry);

	/* exited, but a child of it keeps an output open: finish without the rest */
	close_sock(&s->out);
	close_sock(&s->err);
	s->out_eof = s->err_eof = true;
	sess_finish(s);
}

/* The process exited and its outputs ended: its Status on channel 3, then close. */
static void sess_finish(struct exec_sess *s)
{
	json_t *st;
	char *text;
	int code;

	if (s->status_sent || !s->exited || !s->out_eof || !s->err_eof)
		return;
	s->status_sent = true;
	if (h2o_timeout_is_linked(&s->drain_timer))
		h2o_timeout_unlink(&s->drain_timer);
	code = WIFEXITED(s->wstatus)	 ? WEXITSTATUS(s->wstatus)
	       : WIFSIGNALED(s->wstatus) ? 128 + WTERMSIG(s->wstatus)
					 : 1;
	if (code == 0) {
		st = json_pack("{s:{}, s:s}", "metadata", "status", "Success");
	} else {
		char codes[16], *msg;

		snprintf(codes, sizeof(codes), "%d", code);
		msg = k8c_xasprintf("command terminated with non-zero exit code: error executing "
				    "command %s, exit code %d",
				    s->cmd, code);
		st = json_pack("{s:{}, s:s, s:s, s:s, s:{s:[{s:s, s:s}]}}", "metadata", "status",
			       "Failure", "message", msg, "reason", "NonZeroExitCode", "details",
			       "causes", "reason", "ExitCode", "message", codes);
		free(msg);
	}
	text = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	if (!s->ws_closed) {
		sess_send(s, 3, text, strlen(text));
		if (s->ws_closed)
			sess_drop_stdio(s);
		sess_end_transport(s);
	}
	free(text);
	close_sock(&s->in);
	sess_maybe_free(s);
}

static void out_on_read(h2o_socket_t *sock, const char *err);

static void resume_reads(struct exec_sess *s)
{
	s->paused = false;
	if (s->out)
		h2o_socket_read_start(s->out, out_on_read);
	if (s->err)
		h2o_socket_read_start(s->err, out_on_read);
}

static void on_resume_timer(h2o_timeout_entry_t *entry)
{
	struct exec_sess *s = H2O_STRUCT_FROM_MEMBER(struct exec_sess, resume_timer, entry);

	if (sess_queued(s) > WS_HIGH)
		h2o_timeout_link(s->srv->ctx.loop, &s->srv->poll_timeout, &s->resume_timer);
	else
		resume_reads(s);
}

static void out_on_read(h2o_socket_t *sock, const char *err)
{
	struct exec_sess *s = sock->data;
	unsigned char chan = sock == s->err ? 2 : 1;

	while (sock->input->size && !s->ws_closed) {
		size_t n = sock->input->size > READ_CHUNK ? READ_CHUNK : sock->input->size;

		sess_send(s, chan, sock->input->bytes, n);
		h2o_buffer_consume(&sock->input, n);
	}
	if (s->ws_closed) {
		/* nobody to send to (sock is closed here: not touched again) */
		sess_drop_stdio(s);
		sess_maybe_free(s);
		return;
	}
	if (err) {
		if (sock == s->err) {
			close_sock(&s->err);
			s->err_eof = true;
		} else {
			close_sock(&s->out);
			s->out_eof = true;
			if (s->tty)
				close_sock(&s->in); /* the same pty */
		}
		sess_finish(s);
		return;
	}
	if (sess_queued(s) > WS_HIGH && !s->paused) {
		s->paused = true;
		if (s->out)
			h2o_socket_read_stop(s->out);
		if (s->err)
			h2o_socket_read_stop(s->err);
		h2o_timeout_link(s->srv->ctx.loop, &s->srv->poll_timeout, &s->resume_timer);
	}
}

static void sess_exited(struct exec_sess *s, int wstatus)
{
	s->reaping = false;
	s->exited = true;
	s->wstatus = wstatus;
	if (!s->out_eof || !s->err_eof)
		h2o_timeout_link(s->srv->ctx.loop, &s->srv->drain_timeout, &s->drain_timer);
	sess_finish(s);
	sess_maybe_free(s);
}

/* The embedder's wait_exit: its status, or ask again a poll later. */
static void sess_ask_exit(struct exec_sess *s)
{
	int status = 0, r = s->srv->ops.wait_exit(s->srv->ops.data, s->pid, &status);

	if (r > 0) {
		h2o_timeout_link(s->srv->ctx.loop, &s->srv->poll_timeout, &s->reap_timer);
		return;
	}
	sess_exited(s, r == 0 ? status : (1 << 8));
}

static void on_reap_timer(h2o_timeout_entry_t *entry)
{
	sess_ask_exit(H2O_STRUCT_FROM_MEMBER(struct exec_sess, reap_timer, entry));
}

static void pid_on_read(h2o_socket_t *sock, const char *err)
{
	struct exec_sess *s = sock->data;
	int status = 0;
	pid_t r;

	if (sock->input->size)
		h2o_buffer_consume(&sock->input, sock->input->size);
	if (s->srv->ops.wait_exit) {
		/* it exited (the pidfd says so); the embedder reaps it and tells the status */
		close_sock(&s->pidsock);
		s->reaping = true;
		sess_ask_exit(s);
		return;
	}
	r = waitpid(s->pid, &status, WNOHANG);
	if (r == 0)
		return; /* not yet (spurious) */
	close_sock(&s->pidsock);
	sess_exited(s, r == s->pid ? status : (1 << 8));
}

static void in_write_next(struct exec_sess *s);

static void in_on_written(h2o_socket_t *sock, const char *err)
{
	struct exec_sess *s = sock->data;

	s->in_writing = false;
	free(s->in_flight);
	s->in_flight = NULL;
	if (err) {
		s->in_pending_len = 0;
		close_sock(&s->in);
		sess_maybe_free(s);
		return;
	}
	in_write_next(s);
}

static void in_write_next(struct exec_sess *s)
{
	h2o_iovec_t buf;

	if (s->in_writing || !s->in)
		return;
	if (!s->in_pending_len) {
		if (s->in_close)
			close_sock(&s->in); /* a tty's is a dup: the pty stays open */
		sess_maybe_free(s);
		return;
	}
	s->in_flight = s->in_pending;
	buf = h2o_iovec_init(s->in_flight, s->in_pending_len);
	s->in_pending = NULL;
	s->in_pending_len = s->in_pending_cap = 0;
	s->in_writing = true;
	h2o_socket_write(s->in, &buf, 1, in_on_written);
}

static void on_ws_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
	struct exec_sess *s = conn->data;

	if (!arg) {
		/* closed by the peer or an error */
		h2o_websocket_close(conn);
		s->ws = NULL;
		s->ws_closed = true;
		if (h2o_timeout_is_linked(&s->close_timer))
			h2o_timeout_unlink(&s->close_timer);
		if (s->depth)
			return; /* inside sess_send(): its caller drops the stdio */
		sess_drop_stdio(s);
		sess_maybe_free(s);
		return;
	}
	if ((arg->opcode != WSLAY_BINARY_FRAME && arg->opcode != WSLAY_TEXT_FRAME) ||
	    arg->msg_length < 1)
		return;
	switch (arg->msg[0]) {
	case 0: /* stdin */
		if (s->in && !s->in_close) {
			buf_append(&s->in_pending, &s->in_pending_len, &s->in_pending_cap,
				   (const char *)arg->msg + 1, arg->msg_length - 1);
			in_write_next(s);
		}
		break;
	case 4: /* resize {"Width":80,"Height":24} */
		if (s->pty >= 0) {
			json_t *j = json_loadb((const char *)arg->msg + 1, arg->msg_length - 1, 0,
					       NULL);
			struct winsize ws = {0};

			ws.ws_col = (unsigned short)json_integer_value(json_object_get(j, "Width"));
			ws.ws_row =
				(unsigned short)json_integer_value(json_object_get(j, "Height"));
			if (ws.ws_col && ws.ws_row)
				ioctl(s->pty, TIOCSWINSZ, &ws);
			json_decref(j);
		}
		break;
	case 255: /* v5: close a stream (stdin) */
		if (s->proto >= 5 && arg->msg_length >= 2 && arg->msg[1] == 0) {
			s->in_close = true;
			if (s->tty) {
				/* a pty has no half-close: ^D at the start of a line */
				static const char eot = 4;

				buf_append(&s->in_pending, &s->in_pending_len, &s->in_pending_cap,
					   &eot, 1);
			}
			in_write_next(s);
		}
		break;
	default:
		break;
	}
}

/* The subprotocol to answer, from the client's list: v5, else v4; NULL when neither. */
static const char *pick_protocol(h2o_req_t *req, int *proto)
{
	ssize_t i = -1;
	bool v4 = false, v5 = false;

	while ((i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"),
					   i)) != -1) {
		const h2o_iovec_t *v = &req->headers.entries[i].value;

		for (size_t k = 0; k < v->len;) {
			size_t e = k;

			while (e < v->len && v->base[e] != ',')
				e++;
			{
				size_t a = k, b = e;

				while (a < b && (v->base[a] == ' ' || v->base[a] == '\t'))
					a++;
				while (b > a && (v->base[b - 1] == ' ' || v->base[b - 1] == '\t'))
					b--;
				if (b - a == 17 &&
				    memcmp(v->base + a, "v5.channel.k8s.io", 17) == 0)
					v5 = true;
				if (b - a == 17 &&
				    memcmp(v->base + a, "v4.channel.k8s.io", 17) == 0)
					v4 = true;
			}
			k = e + 1;
		}
	}
	*proto = v5 ? 5 : v4 ? 4 : 0;
	return v5 ? "v5.channel.k8s.io" : v4 ? "v4.channel.k8s.io" : NULL;
}

static h2o_socket_t *fd_sock(struct k8c_node_server *srv, struct exec_sess *s, int fd)
{
	h2o_socket_t *sock;

	if (fd < 0)
		return NULL;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	sock = h2o_evloop_socket_create(srv->ctx.loop, fd, 0);
	sock->data = s;
	return sock;
}

static char *argv_text(char **argv)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return k8c_xstrdup("[]");
	fputc('[', f);
	for (size_t i = 0; argv[i]; i++)
		fprintf(f, "%s%s", i ? " " : "", argv[i]);
	fputc(']', f);
	fclose(f);
	return out;
}

/* The process's stdio as sockets of the loop, and its pidfd. */
static void sess_attach(struct exec_sess *s, int fds[3], pid_t pid, bool want_in)
{
	struct k8c_node_server *srv = s->srv;
	int pfd;

	s->pid = pid;
	if (s->tty) {
		s->pty = fds[0];
		s->out = fd_sock(srv, s, fds[0]);
		if (want_in)
			s->in = fd_sock(srv, s, fcntl(fds[0], F_DUPFD_CLOEXEC, 0));
		s->err_eof = true;
		if (fds[1] >= 0)
			close(fds[1]);
		if (fds[2] >= 0)
			close(fds[2]);
	} else {
		if (want_in)
			s->in = fd_sock(srv, s, fds[0]);
		else if (fds[0] >= 0)
			close(fds[0]);
		s->out = fd_sock(srv, s, fds[1]);
		s->err = fd_sock(srv, s, fds[2]);
		s->out_eof = !s->out;
		s->err_eof = !s->err;
	}
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		s->pidsock = h2o_evloop_socket_create(srv->ctx.loop, pfd, 0);
		s->pidsock->data = s;
		h2o_socket_read_start(s->pidsock, pid_on_read);
	} else if (errno == ESRCH && srv->ops.wait_exit) {
		/* gone already and reaped by the embedder before we looked (a short command on a
		 * busy machine): its status is the embedder's; ask for it a poll later, once the
		 * session is set up (was: never finished, kubectl exec hung) */
		s->reaping = true;
		h2o_timeout_link(srv->ctx.loop, &srv->poll_timeout, &s->reap_timer);
	} else {
		int status;

		/* no pidfd (old kernel): the exit is seen only if it already happened */
		k8c_log_warn("pidfd_open failed", "pid=%d errno=%d", (int)pid, errno);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->exited = true;
			s->wstatus = status;
		}
	}
	if (s->out)
		h2o_socket_read_start(s->out, out_on_read);
	if (s->err)
		h2o_socket_read_start(s->err, out_on_read);
}

/* ---- SPDY/3.1 ---- */

static void spdy_flush(struct exec_sess *s);

static void spdy_on_written(h2o_socket_t *sock, const char *err)
{
	struct exec_sess *s = sock->data;

	s->spdy_writing = false;
	free(s->sp_flight);
	s->sp_flight = NULL;
	if (err)
		return; /* the read side sees the end too */
	spdy_flush(s);
}

static void spdy_flush(struct exec_sess *s)
{
	h2o_iovec_t buf;

	if (s->spdy_writing || !s->sp_pending_len || !s->spdy)
		return;
	s->sp_flight = s->sp_pending;
	buf = h2o_iovec_init(s->sp_flight, s->sp_pending_len);
	s->sp_pending = NULL;
	s->sp_pending_len = s->sp_pending_cap = 0;
	s->spdy_writing = true;
	h2o_socket_write(s->spdy, &buf, 1, spdy_on_written);
}

static void put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *b)
{
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* A control frame: version 3, type, flags, the payload. */
static void spdy_control_out(struct exec_sess *s, int type, int flags, const void *payload,
			     size_t len)
{
	unsigned char h[8] = {0x80, 3, (unsigned char)(type >> 8), (unsigned char)type,
			      (unsigned char)flags};

	h[5] = (unsigned char)(len >> 16);
	h[6] = (unsigned char)(len >> 8);
	h[7] = (unsigned char)len;
	buf_append(&s->sp_pending, &s->sp_pending_len, &s->sp_pending_cap, (const char *)h, 8);
	buf_append(&s->sp_pending, &s->sp_pending_len, &s->sp_pending_cap, payload, len);
	spdy_flush(s);
}

static void spdy_frame_data(struct exec_sess *s, int role, const void *data, size_t len, bool fin)
{
	unsigned char h[8];

	if (!s->sid[role] || s->ws_closed)
		return;
	put32(h, s->sid[role] & 0x7fffffff);
	h[4] = fin ? 1 : 0;
	h[5] = (unsigned char)(len >> 16);
	h[6] = (unsigned char)(len >> 8);
	h[7] = (unsigned char)len;
	buf_append(&s->sp_pending, &s->sp_pending_len, &s->sp_pending_cap, (const char *)h, 8);
	if (len)
		buf_append(&s->sp_pending, &s->sp_pending_len, &s->sp_pending_cap, data, len);
	if (fin)
		s->sid[role] = 0;
	spdy_flush(s);
}

/* SYN_REPLY with no headers (a block of our own zlib stream, which needs no dictionary). */
static void spdy_reply(struct exec_sess *s, uint32_t sid)
{
	unsigned char in[4] = {0, 0, 0, 0}, out[64], payload[4 + sizeof(out)];
	size_t n;

	s->zout.next_in = in;
	s->zout.avail_in = sizeof(in);
	s->zout.next_out = out;
	s->zout.avail_out = sizeof(out);
	if (deflate(&s->zout, Z_SYNC_FLUSH) != Z_OK)
		return;
	n = sizeof(out) - s->zout.avail_out;
	put32(payload, sid & 0x7fffffff);
	memcpy(payload + 4, out, n);
	spdy_control_out(s, 2, 0, payload, 4 + n);
}

static void spdy_window(struct exec_sess *s, uint32_t sid, size_t delta)
{
	unsigned char p[8];

	put32(p, sid & 0x7fffffff);
	put32(p + 4, (uint32_t)delta);
	spdy_control_out(s, 9, 0, p, 8);
}

/* The connection is gone (or goes now): as a closed WebSocket. */
static void spdy_gone(struct exec_sess *s)
{
	close_sock(&s->spdy);
	s->ws_closed = true;
	if (h2o_timeout_is_linked(&s->close_timer))
		h2o_timeout_unlink(&s->close_timer);
	sess_drop_stdio(s);
	sess_maybe_free(s);
}

/* Before the process runs: a Failure Status on the error stream, and the end. */
static void spdy_fail(struct exec_sess *s, int code, const char *msg)
{
	json_t *st =
		json_pack("{s:{}, s:s, s:s, s:s, s:i}", "metadata", "status", "Failure", "message",
			  msg, "reason", code == 404 ? "NotFound" : "InternalError", "code", code);
	char *text = json_dumps(st, JSON_COMPACT);

	json_decref(st);
	s->status_sent = true;
	spdy_frame_data(s, R_ERROR, text, strlen(text), false);
	free(text);
	sess_end_transport(s);
}

static void spdy_start(struct exec_sess *s)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int fds[3] = {-1, -1, -1};
	pid_t pid = -1;

	s->started = true;
	if (s->srv->ops.exec(s->srv->ops.data, s->ns, s->pod, s->container,
			     (const char *const *)s->argv, s->tty, fds, &pid, &err) < 0) {
		spdy_fail(s, err.code >= 400 && err.code < 600 ? err.code : 500,
			  err.msg ? err.msg : "exec failed");
		k8c_error_clear(&err);
		return;
	}
	sess_attach(s, fds, pid, s->want_in);
	in_write_next(s); /* stdin that came before */
}

static void spdy_resize(struct exec_sess *s, const unsigned char *d, size_t n)
{
	buf_append(&s->resize_buf, &s->resize_len, &s->resize_cap, (const char *)d, n);
	for (;;) {
		json_error_t jerr;
		json_t *j = json_loadb(s->resize_buf, s->resize_len, JSON_DISABLE_EOF_CHECK, &jerr);
		struct winsize ws = {0};
		size_t used;

		if (!j)
			break;
		used = (size_t)jerr.position;
		ws.ws_col = (unsigned short)json_integer_value(json_object_get(j, "Width"));
		ws.ws_row = (unsigned short)json_integer_value(json_object_get(j, "Height"));
		json_decref(j);
		if (s->pty >= 0 && ws.ws_col && ws.ws_row)
			ioctl(s->pty, TIOCSWINSZ, &ws);
		if (used == 0 || used > s->resize_len)
			break;
		memmove(s->resize_buf, s->resize_buf + used, s->resize_len - used);
		s->resize_len -= used;
	}
}

/* One frame; false when the connection ended with it. */
static bool spdy_frame_in(struct exec_sess *s, const unsigned char *b, size_t len)
{
	const unsigned char *d = b + 8;

	if (b[0] & 0x80) {
		int type = (b[2] << 8) | b[3];
		uint32_t sid = len >= 4 ? get32(d) & 0x7fffffff : 0;

		switch (type) {
		case 1: /* SYN_STREAM */
			if (len < 10)
				break;
			if (s->nseen < s->nroles)
				s->sid[s->roles[s->nseen++]] = sid;
			spdy_reply(s, sid);
			if (s->nseen == s->nroles && !s->started)
				spdy_start(s);
			break;
		case 3: /* RST_STREAM */
			if (sid && sid == s->sid[R_STDIN]) {
				s->in_close = true;
				in_write_next(s);
			}
			break;
		case 6: /* PING: back as it came */
			spdy_control_out(s, 6, 0, d, len);
			break;
		case 7: /* GOAWAY */
			spdy_gone(s);
			return false;
		default: /* SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do */
			break;
		}
		return true;
	}
	{
		uint32_t sid = get32(b) & 0x7fffffff;
		bool fin = b[4] & 1;

		if (sid && sid == s->sid[R_STDIN]) {
			if (len && !s->in_close) {
				buf_append(&s->in_pending, &s->in_pending_len, &s->in_pending_cap,
					   (const char *)d, len);
				spdy_window(s, sid, len);
				spdy_window(s, 0, len);
			}
			if (fin) {
				s->in_close = true;
				if (s->tty) {
					static const char eot = 4;

					buf_append(&s->in_pending, &s->in_pending_len,
						   &s->in_pending_cap, &eot, 1);
				}
			}
			in_write_next(s);
		} else if (sid && sid == s->sid[R_RESIZE] && len) {
			spdy_resize(s, d, len);
		}
	}
	return true;
}

#define SPDY_FRAME_MAX (1 << 20)

static void spdy_on_read(h2o_socket_t *sock, const char *err)
{
	struct exec_sess *s = sock->data;

	while (sock->input->size >= 8) {
		const unsigned char *b = (const unsigned char *)sock->input->bytes;
		size_t len = ((size_t)b[5] << 16) | ((size_t)b[6] << 8) | b[7];

		if (len > SPDY_FRAME_MAX) {
			spdy_gone(s);
			return;
		}
		if (sock->input->size < 8 + len)
			break;
		if (!spdy_frame_in(s, b, len))
			return; /* closed: sock is gone */
		h2o_buffer_consume(&sock->input, 8 + len);
	}
	if (err)
		spdy_gone(s);
}

static void spdy_on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
	struct exec_sess *s = data;

	if (!sock) {
		s->ws_closed = true;
		sess_maybe_free(s);
		return;
	}
	s->spdy = sock;
	sock->data = s;
	h2o_buffer_consume(&sock->input, reqsize);
	if (sock->input->size)
		spdy_on_read(sock, NULL);
	if (s->spdy)
		h2o_socket_read_start(sock, spdy_on_read);
}

/* Whether a comma-separated header (all its instances) lists value. */
static bool header_lists(h2o_req_t *req, const char *name, const char *value)
{
	ssize_t i = -1;
	size_t vl = strlen(value);

	while ((i = h2o_find_header_by_str(&req->headers, name, strlen(name), i)) != -1) {
		const h2o_iovec_t *v = &req->headers.entries[i].value;

		for (size_t k = 0; k < v->len;) {
			size_t e = k, a, b;

			while (e < v->len && v->base[e] != ',')
				e++;
			a = k;
			b = e;
			while (a < b && (v->base[a] == ' ' || v->base[a] == '\t'))
				a++;
			while (b > a && (v->base[b - 1] == ' ' || v->base[b - 1] == '\t'))
				b--;
			if (b - a == vl && strncasecmp(v->base + a, value, vl) == 0)
				return true;
			k = e + 1;
		}
	}
	return false;
}

static void serve_exec(struct k8c_node_server *srv, h2o_req_t *req, char *names[3])
{
	struct k8c_error err = K8C_ERROR_INIT;
	const char *key = NULL, *proto_name = NULL;
	struct exec_sess *s;
	size_t argc;
	char **argv = NULL;
	bool want_in, want_out, want_err, tty, spdy;
	int fds[3] = {-1, -1, -1}, proto = 4;
	pid_t pid = -1;

	spdy = req->version < 0x200 && req->upgrade.base &&
	       h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("spdy/3.1"));
	if (spdy) {
		if (!header_lists(req, "x-stream-protocol-version", "v4.channel.k8s.io")) {
			send_text(req, 400,
				  "unable to upgrade: SPDY/3.1 is served with protocol "
				  "v4.channel.k8s.io only");
			return;
		}
	} else if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || !key) {
		send_text(req, 400,
			  "Upgrade request required: this endpoint speaks WebSocket "
			  "(v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 over HTTP/1.1");
		return;
	} else if (!(proto_name = pick_protocol(req, &proto))) {
		send_text(req, 400,
			  "unable to upgrade: no supported protocol requested "
			  "(v5.channel.k8s.io, v4.channel.k8s.io)");
		return;
	}
	argv = query_all(req, "command", &argc);
	if (!argc) {
		strv_free(argv);
		send_text(req, 400, "you must specify at least 1 command");
		return;
	}
	want_in = query_bool(req, "stdin") || query_bool(req, "input");
	want_out = query_bool(req, "stdout") || query_bool(req, "output");
	want_err = query_bool(req, "stderr") || query_bool(req, "error");
	tty = query_bool(req, "tty");
	if (!want_in && !want_out && !want_err) {
		strv_free(argv);
		send_text(req, 400, "you must specify at least 1 of stdin, stdout, stderr");
		return;
	}
	if (!spdy && srv->ops.exec(srv->ops.data, names[0], names[1], names[2],
				   (const char *const *)argv, tty, fds, &pid, &err) < 0) {
		send_text(req, err.code >= 400 && err.code < 600 ? err.code : 500, "%s",
			  err.msg ? err.msg : "exec failed");
		k8c_error_clear(&err);
		strv_free(argv);
		return;
	}
	s = k8c_xmalloc(sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->proto = proto;
	s->tty = tty;
	s->pid = -1;
	s->pty = -1;
	s->cmd = argv_text(argv);
	s->close_timer.cb = on_close_timer;
	s->drain_timer.cb = on_drain_timer;
	s->resume_timer.cb = on_resume_timer;
	s->reap_timer.cb = on_reap_timer;
	s->next = srv->sessions;
	if (s->next)
		s->next->pprev = &s->next;
	srv->sessions = s;
	s->pprev = &srv->sessions;
	if (spdy) {
		/* the streams client-go opens, in its order (remotecommand v2..v4) */
		s->is_spdy = true;
		s->want_in = want_in;
		s->argv = argv;
		s->ns = k8c_xstrdup(names[0]);
		s->pod = k8c_xstrdup(names[1]);
		s->container = k8c_xstrdup(names[2]);
		s->roles[s->nroles++] = R_ERROR;
		if (want_in)
			s->roles[s->nroles++] = R_STDIN;
		if (want_out)
			s->roles[s->nroles++] = R_STDOUT;
		if (want_err && !tty)
			s->roles[s->nroles++] = R_STDERR;
		if (tty)
			s->roles[s->nroles++] = R_RESIZE;
		s->out_eof = s->err_eof = true; /* until the process runs */
		s->z_ready = deflateInit(&s->zout, Z_DEFAULT_COMPRESSION) == Z_OK;
		req->res.status = 101;
		req->res.reason = "Switching Protocols";
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL,
			       H2O_STRLIT("SPDY/3.1"));
		h2o_add_header_by_str(&req->pool, &req->res.headers,
				      H2O_STRLIT("x-stream-protocol-version"), 0, NULL,
				      H2O_STRLIT("v4.channel.k8s.io"));
		h2o_http1_upgrade(req, NULL, 0, spdy_on_upgraded, s);
		k8c_log_debug("exec", "ns=%s pod=%s container=%s protocol=SPDY/3.1", names[0],
			      names[1], names[2]);
		return;
	}
	strv_free(argv);
	sess_attach(s, fds, pid, want_in);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-protocol"),
			      0, NULL, proto_name, strlen(proto_name));
	s->ws = h2o_upgrade_to_websocket(req, key, s, on_ws_msg);
	k8c_log_debug("exec", "ns=%s pod=%s container=%s pid=%d protocol=%s", names[0], names[1],
		      names[2], (int)pid, proto_name);
}

/* ---- server ---- */

struct ns_handler {
	h2o_handler_t super;
	struct k8c_node_server *srv;
};

static bool path_has_prefix(h2o_iovec_t p, const char *prefix)
{
	size_t n = strlen(prefix);

	return p.len > n && memcmp(p.base, prefix, n) == 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct k8c_node_server *srv = ((struct ns_handler *)self)->srv;
	h2o_iovec_t p = req->path_normalized;
	bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
	bool post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
	char *names[3] = {NULL, NULL, NULL};

	if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz"))) {
		send_text(req, 200, "ok");
		return 0;
	}
	if (path_has_prefix(p, "/containerLogs/")) {
		if (!get) {
			send_text(req, 405, "method not allowed");
			return 0;
		}
		if (!split_path(p, strlen("/containerLogs/"), names)) {
			send_text(req, 404,
				  "not found: expected /containerLogs/{namespace}/{pod}/"
				  "{container}");
			return 0;
		}
		serve_logs(srv, req, names);
	} else if (path_has_prefix(p, "/exec/")) {
		if (!get && !post) {
			send_text(req, 405, "method not allowed");
			return 0;
		}
		if (!split_path(p, strlen("/exec/"), names)) {
			send_text(req, 404,
				  "not found: expected /exec/{namespace}/{pod}/{container}");
			return 0;
		}
		serve_exec(srv, req, names);
	} else {
		send_text(req, 404, "404 page not found");
		return 0;
	}
	for (int i = 0; i < 3; i++)
		free(names[i]);
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_accept_ctx_t *actx = listener->data;
	h2o_socket_t *sock;

	if (err || !(sock = h2o_evloop_socket_accept(listener)))
		return;
	h2o_accept(actx, sock);
}

static void *thread_run(void *arg)
{
	struct k8c_node_server *srv = arg;

	while (!atomic_load(&srv->stop))
		h2o_evloop_run(srv->ctx.loop, 100);
	/* stop: no new connections, exec'd processes killed and reaped */
	h2o_socket_read_stop(srv->lsock);
	h2o_socket_close(srv->lsock);
	srv->lsock = NULL;
	for (struct exec_sess *s = srv->sessions; s; s = s->next) {
		if (s->pidsock) {
			int status;

			kill(s->pid, SIGKILL);
			if (!srv->ops.wait_exit)
				waitpid(s->pid, &status, 0);
		}
	}
	h2o_context_request_shutdown(&srv->ctx);
	return NULL;
}

struct k8c_node_server *k8c_node_server_start(const struct k8c_node_server_config *cfg,
					      const struct k8c_node_server_ops *ops,
					      struct k8c_error *err)
{
	struct k8c_node_server *srv;
	struct ns_handler *h;
	h2o_pathconf_t *pc;

	if (!ops || !ops->log_path || !ops->exec) {
		k8c_error_set(err, 0, "node server: log_path and exec are required");
		return NULL;
	}
	srv = k8c_xmalloc(sizeof(*srv));
	memset(srv, 0, sizeof(*srv));
	srv->ops = *ops;
	srv->lfd = -1;
	if (!(srv->ssl_ctx = tls_context(cfg, err)))
		goto fail;
	srv->lfd = k8c_tcp_listen(cfg->address && *cfg->address ? cfg->address : "0.0.0.0",
				  cfg->port > 0	   ? cfg->port
				  : cfg->port == 0 ? 10250
						   : 0,
				  0, &srv->port, err);
	if (srv->lfd < 0)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	h2o_config_init(&srv->conf);
	pc = h2o_config_register_path(
		h2o_config_register_host(&srv->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535),
		"/", 0);
	h = (struct ns_handler *)h2o_create_handler(pc, sizeof(*h));
	h->super.on_req = on_req;
	h->srv = srv;
	h2o_context_init(&srv->ctx, h2o_evloop_create(), &srv->conf);
	h2o_timeout_init(srv->ctx.loop, &srv->poll_timeout, POLL_MS);
	h2o_timeout_init(srv->ctx.loop, &srv->close_timeout, CLOSE_MS);
	h2o_timeout_init(srv->ctx.loop, &srv->drain_timeout, DRAIN_MS);
	srv->actx.ctx = &srv->ctx;
	srv->actx.hosts = srv->conf.hosts;
	srv->actx.ssl_ctx = srv->ssl_ctx;
	srv->lsock = h2o_evloop_socket_create(srv->ctx.loop, srv->lfd, H2O_SOCKET_FLAG_DONT_READ);
	srv->lfd = -1;
	srv->lsock->data = &srv->actx;
	h2o_socket_read_start(srv->lsock, on_accept);
	if (pthread_create(&srv->tid, NULL, thread_run, srv) != 0) {
		k8c_error_set(err, 0, "node server: thread creation failed");
		h2o_socket_close(srv->lsock);
		goto fail;
	}
	k8c_log_info("node server listening", "port=%d", srv->port);
	return srv;
fail:
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->ssl_ctx)
		SSL_CTX_free(srv->ssl_ctx);
	free(srv);
	return NULL;
}

int k8c_node_server_port(const struct k8c_node_server *s)
{
	return s->port;
}

void k8c_node_server_stop(struct k8c_node_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->tid, NULL);
	/* the loop and its streams are left to the process's exit (h2o 2.2.5 has no teardown) */
}

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "cleanup.h"
#include "kube_client.h"
#include "log.h"

#define REQUEST_TIMEOUT_S 60
#define CONNECT_TIMEOUT_S 10

struct k8c_kube {
	CURLM *multi;
	CURL *easy;
	char *server;
	char *source; /* the kubeconfig, for messages */
	char *auth;   /* "Authorization: Bearer ..." or NULL */
	char *ua;
	atomic_bool stop;
	bool insecure, h2;
	char reason[64];
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int k8c_gvr_parse(char *s, struct k8c_gvr *out, struct k8c_error *err)
{
	char *a = strchr(s, '/'), *b;

	if (!a)
		goto bad;
	b = strchr(a + 1, '/');
	*a = '\0';
	if (!b) { /* "v1/pods" */
		*out = K8C_GVR("", s, a + 1);
	} else {
		*b = '\0';
		if (strchr(b + 1, '/'))
			goto bad;
		*out = K8C_GVR(s, a + 1, b + 1);
	}
	if (!*out->version || !*out->resource)
		goto bad;
	return 0;
bad:
	return k8c_error_set(
		err, 0, "resource \"%s\": expected VERSION/RESOURCE or GROUP/VERSION/RESOURCE", s);
}

static int set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
	struct curl_blob blob = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};

	return curl_easy_setopt(e, opt, &blob) == CURLE_OK ? 0 : -1;
}

struct k8c_kube *k8c_kube_new(const struct k8c_kubeconfig *cfg, const char *user_agent,
			      struct k8c_error *err)
{
	struct k8c_kube *c;
	CURL *e;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		k8c_error_set(err, 0, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	c = k8c_xcalloc(1, sizeof(*c));
	c->server = k8c_xstrdup(cfg->server);
	c->source = k8c_xstrdup(cfg->source ? cfg->source : "kubeconfig");
	c->ua = k8c_xstrdup(user_agent ? user_agent : "k8c/" K8C_VERSION);
	c->insecure = cfg->insecure;
	if (cfg->token)
		c->auth = k8c_xasprintf("Authorization: Bearer %s", cfg->token);
	c->multi = curl_multi_init();
	c->easy = e = curl_easy_init();
	if (!c->multi || !e)
		abort();
	/* Options that stay for every request of this client. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->ua);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (cfg->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (cfg->ca && set_blob(e, CURLOPT_CAINFO_BLOB, cfg->ca, cfg->ca_len) < 0) {
		k8c_error_set(err, 0, "%s: this libcurl cannot take a CA from memory", c->source);
		goto fail;
	}
	if (cfg->cert) {
		if (set_blob(e, CURLOPT_SSLCERT_BLOB, cfg->cert, cfg->cert_len) < 0 ||
		    set_blob(e, CURLOPT_SSLKEY_BLOB, cfg->key, cfg->key_len) < 0) {
			k8c_error_set(
				err, 0,
				"%s: this libcurl cannot take a client certificate from memory",
				c->source);
			goto fail;
		}
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	return c;
fail:
	k8c_kube_free(c);
	return NULL;
}

void k8c_kube_free(struct k8c_kube *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->easy);
	curl_multi_cleanup(c->multi);
	free(c->server);
	free(c->source);
	if (c->auth)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	free(c->ua);
	free(c);
}

void k8c_kube_interrupt(struct k8c_kube *c)
{
	atomic_store(&c->stop, true);
	curl_multi_wakeup(c->multi);
}

bool k8c_kube_interrupted(struct k8c_kube *c)
{
	return atomic_load(&c->stop);
}

const char *k8c_kube_last_reason(struct k8c_kube *c)
{
	return c->reason;
}

const char *k8c_kube_server(struct k8c_kube *c)
{
	return c->server;
}

bool k8c_kube_last_http2(struct k8c_kube *c)
{
	return c->h2;
}

static const char *group_prefix(struct k8c_gvr gvr)
{
	return gvr.group && *gvr.group ? "/apis/" : "/api";
}

char *k8c_kube_path(struct k8c_gvr gvr, const char *ns, const char *name, const char *sub)
{
	bool core = !gvr.group || !*gvr.group;

	return k8c_xasprintf("%s%s/%s%s%s/%s%s%s%s%s", group_prefix(gvr), core ? "" : gvr.group,
			     gvr.version, ns ? "/namespaces/" : "", ns ? ns : "", gvr.resource,
			     name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
}

/* ---- JSON value stream ---- */

void k8c_json_stream_reset(struct k8c_json_stream *s)
{
	size_t max = s->max;

	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->max = max;
}

bool k8c_json_stream_idle(const struct k8c_json_stream *s)
{
	return s->depth == 0 && s->start == s->len;
}

int k8c_json_stream_feed(struct k8c_json_stream *s, const char *data, size_t n,
			 k8c_json_value_fn fn, void *arg, struct k8c_error *err)
{
	size_t max = s->max ? s->max : (64u << 20);

	if (s->len + n > s->cap) {
		s->cap = s->cap ? s->cap : 4096;
		while (s->cap < s->len + n)
			s->cap *= 2;
		s->buf = k8c_xrealloc(s->buf, s->cap);
	}
	if (n)
		memcpy(s->buf + s->len, data, n);
	s->len += n;
	for (size_t i = s->scan; i < s->len; i++) {
		char ch = s->buf[i];

		if (s->depth == 0) {
			if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
				s->start = i + 1;
				continue;
			}
			if (ch != '{' && ch != '[')
				return k8c_error_set(
					err, 0, "JSON stream: unexpected '%c' between values", ch);
			s->start = i;
			s->depth = 1;
			continue;
		}
		if (s->in_string) {
			if (s->escape)
				s->escape = false;
			else if (ch == '\\')
				s->escape = true;
			else if (ch == '"')
				s->in_string = false;
			continue;
		}
		if (ch == '"') {
			s->in_string = true;
		} else if (ch == '{' || ch == '[') {
			s->depth++;
		} else if ((ch == '}' || ch == ']') && --s->depth == 0) {
			json_error_t jerr;
			json_t *v = json_loadb(s->buf + s->start, i + 1 - s->start, 0, &jerr);
			int r;

			if (!v)
				return k8c_error_set(err, 0, "JSON stream: %s (offset %d)",
						     jerr.text, jerr.position);
			r = fn(v, arg, err);
			json_decref(v);
			if (r < 0)
				return -1;
			s->start = i + 1;
		}
	}
	s->scan = s->len;
	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, s->len - s->start);
		s->len -= s->start;
		s->scan -= s->start;
		s->start = 0;
	}
	if (s->len > max)
		return k8c_error_set(err, 0, "JSON stream: a value is larger than %zu bytes", max);
	return 0;
}

/* ---- requests ---- */

struct xfer {
	struct k8c_kube *c;
	char *body; /* the answer (non-streaming, or an error answer of a watch) */
	size_t len, cap;
	/* watch */
	bool streaming;
	struct k8c_json_stream js;
	k8c_watch_fn fn;
	void *arg;
	struct k8c_error *err;
	bool failed; /* fn or the stream parser failed: err is set */
};

static void body_append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		x->cap = x->cap ? x->cap : 16384;
		while (x->cap < x->len + n + 1)
			x->cap *= 2;
		x->body = k8c_xrealloc(x->body, x->cap);
	}
	memcpy(x->body + x->len, p, n);
	x->len += n;
	x->body[x->len] = '\0';
}

static int status_error(const char *what, json_t *status, long http, const char *kind_hint,
			struct k8c_kube *c, struct k8c_error *err)
{
	const char *reason = json_string_value(json_object_get(status, "reason"));
	const char *message = json_string_value(json_object_get(status, "message"));
	json_int_t code = json_integer_value(json_object_get(status, "code"));

	if (!code)
		code = http;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	return k8c_error_set(err, (int)code, "%s: %s%lld %s: %s", what, kind_hint, (long long)code,
			     reason ? reason : "", message ? message : "(no message)");
}

static int watch_event(json_t *ev, void *arg, struct k8c_error *err)
{
	struct xfer *x = arg;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");

	if (!type || !json_is_object(obj))
		return k8c_error_set(err, 0, "watch: an event without type or object");
	if (!strcmp(type, "ERROR"))
		return status_error("watch", obj, 500, "ERROR event ", x->c, err);
	return x->fn(type, obj, x->arg, err);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	long code = 0;

	n *= size;
	if (x->streaming) {
		curl_easy_getinfo(x->c->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300) {
			if (k8c_json_stream_feed(&x->js, p, n, watch_event, x, x->err) < 0) {
				x->failed = true;
				return 0; /* aborts the transfer */
			}
			return n;
		}
	}
	if (x->len + n > (256u << 20)) { /* a list answer of 256 MiB: something is wrong */
		k8c_error_set(x->err, 0, "answer larger than 256 MiB");
		x->failed = true;
		return 0;
	}
	body_append(x, p, n);
	return n;
}

/* Append "&key=escaped(value)" to *q when value is set. */
static void query_add(CURL *e, char **q, const char *key, const char *value)
{
	char *esc, *n;

	if (!value)
		return;
	esc = curl_easy_escape(e, value, 0);
	if (!esc)
		abort();
	n = *q ? k8c_xasprintf("%s&%s=%s", *q, key, esc) : k8c_xasprintf("%s=%s", key, esc);
	curl_free(esc);
	free(*q);
	*q = n;
}

static int perform_once(struct k8c_kube *c, const char *method, const char *path, const char *query,
			const json_t *body, const char *content_type, struct xfer *x, long *http,
			CURLcode *result, struct k8c_error *err)
{
	CURL *e = c->easy;
	_cleanup_free_ char *url = NULL, *payload = NULL, *ct = NULL, *what = NULL;
	struct curl_slist *hdrs = NULL;
	CURLcode rc = CURLE_OK;
	CURLMsg *msg;
	long ver = 0;
	int running = 1, left;

	c->reason[0] = '\0';
	c->errbuf[0] = '\0';
	what = k8c_xasprintf("%s %s", method, path);
	if (atomic_load(&c->stop))
		return k8c_error_set(err, 0, "%s: interrupted", what);
	url = k8c_xasprintf("%s%s%s%s", c->server, path, query && *query ? "?" : "",
			    query ? query : "");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->auth)
		hdrs = curl_slist_append(hdrs, c->auth);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (!payload)
			abort();
		ct = k8c_xasprintf("Content-Type: %s",
				   content_type ? content_type : "application/json");
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, x->streaming ? 0L : (long)REQUEST_TIMEOUT_S);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		abort();
	while (running) {
		if (atomic_load(&c->stop))
			break;
		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
			rc = msg->data.result;
	curl_multi_remove_handle(c->multi, e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, http);
	curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &ver);
	c->h2 = ver == CURL_HTTP_VERSION_2_0;
	*result = rc;
	if (running)
		return k8c_error_set(err, 0, "%s: interrupted", what);
	if (x->failed)
		return k8c_error_wrap(err, "%s", what);
	if (rc != CURLE_OK) {
		const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
			return k8c_error_set(err, 0,
					     "%s%s: %s (the server's certificate is not trusted "
					     "with the CA of %s)",
					     c->server, path, detail, c->source);
		return k8c_error_set(err, 0, "%s %s%s: %s", method, c->server, path, detail);
	}
	if (*http < 200 || *http > 299) {
		_cleanup_json_ json_t *st = x->body ? json_loadb(x->body, x->len, 0, NULL) : NULL;

		if (json_is_object(st) &&
		    !strcmp(json_string_value(json_object_get(st, "kind")) ?: "", "Status"))
			return status_error(what, st, *http, "", c, err);
		return k8c_error_set(err, (int)*http, "%s: HTTP %ld: %.200s", what, *http,
				     x->body ? x->body : "(empty answer)");
	}
	return 0;
}

/*
 * A reused connection the server has closed meanwhile (idle, GOAWAY) fails before any answer
 * arrives ("Error in the HTTP2 framing layer", "Send failure", "Empty reply"): the request was
 * not processed, so it is sent once more on a new connection. GETs are also retried after a
 * receive error (they change nothing). Nothing is retried once an answer came, nor a watch.
 */
static bool retryable(const char *method, CURLcode rc, long http, const struct xfer *x)
{
	if (http != 0 || x->len || x->failed || x->streaming) /* watches: the informer resumes */
		return false;
	if (rc == CURLE_HTTP2 || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING)
		return true;
	return strcmp(method, "GET") == 0 && (rc == CURLE_RECV_ERROR || rc == CURLE_HTTP2_STREAM);
}

static int perform(struct k8c_kube *c, const char *method, const char *path, const char *query,
		   const json_t *body, const char *content_type, struct xfer *x, long *http,
		   struct k8c_error *err)
{
	CURLcode rc = CURLE_OK;
	int r = perform_once(c, method, path, query, body, content_type, x, http, &rc, err);

	if (r == 0 || !retryable(method, rc, *http, x) || atomic_load(&c->stop))
		return r;
	k8c_log(K8C_LOG_DEBUG, "api client", "retry=\"%s\" error=\"%s\"", path,
		err->msg ? err->msg : "");
	k8c_error_clear(err);
	curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 1L);
	r = perform_once(c, method, path, query, body, content_type, x, http, &rc, err);
	curl_easy_setopt(c->easy, CURLOPT_FRESH_CONNECT, 0L);
	return r;
}

int k8c_kube_request(struct k8c_kube *c, const char *method, const char *path, const char *query,
		     const json_t *body, const char *content_type, json_t **out,
		     struct k8c_error *err)
{
	struct xfer x = {.c = c, .err = err};
	json_error_t jerr;
	long http = 0;
	int r;

	if (out)
		*out = NULL;
	r = perform(c, method, path, query, body, content_type, &x, &http, err);
	if (r == 0 && out) {
		*out = x.body ? json_loadb(x.body, x.len, 0, &jerr) : NULL;
		if (!*out)
			r = k8c_error_set(err, 0, "%s %s: the answer is not JSON: %s", method, path,
					  x.body ? jerr.text : "empty");
	}
	free(x.body);
	return r;
}

int k8c_kube_request_text(struct k8c_kube *c, const char *path, const char *query, char **out,
			  size_t *len, struct k8c_error *err)
{
	struct xfer x = {.c = c, .err = err};
	long http = 0;
	int r = perform(c, "GET", path, query, NULL, NULL, &x, &http, err);

	if (r < 0) {
		free(x.body);
		return r;
	}
	*len = x.len;
	*out = x.body ? k8c_xrealloc(x.body, x.len + 1) : k8c_xmalloc(1);
	(*out)[x.len] = 0;
	return 0;
}

int k8c_kube_get(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		 json_t **out, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, name, NULL);

	return k8c_kube_request(c, "GET", path, NULL, NULL, NULL, out, err);
}

int k8c_kube_list(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
		  const struct k8c_list_opts *opts, json_t **items_out, char **rv_out,
		  struct k8c_error *err)
{
	static const struct k8c_list_opts none;
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, NULL, NULL);
	_cleanup_free_ char *base = NULL, *cont = NULL;
	_cleanup_json_ json_t *items = json_array();
	bool restarted = false;
	char lim[32];

	*items_out = NULL;
	*rv_out = NULL;
	if (!opts)
		opts = &none;
	query_add(c->easy, &base, "labelSelector", opts->label_selector);
	query_add(c->easy, &base, "fieldSelector", opts->field_selector);
	if (opts->limit > 0) {
		snprintf(lim, sizeof(lim), "%ld", opts->limit);
		query_add(c->easy, &base, "limit", lim);
	}
	for (;;) {
		_cleanup_free_ char *q = NULL;
		_cleanup_json_ json_t *page = NULL;
		json_t *meta, *its;
		const char *rv, *next;

		q = k8c_xstrdup(base ? base : "");
		query_add(c->easy, &q, "continue", cont);
		if (k8c_kube_request(c, "GET", path, q, NULL, NULL, &page, err) < 0) {
			if (err->code == 410 && cont && !restarted) {
				/* The snapshot of the first page was compacted: start again. */
				restarted = true;
				free(cont);
				cont = NULL;
				json_array_clear(items);
				continue;
			}
			return -1;
		}
		meta = json_object_get(page, "metadata");
		its = json_object_get(page, "items");
		rv = json_string_value(json_object_get(meta, "resourceVersion"));
		if (!rv || (its && !json_is_array(its) && !json_is_null(its)))
			return k8c_error_set(err, 0, "GET %s: not a list (no resourceVersion)",
					     path);
		if (json_is_array(its))
			json_array_extend(items, its);
		next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = next && *next ? k8c_xstrdup(next) : NULL;
		if (!cont) {
			*rv_out = k8c_xstrdup(rv);
			break;
		}
	}
	*items_out = k8c_steal_ptr(items);
	return 0;
}

static const char *obj_name(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

int k8c_kube_create(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const json_t *obj,
		    json_t **out, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, NULL, NULL);

	return k8c_kube_request(c, "POST", path, NULL, obj, NULL, out, err);
}

static int update_sub(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const json_t *obj,
		      const char *sub, json_t **out, struct k8c_error *err)
{
	const char *name = obj_name(obj);
	_cleanup_free_ char *path = NULL;

	if (!name || !*name)
		return k8c_error_set(err, 0, "update %s: the object has no metadata.name",
				     gvr.resource);
	path = k8c_kube_path(gvr, ns, name, sub);
	return k8c_kube_request(c, "PUT", path, NULL, obj, NULL, out, err);
}

int k8c_kube_update(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const json_t *obj,
		    json_t **out, struct k8c_error *err)
{
	return update_sub(c, gvr, ns, obj, NULL, out, err);
}

int k8c_kube_update_status(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
			   const json_t *obj, json_t **out, struct k8c_error *err)
{
	return update_sub(c, gvr, ns, obj, "status", out, err);
}

int k8c_patch_type_parse(const char *s)
{
	if (!strcmp(s, "merge"))
		return K8C_PATCH_MERGE;
	if (!strcmp(s, "strategic"))
		return K8C_PATCH_STRATEGIC;
	if (!strcmp(s, "json"))
		return K8C_PATCH_JSON;
	return -1;
}

int k8c_kube_patch(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		   const char *sub, enum k8c_patch_type type, const json_t *patch, json_t **out,
		   struct k8c_error *err)
{
	static const char *const ct[] = {
		[K8C_PATCH_MERGE] = "application/merge-patch+json",
		[K8C_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
		[K8C_PATCH_JSON] = "application/json-patch+json",
	};
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, name, sub);

	return k8c_kube_request(c, "PATCH", path, NULL, patch, ct[type], out, err);
}

int k8c_kube_delete(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns, const char *name,
		    const json_t *options, json_t **out, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, name, NULL);
	_cleanup_json_ json_t *opts = NULL;

	if (options && !json_object_get(options, "kind")) {
		opts = json_deep_copy(options);
		json_object_set_new(opts, "kind", json_string("DeleteOptions"));
		json_object_set_new(opts, "apiVersion", json_string("v1"));
		options = opts;
	}
	return k8c_kube_request(c, "DELETE", path, NULL, options, NULL, out, err);
}

int k8c_kube_watch(struct k8c_kube *c, struct k8c_gvr gvr, const char *ns,
		   const struct k8c_watch_opts *opts, k8c_watch_fn fn, void *arg,
		   struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_kube_path(gvr, ns, NULL, NULL);
	_cleanup_free_ char *q = k8c_xstrdup("watch=1");
	struct xfer x = {.c = c, .err = err, .streaming = true, .fn = fn, .arg = arg};
	char tmo[32];
	long http = 0;
	int r;

	query_add(c->easy, &q, "labelSelector", opts->label_selector);
	query_add(c->easy, &q, "fieldSelector", opts->field_selector);
	query_add(c->easy, &q, "resourceVersion", opts->resource_version);
	if (opts->allow_bookmarks)
		query_add(c->easy, &q, "allowWatchBookmarks", "true");
	if (opts->timeout_seconds > 0) {
		snprintf(tmo, sizeof(tmo), "%ld", opts->timeout_seconds);
		query_add(c->easy, &q, "timeoutSeconds", tmo);
	}
	r = perform(c, "GET", path, q, NULL, NULL, &x, &http, err);
	if (r == 0 && !k8c_json_stream_idle(&x.js))
		r = k8c_error_set(err, 0, "GET %s (watch): the stream ended inside an event", path);
	k8c_json_stream_reset(&x.js);
	free(x.body);
	return r;
}

/*
 * Watch streams: ?watch=true on a collection. Each watch has a store watch whose eventfd is
 * polled from the loop; events are decoded, filtered by the selectors and written as JSON lines
 * to the chunked response.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"

/* a watch whose client does not keep up is ended once this much is queued */
#define WATCH_MAX_PENDING (16u * 1024 * 1024)

struct api_watch {
	h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
	struct api *api;
	h2o_req_t *req;
	struct store_watch *sw;
	h2o_socket_t *sock; /* a dup of the store watch's eventfd in the loop */
	uint64_t deadline;  /* h2o_now() milliseconds; 0 = none */
	struct api_watch *next, **pprev;
	char *pending, *inflight;
	size_t pending_len, pending_cap;
	bool sending, done, finished, stopped;
	bool table;
	const struct api_resource *r;
	int64_t last_rev; /* of the last event delivered (or the watch's start) */
	struct selector fields, labels;
};

/* Release what can call us back: store watch, fd, timer; the request may live on. */
static void watch_release(struct api_watch *w)
{
	if (w->sock) {
		h2o_socket_read_stop(w->sock);
		h2o_socket_close(w->sock);
		w->sock = NULL;
	}
	if (w->sw) {
		store_watch_close(w->sw);
		w->sw = NULL;
	}
	if (w->pprev) {
		*w->pprev = w->next;
		if (w->next)
			w->next->pprev = w->pprev;
		w->pprev = NULL;
		w->next = NULL;
	}
}

void api_watch_close(struct api_watch *w)
{
	watch_release(w);
}

static void watch_dispose(void *p)
{
	struct api_watch *w = p;

	watch_release(w);
	free(w->pending);
	free(w->inflight);
	selector_free(&w->fields);
	selector_free(&w->labels);
}

static void watch_append(struct api_watch *w, const char *type, json_t *obj)
{
	_cleanup_json_ json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
	_cleanup_free_ char *s = json_dumps(ev, JSON_COMPACT);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (w->pending_len + n + 1 > w->pending_cap) {
		w->pending_cap = (w->pending_len + n + 1) * 2;
		w->pending = k8c_xrealloc(w->pending, w->pending_cap);
	}
	memcpy(w->pending + w->pending_len, s, n);
	w->pending[w->pending_len + n] = '\n';
	w->pending_len += n + 1;
}

static void watch_append_object(struct api_watch *w, const char *type, json_t *obj)
{
	if (!selector_match(&w->fields, obj, true) || !selector_match(&w->labels, obj, false))
		return;
	if (w->table) {
		_cleanup_json_ json_t *t = table_one(w->r, obj);

		watch_append(w, type, t);
		return;
	}
	watch_append(w, type, out_version(w->r, obj));
}

static void watch_flush(struct api_watch *w)
{
	h2o_iovec_t buf;

	if (w->sending || w->stopped || w->finished)
		return;
	if (w->pending_len == 0 && !w->done)
		return;
	free(w->inflight);
	w->inflight = w->pending;
	buf = h2o_iovec_init(w->pending, w->pending_len);
	w->pending = NULL;
	w->pending_len = w->pending_cap = 0;
	w->sending = true;
	if (w->done) {
		w->finished = true;
		watch_release(w);
	}
	h2o_send(w->req, &buf, buf.len ? 1 : 0,
		 w->finished ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void watch_fail(struct api_watch *w, int code, const char *reason, const char *msg)
{
	_cleanup_json_ json_t *st = api_status_new(code, reason, msg);

	watch_append(w, "ERROR", st);
	w->done = true;
}

/* kube-apiserver's wording, which the Python client parses to restart: "... X (Y)". */
static void watch_expired(struct api_watch *w)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *msg = NULL;
	int64_t compacted = 0;

	if (store_compacted(w->api->store, &compacted, &err) < 0)
		k8c_error_clear(&err);
	msg = k8c_xasprintf("too old resource version: %lld (%lld)", (long long)w->last_rev,
			    (long long)compacted);
	watch_fail(w, 410, "Expired", msg);
}

static void watch_pump(struct api_watch *w)
{
	struct store_event *evs[64];
	struct k8c_error err = K8C_ERROR_INIT;
	int n;

	while (w->sw && !w->done) {
		n = store_watch_next(w->sw, evs, 64, &err);
		if (n < 0) {
			if (err.code == STORE_E_EXPIRED)
				watch_expired(w);
			else
				watch_fail(w, 500, "InternalError", err.msg ? err.msg : "store");
			k8c_error_clear(&err);
			break;
		}
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			json_t *obj =
				obj_decode(evs[i]->value, evs[i]->value_len, evs[i]->mod_revision);

			w->last_rev = evs[i]->mod_revision;
			if (obj) {
				watch_append_object(w, store_event_type_name(evs[i]->type), obj);
				json_decref(obj);
			}
			store_event_unref(evs[i]);
		}
		if (w->pending_len > WATCH_MAX_PENDING)
			w->done = true; /* the client re-watches from its last revision */
	}
	watch_flush(w);
}

static void watch_on_readable(h2o_socket_t *sock, const char *err)
{
	struct api_watch *w = sock->data;

	if (sock->input->size)
		h2o_buffer_consume(&sock->input, sock->input->size);
	if (err) {
		watch_fail(w, 500, "InternalError", "watch notification failed");
		watch_flush(w);
		return;
	}
	watch_pump(w);
}

/* timeoutSeconds: checked once a second for every open watch. */
static void watch_on_tick(h2o_timeout_entry_t *entry)
{
	struct api *api = H2O_STRUCT_FROM_MEMBER(struct api, tick_entry, entry);
	uint64_t now = h2o_now(api->loop);
	struct api_watch *w, *next;

	for (w = api->watches; w; w = next) {
		next = w->next;
		if (w->deadline && now >= w->deadline) {
			w->done = true;
			watch_flush(w);
		}
	}
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

void api_watch_start(struct api *api)
{
	h2o_timeout_init(api->loop, &api->tick, 1000);
	api->tick_entry.cb = watch_on_tick;
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

static void watch_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct api_watch *w = (struct api_watch *)gen;

	w->sending = false;
	free(w->inflight);
	w->inflight = NULL;
	watch_flush(w);
}

static void watch_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	struct api_watch *w = (struct api_watch *)gen;

	w->stopped = true;
	watch_release(w);
}

void api_watch_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
		     const char *prefix, const struct selector *fields,
		     const struct selector *labels)
{
	_cleanup_free_ char *rvs = api_query(req, "resourceVersion");
	_cleanup_free_ char *tos = api_query(req, "timeoutSeconds");
	struct k8c_error err = K8C_ERROR_INIT;
	struct api_watch *w;
	int64_t rev, start;
	long long timeout = 0;
	int fd;

	if (!parse_rev(rvs, &rev)) {
		selector_free((struct selector *)fields);
		selector_free((struct selector *)labels);
		api_send_status(req, 400, "BadRequest", NULL, "invalid resourceVersion \"%s\"",
				rvs);
		return;
	}
	if (tos && *tos) {
		char *end;

		timeout = strtoll(tos, &end, 10);
		if (*end || timeout < 0) {
			selector_free((struct selector *)fields);
			selector_free((struct selector *)labels);
			api_send_status(req, 400, "BadRequest", NULL,
					"invalid timeoutSeconds \"%s\"", tos);
			return;
		}
	}
	w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), watch_dispose);
	memset(w, 0, sizeof(*w));
	w->gen.proceed = watch_proceed;
	w->gen.stop = watch_stop;
	w->api = api;
	w->req = req;
	w->table = api_wants_table(req);
	w->r = r;
	w->fields = *fields;
	w->labels = *labels;
	start = rev;
	if (rev == 0) {
		/* no revision: synthetic ADDED events for the current state first */
		struct store_list l = {0};

		if (store_list(api->store, prefix, 0, 0, NULL, &l, &err) < 0) {
			/* w owns the selectors already: watch_dispose frees them */
			api_send_store_error(req, &err, r->resource, "");
			k8c_error_clear(&err);
			return;
		}
		for (size_t i = 0; i < l.n; i++) {
			json_t *obj = obj_decode(l.items[i].value, l.items[i].value_len,
						 l.items[i].mod_revision);

			if (obj) {
				watch_append_object(w, "ADDED", obj);
				json_decref(obj);
			}
		}
		start = l.revision;
		store_list_free(&l);
	}
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_start_response(req, &w->gen);
	w->last_rev = start;
	if (store_watch(api->store, prefix, start, &w->sw, &err) < 0) {
		/* too old a revision: 200 and an ERROR event, as the Python client expects */
		if (err.code == STORE_E_EXPIRED)
			watch_expired(w);
		else
			watch_fail(w, 500, "InternalError", err.msg ? err.msg : "watch failed");
		k8c_error_clear(&err);
		watch_flush(w);
		return;
	}
	w->next = api->watches;
	if (w->next)
		w->next->pprev = &w->next;
	api->watches = w;
	w->pprev = &api->watches;
	fd = dup(store_watch_fd(w->sw));
	if (fd < 0) {
		watch_fail(w, 500, "InternalError", "dup of the watch fd failed");
		watch_flush(w);
		return;
	}
	w->sock = h2o_evloop_socket_create(api->loop, fd, 0);
	w->sock->data = w;
	h2o_socket_read_start(w->sock, watch_on_readable);
	if (timeout > 0)
		w->deadline = h2o_now(api->loop) + (uint64_t)timeout * 1000;
	/* send the headers (and any initial events) now: clients wait for them */
	w->sending = true;
	{
		h2o_iovec_t buf = h2o_iovec_init(w->pending, w->pending_len);

		w->inflight = w->pending;
		w->pending = NULL;
		w->pending_len = w->pending_cap = 0;
		h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_IN_PROGRESS);
	}
}

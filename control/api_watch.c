/*
 * Watch streams: ?watch=true on a collection. Each watch has a store watch whose eventfd is
 * polled from its thread's loop; events are filtered by the selectors and written as JSON lines
 * to the chunked response.
 *
 * Fan-out: every watcher of a thread receives the same store events (refcounted, shared), so
 * each event is decoded once per thread and encoded once per (resource version, output form)
 * in the thread's cache (struct watch_cache, indexed by revision); a watcher copies the
 * encoded line into its output buffer. With 1,000 watchers that is one JSON decode and one
 * encode per event instead of a thousand.
 *
 * Bookmarks (allowWatchBookmarks): a BOOKMARK event, an object of the kind with only
 * metadata.resourceVersion, about every BOOKMARK_MS and 2 s before timeoutSeconds, as
 * kube-apiserver's watch cache. sendInitialEvents=true (with resourceVersionMatch=NotOlderThan
 * and allowWatchBookmarks): ADDED for every object, then a BOOKMARK annotated
 * "k8s.io/initial-events-end": "true", then the changes (the streaming list of KEP-3157).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"

/* a watch whose client does not keep up is ended once this much is queued */
#define WATCH_MAX_PENDING (1u * 1024 * 1024)

/*
 * A watcher woken by its store watch (or still hot, watch_pump) is pumped at most this many ms
 * later, together with the others woken meanwhile: one send per stream and one TLS write per
 * connection carry several events, instead of a wakeup, a read, a send and a write per event
 * and watcher. 20 ms rather than 5: a quarter of the wakeups, sends and writes per second on
 * both ends with 1,000 busy watchers (docs/BENCHMARKS.md), well inside kube's watch latency.
 */
#define BATCH_MS 20

/* a watcher's output buffers start at this size; a larger one is not kept once sent */
#define BUF_MIN	 (4u * 1024)
#define BUF_KEEP (64u * 1024)

/* bookmarks about every minute, as kube-apiserver */
#define BOOKMARK_MS 60000

/* events kept encoded per thread (a power of 2); watchers further behind encode again */
#define CACHE_SIZE  2048
#define CACHE_FORMS 4

struct cache_form {
	const struct api_resource *r;
	bool table;
	char *line; /* {"type":...,"object":...}\n */
	size_t len;
};

struct cache_entry {
	struct store_event *ev; /* a reference; NULL = empty */
	json_t *obj;		/* the stored object with its resourceVersion; NULL = not JSON */
	struct cache_form forms[CACHE_FORMS];
	int n_forms;
};

/* A thread's watch state: the encoded events and the watchers with events to pump. */
struct watch_cache {
	struct cache_entry e[CACHE_SIZE];
	h2o_timeout_t batch; /* pumps the ready watchers BATCH_MS after the first got ready */
	h2o_timeout_entry_t batch_entry;
	struct api_watch *ready;
	size_t live; /* watch responses of the thread not yet freed */
};

struct api_watch {
	h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
	struct api *api;
	h2o_req_t *req;
	struct store_watch *sw;
	h2o_socket_t *sock; /* a dup of the store watch's eventfd in the loop */
	uint64_t deadline;  /* h2o_now() milliseconds; 0 = none */
	struct api_watch *next, **pprev;
	char *pending, *inflight, *spare; /* spare: the last sent buffer, reused */
	size_t pending_len, pending_cap, inflight_cap, spare_cap;
	bool sending, done, finished, stopped;
	bool table, bookmarks;
	bool queued; /* on the thread's ready list */
	struct api_watch *ready_next, **ready_pprev;
	uint64_t next_bookmark; /* h2o_now() milliseconds; 0 = none */
	const struct api_resource *r;
	int64_t last_rev; /* of the last event delivered (or the watch's start) */
	struct selector fields, labels;
};

/* Release what can call us back: store watch, fd, timer; the request may live on. */
static void watch_release(struct api_watch *w)
{
	if (w->queued) {
		*w->ready_pprev = w->ready_next;
		if (w->ready_next)
			w->ready_next->ready_pprev = w->ready_pprev;
		w->queued = false;
	}
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
	if (w->api->watch_cache)
		w->api->watch_cache->live--;
	free(w->pending);
	free(w->inflight);
	free(w->spare);
	selector_free(&w->fields);
	selector_free(&w->labels);
}

static void watch_append_bytes(struct api_watch *w, const char *s, size_t n)
{
	if (w->pending_len + n > w->pending_cap) {
		w->pending_cap = (w->pending_len + n) * 2;
		if (w->pending_cap < BUF_MIN)
			w->pending_cap = BUF_MIN;
		w->pending = k8c_xrealloc(w->pending, w->pending_cap);
	}
	memcpy(w->pending + w->pending_len, s, n);
	w->pending_len += n;
}

/* {"type":type,"object":obj}\n, malloc'd, its length in *len; NULL when obj is not encodable. */
static char *event_line(const char *type, json_t *obj, size_t *len)
{
	_cleanup_json_ json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
	char *s = json_dumps(ev, JSON_COMPACT);
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	s = k8c_xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	*len = n + 1;
	return s;
}

static void watch_append(struct api_watch *w, const char *type, json_t *obj)
{
	size_t n;
	_cleanup_free_ char *s = event_line(type, obj, &n);

	if (s)
		watch_append_bytes(w, s, n);
}

/* The line of obj as w sends it: its Table row or its served version. */
static char *object_line(const struct api_resource *r, bool table, const char *type, json_t *obj,
			 size_t *len)
{
	if (table) {
		_cleanup_json_ json_t *t = table_one(r, obj);

		return event_line(type, t, len);
	}
	if (r->from_storage) {
		_cleanup_json_ json_t *copy = json_deep_copy(obj);

		return event_line(type, out_version(r, copy), len);
	}
	return event_line(type, obj, len);
}

static void watch_append_object(struct api_watch *w, const char *type, json_t *obj)
{
	size_t n;
	_cleanup_free_ char *s = NULL;

	if (!selector_match(&w->fields, obj, true) || !selector_match(&w->labels, obj, false))
		return;
	if ((s = object_line(w->r, w->table, type, obj, &n)))
		watch_append_bytes(w, s, n);
}

static void cache_entry_clear(struct cache_entry *e)
{
	for (int i = 0; i < e->n_forms; i++)
		free(e->forms[i].line);
	e->n_forms = 0;
	json_decref(e->obj);
	e->obj = NULL;
	if (e->ev)
		store_event_unref(e->ev);
	e->ev = NULL;
}

/* The thread's cache entry of ev, decoded. */
static struct cache_entry *cache_get(struct api *api, struct store_event *ev)
{
	struct cache_entry *e;

	e = &api->watch_cache->e[(size_t)ev->mod_revision & (CACHE_SIZE - 1)];
	if (!e->ev || e->ev->mod_revision != ev->mod_revision) {
		cache_entry_clear(e);
		e->ev = store_event_ref(ev);
		e->obj = obj_decode(ev->value, ev->value_len, ev->mod_revision);
	}
	return e;
}

void api_watch_cache_free(struct api *api)
{
	if (!api->watch_cache)
		return;
	for (size_t i = 0; i < CACHE_SIZE; i++)
		cache_entry_clear(&api->watch_cache->e[i]);
	if (h2o_timeout_is_linked(&api->watch_cache->batch_entry))
		h2o_timeout_unlink(&api->watch_cache->batch_entry);
	free(api->watch_cache);
	api->watch_cache = NULL;
}

/* Append a store event for w, encoded once per thread and form. */
static void watch_append_event(struct api_watch *w, struct store_event *ev)
{
	struct cache_entry *e = cache_get(w->api, ev);
	struct cache_form *f = NULL;

	if (!e->obj || !selector_match(&w->fields, e->obj, true) ||
	    !selector_match(&w->labels, e->obj, false))
		return;
	for (int i = 0; i < e->n_forms; i++)
		if (e->forms[i].r == w->r && e->forms[i].table == w->table)
			f = &e->forms[i];
	if (!f) {
		struct cache_form tmp = {.r = w->r, .table = w->table};

		tmp.line = object_line(w->r, w->table, store_event_type_name(ev->type), e->obj,
				       &tmp.len);
		if (!tmp.line)
			return;
		if (e->n_forms == CACHE_FORMS) {
			watch_append_bytes(w, tmp.line, tmp.len);
			free(tmp.line);
			return;
		}
		f = &e->forms[e->n_forms++];
		*f = tmp;
	}
	watch_append_bytes(w, f->line, f->len);
}

/* A BOOKMARK: an object of w's kind with only metadata.resourceVersion (and annotations). */
static void watch_bookmark(struct api_watch *w, int64_t rev, bool initial_end)
{
	_cleanup_free_ char *api_version = api_registry_api_version(w->r);
	_cleanup_json_ json_t *obj = NULL;
	char rv[24];

	snprintf(rv, sizeof(rv), "%lld", (long long)rev);
	obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", w->r->kind, "apiVersion", api_version,
			"metadata", "resourceVersion", rv);
	if (initial_end)
		json_object_set_new(json_object_get(obj, "metadata"), "annotations",
				    json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
	watch_append(w, "BOOKMARK", obj);
}

/* Move the pending output to inflight (h2o sends from it) and reuse the spare buffer. */
static void watch_take_pending(struct api_watch *w, h2o_iovec_t *buf)
{
	free(w->inflight);
	w->inflight = w->pending;
	w->inflight_cap = w->pending_cap;
	*buf = h2o_iovec_init(w->pending, w->pending_len);
	w->pending = w->spare;
	w->pending_cap = w->spare_cap;
	w->pending_len = 0;
	w->spare = NULL;
	w->spare_cap = 0;
}

static void watch_flush(struct api_watch *w)
{
	h2o_iovec_t buf;

	if (w->sending || w->stopped || w->finished)
		return;
	if (w->pending_len == 0 && !w->done)
		return;
	watch_take_pending(w, &buf);
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

/* Queue w to be pumped at the thread's next batch (BATCH_MS after the first queued). */
static void watch_enqueue(struct api_watch *w)
{
	struct watch_cache *c = w->api->watch_cache;

	if (w->queued)
		return;
	w->queued = true;
	w->ready_next = c->ready;
	if (w->ready_next)
		w->ready_next->ready_pprev = &w->ready_next;
	c->ready = w;
	w->ready_pprev = &c->ready;
	if (!h2o_timeout_is_linked(&c->batch_entry))
		h2o_timeout_link(w->api->loop, &c->batch, &c->batch_entry);
}

/*
 * Drain w's store watch into its output and send it. The store arms the watch's eventfd only
 * when a read finds nothing; a watcher that got events stays "hot" instead: it is read again at
 * the next batch without being armed, so a busy watcher costs no eventfd write, epoll wakeup
 * or eventfd read per batch, only the read of its events. The first batch that finds nothing
 * arms the eventfd, and the watcher waits on it (an idle watch costs nothing).
 */
static void watch_pump(struct api_watch *w)
{
	struct store_event *evs[64];
	struct k8c_error err = K8C_ERROR_INIT;
	bool hot = false;
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
			break; /* armed: the eventfd wakes us */
		for (int i = 0; i < n; i++) {
			w->last_rev = evs[i]->mod_revision;
			watch_append_event(w, evs[i]);
			store_event_unref(evs[i]);
		}
		if (w->pending_len > WATCH_MAX_PENDING)
			w->done = true; /* the client re-watches from its last revision */
		if (n < 64) {
			hot = true; /* not armed: read again at the next batch */
			break;
		}
	}
	watch_flush(w);
	if (hot && w->sw && !w->done && !w->stopped)
		watch_enqueue(w);
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
	/*
	 * the store writes the eventfd again only after a read that found nothing, so there is
	 * no other wakeup until w is pumped: the fd stays in epoll (no epoll_ctl per wakeup)
	 */
	watch_enqueue(w);
}

/* The batch: pump the watchers queued since the last one (hot ones queue themselves again). */
static void watch_on_batch(h2o_timeout_entry_t *entry)
{
	struct watch_cache *c = H2O_STRUCT_FROM_MEMBER(struct watch_cache, batch_entry, entry);
	struct api_watch *list = c->ready, *w;

	c->ready = NULL;
	if (list)
		list->ready_pprev = &list;
	while ((w = list)) {
		list = w->ready_next;
		if (list)
			list->ready_pprev = &list;
		w->queued = false;
		w->ready_next = NULL;
		w->ready_pprev = NULL;
		watch_pump(w);
	}
}

/* When w's next bookmark is due after now: every BOOKMARK_MS, and 2 s before the deadline. */
static uint64_t next_bookmark(const struct api_watch *w, uint64_t now)
{
	uint64_t t = now + BOOKMARK_MS;

	if (w->deadline && w->deadline > now + 2000 && w->deadline - 2000 < t)
		t = w->deadline - 2000;
	return t;
}

/*
 * A periodic bookmark: the store's revision read before draining the watch, so every event up
 * to it has been delivered; a client resuming from it misses nothing.
 */
static void watch_send_bookmark(struct api_watch *w, uint64_t now)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev = 0;

	if (store_revision(w->api->store, &rev, &err) < 0)
		k8c_error_clear(&err);
	watch_pump(w);
	if (w->done || !w->sw)
		return;
	watch_bookmark(w, rev > w->last_rev ? rev : w->last_rev, false);
	w->next_bookmark = next_bookmark(w, now);
	watch_flush(w);
}

/* timeoutSeconds and bookmarks: checked once a second for every open watch. */
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
		} else if (w->next_bookmark && now >= w->next_bookmark) {
			watch_send_bookmark(w, now);
		}
	}
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

void api_watch_start(struct api *api)
{
	api->watch_cache = k8c_xmalloc(sizeof(*api->watch_cache));
	memset(api->watch_cache, 0, sizeof(*api->watch_cache));
	h2o_timeout_init(api->loop, &api->watch_cache->batch, BATCH_MS);
	api->watch_cache->batch_entry.cb = watch_on_batch;
	h2o_timeout_init(api->loop, &api->tick, 1000);
	api->tick_entry.cb = watch_on_tick;
	h2o_timeout_link(api->loop, &api->tick, &api->tick_entry);
}

void api_watch_end_all(struct api *api)
{
	struct api_watch *w, *next;

	for (w = api->watches; w; w = next) {
		next = w->next;
		watch_pump(w); /* what the store has for it: a client resumes after it */
		w->done = true;
		watch_flush(w); /* the end now, or after the write in flight (watch_proceed) */
	}
}

size_t api_watch_live(const struct api *api)
{
	return api->watch_cache ? api->watch_cache->live : 0;
}

static void watch_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	struct api_watch *w = (struct api_watch *)gen;

	w->sending = false;
	free(w->spare);
	w->spare = NULL;
	w->spare_cap = 0;
	if (w->inflight_cap <= BUF_KEEP) {
		w->spare = w->inflight;
		w->spare_cap = w->inflight_cap;
	} else {
		free(w->inflight);
	}
	w->inflight = NULL;
	w->inflight_cap = 0;
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
	_cleanup_free_ char *rvm = api_query(req, "resourceVersionMatch");
	_cleanup_free_ char *sie = api_query(req, "sendInitialEvents");
	bool bookmarks = api_query_bool(req, "allowWatchBookmarks");
	bool initial = sie && (strcmp(sie, "1") == 0 || strcasecmp(sie, "true") == 0);
	const char *forbidden = NULL;
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
	/* kube-apiserver's ListOptions validation for watches */
	if (rvm && *rvm && !sie)
		forbidden =
			"resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for "
			"watch unless sendInitialEvents is provided";
	else if (sie && !(rvm && strcmp(rvm, "NotOlderThan") == 0))
		forbidden = "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
			    "resourceVersionMatch to NotOlderThan";
	else if (initial && !bookmarks)
		forbidden = "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
			    "allowWatchBookmarks to true";
	if (forbidden) {
		selector_free((struct selector *)fields);
		selector_free((struct selector *)labels);
		api_send_status(req, 422, "Invalid",
				json_pack("{s:s, s:s, s:s}", "group", "meta.k8s.io", "kind",
					  "ListOptions", "name", ""),
				"ListOptions.meta.k8s.io \"\" is invalid: %s", forbidden);
		return;
	}
	if (initial && rev > 0) {
		int64_t cur = 0;

		if (store_revision(api->store, &cur, &err) < 0)
			k8c_error_clear(&err);
		if (rev > cur) {
			selector_free((struct selector *)fields);
			selector_free((struct selector *)labels);
			api_send_status(req, 504, "Timeout", NULL,
					"Too large resource version: %lld, current: %lld",
					(long long)rev, (long long)cur);
			return;
		}
	}
	w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), watch_dispose);
	memset(w, 0, sizeof(*w));
	api->watch_cache->live++;
	w->gen.proceed = watch_proceed;
	w->gen.stop = watch_stop;
	w->api = api;
	w->req = req;
	w->table = api_wants_table(req);
	w->bookmarks = bookmarks;
	w->r = r;
	w->fields = *fields;
	w->labels = *labels;
	start = rev;
	if (initial || (rev == 0 && !sie)) {
		/*
		 * no revision (or sendInitialEvents, at least as fresh as the revision): synthetic
		 * ADDED events for the current state first
		 */
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
		if (initial)
			watch_bookmark(w, start, true);
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
	if (bookmarks)
		w->next_bookmark = next_bookmark(w, h2o_now(api->loop));
	/* send the headers (and any initial events) now: clients wait for them */
	w->sending = true;
	{
		h2o_iovec_t buf;

		watch_take_pending(w, &buf);
		h2o_send(req, &buf, buf.len ? 1 : 0, H2O_SEND_STATE_IN_PROGRESS);
	}
}

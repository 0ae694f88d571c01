/*
 * The controller runtime (lib/controller.h, docs/controllers.md): one thread per controller,
 * polling its informers' eventfds, a timerfd for delayed keys and an eventfd for stop; a work
 * queue of keys with dedup, per-key exponential back-off and delayed adds; Events with count
 * aggregation. The manager and leader election are in controller_manager.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include "cleanup.h"
#include "controller.h"
#include "controller_internal.h"
#include "log.h"
#include "objutil.h"

#define BACKOFF_BASE_MS	   5LL
#define BACKOFF_MAX_MS	   (1000LL * 1000)
#define SYNC_BATCH	   64  /* keys synced before the fds are looked at again */
#define EVENT_AGG_WINDOW_S 600 /* repeats within 10 min bump count */
#define EVENT_CACHE_MAX	   4096
#define EVENT_QUEUE_MAX	   1000 /* per controller, as client-go's maxQueuedEvents */
#define EVENT_FLUSH_MS	   2000 /* on stop, queued Events are sent for this long */
#define INIT_RETRY_MIN_MS  1000
#define INIT_RETRY_MAX_MS  30000

struct ctrl_informer {
	struct k8c_informer *inf;
	k8c_delta_fn fn;
	struct k8c_ctrl *c;
	char *resource; /* for logs */
};

struct delayed {
	int64_t due_ms;
	char *key;
};

struct k8c_ctrl {
	const struct k8c_controller_def *def;
	const struct k8c_kubeconfig *cfg;
	char *user_agent;
	const char *component; /* source.component of its Events */
	char *component_buf;
	bool events_held; /* a reference on the process' event broadcaster */
	struct k8c_kube *kube;
	void *data;
	pthread_t thread;
	bool started, inited;
	int stop_fd, timer_fd;
	atomic_bool stopping;

	struct ctrl_informer *infs;
	size_t n_infs;
	bool synced;

	/* the queue: FIFO ring of keys; `queued` is the set of keys in it */
	char **ring;
	size_t ring_cap, ring_head, ring_len;
	json_t *queued;	  /* key → true */
	json_t *failures; /* key → number of failed syncs in a row */
	/* delayed keys: a min-heap on due_ms; `waiting` key → due (stale heap entries skipped) */
	struct delayed *heap;
	size_t heap_len, heap_cap;
	json_t *waiting;
	int64_t timer_armed; /* due_ms the timerfd is set to, 0: disarmed */

	/* counters for tests */
	unsigned long syncs, failed_syncs;
};

int64_t k8c_ctrl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rounded up: a key due at now_ms_ceil() + delay never runs before delay has passed. */
static int64_t now_ms_ceil(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
}

/* ---- the queue ---- */

static void ring_push(struct k8c_ctrl *c, const char *key)
{
	if (c->ring_len == c->ring_cap) {
		size_t ncap = c->ring_cap ? c->ring_cap * 2 : 64;
		char **n = k8c_xmalloc(ncap * sizeof(*n));

		for (size_t i = 0; i < c->ring_len; i++)
			n[i] = c->ring[(c->ring_head + i) % c->ring_cap];
		free(c->ring);
		c->ring = n;
		c->ring_cap = ncap;
		c->ring_head = 0;
	}
	c->ring[(c->ring_head + c->ring_len) % c->ring_cap] = k8c_xstrdup(key);
	c->ring_len++;
}

static char *ring_pop(struct k8c_ctrl *c)
{
	char *k;

	if (!c->ring_len)
		return NULL;
	k = c->ring[c->ring_head];
	c->ring_head = (c->ring_head + 1) % c->ring_cap;
	c->ring_len--;
	return k;
}

void k8c_ctrl_enqueue(struct k8c_ctrl *c, const char *key)
{
	if (!key || !*key || json_object_get(c->queued, key))
		return;
	json_object_set_new(c->queued, key, json_true());
	ring_push(c, key);
}

void k8c_ctrl_enqueue_obj(struct k8c_ctrl *c, const json_t *obj)
{
	_cleanup_free_ char *key = k8c_object_key(obj);

	k8c_ctrl_enqueue(c, key);
}

static void heap_swap(struct delayed *a, struct delayed *b)
{
	struct delayed t = *a;

	*a = *b;
	*b = t;
}

static void heap_push(struct k8c_ctrl *c, int64_t due, const char *key)
{
	size_t i;

	if (c->heap_len == c->heap_cap) {
		c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 32;
		c->heap = k8c_xrealloc(c->heap, c->heap_cap * sizeof(*c->heap));
	}
	i = c->heap_len++;
	c->heap[i].due_ms = due;
	c->heap[i].key = k8c_xstrdup(key);
	while (i > 0 && c->heap[(i - 1) / 2].due_ms > c->heap[i].due_ms) {
		heap_swap(&c->heap[(i - 1) / 2], &c->heap[i]);
		i = (i - 1) / 2;
	}
}

static void heap_pop(struct k8c_ctrl *c)
{
	size_t i = 0;

	free(c->heap[0].key);
	c->heap[0] = c->heap[--c->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < c->heap_len && c->heap[l].due_ms < c->heap[m].due_ms)
			m = l;
		if (r < c->heap_len && c->heap[r].due_ms < c->heap[m].due_ms)
			m = r;
		if (m == i)
			break;
		heap_swap(&c->heap[i], &c->heap[m]);
		i = m;
	}
}

static void arm_timer(struct k8c_ctrl *c)
{
	struct itimerspec its = {0};
	int64_t due = c->heap_len ? c->heap[0].due_ms : 0;

	if (due == c->timer_armed)
		return;
	if (due) {
		its.it_value.tv_sec = due / 1000;
		its.it_value.tv_nsec = (due % 1000) * 1000000;
	}
	if (timerfd_settime(c->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->timer_armed = due;
}

void k8c_ctrl_enqueue_after(struct k8c_ctrl *c, const char *key, long delay_ms)
{
	int64_t due;
	json_t *w;

	if (!key || !*key)
		return;
	if (delay_ms <= 0) {
		k8c_ctrl_enqueue(c, key);
		return;
	}
	due = now_ms_ceil() + delay_ms;
	/* as client-go's delaying queue: a key already waiting keeps the earlier time */
	w = json_object_get(c->waiting, key);
	if (w && json_integer_value(w) <= due)
		return;
	json_object_set_new(c->waiting, key, json_integer(due));
	heap_push(c, due, key);
	arm_timer(c);
}

/* Move the keys whose time came to the queue. */
static void move_due(struct k8c_ctrl *c)
{
	int64_t now = k8c_ctrl_now_ms();

	while (c->heap_len && c->heap[0].due_ms <= now) {
		json_t *w = json_object_get(c->waiting, c->heap[0].key);

		if (w && json_integer_value(w) == c->heap[0].due_ms) {
			json_object_del(c->waiting, c->heap[0].key);
			k8c_ctrl_enqueue(c, c->heap[0].key);
		}
		heap_pop(c);
	}
}

static long backoff_ms(long long failures)
{
	long long d = BACKOFF_BASE_MS;

	for (long long i = 0; i < failures && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	return (long)(d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d);
}

static void sync_one(struct k8c_ctrl *c, char *key)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int r;

	json_object_del(c->queued, key);
	c->syncs++;
	r = c->def->sync(c, key, &err);
	if (r < 0) {
		json_t *f = json_object_get(c->failures, key);
		long long n = f ? json_integer_value(f) : 0;
		long delay = backoff_ms(n);
		char q[1024], kq[512];

		c->failed_syncs++;
		json_object_set_new(c->failures, key, json_integer(n + 1));
		if (!atomic_load(&c->stopping))
			k8c_log_warn("sync failed, retrying",
				     "controller=%s key=%s retry_ms=%ld error=%s", c->def->name,
				     k8c_log_quote(kq, sizeof(kq), key), delay,
				     k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
		k8c_ctrl_enqueue_after(c, key, delay);
	} else {
		json_object_del(c->failures, key);
	}
	k8c_error_clear(&err);
}

/* ---- informers ---- */

struct k8c_informer *k8c_ctrl_informer(struct k8c_ctrl *c, const struct k8c_informer_opts *opts,
				       k8c_delta_fn on_delta, struct k8c_error *err)
{
	struct k8c_informer_opts o = *opts;
	struct k8c_informer *inf;
	struct ctrl_informer *ci;

	if (!o.user_agent)
		o.user_agent = c->user_agent;
	inf = k8c_informer_new(c->cfg, &o, err);
	if (!inf)
		return NULL;
	c->infs = k8c_xrealloc(c->infs, (c->n_infs + 1) * sizeof(*c->infs));
	ci = &c->infs[c->n_infs++];
	ci->inf = inf;
	ci->fn = on_delta;
	ci->c = c;
	ci->resource = k8c_xasprintf("%s%s%s/%s", o.gvr.group ? o.gvr.group : "",
				     o.gvr.group && *o.gvr.group ? "/" : "", o.gvr.version,
				     o.gvr.resource);
	return inf;
}

static void on_delta(const struct k8c_delta *d, void *arg)
{
	struct ctrl_informer *ci = arg;

	if (d->type == K8C_DELTA_ERROR) {
		char q[1024];

		k8c_log_warn("watch error (retrying)", "controller=%s resource=%s error=%s",
			     ci->c->def->name, ci->resource,
			     k8c_log_quote(q, sizeof(q), d->msg ? d->msg : "?"));
	}
	if (ci->fn)
		ci->fn(d, ci->c);
}

/* ---- accessors ---- */

struct k8c_kube *k8c_ctrl_kube(struct k8c_ctrl *c)
{
	return c->kube;
}

const struct k8c_kubeconfig *k8c_ctrl_config(const struct k8c_ctrl *c)
{
	return c->cfg;
}

const char *k8c_ctrl_name(const struct k8c_ctrl *c)
{
	return c->def->name;
}

void *k8c_ctrl_data(const struct k8c_ctrl *c)
{
	return c->data;
}

void k8c_ctrl_set_data(struct k8c_ctrl *c, void *data)
{
	c->data = data;
}

/* ---- Events: one broadcaster per process ---- */

/*
 * As client-go's record.EventBroadcaster: controllers hand Events to a queue and go on; one
 * thread of the process (with a client of its own) aggregates and writes them. The queue is
 * bounded: client-go's maxQueuedEvents (1,000) per running controller, as each of kube's has a
 * broadcaster of its own; an Event that finds it full is dropped and counted.
 * The broadcaster starts with the first controller and stops with the last one, after sending
 * what is queued (for EVENT_FLUSH_MS at most).
 */
struct ev_item {
	struct ev_item *next;
	char *agg; /* "component\x1fuid\x1fns/name\x1ftype\x1freason\x1fmessage" */
	char *ns;
	char *ctrl;   /* for logs */
	char *object; /* for logs */
	char *reason;
	json_t *ev;
	time_t t;
};

static struct {
	pthread_mutex_t life; /* start/stop of the thread */
	pthread_mutex_t mu;   /* the rest */
	pthread_cond_t cv;
	unsigned refs;
	bool running, stop, hold;
	int64_t stop_by_ms;
	pthread_t thread;
	struct k8c_kube *kube;
	struct ev_item *head, **tail;
	size_t len, cap; /* cap: EVENT_QUEUE_MAX per controller (kube: a queue each) */
	struct k8c_ctrl_event_stats st;
	json_t *agg; /* the thread's: agg key → {ns, name, count, last} */
} evb = {
	.life = PTHREAD_MUTEX_INITIALIZER,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

static void ev_item_free(struct ev_item *it)
{
	free(it->agg);
	free(it->ns);
	free(it->ctrl);
	free(it->object);
	free(it->reason);
	json_decref(it->ev);
	free(it);
}

static void events_prune(time_t now)
{
	const char *k;
	json_t *v, *tmp;

	json_object_foreach_safe(evb.agg, tmp, k, v)
	{
		if (now - (time_t)json_integer_value(json_object_get(v, "last")) >
		    EVENT_AGG_WINDOW_S)
			json_object_del(evb.agg, k);
	}
	/* still too many: start afresh (only aggregation is lost) */
	if (json_object_size(evb.agg) >= EVENT_CACHE_MAX)
		json_object_clear(evb.agg);
}

/* Write one Event: a repeat within the window bumps the existing one, else a new one. */
static void event_write(struct ev_item *it)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *prev = json_object_get(evb.agg, it->agg);
	const char *ts = json_string_value(json_object_get(it->ev, "lastTimestamp"));
	bool ok = false, patched = false;
	char q[1024];

	if (prev && it->t - (time_t)json_integer_value(json_object_get(prev, "last")) <=
			    EVENT_AGG_WINDOW_S) {
		long long count = json_integer_value(json_object_get(prev, "count")) + 1;
		_cleanup_json_ json_t *patch =
			json_pack("{s:I, s:s}", "count", (json_int_t)count, "lastTimestamp", ts);

		if (k8c_kube_patch(evb.kube, K8C_GVR_EVENTS,
				   json_string_value(json_object_get(prev, "ns")),
				   json_string_value(json_object_get(prev, "name")), NULL,
				   K8C_PATCH_MERGE, patch, NULL, &err) == 0) {
			json_object_set_new(prev, "count", json_integer(count));
			json_object_set_new(prev, "last", json_integer(it->t));
			ok = patched = true;
		} else if (err.code == 404) {
			k8c_error_clear(&err); /* expired or deleted: a new one */
		}
	}
	if (!ok && !err.msg &&
	    k8c_kube_create(evb.kube, K8C_GVR_EVENTS, it->ns, it->ev, NULL, &err) == 0) {
		events_prune(it->t);
		json_object_set_new(evb.agg, it->agg,
				    json_pack("{s:s, s:s, s:i, s:I}", "ns", it->ns, "name",
					      k8c_str_at(it->ev, "metadata.name"), "count", 1,
					      "last", (json_int_t)it->t));
		ok = true;
	}
	pthread_mutex_lock(&evb.mu);
	if (!ok)
		evb.st.failed++;
	else if (patched)
		evb.st.patched++;
	else
		evb.st.created++;
	pthread_mutex_unlock(&evb.mu);
	if (!ok && !k8c_kube_interrupted(evb.kube))
		k8c_log_warn("event not recorded", "controller=%s object=%s reason=%s error=%s",
			     it->ctrl, it->object, it->reason,
			     k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
	k8c_error_clear(&err);
}

static void *events_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&evb.mu);
	for (;;) {
		struct ev_item *it;

		while (!evb.stop && (!evb.head || evb.hold))
			pthread_cond_wait(&evb.cv, &evb.mu);
		if (!evb.head || (evb.stop && k8c_ctrl_now_ms() > evb.stop_by_ms))
			break;
		it = evb.head;
		evb.head = it->next;
		if (!evb.head)
			evb.tail = &evb.head;
		evb.len--;
		pthread_mutex_unlock(&evb.mu);
		event_write(it);
		ev_item_free(it);
		pthread_mutex_lock(&evb.mu);
	}
	pthread_mutex_unlock(&evb.mu);
	return NULL;
}

/* The first controller starts the broadcaster (its client made from that controller's cfg). */
static int events_acquire(const struct k8c_kubeconfig *cfg, struct k8c_error *err)
{
	int r = 0;

	pthread_mutex_lock(&evb.life);
	if (evb.refs == 0) {
		evb.kube = k8c_kube_new(cfg, "k8c-controller-manager/events", err);
		if (!evb.kube) {
			r = k8c_error_wrap(err, "event broadcaster");
			goto out;
		}
		evb.agg = json_object();
		evb.head = NULL;
		evb.tail = &evb.head;
		evb.len = 0;
		evb.stop = evb.hold = false;
		if (pthread_create(&evb.thread, NULL, events_thread, NULL) != 0) {
			k8c_kube_free(evb.kube);
			evb.kube = NULL;
			json_decref(evb.agg);
			r = k8c_error_set(err, 0, "event broadcaster: cannot start its thread");
			goto out;
		}
		evb.running = true;
	}
	evb.refs++;
	pthread_mutex_lock(&evb.mu);
	evb.cap = EVENT_QUEUE_MAX * evb.refs;
	pthread_mutex_unlock(&evb.mu);
out:
	pthread_mutex_unlock(&evb.life);
	return r;
}

/* The last controller stops it: what is queued is sent for EVENT_FLUSH_MS, then given up. */
static void events_release(void)
{
	struct timespec dl;

	pthread_mutex_lock(&evb.life);
	if (!evb.refs || --evb.refs) {
		pthread_mutex_lock(&evb.mu);
		evb.cap = EVENT_QUEUE_MAX * evb.refs;
		pthread_mutex_unlock(&evb.mu);
		pthread_mutex_unlock(&evb.life);
		return;
	}
	pthread_mutex_lock(&evb.mu);
	evb.stop = true;
	evb.hold = false;
	evb.stop_by_ms = k8c_ctrl_now_ms() + EVENT_FLUSH_MS;
	pthread_cond_broadcast(&evb.cv);
	pthread_mutex_unlock(&evb.mu);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += EVENT_FLUSH_MS / 1000 + 1;
	if (pthread_timedjoin_np(evb.thread, NULL, &dl) != 0) {
		k8c_kube_interrupt(evb.kube); /* a request hanging on a server that is gone */
		pthread_join(evb.thread, NULL);
	}
	evb.running = false;
	while (evb.head) {
		struct ev_item *it = evb.head;

		evb.head = it->next;
		evb.st.failed++;
		ev_item_free(it);
	}
	evb.tail = &evb.head;
	evb.len = 0;
	k8c_kube_free(evb.kube);
	evb.kube = NULL;
	json_decref(evb.agg);
	evb.agg = NULL;
	pthread_mutex_unlock(&evb.life);
}

void k8c_ctrl_event_stats(struct k8c_ctrl_event_stats *st)
{
	pthread_mutex_lock(&evb.mu);
	*st = evb.st;
	st->queued = evb.len;
	pthread_mutex_unlock(&evb.mu);
}

void k8c_ctrl_events_hold(bool hold)
{
	pthread_mutex_lock(&evb.mu);
	evb.hold = hold;
	pthread_cond_broadcast(&evb.cv);
	pthread_mutex_unlock(&evb.mu);
}

void k8c_ctrl_event(struct k8c_ctrl *c, const json_t *obj, const char *type, const char *reason,
		    const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *ename = NULL;
	const char *kind = k8c_str_at(obj, "kind"), *name = k8c_str_at(obj, "metadata.name");
	const char *ns = k8c_str_at(obj, "metadata.namespace"),
		   *uid = k8c_str_at(obj, "metadata.uid");
	const char *evns;
	struct ev_item *it;
	struct timespec t;
	unsigned long dropped = 0;
	char ts[21];
	json_t *io;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (!name)
		return;
	evns = ns && *ns ? ns : "default"; /* as kube: Events of cluster-scoped objects */
	clock_gettime(CLOCK_REALTIME, &t);
	k8c_rfc3339(t.tv_sec, ts);
	/* as client-go: the object's name and a hex timestamp in nanoseconds */
	ename = k8c_xasprintf("%s.%llx", name,
			      (unsigned long long)t.tv_sec * 1000000000ULL +
				      (unsigned long long)t.tv_nsec);
	io = json_object();
	if (kind)
		json_object_set_new(io, "kind", json_string(kind));
	if (ns && *ns)
		json_object_set_new(io, "namespace", json_string(ns));
	json_object_set_new(io, "name", json_string(name));
	if (uid)
		json_object_set_new(io, "uid", json_string(uid));
	if (k8c_str_at(obj, "apiVersion"))
		json_object_set_new(io, "apiVersion", json_string(k8c_str_at(obj, "apiVersion")));
	if (k8c_str_at(obj, "metadata.resourceVersion"))
		json_object_set_new(io, "resourceVersion",
				    json_string(k8c_str_at(obj, "metadata.resourceVersion")));
	it = k8c_xcalloc(1, sizeof(*it));
	it->ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, "
			   "s:s}",
			   "apiVersion", "v1", "kind", "Event", "metadata", "name", ename,
			   "namespace", evns, "involvedObject", io, "reason", reason, "message",
			   msg, "type", type, "source", "component", c->component, "firstTimestamp",
			   ts, "lastTimestamp", ts, "count", 1, "reportingComponent", c->component);
	if (!it->ev) {
		free(it);
		return;
	}
	it->agg = k8c_xasprintf("%s\x1f%s\x1f%s/%s\x1f%s\x1f%s\x1f%s", c->component, uid ? uid : "",
				evns, name, type, reason, msg);
	it->ns = k8c_xstrdup(evns);
	it->ctrl = k8c_xstrdup(c->def->name);
	it->object = k8c_xasprintf("%s/%s", evns, name);
	it->reason = k8c_xstrdup(reason);
	it->t = t.tv_sec;
	pthread_mutex_lock(&evb.mu);
	if (!evb.running || evb.len >= evb.cap) {
		dropped = ++evb.st.dropped;
	} else {
		*evb.tail = it;
		evb.tail = &it->next;
		evb.len++;
		evb.st.queued_total++;
		pthread_cond_signal(&evb.cv);
		it = NULL;
	}
	pthread_mutex_unlock(&evb.mu);
	if (it) {
		/* as client-go: the queue is full, the Event is dropped (logged now and then) */
		if (dropped == 1 || dropped % 1000 == 0)
			k8c_log_warn("event queue full, event dropped",
				     "controller=%s object=%s reason=%s dropped=%lu", c->def->name,
				     it->object, reason, dropped);
		ev_item_free(it);
	}
}

/* ---- the thread ---- */

static bool all_synced(struct k8c_ctrl *c)
{
	for (size_t i = 0; i < c->n_infs; i++)
		if (!k8c_informer_has_synced(c->infs[i].inf))
			return false;
	return true;
}

static void clear_queue(struct k8c_ctrl *c)
{
	while (c->ring_len)
		free(ring_pop(c));
	while (c->heap_len)
		heap_pop(c);
	json_object_clear(c->queued);
	json_object_clear(c->waiting);
	json_object_clear(c->failures);
}

/* After a failed init: fini (it must cope with a partial init), informers and queue gone. */
static void undo_init(struct k8c_ctrl *c)
{
	if (c->def->fini)
		c->def->fini(c);
	c->data = NULL;
	for (size_t i = 0; i < c->n_infs; i++) {
		k8c_informer_free(c->infs[i].inf);
		free(c->infs[i].resource);
	}
	free(c->infs);
	c->infs = NULL;
	c->n_infs = 0;
	clear_queue(c);
}

static void *ctrl_thread(void *arg)
{
	struct k8c_ctrl *c = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	struct pollfd *p = NULL;
	char q[1024];

	/* init and the informers' start, retried (1 s doubling to 30 s) until they work */
	for (int delay = INIT_RETRY_MIN_MS;;
	     delay = delay * 2 > INIT_RETRY_MAX_MS ? INIT_RETRY_MAX_MS : delay * 2) {
		struct pollfd sp = {.fd = c->stop_fd, .events = POLLIN};
		bool ok = !c->def->init || c->def->init(c, &err) == 0;

		for (size_t i = 0; ok && i < c->n_infs; i++)
			ok = k8c_informer_start(c->infs[i].inf, &err) == 0;
		if (ok)
			break;
		k8c_log_error("controller init failed, retrying",
			      "controller=%s retry_ms=%d error=%s", c->def->name, delay,
			      k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
		k8c_error_clear(&err);
		undo_init(c);
		if (atomic_load(&c->stopping) || poll(&sp, 1, delay) > 0 ||
		    atomic_load(&c->stopping))
			goto out;
	}
	c->inited = true;
	k8c_log_info("controller started", "controller=%s informers=%zu", c->def->name, c->n_infs);
	p = k8c_xcalloc(c->n_infs + 2, sizeof(*p));
	p[0].fd = c->stop_fd;
	p[1].fd = c->timer_fd;
	for (size_t i = 0; i < c->n_infs; i++)
		p[i + 2].fd = k8c_informer_fd(c->infs[i].inf);
	for (size_t i = 0; i < c->n_infs + 2; i++)
		p[i].events = POLLIN;
	c->synced = all_synced(c);
	while (!atomic_load(&c->stopping)) {
		int timeout = c->synced && c->ring_len ? 0 : -1;
		uint64_t v;

		if (poll(p, c->n_infs + 2, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents || atomic_load(&c->stopping))
			break;
		if (p[1].revents) {
			if (read(c->timer_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: re-armed meanwhile */
			}
			c->timer_armed = 0;
		}
		for (size_t i = 0; i < c->n_infs; i++)
			if (p[i + 2].revents)
				k8c_informer_dispatch(c->infs[i].inf, on_delta, &c->infs[i]);
		move_due(c);
		if (!c->synced && all_synced(c)) {
			c->synced = true;
			k8c_log_info("controller synced", "controller=%s queued=%zu", c->def->name,
				     c->ring_len);
		}
		for (int n = 0; c->synced && n < SYNC_BATCH && !atomic_load(&c->stopping); n++) {
			_cleanup_free_ char *key = ring_pop(c);

			if (!key)
				break;
			sync_one(c, key);
		}
		arm_timer(c);
	}
out:
	free(p);
	k8c_error_clear(&err);
	return NULL;
}

struct k8c_ctrl *k8c_ctrl_start(const struct k8c_controller_def *def,
				const struct k8c_kubeconfig *cfg, const char *user_agent,
				struct k8c_error *err)
{
	struct k8c_ctrl *c = k8c_xcalloc(1, sizeof(*c));

	c->def = def;
	c->cfg = cfg;
	c->user_agent = k8c_xasprintf("%s/%s", user_agent ? user_agent : "k8c-controller-manager",
				      def->name);
	c->component = def->component;
	if (!c->component)
		c->component = c->component_buf = k8c_xasprintf("%s-controller", def->name);
	c->queued = json_object();
	c->failures = json_object();
	c->waiting = json_object();
	c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->stop_fd < 0 || c->timer_fd < 0) {
		k8c_error_errno(err, 0, errno, "controller %s: eventfd/timerfd", def->name);
		goto fail;
	}
	c->kube = k8c_kube_new(cfg, c->user_agent, err);
	if (!c->kube) {
		k8c_error_wrap(err, "controller %s", def->name);
		goto fail;
	}
	if (events_acquire(cfg, err) < 0) {
		k8c_error_wrap(err, "controller %s", def->name);
		goto fail;
	}
	c->events_held = true;
	if (pthread_create(&c->thread, NULL, ctrl_thread, c) != 0) {
		k8c_error_set(err, 0, "controller %s: cannot start its thread", def->name);
		goto fail;
	}
	c->started = true;
	return c;
fail:
	k8c_ctrl_stop(c);
	return NULL;
}

void k8c_ctrl_stop(struct k8c_ctrl *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	atomic_store(&c->stopping, true);
	if (c->started) {
		if (write(c->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on an eventfd below its maximum */
		}
		k8c_kube_interrupt(c->kube);
		pthread_join(c->thread, NULL);
	}
	if (c->inited && c->def->fini)
		c->def->fini(c);
	for (size_t i = 0; i < c->n_infs; i++) {
		k8c_informer_free(c->infs[i].inf);
		free(c->infs[i].resource);
	}
	free(c->infs);
	while (c->ring_len)
		free(ring_pop(c));
	free(c->ring);
	while (c->heap_len)
		heap_pop(c);
	free(c->heap);
	json_decref(c->queued);
	json_decref(c->failures);
	json_decref(c->waiting);
	k8c_kube_free(c->kube);
	if (c->events_held) /* after fini: its threads may have recorded Events */
		events_release();
	free(c->component_buf);
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	free(c->user_agent);
	free(c);
}

void k8c_ctrl_counters(const struct k8c_ctrl *c, unsigned long *syncs, unsigned long *failed)
{
	*syncs = c->syncs;
	*failed = c->failed_syncs;
}

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>

#include "cleanup.h"
#include "informer.h"

#define BACKOFF_MIN_MS	    200
#define BACKOFF_MAX_MS	    30000
#define WATCH_HEALTHY_S	    10	/* a watch that lasted this long resets the back-off */
#define WATCH_TIMEOUT_MIN_S 300 /* as client-go: each watch asks for 5-10 min, then re-watches */
#define DEFAULT_PAGE_SIZE   500

enum msg_kind { MSG_ADDED, MSG_MODIFIED, MSG_DELETED, MSG_REPLACE, MSG_ERROR };

struct msg {
	struct msg *next;
	enum msg_kind kind;
	json_t *obj; /* the object, or for MSG_REPLACE the array of items */
	char *text;  /* MSG_ERROR */
};

struct k8c_informer {
	/* set at creation, read-only afterwards */
	struct k8c_kube *kube;
	char *group, *version, *resource, *ns, *label, *field;
	struct k8c_gvr gvr;
	k8c_index_fn index_fn;
	k8c_transform_fn transform;
	long page_size;
	int efd;

	/* shared: mu protects the queue and stopping */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct msg *head, **tail;
	bool stopping, started;
	pthread_t thread;
	atomic_ulong lists, watches, relists_410, errors;

	/* owner's thread only */
	json_t *cache; /* key → object */
	json_t *index; /* index key → {key → object} */
	bool synced;
};

static char *xstrdup0(const char *s)
{
	return s ? k8c_xstrdup(s) : NULL;
}

char *k8c_object_key(const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!name)
		return NULL;
	return ns && *ns ? k8c_xasprintf("%s/%s", ns, name) : k8c_xstrdup(name);
}

static const char *object_rv(const json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

struct k8c_informer *k8c_informer_new(const struct k8c_kubeconfig *cfg,
				      const struct k8c_informer_opts *o, struct k8c_error *err)
{
	struct k8c_informer *inf;
	pthread_condattr_t ca;

	if (!o->gvr.version || !o->gvr.resource) {
		k8c_error_set(err, 0, "informer: no resource given");
		return NULL;
	}
	inf = k8c_xcalloc(1, sizeof(*inf));
	inf->efd = -1;
	inf->kube = k8c_kube_new(cfg, o->user_agent, err);
	if (!inf->kube) {
		free(inf);
		return NULL;
	}
	inf->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (inf->efd < 0) {
		k8c_error_errno(err, 0, errno, "informer: eventfd");
		k8c_kube_free(inf->kube);
		free(inf);
		return NULL;
	}
	inf->group = k8c_xstrdup(o->gvr.group ? o->gvr.group : "");
	inf->version = k8c_xstrdup(o->gvr.version);
	inf->resource = k8c_xstrdup(o->gvr.resource);
	inf->gvr = K8C_GVR(inf->group, inf->version, inf->resource);
	inf->ns = xstrdup0(o->namespace);
	inf->label = xstrdup0(o->label_selector);
	inf->field = xstrdup0(o->field_selector);
	inf->index_fn = o->index;
	inf->transform = o->transform;
	inf->page_size = o->page_size > 0 ? o->page_size : DEFAULT_PAGE_SIZE;
	pthread_mutex_init(&inf->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->cond, &ca);
	pthread_condattr_destroy(&ca);
	inf->tail = &inf->head;
	inf->cache = json_object();
	inf->index = json_object();
	return inf;
}

/* ---- the background thread ---- */

static void push(struct k8c_informer *inf, enum msg_kind kind, json_t *obj, char *text)
{
	struct msg *m = k8c_xcalloc(1, sizeof(*m));
	bool was_empty;
	uint64_t one = 1;

	m->kind = kind;
	m->obj = obj;
	m->text = text;
	pthread_mutex_lock(&inf->mu);
	was_empty = !inf->head;
	*inf->tail = m;
	inf->tail = &m->next;
	pthread_mutex_unlock(&inf->mu);
	/* Only the empty → non-empty edge needs a wake-up: dispatch takes the whole queue. */
	if (was_empty && write(inf->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
}

static void push_error(struct k8c_informer *inf, const char *what, const struct k8c_error *err)
{
	atomic_fetch_add(&inf->errors, 1);
	push(inf, MSG_ERROR, NULL,
	     k8c_xasprintf("informer %s: %s: %s", inf->resource, what,
			   err->msg ? err->msg : "unknown error"));
}

/* Wait up to ms, or until stopped; true when stopping. */
static bool wait_ms(struct k8c_informer *inf, long ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&inf->mu);
	while (!inf->stopping)
		if (pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) == ETIMEDOUT)
			break;
	stop = inf->stopping;
	pthread_mutex_unlock(&inf->mu);
	return stop;
}

static bool stopping(struct k8c_informer *inf)
{
	bool s;

	pthread_mutex_lock(&inf->mu);
	s = inf->stopping;
	pthread_mutex_unlock(&inf->mu);
	return s;
}

static json_t *transformed(struct k8c_informer *inf, json_t *obj)
{
	json_t *t = inf->transform ? inf->transform(obj) : NULL;

	return t ? t : json_incref(obj);
}

struct watch_state {
	struct k8c_informer *inf;
	char *rv; /* the last resourceVersion seen (owned) */
	unsigned long events;
};

static int on_event(const char *type, json_t *obj, void *arg, struct k8c_error *err)
{
	struct watch_state *w = arg;
	const char *rv = object_rv(obj);
	enum msg_kind kind;

	if (rv) {
		free(w->rv);
		w->rv = k8c_xstrdup(rv);
	}
	w->events++;
	if (!strcmp(type, "BOOKMARK"))
		return 0;
	if (!strcmp(type, "ADDED"))
		kind = MSG_ADDED;
	else if (!strcmp(type, "MODIFIED"))
		kind = MSG_MODIFIED;
	else if (!strcmp(type, "DELETED"))
		kind = MSG_DELETED;
	else
		return k8c_error_set(err, 0, "watch: unknown event type \"%s\"", type);
	push(w->inf, kind, transformed(w->inf, obj), NULL);
	return 0;
}

static long jitter(long ms)
{
	return ms + (long)((unsigned)rand() % (unsigned)(ms / 5 + 1));
}

static void *run(void *arg)
{
	struct k8c_informer *inf = arg;
	struct watch_state w = {.inf = inf};
	struct k8c_list_opts lopts = {
		.label_selector = inf->label,
		.field_selector = inf->field,
		.limit = inf->page_size,
	};
	long backoff = BACKOFF_MIN_MS;
	bool need_list = true, just_listed;

	while (!stopping(inf)) {
		struct k8c_error err = K8C_ERROR_INIT;
		struct k8c_watch_opts wopts = {
			.label_selector = inf->label,
			.field_selector = inf->field,
			.allow_bookmarks = true,
			.timeout_seconds = WATCH_TIMEOUT_MIN_S + rand() % WATCH_TIMEOUT_MIN_S,
		};
		struct timespec t0, t1;
		int r;

		just_listed = need_list;
		if (need_list) {
			json_t *items;
			char *rv;

			if (k8c_kube_list(inf->kube, inf->gvr, inf->ns, &lopts, &items, &rv, &err) <
			    0) {
				if (!k8c_kube_interrupted(inf->kube))
					push_error(inf, "list", &err);
				k8c_error_clear(&err);
				if (wait_ms(inf, jitter(backoff)))
					break;
				backoff =
					backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			atomic_fetch_add(&inf->lists, 1);
			if (inf->transform) {
				json_t *item;
				size_t i;

				json_array_foreach(items, i, item)
				{
					json_array_set_new(items, i, transformed(inf, item));
				}
			}
			push(inf, MSG_REPLACE, items, NULL);
			free(w.rv);
			w.rv = rv;
			need_list = false;
		}
		wopts.resource_version = w.rv;
		w.events = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		atomic_fetch_add(&inf->watches, 1);
		r = k8c_kube_watch(inf->kube, inf->gvr, inf->ns, &wopts, on_event, &w, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (k8c_kube_interrupted(inf->kube)) {
			k8c_error_clear(&err);
			break;
		}
		if (r < 0 && err.code == 410) {
			/* Our resourceVersion was compacted: relist now, the diff covers the gap. */
			atomic_fetch_add(&inf->relists_410, 1);
			need_list = true;
			k8c_error_clear(&err);
			/* 410 right after a list (nothing seen): a confused server; do not spin. */
			if (just_listed && w.events == 0) {
				if (wait_ms(inf, jitter(backoff)))
					break;
				backoff =
					backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			}
			continue;
		}
		if (w.events > 0 || t1.tv_sec - t0.tv_sec >= WATCH_HEALTHY_S)
			backoff = BACKOFF_MIN_MS;
		if (r == 0 && backoff == BACKOFF_MIN_MS)
			continue; /* the server ended a healthy stream (timeoutSeconds): re-watch */
		if (r < 0)
			push_error(inf, "watch", &err);
		k8c_error_clear(&err);
		if (wait_ms(inf, jitter(backoff)))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	free(w.rv);
	return NULL;
}

int k8c_informer_start(struct k8c_informer *inf, struct k8c_error *err)
{
	int r;

	if (inf->started)
		return 0;
	r = pthread_create(&inf->thread, NULL, run, inf);
	if (r)
		return k8c_error_errno(err, 0, r, "informer %s: start thread", inf->resource);
	inf->started = true;
	return 0;
}

static void msg_free(struct msg *m)
{
	json_decref(m->obj);
	free(m->text);
	free(m);
}

void k8c_informer_free(struct k8c_informer *inf)
{
	struct msg *m, *next;

	if (!inf)
		return;
	if (inf->started) {
		pthread_mutex_lock(&inf->mu);
		inf->stopping = true;
		pthread_cond_broadcast(&inf->cond);
		pthread_mutex_unlock(&inf->mu);
		k8c_kube_interrupt(inf->kube);
		pthread_join(inf->thread, NULL);
	}
	for (m = inf->head; m; m = next) {
		next = m->next;
		msg_free(m);
	}
	k8c_kube_free(inf->kube);
	if (inf->efd >= 0)
		close(inf->efd);
	pthread_mutex_destroy(&inf->mu);
	pthread_cond_destroy(&inf->cond);
	json_decref(inf->cache);
	json_decref(inf->index);
	free(inf->group);
	free(inf->version);
	free(inf->resource);
	free(inf->ns);
	free(inf->label);
	free(inf->field);
	free(inf);
}

/* ---- the owner's side ---- */

int k8c_informer_fd(const struct k8c_informer *inf)
{
	return inf->efd;
}

bool k8c_informer_has_synced(const struct k8c_informer *inf)
{
	return inf->synced;
}

json_t *k8c_informer_cache(const struct k8c_informer *inf)
{
	return inf->cache;
}

json_t *k8c_informer_get(const struct k8c_informer *inf, const char *ns, const char *name)
{
	_cleanup_free_ char *key = ns && *ns ? k8c_xasprintf("%s/%s", ns, name) : NULL;

	return json_object_get(inf->cache, key ? key : name);
}

json_t *k8c_informer_index(const struct k8c_informer *inf, const char *key)
{
	return json_object_get(inf->index, key);
}

void k8c_informer_stats(const struct k8c_informer *inf, struct k8c_informer_stats *out)
{
	out->lists = atomic_load(&inf->lists);
	out->watches = atomic_load(&inf->watches);
	out->relists_410 = atomic_load(&inf->relists_410);
	out->errors = atomic_load(&inf->errors);
}

static void index_del(struct k8c_informer *inf, const char *key, json_t *obj)
{
	_cleanup_free_ char *ik = NULL;
	json_t *bucket;

	if (!inf->index_fn || !(ik = inf->index_fn(obj)))
		return;
	bucket = json_object_get(inf->index, ik);
	json_object_del(bucket, key);
	if (bucket && json_object_size(bucket) == 0)
		json_object_del(inf->index, ik);
}

static void index_add(struct k8c_informer *inf, const char *key, json_t *obj)
{
	_cleanup_free_ char *ik = NULL;
	json_t *bucket;

	if (!inf->index_fn || !(ik = inf->index_fn(obj)))
		return;
	bucket = json_object_get(inf->index, ik);
	if (!bucket) {
		bucket = json_object();
		json_object_set_new(inf->index, ik, bucket);
	}
	json_object_set(bucket, key, obj);
}

/* Put obj (a reference the caller gives) in the cache under key; one delta if it changed. */
static int cache_set(struct k8c_informer *inf, const char *key, json_t *obj, k8c_delta_fn fn,
		     void *arg)
{
	json_t *old = json_incref(json_object_get(inf->cache, key));
	const char *orv = old ? object_rv(old) : NULL, *nrv = object_rv(obj);
	struct k8c_delta d = {.key = key, .old = old, .new = obj};

	if (old && orv && nrv && !strcmp(orv, nrv)) {
		/* Same version (a relist of an unchanged object): nothing to tell. */
		json_decref(old);
		json_decref(obj);
		return 0;
	}
	if (old)
		index_del(inf, key, old);
	json_object_set(inf->cache, key, obj);
	index_add(inf, key, obj);
	d.type = old ? K8C_DELTA_UPDATE : K8C_DELTA_ADD;
	if (fn)
		fn(&d, arg);
	json_decref(old);
	json_decref(obj);
	return 1;
}

static int cache_del(struct k8c_informer *inf, const char *key, json_t *last, k8c_delta_fn fn,
		     void *arg)
{
	json_t *old = json_incref(json_object_get(inf->cache, key));
	struct k8c_delta d = {.type = K8C_DELTA_DELETE, .key = key, .old = old};

	if (!old)
		return 0;
	d.new = last ? last : old;
	index_del(inf, key, old);
	json_object_del(inf->cache, key);
	if (fn)
		fn(&d, arg);
	json_decref(old);
	return 1;
}

/* A full list: the differences against the cache become deltas. */
static int replace(struct k8c_informer *inf, json_t *items, k8c_delta_fn fn, void *arg)
{
	_cleanup_json_ json_t *now = json_object();
	const char *key;
	json_t *v, *item;
	void *tmp;
	size_t i;
	int n = 0;

	json_array_foreach(items, i, item)
	{
		_cleanup_free_ char *k = k8c_object_key(item);

		if (k)
			json_object_set(now, k, item);
	}
	json_object_foreach_safe(inf->cache, tmp, key, v)
	{
		if (!json_object_get(now, key)) {
			_cleanup_free_ char *k = k8c_xstrdup(key); /* key dies with the entry */

			n += cache_del(inf, k, NULL, fn, arg);
		}
	}
	json_object_foreach(now, key, v)
	{
		n += cache_set(inf, key, json_incref(v), fn, arg);
	}
	return n;
}

int k8c_informer_dispatch(struct k8c_informer *inf, k8c_delta_fn fn, void *arg)
{
	struct msg *m, *next;
	uint64_t v;
	int n = 0;

	if (read(inf->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		abort();
	pthread_mutex_lock(&inf->mu);
	m = inf->head;
	inf->head = NULL;
	inf->tail = &inf->head;
	pthread_mutex_unlock(&inf->mu);
	for (; m; m = next) {
		_cleanup_free_ char *key = NULL;

		next = m->next;
		switch (m->kind) {
		case MSG_ADDED:
		case MSG_MODIFIED:
			key = k8c_object_key(m->obj);
			if (key)
				n += cache_set(inf, key, json_incref(m->obj), fn, arg);
			break;
		case MSG_DELETED:
			key = k8c_object_key(m->obj);
			if (key)
				n += cache_del(inf, key, m->obj, fn, arg);
			break;
		case MSG_REPLACE:
			n += replace(inf, m->obj, fn, arg);
			json_decref(m->obj);
			m->obj = NULL;
			/* A list's pages and its temporary map are freed: give the pages back. */
			malloc_trim(0);
			if (!inf->synced) {
				struct k8c_delta d = {.type = K8C_DELTA_SYNCED};

				inf->synced = true;
				if (fn)
					fn(&d, arg);
				n++;
			}
			break;
		case MSG_ERROR:
			if (fn) {
				struct k8c_delta d = {.type = K8C_DELTA_ERROR, .msg = m->text};

				fn(&d, arg);
			}
			break;
		}
		msg_free(m);
	}
	return n;
}

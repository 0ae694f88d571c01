/* Backend-neutral half of the store: the dispatch wrappers and the shared result types. */
#include <string.h>

#include "cleanup.h"
#include "store.h"

int store_revision(struct store *s, int64_t *rev, struct k8c_error *err)
{
	return s->ops->revision(s, rev, err);
}

int store_get(struct store *s, const char *key, struct store_kv *out, struct k8c_error *err)
{
	return s->ops->get(s, key, out, err);
}

int store_list(struct store *s, const char *prefix, int64_t revision, size_t limit,
	       const char *continue_after, struct store_list *out, struct k8c_error *err)
{
	return s->ops->list(s, prefix, revision, limit, continue_after, out, err);
}

int store_create(struct store *s, const char *key, const void *value, size_t len, int64_t *rev,
		 struct k8c_error *err)
{
	return s->ops->create(s, key, value, len, rev, err);
}

int store_update(struct store *s, const char *key, const void *value, size_t len, int64_t expected,
		 int64_t *rev, struct store_kv *cur, struct k8c_error *err)
{
	return s->ops->update(s, key, value, len, expected, rev, cur, err);
}

int store_delete(struct store *s, const char *key, int64_t expected, int64_t *rev,
		 struct store_kv *prev, struct k8c_error *err)
{
	return s->ops->del(s, key, expected, rev, prev, err);
}

int store_compact(struct store *s, int64_t revision, struct k8c_error *err)
{
	return s->ops->compact(s, revision, err);
}

int store_compacted(struct store *s, int64_t *rev, struct k8c_error *err)
{
	return s->ops->compacted(s, rev, err);
}

int store_watch(struct store *s, const char *prefix, int64_t revision, struct store_watch **out,
		struct k8c_error *err)
{
	return s->ops->watch(s, prefix, revision, out, err);
}

int store_watch_fd(struct store_watch *w)
{
	return w->store->ops->watch_fd(w);
}

int store_watch_next(struct store_watch *w, struct store_event **evs, size_t max,
		     struct k8c_error *err)
{
	return w->store->ops->watch_next(w, evs, max, err);
}

void store_watch_close(struct store_watch *w)
{
	if (w)
		w->store->ops->watch_close(w);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

void store_kv_free(struct store_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	memset(kv, 0, sizeof(*kv));
}

void store_list_free(struct store_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->items[i].key);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void store_kv_set(struct store_kv *kv, const char *key, size_t key_len, const void *value,
		  size_t value_len, int64_t create_revision, int64_t mod_revision)
{
	char *buf = k8c_xmalloc(key_len + 1 + value_len + 1);

	memcpy(buf, key, key_len);
	buf[key_len] = '\0';
	if (value_len)
		memcpy(buf + key_len + 1, value, value_len);
	buf[key_len + 1 + value_len] = '\0';
	kv->key = buf;
	kv->value = buf + key_len + 1;
	kv->value_len = value_len;
	kv->create_revision = create_revision;
	kv->mod_revision = mod_revision;
}

struct store_event *store_event_new(enum store_event_type type, const char *key, const void *value,
				    size_t value_len, const void *prev, size_t prev_len,
				    int64_t mod_revision, int64_t create_revision,
				    int64_t prev_revision)
{
	size_t klen = strlen(key);
	/* One allocation: a fan-out to many watchers then costs one refcount increment each. */
	struct store_event *ev =
		k8c_xmalloc(sizeof(*ev) + klen + 1 + value_len + 1 + (prev ? prev_len + 1 : 0));
	char *p = (char *)(ev + 1);

	ev->type = type;
	ev->key = p;
	memcpy(p, key, klen + 1);
	p += klen + 1;
	ev->value = p;
	ev->value_len = value_len;
	if (value_len)
		memcpy(p, value, value_len);
	p[value_len] = '\0';
	p += value_len + 1;
	ev->prev_value = NULL;
	ev->prev_value_len = 0;
	if (prev) {
		ev->prev_value = p;
		ev->prev_value_len = prev_len;
		if (prev_len)
			memcpy(p, prev, prev_len);
		p[prev_len] = '\0';
	}
	ev->mod_revision = mod_revision;
	ev->create_revision = create_revision;
	ev->prev_revision = prev_revision;
	ev->refs = 1;
	return ev;
}

struct store_event *store_event_ref(struct store_event *ev)
{
	__atomic_add_fetch(&ev->refs, 1, __ATOMIC_RELAXED);
	return ev;
}

void store_event_unref(struct store_event *ev)
{
	if (ev && __atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(ev);
}

const char *store_event_type_name(enum store_event_type type)
{
	switch (type) {
	case STORE_ADDED:
		return "ADDED";
	case STORE_MODIFIED:
		return "MODIFIED";
	case STORE_DELETED:
		return "DELETED";
	}
	return "UNKNOWN";
}

void store_prefix_end(const char *prefix, char *buf)
{
	size_t n = strlen(prefix);

	memcpy(buf, prefix, n + 1);
	/* Keys are UTF-8, where 0xff never occurs, so "\xff" bounds every key from above. */
	while (n > 0 && (unsigned char)buf[n - 1] == 0xff)
		buf[--n] = '\0';
	if (n == 0) {
		buf[0] = (char)0xff;
		buf[1] = '\0';
		return;
	}
	buf[n - 1] = (char)((unsigned char)buf[n - 1] + 1);
}

bool store_key_has_prefix(const char *key, const char *prefix)
{
	return strncmp(key, prefix, strlen(prefix)) == 0;
}

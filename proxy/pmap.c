#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "pmap.h"

char pmap_tomb;

uint64_t pmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	/* FNV's low bits are weak for short keys: mix (splitmix64's finaliser). */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static struct pmap_entry *find(const struct pmap *m, const void *key, size_t klen, uint64_t h)
{
	size_t mask, i;

	if (!m->cap)
		return NULL;
	mask = m->cap - 1;
	for (i = h & mask;; i = (i + 1) & mask) {
		struct pmap_entry *e = &m->e[i];

		if (!e->key)
			return NULL;
		if (e->key != PMAP_TOMB && e->hash == h && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
	}
}

static void grow(struct pmap *m)
{
	struct pmap_entry *old = m->e;
	size_t oldcap = m->cap;
	size_t cap = oldcap ? oldcap : 16;

	while (m->n * 2 >= cap)
		cap *= 2;
	m->e = k8c_xcalloc(cap, sizeof(*m->e));
	m->cap = cap;
	m->used = m->n;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!pmap_live(&old[i]))
			continue;
		for (j = old[i].hash & (cap - 1); m->e[j].key; j = (j + 1) & (cap - 1))
			;
		m->e[j] = old[i];
	}
	free(old);
}

void *pmap_get(const struct pmap *m, const void *key, size_t klen)
{
	struct pmap_entry *e = find(m, key, klen, pmap_hash(key, klen));

	return e ? e->val : NULL;
}

void **pmap_put(struct pmap *m, const void *key, size_t klen, bool *created)
{
	uint64_t h = pmap_hash(key, klen);
	struct pmap_entry *e = find(m, key, klen, h);
	size_t i;

	if (e) {
		if (created)
			*created = false;
		return &e->val;
	}
	if ((m->used + 1) * 4 >= m->cap * 3)
		grow(m);
	for (i = h & (m->cap - 1); pmap_live(&m->e[i]); i = (i + 1) & (m->cap - 1))
		;
	e = &m->e[i];
	if (!e->key)
		m->used++;
	e->key = k8c_xmalloc(klen ? klen : 1);
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->hash = h;
	e->val = NULL;
	m->n++;
	if (created)
		*created = true;
	return &e->val;
}

void *pmap_del(struct pmap *m, const void *key, size_t klen)
{
	struct pmap_entry *e = find(m, key, klen, pmap_hash(key, klen));
	void *v;

	if (!e)
		return NULL;
	v = e->val;
	free(e->key);
	e->key = PMAP_TOMB;
	e->val = NULL;
	m->n--;
	return v;
}

void pmap_free(struct pmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (pmap_live(&m->e[i]))
			free(m->e[i].key);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

void *pmap_gets(const struct pmap *m, const char *key)
{
	return pmap_get(m, key, strlen(key));
}

void **pmap_puts(struct pmap *m, const char *key, bool *created)
{
	return pmap_put(m, key, strlen(key), created);
}

void *pmap_dels(struct pmap *m, const char *key)
{
	return pmap_del(m, key, strlen(key));
}

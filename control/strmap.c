#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "strmap.h"

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct strmap_entry **slot(const struct strmap *m, const char *key)
{
	struct strmap_entry **p = &m->b[hash(key) & (m->nb - 1)];

	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_entry **p;

	if (!m->nb)
		return NULL;
	p = slot(m, key);
	return *p ? (*p)->val : NULL;
}

static void grow(struct strmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 16;
	struct strmap_entry **b = k8c_xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < m->nb; i++) {
		struct strmap_entry *e = m->b[i], *next;

		for (; e; e = next) {
			size_t h = hash(e->key) & (nb - 1);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *strmap_set(struct strmap *m, const char *key, void *val)
{
	struct strmap_entry **p, *e;
	size_t len = strlen(key);
	void *old;

	if (m->n + 1 > m->nb)
		grow(m);
	p = slot(m, key);
	if (*p) {
		old = (*p)->val;
		(*p)->val = val;
		return old;
	}
	e = k8c_xmalloc(sizeof(*e) + len + 1);
	memcpy(e->key, key, len + 1);
	e->val = val;
	e->next = NULL;
	*p = e;
	m->n++;
	return NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_entry **p, *e;
	void *val;

	if (!m->nb)
		return NULL;
	p = slot(m, key);
	if (!*p)
		return NULL;
	e = *p;
	*p = e->next;
	val = e->val;
	free(e);
	m->n--;
	return val;
}

void strmap_free(struct strmap *m, void (*fn)(void *))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct strmap_entry *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (fn)
				fn(e->val);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

struct strmap_entry *strmap_first(const struct strmap *m, size_t *i)
{
	for (*i = 0; *i < m->nb; (*i)++)
		if (m->b[*i])
			return m->b[*i];
	return NULL;
}

struct strmap_entry *strmap_next(const struct strmap *m, struct strmap_entry *e, size_t *i)
{
	if (e->next)
		return e->next;
	for ((*i)++; *i < m->nb; (*i)++)
		if (m->b[*i])
			return m->b[*i];
	return NULL;
}

/*
 * A hash map with binary keys (copied) and pointer values: open addressing, linear probing,
 * tombstones. The proxy's model and the nftables mirror hold hundreds of thousands of entries,
 * every lookup is O(1) and nothing is ever scanned except by a full iteration.
 */
#ifndef K8C_PROXY_PMAP_H
#define K8C_PROXY_PMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pmap_entry {
	void *key; /* NULL: empty; PMAP_TOMB: deleted */
	size_t klen;
	uint64_t hash;
	void *val;
};

struct pmap {
	struct pmap_entry *e;
	size_t cap, n, used; /* used counts live entries and tombstones */
};

extern char pmap_tomb;
#define PMAP_TOMB ((void *)&pmap_tomb)

uint64_t pmap_hash(const void *key, size_t len);
/* The value for key, or NULL. */
void *pmap_get(const struct pmap *m, const void *key, size_t klen);
/* The value slot for key, inserting (value NULL) when absent; *created says which. */
void **pmap_put(struct pmap *m, const void *key, size_t klen, bool *created);
/* Remove key; returns its value (NULL when absent). */
void *pmap_del(struct pmap *m, const void *key, size_t klen);
/* Free the table and the keys (not the values). */
void pmap_free(struct pmap *m);
static inline bool pmap_live(const struct pmap_entry *e)
{
	return e->key && e->key != PMAP_TOMB;
}
#define pmap_for_each(m, it)                                                                       \
	for (struct pmap_entry *it = (m)->e; (m)->e && it < (m)->e + (m)->cap; it++)               \
		if (pmap_live(it))

/* String keys (the terminating NUL is not part of the key). */
void *pmap_gets(const struct pmap *m, const char *key);
void **pmap_puts(struct pmap *m, const char *key, bool *created);
void *pmap_dels(struct pmap *m, const char *key);

#endif

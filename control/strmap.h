/*
 * A string-keyed hash map of pointers (keys copied, values borrowed), chained, for the
 * scheduler's node and pod tables and the endpoints controllers' label indexes: O(1) lookups
 * where a jansson object would do, but with pointer values.
 */
#ifndef K8C_STRMAP_H
#define K8C_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_entry {
	struct strmap_entry *next;
	void *val;
	char key[];
};

struct strmap {
	struct strmap_entry **b;
	size_t nb, n;
};

/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Set key to val (replacing); returns the previous value or NULL. */
void *strmap_set(struct strmap *m, const char *key, void *val);
/* Remove key; returns its value (NULL when absent). */
void *strmap_del(struct strmap *m, const char *key);
/* Free the table and keys; fn (may be NULL) frees each value. */
void strmap_free(struct strmap *m, void (*fn)(void *));

/* Iterate: for (e = strmap_first(m, &i); e; e = strmap_next(m, e, &i)); do not modify meanwhile. */
struct strmap_entry *strmap_first(const struct strmap *m, size_t *i);
struct strmap_entry *strmap_next(const struct strmap *m, struct strmap_entry *e, size_t *i);

#endif

/*
 * The API server's storage: a revisioned key-value log in the manner of etcd v3 and kine.
 *
 * Keys are strings ("/registry/pods/default/web", valid UTF-8), values are opaque bytes (the
 * object's JSON). Every successful write gets the next global revision, which is the object's
 * resourceVersion; revisions are never reused, also across restarts. Reads and writes are
 * linearizable with respect to each other (one writer commits in revision order; a read started
 * after a write was acknowledged sees it).
 *
 * The interface is a table of operations so that backends can be swapped: SQLite
 * (store_sqlite.c, embedded default) and later etcd v3. Callers use the store_*() wrappers.
 *
 * Errors: every fallible call takes `struct k8c_error *err` last and returns <0 on failure with
 * err->code one of enum store_errcode; the API server maps them to HTTP statuses (NOT_FOUND 404,
 * EXISTS 409 AlreadyExists, CONFLICT 409 Conflict, EXPIRED 410 Gone, FUTURE 504 "Too large
 * resource version", IO and the rest 500).
 *
 * Threads: every store_*() call is thread-safe and blocking (writes wait for their group commit,
 * about 1 ms on SQLite), so the HTTP server calls them from worker threads, not from its event
 * loop. A watch (struct store_watch) is used by one thread at a time; its fd can be polled from
 * an event loop. Ownership: results handed out (store_kv, store_list, store_event) belong to the
 * caller and are released with the matching *_free()/unref().
 */
#ifndef K8C_STORE_H
#define K8C_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum store_errcode {
	STORE_E_NOT_FOUND = 1, /* no live key */
	STORE_E_EXISTS,	       /* create of a live key */
	STORE_E_CONFLICT,      /* expected mod_revision differs from the current one */
	STORE_E_EXPIRED,       /* revision older than the compacted one */
	STORE_E_FUTURE,	       /* revision newer than the current one */
	STORE_E_INVALID,       /* bad argument (empty key...) */
	STORE_E_BUSY,	       /* another process holds the store */
	STORE_E_IO,	       /* backend failure; the write was not applied */
};

/* One version of a key. key and value share one allocation (value is NUL-terminated too). */
struct store_kv {
	char *key;
	void *value;
	size_t value_len;
	int64_t create_revision; /* revision of the create that started this key's life */
	int64_t mod_revision;	 /* revision of this version: the resourceVersion */
};

struct store_list {
	struct store_kv *items; /* sorted by key */
	size_t n;
	int64_t revision; /* the revision the list was read at */
	bool more;	  /* limit cut the list: continue after items[n - 1].key */
};

enum store_event_type {
	STORE_ADDED = 1,
	STORE_MODIFIED,
	STORE_DELETED,
};

/*
 * A watch event, shared (refcounted, immutable) between the replay ring and every watcher that
 * receives it. For DELETED, value is the last value before the delete (as Kubernetes sends it)
 * and mod_revision is the delete's revision. prev_value is NULL for ADDED.
 */
struct store_event {
	enum store_event_type type;
	const char *key;
	const void *value;
	size_t value_len;
	const void *prev_value;
	size_t prev_value_len;
	int64_t mod_revision;
	int64_t create_revision;
	int64_t prev_revision; /* mod_revision of the previous version, 0 for ADDED */
	int refs;	       /* private: atomic */
};

struct store;
/* A backend embeds this first in its watcher. */
struct store_watch {
	struct store *store;
};

struct store_ops {
	const char *name;
	int (*revision)(struct store *s, int64_t *rev, struct k8c_error *err);
	int (*get)(struct store *s, const char *key, struct store_kv *out, struct k8c_error *err);
	int (*list)(struct store *s, const char *prefix, int64_t revision, size_t limit,
		    const char *continue_after, struct store_list *out, struct k8c_error *err);
	int (*create)(struct store *s, const char *key, const void *value, size_t len, int64_t *rev,
		      struct k8c_error *err);
	int (*update)(struct store *s, const char *key, const void *value, size_t len,
		      int64_t expected, int64_t *rev, struct store_kv *cur, struct k8c_error *err);
	int (*del)(struct store *s, const char *key, int64_t expected, int64_t *rev,
		   struct store_kv *prev, struct k8c_error *err);
	int (*compact)(struct store *s, int64_t revision, struct k8c_error *err);
	int (*compacted)(struct store *s, int64_t *rev, struct k8c_error *err);
	int (*watch)(struct store *s, const char *prefix, int64_t revision,
		     struct store_watch **out, struct k8c_error *err);
	int (*watch_fd)(struct store_watch *w);
	int (*watch_next)(struct store_watch *w, struct store_event **evs, size_t max,
			  struct k8c_error *err);
	void (*watch_close)(struct store_watch *w);
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
};

/* The current revision (of the last acknowledged write; 0 for an empty store). */
int store_revision(struct store *s, int64_t *rev, struct k8c_error *err);

/* The live version of key; NOT_FOUND when absent or deleted. out is owned by the caller. */
int store_get(struct store *s, const char *key, struct store_kv *out, struct k8c_error *err);

/*
 * The live keys under prefix ("" = all) at revision (0 = latest), sorted by key, at most limit
 * items (0 = no limit), only keys greater than continue_after (NULL = from the start). To page
 * consistently pass the first page's out->revision on the following pages. EXPIRED when
 * revision is below the compacted revision, FUTURE when above the current one.
 */
int store_list(struct store *s, const char *prefix, int64_t revision, size_t limit,
	       const char *continue_after, struct store_list *out, struct k8c_error *err);

/* Create key; *rev gets the new revision. EXISTS when the key is live. */
int store_create(struct store *s, const char *key, const void *value, size_t len, int64_t *rev,
		 struct k8c_error *err);

/*
 * Replace key's value if its mod_revision equals expected (0 = unconditional); *rev gets the new
 * revision. NOT_FOUND when absent. CONFLICT when expected is stale: then *rev is the current
 * mod_revision and, if cur is not NULL, cur gets the current version (so a retry loop needs no
 * second read).
 */
int store_update(struct store *s, const char *key, const void *value, size_t len, int64_t expected,
		 int64_t *rev, struct store_kv *cur, struct k8c_error *err);

/*
 * Delete key if its mod_revision equals expected (0 = unconditional); *rev gets the delete's
 * revision and prev (if not NULL) the deleted version. NOT_FOUND, or CONFLICT as for update
 * (prev then gets the current version).
 */
int store_delete(struct store *s, const char *key, int64_t expected, int64_t *rev,
		 struct store_kv *prev, struct k8c_error *err);

/*
 * Drop history below revision: afterwards reads at revisions >= revision and watches from
 * revision - 1 onwards still work, older ones fail with EXPIRED. The latest version of every live
 * key is kept. A revision at or below the compacted one is a no-op; FUTURE above the current one.
 */
int store_compact(struct store *s, int64_t revision, struct k8c_error *err);

/* The revision of the last compaction (0 = never). */
int store_compacted(struct store *s, int64_t *rev, struct k8c_error *err);

/*
 * Watch the keys under prefix for every event after revision (0 = from now): first the replay
 * of the history after revision, then live events, in revision order, without gap or duplicate.
 * EXPIRED when history after revision was compacted (the API answers 410 Gone). Watching a
 * future revision is allowed (events start when the store gets there).
 */
int store_watch(struct store *s, const char *prefix, int64_t revision, struct store_watch **out,
		struct k8c_error *err);

/*
 * An fd that becomes readable when store_watch_next() may have events: poll it from an event
 * loop, then call store_watch_next() until it returns 0. The fd stays owned by the watch.
 */
int store_watch_fd(struct store_watch *w);

/*
 * Up to max events into evs (each to be released with store_event_unref()); returns how many,
 * 0 when there are none yet (the fd will become readable). Replays from disk when the watcher
 * is behind the in-memory ring, so it may block for a few ms then; EXPIRED when compaction
 * overtook the watcher (the client must re-list).
 */
int store_watch_next(struct store_watch *w, struct store_event **evs, size_t max,
		     struct k8c_error *err);

/* Stop the watch and release it (its fd is closed). */
void store_watch_close(struct store_watch *w);

/* Close the store; every watch must be closed before. Blocks until the writer drained. */
void store_close(struct store *s);

/* Release the buffers of a kv (the struct itself is the caller's); NULL-safe. */
void store_kv_free(struct store_kv *kv);
/* Release the items of a list. */
void store_list_free(struct store_list *l);

/* Event references: new events start with one reference. */
struct store_event *store_event_new(enum store_event_type type, const char *key, const void *value,
				    size_t value_len, const void *prev, size_t prev_len,
				    int64_t mod_revision, int64_t create_revision,
				    int64_t prev_revision);
struct store_event *store_event_ref(struct store_event *ev);
void store_event_unref(struct store_event *ev);

/* Fill kv with copies of key and value (one allocation). */
void store_kv_set(struct store_kv *kv, const char *key, size_t key_len, const void *value,
		  size_t value_len, int64_t create_revision, int64_t mod_revision);

/* "ADDED", "MODIFIED", "DELETED": the watch event types of the Kubernetes API. */
const char *store_event_type_name(enum store_event_type type);

/* The exclusive upper bound of the keys that start with prefix, written to buf (len + 2). */
void store_prefix_end(const char *prefix, char *buf);

/* Whether key starts with prefix. */
bool store_key_has_prefix(const char *key, const char *prefix);

/* Options of the SQLite backend; zero fields take the defaults. */
struct store_sqlite_config {
	const char *path; /* the database file; "-wal", "-shm", "-lock" files beside it */
	bool sync_full;	  /* fsync every commit (survives power loss), else process crashes */
	size_t ring_size; /* events kept in memory for watch replay (default 8192, power of 2) */
	size_t readers;	  /* read connections (default 4) */
	size_t max_batch; /* writes per group commit (default 1024) */
	size_t compact_chunk; /* revisions compacted per writer transaction (default 1000) */
};

/* Open (creating if needed) the SQLite store at cfg->path. BUSY if another process has it. */
int store_sqlite_open(const struct store_sqlite_config *cfg, struct store **out,
		      struct k8c_error *err);

#endif

/*
 * The SQLite backend of the store, on kine's schema (k3s-io/kine): one row per version,
 * id = revision, a delete is a row with deleted = 1 that carries the last value.
 *
 * Threads and connections (all connections are SQLITE_OPEN_NOMUTEX: each is used by one thread
 * at a time):
 * - the writer thread owns the write connection. Callers queue requests and sleep on a
 *   semaphore; the writer takes everything queued (up to max_batch), applies it in one
 *   transaction, commits, publishes the events, then wakes the callers: group commit, so a
 *   burst of N writes costs one commit instead of N. It assigns ids itself (revision + 1) so
 *   revisions have no holes, which lets the replay ring be indexed by revision.
 * - a pool of read connections serves get, list and the watch replay from disk; WAL readers
 *   never block the writer nor each other.
 * - the checkpointer thread runs WAL checkpoints on its own connection: a checkpoint fsyncs the
 *   database file, which would otherwise stall a commit (wal_autocheckpoint is off).
 * Watches: the last ring_size events stay in memory, refcounted; a watcher is only a cursor
 * (the next revision it wants) plus an eventfd, so a write costs one eventfd write per waiting
 * watcher whose prefix matches, whatever the number of events queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cleanup.h"
#include "store.h"

#define RING_DEFAULT	      8192
#define READERS_DEFAULT	      4
#define MAX_BATCH_DEFAULT     1024
#define COMPACT_CHUNK_DEFAULT 1000
/* WAL pages (4 KiB) after which the checkpointer is woken; SQLite's own default. */
#define CHECKPOINT_PAGES 1000

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS kine ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created INTEGER,"
	" deleted INTEGER, create_revision INTEGER, prev_revision INTEGER, lease INTEGER,"
	" value BLOB, old_value BLOB);"
	/* kine's optimistic concurrency: two versions cannot follow the same one. */
	"CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex"
	" ON kine (name, prev_revision);"
	/* The latest version of a name, and the versions of a name up to a revision (list). */
	"CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id);"
	/* kine keeps the compacted revision in a magic row; a table of its own stays out of lists. */
	"CREATE TABLE IF NOT EXISTS kine_meta (name TEXT PRIMARY KEY, value INTEGER) WITHOUT "
	"ROWID;";

static const char latest_sql[] = "SELECT id, create_revision, deleted, value FROM kine"
				 " WHERE name = ?1 ORDER BY id DESC LIMIT 1";
static const char insert_sql[] =
	"INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease,"
	" value, old_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8)";
static const char maxrev_sql[] = "SELECT COALESCE(MAX(id), 0) FROM kine";
static const char seq_sql[] = "SELECT COALESCE((SELECT seq FROM sqlite_sequence"
			      " WHERE name = 'kine'), 0)";
static const char compact_rev_sql[] = "SELECT COALESCE((SELECT value FROM kine_meta"
				      " WHERE name = 'compact_rev'), 0)";
static const char set_compact_sql[] =
	"INSERT INTO kine_meta (name, value) VALUES ('compact_rev', ?1)"
	" ON CONFLICT (name) DO UPDATE SET value = excluded.value";
/* Versions superseded by a version in (?1, ?2]: each row names its predecessor. */
static const char compact_prev_sql[] =
	"DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine"
	" WHERE id > ?1 AND id <= ?2 AND prev_revision > 0)";
static const char compact_tomb_sql[] =
	"DELETE FROM kine WHERE id >= ?1 AND id < ?2 AND deleted = 1";
/*
 * Live keys at revision ?4 in name order: walk (name, id) and keep a version when no newer one
 * exists at ?4. The index gives the ORDER BY, so LIMIT stops the walk early (pages cost their
 * size, not the whole prefix).
 */
static const char list_sql[] =
	"SELECT k.id, k.name, k.create_revision, k.value FROM kine AS k"
	" WHERE k.name >= ?1 AND k.name < ?2 AND k.id <= ?3 AND k.deleted = 0"
	" AND NOT EXISTS (SELECT 1 FROM kine AS n WHERE n.name = k.name AND n.id > k.id"
	" AND n.id <= ?3) ORDER BY k.name LIMIT ?4";
/* The next page: the same with "name > continue" as the one lower bound of the index range. */
static const char list_after_sql[] =
	"SELECT k.id, k.name, k.create_revision, k.value FROM kine AS k"
	" WHERE k.name > ?1 AND k.name < ?2 AND k.id <= ?3 AND k.deleted = 0"
	" AND NOT EXISTS (SELECT 1 FROM kine AS n WHERE n.name = k.name AND n.id > k.id"
	" AND n.id <= ?3) ORDER BY k.name LIMIT ?4";
/* Watch replay from disk, in revision order; "+name" keeps the planner on the id range. */
static const char events_sql[] =
	"SELECT id, name, created, deleted, create_revision, prev_revision, value, old_value"
	" FROM kine WHERE id >= ?1 AND id <= ?2 AND +name >= ?3 AND +name < ?4"
	" ORDER BY id LIMIT ?5";

enum wreq_kind {
	WREQ_CREATE,
	WREQ_UPDATE,
	WREQ_DELETE,
	WREQ_COMPACT,
};

/* A write queued for the writer thread; lives on the caller's stack until done is posted. */
struct wreq {
	enum wreq_kind kind;
	const char *key;
	const void *value;
	size_t len;
	int64_t expected; /* WREQ_COMPACT: the target revision */
	struct store_kv *kv_out;
	/* results */
	int code;
	char *msg;
	int64_t rev;
	sem_t done;
	struct wreq *next;
};

struct reader {
	sqlite3 *db;
	sqlite3_stmt *get, *list, *list_after, *maxrev, *compact_rev, *events;
	struct reader *next;
};

struct sq_watch {
	struct store_watch base;
	struct sq_store *st;
	char *prefix;
	char *prefix_end;
	int64_t next_rev; /* the first revision not yet returned */
	int efd;
	bool armed; /* atomic: the consumer is waiting on efd */
	struct sq_watch *prev, *next;
};

struct sq_store {
	struct store base;
	struct store_sqlite_config cfg;
	char *path;
	int lock_fd;

	/* writer thread only, except during open/close */
	sqlite3 *wdb;
	sqlite3_stmt *w_latest, *w_insert, *w_compact_prev, *w_compact_tomb, *w_set_compact;
	int64_t wrev;
	int64_t wcompact;
	pthread_t writer;
	bool writer_started;

	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct wreq *q_head, **q_tail;
	bool stopping;

	pthread_mutex_t r_lock;
	pthread_cond_t r_cond;
	struct reader *readers; /* array of cfg.readers */
	struct reader *r_free;

	/* ring[rev & mask] holds revisions [ring_oldest, ring_newest] */
	pthread_mutex_t ring_lock;
	struct store_event **ring;
	size_t ring_mask;
	int64_t ring_oldest, ring_newest;
	int64_t compact_rev; /* atomic */

	pthread_mutex_t watch_lock;
	struct sq_watch *watchers;

	sqlite3 *cdb;
	pthread_t ckpt;
	bool ckpt_started;
	pthread_mutex_t c_lock;
	pthread_cond_t c_cond;
	bool ckpt_wanted, ckpt_stop;
};

static const struct store_ops sq_ops;

static int sql_error(struct k8c_error *err, sqlite3 *db, const char *what)
{
	return k8c_error_set(err, STORE_E_IO, "sqlite: %s: %s", what, sqlite3_errmsg(db));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, struct k8c_error *err)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL) != SQLITE_OK)
		return sql_error(err, db, "prepare");
	return 0;
}

/* One-row integer query. */
static int query_int(sqlite3_stmt *stmt, int64_t *out)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int open_conn(const char *path, bool sync_full, sqlite3 **out, struct k8c_error *err)
{
	sqlite3 *db = NULL;
	char *errmsg = NULL;
	_cleanup_free_ char *pragmas = NULL;

	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		k8c_error_set(err, STORE_E_IO, "sqlite: open %s: %s", path,
			      db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	/*
	 * WAL: readers see a snapshot and never block the writer. synchronous=NORMAL writes every
	 * commit to the WAL before returning (a process crash loses nothing acknowledged) but
	 * fsyncs only at checkpoints; FULL fsyncs the WAL at every commit (power loss too).
	 */
	pragmas = k8c_xasprintf("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;"
				" PRAGMA synchronous = %s; PRAGMA wal_autocheckpoint = 0;"
				" PRAGMA mmap_size = 268435456;",
				sync_full ? "FULL" : "NORMAL");
	if (sqlite3_exec(db, pragmas, NULL, NULL, &errmsg) != SQLITE_OK) {
		k8c_error_set(err, STORE_E_IO, "sqlite: %s: %s", path, errmsg);
		sqlite3_free(errmsg);
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static int exec(sqlite3 *db, const char *sql, struct k8c_error *err)
{
	char *errmsg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		k8c_error_set(err, STORE_E_IO, "sqlite: %s", errmsg ? errmsg : "error");
		sqlite3_free(errmsg);
		return -1;
	}
	return 0;
}

/* ---- read connections ---- */

static struct reader *reader_get(struct sq_store *st)
{
	struct reader *r;

	pthread_mutex_lock(&st->r_lock);
	while (!st->r_free)
		pthread_cond_wait(&st->r_cond, &st->r_lock);
	r = st->r_free;
	st->r_free = r->next;
	pthread_mutex_unlock(&st->r_lock);
	return r;
}

static void reader_put(struct sq_store *st, struct reader *r)
{
	pthread_mutex_lock(&st->r_lock);
	r->next = st->r_free;
	st->r_free = r;
	pthread_cond_signal(&st->r_cond);
	pthread_mutex_unlock(&st->r_lock);
}

static int reader_open(struct sq_store *st, struct reader *r, struct k8c_error *err)
{
	if (open_conn(st->path, st->cfg.sync_full, &r->db, err) < 0)
		return -1;
	if (prepare(r->db, latest_sql, &r->get, err) < 0 ||
	    prepare(r->db, list_sql, &r->list, err) < 0 ||
	    prepare(r->db, list_after_sql, &r->list_after, err) < 0 ||
	    prepare(r->db, maxrev_sql, &r->maxrev, err) < 0 ||
	    prepare(r->db, compact_rev_sql, &r->compact_rev, err) < 0 ||
	    prepare(r->db, events_sql, &r->events, err) < 0)
		return -1;
	return 0;
}

static void reader_close(struct reader *r)
{
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->list);
	sqlite3_finalize(r->list_after);
	sqlite3_finalize(r->maxrev);
	sqlite3_finalize(r->compact_rev);
	sqlite3_finalize(r->events);
	sqlite3_close(r->db);
}

/* ---- the writer ---- */

struct latest {
	bool found;
	bool deleted;
	struct store_kv kv; /* mod_revision = the row's id */
};

static int writer_latest(struct sq_store *st, const char *key, struct latest *l)
{
	sqlite3_stmt *q = st->w_latest;
	int rc;

	memset(l, 0, sizeof(*l));
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		l->found = true;
		l->deleted = sqlite3_column_int(q, 2) != 0;
		/* a copy: the blob pointer would not survive the insert that follows */
		store_kv_set(&l->kv, key, strlen(key), sqlite3_column_blob(q, 3),
			     (size_t)sqlite3_column_bytes(q, 3), sqlite3_column_int64(q, 1),
			     sqlite3_column_int64(q, 0));
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int writer_insert(struct sq_store *st, const char *key, bool created, bool deleted,
			 int64_t create_revision, int64_t prev_revision, const void *value,
			 size_t len, const void *old_value, size_t old_len)
{
	sqlite3_stmt *q = st->w_insert;
	int rc;

	sqlite3_bind_int64(q, 1, st->wrev + 1);
	sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, created);
	sqlite3_bind_int(q, 4, deleted);
	sqlite3_bind_int64(q, 5, create_revision ? create_revision : st->wrev + 1);
	sqlite3_bind_int64(q, 6, prev_revision);
	sqlite3_bind_blob(q, 7, value ? value : "", (int)len, SQLITE_STATIC);
	if (old_value)
		sqlite3_bind_blob(q, 8, old_value, (int)old_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 8);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE)
		return -1;
	st->wrev++;
	return 0;
}

/* Apply one create/update/delete inside the batch's transaction: <0 only on SQL failure. */
static int writer_apply(struct sq_store *st, struct wreq *req, struct store_event **ev)
{
	struct latest l;
	bool live;
	int ret = -1;

	*ev = NULL;
	if (writer_latest(st, req->key, &l) < 0)
		return -1;
	live = l.found && !l.deleted;
	switch (req->kind) {
	case WREQ_CREATE:
		if (live) {
			req->code = STORE_E_EXISTS;
			req->rev = l.kv.mod_revision;
			ret = 0;
			break;
		}
		if (writer_insert(st, req->key, true, false, 0, l.found ? l.kv.mod_revision : 0,
				  req->value, req->len, NULL, 0) < 0)
			break;
		*ev = store_event_new(STORE_ADDED, req->key, req->value, req->len, NULL, 0,
				      st->wrev, st->wrev, 0);
		req->rev = st->wrev;
		ret = 0;
		break;
	case WREQ_UPDATE:
	case WREQ_DELETE:
		if (!live) {
			req->code = STORE_E_NOT_FOUND;
			ret = 0;
			break;
		}
		if (req->expected && req->expected != l.kv.mod_revision) {
			req->code = STORE_E_CONFLICT;
			req->rev = l.kv.mod_revision;
			if (req->kv_out) {
				*req->kv_out = l.kv;
				l.kv.key = NULL;
			}
			ret = 0;
			break;
		}
		if (req->kind == WREQ_UPDATE) {
			if (writer_insert(st, req->key, false, false, l.kv.create_revision,
					  l.kv.mod_revision, req->value, req->len, l.kv.value,
					  l.kv.value_len) < 0)
				break;
			*ev = store_event_new(STORE_MODIFIED, req->key, req->value, req->len,
					      l.kv.value, l.kv.value_len, st->wrev,
					      l.kv.create_revision, l.kv.mod_revision);
		} else {
			/* the tombstone carries the last value, as kine's does */
			if (writer_insert(st, req->key, false, true, l.kv.create_revision,
					  l.kv.mod_revision, l.kv.value, l.kv.value_len, l.kv.value,
					  l.kv.value_len) < 0)
				break;
			*ev = store_event_new(STORE_DELETED, req->key, l.kv.value, l.kv.value_len,
					      l.kv.value, l.kv.value_len, st->wrev,
					      l.kv.create_revision, l.kv.mod_revision);
			if (req->kv_out) {
				*req->kv_out = l.kv;
				l.kv.key = NULL;
			}
		}
		req->rev = st->wrev;
		ret = 0;
		break;
	case WREQ_COMPACT:
		break;
	}
	store_kv_free(&l.kv);
	return ret;
}

/* Compact to req->expected inside the batch's transaction: <0 only on SQL failure. */
static int writer_compact(struct sq_store *st, struct wreq *req, int64_t *compact)
{
	int64_t target = req->expected;
	sqlite3_stmt *q;

	if (target <= *compact)
		return 0;
	if (target > st->wrev) {
		req->code = STORE_E_FUTURE;
		req->rev = st->wrev;
		return 0;
	}
	q = st->w_compact_prev;
	sqlite3_bind_int64(q, 1, *compact);
	sqlite3_bind_int64(q, 2, target);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(q);
	q = st->w_compact_tomb;
	sqlite3_bind_int64(q, 1, *compact);
	sqlite3_bind_int64(q, 2, target);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(q);
	q = st->w_set_compact;
	sqlite3_bind_int64(q, 1, target);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_reset(q);
	*compact = target;
	req->rev = target;
	return 0;
fail:
	sqlite3_reset(q);
	return -1;
}

/* Whether any of the batch's events is under the watcher's prefix. */
static bool watch_wants(const struct sq_watch *w, struct store_event **evs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (evs[i]->mod_revision >= __atomic_load_n(&w->next_rev, __ATOMIC_RELAXED) &&
		    store_key_has_prefix(evs[i]->key, w->prefix))
			return true;
	return false;
}

/* Make a committed batch visible to watchers (and to store_revision()). */
static void publish(struct sq_store *st, struct store_event **evs, size_t n)
{
	size_t i;

	pthread_mutex_lock(&st->ring_lock);
	for (i = 0; i < n; i++) {
		struct store_event **slot = &st->ring[(size_t)evs[i]->mod_revision & st->ring_mask];

		store_event_unref(*slot);
		*slot = store_event_ref(evs[i]);
		st->ring_newest = evs[i]->mod_revision;
	}
	if (st->ring_newest - st->ring_oldest + 1 > (int64_t)(st->ring_mask + 1))
		st->ring_oldest = st->ring_newest - (int64_t)st->ring_mask;
	pthread_mutex_unlock(&st->ring_lock);
}

/* Wake the waiting watchers that the batch concerns. */
static void notify(struct sq_store *st, struct store_event **evs, size_t n)
{
	struct sq_watch *w;
	uint64_t one = 1;

	/*
	 * A watcher sets armed under ring_lock after finding nothing; we test it after having
	 * released ring_lock with the new events in, so no wakeup is lost. next_rev is read racily:
	 * a stale value only causes a spurious wakeup.
	 */
	pthread_mutex_lock(&st->watch_lock);
	for (w = st->watchers; w; w = w->next) {
		if (!__atomic_load_n(&w->armed, __ATOMIC_ACQUIRE) || !watch_wants(w, evs, n))
			continue;
		if (__atomic_exchange_n(&w->armed, false, __ATOMIC_ACQ_REL) &&
		    write(w->efd, &one, sizeof(one)) < 0) {
			/* eventfd counters do not overflow at one write per batch */
		}
	}
	pthread_mutex_unlock(&st->watch_lock);
}

static void writer_batch(struct sq_store *st, struct wreq *batch)
{
	_cleanup_free_ struct store_event **evs = NULL;
	struct wreq *req, *next;
	size_t n = 0, nreq = 0;
	int64_t base = st->wrev, compact = st->wcompact;
	char *failure = NULL;

	for (req = batch; req; req = req->next)
		nreq++;
	evs = k8c_xcalloc(nreq, sizeof(*evs));
	if (sqlite3_exec(st->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		failure = k8c_xasprintf("sqlite: begin: %s", sqlite3_errmsg(st->wdb));
		goto done;
	}
	for (req = batch; req; req = req->next) {
		int rc;

		if (req->kind == WREQ_COMPACT)
			rc = writer_compact(st, req, &compact);
		else
			rc = writer_apply(st, req, &evs[n]);
		if (rc < 0) {
			failure = k8c_xasprintf("sqlite: write: %s", sqlite3_errmsg(st->wdb));
			break;
		}
		if (evs[n])
			n++;
	}
	if (!failure && sqlite3_exec(st->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		failure = k8c_xasprintf("sqlite: commit: %s", sqlite3_errmsg(st->wdb));
done:
	if (failure) {
		size_t i;

		sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
		st->wrev = base;
		for (i = 0; i < n; i++)
			store_event_unref(evs[i]);
		n = 0;
		/* even a CONFLICT was judged against writes that are now rolled back */
		for (req = batch; req; req = req->next) {
			req->code = STORE_E_IO;
			req->msg = k8c_xstrdup(failure);
			if (req->kv_out)
				store_kv_free(req->kv_out);
		}
		free(failure);
	} else {
		st->wcompact = compact;
		__atomic_store_n(&st->compact_rev, compact, __ATOMIC_RELEASE);
	}
	publish(st, evs, n);
	/* callers first: a wakeup per watcher (1,000 of them = 1,000 syscalls) is not their wait */
	for (req = batch; req; req = next) {
		next = req->next;
		sem_post(&req->done);
	}
	if (n)
		notify(st, evs, n);
	while (n > 0)
		store_event_unref(evs[--n]);
}

static void *writer_main(void *arg)
{
	struct sq_store *st = arg;

	for (;;) {
		struct wreq *batch, **tail;
		size_t n = 0;

		pthread_mutex_lock(&st->q_lock);
		while (!st->q_head && !st->stopping)
			pthread_cond_wait(&st->q_cond, &st->q_lock);
		if (!st->q_head) {
			pthread_mutex_unlock(&st->q_lock);
			return NULL;
		}
		batch = st->q_head;
		tail = &st->q_head;
		while (*tail && n < st->cfg.max_batch) {
			tail = &(*tail)->next;
			n++;
		}
		st->q_head = *tail;
		*tail = NULL;
		if (!st->q_head)
			st->q_tail = &st->q_head;
		pthread_mutex_unlock(&st->q_lock);
		writer_batch(st, batch);
	}
}

static int writer_submit(struct sq_store *st, struct wreq *req, struct k8c_error *err)
{
	req->code = 0;
	req->msg = NULL;
	req->next = NULL;
	sem_init(&req->done, 0, 0);
	pthread_mutex_lock(&st->q_lock);
	*st->q_tail = req;
	st->q_tail = &req->next;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	while (sem_wait(&req->done) < 0 && errno == EINTR)
		;
	sem_destroy(&req->done);
	if (req->code == STORE_E_IO) {
		k8c_error_set(err, STORE_E_IO, "%s", req->msg);
		free(req->msg);
		return -1;
	}
	return req->code ? -1 : 0;
}

/* ---- checkpoints ---- */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *st = arg;

	if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&st->c_lock);
		st->ckpt_wanted = true;
		pthread_cond_signal(&st->c_cond);
		pthread_mutex_unlock(&st->c_lock);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct sq_store *st = arg;

	pthread_mutex_lock(&st->c_lock);
	while (!st->ckpt_stop) {
		if (!st->ckpt_wanted) {
			pthread_cond_wait(&st->c_cond, &st->c_lock);
			continue;
		}
		st->ckpt_wanted = false;
		pthread_mutex_unlock(&st->c_lock);
		/*
		 * PASSIVE never waits for readers or the writer; what it cannot copy yet is
		 * copied by the next one. The writer restarts the WAL from its start once a
		 * checkpoint completed, so the file stays near CHECKPOINT_PAGES.
		 */
		sqlite3_wal_checkpoint_v2(st->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&st->c_lock);
	}
	pthread_mutex_unlock(&st->c_lock);
	return NULL;
}

/* ---- operations ---- */

static int check_key(const char *key, struct k8c_error *err)
{
	if (!key || !*key)
		return k8c_error_set(err, STORE_E_INVALID, "empty key");
	return 0;
}

/* SQLite binds blob lengths as int; etcd's default request limit is 1.5 MiB anyway. */
#define VALUE_MAX (64u << 20)

static int check_write(const char *key, size_t len, struct k8c_error *err)
{
	if (check_key(key, err) < 0)
		return -1;
	if (len > VALUE_MAX)
		return k8c_error_set(err, STORE_E_INVALID, "key %s: value of %zu bytes (max %u)",
				     key, len, VALUE_MAX);
	return 0;
}

static int sq_revision(struct store *s, int64_t *rev, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;

	pthread_mutex_lock(&st->ring_lock);
	*rev = st->ring_newest;
	pthread_mutex_unlock(&st->ring_lock);
	return 0;
}

static int sq_compacted(struct store *s, int64_t *rev, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;

	*rev = __atomic_load_n(&st->compact_rev, __ATOMIC_ACQUIRE);
	return 0;
}

static int sq_get(struct store *s, const char *key, struct store_kv *out, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct reader *r;
	sqlite3_stmt *q;
	int rc, ret = -1;

	if (check_key(key, err) < 0)
		return -1;
	r = reader_get(st);
	q = r->get;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && !sqlite3_column_int(q, 2)) {
		store_kv_set(out, key, strlen(key), sqlite3_column_blob(q, 3),
			     (size_t)sqlite3_column_bytes(q, 3), sqlite3_column_int64(q, 1),
			     sqlite3_column_int64(q, 0));
		ret = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		k8c_error_set(err, STORE_E_NOT_FOUND, "key %s: not found", key);
	} else {
		sql_error(err, r->db, "get");
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	reader_put(st, r);
	return ret;
}

static int list_rows(struct reader *r, const char *prefix, int64_t rev, size_t limit,
		     const char *after, struct store_list *out, struct k8c_error *err)
{
	bool next_page = after && strcmp(after, prefix) >= 0;
	sqlite3_stmt *q = next_page ? r->list_after : r->list;
	_cleanup_free_ char *end = k8c_xmalloc(strlen(prefix) + 2);
	size_t cap = 0;
	int rc;

	store_prefix_end(prefix, end);
	sqlite3_bind_text(q, 1, next_page ? after : prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, rev);
	sqlite3_bind_int64(q, 4, limit ? (int64_t)limit + 1 : -1);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (limit && out->n == limit) {
			out->more = true;
			break;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->items = k8c_xrealloc(out->items, cap * sizeof(*out->items));
		}
		store_kv_set(&out->items[out->n++], (const char *)sqlite3_column_text(q, 1),
			     (size_t)sqlite3_column_bytes(q, 1), sqlite3_column_blob(q, 3),
			     (size_t)sqlite3_column_bytes(q, 3), sqlite3_column_int64(q, 2),
			     sqlite3_column_int64(q, 0));
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_error(err, r->db, "list");
	return 0;
}

static int sq_list(struct store *s, const char *prefix, int64_t revision, size_t limit,
		   const char *continue_after, struct store_list *out, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct reader *r = reader_get(st);
	int64_t cur, compact;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (revision < 0) {
		reader_put(st, r);
		return k8c_error_set(err, STORE_E_INVALID, "list %s: negative revision", prefix);
	}
	/* one read transaction: the revision, the compaction mark and the rows agree */
	if (exec(r->db, "BEGIN", err) < 0)
		goto out;
	if (query_int(r->maxrev, &cur) < 0 || query_int(r->compact_rev, &compact) < 0) {
		sql_error(err, r->db, "list: revision");
		goto end;
	}
	if (revision == 0) {
		revision = cur;
	} else if (revision > cur) {
		k8c_error_set(err, STORE_E_FUTURE,
			      "list %s: revision %" PRId64
			      " is newer than the current one (%" PRId64 ")",
			      prefix, revision, cur);
		goto end;
	} else if (revision < compact) {
		k8c_error_set(err, STORE_E_EXPIRED,
			      "list %s: revision %" PRId64
			      " is compacted (compacted revision %" PRId64 ")",
			      prefix, revision, compact);
		goto end;
	}
	out->revision = revision;
	if (list_rows(r, prefix, revision, limit, continue_after, out, err) < 0)
		goto end;
	ret = 0;
end:
	sqlite3_exec(r->db, ret == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
out:
	reader_put(st, r);
	if (ret < 0)
		store_list_free(out);
	return ret;
}

static int sq_create(struct store *s, const char *key, const void *value, size_t len, int64_t *rev,
		     struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct wreq req = {.kind = WREQ_CREATE, .key = key, .value = value, .len = len};

	if (check_write(key, len, err) < 0)
		return -1;
	if (writer_submit(st, &req, err) < 0) {
		if (req.code == STORE_E_EXISTS)
			k8c_error_set(err, STORE_E_EXISTS, "key %s: already exists", key);
		return k8c_error_wrap(err, "create %s", key);
	}
	if (rev)
		*rev = req.rev;
	return 0;
}

static int write_failed(struct wreq *req, const char *verb, int64_t *rev, struct k8c_error *err)
{
	if (req->code == STORE_E_NOT_FOUND) {
		k8c_error_set(err, STORE_E_NOT_FOUND, "key %s: not found", req->key);
	} else if (req->code == STORE_E_CONFLICT) {
		k8c_error_set(err, STORE_E_CONFLICT,
			      "key %s: modified at revision %" PRId64 " (expected %" PRId64 ")",
			      req->key, req->rev, req->expected);
		if (rev)
			*rev = req->rev;
	}
	return k8c_error_wrap(err, "%s %s", verb, req->key);
}

static int sq_update(struct store *s, const char *key, const void *value, size_t len,
		     int64_t expected, int64_t *rev, struct store_kv *cur, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct wreq req = {.kind = WREQ_UPDATE,
			   .key = key,
			   .value = value,
			   .len = len,
			   .expected = expected,
			   .kv_out = cur};

	if (check_write(key, len, err) < 0)
		return -1;
	if (writer_submit(st, &req, err) < 0)
		return write_failed(&req, "update", rev, err);
	if (rev)
		*rev = req.rev;
	return 0;
}

static int sq_del(struct store *s, const char *key, int64_t expected, int64_t *rev,
		  struct store_kv *prev, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct wreq req = {.kind = WREQ_DELETE, .key = key, .expected = expected, .kv_out = prev};

	if (check_key(key, err) < 0)
		return -1;
	if (writer_submit(st, &req, err) < 0)
		return write_failed(&req, "delete", rev, err);
	if (rev)
		*rev = req.rev;
	return 0;
}

static int sq_compact(struct store *s, int64_t revision, struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	int64_t done = __atomic_load_n(&st->compact_rev, __ATOMIC_ACQUIRE);

	/* in chunks, each its own writer transaction, so writes wait for one chunk at most */
	while (done < revision) {
		int64_t step = revision - done > (int64_t)st->cfg.compact_chunk
				       ? done + (int64_t)st->cfg.compact_chunk
				       : revision;
		struct wreq req = {.kind = WREQ_COMPACT, .expected = step};

		if (writer_submit(st, &req, err) < 0) {
			if (req.code == STORE_E_FUTURE)
				k8c_error_set(err, STORE_E_FUTURE,
					      "revision %" PRId64
					      " is newer than the current one (%" PRId64 ")",
					      revision, req.rev);
			return k8c_error_wrap(err, "compact to %" PRId64, revision);
		}
		done = step;
	}
	return 0;
}

/* ---- watches ---- */

static struct store_event *event_from_row(sqlite3_stmt *q)
{
	int64_t id = sqlite3_column_int64(q, 0);
	const char *key = (const char *)sqlite3_column_text(q, 1);
	bool created = sqlite3_column_int(q, 2), deleted = sqlite3_column_int(q, 3);
	int64_t create_rev = sqlite3_column_int64(q, 4), prev_rev = sqlite3_column_int64(q, 5);
	const void *value = sqlite3_column_blob(q, 6);
	size_t len = (size_t)sqlite3_column_bytes(q, 6);
	const void *old = sqlite3_column_blob(q, 7);
	size_t old_len = (size_t)sqlite3_column_bytes(q, 7);

	if (deleted)
		return store_event_new(STORE_DELETED, key, value, len, old ? old : "", old_len, id,
				       create_rev, prev_rev);
	if (created)
		return store_event_new(STORE_ADDED, key, value, len, NULL, 0, id, create_rev, 0);
	return store_event_new(STORE_MODIFIED, key, value, len, old ? old : "", old_len, id,
			       create_rev, prev_rev);
}

/* Events of revisions [w->next_rev, hi] from disk: the watcher fell behind the ring. */
static int watch_replay(struct sq_watch *w, int64_t hi, struct store_event **evs, size_t max,
			struct k8c_error *err)
{
	struct sq_store *st = w->st;
	struct reader *r = reader_get(st);
	sqlite3_stmt *q = r->events;
	int64_t compact, last = 0;
	int n = 0, rc, ret = -1;

	if (exec(r->db, "BEGIN", err) < 0)
		goto out;
	if (query_int(r->compact_rev, &compact) < 0) {
		sql_error(err, r->db, "watch: compacted revision");
		goto end;
	}
	/* read in the same snapshot as the rows: a compaction cannot slip in between */
	if (w->next_rev < compact) {
		k8c_error_set(err, STORE_E_EXPIRED,
			      "watch %s: revision %" PRId64
			      " is compacted (compacted revision %" PRId64 ")",
			      w->prefix, w->next_rev - 1, compact);
		goto end;
	}
	sqlite3_bind_int64(q, 1, w->next_rev);
	sqlite3_bind_int64(q, 2, hi);
	sqlite3_bind_text(q, 3, w->prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, w->prefix_end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, (int64_t)max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		evs[n++] = event_from_row(q);
		last = sqlite3_column_int64(q, 0);
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE) {
		while (n > 0)
			store_event_unref(evs[--n]);
		sql_error(err, r->db, "watch: replay");
		goto end;
	}
	__atomic_store_n(&w->next_rev, (size_t)n == max ? last + 1 : hi + 1, __ATOMIC_RELAXED);
	ret = n;
end:
	sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
out:
	reader_put(st, r);
	return ret;
}

static int sq_watch_next(struct store_watch *base, struct store_event **evs, size_t max,
			 struct k8c_error *err)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *st = w->st;
	uint64_t v;

	if (max == 0)
		return 0;
	if (read(w->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled, events may still be there */
	}
	for (;;) {
		size_t n = 0;
		int64_t r;

		pthread_mutex_lock(&st->ring_lock);
		if (w->next_rev < st->ring_oldest) {
			int64_t hi = st->ring_oldest - 1;
			int got;

			pthread_mutex_unlock(&st->ring_lock);
			got = watch_replay(w, hi, evs, max, err);
			if (got != 0)
				return got;
			continue;
		}
		for (r = w->next_rev; r <= st->ring_newest && n < max; r++) {
			struct store_event *ev = st->ring[(size_t)r & st->ring_mask];

			if (store_key_has_prefix(ev->key, w->prefix))
				evs[n++] = store_event_ref(ev);
		}
		if (r > w->next_rev)
			__atomic_store_n(&w->next_rev, r, __ATOMIC_RELAXED);
		if (n == 0)
			__atomic_store_n(&w->armed, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&st->ring_lock);
		return (int)n;
	}
}

static int sq_watch_fd(struct store_watch *base)
{
	return ((struct sq_watch *)base)->efd;
}

static void watch_free(struct sq_watch *w)
{
	if (w->efd >= 0)
		close(w->efd);
	free(w->prefix);
	free(w->prefix_end);
	free(w);
}

static void sq_watch_close(struct store_watch *base)
{
	struct sq_watch *w = (struct sq_watch *)base;
	struct sq_store *st = w->st;

	pthread_mutex_lock(&st->watch_lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		st->watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&st->watch_lock);
	watch_free(w);
}

static int sq_watch(struct store *s, const char *prefix, int64_t revision, struct store_watch **out,
		    struct k8c_error *err)
{
	struct sq_store *st = (struct sq_store *)s;
	struct sq_watch *w;
	int64_t compact = __atomic_load_n(&st->compact_rev, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	if (revision < 0)
		return k8c_error_set(err, STORE_E_INVALID, "watch %s: negative revision", prefix);
	/* events after revision are revision + 1 onwards, which compaction to C keeps if >= C */
	if (revision > 0 && revision + 1 < compact)
		return k8c_error_set(err, STORE_E_EXPIRED,
				     "watch %s: revision %" PRId64
				     " is compacted (compacted revision %" PRId64 ")",
				     prefix, revision, compact);
	w = k8c_xcalloc(1, sizeof(*w));
	w->base.store = s;
	w->st = st;
	w->prefix = k8c_xstrdup(prefix);
	w->prefix_end = k8c_xmalloc(strlen(prefix) + 2);
	store_prefix_end(prefix, w->prefix_end);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		k8c_error_errno(err, STORE_E_IO, errno, "watch %s: eventfd", prefix);
		watch_free(w);
		return -1;
	}
	/* readable from the start: the caller's first store_watch_next() finds the replay */
	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* a fresh eventfd takes one write */
	}
	pthread_mutex_lock(&st->ring_lock);
	w->next_rev = revision > 0 ? revision + 1 : st->ring_newest + 1;
	pthread_mutex_unlock(&st->ring_lock);
	pthread_mutex_lock(&st->watch_lock);
	w->next = st->watchers;
	if (w->next)
		w->next->prev = w;
	st->watchers = w;
	pthread_mutex_unlock(&st->watch_lock);
	*out = &w->base;
	return 0;
}

/* ---- open and close ---- */

static void sq_close(struct store *s)
{
	struct sq_store *st = (struct sq_store *)s;
	size_t i;

	if (st->writer_started) {
		pthread_mutex_lock(&st->q_lock);
		st->stopping = true;
		pthread_cond_signal(&st->q_cond);
		pthread_mutex_unlock(&st->q_lock);
		pthread_join(st->writer, NULL);
	}
	if (st->ckpt_started) {
		pthread_mutex_lock(&st->c_lock);
		st->ckpt_stop = true;
		pthread_cond_signal(&st->c_cond);
		pthread_mutex_unlock(&st->c_lock);
		pthread_join(st->ckpt, NULL);
	}
	sqlite3_finalize(st->w_latest);
	sqlite3_finalize(st->w_insert);
	sqlite3_finalize(st->w_compact_prev);
	sqlite3_finalize(st->w_compact_tomb);
	sqlite3_finalize(st->w_set_compact);
	for (i = 0; st->readers && i < st->cfg.readers; i++)
		reader_close(&st->readers[i]);
	free(st->readers);
	sqlite3_close(st->cdb);
	if (st->wdb) {
		/* leave a short WAL behind: the next open need not replay it */
		sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_close(st->wdb);
	}
	for (i = 0; st->ring && i <= st->ring_mask; i++)
		store_event_unref(st->ring[i]);
	free(st->ring);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	pthread_mutex_destroy(&st->q_lock);
	pthread_cond_destroy(&st->q_cond);
	pthread_mutex_destroy(&st->r_lock);
	pthread_cond_destroy(&st->r_cond);
	pthread_mutex_destroy(&st->ring_lock);
	pthread_mutex_destroy(&st->watch_lock);
	pthread_mutex_destroy(&st->c_lock);
	pthread_cond_destroy(&st->c_cond);
	free(st->path);
	free(st);
}

static int writer_open(struct sq_store *st, struct k8c_error *err)
{
	int64_t maxrev, seq;
	sqlite3_stmt *q = NULL;

	if (open_conn(st->path, st->cfg.sync_full, &st->wdb, err) < 0)
		return -1;
	if (exec(st->wdb, schema_sql, err) < 0)
		return -1;
	/*
	 * The revision continues from the highest one ever handed out: AUTOINCREMENT's
	 * sqlite_sequence remembers it even if compaction removed that row.
	 */
	if (prepare(st->wdb, maxrev_sql, &q, err) < 0)
		return -1;
	if (query_int(q, &maxrev) < 0) {
		sqlite3_finalize(q);
		return sql_error(err, st->wdb, "max revision");
	}
	sqlite3_finalize(q);
	if (prepare(st->wdb, seq_sql, &q, err) < 0)
		return -1;
	if (query_int(q, &seq) < 0) {
		sqlite3_finalize(q);
		return sql_error(err, st->wdb, "sequence");
	}
	sqlite3_finalize(q);
	st->wrev = maxrev > seq ? maxrev : seq;
	if (prepare(st->wdb, compact_rev_sql, &q, err) < 0)
		return -1;
	if (query_int(q, &st->wcompact) < 0) {
		sqlite3_finalize(q);
		return sql_error(err, st->wdb, "compacted revision");
	}
	sqlite3_finalize(q);
	st->compact_rev = st->wcompact;
	if (prepare(st->wdb, latest_sql, &st->w_latest, err) < 0 ||
	    prepare(st->wdb, insert_sql, &st->w_insert, err) < 0 ||
	    prepare(st->wdb, compact_prev_sql, &st->w_compact_prev, err) < 0 ||
	    prepare(st->wdb, compact_tomb_sql, &st->w_compact_tomb, err) < 0 ||
	    prepare(st->wdb, set_compact_sql, &st->w_set_compact, err) < 0)
		return -1;
	sqlite3_wal_hook(st->wdb, wal_hook, st);
	return 0;
}

static int store_lock(struct sq_store *st, struct k8c_error *err)
{
	_cleanup_free_ char *lock = k8c_xasprintf("%s-lock", st->path);

	st->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0)
		return k8c_error_errno(err, STORE_E_IO, errno, "open %s", lock);
	/* one process per store: the writer's revision counter and ring live in its memory */
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return k8c_error_errno(err, errno == EWOULDBLOCK ? STORE_E_BUSY : STORE_E_IO, errno,
				       "lock %s", lock);
	return 0;
}

static size_t round_pow2(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int store_sqlite_open(const struct store_sqlite_config *cfg, struct store **out,
		      struct k8c_error *err)
{
	struct sq_store *st = k8c_xcalloc(1, sizeof(*st));
	size_t i;

	st->base.ops = &sq_ops;
	st->cfg = *cfg;
	st->cfg.ring_size = round_pow2(cfg->ring_size ? cfg->ring_size : RING_DEFAULT);
	st->cfg.readers = cfg->readers ? cfg->readers : READERS_DEFAULT;
	st->cfg.max_batch = cfg->max_batch ? cfg->max_batch : MAX_BATCH_DEFAULT;
	st->cfg.compact_chunk = cfg->compact_chunk ? cfg->compact_chunk : COMPACT_CHUNK_DEFAULT;
	st->path = k8c_xstrdup(cfg->path);
	st->cfg.path = st->path;
	st->lock_fd = -1;
	st->q_tail = &st->q_head;
	pthread_mutex_init(&st->q_lock, NULL);
	pthread_cond_init(&st->q_cond, NULL);
	pthread_mutex_init(&st->r_lock, NULL);
	pthread_cond_init(&st->r_cond, NULL);
	pthread_mutex_init(&st->ring_lock, NULL);
	pthread_mutex_init(&st->watch_lock, NULL);
	pthread_mutex_init(&st->c_lock, NULL);
	pthread_cond_init(&st->c_cond, NULL);

	if (store_lock(st, err) < 0 || writer_open(st, err) < 0)
		goto fail;
	st->readers = k8c_xcalloc(st->cfg.readers, sizeof(*st->readers));
	for (i = 0; i < st->cfg.readers; i++) {
		if (reader_open(st, &st->readers[i], err) < 0)
			goto fail;
		reader_put(st, &st->readers[i]);
	}
	if (open_conn(st->path, st->cfg.sync_full, &st->cdb, err) < 0)
		goto fail;
	st->ring = k8c_xcalloc(st->cfg.ring_size, sizeof(*st->ring));
	st->ring_mask = st->cfg.ring_size - 1;
	st->ring_newest = st->wrev;
	st->ring_oldest = st->wrev + 1;
	if (pthread_create(&st->ckpt, NULL, ckpt_main, st) != 0) {
		k8c_error_set(err, STORE_E_IO, "checkpointer thread: cannot start");
		goto fail;
	}
	st->ckpt_started = true;
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
		k8c_error_set(err, STORE_E_IO, "writer thread: cannot start");
		goto fail;
	}
	st->writer_started = true;
	*out = &st->base;
	return 0;
fail:
	k8c_error_wrap(err, "store %s", cfg->path);
	sq_close(&st->base);
	return -1;
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.revision = sq_revision,
	.get = sq_get,
	.list = sq_list,
	.create = sq_create,
	.update = sq_update,
	.del = sq_del,
	.compact = sq_compact,
	.compacted = sq_compacted,
	.watch = sq_watch,
	.watch_fd = sq_watch_fd,
	.watch_next = sq_watch_next,
	.watch_close = sq_watch_close,
	.close = sq_close,
};

/* The SQLite store: semantics, watch ordering, compaction, restart, concurrency, kill -9. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "store.h"

static char tmpdir[] = "/tmp/k8c-store-test.XXXXXX";

static char *db_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s.db", tmpdir, name);
	return path;
}

static struct store *open_store(const char *name, size_t ring)
{
	struct store_sqlite_config cfg = {.path = db_path(name), .ring_size = ring};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store *s = NULL;

	if (store_sqlite_open(&cfg, &s, &err) < 0)
		fail_msg("open: %s", err.msg);
	return s;
}

static int64_t create(struct store *s, const char *key, const char *value)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev = 0;

	if (store_create(s, key, value, strlen(value), &rev, &err) < 0)
		fail_msg("%s", err.msg);
	return rev;
}

static int64_t update(struct store *s, const char *key, const char *value)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev = 0;

	if (store_update(s, key, value, strlen(value), 0, &rev, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	return rev;
}

static int64_t del(struct store *s, const char *key)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev = 0;

	if (store_delete(s, key, 0, &rev, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	return rev;
}

static void crud(void **state)
{
	struct store *s = open_store("crud", 0);
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_kv kv = {0};
	int64_t r1, r2, r3, r4, rev;

	assert_int_equal(store_revision(s, &rev, &err), 0);
	assert_int_equal(rev, 0);
	r1 = create(s, "/registry/pods/default/web", "{\"v\":1}");
	assert_int_equal(r1, 1);
	assert_int_equal(store_get(s, "/registry/pods/default/web", &kv, &err), 0);
	assert_string_equal(kv.value, "{\"v\":1}");
	assert_int_equal(kv.value_len, 7);
	assert_int_equal(kv.mod_revision, r1);
	assert_int_equal(kv.create_revision, r1);
	store_kv_free(&kv);

	r2 = update(s, "/registry/pods/default/web", "{\"v\":2}");
	assert_int_equal(r2, r1 + 1);
	assert_int_equal(store_get(s, "/registry/pods/default/web", &kv, &err), 0);
	assert_string_equal(kv.value, "{\"v\":2}");
	assert_int_equal(kv.mod_revision, r2);
	assert_int_equal(kv.create_revision, r1);
	store_kv_free(&kv);

	assert_int_equal(store_delete(s, "/registry/pods/default/web", r2, &r3, &kv, &err), 0);
	assert_int_equal(r3, r2 + 1);
	assert_string_equal(kv.value, "{\"v\":2}");
	assert_int_equal(kv.mod_revision, r2);
	store_kv_free(&kv);
	assert_int_equal(store_get(s, "/registry/pods/default/web", &kv, &err), -1);
	assert_int_equal(err.code, STORE_E_NOT_FOUND);
	assert_int_equal(store_update(s, "/registry/pods/default/web", "x", 1, 0, NULL, NULL, &err),
			 -1);
	assert_int_equal(err.code, STORE_E_NOT_FOUND);
	assert_int_equal(store_delete(s, "/registry/pods/default/web", 0, NULL, NULL, &err), -1);
	assert_int_equal(err.code, STORE_E_NOT_FOUND);
	assert_int_equal(store_create(s, "", "x", 1, NULL, &err), -1);
	assert_int_equal(err.code, STORE_E_INVALID);

	/* a new life after the delete: a new create_revision */
	r4 = create(s, "/registry/pods/default/web", "{\"v\":3}");
	assert_int_equal(r4, r3 + 1);
	assert_int_equal(store_get(s, "/registry/pods/default/web", &kv, &err), 0);
	assert_int_equal(kv.create_revision, r4);
	store_kv_free(&kv);
	/* empty values are values */
	create(s, "/registry/empty", "");
	assert_int_equal(store_get(s, "/registry/empty", &kv, &err), 0);
	assert_int_equal(kv.value_len, 0);
	store_kv_free(&kv);
	assert_int_equal(store_revision(s, &rev, &err), 0);
	assert_int_equal(rev, r4 + 1);
	k8c_error_clear(&err);
	store_close(s);
}

static void conflicts(void **state)
{
	struct store *s = open_store("conflicts", 0);
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_kv cur = {0};
	int64_t r1, r2, rev = 0;

	r1 = create(s, "/registry/cm/a", "one");
	assert_int_equal(store_create(s, "/registry/cm/a", "two", 3, &rev, &err), -1);
	assert_int_equal(err.code, STORE_E_EXISTS);
	assert_non_null(strstr(err.msg, "/registry/cm/a"));

	assert_int_equal(store_update(s, "/registry/cm/a", "two", 3, r1, &r2, NULL, &err), 0);
	/* stale: the caller read r1 */
	assert_int_equal(store_update(s, "/registry/cm/a", "three", 5, r1, &rev, &cur, &err), -1);
	assert_int_equal(err.code, STORE_E_CONFLICT);
	assert_int_equal(rev, r2);
	assert_int_equal(cur.mod_revision, r2);
	assert_string_equal(cur.value, "two");
	store_kv_free(&cur);
	assert_int_equal(store_delete(s, "/registry/cm/a", r1, &rev, &cur, &err), -1);
	assert_int_equal(err.code, STORE_E_CONFLICT);
	assert_int_equal(rev, r2);
	assert_string_equal(cur.value, "two");
	store_kv_free(&cur);
	/* nothing was written by the failures */
	assert_int_equal(store_revision(s, &rev, &err), 0);
	assert_int_equal(rev, r2);
	assert_int_equal(store_update(s, "/registry/cm/a", "three", 5, r2, &rev, NULL, &err), 0);
	assert_int_equal(rev, r2 + 1);
	k8c_error_clear(&err);
	store_close(s);
}

static void list(void **state)
{
	struct store *s = open_store("list", 0);
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	char key[64];
	int64_t before, now;
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/registry/pods/ns/p%d", i);
		create(s, key, "v1");
	}
	create(s, "/registry/pods/other/x", "v1");
	create(s, "/registry/pods/ns0", "not under /registry/pods/ns/");
	create(s, "/registry/services/ns/svc", "v1");
	assert_int_equal(store_revision(s, &before, &err), 0);
	update(s, "/registry/pods/ns/p3", "v2");
	del(s, "/registry/pods/ns/p5");
	create(s, "/registry/pods/ns/p10", "v1");
	assert_int_equal(store_revision(s, &now, &err), 0);

	assert_int_equal(store_list(s, "/registry/pods/ns/", 0, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.revision, now);
	assert_false(l.more);
	assert_string_equal(l.items[0].key, "/registry/pods/ns/p0");
	assert_string_equal(l.items[1].key, "/registry/pods/ns/p1");
	assert_string_equal(l.items[2].key, "/registry/pods/ns/p10");
	assert_string_equal(l.items[4].key, "/registry/pods/ns/p3");
	assert_string_equal(l.items[4].value, "v2");
	assert_string_equal(l.items[5].key, "/registry/pods/ns/p4");
	assert_string_equal(l.items[6].key, "/registry/pods/ns/p6");
	store_list_free(&l);

	/* at the older revision: p3 is v1, p5 is there, p10 is not */
	assert_int_equal(store_list(s, "/registry/pods/ns/", before, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.revision, before);
	assert_string_equal(l.items[1].key, "/registry/pods/ns/p1");
	assert_string_equal(l.items[2].key, "/registry/pods/ns/p2");
	assert_string_equal(l.items[3].value, "v1");
	assert_string_equal(l.items[5].key, "/registry/pods/ns/p5");
	store_list_free(&l);

	/* pages of 4 at the first page's revision, while the store moves on */
	{
		char after[64] = "";
		int64_t rev = 0;
		size_t total = 0;
		int pages = 0;

		do {
			assert_int_equal(store_list(s, "/registry/pods/ns/", rev, 4,
						    *after ? after : NULL, &l, &err),
					 0);
			if (!rev) {
				rev = l.revision;
				update(s, "/registry/pods/ns/p9", "v3");
				create(s, "/registry/pods/ns/p99", "v1");
			}
			assert_int_equal(l.revision, rev);
			assert_true(l.n <= 4);
			total += l.n;
			pages++;
			if (l.n)
				snprintf(after, sizeof(after), "%s", l.items[l.n - 1].key);
			if (l.more) {
				store_list_free(&l);
				continue;
			}
			assert_string_equal(l.items[l.n - 1].value, "v1"); /* p9 as of rev */
			store_list_free(&l);
			break;
		} while (1);
		assert_int_equal(total, 10);
		assert_int_equal(pages, 3);
	}

	assert_int_equal(store_list(s, "", 0, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 14);
	store_list_free(&l);
	assert_int_equal(store_list(s, "/registry/nothing/", 0, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 0);
	store_list_free(&l);
	assert_int_equal(store_list(s, "/registry/", now + 100, 0, NULL, &l, &err), -1);
	assert_int_equal(err.code, STORE_E_FUTURE);
	k8c_error_clear(&err);
	store_close(s);
}

/* Wait until the watch's fd is readable, then take its events. */
static int watch_take(struct store_watch *w, struct store_event **evs, size_t max, int timeout_ms)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct pollfd pfd = {.fd = store_watch_fd(w), .events = POLLIN};
	int n;

	for (;;) {
		n = store_watch_next(w, evs, max, &err);
		if (n < 0)
			fail_msg("watch: %s", err.msg);
		if (n > 0)
			return n;
		if (poll(&pfd, 1, timeout_ms) == 0)
			return 0;
	}
}

struct writer_arg {
	struct store *s;
	const char *prefix;
	int count;
};

static void *late_writer(void *arg)
{
	struct writer_arg *a = arg;
	char key[64];
	int i;

	usleep(20000);
	for (i = 0; i < a->count; i++) {
		snprintf(key, sizeof(key), "%slive%d", a->prefix, i);
		create(a->s, key, "live");
		if (i % 3 == 0)
			update(a->s, key, "live2");
		if (i % 7 == 0)
			usleep(1000);
	}
	return NULL;
}

/*
 * Replay then live: ring is tiny (4) so the replay comes from the table, then the watcher
 * crosses into the ring, while a thread writes. Every event under the prefix arrives once, in
 * revision order.
 */
static void watch_replay_live(void **state)
{
	struct store *s = open_store("watch", 4);
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_watch *w = NULL, *all = NULL, *now = NULL;
	struct store_event *evs[7];
	struct writer_arg wa = {.s = s, .prefix = "/registry/pods/", .count = 60};
	pthread_t t;
	int64_t start, expect, last = 0, final;
	int i, n, got = 0, now_got = 0;

	for (i = 0; i < 20; i++) {
		char key[64];

		snprintf(key, sizeof(key), "/registry/%s/k%d", i % 2 ? "pods" : "services", i);
		create(s, key, "v1");
	}
	start = 6;
	update(s, "/registry/pods/k1", "v2");
	del(s, "/registry/pods/k3");
	assert_int_equal(store_watch(s, "/registry/pods/", start, &w, &err), 0);
	assert_int_equal(store_watch(s, "", 0, &now, &err), 0);
	assert_int_equal(store_watch(s, "", start, &all, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, late_writer, &wa), 0);

	expect = start + 1;
	while ((n = watch_take(w, evs, 7, 2000)) > 0) {
		for (i = 0; i < n; i++) {
			struct store_event *ev = evs[i];

			assert_true(store_key_has_prefix(ev->key, "/registry/pods/"));
			assert_true(ev->mod_revision > last);
			last = ev->mod_revision;
			if (ev->mod_revision == 21) {
				assert_int_equal(ev->type, STORE_MODIFIED);
				assert_string_equal(ev->value, "v2");
				assert_string_equal(ev->prev_value, "v1");
				assert_int_equal(ev->prev_revision, 2);
			}
			if (ev->mod_revision == 22) {
				assert_int_equal(ev->type, STORE_DELETED);
				assert_string_equal(ev->key, "/registry/pods/k3");
				assert_string_equal(ev->value, "v1");
			}
			if (strstr(ev->key, "live") && ev->type == STORE_ADDED)
				assert_null(ev->prev_value);
			got++;
			store_event_unref(ev);
		}
		if (last == 22 + 60 + 20)
			break;
	}
	pthread_join(t, NULL);
	assert_int_equal(store_revision(s, &final, &err), 0);
	assert_int_equal(final, 22 + 60 + 20);
	assert_int_equal(last, final);
	/* pods (odd i, revision i + 1) among 7..20: 7 of them, then 21 and 22, then 80 live events */
	assert_int_equal(got, 7 + 2 + 80);

	/* the unfiltered watcher sees every revision after start, without a hole */
	while (expect <= final && (n = watch_take(all, evs, 7, 2000)) > 0) {
		for (i = 0; i < n; i++) {
			assert_int_equal(evs[i]->mod_revision, expect);
			expect++;
			store_event_unref(evs[i]);
		}
	}
	assert_int_equal(expect, final + 1);
	/* from-now saw exactly the live part */
	while ((n = watch_take(now, evs, 7, 100)) > 0) {
		for (i = 0; i < n; i++) {
			assert_true(evs[i]->mod_revision > 22);
			now_got++;
			store_event_unref(evs[i]);
		}
	}
	assert_int_equal(now_got, 80);
	assert_int_equal(store_watch_next(w, evs, 7, &err), 0);
	store_watch_close(w);
	store_watch_close(all);
	store_watch_close(now);

	/* a future revision waits for the store to get there */
	assert_int_equal(store_watch(s, "/", final + 1, &w, &err), 0);
	assert_int_equal(store_watch_next(w, evs, 7, &err), 0);
	create(s, "/registry/y", "v"); /* final + 1: not after final + 1 */
	create(s, "/registry/z", "v");
	assert_int_equal(watch_take(w, evs, 7, 2000), 1);
	assert_int_equal(evs[0]->mod_revision, final + 2);
	store_event_unref(evs[0]);
	store_watch_close(w);
	k8c_error_clear(&err);
	store_close(s);
}

static void compaction(void **state)
{
	struct store_sqlite_config cfg = {
		.path = db_path("compact"), .ring_size = 8, .compact_chunk = 7};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store *s = NULL;
	struct store_watch *w = NULL;
	struct store_event *evs[64];
	struct store_list l = {0};
	struct store_kv kv = {0};
	int64_t c, rev;
	int i, n;

	assert_int_equal(store_sqlite_open(&cfg, &s, &err), 0);
	for (i = 0; i < 10; i++) {
		char key[64];

		snprintf(key, sizeof(key), "/k/%d", i);
		create(s, key, "v1");
		update(s, key, "v2");
	}
	/* revisions 1..20 */
	del(s, "/k/0");		 /* 21 */
	update(s, "/k/1", "v3"); /* 22 */
	create(s, "/k/0", "v4"); /* 23 */
	del(s, "/k/2");		 /* 24 */
	c = 23;
	assert_int_equal(store_compact(s, c, &err), 0);
	assert_int_equal(store_compacted(s, &rev, &err), 0);
	assert_int_equal(rev, c);
	assert_int_equal(store_compact(s, 5, &err), 0); /* below: no-op */
	assert_int_equal(store_compact(s, 1000, &err), -1);
	assert_int_equal(err.code, STORE_E_FUTURE);

	/* every live key kept, the deleted one stays deleted */
	assert_int_equal(store_list(s, "/k/", 0, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 9);
	assert_string_equal(l.items[0].key, "/k/0");
	assert_string_equal(l.items[0].value, "v4");
	assert_string_equal(l.items[1].value, "v3");
	assert_string_equal(l.items[2].key, "/k/3");
	assert_string_equal(l.items[2].value, "v2");
	store_list_free(&l);
	assert_int_equal(store_get(s, "/k/2", &kv, &err), -1);
	assert_int_equal(err.code, STORE_E_NOT_FOUND);
	assert_int_equal(store_list(s, "/k/", c, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, 10); /* /k/2 still there at 23 */
	store_list_free(&l);
	assert_int_equal(store_list(s, "/k/", c - 1, 0, NULL, &l, &err), -1);
	assert_int_equal(err.code, STORE_E_EXPIRED);

	/* the ring (8 events) still has 17..24, but the history is gone for the API */
	assert_int_equal(store_watch(s, "/k/", c - 2, &w, &err), -1);
	assert_int_equal(err.code, STORE_E_EXPIRED);
	assert_int_equal(store_watch(s, "/k/", c - 1, &w, &err), 0);
	n = watch_take(w, evs, 64, 1000);
	assert_int_equal(n, 2);
	assert_int_equal(evs[0]->mod_revision, 23);
	assert_int_equal(evs[0]->type, STORE_ADDED);
	assert_int_equal(evs[1]->type, STORE_DELETED);
	for (i = 0; i < n; i++)
		store_event_unref(evs[i]);
	store_watch_close(w);
	store_close(s);

	/* after a restart the ring is empty: the replay from disk checks the same rule */
	assert_int_equal(store_sqlite_open(&cfg, &s, &err), 0);
	assert_int_equal(store_watch(s, "/k/", c - 2, &w, &err), -1);
	assert_int_equal(err.code, STORE_E_EXPIRED);
	assert_int_equal(store_watch(s, "/k/", c - 1, &w, &err), 0);
	n = watch_take(w, evs, 64, 1000);
	assert_int_equal(n, 2);
	assert_int_equal(evs[0]->mod_revision, 23);
	assert_int_equal(evs[1]->mod_revision, 24);
	assert_string_equal(evs[1]->value, "v2");
	for (i = 0; i < n; i++)
		store_event_unref(evs[i]);
	/* a watcher overtaken by compaction while behind the ring */
	store_watch_close(w);
	assert_int_equal(store_watch(s, "/k/", 23, &w, &err), 0);
	for (i = 0; i < 20; i++)
		update(s, "/k/5", i % 2 ? "a" : "b");
	assert_int_equal(store_compact(s, 40, &err), 0);
	assert_int_equal(store_watch_next(w, evs, 64, &err), -1);
	assert_int_equal(err.code, STORE_E_EXPIRED);
	store_watch_close(w);
	assert_int_equal(store_get(s, "/k/5", &kv, &err), 0);
	assert_string_equal(kv.value, "a");
	store_kv_free(&kv);
	k8c_error_clear(&err);
	store_close(s);
}

static void reopen(void **state)
{
	struct store *s = open_store("reopen", 0);
	struct store *again = NULL;
	struct store_sqlite_config cfg = {.path = db_path("reopen")};
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_kv kv = {0};
	int64_t rev;

	create(s, "/a", "1");
	create(s, "/b", "1");
	del(s, "/b"); /* 3: the highest revision is a tombstone */
	/* one process per store */
	assert_int_equal(store_sqlite_open(&cfg, &again, &err), -1);
	assert_int_equal(err.code, STORE_E_BUSY);
	store_close(s);

	s = open_store("reopen", 0);
	assert_int_equal(store_revision(s, &rev, &err), 0);
	assert_int_equal(rev, 3);
	assert_int_equal(store_get(s, "/a", &kv, &err), 0);
	assert_string_equal(kv.value, "1");
	store_kv_free(&kv);
	assert_int_equal(create(s, "/c", "1"), 4);
	assert_int_equal(store_compact(s, 4, &err), 0); /* drops the tombstone of /b */
	store_close(s);

	s = open_store("reopen", 0);
	assert_int_equal(create(s, "/d", "1"), 5);
	assert_int_equal(store_compacted(s, &rev, &err), 0);
	assert_int_equal(rev, 4);
	k8c_error_clear(&err);
	store_close(s);
}

#define THREADS	   8
#define PER_THREAD 300

struct conc_arg {
	struct store *s;
	int id;
	int64_t revs[PER_THREAD];
};

static void *conc_writer(void *arg)
{
	struct conc_arg *a = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	char key[64];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(key, sizeof(key), "/c/%d/%d", a->id, i);
		if (store_create(a->s, key, key, strlen(key), &a->revs[i], &err) < 0)
			a->revs[i] = -1;
	}
	/* everyone also fights over one key with optimistic concurrency */
	for (i = 0; i < 20; i++) {
		struct store_kv kv = {0};

		for (;;) {
			int64_t rev;

			if (store_get(a->s, "/counter", &kv, &err) < 0) {
				a->revs[0] = -2;
				return NULL;
			}
			char next[32];
			snprintf(next, sizeof(next), "%d", atoi(kv.value) + 1);
			if (store_update(a->s, "/counter", next, strlen(next), kv.mod_revision,
					 &rev, NULL, &err) == 0)
				break;
			store_kv_free(&kv);
			if (err.code != STORE_E_CONFLICT) {
				a->revs[0] = -3;
				return NULL;
			}
		}
		store_kv_free(&kv);
	}
	k8c_error_clear(&err);
	return NULL;
}

static void concurrent_writers(void **state)
{
	struct store *s = open_store("concurrent", 0);
	static struct conc_arg args[THREADS];
	pthread_t t[THREADS];
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	struct store_kv kv = {0};
	_cleanup_free_ char *seen = NULL;
	int64_t rev;
	int i, j;

	create(s, "/counter", "0");
	for (i = 0; i < THREADS; i++) {
		args[i].s = s;
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, conc_writer, &args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(store_revision(s, &rev, &err), 0);
	assert_int_equal(rev, 1 + THREADS * PER_THREAD + THREADS * 20);
	seen = calloc((size_t)rev + 1, 1);
	for (i = 0; i < THREADS; i++) {
		for (j = 0; j < PER_THREAD; j++) {
			assert_true(args[i].revs[j] > 0 && args[i].revs[j] <= rev);
			assert_false(seen[args[i].revs[j]]);
			seen[args[i].revs[j]] = 1;
		}
	}
	assert_int_equal(store_list(s, "/c/", 0, 0, NULL, &l, &err), 0);
	assert_int_equal(l.n, THREADS * PER_THREAD);
	store_list_free(&l);
	assert_int_equal(store_get(s, "/counter", &kv, &err), 0);
	assert_int_equal(atoi(kv.value), THREADS * 20);
	store_kv_free(&kv);
	store_close(s);
}

struct ack {
	int thread;
	int index;
	int64_t rev;
};

static int ack_fd = -1;

static void *child_writer(void *arg)
{
	struct store *s = ((struct conc_arg *)arg)->s;
	int id = ((struct conc_arg *)arg)->id;
	struct k8c_error err = K8C_ERROR_INIT;
	char key[64];
	int i;

	for (i = 0;; i++) {
		struct ack a = {.thread = id, .index = i};

		snprintf(key, sizeof(key), "/kill/%d/%d", id, i);
		if (store_create(s, key, key, strlen(key), &a.rev, &err) < 0)
			_exit(3);
		/* acknowledged: tell the parent (writes below PIPE_BUF are atomic) */
		if (write(ack_fd, &a, sizeof(a)) != sizeof(a))
			_exit(4);
	}
	return NULL;
}

static void kill9(void **state)
{
	struct store_sqlite_config cfg = {.path = db_path("kill9")};
	int pfd[2];
	pid_t pid;
	struct ack a;
	size_t acks = 0, checked = 0;
	_cleanup_free_ struct ack *all = NULL;
	struct store *s;
	struct k8c_error err = K8C_ERROR_INIT;
	int status, i;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct conc_arg args[4];
		pthread_t t;
		struct store *cs = NULL;

		close(pfd[0]);
		ack_fd = pfd[1];
		if (store_sqlite_open(&cfg, &cs, &err) < 0)
			_exit(2);
		for (i = 0; i < 4; i++) {
			args[i].s = cs;
			args[i].id = i;
			if (pthread_create(&t, NULL, child_writer, &args[i]) != 0)
				_exit(5);
		}
		for (;;)
			pause();
	}
	close(pfd[1]);
	all = calloc(1 << 20, sizeof(*all));
	while (read(pfd[0], &a, sizeof(a)) == sizeof(a)) {
		all[acks++] = a;
		if (acks == 3000)
			kill(pid, SIGKILL);
		assert_true(acks < (1 << 20));
	}
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(acks >= 3000);

	s = open_store("kill9", 0);
	for (size_t k = 0; k < acks; k++) {
		struct store_kv kv = {0};
		char key[64];

		snprintf(key, sizeof(key), "/kill/%d/%d", all[k].thread, all[k].index);
		if (store_get(s, key, &kv, &err) < 0)
			fail_msg("acknowledged write %s (revision %" PRId64 ") lost: %s", key,
				 all[k].rev, err.msg);
		assert_int_equal(kv.mod_revision, all[k].rev);
		store_kv_free(&kv);
		checked++;
	}
	assert_int_equal(checked, acks);
	/* new writes continue after every revision handed out before the kill */
	{
		int64_t rev = create(s, "/after", "x"), max = 0;

		for (size_t k = 0; k < acks; k++)
			if (all[k].rev > max)
				max = all[k].rev;
		assert_true(rev > max);
	}
	k8c_error_clear(&err);
	store_close(s);
}

static void rm_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[600];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmpdir);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	rm_tmpdir();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crud),
		cmocka_unit_test(conflicts),
		cmocka_unit_test(list),
		cmocka_unit_test(watch_replay_live),
		cmocka_unit_test(compaction),
		cmocka_unit_test(reopen),
		cmocka_unit_test(concurrent_writers),
		cmocka_unit_test(kill9),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

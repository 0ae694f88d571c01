/*
 * Deletion in the API server (api_delete.h has the rules): DELETE of an object, the namespace
 * lifecycle (Terminating, PUT .../finalize, refusing new content), deletion when an update
 * removes the last finalizer, and a background worker that stands in for kube-controller-
 * manager's namespace controller (it empties Terminating namespaces and finalizes them) and
 * expires Events after --event-ttl.
 *
 * The worker is a thread of its own: it talks to the store only (thread-safe), so a large
 * namespace never holds the event loop, and it keeps no state of its own: each pass reads the
 * Terminating namespaces from the store, so a restart resumes where it stopped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_delete.h"
#include "api_kind.h"
#include "api_protobuf.h"
#include "cleanup.h"
#include "log.h"

/* Retries of a delete whose object changed between read and write. */
#define DELETE_ATTEMPTS 16
/* Items per store_list page in the worker. */
#define WORKER_PAGE 500

struct api_deleter {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, kicked, started;
	int event_ttl; /* seconds, 0 = events are kept */
};

static char *key_of(const struct api_resource *r, const char *ns, const char *name)
{
	const char *s = api_registry_store_name(r);

	return r->namespaced ? k8c_xasprintf("/registry/%s/%s/%s", s, ns, name)
			     : k8c_xasprintf("/registry/%s/%s", s, name);
}

static int load(struct store *store, const char *key, json_t **out, int64_t *rev,
		struct k8c_error *err)
{
	struct store_kv kv = {0};

	if (store_get(store, key, &kv, err) < 0)
		return -1;
	*rev = kv.mod_revision;
	*out = obj_decode(kv.value, kv.value_len, kv.mod_revision);
	store_kv_free(&kv);
	if (!*out)
		return k8c_error_set(err, STORE_E_IO, "stored object %s is corrupt", key);
	return 0;
}

/* Store obj (its resourceVersion is not stored) if key is still at expected; sets its RV. */
static int put(struct store *store, const char *key, json_t *obj, int64_t expected, int64_t *rev,
	       struct k8c_error *err)
{
	json_t *meta = json_object_get(obj, "metadata");
	_cleanup_json_ json_t *rv = json_incref(json_object_get(meta, "resourceVersion"));
	_cleanup_free_ char *value = NULL;

	json_object_del(meta, "resourceVersion");
	value = json_dumps(obj, JSON_COMPACT);
	if (rv)
		json_object_set(meta, "resourceVersion", rv);
	if (store_update(store, key, value, strlen(value), expected, rev, NULL, err) < 0)
		return -1;
	api_set_resource_version(obj, *rev);
	return 0;
}

/*
 * A DELETE of the object at key with options o, as kube-apiserver's registry (rest.BeforeDelete,
 * updateForGracefulDeletionAndFinalizers, then the delete): *out gets the object to answer with
 * (the stored version after the update, or the deleted one) and *action what was done. Store
 * errors keep their codes; a failed precondition is 409 with kube's message.
 */
static int delete_object(struct store *store, const struct api_resource *r, const char *key,
			 const struct api_delete_options *o, json_t **out, int *action,
			 struct k8c_error *err)
{
	bool dry = api_delete_options_dry_run(o);

	for (int attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
		_cleanup_json_ json_t *obj = NULL, *orig = NULL;
		int64_t rev, nrev;
		int act;

		if (load(store, key, &obj, &rev, err) < 0)
			return -1;
		orig = json_deep_copy(obj);
		act = api_delete_plan(r, obj, o, time(NULL), err);
		if (act < 0)
			return -1;
		/* dry run, already being deleted, or marked already: nothing to write */
		if (dry || act == API_DELETE_PENDING ||
		    (act == API_DELETE_UPDATE && json_equal(obj, orig))) {
			*action = act;
			*out = k8c_steal_ptr(obj);
			return 0;
		}
		if (act == API_DELETE_UPDATE || act == API_DELETE_UPDATE_THEN_DELETE) {
			if (put(store, key, obj, rev, &nrev, err) < 0) {
				if (err->code == STORE_E_CONFLICT) {
					k8c_error_clear(err);
					continue;
				}
				return -1;
			}
			rev = nrev;
		}
		if (act != API_DELETE_UPDATE) {
			/* as kube: the grace 0 mark is final, its delete is unconditional */
			if (store_delete(store, key, act == API_DELETE_NOW ? rev : 0, &nrev, NULL,
					 err) < 0) {
				if (err->code == STORE_E_CONFLICT) {
					k8c_error_clear(err);
					continue;
				}
				if (err->code != STORE_E_NOT_FOUND || act == API_DELETE_NOW)
					return -1;
				k8c_error_clear(err); /* someone else finished it */
			}
		}
		*action = act;
		*out = k8c_steal_ptr(obj);
		return 0;
	}
	return k8c_error_set(err, STORE_E_CONFLICT, "%s keeps changing", key);
}

static void send_store_error(h2o_req_t *req, struct k8c_error *err, const struct api_resource *r,
			     const char *name)
{
	if (err->code == 409) {
		bool ns = !*r->group && strcmp(r->resource, "namespaces") == 0;
		json_t *details =
			json_pack("{s:s, s:s}", "name", name, "kind", ns ? "namespaces" : r->kind);

		if (*r->group)
			json_object_set_new(details, "group", json_string(r->group));
		api_send_status(req, 409, "Conflict", details, "%s", err->msg);
	} else {
		api_send_store_error(req, err, r->resource, name);
	}
	k8c_error_clear(err);
}

/* Answer obj in r's version (a legacy version's conversion). */
static void send_out(h2o_req_t *req, const struct api_resource *r, int status, json_t *obj)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));

	if (r->from_storage && !(kind && strcmp(kind, "Status") == 0))
		r->from_storage(obj);
	api_send_json(req, status, obj);
}

static bool is_protobuf(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);

	return i >= 0 && api_protobuf_content_type(req->headers.entries[i].value.base,
						   req->headers.entries[i].value.len);
}

/*
 * The DeleteOptions of a request: its body (JSON or protobuf) when it has one, else the query
 * (as kube-apiserver: a body wins). <0 after answering the error (400, 413, 415, 422).
 */
static int read_options(h2o_req_t *req, struct api_delete_options *o)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *causes = NULL;

	api_delete_options_init(o);
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return -1;
	}
	if (req->entity.len > 0) {
		_cleanup_json_ json_t *body = NULL;
		json_error_t jerr;

		if (is_protobuf(req)) {
			body = api_protobuf_decode(req->entity.base, req->entity.len, &err);
			if (!body) {
				api_send_status(req, err.code,
						err.code == 415 ? "UnsupportedMediaType"
								: "BadRequest",
						NULL, "%s", err.msg);
				k8c_error_clear(&err);
				return -1;
			}
		} else {
			body = json_loadb(req->entity.base, req->entity.len, 0, &jerr);
			if (!json_is_object(body)) {
				api_send_status(req, 400, "BadRequest", NULL,
						"the body of the request could not be decoded as "
						"DeleteOptions: %s",
						body ? "not a JSON object" : jerr.text);
				return -1;
			}
		}
		if (api_delete_options_from_json(body, o, &err) < 0)
			goto bad;
	} else {
		_cleanup_free_ char *grace = api_query(req, "gracePeriodSeconds");
		_cleanup_free_ char *prop = api_query(req, "propagationPolicy");
		_cleanup_free_ char *orphan = api_query(req, "orphanDependents");
		_cleanup_free_ char *dry = api_query(req, "dryRun");

		if (api_delete_options_from_query(grace, prop, orphan, dry, o, &err) < 0)
			goto bad;
	}
	causes = json_array();
	api_delete_options_validate(o, causes);
	if (json_array_size(causes)) {
		api_send_invalid(req, "meta.k8s.io", "DeleteOptions", "", k8c_steal_ptr(causes));
		api_delete_options_free(o);
		return -1;
	}
	return 0;
bad:
	api_send_status(req, 400, "BadRequest", NULL, "%s", err.msg);
	k8c_error_clear(&err);
	api_delete_options_free(o);
	return -1;
}

struct api_delete_options *api_delete_options_read(h2o_req_t *req)
{
	struct api_delete_options *o = k8c_xmalloc(sizeof(*o));

	if (read_options(req, o) < 0) {
		free(o);
		return NULL;
	}
	return o;
}

void api_delete_options_release(struct api_delete_options *o)
{
	if (!o)
		return;
	api_delete_options_free(o);
	free(o);
}

int api_delete_item(struct api *api, const struct api_resource *r, const char *key,
		    const struct api_delete_options *o, struct k8c_error *err)
{
	json_t *out = NULL;
	int action;

	if (delete_object(api->store, r, key, o, &out, &action, err) < 0)
		return -1;
	json_decref(out);
	return 0;
}

void api_delete_serve(struct api *api, h2o_req_t *req, const struct api_resource *r, const char *ns,
		      const char *name)
{
	struct api_delete_options o;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *key = NULL;
	_cleanup_json_ json_t *obj = NULL, *answer = NULL;
	bool is_ns = !*r->group && strcmp(r->resource, "namespaces") == 0;
	int action, status = 200;

	if (read_options(req, &o) < 0)
		return;
	if (is_ns && api_namespace_immortal(name)) {
		api_send_status(req, 403, "Forbidden",
				json_pack("{s:s, s:s}", "name", name, "kind", "namespaces"),
				"namespaces \"%s\" is forbidden: this namespace may not be deleted",
				name);
		goto out;
	}
	key = key_of(r, ns, name);
	if (delete_object(api->store, r, key, &o, &obj, &action, &err) < 0) {
		send_store_error(req, &err, r, name);
		goto out;
	}
	if (is_ns && action == API_DELETE_UPDATE)
		api_delete_kick(api);
	/* kube answers 202 when the object stays and orphanDependents=false was asked for */
	if ((action == API_DELETE_UPDATE || action == API_DELETE_PENDING) &&
	    o.orphan_dependents == 0)
		status = 202;
	answer = api_delete_answer(r, obj, action);
	send_out(req, r, status, answer);
out:
	api_delete_options_free(&o);
}

/* Namespaces. */

int api_namespace_admit_create(struct api *api, h2o_req_t *req, const struct api_resource *r,
			       const char *ns, const char *name)
{
	_cleanup_free_ char *key = k8c_xasprintf("/registry/namespaces/%s", ns);
	_cleanup_json_ json_t *nsobj = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	int64_t rev;

	if (load(api->store, key, &nsobj, &rev, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", ns);
		k8c_error_clear(&err);
		return -1;
	}
	if (api_namespace_terminating(nsobj)) {
		json_t *details = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "name", name, "kind",
					    r->resource, "causes", "reason", "NamespaceTerminating",
					    "message", "", "field", "metadata.namespace");
		_cleanup_free_ char *msg = k8c_xasprintf("namespace %s is being terminated", ns);

		json_object_set_new(json_array_get(json_object_get(details, "causes"), 0),
				    "message", json_string(msg));
		if (*r->group)
			json_object_set_new(details, "group", json_string(r->group));
		api_send_status(req, 403, "Forbidden", details,
				"%s%s%s \"%s\" is forbidden: unable to create new content in "
				"namespace %s because it is being terminated",
				r->resource, *r->group ? "." : "", r->group, name, ns);
		return -1;
	}
	return 0;
}

/*
 * Store fins as the spec.finalizers of namespace name (the /finalize path), at expected (0 = the
 * version read); a Terminating namespace left without finalizers is deleted
 * (ShouldDeleteNamespaceDuringUpdate). *out gets the namespace as stored or deleted.
 */
static int namespace_finalize(struct store *store, const char *name, const json_t *fins,
			      int64_t expected, json_t **out, bool *deleted, struct k8c_error *err)
{
	_cleanup_free_ char *key = k8c_xasprintf("/registry/namespaces/%s", name);
	const struct api_resource *r = api_registry_find("namespaces", 10);

	for (int attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
		_cleanup_json_ json_t *old = NULL, *next = NULL;
		int64_t rev, nrev;

		if (load(store, key, &old, &rev, err) < 0)
			return -1;
		if (expected && expected != rev)
			return k8c_error_set(err, STORE_E_CONFLICT, "namespace %s changed", name);
		next = json_deep_copy(old);
		if (fins && json_array_size(fins))
			json_object_set_new(api_jobj(next, "spec"), "finalizers",
					    json_deep_copy(fins));
		else
			json_object_del(api_jobj(next, "spec"), "finalizers");
		*deleted = api_delete_on_update(r, next, old);
		if (*deleted) {
			if (store_delete(store, key, rev, &nrev, NULL, err) < 0) {
				if (err->code == STORE_E_CONFLICT && !expected) {
					k8c_error_clear(err);
					continue;
				}
				return -1;
			}
		} else if (!json_equal(next, old) && put(store, key, next, rev, &nrev, err) < 0) {
			if (err->code == STORE_E_CONFLICT && !expected) {
				k8c_error_clear(err);
				continue;
			}
			return -1;
		}
		*out = k8c_steal_ptr(next);
		return 0;
	}
	return k8c_error_set(err, STORE_E_CONFLICT, "namespace %s keeps changing", name);
}

void api_namespace_finalize_serve(struct api *api, h2o_req_t *req, const struct api_resource *r,
				  const char *name)
{
	_cleanup_json_ json_t *body = NULL, *causes = NULL, *fins = NULL, *out = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *bname, *rvs;
	json_error_t jerr;
	int64_t expected = 0;
	bool deleted = false;

	if (req->method.len != 3 || memcmp(req->method.base, "PUT", 3) != 0) {
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
		return;
	}
	if (req->entity.len > API_MAX_BODY) {
		api_send_status(req, 413, "RequestEntityTooLarge", NULL,
				"Request entity too large: limit is %u", API_MAX_BODY);
		return;
	}
	body = is_protobuf(req) ? api_protobuf_decode(req->entity.base, req->entity.len, &err)
				: json_loadb(req->entity.base ? req->entity.base : "",
					     req->entity.len, 0, &jerr);
	if (!json_is_object(body)) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the body of the request could not be decoded as a Namespace: %s",
				err.msg ? err.msg
				: body	? "not a JSON object"
					: jerr.text);
		k8c_error_clear(&err);
		return;
	}
	bname = api_jstr(body, "metadata.name");
	if (!bname || strcmp(bname, name) != 0) {
		api_send_status(req, 400, "BadRequest", NULL,
				"the name of the object (%s) does not match the name on the URL "
				"(%s)",
				bname ? bname : "", name);
		return;
	}
	rvs = api_jstr(body, "metadata.resourceVersion");
	if (rvs && *rvs) {
		char *end;

		errno = 0;
		expected = strtoll(rvs, &end, 10);
		if (errno || *end || expected < 0) {
			api_send_status(
				req, 400, "BadRequest", NULL,
				"metadata.resourceVersion: Invalid value: \"%s\": must be a "
				"decimal resource version",
				rvs);
			return;
		}
	}
	causes = json_array();
	fins = api_namespace_finalizers(body, causes);
	if (json_array_size(causes)) {
		api_send_invalid(req, "", "Namespace", name, json_incref(causes));
		return;
	}
	if (namespace_finalize(api->store, name, fins, expected, &out, &deleted, &err) < 0) {
		api_send_store_error(req, &err, "namespaces", name);
		k8c_error_clear(&err);
		return;
	}
	send_out(req, r, 200, out);
}

/* Update that empties the finalizers of an object being deleted. */

int api_delete_finish_update(struct api *api, h2o_req_t *req, const struct api_resource *r,
			     const char *key, const char *name, json_t *next, const json_t *old,
			     int64_t expected, bool retry)
{
	struct k8c_error err = K8C_ERROR_INIT;
	const char *rvs = api_jstr(old, "metadata.resourceVersion");
	int64_t rev;

	/* deleteWithoutFinalizers: the decision was made on old, so delete old or nothing */
	if (!expected)
		expected = rvs ? strtoll(rvs, NULL, 10) : 0;
	if (store_delete(api->store, key, expected, &rev, NULL, &err) < 0) {
		if (retry && err.code == STORE_E_CONFLICT) {
			k8c_error_clear(&err);
			return 1;
		}
		if (err.code != STORE_E_NOT_FOUND) {
			api_send_store_error(req, &err, r->resource, name);
			k8c_error_clear(&err);
			return -1;
		}
		k8c_error_clear(&err);
		rev = expected;
	}
	api_set_resource_version(next, rev);
	/* clients expect the updated object from a PUT, as kube-apiserver answers */
	send_out(req, r, 200, next);
	return 0;
}

/* The worker: namespace controller stand-in and the Events' TTL. */

static bool worker_stopping(struct api_deleter *d)
{
	bool stop;

	pthread_mutex_lock(&d->lock);
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

/* Whether an earlier registry entry has the same store name (extensions/v1beta1 Ingress). */
static bool store_name_seen(size_t i)
{
	const char *s = api_registry_store_name(api_registry_at(i));

	for (size_t j = 0; j < i; j++)
		if (api_registry_at(j)->namespaced &&
		    strcmp(api_registry_store_name(api_registry_at(j)), s) == 0)
			return true;
	return false;
}

/*
 * Delete what namespace ns holds, as the namespace controller does (propagation Background, pods
 * gracefully); returns how many objects remain (being deleted: a scheduled pod's grace period, a
 * finalizer), or -1 when stopped.
 */
static long namespace_empty(struct api_deleter *d, const char *ns)
{
	char q[512]; /* a quoted error for the log */
	struct api_delete_options o;
	long remaining = 0;

	api_delete_options_init(&o);
	o.propagation = API_PROPAGATION_BACKGROUND;
	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		_cleanup_free_ char *prefix = NULL, *after = NULL;

		if (!r->namespaced || store_name_seen(i))
			continue;
		prefix = k8c_xasprintf("/registry/%s/%s/", api_registry_store_name(r), ns);
		for (;;) {
			struct k8c_error err = K8C_ERROR_INIT;
			struct store_list l = {0};
			bool more;

			if (store_list(d->store, prefix, 0, WORKER_PAGE, after, &l, &err) < 0) {
				k8c_log_warn("namespace finalizer: list failed",
					     "namespace=%s resource=%s error=%s", ns, r->resource,
					     k8c_log_quote(q, sizeof(q), err.msg ?: "failed"));
				k8c_error_clear(&err);
				remaining++;
				break;
			}
			for (size_t j = 0; j < l.n; j++) {
				json_t *out = NULL;
				int action;

				if (worker_stopping(d)) {
					store_list_free(&l);
					return -1;
				}
				if (delete_object(d->store, r, l.items[j].key, &o, &out, &action,
						  &err) < 0) {
					if (err.code != STORE_E_NOT_FOUND) {
						k8c_log_warn("namespace finalizer: delete failed",
							     "namespace=%s key=%s error=%s", ns,
							     l.items[j].key,
							     k8c_log_quote(q, sizeof(q),
									   err.msg ?: "failed"));
						remaining++;
					}
					k8c_error_clear(&err);
					continue;
				}
				json_decref(out);
				if (action == API_DELETE_UPDATE || action == API_DELETE_PENDING)
					remaining++;
			}
			more = l.more && l.n;
			if (more) {
				free(after);
				after = k8c_xstrdup(l.items[l.n - 1].key);
			}
			store_list_free(&l);
			if (!more)
				break;
		}
	}
	return remaining;
}

/*
 * The server's namespace finalizer, one pass over the Terminating namespaces: empty each, then
 * take the `kubernetes` finalizer off through the /finalize path (which deletes the namespace
 * when no finalizer is left). Returns whether some namespace is still Terminating.
 */
static bool namespaces_finalize(struct api_deleter *d)
{
	char q[512]; /* a quoted error for the log */
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	bool pending = false;

	if (store_list(d->store, "/registry/namespaces/", 0, 0, NULL, &l, &err) < 0) {
		k8c_log_warn("namespace finalizer: list namespaces failed", "error=%s",
			     k8c_log_quote(q, sizeof(q), err.msg ?: "failed"));
		k8c_error_clear(&err);
		return true;
	}
	for (size_t i = 0; i < l.n && !worker_stopping(d); i++) {
		_cleanup_json_ json_t *ns =
			obj_decode(l.items[i].value, l.items[i].value_len, l.items[i].mod_revision);
		_cleanup_json_ json_t *fins = NULL, *out = NULL;
		const char *name;
		json_t *f;
		size_t k;
		bool ours = false, deleted = false;

		if (!ns || !api_jget(ns, "metadata.deletionTimestamp"))
			continue;
		name = api_jstr(ns, "metadata.name");
		pending = true;
		fins = json_array();
		json_array_foreach(api_jget(ns, "spec.finalizers"), k, f)
		{
			if (json_is_string(f) &&
			    strcmp(json_string_value(f), API_FINALIZER_KUBERNETES) == 0)
				ours = true;
			else
				json_array_append(fins, f);
		}
		if (!ours || !name)
			continue; /* other finalizers (or metadata ones) are someone else's */
		if (namespace_empty(d, name) != 0)
			continue;
		if (namespace_finalize(d->store, name, fins, l.items[i].mod_revision, &out,
				       &deleted, &err) < 0) {
			/* a conflict: it changed meanwhile, the next pass sees the new version */
			if (err.code != STORE_E_CONFLICT && err.code != STORE_E_NOT_FOUND)
				k8c_log_warn("finalize namespace failed", "namespace=%s error=%s",
					     name,
					     k8c_log_quote(q, sizeof(q), err.msg ?: "failed"));
			k8c_error_clear(&err);
		}
	}
	store_list_free(&l);
	return pending;
}

/* Delete the Events (core and events.k8s.io) last written more than ttl seconds ago. */
static void events_expire(struct api_deleter *d)
{
	time_t deadline = time(NULL) - d->event_ttl;
	long n = 0, seen = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		_cleanup_free_ char *prefix = NULL, *after = NULL;

		if (strcmp(r->resource, "events") != 0 || store_name_seen(i))
			continue;
		prefix = k8c_xasprintf("/registry/%s/", api_registry_store_name(r));
		for (;;) {
			struct k8c_error err = K8C_ERROR_INIT;
			struct store_list l = {0};
			bool more;

			if (store_list(d->store, prefix, 0, WORKER_PAGE, after, &l, &err) < 0) {
				k8c_error_clear(&err);
				break;
			}
			for (size_t j = 0; j < l.n && !worker_stopping(d); j++) {
				_cleanup_json_ json_t *ev =
					json_loadb(l.items[j].value, l.items[j].value_len, 0, NULL);
				int64_t rev;

				seen++;
				if (!ev || api_event_last_seen(ev) > deadline)
					continue;
				/* only the version judged: a newer write keeps it */
				if (store_delete(d->store, l.items[j].key, l.items[j].mod_revision,
						 &rev, NULL, &err) < 0)
					k8c_error_clear(&err);
				else
					n++;
			}
			more = l.more && l.n && !worker_stopping(d);
			if (more) {
				free(after);
				after = k8c_xstrdup(l.items[l.n - 1].key);
			}
			store_list_free(&l);
			if (!more)
				break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (n)
		k8c_log_info("expired events deleted",
			     "deleted=%ld ttl_seconds=%d swept=%ld ms=%ld", n, d->event_ttl, seen,
			     (long)((t1.tv_sec - t0.tv_sec) * 1000 +
				    (t1.tv_nsec - t0.tv_nsec) / 1000000));
}

static void add_seconds(struct timespec *ts, long s)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += s;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *worker_main(void *arg)
{
	struct api_deleter *d = arg;
	/* a sweep interval of a tenth of the TTL, 1 s to 1 min: events live at most 10% longer */
	long sweep = d->event_ttl / 10 < 1 ? 1 : d->event_ttl / 10 > 60 ? 60 : d->event_ttl / 10;
	struct timespec next_sweep, now, wake;
	bool ns_pending = true; /* at start: resume what a previous run left Terminating */

	add_seconds(&next_sweep, 0);
	pthread_mutex_lock(&d->lock);
	while (!d->stop) {
		bool kicked = d->kicked;

		d->kicked = false;
		pthread_mutex_unlock(&d->lock);
		if (kicked || ns_pending)
			ns_pending = namespaces_finalize(d);
		add_seconds(&now, 0);
		if (d->event_ttl > 0 && !before(&now, &next_sweep)) {
			events_expire(d);
			add_seconds(&next_sweep, sweep);
		}
		/* a Terminating namespace is looked at again every second (grace periods end) */
		add_seconds(&wake, ns_pending ? 1 : 3600);
		if (d->event_ttl > 0 && before(&next_sweep, &wake))
			wake = next_sweep;
		pthread_mutex_lock(&d->lock);
		while (!d->stop && !d->kicked &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &wake) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct api_deleter *api_deleter_start(struct store *store, int event_ttl, struct k8c_error *err)
{
	struct api_deleter *d = k8c_xmalloc(sizeof(*d));
	pthread_condattr_t ca;
	int e;

	memset(d, 0, sizeof(*d));
	d->store = store;
	d->event_ttl = event_ttl;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((e = pthread_create(&d->thread, NULL, worker_main, d)) != 0) {
		pthread_cond_destroy(&d->cond);
		pthread_mutex_destroy(&d->lock);
		free(d);
		k8c_error_errno(err, 0, e, "start the deletion worker");
		return NULL;
	}
	d->started = true;
	return d;
}

void api_delete_kick(struct api *api)
{
	struct api_deleter *d = api->deleter;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->kicked = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void api_deleter_stop(struct api_deleter *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

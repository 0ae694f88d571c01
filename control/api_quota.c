/*
 * Admission of the quota and storage plugins kube-apiserver enables by default (docs/apiserver.md,
 * "Admission"): LimitRanger (defaults, then min/max/ratio checks of pods and claims),
 * DefaultStorageClass (claims without a class get the default one) and ResourceQuota (a create or
 * an update that would take a namespace's usage above a quota's status.hard is refused; else the
 * usage is charged to the quotas' status.used by an optimistic update, retried on conflict, so a
 * burst of creates cannot overshoot before the resourcequota controller recounts).
 *
 * The accounting itself is pure (quota_eval.c); this file reads the namespace's LimitRanges,
 * StorageClasses and ResourceQuotas from the store and answers 403 Forbidden with kube's text.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_quota.h"
#include "cleanup.h"
#include "log.h"
#include "objutil.h"
#include "quota_eval.h"

/* Attempts of the quota charge when quotas change under it (kube retries 3 times). */
#define CHARGE_ATTEMPTS 16

/* One stored object with its key and mod_revision. */
struct stored {
	char *key;
	json_t *obj;
	int64_t rev;
};

struct stored_list {
	struct stored *items;
	size_t n;
};

static void stored_list_free(struct stored_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		json_decref(l->items[i].obj);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* The live objects of a resource in ns (NULL: cluster-scoped). <0 with err. */
static int list_objects(struct store *store, const char *group, const char *resource,
			const char *ns, struct stored_list *out, struct k8c_error *err)
{
	const struct api_resource *r = api_registry_lookup(group, "v1", resource, strlen(resource));
	_cleanup_free_ char *prefix = NULL;
	struct store_list l = {0};

	out->items = NULL;
	out->n = 0;
	if (!r)
		return 0;
	prefix = ns ? k8c_xasprintf("/registry/%s/%s/", api_registry_store_name(r), ns)
		    : k8c_xasprintf("/registry/%s/", api_registry_store_name(r));
	if (store_list(store, prefix, 0, 0, NULL, &l, err) < 0)
		return -1;
	out->items = k8c_xcalloc(l.n ? l.n : 1, sizeof(*out->items));
	for (size_t i = 0; i < l.n; i++) {
		json_t *o =
			obj_decode(l.items[i].value, l.items[i].value_len, l.items[i].mod_revision);

		if (!o)
			continue;
		out->items[out->n].key = k8c_xstrdup(l.items[i].key);
		out->items[out->n].obj = o;
		out->items[out->n].rev = l.items[i].mod_revision;
		out->n++;
	}
	store_list_free(&l);
	return 0;
}

static json_t *objects_array(const struct stored_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append(a, l->items[i].obj);
	return a;
}

/*
 * Which namespaces have ResourceQuotas or LimitRanges, so that a create in a namespace without
 * them (the common case) costs no store read: a count per namespace, loaded by one list and kept
 * by a store watch drained before each use. The store publishes a write's events before it
 * acknowledges the write, so the index holds every acknowledged create and delete.
 */
struct ns_index {
	const char *prefix;
	pthread_mutex_t lock;
	struct store_watch *w;
	json_t *counts; /* namespace -> number of objects */
};

static struct ns_index quota_index = {.prefix = "/registry/resourcequotas/",
				      .lock = PTHREAD_MUTEX_INITIALIZER};
static struct ns_index limits_index = {.prefix = "/registry/limitranges/",
				       .lock = PTHREAD_MUTEX_INITIALIZER};

static void ns_index_reset(struct ns_index *x)
{
	store_watch_close(x->w);
	x->w = NULL;
	json_decref(x->counts);
	x->counts = NULL;
}

/* The namespace of a key under the prefix, into buf; false when it has none. */
static bool key_namespace(const struct ns_index *x, const char *key, char *buf, size_t len)
{
	const char *ns = key + strlen(x->prefix), *slash;

	if (!store_key_has_prefix(key, x->prefix) || !(slash = strchr(ns, '/')) ||
	    (size_t)(slash - ns) >= len)
		return false;
	memcpy(buf, ns, (size_t)(slash - ns));
	buf[slash - ns] = 0;
	return true;
}

static void ns_index_count(struct ns_index *x, const char *key, int delta)
{
	char ns[256];

	if (key_namespace(x, key, ns, sizeof(ns)))
		json_object_set_new(
			x->counts, ns,
			json_integer(json_integer_value(json_object_get(x->counts, ns)) + delta));
}

static int ns_index_load(struct store *store, struct ns_index *x, struct k8c_error *err)
{
	struct store_list l = {0};

	if (store_list(store, x->prefix, 0, 0, NULL, &l, err) < 0)
		return -1;
	x->counts = json_object();
	for (size_t i = 0; i < l.n; i++)
		ns_index_count(x, l.items[i].key, 1);
	if (store_watch(store, x->prefix, l.revision, &x->w, err) < 0) {
		store_list_free(&l);
		ns_index_reset(x);
		return -1;
	}
	store_list_free(&l);
	return 0;
}

static int ns_index_drain(struct ns_index *x, struct k8c_error *err)
{
	struct store_event *evs[64];
	int n;

	while ((n = store_watch_next(x->w, evs, 64, err)) > 0) {
		for (int i = 0; i < n; i++) {
			if (evs[i]->type == STORE_ADDED)
				ns_index_count(x, evs[i]->key, 1);
			else if (evs[i]->type == STORE_DELETED)
				ns_index_count(x, evs[i]->key, -1);
			store_event_unref(evs[i]);
		}
	}
	return n;
}

/* Whether ns may hold objects of the index (true when the store cannot tell). */
static bool ns_index_has(struct store *store, struct ns_index *x, const char *ns)
{
	struct k8c_error err = K8C_ERROR_INIT;
	bool has = true;

	pthread_mutex_lock(&x->lock);
	if (!x->w && ns_index_load(store, x, &err) < 0)
		goto out;
	if (ns_index_drain(x, &err) < 0) {
		ns_index_reset(x); /* compacted under us: load again next time */
		goto out;
	}
	has = json_integer_value(json_object_get(x->counts, ns)) > 0;
out:
	if (err.msg)
		k8c_log(K8C_LOG_WARN, "quota admission index", "prefix=%s error=\"%s\"", x->prefix,
			err.msg);
	k8c_error_clear(&err);
	pthread_mutex_unlock(&x->lock);
	return has;
}

void api_quota_free(void)
{
	ns_index_reset(&quota_index);
	ns_index_reset(&limits_index);
}

/* admission.NewForbidden: `pods "web" is forbidden: <msg>`. */
static void send_forbidden(h2o_req_t *req, const struct api_resource *r, const char *name,
			   const char *msg)
{
	_cleanup_free_ char *qr = *r->group ? k8c_xasprintf("%s.%s", r->resource, r->group)
					    : k8c_xstrdup(r->resource);
	json_t *details = json_pack("{s:s, s:s}", "name", name ?: "", "kind", r->resource);

	if (*r->group)
		json_object_set_new(details, "group", json_string(r->group));
	api_send_status(req, 403, "Forbidden", details, "%s \"%s\" is forbidden: %s", qr,
			name ?: "", msg);
}

static void send_error(h2o_req_t *req, struct k8c_error *err)
{
	api_send_status(req, 500, "InternalError", NULL, "Internal error occurred: %s",
			err->msg ? err->msg : "store failure");
	k8c_error_clear(err);
}

static bool core(const struct api_resource *r, const char *resource)
{
	return !*r->group && strcmp(r->resource, resource) == 0;
}

int api_admission_mutate(struct api *api, h2o_req_t *req, const struct api_resource *r,
			 const char *ns, const char *name, json_t *obj, const json_t *old)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (old || !ns)
		return 0; /* LimitRanger and DefaultStorageClass mutate creates only */
	if (core(r, "pods")) {
		struct stored_list l;
		_cleanup_json_ json_t *ranges = NULL;
		_cleanup_free_ char *msg = NULL;

		if (!ns_index_has(api->store, &limits_index, ns))
			return 0;
		if (list_objects(api->store, "", "limitranges", ns, &l, &err) < 0) {
			send_error(req, &err);
			return -1;
		}
		ranges = objects_array(&l);
		stored_list_free(&l);
		/* the defaults; the checks run after validation (api_admission_validate) */
		limitrange_pod(obj, ranges, &msg);
		return 0;
	}
	if (core(r, "persistentvolumeclaims")) {
		json_t *spec = json_object_get(obj, "spec");
		json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
		struct stored_list l;
		_cleanup_json_ json_t *classes = NULL;
		const char *def;

		if (!json_is_object(spec) ||
		    json_string_value(json_object_get(spec, "storageClassName")) ||
		    json_object_get(ann, "volume.beta.kubernetes.io/storage-class"))
			return 0;
		if (list_objects(api->store, "storage.k8s.io", "storageclasses", NULL, &l, &err) <
		    0) {
			send_error(req, &err);
			return -1;
		}
		classes = objects_array(&l);
		stored_list_free(&l);
		def = storage_default_class(classes);
		if (def) {
			k8c_log_debug("default storage class", "claim=%s/%s class=%s", ns, name,
				      def);
			json_object_set_new(spec, "storageClassName", json_string(def));
		}
	}
	return 0;
}

/* LimitRanger's checks of a pod (create) or a claim (create, update). */
static int limits_validate(struct api *api, h2o_req_t *req, const struct api_resource *r,
			   const char *ns, const char *name, const json_t *obj, const json_t *old)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct stored_list l;
	_cleanup_json_ json_t *ranges = NULL, *copy = NULL;
	_cleanup_free_ char *msg = NULL;
	int rc;

	if (!(core(r, "pods") && !old) && !core(r, "persistentvolumeclaims"))
		return 0;
	if (!ns_index_has(api->store, &limits_index, ns))
		return 0;
	if (list_objects(api->store, "", "limitranges", ns, &l, &err) < 0) {
		send_error(req, &err);
		return -1;
	}
	ranges = objects_array(&l);
	stored_list_free(&l);
	if (!json_array_size(ranges))
		return 0;
	if (core(r, "pods")) {
		copy = json_deep_copy(obj); /* defaults are in already: this only checks */
		rc = limitrange_pod(copy, ranges, &msg);
	} else {
		rc = limitrange_pvc(obj, ranges, &msg);
	}
	if (rc < 0) {
		send_forbidden(req, r, name, msg);
		return -1;
	}
	return 0;
}

/* Write a quota's new status.used at its revision; 1 on a conflict, <0 with err. */
static int charge(struct store *store, const struct stored *q, const json_t *used,
		  const char *pending_key, const char *uid, struct k8c_error *err)
{
	_cleanup_json_ json_t *next = json_deep_copy(q->obj);
	_cleanup_free_ char *value = NULL;
	json_t *status = json_object_get(next, "status");
	int64_t rev;

	if (!json_is_object(status)) {
		status = json_object();
		json_object_set_new(next, "status", status);
	}
	if (pending_key) {
		/* a create: counted by the controller once it sees the object */
		_cleanup_json_ json_t *sub = quota_list_sub(used, json_object_get(status, "used"));
		_cleanup_json_ json_t *delta = quota_list_nonzero(sub);

		quota_pending_add(status, pending_key, uid, delta, time(NULL));
	}
	json_object_set(status, "used", (json_t *)used);
	json_object_del(json_object_get(next, "metadata"), "resourceVersion");
	value = json_dumps(next, JSON_COMPACT);
	if (store_update(store, q->key, value, strlen(value), q->rev, &rev, NULL, err) < 0) {
		if (err->code == STORE_E_CONFLICT || err->code == STORE_E_NOT_FOUND) {
			k8c_error_clear(err);
			return 1; /* changed or gone meanwhile: check again */
		}
		return -1;
	}
	return 0;
}

static int quota_admit(struct api *api, h2o_req_t *req, const struct api_resource *r,
		       const char *ns, const char *name, const json_t *obj, const json_t *old,
		       bool dry)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *done = json_object(); /* quotas charged already */
	_cleanup_free_ char *pending = old ? NULL : quota_pending_key(r->group, r->resource, name);
	const char *uid = k8c_str_at(obj, "metadata.uid");
	time_t now = time(NULL);

	if (old && !quota_handles_update(r->group, r->resource))
		return 0;
	if (!ns_index_has(api->store, &quota_index, ns))
		return 0;
	for (int attempt = 0; attempt < CHARGE_ATTEMPTS; attempt++) {
		struct stored_list l;
		bool retry = false;

		if (list_objects(api->store, "", "resourcequotas", ns, &l, &err) < 0) {
			send_error(req, &err);
			return -1;
		}
		json_t *charges = json_array();

		for (size_t i = 0; i < l.n; i++) {
			const char *qn = k8c_str_at(l.items[i].obj, "metadata.name") ?: "";
			_cleanup_free_ char *msg = NULL;
			json_t *used = NULL;

			if (json_object_get(done, qn))
				continue;
			if (quota_check(l.items[i].obj, r->group, r->resource, obj, old, now, &used,
					&msg) < 0) {
				send_forbidden(req, r, name, msg);
				json_decref(charges);
				stored_list_free(&l);
				return -1;
			}
			if (used && !quota_list_equal(used, k8c_at(l.items[i].obj, "status.used")))
				json_array_append_new(
					charges,
					json_pack("{s:I, s:o}", "i", (json_int_t)i, "used", used));
			else
				json_decref(used);
		}
		for (size_t c = 0; !dry && c < json_array_size(charges); c++) {
			json_t *ch = json_array_get(charges, c);
			const struct stored *q =
				&l.items[json_integer_value(json_object_get(ch, "i"))];
			int rc = charge(api->store, q, json_object_get(ch, "used"), pending, uid,
					&err);

			if (rc < 0) {
				json_decref(charges);
				stored_list_free(&l);
				send_error(req, &err);
				return -1;
			}
			if (rc > 0)
				retry = true;
			else
				json_object_set_new(done, k8c_str_at(q->obj, "metadata.name") ?: "",
						    json_true());
		}
		json_decref(charges);
		stored_list_free(&l);
		if (!retry)
			return 0;
	}
	/* as kube, the last conflict of the quota's update is the answer */
	api_send_status(req, 409, "Conflict", json_pack("{s:s}", "kind", "resourcequotas"),
			"Operation cannot be fulfilled on resourcequotas: the object has been "
			"modified; please apply your changes to the latest version and try again");
	return -1;
}

int api_admission_validate(struct api *api, h2o_req_t *req, const struct api_resource *r,
			   const char *ns, const char *name, const json_t *obj, const json_t *old,
			   bool dry)
{
	if (!ns || !r->namespaced)
		return 0;
	if (limits_validate(api, req, r, ns, name, obj, old) < 0)
		return -1;
	return quota_admit(api, req, r, ns, name, obj, old, dry);
}

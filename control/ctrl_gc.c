/*
 * garbagecollector: ownerReferences, as kube's garbage collector (docs/controllers.md).
 *
 * It watches a fixed list of the kinds that carry ownerReferences (those of them the server
 * serves, found by discovery, which also maps an owner's apiVersion+kind to its resource) and
 * keeps two maps over all of them: uid -> (resource, key) and owner uid -> {dependent uids}.
 * Keys of the queue are uids. Sync of an object:
 *  - being deleted with the `foregroundDeletion` finalizer: delete its dependents that are not
 *    being deleted yet (Foreground when they have dependents themselves, else Background); when
 *    no dependent with blockOwnerDeletion is left, remove the finalizer;
 *  - being deleted with the `orphan` finalizer: remove its ownerReferences from every
 *    dependent, then the finalizer;
 *  - otherwise, for an object with ownerReferences: an owner is absent when neither the caches
 *    nor a GET of it (the caches may lag) find it with that uid. No owner left: delete the
 *    object (Background; Foreground when some owner waits for its dependents and the object has
 *    dependents). Some owners left: remove the references to absent owners and to owners
 *    waiting for their dependents.
 * Cycles: an object about to be deleted in the foreground because its owner waits, and one of
 * whose own dependents also waits for its dependents, first makes its ownerReferences
 * non-blocking (kube's cycle breaker), so a circle of blockOwnerDeletion never deadlocks.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "log.h"
#include "objutil.h"

#define FIN_FOREGROUND "foregroundDeletion"
#define FIN_ORPHAN     "orphan"

/* group/resource of the kinds watched (the first version the server serves is used). */
static const char *const watched[] = {
	"/pods",
	"/replicationcontrollers",
	"/services",
	"/endpoints",
	"/configmaps",
	"/secrets",
	"/serviceaccounts",
	"/persistentvolumeclaims",
	"/podtemplates",
	"/nodes", /* owners of the agents' Leases */
	"apps/replicasets",
	"apps/deployments",
	"apps/daemonsets",
	"apps/statefulsets",
	"apps/controllerrevisions",
	"batch/jobs",
	"batch/cronjobs",
	"discovery.k8s.io/endpointslices",
	"networking.k8s.io/ingresses",
	"policy/poddisruptionbudgets",
	"coordination.k8s.io/leases",
	"autoscaling/horizontalpodautoscalers",
	NULL,
};

struct gc_res {
	char *group, *version, *resource, *kind;
	bool namespaced;
	struct k8c_informer *inf; /* NULL: known kind, not watched */
};

struct gc {
	struct gc_res *res;
	size_t n_res;
	json_t *uids;	/* uid -> [res index, key] */
	json_t *deps;	/* owner uid -> {dependent uid: true} */
	json_t *absent; /* uids known deleted (seen deleted, or a GET said so): never back */
};

#define ABSENT_MAX 100000 /* the absent cache starts afresh beyond this */

static void note_absent(struct gc *g, const char *uid)
{
	if (json_object_size(g->absent) >= ABSENT_MAX)
		json_object_clear(g->absent);
	json_object_set_new(g->absent, uid, json_true());
}

static struct k8c_gvr gvr_of(const struct gc_res *r)
{
	return K8C_GVR(r->group, r->version, r->resource);
}

static const char *uid_of(const json_t *o)
{
	return k8c_str_at(o, "metadata.uid");
}

static bool has_finalizer(const json_t *o, const char *f)
{
	json_t *v;
	size_t i;

	json_array_foreach(k8c_at(o, "metadata.finalizers"), i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
			return true;
	}
	return false;
}

static bool deleting(const json_t *o)
{
	return k8c_at(o, "metadata.deletionTimestamp") != NULL;
}

/* The cached object of uid, and its resource. */
static json_t *lookup(struct gc *g, const char *uid, struct gc_res **res)
{
	json_t *e = json_object_get(g->uids, uid);
	struct gc_res *r;

	if (!e)
		return NULL;
	r = &g->res[json_integer_value(json_array_get(e, 0))];
	if (res)
		*res = r;
	return json_object_get(k8c_informer_cache(r->inf), json_string_value(json_array_get(e, 1)));
}

static void deps_update(struct gc *g, const json_t *obj, bool add)
{
	const char *uid = uid_of(obj);
	json_t *ref;
	size_t i;

	if (!uid)
		return;
	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i, ref)
	{
		const char *ou = k8c_str_at(ref, "uid");
		json_t *set;

		if (!ou)
			continue;
		set = json_object_get(g->deps, ou);
		if (add) {
			if (!set) {
				set = json_object();
				json_object_set_new(g->deps, ou, set);
			}
			json_object_set_new(set, uid, json_true());
		} else if (set) {
			json_object_del(set, uid);
			if (!json_object_size(set))
				json_object_del(g->deps, ou);
		}
	}
}

/* Enqueue the owners of obj that are being deleted (they wait for or orphan dependents). */
static void enqueue_deleting_owners(struct k8c_ctrl *c, struct gc *g, const json_t *obj)
{
	json_t *ref;
	size_t i;

	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i, ref)
	{
		const char *ou = k8c_str_at(ref, "uid");
		json_t *owner = ou ? lookup(g, ou, NULL) : NULL;

		if (owner && deleting(owner))
			k8c_ctrl_enqueue(c, ou);
	}
}

/*
 * Which informer an added or updated object is in: the one whose cache holds this very object
 * under the key (the runtime calls the handler right after the cache changed).
 */
static long res_of_delta(struct gc *g, const struct k8c_delta *d)
{
	for (size_t i = 0; i < g->n_res; i++)
		if (g->res[i].inf &&
		    json_object_get(k8c_informer_cache(g->res[i].inf), d->key) == d->new)
			return (long)i;
	return -1;
}

static void on_delta(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct gc *g = k8c_ctrl_data(c);
	const char *uid;
	json_t *set;
	long idx;

	switch (d->type) {
	case K8C_DELTA_ADD:
	case K8C_DELTA_UPDATE:
		if ((idx = res_of_delta(g, d)) < 0)
			return;
		if (d->old)
			deps_update(g, d->old, false);
		deps_update(g, d->new, true);
		if (!(uid = uid_of(d->new)))
			return;
		json_object_set_new(g->uids, uid, json_pack("[I, s]", (json_int_t)idx, d->key));
		if (k8c_at(d->new, "metadata.ownerReferences") ||
		    (deleting(d->new) &&
		     (has_finalizer(d->new, FIN_FOREGROUND) || has_finalizer(d->new, FIN_ORPHAN))))
			k8c_ctrl_enqueue(c, uid);
		if (d->old)
			enqueue_deleting_owners(c, g, d->old);
		enqueue_deleting_owners(c, g, d->new);
		break;
	case K8C_DELTA_DELETE: {
		const json_t *o = d->old ? d->old : d->new;
		const char *k;
		json_t *v;

		if (!(uid = uid_of(o)))
			return;
		deps_update(g, o, false);
		json_object_del(g->uids, uid);
		note_absent(g, uid);
		enqueue_deleting_owners(c, g, o);
		/* its dependents may have no owner left */
		set = json_object_get(g->deps, uid);
		json_object_foreach(set, k, v) k8c_ctrl_enqueue(c, k);
		break;
	}
	default:
		break;
	}
}

/* Discovery: every resource the server serves (kind, namespaced), plus informers for ours. */
static int discover(struct k8c_ctrl *c, struct gc *g, struct k8c_error *err)
{
	struct k8c_kube *kube = k8c_ctrl_kube(c);
	_cleanup_json_ json_t *groups = NULL;
	json_t *versions = json_array(), *grp;
	size_t i;

	json_array_append_new(versions, json_pack("[s, s]", "", "v1"));
	if (k8c_kube_request(kube, "GET", "/apis", NULL, NULL, NULL, &groups, err) < 0) {
		json_decref(versions);
		return k8c_error_wrap(err, "discovery");
	}
	json_array_foreach(json_object_get(groups, "groups"), i, grp)
	{
		const char *gn = k8c_str_at(grp, "name");
		const char *v = k8c_str_at(grp, "preferredVersion.version");

		if (gn && v)
			json_array_append_new(versions, json_pack("[s, s]", gn, v));
	}
	json_array_foreach(versions, i, grp)
	{
		const char *gn = json_string_value(json_array_get(grp, 0));
		const char *v = json_string_value(json_array_get(grp, 1));
		_cleanup_free_ char *path =
			*gn ? k8c_xasprintf("/apis/%s/%s", gn, v) : k8c_xstrdup("/api/v1");
		_cleanup_json_ json_t *list = NULL;
		json_t *r;
		size_t j;

		if (k8c_kube_request(kube, "GET", path, NULL, NULL, NULL, &list, err) < 0) {
			json_decref(versions);
			return k8c_error_wrap(err, "discovery");
		}
		json_array_foreach(json_object_get(list, "resources"), j, r)
		{
			const char *name = k8c_str_at(r, "name"), *kind = k8c_str_at(r, "kind");
			struct gc_res *gr;

			if (!name || !kind || strchr(name, '/'))
				continue;
			g->res = k8c_xrealloc(g->res, (g->n_res + 1) * sizeof(*g->res));
			gr = &g->res[g->n_res++];
			memset(gr, 0, sizeof(*gr));
			gr->group = k8c_xstrdup(gn);
			gr->version = k8c_xstrdup(v);
			gr->resource = k8c_xstrdup(name);
			gr->kind = k8c_xstrdup(kind);
			gr->namespaced = json_is_true(json_object_get(r, "namespaced"));
		}
	}
	json_decref(versions);
	return 0;
}

static int gc_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct gc *g = k8c_xcalloc(1, sizeof(*g));
	size_t n = 0;

	k8c_ctrl_set_data(c, g);
	g->uids = json_object();
	g->deps = json_object();
	g->absent = json_object();
	if (discover(c, g, err) < 0)
		return -1;
	for (size_t i = 0; i < g->n_res; i++) {
		struct gc_res *r = &g->res[i];
		_cleanup_free_ char *gr = k8c_xasprintf("%s/%s", r->group, r->resource);
		struct k8c_informer_opts o = {.gvr = gvr_of(r)};
		bool want = false;

		for (size_t k = 0; watched[k] && !want; k++)
			want = strcmp(watched[k], gr) == 0;
		/* the first served version of a group/resource only */
		for (size_t k = 0; k < i && want; k++)
			if (g->res[k].inf && strcmp(g->res[k].group, r->group) == 0 &&
			    strcmp(g->res[k].resource, r->resource) == 0)
				want = false;
		if (!want)
			continue;
		if (!(r->inf = k8c_ctrl_informer(c, &o, on_delta, err)))
			return -1;
		n++;
	}
	k8c_log_info("garbage collector watching", "resources=%zu known=%zu", n, g->n_res);
	return 0;
}

static struct gc_res *find_kind(struct gc *g, const char *api_version, const char *kind)
{
	const char *slash = api_version ? strchr(api_version, '/') : NULL;
	size_t glen = slash ? (size_t)(slash - api_version) : 0;

	if (!kind)
		return NULL;
	for (size_t i = 0; i < g->n_res; i++) {
		struct gc_res *r = &g->res[i];

		if (strcmp(r->kind, kind) == 0 && strlen(r->group) == glen &&
		    strncmp(r->group, api_version, glen) == 0)
			return r;
	}
	return NULL;
}

enum owner_state { OWNER_ABSENT, OWNER_SOLID, OWNER_WAITING };

static enum owner_state state_of(const json_t *owner)
{
	return deleting(owner) && has_finalizer(owner, FIN_FOREGROUND) ? OWNER_WAITING
								       : OWNER_SOLID;
}

/* The state of the owner ref of dependent obj (in namespace ns); -1 on an API error. */
static int owner_state(struct k8c_ctrl *c, struct gc *g, const char *ns, const json_t *ref,
		       struct k8c_error *err)
{
	const char *uid = k8c_str_at(ref, "uid"), *name = k8c_str_at(ref, "name");
	json_t *owner = uid ? lookup(g, uid, NULL) : NULL;
	_cleanup_json_ json_t *live = NULL;
	struct gc_res *r;
	const char *have;

	if (owner)
		return state_of(owner);
	if (uid && json_object_get(g->absent, uid))
		return OWNER_ABSENT;
	r = find_kind(g, k8c_str_at(ref, "apiVersion"), k8c_str_at(ref, "kind"));
	if (!r || !uid || !name)
		return OWNER_SOLID; /* a kind this server does not serve: leave it alone */
	/* not in our caches (which may lag, or do not hold this kind): ask */
	if (k8c_kube_get(k8c_ctrl_kube(c), gvr_of(r), r->namespaced ? ns : NULL, name, &live, err) <
	    0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			note_absent(g, uid);
			return OWNER_ABSENT;
		}
		return -1;
	}
	have = k8c_str_at(live, "metadata.uid");
	if (!have || strcmp(have, uid) != 0) {
		note_absent(g, uid);
		return OWNER_ABSENT;
	}
	return state_of(live);
}

static int delete_obj(struct k8c_ctrl *c, struct gc_res *r, const json_t *obj, const char *policy,
		      struct k8c_error *err)
{
	_cleanup_json_ json_t *opts =
		json_pack("{s:s, s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
			  "propagationPolicy", policy, "preconditions", "uid", uid_of(obj));
	const char *ns = k8c_str_at(obj, "metadata.namespace"),
		   *name = k8c_str_at(obj, "metadata.name");

	if (k8c_kube_delete(k8c_ctrl_kube(c), gvr_of(r), r->namespaced ? ns : NULL, name, opts,
			    NULL, err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "delete %s %s", r->resource, name);
	}
	k8c_log_info("garbage collected", "resource=%s namespace=%s name=%s propagation=%s",
		     r->resource, ns ? ns : "", name, policy);
	return 0;
}

static int update_obj(struct k8c_ctrl *c, struct gc_res *r, const json_t *obj,
		      struct k8c_error *err)
{
	const char *ns = k8c_str_at(obj, "metadata.namespace");

	if (k8c_kube_update(k8c_ctrl_kube(c), gvr_of(r), r->namespaced ? ns : NULL, obj, NULL,
			    err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "update %s %s", r->resource,
				      k8c_str_at(obj, "metadata.name"));
	}
	return 0;
}

/* A copy of obj without finalizer f. */
static json_t *without_finalizer(const json_t *obj, const char *f)
{
	json_t *copy = json_deep_copy(obj), *fins = k8c_at(copy, "metadata.finalizers"), *v;
	size_t i;

	json_array_foreach(fins, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), f) == 0) {
			json_array_remove(fins, i);
			break;
		}
	}
	return copy;
}

/* The ownerReference of dep to owner uid, or NULL. */
static json_t *ref_to(const json_t *dep, const char *uid)
{
	json_t *ref;
	size_t i;

	json_array_foreach(k8c_at(dep, "metadata.ownerReferences"), i, ref)
	{
		const char *u = k8c_str_at(ref, "uid");

		if (u && strcmp(u, uid) == 0)
			return ref;
	}
	return NULL;
}

static int process_foreground(struct k8c_ctrl *c, struct gc *g, const char *uid, json_t *owner,
			      struct gc_res *r, struct k8c_error *err)
{
	json_t *set = json_object_get(g->deps, uid), *v;
	_cleanup_json_ json_t *copy = NULL;
	size_t blocking = 0;
	const char *du;

	json_object_foreach(set, du, v)
	{
		json_t *dep = lookup(g, du, NULL);

		if (!dep)
			continue;
		if (json_is_true(json_object_get(ref_to(dep, uid), "blockOwnerDeletion")))
			blocking++;
		if (!deleting(dep))
			k8c_ctrl_enqueue(c, du); /* its sync deletes it (or drops the reference) */
	}
	if (blocking)
		return 0; /* their deletion (or change) enqueues us again */
	copy = without_finalizer(owner, FIN_FOREGROUND);
	return update_obj(c, r, copy, err);
}

static int process_orphan(struct k8c_ctrl *c, struct gc *g, const char *uid, json_t *owner,
			  struct gc_res *r, struct k8c_error *err)
{
	_cleanup_json_ json_t *set = json_deep_copy(json_object_get(g->deps, uid)), *copy = NULL;
	const char *du;
	json_t *v;

	json_object_foreach(set, du, v)
	{
		struct gc_res *dr;
		json_t *dep = lookup(g, du, &dr), *refs, *ref;
		_cleanup_json_ json_t *dcopy = NULL;
		size_t i;

		if (!dep)
			continue;
		dcopy = json_deep_copy(dep);
		refs = k8c_at(dcopy, "metadata.ownerReferences");
		json_array_foreach(refs, i, ref)
		{
			if (k8c_str_at(ref, "uid") && strcmp(k8c_str_at(ref, "uid"), uid) == 0) {
				json_array_remove(refs, i);
				break;
			}
		}
		if (!json_array_size(refs))
			json_object_del(json_object_get(dcopy, "metadata"), "ownerReferences");
		if (update_obj(c, dr, dcopy, err) < 0)
			return -1;
	}
	copy = without_finalizer(owner, FIN_ORPHAN);
	return update_obj(c, r, copy, err);
}

/* Whether one of obj's dependents waits for its own dependents (a cycle through obj). */
static bool dependent_waiting(struct gc *g, const char *uid)
{
	json_t *set = json_object_get(g->deps, uid), *v;
	const char *du;

	json_object_foreach(set, du, v)
	{
		json_t *dep = lookup(g, du, NULL);

		if (dep && state_of(dep) == OWNER_WAITING)
			return true;
	}
	return false;
}

static bool has_dependents(struct gc *g, const char *uid)
{
	json_t *set = json_object_get(g->deps, uid), *v;
	const char *du;

	json_object_foreach(set, du, v)
	{
		if (lookup(g, du, NULL))
			return true;
	}
	return false;
}

static int gc_sync(struct k8c_ctrl *c, const char *uid, struct k8c_error *err)
{
	struct gc *g = k8c_ctrl_data(c);
	struct gc_res *r;
	json_t *obj = lookup(g, uid, &r), *refs, *ref;
	_cleanup_json_ json_t *drop = json_object();
	const char *ns;
	size_t i, solid = 0, waiting = 0;

	if (!obj)
		return 0;
	if (deleting(obj)) {
		if (has_finalizer(obj, FIN_FOREGROUND))
			return process_foreground(c, g, uid, obj, r, err);
		if (has_finalizer(obj, FIN_ORPHAN))
			return process_orphan(c, g, uid, obj, r, err);
		return 0;
	}
	refs = k8c_at(obj, "metadata.ownerReferences");
	if (!json_array_size(refs))
		return 0;
	ns = k8c_str_at(obj, "metadata.namespace");
	json_array_foreach(refs, i, ref)
	{
		int st = owner_state(c, g, ns, ref, err);

		if (st < 0)
			return -1;
		if (st == OWNER_SOLID)
			solid++;
		else if (k8c_str_at(ref, "uid"))
			json_object_set_new(drop, k8c_str_at(ref, "uid"), json_true());
		if (st == OWNER_WAITING)
			waiting++;
	}
	if (!solid) {
		if (waiting && has_dependents(g, uid)) {
			if (dependent_waiting(g, uid)) {
				/* a cycle: our references stop blocking, then we go in the fore */
				_cleanup_json_ json_t *copy = json_deep_copy(obj);

				json_array_foreach(k8c_at(copy, "metadata.ownerReferences"), i, ref)
					json_object_set_new(ref, "blockOwnerDeletion",
							    json_false());
				if (update_obj(c, r, copy, err) < 0)
					return -1;
			}
			return delete_obj(c, r, obj, "Foreground", err);
		}
		return delete_obj(c, r, obj, "Background", err);
	}
	if (json_object_size(drop)) {
		/* solid owners remain: drop the references to absent and waiting owners */
		_cleanup_json_ json_t *copy = json_deep_copy(obj);
		json_t *crefs = k8c_at(copy, "metadata.ownerReferences");

		for (i = json_array_size(crefs); i-- > 0;) {
			const char *u = k8c_str_at(json_array_get(crefs, i), "uid");

			if (u && json_object_get(drop, u))
				json_array_remove(crefs, i);
		}
		return update_obj(c, r, copy, err);
	}
	return 0;
}

static void gc_fini(struct k8c_ctrl *c)
{
	struct gc *g = k8c_ctrl_data(c);

	if (!g)
		return;
	for (size_t i = 0; i < g->n_res; i++) {
		free(g->res[i].group);
		free(g->res[i].version);
		free(g->res[i].resource);
		free(g->res[i].kind);
	}
	free(g->res);
	json_decref(g->uids);
	json_decref(g->deps);
	json_decref(g->absent);
	free(g);
}

const struct k8c_controller_def ctrl_garbagecollector_def = {
	.name = "garbagecollector",
	.component = "garbage-collector-controller",
	.init = gc_init,
	.sync = gc_sync,
	.fini = gc_fini,
};

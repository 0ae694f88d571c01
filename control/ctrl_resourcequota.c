/*
 * resourcequota: keeps every ResourceQuota's status.hard (= spec.hard) and status.used (the
 * usage of the namespace's objects, quota_eval.c) true, as kube's resourcequota-controller: on
 * a quota's create and update, on any change of an object it counts (pods, services, claims,
 * configmaps, secrets, replication controllers, quotas, deployments, replica sets, stateful sets,
 * daemon sets), and in a full resync every 5 minutes. Deleted objects and pods that ended stop
 * being counted, which releases what the API server's admission charged for them.
 * count/<resource>.<group> of other resources are listed from the API at each sync (and every
 * 30 s). docs/controllers.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "objutil.h"
#include "quota_eval.h"

#define RESYNC_MS (5 * 60 * 1000L)
/* Quotas with count/ names no informer follows are recounted more often (no deltas for them). */
#define LISTED_RESYNC_MS (30 * 1000L)

#define GVR_QUOTAS K8C_GVR("", "v1", "resourcequotas")

/* The resources counted from informers (other count/ names are listed at sync time). */
static const struct k8c_gvr counted[] = {
	K8C_GVR("", "v1", "pods"),
	K8C_GVR("", "v1", "services"),
	K8C_GVR("", "v1", "persistentvolumeclaims"),
	K8C_GVR("", "v1", "configmaps"),
	K8C_GVR("", "v1", "secrets"),
	K8C_GVR("", "v1", "replicationcontrollers"),
	K8C_GVR("apps", "v1", "deployments"),
	K8C_GVR("apps", "v1", "replicasets"),
	K8C_GVR("apps", "v1", "statefulsets"),
	K8C_GVR("apps", "v1", "daemonsets"),
};
/* The first ones have usage beyond their count: their caches keep whole objects. */
#define N_WHOLE	  3
#define N_COUNTED (sizeof(counted) / sizeof(counted[0]))

struct rq_ctrl {
	struct k8c_ctrl *c;
	struct k8c_informer *quotas;
	struct k8c_informer *objs[N_COUNTED];
};

static char *index_namespace(const json_t *obj)
{
	const char *ns = k8c_str_at(obj, "metadata.namespace");

	return ns ? k8c_xstrdup(ns) : NULL;
}

/* Objects that are only counted: keep their metadata, not their data or specs. */
static json_t *keep_meta(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");

	return json_pack("{s:{s:O*, s:O*, s:O*, s:O*}}", "metadata", "name",
			 json_object_get(meta, "name"), "namespace",
			 json_object_get(meta, "namespace"), "uid", json_object_get(meta, "uid"),
			 "resourceVersion", json_object_get(meta, "resourceVersion"));
}

/* Every quota of a namespace is due. */
static void enqueue_namespace(struct rq_ctrl *s, const char *ns)
{
	json_t *quotas = k8c_informer_index(s->quotas, ns), *v;
	const char *k;

	json_object_foreach(quotas, k, v) k8c_ctrl_enqueue(s->c, k);
}

static void on_quota(const struct k8c_delta *d, void *arg)
{
	struct rq_ctrl *s = k8c_ctrl_data(arg);
	const json_t *o = d->new ? d->new : d->old;

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE) {
		/* only a change of spec (or a status someone else wrote) needs a sync */
		if (d->type == K8C_DELTA_UPDATE &&
		    json_equal(k8c_at(d->old, "spec"), k8c_at(d->new, "spec")) &&
		    json_equal(k8c_at(d->new, "spec.hard"), k8c_at(d->new, "status.hard")) &&
		    json_equal(k8c_at(d->old, "status"), k8c_at(d->new, "status")))
			return;
		k8c_ctrl_enqueue(s->c, d->key);
	}
	/* quotas count quotas ("resourcequotas", "count/resourcequotas") */
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_DELETE)
		enqueue_namespace(s, k8c_str_at(o, "metadata.namespace") ?: "");
}

static void on_object(const struct k8c_delta *d, void *arg)
{
	struct rq_ctrl *s = k8c_ctrl_data(arg);
	const json_t *o = d->new ? d->new : d->old;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	/* an update matters when what quota reads changed: spec, phase, deletion */
	if (d->type == K8C_DELTA_UPDATE &&
	    json_equal(k8c_at(d->old, "spec"), k8c_at(d->new, "spec")) &&
	    json_equal(k8c_at(d->old, "status.phase"), k8c_at(d->new, "status.phase")) &&
	    json_equal(k8c_at(d->old, "status.allocatedResources"),
		       k8c_at(d->new, "status.allocatedResources")) &&
	    json_equal(k8c_at(d->old, "metadata.deletionTimestamp"),
		       k8c_at(d->new, "metadata.deletionTimestamp")))
		return;
	enqueue_namespace(s, k8c_str_at(o, "metadata.namespace") ?: "");
}

static int rq_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct rq_ctrl *s = k8c_xcalloc(1, sizeof(*s));
	struct k8c_informer_opts qo = {.gvr = GVR_QUOTAS, .index = index_namespace};

	s->c = c;
	k8c_ctrl_set_data(c, s);
	if (!(s->quotas = k8c_ctrl_informer(c, &qo, on_quota, err)))
		return -1;
	for (size_t i = 0; i < N_COUNTED; i++) {
		struct k8c_informer_opts o = {.gvr = counted[i], .index = index_namespace};

		if (i >= N_WHOLE)
			o.transform = keep_meta;
		if (!(s->objs[i] = k8c_ctrl_informer(c, &o, on_object, err)))
			return -1;
	}
	return 0;
}

/* One object: seen (pending key -> uid), and its usage when the quota selects it. */
static void add_one(json_t *used, json_t *seen, const json_t *quota, const char *group,
		    const char *resource, const json_t *o, time_t now)
{
	_cleanup_free_ char *pk =
		quota_pending_key(group, resource, k8c_str_at(o, "metadata.name") ?: "");
	_cleanup_json_ json_t *u = NULL;

	json_object_set_new(seen, pk, json_string(k8c_str_at(o, "metadata.uid") ?: ""));
	if (!quota_scopes_match(quota, group, resource, o))
		return;
	u = quota_usage(group, resource, o, now);
	quota_list_add(used, u);
}

/* Add the usage of the objects (an array, or a JSON object of them when keyed). */
static void add_usage(json_t *used, json_t *seen, const json_t *quota, const char *group,
		      const char *resource, const json_t *objs, bool keyed, time_t now)
{
	json_t *o;
	const char *k;
	size_t i;

	if (keyed) {
		json_object_foreach((json_t *)objs, k, o)
			add_one(used, seen, quota, group, resource, o, now);
		return;
	}
	json_array_foreach(objs, i, o) add_one(used, seen, quota, group, resource, o, now);
}

/* "count/deployments.apps" -> group apps, resource deployments (core: no dot). */
static bool split_count(const char *name, char *group, size_t glen, char *res, size_t rlen)
{
	const char *r, *dot;

	if (strncmp(name, "count/", 6) != 0 || !name[6])
		return false;
	r = name + 6;
	dot = strchr(r, '.');
	if (dot) {
		snprintf(res, rlen, "%.*s", (int)(dot - r), r);
		snprintf(group, glen, "%s", dot + 1);
	} else {
		snprintf(res, rlen, "%s", r);
		*group = 0;
	}
	return true;
}

/* Whether group/resource is one the informers count. */
static bool informed(const char *group, const char *resource)
{
	if (!*group && !strcmp(resource, "resourcequotas"))
		return true;
	for (size_t i = 0; i < N_COUNTED; i++)
		if (!strcmp(counted[i].group, group) && !strcmp(counted[i].resource, resource))
			return true;
	return false;
}

/*
 * The version to list a group's resources at: v1 for every group k8c serves at v1 (apps, batch,
 * networking.k8s.io, rbac, storage...).
 */
static int list_count(struct k8c_ctrl *c, const char *ns, const char *group, const char *resource,
		      json_t *used, json_t *seen, const json_t *quota, struct k8c_error *err)
{
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *rv = NULL;
	struct k8c_list_opts lo = {0};

	if (k8c_kube_list(k8c_ctrl_kube(c), K8C_GVR(group, "v1", resource), ns, &lo, &items, &rv,
			  err) < 0) {
		if (err->code == 404) { /* not served: nothing to count */
			k8c_error_clear(err);
			return 0;
		}
		return -1;
	}
	add_usage(used, seen, quota, group, resource, items, false, time(NULL));
	return 0;
}

static int rq_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct rq_ctrl *s = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = k8c_xstrdup(key);
	char *slash = strchr(ns, '/');
	json_t *quota, *hard, *v;
	_cleanup_json_ json_t *used = json_object(), *masked = NULL, *next = NULL, *out = NULL;
	_cleanup_json_ json_t *seen = json_object(), *pending = NULL;
	time_t now = time(NULL), expiry;
	long resync = RESYNC_MS;
	const char *k;

	if (!slash)
		return 0;
	*slash = 0;
	quota = k8c_informer_get(s->quotas, ns, slash + 1);
	if (!quota)
		return 0;
	hard = k8c_at(quota, "spec.hard");
	for (size_t i = 0; i < N_COUNTED; i++) {
		bool relevant = false;

		json_object_foreach(hard, k,
				    v) if (quota_tracks(counted[i].group, counted[i].resource, k))
			relevant = true;
		if (relevant)
			add_usage(used, seen, quota, counted[i].group, counted[i].resource,
				  k8c_informer_index(s->objs[i], ns), true, now);
	}
	json_object_foreach(hard, k, v) if (quota_tracks("", "resourcequotas", k))
	{
		add_usage(used, seen, quota, "", "resourcequotas",
			  k8c_informer_index(s->quotas, ns), true, now);
		break;
	}
	json_object_foreach(hard, k, v)
	{
		char group[128], res[128];

		if (!split_count(k, group, sizeof(group), res, sizeof(res)) || informed(group, res))
			continue;
		if (list_count(c, ns, group, res, used, seen, quota, err) < 0)
			return k8c_error_wrap(err, "resourcequota %s: count %s", key, k);
		resync = LISTED_RESYNC_MS;
	}
	/* creates the admission charged that the caches do not show yet still count */
	pending = quota_pending_keep(k8c_at(quota, "status"), seen, now, used, &expiry);
	/* every hard name has a used value, 0 when nothing uses it */
	masked = quota_list_mask(used, hard);
	json_object_foreach(hard, k, v) if (!json_object_get(masked, k))
		json_object_set_new(masked, k, json_string("0"));
	if (expiry) /* count again when the oldest pending charge expires */
		k8c_ctrl_enqueue_after(c, key, (long)(expiry - now) * 1000 + 100);
	if (json_equal(k8c_at(quota, "status.hard"), hard) &&
	    quota_list_equal(k8c_at(quota, "status.used"), masked) &&
	    json_object_size(k8c_at(quota, "status.used")) == json_object_size(masked) &&
	    json_equal(k8c_at(quota, "status." QUOTA_PENDING_FIELD) ?: pending, pending)) {
		if (!expiry)
			k8c_ctrl_enqueue_after(c, key, resync);
		return 0;
	}
	next = json_deep_copy(quota);
	json_object_set_new(next, "status",
			    json_pack("{s:o, s:O}", "hard",
				      hard ? json_incref(hard) : json_object(), "used", masked));
	if (json_object_size(pending))
		json_object_set(json_object_get(next, "status"), QUOTA_PENDING_FIELD, pending);
	if (k8c_kube_update_status(k8c_ctrl_kube(c), GVR_QUOTAS, ns, next, &out, err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		/* 409: admission charged it meanwhile; recount on the newer version */
		return k8c_error_wrap(err, "resourcequota %s: status update", key);
	}
	if (!expiry)
		k8c_ctrl_enqueue_after(c, key, resync);
	return 0;
}

static void rq_fini(struct k8c_ctrl *c)
{
	free(k8c_ctrl_data(c));
}

const struct k8c_controller_def ctrl_resourcequota_def = {
	.name = "resourcequota",
	.init = rq_init,
	.sync = rq_sync,
	.fini = rq_fini,
};

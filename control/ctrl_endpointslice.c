/*
 * endpointslice: the EndpointSlices of every Service with a selector (as kube's endpointslice
 * controller): one endpoint per pod with ready/serving/terminating, nodeName, zone (the node's
 * topology.kubernetes.io/zone), hostname, ports by name (pods that resolve a named port
 * differently go to different slices), at most 100 endpoints per slice, an empty placeholder
 * slice for a Service without endpoints, owned by the Service and labelled with its name and
 * managed-by endpointslice-controller.k8s.io. Only changed slices are written.
 *
 * endpointslicemirroring: the slices of hand-made Endpoints of Services without a selector
 * (managed-by endpointslicemirroring-controller.k8s.io, owned by the Endpoints).
 * docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "eps.h"
#include "eps_index.h"
#include "log.h"
#include "objutil.h"

#define K8C_GVR_ENDPOINTS K8C_GVR("", "v1", "endpoints")
#define SKIP_MIRROR	  "endpointslice.kubernetes.io/skip-mirror"
#define LEADER_ANNOTATION "control-plane.alpha.kubernetes.io/leader"

struct es_ctrl {
	struct eps_svc_pods sp; /* first: eps_index.c's handlers find it (endpointslice only) */
	struct k8c_informer *nodes, *slices, *eps;
	struct eps_overlay written;
	const char *managed_by;
};

/* Slices are indexed by the Service they belong to: "ns/service-name". */
static char *slice_owner_key(const json_t *slice)
{
	const char *svc = json_string_value(
		json_object_get(k8c_at(slice, "metadata.labels"), EPS_SERVICE_NAME));

	if (!svc)
		return NULL;
	return k8c_xasprintf("%s/%s", k8c_str_at(slice, "metadata.namespace") ?: "", svc);
}

static void on_slice(const struct k8c_delta *d, void *arg)
{
	_cleanup_free_ char *key = NULL;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	key = slice_owner_key(d->new ? d->new : d->old);
	if (key)
		k8c_ctrl_enqueue(arg, key);
}

static void enqueue_svc(const json_t *svc, void *arg)
{
	k8c_ctrl_enqueue_obj(arg, svc);
}

static const char *zone_of(const json_t *node)
{
	return json_string_value(
		json_object_get(k8c_at(node, "metadata.labels"), "topology.kubernetes.io/zone"));
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct es_ctrl *e = k8c_ctrl_data(c);
	const char *a, *b, *name, *key;
	json_t *pod;

	/* only a zone that changes matters; the first sync sees every node already */
	if (d->type != K8C_DELTA_UPDATE)
		return;
	a = zone_of(d->old);
	b = zone_of(d->new);
	if ((!a && !b) || (a && b && strcmp(a, b) == 0))
		return;
	name = k8c_str_at(d->new, "metadata.name");
	json_object_foreach(k8c_informer_cache(e->sp.pods), key, pod)
	{
		const char *nn = k8c_str_at(pod, "spec.nodeName");

		if (nn && name && strcmp(nn, name) == 0)
			eps_services_for_pod(e->sp.svc, pod, enqueue_svc, c);
	}
}

static json_t *node_transform(json_t *node)
{
	return json_pack("{s:{s:O*,s:O*}}", "metadata", "name", k8c_at(node, "metadata.name"),
			 "labels", k8c_at(node, "metadata.labels"));
}

static int es_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct es_ctrl *e = k8c_xcalloc(1, sizeof(*e));
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES, .transform = node_transform};
	struct k8c_informer_opts lo = {.gvr = K8C_GVR_ENDPOINTSLICES,
				       .label_selector = EPS_MANAGED_BY "=" EPS_CONTROLLER,
				       .index = slice_owner_key};

	e->managed_by = EPS_CONTROLLER;
	k8c_ctrl_set_data(c, e);
	if (eps_svc_pods_init(c, &e->sp, err) < 0 ||
	    !(e->nodes = k8c_ctrl_informer(c, &no, on_node, err)) ||
	    !(e->slices = k8c_ctrl_informer(c, &lo, on_slice, err)))
		return -1;
	return 0;
}

static json_t *node_of(void *arg, const char *name)
{
	return k8c_informer_get(arg, NULL, name);
}

/* Carry out a plan for the slices of owner key (ns/name); records every write. */
static int apply_plan(struct k8c_ctrl *c, struct es_ctrl *e, const char *key, const char *ns,
		      json_t *create, json_t *update, json_t *del, struct k8c_error *err)
{
	struct k8c_kube *k = k8c_ctrl_kube(c);
	size_t i;
	json_t *sl;

	json_array_foreach(update, i, sl)
	{
		_cleanup_json_ json_t *out = NULL;

		if (k8c_kube_update(k, K8C_GVR_ENDPOINTSLICES, ns, sl, &out, err) < 0)
			return k8c_error_wrap(err, "update endpointslice %s/%s for %s", ns,
					      k8c_str_at(sl, "metadata.name") ?: "?", key);
		eps_overlay_put(&e->written, key, k8c_str_at(out, "metadata.name") ?: "", out);
	}
	json_array_foreach(create, i, sl)
	{
		_cleanup_json_ json_t *out = NULL;

		if (k8c_kube_create(k, K8C_GVR_ENDPOINTSLICES, ns, sl, &out, err) < 0)
			return k8c_error_wrap(err, "create endpointslice for %s", key);
		eps_overlay_put(&e->written, key, k8c_str_at(out, "metadata.name") ?: "", out);
	}
	json_array_foreach(del, i, sl)
	{
		const char *name = json_string_value(sl);

		if (k8c_kube_delete(k, K8C_GVR_ENDPOINTSLICES, ns, name, NULL, NULL, err) < 0) {
			if (err->code != 404)
				return k8c_error_wrap(err, "delete endpointslice %s/%s of %s", ns,
						      name, key);
			k8c_error_clear(err);
		}
		eps_overlay_put(&e->written, key, name, NULL);
	}
	return 0;
}

/*
 * Plan the slices of key (the Service's or Endpoints' ns/name) from desired and have, with the
 * labels and ownerReferences of the slices and the placeholder's address type, and write them.
 * desired NULL: the owner is gone or not ours any more; every slice of it goes.
 */
static int reconcile(struct k8c_ctrl *c, struct es_ctrl *e, const char *key, const char *ns,
		     const char *name, json_t *desired, json_t *have, json_t *labels,
		     json_t *owners, const char *placeholder, struct k8c_error *err)
{
	_cleanup_free_ char *gen = k8c_xasprintf("%.56s-", name);
	_cleanup_json_ json_t *create = NULL, *update = NULL, *del = NULL, *none = NULL;
	struct eps_slice_meta meta = {.ns = ns,
				      .generate_name = gen,
				      .labels = labels,
				      .owner_refs = owners,
				      .placeholder = placeholder};

	if (!desired) {
		if (!json_array_size(have))
			return 0;
		none = json_pack("{s:[], s:{}, s:[]}", "slices", "labels", "owners");
		desired = json_object_get(none, "slices");
		meta.labels = json_object_get(none, "labels");
		meta.owner_refs = json_object_get(none, "owners");
	}
	eps_slices_plan(&meta, desired, have, EPS_MAX_PER_SLICE, &create, &update, &del);
	return apply_plan(c, e, key, ns, create, update, del, err);
}

static int es_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct es_ctrl *e = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL;
	const char *name;
	json_t *svc = eps_sync_service(&e->sp, key, &ns, &name);
	_cleanup_json_ json_t *have =
		eps_overlay_merge(&e->written, key, k8c_informer_index(e->slices, key));
	_cleanup_json_ json_t *desired = NULL, *labels = NULL, *owners = NULL;
	_cleanup_free_ json_t **pods = NULL;
	size_t n;

	if (!ns)
		return 0;
	/* gone, or its endpoints are hand-made now: our slices go */
	if (!svc || !eps_service_has_selector(svc))
		return reconcile(c, e, key, ns, name, NULL, have, NULL, NULL, NULL, err);
	n = eps_service_pods(&e->sp.ix, e->sp.pods, svc, &pods);
	desired = eps_slices_desired(svc, pods, n, node_of, e->nodes);
	labels = eps_slice_labels(svc, name, EPS_CONTROLLER, eps_service_headless(svc));
	owners = eps_owner_refs("v1", "Service", svc);
	return reconcile(c, e, key, ns, name, desired, have, labels, owners,
			 eps_service_address_type(svc), err);
}

static void es_fini(struct k8c_ctrl *c)
{
	struct es_ctrl *e = k8c_ctrl_data(c);

	if (!e)
		return;
	eps_svc_pods_free(&e->sp);
	eps_overlay_free(&e->written);
	free(e);
}

const struct k8c_controller_def ctrl_endpointslice_def = {
	.name = "endpointslice",
	.component = "endpoint-slice-controller",
	.init = es_init,
	.sync = es_sync,
	.fini = es_fini,
};

/* ---- endpointslicemirroring ---- */

static void on_key(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE || d->type == K8C_DELTA_DELETE)
		k8c_ctrl_enqueue(arg, d->key);
}

static int mirror_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct es_ctrl *e = k8c_xcalloc(1, sizeof(*e));
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SERVICES};
	struct k8c_informer_opts eo = {.gvr = K8C_GVR_ENDPOINTS};
	struct k8c_informer_opts lo = {.gvr = K8C_GVR_ENDPOINTSLICES,
				       .label_selector = EPS_MANAGED_BY "=" EPS_MIRRORING,
				       .index = slice_owner_key};

	e->managed_by = EPS_MIRRORING;
	k8c_ctrl_set_data(c, e);
	if (!(e->sp.svc = k8c_ctrl_informer(c, &so, on_key, err)) ||
	    !(e->eps = k8c_ctrl_informer(c, &eo, on_key, err)) ||
	    !(e->slices = k8c_ctrl_informer(c, &lo, on_slice, err)))
		return -1;
	return 0;
}

static bool mirrored(const json_t *svc, const json_t *ep)
{
	const char *skip;

	if (!svc || !ep || eps_service_has_selector(svc))
		return false;
	skip = json_string_value(json_object_get(k8c_at(ep, "metadata.labels"), SKIP_MIRROR));
	if (skip && strcmp(skip, "true") == 0)
		return false;
	return !json_object_get(k8c_at(ep, "metadata.annotations"), LEADER_ANNOTATION);
}

static int mirror_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct es_ctrl *e = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL;
	const char *name;
	json_t *svc = eps_sync_service(&e->sp, key, &ns, &name);
	json_t *ep = k8c_informer_get(e->eps, ns, name);
	_cleanup_json_ json_t *have =
		eps_overlay_merge(&e->written, key, k8c_informer_index(e->slices, key));
	_cleanup_json_ json_t *desired = NULL, *labels = NULL, *owners = NULL;

	if (!ns)
		return 0;
	if (!mirrored(svc, ep))
		return reconcile(c, e, key, ns, name, NULL, have, NULL, NULL, NULL, err);
	desired = eps_mirror_desired(ep);
	labels = eps_slice_labels(ep, name, EPS_MIRRORING, false);
	owners = eps_owner_refs("v1", "Endpoints", ep);
	return reconcile(c, e, key, ns, name, desired, have, labels, owners, NULL, err);
}

const struct k8c_controller_def ctrl_endpointslicemirroring_def = {
	.name = "endpointslicemirroring",
	.component = "endpoint-slice-mirroring-controller",
	.init = mirror_init,
	.sync = mirror_sync,
	.fini = es_fini,
};

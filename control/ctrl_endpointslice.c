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
	struct k8c_informer *svc, *pods, *nodes, *slices, *eps;
	struct eps_pod_index ix;
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

static void on_svc(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE || d->type == K8C_DELTA_DELETE)
		k8c_ctrl_enqueue(arg, d->key);
}

static void enqueue_svc(const json_t *svc, void *arg)
{
	k8c_ctrl_enqueue_obj(arg, svc);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct es_ctrl *e = k8c_ctrl_data(c);

	eps_pod_index_delta(&e->ix, d);
	if (d->old)
		eps_services_for_pod(e->svc, d->old, enqueue_svc, c);
	if (d->new && d->new != d->old &&
	    (!d->old ||
	     !json_equal(k8c_at(d->old, "metadata.labels"), k8c_at(d->new, "metadata.labels"))))
		eps_services_for_pod(e->svc, d->new, enqueue_svc, c);
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
	json_object_foreach(k8c_informer_cache(e->pods), key, pod)
	{
		const char *nn = k8c_str_at(pod, "spec.nodeName");

		if (nn && name && strcmp(nn, name) == 0)
			eps_services_for_pod(e->svc, pod, enqueue_svc, c);
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
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SERVICES, .index = eps_service_index_key};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS, .transform = eps_pod_transform};
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES, .transform = node_transform};
	struct k8c_informer_opts lo = {.gvr = K8C_GVR_ENDPOINTSLICES,
				       .label_selector = EPS_MANAGED_BY "=" EPS_CONTROLLER,
				       .index = slice_owner_key};

	e->managed_by = EPS_CONTROLLER;
	k8c_ctrl_set_data(c, e);
	if (!(e->svc = k8c_ctrl_informer(c, &so, on_svc, err)) ||
	    !(e->pods = k8c_ctrl_informer(c, &po, on_pod, err)) ||
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

static int es_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct es_ctrl *e = k8c_ctrl_data(c);
	const char *slash = strchr(key, '/');
	_cleanup_free_ char *ns = slash ? strndup(key, (size_t)(slash - key)) : NULL;
	const char *name = slash ? slash + 1 : key;
	json_t *svc = k8c_informer_get(e->svc, ns, name);
	_cleanup_json_ json_t *have =
		eps_overlay_merge(&e->written, key, k8c_informer_index(e->slices, key));
	_cleanup_json_ json_t *desired = NULL, *labels = NULL, *owners = NULL;
	_cleanup_json_ json_t *create = NULL, *update = NULL, *del = NULL;
	_cleanup_free_ json_t **pods = NULL;
	_cleanup_free_ char *gen = NULL;
	struct eps_slice_meta meta = {0};
	size_t n;

	if (!ns)
		return 0;
	if (!svc || !eps_service_has_selector(svc)) {
		/* gone, or its endpoints are hand-made now: our slices go */
		if (!json_array_size(have))
			return 0;
		desired = json_array();
		labels = json_object();
		owners = json_array();
	} else {
		n = eps_service_pods(&e->ix, e->pods, svc, &pods);
		desired = eps_slices_desired(svc, pods, n, node_of, e->nodes);
		labels = eps_slice_labels(svc, name, EPS_CONTROLLER, eps_service_headless(svc));
		owners = eps_owner_refs("v1", "Service", svc);
		meta.placeholder = eps_service_address_type(svc);
	}
	gen = k8c_xasprintf("%.56s-", name);
	meta.ns = ns;
	meta.generate_name = gen;
	meta.labels = labels;
	meta.owner_refs = owners;
	eps_slices_plan(&meta, desired, have, EPS_MAX_PER_SLICE, &create, &update, &del);
	return apply_plan(c, e, key, ns, create, update, del, err);
}

static void es_fini(struct k8c_ctrl *c)
{
	struct es_ctrl *e = k8c_ctrl_data(c);

	if (!e)
		return;
	eps_pod_index_free(&e->ix);
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
	if (!(e->svc = k8c_ctrl_informer(c, &so, on_key, err)) ||
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
	const char *slash = strchr(key, '/');
	_cleanup_free_ char *ns = slash ? strndup(key, (size_t)(slash - key)) : NULL;
	const char *name = slash ? slash + 1 : key;
	json_t *svc = k8c_informer_get(e->svc, ns, name);
	json_t *ep = k8c_informer_get(e->eps, ns, name);
	_cleanup_json_ json_t *have =
		eps_overlay_merge(&e->written, key, k8c_informer_index(e->slices, key));
	_cleanup_json_ json_t *desired = NULL, *labels = NULL, *owners = NULL;
	_cleanup_json_ json_t *create = NULL, *update = NULL, *del = NULL;
	_cleanup_free_ char *gen = NULL;
	struct eps_slice_meta meta = {0};

	if (!ns)
		return 0;
	if (!mirrored(svc, ep)) {
		if (!json_array_size(have))
			return 0;
		desired = json_array();
		labels = json_object();
		owners = json_array();
	} else {
		desired = eps_mirror_desired(ep);
		labels = eps_slice_labels(ep, name, EPS_MIRRORING, false);
		owners = eps_owner_refs("v1", "Endpoints", ep);
	}
	gen = k8c_xasprintf("%.56s-", name);
	meta.ns = ns;
	meta.generate_name = gen;
	meta.labels = labels;
	meta.owner_refs = owners;
	eps_slices_plan(&meta, desired, have, EPS_MAX_PER_SLICE, &create, &update, &del);
	return apply_plan(c, e, key, ns, create, update, del, err);
}

const struct k8c_controller_def ctrl_endpointslicemirroring_def = {
	.name = "endpointslicemirroring",
	.component = "endpoint-slice-mirroring-controller",
	.init = mirror_init,
	.sync = mirror_sync,
	.fini = es_fini,
};

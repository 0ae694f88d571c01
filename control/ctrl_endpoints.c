/*
 * endpoint: the Endpoints object of every Service with a selector, from its pods (as kube's
 * endpoint controller): ready pods in addresses, the others in notReadyAddresses (all in
 * addresses with publishNotReadyAddresses), ports by name, headless Services included. Services
 * without a selector are left alone, so hand-made Endpoints stay. The Endpoints is written only
 * when it differs, and deleted with its Service. docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "eps.h"
#include "eps_index.h"
#include "objutil.h"

#define K8C_GVR_ENDPOINTS K8C_GVR("", "v1", "endpoints")

struct ep_ctrl {
	struct eps_svc_pods sp; /* first: eps_index.c's handlers find it */
	struct k8c_informer *eps;
	struct eps_overlay written;
};

static void on_eps(const struct k8c_delta *d, void *arg)
{
	/* a deleted (or hand-edited) Endpoints of a selector Service is put back */
	if (d->type == K8C_DELTA_DELETE || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(arg, d->key);
}

static int ep_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct ep_ctrl *e = k8c_xcalloc(1, sizeof(*e));
	struct k8c_informer_opts eo = {.gvr = K8C_GVR_ENDPOINTS};

	k8c_ctrl_set_data(c, e);
	if (eps_svc_pods_init(c, &e->sp, err) < 0 ||
	    !(e->eps = k8c_ctrl_informer(c, &eo, on_eps, err)))
		return -1;
	return 0;
}

/* The Endpoints as we know it: the cache, or what we wrote if the cache is behind. */
static json_t *current(struct ep_ctrl *e, const char *key, const char *ns, const char *name)
{
	json_t *cached = k8c_informer_get(e->eps, ns, name);
	_cleanup_json_ json_t *one = json_object();
	_cleanup_json_ json_t *merged = NULL;

	if (cached)
		json_object_set(one, key, cached);
	merged = eps_overlay_merge(&e->written, key, one);
	return json_incref(json_array_get(merged, 0));
}

static int ep_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct ep_ctrl *e = k8c_ctrl_data(c);
	_cleanup_free_ char *ns = NULL;
	const char *name;
	json_t *svc = eps_sync_service(&e->sp, key, &ns, &name);
	_cleanup_json_ json_t *have = current(e, key, ns, name);
	_cleanup_json_ json_t *want = NULL, *out = NULL;
	_cleanup_free_ json_t **pods = NULL;
	size_t n;

	if (!svc) {
		if (!have)
			return 0;
		if (k8c_kube_delete(k8c_ctrl_kube(c), K8C_GVR_ENDPOINTS, ns, name, NULL, NULL,
				    err) < 0 &&
		    err->code != 404)
			return k8c_error_wrap(err, "endpoints %s", key);
		k8c_error_clear(err);
		eps_overlay_put(&e->written, key, name, NULL);
		return 0;
	}
	if (!eps_service_has_selector(svc))
		return 0;
	n = eps_service_pods(&e->sp.ix, e->sp.pods, svc, &pods);
	want = eps_endpoints_want(svc, pods, n);
	if (!have) {
		if (k8c_kube_create(k8c_ctrl_kube(c), K8C_GVR_ENDPOINTS, ns, want, &out, err) < 0)
			return k8c_error_wrap(err, "create endpoints %s", key);
	} else if (eps_endpoints_differ(have, want)) {
		_cleanup_json_ json_t *upd = json_deep_copy(have);

		json_t *md = json_object_get(upd, "metadata");
		json_t *ann = json_object_get(md, "annotations");

		json_object_set(md, "labels", k8c_at(want, "metadata.labels"));
		if (!ann)
			json_object_set_new(md, "annotations", ann = json_object());
		if (k8c_at(want, "metadata.annotations"))
			json_object_update(ann, k8c_at(want, "metadata.annotations"));
		else
			json_object_del(ann, EPS_OVER_CAPACITY);
		json_object_set(upd, "subsets", json_object_get(want, "subsets"));
		if (k8c_kube_update(k8c_ctrl_kube(c), K8C_GVR_ENDPOINTS, ns, upd, &out, err) < 0)
			return k8c_error_wrap(err, "update endpoints %s", key);
	} else {
		return 0;
	}
	eps_overlay_put(&e->written, key, name, out);
	return 0;
}

static void ep_fini(struct k8c_ctrl *c)
{
	struct ep_ctrl *e = k8c_ctrl_data(c);

	if (!e)
		return;
	eps_svc_pods_free(&e->sp);
	eps_overlay_free(&e->written);
	free(e);
}

const struct k8c_controller_def ctrl_endpoint_def = {
	.name = "endpoint",
	.init = ep_init,
	.sync = ep_sync,
	.fini = ep_fini,
};

/*
 * serviceaccount: a `default` ServiceAccount in every namespace that is not terminating,
 * recreated when deleted (as kube's serviceaccounts-controller). docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "objutil.h"

#define K8C_GVR_SERVICEACCOUNTS K8C_GVR("", "v1", "serviceaccounts")

struct sa_ctrl {
	struct k8c_informer *ns, *sa;
};

static void on_ns(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(arg, d->key);
}

static void on_sa(const struct k8c_delta *d, void *arg)
{
	const char *name = k8c_str_at(d->new ? d->new : d->old, "metadata.name");
	const char *ns = k8c_str_at(d->new ? d->new : d->old, "metadata.namespace");

	if (d->type == K8C_DELTA_DELETE && name && ns && strcmp(name, "default") == 0)
		k8c_ctrl_enqueue(arg, ns);
}

static int sa_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct sa_ctrl *s = k8c_xcalloc(1, sizeof(*s));
	struct k8c_informer_opts no = {.gvr = K8C_GVR_NAMESPACES};
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SERVICEACCOUNTS};

	k8c_ctrl_set_data(c, s);
	if (!(s->ns = k8c_ctrl_informer(c, &no, on_ns, err)) ||
	    !(s->sa = k8c_ctrl_informer(c, &so, on_sa, err)))
		return -1;
	return 0;
}

static int sa_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct sa_ctrl *s = k8c_ctrl_data(c);
	json_t *ns = k8c_informer_get(s->ns, NULL, key);
	_cleanup_json_ json_t *sa = NULL;
	const char *phase = k8c_str_at(ns, "status.phase");

	if (!ns || (phase && strcmp(phase, "Terminating") == 0) ||
	    k8c_at(ns, "metadata.deletionTimestamp"))
		return 0;
	if (k8c_informer_get(s->sa, key, "default"))
		return 0;
	sa = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
		       "metadata", "name", "default", "namespace", key);
	if (k8c_kube_create(k8c_ctrl_kube(c), K8C_GVR_SERVICEACCOUNTS, key, sa, NULL, err) < 0) {
		/* exists already (our cache is behind), or the namespace is going away */
		if (err->code == 409 || err->code == 403 || err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "serviceaccount %s/default", key);
	}
	return 0;
}

static void sa_fini(struct k8c_ctrl *c)
{
	free(k8c_ctrl_data(c));
}

const struct k8c_controller_def ctrl_serviceaccount_def = {
	.name = "serviceaccount",
	.init = sa_init,
	.sync = sa_sync,
	.fini = sa_fini,
};

/*
 * persistentvolume-binder: binds PersistentVolumeClaims to PersistentVolumes, provisions hostPath
 * volumes for StorageClasses whose provisioner is k8c.io/hostpath, reclaims released volumes, and
 * keeps a default StorageClass, as kube's persistentvolume-binder-controller with a local
 * provisioner (docs/controllers.md, "Storage").
 *
 * Keys: "c/<ns>/<name>" a claim, "v/<name>" a volume, "default-class" the default StorageClass.
 *
 *  - An unbound claim is matched with the smallest Available volume of its storageClassName
 *    ("" only with volumes without a class) whose capacity covers the request, whose accessModes
 *    include the claim's, with the same volumeMode, matching the claim's selector; volumes
 *    pre-bound to the claim (claimRef) come first. With volumeBindingMode WaitForFirstConsumer
 *    nothing happens before the scheduler names a node (annotation
 *    volume.kubernetes.io/selected-node), and then only volumes that may be used there match.
 *  - Binding writes the volume's claimRef and phase Bound, then the claim's volumeName and phase
 *    Bound with the volume's capacity and access modes (each step level-triggered).
 *  - Nothing matches and the class's provisioner is ours: a volume pvc-<claim uid> is created
 *    pre-bound to the claim: hostPath <root>/<name> (type DirectoryOrCreate, made by the node
 *    agent at mount time), node affinity to the chosen node, the class's reclaimPolicy.
 *  - A volume whose claim is gone becomes Released; reclaim Delete deletes volumes provisioned
 *    here (the node's directory stays: no agent-side deleter yet), other volumes with Delete go
 *    Failed (no deleter for them); Retain keeps them Released.
 *  - When no StorageClass is default and none is named `standard`, `standard` (k8c.io/hostpath,
 *    WaitForFirstConsumer, Delete) is created with storageclass.kubernetes.io/is-default-class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_validate.h"
#include "cleanup.h"
#include "ctrl_controllers.h"
#include "ctrl_manager.h"
#include "log.h"
#include "objutil.h"

#define PROVISIONER	     "k8c.io/hostpath"
#define ANN_SELECTED_NODE    "volume.kubernetes.io/selected-node"
#define ANN_BIND_COMPLETED   "pv.kubernetes.io/bind-completed"
#define ANN_BOUND_BY_CTRL    "pv.kubernetes.io/bound-by-controller"
#define ANN_PROVISIONED_BY   "pv.kubernetes.io/provisioned-by"
#define ANN_PROVISIONER	     "volume.kubernetes.io/storage-provisioner"
#define ANN_BETA_PROVISIONER "volume.beta.kubernetes.io/storage-provisioner"
#define ANN_DEFAULT_CLASS    "storageclass.kubernetes.io/is-default-class"
#define DEFAULT_ROOT	     "/var/lib/k8c/volumes"

#define GVR_PV	    K8C_GVR("", "v1", "persistentvolumes")
#define GVR_PVC	    K8C_GVR("", "v1", "persistentvolumeclaims")
#define GVR_CLASSES K8C_GVR("storage.k8s.io", "v1", "storageclasses")

struct vol_ctrl {
	struct k8c_ctrl *c;
	struct k8c_informer *pvs, *pvcs, *classes, *nodes;
	unsigned next_node; /* round robin of Immediate provisioning */
};

static bool is(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Queue "<kind>/<a>" or "<kind>/<a>/<b>" (kind 'c' a claim, 'v' a volume). */
static void enqueue_key(struct vol_ctrl *s, char kind, const char *a, const char *b)
{
	_cleanup_free_ char *key =
		b ? k8c_xasprintf("%c/%s/%s", kind, a, b) : k8c_xasprintf("%c/%s", kind, a);

	k8c_ctrl_enqueue(s->c, key);
}

/* Every claim without a volume (a volume or a node appeared: one may fit now). */
static void enqueue_pending_claims(struct vol_ctrl *s)
{
	json_t *claims = k8c_informer_cache(s->pvcs), *v;
	const char *k;

	json_object_foreach(claims, k, v) if (!k8c_str_at(v, "spec.volumeName") ||
					      !is(k8c_str_at(v, "status.phase"), "Bound"))
		enqueue_key(s, 'c', k, NULL);
}

static void on_pv(const struct k8c_delta *d, void *arg)
{
	struct vol_ctrl *s = k8c_ctrl_data(arg);
	const json_t *o = d->new ? d->new : d->old;
	const char *cns = k8c_str_at(o, "spec.claimRef.namespace");
	const char *cn = k8c_str_at(o, "spec.claimRef.name");

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	if (d->type != K8C_DELTA_DELETE)
		enqueue_key(s, 'v', d->key, NULL);
	if (cns && cn)
		enqueue_key(s, 'c', cns, cn);
	if (d->type == K8C_DELTA_DELETE) {
		/* claims bound to it go Lost */
		json_t *claims = k8c_informer_cache(s->pvcs), *v;
		const char *k;

		json_object_foreach(claims, k, v) if (is(k8c_str_at(v, "spec.volumeName"), d->key))
			enqueue_key(s, 'c', k, NULL);
	}
	if (!k8c_at(o, "spec.claimRef") || d->type == K8C_DELTA_ADD)
		enqueue_pending_claims(s);
}

static void on_pvc(const struct k8c_delta *d, void *arg)
{
	struct vol_ctrl *s = k8c_ctrl_data(arg);
	const json_t *o = d->new ? d->new : d->old;
	const char *vn = k8c_str_at(o, "spec.volumeName");

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	if (d->type != K8C_DELTA_DELETE)
		enqueue_key(s, 'c', d->key, NULL);
	if (vn && *vn)
		enqueue_key(s, 'v', vn, NULL);
	if (d->type == K8C_DELTA_DELETE) {
		/* volumes whose claimRef named it are released */
		json_t *pvs = k8c_informer_cache(s->pvs), *v;
		const char *k;

		json_object_foreach(pvs, k, v) if (is(k8c_str_at(v, "spec.claimRef.uid"),
						      k8c_str_at(o, "metadata.uid")))
			enqueue_key(s, 'v', k, NULL);
	}
}

static void on_class(const struct k8c_delta *d, void *arg)
{
	struct vol_ctrl *s = k8c_ctrl_data(arg);

	if (d->type == K8C_DELTA_SYNCED || d->type == K8C_DELTA_DELETE ||
	    d->type == K8C_DELTA_UPDATE)
		k8c_ctrl_enqueue(s->c, "default-class");
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE)
		enqueue_pending_claims(s);
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD)
		enqueue_pending_claims(k8c_ctrl_data(arg));
}

static int vol_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct vol_ctrl *s = k8c_xcalloc(1, sizeof(*s));
	struct k8c_informer_opts vo = {.gvr = GVR_PV}, co = {.gvr = GVR_PVC};
	struct k8c_informer_opts so = {.gvr = GVR_CLASSES}, no = {.gvr = K8C_GVR_NODES};

	s->c = c;
	k8c_ctrl_set_data(c, s);
	if (!(s->pvs = k8c_ctrl_informer(c, &vo, on_pv, err)) ||
	    !(s->pvcs = k8c_ctrl_informer(c, &co, on_pvc, err)) ||
	    !(s->classes = k8c_ctrl_informer(c, &so, on_class, err)) ||
	    !(s->nodes = k8c_ctrl_informer(c, &no, on_node, err)))
		return -1;
	k8c_ctrl_enqueue(c, "default-class");
	return 0;
}

/* Matching. */

static bool quantity_at(const json_t *obj, const char *path, struct api_quantity *q)
{
	json_t *v = k8c_at(obj, path);

	return v && api_quantity_parse_json(v, q) == 0;
}

static const char *claim_class(const json_t *pvc)
{
	const char *c = json_string_value(json_object_get(
		k8c_at(pvc, "metadata.annotations"), "volume.beta.kubernetes.io/storage-class"));

	return c ? c : k8c_str_at(pvc, "spec.storageClassName") ?: "";
}

static const char *volume_class(const json_t *pv)
{
	const char *c = json_string_value(json_object_get(
		k8c_at(pv, "metadata.annotations"), "volume.beta.kubernetes.io/storage-class"));

	return c ? c : k8c_str_at(pv, "spec.storageClassName") ?: "";
}

static bool modes_cover(const json_t *pv, const json_t *pvc)
{
	json_t *m, *n;
	size_t i, j;

	json_array_foreach(k8c_at(pvc, "spec.accessModes"), i, m)
	{
		bool found = false;

		json_array_foreach(k8c_at(pv, "spec.accessModes"), j, n) if (json_equal(m, n))
			found = true;
		if (!found)
			return false;
	}
	return true;
}

static const char *volume_mode(const json_t *o)
{
	return k8c_str_at(o, "spec.volumeMode") ?: "Filesystem";
}

/* The claimRef of pv names this claim (and its uid when the ref has one). */
static bool ref_is_claim(const json_t *pv, const json_t *pvc)
{
	const char *uid = k8c_str_at(pv, "spec.claimRef.uid");

	return k8c_at(pv, "spec.claimRef") &&
	       is(k8c_str_at(pv, "spec.claimRef.namespace"),
		  k8c_str_at(pvc, "metadata.namespace")) &&
	       is(k8c_str_at(pv, "spec.claimRef.name"), k8c_str_at(pvc, "metadata.name")) &&
	       (!uid || !*uid || is(uid, k8c_str_at(pvc, "metadata.uid")));
}

/* The node's labels satisfy the volume's required node affinity (no affinity: any node). */
static bool volume_fits_node(const json_t *pv, const json_t *node)
{
	json_t *terms = k8c_at(pv, "spec.nodeAffinity.required.nodeSelectorTerms"), *t;
	json_t *labels = k8c_at(node, "metadata.labels");
	size_t i;

	if (!json_array_size(terms))
		return true;
	json_array_foreach(terms, i, t)
	{
		json_t *e;
		size_t j;
		bool ok = true;

		json_array_foreach(json_object_get(t, "matchExpressions"), j, e)
		{
			const char *key = k8c_str_at(e, "key"), *op = k8c_str_at(e, "operator");
			const char *val = json_string_value(json_object_get(labels, key ?: ""));
			json_t *v;
			size_t x;
			bool in = false;

			json_array_foreach(json_object_get(e, "values"), x,
					   v) if (val && is(json_string_value(v), val)) in = true;
			if (is(op, "In"))
				ok = ok && in;
			else if (is(op, "NotIn"))
				ok = ok && !in;
			else if (is(op, "Exists"))
				ok = ok && val;
			else if (is(op, "DoesNotExist"))
				ok = ok && !val;
			else
				ok = false;
		}
		if (ok)
			return true;
	}
	return false;
}

/* findBestMatchForClaim: a pre-bound volume, else the smallest that fits; NULL when none. */
static json_t *best_volume(struct vol_ctrl *s, const json_t *pvc, const json_t *node)
{
	json_t *pvs = k8c_informer_cache(s->pvs), *pv, *best = NULL;
	struct api_quantity want = {0}, have, best_q = {0};
	const char *k;

	quantity_at(pvc, "spec.resources.requests.storage", &want);
	json_object_foreach(pvs, k, pv)
	{
		const char *phase = k8c_str_at(pv, "status.phase");

		if (k8c_at(pv, "metadata.deletionTimestamp"))
			continue;
		if (k8c_at(pv, "spec.claimRef") && !ref_is_claim(pv, pvc))
			continue;
		if (is(phase, "Released") || is(phase, "Failed"))
			continue;
		if (!is(volume_class(pv), claim_class(pvc)))
			continue;
		if (!is(volume_mode(pv), volume_mode(pvc)) || !modes_cover(pv, pvc))
			continue;
		if (!quantity_at(pv, "spec.capacity.storage", &have) ||
		    api_quantity_cmp(&have, &want) < 0)
			continue;
		if (k8c_at(pvc, "spec.selector") &&
		    !k8c_label_selector_matches(k8c_at(pvc, "spec.selector"),
						k8c_at(pv, "metadata.labels")))
			continue;
		if (node && !volume_fits_node(pv, node))
			continue;
		if (k8c_at(pv, "spec.claimRef"))
			return pv; /* pre-bound to this claim */
		if (!best || api_quantity_cmp(&have, &best_q) < 0) {
			best = pv;
			best_q = have;
		}
	}
	return best;
}

/* Writes. */

static int update(struct vol_ctrl *s, struct k8c_gvr gvr, const char *ns, json_t *obj, bool status,
		  json_t **out, struct k8c_error *err)
{
	struct k8c_kube *kube = k8c_ctrl_kube(s->c);

	return status ? k8c_kube_update_status(kube, gvr, ns, obj, out, err)
		      : k8c_kube_update(kube, gvr, ns, obj, out, err);
}

static void set_ann(json_t *obj, const char *key, const char *value)
{
	json_t *meta = json_object_get(obj, "metadata"),
	       *ann = json_object_get(meta, "annotations");

	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, key, json_string(value));
}

static const char *ann(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(k8c_at(obj, "metadata.annotations"), key));
}

/* The volume's phase (and message), when it differs. */
static int volume_phase(struct vol_ctrl *s, const json_t *pv, const char *phase,
			const char *message, struct k8c_error *err)
{
	_cleanup_json_ json_t *next = NULL;
	json_t *st;

	if (is(k8c_str_at(pv, "status.phase"), phase) &&
	    is(k8c_str_at(pv, "status.message") ?: "", message ?: ""))
		return 0;
	next = json_deep_copy(pv);
	st = json_object_get(next, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(next, "status", st);
	}
	json_object_set_new(st, "phase", json_string(phase));
	if (message)
		json_object_set_new(st, "message", json_string(message));
	else
		json_object_del(st, "message");
	return update(s, GVR_PV, NULL, next, true, NULL, err);
}

static int claim_status(struct vol_ctrl *s, const json_t *pvc, const char *phase, const json_t *pv,
			struct k8c_error *err)
{
	_cleanup_json_ json_t *next = NULL;
	json_t *st;

	if (is(k8c_str_at(pvc, "status.phase"), phase) &&
	    (!pv ||
	     (json_equal(k8c_at(pvc, "status.capacity"), k8c_at(pv, "spec.capacity")) &&
	      json_equal(k8c_at(pvc, "status.accessModes"), k8c_at(pv, "spec.accessModes")))))
		return 0;
	next = json_deep_copy(pvc);
	st = json_object_get(next, "status");
	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(next, "status", st);
	}
	json_object_set_new(st, "phase", json_string(phase));
	if (pv) {
		json_object_set(st, "capacity", k8c_at(pv, "spec.capacity"));
		json_object_set(st, "accessModes", k8c_at(pv, "spec.accessModes"));
	} else if (is(phase, "Pending")) {
		json_object_del(st, "capacity");
		json_object_del(st, "accessModes");
	}
	return update(s, GVR_PVC, k8c_str_at(pvc, "metadata.namespace"), next, true, NULL, err);
}

/* Bind: the volume's claimRef and phase, then the claim's volumeName and phase. */
static int bind(struct vol_ctrl *s, const json_t *pvc, const json_t *pv, struct k8c_error *err)
{
	const char *ns = k8c_str_at(pvc, "metadata.namespace");
	const char *pvname = k8c_str_at(pv, "metadata.name");
	_cleanup_json_ json_t *v = NULL, *v2 = NULL, *c = NULL, *c2 = NULL;

	if (!is(k8c_str_at(pv, "spec.claimRef.uid"), k8c_str_at(pvc, "metadata.uid"))) {
		v = json_deep_copy(pv);
		json_object_set_new(json_object_get(v, "spec"), "claimRef",
				    json_pack("{s:s, s:s, s:s*, s:s*, s:s*, s:s*}", "kind",
					      "PersistentVolumeClaim", "apiVersion", "v1",
					      "namespace", ns, "name",
					      k8c_str_at(pvc, "metadata.name"), "uid",
					      k8c_str_at(pvc, "metadata.uid"), "resourceVersion",
					      k8c_str_at(pvc, "metadata.resourceVersion")));
		if (!k8c_at(pv, "spec.claimRef"))
			set_ann(v, ANN_BOUND_BY_CTRL, "yes");
		if (update(s, GVR_PV, NULL, v, false, &v2, err) < 0)
			return k8c_error_wrap(err, "bind volume %s to claim %s/%s", pvname, ns,
					      k8c_str_at(pvc, "metadata.name"));
		pv = v2;
	}
	if (volume_phase(s, pv, "Bound", NULL, err) < 0)
		return k8c_error_wrap(err, "volume %s phase Bound", pvname);
	if (!is(k8c_str_at(pvc, "spec.volumeName"), pvname) ||
	    !is(ann(pvc, ANN_BIND_COMPLETED), "yes")) {
		c = json_deep_copy(pvc);
		if (!is(k8c_str_at(pvc, "spec.volumeName"), pvname)) {
			json_object_set_new(json_object_get(c, "spec"), "volumeName",
					    json_string(pvname));
			set_ann(c, ANN_BOUND_BY_CTRL, "yes");
		}
		set_ann(c, ANN_BIND_COMPLETED, "yes");
		if (update(s, GVR_PVC, ns, c, false, &c2, err) < 0)
			return k8c_error_wrap(err, "claim %s/%s volumeName", ns,
					      k8c_str_at(pvc, "metadata.name"));
		pvc = c2;
	}
	if (claim_status(s, pvc, "Bound", pv, err) < 0)
		return k8c_error_wrap(err, "claim %s/%s phase Bound", ns,
				      k8c_str_at(pvc, "metadata.name"));
	return 0;
}

/* Provisioning. */

static bool node_ready(const json_t *node)
{
	return k8c_condition_true(node, "Ready") &&
	       !json_is_true(k8c_at(node, "spec.unschedulable"));
}

/* Immediate binding: a Ready node, round robin; NULL when there is none. */
static const json_t *pick_node(struct vol_ctrl *s)
{
	json_t *nodes = k8c_informer_cache(s->nodes), *n;
	const char *k;
	size_t ready = 0, i = 0;

	json_object_foreach(nodes, k, n) if (node_ready(n)) ready++;
	if (!ready)
		return NULL;
	size_t want = s->next_node++ % ready;

	json_object_foreach(nodes, k, n) if (node_ready(n) && i++ == want) return n;
	return NULL;
}

static int provision(struct vol_ctrl *s, const json_t *pvc, const json_t *sc, const json_t *node,
		     struct k8c_error *err)
{
	const char *ns = k8c_str_at(pvc, "metadata.namespace");
	const char *name = k8c_str_at(pvc, "metadata.name");
	const char *uid = k8c_str_at(pvc, "metadata.uid") ?: "";
	const char *node_name = k8c_str_at(node, "metadata.name");
	const char *hostname = json_string_value(
		json_object_get(k8c_at(node, "metadata.labels"), "kubernetes.io/hostname"));
	const char *root = ctrl_config.provision_root ?: DEFAULT_ROOT;
	_cleanup_free_ char *pvname = k8c_xasprintf("pvc-%s", uid);
	_cleanup_free_ char *path = k8c_xasprintf("%s/%s", root, pvname);
	_cleanup_json_ json_t *pv = NULL;
	_cleanup_json_ json_t *req = json_incref(k8c_at(pvc, "spec.resources.requests.storage"));

	if (k8c_informer_get(s->pvs, NULL, pvname))
		return 0; /* made already: binding follows its add */
	if (!req)
		req = json_string("0");
	if (!is(ann(pvc, ANN_PROVISIONER), PROVISIONER)) {
		_cleanup_json_ json_t *c = json_deep_copy(pvc);

		set_ann(c, ANN_PROVISIONER, PROVISIONER);
		set_ann(c, ANN_BETA_PROVISIONER, PROVISIONER);
		if (update(s, GVR_PVC, ns, c, false, NULL, err) < 0)
			return k8c_error_wrap(err, "claim %s/%s provisioner annotation", ns, name);
	}
	pv = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:{s:O}, s:O, s:s, s:s, s:s, s:{s:s, s:s},"
		       " s:{s:s, s:s, s:s, s:s}, s:{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}}}",
		       "apiVersion", "v1", "kind", "PersistentVolume", "metadata", "name", pvname,
		       "annotations", ANN_PROVISIONED_BY, PROVISIONER, "spec", "capacity",
		       "storage", req, "accessModes", k8c_at(pvc, "spec.accessModes"),
		       "persistentVolumeReclaimPolicy", k8c_str_at(sc, "reclaimPolicy") ?: "Delete",
		       "storageClassName", k8c_str_at(sc, "metadata.name"), "volumeMode",
		       volume_mode(pvc), "hostPath", "path", path, "type", "DirectoryOrCreate",
		       "claimRef", "kind", "PersistentVolumeClaim", "namespace", ns, "name", name,
		       "uid", uid, "nodeAffinity", "required", "nodeSelectorTerms",
		       "matchExpressions", "key",
		       hostname ? "kubernetes.io/hostname" : "metadata.name", "operator", "In",
		       "values", hostname ? hostname : node_name);
	if (!pv)
		return k8c_error_set(err, 0, "claim %s/%s: bad volume template", ns, name);
	if (!hostname) {
		/* a node without the hostname label: its name through a field selector term */
		json_t *term = json_array_get(
			k8c_at(pv, "spec.nodeAffinity.required.nodeSelectorTerms"), 0);

		json_object_set(term, "matchFields", json_object_get(term, "matchExpressions"));
		json_object_del(term, "matchExpressions");
	}
	json_t *opts = k8c_at(sc, "mountOptions");

	if (json_array_size(opts))
		json_object_set(json_object_get(pv, "spec"), "mountOptions", opts);
	if (k8c_kube_create(k8c_ctrl_kube(s->c), GVR_PV, NULL, pv, NULL, err) < 0) {
		if (err->code == 409) {
			k8c_error_clear(err);
			return 0;
		}
		k8c_ctrl_event(s->c, pvc, "Warning", "ProvisioningFailed",
			       "failed to provision volume with StorageClass \"%s\": %s",
			       k8c_str_at(sc, "metadata.name"), err->msg ? err->msg : "");
		return k8c_error_wrap(err, "provision %s for claim %s/%s", pvname, ns, name);
	}
	k8c_ctrl_event(s->c, pvc, "Normal", "ProvisioningSucceeded",
		       "Successfully provisioned volume %s using %s on node %s", pvname,
		       PROVISIONER, node_name);
	return 0;
}

/* Claims. */

static int sync_claim(struct vol_ctrl *s, const char *nskey, struct k8c_error *err)
{
	_cleanup_free_ char *ns = k8c_xstrdup(nskey);
	char *slash = strchr(ns, '/');
	json_t *pvc, *pv, *sc = NULL, *node = NULL;
	const char *vn, *cls, *mode, *selected;

	if (!slash)
		return 0;
	*slash = 0;
	pvc = k8c_informer_get(s->pvcs, ns, slash + 1);
	if (!pvc || k8c_at(pvc, "metadata.deletionTimestamp"))
		return 0;
	vn = k8c_str_at(pvc, "spec.volumeName");
	if (vn && *vn) {
		pv = k8c_informer_get(s->pvs, NULL, vn);
		if (!pv) {
			if (is(k8c_str_at(pvc, "status.phase"), "Lost"))
				return 0; /* stays Lost (kube: until the volume is back) */
			if (is(k8c_str_at(pvc, "status.phase"), "Bound")) {
				k8c_ctrl_event(s->c, pvc, "Warning", "ClaimLost",
					       "Bound claim has lost its PersistentVolume. Data on "
					       "the volume is lost!");
				return claim_status(s, pvc, "Lost", NULL, err);
			}
			return claim_status(s, pvc, "Pending", NULL, err);
		}
		if (!k8c_at(pv, "spec.claimRef") || ref_is_claim(pv, pvc))
			return bind(s, pvc, pv, err);
		k8c_ctrl_event(s->c, pvc, "Warning", "FailedBinding",
			       "volume \"%s\" already bound to a different claim.", vn);
		return claim_status(s, pvc, "Pending", NULL, err);
	}
	cls = claim_class(pvc);
	if (*cls)
		sc = k8c_informer_get(s->classes, NULL, cls);
	mode = k8c_str_at(sc, "volumeBindingMode") ?: "Immediate";
	selected = ann(pvc, ANN_SELECTED_NODE);
	if (is(mode, "WaitForFirstConsumer")) {
		if (!selected) {
			k8c_ctrl_event(s->c, pvc, "Normal", "WaitForFirstConsumer",
				       "waiting for first consumer to be created before binding");
			return claim_status(s, pvc, "Pending", NULL, err);
		}
		node = k8c_informer_get(s->nodes, NULL, selected);
	}
	pv = best_volume(s, pvc, node);
	if (pv)
		return bind(s, pvc, pv, err);
	if (claim_status(s, pvc, "Pending", NULL, err) < 0)
		return -1;
	if (!*cls) {
		k8c_ctrl_event(s->c, pvc, "Normal", "FailedBinding",
			       "no persistent volumes available for this claim and no storage "
			       "class is set");
		return 0;
	}
	if (!sc) {
		k8c_ctrl_event(s->c, pvc, "Warning", "ProvisioningFailed",
			       "storageclass.storage.k8s.io \"%s\" not found", cls);
		return 0;
	}
	if (!is(k8c_str_at(sc, "provisioner"), PROVISIONER)) {
		k8c_ctrl_event(
			s->c, pvc, "Normal", "ExternalProvisioning",
			"Waiting for a volume to be created either by the external "
			"provisioner '%s' or manually by the system administrator. If volume "
			"creation is delayed, please verify that the provisioner is running "
			"and correctly registered.",
			k8c_str_at(sc, "provisioner") ?: "");
		return 0;
	}
	if (!node)
		node = (json_t *)(is(mode, "WaitForFirstConsumer") ? NULL : pick_node(s));
	if (!node) {
		k8c_ctrl_event(s->c, pvc, "Warning", "ProvisioningFailed",
			       "no Ready node to provision volume for claim \"%s/%s\" on", ns,
			       slash + 1);
		return 0; /* a node's add queues the claim again */
	}
	return provision(s, pvc, sc, node, err);
}

/* Volumes. */

static int sync_volume(struct vol_ctrl *s, const char *name, struct k8c_error *err)
{
	json_t *pv = k8c_informer_get(s->pvs, NULL, name), *pvc;
	const char *policy, *phase;

	if (!pv || k8c_at(pv, "metadata.deletionTimestamp"))
		return 0;
	phase = k8c_str_at(pv, "status.phase");
	if (!k8c_at(pv, "spec.claimRef"))
		return volume_phase(s, pv, "Available", NULL, err);
	pvc = k8c_informer_get(s->pvcs, k8c_str_at(pv, "spec.claimRef.namespace"),
			       k8c_str_at(pv, "spec.claimRef.name") ?: "");
	if (!k8c_str_at(pv, "spec.claimRef.uid") || !*k8c_str_at(pv, "spec.claimRef.uid")) {
		/* pre-bound by a user: Available until the claim binds */
		return volume_phase(s, pv, "Available", NULL, err);
	}
	if (pvc && is(k8c_str_at(pvc, "metadata.uid"), k8c_str_at(pv, "spec.claimRef.uid"))) {
		const char *vn = k8c_str_at(pvc, "spec.volumeName");

		if (!vn || !*vn || is(vn, name)) {
			if (!vn || !*vn)
				enqueue_key(s, 'c', k8c_str_at(pvc, "metadata.namespace"),
					    k8c_str_at(pvc, "metadata.name"));
			return volume_phase(s, pv, "Bound", NULL, err);
		}
		/* the claim went to another volume: ours is free again if we bound it */
		if (is(ann(pv, ANN_BOUND_BY_CTRL), "yes")) {
			_cleanup_json_ json_t *next = json_deep_copy(pv);

			json_object_del(json_object_get(next, "spec"), "claimRef");
			return update(s, GVR_PV, NULL, next, false, NULL, err);
		}
		return volume_phase(s, pv, "Released", NULL, err);
	}
	/* the claim is gone: released, then reclaimed */
	if (!is(phase, "Released") && !is(phase, "Failed")) {
		if (volume_phase(s, pv, "Released", NULL, err) < 0)
			return -1;
		phase = "Released";
	}
	policy = k8c_str_at(pv, "spec.persistentVolumeReclaimPolicy") ?: "Retain";
	if (is(policy, "Delete") && is(phase, "Released")) {
		if (is(ann(pv, ANN_PROVISIONED_BY), PROVISIONER)) {
			if (k8c_kube_delete(k8c_ctrl_kube(s->c), GVR_PV, NULL, name, NULL, NULL,
					    err) < 0) {
				if (err->code == 404) {
					k8c_error_clear(err);
					return 0;
				}
				return k8c_error_wrap(err, "delete released volume %s", name);
			}
			return 0;
		}
		k8c_ctrl_event(
			s->c, pv, "Warning", "VolumeFailedDelete",
			"error getting deleter volume plugin for volume \"%s\": no deletable "
			"volume plugin matched",
			name);
		return volume_phase(s, pv, "Failed",
				    "error getting deleter volume plugin for volume: no deletable "
				    "volume plugin matched",
				    err);
	}
	if (is(policy, "Recycle") && is(phase, "Released")) {
		k8c_ctrl_event(s->c, pv, "Warning", "VolumeFailedRecycle",
			       "recycling of volume \"%s\" is not supported", name);
		return volume_phase(s, pv, "Failed", "recycling is not supported", err);
	}
	return 0;
}

/* The default StorageClass. */

static int sync_default_class(struct vol_ctrl *s, struct k8c_error *err)
{
	json_t *classes = k8c_informer_cache(s->classes), *sc;
	_cleanup_json_ json_t *obj = NULL;
	const char *k;

	json_object_foreach(classes, k, sc)
	{
		if (is(ann(sc, ANN_DEFAULT_CLASS), "true") ||
		    is(ann(sc, "storageclass.beta.kubernetes.io/is-default-class"), "true") ||
		    is(k, "standard"))
			return 0;
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:s, s:s, s:s}", "apiVersion",
			"storage.k8s.io/v1", "kind", "StorageClass", "metadata", "name", "standard",
			"annotations", ANN_DEFAULT_CLASS, "true", "provisioner", PROVISIONER,
			"reclaimPolicy", "Delete", "volumeBindingMode", "WaitForFirstConsumer");
	if (k8c_kube_create(k8c_ctrl_kube(s->c), GVR_CLASSES, NULL, obj, NULL, err) < 0) {
		if (err->code == 409) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "default StorageClass standard");
	}
	k8c_log(K8C_LOG_INFO, "created the default StorageClass", "name=standard provisioner=%s",
		PROVISIONER);
	return 0;
}

static int vol_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct vol_ctrl *s = k8c_ctrl_data(c);

	if (strncmp(key, "c/", 2) == 0)
		return sync_claim(s, key + 2, err);
	if (strncmp(key, "v/", 2) == 0)
		return sync_volume(s, key + 2, err);
	if (strcmp(key, "default-class") == 0)
		return sync_default_class(s, err);
	return 0;
}

static void vol_fini(struct k8c_ctrl *c)
{
	free(k8c_ctrl_data(c));
}

const struct k8c_controller_def ctrl_volume_def = {
	.name = "persistentvolume-binder",
	.component = "persistentvolume-controller",
	.init = vol_init,
	.sync = vol_sync,
	.fini = vol_fini,
};

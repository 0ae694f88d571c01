#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "eps.h"
#include "eps_index.h"
#include "objutil.h"

static char *label_key(const char *ns, const char *k, const char *v)
{
	return k8c_xasprintf("%s\x1f%s=%s", ns ? ns : "", k, v);
}

static void index_labels(struct eps_pod_index *ix, const json_t *pod, const char *key, bool add)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *k;
	json_t *v;

	json_object_foreach(k8c_at(pod, "metadata.labels"), k, v)
	{
		_cleanup_free_ char *lk = NULL;
		struct strmap *set;

		if (!json_is_string(v))
			continue;
		lk = label_key(ns, k, json_string_value(v));
		set = strmap_get(&ix->by_label, lk);
		if (add) {
			if (!set) {
				set = k8c_xcalloc(1, sizeof(*set));
				strmap_set(&ix->by_label, lk, set);
			}
			strmap_set(set, key, (void *)1);
		} else if (set) {
			strmap_del(set, key);
			if (!set->n) {
				strmap_del(&ix->by_label, lk);
				strmap_free(set, NULL);
				free(set);
			}
		}
	}
}

void eps_pod_index_delta(struct eps_pod_index *ix, const struct k8c_delta *d)
{
	switch (d->type) {
	case K8C_DELTA_ADD:
		index_labels(ix, d->new, d->key, true);
		break;
	case K8C_DELTA_UPDATE:
		if (json_equal(k8c_at(d->old, "metadata.labels"),
			       k8c_at(d->new, "metadata.labels")))
			break;
		index_labels(ix, d->old, d->key, false);
		index_labels(ix, d->new, d->key, true);
		break;
	case K8C_DELTA_DELETE:
		index_labels(ix, d->old ? d->old : d->new, d->key, false);
		break;
	default:
		break;
	}
}

static void set_free(void *p)
{
	strmap_free(p, NULL);
	free(p);
}

void eps_pod_index_free(struct eps_pod_index *ix)
{
	strmap_free(&ix->by_label, set_free);
}

size_t eps_service_pods(const struct eps_pod_index *ix, struct k8c_informer *pods,
			const json_t *svc, json_t ***out)
{
	const char *ns = k8c_str_at(svc, "metadata.namespace");
	json_t *sel = k8c_at(svc, "spec.selector");
	struct strmap *best = NULL;
	struct strmap_entry *e;
	size_t n = 0, i;
	const char *k;
	json_t *v;

	*out = NULL;
	if (!json_object_size(sel))
		return 0;
	/* the rarest pair of the selector bounds the candidates */
	json_object_foreach(sel, k, v)
	{
		_cleanup_free_ char *lk = label_key(ns, k, json_string_value(v) ?: "");
		struct strmap *set = strmap_get(&ix->by_label, lk);

		if (!set)
			return 0;
		if (!best || set->n < best->n)
			best = set;
	}
	*out = k8c_xcalloc(best->n, sizeof(**out));
	for (e = strmap_first(best, &i); e; e = strmap_next(best, e, &i)) {
		const char *slash = strchr(e->key, '/');
		json_t *pod;

		if (!slash)
			continue;
		{
			_cleanup_free_ char *pns = strndup(e->key, (size_t)(slash - e->key));

			pod = k8c_informer_get(pods, pns, slash + 1);
		}
		if (pod && k8c_map_selector_matches(sel, k8c_at(pod, "metadata.labels")))
			(*out)[n++] = pod;
	}
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *eps_service_index_key(const json_t *svc)
{
	json_t *sel = k8c_at(svc, "spec.selector");
	const char *k, *min = NULL;
	json_t *v;

	if (!json_object_size(sel))
		return NULL;
	json_object_foreach(sel, k, v) if (!min || cmp_str(&k, &min) < 0) min = k;
	return label_key(k8c_str_at(svc, "metadata.namespace"), min,
			 json_string_value(json_object_get(sel, min)) ?: "");
}

void eps_services_for_pod(struct k8c_informer *svcs, const json_t *pod,
			  void (*fn)(const json_t *svc, void *arg), void *arg)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	json_t *labels = k8c_at(pod, "metadata.labels");
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v)
	{
		_cleanup_free_ char *lk = NULL;
		json_t *set, *svc;
		const char *sk;

		if (!json_is_string(v))
			continue;
		lk = label_key(ns, k, json_string_value(v));
		set = k8c_informer_index(svcs, lk);
		json_object_foreach(set, sk, svc)
		{
			if (k8c_map_selector_matches(k8c_at(svc, "spec.selector"), labels))
				fn(svc, arg);
		}
	}
}

json_t *eps_pod_transform(json_t *pod)
{
	json_t *c = json_copy(pod), *md = json_copy(json_object_get(pod, "metadata"));

	json_object_del(md, "managedFields");
	json_object_del(md, "annotations");
	json_object_set_new(c, "metadata", md);
	return c;
}

/* ---- overlay ---- */

static unsigned long long rv(const json_t *obj)
{
	const char *s = k8c_str_at(obj, "metadata.resourceVersion");

	return s ? strtoull(s, NULL, 10) : 0;
}

void eps_overlay_put(struct eps_overlay *o, const char *owner, const char *name, json_t *obj)
{
	json_t *m = strmap_get(&o->owners, owner);

	if (!m) {
		m = json_object();
		strmap_set(&o->owners, owner, m);
	}
	json_object_set(m, name, obj ? obj : json_null());
}

json_t *eps_overlay_merge(struct eps_overlay *o, const char *owner, const json_t *cached)
{
	json_t *m = strmap_get(&o->owners, owner), *out = json_array(), *obj, *tmp;
	const char *key;

	json_object_foreach((json_t *)cached, key, obj)
	{
		const char *name = k8c_str_at(obj, "metadata.name");
		json_t *w = name && m ? json_object_get(m, name) : NULL;

		if (!w) {
			json_array_append(out, obj);
		} else if (json_is_null(w)) {
			continue; /* deleted by us; the informer has not seen it yet */
		} else if (rv(obj) >= rv(w)) {
			json_array_append(out, obj);
			json_object_del(m, name);
		} else {
			json_array_append(out, w);
		}
	}
	if (!m)
		return out;
	json_object_foreach_safe(m, tmp, key, obj)
	{
		bool in_cache = false;
		const char *k2;
		json_t *c;

		json_object_foreach((json_t *)cached, k2, c)
		{
			const char *name = k8c_str_at(c, "metadata.name");

			if (name && strcmp(name, key) == 0) {
				in_cache = true;
				break;
			}
		}
		if (in_cache)
			continue;
		if (json_is_null(obj))
			json_object_del(m, key); /* the delete reached the cache */
		else
			json_array_append(out, obj); /* created; not in the cache yet */
	}
	if (!json_object_size(m)) {
		strmap_del(&o->owners, owner);
		json_decref(m);
	}
	return out;
}

bool eps_overlay_own(const struct eps_overlay *o, const char *owner, const json_t *obj)
{
	json_t *m = strmap_get(&o->owners, owner);
	const char *name = k8c_str_at(obj, "metadata.name");
	json_t *w = m && name ? json_object_get(m, name) : NULL;

	return w && !json_is_null(w) && rv(w) == rv(obj);
}

static void decref(void *p)
{
	json_decref(p);
}

void eps_overlay_free(struct eps_overlay *o)
{
	strmap_free(&o->owners, decref);
}

/* ---- Services and pods of the endpoints controllers ---- */

static void enqueue_svc(const json_t *svc, void *arg)
{
	k8c_ctrl_enqueue_obj(arg, svc);
}

static void on_svc(const struct k8c_delta *d, void *arg)
{
	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE || d->type == K8C_DELTA_DELETE)
		k8c_ctrl_enqueue(arg, d->key);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct eps_svc_pods *sp = k8c_ctrl_data(c); /* the first member of the data */

	eps_pod_index_delta(&sp->ix, d);
	if (d->old)
		eps_services_for_pod(sp->svc, d->old, enqueue_svc, c);
	if (d->new && d->new != d->old &&
	    (!d->old ||
	     !json_equal(k8c_at(d->old, "metadata.labels"), k8c_at(d->new, "metadata.labels"))))
		eps_services_for_pod(sp->svc, d->new, enqueue_svc, c);
}

int eps_svc_pods_init(struct k8c_ctrl *c, struct eps_svc_pods *sp, struct k8c_error *err)
{
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SERVICES, .index = eps_service_index_key};
	struct k8c_informer_opts po = {.gvr = K8C_GVR_PODS, .transform = eps_pod_transform};

	if (!(sp->svc = k8c_ctrl_informer(c, &so, on_svc, err)) ||
	    !(sp->pods = k8c_ctrl_informer(c, &po, on_pod, err)))
		return -1;
	return 0;
}

json_t *eps_sync_service(struct eps_svc_pods *sp, const char *key, char **ns, const char **name)
{
	const char *slash = strchr(key, '/');

	*ns = slash ? strndup(key, (size_t)(slash - key)) : NULL;
	*name = slash ? slash + 1 : key;
	return k8c_informer_get(sp->svc, *ns, *name);
}

void eps_svc_pods_free(struct eps_svc_pods *sp)
{
	eps_pod_index_free(&sp->ix);
}

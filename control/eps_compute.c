/*
 * Endpoints and EndpointSlices from Services and pods, after kube's endpoint and endpointslice
 * controllers (pkg/controller/endpoint, endpointslice, util/endpoint).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "eps.h"
#include "objutil.h"
#include "strmap.h"

#define HEADLESS_LABEL	     "service.kubernetes.io/headless"
#define MAX_MIRRORED_ADDRESS 1000

bool eps_service_has_selector(const json_t *svc)
{
	return json_object_size(k8c_at(svc, "spec.selector")) > 0;
}

bool eps_service_headless(const json_t *svc)
{
	const char *ip = k8c_str_at(svc, "spec.clusterIP");

	return ip && strcmp(ip, "None") == 0;
}

const char *eps_service_address_type(const json_t *svc)
{
	const char *f = json_string_value(json_array_get(k8c_at(svc, "spec.ipFamilies"), 0));

	return f && strcmp(f, "IPv6") == 0 ? "IPv6" : "IPv4";
}

bool eps_pod_included(const json_t *pod, bool include_terminating)
{
	const char *phase = k8c_str_at(pod, "status.phase") ?: "";
	const char *policy = k8c_str_at(pod, "spec.restartPolicy") ?: "Always";
	const char *ip = k8c_str_at(pod, "status.podIP");

	if ((!ip || !*ip) && json_array_size(k8c_at(pod, "status.podIPs")) == 0)
		return false;
	if (!include_terminating && k8c_at(pod, "metadata.deletionTimestamp") &&
	    !json_is_null(k8c_at(pod, "metadata.deletionTimestamp")))
		return false;
	if (strcmp(policy, "Never") == 0)
		return strcmp(phase, "Failed") != 0 && strcmp(phase, "Succeeded") != 0;
	if (strcmp(policy, "OnFailure") == 0)
		return strcmp(phase, "Succeeded") != 0;
	return true;
}

static bool is_v6(const char *ip)
{
	return strchr(ip, ':') != NULL;
}

const char *eps_pod_ip(const json_t *pod, const char *address_type)
{
	bool v6 = strcmp(address_type, "IPv6") == 0;
	const char *ip = k8c_str_at(pod, "status.podIP");
	size_t i;
	json_t *x;

	json_array_foreach(k8c_at(pod, "status.podIPs"), i, x)
	{
		const char *a = k8c_str_at(x, "ip");

		if (a && *a && is_v6(a) == v6)
			return a;
	}
	return ip && *ip && is_v6(ip) == v6 ? ip : NULL;
}

static bool terminating(const json_t *pod)
{
	json_t *dt = k8c_at(pod, "metadata.deletionTimestamp");

	return dt && !json_is_null(dt);
}

int eps_find_port(const json_t *pod, const json_t *svc_port)
{
	json_t *tp = json_object_get(svc_port, "targetPort");
	const char *proto = k8c_str_at(svc_port, "protocol") ?: "TCP";
	size_t i, j;
	json_t *ctr, *p;

	if (!tp || json_is_null(tp))
		return (int)k8c_int_at(svc_port, "port", -1);
	if (json_is_integer(tp))
		return (int)json_integer_value(tp);
	if (!json_is_string(tp))
		return -1;
	json_array_foreach(k8c_at(pod, "spec.containers"), i, ctr)
	{
		json_array_foreach(json_object_get(ctr, "ports"), j, p)
		{
			const char *name = k8c_str_at(p, "name");
			const char *pp = k8c_str_at(p, "protocol") ?: "TCP";

			if (name && strcmp(name, json_string_value(tp)) == 0 &&
			    strcmp(pp, proto) == 0)
				return (int)k8c_int_at(p, "containerPort", -1);
		}
	}
	return -1;
}

static json_t *endpoint_port(const json_t *sp, int port)
{
	json_t *o = json_pack("{s:s,s:i,s:s}", "name", k8c_str_at(sp, "name") ?: "", "port", port,
			      "protocol", k8c_str_at(sp, "protocol") ?: "TCP");
	const char *app = k8c_str_at(sp, "appProtocol");

	if (app)
		json_object_set_new(o, "appProtocol", json_string(app));
	return o;
}

json_t *eps_pod_ports(const json_t *svc, const json_t *pod)
{
	json_t *out = json_array(), *sp;
	size_t i;

	json_array_foreach(k8c_at(svc, "spec.ports"), i, sp)
	{
		int port = eps_find_port(pod, sp);

		if (port > 0)
			json_array_append_new(out, endpoint_port(sp, port));
	}
	return out;
}

static json_t *target_ref(const json_t *pod)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "kind", "Pod", "namespace",
			 k8c_str_at(pod, "metadata.namespace") ?: "", "name",
			 k8c_str_at(pod, "metadata.name") ?: "", "uid",
			 k8c_str_at(pod, "metadata.uid") ?: "");
}

static const char *hostname(const json_t *svc, const json_t *pod)
{
	const char *h = k8c_str_at(pod, "spec.hostname");
	const char *sub = k8c_str_at(pod, "spec.subdomain");
	const char *pns = k8c_str_at(pod, "metadata.namespace");
	const char *sns = k8c_str_at(svc, "metadata.namespace");

	if (!h || !*h || !sub || strcmp(sub, k8c_str_at(svc, "metadata.name") ?: "") != 0 || !pns ||
	    !sns || strcmp(pns, sns) != 0)
		return NULL;
	return h;
}

/* ---- Endpoints (v1) ---- */

struct addr_entry {
	json_t *addr;
	bool ready;
	json_t *ports; /* array */
};

static int cmp_port(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(k8c_str_at(x, "name") ?: "", k8c_str_at(y, "name") ?: "");

	if (c)
		return c;
	if (k8c_int_at(x, "port", 0) != k8c_int_at(y, "port", 0))
		return k8c_int_at(x, "port", 0) < k8c_int_at(y, "port", 0) ? -1 : 1;
	return strcmp(k8c_str_at(x, "protocol") ?: "", k8c_str_at(y, "protocol") ?: "");
}

static int cmp_addr(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(k8c_str_at(x, "ip") ?: "", k8c_str_at(y, "ip") ?: "");

	return c ? c
		 : strcmp(k8c_str_at(x, "targetRef.uid") ?: "",
			  k8c_str_at(y, "targetRef.uid") ?: "");
}

/* Sort a JSON array in place with cmp over its elements. */
static void sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr), i;
	json_t **v;

	if (n < 2)
		return;
	v = k8c_xmalloc(n * sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

static void add_entry(struct strmap *m, const json_t *addr, bool ready, const json_t *port)
{
	_cleanup_free_ char *key = k8c_xasprintf("%s|%s|%d", k8c_str_at(addr, "ip") ?: "",
						 k8c_str_at(addr, "targetRef.uid") ?: "", ready);
	struct addr_entry *e = strmap_get(m, key);

	if (!e) {
		e = k8c_xcalloc(1, sizeof(*e));
		e->addr = json_deep_copy(addr);
		e->ready = ready;
		e->ports = json_array();
		strmap_set(m, key, e);
	}
	if (port) {
		size_t i;
		json_t *p;

		json_array_foreach(e->ports, i, p) if (json_equal(p, port)) return;
		json_array_append(e->ports, (json_t *)port);
	}
}

static void entry_free(void *p)
{
	struct addr_entry *e = p;

	json_decref(e->addr);
	json_decref(e->ports);
	free(e);
}

static int cmp_subset(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	_cleanup_free_ char *kx = json_dumps(json_object_get(x, "ports"), JSON_COMPACT);
	_cleanup_free_ char *ky = json_dumps(json_object_get(y, "ports"), JSON_COMPACT);

	return strcmp(kx ? kx : "", ky ? ky : "");
}

/* kube's RepackSubsets: addresses that share a set of ports make one subset. */
static json_t *repack(struct strmap *entries)
{
	struct strmap groups = {0};
	struct strmap_entry *e;
	json_t *subsets = json_array();
	size_t i;

	for (e = strmap_first(entries, &i); e; e = strmap_next(entries, e, &i)) {
		struct addr_entry *a = e->val;
		_cleanup_free_ char *pk = NULL;
		json_t *ss;

		sort_array(a->ports, cmp_port);
		pk = json_dumps(a->ports, JSON_COMPACT);
		ss = strmap_get(&groups, pk);
		if (!ss) {
			ss = json_object();
			if (json_array_size(a->ports))
				json_object_set(ss, "ports", a->ports);
			json_array_append_new(subsets, ss);
			strmap_set(&groups, pk, ss);
		}
		{
			const char *field = a->ready ? "addresses" : "notReadyAddresses";
			json_t *list = json_object_get(ss, field);

			if (!list)
				json_object_set_new(ss, field, list = json_array());
			json_array_append(list, a->addr);
		}
	}
	strmap_free(&groups, NULL);
	for (i = 0; i < json_array_size(subsets); i++) {
		sort_array(json_object_get(json_array_get(subsets, i), "addresses"), cmp_addr);
		sort_array(json_object_get(json_array_get(subsets, i), "notReadyAddresses"),
			   cmp_addr);
	}
	sort_array(subsets, cmp_subset);
	return subsets;
}

/*
 * kube's endpoint controller keeps at most 1000 addresses (ready ones first, spread over the
 * subsets in proportion) and marks the object over-capacity: "truncated". True if it cut.
 */
static bool truncate_subsets(json_t *subsets, size_t max)
{
	size_t total = 0, ready = 0, i;
	json_t *ss;

	json_array_foreach(subsets, i, ss)
	{
		ready += json_array_size(json_object_get(ss, "addresses"));
		total += json_array_size(json_object_get(ss, "addresses")) +
			 json_array_size(json_object_get(ss, "notReadyAddresses"));
	}
	if (total <= max)
		return false;
	{
		size_t keep_ready = ready < max ? ready : max, keep_nr = max - keep_ready;
		size_t left_r = keep_ready, left_n = keep_nr;

		json_array_foreach(subsets, i, ss)
		{
			json_t *a = json_object_get(ss, "addresses");
			json_t *n = json_object_get(ss, "notReadyAddresses");
			size_t ka = ready ? json_array_size(a) * keep_ready / ready : 0;
			size_t kn =
				total > ready ? json_array_size(n) * keep_nr / (total - ready) : 0;

			if (i + 1 == json_array_size(subsets)) {
				ka = left_r; /* the rounding remainder goes to the last subset */
				kn = left_n;
			}
			ka = ka < json_array_size(a) ? ka : json_array_size(a);
			kn = kn < json_array_size(n) ? kn : json_array_size(n);
			while (json_array_size(a) > ka)
				json_array_remove(a, json_array_size(a) - 1);
			while (json_array_size(n) > kn)
				json_array_remove(n, json_array_size(n) - 1);
			left_r -= ka;
			left_n -= kn;
		}
	}
	return true;
}

json_t *eps_endpoints_want(const json_t *svc, json_t *const *pods, size_t n)
{
	bool tolerate = json_is_true(k8c_at(svc, "spec.publishNotReadyAddresses"));
	const char *at = eps_service_address_type(svc);
	json_t *ports = k8c_at(svc, "spec.ports");
	json_t *labels = json_deep_copy(k8c_at(svc, "metadata.labels")) ?: json_object();
	struct strmap entries = {0};
	json_t *out;

	for (size_t i = 0; i < n; i++) {
		const json_t *pod = pods[i];
		const char *ip = eps_pod_ip(pod, at);
		const char *node = k8c_str_at(pod, "spec.nodeName");
		const char *h = hostname(svc, pod);
		bool ready = tolerate || k8c_pod_ready(pod);
		_cleanup_json_ json_t *addr = NULL;
		size_t j;
		json_t *sp;

		if (!ip || !eps_pod_included(pod, tolerate))
			continue;
		addr = json_pack("{s:s,s:o}", "ip", ip, "targetRef", target_ref(pod));
		if (node && *node)
			json_object_set_new(addr, "nodeName", json_string(node));
		if (h)
			json_object_set_new(addr, "hostname", json_string(h));
		if (json_array_size(ports) == 0) {
			if (eps_service_headless(svc))
				add_entry(&entries, addr, ready, NULL);
			continue;
		}
		json_array_foreach(ports, j, sp)
		{
			int port = eps_find_port(pod, sp);
			_cleanup_json_ json_t *ep = NULL;

			if (port <= 0)
				continue;
			ep = endpoint_port(sp, port);
			add_entry(&entries, addr, ready, ep);
		}
	}
	if (eps_service_headless(svc))
		json_object_set_new(labels, HEADLESS_LABEL, json_string(""));
	else
		json_object_del(labels, HEADLESS_LABEL);
	out = json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:o}", "apiVersion", "v1", "kind", "Endpoints",
			"metadata", "name", k8c_str_at(svc, "metadata.name") ?: "", "namespace",
			k8c_str_at(svc, "metadata.namespace") ?: "", "labels", labels, "subsets",
			repack(&entries));
	if (truncate_subsets(json_object_get(out, "subsets"), EPS_MAX_ENDPOINTS_ADDRESSES))
		json_object_set_new(json_object_get(out, "metadata"), "annotations",
				    json_pack("{s:s}", EPS_OVER_CAPACITY, "truncated"));
	strmap_free(&entries, entry_free);
	return out;
}

static bool same_or_empty(const json_t *a, const json_t *b)
{
	bool ea = !a || json_is_null(a) || (json_is_array(a) && !json_array_size(a)) ||
		  (json_is_object(a) && !json_object_size(a));
	bool eb = !b || json_is_null(b) || (json_is_array(b) && !json_array_size(b)) ||
		  (json_is_object(b) && !json_object_size(b));

	if (ea || eb)
		return ea == eb;
	return json_equal((json_t *)a, (json_t *)b);
}

bool eps_endpoints_differ(const json_t *have, const json_t *want)
{
	const char *hc = json_string_value(
		json_object_get(k8c_at(have, "metadata.annotations"), EPS_OVER_CAPACITY));
	const char *wc = json_string_value(
		json_object_get(k8c_at(want, "metadata.annotations"), EPS_OVER_CAPACITY));

	if (!hc != !wc)
		return true;
	return !same_or_empty(k8c_at(have, "metadata.labels"), k8c_at(want, "metadata.labels")) ||
	       !same_or_empty(json_object_get(have, "subsets"), json_object_get(want, "subsets"));
}

/* ---- EndpointSlices ---- */

json_t *eps_slice_endpoint(const json_t *svc, const json_t *pod, const json_t *node,
			   const char *address_type)
{
	const char *ip = eps_pod_ip(pod, address_type);
	const char *nn = k8c_str_at(pod, "spec.nodeName");
	const char *zone;
	const char *h = hostname(svc, pod);
	bool pub = json_is_true(k8c_at(svc, "spec.publishNotReadyAddresses"));
	bool serving = pub || k8c_pod_ready(pod), term = terminating(pod);
	bool ready = pub || (serving && !term);
	json_t *ep;

	if (!ip)
		return NULL;
	/* the label has dots, which k8c_at would split on */
	zone = node ? json_string_value(json_object_get(k8c_at(node, "metadata.labels"),
							"topology.kubernetes.io/zone"))
		    : NULL;
	ep = json_pack("{s:[s],s:{s:b,s:b,s:b},s:o}", "addresses", ip, "conditions", "ready", ready,
		       "serving", serving, "terminating", term, "targetRef", target_ref(pod));
	if (nn && *nn)
		json_object_set_new(ep, "nodeName", json_string(nn));
	if (zone && *zone)
		json_object_set_new(ep, "zone", json_string(zone));
	if (h)
		json_object_set_new(ep, "hostname", json_string(h));
	return ep;
}

json_t *eps_slices_desired(const json_t *svc, json_t *const *pods, size_t n,
			   json_t *(*node_of)(void *arg, const char *name), void *arg)
{
	const char *at = eps_service_address_type(svc);
	json_t *out = json_array();

	for (size_t i = 0; i < n; i++) {
		const char *nn = k8c_str_at(pods[i], "spec.nodeName");
		json_t *node = nn && *nn && node_of ? node_of(arg, nn) : NULL;
		json_t *ep;

		if (!eps_pod_included(pods[i], true))
			continue;
		ep = eps_slice_endpoint(svc, pods[i], node, at);
		if (!ep)
			continue;
		json_array_append_new(out, json_pack("{s:s,s:o,s:o}", "addressType", at, "ports",
						     eps_pod_ports(svc, pods[i]), "endpoint", ep));
	}
	return out;
}

json_t *eps_mirror_desired(const json_t *endpoints)
{
	json_t *out = json_array(), *ss;
	size_t i, n = 0;

	json_array_foreach(json_object_get(endpoints, "subsets"), i, ss)
	{
		json_t *ports = json_array(), *p;
		size_t j;

		json_array_foreach(json_object_get(ss, "ports"), j, p)
		{
			json_t *sp = json_pack("{s:s,s:I,s:s}", "name", k8c_str_at(p, "name") ?: "",
					       "port", (json_int_t)k8c_int_at(p, "port", 0),
					       "protocol", k8c_str_at(p, "protocol") ?: "TCP");

			if (k8c_str_at(p, "appProtocol"))
				json_object_set_new(sp, "appProtocol",
						    json_string(k8c_str_at(p, "appProtocol")));
			json_array_append_new(ports, sp);
		}
		for (int ready = 1; ready >= 0; ready--) {
			json_t *a;

			json_array_foreach(
				json_object_get(ss, ready ? "addresses" : "notReadyAddresses"), j,
				a)
			{
				const char *ip = k8c_str_at(a, "ip");
				json_t *ep;

				if (!ip || n++ >= MAX_MIRRORED_ADDRESS)
					continue;
				ep = json_pack("{s:[s],s:{s:b}}", "addresses", ip, "conditions",
					       "ready", ready);
				if (k8c_at(a, "targetRef"))
					json_object_set(ep, "targetRef", k8c_at(a, "targetRef"));
				if (k8c_str_at(a, "nodeName"))
					json_object_set(ep, "nodeName", k8c_at(a, "nodeName"));
				if (k8c_str_at(a, "hostname"))
					json_object_set(ep, "hostname", k8c_at(a, "hostname"));
				json_array_append_new(out,
						      json_pack("{s:s,s:O,s:o}", "addressType",
								is_v6(ip) ? "IPv6" : "IPv4",
								"ports", ports, "endpoint", ep));
			}
		}
		json_decref(ports);
	}
	return out;
}

json_t *eps_slice_labels(const json_t *src, const char *svc_name, const char *managed_by,
			 bool headless)
{
	json_t *l = json_deep_copy(k8c_at(src, "metadata.labels")) ?: json_object();

	json_object_del(l, HEADLESS_LABEL);
	json_object_set_new(l, EPS_SERVICE_NAME, json_string(svc_name));
	json_object_set_new(l, EPS_MANAGED_BY, json_string(managed_by));
	if (headless)
		json_object_set_new(l, HEADLESS_LABEL, json_string(""));
	return l;
}

json_t *eps_owner_refs(const char *api_version, const char *kind, const json_t *owner)
{
	return json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", api_version, "kind", kind,
			 "name", k8c_str_at(owner, "metadata.name") ?: "", "uid",
			 k8c_str_at(owner, "metadata.uid") ?: "", "controller", 1,
			 "blockOwnerDeletion", 1);
}

/* ---- the slice plan ---- */

struct group {
	char *at;
	json_t *ports;
	json_t *want; /* epkey -> endpoint, the ones not placed yet */
};

struct slot {
	const json_t *have; /* the existing slice, or NULL for a new one */
	struct group *g;    /* what it holds; NULL: spare */
	json_t *eps;	    /* its endpoints after the plan */
};

static char *ep_key(const json_t *ep)
{
	return k8c_xasprintf("%s|%s/%s",
			     json_string_value(json_array_get(json_object_get(ep, "addresses"), 0))
				     ?: "",
			     k8c_str_at(ep, "targetRef.namespace") ?: "",
			     k8c_str_at(ep, "targetRef.name") ?: "");
}

static char *group_key(const char *at, const json_t *ports)
{
	_cleanup_json_ json_t *empty = json_array();
	_cleanup_free_ char *p = json_dumps(ports && json_is_array(ports) ? ports : empty,
					    JSON_COMPACT | JSON_SORT_KEYS);

	return k8c_xasprintf("%s|%s", at ? at : "", p ? p : "[]");
}

static void group_free(void *p)
{
	struct group *g = p;

	free(g->at);
	json_decref(g->ports);
	json_decref(g->want);
	free(g);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The remaining wanted endpoints of g in key order (stolen from g->want). */
static json_t *take_sorted(struct group *g)
{
	size_t n = json_object_size(g->want), k = 0;
	const char **keys = k8c_xcalloc(n ? n : 1, sizeof(*keys));
	json_t *out = json_array(), *v;
	const char *key;

	json_object_foreach(g->want, key, v) keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_key);
	for (size_t i = 0; i < k; i++)
		json_array_append(out, json_object_get(g->want, keys[i]));
	free(keys);
	json_object_clear(g->want);
	return out;
}

static json_t *slice_body(const struct eps_slice_meta *meta, const struct slot *s, const char *at,
			  const json_t *ports)
{
	json_t *sl = s->have ? json_deep_copy(s->have) : json_object();
	json_t *md;

	if (!s->have) {
		json_object_set_new(sl, "apiVersion", json_string("discovery.k8s.io/v1"));
		json_object_set_new(sl, "kind", json_string("EndpointSlice"));
		json_object_set_new(sl, "metadata",
				    json_pack("{s:s,s:s}", "generateName", meta->generate_name,
					      "namespace", meta->ns));
	}
	md = json_object_get(sl, "metadata");
	json_object_set(md, "labels", meta->labels);
	json_object_set(md, "ownerReferences", meta->owner_refs);
	json_object_set_new(sl, "addressType", json_string(at));
	json_object_set_new(sl, "ports", ports ? json_deep_copy(ports) : json_array());
	json_object_set(sl, "endpoints", s->eps);
	return sl;
}

static bool slice_differs(const json_t *have, const json_t *want)
{
	const char *a = json_string_value(json_object_get(have, "addressType"));

	return !a || strcmp(a, json_string_value(json_object_get(want, "addressType"))) != 0 ||
	       !same_or_empty(k8c_at(have, "metadata.labels"), k8c_at(want, "metadata.labels")) ||
	       !same_or_empty(k8c_at(have, "metadata.ownerReferences"),
			      k8c_at(want, "metadata.ownerReferences")) ||
	       !same_or_empty(json_object_get(have, "ports"), json_object_get(want, "ports")) ||
	       !same_or_empty(json_object_get(have, "endpoints"),
			      json_object_get(want, "endpoints"));
}

void eps_slices_plan(const struct eps_slice_meta *meta, const json_t *desired,
		     const json_t *existing, size_t max_per_slice, json_t **create, json_t **update,
		     json_t **del)
{
	struct strmap groups = {0};
	size_t n_slots = json_array_size(existing), n_new = 0, i, total = 0;
	struct slot *slots = k8c_xcalloc(n_slots + 1, sizeof(*slots));
	struct strmap_entry *e;
	json_t *d, *sl;

	*create = json_array();
	*update = json_array();
	*del = json_array();
	json_array_foreach(desired, i, d)
	{
		const char *at = json_string_value(json_object_get(d, "addressType"));
		json_t *ports = json_object_get(d, "ports");
		_cleanup_free_ char *gk = group_key(at, ports);
		_cleanup_free_ char *ek = ep_key(json_object_get(d, "endpoint"));
		struct group *g = strmap_get(&groups, gk);

		if (!g) {
			g = k8c_xcalloc(1, sizeof(*g));
			g->at = k8c_xstrdup(at ? at : "IPv4");
			g->ports = json_incref(ports);
			g->want = json_object();
			strmap_set(&groups, gk, g);
		}
		json_object_set(g->want, ek, json_object_get(d, "endpoint"));
		total++;
	}
	/* 1. endpoints stay in the slice they are in (updated in place) */
	json_array_foreach(existing, i, sl)
	{
		_cleanup_free_ char *gk =
			group_key(json_string_value(json_object_get(sl, "addressType")),
				  json_object_get(sl, "ports"));
		struct group *g = strmap_get(&groups, gk);
		struct slot *s = &slots[i];
		size_t j;
		json_t *ep;

		s->have = sl;
		s->eps = json_array();
		if (!g)
			continue;
		json_array_foreach(json_object_get(sl, "endpoints"), j, ep)
		{
			_cleanup_free_ char *ek = ep_key(ep);
			json_t *w = json_object_get(g->want, ek);

			if (!w || json_array_size(s->eps) >= max_per_slice)
				continue;
			json_array_append(s->eps, w);
			json_object_del(g->want, ek);
		}
		if (json_array_size(s->eps))
			s->g = g;
	}
	/* 2. the rest fill slices of their group with room, then spare slices, then new ones */
	for (e = strmap_first(&groups, &i); e; e = strmap_next(&groups, e, &i)) {
		struct group *g = e->val;
		_cleanup_json_ json_t *rest = take_sorted(g);
		size_t k = 0, n = json_array_size(rest);

		for (size_t j = 0; j < n_slots && k < n; j++) {
			struct slot *s = &slots[j];

			if (s->g != g)
				continue;
			while (k < n && json_array_size(s->eps) < max_per_slice)
				json_array_append(s->eps, json_array_get(rest, k++));
		}
		while (k < n) {
			struct slot *s = NULL;

			for (size_t j = 0; j < n_slots && !s; j++)
				if (!slots[j].g)
					s = &slots[j];
			if (!s) {
				slots = k8c_xrealloc(slots, (n_slots + n_new + 1) * sizeof(*slots));
				s = &slots[n_slots + n_new++];
				memset(s, 0, sizeof(*s));
				s->eps = json_array();
			}
			s->g = g;
			json_array_clear(s->eps);
			while (k < n && json_array_size(s->eps) < max_per_slice)
				json_array_append(s->eps, json_array_get(rest, k++));
		}
	}
	/* 3. nothing desired: one empty placeholder slice (kube keeps one per Service) */
	if (!total && meta->placeholder) {
		struct slot *s = NULL;

		for (size_t j = 0; j < n_slots && !s; j++) {
			const char *at =
				json_string_value(json_object_get(slots[j].have, "addressType"));

			if (at && strcmp(at, meta->placeholder) == 0 &&
			    same_or_empty(json_object_get(slots[j].have, "ports"), NULL))
				s = &slots[j];
		}
		if (!s && n_slots)
			s = &slots[0];
		if (!s) {
			s = &slots[n_slots + n_new++];
			memset(s, 0, sizeof(*s));
			s->eps = json_array();
		}
		s->g = (struct group *)1; /* marks it used; written below without a group */
	}
	for (size_t j = 0; j < n_slots + n_new; j++) {
		struct slot *s = &slots[j];
		bool placeholder = s->g == (struct group *)1;
		_cleanup_json_ json_t *body = NULL;

		if (!s->g) {
			json_array_append_new(
				*del, json_string(k8c_str_at(s->have, "metadata.name") ?: ""));
			json_decref(s->eps);
			continue;
		}
		body = slice_body(meta, s, placeholder ? meta->placeholder : s->g->at,
				  placeholder ? NULL : s->g->ports);
		if (!s->have)
			json_array_append(*create, body);
		else if (slice_differs(s->have, body))
			json_array_append(*update, body);
		json_decref(s->eps);
	}
	free(slots);
	strmap_free(&groups, group_free);
}

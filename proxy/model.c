#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "model.h"
#include "pmap.h"

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_PROXY_NAME   "service.kubernetes.io/service-proxy-name"

/*
 * The objects are kept parsed, not as JSON: at 100,000 services jansson's trees took 7 KiB a
 * service (the informer has its own cache of them anyway).
 */
struct svc_port {
	char *name;
	uint8_t proto;
	uint16_t port, node_port;
};

struct svc_obj {
	bool ignored; /* ExternalName, headless, another proxy's, no name */
	struct k8c_ipnet *cips, *eips;
	size_t n_cips, n_eips;
	bool affinity, etp_local, itp_local;
	uint16_t health_port;
	uint32_t timeout;
	struct svc_port *ports;
	size_t n_ports;
};

struct slice_port {
	char *name;
	uint8_t proto;
	uint16_t port; /* 0: unusable */
};

struct slice_ep {
	struct k8c_ipnet ip;
	bool ready, serving, terminating;
	const char *node; /* interned */
};

struct slice_obj {
	char *name;
	int family; /* 0: not IPv4 or IPv6 (FQDN): unused */
	struct slice_port *ports;
	size_t n_ports;
	struct slice_ep *eps;
	size_t n_eps;
};

/* Everything known about one Service name: the object (if any) and the slices naming it. */
struct svc_entry {
	struct svc_obj *svc;
	struct slice_obj **slices;
	size_t n_slices;
	char **keys; /* keys of the records it produced */
	size_t n_keys;
};

struct proxy_model {
	char *node;
	struct pmap nodes;	 /* interned node names */
	struct pmap services;	 /* "ns/name" -> struct svc_entry* */
	struct pmap slice_owner; /* "ns/slice" -> char* "ns/service" */
	struct pmap ports;	 /* record key -> struct proxy_svcport* */
	struct pmap dirty;	 /* record key -> its version at the last sync, or NO_RECORD */
};

struct proxy_model *proxy_model_new(const char *node_name)
{
	struct proxy_model *m = k8c_xcalloc(1, sizeof(*m));

	m->node = node_name ? k8c_xstrdup(node_name) : NULL;
	return m;
}

static void port_free(struct proxy_svcport *p)
{
	if (!p)
		return;
	free(p->eps);
	free(p->cluster_ips);
	free(p->external_ips);
	free(p->key);
	free(p->port_name);
	free(p);
}

static void svc_obj_free(struct svc_obj *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_ports; i++)
		free(o->ports[i].name);
	free(o->ports);
	free(o->cips);
	free(o->eips);
	free(o);
}

static void slice_obj_free(struct slice_obj *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_ports; i++)
		free(o->ports[i].name);
	free(o->ports);
	free(o->eps);
	free(o->name);
	free(o);
}

static void entry_free(struct svc_entry *e)
{
	svc_obj_free(e->svc);
	for (size_t i = 0; i < e->n_slices; i++)
		slice_obj_free(e->slices[i]);
	free(e->slices);
	for (size_t i = 0; i < e->n_keys; i++)
		free(e->keys[i]);
	free(e->keys);
	free(e);
}

void proxy_model_free(struct proxy_model *m)
{
	if (!m)
		return;
	pmap_for_each(&m->services, it) entry_free(it->val);
	pmap_free(&m->services);
	pmap_for_each(&m->slice_owner, it) free(it->val);
	pmap_free(&m->slice_owner);
	pmap_for_each(&m->ports, it) port_free(it->val);
	pmap_free(&m->ports);
	pmap_for_each(&m->nodes, it) free(it->val);
	pmap_free(&m->nodes);
	proxy_model_clear_dirty(m);
	free(m->node);
	free(m);
}

const char *proxy_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	default:
		return "?";
	}
}

static int proto_parse(json_t *v, uint8_t *out)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (!v || json_is_null(v) || (s && strcmp(s, "TCP") == 0))
		*out = IPPROTO_TCP;
	else if (s && strcmp(s, "UDP") == 0)
		*out = IPPROTO_UDP;
	else if (s && strcmp(s, "SCTP") == 0)
		*out = IPPROTO_SCTP;
	else
		return -1;
	return 0;
}

static const char *jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *jpath_str(json_t *obj, const char *a, const char *b)
{
	return jstr(json_object_get(obj, a), b);
}

static long long jint(json_t *obj, const char *key, long long def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool jbool(json_t *obj, const char *key, bool def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static const char *label(json_t *obj, const char *key)
{
	return jstr(json_object_get(json_object_get(obj, "metadata"), "labels"), key);
}

/* ---- hashing of a resolved record -------------------------------------------------------- */

static void h_add(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 1099511628211ULL;
	}
}

static void h_str(uint64_t *h, const char *s)
{
	h_add(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static void h_ip(uint64_t *h, const struct k8c_ipnet *ip)
{
	h_add(h, &ip->family, sizeof(ip->family));
	h_add(h, ip->addr, k8c_ip_len(ip->family));
}

static uint64_t port_hash(const struct proxy_svcport *p)
{
	uint64_t h = 1469598103934665603ULL;
	unsigned char flags = (unsigned char)(p->affinity | p->etp_local << 1 | p->itp_local << 2);

	h_str(&h, p->key);
	h_add(&h, &p->proto, sizeof(p->proto));
	h_add(&h, &p->port, sizeof(p->port));
	h_add(&h, &p->node_port, sizeof(p->node_port));
	h_add(&h, &p->health_port, sizeof(p->health_port));
	h_add(&h, &flags, 1);
	h_add(&h, &p->affinity_timeout, sizeof(p->affinity_timeout));
	h_add(&h, &p->n_cluster_ips, sizeof(size_t));
	for (size_t i = 0; i < p->n_cluster_ips; i++)
		h_ip(&h, &p->cluster_ips[i]);
	h_add(&h, &p->n_external_ips, sizeof(size_t));
	for (size_t i = 0; i < p->n_external_ips; i++)
		h_ip(&h, &p->external_ips[i]);
	h_add(&h, &p->n_eps, sizeof(size_t));
	for (size_t i = 0; i < p->n_eps; i++) {
		const struct proxy_endpoint *e = &p->eps[i];
		unsigned char c = (unsigned char)(e->ready | e->serving << 1 | e->terminating << 2);

		h_ip(&h, &e->ip);
		h_add(&h, &e->port, sizeof(e->port));
		h_add(&h, &c, 1);
		h_str(&h, e->node);
	}
	return h;
}

/* ---- resolution of one Service ----------------------------------------------------------- */

static void ip_append(struct k8c_ipnet **arr, size_t *n, const char *s)
{
	struct k8c_ipnet ip;

	if (!s || k8c_ipnet_parse(s, 0, &ip) < 0)
		return; /* not an address: skipped */
	for (size_t i = 0; i < *n; i++)
		if (k8c_ip_cmp(&(*arr)[i], &ip) == 0)
			return;
	*arr = k8c_xrealloc(*arr, (*n + 1) * sizeof(**arr));
	(*arr)[(*n)++] = ip;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct proxy_endpoint *x = a, *y = b;
	int c = k8c_ip_cmp(&x->ip, &y->ip);

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	/* of duplicates, the ready one first (it is the one kept) */
	return (int)y->ready - (int)x->ready;
}

static const char *intern(struct proxy_model *m, const char *s)
{
	void **slot;

	if (!s)
		return NULL;
	slot = pmap_puts(&m->nodes, s, NULL);
	if (!*slot)
		*slot = k8c_xstrdup(s);
	return *slot;
}

static struct slice_obj *slice_parse(struct proxy_model *m, json_t *slice, const char *name)
{
	struct slice_obj *o = k8c_xcalloc(1, sizeof(*o));
	const char *at = jstr(slice, "addressType");
	json_t *v, *ports = json_object_get(slice, "ports"),
		   *eps = json_object_get(slice, "endpoints");
	size_t i;

	o->name = k8c_xstrdup(name);
	o->family = at && strcmp(at, "IPv4") == 0   ? AF_INET
		    : at && strcmp(at, "IPv6") == 0 ? AF_INET6
						    : 0;
	if (!o->family)
		return o;
	o->ports = k8c_xcalloc(json_array_size(ports) + 1, sizeof(*o->ports));
	json_array_foreach(ports, i, v)
	{
		struct slice_port *sp = &o->ports[o->n_ports];
		long long port = jint(v, "port", 0);

		if (proto_parse(json_object_get(v, "protocol"), &sp->proto) < 0 || port < 1 ||
		    port > 65535)
			sp->port = 0; /* kept: it still hides a later entry of the same name */
		else
			sp->port = (uint16_t)port;
		sp->name = k8c_xstrdup(jstr(v, "name") ? jstr(v, "name") : "");
		o->n_ports++;
	}
	o->eps = k8c_xcalloc(json_array_size(eps) + 1, sizeof(*o->eps));
	json_array_foreach(eps, i, v)
	{
		json_t *cond = json_object_get(v, "conditions");
		struct slice_ep *x = &o->eps[o->n_eps];
		const char *addr =
			json_string_value(json_array_get(json_object_get(v, "addresses"), 0));

		if (!addr || k8c_ipnet_parse(addr, 0, &x->ip) < 0 || x->ip.family != o->family)
			continue;
		/* as the API documents: nil ready means ready, nil serving means ready */
		x->ready = jbool(cond, "ready", true);
		x->serving = jbool(cond, "serving", x->ready);
		x->terminating = jbool(cond, "terminating", false);
		x->node = intern(m, jstr(v, "nodeName"));
		o->n_eps++;
	}
	return o;
}

/* The target port of service port (name, proto) in a slice, or 0. */
static uint16_t slice_port(const struct slice_obj *sl, const char *name, uint8_t proto)
{
	for (size_t i = 0; i < sl->n_ports; i++)
		if (sl->ports[i].proto == proto && strcmp(sl->ports[i].name, name) == 0)
			return sl->ports[i].port;
	return 0;
}

static void port_endpoints(struct svc_entry *e, struct proxy_svcport *p)
{
	size_t n = 0, cap = 0;

	for (size_t s = 0; s < e->n_slices; s++) {
		const struct slice_obj *sl = e->slices[s];
		uint16_t tport = sl->family ? slice_port(sl, p->port_name, p->proto) : 0;

		if (!tport)
			continue;
		for (size_t i = 0; i < sl->n_eps; i++) {
			const struct slice_ep *x = &sl->eps[i];

			if (n == cap) {
				cap = cap ? 2 * cap : 4;
				p->eps = k8c_xrealloc(p->eps, cap * sizeof(*p->eps));
			}
			p->eps[n++] = (struct proxy_endpoint){x->ip,	  tport,	  x->ready,
							      x->serving, x->terminating, x->node};
		}
	}
	if (n > 1)
		qsort(p->eps, n, sizeof(*p->eps), ep_cmp);
	p->n_eps = 0;
	for (size_t i = 0; i < n; i++) {
		if (p->n_eps > 0 && k8c_ip_cmp(&p->eps[p->n_eps - 1].ip, &p->eps[i].ip) == 0 &&
		    p->eps[p->n_eps - 1].port == p->eps[i].port)
			continue; /* duplicate address and port: the first (ready) one wins */
		p->eps[p->n_eps++] = p->eps[i];
	}
}

static bool service_ignored(json_t *svc)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *type = jstr(spec, "type");

	if (type && strcmp(type, "ExternalName") == 0)
		return true;
	if (label(svc, LABEL_PROXY_NAME))
		return true; /* meant for another proxy */
	return false;
}

static struct svc_obj *svc_parse(json_t *svc)
{
	json_t *spec = json_object_get(svc, "spec"), *v, *sp;
	struct svc_obj *o = k8c_xcalloc(1, sizeof(*o));
	const char *aff = jstr(spec, "sessionAffinity");
	const char *etp = jstr(spec, "externalTrafficPolicy");
	const char *itp = jstr(spec, "internalTrafficPolicy");
	long long timeout =
		jint(json_object_get(json_object_get(spec, "sessionAffinityConfig"), "clientIP"),
		     "timeoutSeconds", PROXY_DEFAULT_AFFINITY_TIMEOUT);
	size_t i;

	if (service_ignored(svc)) {
		o->ignored = true;
		return o;
	}
	json_array_foreach(json_object_get(spec, "clusterIPs"), i, v)
		ip_append(&o->cips, &o->n_cips, json_string_value(v));
	ip_append(&o->cips, &o->n_cips, jstr(spec, "clusterIP"));
	if (o->n_cips == 0) { /* headless ("None") or not allocated yet */
		o->ignored = true;
		return o;
	}
	json_array_foreach(json_object_get(spec, "externalIPs"), i, v)
		ip_append(&o->eips, &o->n_eips, json_string_value(v));
	json_array_foreach(
		json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"),
				"ingress"),
		i, v) ip_append(&o->eips, &o->n_eips, jstr(v, "ip"));
	if (timeout < 1 || timeout > 86400)
		timeout = PROXY_DEFAULT_AFFINITY_TIMEOUT;
	o->affinity = aff && strcmp(aff, "ClientIP") == 0;
	o->timeout = o->affinity ? (uint32_t)timeout : 0;
	o->etp_local = etp && strcmp(etp, "Local") == 0;
	o->itp_local = itp && strcmp(itp, "Local") == 0;
	if (o->etp_local) { /* the API allocates it for LoadBalancer services with policy Local */
		long long hp = jint(spec, "healthCheckNodePort", 0);

		o->health_port = hp > 0 && hp <= 65535 ? (uint16_t)hp : 0;
	}
	o->ports =
		k8c_xcalloc(json_array_size(json_object_get(spec, "ports")) + 1, sizeof(*o->ports));
	json_array_foreach(json_object_get(spec, "ports"), i, sp)
	{
		struct svc_port *p = &o->ports[o->n_ports];
		long long port = jint(sp, "port", 0), np = jint(sp, "nodePort", 0);

		if (proto_parse(json_object_get(sp, "protocol"), &p->proto) < 0 || port < 1 ||
		    port > 65535)
			continue;
		p->port = (uint16_t)port;
		p->node_port = np > 0 && np <= 65535 ? (uint16_t)np : 0;
		p->name = k8c_xstrdup(jstr(sp, "name") ? jstr(sp, "name") : "");
		o->n_ports++;
	}
	return o;
}

static struct proxy_svcport **build_ports(struct svc_entry *e, const char *ns, const char *name,
					  size_t *count)
{
	const struct svc_obj *o = e->svc;
	struct proxy_svcport **out = NULL;
	size_t n = 0;

	*count = 0;
	if (!o || o->ignored)
		return NULL;
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct svc_port *sp = &o->ports[i];
		struct proxy_svcport *p;
		char pn[16];
		bool dup = false;

		p = k8c_xcalloc(1, sizeof(*p));
		p->port_name = k8c_xstrdup(sp->name);
		p->proto = sp->proto;
		p->port = sp->port;
		p->node_port = sp->node_port;
		snprintf(pn, sizeof(pn), "#%u", p->port);
		p->key = k8c_xasprintf("%s/%s/%s/%s", ns, name, proxy_proto_name(p->proto),
				       *sp->name ? sp->name : pn);
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(out[j]->key, p->key) == 0;
		if (dup) { /* two ports of one name and protocol: the first one wins */
			port_free(p);
			continue;
		}
		p->cluster_ips = k8c_xmalloc(o->n_cips * sizeof(*o->cips));
		memcpy(p->cluster_ips, o->cips, o->n_cips * sizeof(*o->cips));
		p->n_cluster_ips = o->n_cips;
		if (o->n_eips) {
			p->external_ips = k8c_xmalloc(o->n_eips * sizeof(*o->eips));
			memcpy(p->external_ips, o->eips, o->n_eips * sizeof(*o->eips));
		}
		p->n_external_ips = o->n_eips;
		p->affinity = o->affinity;
		p->affinity_timeout = o->timeout;
		p->etp_local = o->etp_local;
		p->itp_local = o->itp_local;
		p->health_port = o->health_port;
		port_endpoints(e, p);
		p->hash = port_hash(p);
		out = k8c_xrealloc(out, (n + 1) * sizeof(*out));
		out[n++] = p;
	}
	*count = n;
	return out;
}

static char no_record;
#define NO_RECORD ((void *)&no_record)

/* The record of key is replaced by another or removed: keep the version the backends last saw
 * (they release what it made) and free the intermediate ones. */
static void mark_dirty(struct proxy_model *m, const char *key, struct proxy_svcport *old)
{
	bool created;
	void **slot = pmap_puts(&m->dirty, key, &created);

	if (created)
		*slot = old ? old : NO_RECORD;
	else
		port_free(old);
}

/* Recompute the records of one Service name and mark those that changed. */
static void resolve(struct proxy_model *m, const char *skey)
{
	struct svc_entry *e = pmap_gets(&m->services, skey);
	struct proxy_svcport **np = NULL;
	size_t nn = 0;

	if (!e)
		return;
	if (e->svc) {
		_cleanup_free_ char *ns = k8c_xstrdup(skey);
		char *slash = strchr(ns, '/');

		*slash = '\0';
		np = build_ports(e, ns, slash + 1, &nn);
	}
	for (size_t i = 0; i < e->n_keys; i++) {
		bool kept = false;

		for (size_t j = 0; j < nn && !kept; j++)
			kept = strcmp(np[j]->key, e->keys[i]) == 0;
		if (!kept)
			mark_dirty(m, e->keys[i], pmap_dels(&m->ports, e->keys[i]));
		free(e->keys[i]);
	}
	free(e->keys);
	e->keys = nn ? k8c_xcalloc(nn, sizeof(char *)) : NULL;
	e->n_keys = nn;
	for (size_t j = 0; j < nn; j++) {
		void **slot = pmap_puts(&m->ports, np[j]->key, NULL);
		struct proxy_svcport *old = *slot;

		e->keys[j] = k8c_xstrdup(np[j]->key);
		if (old && old->hash == np[j]->hash) {
			port_free(np[j]);
			continue;
		}
		*slot = np[j];
		mark_dirty(m, np[j]->key, old);
	}
	free(np);
	if (!e->svc && e->n_slices == 0) {
		entry_free(pmap_dels(&m->services, skey));
	}
}

static struct svc_entry *entry_get(struct proxy_model *m, const char *skey)
{
	void **slot = pmap_puts(&m->services, skey, NULL);

	if (!*slot)
		*slot = k8c_xcalloc(1, sizeof(struct svc_entry));
	return *slot;
}

static void slice_detach(struct proxy_model *m, const char *slkey, const char *slname)
{
	char *owner = pmap_dels(&m->slice_owner, slkey);
	struct svc_entry *e;

	if (!owner)
		return;
	e = pmap_gets(&m->services, owner);
	if (e) {
		for (size_t i = 0; i < e->n_slices; i++) {
			if (strcmp(e->slices[i]->name, slname) != 0)
				continue;
			slice_obj_free(e->slices[i]);
			e->slices[i] = e->slices[--e->n_slices];
			break;
		}
		resolve(m, owner);
	}
	free(owner);
}

int proxy_model_apply(struct proxy_model *m, json_t *obj, const char *kind_hint, bool deleted,
		      struct k8c_error *err)
{
	const char *kind = jstr(obj, "kind");
	const char *ns = jpath_str(obj, "metadata", "namespace");
	const char *name = jpath_str(obj, "metadata", "name");
	_cleanup_free_ char *key = NULL;

	if (!kind)
		kind = kind_hint;
	if (!json_is_object(obj) || !kind)
		return k8c_error_set(err, 0, "object without a kind");
	if (!name || !*name)
		return k8c_error_set(err, 0, "%s without metadata.name", kind);
	if (!ns || !*ns)
		ns = "default";
	key = k8c_xasprintf("%s/%s", ns, name);
	if (strcmp(kind, "Service") == 0) {
		struct svc_entry *e = deleted ? pmap_gets(&m->services, key) : entry_get(m, key);

		if (!e)
			return 0;
		svc_obj_free(e->svc);
		e->svc = deleted ? NULL : svc_parse(obj);
		resolve(m, key);
		return 0;
	}
	if (strcmp(kind, "EndpointSlice") == 0) {
		const char *svc = label(obj, LABEL_SERVICE_NAME);
		_cleanup_free_ char *skey = NULL;
		struct svc_entry *e;
		struct slice_obj *sl;
		void **slot;
		size_t i;

		skey = svc && *svc ? k8c_xasprintf("%s/%s", ns, svc) : NULL;
		/* moving to another service (or away): the old one loses the slice first; an
		 * update in place must not show the service a moment without it */
		if (deleted || !skey || !pmap_gets(&m->slice_owner, key) ||
		    strcmp(pmap_gets(&m->slice_owner, key), skey) != 0)
			slice_detach(m, key, name);
		if (deleted || !skey)
			return 0;
		e = entry_get(m, skey);
		sl = slice_parse(m, obj, name);
		for (i = 0; i < e->n_slices; i++)
			if (strcmp(e->slices[i]->name, name) == 0)
				break;
		if (i == e->n_slices)
			e->slices = k8c_xrealloc(e->slices, ++e->n_slices * sizeof(*e->slices));
		else
			slice_obj_free(e->slices[i]);
		e->slices[i] = sl;
		slot = pmap_puts(&m->slice_owner, key, NULL);
		if (!*slot)
			*slot = k8c_xstrdup(skey);
		resolve(m, skey);
		return 0;
	}
	return k8c_error_set(err, 0, "%s %s: not a Service or an EndpointSlice", kind, key);
}

int proxy_model_replace(struct proxy_model *m, json_t *list, struct k8c_error *err)
{
	json_t *items = json_is_array(list) ? list : json_object_get(list, "items"), *o;
	struct pmap seen = {0};
	char **gone = NULL;
	size_t i, n_gone = 0;
	int bad = 0;

	json_array_foreach(items, i, o)
	{
		const char *kind = jstr(o, "kind");
		const char *ns = jpath_str(o, "metadata", "namespace");
		const char *name = jpath_str(o, "metadata", "name");
		_cleanup_free_ char *k = NULL;

		if (proxy_model_apply(m, o, NULL, false, err) < 0) {
			bad++;
			continue;
		}
		k = k8c_xasprintf("%s:%s/%s", kind, ns && *ns ? ns : "default", name);
		*pmap_puts(&seen, k, NULL) = (void *)1;
	}
	pmap_for_each(&m->services, it)
	{
		struct svc_entry *e = it->val;
		_cleanup_free_ char *k = NULL;

		if (!e->svc)
			continue;
		k = k8c_xasprintf("Service:%.*s", (int)it->klen, (char *)it->key);
		if (!pmap_gets(&seen, k)) {
			gone = k8c_xrealloc(gone, (n_gone + 1) * sizeof(*gone));
			gone[n_gone++] = k8c_steal_ptr(k);
		}
	}
	pmap_for_each(&m->slice_owner, it)
	{
		_cleanup_free_ char *k =
			k8c_xasprintf("EndpointSlice:%.*s", (int)it->klen, (char *)it->key);

		if (!pmap_gets(&seen, k)) {
			gone = k8c_xrealloc(gone, (n_gone + 1) * sizeof(*gone));
			gone[n_gone++] = k8c_steal_ptr(k);
		}
	}
	for (i = 0; i < n_gone; i++) {
		char *colon = strchr(gone[i], ':'), *slash = strchr(colon, '/');
		json_t *stub;

		*colon = *slash = '\0';
		stub = json_pack("{s:s, s:{s:s, s:s}}", "kind", gone[i], "metadata", "namespace",
				 colon + 1, "name", slash + 1);
		proxy_model_apply(m, stub, NULL, true, NULL);
		json_decref(stub);
		free(gone[i]);
	}
	free(gone);
	pmap_free(&seen);
	return bad;
}

const struct proxy_svcport *proxy_model_port(const struct proxy_model *m, const char *key)
{
	return pmap_gets(&m->ports, key);
}

size_t proxy_model_count(const struct proxy_model *m)
{
	return m->ports.n;
}

void proxy_model_each(const struct proxy_model *m,
		      void (*fn)(const struct proxy_svcport *p, void *arg), void *arg)
{
	pmap_for_each(&m->ports, it) fn(it->val, arg);
}

size_t proxy_model_dirty_count(const struct proxy_model *m)
{
	return m->dirty.n;
}

void proxy_model_each_dirty(const struct proxy_model *m,
			    void (*fn)(const char *key, const struct proxy_svcport *old,
				       const struct proxy_svcport *p, void *arg),
			    void *arg)
{
	pmap_for_each(&m->dirty, it)
	{
		_cleanup_free_ char *k = k8c_xmalloc(it->klen + 1);

		memcpy(k, it->key, it->klen);
		k[it->klen] = '\0';
		fn(k, it->val == NO_RECORD ? NULL : it->val, pmap_gets(&m->ports, k), arg);
	}
}

void proxy_model_clear_dirty(struct proxy_model *m)
{
	pmap_for_each(&m->dirty, it) if (it->val != NO_RECORD) port_free(it->val);
	pmap_free(&m->dirty);
}

const char *proxy_model_node(const struct proxy_model *m)
{
	return m->node;
}

size_t proxy_svcport_usable(const struct proxy_model *m, const struct proxy_svcport *p, int af,
			    bool local, const struct proxy_endpoint **out)
{
	size_t n = 0;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
		for (size_t i = 0; i < p->n_eps; i++) {
			const struct proxy_endpoint *e = &p->eps[i];

			if (e->ip.family != af)
				continue;
			if (local && (!m->node || !e->node || strcmp(m->node, e->node) != 0))
				continue;
			if (pass == 0 ? e->ready : e->serving && e->terminating)
				out[n++] = e;
		}
	}
	return n;
}

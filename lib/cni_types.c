#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cni_types.h"
#include "jsonutil.h"

const char *const cni_supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL};

bool cni_version_supported(const char *v)
{
	size_t i;

	if (!v)
		return false;
	for (i = 0; cni_supported_versions[i]; i++)
		if (!strcmp(v, cni_supported_versions[i]))
			return true;
	return false;
}

static int version_parts(const char *v, int p[3])
{
	if (!v || sscanf(v, "%d.%d.%d", &p[0], &p[1], &p[2]) != 3)
		return -1;
	return 0;
}

int cni_version_cmp(const char *a, const char *b)
{
	int pa[3], pb[3], i;
	int ea = version_parts(a, pa), eb = version_parts(b, pb);

	if (ea || eb)
		return ea == eb ? 0 : (ea ? -1 : 1);
	for (i = 0; i < 3; i++)
		if (pa[i] != pb[i])
			return pa[i] < pb[i] ? -1 : 1;
	return 0;
}

int cni_result_add_interface(struct cni_result *r, const char *name, const char *mac,
			     const char *sandbox)
{
	struct cni_interface *i;

	r->interfaces = k8c_xrealloc(r->interfaces, (r->n_interfaces + 1) * sizeof(*r->interfaces));
	i = &r->interfaces[r->n_interfaces];
	memset(i, 0, sizeof(*i));
	i->name = name ? k8c_xstrdup(name) : NULL;
	i->mac = mac ? k8c_xstrdup(mac) : NULL;
	i->sandbox = sandbox ? k8c_xstrdup(sandbox) : NULL;
	return (int)r->n_interfaces++;
}

struct cni_ipconfig *cni_result_add_ip(struct cni_result *r)
{
	struct cni_ipconfig *ip;

	r->ips = k8c_xrealloc(r->ips, (r->n_ips + 1) * sizeof(*r->ips));
	ip = &r->ips[r->n_ips++];
	memset(ip, 0, sizeof(*ip));
	ip->interface = -1;
	return ip;
}

struct cni_route *cni_result_add_route(struct cni_result *r)
{
	struct cni_route *rt;

	r->routes = k8c_xrealloc(r->routes, (r->n_routes + 1) * sizeof(*r->routes));
	rt = &r->routes[r->n_routes++];
	memset(rt, 0, sizeof(*rt));
	return rt;
}

void cni_result_drop_interfaces(struct cni_result *r)
{
	size_t i;

	for (i = 0; i < r->n_interfaces; i++) {
		free(r->interfaces[i].name);
		free(r->interfaces[i].mac);
		free(r->interfaces[i].sandbox);
		free(r->interfaces[i].socket_path);
		free(r->interfaces[i].pci_id);
	}
	r->n_interfaces = 0;
}

void cni_result_free(struct cni_result *r)
{
	cni_result_drop_interfaces(r);
	free(r->interfaces);
	free(r->ips);
	free(r->routes);
	json_decref(r->dns);
	memset(r, 0, sizeof(*r));
}

static int parse_interfaces(json_t *arr, struct cni_result *out, struct k8c_error *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		const char *name, *mac, *sandbox, *sock, *pci;
		long long mtu;
		int idx;

		if (!json_is_object(v))
			return k8c_error_set(err, CNI_ERR_DECODE,
					     "interfaces[%zu]: expected an object", i);
		if (k8c_json_string(v, "name", &name, NULL, err) < 0 ||
		    k8c_json_string(v, "mac", &mac, NULL, err) < 0 ||
		    k8c_json_string(v, "sandbox", &sandbox, NULL, err) < 0 ||
		    k8c_json_string(v, "socketPath", &sock, NULL, err) < 0 ||
		    k8c_json_string(v, "pciID", &pci, NULL, err) < 0 ||
		    k8c_json_int(v, "mtu", &mtu, 0, err) < 0)
			return k8c_error_wrap(err, "interfaces[%zu]", i);
		if (!name)
			return k8c_error_set(err, CNI_ERR_DECODE,
					     "interfaces[%zu]: missing \"name\"", i);
		idx = cni_result_add_interface(out, name, mac && *mac ? mac : NULL,
					       sandbox && *sandbox ? sandbox : NULL);
		out->interfaces[idx].mtu = (int)mtu;
		out->interfaces[idx].socket_path = sock ? k8c_xstrdup(sock) : NULL;
		out->interfaces[idx].pci_id = pci ? k8c_xstrdup(pci) : NULL;
	}
	return 0;
}

static int parse_addr(json_t *obj, const char *key, int want_prefix, bool required,
		      struct k8c_ipnet *out, bool *has, struct k8c_error *err)
{
	const char *s;

	if (k8c_json_string(obj, key, &s, NULL, err) < 0)
		return -1;
	if (has)
		*has = s != NULL;
	if (!s) {
		if (required)
			return k8c_error_set(err, 0, "missing \"%s\"", key);
		return 0;
	}
	if (k8c_ipnet_parse(s, want_prefix, out) < 0)
		return k8c_error_set(err, 0, "\"%s\": invalid %s \"%s\"", key,
				     want_prefix == 1 ? "CIDR" : "IP address", s);
	return 0;
}

static int parse_ips(json_t *arr, struct cni_result *out, struct k8c_error *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		struct cni_ipconfig *ip;
		long long iface;

		if (!json_is_object(v))
			return k8c_error_set(err, CNI_ERR_DECODE, "ips[%zu]: expected an object",
					     i);
		ip = cni_result_add_ip(out);
		if (parse_addr(v, "address", 1, true, &ip->address, NULL, err) < 0 ||
		    parse_addr(v, "gateway", 0, false, &ip->gateway, &ip->has_gateway, err) < 0 ||
		    k8c_json_int(v, "interface", &iface, -1, err) < 0) {
			err->code = CNI_ERR_DECODE;
			return k8c_error_wrap(err, "ips[%zu]", i);
		}
		if (iface < -1 || iface >= (long long)out->n_interfaces)
			return k8c_error_set(err, CNI_ERR_DECODE,
					     "ips[%zu]: interface index %lld out of range", i,
					     iface);
		ip->interface = (int)iface;
	}
	return 0;
}

static int parse_routes(json_t *arr, struct cni_result *out, struct k8c_error *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		struct cni_route *rt;
		long long mtu, advmss, prio, table, scope;

		if (!json_is_object(v))
			return k8c_error_set(err, CNI_ERR_DECODE, "routes[%zu]: expected an object",
					     i);
		rt = cni_result_add_route(out);
		if (parse_addr(v, "dst", 1, true, &rt->dst, NULL, err) < 0 ||
		    parse_addr(v, "gw", 0, false, &rt->gw, &rt->has_gw, err) < 0 ||
		    k8c_json_int(v, "mtu", &mtu, 0, err) < 0 ||
		    k8c_json_int(v, "advmss", &advmss, 0, err) < 0 ||
		    k8c_json_int(v, "priority", &prio, 0, err) < 0 ||
		    k8c_json_int(v, "table", &table, 0, err) < 0 ||
		    k8c_json_int(v, "scope", &scope, -1, err) < 0) {
			err->code = CNI_ERR_DECODE;
			return k8c_error_wrap(err, "routes[%zu]", i);
		}
		rt->mtu = (int)mtu;
		rt->advmss = (int)advmss;
		rt->priority = (int)prio;
		rt->table = (int)table;
		rt->has_scope = scope >= 0;
		rt->scope = rt->has_scope ? (int)scope : 0;
	}
	return 0;
}

int cni_result_parse(json_t *j, struct cni_result *out, struct k8c_error *err)
{
	json_t *ifaces, *ips, *routes, *dns;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return k8c_error_set(err, CNI_ERR_DECODE, "result: expected an object");
	if (k8c_json_array(j, "interfaces", &ifaces, err) < 0 ||
	    k8c_json_array(j, "ips", &ips, err) < 0 ||
	    k8c_json_array(j, "routes", &routes, err) < 0 ||
	    k8c_json_object(j, "dns", &dns, err) < 0) {
		err->code = CNI_ERR_DECODE;
		goto fail;
	}
	if ((ifaces && parse_interfaces(ifaces, out, err) < 0) ||
	    (ips && parse_ips(ips, out, err) < 0) || (routes && parse_routes(routes, out, err) < 0))
		goto fail;
	if (dns && json_object_size(dns) > 0)
		out->dns = json_incref(dns);
	return 0;
fail:
	cni_result_free(out);
	return -1;
}

json_t *cni_result_to_json(const struct cni_result *r, const char *version)
{
	bool v1 = cni_version_cmp(version, "1.0.0") >= 0;
	bool v11 = cni_version_cmp(version, "1.1.0") >= 0;
	json_t *res = json_object(), *arr;
	char buf[K8C_IPNET_STRLEN];
	size_t i;

	json_object_set_new(res, "cniVersion", json_string(version));
	if (r->n_interfaces) {
		arr = json_array();
		for (i = 0; i < r->n_interfaces; i++) {
			const struct cni_interface *in = &r->interfaces[i];
			json_t *o = json_object();

			json_object_set_new(o, "name", json_string(in->name ? in->name : ""));
			if (in->mac)
				json_object_set_new(o, "mac", json_string(in->mac));
			if (v11 && in->mtu)
				json_object_set_new(o, "mtu", json_integer(in->mtu));
			if (in->sandbox)
				json_object_set_new(o, "sandbox", json_string(in->sandbox));
			if (v11 && in->socket_path)
				json_object_set_new(o, "socketPath", json_string(in->socket_path));
			if (v11 && in->pci_id)
				json_object_set_new(o, "pciID", json_string(in->pci_id));
			json_array_append_new(arr, o);
		}
		json_object_set_new(res, "interfaces", arr);
	}
	if (r->n_ips) {
		arr = json_array();
		for (i = 0; i < r->n_ips; i++) {
			const struct cni_ipconfig *ip = &r->ips[i];
			json_t *o = json_object();

			if (!v1)
				json_object_set_new(
					o, "version",
					json_string(ip->address.family == AF_INET ? "4" : "6"));
			if (ip->interface >= 0)
				json_object_set_new(o, "interface", json_integer(ip->interface));
			json_object_set_new(o, "address",
					    json_string(k8c_ipnet_format(&ip->address, buf)));
			if (ip->has_gateway)
				json_object_set_new(o, "gateway",
						    json_string(k8c_ip_format(&ip->gateway, buf)));
			json_array_append_new(arr, o);
		}
		json_object_set_new(res, "ips", arr);
	}
	if (r->n_routes) {
		arr = json_array();
		for (i = 0; i < r->n_routes; i++) {
			const struct cni_route *rt = &r->routes[i];
			json_t *o = json_object();

			json_object_set_new(o, "dst", json_string(k8c_ipnet_format(&rt->dst, buf)));
			if (rt->has_gw)
				json_object_set_new(o, "gw",
						    json_string(k8c_ip_format(&rt->gw, buf)));
			if (v11) {
				if (rt->mtu)
					json_object_set_new(o, "mtu", json_integer(rt->mtu));
				if (rt->advmss)
					json_object_set_new(o, "advmss", json_integer(rt->advmss));
				if (rt->priority)
					json_object_set_new(o, "priority",
							    json_integer(rt->priority));
				if (rt->table)
					json_object_set_new(o, "table", json_integer(rt->table));
				if (rt->has_scope)
					json_object_set_new(o, "scope", json_integer(rt->scope));
			}
			json_array_append_new(arr, o);
		}
		json_object_set_new(res, "routes", arr);
	}
	/* The reference (types/100) always prints "dns": {} even when empty. */
	json_object_set_new(res, "dns", r->dns ? json_deep_copy(r->dns) : json_object());
	return res;
}

json_t *cni_error_json(const char *version, int code, const char *msg, const char *details)
{
	json_t *o = json_object();

	json_object_set_new(o, "cniVersion",
			    json_string(version && *version ? version : CNI_LATEST_VERSION));
	json_object_set_new(o, "code", json_integer(code));
	json_object_set_new(o, "msg", json_string(msg ? msg : ""));
	if (details && *details)
		json_object_set_new(o, "details", json_string(details));
	return o;
}

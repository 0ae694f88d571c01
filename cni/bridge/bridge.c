#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "br_config.h"
#include "br_link.h"
#include "bridge.h"
#include "cleanup.h"
#include "detach.h"
#include "nft_batch.h"
#include "ipam_exec.h"
#include "netns.h"
#include "nft_macspoof.h"
#include "nft_masq.h"

#define DAD_TIMEOUT_MS 10000

static const char *const known_args[] = {"MAC",		 "K8S_POD_NAMESPACE",
					 "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID",
					 "K8S_POD_UID",	 NULL};

const struct cni_plugin bridge_plugin = {
	.name = "k8c-bridge",
	.about = "Connects the container to a Linux bridge on the host through a veth pair, with "
		 "addresses from a delegated IPAM plugin (e.g. k8c-host-local), optional gateway "
		 "on the bridge and masquerade through nftables. Accepts every option of the "
		 "reference bridge plugin; see docs/cni.md.",
	.known_args = known_args,
	.needs_netns = true,
	.add = bridge_add,
	.del = bridge_del,
	.check = bridge_check,
	.status = bridge_status,
	.gc = bridge_gc,
};

/* A container-side route socket: sockets stay bound to the netns they were made in. */
static struct nl_sock *open_in_netns(int ns_fd, struct k8c_error *err)
{
	int saved = -1;
	struct nl_sock *sk;

	if (k8c_netns_enter(ns_fd, &saved, err) < 0)
		return NULL;
	sk = br_nl_open(err);
	k8c_netns_restore(&saved);
	return sk;
}

static int open_container_netns(const struct cni_request *req, struct k8c_error *err)
{
	int fd = open(req->netns, O_RDONLY | O_CLOEXEC);

	struct statfs st;

	if (fd < 0)
		return k8c_error_errno(err, CNI_ERR_INVALID_ENV, errno,
				       "CNI_NETNS %s: cannot open network namespace", req->netns);
	if (fstatfs(fd, &st) < 0 || (st.f_type != NSFS_MAGIC && st.f_type != PROC_SUPER_MAGIC)) {
		close(fd);
		return k8c_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_NETNS %s is not a network namespace", req->netns);
	}
	return fd;
}

static void gateway_of(const struct k8c_ipnet *addr, struct k8c_ipnet *gw)
{
	*gw = *addr;
	k8c_ipnet_mask(gw);
	k8c_ip_add(gw, 1);
	gw->prefix = -1;
}

static bool is_default(const struct k8c_ipnet *dst)
{
	static const unsigned char zero[16];

	return dst->prefix == 0 && !memcmp(dst->addr, zero, k8c_ip_len(dst->family));
}

/* The reference's calcGateways: fill missing gateways, add default routes, collect bridge
 * addresses. */
static void calc_gateways(const struct br_config *c, struct cni_result *r, struct k8c_ipnet *gws,
			  size_t *n_gws)
{
	bool have_default[2] = {false, false};
	size_t i, j;

	*n_gws = 0;
	for (i = 0; i < r->n_routes; i++)
		if (is_default(&r->routes[i].dst) && r->routes[i].has_gw)
			have_default[r->routes[i].dst.family == AF_INET6] = true;
	for (i = 0; i < r->n_ips; i++) {
		struct cni_ipconfig *ip = &r->ips[i];
		int v6 = ip->address.family == AF_INET6;

		ip->interface = 2;
		if (!ip->has_gateway && c->is_gateway) {
			gateway_of(&ip->address, &ip->gateway);
			ip->has_gateway = true;
		}
		if (c->is_default_gateway && !have_default[v6]) {
			struct cni_route *rt = cni_result_add_route(r);

			memset(&rt->dst, 0, sizeof(rt->dst));
			rt->dst.family = ip->address.family;
			rt->dst.prefix = 0;
			rt->has_gw = ip->has_gateway;
			rt->gw = ip->gateway;
			have_default[v6] = true;
		}
		if (c->is_gateway && ip->has_gateway) {
			struct k8c_ipnet g = ip->gateway;

			g.prefix = ip->address.prefix;
			for (j = 0; j < *n_gws; j++)
				if (k8c_ipnet_equal(&gws[j], &g))
					break;
			if (j == *n_gws)
				gws[(*n_gws)++] = g;
		}
	}
}

static int enable_forwarding(int family, struct k8c_error *err)
{
	const char *key =
		family == AF_INET ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding";
	char cur[16];

	if (k8c_sysctl_read(key, cur, sizeof(cur), NULL) == 0 && !strcmp(cur, "1"))
		return 0;
	return k8c_sysctl_write(key, "1", err);
}

/* A route without "gw" goes through the gateway of its family's address, as the reference's
 * ipam.ConfigureIface does; the result keeps the route as IPAM gave it. */
static struct cni_route route_with_gateway(const struct cni_result *r, const struct cni_route *rt)
{
	struct cni_route out = *rt;
	size_t i;

	if (out.has_gw)
		return out;
	for (i = 0; i < r->n_ips; i++)
		if (r->ips[i].address.family == rt->dst.family && r->ips[i].has_gateway) {
			out.gw = r->ips[i].gateway;
			out.has_gw = true;
			break;
		}
	return out;
}

/* Everything inside the container: sysctls, addresses, up, routes, DAD; reads back the MAC. */
static int configure_container(const struct br_config *c, const struct cni_request *req, int ns_fd,
			       struct nl_sock *cont, const struct cni_result *r,
			       struct br_link_info *ci, struct k8c_error *err)
{
	char key[128];
	bool v6 = false;
	int saved = -1, ret = -1;
	size_t i;

	if (br_link_get(cont, req->ifname, 0, ci, err) != 0)
		return k8c_error_set(err, 0, "container interface %s not found after creation",
				     req->ifname);
	for (i = 0; i < r->n_ips; i++)
		v6 |= r->ips[i].address.family == AF_INET6;
	if (k8c_netns_enter(ns_fd, &saved, err) < 0)
		return -1;
	if (v6) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", req->ifname);
		k8c_sysctl_write(key, c->enable_dad ? "1" : "0", NULL);
		if (c->enable_dad) {
			snprintf(key, sizeof(key), "net/ipv6/conf/%s/enhanced_dad", req->ifname);
			k8c_sysctl_write(key, "1", NULL);
		}
	}
	snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", req->ifname);
	k8c_sysctl_write(key, "1", NULL);
	k8c_netns_restore(&saved);

	for (i = 0; i < r->n_ips; i++)
		if (br_addr_add(cont, ci->ifindex, &r->ips[i].address, !c->enable_dad, err) < 0)
			goto out;
	if (!c->disable_container_interface && br_link_set_up(cont, ci->ifindex, true, err) < 0)
		goto out;
	for (i = 0; i < r->n_routes; i++) {
		struct cni_route rt = route_with_gateway(r, &r->routes[i]);

		if (br_route_add(cont, ci->ifindex, &rt, err) < 0)
			goto out;
	}
	if (v6 && c->enable_dad && br_wait_dad(cont, ci->ifindex, DAD_TIMEOUT_MS, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		k8c_error_wrap(err, "container interface %s", req->ifname);
	return ret;
}

/* With vlan and isGateway the gateway lives on "<bridge>.<vlan>", a veth into the VLAN. */
static int vlan_gateway_link(struct nl_sock *host, const struct br_config *c,
			     const struct br_link_info *br, struct br_link_info *out,
			     struct k8c_error *err)
{
	char name[32];
	struct br_link_info port;
	_cleanup_close_ int self = -1;
	int ret;

	snprintf(name, sizeof(name), "%s.%d", c->bridge, c->vlan);
	if (strlen(name) > 15)
		return k8c_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "VLAN gateway interface name \"%s\" is longer than 15 "
				     "characters (shorten \"bridge\")",
				     name);
	ret = br_link_get(host, name, 0, out, err);
	if (ret <= 0)
		return ret;
	self = k8c_netns_open("/proc/thread-self/ns/net", err);
	if (self < 0)
		return -1;
	if (br_veth_create(host, host, self, name, c->mtu, NULL, br->ifindex, NULL, &port, err) <
		    0 ||
	    br_port_configure(host, port.ifindex, c, err) < 0 ||
	    br_link_get(host, name, 0, out, err) != 0 ||
	    br_link_set_up(host, out->ifindex, true, err) < 0)
		return k8c_error_wrap(err, "VLAN gateway %s", name);
	return 0;
}

static void result_ips(const struct cni_result *r, struct k8c_ipnet **ips, size_t *n)
{
	size_t i;

	*ips = k8c_xcalloc(r->n_ips ? r->n_ips : 1, sizeof(**ips));
	*n = 0;
	for (i = 0; i < r->n_ips; i++)
		(*ips)[(*n)++] = r->ips[i].address;
}

int bridge_add(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct br_config c;
	struct cni_result r = {0};
	struct br_link_info br, host, cont_if, vlan_if;
	_cleanup_close_ int ns_fd = -1;
	_cleanup_nl_ struct nl_sock *hsk = NULL, *csk = NULL;
	_cleanup_free_ char *alias = NULL;
	_cleanup_free_ struct k8c_ipnet *ips = NULL;
	struct k8c_ipnet gws[16];
	size_t n_gws = 0, n_ips = 0, i;
	bool ipam_done = false, veth_done = false, spoof_done = false, masq_done = false;
	bool have_vlan_if = false;
	int ret = -1, idx;

	if (br_config_parse(req, &c, err) < 0)
		return -1;
	ns_fd = open_container_netns(req, err);
	if (ns_fd < 0)
		goto out;
	hsk = br_nl_open(err);
	if (!hsk)
		goto out;
	csk = open_in_netns(ns_fd, err);
	if (!csk)
		goto out;
	if (br_bridge_ensure(hsk, &c, &br, err) < 0)
		goto out;
	alias = br_veth_alias(req->name, req->container_id, req->ifname);
	if (br_veth_create(hsk, csk, ns_fd, req->ifname, c.mtu, c.mac, br.ifindex, alias, &host,
			   err) < 0)
		goto out;
	veth_done = true;
	if (br_port_configure(hsk, host.ifindex, &c, err) < 0) {
		k8c_error_wrap(err, "bridge port %s", host.name);
		goto out;
	}
	if (c.ipam_type) {
		_cleanup_json_ json_t *ipam_res = NULL;

		if (cni_ipam_exec(req, c.ipam_type, "ADD", &ipam_res, err) < 0)
			goto out;
		ipam_done = true;
		if (!ipam_res || cni_result_parse(ipam_res, &r, err) < 0) {
			if (!ipam_res)
				k8c_error_set(err, CNI_ERR_DECODE,
					      "IPAM plugin %s returned nothing", c.ipam_type);
			goto out;
		}
		if (!r.n_ips) {
			k8c_error_set(err, CNI_ERR_PLUGIN, "IPAM plugin %s returned no IP config",
				      c.ipam_type);
			goto out;
		}
		/* Our result rebuilds interfaces (calc_gateways points ips at index 2); an IPAM
		 * result has none by the spec. */
		cni_result_drop_interfaces(&r);
		if (r.n_ips > sizeof(gws) / sizeof(gws[0])) {
			k8c_error_set(err, CNI_ERR_PLUGIN,
				      "IPAM returned %zu addresses (at most %zu)", r.n_ips,
				      sizeof(gws) / sizeof(gws[0]));
			goto out;
		}
		calc_gateways(&c, &r, gws, &n_gws);
	}
	if (configure_container(&c, req, ns_fd, csk, &r, &cont_if, err) < 0)
		goto out;
	if (c.macspoofchk) {
		if (cni_macspoof_add(req->name, req->container_id, req->ifname, host.name,
				     cont_if.mac, err) < 0) {
			k8c_error_wrap(err, "macspoofchk");
			goto out;
		}
		spoof_done = true;
	}
	if (c.is_gateway) {
		for (i = 0; i < n_gws; i++) {
			const struct br_link_info *gl = &br;

			if (c.vlan) {
				if (!have_vlan_if &&
				    vlan_gateway_link(hsk, &c, &br, &vlan_if, err) < 0)
					goto out;
				have_vlan_if = true;
				gl = &vlan_if;
			}
			if (br_gateway_ensure(hsk, gl, &gws[i], c.force_address, err) < 0)
				goto out;
			if (enable_forwarding(gws[i].family, err) < 0)
				goto out;
		}
	}
	if (c.ip_masq && r.n_ips) {
		result_ips(&r, &ips, &n_ips);
		if (cni_masq_add(req->name, req->container_id, req->ifname, ips, n_ips,
				 c.masq_except, c.n_masq_except, err) < 0) {
			k8c_error_wrap(err, "ipMasq");
			goto out;
		}
		masq_done = true;
	}
	/* The bridge's MAC is pinned, so what we read at the start is what it is now. */
	cni_result_add_interface(&r, br.name, br.mac, NULL);
	idx = cni_result_add_interface(&r, host.name, host.mac, NULL);
	idx = cni_result_add_interface(&r, req->ifname, cont_if.mac, req->netns);
	if (c.mtu)
		r.interfaces[idx].mtu = c.mtu;
	if (have_vlan_if)
		cni_result_add_interface(&r, vlan_if.name, vlan_if.mac, NULL);
	if (c.dns && json_object_size(c.dns)) {
		json_decref(r.dns);
		r.dns = json_incref(c.dns);
	}
	*result = cni_result_to_json(&r, req->version);
	ret = 0;
out:
	if (ret < 0) {
		struct k8c_error ignore = K8C_ERROR_INIT;

		/* Leave nothing behind: undo in reverse order, errors of the undo are secondary. */
		if (masq_done)
			cni_masq_del(req->name, req->container_id, req->ifname, ips, n_ips,
				     &ignore);
		if (spoof_done)
			cni_macspoof_del(req->name, req->container_id, req->ifname, &ignore);
		if (veth_done)
			br_link_del(hsk, host.ifindex, &ignore);
		if (ipam_done) {
			_cleanup_json_ json_t *unused = NULL;

			cni_ipam_exec(req, c.ipam_type, "DEL", &unused, &ignore);
		}
		k8c_error_clear(&ignore);
	}
	cni_result_free(&r);
	br_config_free(&c);
	return ret;
}

/* The container's addresses for masquerade teardown: prevResult first, else the link. */
static void del_ips_from_prev(const struct cni_request *req, struct k8c_ipnet **ips, size_t *n)
{
	struct cni_result prev;

	*ips = NULL;
	*n = 0;
	if (!req->prev_result || cni_result_parse(req->prev_result, &prev, NULL) < 0)
		return;
	if (prev.n_ips)
		result_ips(&prev, ips, n);
	cni_result_free(&prev);
}

int bridge_del(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct br_config c;
	_cleanup_free_ struct k8c_ipnet *ips = NULL;
	_cleanup_close_ int ns_fd = -1;
	_cleanup_nl_ struct nl_sock *csk = NULL, *hsk = NULL;
	struct br_link_info ci = {0};
	size_t n_ips = 0;
	int ret = -1;

	if (br_config_parse(req, &c, err) < 0)
		return -1;
	/* The nftables sockets of this DEL are closed by the detached process that deletes the
	 * veth pair (see nft_defer_close()): closing them here would wait for a grace period. */
	nft_defer_close(true);
	if (c.ipam_type) {
		_cleanup_json_ json_t *unused = NULL;

		if (cni_ipam_exec(req, c.ipam_type, "DEL", &unused, err) < 0)
			goto out;
	}
	del_ips_from_prev(req, &ips, &n_ips);
	if (req->netns) {
		/* A netns that is gone took the veth pair with it; that is not an error. */
		ns_fd = open(req->netns, O_RDONLY | O_CLOEXEC);
		if (ns_fd < 0 && errno != ENOENT) {
			k8c_error_errno(err, CNI_ERR_IO, errno, "open netns %s", req->netns);
			goto out;
		}
	}
	if (ns_fd >= 0) {
		csk = open_in_netns(ns_fd, err);
		if (!csk || br_link_get(csk, req->ifname, 0, &ci, err) < 0)
			goto out;
		if (!strcmp(ci.kind, "veth") && !ips)
			br_addr_list(csk, ci.ifindex, AF_UNSPEC, &ips, &n_ips, NULL);
	}
	/* Without a netns or prevResult the rules are found by their owner: the reference
	 * leaks them here (containernetworking/plugins#810). */
	if (c.ip_masq && cni_masq_del(req->name, req->container_id, req->ifname, n_ips ? ips : NULL,
				      n_ips, err) < 0) {
		k8c_error_wrap(err, "ipMasq");
		goto out;
	}
	if (c.macspoofchk && cni_macspoof_del(req->name, req->container_id, req->ifname, err) < 0) {
		k8c_error_wrap(err, "macspoofchk");
		goto out;
	}
	if (ci.ifindex > 0 && !strcmp(ci.kind, "veth")) {
		hsk = br_nl_open(NULL);
		if (br_link_retire(csk, ci.ifindex, hsk, ci.peer_ifindex, err) < 0)
			goto out;
	} else if (nft_have_deferred()) {
		k8c_detach(NULL, NULL);
	}
	ret = 0;
out:
	nft_close_deferred();
	nft_defer_close(false);
	br_config_free(&c);
	return ret;
}

static int check_ips_and_routes(struct nl_sock *csk, const struct br_link_info *ci,
				const struct cni_result *prev, struct k8c_error *err)
{
	_cleanup_free_ struct k8c_ipnet *have = NULL;
	char buf[K8C_IPNET_STRLEN];
	size_t n = 0, i, j;

	if (br_addr_list(csk, ci->ifindex, AF_UNSPEC, &have, &n, err) < 0)
		return -1;
	for (i = 0; i < prev->n_ips; i++) {
		for (j = 0; j < n; j++)
			if (k8c_ipnet_equal(&have[j], &prev->ips[i].address))
				break;
		if (j == n)
			return k8c_error_set(err, 0, "address %s is missing on %s",
					     k8c_ipnet_format(&prev->ips[i].address, buf),
					     ci->name);
	}
	for (i = 0; i < prev->n_routes; i++) {
		bool found = false;
		struct cni_route rt = route_with_gateway(prev, &prev->routes[i]);

		if (br_route_exists(csk, ci->ifindex, &rt, &found, err) < 0)
			return -1;
		if (!found)
			return k8c_error_set(
				err, 0, "route to %s%s%s is missing",
				k8c_ipnet_format(&rt.dst, buf), rt.has_gw ? " via " : "",
				rt.has_gw ? k8c_ip_format(&rt.gw, (char[K8C_IPNET_STRLEN]){0})
					  : "");
	}
	return 0;
}

int bridge_check(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct br_config c;
	struct cni_result prev = {0};
	struct br_link_info br, ci, hv;
	_cleanup_close_ int ns_fd = -1;
	_cleanup_nl_ struct nl_sock *hsk = NULL, *csk = NULL;
	_cleanup_free_ struct k8c_ipnet *ips = NULL;
	const struct cni_interface *want_br = NULL, *want_c = NULL, *want_h = NULL;
	size_t i, n_ips = 0;
	int ret = -1;

	if (br_config_parse(req, &c, err) < 0)
		return -1;
	if (c.ipam_type) {
		_cleanup_json_ json_t *unused = NULL;

		if (cni_ipam_exec(req, c.ipam_type, "CHECK", &unused, err) < 0)
			goto out;
	}
	if (!req->prev_result) {
		k8c_error_set(err, CNI_ERR_INVALID_CONFIG, "CHECK: required prevResult missing");
		goto out;
	}
	if (cni_result_parse(req->prev_result, &prev, err) < 0) {
		k8c_error_wrap(err, "prevResult");
		goto out;
	}
	for (i = 0; i < prev.n_interfaces; i++) {
		const struct cni_interface *in = &prev.interfaces[i];

		if (!strcmp(in->name, c.bridge) && !in->sandbox)
			want_br = in;
		else if (!strcmp(in->name, req->ifname) && in->sandbox &&
			 !strcmp(in->sandbox, req->netns))
			want_c = in;
		else if (!in->sandbox && !want_h)
			want_h = in;
	}
	if (!want_c) {
		k8c_error_set(err, 0, "prevResult has no interface %s in sandbox %s", req->ifname,
			      req->netns);
		goto out;
	}
	ns_fd = open_container_netns(req, err);
	if (ns_fd < 0)
		goto out;
	hsk = br_nl_open(err);
	if (!hsk || !(csk = open_in_netns(ns_fd, err)))
		goto out;
	if (br_link_get(hsk, c.bridge, 0, &br, err) != 0 || strcmp(br.kind, "bridge")) {
		k8c_error_set(err, 0, "bridge %s not found", c.bridge);
		goto out;
	}
	if (want_br && want_br->mac && strcmp(want_br->mac, br.mac)) {
		k8c_error_set(err, 0, "bridge %s MAC is %s, prevResult has %s", c.bridge, br.mac,
			      want_br->mac);
		goto out;
	}
	if (br.promisc != c.promisc_mode) {
		k8c_error_set(err, 0, "bridge %s promiscuous mode is %s, config wants %s", c.bridge,
			      br.promisc ? "on" : "off", c.promisc_mode ? "on" : "off");
		goto out;
	}
	if (br_link_get(csk, req->ifname, 0, &ci, err) != 0 || strcmp(ci.kind, "veth")) {
		k8c_error_set(err, 0, "container interface %s not found or not a veth",
			      req->ifname);
		goto out;
	}
	if (want_c->mac && strcmp(want_c->mac, ci.mac)) {
		k8c_error_set(err, 0, "container interface %s MAC is %s, prevResult has %s",
			      req->ifname, ci.mac, want_c->mac);
		goto out;
	}
	if (br_link_get(hsk, NULL, ci.peer_ifindex, &hv, err) != 0 ||
	    hv.peer_ifindex != ci.ifindex || hv.master != br.ifindex) {
		k8c_error_set(err, 0, "the veth peer of %s is not a port of bridge %s", req->ifname,
			      c.bridge);
		goto out;
	}
	if (want_h && want_h->mac && !strcmp(want_h->name, hv.name) &&
	    strcmp(want_h->mac, hv.mac)) {
		k8c_error_set(err, 0, "host veth %s MAC is %s, prevResult has %s", hv.name, hv.mac,
			      want_h->mac);
		goto out;
	}
	if (c.hairpin_mode || c.port_isolation) {
		bool hairpin = false, isolated = false;

		if (br_port_flags(hsk, hv.ifindex, &hairpin, &isolated, err) < 0)
			goto out;
		if (c.hairpin_mode && !hairpin) {
			k8c_error_set(err, 0, "hairpin mode is off on port %s", hv.name);
			goto out;
		}
		if (c.port_isolation && !isolated) {
			k8c_error_set(err, 0, "port %s is not isolated (portIsolation)", hv.name);
			goto out;
		}
	}
	if (check_ips_and_routes(csk, &ci, &prev, err) < 0)
		goto out;
	for (i = 0; c.is_gateway && i < prev.n_ips; i++) {
		const char *key = prev.ips[i].address.family == AF_INET
					  ? "net/ipv4/ip_forward"
					  : "net/ipv6/conf/all/forwarding";
		char v[16];

		if (k8c_sysctl_read(key, v, sizeof(v), err) < 0)
			goto out;
		if (strcmp(v, "1")) {
			k8c_error_set(err, 0, "sysctl %s is %s, isGateway needs 1", key, v);
			goto out;
		}
	}
	if (c.ip_masq && prev.n_ips) {
		result_ips(&prev, &ips, &n_ips);
		if (cni_masq_check(req->name, req->container_id, req->ifname, ips, n_ips,
				   c.masq_except, c.n_masq_except, err) < 0) {
			k8c_error_wrap(err, "ipMasq");
			goto out;
		}
	}
	if (c.macspoofchk && cni_macspoof_check(req->name, req->container_id, req->ifname, hv.name,
						ci.mac, err) < 0) {
		k8c_error_wrap(err, "macspoofchk");
		goto out;
	}
	ret = 0;
out:
	cni_result_free(&prev);
	br_config_free(&c);
	return ret;
}

int bridge_status(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct br_config c;
	_cleanup_json_ json_t *unused = NULL;
	int ret = 0;

	if (br_config_parse(req, &c, err) < 0)
		return -1;
	if (c.ipam_type)
		ret = cni_ipam_exec(req, c.ipam_type, "STATUS", &unused, err);
	br_config_free(&c);
	return ret;
}

static bool keep_attachment(const char *container_id, const char *ifname, void *arg)
{
	return cni_gc_attachment_valid(arg, container_id, ifname);
}

int bridge_gc(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct br_config c;
	_cleanup_nl_ struct nl_sock *hsk = NULL;
	_cleanup_json_ json_t *unused = NULL;
	size_t masq_removed = 0, spoof_removed = 0;
	int removed = 0, ret = -1;

	if (br_config_parse(req, &c, err) < 0)
		return -1;
	if (!req->name || !*req->name) {
		k8c_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "network configuration: missing \"name\"");
		goto out;
	}
	/* Host veths left by a container whose netns vanished without a DEL. */
	hsk = br_nl_open(err);
	if (!hsk || br_gc_veths(hsk, req->name, keep_attachment, req, &removed, err) < 0)
		goto out;
	if (cni_masq_gc(req->name, keep_attachment, req, &masq_removed, err) < 0) {
		k8c_error_wrap(err, "ipMasq");
		goto out;
	}
	if (cni_macspoof_gc(req->name, keep_attachment, req, &spoof_removed, err) < 0) {
		k8c_error_wrap(err, "macspoofchk");
		goto out;
	}
	if (c.ipam_type && cni_ipam_exec(req, c.ipam_type, "GC", &unused, err) < 0)
		goto out;
	ret = 0;
out:
	br_config_free(&c);
	return ret;
}

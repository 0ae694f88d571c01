/*
 * `k8c up --pod-network vxlan` (docs/up.md "Pod networks"): a VXLAN overlay between the node
 * namespaces instead of host-gw routes, made with libnl-route-3. In each node's namespace:
 *
 *   k8cvx0   vxlan VNI 1, UDP 4789, local = the node's InternalIP over k8cu0, no learning, a MAC
 *            of its own (02:6b:38:<cluster hash>:<node>), MTU 1500 (the underlay links carry
 *            1550, so pods' 1500-byte packets are not fragmented), address <podCIDR>.0/32 (the
 *            node's VTEP address, as flannel does)
 *   for every other node j:
 *     neighbour  <podCIDR j>.0 -> MAC j on k8cvx0 (permanent: no ARP over the overlay)
 *     fdb        MAC j -> dst InternalIP j (permanent, on the vxlan device itself)
 *     route      <podCIDR j> via <podCIDR j>.0 dev k8cvx0 onlink
 *
 * Everything is inside the node namespaces; the vxlan packets cross the underlay bridge only.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cluster.h"

#define VXLAN_DEV  NET_VXLAN_DEV
#define VXLAN_VNI  1
#define VXLAN_PORT 4789

K8C_DEFINE_CLEANUP(vx_put_link, struct rtnl_link, rtnl_link_put)
K8C_DEFINE_CLEANUP(vx_put_addr, struct rtnl_addr, rtnl_addr_put)
K8C_DEFINE_CLEANUP(vx_put_nladdr, struct nl_addr, nl_addr_put)
K8C_DEFINE_CLEANUP(vx_put_route, struct rtnl_route, rtnl_route_put)
K8C_DEFINE_CLEANUP(vx_put_neigh, struct rtnl_neigh, rtnl_neigh_put)
K8C_DEFINE_CLEANUP(vx_put_sock, struct nl_sock, nl_socket_free)
#define _cleanup_link_	 __attribute__((cleanup(vx_put_link)))
#define _cleanup_addr_	 __attribute__((cleanup(vx_put_addr)))
#define _cleanup_nladdr_ __attribute__((cleanup(vx_put_nladdr)))
#define _cleanup_route_	 __attribute__((cleanup(vx_put_route)))
#define _cleanup_neigh_	 __attribute__((cleanup(vx_put_neigh)))
#define _cleanup_sock_	 __attribute__((cleanup(vx_put_sock)))

static int nlfail(struct k8c_error *err, int ret, const char *what, const char *node)
{
	return k8c_error_set(err, 0, "node %s: %s: %s", node, what,
			     nl_geterror(ret < 0 ? -ret : ret));
}

/* The node's VTEP MAC: locally administered, the cluster's hash and the node's index. */
static struct nl_addr *vtep_mac(const struct cluster *c, int i)
{
	unsigned h = 2166136261u;
	unsigned char mac[6];

	for (const char *s = c->name; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 0x6b;
	mac[2] = (unsigned char)(h >> 16);
	mac[3] = (unsigned char)(h >> 8);
	mac[4] = (unsigned char)(h & 0xff);
	mac[5] = (unsigned char)(i + 1);
	return nl_addr_build(AF_LLC, mac, sizeof(mac));
}

/* "<podCIDR's network>.0" (the VTEP address of that node), with prefix plen. */
static struct nl_addr *vtep_ip(const char *pod_cidr, int plen)
{
	char buf[48], *slash;
	struct nl_addr *a = NULL;

	snprintf(buf, sizeof(buf), "%s", pod_cidr);
	if ((slash = strchr(buf, '/')))
		*slash = 0;
	if (nl_addr_parse(buf, AF_INET, &a) < 0)
		return NULL;
	nl_addr_set_prefixlen(a, plen);
	return a;
}

/* In the node's namespace (entered): the device, up, without an address yet (the node has no
 * podCIDR before its agent registers). Made with the node, before its proxy starts: the eBPF
 * proxy attaches its tc programs to the interfaces that exist at its start. */
static int vxlan_device_here(const struct cluster *c, int i, struct k8c_error *err)
{
	const struct cluster_node *n = &c->nodes[i];
	_cleanup_sock_ struct nl_sock *sk = nl_socket_alloc();
	_cleanup_link_ struct rtnl_link *link = NULL;
	_cleanup_nladdr_ struct nl_addr *local = NULL, *mac = vtep_mac(c, i);
	int ret, under = (int)if_nametoindex("k8cu0"), vx;

	if (!sk || !mac)
		abort();
	if ((ret = nl_connect(sk, NETLINK_ROUTE)) < 0)
		return nlfail(err, ret, "netlink socket", n->name);
	if (!under)
		return k8c_error_set(err, 0, "node %s: no link k8cu0", n->name);
	if ((ret = nl_addr_parse(n->ip, AF_INET, &local)) < 0)
		return nlfail(err, ret, n->ip, n->name);
	if (!(link = rtnl_link_vxlan_alloc()))
		abort();
	rtnl_link_set_name(link, VXLAN_DEV);
	rtnl_link_set_addr(link, mac);
	rtnl_link_set_mtu(link, 1500);
	rtnl_link_set_flags(link, IFF_UP);
	if ((ret = rtnl_link_vxlan_set_id(link, VXLAN_VNI)) < 0 ||
	    (ret = rtnl_link_vxlan_set_local(link, local)) < 0 ||
	    (ret = rtnl_link_vxlan_set_link(link, (uint32_t)under)) < 0 ||
	    (ret = rtnl_link_vxlan_set_port(link, VXLAN_PORT)) < 0 ||
	    (ret = rtnl_link_vxlan_set_learning(link, 0)) < 0)
		return nlfail(err, ret, "vxlan attributes", n->name);
	if ((ret = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL)) < 0)
		return nlfail(err, ret, "add link " VXLAN_DEV, n->name);
	if (!(vx = (int)if_nametoindex(VXLAN_DEV)))
		return k8c_error_set(err, 0, "node %s: %s not there after its creation", n->name,
				     VXLAN_DEV);
	/* make sure it is up (some kernels ignore IFF_UP on creation) */
	{
		_cleanup_link_ struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();

		rtnl_link_set_ifindex(orig, vx);
		rtnl_link_set_flags(chg, IFF_UP);
		if ((ret = rtnl_link_change(sk, orig, chg, 0)) < 0)
			return nlfail(err, ret, "set " VXLAN_DEV " up", n->name);
	}
	return 0;
}

/* In the node's namespace (entered), once the nodes have podCIDRs: the device's address and the
 * entries of its peers. */
static int vxlan_peers_here(const struct cluster *c, int i, struct k8c_error *err)
{
	const struct cluster_node *n = &c->nodes[i];
	_cleanup_sock_ struct nl_sock *sk = nl_socket_alloc();
	_cleanup_nladdr_ struct nl_addr *me = NULL;
	_cleanup_addr_ struct rtnl_addr *addr = NULL;
	int ret, vx;

	if (!sk)
		abort();
	if ((ret = nl_connect(sk, NETLINK_ROUTE)) < 0)
		return nlfail(err, ret, "netlink socket", n->name);
	if (!(vx = (int)if_nametoindex(VXLAN_DEV)))
		return k8c_error_set(err, 0, "node %s: no link %s", n->name, VXLAN_DEV);
	if (!(me = vtep_ip(n->pod_cidr, 32)) || !(addr = rtnl_addr_alloc()))
		return k8c_error_set(err, 0, "node %s: podCIDR \"%s\"", n->name, n->pod_cidr);
	rtnl_addr_set_ifindex(addr, vx);
	rtnl_addr_set_local(addr, me);
	if ((ret = rtnl_addr_add(sk, addr, 0)) < 0 && ret != -NLE_EXIST)
		return nlfail(err, ret, "address on " VXLAN_DEV, n->name);

	for (int j = 0; j < c->n_nodes; j++) {
		const struct cluster_node *o = &c->nodes[j];
		_cleanup_nladdr_ struct nl_addr *omac = vtep_mac(c, j), *ovtep = NULL, *oip = NULL,
						*dst = NULL;
		_cleanup_neigh_ struct rtnl_neigh *nb = rtnl_neigh_alloc(),
						  *fdb = rtnl_neigh_alloc();
		_cleanup_route_ struct rtnl_route *rt = rtnl_route_alloc();
		struct rtnl_nexthop *nh = rtnl_route_nh_alloc();

		if (j == i || !o->pod_cidr[0]) {
			rtnl_route_nh_free(nh);
			continue;
		}
		if (!omac || !nb || !fdb || !rt || !nh)
			abort();
		if (!(ovtep = vtep_ip(o->pod_cidr, 32)) ||
		    nl_addr_parse(o->ip, AF_INET, &oip) < 0 ||
		    nl_addr_parse(o->pod_cidr, AF_INET, &dst) < 0) {
			rtnl_route_nh_free(nh);
			return k8c_error_set(err, 0, "node %s: addresses of %s", n->name, o->name);
		}
		/* the peer's VTEP address resolves to its MAC without ARP */
		rtnl_neigh_set_ifindex(nb, vx);
		rtnl_neigh_set_dst(nb, ovtep);
		rtnl_neigh_set_lladdr(nb, omac);
		rtnl_neigh_set_state(nb, NUD_PERMANENT);
		if ((ret = rtnl_neigh_add(sk, nb, NLM_F_CREATE | NLM_F_REPLACE)) < 0) {
			rtnl_route_nh_free(nh);
			return nlfail(err, ret, "neighbour of the peer's VTEP", n->name);
		}
		/* frames to that MAC go to the peer's InternalIP */
		/* (the IPv4 dst first: libnl refuses a dst of another family than the entry's) */
		rtnl_neigh_set_dst(fdb, oip);
		rtnl_neigh_set_family(fdb, AF_BRIDGE);
		rtnl_neigh_set_ifindex(fdb, vx);
		rtnl_neigh_set_lladdr(fdb, omac);
		rtnl_neigh_set_flags(fdb, NTF_SELF);
		rtnl_neigh_set_state(fdb, NUD_PERMANENT);
		if ((ret = rtnl_neigh_add(sk, fdb, NLM_F_CREATE | NLM_F_REPLACE)) < 0) {
			rtnl_route_nh_free(nh);
			return nlfail(err, ret, "fdb entry of the peer", n->name);
		}
		rtnl_route_set_family(rt, AF_INET);
		rtnl_route_set_table(rt, RT_TABLE_MAIN);
		rtnl_route_set_protocol(rt, RTPROT_BOOT);
		rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
		rtnl_route_set_type(rt, RTN_UNICAST);
		if ((ret = rtnl_route_set_dst(rt, dst)) < 0) {
			rtnl_route_nh_free(nh);
			return nlfail(err, ret, o->pod_cidr, n->name);
		}
		rtnl_route_nh_set_ifindex(nh, vx);
		rtnl_route_nh_set_gateway(nh, ovtep);
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
		rtnl_route_add_nexthop(rt, nh); /* owned by the route now */
		if ((ret = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE)) < 0)
			return nlfail(err, ret, "route to the peer's podCIDR", n->name);
	}
	return 0;
}

struct vxlan_arg {
	const struct cluster *c;
	int i;
};

static int vxlan_device_cb(void *arg, struct k8c_error *err)
{
	const struct vxlan_arg *a = arg;

	return vxlan_device_here(a->c, a->i, err);
}

static int vxlan_peers_cb(void *arg, struct k8c_error *err)
{
	const struct vxlan_arg *a = arg;

	return vxlan_peers_here(a->c, a->i, err);
}

int net_vxlan_device(const struct cluster *c, int i, struct k8c_error *err)
{
	struct vxlan_arg a = {c, i};

	return net_in_netns(c->nodes[i].netns, vxlan_device_cb, &a, err);
}

int net_vxlan_node(const struct cluster *c, int i, struct k8c_error *err)
{
	struct vxlan_arg a = {c, i};

	return net_in_netns(c->nodes[i].netns, vxlan_peers_cb, &a, err);
}

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "br_link.h"
#include "cleanup.h"
#include "detach.h"

K8C_DEFINE_CLEANUP(put_link, struct rtnl_link, rtnl_link_put)
K8C_DEFINE_CLEANUP(put_addr, struct rtnl_addr, rtnl_addr_put)
K8C_DEFINE_CLEANUP(put_nladdr, struct nl_addr, nl_addr_put)
K8C_DEFINE_CLEANUP(put_route, struct rtnl_route, rtnl_route_put)
K8C_DEFINE_CLEANUP(free_cache, struct nl_cache, nl_cache_free)
K8C_DEFINE_CLEANUP(free_msg, struct nl_msg, nlmsg_free)
#define _cleanup_link_	 __attribute__((cleanup(put_link)))
#define _cleanup_addr_	 __attribute__((cleanup(put_addr)))
#define _cleanup_nladdr_ __attribute__((cleanup(put_nladdr)))
#define _cleanup_route_	 __attribute__((cleanup(put_route)))
#define _cleanup_cache_	 __attribute__((cleanup(free_cache)))
#define _cleanup_msg_	 __attribute__((cleanup(free_msg)))

static int nlerr(struct k8c_error *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int nlerr(struct k8c_error *err, int ret, const char *fmt, ...)
{
	char ctx[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return k8c_error_set(err, 0, "%s: %s", ctx, nl_geterror(ret < 0 ? -ret : ret));
}

struct nl_sock *br_nl_open(struct k8c_error *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		abort();
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret < 0) {
		nl_socket_free(sk);
		nlerr(err, ret, "netlink socket");
		return NULL;
	}
	return sk;
}

void br_nl_close(struct nl_sock **sk)
{
	if (*sk) {
		nl_socket_free(*sk);
		*sk = NULL;
	}
}

/* A link request: the netlink header and an ifinfomsg for ifindex (0: none) of family. */
static struct nl_msg *link_msg(int type, int nl_flags, int family, int ifindex,
			       unsigned int ifi_flags, unsigned int ifi_change)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, nl_flags);
	struct ifinfomsg ifi = {.ifi_family = (unsigned char)family,
				.ifi_index = ifindex,
				.ifi_flags = ifi_flags,
				.ifi_change = ifi_change};

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		abort();
	return msg;
}

static void format_mac(const unsigned char *b, char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static int link_reply_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	struct br_link_info *out = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return NL_SKIP;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->up = ifi->ifi_flags & IFF_UP;
	out->promisc = ifi->ifi_flags & IFF_PROMISC;
	if (tb[IFLA_IFNAME])
		snprintf(out->name, sizeof(out->name), "%s", nla_get_string(tb[IFLA_IFNAME]));
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6)
		format_mac(nla_data(tb[IFLA_ADDRESS]), out->mac);
	if (tb[IFLA_MASTER])
		out->master = (int)nla_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_IFALIAS])
		snprintf(out->alias, sizeof(out->alias), "%s", nla_get_string(tb[IFLA_IFALIAS]));
	if (tb[IFLA_LINK])
		out->peer_ifindex = (int)nla_get_u32(tb[IFLA_LINK]);
	if (tb[IFLA_LINKINFO] &&
	    nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0 &&
	    info[IFLA_INFO_KIND])
		snprintf(out->kind, sizeof(out->kind), "%s", nla_get_string(info[IFLA_INFO_KIND]));
	return NL_OK;
}

/*
 * A lean RTM_GETLINK: the kernel skips the statistics and we read five attributes, instead of
 * libnl parsing a whole link object (a third of the time of a lookup here).
 */
int br_link_get(struct nl_sock *sk, const char *name, int ifindex, struct br_link_info *out,
		struct k8c_error *err)
{
	_cleanup_msg_ struct nl_msg *msg = link_msg(RTM_GETLINK, 0, AF_UNSPEC, ifindex, 0, 0);
	struct nl_cb *cb;
	int ret;

	if (!ifindex)
		nla_put_string(msg, IFLA_IFNAME, name);
	nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	ret = nl_send_auto(sk, msg);
	if (ret < 0)
		return nlerr(err, ret, "look up link %s", name ? name : "");
	cb = nl_cb_clone(nl_socket_get_cb(sk));
	if (!cb)
		abort();
	memset(out, 0, sizeof(*out));
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, link_reply_cb, out);
	ret = nl_recvmsgs(sk, cb);
	nl_cb_put(cb);
	if (ret == -NLE_OBJ_NOTFOUND || ret == -NLE_NODEV)
		return 1;
	if (ret < 0)
		return nlerr(err, ret, "look up link %s", name ? name : "");
	/* The reply came first; the ACK of the request follows it. */
	ret = nl_wait_for_ack(sk);
	if (ret < 0)
		return nlerr(err, ret, "look up link %s", name ? name : "");
	return out->ifindex > 0 ? 0 : 1;
}

static void random_mac(unsigned char mac[6])
{
	if (getrandom(mac, 6, 0) != 6) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		srand((unsigned)(ts.tv_nsec ^ getpid()));
		for (int i = 0; i < 6; i++)
			mac[i] = (unsigned char)rand();
	}
	mac[0] = (unsigned char)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
}

/* RTM_SETLINK of one attribute; returns libnl's result (negative on failure). */
static int setlink_attr(struct nl_sock *sk, int ifindex, int attr, const void *data, size_t len)
{
	struct nl_msg *msg = link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex, 0, 0);

	nla_put(msg, attr, (int)len, data);
	return nl_send_sync(sk, msg);
}

static int setlink_flags(struct nl_sock *sk, int ifindex, unsigned int set, unsigned int clear,
			 struct k8c_error *err)
{
	int ret = nl_send_sync(sk, link_msg(RTM_SETLINK, 0, AF_UNSPEC, ifindex, set, set | clear));

	if (ret < 0)
		return nlerr(err, ret, "set flags of link %d", ifindex);
	return 0;
}

static int bridge_create(struct nl_sock *sk, const struct br_config *c, struct k8c_error *err)
{
	unsigned int flags = IFF_UP | (c->promisc_mode ? IFF_PROMISC : 0);
	_cleanup_msg_ struct nl_msg *msg =
		link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0, flags, flags);
	struct nlattr *info, *data;
	unsigned char mac[6];
	int ret;

	/* An explicit address at creation makes the kernel keep it (addr_assign_type SET): the
	 * bridge MAC then never changes as ports come and go (cni#285, flannel#1381). */
	random_mac(mac);
	nla_put_string(msg, IFLA_IFNAME, c->bridge);
	if (c->mtu)
		nla_put_u32(msg, IFLA_MTU, (uint32_t)c->mtu);
	nla_put(msg, IFLA_ADDRESS, 6, mac);
	info = nla_nest_start(msg, IFLA_LINKINFO);
	nla_put_string(msg, IFLA_INFO_KIND, "bridge");
	if (c->vlan || c->n_vlan_trunk) {
		data = nla_nest_start(msg, IFLA_INFO_DATA);
		nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, 1);
		nla_nest_end(msg, data);
	}
	nla_nest_end(msg, info);
	ret = nl_send_sync(sk, k8c_steal_ptr(msg));
	if (ret == -NLE_EXIST)
		return 1;
	if (ret < 0)
		return nlerr(err, ret, "create bridge %s", c->bridge);
	return 0;
}

static int set_mac(struct nl_sock *sk, int ifindex, const char *mac, struct k8c_error *err)
{
	unsigned char b[6];
	int ret;

	if (br_mac_parse(mac, NULL, b) < 0)
		return k8c_error_set(err, 0, "invalid MAC %s", mac);
	ret = setlink_attr(sk, ifindex, IFLA_ADDRESS, b, sizeof(b));
	if (ret < 0)
		return nlerr(err, ret, "set MAC of link %d", ifindex);
	return 0;
}

/* IFLA_IFALIAS is ignored in a RTM_NEWLINK: it takes a change of its own. */
static int set_alias(struct nl_sock *sk, int ifindex, const char *alias, struct k8c_error *err)
{
	int ret = setlink_attr(sk, ifindex, IFLA_IFALIAS, alias, strlen(alias) + 1);

	if (ret < 0)
		return nlerr(err, ret, "set alias of link %d", ifindex);
	return 0;
}

/*
 * Pin the MAC of a bridge: a bridge whose MAC the kernel chose follows its ports, and falls to
 * 00:00:00:00:00:00 when the last one leaves. Ours are created pinned; one made by someone else
 * is pinned once (its MAC set to itself, or a random one if it is zero) and marked by an alias.
 */
static int pin_bridge(struct nl_sock *sk, struct br_link_info *br, struct k8c_error *err)
{
	static const char zero[] = "00:00:00:00:00:00";

	if (!strncmp(br->alias, BR_BRIDGE_ALIAS, strlen(BR_BRIDGE_ALIAS)))
		return 0;
	if (!strcmp(br->mac, zero) || !*br->mac) {
		unsigned char b[6];

		random_mac(b);
		format_mac(b, br->mac);
	}
	if (set_mac(sk, br->ifindex, br->mac, err) < 0 ||
	    set_alias(sk, br->ifindex, BR_BRIDGE_ALIAS, err) < 0)
		return k8c_error_wrap(err, "bridge %s", br->name);
	snprintf(br->alias, sizeof(br->alias), "%s", BR_BRIDGE_ALIAS);
	return 0;
}

int br_bridge_ensure(struct nl_sock *sk, const struct br_config *c, struct br_link_info *br,
		     struct k8c_error *err)
{
	int ret = br_link_get(sk, c->bridge, 0, br, err);
	char key[128];

	if (ret < 0)
		return -1;
	if (ret == 1) {
		ret = bridge_create(sk, c, err);
		if (ret < 0)
			return -1;
		if (ret == 0) {
			/* We own the routes of this interface (as the reference does). */
			snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_ra", c->bridge);
			k8c_sysctl_write(key, "0", NULL);
		}
		if (br_link_get(sk, c->bridge, 0, br, err) != 0)
			return k8c_error_wrap(err, "bridge %s", c->bridge);
		if (ret == 1 && strcmp(br->kind, "bridge"))
			goto not_bridge;
		if (ret == 0)
			return set_alias(sk, br->ifindex, BR_BRIDGE_ALIAS, err) < 0
				       ? k8c_error_wrap(err, "bridge %s", c->bridge)
				       : 0;
	} else if (strcmp(br->kind, "bridge")) {
		goto not_bridge;
	}
	if (pin_bridge(sk, br, err) < 0)
		return -1;
	if (!br->up || br->promisc != c->promisc_mode) {
		if (setlink_flags(sk, br->ifindex, IFF_UP | (c->promisc_mode ? IFF_PROMISC : 0),
				  c->promisc_mode ? 0 : IFF_PROMISC, err) < 0)
			return k8c_error_wrap(err, "bridge %s", c->bridge);
		br->up = true;
		br->promisc = c->promisc_mode;
	}
	return 0;
not_bridge:
	return k8c_error_set(err, 0, "\"%s\" already exists but is not a bridge (it is %s)",
			     c->bridge, *br->kind ? br->kind : "a plain device");
}

int br_veth_create(struct nl_sock *host, struct nl_sock *cont, int ns_fd, const char *ifname,
		   int mtu, const char *mac, int master, const char *alias,
		   struct br_link_info *host_out, struct k8c_error *err)
{
	struct br_link_info tmp;
	int attempt, ret = 0;

	for (attempt = 0; attempt < 8; attempt++) {
		_cleanup_link_ struct rtnl_link *l = rtnl_link_veth_alloc();
		_cleanup_nladdr_ struct nl_addr *a = NULL;
		struct rtnl_link *peer;
		unsigned char rnd[4];
		char name[16];

		if (!l)
			abort();
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return k8c_error_errno(err, 0, errno, "getrandom");
		snprintf(name, sizeof(name), "veth%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			 rnd[3]);
		rtnl_link_set_name(l, name);
		if (mtu)
			rtnl_link_set_mtu(l, (unsigned)mtu);
		if (master)
			rtnl_link_set_master(l, master);
		rtnl_link_set_flags(l, IFF_UP);
		peer = rtnl_link_veth_get_peer(l);
		rtnl_link_set_name(peer, ifname);
		rtnl_link_set_ns_fd(peer, ns_fd);
		if (mtu)
			rtnl_link_set_mtu(peer, (unsigned)mtu);
		if (mac && *mac) {
			unsigned char b[6];

			br_mac_parse(mac, NULL, b);
			a = nl_addr_build(AF_LLC, b, 6);
			rtnl_link_set_addr(peer, a);
		}
		rtnl_link_put(peer);
		ret = rtnl_link_add(host, l, NLM_F_CREATE | NLM_F_EXCL);
		if (ret == 0) {
			if (br_link_get(host, name, 0, host_out, err) != 0)
				return k8c_error_set(err, 0, "veth %s vanished after creation",
						     name);
			if (alias && set_alias(host, host_out->ifindex, alias, err) < 0) {
				br_link_del(host, host_out->ifindex, NULL);
				return -1;
			}
			return 0;
		}
		if (ret != -NLE_EXIST)
			return nlerr(err, ret, "create veth pair %s/%s", name, ifname);
		if (br_link_get(cont, ifname, 0, &tmp, NULL) == 0)
			return k8c_error_set(err, 0,
					     "container veth name \"%s\" already exists in the "
					     "container",
					     ifname);
	}
	return nlerr(err, ret, "create veth pair for %s (no free host name)", ifname);
}

static int port_vlans(struct nl_sock *sk, int ifindex, int cmd, const int *vids, size_t n,
		      uint16_t flags, struct k8c_error *err)
{
	_cleanup_msg_ struct nl_msg *msg = link_msg(cmd, 0, AF_BRIDGE, ifindex, 0, 0);
	struct nlattr *spec;
	size_t i;
	int ret;

	spec = nla_nest_start(msg, IFLA_AF_SPEC);
	for (i = 0; i < n; i++) {
		struct bridge_vlan_info vi = {.flags = flags, .vid = (uint16_t)vids[i]};

		if (nla_put(msg, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi) < 0)
			abort();
	}
	nla_nest_end(msg, spec);
	ret = nl_send_sync(sk, k8c_steal_ptr(msg));
	if (ret < 0)
		return nlerr(err, ret, "%s VLANs on port %d", cmd == RTM_DELLINK ? "remove" : "add",
			     ifindex);
	return 0;
}

int br_port_configure(struct nl_sock *sk, int ifindex, const struct br_config *c,
		      struct k8c_error *err)
{
	if (c->hairpin_mode || c->port_isolation) {
		_cleanup_msg_ struct nl_msg *msg =
			link_msg(RTM_SETLINK, 0, AF_BRIDGE, ifindex, 0, 0);
		struct nlattr *pi;
		int ret;

		pi = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
		if (c->hairpin_mode)
			nla_put_u8(msg, IFLA_BRPORT_MODE, 1);
		if (c->port_isolation)
			nla_put_u8(msg, IFLA_BRPORT_ISOLATED, 1);
		nla_nest_end(msg, pi);
		ret = nl_send_sync(sk, k8c_steal_ptr(msg));
		if (ret < 0)
			return nlerr(err, ret, "set hairpin/isolation on port %d", ifindex);
	}
	if ((c->vlan || c->n_vlan_trunk) && !c->preserve_default_vlan) {
		int one = 1;

		if (port_vlans(sk, ifindex, RTM_DELLINK, &one, 1, 0, err) < 0)
			return -1;
	}
	if (c->vlan && port_vlans(sk, ifindex, RTM_SETLINK, &c->vlan, 1,
				  BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, err) < 0)
		return -1;
	if (c->n_vlan_trunk &&
	    port_vlans(sk, ifindex, RTM_SETLINK, c->vlan_trunk, c->n_vlan_trunk, 0, err) < 0)
		return -1;
	return 0;
}

struct port_reply {
	int ifindex;
	bool found, hairpin, isolated;
};

static int port_reply_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	struct nlattr *tb[IFLA_MAX + 1], *pi[IFLA_BRPORT_MAX + 1];
	struct port_reply *r = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK || ifi->ifi_index != r->ifindex ||
	    nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_PROTINFO] ||
	    nla_parse_nested(pi, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], NULL) < 0)
		return NL_OK;
	r->found = true;
	r->hairpin = pi[IFLA_BRPORT_MODE] && nla_get_u8(pi[IFLA_BRPORT_MODE]);
	r->isolated = pi[IFLA_BRPORT_ISOLATED] && nla_get_u8(pi[IFLA_BRPORT_ISOLATED]);
	return NL_OK;
}

/* The bridge family's GETLINK is a dump only; libnl 3.7 parses no IFLA_BRPORT_ISOLATED. */
int br_port_flags(struct nl_sock *sk, int ifindex, bool *hairpin, bool *isolated,
		  struct k8c_error *err)
{
	_cleanup_msg_ struct nl_msg *msg = link_msg(RTM_GETLINK, NLM_F_DUMP, AF_BRIDGE, 0, 0, 0);
	struct port_reply r = {.ifindex = ifindex};
	struct nl_cb *cb;
	int ret;

	ret = nl_send_auto(sk, msg);
	if (ret < 0)
		return nlerr(err, ret, "list bridge ports");
	cb = nl_cb_clone(nl_socket_get_cb(sk));
	if (!cb)
		abort();
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, port_reply_cb, &r);
	ret = nl_recvmsgs(sk, cb);
	nl_cb_put(cb);
	if (ret < 0)
		return nlerr(err, ret, "list bridge ports");
	if (!r.found)
		return k8c_error_set(err, 0, "link %d is not a bridge port", ifindex);
	*hairpin = r.hairpin;
	*isolated = r.isolated;
	return 0;
}

int br_link_set_up(struct nl_sock *sk, int ifindex, bool up, struct k8c_error *err)
{
	return setlink_flags(sk, ifindex, up ? IFF_UP : 0, up ? 0 : IFF_UP, err);
}

static int link_rename(struct nl_sock *sk, int ifindex, const char *name, struct k8c_error *err)
{
	int ret = setlink_attr(sk, ifindex, IFLA_IFNAME, name, strlen(name) + 1);

	if (ret < 0)
		return nlerr(err, ret, "rename link %d to %s", ifindex, name);
	return 0;
}

/* Down, then renamed "k8cdel<8 hex>": a link must be down to be renamed. */
static int link_take_down(struct nl_sock *sk, int ifindex, struct k8c_error *err)
{
	unsigned char rnd[4];
	char name[16];

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return k8c_error_errno(err, 0, errno, "getrandom");
	snprintf(name, sizeof(name), "k8cdel%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	if (setlink_flags(sk, ifindex, 0, IFF_UP, err) < 0 ||
	    link_rename(sk, ifindex, name, err) < 0)
		return -1;
	return 0;
}

struct retire {
	struct nl_sock *sk;
	int ifindex;
};

static void retire_delete(void *arg)
{
	const struct retire *r = arg;

	br_link_del(r->sk, r->ifindex, NULL);
}

int br_link_retire(struct nl_sock *sk, int ifindex, struct nl_sock *peer_sk, int peer_ifindex,
		   struct k8c_error *err)
{
	struct retire r = {sk, ifindex};

	if (link_take_down(sk, ifindex, err) < 0)
		return -1;
	/* The peer is best effort: it goes with its pair whatever its name. */
	if (peer_sk && peer_ifindex > 0)
		link_take_down(peer_sk, peer_ifindex, NULL);
	if (k8c_detach(retire_delete, &r) < 0)
		return br_link_del(sk, ifindex, err);
	return 0;
}

int br_link_del(struct nl_sock *sk, int ifindex, struct k8c_error *err)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();
	int ret;

	if (!l)
		abort();
	rtnl_link_set_ifindex(l, ifindex);
	ret = rtnl_link_delete(sk, l);
	if (ret < 0 && ret != -NLE_NODEV && ret != -NLE_OBJ_NOTFOUND)
		return nlerr(err, ret, "delete link %d", ifindex);
	return 0;
}

static struct nl_addr *to_nladdr(const struct k8c_ipnet *a)
{
	struct nl_addr *n = nl_addr_build(a->family, a->addr, k8c_ip_len(a->family));

	if (!n)
		abort();
	if (a->prefix >= 0)
		nl_addr_set_prefixlen(n, a->prefix);
	return n;
}

static void from_nladdr(struct nl_addr *n, struct k8c_ipnet *out)
{
	size_t len;

	memset(out, 0, sizeof(*out));
	out->family = nl_addr_get_family(n);
	/* A default route's destination has no bytes at all (length 0), only a family. */
	len = nl_addr_get_len(n);
	if (len > k8c_ip_len(out->family))
		len = k8c_ip_len(out->family);
	memcpy(out->addr, nl_addr_get_binary_addr(n), len);
	out->prefix = (int)nl_addr_get_prefixlen(n);
}

/* An address object of ifindex with local address a (the object holds its own reference). */
static struct rtnl_addr *addr_obj(int ifindex, const struct k8c_ipnet *a)
{
	struct rtnl_addr *ad = rtnl_addr_alloc();
	_cleanup_nladdr_ struct nl_addr *local = to_nladdr(a);

	if (!ad)
		abort();
	rtnl_addr_set_ifindex(ad, ifindex);
	rtnl_addr_set_local(ad, local);
	return ad;
}

int br_addr_add(struct nl_sock *sk, int ifindex, const struct k8c_ipnet *a, bool nodad,
		struct k8c_error *err)
{
	_cleanup_addr_ struct rtnl_addr *ad = addr_obj(ifindex, a);
	_cleanup_nladdr_ struct nl_addr *brd = NULL;
	char buf[K8C_IPNET_STRLEN];
	int ret;

	if (a->family == AF_INET && a->prefix >= 0 && a->prefix < 31) {
		struct k8c_ipnet b = *a;
		int i;

		/* The broadcast address, as `ip addr add ... brd +` and the reference set it. */
		for (i = 0; i < 32 - a->prefix; i++)
			b.addr[3 - i / 8] |= (unsigned char)(1u << (i % 8));
		b.prefix = -1;
		brd = to_nladdr(&b);
		rtnl_addr_set_broadcast(ad, brd);
	}
	if (a->family == AF_INET6 && nodad)
		rtnl_addr_set_flags(ad, IFA_F_NODAD);
	ret = rtnl_addr_add(sk, ad, NLM_F_EXCL);
	if (ret == -NLE_EXIST)
		return 1;
	if (ret < 0)
		return nlerr(err, ret, "add address %s", k8c_ipnet_format(a, buf));
	return 0;
}

struct addr_walk {
	int ifindex, family;
	struct k8c_ipnet *list;
	size_t n;
	bool tentative;
};

static void addr_cb(struct nl_object *o, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	struct addr_walk *w = arg;

	if (rtnl_addr_get_ifindex(a) != w->ifindex)
		return;
	if (w->family != AF_UNSPEC && rtnl_addr_get_family(a) != w->family)
		return;
	if (rtnl_addr_get_flags(a) & IFA_F_TENTATIVE)
		w->tentative = true;
	w->list = k8c_xrealloc(w->list, (w->n + 1) * sizeof(*w->list));
	from_nladdr(rtnl_addr_get_local(a), &w->list[w->n++]);
}

static int addr_walk(struct nl_sock *sk, struct addr_walk *w, struct k8c_error *err)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	int ret = rtnl_addr_alloc_cache(sk, &cache);

	if (ret < 0)
		return nlerr(err, ret, "list addresses");
	nl_cache_foreach(cache, addr_cb, w);
	return 0;
}

int br_addr_list(struct nl_sock *sk, int ifindex, int family, struct k8c_ipnet **out, size_t *n,
		 struct k8c_error *err)
{
	struct addr_walk w = {.ifindex = ifindex, .family = family};

	if (addr_walk(sk, &w, err) < 0) {
		free(w.list);
		return -1;
	}
	*out = w.list;
	*n = w.n;
	return 0;
}

static int addr_del(struct nl_sock *sk, int ifindex, const struct k8c_ipnet *a,
		    struct k8c_error *err)
{
	_cleanup_addr_ struct rtnl_addr *ad = addr_obj(ifindex, a);
	char buf[K8C_IPNET_STRLEN];
	int ret;

	ret = rtnl_addr_delete(sk, ad, 0);
	if (ret < 0 && ret != -NLE_NOADDR && ret != -NLE_OBJ_NOTFOUND)
		return nlerr(err, ret, "remove address %s", k8c_ipnet_format(a, buf));
	return 0;
}

int br_gateway_ensure(struct nl_sock *sk, const struct br_link_info *br, const struct k8c_ipnet *gw,
		      bool force, struct k8c_error *err)
{
	_cleanup_free_ struct k8c_ipnet *list = NULL;
	char buf[K8C_IPNET_STRLEN], obuf[K8C_IPNET_STRLEN];
	size_t n = 0, i;
	int ret;

	ret = br_addr_add(sk, br->ifindex, gw, true, err);
	if (ret < 0)
		return k8c_error_wrap(err, "bridge %s", br->name);
	if (ret == 1) /* present already: checked when it was first added */
		return 0;
	/* Newly added: any other conflicting address was there before us. */
	if (br_addr_list(sk, br->ifindex, gw->family, &list, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct k8c_ipnet *a = &list[i];

		if (k8c_ipnet_equal(a, gw))
			continue;
		if (gw->family == AF_INET6 && !k8c_ipnet_contains(a, gw) &&
		    !k8c_ipnet_contains(gw, a))
			continue;
		if (!force) {
			addr_del(sk, br->ifindex, gw, NULL);
			return k8c_error_set(
				err, 0,
				"bridge %s already has an IP address %s different from "
				"%s (set forceAddress to replace it)",
				br->name, k8c_ipnet_format(a, obuf), k8c_ipnet_format(gw, buf));
		}
		if (addr_del(sk, br->ifindex, a, err) < 0)
			return k8c_error_wrap(err, "bridge %s", br->name);
	}
	return 0;
}

int br_route_add(struct nl_sock *sk, int ifindex, const struct cni_route *r, struct k8c_error *err)
{
	_cleanup_route_ struct rtnl_route *rt = rtnl_route_alloc();
	_cleanup_nladdr_ struct nl_addr *dst = to_nladdr(&r->dst);
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	char buf[K8C_IPNET_STRLEN];
	int ret;

	if (!rt || !nh)
		abort();
	rtnl_route_set_family(rt, (uint8_t)r->dst.family);
	rtnl_route_set_dst(rt, dst);
	rtnl_route_set_protocol(rt, RTPROT_BOOT);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (r->has_gw) {
		_cleanup_nladdr_ struct nl_addr *gw = to_nladdr(&r->gw);

		rtnl_route_nh_set_gateway(nh, gw);
	}
	rtnl_route_add_nexthop(rt, nh);
	if (r->mtu)
		rtnl_route_set_metric(rt, RTAX_MTU, (unsigned)r->mtu);
	if (r->advmss)
		rtnl_route_set_metric(rt, RTAX_ADVMSS, (unsigned)r->advmss);
	if (r->priority)
		rtnl_route_set_priority(rt, (uint32_t)r->priority);
	if (r->table)
		rtnl_route_set_table(rt, (uint32_t)r->table);
	if (r->has_scope)
		rtnl_route_set_scope(rt, (uint8_t)r->scope);
	ret = rtnl_route_add(sk, rt, NLM_F_EXCL);
	/* The first route wins, as in the reference (a second interface in the same sandbox with
	 * its own default route). */
	if (ret == -NLE_EXIST)
		return 1;
	if (ret < 0)
		return nlerr(err, ret, "add route to %s", k8c_ipnet_format(&r->dst, buf));
	return 0;
}

struct route_walk {
	int ifindex;
	const struct cni_route *want;
	bool found;
};

static void route_cb(struct nl_object *o, void *arg)
{
	struct rtnl_route *rt = (struct rtnl_route *)o;
	struct route_walk *w = arg;
	struct k8c_ipnet dst;
	int i, n;

	if (w->found || !rtnl_route_get_dst(rt))
		return;
	from_nladdr(rtnl_route_get_dst(rt), &dst);
	if (dst.prefix != w->want->dst.prefix || k8c_ip_cmp(&dst, &w->want->dst))
		return;
	if (rtnl_route_get_table(rt) != (uint32_t)(w->want->table ? w->want->table : RT_TABLE_MAIN))
		return;
	n = rtnl_route_get_nnexthops(rt);
	for (i = 0; i < n; i++) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, i);
		struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
		struct k8c_ipnet g;

		if (rtnl_route_nh_get_ifindex(nh) != w->ifindex)
			continue;
		if (w->want->has_gw) {
			if (!gw)
				continue;
			from_nladdr(gw, &g);
			if (k8c_ip_cmp(&g, &w->want->gw))
				continue;
		}
		w->found = true;
		return;
	}
}

int br_route_exists(struct nl_sock *sk, int ifindex, const struct cni_route *r, bool *found,
		    struct k8c_error *err)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct route_walk w = {.ifindex = ifindex, .want = r};
	int ret = rtnl_route_alloc_cache(sk, r->dst.family, 0, &cache);

	if (ret < 0)
		return nlerr(err, ret, "list routes");
	nl_cache_foreach(cache, route_cb, &w);
	*found = w.found;
	return 0;
}

int br_wait_dad(struct nl_sock *sk, int ifindex, int timeout_ms, struct k8c_error *err)
{
	_cleanup_nl_ struct nl_sock *ev = br_nl_open(err);
	struct timespec start, now;
	int ret;

	if (!ev)
		return -1;
	/* Subscribe before looking, so that no transition can slip between the two. */
	ret = nl_socket_add_membership(ev, RTNLGRP_IPV6_IFADDR);
	if (ret < 0)
		return nlerr(err, ret, "subscribe to address events");
	nl_socket_disable_seq_check(ev);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct addr_walk w = {.ifindex = ifindex, .family = AF_INET6};
		struct pollfd pfd = {.fd = nl_socket_get_fd(ev), .events = POLLIN};
		long left;

		if (addr_walk(sk, &w, err) < 0)
			return -1;
		free(w.list);
		if (!w.tentative)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return k8c_error_set(err, 0,
					     "IPv6 duplicate address detection on link %d "
					     "did not finish in %d ms",
					     ifindex, timeout_ms);
		ret = poll(&pfd, 1, (int)left);
		if (ret > 0)
			nl_recvmsgs_default(ev); /* drain; the state is re-read above */
	}
}

char *br_veth_alias(const char *network, const char *container_id, const char *ifname)
{
	return k8c_xasprintf("k8c:%s/%s/%s", network, container_id, ifname);
}

struct gc_walk {
	struct nl_sock *sk;
	const char *prefix;
	bool (*keep)(const char *, const char *, void *);
	void *arg;
	int removed;
	int failed;
	struct k8c_error *err;
};

static void gc_cb(struct nl_object *o, void *arg)
{
	struct rtnl_link *l = (struct rtnl_link *)o;
	struct gc_walk *w = arg;
	const char *alias = rtnl_link_get_ifalias(l);
	_cleanup_free_ char *rest = NULL;
	char *slash;

	if (!alias || strncmp(alias, w->prefix, strlen(w->prefix)))
		return;
	rest = k8c_xstrdup(alias + strlen(w->prefix));
	slash = strrchr(rest, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (w->keep(rest, slash + 1, w->arg))
		return;
	if (br_link_del(w->sk, rtnl_link_get_ifindex(l), w->err) < 0)
		w->failed++;
	else
		w->removed++;
}

int br_gc_veths(struct nl_sock *sk, const char *network,
		bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
		int *removed, struct k8c_error *err)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	_cleanup_free_ char *prefix = k8c_xasprintf("k8c:%s/", network);
	struct gc_walk w = {.sk = sk, .prefix = prefix, .keep = keep, .arg = arg, .err = err};
	int ret = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);

	if (ret < 0)
		return nlerr(err, ret, "list links");
	nl_cache_foreach(cache, gc_cb, &w);
	*removed = w.removed;
	return w.failed ? -1 : 0;
}

/* Links, addresses and routes for k8c-bridge, over rtnetlink with libnl-3. */
#ifndef K8C_BR_LINK_H
#define K8C_BR_LINK_H

#include <stdbool.h>
#include <netlink/netlink.h>

#include "br_config.h"
#include "cni_types.h"
#include "error.h"
#include "ipaddr.h"
#include "netns.h"

/* The alias that marks a bridge whose MAC k8c-bridge has pinned. */
#define BR_BRIDGE_ALIAS "k8c-bridge: MAC pinned"

/* A route socket bound to the netns the caller is in; NULL with err set on failure. */
struct nl_sock *br_nl_open(struct k8c_error *err);
void br_nl_close(struct nl_sock **sk);
#define _cleanup_nl_ __attribute__((cleanup(br_nl_close)))

struct br_link_info {
	int ifindex;
	int peer_ifindex; /* veth: IFLA_LINK; 0 otherwise */
	int master;
	char name[16];
	char mac[18];
	char kind[16]; /* "bridge", "veth", "" */
	char alias[128];
	bool up;
	bool promisc;
};

/* Look up a link by name (ifindex 0) or index; returns 0, -1 with err, or 1 when absent. */
int br_link_get(struct nl_sock *sk, const char *name, int ifindex, struct br_link_info *out,
		struct k8c_error *err);

/* Create the bridge if absent (MAC pinned at creation so it never follows its ports), check it
 * is a bridge, bring it up. */
int br_bridge_ensure(struct nl_sock *sk, const struct br_config *c, struct br_link_info *br,
		     struct k8c_error *err);

/*
 * Create a veth pair in one request: the peer named ifname inside the netns ns_fd (with mac when
 * given), the host end with a random "veth" name, attached to master and up. An ifname that
 * already exists in the container is an error naming it.
 */
int br_veth_create(struct nl_sock *host, struct nl_sock *cont, int ns_fd, const char *ifname,
		   int mtu, const char *mac, int master, const char *alias,
		   struct br_link_info *host_out, struct k8c_error *err);

/* Bridge port flags and VLANs of a host veth (AF_BRIDGE setlink). */
int br_port_configure(struct nl_sock *sk, int ifindex, const struct br_config *c,
		      struct k8c_error *err);
/* Read back the hairpin and isolated flags of a port. */
int br_port_flags(struct nl_sock *sk, int ifindex, bool *hairpin, bool *isolated,
		  struct k8c_error *err);

/* Set a link up or down. */
int br_link_set_up(struct nl_sock *sk, int ifindex, bool up, struct k8c_error *err);
/*
 * Take a link out of service at once and delete it in the background: the kernel's unregister
 * waits for RCU grace periods (15-30 ms here), which DEL need not wait for. The link is set down
 * and renamed "k8cdel<hex>" (so its name is free again) before this returns, and so is its veth
 * peer (through peer_sk, may be NULL); a detached process deletes the pair. If that process
 * dies, GC finds the pair by its alias.
 */
int br_link_retire(struct nl_sock *sk, int ifindex, struct nl_sock *peer_sk, int peer_ifindex,
		   struct k8c_error *err);
/* Delete a link by index (absent is success). */
int br_link_del(struct nl_sock *sk, int ifindex, struct k8c_error *err);

/* Add an address (nodad: IFA_F_NODAD for IPv6). EEXIST is success. */
int br_addr_add(struct nl_sock *sk, int ifindex, const struct k8c_ipnet *a, bool nodad,
		struct k8c_error *err);
/* The addresses of a link, of one family (AF_UNSPEC: both); *out is allocated. */
int br_addr_list(struct nl_sock *sk, int ifindex, int family, struct k8c_ipnet **out, size_t *n,
		 struct k8c_error *err);
/* Put gw on the bridge as the reference's ensureAddr: another IPv4 address (or an overlapping
 * IPv6 one) is an error unless force, which replaces it. */
int br_gateway_ensure(struct nl_sock *sk, const struct br_link_info *br, const struct k8c_ipnet *gw,
		      bool force, struct k8c_error *err);
/* Add a route through ifindex; 1 when an equal route exists already (kept, not an error). */
int br_route_add(struct nl_sock *sk, int ifindex, const struct cni_route *r, struct k8c_error *err);
/* Whether a route to r->dst (via r->gw when set) exists on ifindex. */
int br_route_exists(struct nl_sock *sk, int ifindex, const struct cni_route *r, bool *found,
		    struct k8c_error *err);
/* Wait (netlink events, no polling) until no IPv6 address on ifindex is tentative. */
int br_wait_dad(struct nl_sock *sk, int ifindex, int timeout_ms, struct k8c_error *err);

/* Delete the host veths of this network (alias "k8c:<network>/<cid>/<ifname>") whose attachment
 * keep() rejects; *removed counts them. */
int br_gc_veths(struct nl_sock *sk, const char *network,
		bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
		int *removed, struct k8c_error *err);
/* The alias that names an attachment on its host veth. */
char *br_veth_alias(const char *network, const char *container_id, const char *ifname);

#endif

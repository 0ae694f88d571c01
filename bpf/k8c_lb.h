/*
 * Map keys and values shared by the socket load balancer's BPF programs (bpf/) and k8c-proxy's
 * eBPF backend (proxy/bpf_backend.c). Addresses and ports are in network byte order, as the
 * kernel hands them to cgroup sock_addr programs. Changing a layout means a new K8C_LB_VERSION:
 * the maps are pinned by versioned names, so a proxy of another layout never reads them.
 */
#ifndef K8C_BPF_LB_H
#define K8C_BPF_LB_H

#include <linux/types.h>

#define K8C_LB_VERSION "v1"
/* Pinned map names (at most 15 characters: the kernel's object name limit). */
#define K8C_LB4_MAP	"k8c_lb4_v1"
#define K8C_AFF4_MAP	"k8c_aff4_v1"
#define K8C_SKNAT4_MAP	"k8c_sknat4_v1"
#define K8C_CKNAT4_MAP	"k8c_cknat4_v1"
#define K8C_CFG4_MAP	"k8c_cfg4_v1"
#define K8C_NODEIP4_MAP "k8c_nodeip4_v1"
#define K8C_CT4_MAP	"k8c_ct4_v1"
/* Maps of earlier layouts, no longer used: a proxy unpins them at start and at --cleanup. */
#define K8C_RNAT4_MAP_OLD "k8c_rnat4_v1"

#define K8C_LB4_MAX  1048576
#define K8C_AFF4_MAX 262144
#define K8C_CT4_MAX  65536 /* 32,768 flows from outside (LRU: always preallocated) */

/*
 * One map holds every frontend and its backends: slot 0 is the service entry (count, flags),
 * slots 1..count the backends. A key with port 0 and proto 0 marks an address as a ClusterIP
 * (a port the service does not have is rejected, not dropped). addr 0 is a NodePort (any
 * address of k8c_nodeip4).
 */
struct k8c_lb4_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
	__u16 slot;
	__u16 pad2;
};

#define K8C_LB_F_AFFINITY 0x1 /* sessionAffinity ClientIP (timeout in affinity_timeout) */
#define K8C_LB_F_DROP	  0x2 /* count 0 under a Local policy: drop (EPERM), not reject */
#define K8C_LB_F_MARK	  0x4 /* the ClusterIP marker (port 0, proto 0) */
#define K8C_LB_F_LOCAL	  0x8 /* externalTrafficPolicy Local: tc keeps the client address */

struct k8c_lb4_val {
	__u32 addr;		/* backend address (slot > 0) */
	__u16 port;		/* backend port (slot > 0) */
	__u16 count;		/* slot 0: backends; 0: reject (or drop with K8C_LB_F_DROP) */
	__u32 flags;		/* slot 0 */
	__u32 affinity_timeout; /* slot 0: seconds */
};

/* Session affinity: a client (its network namespace) and a frontend -> the backend it got. */
struct k8c_aff4_key {
	__u64 netns_cookie;
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct k8c_aff4_val {
	__u64 last_ns; /* bpf_ktime_get_ns() of the last use */
	__u32 addr;
	__u16 port;
	__u16 slot;
};

/* An IPv4 address and port (network order). */
struct k8c_rnat4_val {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

/*
 * Reverse NAT of sockets (getpeername, UDP replies): the service address a socket asked for and
 * the backend it was sent to instead, in one of two places, both without a shared hash update
 * (an LRU hash's locks and evictions cost ~350 ns a connect here):
 *
 * k8c_cknat4_v1, for connect(): an array indexed by the low K8C_CKNAT4_BITS bits of the
 * socket's cookie (cookies are handed out in sequence: a ring). An entry stays until a socket
 * K8C_CKNAT4_N cookies younger takes its index; a reader checks the cookie's low 32 bits and
 * the backend. One plain write a connect (~30 ns); socket-local storage would allocate and
 * free per connection (~420 ns, more than the LRU hash).
 */
#define K8C_CKNAT4_BITS 20
#define K8C_CKNAT4_N	(1U << K8C_CKNAT4_BITS) /* 16 MiB */

struct k8c_cknat4 {
	__u32 cookie; /* the socket cookie's low 32 bits; 0: free */
	__u32 be_addr;
	__u32 svc_addr;
	__u16 be_port;
	__u16 svc_port;
};

/*
 * k8c_sknat4_v1, for sendmsg() of unconnected UDP sockets: socket-local storage
 * (BPF_MAP_TYPE_SK_STORAGE, made at the socket's first datagram to a service and freed with the
 * socket: no eviction) holding up to K8C_SKNAT4_N backends (the oldest replaced) and the service
 * address of each.
 */
#define K8C_SKNAT4_N 4

struct k8c_sknat4_ent {
	struct k8c_rnat4_val be;  /* the backend the socket was sent to */
	struct k8c_rnat4_val svc; /* the service address it asked for */
};

struct k8c_sknat4 {
	struct k8c_sknat4_ent e[K8C_SKNAT4_N];
	__u32 next; /* the entry a new backend takes */
	__u32 pad;
};

/* Session affinity of a client outside the node (tc): netns_cookie = K8C_AFF_CLIENT_IP | its
 * address (network order); network namespace cookies never have the bit. */
#define K8C_AFF_CLIENT_IP (1ULL << 63)

/*
 * Connection tracking of the tc programs (traffic from outside the node): an LRU hash keyed by
 * the 5-tuple a packet carries when it reaches a tc hook, whose value is the 5-tuple to write
 * into it. Each flow has two entries, made when its first packet is translated: forward
 * (client -> frontend => [node address, SNAT port ->] backend) and reply (backend -> client or
 * node address:SNAT port => frontend -> client).
 */
struct k8c_ct4_key {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};

#define K8C_CT_F_REPLY	 0x1 /* a reply entry */
#define K8C_CT_F_SNAT	 0x2 /* the flow is masqueraded */
#define K8C_CT_F_CLOSING 0x4 /* a TCP FIN or RST went by (either direction) */

struct k8c_ct4_val {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u32 flags;
	__u64 last_ns; /* bpf_ktime_get_ns() of the last packet */
};

/* SNAT source ports of the tc programs (outside Linux's default ephemeral range 32768-60999, so
 * a reply to a node's own connection is not taken for one of ours). */
#define K8C_SNAT_PORT_MIN 61000
#define K8C_SNAT_PORT_N	  4536

/* Configuration (array, one entry). */
struct k8c_cfg4 {
	__u32 service_net;  /* unallocated service IPs in it are dropped */
	__u32 service_mask; /* network order; 0: no service CIDR */
};

#endif

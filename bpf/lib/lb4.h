/*
 * The socket load balancer's shared logic: maps (pinned by name, so the programs of every hook
 * and every proxy restart share them) and the frontend -> backend translation of a sock_addr
 * context. Included by each bpf/<hook>.bpf.c.
 */
#ifndef K8C_BPF_LIB_LB4_H
#define K8C_BPF_LIB_LB4_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../k8c_lb.h"

#define K8C_EPERM	 1
#define K8C_ECONNREFUSED 111
#define NSEC_PER_SEC	 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, K8C_LB4_MAX);
	__type(key, struct k8c_lb4_key);
	__type(value, struct k8c_lb4_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_lb4_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, K8C_AFF4_MAX);
	__type(key, struct k8c_aff4_key);
	__type(value, struct k8c_aff4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_aff4_v1 SEC(".maps");

/* Reverse NAT (k8c_lb.h): connected sockets by cookie, datagrams of unconnected ones per socket */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, K8C_CKNAT4_N);
	__type(key, __u32);
	__type(value, struct k8c_cknat4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_cknat4_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__type(key, int);
	__type(value, struct k8c_sknat4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_sknat4_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct k8c_cfg4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_cfg4_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_nodeip4_v1 SEC(".maps");

static __always_inline int lb4_proto_ok(__u32 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* Reject: the call fails with ECONNREFUSED (as a TCP RST or ICMP port unreachable would make it
 * fail). Drop: EPERM, at once (a socket-level balancer cannot make a connection time out). */
static __always_inline int lb4_reject(void)
{
	bpf_set_retval(-K8C_ECONNREFUSED);
	return 0;
}

static __always_inline int lb4_drop(void)
{
	return 0;
}

/*
 * Choose a backend of the frontend key (slot 0: svc, its service entry; count > 0). client
 * identifies the client for session affinity: a network namespace cookie (sockets) or
 * K8C_AFF_CLIENT_IP | address (packets from outside, tc). NULL: the service is being rewritten
 * (count and slots disagree for a moment).
 */
static __always_inline struct k8c_lb4_val *lb4_pick(struct k8c_lb4_key *key,
						    const struct k8c_lb4_val *svc, __u64 client)
{
	struct k8c_aff4_key akey = {};
	struct k8c_aff4_val *aff = NULL;
	struct k8c_lb4_val *be;
	__u64 now = 0;
	__u16 slot = 0;

	if (svc->flags & K8C_LB_F_AFFINITY) {
		akey.netns_cookie = client;
		akey.addr = key->addr;
		akey.port = key->port;
		akey.proto = key->proto;
		now = bpf_ktime_get_ns();
		aff = bpf_map_lookup_elem(&k8c_aff4_v1, &akey);
		if (aff && aff->slot >= 1 && aff->slot <= svc->count &&
		    now - aff->last_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC)
			slot = aff->slot;
	}
	if (!slot)
		slot = (__u16)(bpf_get_prandom_u32() % svc->count) + 1;
	key->slot = slot;
	be = bpf_map_lookup_elem(&k8c_lb4_v1, key);
	if (aff && slot == aff->slot && be && (be->addr != aff->addr || be->port != aff->port)) {
		/* the slot holds another backend now: choose again */
		slot = (__u16)(bpf_get_prandom_u32() % svc->count) + 1;
		key->slot = slot;
		be = bpf_map_lookup_elem(&k8c_lb4_v1, key);
	}
	if (be && (svc->flags & K8C_LB_F_AFFINITY)) {
		struct k8c_aff4_val nv = {
			.last_ns = now, .addr = be->addr, .port = be->port, .slot = slot};

		bpf_map_update_elem(&k8c_aff4_v1, &akey, &nv, BPF_ANY);
	}
	return be;
}

#define LB4_NAT_CONNECT 1 /* connect(): reverse NAT in k8c_cknat4_v1 */
#define LB4_NAT_SENDMSG 2 /* sendmsg() with an address: in k8c_sknat4_v1 */

/* Remember for a socket that connects that backend be:bport stands for svc:sport. */
static __always_inline void lb4_cknat_set(struct bpf_sock_addr *ctx, __u32 svc, __u16 sport,
					  __u32 be, __u16 bport)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u32 i = (__u32)cookie & (K8C_CKNAT4_N - 1);
	struct k8c_cknat4 *c = bpf_map_lookup_elem(&k8c_cknat4_v1, &i);

	if (!c)
		return;
	c->cookie = (__u32)cookie;
	c->be_addr = be;
	c->be_port = bport;
	c->svc_addr = svc;
	c->svc_port = sport;
}

/* The entry of k8c_cknat4_v1 the socket of cookie made when it connected to be:bport, or NULL. */
static __always_inline struct k8c_cknat4 *lb4_cknat_get(__u64 cookie, __u32 be, __u16 bport)
{
	__u32 i = (__u32)cookie & (K8C_CKNAT4_N - 1);
	struct k8c_cknat4 *c = bpf_map_lookup_elem(&k8c_cknat4_v1, &i);

	if (c && c->cookie == (__u32)cookie && c->be_addr == be && c->be_port == bport)
		return c;
	return NULL;
}

/*
 * Remember for a socket sending a datagram that backend be:bport stands for svc:sport: its
 * entry for that backend, or a free one, or the oldest.
 */
static __always_inline void lb4_sknat_set(struct bpf_sock_addr *ctx, __u32 svc, __u16 sport,
					  __u32 be, __u16 bport)
{
	struct k8c_sknat4 *s;
	struct bpf_sock *sk = ctx->sk;
	__u32 i;

	if (!sk)
		return;
	s = bpf_sk_storage_get(&k8c_sknat4_v1, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	for (i = 0; i < K8C_SKNAT4_N; i++)
		if (!s->e[i].be.addr || (s->e[i].be.addr == be && s->e[i].be.port == bport))
			break;
	if (i == K8C_SKNAT4_N)
		i = s->next++ % K8C_SKNAT4_N;
	if (i >= K8C_SKNAT4_N) /* (for the verifier) */
		return;
	s->e[i].be.addr = be;
	s->e[i].be.port = bport;
	s->e[i].svc.addr = svc;
	s->e[i].svc.port = sport;
}

/*
 * Translate ctx's destination when it is a frontend. Returns 1 (let the call go on, possibly
 * rewritten) or 0 (refuse it, errno as set). nat: LB4_NAT_CONNECT or LB4_NAT_SENDMSG, where the
 * socket's reverse NAT goes.
 */
static __always_inline int lb4_xlate_addr(struct bpf_sock_addr *ctx, __u32 *addr, __u32 *port,
					  int nat)
{
	struct k8c_lb4_key key = {};
	struct k8c_lb4_val *svc, *be;
	__u32 daddr = *addr, proto = ctx->protocol, zero = 0;
	__u16 dport = (__u16)*port;

	if (!lb4_proto_ok(proto))
		return 1;
	key.addr = daddr;
	key.port = dport;
	key.proto = (__u8)proto;
	svc = bpf_map_lookup_elem(&k8c_lb4_v1, &key);
	if (!svc && bpf_map_lookup_elem(&k8c_nodeip4_v1, &daddr)) {
		key.addr = 0; /* a NodePort */
		svc = bpf_map_lookup_elem(&k8c_lb4_v1, &key);
	}
	if (!svc) {
		struct k8c_cfg4 *cfg = bpf_map_lookup_elem(&k8c_cfg4_v1, &zero);
		struct k8c_lb4_key mark = {.addr = daddr};

		if (!cfg || !cfg->service_mask || (daddr & cfg->service_mask) != cfg->service_net)
			return 1;
		/* in the service CIDR: a port a ClusterIP does not have, or an unallocated IP */
		if (bpf_map_lookup_elem(&k8c_lb4_v1, &mark))
			return lb4_reject();
		return lb4_drop();
	}
	if (svc->count == 0)
		return (svc->flags & K8C_LB_F_DROP) ? lb4_drop() : lb4_reject();

	be = lb4_pick(&key, svc, (svc->flags & K8C_LB_F_AFFINITY) ? bpf_get_netns_cookie(ctx) : 0);
	if (!be) /* the service is being rewritten: count and slots disagree for a moment */
		return lb4_reject();
	if (nat == LB4_NAT_CONNECT)
		lb4_cknat_set(ctx, daddr, dport, be->addr, be->port);
	else
		lb4_sknat_set(ctx, daddr, dport, be->addr, be->port);
	*addr = be->addr;
	*port = be->port;
	return 1;
}

/* Replies (recvmsg) and getpeername: show the service address the socket asked for. */
static __always_inline void lb4_rev_addr(struct bpf_sock_addr *ctx, __u32 *addr, __u32 *port)
{
	struct k8c_cknat4 *c = lb4_cknat_get(bpf_get_socket_cookie(ctx), *addr, (__u16)*port);
	struct bpf_sock *sk = ctx->sk;
	struct k8c_sknat4 *s;

	if (c) {
		*addr = c->svc_addr;
		*port = c->svc_port;
		return;
	}
	if (!sk)
		return;
	s = bpf_sk_storage_get(&k8c_sknat4_v1, sk, NULL, 0);
	if (!s)
		return;
	for (__u32 i = 0; i < K8C_SKNAT4_N; i++) {
		if (!s->e[i].be.addr)
			break;
		if (s->e[i].be.addr == *addr && s->e[i].be.port == (__u16)*port) {
			*addr = s->e[i].svc.addr;
			*port = s->e[i].svc.port;
			return;
		}
	}
}

/* The IPv4 hooks. */
static __always_inline int lb4_xlate(struct bpf_sock_addr *ctx, int nat)
{
	__u32 addr = ctx->user_ip4, port = ctx->user_port;
	int rc = lb4_xlate_addr(ctx, &addr, &port, nat);

	if (rc) {
		ctx->user_ip4 = addr;
		ctx->user_port = port;
	}
	return rc;
}

static __always_inline int lb4_rev(struct bpf_sock_addr *ctx)
{
	__u32 addr = ctx->user_ip4, port = ctx->user_port;

	lb4_rev_addr(ctx, &addr, &port);
	ctx->user_ip4 = addr;
	ctx->user_port = port;
	return 1;
}

/*
 * The IPv6 hooks: IPv4 services reached through IPv4-mapped addresses (::ffff:a.b.c.d) of
 * dual-stack sockets, as Java and Go programs use them. Other IPv6 addresses pass untouched.
 */
static __always_inline int lb6_mapped(struct bpf_sock_addr *ctx)
{
	return ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 &&
	       ctx->user_ip6[2] == bpf_htonl(0xffff);
}

static __always_inline int lb6_xlate(struct bpf_sock_addr *ctx, int nat)
{
	__u32 addr, port;
	int rc;

	if (!lb6_mapped(ctx))
		return 1;
	addr = ctx->user_ip6[3];
	port = ctx->user_port;
	rc = lb4_xlate_addr(ctx, &addr, &port, nat);
	if (rc) {
		ctx->user_ip6[3] = addr;
		ctx->user_port = port;
	}
	return rc;
}

static __always_inline int lb6_rev(struct bpf_sock_addr *ctx)
{
	__u32 addr, port;

	if (!lb6_mapped(ctx))
		return 1;
	addr = ctx->user_ip6[3];
	port = ctx->user_port;
	lb4_rev_addr(ctx, &addr, &port);
	ctx->user_ip6[3] = addr;
	ctx->user_port = port;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

#endif

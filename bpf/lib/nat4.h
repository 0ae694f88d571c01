/*
 * The tc programs' shared logic (bpf/tc_ingress.bpf.c, bpf/tc_egress.bpf.c): packets from
 * outside the node to NodePorts, externalIPs, LoadBalancer ingress IPs and ClusterIPs are
 * translated to a backend (DNAT, and SNAT to the node's address unless externalTrafficPolicy is
 * Local), their replies back (reverse NAT), by the connection tracking map k8c_ct4_v1; packets
 * to unallocated service IPs are dropped. The frontends and backends are the socket load
 * balancer's maps (lib/lb4.h), so both see one service table.
 */
#ifndef K8C_BPF_LIB_NAT4_H
#define K8C_BPF_LIB_NAT4_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>

#include "lb4.h"

#define K8C_AF_INET	  2
#define K8C_IP_CSUM	  (ETH_HLEN + offsetof(struct iphdr, check))
#define K8C_IP_TTL	  (ETH_HLEN + offsetof(struct iphdr, ttl))
#define K8C_IP_SADDR	  (ETH_HLEN + offsetof(struct iphdr, saddr))
#define K8C_IP_DADDR	  (ETH_HLEN + offsetof(struct iphdr, daddr))
#define K8C_TCP_F_SYN_ACK bpf_htons(0x0012) /* in the 16-bit word at offset 12 of a TCP header */
#define K8C_TCP_F_SYN	  bpf_htons(0x0002)
#define K8C_TCP_F_FIN_RST bpf_htons(0x0005)
/* A SYN on the 4-tuple of a flow idle this long (or closing) starts a new flow; the SNAT port of
 * a flow closed this long ago, or idle this long, is free again. */
#define K8C_FLOW_REUSE_NS  (10 * NSEC_PER_SEC)
#define K8C_CLOSED_FREE_NS (1 * NSEC_PER_SEC)
#define K8C_UDP_FREE_NS	   (30 * NSEC_PER_SEC)
#define K8C_TCP_FREE_NS	   (600 * NSEC_PER_SEC)
#define K8C_SNAT_TRIES	   16
/* Rejects (ICMP errors sent) a CPU may send: K8C_REJECT_PER_SEC, in bursts of K8C_REJECT_BURST
 * (as the kernel's net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst); beyond that, dropped. */
#define K8C_REJECT_PER_SEC 1000
#define K8C_REJECT_BURST   50
#define K8C_REJECT_QUOTE   32 /* bytes of the rejected packet's L4 header quoted, at most */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, K8C_CT4_MAX);
	__type(key, struct k8c_ct4_key);
	__type(value, struct k8c_ct4_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} k8c_ct4_v1 SEC(".maps");

/* An ICMP header (linux/icmp.h includes libc headers a BPF target cannot). */
struct nat4_icmphdr {
	__u8 type, code;
	__u16 checksum;
	__u32 unused;
};

#define K8C_ICMP_DEST_UNREACH 3
#define K8C_ICMP_PORT_UNREACH 3

/* The reject budget of a CPU (a token bucket). */
struct nat4_reject_budget {
	__u64 last_ns;
	__u64 tokens;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nat4_reject_budget);
} k8c_reject_budget SEC(".maps");

/* A parsed IPv4 TCP/UDP packet. */
struct nat4_pkt {
	struct k8c_ct4_key t; /* its 5-tuple */
	__u32 l4off;
	__u16 tcp_flags; /* the TCP header's word at offset 12 (network order) */
	__u16 tot_len;	 /* the IP header's total length */
	__u8 ttl, tos;
};

/* 1: an unfragmented IPv4 TCP or UDP packet, parsed into p; 0: anything else. */
static __always_inline int nat4_parse(struct __sk_buff *skb, struct nat4_pkt *p)
{
	struct iphdr ip;
	__u16 ports[2];

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return 0;
	if (ip.version != 4 || ip.ihl < 5 || (ip.frag_off & bpf_htons(0x3fff)))
		return 0;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return 0;
	p->l4off = ETH_HLEN + ip.ihl * 4;
	if (bpf_skb_load_bytes(skb, p->l4off, ports, sizeof(ports)) < 0)
		return 0;
	p->tcp_flags = 0;
	if (ip.protocol == IPPROTO_TCP &&
	    bpf_skb_load_bytes(skb, p->l4off + 12, &p->tcp_flags, 2) < 0)
		return 0;
	p->t.saddr = ip.saddr;
	p->t.daddr = ip.daddr;
	p->t.sport = ports[0];
	p->t.dport = ports[1];
	p->t.proto = ip.protocol;
	p->ttl = ip.ttl;
	p->tos = ip.tos;
	p->tot_len = bpf_ntohs(ip.tot_len);
	return 1;
}

/* Rewrite one field of size 4 (an address at off in the packet, in the pseudo header too) or 2
 * (a port at off in the L4 header), with the IP (addresses) and L4 checksums. */
static __always_inline int nat4_set(struct __sk_buff *skb, const struct nat4_pkt *p, __u32 off,
				    __u32 from, __u32 to, __u32 size)
{
	__u32 csum = p->l4off + (p->t.proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
							   : offsetof(struct udphdr, check));
	__u64 l4f = size | (size == 4 ? BPF_F_PSEUDO_HDR : 0) |
		    (p->t.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	__u16 to16 = (__u16)to;

	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, csum, from, to, l4f) < 0 ||
	    (size == 4 && bpf_l3_csum_replace(skb, K8C_IP_CSUM, from, to, 4) < 0) ||
	    (size == 4 && bpf_skb_store_bytes(skb, off, &to, 4, 0) < 0) ||
	    (size == 2 && bpf_skb_store_bytes(skb, p->l4off + off, &to16, 2, 0) < 0))
		return -1;
	return 0;
}

/* Write the tuple nw into the packet p (whose tuple is p->t). */
static __always_inline int nat4_rewrite(struct __sk_buff *skb, const struct nat4_pkt *p,
					const struct k8c_ct4_val *nw)
{
	if (nat4_set(skb, p, K8C_IP_SADDR, p->t.saddr, nw->saddr, 4) < 0 ||
	    nat4_set(skb, p, K8C_IP_DADDR, p->t.daddr, nw->daddr, 4) < 0 ||
	    nat4_set(skb, p, 0, p->t.sport, nw->sport, 2) < 0 ||
	    nat4_set(skb, p, 2, p->t.dport, nw->dport, 2) < 0)
		return -1;
	return 0;
}

/*
 * Route a translated packet (tuple nw) at ingress: forwarded straight to the interface the FIB
 * names (bpf_redirect_neigh, TTL decremented), so that a packet whose source is now a node
 * address (SNAT, or a reply's frontend) is not taken for a martian by the input path; a packet
 * for this node itself, or one the FIB cannot forward, goes up the stack.
 */
static __always_inline int nat4_forward(struct __sk_buff *skb, const struct nat4_pkt *p,
					const struct k8c_ct4_val *nw)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	if (p->ttl <= 1)
		return TC_ACT_OK;
	fib.family = K8C_AF_INET;
	fib.tos = p->tos;
	fib.l4_protocol = p->t.proto;
	fib.sport = nw->sport;
	fib.dport = nw->dport;
	fib.tot_len = 0; /* 0: the MTU check that knows GSO packets (is_skb_forwardable) */
	fib.ipv4_src = nw->saddr;
	fib.ipv4_dst = nw->daddr;
	fib.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	{
		__u16 proto = p->t.proto;
		__u16 from = bpf_htons((__u16)(p->ttl << 8) | proto);
		__u16 to = bpf_htons((__u16)((p->ttl - 1) << 8) | proto);
		__u8 ttl = p->ttl - 1;

		if (bpf_l3_csum_replace(skb, K8C_IP_CSUM, from, to, sizeof(to)) < 0 ||
		    bpf_skb_store_bytes(skb, K8C_IP_TTL, &ttl, 1, 0) < 0)
			return TC_ACT_SHOT;
	}
	return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
}

/* 1: the flow of CT entry e is over (closed a while ago, or idle long): its SNAT port is free. */
static __always_inline int nat4_stale(const struct k8c_ct4_val *e, __u8 proto, __u64 now)
{
	if (!e)
		return 1;
	if (proto == IPPROTO_UDP)
		return now - e->last_ns > K8C_UDP_FREE_NS;
	return now - e->last_ns >
	       ((e->flags & K8C_CT_F_CLOSING) ? K8C_CLOSED_FREE_NS : K8C_TCP_FREE_NS);
}

/*
 * The source address and port a masqueraded flow to backend be:bport gets: the address the FIB
 * would send from toward it (Kubernetes' MASQUERADE), or fallback; a port of the SNAT range
 * whose reply entry is free (the reply entry rv is inserted here). 0: no SNAT possible.
 */
static __always_inline int nat4_snat(struct __sk_buff *skb, const struct nat4_pkt *p, __u32 be,
				     __u16 bport, __u32 fallback, struct k8c_ct4_val *rv,
				     struct k8c_ct4_val *fw)
{
	struct bpf_fib_lookup fib = {};
	struct k8c_ct4_key rk = {.saddr = be, .sport = bport, .proto = p->t.proto};
	long rc;

	fib.family = K8C_AF_INET;
	fib.tos = p->tos;
	fib.l4_protocol = p->t.proto;
	fib.ipv4_dst = be;
	fib.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc == BPF_FIB_LKUP_RET_NOT_FWDED)
		return 0; /* the backend is this node: it answers through the egress hook */
	rk.daddr = (rc == BPF_FIB_LKUP_RET_SUCCESS && fib.ipv4_src) ? fib.ipv4_src : fallback;
	if (!rk.daddr)
		return 0;
	for (int i = 0; i < K8C_SNAT_TRIES; i++) {
		__u16 port = K8C_SNAT_PORT_MIN + (__u16)(bpf_get_prandom_u32() % K8C_SNAT_PORT_N);

		/* first a port derived from the client's address and port, so one client flow
		 * (4-tuple) always gets the same backend-side tuple (TCP timestamps stay
		 * monotonic on it; another client flow's reusing it can fail PAWS in the
		 * backend's TIME_WAIT). Never the client's own port: it would be in the node's
		 * ephemeral range, and a reply to a node socket could be taken for ours. */
		if (i == 0)
			port = K8C_SNAT_PORT_MIN +
			       (__u16)((p->t.saddr * 2654435761u ^ p->t.sport) % K8C_SNAT_PORT_N);
		rk.dport = bpf_htons(port);
		if (bpf_map_update_elem(&k8c_ct4_v1, &rk, rv, BPF_NOEXIST) == 0 ||
		    (nat4_stale(bpf_map_lookup_elem(&k8c_ct4_v1, &rk), p->t.proto, rv->last_ns) &&
		     bpf_map_update_elem(&k8c_ct4_v1, &rk, rv, BPF_ANY) == 0)) {
			fw->saddr = rk.daddr;
			fw->sport = rk.dport;
			return 1;
		}
	}
	return -1;
}

static __always_inline __u16 nat4_csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* 1: this CPU may send one more reject now (its token taken). */
static __always_inline int nat4_reject_allowed(void)
{
	__u32 zero = 0;
	struct nat4_reject_budget *b = bpf_map_lookup_elem(&k8c_reject_budget, &zero);
	__u64 now = bpf_ktime_get_ns(), add;

	if (!b)
		return 0;
	add = (now - b->last_ns) / (NSEC_PER_SEC / K8C_REJECT_PER_SEC);
	if (add) {
		b->tokens = b->tokens + add > K8C_REJECT_BURST ? K8C_REJECT_BURST : b->tokens + add;
		b->last_ns = now;
	}
	if (!b->tokens)
		return 0;
	b->tokens--;
	return 1;
}

/*
 * Reject packet p as kube-proxy's nftables rules do (`reject`: ICMP port unreachable, for TCP
 * too, so a client's connect() fails at once with ECONNREFUSED): the packet becomes the ICMP
 * error in place (a new IP and ICMP header before its own IP header and the first bytes of its
 * L4 header, which stay where they are as the quote) and leaves by the interface it came in by,
 * its MAC addresses swapped. Dropped instead beyond the CPU's reject budget, for a packet with
 * IP options, or when a helper fails.
 */
static __always_inline int nat4_reject(struct __sk_buff *skb, const struct nat4_pkt *p)
{
	struct {
		struct iphdr ip;
		struct nat4_icmphdr icmp;
		__u8 quote[sizeof(struct iphdr) + K8C_REJECT_QUOTE];
	} r = {};
	__u8 mac[2 * ETH_ALEN];
	__u32 qlen;

	if (p->l4off != ETH_HLEN + sizeof(struct iphdr) || p->tot_len <= sizeof(struct iphdr) ||
	    !nat4_reject_allowed())
		return TC_ACT_SHOT;
	qlen = p->tot_len - sizeof(struct iphdr);
	if (qlen > K8C_REJECT_QUOTE)
		qlen = K8C_REJECT_QUOTE;
	if (qlen > skb->len - p->l4off)
		qlen = skb->len - p->l4off;
	if (qlen < 8)
		return TC_ACT_SHOT;
	asm volatile(
		""
		: "+r"(qlen)); /* the compiler keeps the bound below, which the verifier needs */
	qlen &= 2 * K8C_REJECT_QUOTE - 1;
	if (qlen > K8C_REJECT_QUOTE ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, r.quote, sizeof(struct iphdr) + qlen) < 0 ||
	    bpf_skb_load_bytes(skb, 0, mac, sizeof(mac)) < 0)
		return TC_ACT_SHOT;
	r.ip.version = 4;
	r.ip.ihl = 5;
	r.ip.tos = 0xc0; /* IPTOS_PREC_INTERNETCONTROL, as the kernel's ICMP errors */
	r.ip.tot_len =
		bpf_htons((__u16)(2 * sizeof(struct iphdr) + sizeof(struct nat4_icmphdr) + qlen));
	r.ip.ttl = 64;
	r.ip.protocol = IPPROTO_ICMP;
	r.ip.saddr = p->t.daddr; /* the address the client asked for */
	r.ip.daddr = p->t.saddr;
	r.icmp.type = K8C_ICMP_DEST_UNREACH;
	r.icmp.code = K8C_ICMP_PORT_UNREACH;
	/* the quote's bytes beyond qlen are 0: they add nothing to the sum */
	r.icmp.checksum = nat4_csum_fold(
		bpf_csum_diff(NULL, 0, (__be32 *)&r.icmp, sizeof(r.icmp) + sizeof(r.quote), 0));
	r.ip.check = nat4_csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&r.ip, sizeof(r.ip), 0));
	if (bpf_skb_change_tail(skb, p->l4off + qlen, 0) < 0 ||
	    bpf_skb_adjust_room(skb, sizeof(r.ip) + sizeof(r.icmp), BPF_ADJ_ROOM_MAC, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &r, sizeof(r.ip) + sizeof(r.icmp), 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, mac + ETH_ALEN, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, mac, ETH_ALEN, 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * The service CIDR's verdict for a packet to an address that is no frontend: a port a ClusterIP
 * does not have is rejected (may_reject: a packet that may start a flow; else dropped), an
 * unallocated service IP dropped; anything else passes.
 */
static __always_inline int nat4_not_frontend(struct __sk_buff *skb, const struct nat4_pkt *p,
					     int may_reject)
{
	__u32 zero = 0, daddr = p->t.daddr;
	struct k8c_cfg4 *cfg = bpf_map_lookup_elem(&k8c_cfg4_v1, &zero);
	struct k8c_lb4_key mark = {.addr = daddr};

	if (!cfg || !cfg->service_mask || (daddr & cfg->service_mask) != cfg->service_net)
		return TC_ACT_OK;
	if (may_reject && bpf_map_lookup_elem(&k8c_lb4_v1, &mark))
		return nat4_reject(skb, p);
	return TC_ACT_SHOT;
}

/* A new flow to a frontend, or TC_ACT_OK when the packet is for none. */
static __always_inline int nat4_new(struct __sk_buff *skb, struct nat4_pkt *p)
{
	struct k8c_lb4_key key = {.addr = p->t.daddr, .port = p->t.dport, .proto = p->t.proto};
	struct k8c_lb4_val *svc, *be;
	struct k8c_ct4_val fw = {}, rv = {};
	__u32 fallback = 0;
	int snat;

	svc = bpf_map_lookup_elem(&k8c_lb4_v1, &key);
	if (!svc && bpf_map_lookup_elem(&k8c_nodeip4_v1, &p->t.daddr)) {
		key.addr = 0; /* a NodePort */
		svc = bpf_map_lookup_elem(&k8c_lb4_v1, &key);
		fallback = p->t.daddr;
	}
	if (!svc)
		return nat4_not_frontend(skb, p, 1);
	if (svc->count == 0) /* no endpoints: rejected; none local under Local: dropped */
		return (svc->flags & K8C_LB_F_DROP) ? TC_ACT_SHOT : nat4_reject(skb, p);
	be = lb4_pick(&key, svc, K8C_AFF_CLIENT_IP | p->t.saddr);
	if (!be)
		return TC_ACT_SHOT;
	fw.saddr = p->t.saddr;
	fw.sport = p->t.sport;
	fw.daddr = be->addr;
	fw.dport = be->port;
	/* the reply entry: backend -> (SNAT or client) becomes frontend -> client */
	rv.saddr = p->t.daddr;
	rv.sport = p->t.dport;
	rv.daddr = p->t.saddr;
	rv.dport = p->t.sport;
	rv.flags = K8C_CT_F_REPLY;
	rv.last_ns = fw.last_ns = bpf_ktime_get_ns();
	snat = 0;
	if (!(svc->flags & K8C_LB_F_LOCAL)) {
		rv.flags |= K8C_CT_F_SNAT;
		snat = nat4_snat(skb, p, be->addr, be->port, fallback, &rv, &fw);
		if (snat < 0)
			return TC_ACT_SHOT; /* no free SNAT port */
		if (snat)
			fw.flags = K8C_CT_F_SNAT;
	}
	if (!snat) {
		struct k8c_ct4_key rk = {.saddr = be->addr,
					 .daddr = p->t.saddr,
					 .sport = be->port,
					 .dport = p->t.sport,
					 .proto = p->t.proto};

		rv.flags &= ~K8C_CT_F_SNAT;
		if (bpf_map_update_elem(&k8c_ct4_v1, &rk, &rv, BPF_ANY) < 0)
			return TC_ACT_SHOT;
	}
	if (bpf_map_update_elem(&k8c_ct4_v1, &p->t, &fw, BPF_ANY) < 0)
		return TC_ACT_SHOT;
	if (nat4_rewrite(skb, p, &fw) < 0)
		return TC_ACT_SHOT;
	return nat4_forward(skb, p, &fw);
}

/*
 * A packet of a tracked flow (ct: its entry): its entry's last use, and a TCP FIN or RST marks
 * both entries of the flow closing (the other one is keyed by ct's tuple reversed).
 */
static __always_inline void nat4_track(const struct nat4_pkt *p, struct k8c_ct4_val *ct, __u64 now)
{
	ct->last_ns = now;
	if (p->t.proto == IPPROTO_TCP && (p->tcp_flags & K8C_TCP_F_FIN_RST) &&
	    !(ct->flags & K8C_CT_F_CLOSING)) {
		struct k8c_ct4_key ok = {.saddr = ct->daddr,
					 .daddr = ct->saddr,
					 .sport = ct->dport,
					 .dport = ct->sport,
					 .proto = p->t.proto};
		struct k8c_ct4_val *other = bpf_map_lookup_elem(&k8c_ct4_v1, &ok);

		ct->flags |= K8C_CT_F_CLOSING;
		if (other) {
			other->flags |= K8C_CT_F_CLOSING;
			other->last_ns = now;
		}
	}
}

/* The CT entry of packet p; a TCP flow that closed over a second ago is gone (its entries are
 * deleted): its 4-tuple may be a new, unrelated flow now, such as a node socket's. */
static __always_inline struct k8c_ct4_val *nat4_lookup(const struct nat4_pkt *p, __u64 now)
{
	struct k8c_ct4_val *ct = bpf_map_lookup_elem(&k8c_ct4_v1, &p->t);

	if (ct && (ct->flags & K8C_CT_F_CLOSING) && now - ct->last_ns > K8C_CLOSED_FREE_NS) {
		bpf_map_delete_elem(&k8c_ct4_v1, &p->t);
		return NULL;
	}
	return ct;
}

/* Parse skb into p (0: not an IPv4 TCP/UDP packet); *ct: its CT entry or NULL. */
static __always_inline int nat4_begin(struct __sk_buff *skb, struct nat4_pkt *p,
				      struct k8c_ct4_val **ct, __u64 *now)
{
	if (!nat4_parse(skb, p))
		return 0;
	*now = bpf_ktime_get_ns();
	*ct = nat4_lookup(p, *now);
	return 1;
}

/* A packet of the tracked flow ct: tracked, rewritten to ct's tuple (copied into *nw). */
static __always_inline int nat4_follow(struct __sk_buff *skb, const struct nat4_pkt *p,
				       struct k8c_ct4_val *ct, __u64 now, struct k8c_ct4_val *nw)
{
	nat4_track(p, ct, now);
	*nw = *ct;
	return nat4_rewrite(skb, p, nw);
}

/* Ingress on a node interface: translate flows from outside and the replies of translated ones. */
static __always_inline int nat4_ingress(struct __sk_buff *skb)
{
	struct nat4_pkt p = {};
	struct k8c_ct4_val *ct, nw;
	__u64 now;

	if (!nat4_begin(skb, &p, &ct, &now))
		return TC_ACT_OK;
	if (!ct) {
		/* a TCP flow starts with a SYN: other packets of no tracked flow (most of what the
		 * pods send through this hook) need no frontend lookup, only the service CIDR's */
		if (p.t.proto == IPPROTO_TCP && (p.tcp_flags & K8C_TCP_F_SYN_ACK) != K8C_TCP_F_SYN)
			return nat4_not_frontend(skb, &p, 0);
		return nat4_new(skb, &p);
	}
	/* a new connection on the 4-tuple of an old one (closing, or idle): balanced anew */
	if (!(ct->flags & K8C_CT_F_REPLY) && (p.tcp_flags & K8C_TCP_F_SYN_ACK) == K8C_TCP_F_SYN &&
	    ((ct->flags & K8C_CT_F_CLOSING) || now - ct->last_ns > K8C_FLOW_REUSE_NS))
		return nat4_new(skb, &p);
	if (nat4_follow(skb, &p, ct, now, &nw) < 0)
		return TC_ACT_SHOT;
	return nat4_forward(skb, &p, &nw);
}

/* Egress: the replies of node-local backends (and of flows whose reply entered through an
 * interface without the ingress program) get their frontend address back. */
static __always_inline int nat4_egress(struct __sk_buff *skb)
{
	struct nat4_pkt p = {};
	struct k8c_ct4_val *ct, nw;
	__u64 now;

	if (!nat4_begin(skb, &p, &ct, &now) || !ct || !(ct->flags & K8C_CT_F_REPLY))
		return TC_ACT_OK;
	return nat4_follow(skb, &p, ct, now, &nw) < 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

#endif

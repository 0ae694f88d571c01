/*
 * bpf/tc_ingress.bpf.c and bpf/tc_egress.bpf.c run by the kernel with BPF_PROG_TEST_RUN: a packet
 * in, the packet out checked (addresses, ports, IP and L4 checksums, verdict). The skeletons are
 * loaded with their maps not pinned (the egress object shares the ingress object's maps). Needs
 * root and BPF: exits 77 (skipped) without them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "k8c_lb.h"
#include "tc_egress.skel.h"
#include "tc_ingress.skel.h"

static struct k8c_tc_ingress *in;
static struct k8c_tc_egress *eg;

#define A(s) inet_addr(s)

/* The IP header 4-byte aligned, as a NIC driver's NET_IP_ALIGN headroom gives it: b starts 2
 * bytes into an aligned struct, so b + ETH_HLEN is aligned (UBSan checks the header casts). */
struct pkt {
	uint16_t headroom;
	uint8_t b[128];
	size_t len;
} __attribute__((aligned(8)));

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t csum_add(uint32_t s, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)(b[n - 1] << 8);
	return s;
}

static struct iphdr *ip_of(struct pkt *p)
{
	return (struct iphdr *)(p->b + ETH_HLEN);
}
static uint8_t *l4_of(struct pkt *p)
{
	return p->b + ETH_HLEN + sizeof(struct iphdr);
}

/* The L4 checksum over the pseudo header and segment: 0xffff when the packet's is right. */
static uint16_t l4_sum(struct pkt *p)
{
	struct iphdr *ip = ip_of(p);
	size_t l4len = ntohs(ip->tot_len) - sizeof(*ip);
	uint32_t s = 0;
	uint8_t ph[12];

	memcpy(ph, &ip->saddr, 4);
	memcpy(ph + 4, &ip->daddr, 4);
	ph[8] = 0;
	ph[9] = ip->protocol;
	ph[10] = (uint8_t)(l4len >> 8);
	ph[11] = (uint8_t)l4len;
	s = csum_add(s, ph, sizeof(ph));
	s = csum_add(s, l4_of(p), l4len);
	return csum_fold(s);
}

static uint16_t ip_sum(struct pkt *p)
{
	return csum_fold(csum_add(0, ip_of(p), 20));
}

/* A TCP (flags) or UDP packet with a payload and correct checksums (udp_nocsum: UDP's 0). */
static struct pkt mkpkt(int proto, const char *src, uint16_t sport, const char *dst, uint16_t dport,
			uint8_t tcp_flags, bool udp_nocsum)
{
	struct pkt p = {0};
	struct ethhdr *eth = (struct ethhdr *)p.b;
	struct iphdr *ip = ip_of(&p);
	size_t l4len = proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	const char payload[] = "hello";

	memset(eth->h_dest, 0x02, ETH_ALEN);
	memset(eth->h_source, 0x04, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = (uint8_t)proto;
	ip->saddr = A(src);
	ip->daddr = A(dst);
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4len + sizeof(payload)));
	ip->id = htons(1234);
	memcpy(l4_of(&p) + l4len, payload, sizeof(payload));
	if (proto == IPPROTO_TCP) {
		struct tcphdr *t = (struct tcphdr *)l4_of(&p);

		t->source = htons(sport);
		t->dest = htons(dport);
		t->seq = htonl(1000);
		t->doff = 5;
		t->syn = !!(tcp_flags & 0x02);
		t->ack = !!(tcp_flags & 0x10);
		t->fin = !!(tcp_flags & 0x01);
		t->window = htons(512);
		t->check = htons((uint16_t)~l4_sum(&p));
	} else {
		struct udphdr *u = (struct udphdr *)l4_of(&p);

		u->source = htons(sport);
		u->dest = htons(dport);
		u->len = htons((uint16_t)(l4len + sizeof(payload)));
		if (!udp_nocsum) {
			u->check = htons((uint16_t)~l4_sum(&p));
			if (!u->check)
				u->check = 0xffff;
		}
	}
	ip->check = htons((uint16_t)~ip_sum(&p));
	p.len = ETH_HLEN + sizeof(*ip) + l4len + sizeof(payload);
	return p;
}

/* Run prog on p (ingress_ifindex: 0, so no FIB route is ever found); returns the verdict, the
 * packet out in *out. */
static int run(int prog_fd, struct pkt *p, struct pkt *out, uint32_t ifindex)
{
	struct __sk_buff ctx = {.ingress_ifindex = ifindex, .ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	memset(out, 0, sizeof(*out));
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	out->len = o.data_size_out;
	return (int)o.retval;
}

static int run_in(struct pkt *p, struct pkt *out)
{
	return run(bpf_program__fd(in->progs.k8c_tc_ingress), p, out, 0);
}

static int run_eg(struct pkt *p, struct pkt *out)
{
	return run(bpf_program__fd(eg->progs.k8c_tc_egress), p, out, 0);
}

static void ports(struct pkt *p, uint16_t *s, uint16_t *d)
{
	uint16_t v[2];

	memcpy(v, l4_of(p), sizeof(v));
	*s = ntohs(v[0]);
	*d = ntohs(v[1]);
}

/* out has these addresses and ports, valid IP and L4 checksums and an unchanged payload. */
static void expect(struct pkt *out, const char *src, int sport, const char *dst, uint16_t dport)
{
	struct iphdr *ip = ip_of(out);
	uint16_t s, d;

	assert_int_equal(ip->saddr, A(src));
	assert_int_equal(ip->daddr, A(dst));
	ports(out, &s, &d);
	if (sport >= 0)
		assert_int_equal(s, sport);
	assert_int_equal(d, dport);
	assert_int_equal(ip_sum(out), 0xffff);
	if (ip->protocol == IPPROTO_TCP || ((struct udphdr *)l4_of(out))->check)
		assert_int_equal(l4_sum(out), 0xffff);
	assert_memory_equal(out->b + out->len - 6, "hello", 6);
}

static void lb_put(uint32_t addr, uint16_t port, uint8_t proto, uint16_t slot, uint32_t baddr,
		   uint16_t bport, uint16_t count, uint32_t flags)
{
	struct k8c_lb4_key k = {.addr = addr, .port = htons(port), .proto = proto, .slot = slot};
	struct k8c_lb4_val v = {
		.addr = baddr, .port = htons(bport), .count = count, .flags = flags};

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(in->maps.k8c_lb4_v1), &k, &v, BPF_ANY), 0);
}

static int setup(void **state)
{
	uint32_t zero = 0, node = A("192.0.2.1");
	uint8_t one = 1;
	struct k8c_cfg4 cfg = {.service_net = A("10.96.0.0"), .service_mask = htonl(0xfff00000)};

	(void)state;
	/* NodePort 30080/TCP -> 10.244.0.3:8080 (masqueraded) */
	lb_put(0, 30080, IPPROTO_TCP, 0, 0, 0, 1, 0);
	lb_put(0, 30080, IPPROTO_TCP, 1, A("10.244.0.3"), 8080, 0, 0);
	/* externalIP 198.51.100.50:53/UDP, externalTrafficPolicy Local -> 10.244.0.4:5353 */
	lb_put(A("198.51.100.50"), 53, IPPROTO_UDP, 0, 0, 0, 1, K8C_LB_F_LOCAL);
	lb_put(A("198.51.100.50"), 53, IPPROTO_UDP, 1, A("10.244.0.4"), 5353, 0, 0);
	/* ClusterIP 10.96.0.11:80 without endpoints, with its marker */
	lb_put(A("10.96.0.11"), 0, 0, 0, 0, 0, 0, K8C_LB_F_MARK);
	lb_put(A("10.96.0.11"), 80, IPPROTO_TCP, 0, 0, 0, 0, 0);
	lb_put(A("10.96.0.11"), 53, IPPROTO_UDP, 0, 0, 0, 0, 0);
	lb_put(A("10.96.0.11"), 82, IPPROTO_TCP, 0, 0, 0, 0, K8C_LB_F_DROP);
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(in->maps.k8c_nodeip4_v1), &node, &one, BPF_ANY), 0);
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(in->maps.k8c_cfg4_v1), &zero, &cfg, BPF_ANY), 0);
	return 0;
}

static void test_nodeport_dnat_snat_and_reply(void **state)
{
	struct pkt p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40000, "192.0.2.1", 30080, 0x02, false), o;
	uint16_t snat, d, snat2;

	(void)state;
	/* SYN in: DNAT to the backend, SNAT to the node address (no FIB route: the NodePort's) */
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", -1, "10.244.0.3", 8080);
	ports(&o, &snat, &d);
	assert_true(snat >= K8C_SNAT_PORT_MIN); /* the range ends at 65535 */
	assert_int_equal(o.len, p.len);
	assert_int_equal(ip_of(&o)->ttl, 64); /* not forwarded here: the stack decrements it */

	/* the SYN-ACK back: reverse NAT to frontend -> client */
	p = mkpkt(IPPROTO_TCP, "10.244.0.3", 8080, "192.0.2.1", snat, 0x12, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", 30080, "192.0.2.2", 40000);

	/* the client's next packet: the same flow, the same SNAT port */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40000, "192.0.2.1", 30080, 0x10, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", snat, "10.244.0.3", 8080);
	ports(&o, &snat2, &d);
	assert_int_equal(snat2, snat);

	/* the reply leaving through an egress hook instead: the same reverse NAT */
	p = mkpkt(IPPROTO_TCP, "10.244.0.3", 8080, "192.0.2.1", snat, 0x10, false);
	assert_int_equal(run_eg(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", 30080, "192.0.2.2", 40000);

	/* another client with the same port: another SNAT port (the first one's is taken) */
	p = mkpkt(IPPROTO_TCP, "192.0.2.3", 40000, "192.0.2.1", 30080, 0x02, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", -1, "10.244.0.3", 8080);
	ports(&o, &snat2, &d);
	assert_true(snat2 >= K8C_SNAT_PORT_MIN && snat2 != snat);
	p = mkpkt(IPPROTO_TCP, "10.244.0.3", 8080, "192.0.2.1", snat2, 0x12, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.1", 30080, "192.0.2.3", 40000);

	/* a FIN marks the flow closing: a SYN on its 4-tuple is balanced anew at once */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40000, "192.0.2.1", 30080, 0x11, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	{
		struct k8c_ct4_key k = {.saddr = A("192.0.2.2"),
					.daddr = A("192.0.2.1"),
					.sport = htons(40000),
					.dport = htons(30080),
					.proto = IPPROTO_TCP};
		struct k8c_ct4_val v;

		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(in->maps.k8c_ct4_v1), &k, &v), 0);
		assert_true(v.flags & K8C_CT_F_CLOSING);
		k = (struct k8c_ct4_key){.saddr = A("10.244.0.3"),
					 .daddr = A("192.0.2.1"),
					 .sport = htons(8080),
					 .dport = htons(snat),
					 .proto = IPPROTO_TCP};
		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(in->maps.k8c_ct4_v1), &k, &v), 0);
		assert_true(v.flags & K8C_CT_F_CLOSING); /* the reply entry too */
	}
}

static void test_local_udp_keeps_client(void **state)
{
	struct pkt p = mkpkt(IPPROTO_UDP, "192.0.2.2", 41000, "198.51.100.50", 53, 0, false), o;

	(void)state;
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.2", 41000, "10.244.0.4", 5353);
	/* the backend's reply leaves through egress: source back to the externalIP */
	p = mkpkt(IPPROTO_UDP, "10.244.0.4", 5353, "192.0.2.2", 41000, 0, false);
	assert_int_equal(run_eg(&p, &o), TC_ACT_OK);
	expect(&o, "198.51.100.50", 53, "192.0.2.2", 41000);
	/* a datagram without checksum keeps none */
	p = mkpkt(IPPROTO_UDP, "192.0.2.2", 41001, "198.51.100.50", 53, 0, true);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	expect(&o, "192.0.2.2", 41001, "10.244.0.4", 5353);
	assert_int_equal(((struct udphdr *)l4_of(&o))->check, 0);
}

/* out is the ICMP port unreachable rejecting req: from req's destination to its source, the MAC
 * addresses swapped, both checksums right, quoting req's IP header and its first L4 bytes. */
static void expect_reject(struct pkt *req, struct pkt *out)
{
	struct iphdr *ip = ip_of(out);
	uint8_t *icmp = out->b + ETH_HLEN + sizeof(*ip);
	size_t l4 = req->len - ETH_HLEN - sizeof(*ip), qlen = l4 < 32 ? l4 : 32;

	assert_int_equal(out->len, ETH_HLEN + 2 * sizeof(*ip) + 8 + qlen);
	assert_memory_equal(out->b, req->b + ETH_ALEN, ETH_ALEN);
	assert_memory_equal(out->b + ETH_ALEN, req->b, ETH_ALEN);
	assert_int_equal(ip->version, 4);
	assert_int_equal(ip->ihl, 5);
	assert_int_equal(ip->protocol, IPPROTO_ICMP);
	assert_int_equal(ip->saddr, ip_of(req)->daddr);
	assert_int_equal(ip->daddr, ip_of(req)->saddr);
	assert_int_equal(ntohs(ip->tot_len), out->len - ETH_HLEN);
	assert_int_equal(ip_sum(out), 0xffff);
	assert_int_equal(icmp[0], 3); /* destination unreachable */
	assert_int_equal(icmp[1], 3); /* port unreachable */
	assert_int_equal(csum_fold(csum_add(0, icmp, out->len - ETH_HLEN - sizeof(*ip))), 0xffff);
	assert_memory_equal(icmp + 8, req->b + ETH_HLEN, sizeof(*ip) + qlen);
}

static void test_rejects_and_drops(void **state)
{
	struct pkt p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.99", 80, 0x02, false), o;

	(void)state;
	assert_int_equal(run_in(&p, &o), TC_ACT_SHOT); /* unallocated service IP: dropped */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.99", 80, 0x10, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_SHOT); /* not a SYN either */
	/* a service without endpoints: rejected, as kube-proxy does (ICMP port unreachable) */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.11", 80, 0x02, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_REDIRECT);
	expect_reject(&p, &o);
	p = mkpkt(IPPROTO_UDP, "192.0.2.2", 40001, "10.96.0.11", 53, 0, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_REDIRECT);
	expect_reject(&p, &o);
	/* a port the ClusterIP does not have: rejected; a packet of no flow there: dropped */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.11", 81, 0x02, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_REDIRECT);
	expect_reject(&p, &o);
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.11", 81, 0x10, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_SHOT);
	/* externalTrafficPolicy Local without a local endpoint: dropped, as kube-proxy does */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40001, "10.96.0.11", 82, 0x02, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_SHOT);
}

/* Rejects are rate-limited per CPU (1,000/s, bursts of 50): on one CPU, n rejects in t ms send
 * at most 50 + t + 1 ICMP errors; the rest are dropped. */
static void test_reject_budget(void **state)
{
	struct pkt p = mkpkt(IPPROTO_UDP, "192.0.2.2", 40001, "10.96.0.11", 53, 0, false), o;
	struct timespec t0, t1;
	cpu_set_t one;
	int sent = 0, n = 500;
	long ms;

	(void)state;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		int rc = run_in(&p, &o);

		assert_true(rc == TC_ACT_REDIRECT || rc == TC_ACT_SHOT);
		sent += rc == TC_ACT_REDIRECT;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (sent > 50 + ms + 1)
		fail_msg("%d rejects sent of %d in %ld ms: over the budget", sent, n, ms);
	assert_true(sent >= 1);
}

static void test_pass_through(void **state)
{
	struct pkt p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40002, "10.244.0.3", 8080, 0x02, false), o;

	(void)state;
	/* not a service: untouched, both ways */
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	assert_int_equal(o.len, p.len);
	assert_memory_equal(o.b, p.b, p.len);
	assert_int_equal(run_eg(&p, &o), TC_ACT_OK);
	assert_memory_equal(o.b, p.b, p.len);
	/* a TCP packet of no tracked flow that is no SYN: not balanced (passes) */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40009, "192.0.2.1", 30080, 0x10, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	assert_memory_equal(o.b, p.b, p.len);
	/* a node address but no NodePort there */
	p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40002, "192.0.2.1", 30081, 0x02, false);
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	assert_memory_equal(o.b, p.b, p.len);
	/* not IPv4: an ARP frame */
	p.b[12] = 0x08;
	p.b[13] = 0x06;
	assert_int_equal(run_in(&p, &o), TC_ACT_OK);
	assert_memory_equal(o.b, p.b, p.len);
}

/* In a network namespace of our own with a route to the pods: the translated packet is
 * forwarded straight to the route's interface (TC_ACT_REDIRECT, TTL decremented) and SNAT takes
 * the route's source address. */
static void test_forward_by_fib(void **state)
{
	struct pkt p = mkpkt(IPPROTO_TCP, "192.0.2.2", 40003, "192.0.2.1", 30080, 0x02, false), o;

	(void)state;
	if (unshare(CLONE_NEWNET) < 0)
		fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	assert_int_equal(system("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
				"ip addr add 169.254.1.1/32 dev lo && "
				"ip route add 10.244.0.0/16 dev lo src 169.254.1.1 && "
				"sysctl -qw net.ipv4.conf.all.forwarding=1"),
			 0);
	assert_int_equal(run(bpf_program__fd(in->progs.k8c_tc_ingress), &p, &o, 1),
			 TC_ACT_REDIRECT);
	expect(&o, "169.254.1.1", -1, "10.244.0.3", 8080);
	assert_int_equal(ip_of(&o)->ttl, 63);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodeport_dnat_snat_and_reply),
		cmocka_unit_test(test_local_udp_keeps_client),
		cmocka_unit_test(test_rejects_and_drops),
		cmocka_unit_test(test_reject_budget),
		cmocka_unit_test(test_pass_through),
		cmocka_unit_test(test_forward_by_fib),
	};
	struct bpf_map *m;
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	in = k8c_tc_ingress__open();
	if (!in) {
		fprintf(stderr, "SKIP: cannot open the BPF object: %s\n", strerror(errno));
		return 77;
	}
	bpf_object__for_each_map(m, in->obj) bpf_map__set_pin_path(m, NULL);
	rc = k8c_tc_ingress__load(in);
	if (rc == -EPERM || rc == -ENOSYS || rc == -EOPNOTSUPP) {
		fprintf(stderr, "SKIP: cannot load BPF programs here: %s\n", strerror(-rc));
		return 77;
	}
	if (rc < 0) {
		fprintf(stderr, "load tc_ingress: %s\n", strerror(-rc));
		return 1;
	}
	eg = k8c_tc_egress__open();
	if (!eg)
		return 1;
	bpf_object__for_each_map(m, eg->obj)
	{
		bpf_map__set_pin_path(m, NULL);
		if (bpf_map__reuse_fd(m, bpf_map__fd(bpf_object__find_map_by_name(
						 in->obj, bpf_map__name(m)))) < 0)
			return 1;
	}
	if (k8c_tc_egress__load(eg) < 0) {
		fprintf(stderr, "load tc_egress: %s\n", strerror(errno));
		return 1;
	}
	rc = cmocka_run_group_tests(tests, setup, NULL);
	k8c_tc_egress__destroy(eg);
	k8c_tc_ingress__destroy(in);
	return rc;
}

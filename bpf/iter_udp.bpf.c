// SPDX-License-Identifier: GPL-2.0
/*
 * iter/udp: UDP sockets the socket load balancer connected to a backend that no service has any
 * more are destroyed (bpf_sock_destroy, kernel >= 6.5: the application's next call fails with
 * ECONNABORTED and it opens a new socket, which is balanced again), as kube-proxy deletes the
 * conntrack entries of UDP flows to removed endpoints. k8c-proxy fills k8c_gone4 with those
 * backends and runs this iterator in each network namespace of --cgroup-path's processes.
 */
#include "lib/lb4.h"

/* The kernel's structures, only the fields read (CO-RE: located by name in the kernel's BTF). */
struct sock_common {
	__u32 skc_daddr;
	__u16 skc_dport;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct udp_sock;

struct bpf_iter__udp {
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* Backends (address, port) gone from every service: filled by k8c-proxy before a run. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct k8c_rnat4_val);
	__type(value, __u8);
} k8c_gone4 SEC(".maps");

__u64 destroyed; /* sockets destroyed since k8c-proxy last reset it */

SEC("iter/udp")
int k8c_iter_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	struct k8c_rnat4_val gone = {};
	struct k8c_sknat4 *nat;
	int ours = 0;

	if (!sk)
		return 0;
	gone.addr = sk->__sk_common.skc_daddr;
	gone.port = sk->__sk_common.skc_dport;
	if (!gone.addr || !bpf_map_lookup_elem(&k8c_gone4, &gone))
		return 0;
	/* only sockets the balancer sent there (their reverse NAT names that backend) */
	if (lb4_cknat_get(bpf_get_socket_cookie(sk), gone.addr, gone.port))
		ours = 1;
	nat = ours ? NULL : bpf_sk_storage_get(&k8c_sknat4_v1, sk, NULL, 0);
	for (int i = 0; nat && i < K8C_SKNAT4_N; i++)
		ours |= nat->e[i].be.addr == gone.addr && nat->e[i].be.port == gone.port;
	if (!ours)
		return 0;
	if (bpf_sock_destroy(&sk->__sk_common) == 0)
		destroyed++;
	return 0;
}

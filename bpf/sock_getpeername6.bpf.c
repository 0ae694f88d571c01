// SPDX-License-Identifier: GPL-2.0
/* cgroup/getpeername6: the socket load balancer's getpeername6 hook for IPv4 services reached through
 * IPv4-mapped IPv6 addresses (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/getpeername6")
int k8c_getpeername6(struct bpf_sock_addr *ctx)
{
	return lb6_rev(ctx);
}

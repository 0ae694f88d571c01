// SPDX-License-Identifier: GPL-2.0
/* cgroup/sendmsg6: the socket load balancer's sendmsg6 hook for IPv4 services reached through
 * IPv4-mapped IPv6 addresses (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/sendmsg6")
int k8c_sendmsg6(struct bpf_sock_addr *ctx)
{
	return lb6_xlate(ctx, LB4_NAT_SENDMSG);
}

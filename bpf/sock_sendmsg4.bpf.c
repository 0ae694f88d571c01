// SPDX-License-Identifier: GPL-2.0
/* cgroup/sendmsg4: the socket load balancer's sendmsg4 hook (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/sendmsg4")
int k8c_sendmsg4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate(ctx, LB4_NAT_SENDMSG);
}

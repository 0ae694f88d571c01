// SPDX-License-Identifier: GPL-2.0
/* cgroup/connect4: the socket load balancer's connect4 hook (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/connect4")
int k8c_connect4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate(ctx, LB4_NAT_CONNECT);
}

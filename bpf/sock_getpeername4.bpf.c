// SPDX-License-Identifier: GPL-2.0
/* cgroup/getpeername4: the socket load balancer's getpeername4 hook (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/getpeername4")
int k8c_getpeername4(struct bpf_sock_addr *ctx)
{
	return lb4_rev(ctx);
}

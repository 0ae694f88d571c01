// SPDX-License-Identifier: GPL-2.0
/* cgroup/recvmsg4: the socket load balancer's recvmsg4 hook (bpf/lib/lb4.h). */
#include "lib/lb4.h"

SEC("cgroup/recvmsg4")
int k8c_recvmsg4(struct bpf_sock_addr *ctx)
{
	return lb4_rev(ctx);
}

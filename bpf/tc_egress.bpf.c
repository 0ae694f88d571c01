// SPDX-License-Identifier: GPL-2.0
/* tc egress (tcx) on the node's interfaces: replies of translated flows leaving the node
 * (bpf/lib/nat4.h). */
#include "lib/nat4.h"

SEC("tc")
int k8c_tc_egress(struct __sk_buff *skb)
{
	return nat4_egress(skb);
}

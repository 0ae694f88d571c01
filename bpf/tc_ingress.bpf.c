// SPDX-License-Identifier: GPL-2.0
/* tc ingress (tcx) on the node's interfaces: traffic from outside the node to services
 * (bpf/lib/nat4.h). */
#include "lib/nat4.h"

SEC("tc")
int k8c_tc_ingress(struct __sk_buff *skb)
{
	return nat4_ingress(skb);
}

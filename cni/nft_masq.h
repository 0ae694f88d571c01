/*
 * IP masquerade for pod traffic leaving its network (the reference bridge plugin's ipMasq),
 * programmed over netlink in table `inet k8c_cni`:
 *
 *   set masq4   { type ipv4_addr; }                          pod addresses
 *   set nomasq4 { type ipv4_addr . ipv4_addr; flags interval; }  pod address . its own subnet,
 *                                                                  pod address . each exception
 *   (masq6 / nomasq6 likewise for IPv6)
 *   chain postrouting { type nat hook postrouting priority srcnat;
 *     ip saddr @masq4 ip daddr != 224.0.0.0/4 ip saddr . ip daddr != @nomasq4 masquerade
 *     ip6 saddr @masq6 ip6 daddr != ff00::/8 ip6 saddr . ip6 daddr != @nomasq6 masquerade }
 *
 * An ADD costs one transaction of a fixed size, whatever the number of pods: the table, chain
 * and sets are created idempotently, the two rules are replaced (flush + add) and the elements
 * added. Every element's comment names its owner "<network>/<containerID>/<ifname>"
 * (nft_owner.h), which DEL and GC use to find it. Functions return <0 with err set.
 *
 * Exceptions (the bridge's "ipMasqExceptions", e.g. the cluster CIDR so that pod-to-pod traffic
 * across nodes keeps the pod's address) are more destinations of the pod that are not
 * masqueraded: one more nomasq element per exception of the pod's family. A range inside another
 * (the pod's subnet inside the cluster CIDR) is left out, since the kernel refuses overlapping
 * intervals in a set.
 */
#ifndef K8C_CNI_NFT_MASQ_H
#define K8C_CNI_NFT_MASQ_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "ipaddr.h"
#include "nft_batch.h"

#define CNI_MASQ_TABLE	    "k8c_cni"
#define CNI_MASQ_CHAIN	    "postrouting"
#define CNI_MASQ_MAX_EXCEPT 16

/* Append the idempotent creation of table, chain, sets and rules to b. */
void cni_masq_build_setup(struct nft_batch *b);
/* Append setup plus the elements for ips (addresses with the prefix of their subnet) and the
 * n_except prefixes of except (at most CNI_MASQ_MAX_EXCEPT; may be NULL) to b. */
int cni_masq_build_add(struct nft_batch *b, const char *network, const char *container_id,
		       const char *ifname, const struct k8c_ipnet *ips, size_t n,
		       const struct k8c_ipnet *except, size_t n_except, struct k8c_error *err);
/* Masquerade traffic from ips leaving their subnets, except to the prefixes of except;
 * re-adding the same elements succeeds and moves them to this owner. */
int cni_masq_add(const char *network, const char *container_id, const char *ifname,
		 const struct k8c_ipnet *ips, size_t n, const struct k8c_ipnet *except,
		 size_t n_except, struct k8c_error *err);
/* Remove the elements owned by network/container_id/ifname; ips (may be NULL) restricts the
 * removal to those addresses. Elements are always matched by owner, so an address re-used by
 * another container is left alone. Nothing to delete is success. */
int cni_masq_del(const char *network, const char *container_id, const char *ifname,
		 const struct k8c_ipnet *ips, size_t n, struct k8c_error *err);
/* Fail unless the rules are present and every address of ips has all its elements (the address,
 * its subnet, the exceptions), owned by this attachment. */
int cni_masq_check(const char *network, const char *container_id, const char *ifname,
		   const struct k8c_ipnet *ips, size_t n, const struct k8c_ipnet *except,
		   size_t n_except, struct k8c_error *err);
/* Remove the elements of network whose (container_id, ifname) keep() rejects; *removed (may be
 * NULL) gets the number of elements removed. */
int cni_masq_gc(const char *network,
		bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
		size_t *removed, struct k8c_error *err);

#endif

/*
 * MAC spoofing check (the reference bridge plugin's macspoofchk): frames entering the bridge from
 * a container's host-side veth with a source MAC other than the container's are dropped.
 * Programmed over netlink in table `bridge k8c_cni_macspoof`:
 *
 *   set ports   { type ifname; }               host-side veths under the check
 *   set allowed { type ifname . ether_addr; }  veth . the container's MAC
 *   chain prerouting { type filter hook prerouting priority -300;
 *     iifname @ports iifname . ether saddr != @allowed drop }
 *
 * An ADD is one fixed-size transaction; elements carry their owner
 * "<network>/<containerID>/<ifname>" in their comment (nft_owner.h) for DEL and GC.
 * Functions return <0 with err set.
 */
#ifndef K8C_CNI_NFT_MACSPOOF_H
#define K8C_CNI_NFT_MACSPOOF_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "nft_batch.h"

#define CNI_MACSPOOF_TABLE "k8c_cni_macspoof"
#define CNI_MACSPOOF_CHAIN "prerouting"

/* Append the idempotent creation of table, chain, sets and rule to b. */
void cni_macspoof_build_setup(struct nft_batch *b);
/* Append setup plus the elements for host_ifname and mac ("aa:bb:cc:dd:ee:ff") to b. */
int cni_macspoof_build_add(struct nft_batch *b, const char *network, const char *container_id,
			   const char *ifname, const char *host_ifname, const char *mac,
			   struct k8c_error *err);
/* Drop frames from host_ifname whose source MAC is not mac; re-adding succeeds. */
int cni_macspoof_add(const char *network, const char *container_id, const char *ifname,
		     const char *host_ifname, const char *mac, struct k8c_error *err);
/* Remove the elements owned by network/container_id/ifname; nothing to delete is success. */
int cni_macspoof_del(const char *network, const char *container_id, const char *ifname,
		     struct k8c_error *err);
/* Fail unless the rule is present and both elements exist for host_ifname and mac, owned by
 * this attachment. */
int cni_macspoof_check(const char *network, const char *container_id, const char *ifname,
		       const char *host_ifname, const char *mac, struct k8c_error *err);
/* Remove the elements of network whose (container_id, ifname) keep() rejects; *removed (may be
 * NULL) gets their number. */
int cni_macspoof_gc(const char *network,
		    bool (*keep)(const char *container_id, const char *ifname, void *arg),
		    void *arg, size_t *removed, struct k8c_error *err);

#endif

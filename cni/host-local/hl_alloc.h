/*
 * The k8c-host-local commands over a parsed config and the on-disk store: round-robin
 * allocation of one address per range set (as the reference's allocator.go), release by
 * attachment, CHECK, GC and STATUS. Each command holds the store lock for its whole duration.
 */
#ifndef K8C_HL_ALLOC_H
#define K8C_HL_ALLOC_H

#include "cni_types.h"
#include "error.h"
#include "hl_config.h"
#include "hl_store.h"

/* ADD: reserve one address per range set (requested ones first) and fill res with ips, routes
 * and dns. On failure nothing stays reserved. boot may be NULL (read from /proc). */
int hl_alloc_add(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		 const char *ifname, struct cni_result *res, struct k8c_error *err);
/* DEL: release the attachment's addresses; releasing nothing is success. */
int hl_alloc_del(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		 const char *ifname, struct k8c_error *err);
/* CHECK: fail with CNI_ERR_UNKNOWN_CONTAINER unless the attachment holds an address. */
int hl_alloc_check(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		   const char *ifname, struct k8c_error *err);
/* GC: release every reservation whose attachment valid() rejects; returns the count or -1. */
int hl_alloc_gc(const struct hl_config *cfg, const struct hl_boot *boot, hl_valid_fn valid,
		void *ctx, struct k8c_error *err);
/* STATUS: CNI_ERR_NOT_AVAILABLE when dataDir is not writable or a range set is exhausted (an
 * ADD needs an address from every set). */
int hl_alloc_status(const struct hl_config *cfg, struct k8c_error *err);

#endif

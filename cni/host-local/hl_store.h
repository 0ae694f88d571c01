/*
 * The on-disk reservation store of k8c-host-local, compatible with the reference host-local
 * (plugins/ipam/host-local/backend/disk) so a node can switch plugins either way:
 *
 *   <dataDir>/<network>/<ip>                  "<containerID>\r\n<ifname>" (older: "<containerID>")
 *   <dataDir>/<network>/last_reserved_ip.<N>  the last address handed out from range set N
 *   <dataDir>/<network>/lock                  flock(2)ed around every change
 *
 * plus our own index, which the reference ignores (its walks never match these contents):
 *
 *   <dataDir>/<network>/.k8c/by-id/<cid>:<ifname>#<set>  a hard link to that range set's
 *       reservation file, whose xattr user.k8c-host-local holds "boot <id>\nip <ip>"
 *       (a link allocates no inode); where xattrs are refused, one file <cid>:<ifname>
 *       holding "k8c-host-local-index 1\nboot <id>\nip <ip>..."
 *   <dataDir>/<network>/.k8c/state                 boot id of the last sweep, whether files
 *                                                  without an index may exist, directory mtime
 *
 * The index makes DEL and CHECK O(1); a scan happens only when reservations made by the
 * reference may exist ("legacy" mode), detected by a directory mtime we did not write.
 */
#ifndef K8C_HL_STORE_H
#define K8C_HL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "ipaddr.h"

#define HL_BOOT_ID_MAX 64
/* Addresses one attachment can hold: one per range set (hl_config refuses more sets). */
#define HL_MAX_SETS 32

/* Where the store learns about the boot; tests inject a fake boot to simulate a reboot. */
struct hl_boot {
	const char *boot_id; /* NULL: /proc/sys/kernel/random/boot_id */
	long long boot_time; /* seconds since the epoch; 0: btime of /proc/stat */
};

struct hl_store {
	int dirfd;  /* <dataDir>/<network> */
	int idxfd;  /* .k8c/by-id */
	int lockfd; /* the flock'd "lock" file, -1 when not locked */
	char *dir;
	char boot_id[HL_BOOT_ID_MAX];
	long long boot_time;
	bool legacy;	  /* reservations without an index may exist: lookups scan */
	bool changed;	  /* we modified the directory: record its mtime on close */
	bool state_dirty; /* the state file needs rewriting */
	bool no_xattr;	  /* the filesystem refuses xattrs: the index is files, not links */
};

/* Callback deciding which attachments GC keeps; ifname NULL: any interface of container_id
 * (reservations in the reference's old format carry no ifname). */
typedef bool (*hl_valid_fn)(void *ctx, const char *container_id, const char *ifname);

/*
 * Open (creating as needed) and lock the store of network name under data_dir, waiting at most
 * lock_timeout_ms for the lock (CNI_ERR_TRY_AGAIN after). The first open after a boot reclaims
 * the reservations of earlier boots. Errors: CNI_ERR_IO, CNI_ERR_TRY_AGAIN.
 */
int hl_store_open(struct hl_store *s, const char *data_dir, const char *name,
		  const struct hl_boot *boot, long lock_timeout_ms, struct k8c_error *err);
/* Save the state, unlock and close; safe on a store that failed to open. */
void hl_store_close(struct hl_store *s);

/* Create the reservation file of ip for the attachment: 1 reserved, 0 already taken, -1 error.
 * Also records ip as last_reserved_ip.<set_idx>. */
int hl_store_reserve(struct hl_store *s, const char *cid, const char *ifname,
		     const struct k8c_ipnet *ip, size_t set_idx, struct k8c_error *err);
/* Read last_reserved_ip.<set_idx>; 0 and *ip set, or -1 when absent or unreadable. */
int hl_store_last_reserved(struct hl_store *s, size_t set_idx, struct k8c_ipnet *ip);
/* Remove the reservation of ip if it belongs to the attachment (rollback of a failed ADD). */
void hl_store_unreserve(struct hl_store *s, const char *cid, const char *ifname,
			const struct k8c_ipnet *ip);

/* Addresses reserved for the attachment (index, or a scan in legacy mode); caller frees *ips. */
int hl_store_get_by_id(struct hl_store *s, const char *cid, const char *ifname,
		       struct k8c_ipnet **ips, size_t *n, struct k8c_error *err);
/* Record the attachment's addresses in the index (replacing the entry). */
int hl_store_index_write(struct hl_store *s, const char *cid, const char *ifname,
			 const struct k8c_ipnet *ips, size_t n, struct k8c_error *err);
/* Release every reservation of the attachment; releasing nothing is success. Returns the number
 * of addresses released or -1. */
int hl_store_release_by_id(struct hl_store *s, const char *cid, const char *ifname,
			   struct k8c_error *err);
/* Release every reservation whose attachment valid() rejects and drop their index entries;
 * returns the number released or -1. */
int hl_store_gc(struct hl_store *s, hl_valid_fn valid, void *ctx, struct k8c_error *err);

/* Without locking: how many reserved addresses of the network fall in each of n_sets sets as
 * decided by in_set(ctx, set, ip); counts[] has n_sets entries. */
int hl_store_count(const char *data_dir, const char *name, size_t n_sets,
		   bool (*in_set)(void *ctx, size_t set, const struct k8c_ipnet *ip), void *ctx,
		   unsigned long long *counts, struct k8c_error *err);

/* Whether the network's store directory can be created and written (a probe file in .k8c,
 * so the network directory's mtime stays ours). */
int hl_store_probe_writable(const char *data_dir, const char *name, struct k8c_error *err);

/* Current boot id and boot time from /proc (tests use it to build a "same boot" hl_boot). */
int hl_boot_read(char *boot_id, size_t len, long long *boot_time, struct k8c_error *err);
/* (boot_time may be NULL: then only the boot id is read.) */

#endif

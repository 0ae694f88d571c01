/*
 * Set elements owned by a CNI attachment. Every element our plugins add to an nftables set names
 * its owner "<network>/<containerID>/<ifname>" in its comment (element userdata, shown by
 * `nft list`), so DEL without prevResult or netns and GC can find it by listing the set.
 * Shared by nft_masq.c and nft_macspoof.c.
 */
#ifndef K8C_CNI_NFT_OWNER_H
#define K8C_CNI_NFT_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "nft_batch.h"

/* Longest owner tag: the kernel keeps at most NFT_USERDATA_MAXLEN (256) bytes of userdata. */
#define CNI_NFT_TAG_MAX 240

/* A parsed owner tag; the strings point into the caller's buffer. */
struct cni_nft_owner {
	const char *network;
	const char *container_id;
	const char *ifname;
};

/* A table of ours and the sets holding owned elements. */
struct cni_nft_table {
	uint16_t family; /* NFPROTO_* */
	const char *name;
	const char *const *sets;
	size_t nsets;
};

/* Format "<network>/<containerID>/<ifname>" into buf (CNI_NFT_TAG_MAX + 1 bytes); fails if a part
 * is empty, contains '/' or the whole is too long. */
int cni_nft_tag_format(char *buf, const char *network, const char *container_id, const char *ifname,
		       struct k8c_error *err);
/* Split a tag in place; false if it is not one of ours. */
bool cni_nft_tag_parse(char *tag, struct cni_nft_owner *owner);

/* Called for every element with an owner tag; return <0 (err set) to stop. */
typedef int (*cni_nft_elem_cb)(const char *set, struct nftnl_set_elem *e,
			       const struct cni_nft_owner *owner, void *arg, struct k8c_error *err);

/* List every owned element of the table's sets; a missing table or set has none. */
int cni_nft_foreach(struct nft_sock *s, const struct cni_nft_table *t, cni_nft_elem_cb cb,
		    void *arg, struct k8c_error *err);

/* Decides whether an owned element is to be deleted. */
typedef bool (*cni_nft_match_fn)(const char *set, struct nftnl_set_elem *e,
				 const struct cni_nft_owner *owner, void *arg);

/* Delete, in one transaction, every owned element for which match is true; *deleted (may be
 * NULL) gets their number. Nothing matching is success. A concurrent delete (ENOENT) is retried. */
int cni_nft_delete_matching(const struct cni_nft_table *t, cni_nft_match_fn match, void *arg,
			    size_t *deleted, struct k8c_error *err);

/* Delete every element of network whose attachment keep() rejects (CNI GC). */
int cni_nft_gc(const struct cni_nft_table *t, const char *network,
	       bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
	       size_t *removed, struct k8c_error *err);

/* Append to b an add-or-replace of element e (built by the caller, which keeps ownership) in set:
 * add (no-op if present), delete, add again, so a retried or reused element ends up with the
 * new owner tag. */
void cni_nft_batch_upsert(struct nft_batch *b, const struct cni_nft_table *t, const char *set,
			  const struct nftnl_set_elem *e);

/* A new nftnl_set naming table t and set name (for element messages); caller frees. */
struct nftnl_set *cni_nft_set_ref(const struct cni_nft_table *t, const char *name);
/* Same, with the transaction-unique ID that the kernel requires to create a set. */
struct nftnl_set *cni_nft_set_decl(const struct cni_nft_table *t, const char *name);

/* What a staged builder adds to its batch: the elements alone (added with NLM_F_EXCL: the
 * steady state), the elements upserted (some existed, perhaps with another owner), the first
 * creation of the table and its chain, sets and rules (NLM_F_EXCL on the table), or the
 * idempotent repair (everything, rules replaced) followed by the elements. */
enum cni_nft_stage { CNI_NFT_ELEMS, CNI_NFT_UPSERT, CNI_NFT_CREATE, CNI_NFT_REPAIR };
typedef int (*cni_nft_build_fn)(struct nft_batch *b, enum cni_nft_stage stage, void *arg,
				struct k8c_error *err);

/* Add e to set: with NLM_F_EXCL, or upserted (delete and re-add, so the owner is rewritten;
 * a deletion costs the kernel a grace period, hence only when an add found the element). */
void cni_nft_batch_elem(struct nft_batch *b, const struct cni_nft_table *t, const char *set,
			const struct nftnl_set_elem *e, bool upsert);

/*
 * Send element changes so that the steady state is one small transaction: replacing a chain's
 * rules costs the kernel an RCU grace period (10+ ms), so the table is set up only when the
 * elements cannot be added (ENOENT), and repaired only when creation finds a table that lacks
 * its parts.
 */
int cni_nft_send_staged(cni_nft_build_fn build, void *arg, struct k8c_error *err);

#endif

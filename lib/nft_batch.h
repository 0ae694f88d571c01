/*
 * nftables over netlink with libmnl + libnftnl: build a transaction (one
 * NFNL_MSG_BATCH_BEGIN..END batch), send it and collect one ACK or error per message, and dump
 * objects. Building and sending are separate so unit tests can build a batch and parse it back
 * with nftnl_*_nlmsg_parse without a kernel.
 *
 * Errors: functions return a negative errno (-ENOENT when the table or set does not exist) and
 * fill err with a message naming the object ("add set element masq4 10.0.0.2 (inet k8c_cni):
 * File exists"). The error code is left 0: callers map it to their own domain.
 */
#ifndef K8C_NFT_BATCH_H
#define K8C_NFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "error.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_set_elem;
struct nlmsghdr;

/* Room guaranteed for each message built in place after nft_batch_msg(). */
#define NFT_BATCH_MSG_MAX 65536

/* A transaction being built: a growable buffer of netlink messages (opaque). */
struct nft_batch;

/* Start a batch (writes BATCH_BEGIN). seq 0 picks a time-based sequence number. */
struct nft_batch *nft_batch_new(uint32_t seq);
/* Free the batch and its buffer; NULL is fine. */
void nft_batch_free(struct nft_batch *b);
/* Append a message header (NLM_F_REQUEST | NLM_F_ACK | flags) for the caller to fill with
 * nftnl_*_nlmsg_build_payload; at most NFT_BATCH_MSG_MAX bytes. The pointer is valid until the
 * next call on b. what_fmt describes the object for error messages. */
struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t family, uint16_t flags,
			       const char *what_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Append a table, chain, set, rule or element message (type is NFT_MSG_NEW* / NFT_MSG_DEL*); the
 * family and names are taken from the object; the object stays owned by the caller. */
void nft_batch_table(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_table *t);
void nft_batch_chain(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_chain *c);
void nft_batch_set(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_set *s);
void nft_batch_rule(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_rule *r);
/* Elements: s carries table, name, family and the elements (one message for all of them). */
void nft_batch_elems(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_set *s);
/* Number of messages between BEGIN and END. */
size_t nft_batch_count(const struct nft_batch *b);
/* Close the batch (writes BATCH_END once) and return the bytes to send. */
const void *nft_batch_finish(struct nft_batch *b, size_t *len);
/* The description given for the message with sequence number seq, or NULL. */
const char *nft_batch_what(const struct nft_batch *b, uint32_t seq);

/* A NETLINK_NETFILTER socket (opaque). */
struct nft_sock;

/* Open a socket in the caller's network namespace. */
struct nft_sock *nft_sock_open(struct k8c_error *err);
/* Close; NULL is fine. */
void nft_sock_close(struct nft_sock *s);

/*
 * Closing a netfilter socket while the kernel still has a transaction to clean up (after any
 * deletion) waits for that cleanup, an RCU grace period (10-15 ms here: nf_tables' release
 * handler flushes its destroy work). With deferral on, nft_sock_close() keeps the socket open
 * instead; hand the kept sockets to a detached process (k8c_detach()) and then drop this
 * process's references with nft_close_deferred(): the detached process pays the wait.
 */
void nft_defer_close(bool on);
/* Whether sockets are being kept open by deferral. */
bool nft_have_deferred(void);
/* Close the sockets kept by deferral (call after k8c_detach(), or to wait here after all). */
void nft_close_deferred(void);
/* Next sequence number for a request built by the caller. */
uint32_t nft_sock_seq(struct nft_sock *s);
/* Send the (finished or not) batch as one transaction and wait for every ACK; the first error in
 * message order is reported and the kernel has applied nothing. */
int nft_batch_send(struct nft_sock *s, struct nft_batch *b, struct k8c_error *err);
/* Send one request (a dump with NLM_F_DUMP, or a get with NLM_F_ACK) and call cb for every reply
 * message until the end; cb returns MNL_CB_OK, MNL_CB_STOP or MNL_CB_ERROR (errno set). */
int nft_request(struct nft_sock *s, struct nlmsghdr *req, mnl_cb_t cb, void *arg, const char *what,
		struct k8c_error *err);
/* Dump the elements of a set into *out (a new nftnl_set the caller frees). */
int nft_set_elems_dump(struct nft_sock *s, uint16_t family, const char *table, const char *set,
		       struct nftnl_set **out, struct k8c_error *err);
/* Count the rules of a chain. */
int nft_chain_rule_count(struct nft_sock *s, uint16_t family, const char *table, const char *chain,
			 size_t *count, struct k8c_error *err);

/* Element comments, stored as nft does (NFTNL_UDATA_SET_ELEM_COMMENT) so `nft list` shows them. */
void nft_elem_set_comment(struct nftnl_set_elem *e, const char *comment);
/* Copy the comment into buf (size len); returns false if there is none or it does not fit. */
bool nft_elem_comment(struct nftnl_set_elem *e, char *buf, size_t len);

/* Rule expressions as nft emits them; reg is an NFT_REG_* / NFT_REG32_* number. */
void nft_rule_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void nft_rule_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len,
		      uint32_t dreg);
void nft_rule_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, uint32_t len);
/* dreg = (sreg & mask) ^ 0, len bytes. */
void nft_rule_mask(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len);
void nft_rule_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set, bool invert);
void nft_rule_verdict(struct nftnl_rule *r, int verdict);
void nft_rule_masq(struct nftnl_rule *r);
/* Masquerade with NF_NAT_RANGE_* flags (NF_NAT_RANGE_PROTO_RANDOM_FULLY: `fully-random`). */
void nft_rule_masq_flags(struct nftnl_rule *r, uint32_t flags);
/* Load len bytes of data into dreg (`immediate`). */
void nft_rule_imm(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len);
/* `jump chain` / `goto chain` (verdict NFT_JUMP or NFT_GOTO). */
void nft_rule_jump(struct nftnl_rule *r, int verdict, const char *chain);
/* dreg = random number mod modulus (`numgen random mod N`). */
void nft_rule_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t modulus);
/* Map lookup: dreg = set[sreg] (dreg NFT_REG_VERDICT for a verdict map, `vmap`). */
void nft_rule_map(struct nftnl_rule *r, uint32_t sreg, uint32_t dreg, const char *set);
/* dreg = (sreg & mask) ^ xor, len bytes. */
void nft_rule_bitwise(struct nftnl_rule *r, uint32_t sreg, uint32_t dreg, const void *mask,
		      const void * xor, uint32_t len);
/* Set a meta key (NFT_META_MARK...) from sreg. */
void nft_rule_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg);
/* dreg = a conntrack key (NFT_CT_STATE...). */
void nft_rule_ct(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
/* dreg = fib result (NFT_FIB_RESULT_ADDRTYPE...) looked up with NFTA_FIB_F_* flags. */
void nft_rule_fib(struct nftnl_rule *r, uint32_t result, uint32_t flags, uint32_t dreg);
/* Source or destination NAT (NFT_NAT_SNAT/DNAT) of family to the address in reg_addr and (when
 * reg_proto is not 0) the port in reg_proto. */
void nft_rule_nat(struct nftnl_rule *r, uint32_t type, uint32_t family, uint32_t reg_addr,
		  uint32_t reg_proto);
/* `reject` with an ICMP (NFT_REJECT_ICMP_UNREACH) or TCP reset (NFT_REJECT_TCP_RST) and a code. */
void nft_rule_reject(struct nftnl_rule *r, uint32_t type, uint8_t code);
/* Add or update (NFT_DYNSET_OP_*) the element sreg_key (: sreg_data when not 0) of a dynamic
 * set from the packet path, with a timeout in milliseconds (0: the set's). */
void nft_rule_dynset(struct nftnl_rule *r, uint32_t op, const char *set, uint32_t sreg_key,
		     uint32_t sreg_data, uint64_t timeout_ms);
/* A rule comment, stored as nft does (NFTNL_UDATA_RULE_COMMENT). */
void nft_rule_set_comment(struct nftnl_rule *r, const char *comment);
/* Copy a rule's comment into buf; false if there is none or it does not fit. */
bool nft_rule_comment(const struct nftnl_rule *r, char *buf, size_t len);
/* As nft_batch_elems, with a fixed description instead of one made of every element's comment
 * (for batches of thousands of elements). */
void nft_batch_elems_desc(struct nft_batch *b, uint16_t type, uint16_t flags,
			  const struct nftnl_set *s, const char *desc);

#endif

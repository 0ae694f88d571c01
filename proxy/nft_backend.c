/*
 * The nftables backend: a constant set of chains and named global maps (docs/proxy.md); every
 * service is only map elements. The mirror holds every element we own with a reference count;
 * a sync diffs the changed records' elements against it and sends the difference.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "backend.h"
#include "cleanup.h"
#include "conntrack.h"
#include "nft_batch.h"
#include "pmap.h"

#define FAMILY		    NFPROTO_IPV4
#define MASQ_BIT	    0x4000u
#define ELEMS_PER_MSG	    256
#define DEFAULT_BATCH_LIMIT 20000
/* The kernel dumps a set 32 KiB at a time (netlink caps a dump message there whatever the
 * receive buffer) and walks the set from its first element again for each message, so reading
 * a large set back is quadratic in its size and all of it is kernel time: the sets are dumped
 * by this many threads in parallel, each with a socket of its own. */
#define DUMP_WORKERS 3

/* nft's datatype numbers (nftables include/datatype.h), so `nft list` prints the keys. */
#define T_IPADDR	    7
#define T_PROTO		    12
#define T_SERVICE	    13
#define T_MARK		    19 /* a 32-bit integer nft can print (the index field) */
#define T_VERDICT	    1
#define CONCAT2(a, b)	    ((a) << 6 | (b))
#define CONCAT3(a, b, c)    ((a) << 12 | (b) << 6 | (c))
#define CONCAT4(a, b, c, d) ((a) << 18 | (b) << 12 | (c) << 6 | (d))

/* 32-bit registers */
#define R(n) (NFT_REG32_00 + (n))

/* Sets in the order additions are sent (deletions go in reverse): the classes first, so a
 * service element never names a class the kernel does not have yet, even across transactions. */
enum {
	S_CLASSES,
	S_NOEP_CLASSES,
	S_SERVICE_IPS,
	S_NODEPORTS,
	S_NOEP_SERVICES,
	S_NOEP_NODEPORTS,
	S_CLUSTER_IPS,
	S_BACKENDS,
	S_HAIRPIN,
	S_NODEPORT_IPS,
	S_AFFINITY,
	S_COUNT
};

struct setdef {
	const char *name;
	uint32_t klen, ktype;
	bool verdict;
	uint32_t dlen, dtype; /* data maps */
	bool virt;	      /* kept in the mirror only (reference counts), not in the kernel */
	bool dynamic;	      /* filled by packets (with timeouts), never mirrored */
};

/*
 * The per-service maps hold a class number, not a verdict: the kernel validates every element of
 * every bound verdict map at each commit that adds a jump to one, so a per-service verdict map
 * made adding one service cost O(services) (26 ms at 100,000 here). The `services` chain has one
 * rule per class in use (`... map @service-ips == class goto lb-N`): the classes are "virtual"
 * sets, reference counts in the mirror that decide those rules. (A second map lookup keyed by
 * the first one's result would be one rule, but nft 1.0.6 aborts listing it.)
 */
static const struct setdef sets[S_COUNT] = {
	[S_CLASSES] = {"classes", 8, CONCAT2(T_MARK, T_MARK), false, 0, 0, true},
	[S_NOEP_CLASSES] = {"no-endpoint-classes", 8, CONCAT2(T_MARK, T_MARK), false, 0, 0, true},
	[S_SERVICE_IPS] = {"service-ips", 12, CONCAT3(T_IPADDR, T_PROTO, T_SERVICE), false, 8,
			   CONCAT2(T_MARK, T_MARK)},
	[S_NODEPORTS] = {"service-nodeports", 8, CONCAT2(T_PROTO, T_SERVICE), false, 8,
			 CONCAT2(T_MARK, T_MARK)},
	[S_NOEP_SERVICES] = {"no-endpoint-services", 12, CONCAT3(T_IPADDR, T_PROTO, T_SERVICE),
			     false, 8, CONCAT2(T_MARK, T_MARK)},
	[S_NOEP_NODEPORTS] = {"no-endpoint-nodeports", 8, CONCAT2(T_PROTO, T_SERVICE), false, 8,
			      CONCAT2(T_MARK, T_MARK)},
	[S_CLUSTER_IPS] = {"cluster-ips", 4, T_IPADDR},
	[S_BACKENDS] = {"backends", 16, CONCAT4(T_IPADDR, T_PROTO, T_SERVICE, T_MARK), false, 8,
			CONCAT2(T_IPADDR, T_SERVICE)},
	[S_HAIRPIN] = {"hairpin", 8, CONCAT2(T_IPADDR, T_IPADDR)},
	[S_NODEPORT_IPS] = {"nodeport-ips", 4, T_IPADDR},
	/* session affinity: the kernel's own dynamic set client . frontend . endpoint index, with
	 * timeouts (not mirrored: packets fill it) */
	[S_AFFINITY] = {"affinity", 20,
			CONCAT4(T_IPADDR, T_IPADDR, T_PROTO, T_SERVICE) << 6 | T_MARK, false, 0, 0,
			false, true},
};

#define KEY_MAX	 16
#define DATA_MAX 8

/*
 * Classes: the data of a service element, 8 bytes: kind << 24 | endpoint count, then the
 * affinity timeout in seconds (0 without affinity), both in host order as nft prints a mark, so
 * `nft list` reads them (0x01000002 . 0x00000000 is lb-2).
 */
enum { C_LB = 1, C_EXT, C_NP, C_NPX, C_REJECT, C_DROP, C_ALB, C_AEXT, C_ANP, C_ANPX };

static void class_key(uint8_t *out, int kind, size_t n, uint32_t timeout)
{
	uint32_t a = (uint32_t)kind << 24 | (uint32_t)(n & 0xffffff), b = timeout;

	memcpy(out, &a, 4);
	memcpy(out + 4, &b, 4);
}

static unsigned class_kind(const uint8_t *key)
{
	uint32_t a;

	memcpy(&a, key, 4);
	return a >> 24;
}

/* The chain a class goes to (NULL: drop); name has room for 32 bytes. */
static const char *class_chain(const uint8_t *key, char *name)
{
	static const char *const prefix[] = {
		[C_LB] = "lb",	 [C_EXT] = "ext",   [C_NP] = "np",   [C_NPX] = "npx",
		[C_ALB] = "alb", [C_AEXT] = "aext", [C_ANP] = "anp", [C_ANPX] = "anpx"};
	uint32_t a, b;
	unsigned kind;

	memcpy(&a, key, 4);
	memcpy(&b, key + 4, 4);
	kind = a >> 24;
	if (kind == C_REJECT)
		return strcpy(name, "reject-chain");
	if (kind >= C_LB && kind <= C_NPX)
		snprintf(name, 32, "%s-%u", prefix[kind], a & 0xffffff);
	else if (kind >= C_ALB && kind <= C_ANPX)
		snprintf(name, 32, "%s-%u-%u", prefix[kind], a & 0xffffff, b);
	else
		return NULL;
	return name;
}

/* One element a record needs (the classes' verdicts follow from their keys: no data). */
struct contrib {
	uint8_t set, klen, dlen;
	uint8_t key[KEY_MAX];
	uint8_t data[DATA_MAX];
};

/* A mirrored element, stored inline in an open-addressing table (600,000 of them at 100,000
 * services: no allocation each). */
struct ment {
	uint32_t hash; /* low bits of the key's hash */
	uint32_t refs;
	uint8_t state; /* 0 empty, 1 live, 2 deleted */
	uint8_t klen, dlen;
	bool queued; /* on the list of deletion candidates */
	uint8_t key[KEY_MAX];
	uint8_t data[DATA_MAX];
};

struct mtab {
	struct ment *e;
	size_t cap, n, used;
};

/* The home slot of a hash in a table of any size (multiply-shift: no power of two needed, so
 * tables grow by half and stay 55-80 % full). */
static size_t mt_home(uint32_t h, size_t cap)
{
	return (size_t)(((uint64_t)h * cap) >> 32);
}

static size_t mt_next(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

static struct ment *mt_find(const struct mtab *t, const uint8_t *key, uint8_t klen)
{
	uint32_t h = (uint32_t)pmap_hash(key, klen);

	if (!t->cap)
		return NULL;
	for (size_t i = mt_home(h, t->cap);; i = mt_next(i, t->cap)) {
		struct ment *e = &t->e[i];

		if (e->state == 0)
			return NULL;
		if (e->state == 1 && e->hash == h && e->klen == klen && !memcmp(e->key, key, klen))
			return e;
	}
}

/* Insert (key must be absent); the entry is zeroed but for key and hash. Pointers into the
 * table are invalid after an insertion. */
static struct ment *mt_insert(struct mtab *t, const uint8_t *key, uint8_t klen)
{
	uint32_t h = (uint32_t)pmap_hash(key, klen);
	struct ment *e;
	size_t i;

	if ((t->used + 1) * 5 >= t->cap * 4) {
		struct ment *old = t->e;
		size_t oldcap = t->cap, cap = oldcap ? oldcap : 64;

		while ((t->n + 1) * 5 >= cap * 3)
			cap += cap / 2;
		t->e = k8c_xcalloc(cap, sizeof(*t->e));
		t->cap = cap;
		t->used = t->n;
		for (size_t j = 0; j < oldcap; j++) {
			if (old[j].state != 1)
				continue;
			for (i = mt_home(old[j].hash, cap); t->e[i].state; i = mt_next(i, cap))
				;
			t->e[i] = old[j];
		}
		free(old);
	}
	for (i = mt_home(h, t->cap); t->e[i].state == 1; i = mt_next(i, t->cap))
		;
	e = &t->e[i];
	if (e->state == 0)
		t->used++;
	memset(e, 0, sizeof(*e));
	e->state = 1;
	e->hash = h;
	e->klen = klen;
	memcpy(e->key, key, klen);
	t->n++;
	return e;
}

static void mt_del(struct mtab *t, struct ment *e)
{
	e->state = 2;
	t->n--;
}

static void mt_free(struct mtab *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

struct op {
	uint8_t klen, dlen;
	uint8_t key[KEY_MAX];
	uint8_t data[DATA_MAX];
};

struct oplist {
	struct op *v;
	size_t n, cap;
};

struct nft_be {
	struct proxy_nft_config cfg;
	struct nft_sock *sock;
	bool loaded; /* mirror read back from the kernel */
	bool table, have_set[S_COUNT];
	struct pmap chains; /* chain name -> (void *)(hash | 1) of its rules, or 1: empty */
	struct mtab mirror[S_COUNT];
	struct oplist dels[S_COUNT], adds[S_COUNT];
	struct contrib *cand; /* deletion candidates */
	size_t n_cand, cap_cand;
	struct proxy_sync_stats *st;
	size_t conflicts;
	struct proxy_ct_stale *stale; /* UDP flows to delete after the commit */
	size_t n_stale;
	struct nft_batch **dry; /* dry run (no socket): the batches not sent */
	size_t n_dry;
	/* more sockets of the same network namespace, for the read-back's element dumps in
	 * parallel (opened with the first; NULL: dumps one after another) */
	struct nft_sock *dump_sock[DUMP_WORKERS - 1];
	struct k8c_ipnet *np_next; /* set_nodeport_ips: the next sync's NodePort addresses */
	size_t n_np_next;
	bool np_changed;
};

/* ---- transactions, split at batch_limit objects ------------------------------------------ */

struct txn {
	struct nft_be *be;
	struct nft_batch *b;
	size_t weight; /* objects (chains, rules, elements) in b */
	int rc;
	struct k8c_error *err;
};

static void txn_flush(struct txn *t)
{
	size_t n;

	if (!t->b)
		return;
	n = nft_batch_count(t->b);
	if (n && t->rc == 0 && !t->be->sock) { /* dry run: kept for the caller */
		t->be->dry = k8c_xrealloc(t->be->dry, (t->be->n_dry + 1) * sizeof(*t->be->dry));
		t->be->dry[t->be->n_dry++] = t->b;
		t->be->st->messages += n;
		t->be->st->transactions++;
		t->b = NULL;
		return;
	}
	if (n && t->rc == 0) {
		t->rc = nft_batch_send(t->be->sock, t->b, t->err);
		if (t->rc == 0) {
			t->be->st->messages += n;
			t->be->st->transactions++;
		}
	}
	nft_batch_free(t->b);
	t->b = NULL;
}

/* The batch to append weight objects to (messages that must be applied together are asked for
 * at once): a transaction holds at most batch_limit objects unless one request is larger, so no
 * transaction holds the nftables mutex for long. */
static struct nft_batch *txn_b(struct txn *t, size_t weight)
{
	size_t limit = t->be->cfg.batch_limit ? t->be->cfg.batch_limit : DEFAULT_BATCH_LIMIT;

	if (t->b && t->weight > 0 && t->weight + weight > limit)
		txn_flush(t);
	if (!t->b) {
		t->b = nft_batch_new(t->be->sock ? nft_sock_seq(t->be->sock) : 1000);
		t->weight = 0;
	}
	t->weight += weight;
	return t->b;
}

/* ---- objects ------------------------------------------------------------------------------ */

static struct nftnl_set *set_obj(int id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		abort();
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAMILY);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, PROXY_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, sets[id].name);
	return s;
}

static void add_set(struct txn *t, int id)
{
	struct nftnl_set *s = set_obj(id);
	const struct setdef *d = &sets[id];
	uint32_t flags = 0;

	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->ktype);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->klen);
	if (d->verdict) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (d->dlen) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, d->dtype);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, d->dlen);
	}
	if (d->dynamic)
		flags |= NFT_SET_TIMEOUT | NFT_SET_EVAL;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)id + 1);
	nft_batch_set(txn_b(t, 1), NFT_MSG_NEWSET, NLM_F_CREATE, s);
	nftnl_set_free(s);
}

static struct nftnl_rule *rule_new(const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		abort();
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, PROXY_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	return r;
}

/* Loads: ip saddr / ip daddr (4 bytes), meta l4proto, th dport. */
static void ld_saddr(struct nftnl_rule *r, uint32_t reg)
{
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, reg);
}

static void ld_daddr(struct nftnl_rule *r, uint32_t reg)
{
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, reg);
}

static void ld_proto_port(struct nftnl_rule *r, uint32_t reg)
{
	nft_rule_meta(r, NFT_META_L4PROTO, reg);
	nft_rule_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg + 1);
}

static void in_prefix(struct nftnl_rule *r, const struct k8c_ipnet *net, bool saddr, bool neq)
{
	uint32_t mask = net->prefix <= 0 ? 0 : htonl(~0u << (32 - net->prefix));
	uint32_t zero = 0, addr;

	memcpy(&addr, net->addr, 4);
	addr &= mask;
	if (saddr)
		ld_saddr(r, NFT_REG_1);
	else
		ld_daddr(r, NFT_REG_1);
	nft_rule_bitwise(r, NFT_REG_1, NFT_REG_1, &mask, &zero, 4);
	nft_rule_cmp(r, NFT_REG_1, neq ? NFT_CMP_NEQ : NFT_CMP_EQ, &addr, 4);
}

static void mark_masq(struct nftnl_rule *r)
{
	uint32_t mask = ~MASQ_BIT, x = MASQ_BIT;

	nft_rule_meta(r, NFT_META_MARK, NFT_REG_1);
	nft_rule_bitwise(r, NFT_REG_1, NFT_REG_1, &mask, &x, 4);
	nft_rule_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

static void ct_new(struct nftnl_rule *r)
{
	uint32_t bit = NF_CT_STATE_BIT(IP_CT_NEW), zero = 0;

	nft_rule_ct(r, NFT_CT_STATE, NFT_REG_1);
	nft_rule_bitwise(r, NFT_REG_1, NFT_REG_1, &bit, &zero, 4);
	nft_rule_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
}

static void fib_local(struct nftnl_rule *r)
{
	uint32_t local = RTN_LOCAL;

	nft_rule_fib(r, NFT_FIB_RESULT_ADDRTYPE, NFTA_FIB_F_DADDR, NFT_REG_1);
	nft_rule_cmp(r, NFT_REG_1, NFT_CMP_EQ, &local, 4);
}

/* The rules of a chain, built into rs (at most 8). Returns the count. */
struct ckey {
	uint8_t k[8];
};

static int cmp_ckey(const void *a, const void *b)
{
	return memcmp(a, b, 8);
}

/* The classes in use, sorted; *n set. */
static struct ckey *classes_in_use(const struct nft_be *be, size_t *n)
{
	const struct mtab *t = &be->mirror[S_CLASSES];
	struct ckey *v = k8c_xcalloc(t->n + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].state == 1)
			memcpy(v[(*n)++].k, t->e[i].key, 8);
	qsort(v, *n, sizeof(*v), cmp_ckey);
	return v;
}

/* The rules of a chain, built into rs (room for chain_rules_max()). Returns the count. */
static size_t chain_rules_max(const struct nft_be *be, const char *chain)
{
	unsigned k, tmo;

	if (sscanf(chain, "alb-%u-%u", &k, &tmo) == 2 || sscanf(chain, "anp-%u-%u", &k, &tmo) == 2)
		return 8 + (size_t)k;
	return 8 + be->mirror[S_CLASSES].n;
}

static size_t chain_rules(const struct nft_be *be, const char *chain, struct nftnl_rule **rs)
{
	size_t n = 0;
	unsigned int k = 0, tmo = 0;

	if (strcmp(chain, "nat-prerouting") == 0 || strcmp(chain, "nat-output") == 0) {
		rs[n] = rule_new(chain);
		nft_rule_jump(rs[n++], NFT_JUMP, "services");
	} else if (strcmp(chain, "nat-postrouting") == 0) {
		rs[n] = rule_new(chain);
		nft_rule_jump(rs[n++], NFT_JUMP, "masquerading");
	} else if (strcmp(chain, "filter-input") == 0 || strcmp(chain, "filter-output") == 0 ||
		   strcmp(chain, "filter-forward") == 0) {
		rs[n] = rule_new(chain);
		ct_new(rs[n]);
		nft_rule_jump(rs[n++], NFT_JUMP, "service-endpoints-check");
		if (strcmp(chain, "filter-forward") == 0) {
			rs[n] = rule_new(chain);
			ct_new(rs[n]);
			nft_rule_jump(rs[n++], NFT_JUMP, "cluster-ips-check");
		}
	} else if (strcmp(chain, "filter-output-post-dnat") == 0) {
		rs[n] = rule_new(chain);
		ct_new(rs[n]);
		nft_rule_jump(rs[n++], NFT_JUMP, "cluster-ips-check");
	} else if (strcmp(chain, "services") == 0) {
		if (be->cfg.have_cluster_cidr) {
			rs[n] = rule_new(chain);
			in_prefix(rs[n], &be->cfg.cluster_cidr, true, true);
			in_prefix(rs[n], &be->cfg.service_cidr, false, false);
			mark_masq(rs[n++]);
		}
		size_t nc;
		_cleanup_free_ struct ckey *cls = classes_in_use(be, &nc);

		for (size_t i = 0; i < nc; i++) {
			char to[32];
			unsigned kind = class_kind(cls[i].k);

			if (!class_chain(cls[i].k, to))
				continue;
			rs[n] = rule_new(chain);
			if (kind == C_LB || kind == C_EXT || kind == C_ALB || kind == C_AEXT) {
				ld_daddr(rs[n], R(0));
				ld_proto_port(rs[n], R(1));
				nft_rule_map(rs[n], R(0), R(4), sets[S_SERVICE_IPS].name);
			} else {
				if (be->cfg.nodeport_filter) {
					ld_daddr(rs[n], NFT_REG_1);
					nft_rule_lookup(rs[n], NFT_REG_1, sets[S_NODEPORT_IPS].name,
							false);
				} else {
					fib_local(rs[n]);
				}
				ld_proto_port(rs[n], R(0));
				nft_rule_map(rs[n], R(0), R(4), sets[S_NODEPORTS].name);
			}
			nft_rule_cmp(rs[n], R(4), NFT_CMP_EQ, cls[i].k, 8);
			nft_rule_jump(rs[n++], NFT_GOTO, to);
		}
	} else if (strcmp(chain, "service-endpoints-check") == 0) {
		for (int np = 0; np <= 1; np++) {
			for (int kind = C_REJECT; kind <= C_DROP; kind++) {
				uint8_t id[8];

				rs[n] = rule_new(chain);
				if (np && be->cfg.nodeport_filter) {
					ld_daddr(rs[n], NFT_REG_1);
					nft_rule_lookup(rs[n], NFT_REG_1, sets[S_NODEPORT_IPS].name,
							false);
					ld_proto_port(rs[n], R(0));
				} else if (np) {
					fib_local(rs[n]);
					ld_proto_port(rs[n], R(0));
				} else {
					ld_daddr(rs[n], R(0));
					ld_proto_port(rs[n], R(1));
				}
				nft_rule_map(rs[n], R(0), R(4),
					     sets[np ? S_NOEP_NODEPORTS : S_NOEP_SERVICES].name);
				class_key(id, kind, 0, 0);
				nft_rule_cmp(rs[n], R(4), NFT_CMP_EQ, id, 8);
				if (kind == C_REJECT)
					nft_rule_jump(rs[n++], NFT_GOTO, "reject-chain");
				else
					nft_rule_verdict(rs[n++], NF_DROP);
			}
		}
	} else if (strcmp(chain, "cluster-ips-check") == 0) {
		rs[n] = rule_new(chain);
		ld_daddr(rs[n], NFT_REG_1);
		nft_rule_lookup(rs[n], NFT_REG_1, sets[S_CLUSTER_IPS].name, false);
		nft_rule_reject(rs[n++], NFT_REJECT_ICMP_UNREACH, 3 /* port unreachable */);
		rs[n] = rule_new(chain);
		in_prefix(rs[n], &be->cfg.service_cidr, false, false);
		nft_rule_verdict(rs[n++], NF_DROP);
	} else if (strcmp(chain, "reject-chain") == 0) {
		rs[n] = rule_new(chain);
		nft_rule_reject(rs[n++], NFT_REJECT_ICMP_UNREACH, 3);
	} else if (strcmp(chain, "mark-for-masquerade") == 0) {
		rs[n] = rule_new(chain);
		mark_masq(rs[n++]);
	} else if (strcmp(chain, "masquerading") == 0) {
		uint32_t bit = MASQ_BIT, zero = 0, all = ~0u;

		uint32_t dnat = IPS_DST_NAT;

		/* hairpin: only connections to a service (DNATed): an endpoint at 127.0.0.1 (the
		 * API server's own) would otherwise masquerade all of the node's loopback traffic,
		 * which then goes nowhere */
		rs[n] = rule_new(chain);
		nft_rule_ct(rs[n], NFT_CT_STATUS, NFT_REG_1);
		nft_rule_bitwise(rs[n], NFT_REG_1, NFT_REG_1, &dnat, &zero, 4);
		nft_rule_cmp(rs[n], NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
		ld_saddr(rs[n], R(0));
		ld_daddr(rs[n], R(1));
		nft_rule_lookup(rs[n], R(0), sets[S_HAIRPIN].name, false);
		mark_masq(rs[n++]);
		rs[n] = rule_new(chain);
		nft_rule_meta(rs[n], NFT_META_MARK, NFT_REG_1);
		nft_rule_bitwise(rs[n], NFT_REG_1, NFT_REG_1, &bit, &zero, 4);
		nft_rule_cmp(rs[n], NFT_REG_1, NFT_CMP_EQ, &zero, 4);
		nft_rule_verdict(rs[n++], NFT_RETURN);
		rs[n] = rule_new(chain);
		nft_rule_meta(rs[n], NFT_META_MARK, NFT_REG_1);
		nft_rule_bitwise(rs[n], NFT_REG_1, NFT_REG_1, &all, &bit, 4);
		nft_rule_meta_set(rs[n], NFT_META_MARK, NFT_REG_1);
		nft_rule_masq_flags(rs[n++], NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	} else if (sscanf(chain, "lb-%u", &k) == 1 || sscanf(chain, "np-%u", &k) == 1) {
		uint32_t zero = 0;

		/* backends[daddr (0 for NodePorts) . l4proto . dport . random mod k] */
		rs[n] = rule_new(chain);
		if (chain[0] == 'l')
			ld_daddr(rs[n], R(0));
		else
			nft_rule_imm(rs[n], R(0), &zero, 4);
		ld_proto_port(rs[n], R(1));
		nft_rule_numgen(rs[n], R(3), k);
		nft_rule_map(rs[n], R(0), R(4), sets[S_BACKENDS].name);
		nft_rule_nat(rs[n++], NFT_NAT_DNAT, NFPROTO_IPV4, R(4), R(5));
	} else if (sscanf(chain, "alb-%u-%u", &k, &tmo) == 2 ||
		   sscanf(chain, "anp-%u-%u", &k, &tmo) == 2) {
		uint32_t zero = 0;
		bool np = chain[1] == 'n';

		/* A client seen within the timeout goes to the same endpoint: one rule per
		 * endpoint index i, `ip saddr . ip daddr . l4proto . dport . i @affinity`
		 * (refreshed), then the random choice, remembered. Written so that nft can list
		 * it: nft 1.0.6 cannot print a lookup keyed by another lookup's result. */
		for (unsigned i = 0; i <= k; i++) {
			rs[n] = rule_new(chain);
			ld_saddr(rs[n], R(0));
			if (np)
				nft_rule_imm(rs[n], R(1), &zero, 4);
			else
				ld_daddr(rs[n], R(1));
			ld_proto_port(rs[n], R(2));
			if (i < k) {
				nft_rule_imm(rs[n], R(4), &i, 4);
				nft_rule_lookup(rs[n], R(0), sets[S_AFFINITY].name, false);
			} else {
				nft_rule_numgen(rs[n], R(4), k);
			}
			nft_rule_map(rs[n], R(1), R(5), sets[S_BACKENDS].name);
			nft_rule_dynset(rs[n], NFT_DYNSET_OP_UPDATE, sets[S_AFFINITY].name, R(0), 0,
					(uint64_t)tmo * 1000);
			nft_rule_nat(rs[n++], NFT_NAT_DNAT, NFPROTO_IPV4, R(5), R(6));
		}
	} else if (sscanf(chain, "aext-%u-%u", &k, &tmo) == 2 ||
		   sscanf(chain, "anpx-%u-%u", &k, &tmo) == 2) {
		char to[32];

		snprintf(to, sizeof(to), "%s-%u-%u", chain[1] == 'e' ? "alb" : "anp", k, tmo);
		rs[n] = rule_new(chain);
		mark_masq(rs[n]);
		nft_rule_jump(rs[n++], NFT_GOTO, to);
	} else if (sscanf(chain, "ext-%u", &k) == 1 || sscanf(chain, "npx-%u", &k) == 1) {
		char to[32];

		snprintf(to, sizeof(to), "%s-%u", chain[0] == 'e' ? "lb" : "np", k);
		rs[n] = rule_new(chain);
		mark_masq(rs[n]);
		nft_rule_jump(rs[n++], NFT_GOTO, to);
	}
	return n;
}

struct chaindef {
	const char *name, *type;
	int hook, prio;
};

static const struct chaindef base_chains[] = {
	{"nat-prerouting", "nat", NF_INET_PRE_ROUTING, -100},
	{"nat-output", "nat", NF_INET_LOCAL_OUT, -100},
	{"nat-postrouting", "nat", NF_INET_POST_ROUTING, 100},
	{"filter-input", "filter", NF_INET_LOCAL_IN, -110},
	{"filter-forward", "filter", NF_INET_FORWARD, -110},
	{"filter-output", "filter", NF_INET_LOCAL_OUT, -110},
	{"filter-output-post-dnat", "filter", NF_INET_LOCAL_OUT, -90},
	{"services", NULL, 0, 0},
	{"service-endpoints-check", NULL, 0, 0},
	{"cluster-ips-check", NULL, 0, 0},
	{"reject-chain", NULL, 0, 0},
	{"mark-for-masquerade", NULL, 0, 0},
	{"masquerading", NULL, 0, 0},
};
#define N_BASE (sizeof(base_chains) / sizeof(base_chains[0]))

/* Bump when chain_rules() changes what it builds: restarted proxies then rewrite the chains. */
#define RULES_VERSION "k8c-proxy rules 10"

/* The rules of a chain are a function of its name, the configuration and (for `services`) the
 * classes in use: hash those. */
static uintptr_t rules_hash(const struct nft_be *be, const char *chain)
{
	char buf[512];
	char a[K8C_IPNET_STRLEN], b[K8C_IPNET_STRLEN];
	int n = snprintf(buf, sizeof(buf), "%s|%s|%s|%s|%d", RULES_VERSION, chain,
			 k8c_ipnet_format(&be->cfg.service_cidr, a),
			 be->cfg.have_cluster_cidr ? k8c_ipnet_format(&be->cfg.cluster_cidr, b)
						   : "",
			 be->cfg.nodeport_filter);
	uint64_t h = pmap_hash(buf, (size_t)n);

	if (strcmp(chain, "services") == 0) {
		size_t nc;
		_cleanup_free_ struct ckey *cls = classes_in_use(be, &nc);

		h ^= pmap_hash(cls, nc * sizeof(*cls));
	}
	return (uintptr_t)(h | 1);
}

/* Make chain exist with the rules it should have (a no-op when the mirror says it has). */
static void ensure_chain(struct txn *t, const struct chaindef *def)
{
	struct nft_be *be = t->be;
	_cleanup_free_ struct nftnl_rule **rs =
		k8c_xcalloc(chain_rules_max(be, def->name), sizeof(*rs));
	size_t n = chain_rules(be, def->name, rs);
	struct nft_batch *b;
	uintptr_t h = rules_hash(be, def->name);
	bool created;
	void **slot = pmap_puts(&be->chains, def->name, &created);
	char comment[64];

	if (!created && (uintptr_t)*slot == h)
		goto out;
	if (!created && n == 0 && (uintptr_t)*slot == 1) {
		/* an empty chain carries no comment: read back empty, it is what we want */
		*slot = (void *)h;
		goto out;
	}
	b = txn_b(t, n + 2); /* the chain, its flush and its rules go together */
	if (created) {
		struct nftnl_chain *c = nftnl_chain_alloc();

		if (!c)
			abort();
		nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, FAMILY);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, PROXY_NFT_TABLE);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, def->name);
		if (def->type) {
			nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, def->type);
			nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)def->hook);
			nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, def->prio);
			nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		}
		nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c);
		nftnl_chain_free(c);
	} else {
		struct nftnl_rule *flush = rule_new(def->name);

		nft_batch_rule(b, NFT_MSG_DELRULE, 0, flush);
		nftnl_rule_free(flush);
	}
	snprintf(comment, sizeof(comment), "k8c:%016llx", (unsigned long long)h);
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			nft_rule_set_comment(rs[i], comment);
		nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rs[i]);
	}
	*slot = (void *)h;
	be->st->chains_written++;
out:
	for (size_t i = 0; i < n; i++)
		nftnl_rule_free(rs[i]);
}

/* ---- records -> elements -------------------------------------------------------------- */

struct cbuf {
	struct contrib *v;
	size_t n, cap;
};

static struct contrib *cb_add(struct cbuf *c, int set)
{
	struct contrib *x;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = k8c_xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	x = &c->v[c->n++];
	memset(x, 0, sizeof(*x));
	x->set = (uint8_t)set;
	x->klen = (uint8_t)sets[set].klen;
	return x;
}

/* key ip . proto . port (each field padded to 4 bytes, as the registers are) */
static void key_ipp(uint8_t *k, const uint8_t *ip, uint8_t proto, uint16_t port)
{
	uint16_t p = htons(port);

	if (ip)
		memcpy(k, ip, 4);
	k[4] = proto;
	memcpy(k + 8, &p, 2);
}

/* key proto . port (NodePorts) */
static void key_pp(uint8_t *k, uint8_t proto, uint16_t port)
{
	uint16_t p = htons(port);

	k[0] = proto;
	memcpy(k + 4, &p, 2);
}

/* The element's data is class id; the record also needs the class itself. */
static void set_class(struct cbuf *c, struct contrib *x, int kind, size_t n, uint32_t timeout)
{
	uint8_t id[8];
	struct contrib *k;

	class_key(id, kind, n, timeout);
	memcpy(x->data, id, 8);
	x->dlen = 8;
	/* x is invalid from here */
	k = cb_add(c, kind == C_DROP || kind == C_REJECT ? S_NOEP_CLASSES : S_CLASSES);
	memcpy(k->key, id, 8);
}

static bool ep_is(const struct proxy_endpoint *e, const uint8_t *data)
{
	uint16_t tp = htons(e->port);

	return memcmp(e->ip.addr, data, 4) == 0 && memcmp(&tp, data + 4, 2) == 0;
}

/*
 * Stable endpoint indices: an endpoint keeps the index it has in the kernel (the mirror) when it
 * can; those beyond the new count fill the holes of the removed ones, new endpoints take what is
 * left. So removing one endpoint changes one or two elements, not all those after it, and
 * session affinity (by index) keeps its clients. out has room for n.
 */
static void stable_order(struct nft_be *be, const uint8_t *key12, const struct proxy_endpoint **eps,
			 size_t n, const struct proxy_endpoint **out)
{
	bool *used = k8c_xcalloc(n + 1, sizeof(*used));
	const struct proxy_endpoint **late = k8c_xcalloc(n + 1, sizeof(*late));
	size_t n_late = 0, fill = 0;

	memset(out, 0, n * sizeof(*out));
	for (uint32_t idx = 0;; idx++) {
		uint8_t k[16];
		const struct ment *e;

		memcpy(k, key12, 12);
		memcpy(k + 12, &idx, 4);
		e = mt_find(&be->mirror[S_BACKENDS], k, 16);
		if (!e)
			break;
		for (size_t i = 0; i < n; i++) {
			if (used[i] || e->dlen != 8 || !ep_is(eps[i], e->data))
				continue;
			used[i] = true;
			if (idx < n)
				out[idx] = eps[i];
			else
				late[n_late++] = eps[i];
			break;
		}
	}
	/* holes: first the endpoints from beyond the new count, then the new ones (sorted) */
	for (size_t i = 0; i < n_late; i++) {
		while (out[fill])
			fill++;
		out[fill] = late[i];
	}
	for (size_t i = 0; i < n; i++) {
		if (used[i])
			continue;
		while (out[fill])
			fill++;
		out[fill] = eps[i];
	}
	free(used);
	free(late);
}

/* Elements of one frontend (ip, or NULL for the NodePort) given its usable endpoints. */
static void frontend(struct nft_be *be, struct cbuf *c, const uint8_t *ip,
		     const struct proxy_svcport *p, const struct proxy_endpoint **eps, size_t n,
		     bool any_eps, bool external, bool local)
{
	uint16_t port = ip ? p->port : p->node_port;
	struct contrib *x;
	int aff;
	uint8_t key12[12] = {0};
	const struct proxy_endpoint **order;

	if (n == 0) {
		x = cb_add(c, ip ? S_NOEP_SERVICES : S_NOEP_NODEPORTS);
		if (ip)
			key_ipp(x->key, ip, p->proto, port);
		else
			key_pp(x->key, p->proto, port);
		/* traffic policy Local, no local endpoint: drop; no endpoint at all: reject */
		set_class(c, x, any_eps ? C_DROP : C_REJECT, 0, 0);
		return;
	}
	x = cb_add(c, ip ? S_SERVICE_IPS : S_NODEPORTS);
	aff = p->affinity ? C_ALB - C_LB : 0;
	if (ip) {
		key_ipp(x->key, ip, p->proto, port);
		set_class(c, x, (external && !local ? C_EXT : C_LB) + aff, n, p->affinity_timeout);
	} else {
		key_pp(x->key, p->proto, port);
		set_class(c, x, (!local ? C_NPX : C_NP) + aff, n, p->affinity_timeout);
	}
	key_ipp(key12, ip, p->proto, port);
	order = k8c_xcalloc(n, sizeof(*order));
	stable_order(be, key12, eps, n, order);
	for (size_t i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)i;
		uint16_t tp = htons(order[i]->port);

		x = cb_add(c, S_BACKENDS);
		memcpy(x->key, key12, 12);
		memcpy(x->key + 12, &idx, 4);
		memcpy(x->data, order[i]->ip.addr, 4);
		memcpy(x->data + 4, &tp, 2);
		x->dlen = 8;
	}
	free(order);
}

static void record_contribs(struct nft_be *be, const struct proxy_model *m,
			    const struct proxy_svcport *p, struct cbuf *c)
{
	const struct proxy_endpoint **all = k8c_xcalloc(p->n_eps + 1, sizeof(*all));
	const struct proxy_endpoint **in = k8c_xcalloc(p->n_eps + 1, sizeof(*in));
	const struct proxy_endpoint **ex = k8c_xcalloc(p->n_eps + 1, sizeof(*ex));
	size_t n_all = proxy_svcport_usable(m, p, AF_INET, false, all);
	size_t n_in = p->itp_local ? proxy_svcport_usable(m, p, AF_INET, true, in) : n_all;
	size_t n_ex = p->etp_local ? proxy_svcport_usable(m, p, AF_INET, true, ex) : n_all;
	bool v4 = false;

	if (!p->itp_local)
		memcpy(in, all, n_all * sizeof(*all));
	if (!p->etp_local)
		memcpy(ex, all, n_all * sizeof(*all));
	for (size_t i = 0; i < p->n_cluster_ips; i++) {
		struct contrib *x;

		if (p->cluster_ips[i].family != AF_INET)
			continue;
		v4 = true;
		x = cb_add(c, S_CLUSTER_IPS);
		memcpy(x->key, p->cluster_ips[i].addr, 4);
		frontend(be, c, p->cluster_ips[i].addr, p, in, n_in, n_all > 0, false,
			 p->itp_local);
	}
	if (v4) {
		for (size_t i = 0; i < p->n_external_ips; i++)
			if (p->external_ips[i].family == AF_INET)
				frontend(be, c, p->external_ips[i].addr, p, ex, n_ex, n_all > 0,
					 true, p->etp_local);
		if (p->node_port)
			frontend(be, c, NULL, p, ex, n_ex, n_all > 0, true, p->etp_local);
		for (size_t i = 0; i < n_all; i++) {
			struct contrib *x = cb_add(c, S_HAIRPIN);

			memcpy(x->key, all[i]->ip.addr, 4);
			memcpy(x->key + 4, all[i]->ip.addr, 4);
		}
	}
	free(all);
	free(in);
	free(ex);
}

/* ---- the mirror ------------------------------------------------------------------------- */

static void op_push(struct oplist *l, const uint8_t *key, uint8_t klen, const uint8_t *data,
		    uint8_t dlen)
{
	struct op *o;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = k8c_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	o = &l->v[l->n++];
	o->klen = klen;
	o->dlen = dlen;
	memcpy(o->key, key, klen);
	memcpy(o->data, data, dlen);
}

static void acquire(struct nft_be *be, const struct contrib *x)
{
	struct mtab *t = &be->mirror[x->set];
	struct ment *e = mt_find(t, x->key, x->klen);

	if (!e) {
		e = mt_insert(t, x->key, x->klen);
	} else if (e->dlen == x->dlen && memcmp(e->data, x->data, x->dlen) == 0) {
		e->refs++;
		return;
	} else if (e->refs > 0) {
		be->st->conflicts++; /* another record owns this key */
		return;
	} else {
		/* unowned (stale, or released in this sync) with other data: replace */
		op_push(&be->dels[x->set], x->key, x->klen, e->data, e->dlen);
	}
	e->refs = 1;
	e->dlen = x->dlen;
	memcpy(e->data, x->data, x->dlen);
	op_push(&be->adds[x->set], x->key, x->klen, x->data, x->dlen);
}

static void release(struct nft_be *be, const struct contrib *x)
{
	struct ment *e = mt_find(&be->mirror[x->set], x->key, x->klen);

	if (!e || e->refs == 0 || e->dlen != x->dlen || memcmp(e->data, x->data, x->dlen) != 0)
		return; /* it was a conflict: never ours */
	if (--e->refs == 0 && !e->queued) {
		e->queued = true;
		if (be->n_cand == be->cap_cand) {
			be->cap_cand = be->cap_cand ? 2 * be->cap_cand : 64;
			be->cand = k8c_xrealloc(be->cand, be->cap_cand * sizeof(*be->cand));
		}
		be->cand[be->n_cand++] = *x;
	}
}

static void sweep(struct nft_be *be, int set, struct ment *e)
{
	if (!e || e->refs > 0) {
		if (e)
			e->queued = false;
		return;
	}
	op_push(&be->dels[set], e->key, e->klen, e->data, e->dlen);
	mt_del(&be->mirror[set], e);
}

/*
 * UDP flows to endpoints a frontend no longer uses: their conntrack entries go after the commit
 * (else the client keeps sending to the old endpoint). Found from the backends elements being
 * deleted or replaced, minus the endpoints the frontend still has at another index, so it works
 * the same after a restart (read back) as in a running proxy.
 */
static void collect_stale(struct nft_be *be)
{
	const struct oplist *l = &be->dels[S_BACKENDS];

	for (size_t i = 0; i < l->n; i++) {
		const struct op *o = &l->v[i];
		struct proxy_ct_stale st;
		bool kept = false;
		uint16_t p;

		if (o->key[4] != IPPROTO_UDP || o->dlen != 8)
			continue;
		for (uint32_t idx = 0;; idx++) {
			uint8_t k[16];
			const struct ment *e;

			memcpy(k, o->key, 12);
			memcpy(k + 12, &idx, 4);
			e = mt_find(&be->mirror[S_BACKENDS], k, 16);
			if (!e)
				break;
			if (e->dlen == 8 && memcmp(e->data, o->data, 8) == 0) {
				kept = true;
				break;
			}
		}
		if (kept)
			continue;
		memcpy(st.front, o->key, 4);
		memcpy(&p, o->key + 8, 2);
		st.front_port = ntohs(p);
		memcpy(st.ep, o->data, 4);
		memcpy(&p, o->data + 4, 2);
		st.ep_port = ntohs(p);
		be->stale = k8c_xrealloc(be->stale, (be->n_stale + 1) * sizeof(*be->stale));
		be->stale[be->n_stale++] = st;
	}
}

/* A record changed from old to p (either may be NULL): release what old made, take what p
 * needs. Deletions wait for the end of the sync, so a key kept with other data is replaced
 * rather than seen as another record's. */
static void record_sync(struct nft_be *be, const struct proxy_model *m,
			const struct proxy_svcport *old, const struct proxy_svcport *p)
{
	struct cbuf co = {0}, cn = {0};

	be->st->records++;
	if (old) {
		record_contribs(be, m, old, &co);
		for (size_t i = 0; i < co.n; i++)
			release(be, &co.v[i]);
	}
	if (p) {
		record_contribs(be, m, p, &cn);
		for (size_t i = 0; i < cn.n; i++)
			acquire(be, &cn.v[i]);
	}
	free(co.v);
	free(cn.v);
}

/* ---- sending element changes ------------------------------------------------------------ */

/* Empty the list; a large one gives its memory back (a cold start at 100,000 services needs
 * 600,000 entries once). */
static void oplist_done(struct oplist *l)
{
	l->n = 0;
	if (l->cap > 4096) {
		free(l->v);
		l->v = NULL;
		l->cap = 0;
	}
}

static void send_ops(struct txn *t, int set, struct oplist *l, bool add)
{
	if (sets[set].virt) {
		oplist_done(l);
		return;
	}
	for (size_t i = 0; i < l->n; i += ELEMS_PER_MSG) {
		struct nftnl_set *s = set_obj(set);
		size_t end = i + ELEMS_PER_MSG < l->n ? i + ELEMS_PER_MSG : l->n;
		char desc[64];

		for (size_t j = i; j < end; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			const struct op *o = &l->v[j];

			if (!e)
				abort();
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, o->key, o->klen);
			if (add && sets[set].verdict) {
				char chain[32];

				if (class_chain(o->key, chain)) {
					nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
					nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
				} else {
					nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NF_DROP);
				}
			} else if (add && sets[set].dlen) {
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, o->data, o->dlen);
			}
			nftnl_set_elem_add(s, e);
		}
		snprintf(desc, sizeof(desc), "%zu element(s)", end - i);
		nft_batch_elems_desc(txn_b(t, end - i),
				     add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				     add ? NLM_F_CREATE | NLM_F_EXCL : 0, s, desc);
		nftnl_set_free(s);
		if (add)
			t->be->st->elems_added += end - i;
		else
			t->be->st->elems_deleted += end - i;
	}
	oplist_done(l);
}

/* ---- read-back ------------------------------------------------------------------------ */

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_be *be = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	const char *table, *name;

	if (!c)
		abort();
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0) {
		table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
		name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
		if (table && name && strcmp(table, PROXY_NFT_TABLE) == 0)
			*pmap_puts(&be->chains, name, NULL) = (void *)(uintptr_t)1;
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_be *be = data;
	struct nftnl_set *set = nftnl_set_alloc();
	const char *table, *name;

	if (!set)
		abort();
	if (nftnl_set_nlmsg_parse(nlh, set) == 0) {
		table = nftnl_set_get_str(set, NFTNL_SET_TABLE);
		name = nftnl_set_get_str(set, NFTNL_SET_NAME);
		for (int s = 0; table && name && s < S_COUNT; s++)
			if (strcmp(table, PROXY_NFT_TABLE) == 0 && strcmp(name, sets[s].name) == 0)
				be->have_set[s] = true;
	}
	nftnl_set_free(set);
	return MNL_CB_OK;
}

struct rule_seen {
	struct nft_be *be;
	struct pmap first; /* chains whose first rule was seen */
};

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_seen *rs = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	char comment[64];
	unsigned long long h;

	if (!r)
		abort();
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
		bool created;

		if (chain && table && strcmp(table, PROXY_NFT_TABLE) == 0) {
			pmap_puts(&rs->first, chain, &created);
			if (created && nft_rule_comment(r, comment, sizeof(comment)) &&
			    sscanf(comment, "k8c:%llx", &h) == 1 &&
			    pmap_gets(&rs->be->chains, chain))
				*pmap_puts(&rs->be->chains, chain, NULL) = (void *)(uintptr_t)h;
		}
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* Element dumps parsed from the attributes straight into the mirror (600,000 elements at
 * 100,000 services: no libnftnl object each). All our mirrored sets hold values. */
struct elem_dump {
	struct nft_be *be;
	int set;
};

static uint32_t attr_value(const struct nlattr *nest, const uint8_t **out)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE) {
			*out = mnl_attr_get_payload(a);
			return mnl_attr_get_payload_len(a);
		}
	}
	return 0;
}

static int elem_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elem_dump *d = data;
	const struct setdef *def = &sets[d->set];
	const struct nlattr *list, *elem, *x;

	mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, list)
		{
			const uint8_t *key = NULL, *val = NULL;
			uint32_t klen = 0, dlen = 0;
			struct ment *me;

			mnl_attr_for_each_nested(x, elem)
			{
				if (mnl_attr_get_type(x) == NFTA_SET_ELEM_KEY)
					klen = attr_value(x, &key);
				else if (mnl_attr_get_type(x) == NFTA_SET_ELEM_DATA)
					dlen = attr_value(x, &val);
			}
			if (!key || klen != def->klen ||
			    mt_find(&d->be->mirror[d->set], key, (uint8_t)klen))
				continue;
			me = mt_insert(&d->be->mirror[d->set], key, (uint8_t)klen);
			if (val && dlen <= DATA_MAX) {
				memcpy(me->data, val, dlen);
				me->dlen = (uint8_t)dlen;
			}
		}
	}
	return MNL_CB_OK;
}

static void mirror_reset(struct nft_be *be)
{
	for (int s = 0; s < S_COUNT; s++) {
		mt_free(&be->mirror[s]);
		be->have_set[s] = false;
	}
	pmap_free(&be->chains);
	free(be->cand);
	be->cand = NULL;
	be->n_cand = be->cap_cand = 0;
	be->table = false;
	be->loaded = false;
}

/* The element dumps: workers take the sets in turn, largest first. */
struct dump_work {
	struct nft_be *be;
	int order[S_COUNT], n;
	atomic_int next;
};

struct dump_worker {
	struct dump_work *w;
	struct nft_sock *sock;
	pthread_t thread;
	int rc;
	struct k8c_error err;
};

static void *dump_worker(void *arg)
{
	struct dump_worker *dw = arg;
	struct nft_be *be = dw->w->be;
	char buf[MNL_SOCKET_BUFFER_SIZE];

	for (int i; dw->rc == 0 && (i = atomic_fetch_add(&dw->w->next, 1)) < dw->w->n;) {
		int s = dw->w->order[i];
		struct elem_dump d = {be, s};
		struct nftnl_set *set = set_obj(s);
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, FAMILY,
							     NLM_F_DUMP, nft_sock_seq(dw->sock));
		_cleanup_free_ char *what =
			k8c_xasprintf("list set ip %s %s", PROXY_NFT_TABLE, sets[s].name);

		nftnl_set_elems_nlmsg_build_payload(nlh, set);
		nftnl_set_free(set);
		dw->rc = nft_request(dw->sock, nlh, elem_dump_cb, &d, what, &dw->err);
	}
	return NULL;
}

static int dump_elements(struct nft_be *be, struct k8c_error *err)
{
	/* by expected size: two elements a frontend's endpoint, then one a frontend ... */
	static const int by_size[] = {S_BACKENDS,	S_HAIRPIN,	 S_SERVICE_IPS,
				      S_CLUSTER_IPS,	S_NOEP_SERVICES, S_NODEPORTS,
				      S_NOEP_NODEPORTS, S_NODEPORT_IPS};
	struct dump_work w = {.be = be};
	struct dump_worker dw[DUMP_WORKERS] = {0};
	int nw = 1, rc = 0;

	_Static_assert(sizeof(by_size) / sizeof(by_size[0]) == S_COUNT - 3, "every mirrored set");
	for (size_t i = 0; i < sizeof(by_size) / sizeof(by_size[0]); i++)
		if (be->have_set[by_size[i]])
			w.order[w.n++] = by_size[i];
	atomic_init(&w.next, 0);
	dw[0] = (struct dump_worker){.w = &w, .sock = be->sock, .err = K8C_ERROR_INIT};
	for (int i = 0; i < DUMP_WORKERS - 1 && be->dump_sock[i] && nw < w.n; i++) {
		dw[nw] = (struct dump_worker){
			.w = &w, .sock = be->dump_sock[i], .err = K8C_ERROR_INIT};
		if (pthread_create(&dw[nw].thread, NULL, dump_worker, &dw[nw]) != 0)
			break;
		nw++;
	}
	dump_worker(&dw[0]);
	for (int i = 1; i < nw; i++)
		pthread_join(dw[i].thread, NULL);
	for (int i = 0; i < nw; i++) {
		if (dw[i].rc < 0 && rc == 0) {
			rc = dw[i].rc;
			k8c_error_set(err, dw[i].err.code, "%s",
				      dw[i].err.msg ? dw[i].err.msg : "?");
		}
		k8c_error_clear(&dw[i].err);
	}
	if (rc == 0)
		be->loaded = true;
	return rc;
}

static int read_back(struct nft_be *be, struct k8c_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_rule *r;
	struct rule_seen seen = {.be = be};
	int rc;

	mirror_reset(be);
	/* does the table exist? */
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, FAMILY);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, PROXY_NFT_TABLE);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, FAMILY, NLM_F_ACK,
				    nft_sock_seq(be->sock));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	rc = nft_request(be->sock, nlh, NULL, NULL, "get table ip " PROXY_NFT_TABLE, err);
	if (rc == -ENOENT) {
		k8c_error_clear(err);
		be->loaded = true;
		return 0;
	}
	if (rc < 0)
		return rc;
	be->table = true;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, FAMILY, NLM_F_DUMP,
				    nft_sock_seq(be->sock));
	rc = nft_request(be->sock, nlh, chain_cb, be, "list chains", err);
	if (rc < 0)
		return rc;
	r = rule_new("x");
	nftnl_rule_unset(r, NFTNL_RULE_CHAIN);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, FAMILY, NLM_F_DUMP,
				    nft_sock_seq(be->sock));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	rc = nft_request(be->sock, nlh, rule_cb, &seen, "list rules", err);
	pmap_free(&seen.first);
	if (rc < 0)
		return rc;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, FAMILY, NLM_F_DUMP,
				    nft_sock_seq(be->sock));
	rc = nft_request(be->sock, nlh, set_cb, be, "list sets", err);
	if (rc < 0)
		return rc;
	return dump_elements(be, err);
	be->loaded = true;
	return 0;
}

/* ---- sync ------------------------------------------------------------------------------- */

struct sync_ctx {
	struct nft_be *be;
	const struct proxy_model *m;
};

static void sync_dirty(const char *key, const struct proxy_svcport *old,
		       const struct proxy_svcport *p, void *arg)
{
	struct sync_ctx *c = arg;

	record_sync(c->be, c->m, old, p);
}

static void sync_all(const struct proxy_svcport *p, void *arg)
{
	struct sync_ctx *c = arg;

	record_sync(c->be, c->m, NULL, p);
}

static void class_chain_note(struct txn *t, struct pmap *checked, const char *name)
{
	bool created;
	unsigned int k, tmo;

	pmap_puts(checked, name, &created);
	if (!created)
		return;
	/* ext-N goes to lb-N, npx-N to np-N (aext, anpx to alb, anp): those must exist first */
	if (sscanf(name, "aext-%u-%u", &k, &tmo) == 2 ||
	    sscanf(name, "anpx-%u-%u", &k, &tmo) == 2) {
		char to[40];

		snprintf(to, sizeof(to), "%s-%u-%u", name[1] == 'e' ? "alb" : "anp", k, tmo);
		class_chain_note(t, checked, to);
	} else if (sscanf(name, "ext-%u", &k) == 1 || sscanf(name, "npx-%u", &k) == 1) {
		char to[32];

		snprintf(to, sizeof(to), "%s-%u", name[0] == 'e' ? "lb" : "np", k);
		class_chain_note(t, checked, to);
	}
	if (!pmap_gets(&t->be->chains, name)) {
		struct nftnl_chain *ch = nftnl_chain_alloc();

		nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, FAMILY);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, PROXY_NFT_TABLE);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
		nft_batch_chain(txn_b(t, 1), NFT_MSG_NEWCHAIN, NLM_F_CREATE, ch);
		nftnl_chain_free(ch);
		*pmap_puts(&t->be->chains, name, NULL) = (void *)(uintptr_t)1;
	}
}

/* The lb-N, ext-N, np-N, npx-N chains the additions point to: created, then their rules. */
static void ensure_class_chains(struct txn *t)
{
	struct pmap checked = {0};

	for (int s = 0; s < S_COUNT; s++) {
		struct oplist *l = &t->be->adds[s];

		if (s != S_CLASSES)
			continue;
		for (size_t i = 0; i < l->n; i++) {
			char name[32];

			if (class_chain(l->v[i].key, name))
				class_chain_note(t, &checked, name);
		}
	}
	pmap_for_each(&checked, it)
	{
		char name[33] = {0};
		struct chaindef d = {name, NULL, 0, 0};

		memcpy(name, it->key, it->klen < 32 ? it->klen : 32);
		ensure_chain(t, &d);
	}
	pmap_free(&checked);
}

static void np_contrib(struct nft_be *be, const struct k8c_ipnet *ip, bool take)
{
	struct contrib x = {.set = S_NODEPORT_IPS, .klen = 4};

	if (ip->family != AF_INET)
		return;
	memcpy(x.key, ip->addr, 4);
	if (take)
		acquire(be, &x);
	else
		release(be, &x);
}

static void nft_set_nodeport_ips(void *arg, const struct k8c_ipnet *ips, size_t n)
{
	struct nft_be *be = arg;

	free(be->np_next);
	be->np_next = n ? k8c_xmalloc(n * sizeof(*ips)) : NULL;
	if (n)
		memcpy(be->np_next, ips, n * sizeof(*ips));
	be->n_np_next = n;
	be->np_changed = true;
}

static int nft_sync(void *arg, struct proxy_model *m, bool full, struct proxy_sync_stats *st,
		    struct k8c_error *err)
{
	struct nft_be *be = arg;
	struct proxy_sync_stats local = {0};
	struct txn t = {.be = be, .err = err};
	struct sync_ctx c = {.be = be, .m = m};
	struct nftnl_table *tab;

	be->st = st ? st : &local;
	memset(be->st, 0, sizeof(*be->st));
	if (!be->loaded && !be->sock) {
		be->loaded = true; /* dry run: an empty kernel */
		full = true;
	} else if (!be->loaded) {
		if (read_back(be, err) < 0)
			return k8c_error_wrap(err, "read back table ip " PROXY_NFT_TABLE);
		full = true;
	}

	/* table, sets, fixed chains */
	if (!be->table) {
		tab = nftnl_table_alloc();
		nftnl_table_set_u32(tab, NFTNL_TABLE_FAMILY, FAMILY);
		nftnl_table_set_str(tab, NFTNL_TABLE_NAME, PROXY_NFT_TABLE);
		nft_batch_table(txn_b(&t, 1), NFT_MSG_NEWTABLE, NLM_F_CREATE, tab);
		nftnl_table_free(tab);
	}
	for (int s = 0; s < S_COUNT; s++)
		if (!be->have_set[s] && !sets[s].virt)
			add_set(&t, s);
	/* chains first (empty), then rules, so jumps between them resolve */
	for (size_t i = 0; i < N_BASE; i++) {
		if (!pmap_gets(&be->chains, base_chains[i].name)) {
			struct nftnl_chain *ch = nftnl_chain_alloc();

			nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, FAMILY);
			nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, PROXY_NFT_TABLE);
			nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, base_chains[i].name);
			if (base_chains[i].type) {
				nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, base_chains[i].type);
				nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM,
						    (uint32_t)base_chains[i].hook);
				nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, base_chains[i].prio);
				nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
			}
			nft_batch_chain(txn_b(&t, 1), NFT_MSG_NEWCHAIN, NLM_F_CREATE, ch);
			nftnl_chain_free(ch);
			*pmap_puts(&be->chains, base_chains[i].name, NULL) = (void *)(uintptr_t)1;
		}
	}
	for (size_t i = 0; i < N_BASE; i++)
		if (strcmp(base_chains[i].name, "services") != 0)
			ensure_chain(&t, &base_chains[i]);

	/* elements of the changed records; on a full sync everything is counted again from zero
	 * and what nothing claims goes */
	if (be->np_changed) { /* the NodePort addresses: the old ones go, the new ones come */
		for (size_t i = 0; !full && i < be->cfg.n_nodeport_ips; i++)
			np_contrib(be, &be->cfg.nodeport_ips[i], false);
		free(be->cfg.nodeport_ips);
		be->cfg.nodeport_ips = be->np_next;
		be->cfg.n_nodeport_ips = be->n_np_next;
		be->np_next = NULL;
		be->n_np_next = 0;
		be->np_changed = false;
		for (size_t i = 0; !full && i < be->cfg.n_nodeport_ips; i++)
			np_contrib(be, &be->cfg.nodeport_ips[i], true);
	}
	if (full) {
		for (int s = 0; s < S_COUNT; s++)
			for (size_t i = 0; i < be->mirror[s].cap; i++) {
				be->mirror[s].e[i].refs = 0;
				be->mirror[s].e[i].queued = false;
			}
		be->n_cand = 0;
		for (size_t i = 0; i < be->cfg.n_nodeport_ips; i++)
			np_contrib(be, &be->cfg.nodeport_ips[i], true);
		proxy_model_each(m, sync_all, &c);
		for (int s = 0; s < S_COUNT; s++)
			for (size_t i = 0; i < be->mirror[s].cap; i++)
				if (be->mirror[s].e[i].state == 1)
					sweep(be, s, &be->mirror[s].e[i]);
	} else {
		proxy_model_each_dirty(m, sync_dirty, &c);
	}
	for (size_t i = 0; i < be->n_cand; i++)
		sweep(be, be->cand[i].set,
		      mt_find(&be->mirror[be->cand[i].set], be->cand[i].key, be->cand[i].klen));
	be->n_cand = 0;

	collect_stale(be);
	/* deletions, the chains additions point to, additions */
	for (int s = S_COUNT - 1; s >= 0; s--)
		send_ops(&t, s, &be->dels[s], false);
	ensure_class_chains(&t);
	/* its rules follow the classes in use: after their chains exist */
	ensure_chain(&t, &(struct chaindef){"services", NULL, 0, 0});
	for (int s = 0; s < S_COUNT; s++)
		send_ops(&t, s, &be->adds[s], true);
	txn_flush(&t);
	if (t.rc < 0) {
		free(be->stale);
		be->stale = NULL;
		be->n_stale = 0;
		be->loaded =
			false; /* the mirror is not the kernel's state: read it back next time */
		return t.rc;
	}
	be->table = true;
	for (int s = 0; s < S_COUNT; s++)
		be->have_set[s] = true;
	proxy_model_clear_dirty(m);
	for (int s = 0; s < S_COUNT; s++)
		if (!sets[s].virt)
			be->st->elements += be->mirror[s].n;
	if (be->n_stale && be->sock) {
		struct k8c_error cerr = K8C_ERROR_INIT;

		/* the rules are in: a failure here is no reason to sync again */
		if (proxy_ct_delete_udp(be->sock, be->stale, be->n_stale,
					&be->st->conntrack_deleted, &cerr) < 0)
			be->st->conntrack_errors++;
		k8c_error_clear(&cerr);
		free(be->stale);
		be->stale = NULL;
		be->n_stale = 0;
	}
	return 0;
}

static int nft_cleanup(void *arg, struct k8c_error *err)
{
	struct nft_be *be = arg;
	struct nft_batch *b = nft_batch_new(nft_sock_seq(be->sock));
	struct nftnl_table *t = nftnl_table_alloc();
	int rc;

	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, FAMILY);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, PROXY_NFT_TABLE);
	nft_batch_table(b, NFT_MSG_DELTABLE, 0, t);
	nftnl_table_free(t);
	rc = nft_batch_send(be->sock, b, err);
	nft_batch_free(b);
	if (rc == -ENOENT) {
		k8c_error_clear(err);
		rc = 0;
	}
	mirror_reset(be);
	return rc;
}

static void nft_free(void *arg)
{
	struct nft_be *be = arg;

	if (!be)
		return;
	mirror_reset(be);
	for (int s = 0; s < S_COUNT; s++) {
		free(be->dels[s].v);
		free(be->adds[s].v);
	}
	free(be->cfg.nodeport_ips);
	free(be->np_next);
	free(be->stale);
	nft_sock_close(be->sock);
	for (int i = 0; i < DUMP_WORKERS - 1; i++)
		if (be->dump_sock[i])
			nft_sock_close(be->dump_sock[i]);
	proxy_nft_dry_take(be, NULL);
	free(be);
}

void *proxy_nft_new_dry(const struct proxy_nft_config *cfg)
{
	struct nft_be *be = k8c_xcalloc(1, sizeof(*be));

	be->cfg = *cfg;
	if (cfg->n_nodeport_ips) {
		be->cfg.nodeport_ips =
			k8c_xmalloc(cfg->n_nodeport_ips * sizeof(*cfg->nodeport_ips));
		memcpy(be->cfg.nodeport_ips, cfg->nodeport_ips,
		       cfg->n_nodeport_ips * sizeof(*cfg->nodeport_ips));
	}
	return be;
}

size_t proxy_nft_dry_take(void *arg, struct nft_batch ***out)
{
	struct nft_be *be = arg;
	size_t n = be->n_dry;

	if (out) {
		*out = be->dry;
	} else {
		for (size_t i = 0; i < n; i++)
			nft_batch_free(be->dry[i]);
		free(be->dry);
	}
	be->dry = NULL;
	be->n_dry = 0;
	return n;
}

void *proxy_nft_new(const struct proxy_nft_config *cfg, struct k8c_error *err)
{
	struct nft_be *be = k8c_xcalloc(1, sizeof(*be));

	be->cfg = *cfg;
	if (cfg->n_nodeport_ips) {
		be->cfg.nodeport_ips =
			k8c_xmalloc(cfg->n_nodeport_ips * sizeof(*cfg->nodeport_ips));
		memcpy(be->cfg.nodeport_ips, cfg->nodeport_ips,
		       cfg->n_nodeport_ips * sizeof(*cfg->nodeport_ips));
	}
	be->sock = nft_sock_open(err);
	if (!be->sock) {
		free(be->cfg.nodeport_ips);
		free(be);
		return NULL;
	}
	for (int i = 0; i < DUMP_WORKERS - 1; i++) {
		struct k8c_error derr = K8C_ERROR_INIT;

		be->dump_sock[i] = nft_sock_open(&derr); /* NULL: fewer dumps in parallel */
		k8c_error_clear(&derr);
	}
	return be;
}

const struct proxy_backend_ops proxy_nft_ops = {
	.name = "nftables",
	.sync = nft_sync,
	.cleanup = nft_cleanup,
	.set_nodeport_ips = nft_set_nodeport_ips,
	.free = nft_free,
};

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "cleanup.h"
#include "nft_masq.h"
#include "nft_owner.h"

/* nft's datatype numbers (nftables include/datatype.h) so `nft list` prints the key types;
 * a concatenation's type is the field types packed 6 bits each, first field highest. */
#define NFT_TYPE_IPADDR	 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_BITS	 6
#define NFT_PRIO_SRCNAT	 100

struct masq_family {
	int af;
	uint8_t nfproto; /* value of meta nfproto */
	const char *set, *noset;
	uint32_t type;
	uint32_t len;			   /* address bytes */
	uint32_t saddr_off, daddr_off;	   /* in the network header */
	unsigned char mcast[16], mask[16]; /* multicast prefix, never masqueraded */
	uint32_t mcast_len;		   /* bytes of the prefix compared */
};

static const struct masq_family families[] = {
	{AF_INET, NFPROTO_IPV4, "masq4", "nomasq4", NFT_TYPE_IPADDR, 4, 12, 16, {224}, {0xf0}, 4},
	/* ff00::/8 is a whole byte: nft compares only that byte, do the same */
	{AF_INET6, NFPROTO_IPV6, "masq6", "nomasq6", NFT_TYPE_IP6ADDR, 16, 8, 24, {0xff}, {0}, 1},
};

static const char *const masq_sets[] = {"masq4", "nomasq4", "masq6", "nomasq6"};
static const struct cni_nft_table masq_table = {NFPROTO_INET, CNI_MASQ_TABLE, masq_sets, 4};

static const struct masq_family *family_of(int af)
{
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (families[i].af == af)
			return &families[i];
	return NULL;
}

static struct nftnl_set *set_new(const struct masq_family *f, bool concat)
{
	struct nftnl_set *s = cni_nft_set_decl(&masq_table, concat ? f->noset : f->set);

	if (!concat) {
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, f->type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, f->len);
	} else {
		uint8_t fields[2] = {(uint8_t)f->len, (uint8_t)f->len};

		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, f->type << NFT_TYPE_BITS | f->type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 2 * f->len);
		/* an interval over a concatenation is the pipapo set: it needs the field lengths */
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT);
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
	}
	return s;
}

static struct nftnl_rule *rule_new(const struct masq_family *f)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	/* the second address of a concatenation starts at the next 32-bit register boundary */
	uint32_t reg2 = f->len == 4 ? NFT_REG32_01 : NFT_REG_2;

	if (!r)
		abort();
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, CNI_MASQ_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, CNI_MASQ_CHAIN);
	nft_rule_meta(r, NFT_META_NFPROTO, NFT_REG_1);
	nft_rule_cmp(r, NFT_REG_1, NFT_CMP_EQ, &f->nfproto, 1);
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->saddr_off, f->len, NFT_REG_1);
	nft_rule_lookup(r, NFT_REG_1, f->set, false);
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->daddr_off, f->mcast_len, NFT_REG_1);
	if (f->mask[0])
		nft_rule_mask(r, NFT_REG_1, f->mask, f->mcast_len);
	nft_rule_cmp(r, NFT_REG_1, NFT_CMP_NEQ, f->mcast, f->mcast_len);
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->saddr_off, f->len, NFT_REG_1);
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, f->daddr_off, f->len, reg2);
	nft_rule_lookup(r, NFT_REG_1, f->noset, true);
	nft_rule_masq(r);
	return r;
}

/* create: a first-time setup that fails with EEXIST when the table exists (no flush);
 * otherwise an idempotent repair that replaces the chain's rules. */
static void build_setup(struct nft_batch *b, bool create)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_rule *flush = nftnl_rule_alloc();

	if (!t || !c || !flush)
		abort();
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, CNI_MASQ_TABLE);
	nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | (create ? NLM_F_EXCL : 0), t);
	nftnl_table_free(t);

	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, CNI_MASQ_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, CNI_MASQ_CHAIN);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_POST_ROUTING);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NFT_PRIO_SRCNAT);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c);
	nftnl_chain_free(c);

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		for (int concat = 0; concat <= 1; concat++) {
			struct nftnl_set *s = set_new(&families[i], concat);

			nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, s);
			nftnl_set_free(s);
		}
	}

	/* Rules cannot be added idempotently: replace the chain's contents in this same
	 * transaction, so there is never a moment without them. */
	nftnl_rule_set_u32(flush, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(flush, NFTNL_RULE_TABLE, CNI_MASQ_TABLE);
	nftnl_rule_set_str(flush, NFTNL_RULE_CHAIN, CNI_MASQ_CHAIN);
	if (!create)
		nft_batch_rule(b, NFT_MSG_DELRULE, 0, flush);
	nftnl_rule_free(flush);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct nftnl_rule *r = rule_new(&families[i]);

		nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);
		nftnl_rule_free(r);
	}
}

/* The nomasq element keys of ip toward range: address . first .. address . last of range. */
static void elem_keys(const struct masq_family *f, const struct k8c_ipnet *ip,
		      const struct k8c_ipnet *range, unsigned char *start, unsigned char *end)
{
	memcpy(start, ip->addr, f->len);
	memcpy(start + f->len, range->addr, f->len);
	memcpy(end, ip->addr, f->len);
	memcpy(end + f->len, range->addr, f->len);
	for (int bit = range->prefix; bit < (int)(8 * f->len); bit++)
		end[f->len + bit / 8] |= (unsigned char)(0x80 >> (bit % 8));
}

/* Whether prefix a lies inside prefix b (same family). */
static bool net_inside(const struct k8c_ipnet *a, const struct k8c_ipnet *b)
{
	return a->family == b->family && b->prefix <= a->prefix && k8c_ipnet_contains(b, a);
}

/* The destinations of ip that are not masqueraded, masked: its own subnet and the exceptions of
 * its family, leaving out any range inside another (or equal to an earlier one), since a set
 * refuses overlapping intervals. out has room for 1 + n_except; returns the count. */
static size_t nomasq_ranges(const struct k8c_ipnet *ip, const struct k8c_ipnet *except,
			    size_t n_except, struct k8c_ipnet *out)
{
	struct k8c_ipnet all[1 + CNI_MASQ_MAX_EXCEPT];
	size_t n_all = 0, n = 0;

	all[n_all++] = *ip;
	for (size_t i = 0; i < n_except && i < CNI_MASQ_MAX_EXCEPT; i++)
		if (except[i].family == ip->family)
			all[n_all++] = except[i];
	for (size_t i = 0; i < n_all; i++)
		k8c_ipnet_mask(&all[i]);
	for (size_t i = 0; i < n_all; i++) {
		bool covered = false;

		for (size_t j = 0; j < n_all && !covered; j++)
			covered = j != i && net_inside(&all[i], &all[j]) &&
				  (all[i].prefix != all[j].prefix || j < i);
		if (!covered)
			out[n++] = all[i];
	}
	return n;
}

static int check_net(const struct k8c_ipnet *ip, const char *what, struct k8c_error *err)
{
	const struct masq_family *f = family_of(ip->family);

	if (!f)
		return k8c_error_set(err, 0, "masquerade: address family %d not supported",
				     ip->family);
	if (ip->prefix < 0 || ip->prefix > (int)(8 * f->len)) {
		char buf[K8C_IPNET_STRLEN];

		return k8c_error_set(err, 0, "masquerade: %s needs the prefix of its %s",
				     k8c_ipnet_format(ip, buf), what);
	}
	return 0;
}

static int check_ips(const struct k8c_ipnet *ips, size_t n, const struct k8c_ipnet *except,
		     size_t n_except, struct k8c_error *err)
{
	if (n_except > CNI_MASQ_MAX_EXCEPT)
		return k8c_error_set(err, 0, "masquerade: %zu exceptions, at most %d", n_except,
				     CNI_MASQ_MAX_EXCEPT);
	for (size_t i = 0; i < n; i++)
		if (check_net(&ips[i], "subnet", err) < 0)
			return -1;
	for (size_t i = 0; i < n_except; i++)
		if (check_net(&except[i], "exception", err) < 0)
			return -1;
	return 0;
}

struct masq_add {
	const char *network, *container_id, *ifname;
	const struct k8c_ipnet *ips;
	size_t n;
	const struct k8c_ipnet *except;
	size_t n_except;
};

static int build_add(struct nft_batch *b, enum cni_nft_stage stage, void *arg,
		     struct k8c_error *err)
{
	const struct masq_add *a = arg;
	char tag[CNI_NFT_TAG_MAX + 1];

	if (cni_nft_tag_format(tag, a->network, a->container_id, a->ifname, err) < 0)
		return -1;
	if (check_ips(a->ips, a->n, a->except, a->n_except, err) < 0)
		return -1;
	if (stage != CNI_NFT_ELEMS)
		build_setup(b, stage == CNI_NFT_CREATE);
	if (stage == CNI_NFT_CREATE)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct masq_family *f = family_of(a->ips[i].family);
		struct k8c_ipnet ranges[1 + CNI_MASQ_MAX_EXCEPT];
		size_t n_ranges = nomasq_ranges(&a->ips[i], a->except, a->n_except, ranges);
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		if (!e)
			abort();
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, a->ips[i].addr, f->len);
		nft_elem_set_comment(e, tag);
		cni_nft_batch_elem(b, &masq_table, f->set, e, stage != CNI_NFT_ELEMS);
		nftnl_set_elem_free(e);
		for (size_t j = 0; j < n_ranges; j++) {
			unsigned char start[32], end[32];
			struct nftnl_set_elem *r = nftnl_set_elem_alloc();

			if (!r)
				abort();
			elem_keys(f, &a->ips[i], &ranges[j], start, end);
			nftnl_set_elem_set(r, NFTNL_SET_ELEM_KEY, start, 2 * f->len);
			nftnl_set_elem_set(r, NFTNL_SET_ELEM_KEY_END, end, 2 * f->len);
			nft_elem_set_comment(r, tag);
			cni_nft_batch_elem(b, &masq_table, f->noset, r, stage != CNI_NFT_ELEMS);
			nftnl_set_elem_free(r);
		}
	}
	return 0;
}

void cni_masq_build_setup(struct nft_batch *b)
{
	build_setup(b, false);
}

int cni_masq_build_add(struct nft_batch *b, const char *network, const char *container_id,
		       const char *ifname, const struct k8c_ipnet *ips, size_t n,
		       const struct k8c_ipnet *except, size_t n_except, struct k8c_error *err)
{
	struct masq_add a = {network, container_id, ifname, ips, n, except, n_except};

	return build_add(b, CNI_NFT_REPAIR, &a, err);
}

int cni_masq_add(const char *network, const char *container_id, const char *ifname,
		 const struct k8c_ipnet *ips, size_t n, const struct k8c_ipnet *except,
		 size_t n_except, struct k8c_error *err)
{
	struct masq_add a = {network, container_id, ifname, ips, n, except, n_except};

	if (n == 0)
		return 0;
	if (cni_nft_send_staged(build_add, &a, err) < 0)
		return k8c_error_wrap(err, "masquerade %s/%s/%s", network, container_id, ifname);
	return 0;
}

/* Whether the element's key starts with one of ips (of the set's family). */
static bool key_has_ip(const char *set, struct nftnl_set_elem *e, const struct k8c_ipnet *ips,
		       size_t n)
{
	uint32_t klen = 0;
	const unsigned char *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	int af = set[strlen(set) - 1] == '6' ? AF_INET6 : AF_INET;

	for (size_t i = 0; key && i < n; i++) {
		size_t len = k8c_ip_len(ips[i].family);

		if (ips[i].family == af && klen >= len && memcmp(key, ips[i].addr, len) == 0)
			return true;
	}
	return false;
}

struct del_arg {
	const char *network, *container_id, *ifname;
	const struct k8c_ipnet *ips;
	size_t n;
};

static bool owner_is(const struct cni_nft_owner *o, const char *network, const char *container_id,
		     const char *ifname)
{
	return strcmp(o->network, network) == 0 && strcmp(o->container_id, container_id) == 0 &&
	       strcmp(o->ifname, ifname) == 0;
}

static bool del_match(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *o,
		      void *arg)
{
	const struct del_arg *d = arg;

	if (!owner_is(o, d->network, d->container_id, d->ifname))
		return false;
	return !d->ips || key_has_ip(set, e, d->ips, d->n);
}

int cni_masq_del(const char *network, const char *container_id, const char *ifname,
		 const struct k8c_ipnet *ips, size_t n, struct k8c_error *err)
{
	struct del_arg d = {network, container_id, ifname, ips, n};

	if (cni_nft_delete_matching(&masq_table, del_match, &d, NULL, err) < 0)
		return k8c_error_wrap(err, "remove masquerade of %s/%s/%s", network, container_id,
				      ifname);
	return 0;
}

/* Slots of an address in check_arg.found: its masq element, then one per nomasq range. */
#define CHECK_SLOTS (2 + CNI_MASQ_MAX_EXCEPT)

struct check_arg {
	struct del_arg who;
	const struct k8c_ipnet *except;
	size_t n_except;
	bool *found; /* CHECK_SLOTS per address */
};

static int check_cb(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *o,
		    void *arg, struct k8c_error *err)
{
	struct check_arg *c = arg;

	if (!owner_is(o, c->who.network, c->who.container_id, c->who.ifname))
		return 0;
	for (size_t i = 0; i < c->who.n; i++) {
		const struct masq_family *f = family_of(c->who.ips[i].family);
		struct k8c_ipnet ranges[1 + CNI_MASQ_MAX_EXCEPT];
		size_t n_ranges = nomasq_ranges(&c->who.ips[i], c->except, c->n_except, ranges);
		uint32_t klen = 0, elen = 0;
		const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		const void *kend = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &elen);

		if (strcmp(set, f->set) == 0 && key && klen == f->len &&
		    memcmp(key, c->who.ips[i].addr, f->len) == 0)
			c->found[CHECK_SLOTS * i] = true;
		for (size_t j = 0; j < n_ranges; j++) {
			unsigned char start[32], end[32];

			elem_keys(f, &c->who.ips[i], &ranges[j], start, end);
			if (strcmp(set, f->noset) == 0 && key && kend && klen == 2 * f->len &&
			    elen == 2 * f->len && memcmp(key, start, klen) == 0 &&
			    memcmp(kend, end, elen) == 0)
				c->found[CHECK_SLOTS * i + 1 + j] = true;
		}
	}
	return 0;
}

int cni_masq_check(const char *network, const char *container_id, const char *ifname,
		   const struct k8c_ipnet *ips, size_t n, const struct k8c_ipnet *except,
		   size_t n_except, struct k8c_error *err)
{
	struct check_arg c = {{network, container_id, ifname, ips, n}, except, n_except, NULL};
	struct nft_sock *s;
	size_t rules = 0;
	int r;

	if (check_ips(ips, n, except, n_except, err) < 0)
		return -1;
	s = nft_sock_open(err);
	if (!s)
		return -1;
	c.found = k8c_xcalloc(CHECK_SLOTS * n + 1, sizeof(bool));
	r = nft_chain_rule_count(s, NFPROTO_INET, CNI_MASQ_TABLE, CNI_MASQ_CHAIN, &rules, err);
	if (r == 0 && rules < sizeof(families) / sizeof(families[0]))
		r = k8c_error_set(err, 0, "chain inet %s %s has %zu rules, expected %zu",
				  CNI_MASQ_TABLE, CNI_MASQ_CHAIN, rules,
				  sizeof(families) / sizeof(families[0]));
	if (r == 0)
		r = cni_nft_foreach(s, &masq_table, check_cb, &c, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct masq_family *f = family_of(ips[i].family);
		struct k8c_ipnet ranges[1 + CNI_MASQ_MAX_EXCEPT];
		size_t n_ranges = nomasq_ranges(&ips[i], except, n_except, ranges);
		char buf[K8C_IPNET_STRLEN], rbuf[K8C_IPNET_STRLEN];

		if (!c.found[CHECK_SLOTS * i])
			r = k8c_error_set(err, 0, "no element for %s in set inet %s %s",
					  k8c_ipnet_format(&ips[i], buf), CNI_MASQ_TABLE, f->set);
		for (size_t j = 0; r == 0 && j < n_ranges; j++)
			if (!c.found[CHECK_SLOTS * i + 1 + j])
				r = k8c_error_set(err, 0,
						  "no element for %s . %s in set inet %s %s",
						  k8c_ip_format(&ips[i], buf),
						  k8c_ipnet_format(&ranges[j], rbuf),
						  CNI_MASQ_TABLE, f->noset);
	}
	free(c.found);
	nft_sock_close(s);
	if (r < 0)
		return k8c_error_wrap(err, "check masquerade of %s/%s/%s", network, container_id,
				      ifname);
	return 0;
}

int cni_masq_gc(const char *network,
		bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
		size_t *removed, struct k8c_error *err)
{
	if (cni_nft_gc(&masq_table, network, keep, arg, removed, err) < 0)
		return k8c_error_wrap(err, "garbage-collect masquerade of network %s", network);
	return 0;
}

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_bridge.h>
#include <linux/netlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft_macspoof.h"
#include "nft_owner.h"

/* nft's datatype numbers (nftables include/datatype.h), see nft_masq.c */
#define NFT_TYPE_ETHERADDR 9
#define NFT_TYPE_IFNAME	   41
#define NFT_TYPE_BITS	   6
#define NFT_BYTEORDER_HOST 1 /* nft's enum byteorder */
/* as the reference plugin: before bridge dnat (NF_BR_PRI_NAT_DST_BRIDGED) */
#define MACSPOOF_PRIO -300
#define ETH_ALEN_     6
/* ifname . ether_addr: 16 bytes, then 6 padded to the next 32-bit register */
#define ALLOWED_LEN (IFNAMSIZ + 8)

static const char *const macspoof_sets[] = {"ports", "allowed"};
static const struct cni_nft_table macspoof_table = {NFPROTO_BRIDGE, CNI_MACSPOOF_TABLE,
						    macspoof_sets, 2};

/* create: a first-time setup that fails with EEXIST when the table exists (no flush);
 * otherwise an idempotent repair that replaces the chain's rules. */
static void build_setup(struct nft_batch *b, bool create)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_rule *flush = nftnl_rule_alloc();
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_set *ports = cni_nft_set_decl(&macspoof_table, "ports");
	struct nftnl_set *allowed = cni_nft_set_decl(&macspoof_table, "allowed");
	uint8_t fields[2] = {IFNAMSIZ, ETH_ALEN_};
	struct nftnl_udata_buf *ud;

	if (!t || !c || !flush || !r)
		abort();
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_BRIDGE);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, CNI_MACSPOOF_TABLE);
	nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | (create ? NLM_F_EXCL : 0), t);

	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_BRIDGE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, CNI_MACSPOOF_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, CNI_MACSPOOF_CHAIN);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_BR_PRE_ROUTING);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, MACSPOOF_PRIO);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nft_batch_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, c);

	nftnl_set_set_u32(ports, NFTNL_SET_KEY_TYPE, NFT_TYPE_IFNAME);
	nftnl_set_set_u32(ports, NFTNL_SET_KEY_LEN, IFNAMSIZ);
	/* nft prints a string key right only if told it is in host byte order, as it tells itself */
	ud = nftnl_udata_buf_alloc(16);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_HOST))
		abort();
	nftnl_set_set_data(ports, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, ports);
	nftnl_set_set_u32(allowed, NFTNL_SET_KEY_TYPE,
			  NFT_TYPE_IFNAME << NFT_TYPE_BITS | NFT_TYPE_ETHERADDR);
	nftnl_set_set_u32(allowed, NFTNL_SET_KEY_LEN, ALLOWED_LEN);
	/* the kernel wants NFT_SET_CONCAT with field lengths (it rejects either one alone) */
	nftnl_set_set_u32(allowed, NFTNL_SET_FLAGS, NFT_SET_CONCAT);
	nftnl_set_set_data(allowed, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields));
	nft_batch_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, allowed);

	/* replace the rule in this transaction: rules cannot be added idempotently */
	nftnl_rule_set_u32(flush, NFTNL_RULE_FAMILY, NFPROTO_BRIDGE);
	nftnl_rule_set_str(flush, NFTNL_RULE_TABLE, CNI_MACSPOOF_TABLE);
	nftnl_rule_set_str(flush, NFTNL_RULE_CHAIN, CNI_MACSPOOF_CHAIN);
	if (!create)
		nft_batch_rule(b, NFT_MSG_DELRULE, 0, flush);

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_BRIDGE);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, CNI_MACSPOOF_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, CNI_MACSPOOF_CHAIN);
	nft_rule_meta(r, NFT_META_IIFNAME, NFT_REG_1);
	nft_rule_lookup(r, NFT_REG_1, "ports", false);
	nft_rule_meta(r, NFT_META_IIFNAME, NFT_REG_1);
	nft_rule_payload(r, NFT_PAYLOAD_LL_HEADER, ETH_ALEN_, ETH_ALEN_, NFT_REG_2);
	nft_rule_lookup(r, NFT_REG_1, "allowed", true);
	nft_rule_verdict(r, NF_DROP);
	nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);

	nftnl_table_free(t);
	nftnl_chain_free(c);
	nftnl_rule_free(flush);
	nftnl_rule_free(r);
	nftnl_set_free(ports);
	nftnl_set_free(allowed);
}

static int parse_mac(const char *s, unsigned char mac[ETH_ALEN_], struct k8c_error *err)
{
	unsigned int v[ETH_ALEN_];
	char end;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			 &end) != ETH_ALEN_)
		return k8c_error_set(err, 0, "MAC spoof check: bad MAC address `%s`", s ? s : "");
	for (int i = 0; i < ETH_ALEN_; i++)
		mac[i] = (unsigned char)v[i];
	return 0;
}

/* The keys of the two elements: ports = ifname (NUL-padded, as meta iifname loads it),
 * allowed = ifname . mac . 2 bytes of padding. */
static int elem_keys(const char *host_ifname, const char *mac, unsigned char port[IFNAMSIZ],
		     unsigned char allowed[ALLOWED_LEN], struct k8c_error *err)
{
	if (!host_ifname || !*host_ifname || strlen(host_ifname) >= IFNAMSIZ)
		return k8c_error_set(err, 0, "MAC spoof check: bad interface name `%s`",
				     host_ifname ? host_ifname : "");
	memset(port, 0, IFNAMSIZ);
	memcpy(port, host_ifname, strlen(host_ifname));
	memset(allowed, 0, ALLOWED_LEN);
	memcpy(allowed, port, IFNAMSIZ);
	return parse_mac(mac, allowed + IFNAMSIZ, err);
}

struct spoof_add {
	const char *network, *container_id, *ifname, *host_ifname, *mac;
};

static int build_add(struct nft_batch *b, enum cni_nft_stage stage, void *arg,
		     struct k8c_error *err)
{
	const struct spoof_add *sa = arg;
	char tag[CNI_NFT_TAG_MAX + 1];
	unsigned char port[IFNAMSIZ], allowed[ALLOWED_LEN];
	struct nftnl_set_elem *e, *a;

	if (cni_nft_tag_format(tag, sa->network, sa->container_id, sa->ifname, err) < 0 ||
	    elem_keys(sa->host_ifname, sa->mac, port, allowed, err) < 0)
		return -1;
	if (stage != CNI_NFT_ELEMS)
		build_setup(b, stage == CNI_NFT_CREATE);
	if (stage == CNI_NFT_CREATE)
		return 0;
	e = nftnl_set_elem_alloc();
	a = nftnl_set_elem_alloc();
	if (!e || !a)
		abort();
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, port, IFNAMSIZ);
	nft_elem_set_comment(e, tag);
	cni_nft_batch_elem(b, &macspoof_table, "ports", e, stage != CNI_NFT_ELEMS);
	nftnl_set_elem_set(a, NFTNL_SET_ELEM_KEY, allowed, ALLOWED_LEN);
	nft_elem_set_comment(a, tag);
	cni_nft_batch_elem(b, &macspoof_table, "allowed", a, stage != CNI_NFT_ELEMS);
	nftnl_set_elem_free(e);
	nftnl_set_elem_free(a);
	return 0;
}

void cni_macspoof_build_setup(struct nft_batch *b)
{
	build_setup(b, false);
}

int cni_macspoof_build_add(struct nft_batch *b, const char *network, const char *container_id,
			   const char *ifname, const char *host_ifname, const char *mac,
			   struct k8c_error *err)
{
	struct spoof_add sa = {network, container_id, ifname, host_ifname, mac};

	return build_add(b, CNI_NFT_REPAIR, &sa, err);
}

int cni_macspoof_add(const char *network, const char *container_id, const char *ifname,
		     const char *host_ifname, const char *mac, struct k8c_error *err)
{
	struct spoof_add sa = {network, container_id, ifname, host_ifname, mac};

	if (cni_nft_send_staged(build_add, &sa, err) < 0)
		return k8c_error_wrap(err, "MAC spoof check for %s/%s/%s", network, container_id,
				      ifname);
	return 0;
}

struct who {
	const char *network, *container_id, *ifname;
};

static bool owner_is(const struct cni_nft_owner *o, const struct who *w)
{
	return strcmp(o->network, w->network) == 0 &&
	       strcmp(o->container_id, w->container_id) == 0 && strcmp(o->ifname, w->ifname) == 0;
}

static bool del_match(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *o,
		      void *arg)
{
	return owner_is(o, arg);
}

int cni_macspoof_del(const char *network, const char *container_id, const char *ifname,
		     struct k8c_error *err)
{
	struct who w = {network, container_id, ifname};

	if (cni_nft_delete_matching(&macspoof_table, del_match, &w, NULL, err) < 0)
		return k8c_error_wrap(err, "remove MAC spoof check of %s/%s/%s", network,
				      container_id, ifname);
	return 0;
}

struct check_arg {
	struct who who;
	const unsigned char *port, *allowed;
	bool found[2];
};

static int check_cb(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *o,
		    void *arg, struct k8c_error *err)
{
	struct check_arg *c = arg;
	uint32_t klen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);

	if (!owner_is(o, &c->who) || !key)
		return 0;
	if (strcmp(set, "ports") == 0 && klen == IFNAMSIZ && memcmp(key, c->port, klen) == 0)
		c->found[0] = true;
	if (strcmp(set, "allowed") == 0 && klen == ALLOWED_LEN &&
	    memcmp(key, c->allowed, klen) == 0)
		c->found[1] = true;
	return 0;
}

int cni_macspoof_check(const char *network, const char *container_id, const char *ifname,
		       const char *host_ifname, const char *mac, struct k8c_error *err)
{
	unsigned char port[IFNAMSIZ], allowed[ALLOWED_LEN];
	struct check_arg c = {{network, container_id, ifname}, port, allowed, {false, false}};
	struct nft_sock *s;
	size_t rules = 0;
	int r;

	if (elem_keys(host_ifname, mac, port, allowed, err) < 0)
		return -1;
	s = nft_sock_open(err);
	if (!s)
		return -1;
	r = nft_chain_rule_count(s, NFPROTO_BRIDGE, CNI_MACSPOOF_TABLE, CNI_MACSPOOF_CHAIN, &rules,
				 err);
	if (r == 0 && rules < 1)
		r = k8c_error_set(err, 0, "chain bridge %s %s has no rule", CNI_MACSPOOF_TABLE,
				  CNI_MACSPOOF_CHAIN);
	if (r == 0)
		r = cni_nft_foreach(s, &macspoof_table, check_cb, &c, err);
	if (r == 0 && !c.found[0])
		r = k8c_error_set(err, 0, "no element for %s in set bridge %s ports", host_ifname,
				  CNI_MACSPOOF_TABLE);
	if (r == 0 && !c.found[1])
		r = k8c_error_set(err, 0, "no element %s . %s in set bridge %s allowed",
				  host_ifname, mac, CNI_MACSPOOF_TABLE);
	nft_sock_close(s);
	if (r < 0)
		return k8c_error_wrap(err, "check MAC spoof check of %s/%s/%s", network,
				      container_id, ifname);
	return 0;
}

int cni_macspoof_gc(const char *network,
		    bool (*keep)(const char *container_id, const char *ifname, void *arg),
		    void *arg, size_t *removed, struct k8c_error *err)
{
	if (cni_nft_gc(&macspoof_table, network, keep, arg, removed, err) < 0)
		return k8c_error_wrap(err, "garbage-collect MAC spoof check of network %s",
				      network);
	return 0;
}

/*
 * proxy/nft_backend: the netlink messages a sync sends, built without a kernel (a dry backend)
 * and parsed back with libnftnl, as libnftnl's own tests do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <limits.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "backend.h"
#include "model.h"
#include "nft_batch.h"
#include "nft_testutil.h"

/* What a sync sent, parsed back. */
struct sent {
	int tables, sets, chains, del_rules;
	char set_names[16][32];
	char chain_names[64][32];
	int n_set_names, n_chain_names;
	struct {
		char chain[32];
		struct expr_list e;
		uint32_t modulus;
	} rules[64];
	int n_rules;
	struct {
		char set[32];
		bool add;
		unsigned char key[16], data[16];
		uint32_t klen, dlen;
	} elems[64];
	int n_elems;
};

/* The NFTA_DATA_VALUE inside a nested data attribute. */
static uint32_t data_value(const struct nlattr *nest, unsigned char *out)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE) {
			uint32_t len = mnl_attr_get_payload_len(a);

			assert_true(len <= 16);
			memcpy(out, mnl_attr_get_payload(a), len);
			return len;
		}
	}
	return 0;
}

/* Elements parsed from the attributes themselves: libnftnl 1.2.4's
 * nftnl_set_elems_nlmsg_parse() returns -1 on the `backends` messages (16-byte keys, 8-byte
 * data) although the kernel accepts them and dumps them back (not investigated further). */
static void parse_elems(struct sent *s, const struct nlmsghdr *nlh, bool add)
{
	const struct nlattr *a, *list, *elem, *x;
	const char *set = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
			set = mnl_attr_get_str(a);
	}
	assert_non_null(set);
	mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, list)
		{
			assert_true(s->n_elems < 64);
			snprintf(s->elems[s->n_elems].set, 32, "%s", set);
			s->elems[s->n_elems].add = add;
			mnl_attr_for_each_nested(x, elem)
			{
				if (mnl_attr_get_type(x) == NFTA_SET_ELEM_KEY)
					s->elems[s->n_elems].klen =
						data_value(x, s->elems[s->n_elems].key);
				else if (mnl_attr_get_type(x) == NFTA_SET_ELEM_DATA)
					s->elems[s->n_elems].dlen =
						data_value(x, s->elems[s->n_elems].data);
			}
			s->n_elems++;
		}
	}
}

static int numgen_cb(struct nftnl_expr *e, void *data)
{
	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "numgen") == 0)
		*(uint32_t *)data = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS);
	return 0;
}

static void parse(struct sent *s, void *be)
{
	struct nft_batch **bs;
	size_t n = proxy_nft_dry_take(be, &bs);

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const struct nlmsghdr *nlh = nft_batch_finish(bs[i], &len);
		int left = (int)len;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

			if (type == NFT_MSG_NEWTABLE) {
				struct nftnl_table *t = nftnl_table_alloc();

				assert_int_equal(nftnl_table_nlmsg_parse(nlh, t), 0);
				assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME),
						    PROXY_NFT_TABLE);
				assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY),
						 NFPROTO_IPV4);
				nftnl_table_free(t);
				s->tables++;
			} else if (type == NFT_MSG_NEWSET) {
				struct nftnl_set *set = nftnl_set_alloc();

				assert_int_equal(nftnl_set_nlmsg_parse(nlh, set), 0);
				snprintf(s->set_names[s->n_set_names++], 32, "%s",
					 nftnl_set_get_str(set, NFTNL_SET_NAME));
				nftnl_set_free(set);
				s->sets++;
			} else if (type == NFT_MSG_NEWCHAIN) {
				struct nftnl_chain *c = nftnl_chain_alloc();

				assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
				snprintf(s->chain_names[s->n_chain_names++], 32, "%s",
					 nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
				nftnl_chain_free(c);
				s->chains++;
			} else if (type == NFT_MSG_NEWRULE) {
				struct nftnl_rule *r = nftnl_rule_alloc();

				assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
				assert_true(s->n_rules < 64);
				snprintf(s->rules[s->n_rules].chain, 32, "%s",
					 nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
				nftnl_expr_foreach(r, expr_cb, &s->rules[s->n_rules].e);
				nftnl_expr_foreach(r, numgen_cb, &s->rules[s->n_rules].modulus);
				s->n_rules++;
				nftnl_rule_free(r);
			} else if (type == NFT_MSG_DELRULE) {
				s->del_rules++;
			} else if (type == NFT_MSG_NEWSETELEM || type == NFT_MSG_DELSETELEM) {
				parse_elems(s, nlh, type == NFT_MSG_NEWSETELEM);
			}
		}
		nft_batch_free(bs[i]);
	}
	free(bs);
}

static bool has_chain(const struct sent *s, const char *name)
{
	for (int i = 0; i < s->n_chain_names; i++)
		if (strcmp(s->chain_names[i], name) == 0)
			return true;
	return false;
}

static bool has_set(const struct sent *s, const char *name)
{
	for (int i = 0; i < s->n_set_names; i++)
		if (strcmp(s->set_names[i], name) == 0)
			return true;
	return false;
}

static int count_elems(const struct sent *s, const char *set, bool add)
{
	int n = 0;

	for (int i = 0; i < s->n_elems; i++)
		n += strcmp(s->elems[i].set, set) == 0 && s->elems[i].add == add;
	return n;
}

static void apply(struct proxy_model *m, const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	struct k8c_error err = K8C_ERROR_INIT;

	assert_non_null(o);
	assert_int_equal(proxy_model_apply(m, o, NULL, false, &err), 0);
	json_decref(o);
}

#define SVC                                                                                        \
	"{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"t\",\"name\":\"web\"},\"spec\":"      \
	"{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"http\",\"port\":80,"                 \
	"\"nodePort\":30080}]}}"
#define SLICE(EPS)                                                                                 \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"t\",\"name\":\"web-1\","        \
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","           \
	"\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[" EPS "]}"
#define EP(IP) "{\"addresses\":[\"" IP "\"]}"

static void test_cold_and_incremental(void **state)
{
	struct proxy_nft_config cfg = {0};
	struct proxy_model *m = proxy_model_new(NULL);
	struct proxy_sync_stats st;
	struct k8c_error err = K8C_ERROR_INIT;
	struct sent *s = calloc(1, sizeof(*s));
	void *be;
	bool lb2 = false;
	uint32_t want_class[2] = {1u << 24 | 2, 0};
	unsigned char want_key[12] = {10, 96, 0, 10, IPPROTO_TCP, 0, 0, 0, 0, 80, 0, 0};

	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	be = proxy_nft_new_dry(&cfg);
	apply(m, SVC);
	apply(m, SLICE(EP("10.244.0.5") "," EP("10.244.0.6")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	parse(s, be);

	/* cold start: the table, its sets (not the virtual classes), base and class chains */
	assert_int_equal(s->tables, 1);
	assert_true(has_set(s, "service-ips"));
	assert_true(has_set(s, "backends"));
	assert_true(has_set(s, "affinity"));
	assert_false(has_set(s, "classes"));
	assert_true(has_chain(s, "nat-prerouting"));
	assert_true(has_chain(s, "services"));
	assert_true(has_chain(s, "lb-2"));
	assert_true(has_chain(s, "npx-2"));
	assert_true(has_chain(s, "np-2"));
	for (int i = 0; i < s->n_rules; i++) {
		const struct expr_list *e = &s->rules[i].e;

		if (strcmp(s->rules[i].chain, "lb-2") != 0)
			continue;
		/* dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @backends */
		assert_int_equal(e->n, 6);
		assert_string_equal(e->names[0], "payload");
		assert_string_equal(e->names[1], "meta");
		assert_string_equal(e->names[2], "payload");
		assert_string_equal(e->names[3], "numgen");
		assert_string_equal(e->names[4], "lookup");
		assert_string_equal(e->names[5], "nat");
		assert_int_equal(s->rules[i].modulus, 2);
		lb2 = true;
	}
	assert_true(lb2);
	/* the clusterIP's element names class lb-2; two backends per frontend (ClusterIP and
	 * NodePort); two hairpin pairs */
	for (int i = 0; i < s->n_elems; i++) {
		if (strcmp(s->elems[i].set, "service-ips") != 0)
			continue;
		assert_int_equal(s->elems[i].klen, 12);
		assert_memory_equal(s->elems[i].key, want_key, 12);
		assert_int_equal(s->elems[i].dlen, 8);
		assert_memory_equal(s->elems[i].data, want_class, 8);
	}
	assert_int_equal(count_elems(s, "service-ips", true), 1);
	assert_int_equal(count_elems(s, "service-nodeports", true), 1);
	assert_int_equal(count_elems(s, "backends", true), 4);
	assert_int_equal(count_elems(s, "hairpin", true), 2);
	assert_int_equal(count_elems(s, "cluster-ips", true), 1);
	assert_int_equal(st.messages > 0, 1);

	/* nothing changed: nothing sent */
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	assert_int_equal(st.messages, 0);
	assert_int_equal(proxy_nft_dry_take(be, NULL), 0);

	/* one endpoint less: only this service's elements, the new classes' chains and the
	 * services rules (its classes changed); no table or set */
	apply(m, SLICE(EP("10.244.0.5")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	parse(s, be);
	assert_int_equal(s->tables, 0);
	assert_int_equal(s->sets, 0);
	assert_true(has_chain(s, "lb-1"));
	assert_false(has_chain(s, "lb-2"));
	assert_int_equal(count_elems(s, "backends", false), 2); /* index 1 of both frontends */
	assert_int_equal(count_elems(s, "backends", true), 0);	/* index 0 is unchanged */
	assert_int_equal(count_elems(s, "hairpin", false), 1);
	assert_int_equal(count_elems(s, "service-ips", false), 1); /* replaced: lb-2 -> lb-1 */
	assert_int_equal(count_elems(s, "service-ips", true), 1);
	assert_int_equal(count_elems(s, "cluster-ips", true) + count_elems(s, "cluster-ips", false),
			 0);
	for (int i = 0; i < s->n_rules; i++)
		assert_true(strcmp(s->rules[i].chain, "services") == 0 ||
			    strncmp(s->rules[i].chain, "lb-", 3) == 0 ||
			    strncmp(s->rules[i].chain, "np", 2) == 0);

	free(s);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
}

/* Removing the first of three endpoints moves the last one into its index; the middle one
 * keeps index 1, so its elements (and the clients affinity sent there) are untouched. */
static void test_stable_indices(void **state)
{
	struct proxy_nft_config cfg = {0};
	struct proxy_model *m = proxy_model_new(NULL);
	struct proxy_sync_stats st;
	struct k8c_error err = K8C_ERROR_INIT;
	struct sent *s = calloc(1, sizeof(*s));
	void *be;
	int adds = 0;

	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	be = proxy_nft_new_dry(&cfg);
	apply(m, SVC);
	apply(m, SLICE(EP("10.244.0.5") "," EP("10.244.0.6") "," EP("10.244.0.7")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	proxy_nft_dry_take(be, NULL);

	apply(m, SLICE(EP("10.244.0.6") "," EP("10.244.0.7")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	parse(s, be);
	for (int i = 0; i < s->n_elems; i++) {
		uint32_t idx;

		if (strcmp(s->elems[i].set, "backends") != 0)
			continue;
		memcpy(&idx, s->elems[i].key + 12, 4);
		assert_int_not_equal(idx, 1); /* 10.244.0.6 stays where it was */
		if (s->elems[i].add) {
			unsigned char want[4] = {10, 244, 0, 7};

			assert_int_equal(idx, 0);
			assert_memory_equal(s->elems[i].data, want, 4);
			adds++;
		}
	}
	assert_int_equal(adds, 2);				/* ClusterIP and NodePort */
	assert_int_equal(count_elems(s, "backends", false), 4); /* index 0 replaced, 2 gone */
	free(s);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
}

/* ---- a packet tracer over the generated state -----------------------------------------------
 *
 * What a dry sync sent (tables, sets, chains, rules, elements, incremental deletions included),
 * parsed back with libnftnl and kept as the kernel would hold it; trace() runs a new connection's
 * first packet through the base chains of each netfilter hook in priority order, interpreting
 * every rule expression the backend writes (payload, meta, cmp, bitwise, lookup and maps,
 * immediate and verdicts, ct, fib, numgen, nat, masq, reject, dynset) as nf_tables does. The
 * expected verdicts in the tests are Kubernetes' semantics; nothing here knows the backend's
 * classes or chains by name.
 */
#define TR_KEY 20

struct tr_set {
	char name[32];
	uint32_t klen, dlen;
	size_t n;
	unsigned char (*key)[TR_KEY], (*data)[16];
};

struct tr_chain {
	char name[32];
	bool base;
	uint32_t hook;
	int32_t prio;
	struct nftnl_rule **rules;
	size_t n;
};

struct tr_state {
	struct tr_set sets[16];
	int n_sets;
	struct tr_chain chains[96];
	int n_chains;
	uint32_t node_ips[4]; /* the node's local addresses (fib daddr type local), network order */
	int n_node_ips;
};

enum tr_origin { TR_POD, TR_EXTERNAL, TR_LOCAL }; /* a pod or another host, or the node */
enum tr_verdict { TR_ACCEPT, TR_DROP, TR_REJECT };

struct tr_pkt {
	uint32_t saddr, daddr; /* network order */
	uint8_t proto;
	uint16_t sport, dport; /* host order */
	uint32_t mark;
	bool dnat;
};

struct tr_result {
	enum tr_verdict verdict;
	bool dnat, masq;
	uint32_t to_addr; /* after DNAT */
	uint16_t to_port;
	uint32_t modulus; /* of a numgen met on the way (0: none) */
};

static struct tr_set *tr_set(struct tr_state *st, const char *name)
{
	for (int i = 0; i < st->n_sets; i++)
		if (strcmp(st->sets[i].name, name) == 0)
			return &st->sets[i];
	return NULL;
}

static struct tr_chain *tr_chain(struct tr_state *st, const char *name)
{
	for (int i = 0; i < st->n_chains; i++)
		if (strcmp(st->chains[i].name, name) == 0)
			return &st->chains[i];
	return NULL;
}

static long tr_find(const struct tr_set *s, const unsigned char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->key[i], key, s->klen) == 0)
			return (long)i;
	return -1;
}

static void tr_elem(struct tr_set *s, const unsigned char *key, const unsigned char *data, bool add)
{
	long i = tr_find(s, key);

	if (!add) {
		assert_true(i >= 0); /* the backend deletes only what the kernel has */
		s->n--;
		memmove(s->key[i], s->key[s->n], TR_KEY);
		memmove(s->data[i], s->data[s->n], 16);
		return;
	}
	if (i < 0) {
		s->key = realloc(s->key, (s->n + 1) * sizeof(*s->key));
		s->data = realloc(s->data, (s->n + 1) * sizeof(*s->data));
		i = (long)s->n++;
	}
	memset(s->key[i], 0, TR_KEY);
	memcpy(s->key[i], key, s->klen);
	memset(s->data[i], 0, 16);
	if (data)
		memcpy(s->data[i], data, s->dlen);
}

static void tr_elems(struct tr_state *st, const struct nlmsghdr *nlh, bool add)
{
	const struct nlattr *a, *list, *elem, *x;
	struct tr_set *set = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
			set = tr_set(st, mnl_attr_get_str(a));
	}
	assert_non_null(set);
	mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, list)
		{
			unsigned char key[16] = {0}, data[16] = {0};
			bool has_data = false;

			mnl_attr_for_each_nested(x, elem)
			{
				if (mnl_attr_get_type(x) == NFTA_SET_ELEM_KEY)
					assert_int_equal(data_value(x, key), set->klen);
				else if (mnl_attr_get_type(x) == NFTA_SET_ELEM_DATA)
					has_data = data_value(x, data) == set->dlen;
			}
			assert_true(!add || has_data == (set->dlen > 0));
			tr_elem(set, key, has_data ? data : NULL, add);
		}
	}
}

/* Apply what the backend sent since the last call, as the kernel would. */
static void tr_load(struct tr_state *st, void *be)
{
	struct nft_batch **bs;
	size_t n = proxy_nft_dry_take(be, &bs);

	for (size_t i = 0; i < n; i++) {
		size_t len;
		const struct nlmsghdr *nlh = nft_batch_finish(bs[i], &len);
		int left = (int)len;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

			if (type == NFT_MSG_NEWSET) {
				struct nftnl_set *set = nftnl_set_alloc();
				struct tr_set *s;

				assert_int_equal(nftnl_set_nlmsg_parse(nlh, set), 0);
				assert_true(st->n_sets < 16);
				s = &st->sets[st->n_sets++];
				snprintf(s->name, 32, "%s", nftnl_set_get_str(set, NFTNL_SET_NAME));
				s->klen = nftnl_set_get_u32(set, NFTNL_SET_KEY_LEN);
				if (nftnl_set_get_u32(set, NFTNL_SET_FLAGS) & NFT_SET_MAP)
					s->dlen = nftnl_set_get_u32(set, NFTNL_SET_DATA_LEN);
				assert_true(s->klen <= TR_KEY && s->dlen <= 16);
				nftnl_set_free(set);
			} else if (type == NFT_MSG_NEWCHAIN) {
				struct nftnl_chain *c = nftnl_chain_alloc();
				const char *name;

				assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
				name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
				if (!tr_chain(st, name)) {
					struct tr_chain *ch = &st->chains[st->n_chains++];

					assert_true(st->n_chains <= 96);
					snprintf(ch->name, 32, "%s", name);
					ch->base = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM);
					if (ch->base) {
						ch->hook =
							nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
						ch->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
					}
				}
				nftnl_chain_free(c);
			} else if (type == NFT_MSG_NEWRULE || type == NFT_MSG_DELRULE) {
				struct nftnl_rule *r = nftnl_rule_alloc();
				struct tr_chain *ch;

				assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
				ch = tr_chain(st, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
				assert_non_null(ch);
				if (type ==
				    NFT_MSG_DELRULE) { /* the backend flushes whole chains */
					assert_false(nftnl_rule_is_set(r, NFTNL_RULE_HANDLE));
					for (size_t k = 0; k < ch->n; k++)
						nftnl_rule_free(ch->rules[k]);
					ch->n = 0;
					nftnl_rule_free(r);
				} else {
					ch->rules = realloc(ch->rules,
							    (ch->n + 1) * sizeof(*ch->rules));
					ch->rules[ch->n++] = r;
				}
			} else if (type == NFT_MSG_NEWSETELEM || type == NFT_MSG_DELSETELEM) {
				tr_elems(st, nlh, type == NFT_MSG_NEWSETELEM);
			} else {
				if (type != NFT_MSG_NEWTABLE &&
				    nlh->nlmsg_type != NFNL_MSG_BATCH_BEGIN &&
				    nlh->nlmsg_type != NFNL_MSG_BATCH_END)
					fail_msg("message type %u", type);
			}
		}
		nft_batch_free(bs[i]);
	}
	free(bs);
}

static void tr_free(struct tr_state *st)
{
	for (int i = 0; i < st->n_sets; i++) {
		free(st->sets[i].key);
		free(st->sets[i].data);
	}
	for (int i = 0; i < st->n_chains; i++) {
		for (size_t k = 0; k < st->chains[i].n; k++)
			nftnl_rule_free(st->chains[i].rules[k]);
		free(st->chains[i].rules);
	}
}

/* The interpreter's registers: 4 words of verdict, then 16 32-bit data registers (NFT_REG_1..4
 * are 16 bytes each over the same storage, as in the kernel). */
struct tr_run {
	struct tr_state *st;
	struct tr_pkt *p;
	struct tr_result *res;
	uint32_t choice; /* numgen result (mod its modulus) */
	uint32_t regs[20];
	int verdict; /* NFT_CONTINUE, NFT_BREAK, NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN */
	char chain[32]; /* of a jump or goto */
	bool rejected;
};

static unsigned char *tr_reg(struct tr_run *t, uint32_t reg, uint32_t len)
{
	uint32_t w = reg <= NFT_REG_4 ? reg * 4 : reg - NFT_REG32_00 + 4;

	assert_true(w >= 4 && w * 4 + len <= sizeof(t->regs));
	return (unsigned char *)t->regs + w * 4;
}

/* store len bytes into a register, the last 32-bit word zero-padded (nft_reg_store*) */
static void tr_store(struct tr_run *t, uint32_t reg, const void *v, uint32_t len)
{
	unsigned char *d = tr_reg(t, reg, (len + 3) / 4 * 4);

	memset(d, 0, (len + 3) / 4 * 4);
	memcpy(d, v, len);
}

static bool tr_local(const struct tr_state *st, uint32_t addr)
{
	for (int i = 0; i < st->n_node_ips; i++)
		if (st->node_ips[i] == addr)
			return true;
	return false;
}

static int tr_expr(struct nftnl_expr *e, void *arg)
{
	struct tr_run *t = arg;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	uint32_t len;

	if (t->verdict != NFT_CONTINUE)
		return 0;
	if (strcmp(name, "payload") == 0) {
		uint32_t base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
		uint32_t off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
		unsigned char ip[20] = {0x45}, th[4];
		uint16_t sp = htons(t->p->sport), dp = htons(t->p->dport);

		len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
		ip[9] = t->p->proto;
		memcpy(ip + 12, &t->p->saddr, 4);
		memcpy(ip + 16, &t->p->daddr, 4);
		memcpy(th, &sp, 2);
		memcpy(th + 2, &dp, 2);
		assert_true(base == NFT_PAYLOAD_NETWORK_HEADER ? off + len <= 20 : off + len <= 4);
		tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG),
			 (base == NFT_PAYLOAD_NETWORK_HEADER ? ip : th) + off, len);
	} else if (strcmp(name, "meta") == 0) {
		uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);

		if (nftnl_expr_is_set(e, NFTNL_EXPR_META_SREG)) {
			assert_int_equal(key, NFT_META_MARK);
			memcpy(&t->p->mark,
			       tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_META_SREG), 4), 4);
		} else if (key == NFT_META_MARK) {
			tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG), &t->p->mark, 4);
		} else {
			assert_int_equal(key, NFT_META_L4PROTO);
			tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG), &t->p->proto, 1);
		}
	} else if (strcmp(name, "cmp") == 0) {
		const void *d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
		uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
		int c = memcmp(tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG), len), d, len);

		assert_true(op == NFT_CMP_EQ || op == NFT_CMP_NEQ);
		if ((op == NFT_CMP_EQ) != (c == 0))
			t->verdict = NFT_BREAK;
	} else if (strcmp(name, "bitwise") == 0) {
		uint32_t ml, xl;
		const unsigned char *m = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &ml);
		const unsigned char *x = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &xl);
		unsigned char v[16];

		len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN);
		assert_true(len <= 16 && ml == len && xl == len);
		memcpy(v, tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG), len), len);
		for (uint32_t i = 0; i < len; i++)
			v[i] = (v[i] & m[i]) ^ x[i];
		tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG), v, len);
	} else if (strcmp(name, "lookup") == 0) {
		struct tr_set *s = tr_set(t->st, nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
		bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
			   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
		long i;

		assert_non_null(s);
		i = tr_find(s, tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG), s->klen));
		if ((i >= 0) == inv)
			t->verdict = NFT_BREAK;
		else if (i >= 0 && nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG))
			tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG), s->data[i],
				 s->dlen);
	} else if (strcmp(name, "immediate") == 0) {
		if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) {
			t->verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
			if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
				snprintf(t->chain, 32, "%s",
					 nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
		} else {
			const void *d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);

			tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG), d, len);
		}
	} else if (strcmp(name, "ct") == 0) {
		uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY), v;

		/* the first packet of a new connection; DNATed once a nat rule has run */
		assert_true(key == NFT_CT_STATE || key == NFT_CT_STATUS);
		v = key == NFT_CT_STATE ? NF_CT_STATE_BIT(IP_CT_NEW) : t->p->dnat ? IPS_DST_NAT : 0;
		tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG), &v, 4);
	} else if (strcmp(name, "fib") == 0) {
		uint32_t v = tr_local(t->st, t->p->daddr) ? RTN_LOCAL : RTN_UNICAST;

		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_RESULT),
				 NFT_FIB_RESULT_ADDRTYPE);
		assert_true(nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_FLAGS) & NFTA_FIB_F_DADDR);
		tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_DREG), &v, 4);
	} else if (strcmp(name, "numgen") == 0) {
		uint32_t mod = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS), v;

		t->res->modulus = mod;
		v = t->choice % mod;
		tr_store(t, nftnl_expr_get_u32(e, NFTNL_EXPR_NG_DREG), &v, 4);
	} else if (strcmp(name, "dynset") == 0) {
		struct tr_set *s = tr_set(t->st, nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME));

		assert_non_null(s);
		tr_elem(s, tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY), s->klen),
			NULL, true);
	} else if (strcmp(name, "nat") == 0) {
		uint16_t port;

		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE), NFT_NAT_DNAT);
		memcpy(&t->p->daddr,
		       tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN), 4), 4);
		if (nftnl_expr_is_set(e, NFTNL_EXPR_NAT_REG_PROTO_MIN)) {
			memcpy(&port,
			       tr_reg(t, nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN), 2),
			       2);
			t->p->dport = ntohs(port);
		}
		t->p->dnat = t->res->dnat = true;
		t->verdict = NF_ACCEPT;
	} else if (strcmp(name, "masq") == 0) {
		t->res->masq = true;
		t->verdict = NF_ACCEPT;
	} else if (strcmp(name, "reject") == 0) {
		t->rejected = true;
		t->verdict = NF_DROP;
	} else {
		assert_true(strcmp(name, "counter") == 0); /* nothing else is written */
	}
	return 0;
}

/* Run a base chain as nft_do_chain does; returns NF_ACCEPT or NF_DROP. */
static int tr_chain_run(struct tr_run *t, struct tr_chain *base)
{
	struct {
		struct tr_chain *c;
		size_t next;
	} stack[16];
	int depth = 0, steps = 0;
	struct tr_chain *c = base;
	size_t i = 0;

	for (;;) {
		if (i >= c->n) { /* end of chain: back to the caller, or the policy (accept) */
			if (depth == 0)
				return NF_ACCEPT;
			depth--;
			c = stack[depth].c;
			i = stack[depth].next;
			continue;
		}
		assert_true(++steps < 10000);
		memset(t->regs, 0, sizeof(t->regs));
		t->verdict = NFT_CONTINUE;
		nftnl_expr_foreach(c->rules[i], tr_expr, t);
		i++;
		switch (t->verdict) {
		case NFT_CONTINUE:
		case NFT_BREAK:
			break;
		case NF_ACCEPT:
		case NF_DROP:
			return t->verdict;
		case NFT_JUMP:
			assert_true(depth < 16);
			stack[depth].c = c;
			stack[depth++].next = i;
			/* fallthrough */
		case NFT_GOTO:
			c = tr_chain(t->st, t->chain);
			assert_non_null(c);
			i = 0;
			break;
		case NFT_RETURN:
			if (depth == 0)
				return NF_ACCEPT;
			depth--;
			c = stack[depth].c;
			i = stack[depth].next;
			break;
		default:
			fail_msg("verdict %d", t->verdict);
		}
	}
}

/* The hook's base chains in priority order. */
static int tr_hook(struct tr_run *t, uint32_t hook)
{
	int32_t last = INT32_MIN;

	for (;;) {
		struct tr_chain *next = NULL;

		for (int i = 0; i < t->st->n_chains; i++) {
			struct tr_chain *c = &t->st->chains[i];

			if (c->base && c->hook == hook && c->prio > last &&
			    (!next || c->prio < next->prio))
				next = c;
		}
		if (!next)
			return NF_ACCEPT;
		last = next->prio;
		if (tr_chain_run(t, next) == NF_DROP)
			return NF_DROP;
	}
}

/* The first packet of a new connection from origin through the node: prerouting (or output),
 * then input or forward (as routed after DNAT), then postrouting when it leaves. */
static struct tr_result trace(struct tr_state *st, enum tr_origin origin, const char *src,
			      const char *dst, uint8_t proto, uint16_t dport, uint32_t choice)
{
	struct tr_result res = {0};
	struct tr_pkt p = {.proto = proto, .sport = 40000, .dport = dport};
	struct tr_run t = {.st = st, .p = &p, .res = &res, .choice = choice};
	static const uint32_t remote[] = {NF_INET_PRE_ROUTING, 0, NF_INET_POST_ROUTING};
	static const uint32_t local[] = {NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING};
	const uint32_t *hooks = origin == TR_LOCAL ? local : remote;
	size_t n = origin == TR_LOCAL ? 2 : 3;

	assert_int_equal(inet_pton(AF_INET, src, &p.saddr), 1);
	assert_int_equal(inet_pton(AF_INET, dst, &p.daddr), 1);
	for (size_t i = 0; i < n; i++) {
		uint32_t hook = hooks[i];

		if (origin != TR_LOCAL && i == 1) {
			if (tr_local(st, p.daddr)) { /* delivered here: no postrouting */
				hook = NF_INET_LOCAL_IN;
				n = 2;
			} else {
				hook = NF_INET_FORWARD;
			}
		}
		if (tr_hook(&t, hook) == NF_DROP) {
			res.verdict = t.rejected ? TR_REJECT : TR_DROP;
			return res;
		}
	}
	res.verdict = TR_ACCEPT;
	res.to_addr = p.daddr;
	res.to_port = p.dport;
	return res;
}

/* Every outcome of the random choices, as "verdict [masq] addr:port" lines sorted, space
 * separated, in out (e.g. "accept 10.244.1.5:8080 accept 10.244.1.6:8080"). */
static const char *trace_all(struct tr_state *st, enum tr_origin origin, const char *src,
			     const char *dst, uint8_t proto, uint16_t dport)
{
	static char out[512];
	char seen[16][64];
	int n = 0;
	uint32_t mod = 1;

	for (uint32_t c = 0; c < mod; c++) {
		struct tr_result r = trace(st, origin, src, dst, proto, dport, c);
		char line[64], a[INET_ADDRSTRLEN];
		static const char *const v[] = {"accept", "drop", "reject"};
		bool dup = false;

		if (c == 0 && r.modulus)
			mod = r.modulus;
		inet_ntop(AF_INET, &r.to_addr, a, sizeof(a));
		if (r.verdict == TR_ACCEPT)
			snprintf(line, sizeof(line), "%s%s %s:%u", v[r.verdict],
				 r.masq ? " masq" : "", a, r.to_port);
		else
			snprintf(line, sizeof(line), "%s", v[r.verdict]);
		for (int i = 0; i < n; i++)
			dup |= strcmp(seen[i], line) == 0;
		if (!dup && n < 16)
			snprintf(seen[n++], 64, "%s", line);
	}
	for (int i = 0; i < n; i++) /* sort */
		for (int j = i + 1; j < n; j++)
			if (strcmp(seen[j], seen[i]) < 0) {
				char tmp[64];

				memcpy(tmp, seen[i], 64);
				memcpy(seen[i], seen[j], 64);
				memcpy(seen[j], tmp, 64);
			}
	out[0] = 0;
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? ", " : "",
			 seen[i]);
	return out;
}

#define OBJ_SVC(NAME, SPEC)                                                                        \
	"{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"t\",\"name\":\"" NAME "\"},"          \
	"\"spec\":" SPEC "}"
#define OBJ_SLICE(NAME, PORT, EPS)                                                                 \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"t\",\"name\":\"" NAME "-1\","   \
	"\"labels\":{\"kubernetes.io/service-name\":\"" NAME "\"}},\"addressType\":\"IPv4\","      \
	"\"ports\":[{\"name\":\"http\",\"port\":" PORT "}],\"endpoints\":[" EPS "]}"
#define NEP(IP, NODE) "{\"addresses\":[\"" IP "\"],\"nodeName\":\"" NODE "\"}"

static void test_tracer(void **state)
{
	struct proxy_nft_config cfg = {0};
	struct proxy_model *m = proxy_model_new("node-1");
	struct proxy_sync_stats st;
	struct k8c_error err = K8C_ERROR_INIT;
	struct tr_state *ts = calloc(1, sizeof(*ts));
	void *be;
	const char *pod = "10.244.1.9", *ext = "203.0.113.9", *node = "192.168.0.10";
	const char *both = "accept 10.244.1.5:8080, accept 10.244.1.6:8080";
	const char *both_masq = "accept masq 10.244.1.5:8080, accept masq 10.244.1.6:8080";

	(void)state;
	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	k8c_ipnet_parse("10.244.0.0/16", 1, &cfg.cluster_cidr);
	cfg.have_cluster_cidr = true;
	inet_pton(AF_INET, node, &ts->node_ips[ts->n_node_ips++]);
	be = proxy_nft_new_dry(&cfg);
	apply(m, OBJ_SVC("web", "{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0.10\","
				"\"externalIPs\":[\"192.0.2.50\"],\"ports\":[{\"name\":\"http\","
				"\"port\":80,\"nodePort\":30080}]},\"status\":{\"loadBalancer\":"
				"{\"ingress\":[{\"ip\":\"198.51.100.70\"}]}}"));
	apply(m, OBJ_SLICE("web", "8080", EP("10.244.1.5") "," EP("10.244.1.6")));
	apply(m, OBJ_SVC("empty", "{\"clusterIP\":\"10.96.0.11\",\"ports\":[{\"name\":\"http\","
				  "\"port\":80,\"nodePort\":30011}]}"));
	apply(m, OBJ_SVC("itp", "{\"clusterIP\":\"10.96.0.12\",\"internalTrafficPolicy\":\"Local\","
				"\"ports\":[{\"name\":\"http\",\"port\":80}]}"));
	apply(m, OBJ_SLICE("itp", "8080",
			   NEP("10.244.1.7", "node-1") "," NEP("10.244.2.8", "node-2")));
	apply(m,
	      OBJ_SVC("itp2", "{\"clusterIP\":\"10.96.0.13\",\"internalTrafficPolicy\":\"Local\","
			      "\"ports\":[{\"name\":\"http\",\"port\":80}]}"));
	apply(m, OBJ_SLICE("itp2", "8080", NEP("10.244.2.8", "node-2")));
	apply(m, OBJ_SVC("etp", "{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.14\","
				"\"externalTrafficPolicy\":\"Local\",\"ports\":[{\"name\":\"http\","
				"\"port\":80,\"nodePort\":30014}]}"));
	apply(m, OBJ_SLICE("etp", "8080",
			   NEP("10.244.1.7", "node-1") "," NEP("10.244.2.8", "node-2")));
	apply(m,
	      OBJ_SVC("sticky", "{\"clusterIP\":\"10.96.0.40\",\"sessionAffinity\":\"ClientIP\","
				"\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
				"\"ports\":[{\"name\":\"http\",\"port\":80}]}"));
	apply(m, OBJ_SLICE("sticky", "8080", EP("10.244.1.5") "," EP("10.244.1.6")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	tr_load(ts, be);

	/* ClusterIP: both endpoints, the pod's address kept; off-cluster clients masqueraded */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.10", IPPROTO_TCP, 80), both);
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.96.0.10", IPPROTO_TCP, 80),
			    both_masq);
	assert_string_equal(trace_all(ts, TR_LOCAL, node, "10.96.0.10", IPPROTO_TCP, 80),
			    both_masq);
	/* a protocol or port the service does not have: rejected */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.10", IPPROTO_UDP, 80), "reject");
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.10", IPPROTO_TCP, 81), "reject");
	/* NodePort on the node's address: external traffic with policy Cluster is masqueraded */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, node, IPPROTO_TCP, 30080), both_masq);
	assert_string_equal(trace_all(ts, TR_POD, pod, node, IPPROTO_TCP, 30080), both_masq);
	/* a NodePort not allocated: left alone (the node's own socket, if any, answers) */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, node, IPPROTO_TCP, 30081),
			    "accept 192.168.0.10:30081");
	/* externalIP and LoadBalancer ingress IP: masqueraded, as external traffic */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "192.0.2.50", IPPROTO_TCP, 80),
			    both_masq);
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "198.51.100.70", IPPROTO_TCP, 80),
			    both_masq);
	/* no endpoints: rejected, on the ClusterIP and the NodePort */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.11", IPPROTO_TCP, 80), "reject");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, node, IPPROTO_TCP, 30011), "reject");
	/* an unallocated IP of the service CIDR: dropped (never routed out), also from the node */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.99", IPPROTO_TCP, 80), "drop");
	assert_string_equal(trace_all(ts, TR_LOCAL, node, "10.96.0.99", IPPROTO_TCP, 80), "drop");
	/* other traffic is not touched */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.244.1.6", IPPROTO_TCP, 8080),
			    "accept 10.244.1.6:8080");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.97.0.1", IPPROTO_TCP, 443),
			    "drop"); /* (in the service CIDR: dropped too) */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "8.8.8.8", IPPROTO_UDP, 53),
			    "accept 8.8.8.8:53");
	/* internalTrafficPolicy Local: this node's endpoint only; none here: dropped */
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.12", IPPROTO_TCP, 80),
			    "accept 10.244.1.7:8080");
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.13", IPPROTO_TCP, 80), "drop");
	/* externalTrafficPolicy Local: NodePort to this node's endpoint, client address kept;
	 * its ClusterIP still reaches every endpoint */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, node, IPPROTO_TCP, 30014),
			    "accept 10.244.1.7:8080");
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.14", IPPROTO_TCP, 80),
			    "accept 10.244.1.7:8080, accept 10.244.2.8:8080");
	/* hairpin: an endpoint reaching itself through its service is masqueraded, not the
	 * other endpoint */
	assert_string_equal(trace_all(ts, TR_POD, "10.244.1.5", "10.96.0.10", IPPROTO_TCP, 80),
			    "accept 10.244.1.6:8080, accept masq 10.244.1.5:8080");
	/* session affinity: the first connection chooses at random and is remembered; every
	 * later random choice gives way to it; another client chooses anew */
	{
		struct tr_result r = trace(ts, TR_POD, pod, "10.96.0.40", IPPROTO_TCP, 80, 1), r2;
		char want[64], a[INET_ADDRSTRLEN];

		assert_int_equal(r.verdict, TR_ACCEPT);
		assert_int_equal(r.modulus, 2);
		inet_ntop(AF_INET, &r.to_addr, a, sizeof(a));
		snprintf(want, sizeof(want), "accept %s:8080", a);
		assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.40", IPPROTO_TCP, 80),
				    want);
		r = trace(ts, TR_POD, "10.244.1.98", "10.96.0.40", IPPROTO_TCP, 80, 0);
		r2 = trace(ts, TR_POD, "10.244.1.99", "10.96.0.40", IPPROTO_TCP, 80, 1);
		assert_int_not_equal(r.to_addr, r2.to_addr);
		assert_string_equal(
			trace_all(ts, TR_POD, "10.244.1.99", "10.96.0.40", IPPROTO_TCP, 80),
			r2.to_addr == htonl(0x0af40106) ? "accept 10.244.1.6:8080"
							: "accept 10.244.1.5:8080");
		assert_int_equal(tr_set(ts, "affinity")->n, 3); /* the three clients */
	}

	/* an incremental change, applied to the traced state as the kernel would: web loses an
	 * endpoint, empty gains one */
	apply(m, OBJ_SLICE("web", "8080", EP("10.244.1.6")));
	apply(m, OBJ_SLICE("empty", "8080", EP("10.244.1.5")));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	tr_load(ts, be);
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.10", IPPROTO_TCP, 80),
			    "accept 10.244.1.6:8080");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, node, IPPROTO_TCP, 30080),
			    "accept masq 10.244.1.6:8080");
	assert_string_equal(trace_all(ts, TR_POD, pod, "10.96.0.11", IPPROTO_TCP, 80),
			    "accept 10.244.1.5:8080");

	tr_free(ts);
	free(ts);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
}

/* --nodeport-addresses: NodePorts only on the listed node addresses, changed while running
 * (set_nodeport_ips) by an incremental sync */
static void test_tracer_nodeport_addresses(void **state)
{
	struct proxy_nft_config cfg = {0};
	struct proxy_model *m = proxy_model_new("node-1");
	struct proxy_sync_stats st;
	struct k8c_error err = K8C_ERROR_INIT;
	struct tr_state *ts = calloc(1, sizeof(*ts));
	struct k8c_ipnet a, b;
	const char *ext = "203.0.113.9";
	const char *both = "accept masq 10.244.1.5:8080, accept masq 10.244.1.6:8080";
	void *be;

	(void)state;
	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	k8c_ipnet_parse("192.168.0.10", 0, &a);
	k8c_ipnet_parse("10.0.0.5", 0, &b);
	inet_pton(AF_INET, "192.168.0.10", &ts->node_ips[ts->n_node_ips++]);
	inet_pton(AF_INET, "10.0.0.5", &ts->node_ips[ts->n_node_ips++]);
	cfg.nodeport_filter = true;
	cfg.nodeport_ips = &a;
	cfg.n_nodeport_ips = 1;
	be = proxy_nft_new_dry(&cfg);
	apply(m, SVC);
	apply(m, SLICE(EP("10.244.1.5") "," EP("10.244.1.6")));
	apply(m, OBJ_SVC("empty", "{\"clusterIP\":\"10.96.0.11\",\"ports\":[{\"name\":\"http\","
				  "\"port\":80,\"nodePort\":30011}]}"));
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	tr_load(ts, be);
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "192.168.0.10", IPPROTO_TCP, 30080),
			    both);
	/* a NodePort without endpoints: rejected on the listed address only */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "192.168.0.10", IPPROTO_TCP, 30011),
			    "reject");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.0.0.5", IPPROTO_TCP, 30011),
			    "accept 10.0.0.5:30011");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.0.0.5", IPPROTO_TCP, 30080),
			    "accept 10.0.0.5:30080");
	proxy_nft_ops.set_nodeport_ips(be, &b, 1);
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	assert_int_equal(st.elems_added, 1); /* one address for the other: nothing else */
	assert_int_equal(st.elems_deleted, 1);
	tr_load(ts, be);
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "192.168.0.10", IPPROTO_TCP, 30080),
			    "accept 192.168.0.10:30080");
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.0.0.5", IPPROTO_TCP, 30080), both);
	proxy_nft_ops.set_nodeport_ips(be, NULL, 0); /* none left: NodePorts nowhere */
	assert_int_equal(proxy_nft_ops.sync(be, m, false, &st, &err), 0);
	tr_load(ts, be);
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.0.0.5", IPPROTO_TCP, 30080),
			    "accept 10.0.0.5:30080");
	/* (no --cluster-cidr: off-cluster clients of ClusterIPs are not masqueraded) */
	assert_string_equal(trace_all(ts, TR_EXTERNAL, ext, "10.96.0.10", IPPROTO_TCP, 80),
			    "accept 10.244.1.5:8080, accept 10.244.1.6:8080");
	tr_free(ts);
	free(ts);
	proxy_nft_ops.free(be);
	proxy_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_and_incremental),
		cmocka_unit_test(test_stable_indices),
		cmocka_unit_test(test_tracer),
		cmocka_unit_test(test_tracer_nodeport_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

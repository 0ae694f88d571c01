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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_and_incremental),
		cmocka_unit_test(test_stable_indices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cni/nft_masq, nft_macspoof, nft_owner: the batches of an ADD parsed back with libnftnl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_bridge.h>
#include <linux/netlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft_macspoof.h"
#include "nft_masq.h"
#include "nft_owner.h"
#include "nft_testutil.h"

#define MAXMSG 64

static size_t batch_msgs(struct nft_batch *b, const struct nlmsghdr **out)
{
	size_t len, n = 0;
	const struct nlmsghdr *nlh = nft_batch_finish(b, &len);
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		assert_true(n < MAXMSG);
		out[n++] = nlh;
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	assert_int_equal(left, 0);
	return n;
}

static uint16_t msg_type(const struct nlmsghdr *nlh)
{
	return nlh->nlmsg_type & 0xff;
}

/* Parse an element message; returns the set (caller frees) and its only element. */
static struct nftnl_set *parse_elem(const struct nlmsghdr *nlh, const char *set,
				    struct nftnl_set_elem **e)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;

	assert_int_equal(nftnl_set_elems_nlmsg_parse(nlh, s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), set);
	it = nftnl_set_elems_iter_create(s);
	*e = nftnl_set_elems_iter_next(it);
	assert_non_null(*e);
	assert_null(nftnl_set_elems_iter_next(it));
	nftnl_set_elems_iter_destroy(it);
	return s;
}

static void assert_key(struct nftnl_set_elem *e, uint16_t attr, const void *want, uint32_t len)
{
	uint32_t got_len = 0;
	const void *got = nftnl_set_elem_get(e, attr, &got_len);

	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, want, len);
}

/* The add / delete / add triple of an upserted element. */
static void assert_upsert(const struct nlmsghdr **m, const char *set, const char *tag,
			  const void *key, uint32_t klen, const void *kend)
{
	static const uint16_t types[3] = {NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM,
					  NFT_MSG_NEWSETELEM};

	for (int i = 0; i < 3; i++) {
		struct nftnl_set_elem *e;
		struct nftnl_set *s;
		char comment[256];

		assert_int_equal(msg_type(m[i]), types[i]);
		assert_false(m[i]->nlmsg_flags & NLM_F_EXCL);
		s = parse_elem(m[i], set, &e);
		assert_key(e, NFTNL_SET_ELEM_KEY, key, klen);
		if (kend)
			assert_key(e, NFTNL_SET_ELEM_KEY_END, kend, klen);
		else
			assert_false(nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END));
		if (types[i] == NFT_MSG_NEWSETELEM) {
			assert_true(nft_elem_comment(e, comment, sizeof(comment)));
			assert_string_equal(comment, tag);
		}
		nftnl_set_free(s);
	}
}

static void test_tag(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char tag[CNI_NFT_TAG_MAX + 1], long_id[300];
	struct cni_nft_owner o;

	assert_int_equal(cni_nft_tag_format(tag, "net", "abc", "eth0", &err), 0);
	assert_string_equal(tag, "net/abc/eth0");
	assert_true(cni_nft_tag_parse(tag, &o));
	assert_string_equal(o.network, "net");
	assert_string_equal(o.container_id, "abc");
	assert_string_equal(o.ifname, "eth0");

	assert_int_equal(cni_nft_tag_format(tag, "n/x", "abc", "eth0", &err), -1);
	assert_non_null(strstr(err.msg, "contains '/'"));
	assert_int_equal(cni_nft_tag_format(tag, "net", "", "eth0", &err), -1);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(cni_nft_tag_format(tag, "net", long_id, "eth0", &err), -1);
	assert_non_null(strstr(err.msg, "longer than"));
	k8c_error_clear(&err);

	strcpy(tag, "a/b");
	assert_false(cni_nft_tag_parse(tag, &o));
	strcpy(tag, "a//c");
	assert_false(cni_nft_tag_parse(tag, &o));
	strcpy(tag, "a/b/c/d");
	assert_false(cni_nft_tag_parse(tag, &o));
	strcpy(tag, "user comment");
	assert_false(cni_nft_tag_parse(tag, &o));
}

static void test_masq_add(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ipnet ips[2];
	struct nft_batch *b = nft_batch_new(100);
	const struct nlmsghdr *m[MAXMSG];
	struct nftnl_table *t;
	struct nftnl_chain *c;
	size_t n, i = 1;
	static const char *const sets[4] = {"masq4", "nomasq4", "masq6", "nomasq6"};
	static const uint32_t key_len[4] = {4, 8, 16, 32};
	static const uint32_t key_type[4] = {7, 7 << 6 | 7, 8, 8 << 6 | 8};

	assert_int_equal(k8c_ipnet_parse("10.22.0.5/24", 1, &ips[0]), 0);
	assert_int_equal(k8c_ipnet_parse("fd00:22::5/64", 1, &ips[1]), 0);
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", ips, 2, NULL, 0, &err), 0);
	n = batch_msgs(b, m);
	/* begin, table, chain, 4 sets, flush, 2 rules, 2 x 2 x 3 elements, end */
	assert_int_equal(n, 1 + 1 + 1 + 4 + 1 + 2 + 12 + 1);

	assert_int_equal(msg_type(m[i]), NFT_MSG_NEWTABLE);
	assert_true(m[i]->nlmsg_flags & NLM_F_CREATE);
	assert_false(m[i]->nlmsg_flags & NLM_F_EXCL);
	t = nftnl_table_alloc();
	assert_int_equal(nftnl_table_nlmsg_parse(m[i++], t), 0);
	assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "k8c_cni");
	assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
	nftnl_table_free(t);

	assert_int_equal(msg_type(m[i]), NFT_MSG_NEWCHAIN);
	c = nftnl_chain_alloc();
	assert_int_equal(nftnl_chain_nlmsg_parse(m[i++], c), 0);
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "postrouting");
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "nat");
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), NF_INET_POST_ROUTING);
	assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), 100);
	nftnl_chain_free(c);

	for (int k = 0; k < 4; k++) {
		struct nftnl_set *s = nftnl_set_alloc();
		uint32_t flags;

		assert_int_equal(msg_type(m[i]), NFT_MSG_NEWSET);
		assert_false(m[i]->nlmsg_flags & NLM_F_EXCL);
		assert_int_equal(nftnl_set_nlmsg_parse(m[i++], s), 0);
		assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), sets[k]);
		assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_TABLE), "k8c_cni");
		assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), key_len[k]);
		assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), key_type[k]);
		assert_true(nftnl_set_is_set(s, NFTNL_SET_ID));
		flags = nftnl_set_is_set(s, NFTNL_SET_FLAGS) ? nftnl_set_get_u32(s, NFTNL_SET_FLAGS)
							     : 0;
		assert_int_equal(flags, k % 2 ? NFT_SET_INTERVAL | NFT_SET_CONCAT : 0);
		nftnl_set_free(s);
	}

	/* flush: a DELRULE naming only the chain */
	assert_int_equal(msg_type(m[i]), NFT_MSG_DELRULE);
	{
		struct nftnl_rule *r = nftnl_rule_alloc();

		assert_int_equal(nftnl_rule_nlmsg_parse(m[i++], r), 0);
		assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "postrouting");
		assert_false(nftnl_rule_is_set(r, NFTNL_RULE_HANDLE));
		nftnl_rule_free(r);
	}
	for (int k = 0; k < 2; k++) {
		struct nftnl_rule *r = nftnl_rule_alloc();
		struct expr_list l = {{0}, 0};
		static const char *const want[2][11] = {
			{"meta", "cmp", "payload", "lookup", "payload", "bitwise", "cmp", "payload",
			 "payload", "lookup", "masq"},
			{"meta", "cmp", "payload", "lookup", "payload", "cmp", "payload", "payload",
			 "lookup", "masq", NULL},
		};

		assert_int_equal(msg_type(m[i]), NFT_MSG_NEWRULE);
		assert_true(m[i]->nlmsg_flags & NLM_F_APPEND);
		assert_int_equal(nftnl_rule_nlmsg_parse(m[i++], r), 0);
		nftnl_expr_foreach(r, expr_cb, &l);
		assert_int_equal(l.n, k ? 10 : 11);
		for (int x = 0; x < l.n; x++)
			assert_string_equal(l.names[x], want[k][x]);
		nftnl_rule_free(r);
	}

	{
		unsigned char s4[8] = {10, 22, 0, 5, 10, 22, 0, 0};
		unsigned char e4[8] = {10, 22, 0, 5, 10, 22, 0, 255};
		unsigned char s6[32] = {0}, e6[32];

		assert_upsert(m + i, "masq4", "net1/c1/eth0", ips[0].addr, 4, NULL);
		i += 3;
		assert_upsert(m + i, "nomasq4", "net1/c1/eth0", s4, 8, e4);
		i += 3;
		memcpy(s6, ips[1].addr, 16);
		memcpy(s6 + 16, ips[1].addr, 8);
		memcpy(e6, s6, 24);
		memset(e6 + 24, 0xff, 8);
		assert_upsert(m + i, "masq6", "net1/c1/eth0", ips[1].addr, 16, NULL);
		i += 3;
		assert_upsert(m + i, "nomasq6", "net1/c1/eth0", s6, 32, e6);
		i += 3;
	}
	assert_int_equal(m[i]->nlmsg_type, NFNL_MSG_BATCH_END);
	nft_batch_free(b);
}

static void test_masq_add_errors(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ipnet ip;
	struct nft_batch *b = nft_batch_new(1);

	assert_int_equal(k8c_ipnet_parse("10.22.0.5", 0, &ip), 0);
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", &ip, 1, NULL, 0, &err), -1);
	assert_non_null(strstr(err.msg, "prefix"));
	assert_int_equal(cni_masq_build_add(b, "net1", "c/1", "eth0", &ip, 1, NULL, 0, &err), -1);
	assert_int_equal(nft_batch_count(b), 0); /* nothing half-built */
	k8c_error_clear(&err);
	nft_batch_free(b);
}

/* ipMasqExceptions: one more nomasq element per exception of the pod's family; a range inside
 * another (the pod's subnet inside the cluster CIDR, a duplicate) is left out. */
static void test_masq_except(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ipnet ip, ex[5], many[CNI_MASQ_MAX_EXCEPT + 1];
	struct nft_batch *b = nft_batch_new(1);
	const struct nlmsghdr *m[MAXMSG];
	size_t i = 1 + 1 + 1 + 4 + 1 + 2; /* begin, table, chain, sets, flush, rules */
	unsigned char s1[8] = {10, 244, 1, 5, 10, 244, 0, 0},
		      e1[8] = {10, 244, 1, 5, 10, 244, 255, 255};
	unsigned char s2[8] = {10, 244, 1, 5, 10, 96, 0, 0},
		      e2[8] = {10, 244, 1, 5, 10, 111, 255, 255};

	assert_int_equal(k8c_ipnet_parse("10.244.1.5/24", 1, &ip), 0);
	assert_int_equal(k8c_ipnet_parse("10.244.7.9/16", 1, &ex[0]), 0); /* masked */
	assert_int_equal(k8c_ipnet_parse("10.96.0.0/12", 1, &ex[1]), 0);
	assert_int_equal(k8c_ipnet_parse("10.244.1.0/24", 1, &ex[2]), 0);
	assert_int_equal(k8c_ipnet_parse("fd00::/8", 1, &ex[3]), 0);
	assert_int_equal(k8c_ipnet_parse("10.96.0.0/12", 1, &ex[4]), 0);
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", &ip, 1, ex, 5, &err), 0);
	/* the address, then pod . 10.244.0.0/16 and pod . 10.96.0.0/12 only, each upserted */
	assert_int_equal(batch_msgs(b, m), i + 3 * 3 + 1);
	assert_upsert(m + i, "masq4", "net1/c1/eth0", ip.addr, 4, NULL);
	i += 3;
	assert_upsert(m + i, "nomasq4", "net1/c1/eth0", s1, 8, e1);
	i += 3;
	assert_upsert(m + i, "nomasq4", "net1/c1/eth0", s2, 8, e2);
	i += 3;
	assert_int_equal(m[i]->nlmsg_type, NFNL_MSG_BATCH_END);
	nft_batch_free(b);

	/* an exception outside the pod's subnet keeps both */
	b = nft_batch_new(1);
	assert_int_equal(k8c_ipnet_parse("192.168.0.0/16", 1, &ex[0]), 0);
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", &ip, 1, ex, 1, &err), 0);
	assert_int_equal(batch_msgs(b, m), 1 + 1 + 1 + 4 + 1 + 2 + 3 * 3 + 1);
	nft_batch_free(b);

	b = nft_batch_new(1);
	assert_int_equal(k8c_ipnet_parse("10.1.0.0", 0, &ex[0]), 0);
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", &ip, 1, ex, 1, &err), -1);
	assert_non_null(strstr(err.msg, "exception"));
	k8c_error_clear(&err);
	for (int k = 0; k <= CNI_MASQ_MAX_EXCEPT; k++)
		many[k] = ex[1];
	assert_int_equal(cni_masq_build_add(b, "net1", "c1", "eth0", &ip, 1, many,
					    CNI_MASQ_MAX_EXCEPT + 1, &err),
			 -1);
	assert_non_null(strstr(err.msg, "at most"));
	assert_int_equal(nft_batch_count(b), 0);
	k8c_error_clear(&err);
	nft_batch_free(b);
}

static void test_macspoof_add(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct nft_batch *b = nft_batch_new(1);
	const struct nlmsghdr *m[MAXMSG];
	unsigned char port[16] = "veth1234", allowed[24] = "veth1234";
	static const unsigned char mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
	struct nftnl_chain *c;
	struct nftnl_set *s;
	size_t n, i = 1;

	assert_int_equal(cni_macspoof_build_add(b, "net1", "c1", "eth0", "veth1234",
						"02:aa:bb:cc:dd:ee", &err),
			 0);
	n = batch_msgs(b, m);
	/* begin, table, chain, 2 sets, flush, rule, 2 x 3 elements, end */
	assert_int_equal(n, 1 + 1 + 1 + 2 + 1 + 1 + 6 + 1);
	assert_int_equal(msg_type(m[i++]), NFT_MSG_NEWTABLE);
	c = nftnl_chain_alloc();
	assert_int_equal(nftnl_chain_nlmsg_parse(m[i++], c), 0);
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY), NFPROTO_BRIDGE);
	assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "filter");
	assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), NF_BR_PRE_ROUTING);
	assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), -300);
	nftnl_chain_free(c);
	s = nftnl_set_alloc();
	assert_int_equal(nftnl_set_nlmsg_parse(m[i++], s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "ports");
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 16);
	nftnl_set_free(s);
	s = nftnl_set_alloc();
	assert_int_equal(nftnl_set_nlmsg_parse(m[i++], s), 0);
	assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "allowed");
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), 24);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), 41 << 6 | 9);
	assert_int_equal(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), NFT_SET_CONCAT);
	nftnl_set_free(s);
	assert_int_equal(msg_type(m[i++]), NFT_MSG_DELRULE);
	assert_int_equal(msg_type(m[i++]), NFT_MSG_NEWRULE);
	assert_upsert(m + i, "ports", "net1/c1/eth0", port, 16, NULL);
	i += 3;
	memcpy(allowed + 16, mac, 6);
	assert_upsert(m + i, "allowed", "net1/c1/eth0", allowed, 24, NULL);
	nft_batch_free(b);

	b = nft_batch_new(1);
	assert_int_equal(
		cni_macspoof_build_add(b, "net1", "c1", "eth0", "veth1234", "02:aa:bb", &err), -1);
	assert_non_null(strstr(err.msg, "bad MAC"));
	assert_int_equal(cni_macspoof_build_add(b, "net1", "c1", "eth0",
						"a-name-longer-than-ifnamsiz", "02:aa:bb:cc:dd:ee",
						&err),
			 -1);
	assert_int_equal(nft_batch_count(b), 0);
	k8c_error_clear(&err);
	nft_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_masq_add),
		cmocka_unit_test(test_masq_add_errors),
		cmocka_unit_test(test_masq_except),
		cmocka_unit_test(test_macspoof_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lib/nft_batch: build batches and parse them back with libnftnl, no kernel needed. */
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
#include <linux/netlink.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft_batch.h"
#include "nft_testutil.h"

/* Collect the message headers of a finished batch. */
static size_t batch_msgs(struct nft_batch *b, const struct nlmsghdr **out, size_t max)
{
	size_t len, n = 0;
	const void *data = nft_batch_finish(b, &len);
	const struct nlmsghdr *nlh = data;
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		assert_true(n < max);
		out[n++] = nlh;
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	assert_int_equal(left, 0);
	return n;
}

static void test_empty_batch(void **state)
{
	struct nft_batch *b = nft_batch_new(1000);
	const struct nlmsghdr *m[4];
	size_t n = batch_msgs(b, m, 4);

	assert_int_equal(n, 2);
	assert_int_equal(m[0]->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	assert_int_equal(m[0]->nlmsg_seq, 1000);
	assert_int_equal(m[1]->nlmsg_type, NFNL_MSG_BATCH_END);
	assert_int_equal(m[1]->nlmsg_seq, 1001);
	assert_int_equal(nft_batch_count(b), 0);
	assert_string_equal(nft_batch_what(b, 1000), "batch");
	nft_batch_free(b);
}

static void test_table_roundtrip(void **state)
{
	struct nft_batch *b = nft_batch_new(50);
	struct nftnl_table *t = nftnl_table_alloc();
	const struct nlmsghdr *m[4];
	size_t n;

	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "k8c_test");
	nft_batch_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, t);
	nftnl_table_free(t);
	n = batch_msgs(b, m, 4);
	assert_int_equal(n, 3);
	assert_int_equal(m[1]->nlmsg_type, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE);
	assert_int_equal(m[1]->nlmsg_seq, 51);
	assert_true(m[1]->nlmsg_flags & NLM_F_ACK);
	assert_true(m[1]->nlmsg_flags & NLM_F_CREATE);
	assert_false(m[1]->nlmsg_flags & NLM_F_EXCL);
	assert_int_equal(m[2]->nlmsg_seq, 52);

	t = nftnl_table_alloc();
	assert_int_equal(nftnl_table_nlmsg_parse(m[1], t), 0);
	assert_string_equal(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "k8c_test");
	assert_int_equal(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
	nftnl_table_free(t);
	assert_string_equal(nft_batch_what(b, 51), "add table inet k8c_test");
	assert_null(nft_batch_what(b, 52));
	nft_batch_free(b);
}

/* Thousands of element messages: the buffer grows and every message stays intact. */
static void test_batch_grows(void **state)
{
	enum { N = 3000 };
	struct nft_batch *b = nft_batch_new(7);
	static const struct nlmsghdr *m[N + 2];
	size_t n;

	for (uint32_t i = 0; i < N; i++) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		char comment[32];

		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, "t");
		nftnl_set_set_str(s, NFTNL_SET_NAME, "s");
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &i, sizeof(i));
		snprintf(comment, sizeof(comment), "net/c%u/eth0", i);
		nft_elem_set_comment(e, comment);
		nftnl_set_elem_add(s, e);
		nft_batch_elems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, s);
		nftnl_set_free(s);
	}
	n = batch_msgs(b, m, N + 2);
	assert_int_equal(n, N + 2);
	assert_int_equal(nft_batch_count(b), N);
	for (uint32_t i = 0; i < N; i += 997) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nftnl_set_elems_iter *it;
		struct nftnl_set_elem *e;
		char want[80], got[64];
		uint32_t klen;

		assert_int_equal(nftnl_set_elems_nlmsg_parse(m[i + 1], s), 0);
		assert_string_equal(nftnl_set_get_str(s, NFTNL_SET_NAME), "s");
		it = nftnl_set_elems_iter_create(s);
		e = nftnl_set_elems_iter_next(it);
		assert_non_null(e);
		assert_int_equal(
			*(const uint32_t *)nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen), i);
		snprintf(want, sizeof(want), "net/c%u/eth0", i);
		assert_true(nft_elem_comment(e, got, sizeof(got)));
		assert_string_equal(got, want);
		assert_false(nft_elem_comment(e, got, 4)); /* does not fit */
		assert_null(nftnl_set_elems_iter_next(it));
		nftnl_set_elems_iter_destroy(it);
		nftnl_set_free(s);
		snprintf(want, sizeof(want), "add element [net/c%u/eth0] of set inet t s", i);
		assert_string_equal(nft_batch_what(b, 7 + 1 + i), want);
	}
	nft_batch_free(b);
}

static void test_rule_exprs(void **state)
{
	struct nft_batch *b = nft_batch_new(1);
	struct nftnl_rule *r = nftnl_rule_alloc();
	const struct nlmsghdr *m[4];
	struct expr_list l = {{0}, 0};
	uint8_t mask = 0xf0, v = 0xe0;

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "t");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "c");
	nft_rule_meta(r, NFT_META_NFPROTO, NFT_REG_1);
	nft_rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 1, NFT_REG_1);
	nft_rule_mask(r, NFT_REG_1, &mask, 1);
	nft_rule_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &v, 1);
	nft_rule_lookup(r, NFT_REG_1, "s", true);
	nft_rule_verdict(r, NF_DROP);
	nft_rule_masq(r);
	nft_batch_rule(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);
	nftnl_rule_free(r);
	assert_int_equal(batch_msgs(b, m, 4), 3);

	r = nftnl_rule_alloc();
	assert_int_equal(nftnl_rule_nlmsg_parse(m[1], r), 0);
	assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "c");
	nftnl_expr_foreach(r, expr_cb, &l);
	assert_int_equal(l.n, 7);
	assert_string_equal(l.names[0], "meta");
	assert_string_equal(l.names[1], "payload");
	assert_string_equal(l.names[2], "bitwise");
	assert_string_equal(l.names[3], "cmp");
	assert_string_equal(l.names[4], "lookup");
	assert_string_equal(l.names[5], "immediate");
	assert_string_equal(l.names[6], "masq");
	nftnl_rule_free(r);
	nft_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_batch),
		cmocka_unit_test(test_table_roundtrip),
		cmocka_unit_test(test_batch_grows),
		cmocka_unit_test(test_rule_exprs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

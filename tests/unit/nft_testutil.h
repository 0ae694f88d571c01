/* Helpers shared by the nftables round-trip unit tests. */
#ifndef K8C_NFT_TESTUTIL_H
#define K8C_NFT_TESTUTIL_H

#include <libnftnl/expr.h>

/* The names of a rule's expressions, in order (nftnl_expr_foreach with expr_cb). */
struct expr_list {
	const char *names[16];
	int n;
};

static inline int expr_cb(struct nftnl_expr *e, void *data)
{
	struct expr_list *l = data;

	l->names[l->n++] = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	return 0;
}

#endif

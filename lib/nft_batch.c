#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "cleanup.h"
#include "nft_batch.h"

/* How long to wait for the kernel's answer to a batch or a dump. */
#define NFT_REPLY_TIMEOUT_MS 30000

struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0; /* seq of BATCH_BEGIN; message i has seq0 + 1 + i */
	char **what;   /* one description per message */
	size_t n, what_cap;
	bool pending; /* a message is being built in place at buf + len */
	bool finished;
};

struct nft_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

static void batch_reserve(struct nft_batch *b, size_t need)
{
	if (b->cap - b->len >= need)
		return;
	while (b->cap - b->len < need)
		b->cap = b->cap ? 2 * b->cap : 2 * NFT_BATCH_MSG_MAX;
	b->buf = k8c_xrealloc(b->buf, b->cap);
}

/* Messages are built in place after nft_batch_msg() returns, so the length of the last one is
 * only known when the next is appended (or the batch finished). */
static void batch_settle(struct nft_batch *b)
{
	const struct nlmsghdr *nlh = (const void *)(b->buf + b->len);

	if (!b->pending)
		return;
	if (nlh->nlmsg_len > NFT_BATCH_MSG_MAX)
		abort(); /* the reserve was overrun: memory is already corrupt */
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->pending = false;
}

struct nft_batch *nft_batch_new(uint32_t seq)
{
	struct nft_batch *b = k8c_xcalloc(1, sizeof(*b));

	b->seq0 = seq ? seq : (uint32_t)time(NULL) << 8;
	batch_reserve(b, NFT_BATCH_MSG_MAX);
	nftnl_batch_begin(b->buf, b->seq0);
	b->pending = true;
	batch_settle(b);
	return b;
}

void nft_batch_free(struct nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->what[i]);
	free(b->what);
	free(b->buf);
	free(b);
}

struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t family, uint16_t flags,
			       const char *what_fmt, ...)
{
	struct nlmsghdr *nlh;
	va_list ap;
	char *what;

	if (b->finished)
		abort();
	batch_settle(b);
	if (b->n == b->what_cap) {
		b->what_cap = b->what_cap ? 2 * b->what_cap : 16;
		b->what = k8c_xrealloc(b->what, b->what_cap * sizeof(*b->what));
	}
	va_start(ap, what_fmt);
	if (vasprintf(&what, what_fmt, ap) < 0)
		abort();
	va_end(ap);
	b->what[b->n++] = what;

	batch_reserve(b, 2 * NFT_BATCH_MSG_MAX);
	nlh = nftnl_nlmsg_build_hdr(b->buf + b->len, type, family, flags | NLM_F_ACK,
				    b->seq0 + (uint32_t)b->n);
	b->pending = true;
	return nlh;
}

size_t nft_batch_count(const struct nft_batch *b)
{
	return b->n;
}

const char *nft_batch_what(const struct nft_batch *b, uint32_t seq)
{
	if (seq == b->seq0)
		return "batch";
	if (seq <= b->seq0 || seq - b->seq0 > b->n)
		return NULL;
	return b->what[seq - b->seq0 - 1];
}

#define BATCH_OBJ(b, type, flags, family, build, obj, ...)                                         \
	do {                                                                                       \
		struct nlmsghdr *_nlh = nft_batch_msg(b, type, family, flags, __VA_ARGS__);        \
		build(_nlh, (void *)(obj));                                                        \
	} while (0)

static const char *msg_verb(uint16_t type)
{
	switch (type) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_NEWSET:
	case NFT_MSG_NEWRULE:
	case NFT_MSG_NEWSETELEM:
		return "add";
	case NFT_MSG_DELRULE:
	case NFT_MSG_DELTABLE:
	case NFT_MSG_DELCHAIN:
	case NFT_MSG_DELSET:
	case NFT_MSG_DELSETELEM:
		return "delete";
	default:
		return "change";
	}
}

static const char *family_name(uint32_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_NETDEV:
		return "netdev";
	default:
		return "?";
	}
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

void nft_batch_table(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_table *t)
{
	uint32_t family = nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);

	BATCH_OBJ(b, type, flags, family, nftnl_table_nlmsg_build_payload, t, "%s table %s %s",
		  msg_verb(type), family_name(family),
		  str_or(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "?"));
}

void nft_batch_chain(struct nft_batch *b, uint16_t type, uint16_t flags,
		     const struct nftnl_chain *c)
{
	uint32_t family = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);

	BATCH_OBJ(b, type, flags, family, nftnl_chain_nlmsg_build_payload, c, "%s chain %s %s %s",
		  msg_verb(type), family_name(family),
		  str_or(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), "?"),
		  str_or(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "?"));
}

void nft_batch_set(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_set *s)
{
	uint32_t family = nftnl_set_get_u32(s, NFTNL_SET_FAMILY);

	BATCH_OBJ(b, type, flags, family, nftnl_set_nlmsg_build_payload, s, "%s set %s %s %s",
		  msg_verb(type), family_name(family),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_TABLE), "?"),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_NAME), "?"));
}

void nft_batch_rule(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_rule *r)
{
	uint32_t family = nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY);
	const char *what = type == NFT_MSG_DELRULE && !nftnl_rule_is_set(r, NFTNL_RULE_HANDLE)
				   ? "flush"
				   : msg_verb(type);

	BATCH_OBJ(b, type, flags, family, nftnl_rule_nlmsg_build_payload, r,
		  "%s rule in chain %s %s %s", what, family_name(family),
		  str_or(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), "?"),
		  str_or(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "?"));
}

/* Describe the elements by their comments, which name their owners. */
static char *elems_describe(const struct nftnl_set *s)
{
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
	struct nftnl_set_elem *e;
	char *out = k8c_xstrdup("");
	char comment[256];

	while (it && (e = nftnl_set_elems_iter_next(it))) {
		char *next;

		if (!nft_elem_comment(e, comment, sizeof(comment)))
			snprintf(comment, sizeof(comment), "(no comment)");
		next = k8c_xasprintf("%s%s%s", out, *out ? ", " : "", comment);
		free(out);
		out = next;
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	return out;
}

void nft_batch_elems(struct nft_batch *b, uint16_t type, uint16_t flags, const struct nftnl_set *s)
{
	uint32_t family = nftnl_set_get_u32(s, NFTNL_SET_FAMILY);
	_cleanup_free_ char *elems = elems_describe(s);

	BATCH_OBJ(b, type, flags, family, nftnl_set_elems_nlmsg_build_payload, s,
		  "%s element [%s] of set %s %s %s", msg_verb(type), elems, family_name(family),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_TABLE), "?"),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_NAME), "?"));
}

void nft_batch_elems_desc(struct nft_batch *b, uint16_t type, uint16_t flags,
			  const struct nftnl_set *s, const char *desc)
{
	uint32_t family = nftnl_set_get_u32(s, NFTNL_SET_FAMILY);

	BATCH_OBJ(b, type, flags, family, nftnl_set_elems_nlmsg_build_payload, s,
		  "%s %s of set %s %s %s", msg_verb(type), desc, family_name(family),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_TABLE), "?"),
		  str_or(nftnl_set_get_str(s, NFTNL_SET_NAME), "?"));
}

const void *nft_batch_finish(struct nft_batch *b, size_t *len)
{
	if (!b->finished) {
		batch_settle(b);
		batch_reserve(b, NFT_BATCH_MSG_MAX);
		nftnl_batch_end(b->buf + b->len, b->seq0 + (uint32_t)b->n + 1);
		b->pending = true;
		batch_settle(b);
		b->finished = true;
	}
	*len = b->len;
	return b->buf;
}

struct nft_sock *nft_sock_open(struct k8c_error *err)
{
	struct nft_sock *s;
	struct mnl_socket *nl;
	int one = 1;

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl)
		return k8c_error_errno(err, 0, errno, "nftables: open netlink socket"), NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(nl);
		return k8c_error_errno(err, 0, e, "nftables: bind netlink socket"), NULL;
	}
	/* Errors carry only the failing header, not the whole (possibly large) message; extended
	 * ACKs carry the kernel's text when it gives one. Both are optional. */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	s = k8c_xcalloc(1, sizeof(*s));
	s->nl = nl;
	s->portid = mnl_socket_get_portid(nl);
	s->seq = (uint32_t)time(NULL) << 8;
	return s;
}

static bool defer_close;
static int deferred[8];
static size_t n_deferred;

void nft_sock_close(struct nft_sock *s)
{
	if (!s)
		return;
	/* libmnl cannot free its socket without closing the fd: keep a duplicate instead. */
	if (defer_close && n_deferred < sizeof(deferred) / sizeof(deferred[0])) {
		int fd = fcntl(mnl_socket_get_fd(s->nl), F_DUPFD_CLOEXEC, 0);

		if (fd >= 0)
			deferred[n_deferred++] = fd;
	}
	mnl_socket_close(s->nl);
	free(s);
}

void nft_defer_close(bool on)
{
	defer_close = on;
}

bool nft_have_deferred(void)
{
	return n_deferred > 0;
}

void nft_close_deferred(void)
{
	while (n_deferred > 0)
		close(deferred[--n_deferred]);
}

uint32_t nft_sock_seq(struct nft_sock *s)
{
	return ++s->seq;
}

/* Grow a socket buffer to at least want bytes: FORCE works with CAP_NET_ADMIN (which programming
 * nftables needs anyway) and ignores net.core.[rw]mem_max; the plain option is the fallback. */
static void sock_grow_buffer(struct nft_sock *s, int opt_force, int opt, size_t want)
{
	int cur = 0;
	socklen_t cl = sizeof(cur);
	int v;

	if (want > INT32_MAX / 2)
		want = INT32_MAX / 2;
	v = (int)want;
	if (getsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, opt, &cur, &cl) == 0 &&
	    (size_t)cur >= want)
		return;
	if (setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, opt_force, &v, sizeof(v)) < 0)
		setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, opt, &v, sizeof(v));
}

static int sock_wait(struct nft_sock *s)
{
	struct pollfd pfd = {.fd = mnl_socket_get_fd(s->nl), .events = POLLIN};
	int r;

	do {
		r = poll(&pfd, 1, NFT_REPLY_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

struct ack_state {
	const struct nft_batch *b;
	size_t answered;
	uint32_t err_seq; /* lowest failing seq, 0 if none */
	int err;
	char ext_msg[256];
	bool batch_failed; /* the kernel rejected the whole batch (seq of BEGIN) */
};

static void ack_ext_msg(const struct nlmsghdr *nlh, char *buf, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	const struct nlattr *attr;

	buf[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += mnl_nlmsg_get_payload_len(&e->msg);
	if (mnl_nlmsg_get_payload_len(nlh) <= off)
		return;
	mnl_attr_for_each_payload((const void *)((const char *)e + off),
				  mnl_nlmsg_get_payload_len(nlh) - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
			snprintf(buf, len, "%s", mnl_attr_get_str(attr));
			return;
		}
	}
}

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack_state *st = data;
	const struct nlmsgerr *e;
	uint32_t seq = nlh->nlmsg_seq;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
		return MNL_CB_OK;
	e = mnl_nlmsg_get_payload(nlh);
	if (seq == st->b->seq0) {
		st->batch_failed = true;
		st->err_seq = seq;
		st->err = e->error ? -e->error : EPROTO;
		ack_ext_msg(nlh, st->ext_msg, sizeof(st->ext_msg));
		return MNL_CB_OK;
	}
	if (seq <= st->b->seq0 || seq - st->b->seq0 > st->b->n)
		return MNL_CB_OK; /* not ours: a late answer to an earlier request */
	st->answered++;
	if (e->error && (!st->err_seq || seq < st->err_seq)) {
		st->err_seq = seq;
		st->err = -e->error;
		ack_ext_msg(nlh, st->ext_msg, sizeof(st->ext_msg));
	}
	return MNL_CB_OK;
}

static int noop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

int nft_batch_send(struct nft_sock *s, struct nft_batch *b, struct k8c_error *err)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP] = noop_cb,
		[NLMSG_ERROR] = ack_cb,
		[NLMSG_DONE] = noop_cb,
		[NLMSG_OVERRUN] = noop_cb,
	};
	struct ack_state st = {.b = b};
	_cleanup_free_ char *rbuf = NULL;
	const void *data;
	size_t len;

	data = nft_batch_finish(b, &len);
	if (b->n == 0)
		return 0;
	/* The kernel reads the whole batch in one sendmsg() and queues all ACKs before we read
	 * any: size both buffers for it, or the batch fails with EMSGSIZE / ACKs are dropped. */
	sock_grow_buffer(s, SO_SNDBUFFORCE, SO_SNDBUF, len + 65536);
	sock_grow_buffer(s, SO_RCVBUFFORCE, SO_RCVBUF, b->n * 1024 + 65536);
	if (mnl_socket_sendto(s->nl, data, len) < 0)
		return k8c_error_errno(err, 0, errno, "nftables: send batch of %zu messages", b->n),
		       -errno;

	rbuf = k8c_xmalloc(MNL_SOCKET_BUFFER_SIZE * 4);
	while (st.answered < b->n && !st.batch_failed) {
		ssize_t n;
		int r = sock_wait(s);

		if (r < 0)
			return k8c_error_errno(err, 0, -r, "nftables: wait for ACK"), r;
		n = mnl_socket_recvfrom(s->nl, rbuf, MNL_SOCKET_BUFFER_SIZE * 4);
		if (n < 0)
			return k8c_error_errno(err, 0, errno, "nftables: receive ACK"), -errno;
		if (mnl_cb_run2(rbuf, (size_t)n, 0, s->portid, NULL, &st, ctl, NLMSG_MIN_TYPE) < 0)
			return k8c_error_errno(err, 0, errno, "nftables: parse ACK"), -errno;
	}
	if (st.err_seq) {
		const char *what = nft_batch_what(b, st.err_seq);

		if (st.ext_msg[0])
			k8c_error_set(err, 0, "nftables: %s: %s (%s)", what ? what : "?",
				      strerror(st.err), st.ext_msg);
		else
			k8c_error_errno(err, 0, st.err, "nftables: %s", what ? what : "?");
		return -st.err;
	}
	return 0;
}

int nft_request(struct nft_sock *s, struct nlmsghdr *req, mnl_cb_t cb, void *arg, const char *what,
		struct k8c_error *err)
{
	_cleanup_free_ char *rbuf = k8c_xmalloc(MNL_SOCKET_BUFFER_SIZE * 4);
	int r;

	if (mnl_socket_sendto(s->nl, req, req->nlmsg_len) < 0)
		return k8c_error_errno(err, 0, errno, "nftables: %s", what), -errno;
	do {
		ssize_t n;

		r = sock_wait(s);
		if (r < 0)
			return k8c_error_errno(err, 0, -r, "nftables: %s", what), r;
		n = mnl_socket_recvfrom(s->nl, rbuf, MNL_SOCKET_BUFFER_SIZE * 4);
		if (n < 0)
			return k8c_error_errno(err, 0, errno, "nftables: %s", what), -errno;
		r = mnl_cb_run(rbuf, (size_t)n, req->nlmsg_seq, s->portid, cb, arg);
	} while (r > 0);
	if (r < 0) {
		int e = errno ? errno : EPROTO;

		return k8c_error_errno(err, 0, e, "nftables: %s", what), -e;
	}
	return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nftnl_set_elems_nlmsg_parse(nlh, data) < 0)
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

int nft_set_elems_dump(struct nft_sock *s, uint16_t family, const char *table, const char *set,
		       struct nftnl_set **out, struct k8c_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *ns = nftnl_set_alloc();
	_cleanup_free_ char *what = NULL;
	struct nlmsghdr *nlh;
	int r;

	if (!ns)
		abort();
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, family);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, set);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP, nft_sock_seq(s));
	nftnl_set_elems_nlmsg_build_payload(nlh, ns);
	what = k8c_xasprintf("list set %s %s %s", family_name(family), table, set);
	r = nft_request(s, nlh, elems_cb, ns, what, err);
	if (r < 0) {
		nftnl_set_free(ns);
		return r;
	}
	*out = ns;
	return 0;
}

static int rule_count_cb(const struct nlmsghdr *nlh, void *data)
{
	size_t *count = data;

	(*count)++;
	return MNL_CB_OK;
}

int nft_chain_rule_count(struct nft_sock *s, uint16_t family, const char *table, const char *chain,
			 size_t *count, struct k8c_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_rule *r = nftnl_rule_alloc();
	_cleanup_free_ char *what = NULL;
	struct nlmsghdr *nlh;
	int ret;

	if (!r)
		abort();
	/* The kernel filters a rule dump by the table and chain given in the request. */
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, nft_sock_seq(s));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	*count = 0;
	what = k8c_xasprintf("list chain %s %s %s", family_name(family), table, chain);
	ret = nft_request(s, nlh, rule_count_cb, count, what, err);
	return ret;
}

void nft_elem_set_comment(struct nftnl_set_elem *e, const char *comment)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);

	if (!ud)
		abort();
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, comment))
		abort(); /* callers bound the length */
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
			   nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
}

struct comment_out {
	char *buf;
	size_t len;
	bool found;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct comment_out *o = data;
	const char *v = nftnl_udata_get(attr);
	uint8_t n = nftnl_udata_len(attr);

	if (nftnl_udata_type(attr) != NFTNL_UDATA_SET_ELEM_COMMENT || n == 0 || v[n - 1] != '\0')
		return 0;
	if (n > o->len)
		return 0;
	memcpy(o->buf, v, n);
	o->found = true;
	return 0;
}

bool nft_elem_comment(struct nftnl_set_elem *e, char *buf, size_t len)
{
	struct comment_out o = {.buf = buf, .len = len};
	uint32_t ulen = 0;
	const void *ud;

	if (!nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA))
		return false;
	ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ulen);
	if (!ud || nftnl_udata_parse(ud, ulen, comment_cb, &o) < 0)
		return false;
	return o.found;
}

static struct nftnl_expr *expr_new(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		abort();
	return e;
}

void nft_rule_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len,
		      uint32_t dreg)
{
	struct nftnl_expr *e = expr_new("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_mask(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = expr_new("bitwise");
	unsigned char zero[16] = {0};

	if (len > sizeof(zero))
		abort();
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set, bool invert)
{
	struct nftnl_expr *e = expr_new("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (invert)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = expr_new("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_masq(struct nftnl_rule *r)
{
	nftnl_rule_add_expr(r, expr_new("masq"));
}

void nft_rule_masq_flags(struct nftnl_rule *r, uint32_t flags)
{
	struct nftnl_expr *e = expr_new("masq");

	nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, flags);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_imm(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_jump(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr_new("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_numgen(struct nftnl_rule *r, uint32_t dreg, uint32_t modulus)
{
	struct nftnl_expr *e = expr_new("numgen");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_map(struct nftnl_rule *r, uint32_t sreg, uint32_t dreg, const char *set)
{
	struct nftnl_expr *e = expr_new("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_bitwise(struct nftnl_rule *r, uint32_t sreg, uint32_t dreg, const void *mask,
		      const void * xor, uint32_t len)
{
	struct nftnl_expr *e = expr_new("bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = expr_new("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_ct(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new("ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_fib(struct nftnl_rule *r, uint32_t result, uint32_t flags, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new("fib");

	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, result);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, flags);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_nat(struct nftnl_rule *r, uint32_t type, uint32_t family, uint32_t reg_addr,
		  uint32_t reg_proto)
{
	struct nftnl_expr *e = expr_new("nat");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
	if (reg_proto)
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_proto);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_reject(struct nftnl_rule *r, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = expr_new("reject");

	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_dynset(struct nftnl_rule *r, uint32_t op, const char *set, uint32_t sreg_key,
		     uint32_t sreg_data, uint64_t timeout_ms)
{
	struct nftnl_expr *e = expr_new("dynset");

	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
	if (sreg_data)
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
	if (timeout_ms)
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
	nftnl_rule_add_expr(r, e);
}

void nft_rule_set_comment(struct nftnl_rule *r, const char *comment)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);

	if (!ud)
		abort();
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment))
		abort(); /* callers bound the length */
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
			    nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
}

static int rule_comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct comment_out *o = data;
	const char *v = nftnl_udata_get(attr);
	uint8_t n = nftnl_udata_len(attr);

	if (nftnl_udata_type(attr) != NFTNL_UDATA_RULE_COMMENT || n == 0 || v[n - 1] != '\0' ||
	    n > o->len)
		return 0;
	memcpy(o->buf, v, n);
	o->found = true;
	return 0;
}

bool nft_rule_comment(const struct nftnl_rule *r, char *buf, size_t len)
{
	struct comment_out o = {.buf = buf, .len = len};
	uint32_t ulen = 0;
	const void *ud;

	if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA))
		return false;
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
	if (!ud || nftnl_udata_parse(ud, ulen, rule_comment_cb, &o) < 0)
		return false;
	return o.found;
}

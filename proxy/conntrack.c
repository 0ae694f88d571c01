#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "cleanup.h"
#include "conntrack.h"

struct tuple {
	uint8_t src[4], dst[4];
	uint8_t proto;
	uint16_t sport, dport; /* network order */
	bool ok;
};

static int tuple_ip_cb(const struct nlattr *a, void *data)
{
	struct tuple *t = data;

	if (mnl_attr_get_payload_len(a) != 4)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == CTA_IP_V4_SRC)
		memcpy(t->src, mnl_attr_get_payload(a), 4);
	else if (mnl_attr_get_type(a) == CTA_IP_V4_DST)
		memcpy(t->dst, mnl_attr_get_payload(a), 4);
	return MNL_CB_OK;
}

static int tuple_proto_cb(const struct nlattr *a, void *data)
{
	struct tuple *t = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_PROTO_NUM:
		t->proto = mnl_attr_get_u8(a);
		break;
	case CTA_PROTO_SRC_PORT:
		t->sport = mnl_attr_get_u16(a);
		break;
	case CTA_PROTO_DST_PORT:
		t->dport = mnl_attr_get_u16(a);
		break;
	}
	return MNL_CB_OK;
}

static int tuple_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTA_TUPLE_IP)
		mnl_attr_parse_nested(a, tuple_ip_cb, data);
	else if (mnl_attr_get_type(a) == CTA_TUPLE_PROTO)
		mnl_attr_parse_nested(a, tuple_proto_cb, data);
	((struct tuple *)data)->ok = true;
	return MNL_CB_OK;
}

struct dump {
	const struct proxy_ct_stale *st;
	size_t n;
	/* the original tuples (raw attributes) to delete */
	char **del;
	size_t *del_len, n_del;
};

struct entry_attrs {
	const struct nlattr *orig, *reply;
};

static int entry_attr_cb(const struct nlattr *a, void *data)
{
	struct entry_attrs *e = data;

	if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
		e->orig = a;
	else if (mnl_attr_get_type(a) == CTA_TUPLE_REPLY)
		e->reply = a;
	return MNL_CB_OK;
}

static int entry_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct entry_attrs ea = {0};
	struct tuple o = {0}, r = {0};

	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), entry_attr_cb, &ea);
	if (!ea.orig || !ea.reply)
		return MNL_CB_OK;
	mnl_attr_parse_nested(ea.orig, tuple_cb, &o);
	mnl_attr_parse_nested(ea.reply, tuple_cb, &r);
	if (!o.ok || !r.ok || o.proto != IPPROTO_UDP)
		return MNL_CB_OK;
	for (size_t i = 0; i < d->n; i++) {
		const struct proxy_ct_stale *s = &d->st[i];
		static const uint8_t any[4];

		if ((memcmp(s->front, any, 4) != 0 && memcmp(s->front, o.dst, 4) != 0) ||
		    ntohs(o.dport) != s->front_port || memcmp(s->ep, r.src, 4) != 0 ||
		    ntohs(r.sport) != s->ep_port)
			continue;
		d->del = k8c_xrealloc(d->del, (d->n_del + 1) * sizeof(*d->del));
		d->del_len = k8c_xrealloc(d->del_len, (d->n_del + 1) * sizeof(*d->del_len));
		d->del_len[d->n_del] = ea.orig->nla_len;
		d->del[d->n_del] = k8c_xmalloc(ea.orig->nla_len);
		memcpy(d->del[d->n_del++], ea.orig, ea.orig->nla_len);
		break;
	}
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

int proxy_ct_delete_udp(struct nft_sock *s, const struct proxy_ct_stale *st, size_t n,
			size_t *deleted, struct k8c_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct dump d = {.st = st, .n = n};
	int rc = 0;

	*deleted = 0;
	if (n == 0)
		return 0;
	rc = nft_request(s, ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, nft_sock_seq(s)), entry_cb,
			 &d, "conntrack: list", err);
	for (size_t i = 0; i < d.n_del; i++) {
		struct nlmsghdr *nlh;
		int r;

		if (rc == 0) {
			nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, nft_sock_seq(s));
			memcpy(mnl_nlmsg_get_payload_tail(nlh), d.del[i], d.del_len[i]);
			nlh->nlmsg_len += MNL_ALIGN(d.del_len[i]);
			r = nft_request(s, nlh, NULL, NULL, "conntrack: delete", err);
			if (r == 0)
				(*deleted)++;
			else if (r == -ENOENT) /* gone by itself meanwhile */
				k8c_error_clear(err);
			else
				rc = r;
		}
		free(d.del[i]);
	}
	free(d.del);
	free(d.del_len);
	return rc;
}

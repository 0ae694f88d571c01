#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libnftnl/set.h>

#include "cleanup.h"
#include "nft_owner.h"

/* Elements per DELSETELEM message: keeps the element list nest well below its 64 KiB limit. */
#define DEL_CHUNK 256
/* Retries when an element vanished between listing and deleting (a concurrent DEL or GC). */
#define DEL_ATTEMPTS 3

static int tag_part_ok(const char *what, const char *s, struct k8c_error *err)
{
	if (!s || !*s)
		return k8c_error_set(err, 0, "nftables owner tag: empty %s", what);
	if (strchr(s, '/'))
		return k8c_error_set(err, 0, "nftables owner tag: %s `%s` contains '/'", what, s);
	return 0;
}

int cni_nft_tag_format(char *buf, const char *network, const char *container_id, const char *ifname,
		       struct k8c_error *err)
{
	int n;

	if (tag_part_ok("network name", network, err) < 0 ||
	    tag_part_ok("container ID", container_id, err) < 0 ||
	    tag_part_ok("interface name", ifname, err) < 0)
		return -1;
	n = snprintf(buf, CNI_NFT_TAG_MAX + 1, "%s/%s/%s", network, container_id, ifname);
	if (n < 0 || n > CNI_NFT_TAG_MAX)
		return k8c_error_set(err, 0, "nftables owner tag: `%s/%s/%s` longer than %d bytes",
				     network, container_id, ifname, CNI_NFT_TAG_MAX);
	return 0;
}

bool cni_nft_tag_parse(char *tag, struct cni_nft_owner *owner)
{
	char *a = strchr(tag, '/'), *b;

	if (!a || a == tag)
		return false;
	b = strchr(a + 1, '/');
	if (!b || b == a + 1 || !b[1] || strchr(b + 1, '/'))
		return false;
	*a = *b = '\0';
	owner->network = tag;
	owner->container_id = a + 1;
	owner->ifname = b + 1;
	return true;
}

struct nftnl_set *cni_nft_set_ref(const struct cni_nft_table *t, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		abort();
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, t->family);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	return s;
}

struct nftnl_set *cni_nft_set_decl(const struct cni_nft_table *t, const char *name)
{
	static uint32_t id;
	struct nftnl_set *s = cni_nft_set_ref(t, name);

	nftnl_set_set_u32(s, NFTNL_SET_ID, ++id);
	return s;
}

int cni_nft_foreach(struct nft_sock *s, const struct cni_nft_table *t, cni_nft_elem_cb cb,
		    void *arg, struct k8c_error *err)
{
	for (size_t i = 0; i < t->nsets; i++) {
		struct nftnl_set *set = NULL;
		struct nftnl_set_elems_iter *it;
		struct nftnl_set_elem *e;
		int r = nft_set_elems_dump(s, t->family, t->name, t->sets[i], &set, err);

		if (r == -ENOENT) {
			k8c_error_clear(err);
			continue;
		}
		if (r < 0)
			return r;
		it = nftnl_set_elems_iter_create(set);
		if (!it)
			abort();
		r = 0;
		while (r >= 0 && (e = nftnl_set_elems_iter_next(it))) {
			char tag[CNI_NFT_TAG_MAX + 1];
			struct cni_nft_owner owner;

			if (!nft_elem_comment(e, tag, sizeof(tag)) ||
			    !cni_nft_tag_parse(tag, &owner))
				continue; /* not ours: leave it alone */
			r = cb(t->sets[i], e, &owner, arg, err);
		}
		nftnl_set_elems_iter_destroy(it);
		nftnl_set_free(set);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A copy of e with what identifies it (a DELSETELEM needs the key, and the range end for an
 * interval in a concatenated set) and, if udata, its comment. libnftnl does not export
 * nftnl_set_elem_clone(). */
static struct nftnl_set_elem *elem_copy(const struct nftnl_set_elem *ce, bool udata)
{
	struct nftnl_set_elem *e = (struct nftnl_set_elem *)ce; /* getters are not const */
	struct nftnl_set_elem *c = nftnl_set_elem_alloc();
	static const uint16_t attrs[] = {NFTNL_SET_ELEM_KEY, NFTNL_SET_ELEM_KEY_END,
					 NFTNL_SET_ELEM_FLAGS, NFTNL_SET_ELEM_USERDATA};
	size_t nattrs = sizeof(attrs) / sizeof(attrs[0]) - (udata ? 0 : 1);

	if (!c)
		abort();
	for (size_t i = 0; i < nattrs; i++) {
		uint32_t len = 0;
		const void *v;

		if (!nftnl_set_elem_is_set(e, attrs[i]))
			continue;
		v = nftnl_set_elem_get(e, attrs[i], &len);
		nftnl_set_elem_set(c, attrs[i], v, len);
	}
	return c;
}

struct collect {
	const struct cni_nft_table *t;
	cni_nft_match_fn match;
	void *arg;
	struct nft_batch *b;
	struct nftnl_set *pending; /* elements to delete from pending_set, not yet in b */
	const char *pending_set;
	size_t pending_n, total;
};

static void collect_flush(struct collect *c)
{
	if (c->pending && c->pending_n)
		nft_batch_elems(c->b, NFT_MSG_DELSETELEM, 0, c->pending);
	if (c->pending)
		nftnl_set_free(c->pending);
	c->pending = NULL;
	c->pending_n = 0;
}

static int collect_cb(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *owner,
		      void *arg, struct k8c_error *err)
{
	struct collect *c = arg;

	if (!c->match(set, e, owner, c->arg))
		return 0;
	if (c->pending && (c->pending_set != set || c->pending_n == DEL_CHUNK))
		collect_flush(c);
	if (!c->pending) {
		c->pending = cni_nft_set_ref(c->t, set);
		c->pending_set = set;
	}
	nftnl_set_elem_add(c->pending, elem_copy(e, false));
	c->pending_n++;
	c->total++;
	return 0;
}

int cni_nft_delete_matching(const struct cni_nft_table *t, cni_nft_match_fn match, void *arg,
			    size_t *deleted, struct k8c_error *err)
{
	struct nft_sock *s = nft_sock_open(err);
	int r = 0;

	if (!s)
		return -1;
	for (int attempt = 1; attempt <= DEL_ATTEMPTS; attempt++) {
		struct collect c = {.t = t, .match = match, .arg = arg};

		c.b = nft_batch_new(nft_sock_seq(s));
		r = cni_nft_foreach(s, t, collect_cb, &c, err);
		collect_flush(&c);
		if (r == 0)
			r = nft_batch_send(s, c.b, err);
		nft_batch_free(c.b);
		if (r == 0 && deleted)
			*deleted = c.total;
		if (r != -ENOENT || attempt == DEL_ATTEMPTS)
			break;
		k8c_error_clear(err);
	}
	nft_sock_close(s);
	return r;
}

void cni_nft_batch_upsert(struct nft_batch *b, const struct cni_nft_table *t, const char *set,
			  const struct nftnl_set_elem *e)
{
	struct nftnl_set *add = cni_nft_set_ref(t, set);
	struct nftnl_set *del = cni_nft_set_ref(t, set);

	/* NEWSETELEM without NLM_F_EXCL accepts an existing element but keeps its old userdata:
	 * delete and re-add it in the same transaction so the comment names the new owner. */
	nftnl_set_elem_add(add, elem_copy(e, true));
	nftnl_set_elem_add(del, elem_copy(e, false));
	nft_batch_elems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, add);
	nft_batch_elems(b, NFT_MSG_DELSETELEM, 0, del);
	nft_batch_elems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, add);
	nftnl_set_free(add);
	nftnl_set_free(del);
}

static int send_stage(struct nft_sock *s, cni_nft_build_fn build, enum cni_nft_stage stage,
		      void *arg, struct k8c_error *err)
{
	struct nft_batch *b = nft_batch_new(nft_sock_seq(s));
	int r = build(b, stage, arg, err);

	if (r == 0)
		r = nft_batch_send(s, b, err);
	nft_batch_free(b);
	return r;
}

int cni_nft_send_staged(cni_nft_build_fn build, void *arg, struct k8c_error *err)
{
	struct nft_sock *s = nft_sock_open(err);
	int r;

	if (!s)
		return -1;
	r = send_stage(s, build, CNI_NFT_ELEMS, arg, err);
	if (r == -EEXIST) {
		k8c_error_clear(err);
		r = send_stage(s, build, CNI_NFT_UPSERT, arg, err);
	}
	if (r == -ENOENT) {
		k8c_error_clear(err);
		r = send_stage(s, build, CNI_NFT_CREATE, arg, err);
		/* EEXIST: a concurrent ADD created it first, or it lacks a part (retried below). */
		if (r == 0 || r == -EEXIST) {
			k8c_error_clear(err);
			r = send_stage(s, build, CNI_NFT_UPSERT, arg, err);
		}
		if (r == -ENOENT) {
			k8c_error_clear(err);
			r = send_stage(s, build, CNI_NFT_REPAIR, arg, err);
		}
	}
	nft_sock_close(s);
	return r < 0 ? -1 : 0;
}

void cni_nft_batch_elem(struct nft_batch *b, const struct cni_nft_table *t, const char *set,
			const struct nftnl_set_elem *e, bool upsert)
{
	struct nftnl_set *add;

	if (upsert) {
		cni_nft_batch_upsert(b, t, set, e);
		return;
	}
	add = cni_nft_set_ref(t, set);
	nftnl_set_elem_add(add, elem_copy(e, true));
	nft_batch_elems(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL, add);
	nftnl_set_free(add);
}

struct gc_arg {
	const char *network;
	bool (*keep)(const char *container_id, const char *ifname, void *arg);
	void *arg;
};

static bool gc_match(const char *set, struct nftnl_set_elem *e, const struct cni_nft_owner *o,
		     void *arg)
{
	const struct gc_arg *g = arg;

	return strcmp(o->network, g->network) == 0 && !g->keep(o->container_id, o->ifname, g->arg);
}

int cni_nft_gc(const struct cni_nft_table *t, const char *network,
	       bool (*keep)(const char *container_id, const char *ifname, void *arg), void *arg,
	       size_t *removed, struct k8c_error *err)
{
	struct gc_arg g = {network, keep, arg};

	return cni_nft_delete_matching(t, gc_match, &g, removed, err);
}

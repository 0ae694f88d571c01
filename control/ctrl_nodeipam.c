/*
 * nodeipam: every Node gets spec.podCIDR and spec.podCIDRs, a subnet of --cluster-cidr
 * (10.244.0.0/16) of --node-cidr-mask-size (24), as kube's range allocator. The used subnets
 * are those of the Nodes in the informer's cache (marked by the delta handler, freed when a
 * Node goes), so after a restart nothing is allocated before every Node's CIDR is known (the
 * runtime syncs only after the first list). One address family (IPv4 or IPv6). A Node whose
 * CIDR lies outside the range is left alone. docs/controllers.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "ctrl_manager.h"
#include "ipaddr.h"
#include "log.h"
#include "objutil.h"

#define MAX_SUBNETS (1 << 20)

struct ipam {
	struct k8c_informer *nodes;
	struct k8c_ipnet range;
	int mask;
	size_t n;	     /* subnets in the range */
	unsigned char *used; /* one byte per subnet */
	size_t next;	     /* where the search for a free one starts (rolling, as kube's) */
	json_t *owner;	     /* node name -> subnet index it holds */
};

/* The index of subnet cidr in the range, or -1. */
static long subnet_index(const struct ipam *p, const char *cidr)
{
	struct k8c_ipnet n;
	unsigned long long off = 0;

	if (!cidr || k8c_ipnet_parse(cidr, 1, &n) < 0 || n.family != p->range.family ||
	    n.prefix != p->mask || !k8c_ipnet_contains(&p->range, &n))
		return -1;
	/* the bits between the range's prefix and the mask, as an integer */
	for (size_t b = (size_t)p->range.prefix; b < (size_t)p->mask; b++)
		off = off << 1 | ((n.addr[b / 8] >> (7 - b % 8)) & 1);
	return off < p->n ? (long)off : -1;
}

static void subnet_format(const struct ipam *p, size_t idx, char buf[K8C_IPNET_STRLEN])
{
	struct k8c_ipnet n = p->range;

	n.prefix = p->mask;
	for (int b = p->mask - 1; b >= p->range.prefix; b--, idx >>= 1) {
		unsigned char bit = (unsigned char)(1u << (7 - b % 8));

		if (idx & 1)
			n.addr[b / 8] |= bit;
		else
			n.addr[b / 8] &= (unsigned char)~bit;
	}
	k8c_ipnet_format(&n, buf);
}

static void release(struct ipam *p, const char *node)
{
	json_t *o = json_object_get(p->owner, node);

	if (o) {
		p->used[json_integer_value(o)] = 0;
		json_object_del(p->owner, node);
	}
}

static void mark(struct ipam *p, const json_t *node)
{
	const char *name = k8c_str_at(node, "metadata.name");
	long idx = subnet_index(p, k8c_str_at(node, "spec.podCIDR"));

	if (!name || idx < 0)
		return;
	release(p, name);
	p->used[idx] = 1;
	json_object_set_new(p->owner, name, json_integer(idx));
}

static void on_node(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct ipam *p = k8c_ctrl_data(c);

	switch (d->type) {
	case K8C_DELTA_ADD:
	case K8C_DELTA_UPDATE:
		mark(p, d->new);
		if (!k8c_str_at(d->new, "spec.podCIDR"))
			k8c_ctrl_enqueue(c, d->key);
		break;
	case K8C_DELTA_DELETE:
		release(p, d->key);
		break;
	default:
		break;
	}
}

static int ipam_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct ipam *p = k8c_xcalloc(1, sizeof(*p));
	struct k8c_informer_opts o = {.gvr = K8C_GVR_NODES};
	int maxbits;

	k8c_ctrl_set_data(c, p);
	p->owner = json_object();
	if (k8c_ipnet_parse(ctrl_config.cluster_cidr, 1, &p->range) < 0)
		return k8c_error_set(err, 0, "--cluster-cidr: \"%s\" is not a CIDR",
				     ctrl_config.cluster_cidr);
	k8c_ipnet_mask(&p->range);
	p->mask = ctrl_config.node_cidr_mask_size;
	maxbits = (int)k8c_ip_len(p->range.family) * 8;
	if (p->mask < p->range.prefix || p->mask > maxbits)
		return k8c_error_set(err, 0,
				     "--node-cidr-mask-size %d does not fit --cluster-cidr %s",
				     p->mask, ctrl_config.cluster_cidr);
	if (p->mask - p->range.prefix > 20)
		return k8c_error_set(err, 0,
				     "--node-cidr-mask-size %d makes more than %d subnets of %s",
				     p->mask, MAX_SUBNETS, ctrl_config.cluster_cidr);
	p->n = (size_t)1 << (p->mask - p->range.prefix);
	p->used = k8c_xcalloc(p->n, 1);
	if (!(p->nodes = k8c_ctrl_informer(c, &o, on_node, err)))
		return -1;
	return 0;
}

static int ipam_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct ipam *p = k8c_ctrl_data(c);
	json_t *node = k8c_informer_get(p->nodes, NULL, key);
	_cleanup_json_ json_t *patch = NULL;
	char cidr[K8C_IPNET_STRLEN];
	size_t i, idx;

	if (!node || k8c_str_at(node, "spec.podCIDR") || k8c_at(node, "metadata.deletionTimestamp"))
		return 0;
	if (json_object_get(p->owner, key))
		return 0; /* allocated by us, the informer has not brought the update yet */
	for (i = 0; i < p->n && p->used[(p->next + i) % p->n]; i++)
		;
	if (i == p->n) {
		k8c_ctrl_event(c, node, "Normal", "CIDRNotAvailable",
			       "Node %s status is now: CIDRNotAvailable", key);
		return k8c_error_set(err, 0, "no free podCIDR of /%d left in %s for node %s",
				     p->mask, ctrl_config.cluster_cidr, key);
	}
	idx = (p->next + i) % p->n;
	subnet_format(p, idx, cidr);
	patch = json_pack("{s:{s:s, s:[s]}}", "spec", "podCIDR", cidr, "podCIDRs", cidr);
	if (k8c_kube_patch(k8c_ctrl_kube(c), K8C_GVR_NODES, NULL, key, NULL, K8C_PATCH_MERGE, patch,
			   NULL, err) < 0) {
		if (err->code == 404) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "node %s: set podCIDR %s", key, cidr);
	}
	/* held from now (the informer's update confirms it) */
	p->used[idx] = 1;
	json_object_set_new(p->owner, key, json_integer((json_int_t)idx));
	p->next = (idx + 1) % p->n;
	k8c_log_info("podCIDR allocated", "node=%s cidr=%s", key, cidr);
	return 0;
}

static void ipam_fini(struct k8c_ctrl *c)
{
	struct ipam *p = k8c_ctrl_data(c);

	if (!p)
		return;
	json_decref(p->owner);
	free(p->used);
	free(p);
}

const struct k8c_controller_def ctrl_nodeipam_def = {
	.name = "nodeipam",
	.component = "cidrAllocator",
	.init = ipam_init,
	.sync = ipam_sync,
	.fini = ipam_fini,
};

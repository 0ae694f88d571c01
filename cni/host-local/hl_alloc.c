#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hl_alloc.h"

/*
 * Round-robin iterator over a range set, the walk of the reference's RangeIter: start after
 * last_reserved_ip when it lies in the set (else at the first range's start), wrap from a range's
 * end to the next range's start, skip gateways, stop when back at the first address tried.
 */
struct iter {
	const struct hl_rangeset *set;
	size_t idx;
	bool has_cur, has_start;
	struct k8c_ipnet cur, start;
};

static void iter_init(struct iter *it, const struct hl_rangeset *set, struct hl_store *s,
		      size_t set_idx)
{
	struct k8c_ipnet last;
	size_t i;

	memset(it, 0, sizeof(*it));
	it->set = set;
	if (hl_store_last_reserved(s, set_idx, &last) == 0)
		for (i = 0; i < set->n; i++)
			if (hl_range_contains(&set->ranges[i], &last)) {
				it->idx = i;
				it->cur = last;
				it->has_cur = true;
				return;
			}
}

static bool iter_next(struct iter *it, struct k8c_ipnet *ip, const struct hl_range **range)
{
	for (;;) {
		const struct hl_range *r = &it->set->ranges[it->idx];

		if (!it->has_cur) {
			it->cur = r->start;
			it->start = r->start;
			it->has_cur = it->has_start = true;
		} else {
			if (k8c_ip_cmp(&it->cur, &r->end) == 0) {
				it->idx = (it->idx + 1) % it->set->n;
				r = &it->set->ranges[it->idx];
				it->cur = r->start;
			} else {
				k8c_ip_add(&it->cur, 1);
			}
			if (!it->has_start) {
				it->start = it->cur;
				it->has_start = true;
			} else if (k8c_ip_cmp(&it->cur, &it->start) == 0) {
				return false;
			}
		}
		if (k8c_ip_cmp(&it->cur, &r->gateway) == 0)
			continue;
		*ip = it->cur;
		*range = r;
		return true;
	}
}

static int open_store(const struct hl_config *cfg, const struct hl_boot *boot, struct hl_store *s,
		      struct k8c_error *err)
{
	return hl_store_open(s, cfg->data_dir, cfg->name, boot, cfg->lock_timeout_ms, err);
}

static void set_ipconfig(struct cni_result *res, const struct k8c_ipnet *ip,
			 const struct hl_range *r)
{
	struct cni_ipconfig *c = cni_result_add_ip(res);

	c->address = *ip;
	c->address.prefix = r->subnet.prefix;
	c->has_gateway = true;
	c->gateway = r->gateway;
}

/* One address from set idx: the requested one, or the next free one round-robin. */
static int alloc_one(const struct hl_config *cfg, struct hl_store *s, size_t idx,
		     const struct k8c_ipnet *requested, const struct k8c_ipnet *existing,
		     size_t n_existing, const char *cid, const char *ifname, struct k8c_ipnet *out,
		     struct cni_result *res, struct k8c_error *err)
{
	const struct hl_rangeset *set = &cfg->sets[idx];
	_cleanup_free_ char *desc = hl_rangeset_format(set);
	char buf[K8C_IPNET_STRLEN];
	const struct hl_range *r;
	struct iter it;
	size_t i;
	int ok;

	if (requested) {
		r = hl_rangeset_find(set, requested);
		if (k8c_ip_cmp(requested, &r->gateway) == 0)
			return k8c_error_set(err, 0, "requested ip %s is subnet's gateway",
					     k8c_ip_format(requested, buf));
		ok = hl_store_reserve(s, cid, ifname, requested, idx, err);
		if (ok < 0)
			return -1;
		if (ok == 0)
			return k8c_error_set(err, 0,
					     "requested IP address %s is not available in range "
					     "set %s",
					     k8c_ip_format(requested, buf), desc);
		*out = *requested;
		set_ipconfig(res, out, r);
		return 0;
	}
	/* The spec forbids a second ADD of one attachment: refuse, as the reference does. */
	for (i = 0; i < n_existing; i++)
		if (hl_rangeset_find(set, &existing[i]))
			return k8c_error_set(err, 0,
					     "%s has been allocated to %s, duplicate allocation is "
					     "not allowed",
					     k8c_ip_format(&existing[i], buf), cid);
	iter_init(&it, set, s, idx);
	while (iter_next(&it, out, &r)) {
		ok = hl_store_reserve(s, cid, ifname, out, idx, err);
		if (ok < 0)
			return -1;
		if (ok == 1) {
			set_ipconfig(res, out, r);
			return 0;
		}
	}
	return k8c_error_set(err, 0, "no IP addresses available in range set: %s", desc);
}

static void rollback(struct hl_store *s, const char *cid, const char *ifname,
		     const struct k8c_ipnet *ips, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		hl_store_unreserve(s, cid, ifname, &ips[i]);
}

static int add_locked(const struct hl_config *cfg, struct hl_store *s, const char *cid,
		      const char *ifname, struct cni_result *res, struct k8c_error *err)
{
	_cleanup_free_ struct k8c_ipnet *existing = NULL;
	_cleanup_free_ bool *used = k8c_xcalloc(cfg->n_requested + 1, sizeof(bool));
	struct k8c_ipnet got[HL_MAX_SETS * 2];
	size_t n_existing = 0, n_got = 0, i, j;

	if (hl_store_get_by_id(s, cid, ifname, &existing, &n_existing, err) < 0)
		return -1;
	for (i = 0; i < cfg->n_sets; i++) {
		const struct k8c_ipnet *req = NULL;

		for (j = 0; j < cfg->n_requested && !req; j++)
			if (!used[j] && hl_rangeset_find(&cfg->sets[i], &cfg->requested[j])) {
				used[j] = true;
				req = &cfg->requested[j];
			}
		if (alloc_one(cfg, s, i, req, existing, n_existing, cid, ifname, &got[n_got], res,
			      err) < 0) {
			rollback(s, cid, ifname, got, n_got);
			return k8c_error_wrap(err, "failed to allocate for range %zu", i);
		}
		n_got++;
	}
	for (j = 0; j < cfg->n_requested; j++)
		if (!used[j]) {
			_cleanup_free_ char *list = k8c_xstrdup("");
			char buf[K8C_IPNET_STRLEN];

			for (; j < cfg->n_requested; j++)
				if (!used[j]) {
					char *next = k8c_xasprintf(
						"%s %s", list,
						k8c_ip_format(&cfg->requested[j], buf));

					free(list);
					list = next;
				}
			rollback(s, cid, ifname, got, n_got);
			return k8c_error_set(err, 0, "failed to allocate all requested IPs:%s",
					     list);
		}
	/* Keep addresses this attachment already holds in other ranges (config changed). */
	for (i = 0; i < n_existing && n_got < HL_MAX_SETS; i++)
		got[n_got++] = existing[i];
	if (hl_store_index_write(s, cid, ifname, got, n_got, err) < 0) {
		rollback(s, cid, ifname, got, cfg->n_sets);
		return -1;
	}
	return 0;
}

int hl_alloc_add(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		 const char *ifname, struct cni_result *res, struct k8c_error *err)
{
	struct hl_store s;
	size_t i;
	int r;

	memset(res, 0, sizeof(*res));
	if (cfg->resolv_conf && hl_resolv_conf_parse(cfg->resolv_conf, &res->dns, err) < 0)
		return -1;
	if (open_store(cfg, boot, &s, err) < 0)
		goto fail;
	r = add_locked(cfg, &s, cid, ifname, res, err);
	hl_store_close(&s);
	if (r < 0)
		goto fail;
	for (i = 0; i < cfg->n_routes; i++)
		*cni_result_add_route(res) = cfg->routes[i];
	return 0;
fail:
	cni_result_free(res);
	return -1;
}

int hl_alloc_del(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		 const char *ifname, struct k8c_error *err)
{
	struct hl_store s;
	int r;

	if (open_store(cfg, boot, &s, err) < 0)
		return -1;
	r = hl_store_release_by_id(&s, cid, ifname, err);
	hl_store_close(&s);
	return r < 0 ? -1 : 0;
}

int hl_alloc_check(const struct hl_config *cfg, const struct hl_boot *boot, const char *cid,
		   const char *ifname, struct k8c_error *err)
{
	_cleanup_free_ struct k8c_ipnet *ips = NULL;
	struct hl_store s;
	size_t n = 0;
	int r;

	if (open_store(cfg, boot, &s, err) < 0)
		return -1;
	r = hl_store_get_by_id(&s, cid, ifname, &ips, &n, err);
	hl_store_close(&s);
	if (r < 0)
		return -1;
	if (n == 0)
		return k8c_error_set(err, CNI_ERR_UNKNOWN_CONTAINER,
				     "host-local: Failed to find address added by container %s",
				     cid);
	return 0;
}

int hl_alloc_gc(const struct hl_config *cfg, const struct hl_boot *boot, hl_valid_fn valid,
		void *ctx, struct k8c_error *err)
{
	struct hl_store s;
	int r;

	if (open_store(cfg, boot, &s, err) < 0)
		return -1;
	r = hl_store_gc(&s, valid, ctx, err);
	hl_store_close(&s);
	return r;
}

static bool in_set(void *ctx, size_t set, const struct k8c_ipnet *ip)
{
	const struct hl_config *cfg = ctx;

	return hl_rangeset_find(&cfg->sets[set], ip) != NULL;
}

int hl_alloc_status(const struct hl_config *cfg, struct k8c_error *err)
{
	_cleanup_free_ unsigned long long *counts = NULL;
	size_t i;

	if (hl_store_probe_writable(cfg->data_dir, cfg->name, err) < 0) {
		err->code = CNI_ERR_NOT_AVAILABLE;
		return -1;
	}
	counts = k8c_xcalloc(cfg->n_sets, sizeof(*counts));
	if (hl_store_count(cfg->data_dir, cfg->name, cfg->n_sets, in_set, (void *)cfg, counts,
			   err) < 0) {
		err->code = CNI_ERR_NOT_AVAILABLE;
		return -1;
	}
	for (i = 0; i < cfg->n_sets; i++) {
		unsigned long long cap = hl_rangeset_capacity(&cfg->sets[i]);

		if (counts[i] >= cap) {
			_cleanup_free_ char *desc = hl_rangeset_format(&cfg->sets[i]);

			return k8c_error_set(err, CNI_ERR_NOT_AVAILABLE,
					     "range set %zu (%s) is exhausted: %llu of %llu "
					     "addresses reserved",
					     i, desc, counts[i], cap);
		}
	}
	return 0;
}

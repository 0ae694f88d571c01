#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "hl_config.h"
#include "hl_store.h"
#include "jsonutil.h"

#define CONF_ERR CNI_ERR_INVALID_CONFIG

bool hl_range_contains(const struct hl_range *r, const struct k8c_ipnet *ip)
{
	if (ip->family != r->subnet.family || !k8c_ipnet_contains(&r->subnet, ip))
		return false;
	return k8c_ip_cmp(ip, &r->start) >= 0 && k8c_ip_cmp(ip, &r->end) <= 0;
}

const struct hl_range *hl_rangeset_find(const struct hl_rangeset *set, const struct k8c_ipnet *ip)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (hl_range_contains(&set->ranges[i], ip))
			return &set->ranges[i];
	return NULL;
}

static char *range_format(const struct hl_range *r)
{
	char a[K8C_IPNET_STRLEN], b[K8C_IPNET_STRLEN];

	return k8c_xasprintf("%s-%s", k8c_ip_format(&r->start, a), k8c_ip_format(&r->end, b));
}

char *hl_rangeset_format(const struct hl_rangeset *set)
{
	char *out = k8c_xstrdup("");
	size_t i;

	for (i = 0; i < set->n; i++) {
		_cleanup_free_ char *r = range_format(&set->ranges[i]);
		char *next = k8c_xasprintf("%s%s%s", out, i ? "," : "", r);

		free(out);
		out = next;
	}
	return out;
}

static unsigned __int128 ip_to_u128(const struct k8c_ipnet *ip)
{
	unsigned __int128 v = 0;
	size_t i;

	for (i = 0; i < k8c_ip_len(ip->family); i++)
		v = (v << 8) | ip->addr[i];
	return v;
}

unsigned long long hl_rangeset_capacity(const struct hl_rangeset *set)
{
	unsigned __int128 total = 0;
	size_t i;

	for (i = 0; i < set->n; i++) {
		const struct hl_range *r = &set->ranges[i];
		unsigned __int128 n = ip_to_u128(&r->end) - ip_to_u128(&r->start);

		/* end - start + 1 may wrap for a whole /0, which cannot pass validation anyway. */
		if (n < (unsigned __int128)~0ULL)
			n += 1;
		if (hl_range_contains(r, &r->gateway) && n > 0)
			n -= 1;
		total += n;
		if (total >= (unsigned __int128)~0ULL)
			return ~0ULL;
	}
	return (unsigned long long)total;
}

/* An IP, or an IP with a prefix (dropped), as pkg/ip.ParseIP in the reference accepts. */
static int parse_ip_or_cidr(const char *s, struct k8c_ipnet *out)
{
	if (k8c_ipnet_parse(s, -1, out) < 0)
		return -1;
	out->prefix = -1;
	return 0;
}

static int get_ip(json_t *obj, const char *path, const char *key, struct k8c_ipnet *out,
		  bool *present, struct k8c_error *err)
{
	const char *s;

	*present = false;
	if (k8c_json_string(obj, key, &s, NULL, err) < 0)
		return k8c_error_wrap(err, "%s", path);
	if (!s)
		return 0;
	if (k8c_ipnet_parse(s, 0, out) < 0)
		return k8c_error_set(err, CONF_ERR, "%s.%s: invalid IP address \"%s\"", path, key,
				     s);
	*present = true;
	return 0;
}

/*
 * One range object, canonicalised as Range.Canonicalize in the reference: the subnet must be a
 * network address with room for hosts (not /31 or /32), start defaults to network+1, end to the
 * last address (less the broadcast for IPv4), the gateway to network+1.
 */
static int parse_range(json_t *obj, const char *path, struct hl_range *r, struct k8c_error *err)
{
	char buf[K8C_IPNET_STRLEN], buf2[K8C_IPNET_STRLEN];
	struct k8c_ipnet masked;
	bool has_start, has_end, has_gw;
	const char *subnet;
	int bits;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(obj))
		return k8c_error_set(err, CONF_ERR, "%s: expected an object, got %s", path,
				     k8c_json_type_name(obj));
	if (k8c_json_string(obj, "subnet", &subnet, NULL, err) < 0)
		return k8c_error_wrap(err, "%s", path);
	if (!subnet)
		return k8c_error_set(err, CONF_ERR, "%s.subnet: missing", path);
	if (k8c_ipnet_parse(subnet, 1, &r->subnet) < 0)
		return k8c_error_set(err, CONF_ERR, "%s.subnet: invalid CIDR address \"%s\"", path,
				     subnet);
	bits = (int)k8c_ip_len(r->subnet.family) * 8;
	if (r->subnet.prefix > bits - 2)
		return k8c_error_set(err, CONF_ERR,
				     "%s.subnet: network %s too small to allocate from", path,
				     subnet);
	masked = r->subnet;
	k8c_ipnet_mask(&masked);
	if (k8c_ip_cmp(&masked, &r->subnet) != 0)
		return k8c_error_set(err, CONF_ERR,
				     "%s.subnet: network %s has host bits set. For a subnet mask "
				     "of length %d the network address is %s",
				     path, subnet, r->subnet.prefix, k8c_ip_format(&masked, buf));

	if (get_ip(obj, path, "gateway", &r->gateway, &has_gw, err) < 0 ||
	    get_ip(obj, path, "rangeStart", &r->start, &has_start, err) < 0 ||
	    get_ip(obj, path, "rangeEnd", &r->end, &has_end, err) < 0)
		return -1;

	if (!has_gw) {
		r->gateway = r->subnet;
		r->gateway.prefix = -1;
		k8c_ip_add(&r->gateway, 1);
	} else if (r->gateway.family != r->subnet.family) {
		return k8c_error_set(err, CONF_ERR,
				     "%s.gateway: %s is not of the address family of subnet %s",
				     path, k8c_ip_format(&r->gateway, buf), subnet);
	}

	if (has_start) {
		if (r->start.family != r->subnet.family ||
		    !k8c_ipnet_contains(&r->subnet, &r->start))
			return k8c_error_set(err, CONF_ERR, "%s.rangeStart: %s not in network %s",
					     path, k8c_ip_format(&r->start, buf), subnet);
	} else {
		r->start = r->subnet;
		r->start.prefix = -1;
		k8c_ip_add(&r->start, 1);
	}

	if (has_end) {
		if (r->end.family != r->subnet.family || !k8c_ipnet_contains(&r->subnet, &r->end) ||
		    k8c_ip_cmp(&r->end, &r->start) < 0)
			return k8c_error_set(
				err, CONF_ERR,
				"%s.rangeEnd: %s not in network %s (from rangeStart %s)", path,
				k8c_ip_format(&r->end, buf), subnet,
				k8c_ip_format(&r->start, buf2));
	} else {
		size_t i, len = k8c_ip_len(r->subnet.family);

		r->end = r->subnet;
		r->end.prefix = -1;
		for (i = 0; i < len; i++) {
			int hostbits = (int)(i + 1) * 8 - r->subnet.prefix;

			if (hostbits >= 8)
				r->end.addr[i] = 0xff;
			else if (hostbits > 0)
				r->end.addr[i] |= (unsigned char)((1u << hostbits) - 1);
		}
		if (r->subnet.family == AF_INET)
			k8c_ip_add(&r->end, -1);
	}
	return 0;
}

/* Range.Overlaps of the reference: the address ranges (not the subnets) intersect. */
static bool range_overlaps(const struct hl_range *a, const struct hl_range *b)
{
	if (a->subnet.family != b->subnet.family)
		return false;
	return hl_range_contains(a, &b->start) || hl_range_contains(a, &b->end) ||
	       hl_range_contains(b, &a->start) || hl_range_contains(b, &a->end);
}

static bool rangeset_overlaps(const struct hl_rangeset *a, const struct hl_rangeset *b)
{
	size_t i, j;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (range_overlaps(&a->ranges[i], &b->ranges[j]))
				return true;
	return false;
}

static void rangeset_free(struct hl_rangeset *s)
{
	free(s->ranges);
	s->ranges = NULL;
	s->n = 0;
}

static int parse_rangeset(json_t *arr, const char *path, size_t idx, struct hl_rangeset *set,
			  struct k8c_error *err)
{
	size_t i, j;

	set->ranges = NULL;
	set->n = 0;
	if (!json_is_array(arr))
		return k8c_error_set(err, CONF_ERR, "%s: expected an array of ranges, got %s", path,
				     k8c_json_type_name(arr));
	if (json_array_size(arr) == 0)
		return k8c_error_set(err, CONF_ERR, "invalid range set %zu: %s: empty range set",
				     idx, path);
	set->ranges = k8c_xcalloc(json_array_size(arr), sizeof(*set->ranges));
	for (i = 0; i < json_array_size(arr); i++) {
		_cleanup_free_ char *rpath = k8c_xasprintf("%s[%zu]", path, i);

		if (parse_range(json_array_get(arr, i), rpath, &set->ranges[i], err) < 0)
			goto fail;
		set->n++;
		if (set->ranges[i].subnet.family != set->ranges[0].subnet.family) {
			k8c_error_set(err, CONF_ERR, "%s: mixed address families", rpath);
			goto fail;
		}
	}
	for (i = 0; i < set->n; i++)
		for (j = i + 1; j < set->n; j++)
			if (range_overlaps(&set->ranges[i], &set->ranges[j])) {
				_cleanup_free_ char *a = range_format(&set->ranges[i]);
				_cleanup_free_ char *b = range_format(&set->ranges[j]);

				k8c_error_set(err, CONF_ERR,
					      "%s: subnets %s and %s overlap (ranges %zu and %zu)",
					      path, a, b, i, j);
				goto fail;
			}
	return 0;
fail:
	rangeset_free(set);
	return k8c_error_wrap(err, "invalid range set %zu", idx);
}

static void add_rangeset(struct hl_config *cfg, struct hl_rangeset *set)
{
	cfg->sets = k8c_xrealloc(cfg->sets, (cfg->n_sets + 1) * sizeof(*cfg->sets));
	cfg->sets[cfg->n_sets++] = *set;
}

static int parse_rangesets(json_t *arr, const char *path, struct hl_config *cfg,
			   struct k8c_error *err)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		_cleanup_free_ char *spath = k8c_xasprintf("%s[%zu]", path, i);
		struct hl_rangeset set;

		if (parse_rangeset(json_array_get(arr, i), spath, cfg->n_sets, &set, err) < 0)
			return -1;
		add_rangeset(cfg, &set);
	}
	return 0;
}

static int parse_int_key(json_t *obj, const char *path, const char *key, int *out,
			 struct k8c_error *err)
{
	long long v;

	if (k8c_json_int(obj, key, &v, 0, err) < 0)
		return k8c_error_wrap(err, "%s", path);
	if (v < -2147483647LL || v > 2147483647LL)
		return k8c_error_set(err, CONF_ERR, "%s.%s: %lld out of range", path, key, v);
	*out = (int)v;
	return 0;
}

static int parse_routes(json_t *ipam, struct hl_config *cfg, struct k8c_error *err)
{
	json_t *arr;
	size_t i;

	if (k8c_json_array(ipam, "routes", &arr, err) < 0)
		return k8c_error_wrap(err, "ipam");
	if (!arr)
		return 0;
	cfg->routes = k8c_xcalloc(json_array_size(arr), sizeof(*cfg->routes));
	for (i = 0; i < json_array_size(arr); i++) {
		_cleanup_free_ char *path = k8c_xasprintf("ipam.routes[%zu]", i);
		json_t *o = json_array_get(arr, i), *scope;
		struct cni_route *rt = &cfg->routes[i];
		const char *dst;

		if (!json_is_object(o))
			return k8c_error_set(err, CONF_ERR, "%s: expected an object, got %s", path,
					     k8c_json_type_name(o));
		if (k8c_json_string(o, "dst", &dst, NULL, err) < 0)
			return k8c_error_wrap(err, "%s", path);
		/* The reference keeps host bits in dst ("10.0.0.5/8" prints back as is). */
		if (!dst || k8c_ipnet_parse(dst, 1, &rt->dst) < 0)
			return k8c_error_set(err, CONF_ERR, "%s.dst: invalid CIDR address \"%s\"",
					     path, dst ? dst : "");
		if (get_ip(o, path, "gw", &rt->gw, &rt->has_gw, err) < 0)
			return -1;
		if (parse_int_key(o, path, "mtu", &rt->mtu, err) < 0 ||
		    parse_int_key(o, path, "advmss", &rt->advmss, err) < 0 ||
		    parse_int_key(o, path, "priority", &rt->priority, err) < 0 ||
		    parse_int_key(o, path, "table", &rt->table, err) < 0)
			return -1;
		scope = json_object_get(o, "scope");
		if (scope && !json_is_null(scope)) {
			if (parse_int_key(o, path, "scope", &rt->scope, err) < 0)
				return -1;
			rt->has_scope = true;
		}
		cfg->n_routes++;
	}
	return 0;
}

static void add_requested(struct hl_config *cfg, const struct k8c_ipnet *ip)
{
	size_t i;

	/* The reference keys requested IPs by their string: duplicates collapse. */
	for (i = 0; i < cfg->n_requested; i++)
		if (k8c_ip_cmp(&cfg->requested[i], ip) == 0)
			return;
	cfg->requested =
		k8c_xrealloc(cfg->requested, (cfg->n_requested + 1) * sizeof(*cfg->requested));
	cfg->requested[cfg->n_requested++] = *ip;
}

static int parse_env_ips(const char *env_ip, struct hl_config *cfg, struct k8c_error *err)
{
	_cleanup_free_ char *copy = k8c_xstrdup(env_ip);
	char *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct k8c_ipnet ip;
		char *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (parse_ip_or_cidr(tok, &ip) < 0)
			return k8c_error_set(err, CNI_ERR_INVALID_ENV,
					     "CNI_ARGS IP: invalid IP address \"%s\"", tok);
		add_requested(cfg, &ip);
	}
	return 0;
}

static int parse_ip_list(json_t *obj, const char *path, const char *key, struct hl_config *cfg,
			 struct k8c_error *err)
{
	json_t *arr;
	size_t i;

	if (k8c_json_array(obj, key, &arr, err) < 0)
		return k8c_error_wrap(err, "%s", path);
	for (i = 0; arr && i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		struct k8c_ipnet ip;

		if (!json_is_string(v))
			return k8c_error_set(err, CONF_ERR, "%s.%s[%zu]: expected a string, got %s",
					     path, key, i, k8c_json_type_name(v));
		if (parse_ip_or_cidr(json_string_value(v), &ip) < 0)
			return k8c_error_set(err, CONF_ERR, "%s.%s[%zu]: invalid IP address \"%s\"",
					     path, key, i, json_string_value(v));
		add_requested(cfg, &ip);
	}
	return 0;
}

static int parse_requested(json_t *conf, const char *env_ip, struct hl_config *cfg,
			   struct k8c_error *err)
{
	json_t *args, *cni, *rc;

	if (env_ip && parse_env_ips(env_ip, cfg, err) < 0)
		return -1;
	if (k8c_json_object(conf, "args", &args, err) < 0 ||
	    k8c_json_object(args, "cni", &cni, err) < 0)
		return k8c_error_wrap(err, "args");
	if (parse_ip_list(cni, "args.cni", "ips", cfg, err) < 0)
		return -1;
	if (k8c_json_object(conf, "runtimeConfig", &rc, err) < 0)
		return -1;
	return parse_ip_list(rc, "runtimeConfig", "ips", cfg, err);
}

static int check_name(const char *name, struct k8c_error *err)
{
	/* The name becomes a directory under dataDir: it must stay one path component. */
	if (!name || !*name)
		return k8c_error_set(err, CONF_ERR, "\"name\": missing network name");
	if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return k8c_error_set(err, CONF_ERR, "\"name\": \"%s\" cannot be a directory name",
				     name);
	return 0;
}

static int parse_all(json_t *conf, const char *env_ip, struct hl_config *cfg, struct k8c_error *err)
{
	const char *name, *version, *data_dir, *resolv;
	json_t *ipam, *rc, *ranges = NULL, *rt_ranges = NULL, *subnet;
	long long timeout;
	size_t i, j;

	if (!json_is_object(conf))
		return k8c_error_set(err, CONF_ERR, "network config: expected an object, got %s",
				     k8c_json_type_name(conf));
	if (k8c_json_string(conf, "name", &name, NULL, err) < 0 ||
	    k8c_json_string(conf, "cniVersion", &version, "", err) < 0)
		return -1;
	if (check_name(name, err) < 0)
		return -1;
	cfg->name = k8c_xstrdup(name);
	cfg->version = k8c_xstrdup(version);
	if (k8c_json_object(conf, "ipam", &ipam, err) < 0)
		return -1;
	if (!ipam)
		return k8c_error_set(err, CONF_ERR, "IPAM config missing 'ipam' key");
	if (k8c_json_string(ipam, "dataDir", &data_dir, NULL, err) < 0 ||
	    k8c_json_string(ipam, "resolvConf", &resolv, NULL, err) < 0 ||
	    k8c_json_int(ipam, "lockTimeoutMs", &timeout, HL_DEFAULT_LOCK_TIMEOUT_MS, err) < 0)
		return k8c_error_wrap(err, "ipam");
	cfg->data_dir = k8c_xstrdup(data_dir && *data_dir ? data_dir : HL_DEFAULT_DATA_DIR);
	cfg->resolv_conf = resolv && *resolv ? k8c_xstrdup(resolv) : NULL;
	if (timeout <= 0 || timeout > 3600 * 1000)
		return k8c_error_set(err, CONF_ERR,
				     "ipam.lockTimeoutMs: %lld not in 1..3600000 milliseconds",
				     timeout);
	cfg->lock_timeout_ms = (long)timeout;
	if (parse_routes(ipam, cfg, err) < 0)
		return -1;
	if (parse_requested(conf, env_ip, cfg, err) < 0)
		return -1;

	/* Order as the reference: runtimeConfig.ipRanges, the legacy range, then ipam.ranges. */
	if (k8c_json_object(conf, "runtimeConfig", &rc, err) < 0 ||
	    k8c_json_array(rc, "ipRanges", &rt_ranges, err) < 0)
		return k8c_error_wrap(err, "runtimeConfig");
	if (rt_ranges && parse_rangesets(rt_ranges, "runtimeConfig.ipRanges", cfg, err) < 0)
		return -1;
	subnet = json_object_get(ipam, "subnet");
	if (subnet && !json_is_null(subnet)) {
		struct hl_rangeset set = {k8c_xcalloc(1, sizeof(struct hl_range)), 1};

		if (parse_range(ipam, "ipam", &set.ranges[0], err) < 0) {
			rangeset_free(&set);
			return k8c_error_wrap(err, "invalid range set %zu", cfg->n_sets);
		}
		add_rangeset(cfg, &set);
	}
	if (k8c_json_array(ipam, "ranges", &ranges, err) < 0)
		return k8c_error_wrap(err, "ipam");
	if (ranges && parse_rangesets(ranges, "ipam.ranges", cfg, err) < 0)
		return -1;
	if (cfg->n_sets == 0)
		return k8c_error_set(err, CONF_ERR, "no IP ranges specified");
	if (cfg->n_sets > HL_MAX_SETS)
		return k8c_error_set(err, CONF_ERR, "%zu range sets: at most %d are supported",
				     cfg->n_sets, HL_MAX_SETS);

	for (i = 0; i < cfg->n_sets; i++)
		for (j = i + 1; j < cfg->n_sets; j++)
			if (rangeset_overlaps(&cfg->sets[i], &cfg->sets[j])) {
				_cleanup_free_ char *a = hl_rangeset_format(&cfg->sets[i]);
				_cleanup_free_ char *b = hl_rangeset_format(&cfg->sets[j]);

				return k8c_error_set(err, CONF_ERR,
						     "range set %zu (%s) overlaps with %zu (%s)", i,
						     a, j, b);
			}
	return 0;
}

int hl_config_parse(json_t *conf, const char *env_ip, struct hl_config *cfg, struct k8c_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (parse_all(conf, env_ip, cfg, err) < 0) {
		/* Type errors from the JSON getters come without a code. */
		if (err && err->code == 0)
			err->code = CONF_ERR;
		hl_config_free(cfg);
		return -1;
	}
	return 0;
}

void hl_config_free(struct hl_config *cfg)
{
	size_t i;

	free(cfg->name);
	free(cfg->version);
	free(cfg->data_dir);
	free(cfg->resolv_conf);
	for (i = 0; i < cfg->n_sets; i++)
		rangeset_free(&cfg->sets[i]);
	free(cfg->sets);
	free(cfg->routes);
	free(cfg->requested);
	memset(cfg, 0, sizeof(*cfg));
}

static void json_append_str(json_t *dns, const char *key, const char *value)
{
	json_t *arr = json_object_get(dns, key);

	if (!arr) {
		arr = json_array();
		json_object_set_new(dns, key, arr);
	}
	json_array_append_new(arr, json_string(value));
}

int hl_resolv_conf_parse(const char *path, json_t **dns, struct k8c_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	_cleanup_json_ json_t *out = NULL;
	size_t cap = 0;

	*dns = NULL;
	if (!f)
		return k8c_error_errno(err, CNI_ERR_IO, errno, "ipam.resolvConf: open %s", path);
	out = json_object();
	while (getline(&line, &cap, f) >= 0) {
		char *fields[64], *save = NULL, *tok;
		int n = 0, i;

		for (tok = strtok_r(line, " \t\r\n\f\v", &save); tok && n < 64;
		     tok = strtok_r(NULL, " \t\r\n\f\v", &save))
			fields[n++] = tok;
		/* Comments start with # or ; (resolv.conf(5)); lines need a keyword and a value. */
		if (n < 2 || fields[0][0] == '#' || fields[0][0] == ';')
			continue;
		if (!strcmp(fields[0], "nameserver")) {
			json_append_str(out, "nameservers", fields[1]);
		} else if (!strcmp(fields[0], "domain")) {
			json_object_set_new(out, "domain", json_string(fields[1]));
		} else if (!strcmp(fields[0], "search")) {
			for (i = 1; i < n; i++)
				json_append_str(out, "search", fields[i]);
		} else if (!strcmp(fields[0], "options")) {
			for (i = 1; i < n; i++)
				json_append_str(out, "options", fields[i]);
		}
	}
	if (ferror(f))
		return k8c_error_errno(err, CNI_ERR_IO, EIO, "ipam.resolvConf: read %s", path);
	*dns = k8c_steal_ptr(out);
	return 0;
}

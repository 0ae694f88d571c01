/*
 * k8c-host-local configuration: the `ipam` section of a network config, read with the same keys,
 * defaults and validation as the reference host-local (containernetworking/plugins
 * plugins/ipam/host-local/backend/allocator/config.go, range.go, range_set.go).
 */
#ifndef K8C_HL_CONFIG_H
#define K8C_HL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "cni_types.h"
#include "error.h"
#include "ipaddr.h"

#define HL_DEFAULT_DATA_DIR	   "/var/lib/cni/networks"
#define HL_DEFAULT_LOCK_TIMEOUT_MS 10000

/* One range: addresses start..end (inclusive) of subnet; gateway is never handed out. */
struct hl_range {
	struct k8c_ipnet subnet; /* network address with its prefix */
	struct k8c_ipnet start;	 /* plain addresses (prefix -1) */
	struct k8c_ipnet end;
	struct k8c_ipnet gateway;
};

/* A range set: one address per ADD comes from each set (dual stack = one v4 and one v6 set). */
struct hl_rangeset {
	struct hl_range *ranges;
	size_t n;
};

struct hl_config {
	char *name;	   /* network name: the store directory under data_dir */
	char *version;	   /* cniVersion of the request, for the result */
	char *data_dir;	   /* ipam.dataDir or HL_DEFAULT_DATA_DIR */
	char *resolv_conf; /* ipam.resolvConf, NULL when unset */
	struct hl_rangeset *sets;
	size_t n_sets;
	struct cni_route *routes; /* ipam.routes */
	size_t n_routes;
	struct k8c_ipnet *requested; /* CNI_ARGS IP, args.cni.ips, runtimeConfig.ips; no dups */
	size_t n_requested;
	long lock_timeout_ms; /* ipam.lockTimeoutMs (k8c extension) */
};

/*
 * Read conf (the whole stdin object) into cfg. env_ip is the value of CNI_ARGS IP (may be NULL;
 * a comma-separated list is accepted). Errors carry CNI_ERR_INVALID_CONFIG (or
 * CNI_ERR_INVALID_ENV for CNI_ARGS) and name the key and value. On failure cfg is left empty.
 */
int hl_config_parse(json_t *conf, const char *env_ip, struct hl_config *cfg, struct k8c_error *err);
/* Release everything cfg owns. */
void hl_config_free(struct hl_config *cfg);

/* Whether ip lies in the range (same family, in subnet, between start and end). */
bool hl_range_contains(const struct hl_range *r, const struct k8c_ipnet *ip);
/* The range of set holding ip, or NULL. */
const struct hl_range *hl_rangeset_find(const struct hl_rangeset *set, const struct k8c_ipnet *ip);
/* "start-end,start-end" as the reference prints a range set in messages; caller frees. */
char *hl_rangeset_format(const struct hl_rangeset *set);
/* Number of allocatable addresses of the set (gateway excluded), saturating at UINT64_MAX. */
unsigned long long hl_rangeset_capacity(const struct hl_rangeset *set);

/* Parse a resolv.conf into a result "dns" object as the reference does (new reference). */
int hl_resolv_conf_parse(const char *path, json_t **dns, struct k8c_error *err);

#endif

/*
 * The CNI result and error model (spec 0.3.0 - 1.1.0), shared by our plugins and, later, by the
 * runtime side in the agent. A result is parsed from any supported version and printed in the
 * version the caller asks for.
 */
#ifndef K8C_CNI_TYPES_H
#define K8C_CNI_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"
#include "ipaddr.h"

/* Error codes of the spec ("Error" section). */
enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	CNI_ERR_LIMITED = 51,
	CNI_ERR_PLUGIN = 100, /* first plugin-specific code */
};

#define CNI_LATEST_VERSION "1.1.0"
/* NULL-terminated, oldest first. */
extern const char *const cni_supported_versions[];

/* Whether v is one of cni_supported_versions. */
bool cni_version_supported(const char *v);
/* Compare two "x.y.z" versions: <0, 0, >0 (unparsable sorts lowest). */
int cni_version_cmp(const char *a, const char *b);

struct cni_interface {
	char *name;
	char *mac;     /* NULL when none */
	char *sandbox; /* NULL for host interfaces */
	int mtu;       /* 0: unset (1.1) */
	char *socket_path;
	char *pci_id;
};

struct cni_ipconfig {
	struct k8c_ipnet address; /* with prefix */
	bool has_gateway;
	struct k8c_ipnet gateway;
	int interface; /* index into interfaces, -1 when none */
};

struct cni_route {
	struct k8c_ipnet dst; /* with prefix */
	bool has_gw;
	struct k8c_ipnet gw;
	int mtu, advmss, priority, table; /* 0: unset (1.1 fields) */
	bool has_scope;
	int scope;
};

struct cni_result {
	struct cni_interface *interfaces;
	size_t n_interfaces;
	struct cni_ipconfig *ips;
	size_t n_ips;
	struct cni_route *routes;
	size_t n_routes;
	json_t *dns; /* owned, may be NULL */
};

/* Parse a result of any supported version (as stdout of a plugin or prevResult). */
int cni_result_parse(json_t *j, struct cni_result *out, struct k8c_error *err);
/* Encode for version: 0.3.x/0.4.0 carry "version" in ips; 1.1.0 adds route and interface
 * fields. Returns a new reference. */
json_t *cni_result_to_json(const struct cni_result *r, const char *version);
void cni_result_free(struct cni_result *r);
/* Free and forget the interfaces (their array is kept for reuse); ips' indices then dangle. */
void cni_result_drop_interfaces(struct cni_result *r);
/* Append an interface (strings copied, NULL allowed); returns its index. */
int cni_result_add_interface(struct cni_result *r, const char *name, const char *mac,
			     const char *sandbox);
struct cni_ipconfig *cni_result_add_ip(struct cni_result *r);
struct cni_route *cni_result_add_route(struct cni_result *r);

/* {"cniVersion", "code", "msg", "details"}: a new reference. */
json_t *cni_error_json(const char *version, int code, const char *msg, const char *details);

#endif

/* k8c-bridge network configuration: every key of the reference bridge plugin, same meaning. */
#ifndef K8C_BR_CONFIG_H
#define K8C_BR_CONFIG_H

#include <stdbool.h>
#include <jansson.h>

#include "error.h"
#include "ipaddr.h"
#include "nft_masq.h"
#include "plugin.h"

struct br_config {
	const char *bridge; /* default "cni0" */
	bool is_gateway;
	bool is_default_gateway; /* implies is_gateway */
	bool force_address;
	bool ip_masq;
	const char *ip_masq_backend; /* "iptables", "nftables" or NULL: we always use nftables */
	/* "ipMasqExceptions" (k8c): destinations never masqueraded, e.g. the cluster CIDR */
	struct k8c_ipnet masq_except[CNI_MASQ_MAX_EXCEPT];
	size_t n_masq_except;
	int mtu; /* 0: kernel default */
	bool hairpin_mode;
	bool promisc_mode;
	int vlan;	 /* 0: none */
	int *vlan_trunk; /* sorted unique VLAN ids */
	size_t n_vlan_trunk;
	bool preserve_default_vlan; /* default true */
	bool enable_dad;
	bool macspoofchk;
	bool disable_container_interface;
	bool port_isolation;
	json_t *ipam;	       /* borrowed; NULL or {} means L2 only */
	const char *ipam_type; /* NULL when L2 only */
	char mac[18];	       /* requested container MAC ("" when none), normalised lower case */
	json_t *dns;	       /* borrowed; the conf's "dns" when set */
};

/* Parse and validate req->conf (and CNI_ARGS / args / runtimeConfig for the MAC). Errors carry
 * CNI_ERR_INVALID_CONFIG and name the key. */
int br_config_parse(const struct cni_request *req, struct br_config *c, struct k8c_error *err);
void br_config_free(struct br_config *c);
/* Normalise a MAC "AA:bb:..." to "aa:bb:..."; -1 when not a 6-byte MAC. */
int br_mac_parse(const char *s, char out[18], unsigned char bytes[6]);

#endif

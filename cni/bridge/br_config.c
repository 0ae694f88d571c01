#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "cleanup.h"
#include "jsonutil.h"

int br_mac_parse(const char *s, char out[18], unsigned char bytes[6])
{
	unsigned int b[6];
	int n = 0, i;

	if (!s || strlen(s) != 17)
		return -1;
	for (i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':' && s[i] != '-')
				return -1;
		} else if (!isxdigit((unsigned char)s[i])) {
			return -1;
		}
	}
	if (sscanf(s, "%2x%*c%2x%*c%2x%*c%2x%*c%2x%*c%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5], &n) != 6 ||
	    n != 17)
		return -1;
	for (i = 0; i < 6; i++)
		if (bytes)
			bytes[i] = (unsigned char)b[i];
	if (out)
		snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
			 b[5]);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* vlanTrunk: [{"id": N} | {"minID": A, "maxID": B}], ids 1..4094 (reference collectVlanTrunk). */
static int parse_trunk(json_t *arr, struct br_config *c, struct k8c_error *err)
{
	unsigned char seen[4095] = {0};
	size_t i, n = 0;
	json_t *v;
	int id;

	json_array_foreach(arr, i, v)
	{
		long long lo, hi, one;
		json_t *jmin, *jmax;

		if (!json_is_object(v))
			return k8c_error_set(err, 0, "\"vlanTrunk\"[%zu]: expected an object", i);
		if (k8c_json_int(v, "minID", &lo, -1, err) < 0 ||
		    k8c_json_int(v, "maxID", &hi, -1, err) < 0 ||
		    k8c_json_int(v, "id", &one, -1, err) < 0)
			return k8c_error_wrap(err, "\"vlanTrunk\"[%zu]", i);
		jmin = json_object_get(v, "minID");
		jmax = json_object_get(v, "maxID");
		if (!!jmin != !!jmax)
			return k8c_error_set(err, 0,
					     "\"vlanTrunk\"[%zu]: minID and maxID must be set "
					     "together, %s is missing",
					     i, jmin ? "maxID" : "minID");
		if (jmin) {
			if (lo <= 0 || lo > 4094)
				return k8c_error_set(err, 0,
						     "\"vlanTrunk\"[%zu]: minID %lld is "
						     "not in 1..4094",
						     i, lo);
			if (hi <= 0 || hi > 4094)
				return k8c_error_set(err, 0,
						     "\"vlanTrunk\"[%zu]: maxID %lld is "
						     "not in 1..4094",
						     i, hi);
			if (hi < lo)
				return k8c_error_set(err, 0,
						     "\"vlanTrunk\"[%zu]: minID %lld is greater "
						     "than maxID %lld",
						     i, lo, hi);
			for (id = (int)lo; id <= (int)hi; id++)
				seen[id] = 1;
		}
		if (json_object_get(v, "id")) {
			if (one <= 0 || one > 4094)
				return k8c_error_set(
					err, 0, "\"vlanTrunk\"[%zu]: id %lld is not in 1..4094", i,
					one);
			seen[one] = 1;
		}
	}
	for (id = 1; id <= 4094; id++)
		n += seen[id];
	if (!n)
		return 0;
	c->vlan_trunk = k8c_xcalloc(n, sizeof(int));
	for (id = 1; id <= 4094; id++)
		if (seen[id])
			c->vlan_trunk[c->n_vlan_trunk++] = id;
	qsort(c->vlan_trunk, c->n_vlan_trunk, sizeof(int), cmp_int);
	return 0;
}

static int parse_mac(const struct cni_request *req, struct br_config *c, struct k8c_error *err)
{
	const char *src = NULL, *mac = NULL, *s;
	json_t *args, *cni;

	/* Precedence as the reference: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC. */
	s = cni_request_arg(req, "MAC");
	if (s && *s) {
		mac = s;
		src = "CNI_ARGS MAC";
	}
	args = json_object_get(req->conf, "args");
	cni = json_is_object(args) ? json_object_get(args, "cni") : NULL;
	if (k8c_json_string(cni, "mac", &s, NULL, err) < 0)
		return k8c_error_wrap(err, "\"args\".\"cni\"");
	if (s && *s) {
		mac = s;
		src = "args.cni.mac";
	}
	if (k8c_json_string(req->runtime_config, "mac", &s, NULL, err) < 0)
		return k8c_error_wrap(err, "\"runtimeConfig\"");
	if (s && *s) {
		mac = s;
		src = "runtimeConfig.mac";
	}
	if (!mac)
		return 0;
	if (br_mac_parse(mac, c->mac, NULL) < 0)
		return k8c_error_set(err, 0, "%s: \"%s\" is not a MAC address", src, mac);
	return 0;
}

static int parse_masq_except(json_t *arr, struct br_config *c, struct k8c_error *err)
{
	size_t i;
	json_t *v;

	if (json_array_size(arr) > CNI_MASQ_MAX_EXCEPT)
		return k8c_error_set(err, 0, "\"ipMasqExceptions\": %zu prefixes, at most %d",
				     json_array_size(arr), CNI_MASQ_MAX_EXCEPT);
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || k8c_ipnet_parse(s, 1, &c->masq_except[i]) < 0)
			return k8c_error_set(err, 0,
					     "\"ipMasqExceptions\"[%zu]: not a prefix like "
					     "10.244.0.0/16",
					     i);
		k8c_ipnet_mask(&c->masq_except[i]);
	}
	c->n_masq_except = json_array_size(arr);
	return 0;
}

int br_config_parse(const struct cni_request *req, struct br_config *c, struct k8c_error *err)
{
	json_t *conf = req->conf, *trunk, *except;
	long long mtu, vlan;

	memset(c, 0, sizeof(*c));
	if (k8c_json_string(conf, "bridge", &c->bridge, "cni0", err) < 0 ||
	    k8c_json_bool(conf, "isGateway", &c->is_gateway, false, err) < 0 ||
	    k8c_json_bool(conf, "isDefaultGateway", &c->is_default_gateway, false, err) < 0 ||
	    k8c_json_bool(conf, "forceAddress", &c->force_address, false, err) < 0 ||
	    k8c_json_bool(conf, "ipMasq", &c->ip_masq, false, err) < 0 ||
	    k8c_json_string(conf, "ipMasqBackend", &c->ip_masq_backend, NULL, err) < 0 ||
	    k8c_json_array(conf, "ipMasqExceptions", &except, err) < 0 ||
	    k8c_json_int(conf, "mtu", &mtu, 0, err) < 0 ||
	    k8c_json_bool(conf, "hairpinMode", &c->hairpin_mode, false, err) < 0 ||
	    k8c_json_bool(conf, "promiscMode", &c->promisc_mode, false, err) < 0 ||
	    k8c_json_int(conf, "vlan", &vlan, 0, err) < 0 ||
	    k8c_json_array(conf, "vlanTrunk", &trunk, err) < 0 ||
	    k8c_json_bool(conf, "preserveDefaultVlan", &c->preserve_default_vlan, true, err) < 0 ||
	    k8c_json_bool(conf, "enabledad", &c->enable_dad, false, err) < 0 ||
	    k8c_json_bool(conf, "macspoofchk", &c->macspoofchk, false, err) < 0 ||
	    k8c_json_bool(conf, "disableContainerInterface", &c->disable_container_interface, false,
			  err) < 0 ||
	    k8c_json_bool(conf, "portIsolation", &c->port_isolation, false, err) < 0 ||
	    k8c_json_object(conf, "ipam", &c->ipam, err) < 0 ||
	    k8c_json_object(conf, "dns", &c->dns, err) < 0)
		goto fail;
	if (!*c->bridge || strlen(c->bridge) > 15 || strchr(c->bridge, '/') ||
	    strchr(c->bridge, ' ')) {
		k8c_error_set(err, 0, "\"bridge\": \"%s\" is not a valid interface name",
			      c->bridge);
		goto fail;
	}
	if (c->is_default_gateway)
		c->is_gateway = true;
	if (c->ip_masq_backend && strcmp(c->ip_masq_backend, "iptables") &&
	    strcmp(c->ip_masq_backend, "nftables")) {
		k8c_error_set(err, 0,
			      "\"ipMasqBackend\": \"%s\" is not \"iptables\" or \"nftables\"",
			      c->ip_masq_backend);
		goto fail;
	}
	if (mtu != 0 && (mtu < 68 || mtu > 65535)) {
		k8c_error_set(err, 0, "\"mtu\": %lld is not in 68..65535", mtu);
		goto fail;
	}
	c->mtu = (int)mtu;
	if (vlan < 0 || vlan > 4094) {
		k8c_error_set(err, 0, "\"vlan\": invalid VLAN ID %lld (must be between 0 and 4094)",
			      vlan);
		goto fail;
	}
	c->vlan = (int)vlan;
	if (trunk && parse_trunk(trunk, c, err) < 0)
		goto fail;
	if (except && parse_masq_except(except, c, err) < 0)
		goto fail;
	if (c->vlan && c->n_vlan_trunk) {
		k8c_error_set(err, 0, "cannot set \"vlan\" and \"vlanTrunk\" at the same time");
		goto fail;
	}
	if (c->hairpin_mode && c->promisc_mode) {
		k8c_error_set(err, 0,
			      "cannot set \"hairpinMode\" and \"promiscMode\" at the same time");
		goto fail;
	}
	if (c->ipam && k8c_json_string(c->ipam, "type", &c->ipam_type, NULL, err) < 0) {
		k8c_error_wrap(err, "\"ipam\"");
		goto fail;
	}
	if (c->ipam_type && !*c->ipam_type)
		c->ipam_type = NULL;
	if (c->disable_container_interface && c->ipam_type) {
		k8c_error_set(err, 0,
			      "\"disableContainerInterface\" cannot be used with IPAM (\"ipam\" "
			      "type \"%s\")",
			      c->ipam_type);
		goto fail;
	}
	if (parse_mac(req, c, err) < 0)
		goto fail;
	return 0;
fail:
	err->code = CNI_ERR_INVALID_CONFIG;
	k8c_error_wrap(err, "network \"%s\"", req->name ? req->name : "");
	br_config_free(c);
	return -1;
}

void br_config_free(struct br_config *c)
{
	free(c->vlan_trunk);
	c->vlan_trunk = NULL;
	c->n_vlan_trunk = 0;
}

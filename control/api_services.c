/*
 * Service ClusterIP allocation from 10.96.0.0/12. The allocation lives in the Service object
 * itself: the used set is read from the stored Services at each allocation (one list), so it is
 * as persistent as the Services and released when one is deleted. Calls run on the loop thread
 * one at a time, so two creates cannot pick the same address.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>

#include "api_registry.h"
#include "cleanup.h"
#include "store.h"

#define CIDR_BASE 0x0a600000u /* 10.96.0.0 */
#define CIDR_BITS 12
#define CIDR_SIZE (1u << (32 - CIDR_BITS))

static bool parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

/* Whether ip is a usable address of the range (not the network or broadcast address). */
static bool in_range(uint32_t ip)
{
	return ip > CIDR_BASE && ip < CIDR_BASE + CIDR_SIZE - 1;
}

int api_services_allocate(struct store *store, json_t *svc, json_t *causes)
{
	json_t *spec = json_object_get(svc, "spec");
	const char *type = json_string_value(json_object_get(spec, "type"));
	const char *want = json_string_value(json_object_get(spec, "clusterIP"));
	struct k8c_error err = K8C_ERROR_INIT;
	struct store_list l = {0};
	uint32_t ip = 0, req = 0;
	unsigned char *used = NULL;
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if ((type && strcmp(type, "ExternalName") == 0) || (want && strcmp(want, "None") == 0))
		return 0;
	if (want && *want && (!parse_ip(want, &req) || !in_range(req))) {
		api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
			      "Invalid value: []string{\"%s\"}: failed to allocate IP %s: the "
			      "provided IP (%s) is not in the valid range. The range of valid IPs "
			      "is 10.96.0.0/12",
			      want, want, want);
		return -1;
	}
	if (store_list(store, "/registry/services/", 0, 0, NULL, &l, &err) < 0) {
		api_cause_add(causes, "InternalError", "spec.clusterIP", "Internal error: %s",
			      err.msg ? err.msg : "store");
		k8c_error_clear(&err);
		return -1;
	}
	used = k8c_xmalloc(CIDR_SIZE / 8);
	memset(used, 0, CIDR_SIZE / 8);
	for (size_t i = 0; i < l.n; i++) {
		_cleanup_json_ json_t *o =
			json_loadb(l.items[i].value, l.items[i].value_len, 0, NULL);
		uint32_t u;

		if (parse_ip(json_string_value(
				     json_object_get(json_object_get(o, "spec"), "clusterIP")),
			     &u) &&
		    in_range(u))
			used[(u - CIDR_BASE) / 8] |= (unsigned char)(1u << ((u - CIDR_BASE) % 8));
	}
	store_list_free(&l);
	if (req) {
		if (used[(req - CIDR_BASE) / 8] & (1u << ((req - CIDR_BASE) % 8))) {
			api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
				      "Invalid value: []string{\"%s\"}: failed to allocate IP %s: "
				      "provided IP is already allocated",
				      want, want);
			free(used);
			return -1;
		}
		ip = req;
	} else {
		/* random from the upper part of the range; the lower 256 are for static IPs */
		uint32_t start;

		if (RAND_bytes((unsigned char *)&start, sizeof(start)) != 1)
			abort();
		start = 256 + start % (CIDR_SIZE - 257);
		for (uint32_t k = 0; k < CIDR_SIZE - 257; k++) {
			uint32_t off = 256 + (start - 256 + k) % (CIDR_SIZE - 257);

			if (!(used[off / 8] & (1u << (off % 8)))) {
				ip = CIDR_BASE + off;
				break;
			}
		}
		if (!ip) {
			api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs",
				      "Internal error: range is full");
			free(used);
			return -1;
		}
	}
	free(used);
	a.s_addr = htonl(ip);
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	json_object_set_new(spec, "clusterIP", json_string(buf));
	json_object_set_new(spec, "clusterIPs", json_pack("[s]", buf));
	return 0;
}

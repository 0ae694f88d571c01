/*
 * --nodeport-addresses (kube-proxy's flag): the node addresses NodePorts answer on. Entries are
 * IPv4 CIDRs (a bare address is a /32) and `primary`, the Node object's InternalIP(s). The
 * addresses used are the node's local IPv4 addresses inside any CIDR, plus the primary ones;
 * the caller re-resolves them when the node's addresses or its Node object change.
 */
#ifndef K8C_PROXY_NODEADDR_H
#define K8C_PROXY_NODEADDR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "ipaddr.h"

struct proxy_npaddr {
	struct k8c_ipnet *cidrs;
	size_t n_cidrs;
	bool primary;		       /* `primary` was listed */
	struct k8c_ipnet *primary_ips; /* from the Node (proxy_npaddr_set_node) */
	size_t n_primary;
};

/* Parse a comma-separated list into np (zeroed by the caller); -1 with err on a bad entry. */
int proxy_npaddr_parse(const char *list, struct proxy_npaddr *np, struct k8c_error *err);
/* The Node object's primary IPv4 addresses (InternalIP, else ExternalIP); node NULL: none.
 * Returns whether they changed. */
bool proxy_npaddr_set_node(struct proxy_npaddr *np, const json_t *node);
/* The addresses NodePorts answer on, sorted, as /-1 (exact) IPv4 entries, read in the calling
 * thread's network namespace: *out malloc'd (NULL when none); returns the count or -1 (err). */
ssize_t proxy_npaddr_resolve(const struct proxy_npaddr *np, struct k8c_ipnet **out,
			     struct k8c_error *err);
void proxy_npaddr_free(struct proxy_npaddr *np);

/* A non-blocking rtnetlink socket, in the calling thread's network namespace, that becomes
 * readable when an IPv4 address is added or removed; -1 with err. */
int proxy_npaddr_monitor(struct k8c_error *err);
/* Read and drop what the monitor socket has queued. */
void proxy_npaddr_drain(int fd);

#endif

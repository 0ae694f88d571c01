/* IPv4/IPv6 addresses and prefixes, parsed and printed without the caller minding the family. */
#ifndef K8C_IPADDR_H
#define K8C_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define K8C_IPNET_STRLEN 64 /* INET6_ADDRSTRLEN + "/128" with room to spare */

/* An address with an optional prefix length (prefix < 0: a plain address). */
struct k8c_ipnet {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; the first 4 bytes for AF_INET */
	int prefix;
};

/* Parse "10.1.2.3", "10.1.2.0/24", "fd00::1/64". want_prefix: 1 required, 0 forbidden, -1 either.
 * Returns 0 or -1 (the string is not such an address). */
int k8c_ipnet_parse(const char *s, int want_prefix, struct k8c_ipnet *out);
/* Print as "addr" or "addr/prefix" into buf (K8C_IPNET_STRLEN bytes); returns buf. */
char *k8c_ipnet_format(const struct k8c_ipnet *n, char *buf);
/* Print the address only, never the prefix. */
char *k8c_ip_format(const struct k8c_ipnet *n, char *buf);
/* Number of address bytes of the family (4 or 16). */
size_t k8c_ip_len(int family);
/* Whether ip lies inside the prefix net (same family). */
bool k8c_ipnet_contains(const struct k8c_ipnet *net, const struct k8c_ipnet *ip);
/* Whether two prefixes share any address. */
bool k8c_ipnet_overlaps(const struct k8c_ipnet *a, const struct k8c_ipnet *b);
/* Zero the host bits: 10.1.2.3/24 -> 10.1.2.0/24. */
void k8c_ipnet_mask(struct k8c_ipnet *n);
/* Compare the addresses only (family first): <0, 0, >0. */
int k8c_ip_cmp(const struct k8c_ipnet *a, const struct k8c_ipnet *b);
/* Add delta (may be negative) to the address, in place; returns -1 on wrap-around. */
int k8c_ip_add(struct k8c_ipnet *ip, int64_t delta);
/* Equality of family, address and prefix. */
bool k8c_ipnet_equal(const struct k8c_ipnet *a, const struct k8c_ipnet *b);

struct k8c_error;
#define K8C_LISTEN_REUSEPORT 1 /* several sockets on one address (one per serving thread) */
/*
 * A listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR) on the IPv4 or IPv6
 * address addr and port (0: the kernel picks; *bound, when not NULL, gets the port bound).
 * Returns the fd, or -1 with err naming the address, port and cause.
 */
int k8c_tcp_listen(const char *addr, int port, int flags, int *bound, struct k8c_error *err);

#endif

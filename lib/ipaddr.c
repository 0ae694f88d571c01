#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "ipaddr.h"

size_t k8c_ip_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

int k8c_ipnet_parse(const char *s, int want_prefix, struct k8c_ipnet *out)
{
	char buf[K8C_IPNET_STRLEN];
	const char *slash;
	size_t alen;

	if (!s)
		return -1;
	memset(out, 0, sizeof(*out));
	out->prefix = -1;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	if (slash) {
		const char *p = slash + 1;
		char *end;
		long v;

		if (want_prefix == 0 || *p < '0' || *p > '9')
			return -1;
		v = strtol(p, &end, 10);
		if (*end || v < 0 || v > (long)k8c_ip_len(out->family) * 8)
			return -1;
		if (end - p > 1 && *p == '0')
			return -1;
		out->prefix = (int)v;
	} else if (want_prefix == 1) {
		return -1;
	}
	return 0;
}

char *k8c_ip_format(const struct k8c_ipnet *n, char *buf)
{
	if (!inet_ntop(n->family, n->addr, buf, K8C_IPNET_STRLEN))
		snprintf(buf, K8C_IPNET_STRLEN, "?");
	return buf;
}

char *k8c_ipnet_format(const struct k8c_ipnet *n, char *buf)
{
	size_t l;

	k8c_ip_format(n, buf);
	if (n->prefix >= 0) {
		l = strlen(buf);
		snprintf(buf + l, K8C_IPNET_STRLEN - l, "/%d", n->prefix);
	}
	return buf;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rem = bits % 8;

	if (memcmp(a, b, full))
		return false;
	if (rem) {
		unsigned char mask = (unsigned char)(0xff << (8 - rem));

		if ((a[full] & mask) != (b[full] & mask))
			return false;
	}
	return true;
}

bool k8c_ipnet_contains(const struct k8c_ipnet *net, const struct k8c_ipnet *ip)
{
	if (net->family != ip->family)
		return false;
	return prefix_match(net->addr, ip->addr,
			    net->prefix < 0 ? (int)k8c_ip_len(net->family) * 8 : net->prefix);
}

bool k8c_ipnet_overlaps(const struct k8c_ipnet *a, const struct k8c_ipnet *b)
{
	int bits;

	if (a->family != b->family)
		return false;
	bits = a->prefix < b->prefix ? a->prefix : b->prefix;
	if (bits < 0)
		bits = (int)k8c_ip_len(a->family) * 8;
	return prefix_match(a->addr, b->addr, bits);
}

void k8c_ipnet_mask(struct k8c_ipnet *n)
{
	int len = (int)k8c_ip_len(n->family), i;

	if (n->prefix < 0)
		return;
	for (i = 0; i < len; i++) {
		int bits = n->prefix - i * 8;

		if (bits <= 0)
			n->addr[i] = 0;
		else if (bits < 8)
			n->addr[i] &= (unsigned char)(0xff << (8 - bits));
	}
}

int k8c_ip_cmp(const struct k8c_ipnet *a, const struct k8c_ipnet *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, k8c_ip_len(a->family));
}

int k8c_ip_add(struct k8c_ipnet *ip, int64_t delta)
{
	int len = (int)k8c_ip_len(ip->family), i;
	int64_t carry = delta;

	for (i = len - 1; i >= 0 && carry != 0; i--) {
		int64_t v = (int64_t)ip->addr[i] + (carry % 256);

		carry /= 256;
		if (v < 0) {
			v += 256;
			carry -= 1;
		} else if (v > 255) {
			v -= 256;
			carry += 1;
		}
		ip->addr[i] = (unsigned char)v;
	}
	return carry != 0 ? -1 : 0;
}

bool k8c_ipnet_equal(const struct k8c_ipnet *a, const struct k8c_ipnet *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       !memcmp(a->addr, b->addr, k8c_ip_len(a->family));
}

int k8c_tcp_listen(const char *addr, int port, int flags, int *bound, struct k8c_error *err)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;
	int one = 1;
	_cleanup_close_ int fd = -1;

	if (port < 0 || port > 65535)
		return k8c_error_set(err, 0, "port %d: not 0..65535", port);
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		sslen = sizeof(*a4);
	} else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*a6);
	} else {
		return k8c_error_set(err, 0, "address %s: not an IP address", addr);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "socket for %s port %d", addr, port);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (flags & K8C_LISTEN_REUSEPORT)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		return k8c_error_errno(err, 0, errno, "bind %s port %d", addr, port);
	if (listen(fd, SOMAXCONN) < 0)
		return k8c_error_errno(err, 0, errno, "listen %s port %d", addr, port);
	if (bound) {
		sslen = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &sslen);
		*bound = ntohs(ss.ss_family == AF_INET6 ? a6->sin6_port : a4->sin_port);
	}
	return k8c_steal_fd(fd);
}

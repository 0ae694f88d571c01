#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "cleanup.h"
#include "nodeaddr.h"

int proxy_npaddr_parse(const char *list, struct proxy_npaddr *np, struct k8c_error *err)
{
	_cleanup_free_ char *copy = k8c_xstrdup(list);
	char *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct k8c_ipnet n;

		if (strcmp(t, "primary") == 0) {
			np->primary = true;
			continue;
		}
		if (k8c_ipnet_parse(t, -1, &n) < 0 || n.family != AF_INET)
			return k8c_error_set(err, 0,
					     "--nodeport-addresses: %s: not an IPv4 CIDR, address "
					     "or \"primary\"",
					     t);
		if (n.prefix < 0)
			n.prefix = 32;
		k8c_ipnet_mask(&n);
		np->cidrs = k8c_xrealloc(np->cidrs, (np->n_cidrs + 1) * sizeof(n));
		np->cidrs[np->n_cidrs++] = n;
	}
	if (!np->primary && np->n_cidrs == 0)
		return k8c_error_set(err, 0, "--nodeport-addresses %s: empty", list);
	return 0;
}

static int cmp_ip(const void *a, const void *b)
{
	return memcmp(((const struct k8c_ipnet *)a)->addr, ((const struct k8c_ipnet *)b)->addr, 4);
}

static void add_ip(struct k8c_ipnet **v, size_t *n, const struct k8c_ipnet *ip)
{
	for (size_t i = 0; i < *n; i++)
		if (memcmp((*v)[i].addr, ip->addr, 4) == 0)
			return;
	*v = k8c_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n] = *ip;
	(*v)[*n].prefix = -1;
	(*n)++;
}

bool proxy_npaddr_set_node(struct proxy_npaddr *np, const json_t *node)
{
	struct k8c_ipnet *v = NULL;
	size_t n = 0;
	bool changed;

	for (int pass = 0; pass < 2 && n == 0 && node; pass++) {
		json_t *a, *addrs = json_object_get(json_object_get(node, "status"), "addresses");
		size_t i;

		json_array_foreach(addrs, i, a)
		{
			const char *type = json_string_value(json_object_get(a, "type"));
			const char *addr = json_string_value(json_object_get(a, "address"));
			struct k8c_ipnet ip;

			if (!type || !addr ||
			    strcmp(type, pass == 0 ? "InternalIP" : "ExternalIP") != 0 ||
			    k8c_ipnet_parse(addr, 0, &ip) < 0 || ip.family != AF_INET)
				continue;
			add_ip(&v, &n, &ip);
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_ip);
	changed = n != np->n_primary || (n && memcmp(v, np->primary_ips, n * sizeof(*v)) != 0);
	free(np->primary_ips);
	np->primary_ips = v;
	np->n_primary = n;
	return changed;
}

ssize_t proxy_npaddr_resolve(const struct proxy_npaddr *np, struct k8c_ipnet **out,
			     struct k8c_error *err)
{
	struct k8c_ipnet *v = NULL;
	size_t n = 0;

	if (np->n_cidrs) {
		struct ifaddrs *ifa;

		if (getifaddrs(&ifa) < 0)
			return k8c_error_errno(err, 0, errno, "getifaddrs");
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			struct k8c_ipnet ip = {.family = AF_INET, .prefix = -1};

			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
				continue;
			memcpy(ip.addr, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
			for (size_t c = 0; c < np->n_cidrs; c++)
				if (k8c_ipnet_contains(&np->cidrs[c], &ip)) {
					add_ip(&v, &n, &ip);
					break;
				}
		}
		freeifaddrs(ifa);
	}
	for (size_t i = 0; np->primary && i < np->n_primary; i++)
		add_ip(&v, &n, &np->primary_ips[i]);
	if (n)
		qsort(v, n, sizeof(*v), cmp_ip);
	*out = v;
	return (ssize_t)n;
}

void proxy_npaddr_free(struct proxy_npaddr *np)
{
	free(np->cidrs);
	free(np->primary_ips);
	memset(np, 0, sizeof(*np));
}

int proxy_npaddr_monitor(struct k8c_error *err)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "rtnetlink socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return k8c_error_errno(err, 0, e, "rtnetlink bind (address changes)");
	}
	return fd;
}

void proxy_npaddr_drain(int fd)
{
	char buf[8192];

	/* the messages do not matter: the addresses are read again (an overrun, ENOBUFS, too) */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0 || errno == ENOBUFS)
		;
}

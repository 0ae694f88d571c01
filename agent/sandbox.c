/* The pod sandbox: a named network namespace per pod, and its /etc files (docs/agent.md). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "netns.h"
#include "objutil.h"
#include "pod.h"

/* As `ip netns add`: a new namespace (lo up) bind-mounted on path. */
int sandbox_netns_create(const char *path, struct k8c_error *err)
{
	_cleanup_close_ int fd = -1, saved = -1;
	struct ifreq ifr = {0};
	int s, rc = 0;

	if (k8c_mkdir_parents(path, 0755) < 0)
		return k8c_error_errno(err, 0, errno, "netns dir of %s", path);
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "create %s", path);
	close(k8c_steal_fd(fd));
	saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return k8c_error_errno(err, 0, errno, "open this thread's netns");
	if (unshare(CLONE_NEWNET) < 0) {
		rc = k8c_error_errno(err, 0, errno, "unshare(CLONE_NEWNET)");
		goto out;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		rc = k8c_error_errno(err, 0, errno, "bind-mount the new netns on %s", path);
		goto back;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0))
		rc = k8c_error_errno(err, 0, errno, "set lo up in %s", path);
	if (s >= 0)
		close(s);
back:
	if (setns(saved, CLONE_NEWNET) < 0)
		abort(); /* a worker left in the pod's namespace would corrupt everything after */
out:
	if (rc < 0) {
		umount2(path, MNT_DETACH);
		unlink(path);
	}
	return rc;
}

int sandbox_netns_delete(const char *path, struct k8c_error *err)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return k8c_error_errno(err, 0, errno, "unmount %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return k8c_error_errno(err, 0, errno, "remove %s", path);
	return 0;
}

static int write_atomic(const char *path, const char *data, struct k8c_error *err)
{
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "we");

	if (!f)
		return k8c_error_errno(err, 0, errno, "write %s", tmp);
	fputs(data, f);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return k8c_error_errno(err, 0, errno, "write %s", path);
	}
	chmod(path, 0644);
	return 0;
}

int sandbox_write_etc(struct agent *a, json_t *pod, const char *ip, const char *dir,
		      struct k8c_error *err)
{
	const char *name = k8c_str_at(pod, "metadata.name");
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *host = k8c_str_at(pod, "spec.hostname") ?: name;
	const char *sub = k8c_str_at(pod, "spec.subdomain");
	const char *policy = k8c_str_at(pod, "spec.dnsPolicy") ?: "ClusterFirst";
	const char *domain = a->cfg->cluster_domain;
	_cleanup_free_ char *hosts = NULL, *resolv = NULL, *path = NULL, *hostname = NULL;
	size_t i;
	json_t *ha;
	char line[512];

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "mkdir %s", dir);
	hosts = k8c_xasprintf("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
			      "::1\tlocalhost ip6-localhost ip6-loopback\n"
			      "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n"
			      "fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
	if (ip && *ip) {
		char *h;

		if (sub && *sub)
			h = k8c_xasprintf("%s%s\t%s.%s.%s.svc.%s\t%s\n", hosts, ip, host, sub, ns,
					  domain, host);
		else
			h = k8c_xasprintf("%s%s\t%s\n", hosts, ip, host);
		free(hosts);
		hosts = h;
	}
	json_array_foreach(k8c_at(pod, "spec.hostAliases"), i, ha)
	{
		size_t k;
		json_t *hn;
		char *h;
		const char *aip = json_string_value(json_object_get(ha, "ip"));

		if (!aip)
			continue;
		snprintf(line, sizeof(line), "%s\t", aip);
		json_array_foreach(json_object_get(ha, "hostnames"), k, hn)
		{
			if (!json_string_value(hn))
				continue;
			strncat(line, json_string_value(hn), sizeof(line) - strlen(line) - 2);
			strncat(line, " ", sizeof(line) - strlen(line) - 1);
		}
		h = k8c_xasprintf("%s# Entries added by HostAliases.\n%s\n", hosts, line);
		free(hosts);
		hosts = h;
	}
	path = k8c_xasprintf("%s/hosts", dir);
	if (write_atomic(path, hosts, err) < 0)
		return -1;
	free(path);
	if (a->cfg->cluster_dns && strcmp(policy, "Default") != 0 && strcmp(policy, "None") != 0)
		resolv = k8c_xasprintf(
			"search %s.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n", ns, domain,
			domain, domain, a->cfg->cluster_dns);
	else {
		_cleanup_fclose_ FILE *f = fopen("/etc/resolv.conf", "re");
		size_t n = 0;
		char buf[4096];

		if (f)
			n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		resolv = k8c_xstrdup(buf);
	}
	{
		json_t *cfgj = k8c_at(pod, "spec.dnsConfig");

		if (cfgj && !strcmp(policy, "None")) {
			json_t *v;
			char *r = k8c_xstrdup("");

			json_array_foreach(json_object_get(cfgj, "nameservers"), i, v)
			{
				char *t = k8c_xasprintf("%snameserver %s\n", r,
							json_string_value(v) ?: "");
				free(r);
				r = t;
			}
			if (json_array_size(json_object_get(cfgj, "searches"))) {
				char *t = k8c_xasprintf("%ssearch", r);

				free(r);
				r = t;
				json_array_foreach(json_object_get(cfgj, "searches"), i, v)
				{
					t = k8c_xasprintf("%s %s", r, json_string_value(v) ?: "");
					free(r);
					r = t;
				}
				t = k8c_xasprintf("%s\n", r);
				free(r);
				r = t;
			}
			free(resolv);
			resolv = r;
		}
	}
	path = k8c_xasprintf("%s/resolv.conf", dir);
	if (write_atomic(path, resolv, err) < 0)
		return -1;
	free(path);
	path = k8c_xasprintf("%s/hostname", dir);
	hostname = k8c_xasprintf("%s\n", host);
	return write_atomic(path, hostname, err);
}

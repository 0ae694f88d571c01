/* The kernel objects of a local cluster: underlay bridge, node namespaces and their links,
 * host-gw routes (the vxlan overlay is cluster_vxlan.c); and their removal with the runc containers, mounts and cgroups the agents made
 * (docs/up.md). Links, addresses and routes are made with iproute2's `ip`. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cluster.h"
#include "fsutil.h"
#include "netns.h"

static char *read_fd(int fd)
{
	size_t n = 0, cap = 4096;
	char *buf = k8c_xmalloc(cap);
	ssize_t r;

	for (;;) {
		if (cap - n < 1024)
			buf = k8c_xrealloc(buf, cap *= 2);
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	return buf;
}

static char *argv_str(const char *const argv[])
{
	size_t len = 1;
	char *s, *p;

	for (int i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	p = s = k8c_xmalloc(len);
	for (int i = 0; argv[i]; i++)
		p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
	*p = 0;
	return s;
}

int net_run(const char *const argv[], char **out, struct k8c_error *err)
{
	int opipe[2], epipe[2], status;
	pid_t pid;
	_cleanup_free_ char *o = NULL, *e = NULL, *cmd = NULL;

	if (pipe2(opipe, O_CLOEXEC) < 0)
		return k8c_error_errno(err, 0, errno, "pipe");
	if (pipe2(epipe, O_CLOEXEC) < 0) {
		close(opipe[0]);
		close(opipe[1]);
		return k8c_error_errno(err, 0, errno, "pipe");
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(opipe[1], 1);
		dup2(epipe[1], 2);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "%s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(opipe[1]);
	close(epipe[1]);
	if (pid < 0) {
		close(opipe[0]);
		close(epipe[0]);
		return k8c_error_errno(err, 0, errno, "fork");
	}
	/* stdout first: the commands run here print little on stderr (no pipe deadlock) */
	o = read_fd(opipe[0]);
	e = read_fd(epipe[0]);
	close(opipe[0]);
	close(epipe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return k8c_error_errno(err, 0, errno, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t n = strlen(e);

		while (n && (e[n - 1] == '\n' || e[n - 1] == ' '))
			e[--n] = 0;
		cmd = argv_str(argv);
		return k8c_error_set(err, 0, "%s: %s%s%s", cmd,
				     WIFEXITED(status) ? "failed" : "killed", *e ? ": " : "", e);
	}
	if (out) {
		*out = o;
		o = NULL;
	}
	return 0;
}

/* net_run with the arguments inline, NULL-terminated. */
#define RUN(err, ...) net_run((const char *const[]){__VA_ARGS__, NULL}, NULL, err)

bool net_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static int parse_cidr(const char *cidr, uint32_t *addr, int *plen)
{
	char buf[32], *slash;
	struct in_addr a;

	snprintf(buf, sizeof(buf), "%s", cidr);
	if (!(slash = strchr(buf, '/')))
		return -1;
	*slash = 0;
	*plen = atoi(slash + 1);
	if (inet_pton(AF_INET, buf, &a) != 1 || *plen < 0 || *plen > 32)
		return -1;
	*addr = ntohl(a.s_addr);
	return 0;
}

static uint32_t mask_of(int plen)
{
	return plen == 0 ? 0 : 0xffffffffu << (32 - plen);
}

bool net_route_overlaps(const char *cidr)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifname[32];
	unsigned dst, mask;
	uint32_t a;
	int plen;

	if (!f || parse_cidr(cidr, &a, &plen) < 0)
		return true;
	if (!fgets(line, sizeof(line), f)) /* header */
		return true;
	while (fgets(line, sizeof(line), f)) {
		uint32_t d, m, common;

		if (sscanf(line, "%31s %x %*x %*x %*d %*d %*d %x", ifname, &dst, &mask) != 3)
			continue;
		if (mask == 0)
			continue; /* the default route */
		d = ntohl(dst);
		m = ntohl(mask);
		common = m & mask_of(plen); /* the shorter of the two prefixes */
		if ((d & common) == (a & common))
			return true;
	}
	return false;
}

int net_pick_subnet(char *subnet, size_t len, char *host_ip, size_t hlen, struct k8c_error *err)
{
	for (int x = 0; x < 256; x++) {
		char s[24];

		snprintf(s, sizeof(s), "10.250.%d.0/24", x);
		if (net_route_overlaps(s))
			continue;
		snprintf(subnet, len, "%s", s);
		snprintf(host_ip, hlen, "10.250.%d.1", x);
		return 0;
	}
	return k8c_error_set(err, 0, "no free /24 for the underlay in 10.250.0.0/16");
}

int net_pick_cluster_cidr(char *cidr, size_t len, struct k8c_error *err)
{
	for (int x = 244; x < 250; x++) {
		char s[24];

		snprintf(s, sizeof(s), "10.%d.0.0/16", x);
		if (net_route_overlaps(s))
			continue;
		snprintf(cidr, len, "%s", s);
		return 0;
	}
	return k8c_error_set(err, 0,
			     "no free pod CIDR among 10.244.0.0/16 .. 10.249.0.0/16 (other "
			     "clusters up?): choose one with --cluster-cidr");
}

int net_in_netns(const char *netns, int (*fn)(void *arg, struct k8c_error *err), void *arg,
		 struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("/run/netns/%s", netns);
	_cleanup_close_ int fd = k8c_netns_open(path, err);
	int saved = -1, ret;

	if (fd < 0 || k8c_netns_enter(fd, &saved, err) < 0)
		return -1;
	ret = fn(arg, err);
	k8c_netns_restore(&saved);
	return ret;
}

struct sysctl_arg {
	const char *key, *value;
};

static int sysctl_here(void *arg, struct k8c_error *err)
{
	const struct sysctl_arg *a = arg;

	return k8c_sysctl_write(a->key, a->value, err);
}

/* Write a sysctl inside the namespace `netns` (/run/netns/NAME). */
static int netns_sysctl(const char *netns, const char *key, const char *value,
			struct k8c_error *err)
{
	struct sysctl_arg a = {key, value};

	return net_in_netns(netns, sysctl_here, &a, err);
}

int net_underlay_up(const struct cluster *c, struct k8c_error *err)
{
	_cleanup_free_ char *addr = k8c_xasprintf("%s/24", c->host_ip);

	if (net_link_exists(c->bridge))
		return k8c_error_set(err, 0, "link %s exists already (another cluster's?)",
				     c->bridge);
	if (RUN(err, "ip", "link", "add", (char *)c->bridge, "type", "bridge") < 0 ||
	    RUN(err, "ip", "addr", "add", addr, "dev", (char *)c->bridge) < 0 ||
	    RUN(err, "ip", "link", "set", (char *)c->bridge, "up") < 0)
		return k8c_error_wrap(err, "underlay bridge %s", c->bridge);
	/* the cluster CIDR taken at once (net_routes keeps it): another `up` running meanwhile
	 * sees the route and picks another one, instead of the same in the seconds before the
	 * nodes' routes are in */
	if (RUN(err, "ip", "route", "replace", "unreachable", (char *)c->cluster_cidr) < 0)
		return -1;
	return 0;
}

int net_node_up(const struct cluster *c, const struct cluster_node *n, struct k8c_error *err)
{
	_cleanup_free_ char *addr = k8c_xasprintf("%s/24", n->ip);
	char *ns = (char *)n->netns;

	bool vxlan = !strcmp(c->pod_network, "vxlan");

	if (RUN(err, "ip", "netns", "add", ns) < 0 ||
	    RUN(err, "ip", "-n", ns, "link", "set", "lo", "up") < 0 ||
	    RUN(err, "ip", "link", "add", (char *)n->veth, "type", "veth", "peer", "name", "k8cu0",
		"netns", ns) < 0 ||
	    (vxlan &&
	     (RUN(err, "ip", "link", "set", (char *)n->veth, "mtu", UNDERLAY_MTU_VXLAN) < 0 ||
	      RUN(err, "ip", "-n", ns, "link", "set", "k8cu0", "mtu", UNDERLAY_MTU_VXLAN) < 0)) ||
	    RUN(err, "ip", "link", "set", (char *)n->veth, "master", (char *)c->bridge, "up") < 0 ||
	    RUN(err, "ip", "-n", ns, "addr", "add", addr, "dev", "k8cu0") < 0 ||
	    RUN(err, "ip", "-n", ns, "link", "set", "k8cu0", "up") < 0 ||
	    netns_sysctl(ns, "net/ipv4/ip_forward", "1", err) < 0)
		return k8c_error_wrap(err, "node %s", n->name);
	return 0;
}

int net_routes(struct cluster *c, struct k8c_error *err)
{
	bool vxlan = !strcmp(c->pod_network, "vxlan");

	for (int i = 0; i < c->n_nodes; i++) {
		struct cluster_node *n = &c->nodes[i];

		if (vxlan && net_vxlan_node(c, i, err) < 0)
			return -1;
		for (int j = 0; j < c->n_nodes && !vxlan; j++) {
			struct cluster_node *o = &c->nodes[j];

			if (j == i || !o->pod_cidr[0])
				continue;
			if (RUN(err, "ip", "-n", n->netns, "route", "replace", o->pod_cidr, "via",
				o->ip) < 0)
				return k8c_error_wrap(err, "route on %s", n->name);
		}
		if (n->pod_cidr[0] && RUN(err, "ip", "route", "replace", n->pod_cidr, "via", n->ip,
					  "dev", c->bridge) < 0)
			return k8c_error_wrap(err, "the host's route to %s", n->name);
	}
	/* nothing of the cluster's CIDR leaves by the default route */
	if (RUN(err, "ip", "route", "replace", "unreachable", c->cluster_cidr) < 0)
		return -1;
	if (!c->service_route && !net_route_overlaps(c->service_cidr)) {
		if (RUN(err, "ip", "route", "add", c->service_cidr, "via", c->nodes[0].ip, "dev",
			c->bridge) < 0)
			return -1;
		c->service_route = true;
	}
	return 0;
}

static bool netns_exists(const char *name)
{
	_cleanup_free_ char *p = k8c_xasprintf("/run/netns/%s", name);

	return access(p, F_OK) == 0;
}

/* Undo the octal escapes of /proc/self/mountinfo (\040 for a space...). */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*o++ = *s;
	}
	*o = 0;
}

/* Mount points at or below dir (a prefix followed by '/'), in mountinfo order; count in *n. */
static char **mounts_below(const char *dir, size_t *n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, **v = NULL;
	size_t cap = 0, dl = strlen(dir);

	*n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char mp[4096];

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		if (strncmp(mp, dir, dl) != 0 || (mp[dl] != '/' && mp[dl] != 0))
			continue;
		v = k8c_xrealloc(v, sizeof(*v) * (*n + 1));
		v[(*n)++] = k8c_xstrdup(mp);
	}
	free(line);
	return v;
}

int net_count_mounts(const char *dir)
{
	size_t n;
	char **v = mounts_below(dir, &n);

	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return (int)n;
}

/* cgroup mount points: every v1 hierarchy and the v2 one. */
static char **cgroup_mounts(size_t *n)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char mp[4096], *sep = strstr(line, " - "), fstype[32];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%31s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
			continue;
		unescape(mp);
		v = k8c_xrealloc(v, sizeof(*v) * (*n + 1));
		v[(*n)++] = k8c_xstrdup(mp);
	}
	free(line);
	return v;
}

/* Kill what is left in the cgroup tree at path, then remove it, leaves first. */
static int cgroup_remove(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *e;
	int fails = 0;

	if (!d)
		return errno == ENOENT ? 0 : 1;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			_cleanup_free_ char *sub = k8c_xasprintf("%s/%s", path, e->d_name);

			fails += cgroup_remove(sub);
		}
	for (int attempt = 0; attempt < 50; attempt++) {
		_cleanup_free_ char *procs = k8c_xasprintf("%s/cgroup.procs", path);
		_cleanup_fclose_ FILE *f = fopen(procs, "re");
		int pid;

		while (f && fscanf(f, "%d", &pid) == 1)
			if (pid > 1)
				kill(pid, SIGKILL);
		if (rmdir(path) == 0 || errno == ENOENT)
			return fails;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	fprintf(stderr, "k8c down: cgroup %s: %s\n", path, strerror(errno));
	return fails + 1;
}

/* The runc containers of a node (runc --root R list -q): killed and deleted. */
static int runc_cleanup(const char *root)
{
	_cleanup_free_ char *out = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	struct stat st;
	int fails = 0;
	char *save = NULL, *id;

	if (stat(root, &st) < 0)
		return 0;
	if (net_run((const char *const[]){"runc", "--root", (char *)root, "list", "-q", NULL}, &out,
		    &err) < 0) {
		fprintf(stderr, "k8c down: %s\n", err.msg);
		k8c_error_clear(&err);
		return 1;
	}
	for (id = strtok_r(out, "\n", &save); id; id = strtok_r(NULL, "\n", &save)) {
		net_run((const char *const[]){"runc", "--root", (char *)root, "kill", id, "KILL",
					      NULL},
			NULL, &err);
		k8c_error_clear(&err);
		if (net_run((const char *const[]){"runc", "--root", (char *)root, "delete",
						  "--force", id, NULL},
			    NULL, &err) < 0) {
			fprintf(stderr, "k8c down: %s\n", err.msg);
			k8c_error_clear(&err);
			fails++;
		}
	}
	return fails;
}

/* The k8c-shim processes of the cluster's containers: they outlive the agent by design. They
 * are found by their command line, which names their state dir below the cluster's dir, and by
 * their executable, k8c-shim of our bin dir. */
static void shims_kill(const struct cluster *c)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	_cleanup_free_ char *shim = k8c_xasprintf("%s/k8c-shim", c->bin);
	_cleanup_free_ char *needle = k8c_xasprintf("%s/", c->dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[64], exe[4096], cmd[8192];
		ssize_t n;
		int fd, pid = atoi(e->d_name);

		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/exe", pid);
		n = readlink(path, exe, sizeof(exe) - 1);
		if (n < 0)
			continue;
		exe[n] = 0;
		if (strncmp(exe, shim, strlen(shim)) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, cmd, sizeof(cmd) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n] = 0;
		if (strstr(cmd, needle))
			kill(pid, SIGKILL);
	}
}

int net_cgroup2_root(char *out, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int ret = -1;

	while (f && ret < 0 && getline(&line, &cap, f) > 0) {
		char mp[4096], *sep = strstr(line, " - "), fstype[32];

		if (sep && sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    sscanf(sep + 3, "%31s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0) {
			unescape(mp);
			snprintf(out, len, "%s", mp);
			ret = 0;
		}
	}
	free(line);
	return ret;
}

char *net_node_cgroup2(const struct cluster *c, const struct cluster_node *n)
{
	char root[4096];

	if (net_cgroup2_root(root, sizeof(root)) < 0)
		return NULL;
	return k8c_xasprintf("%s/k8c-%s/%s", root, c->name, n->name);
}

char *net_node_bpffs(const struct cluster *c, const struct cluster_node *n)
{
	return k8c_xasprintf("%s/nodes/%s/bpffs", c->dir, n->name);
}

int net_node_ebpf_up(const struct cluster *c, const struct cluster_node *n, struct k8c_error *err)
{
	_cleanup_free_ char *cg = net_node_cgroup2(c, n);
	_cleanup_free_ char *fs = net_node_bpffs(c, n);

	if (!cg)
		return k8c_error_set(err, 0, "node %s: no cgroup v2 hierarchy mounted", n->name);
	if (k8c_mkdir_p(cg, 0755) < 0)
		return k8c_error_errno(err, 0, errno, "node %s: mkdir %s", n->name, cg);
	if (k8c_mkdir_p(fs, 0700) < 0)
		return k8c_error_errno(err, 0, errno, "node %s: mkdir %s", n->name, fs);
	if (mount("bpf", fs, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return k8c_error_errno(err, 0, errno, "node %s: mount bpffs on %s", n->name, fs);
	/* the pod bridge the agent's conflist names, made now so that the proxy's tc programs
	 * attach to it at start (k8c-bridge takes a bridge that exists) */
	if (RUN(err, "ip", "-n", (char *)n->netns, "link", "add", NET_POD_BRIDGE, "type",
		"bridge") < 0 ||
	    RUN(err, "ip", "-n", (char *)n->netns, "link", "set", NET_POD_BRIDGE, "up") < 0)
		return k8c_error_wrap(err, "node %s: pod bridge", n->name);
	return 0;
}

/* eBPF mode: each node's pinned links (the programs detach) and maps, by its proxy's own
 * --cleanup; the bpffs itself goes with the mounts. */
static int ebpf_cleanup(const struct cluster *c)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *proxy = k8c_xasprintf("%s/k8c-proxy", c->bin);
	int fails = 0;

	for (int i = 0; i < c->n_nodes; i++) {
		_cleanup_free_ char *fs = net_node_bpffs(c, &c->nodes[i]);
		_cleanup_free_ char *pin = k8c_xasprintf("%s/k8c", fs);

		if (access(pin, F_OK) < 0)
			continue;
		if (RUN(&err, proxy, "--mode", "ebpf", "--bpf-pin-dir", pin, "--cleanup") < 0) {
			fprintf(stderr, "k8c down: %s\n", err.msg);
			k8c_error_clear(&err);
			fails++;
		}
	}
	return fails;
}

int net_teardown(const struct cluster *c)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int fails = 0;
	size_t n;
	char **v;

	for (int i = 0; i < c->n_nodes; i++) {
		_cleanup_free_ char *root =
			k8c_xasprintf("%s/nodes/%s/runc", c->dir, c->nodes[i].name);

		fails += runc_cleanup(root);
	}
	shims_kill(c);
	fails += ebpf_cleanup(c);
	/* pods' namespaces, volumes, rootfs: every mount below the cluster's dir, deepest first */
	v = mounts_below(c->dir, &n);
	for (size_t i = n; i-- > 0;) {
		if (umount2(v[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
			fprintf(stderr, "k8c down: umount %s: %s\n", v[i], strerror(errno));
			fails++;
		}
		free(v[i]);
	}
	free(v);
	for (int i = 0; i < c->n_nodes; i++) {
		const struct cluster_node *nd = &c->nodes[i];

		if (netns_exists(nd->netns) &&
		    RUN(&err, "ip", "netns", "del", (char *)nd->netns) < 0)
			goto failed;
		/* the veth goes with the namespace, asynchronously: gone meanwhile is fine */
		if (net_link_exists(nd->veth) &&
		    RUN(&err, "ip", "link", "del", (char *)nd->veth) < 0 &&
		    net_link_exists(nd->veth))
			goto failed;
		k8c_error_clear(&err);
		continue;
	failed:
		fprintf(stderr, "k8c down: %s\n", err.msg);
		k8c_error_clear(&err);
		fails++;
	}
	/* the host's routes through the bridge go with it */
	if (c->bridge[0] && net_link_exists(c->bridge) &&
	    RUN(&err, "ip", "link", "del", (char *)c->bridge) < 0) {
		fprintf(stderr, "k8c down: %s\n", err.msg);
		k8c_error_clear(&err);
		fails++;
	}
	if (c->cluster_cidr[0]) {
		_cleanup_free_ char *out = NULL;

		if (net_run((const char *const[]){"ip", "route", "show", "exact",
						  (char *)c->cluster_cidr, "type", "unreachable",
						  NULL},
			    &out, &err) == 0 &&
		    *out &&
		    RUN(&err, "ip", "route", "del", "unreachable", (char *)c->cluster_cidr) < 0) {
			fprintf(stderr, "k8c down: %s\n", err.msg);
			fails++;
		}
		k8c_error_clear(&err);
	}
	v = cgroup_mounts(&n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = k8c_xasprintf("%s/k8c-%s", v[i], c->name);

		fails += cgroup_remove(p);
		free(v[i]);
	}
	free(v);
	return fails;
}

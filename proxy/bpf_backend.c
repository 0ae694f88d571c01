/*
 * k8c-proxy's eBPF backend: socket-level load balancing. The cgroup sock_addr programs of bpf/
 * (connect4, sendmsg4, recvmsg4, getpeername4) rewrite a socket's destination from a service
 * frontend to a backend once, in the system call, so established flows cost nothing per packet.
 *
 * The IPv6 hooks (connect6, sendmsg6, recvmsg6, getpeername6) balance IPv4 services reached
 * through IPv4-mapped addresses of dual-stack sockets (::ffff:10.96.0.10).
 *
 * This file loads the programs (bpftool skeletons), pins their maps (by versioned names) and
 * links under --bpf-pin-dir, attaches the links to --cgroup-path, and turns the model's changes
 * into map updates: it mirrors every map element it owns (key -> value, reference count) and
 * writes only the elements whose value changed. A restarted proxy reuses the pinned maps (their
 * content is read back into the mirror) and replaces the programs behind the pinned links
 * atomically (bpf_link_update), so connections never see a moment without the balancer.
 *
 * Traffic from outside the node (NodePorts, externalIPs, LoadBalancer IPs) is translated by tc
 * programs (tc_ingress, tc_egress) attached with tcx links to --tc-interfaces, pinned as
 * link_tc_<ingress|egress>_<interface>_v1 and replaced the same way on restart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "backend.h"
#include "cleanup.h"
#include "k8c_lb.h"
#include "log.h"
#include "netns.h"
#include "pmap.h"
#include "sock_connect4.skel.h"
#include "sock_connect6.skel.h"
#include "sock_getpeername4.skel.h"
#include "sock_getpeername6.skel.h"
#include "sock_recvmsg4.skel.h"
#include "sock_recvmsg6.skel.h"
#include "sock_sendmsg4.skel.h"
#include "sock_sendmsg6.skel.h"
#include "iter_udp.skel.h"
#include "tc_egress.skel.h"
#include "tc_ingress.skel.h"

#define BPF_FS_MAGIC_ 0xcafe4a11
/* tcx (kernel 6.6) is newer than Debian 12's headers and libbpf 1.1: its attach types and link
 * type by number (uapi enum bpf_attach_type, enum bpf_link_type). */
#define K8C_BPF_TCX_INGRESS   46
#define K8C_BPF_TCX_EGRESS    47
#define K8C_BPF_LINK_TYPE_TCX 11
#define TC_LINK_PREFIX	      "link_tc_"
#define TC_CHECK_MS	      1000 /* bpf_tick: how often the tc interfaces are looked at */

/* A mirrored element of the lb4 map. */
struct ment {
	struct k8c_lb4_key key;
	struct k8c_lb4_val want, have;
	unsigned refs;
	bool in_kernel, touched;
};

enum {
	H_CONNECT4,
	H_SENDMSG4,
	H_RECVMSG4,
	H_GETPEERNAME4,
	H_CONNECT6,
	H_SENDMSG6,
	H_RECVMSG6,
	H_GETPEERNAME6,
	H_COUNT
};
static const char *const hook_names[H_COUNT] = {"connect4", "sendmsg4", "recvmsg4", "getpeername4",
						"connect6", "sendmsg6", "recvmsg6", "getpeername6"};
/* (the last ones: maps of earlier layouts, removed at start too) */
static const char *const map_names[] = {K8C_LB4_MAP,	K8C_AFF4_MAP,	  K8C_SKNAT4_MAP,
					K8C_CKNAT4_MAP, K8C_CFG4_MAP,	  K8C_NODEIP4_MAP,
					K8C_CT4_MAP,	K8C_RNAT4_MAP_OLD};
#define N_OLD_MAPS 1
#define N_MAPS	   (sizeof(map_names) / sizeof(map_names[0]))

struct bpf_be {
	struct proxy_bpf_config cfg;
	uint32_t *node_ips; /* network order: NodePorts answer on these */
	size_t n_node_ips;
	struct k8c_sock_connect4 *s_connect4;
	struct k8c_sock_sendmsg4 *s_sendmsg4;
	struct k8c_sock_recvmsg4 *s_recvmsg4;
	struct k8c_sock_getpeername4 *s_getpeername4;
	struct k8c_sock_connect6 *s_connect6;
	struct k8c_sock_sendmsg6 *s_sendmsg6;
	struct k8c_sock_recvmsg6 *s_recvmsg6;
	struct k8c_sock_getpeername6 *s_getpeername6;
	struct k8c_tc_ingress *s_tc_ingress;
	struct k8c_tc_egress *s_tc_egress;
	struct bpf_link *links[H_COUNT];
	struct tc_if {
		char *name;	  /* an interface of the tc programs */
		unsigned ifindex; /* the one its links are on (0: not attached) */
		int fd[2];	  /* its ingress and egress link (-1: none) */
	} * tc_ifs;
	size_t n_tc_ifs;
	int netns_fd;	   /* the network namespace of the interfaces */
	double tc_checked; /* bpf_tick: when the interfaces were last looked at (ms) */
	int lb_fd, cfg_fd, nodeip_fd;
	bool loaded, synced; /* synced: the mirror is the kernel's content */
	struct pmap mirror;  /* struct k8c_lb4_key -> struct ment */
	struct ment **touched;
	size_t n_touched, cap_touched;
	struct proxy_sync_stats *st;
	struct k8c_iter_udp *s_iter_udp; /* NULL: not loaded yet (or not on this kernel) */
	struct bpf_link *iter_link;
	bool iter_failed;
	struct k8c_rnat4_val *gone; /* UDP backends replaced or deleted by this sync */
	size_t n_gone, cap_gone;
};

static void gone_candidate(struct bpf_be *be, const struct k8c_lb4_key *k,
			   const struct k8c_lb4_val *old);

static void link_path(const struct bpf_be *be, int h, char *buf, size_t len)
{
	snprintf(buf, len, "%s/link_%s_" K8C_LB_VERSION, be->cfg.pin_dir, hook_names[h]);
}

static void add_tc_if(struct bpf_be *be, const char *name, size_t len)
{
	if (len == 0 || len >= IF_NAMESIZE)
		return;
	for (size_t i = 0; i < be->n_tc_ifs; i++)
		if (strlen(be->tc_ifs[i].name) == len &&
		    strncmp(be->tc_ifs[i].name, name, len) == 0)
			return;
	be->tc_ifs = k8c_xrealloc(be->tc_ifs, (be->n_tc_ifs + 1) * sizeof(*be->tc_ifs));
	be->tc_ifs[be->n_tc_ifs] = (struct tc_if){.name = k8c_xcalloc(1, len + 1), .fd = {-1, -1}};
	memcpy(be->tc_ifs[be->n_tc_ifs++].name, name, len);
}

static void add_node_ip(struct bpf_be *be, uint32_t a)
{
	be->node_ips = k8c_xrealloc(be->node_ips, (be->n_node_ips + 1) * sizeof(uint32_t));
	be->node_ips[be->n_node_ips++] = a;
}

/* The node addresses of NodePorts (--nodeport-addresses, else every IPv4 address of the
 * namespace) and the tc interfaces (--tc-interfaces, else the non-loopback interfaces holding a
 * node address). */
static int read_node(struct bpf_be *be, const struct proxy_bpf_config *cfg, struct k8c_error *err)
{
	const char *list = cfg->tc_interfaces;
	struct ifaddrs *ifa = NULL;

	for (size_t i = 0; i < cfg->n_nodeport_ips; i++) {
		uint32_t a;

		if (cfg->nodeport_ips[i].family != AF_INET)
			continue;
		memcpy(&a, cfg->nodeport_ips[i].addr, 4);
		add_node_ip(be, a);
	}
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");

		if (n >= IF_NAMESIZE)
			return k8c_error_set(err, 0, "--tc-interfaces: %.*s: name too long", (int)n,
					     p);
		add_tc_if(be, p, n);
		p += n + (p[n] == ',');
	}
	if (cfg->n_nodeport_ips && list)
		return 0;
	if (getifaddrs(&ifa) < 0)
		return k8c_error_errno(err, 0, errno, "getifaddrs");
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		uint32_t a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		if (!cfg->n_nodeport_ips)
			add_node_ip(be, a);
		for (size_t n = 0; !list && !(i->ifa_flags & IFF_LOOPBACK) && n < be->n_node_ips;
		     n++)
			if (be->node_ips[n] == a)
				add_tc_if(be, i->ifa_name, strlen(i->ifa_name));
	}
	freeifaddrs(ifa);
	return 0;
}

void *proxy_bpf_new(const struct proxy_bpf_config *cfg, struct k8c_error *err)
{
	struct bpf_be *be = k8c_xcalloc(1, sizeof(*be));

	be->cfg = *cfg;
	be->cfg.pin_dir = k8c_xstrdup(cfg->pin_dir ? cfg->pin_dir : PROXY_BPF_PIN_DIR);
	be->cfg.cgroup_path = k8c_xstrdup(cfg->cgroup_path ? cfg->cgroup_path : PROXY_BPF_CGROUP);
	be->cfg.nodeport_ips = NULL; /* copied into node_ips */
	be->cfg.tc_interfaces = NULL;
	be->lb_fd = be->cfg_fd = be->nodeip_fd = -1;
	be->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (be->netns_fd < 0) {
		k8c_error_errno(err, 0, errno, "open /proc/thread-self/ns/net");
		proxy_bpf_ops.free(be);
		return NULL;
	}
	if (read_node(be, cfg, err) < 0) {
		proxy_bpf_ops.free(be);
		return NULL;
	}
	return be;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = 0;
	if (level == LIBBPF_WARN)
		k8c_log_warn("libbpf", "msg=\"%s\"", buf);
	else
		k8c_log_debug("libbpf", "msg=\"%s\"", buf);
	return 0;
}

/* Attach prog to the cgroup through the link pinned at path, or a new pinned one. */
static int attach(struct bpf_be *be, int h, struct bpf_program *prog, int cgfd,
		  struct k8c_error *err)
{
	char path[PATH_MAX];
	struct bpf_link *l;
	struct stat cg;

	link_path(be, h, path, sizeof(path));
	if (fstat(cgfd, &cg) < 0)
		return k8c_error_errno(err, 0, errno, "%s", be->cfg.cgroup_path);
	l = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
	if (l) {
		struct bpf_link_info info = {0};
		__u32 len = sizeof(info);

		/* the cgroup id is the directory's inode number */
		if (bpf_obj_get_info_by_fd(bpf_link__fd(l), &info, &len) == 0 &&
		    info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cg.st_ino &&
		    bpf_link__update_program(l, prog) == 0) {
			be->links[h] = l;
			return 0;
		}
		/* another cgroup (the flag changed) or a link that cannot be updated */
		k8c_log_info("replacing pinned link", "path=%s", path);
		bpf_link__detach(l);
		bpf_link__unpin(l);
		bpf_link__destroy(l);
	}
	l = bpf_program__attach_cgroup(prog, cgfd);
	if (!l)
		return k8c_error_errno(err, 0, errno, "attach cgroup/%s to %s", hook_names[h],
				       be->cfg.cgroup_path);
	if (bpf_link__pin(l, path) < 0) {
		int e = errno;

		bpf_link__destroy(l);
		return k8c_error_errno(err, 0, e, "pin %s", path);
	}
	be->links[h] = l;
	return 0;
}

/* Detach the link pinned at path and remove the pin. The last reference going away would detach
 * it too, but later (the kernel frees links in a work queue): a --cleanup that returns with a
 * program still attached would leave a moment of half-translated flows. */
static int unpin_link(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd); /* fails harmlessly for a link already detached */
		close(fd);
	}
	return unlink(path);
}

static void tc_link_path(const struct bpf_be *be, bool egress, const char *ifname, char *buf,
			 size_t len)
{
	snprintf(buf, len, "%s/" TC_LINK_PREFIX "%s_%s_" K8C_LB_VERSION, be->cfg.pin_dir,
		 egress ? "egress" : "ingress", ifname);
}

/* Attach prog to the tcx ingress or egress of tc interface i (ifindex) through the link pinned
 * for it (its program replaced) or a new pinned one. Runs in the interfaces' network namespace. */
static int attach_tc(struct bpf_be *be, size_t i, unsigned ifindex, bool egress,
		     struct bpf_program *prog, struct k8c_error *err)
{
	struct tc_if *t = &be->tc_ifs[i];
	char path[PATH_MAX];
	int fd;

	tc_link_path(be, egress, t->name, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info = {0};
		__u32 len = sizeof(info);

		/* tcx's link info (ifindex, attach type) lies where xdp's ifindex does */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    info.type == K8C_BPF_LINK_TYPE_TCX && info.xdp.ifindex == ifindex &&
		    bpf_link_update(fd, bpf_program__fd(prog), NULL) == 0)
			goto done;
		/* the interface was re-created (its link detached) or the link cannot be updated */
		k8c_log_info("replacing pinned link", "path=%s", path);
		close(fd);
		unpin_link(path);
	}
	fd = bpf_link_create(bpf_program__fd(prog), (int)ifindex,
			     egress ? K8C_BPF_TCX_EGRESS : K8C_BPF_TCX_INGRESS, NULL);
	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "attach tcx %s to %s (kernel >= 6.6)",
				       egress ? "egress" : "ingress", t->name);
	if (bpf_obj_pin(fd, path) < 0) {
		int e = errno;

		close(fd);
		return k8c_error_errno(err, 0, e, "pin %s", path);
	}
done:
	if (t->fd[egress] >= 0)
		close(t->fd[egress]);
	t->fd[egress] = fd;
	return 0;
}

/* Both programs on tc interface i, if it exists. Returns 1 (attached), 0 (no such interface
 * now) or -1. Runs in the interfaces' network namespace. */
static int attach_tc_if(struct bpf_be *be, size_t i, struct k8c_error *err)
{
	unsigned ifindex = if_nametoindex(be->tc_ifs[i].name);

	if (!ifindex)
		return 0;
	if (attach_tc(be, i, ifindex, false, be->s_tc_ingress->progs.k8c_tc_ingress, err) < 0 ||
	    attach_tc(be, i, ifindex, true, be->s_tc_egress->progs.k8c_tc_egress, err) < 0)
		return -1;
	be->tc_ifs[i].ifindex = ifindex;
	return 1;
}

/* Unpin the tc links of interfaces no longer listed (keep: false: all of them). */
static int unpin_tc_links(struct bpf_be *be, bool keep, struct k8c_error *err)
{
	_cleanup_closedir_ DIR *d = opendir(be->cfg.pin_dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : k8c_error_errno(err, 0, errno, "%s", be->cfg.pin_dir);
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		bool listed = false;

		if (strncmp(de->d_name, TC_LINK_PREFIX, strlen(TC_LINK_PREFIX)) != 0)
			continue;
		for (size_t i = 0; keep && i < be->n_tc_ifs && !listed; i++) {
			char want[PATH_MAX];

			for (int eg = 0; eg < 2; eg++) {
				tc_link_path(be, eg, be->tc_ifs[i].name, want, sizeof(want));
				listed |= strcmp(strrchr(want, '/') + 1, de->d_name) == 0;
			}
		}
		if (listed)
			continue;
		snprintf(path, sizeof(path), "%s/%s", be->cfg.pin_dir, de->d_name);
		if (unpin_link(path) < 0 && errno != ENOENT && rc == 0)
			rc = k8c_error_errno(err, 0, errno, "unpin %s", path);
		else
			k8c_log_info("tc link removed", "path=%s", path);
	}
	return rc;
}

static int attach_tc_all(struct bpf_be *be, struct k8c_error *err)
{
	int saved = -1, rc = 0;

	if (k8c_netns_enter(be->netns_fd, &saved, err) < 0)
		return -1;
	for (size_t i = 0; i < be->n_tc_ifs && rc == 0; i++) {
		int r = attach_tc_if(be, i, err);

		if (r < 0)
			rc = -1;
		else if (r == 0 && !be->cfg.tc_wait)
			rc = k8c_error_set(err, 0, "--tc-interfaces: %s: no such interface",
					   be->tc_ifs[i].name);
		else if (r == 0)
			k8c_log_warn(
				"tc interface not there yet: its programs are attached when it "
				"appears",
				"interface=%s", be->tc_ifs[i].name);
	}
	k8c_netns_restore(&saved);
	if (rc == 0)
		rc = unpin_tc_links(be, true, err);
	return rc;
}

#define OPEN_LOAD(field, type, opts)                                                               \
	do {                                                                                       \
		be->field = type##__open_opts(opts);                                               \
		if (!be->field)                                                                    \
			return k8c_error_errno(err, 0, errno, "open BPF object " #type);           \
		if (type##__load(be->field) < 0)                                                   \
			return k8c_error_errno(err, 0, errno,                                      \
					       "load BPF object " #type " (maps pinned in %s)",    \
					       be->cfg.pin_dir);                                   \
	} while (0)

/* Close what load() opened (the pinned links stay: closing our descriptors detaches nothing), so
 * a failed load can be retried at the next sync. */
static void unload(struct bpf_be *be)
{
	for (int h = 0; h < H_COUNT; h++)
		bpf_link__destroy(be->links[h]);
	k8c_sock_connect4__destroy(be->s_connect4);
	k8c_sock_sendmsg4__destroy(be->s_sendmsg4);
	k8c_sock_recvmsg4__destroy(be->s_recvmsg4);
	k8c_sock_getpeername4__destroy(be->s_getpeername4);
	k8c_sock_connect6__destroy(be->s_connect6);
	k8c_sock_sendmsg6__destroy(be->s_sendmsg6);
	k8c_sock_recvmsg6__destroy(be->s_recvmsg6);
	k8c_sock_getpeername6__destroy(be->s_getpeername6);
	k8c_tc_ingress__destroy(be->s_tc_ingress);
	k8c_tc_egress__destroy(be->s_tc_egress);
	bpf_link__destroy(be->iter_link);
	k8c_iter_udp__destroy(be->s_iter_udp);
	for (size_t i = 0; i < be->n_tc_ifs; i++) {
		struct tc_if *t = &be->tc_ifs[i];

		for (int eg = 0; eg < 2; eg++) {
			if (t->fd[eg] >= 0)
				close(t->fd[eg]);
			t->fd[eg] = -1;
		}
		t->ifindex = 0;
	}
	memset(be->links, 0, sizeof(be->links));
	be->s_connect4 = NULL;
	be->s_sendmsg4 = NULL;
	be->s_recvmsg4 = NULL;
	be->s_getpeername4 = NULL;
	be->s_connect6 = NULL;
	be->s_sendmsg6 = NULL;
	be->s_recvmsg6 = NULL;
	be->s_getpeername6 = NULL;
	be->s_tc_ingress = NULL;
	be->s_tc_egress = NULL;
	be->iter_link = NULL;
	be->s_iter_udp = NULL;
	be->lb_fd = be->cfg_fd = be->nodeip_fd = -1;
}

static int load(struct bpf_be *be, struct k8c_error *err)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = be->cfg.pin_dir);
	struct statfs sf;
	_cleanup_close_ int cgfd = -1;
	struct k8c_cfg4 c = {0};
	uint32_t zero = 0;

	libbpf_set_print(libbpf_quiet);
	unload(be); /* what a failed load left */
	if (mkdir(be->cfg.pin_dir, 0700) < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "--bpf-pin-dir %s", be->cfg.pin_dir);
	if (statfs(be->cfg.pin_dir, &sf) < 0 || sf.f_type != BPF_FS_MAGIC_)
		return k8c_error_set(err, 0, "--bpf-pin-dir %s: not on a BPF file system (bpffs)",
				     be->cfg.pin_dir);
	cgfd = open(be->cfg.cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return k8c_error_errno(err, 0, errno, "--cgroup-path %s", be->cfg.cgroup_path);
	/* a proxy of an earlier layout pinned these (the programs replaced below used them) */
	for (size_t i = N_MAPS - N_OLD_MAPS; i < N_MAPS; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", be->cfg.pin_dir, map_names[i]);
		if (unlink(path) == 0)
			k8c_log_info("map of an earlier layout removed", "path=%s", path);
	}
	OPEN_LOAD(s_connect4, k8c_sock_connect4, &opts);
	OPEN_LOAD(s_sendmsg4, k8c_sock_sendmsg4, &opts);
	OPEN_LOAD(s_recvmsg4, k8c_sock_recvmsg4, &opts);
	OPEN_LOAD(s_getpeername4, k8c_sock_getpeername4, &opts);
	OPEN_LOAD(s_connect6, k8c_sock_connect6, &opts);
	OPEN_LOAD(s_sendmsg6, k8c_sock_sendmsg6, &opts);
	OPEN_LOAD(s_recvmsg6, k8c_sock_recvmsg6, &opts);
	OPEN_LOAD(s_getpeername6, k8c_sock_getpeername6, &opts);
	OPEN_LOAD(s_tc_ingress, k8c_tc_ingress, &opts);
	OPEN_LOAD(s_tc_egress, k8c_tc_egress, &opts);
	if (attach(be, H_CONNECT4, be->s_connect4->progs.k8c_connect4, cgfd, err) < 0 ||
	    attach(be, H_SENDMSG4, be->s_sendmsg4->progs.k8c_sendmsg4, cgfd, err) < 0 ||
	    attach(be, H_RECVMSG4, be->s_recvmsg4->progs.k8c_recvmsg4, cgfd, err) < 0 ||
	    attach(be, H_GETPEERNAME4, be->s_getpeername4->progs.k8c_getpeername4, cgfd, err) < 0 ||
	    attach(be, H_CONNECT6, be->s_connect6->progs.k8c_connect6, cgfd, err) < 0 ||
	    attach(be, H_SENDMSG6, be->s_sendmsg6->progs.k8c_sendmsg6, cgfd, err) < 0 ||
	    attach(be, H_RECVMSG6, be->s_recvmsg6->progs.k8c_recvmsg6, cgfd, err) < 0 ||
	    attach(be, H_GETPEERNAME6, be->s_getpeername6->progs.k8c_getpeername6, cgfd, err) < 0 ||
	    attach_tc_all(be, err) < 0)
		return -1;
	be->lb_fd = bpf_map__fd(be->s_connect4->maps.k8c_lb4_v1);
	be->cfg_fd = bpf_map__fd(be->s_connect4->maps.k8c_cfg4_v1);
	be->nodeip_fd = bpf_map__fd(be->s_connect4->maps.k8c_nodeip4_v1);
	if (be->cfg.service_cidr.family == AF_INET) {
		uint32_t mask = be->cfg.service_cidr.prefix
					? htonl(~0u << (32 - be->cfg.service_cidr.prefix))
					: 0;

		memcpy(&c.service_net, be->cfg.service_cidr.addr, 4);
		c.service_net &= mask;
		c.service_mask = mask;
	}
	if (bpf_map_update_elem(be->cfg_fd, &zero, &c, BPF_ANY) < 0)
		return k8c_error_errno(err, 0, errno, "update map " K8C_CFG4_MAP);
	be->loaded = true;
	return 0;
}

/* The node addresses of NodePorts: exactly node_ips. */
static int sync_node_ips(struct bpf_be *be, struct k8c_error *err)
{
	uint32_t k, next, *pk = NULL;
	uint8_t one = 1;

	while (bpf_map_get_next_key(be->nodeip_fd, pk, &next) == 0) {
		bool keep = false;

		for (size_t i = 0; i < be->n_node_ips; i++)
			keep |= be->node_ips[i] == next;
		k = next;
		pk = &k;
		if (!keep) {
			if (bpf_map_delete_elem(be->nodeip_fd, &k) < 0)
				return k8c_error_errno(err, 0, errno,
						       "delete from " K8C_NODEIP4_MAP);
			pk = NULL; /* start over: the walk's position is gone */
			be->st->messages++;
		}
	}
	for (size_t i = 0; i < be->n_node_ips; i++) {
		uint8_t v;

		if (bpf_map_lookup_elem(be->nodeip_fd, &be->node_ips[i], &v) == 0)
			continue;
		if (bpf_map_update_elem(be->nodeip_fd, &be->node_ips[i], &one, BPF_ANY) < 0)
			return k8c_error_errno(err, 0, errno, "update " K8C_NODEIP4_MAP);
		be->st->messages++;
	}
	return 0;
}

/* ---- the mirror ------------------------------------------------------------------------- */

static void touch(struct bpf_be *be, struct ment *e)
{
	if (e->touched)
		return;
	e->touched = true;
	if (be->n_touched == be->cap_touched) {
		be->cap_touched = be->cap_touched ? 2 * be->cap_touched : 256;
		be->touched = k8c_xrealloc(be->touched, be->cap_touched * sizeof(*be->touched));
	}
	be->touched[be->n_touched++] = e;
}

static struct ment *ment_get(struct bpf_be *be, const struct k8c_lb4_key *k)
{
	bool created;
	void **slot = pmap_put(&be->mirror, k, sizeof(*k), &created);

	if (created) {
		struct ment *e = k8c_xcalloc(1, sizeof(*e));

		e->key = *k;
		*slot = e;
	}
	return *slot;
}

static void claim(struct bpf_be *be, const struct k8c_lb4_key *k, const struct k8c_lb4_val *v,
		  bool acquire)
{
	struct ment *e;

	if (acquire) {
		e = ment_get(be, k);
		if (e->refs && memcmp(&e->want, v, sizeof(*v)) != 0)
			be->st->conflicts++; /* two services, one key: the last one wins */
		e->refs++;
		e->want = *v;
	} else {
		e = pmap_get(&be->mirror, k, sizeof(*k));
		if (!e || !e->refs)
			return;
		e->refs--;
	}
	touch(be, e);
}

/* One frontend (addr 0: the NodePort) and its usable endpoints. */
static void frontend(struct bpf_be *be, uint32_t addr, uint16_t port, const struct proxy_svcport *p,
		     const struct proxy_endpoint **eps, size_t n, bool any_eps, bool local,
		     bool acquire)
{
	struct k8c_lb4_key k = {.addr = addr, .port = htons(port), .proto = p->proto};
	struct k8c_lb4_val v = {0};

	n = n > 65535 ? 65535 : n;
	v.count = (uint16_t)n;
	if (n == 0 && any_eps)
		v.flags |= K8C_LB_F_DROP; /* traffic policy Local, no local endpoint */
	if (local)
		v.flags |= K8C_LB_F_LOCAL; /* externalTrafficPolicy Local: no SNAT in tc */
	if (p->affinity) {
		v.flags |= K8C_LB_F_AFFINITY;
		v.affinity_timeout = p->affinity_timeout;
	}
	claim(be, &k, &v, acquire);
	for (size_t i = 0; i < n; i++) {
		struct k8c_lb4_val b = {.port = htons(eps[i]->port)};

		memcpy(&b.addr, eps[i]->ip.addr, 4);
		k.slot = (uint16_t)(i + 1);
		claim(be, &k, &b, acquire);
	}
}

static void record(struct bpf_be *be, const struct proxy_model *m, const struct proxy_svcport *p,
		   bool acquire)
{
	const struct proxy_endpoint **all = k8c_xcalloc(p->n_eps + 1, sizeof(*all));
	const struct proxy_endpoint **in = k8c_xcalloc(p->n_eps + 1, sizeof(*in));
	const struct proxy_endpoint **ex = k8c_xcalloc(p->n_eps + 1, sizeof(*ex));
	size_t n_all = proxy_svcport_usable(m, p, AF_INET, false, all);
	size_t n_in = p->itp_local ? proxy_svcport_usable(m, p, AF_INET, true, in) : n_all;
	size_t n_ex = p->etp_local ? proxy_svcport_usable(m, p, AF_INET, true, ex) : n_all;
	bool v4 = false;

	if (!p->itp_local)
		memcpy(in, all, n_all * sizeof(*all));
	if (!p->etp_local)
		memcpy(ex, all, n_all * sizeof(*all));
	for (size_t i = 0; i < p->n_cluster_ips; i++) {
		struct k8c_lb4_key mk = {0};
		struct k8c_lb4_val mv = {.flags = K8C_LB_F_MARK};
		uint32_t a;

		if (p->cluster_ips[i].family != AF_INET)
			continue;
		v4 = true;
		memcpy(&a, p->cluster_ips[i].addr, 4);
		mk.addr = a;
		claim(be, &mk, &mv, acquire);
		frontend(be, a, p->port, p, in, n_in, n_all > 0, false, acquire);
	}
	if (v4) {
		for (size_t i = 0; i < p->n_external_ips; i++) {
			uint32_t a;

			if (p->external_ips[i].family != AF_INET)
				continue;
			memcpy(&a, p->external_ips[i].addr, 4);
			frontend(be, a, p->port, p, ex, n_ex, n_all > 0, p->etp_local, acquire);
		}
		if (p->node_port)
			frontend(be, 0, p->node_port, p, ex, n_ex, n_all > 0, p->etp_local,
				 acquire);
	}
	free(all);
	free(in);
	free(ex);
}

struct walk {
	struct bpf_be *be;
	const struct proxy_model *m;
};

static void each_all(const struct proxy_svcport *p, void *arg)
{
	struct walk *w = arg;

	w->be->st->records++;
	record(w->be, w->m, p, true);
}

static void each_dirty(const char *key, const struct proxy_svcport *old,
		       const struct proxy_svcport *p, void *arg)
{
	struct walk *w = arg;

	(void)key;
	w->be->st->records++;
	if (old)
		record(w->be, w->m, old, false);
	if (p)
		record(w->be, w->m, p, true);
}

/* Load the kernel's elements into the mirror (reference counts 0). */
static int read_back(struct bpf_be *be, struct k8c_error *err)
{
	struct k8c_lb4_key k, next, *pk = NULL;

	pmap_for_each(&be->mirror, it) free(it->val);
	pmap_free(&be->mirror);
	memset(&be->mirror, 0, sizeof(be->mirror));
	be->n_touched = 0;
	while (bpf_map_get_next_key(be->lb_fd, pk, &next) == 0) {
		struct k8c_lb4_val v;

		k = next;
		pk = &k;
		if (bpf_map_lookup_elem(be->lb_fd, &k, &v) < 0) {
			if (errno == ENOENT)
				continue;
			return k8c_error_errno(err, 0, errno, "read map " K8C_LB4_MAP);
		}
		struct ment *e = ment_get(be, &k);

		e->have = v;
		e->in_kernel = true;
	}
	if (errno != ENOENT)
		return k8c_error_errno(err, 0, errno, "walk map " K8C_LB4_MAP);
	return 0;
}

/* Send what the touched elements need: backends before the service entries that count them,
 * service entries removed before their backends. */
static int apply(struct bpf_be *be, struct k8c_error *err)
{
	int rc = 0;

	for (int pass = 0; pass < 4 && rc == 0; pass++) {
		for (size_t i = 0; i < be->n_touched; i++) {
			struct ment *e = be->touched[i];
			bool master;

			if (!e)
				continue;
			master = e->key.slot == 0;
			if (e->refs == 0) {
				if (!e->in_kernel) {
					be->touched[i] = NULL;
					free(pmap_del(&be->mirror, &e->key, sizeof(e->key)));
					continue;
				}
				if (pass != (master ? 2 : 3))
					continue;
				gone_candidate(be, &e->key, &e->have);
				if (bpf_map_delete_elem(be->lb_fd, &e->key) < 0 &&
				    errno != ENOENT) {
					rc = k8c_error_errno(err, 0, errno,
							     "delete from " K8C_LB4_MAP);
					break;
				}
				be->st->messages++;
				be->st->elems_deleted++;
				be->touched[i] = NULL;
				free(pmap_del(&be->mirror, &e->key, sizeof(e->key)));
				continue;
			}
			if (e->in_kernel && memcmp(&e->have, &e->want, sizeof(e->want)) == 0) {
				e->touched = false;
				be->touched[i] = NULL;
				continue;
			}
			if (pass != (master ? 1 : 0))
				continue;
			if (e->in_kernel)
				gone_candidate(be, &e->key, &e->have);
			if (bpf_map_update_elem(be->lb_fd, &e->key, &e->want, BPF_ANY) < 0) {
				rc = k8c_error_errno(err, 0, errno, "update " K8C_LB4_MAP);
				break;
			}
			be->st->messages++;
			be->st->elems_added++;
			e->have = e->want;
			e->in_kernel = true;
			e->touched = false;
			be->touched[i] = NULL;
		}
	}
	for (size_t i = 0; i < be->n_touched; i++)
		if (be->touched[i])
			be->touched[i]->touched = false;
	be->n_touched = 0;
	return rc;
}

/* ---- UDP sockets connected to removed backends ---------------------------------------------- */

static void gone_candidate(struct bpf_be *be, const struct k8c_lb4_key *k,
			   const struct k8c_lb4_val *old)
{
	if (k->slot == 0 || k->proto != IPPROTO_UDP)
		return;
	if (be->n_gone == be->cap_gone) {
		be->cap_gone = be->cap_gone ? 2 * be->cap_gone : 16;
		be->gone = k8c_xrealloc(be->gone, be->cap_gone * sizeof(*be->gone));
	}
	be->gone[be->n_gone++] = (struct k8c_rnat4_val){.addr = old->addr, .port = old->port};
}

/* The network namespaces (one fd each, unique) of the processes under the cgroup directory. */
static void cgroup_netns(const char *dir, int depth, int **fds, ino_t **inos, size_t *n)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	FILE *f;

	if (!d || depth > 32)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		long pid;

		while (fscanf(f, "%ld", &pid) == 1) {
			char ns[64];
			struct stat st;
			bool seen = false;
			int fd;

			snprintf(ns, sizeof(ns), "/proc/%ld/ns/net", pid);
			if (stat(ns, &st) < 0)
				continue;
			for (size_t i = 0; i < *n && !seen; i++)
				seen = (*inos)[i] == st.st_ino;
			if (seen || (fd = open(ns, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			*fds = k8c_xrealloc(*fds, (*n + 1) * sizeof(**fds));
			*inos = k8c_xrealloc(*inos, (*n + 1) * sizeof(**inos));
			(*fds)[*n] = fd;
			(*inos)[(*n)++] = st.st_ino;
		}
		fclose(f);
	}
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		cgroup_netns(path, depth + 1, fds, inos, n);
	}
}

/* Destroy the UDP sockets the balancer connected to backends this sync removed from every
 * service (kube-proxy deletes their conntrack entries); counted as conntrack_deleted. */
static void destroy_gone_udp(struct bpf_be *be)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = be->cfg.pin_dir);
	int gfd, *fds = NULL;
	ino_t *inos = NULL;
	size_t n = 0, n_gone = 0;
	uint8_t one = 1;

	for (size_t i = 0; i < be->n_gone; i++) {
		bool used = false;

		pmap_for_each(&be->mirror, it)
		{
			const struct ment *e = it->val;

			if (e->refs && e->key.slot && e->key.proto == IPPROTO_UDP &&
			    e->want.addr == be->gone[i].addr && e->want.port == be->gone[i].port) {
				used = true;
				break;
			}
		}
		if (!used)
			be->gone[n_gone++] = be->gone[i];
	}
	be->n_gone = 0;
	if (n_gone == 0 || be->iter_failed)
		return;
	if (!be->s_iter_udp) {
		be->s_iter_udp = k8c_iter_udp__open_opts(&opts);
		if (!be->s_iter_udp || k8c_iter_udp__load(be->s_iter_udp) < 0 ||
		    !(be->iter_link =
			      bpf_program__attach_iter(be->s_iter_udp->progs.k8c_iter_udp, NULL))) {
			k8c_log_warn("UDP sockets to removed backends are not destroyed",
				     "cause=\"iter/udp with bpf_sock_destroy (kernel >= 6.5): %s\"",
				     strerror(errno));
			be->iter_failed = true;
			return;
		}
	}
	gfd = bpf_map__fd(be->s_iter_udp->maps.k8c_gone4);
	for (size_t i = 0; i < n_gone && i < 4096; i++)
		bpf_map_update_elem(gfd, &be->gone[i], &one, BPF_ANY);
	be->s_iter_udp->bss->destroyed = 0;
	cgroup_netns(be->cfg.cgroup_path, 0, &fds, &inos, &n);
	for (size_t i = 0; i < n; i++) {
		struct k8c_error err = K8C_ERROR_INIT;
		int saved = -1, it = -1;
		char buf[64];

		if (k8c_netns_enter(fds[i], &saved, &err) == 0) {
			it = bpf_iter_create(bpf_link__fd(be->iter_link));
			k8c_netns_restore(&saved);
		}
		while (it >= 0 && read(it, buf, sizeof(buf)) > 0)
			;
		if (it >= 0)
			close(it);
		close(fds[i]);
	}
	be->st->conntrack_deleted += be->s_iter_udp->bss->destroyed;
	k8c_log_debug("UDP sockets to removed backends destroyed",
		      "backends=%zu netns=%zu sockets=%llu", n_gone, n,
		      (unsigned long long)be->s_iter_udp->bss->destroyed);
	for (size_t i = 0; i < n_gone && i < 4096; i++)
		bpf_map_delete_elem(gfd, &be->gone[i]);
	free(fds);
	free(inos);
}

static int bpf_sync(void *arg, struct proxy_model *m, bool full, struct proxy_sync_stats *st,
		    struct k8c_error *err)
{
	struct bpf_be *be = arg;
	struct proxy_sync_stats local = {0};
	struct walk w = {.be = be, .m = m};

	be->st = st ? st : &local;
	memset(be->st, 0, sizeof(*be->st));
	if (!be->loaded && load(be, err) < 0)
		return -1;
	if (!be->synced)
		full = true;
	if (sync_node_ips(be, err) < 0)
		return -1;
	if (full) {
		if (read_back(be, err) < 0)
			return -1;
		pmap_for_each(&be->mirror, it) touch(be, it->val);
		proxy_model_each(m, each_all, &w);
	} else {
		proxy_model_each_dirty(m, each_dirty, &w);
	}
	if (apply(be, err) < 0) {
		be->synced = false; /* read the kernel back next time */
		return -1;
	}
	be->synced = true;
	destroy_gone_udp(be);
	be->st->transactions = be->st->messages ? 1 : 0;
	be->st->elements = be->mirror.n;
	proxy_model_clear_dirty(m);
	return 0;
}

static int bpf_cleanup(void *arg, struct k8c_error *err)
{
	struct bpf_be *be = arg;
	char path[PATH_MAX];
	int rc = 0;

	/* links first: detached, then unpinned */
	for (int h = 0; h < H_COUNT; h++) {
		link_path(be, h, path, sizeof(path));
		if (unpin_link(path) < 0 && errno != ENOENT)
			rc = k8c_error_errno(err, 0, errno, "unpin %s", path);
	}
	if (unpin_tc_links(be, false, err) < 0)
		rc = -1;
	for (size_t i = 0; i < N_MAPS; i++) {
		snprintf(path, sizeof(path), "%s/%s", be->cfg.pin_dir, map_names[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			rc = k8c_error_errno(err, 0, errno, "unpin %s", path);
	}
	if (rmdir(be->cfg.pin_dir) < 0 && errno != ENOENT && rc == 0)
		rc = k8c_error_errno(err, 0, errno, "remove %s", be->cfg.pin_dir);
	return rc;
}

static void bpf_free(void *arg)
{
	struct bpf_be *be = arg;

	if (!be)
		return;
	unload(be);
	free(be->gone);
	for (size_t i = 0; i < be->n_tc_ifs; i++)
		free(be->tc_ifs[i].name);
	free(be->tc_ifs);
	if (be->netns_fd >= 0)
		close(be->netns_fd);
	pmap_for_each(&be->mirror, it) free(it->val);
	pmap_free(&be->mirror);
	free(be->touched);
	free(be->node_ips);
	free((char *)be->cfg.pin_dir);
	free((char *)be->cfg.cgroup_path);
	free(be);
}

/* --nodeport-addresses followed while running: k8c_nodeip4_v1 becomes ips at the next sync (the
 * tc interfaces chosen at start stay). */
static void bpf_set_nodeport_ips(void *arg, const struct k8c_ipnet *ips, size_t n)
{
	struct bpf_be *be = arg;

	be->n_node_ips = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t a;

		if (ips[i].family != AF_INET)
			continue;
		memcpy(&a, ips[i].addr, 4);
		add_node_ip(be, a);
	}
}

/*
 * The tc interfaces as they are now, once a second: one that appeared, or was made again (its
 * tcx links went with the old one), gets the programs; one that went is logged. Without tc
 * interfaces, or before the programs are loaded (the loop calls again after each sync), it
 * asks for no wake-up at all (-1).
 */
static int bpf_tick(void *arg, double now_ms)
{
	struct bpf_be *be = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	int saved = -1;

	if (!be->loaded || !be->n_tc_ifs)
		return -1;
	if (now_ms - be->tc_checked < TC_CHECK_MS)
		return (int)(be->tc_checked + TC_CHECK_MS - now_ms) + 1;
	be->tc_checked = now_ms;
	if (k8c_netns_enter(be->netns_fd, &saved, &err) < 0) {
		k8c_log_warn("cannot enter the node's namespace", "error=\"%s\"", err.msg);
		k8c_error_clear(&err);
		return TC_CHECK_MS;
	}
	for (size_t i = 0; i < be->n_tc_ifs; i++) {
		struct tc_if *t = &be->tc_ifs[i];
		unsigned ifindex = if_nametoindex(t->name);

		if (ifindex == t->ifindex)
			continue;
		if (!ifindex) {
			k8c_log_warn("tc interface gone: its programs are attached again when it "
				     "comes back",
				     "interface=%s", t->name);
			t->ifindex = 0;
		} else if (attach_tc_if(be, i, &err) > 0) {
			k8c_log_info("tc programs attached", "interface=%s ifindex=%u", t->name,
				     ifindex);
		} else {
			k8c_log_warn("cannot attach the tc programs", "interface=%s error=\"%s\"",
				     t->name, err.msg ? err.msg : "gone again");
			k8c_error_clear(&err);
		}
	}
	k8c_netns_restore(&saved);
	return TC_CHECK_MS;
}

const struct proxy_backend_ops proxy_bpf_ops = {
	.name = "ebpf",
	.sync = bpf_sync,
	.tick = bpf_tick,
	.cleanup = bpf_cleanup,
	.set_nodeport_ips = bpf_set_nodeport_ips,
	.free = bpf_free,
};

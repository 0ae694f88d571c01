/*
 * The interface every k8c-proxy backend implements (nftables here, eBPF in issue 7) over one
 * service model (model.h). A backend mirrors what it programmed and turns the model's changed
 * records into the smallest kernel change.
 */
#ifndef K8C_PROXY_BACKEND_H
#define K8C_PROXY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "ipaddr.h"
#include "model.h"

struct proxy_sync_stats {
	size_t records;	     /* service port records looked at */
	size_t messages;     /* netlink messages sent (0: the kernel was not touched) */
	size_t transactions; /* batches sent */
	size_t elems_added, elems_deleted, chains_written;
	size_t conflicts;	  /* keys claimed by two services (the first one keeps them) */
	size_t conntrack_deleted; /* UDP flows to endpoints no longer used */
	size_t conntrack_errors;
	size_t elements; /* map and set elements owned after the sync */
};

struct proxy_backend_ops {
	const char *name;
	/* Program the model's changed records (all of them and remove what nothing claims when
	 * full, or on the first sync after start, which reads back the kernel's state). On
	 * failure nothing of the failed transaction is applied, the model's change marks are
	 * kept and the next sync reads the kernel state back. */
	int (*sync)(void *be, struct proxy_model *m, bool full, struct proxy_sync_stats *st,
		    struct k8c_error *err);
	/* Remove everything the backend made. */
	int (*cleanup)(void *be, struct k8c_error *err);
	/* Optional (NULL: the addresses given at start are kept): with --nodeport-addresses,
	 * NodePorts answer on exactly these addresses from the next sync on (the node's addresses
	 * or its Node object changed). Copies ips. */
	void (*set_nodeport_ips)(void *be, const struct k8c_ipnet *ips, size_t n);
	/* Optional: what the backend follows outside the API (the eBPF tc interfaces), called by
	 * the daemon's loop before each wait (now: CLOCK_MONOTONIC ms). Returns in how many ms it
	 * wants to be called again at the latest, or -1: not until something else wakes the loop
	 * (nothing to follow: the loop then sleeps until an event). */
	int (*tick)(void *be, double now_ms);
	void (*free)(void *be);
};

struct proxy_nft_config {
	struct k8c_ipnet service_cidr; /* IPv4 service CIDR: unallocated IPs are dropped */
	bool have_cluster_cidr;	       /* masquerade off-cluster clients of ClusterIPs */
	struct k8c_ipnet cluster_cidr;
	bool nodeport_filter;		/* --nodeport-addresses given: NodePorts only on */
	struct k8c_ipnet *nodeport_ips; /* these addresses (maybe none); else every local one */
	size_t n_nodeport_ips;
	size_t batch_limit; /* objects (chains, rules, elements) per transaction (0: 20000) */
};

extern const struct proxy_backend_ops proxy_nft_ops;
/* Opens a netlink socket in the calling thread's network namespace. */
void *proxy_nft_new(const struct proxy_nft_config *cfg, struct k8c_error *err);

/* For tests: a backend with no socket that keeps the batches a sync would send (starting from
 * an empty kernel); proxy_nft_dry_take() hands them over (out NULL: frees them). */
struct nft_batch;
void *proxy_nft_new_dry(const struct proxy_nft_config *cfg);
size_t proxy_nft_dry_take(void *be, struct nft_batch ***out);

#define PROXY_NFT_TABLE "k8c-proxy"

/* The eBPF backend (proxy/bpf_backend.c, programs in bpf/): socket-level load balancing by
 * cgroup sock_addr programs, maps and links pinned under pin_dir. */
struct proxy_bpf_config {
	struct k8c_ipnet service_cidr;	/* IPv4 service CIDR: unallocated IPs are refused */
	const char *pin_dir;		/* bpffs directory of maps and links (created) */
	const char *cgroup_path;	/* cgroup v2 directory the programs attach to */
	struct k8c_ipnet *nodeport_ips; /* NodePorts only on these addresses (else every local) */
	size_t n_nodeport_ips;
	/* tc programs (traffic from outside the node) on these interfaces, comma-separated; NULL:
	 * the interfaces holding the NodePort addresses (every non-loopback one with an IPv4
	 * address without --nodeport-addresses); "": none */
	const char *tc_interfaces;
	/* a listed tc interface that does not exist: attached when it appears (the daemon), or an
	 * error (false: --objects, one sync) */
	bool tc_wait;
};

#define PROXY_BPF_PIN_DIR "/sys/fs/bpf/k8c"
#define PROXY_BPF_CGROUP  "/sys/fs/cgroup/unified"

extern const struct proxy_backend_ops proxy_bpf_ops;
/* Reads the node's addresses (NodePorts) in the calling thread's network namespace; loads and
 * attaches nothing until the first sync. */
void *proxy_bpf_new(const struct proxy_bpf_config *cfg, struct k8c_error *err);

#endif

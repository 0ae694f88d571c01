/*
 * k8c up/down/status/kubeconfig: a local cluster whose nodes are network namespaces (docs/up.md).
 * cluster.c has the verbs and the daemons; cluster_net.c the kernel objects (links, namespaces,
 * routes, mounts, cgroups) and the commands they are made with.
 */
#ifndef K8C_CLI_CLUSTER_H
#define K8C_CLI_CLUSTER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define CLUSTER_MAX_NODES 64

struct cluster_node {
	char name[32];	/* node1... (the Node's name) */
	char netns[96]; /* k8c-<cluster>-node1 (/run/netns/...) */
	char veth[16];	/* host side of the node's link to the underlay */
	char ip[32];	/* InternalIP on the underlay */
	char pod_cidr[32];
};

struct cluster {
	char name[48];
	char dir[512];	       /* state dir of this cluster */
	char bin[512];	       /* where k8c-server, k8c-agent... live */
	char bridge[16];       /* underlay bridge in the host's namespace */
	char subnet[24];       /* underlay, a /24: 10.250.X.0/24 */
	char host_ip[32];      /* the host's address on it; the API server listens there */
	char cluster_cidr[24]; /* pods */
	char service_cidr[24]; /* services (fixed by the server: 10.96.0.0/12) */
	bool service_route;    /* the host's route to service_cidr is ours */
	char proxy_mode[16];
	char pod_network[16];
	int port;
	int n_nodes;
	struct cluster_node nodes[CLUSTER_MAX_NODES];
};

/* cluster.c */

#define CLUSTER_DEFAULT_STATE_DIR "/var/lib/k8c/clusters"
#define CLUSTER_DEFAULT_NAME	  "k8c"

/* Shared by the verbs: the signal flag (SIGINT, SIGTERM... set it through cli_on_signal), the
 * monotonic clock, and a progress line "[  1.23s] ..." timed from cli_t0. */
extern volatile sig_atomic_t cli_interrupted;
extern double cli_t0;
void cli_on_signal(int sig);
double cli_now(void);
void cli_sleep_ms(long ms);
void cli_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct k8c_kube;
/* Load the cluster NAME of state_dir (its state.json); a message naming verb on stderr and -1
 * when there is none. */
int cluster_open(struct cluster *c, const char *name, const char *state_dir, const char *verb);
/* An API client from the cluster's kubeconfig. */
struct k8c_kube *cluster_api(const struct cluster *c, struct k8c_error *err);
/* Whether the daemon of that role (server, agent-node1, ingress...) runs. */
bool cluster_daemon_runs(const struct cluster *c, const char *role);

/* cluster_net.c */

/* Run argv (argv[0] looked up in PATH); its stdout in *out when out is not NULL. An error names
 * the command and holds what it printed on stderr. */
int net_run(const char *const argv[], char **out, struct k8c_error *err);
/* fn(arg) run inside the network namespace /run/netns/<netns>, then back in ours. */
int net_in_netns(const char *netns, int (*fn)(void *arg, struct k8c_error *err), void *arg,
		 struct k8c_error *err);
/* Whether a link of that name exists in the host's namespace. */
bool net_link_exists(const char *name);
/* The first free /24 in 10.250.0.0/16 and /16 in 10.244-249 (no route of the host's main table
 * overlaps it, the default route aside); 0 or -1. */
int net_pick_subnet(char *subnet, size_t len, char *host_ip, size_t hlen, struct k8c_error *err);
int net_pick_cluster_cidr(char *cidr, size_t len, struct k8c_error *err);
/* Whether any route of the host's main table (the default route aside) overlaps cidr. */
bool net_route_overlaps(const char *cidr);
/* The underlay: the bridge with the host's address, then one namespace per node and its link. */
int net_underlay_up(const struct cluster *c, struct k8c_error *err);
int net_node_up(const struct cluster *c, const struct cluster_node *n, struct k8c_error *err);
/* host-gw routes, once the nodes have podCIDRs: every node to the others' podCIDRs, the host to
 * all, the cluster CIDR unreachable otherwise; the service CIDR to the first node. */
int net_routes(struct cluster *c, struct k8c_error *err);
/* eBPF proxy mode: the node's cgroup v2 directory (where the agent puts its pods: the proxy's
 * --cgroup-path) and its private bpffs (the pins live in bpffs/k8c), both made by
 * net_node_ebpf_up; the paths are malloc'd (NULL: no cgroup v2 hierarchy). */
int net_cgroup2_root(char *out, size_t len);
char *net_node_cgroup2(const struct cluster *c, const struct cluster_node *n);
char *net_node_bpffs(const struct cluster *c, const struct cluster_node *n);
int net_node_ebpf_up(const struct cluster *c, const struct cluster_node *n, struct k8c_error *err);
/* cluster_vxlan.c: --pod-network vxlan (libnl). net_vxlan_device: node i's vxlan device, made
 * with the node before its daemons start (the eBPF proxy attaches tc programs to it);
 * net_vxlan_node, once the nodes have podCIDRs: its address and its peers' neighbour, fdb and
 * route entries. The underlay links carry UNDERLAY_MTU_VXLAN so the overlay keeps an MTU of
 * 1500. */
#define UNDERLAY_MTU_VXLAN "1550"
/* The pod bridge of the agent's default conflist (agent/main.c) in each node. */
#define NET_POD_BRIDGE "k8c0"
#define NET_VXLAN_DEV  "k8cvx0"
int net_vxlan_device(const struct cluster *c, int i, struct k8c_error *err);
int net_vxlan_node(const struct cluster *c, int i, struct k8c_error *err);
/* Remove every kernel object of the cluster that exists; the messages of what failed go to
 * stderr. Returns the number of failures. */
int net_teardown(const struct cluster *c);
/* What a cluster holds, for `status` and the tests. */
int net_count_mounts(const char *dir);

#endif

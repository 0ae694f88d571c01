/*
 * k8c-agent, the node agent (issue 4, docs/agent.md): shared configuration and the entry points
 * of its parts (node.c: Node, Lease, conditions; pods.c: pod sync).
 */
#ifndef K8C_AGENT_AGENT_H
#define K8C_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "kubeconfig.h"

struct k8c_agent_config {
	const char *root_dir;	   /* pods' files, runtime state: /var/lib/k8c-agent */
	const char *runc_root;	   /* runc --root */
	bool runc_memfd;	   /* runc from a sealed memfd copy (--runc-memfd, default) */
	const char *cni_bin_dir;   /* CNI_PATH */
	const char *cni_conf_dir;  /* /etc/cni/net.d */
	const char *cni_cache_dir; /* /var/lib/cni */
	const char *netns_dir;	   /* /var/run/netns */
	const char *cgroup_parent; /* "/k8c/<node>" */
	const char *image_root;	   /* image store */
	const char *node_name, *node_ip;
	const char *pod_cidr;	  /* fallback when the Node's spec has none */
	const char *cluster_cidr; /* pods of all nodes: not masqueraded (default conflist) */
	const char *node_labels, *taints;
	const char *cluster_dns, *cluster_domain;
	int port; /* kubelet endpoint (status.daemonEndpoints) */
	long max_pods;
	long long cpu_milli, memory_bytes; /* 0: from the machine */
	int workers;			   /* pod sync threads */
	bool insecure_registry;
	const char *client_ca_file; /* node server clients (default: the kubeconfig's CA) */
	struct k8c_kubeconfig kc;
};

/* pods.c: the node loop, until SIGTERM/SIGINT (pods keep running). */
int k8c_agent_run(struct k8c_agent_config *cfg, struct k8c_error *err);

#endif

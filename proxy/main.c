/*
 * k8c-proxy: the service proxy. It watches Services and EndpointSlices (proxy/run.c) or, for
 * tests and benchmarks, takes them from files: each --objects FILE (a JSON array or List)
 * replaces the model and is synced in turn (incrementally after the first), then it exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cleanup.h"
#include "log.h"
#include "model.h"
#include "netns.h"
#include "nodeaddr.h"
#include "run.h"

static void usage(FILE *f)
{
	fputs("Usage: k8c-proxy [options]\n"
	      "Programs the node's nftables or eBPF socket load balancer for Kubernetes Services\n"
	      "(docs/proxy.md).\n\n"
	      "  --kubeconfig PATH          API server credentials (else $KUBECONFIG,\n"
	      "                             the in-cluster config, ~/.kube/config)\n"
	      "  --node-name NAME           this node (traffic policy Local)\n"
	      "  --mode nftables|ebpf       the backend (default nftables)\n"
	      "  --cgroup-path DIR          ebpf: the cgroup v2 directory whose processes are\n"
	      "                             balanced (default " PROXY_BPF_CGROUP ")\n"
	      "  --bpf-pin-dir DIR          ebpf: where maps and links are pinned (bpffs;\n"
	      "                             default " PROXY_BPF_PIN_DIR ")\n"
	      "  --tc-interfaces IF,...     ebpf: tc programs for traffic from outside the node\n"
	      "                             on these (default: the interfaces holding the\n"
	      "                             NodePort addresses; \"\" for none)\n"
	      "  --netns PATH               program the nftables of this network namespace\n"
	      "                             (the API is still reached from the caller's)\n"
	      "  --service-cidr CIDR        IPv4 service CIDR (default 10.96.0.0/12)\n"
	      "  --cluster-cidr CIDR        pod CIDR: masquerade other clients of ClusterIPs\n"
	      "  --nodeport-addresses LIST  NodePorts only on the node's addresses inside these\n"
	      "                             IPv4 CIDRs and, for \"primary\", its Node's\n"
	      "                             InternalIPs (comma-separated; default: every local\n"
	      "                             address); followed while running\n"
	      "  --metrics-bind-address HOST:PORT  /healthz and /metrics (default\n"
	      "                             127.0.0.1:10249; \"\" for none)\n"
	      "  --min-sync-period MS       at most one sync per MS (default 1000); a change\n"
	      "                             after a quiet time is programmed at once\n"
	      "  --max-transaction N        objects per nftables transaction (default 20000)\n"
	      "  --cleanup                  remove everything k8c-proxy made, and exit\n"
	      "  --objects FILE             instead of watching the API, sync the Services and\n"
	      "                             EndpointSlices of FILE (repeatable), then exit\n"
	      "  --full                     with --objects: every sync is a full one\n"
	      "  --log-level LEVEL          debug, info, warn, error\n"
	      "  --help\n",
	      f);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *tc_interfaces; /* --tc-interfaces (ebpf) */
static bool tc_wait;		  /* the daemon: a listed tc interface may come later */

static void *new_backend(const struct proxy_backend_ops *ops, const struct proxy_nft_config *cfg,
			 const char *cgroup_path, const char *pin_dir, struct k8c_error *err)
{
	if (ops == &proxy_bpf_ops) {
		struct proxy_bpf_config bc = {
			.service_cidr = cfg->service_cidr,
			.pin_dir = pin_dir,
			.cgroup_path = cgroup_path,
			.nodeport_ips = cfg->nodeport_ips,
			.n_nodeport_ips = cfg->n_nodeport_ips,
			.tc_interfaces = tc_interfaces,
			.tc_wait = tc_wait,
		};

		return proxy_bpf_new(&bc, err);
	}
	return proxy_nft_new(cfg, err);
}

/* The backend, with the NodePort addresses of --nodeport-addresses as they are now (read in
 * the backend's network namespace; `primary` adds the Node's once the informer has it). */
static void *start_backend(const struct proxy_backend_ops *ops, struct proxy_nft_config *cfg,
			   const struct proxy_npaddr *npa, const char *cgroup_path,
			   const char *pin_dir, struct k8c_error *err)
{
	if (cfg->nodeport_filter) {
		ssize_t n = proxy_npaddr_resolve(npa, &cfg->nodeport_ips, err);

		if (n < 0)
			return NULL;
		cfg->n_nodeport_ips = (size_t)n;
		/* the eBPF backend takes addresses once, and none means every local one: it gets
		 * the listed single addresses too, local or not (as before CIDRs) */
		for (size_t i = 0; ops == &proxy_bpf_ops && i < npa->n_cidrs; i++) {
			if (npa->cidrs[i].prefix != 32)
				continue;
			cfg->nodeport_ips =
				k8c_xrealloc(cfg->nodeport_ips, (cfg->n_nodeport_ips + 1) *
									sizeof(*cfg->nodeport_ips));
			cfg->nodeport_ips[cfg->n_nodeport_ips] = npa->cidrs[i];
			cfg->nodeport_ips[cfg->n_nodeport_ips++].prefix = -1;
		}
	}
	return new_backend(ops, cfg, cgroup_path, pin_dir, err);
}

int main(int argc, char **argv)
{
	enum {
		O_KUBECONFIG = 256,
		O_NODE,
		O_MODE,
		O_SVC,
		O_CLUSTER,
		O_NP,
		O_OBJ,
		O_CLEANUP,
		O_FULL,
		O_LOG,
		O_HELP,
		O_MAXTX,
		O_MINSYNC,
		O_NETNS,
		O_METRICS,
		O_CGROUP,
		O_PINDIR,
		O_TCIF
	};
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, O_KUBECONFIG},
		{"node-name", required_argument, NULL, O_NODE},
		{"mode", required_argument, NULL, O_MODE},
		{"service-cidr", required_argument, NULL, O_SVC},
		{"cluster-cidr", required_argument, NULL, O_CLUSTER},
		{"nodeport-addresses", required_argument, NULL, O_NP},
		{"objects", required_argument, NULL, O_OBJ},
		{"cleanup", no_argument, NULL, O_CLEANUP},
		{"full", no_argument, NULL, O_FULL},
		{"max-transaction", required_argument, NULL, O_MAXTX},
		{"min-sync-period", required_argument, NULL, O_MINSYNC},
		{"netns", required_argument, NULL, O_NETNS},
		{"metrics-bind-address", required_argument, NULL, O_METRICS},
		{"cgroup-path", required_argument, NULL, O_CGROUP},
		{"bpf-pin-dir", required_argument, NULL, O_PINDIR},
		{"tc-interfaces", required_argument, NULL, O_TCIF},
		{"log-level", required_argument, NULL, O_LOG},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	struct proxy_nft_config cfg = {0};
	struct proxy_npaddr npa = {0};
	const char *node = NULL, *kubeconfig = NULL, *netns = NULL, *metrics = "127.0.0.1:10249";
	const char **files = NULL;
	size_t n_files = 0;
	bool cleanup = false, full = false, have_kc = false;
	struct k8c_kubeconfig kc = {0};
	unsigned min_sync_ms = 1000;
	enum k8c_log_level level = K8C_LOG_INFO;
	struct k8c_error err = K8C_ERROR_INIT;
	const struct proxy_backend_ops *ops = &proxy_nft_ops;
	const char *cgroup_path = NULL, *pin_dir = NULL;
	struct proxy_model *m;
	void *be;
	int c, rc = 0, netns_fd = -1; /* kept open: health-check ports are opened there */

	k8c_ipnet_parse("10.96.0.0/12", 1, &cfg.service_cidr);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KUBECONFIG:
			kubeconfig = optarg;
			break;
		case O_NODE:
			node = optarg;
			break;
		case O_MODE:
			if (strcmp(optarg, "nftables") == 0) {
				ops = &proxy_nft_ops;
			} else if (strcmp(optarg, "ebpf") == 0) {
				ops = &proxy_bpf_ops;
			} else {
				fprintf(stderr, "k8c-proxy: --mode %s: not nftables or ebpf\n",
					optarg);
				return 2;
			}
			break;
		case O_CGROUP:
			cgroup_path = optarg;
			break;
		case O_PINDIR:
			pin_dir = optarg;
			break;
		case O_TCIF:
			tc_interfaces = optarg;
			break;
		case O_SVC:
		case O_CLUSTER: {
			struct k8c_ipnet *n = c == O_SVC ? &cfg.service_cidr : &cfg.cluster_cidr;

			if (k8c_ipnet_parse(optarg, 1, n) < 0 || n->family != AF_INET) {
				fprintf(stderr, "k8c-proxy: %s %s: not an IPv4 CIDR\n",
					c == O_SVC ? "--service-cidr" : "--cluster-cidr", optarg);
				return 2;
			}
			k8c_ipnet_mask(n);
			cfg.have_cluster_cidr |= c == O_CLUSTER;
			break;
		}
		case O_NP:
			if (proxy_npaddr_parse(optarg, &npa, &err) < 0) {
				fprintf(stderr, "k8c-proxy: %s\n", err.msg);
				return 2;
			}
			cfg.nodeport_filter = true;
			break;
		case O_OBJ:
			files = k8c_xrealloc(files, (n_files + 1) * sizeof(*files));
			files[n_files++] = optarg;
			break;
		case O_CLEANUP:
			cleanup = true;
			break;
		case O_FULL:
			full = true;
			break;
		case O_MAXTX: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v < 1 || v > 10000000) {
				fprintf(stderr, "k8c-proxy: --max-transaction %s: not a count\n",
					optarg);
				return 2;
			}
			cfg.batch_limit = v;
			break;
		}
		case O_NETNS:
			netns = optarg;
			break;
		case O_METRICS:
			metrics = *optarg ? optarg : NULL;
			break;
		case O_MINSYNC: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v > 600000) {
				fprintf(stderr,
					"k8c-proxy: --min-sync-period %s: not milliseconds\n",
					optarg);
				return 2;
			}
			min_sync_ms = (unsigned)v;
			break;
		}
		case O_LOG:
			if (k8c_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "k8c-proxy: --log-level %s: unknown level\n",
					optarg);
				return 2;
			}
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "k8c-proxy: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	k8c_log_init("k8c-proxy", level);
	if (!cleanup && n_files == 0 && k8c_kubeconfig_default(kubeconfig, NULL, &kc, &err) < 0) {
		fprintf(stderr, "k8c-proxy: %s\n", err.msg);
		k8c_error_clear(&err);
		return 2;
	}
	have_kc = !cleanup && n_files == 0;
	tc_wait = have_kc;
	if (netns) {
		/* the backend's netlink socket belongs to the namespace it was opened in */
		int fd = k8c_netns_open(netns, &err), saved = -1;

		netns_fd = fd;

		if (fd < 0 || k8c_netns_enter(fd, &saved, &err) < 0) {
			fprintf(stderr, "k8c-proxy: --netns %s: %s\n", netns, err.msg);
			if (fd >= 0)
				close(fd);
			return 2;
		}
		be = start_backend(ops, &cfg, &npa, cgroup_path, pin_dir, &err);
		k8c_netns_restore(&saved);
	} else {
		be = start_backend(ops, &cfg, &npa, cgroup_path, pin_dir, &err);
	}
	free(cfg.nodeport_ips);
	if (!be) {
		proxy_npaddr_free(&npa);
		k8c_log_error("cannot start", "error=\"%s\"", err.msg);
		if (netns_fd >= 0)
			close(netns_fd);
		if (have_kc)
			k8c_kubeconfig_free(&kc);
		return 1;
	}
	if (cleanup) {
		if (ops->cleanup(be, &err) < 0) {
			k8c_log_error("cleanup failed", "error=\"%s\"", err.msg);
			rc = 1;
		}
		ops->free(be);
		proxy_npaddr_free(&npa);
		if (netns_fd >= 0)
			close(netns_fd);
		k8c_error_clear(&err);
		free(files);
		return rc;
	}
	m = proxy_model_new(node);
	if (have_kc) {
		struct proxy_run_opts ro = {
			.ops = ops,
			.be = be,
			.m = m,
			.kc = &kc,
			.min_sync_ms = min_sync_ms,
			.metrics_addr = metrics,
			.netns_fd = netns_fd,
			.npaddr = cfg.nodeport_filter ? &npa : NULL,
			.node_name = node,
		};

		if (proxy_run(&ro, &err) < 0) {
			k8c_log_error("stopped", "error=\"%s\"", err.msg);
			rc = 1;
		}
		k8c_kubeconfig_free(&kc);
	}
	for (size_t i = 0; i < n_files && rc == 0; i++) {
		json_error_t je;
		_cleanup_json_ json_t *list = json_load_file(files[i], 0, &je);
		struct proxy_sync_stats st;
		double t0;
		int bad;

		if (!list) {
			k8c_log_error("cannot read objects", "file=%s error=\"%s\"", files[i],
				      je.text);
			rc = 1;
			break;
		}
		bad = proxy_model_replace(m, list, &err);
		if (bad)
			k8c_log_warn("objects skipped", "file=%s count=%d last=\"%s\"", files[i],
				     bad, err.msg);
		k8c_error_clear(&err);
		t0 = now_ms();
		if (ops->sync(be, m, full, &st, &err) < 0) {
			k8c_log_error("sync failed", "error=\"%s\"", err.msg);
			rc = 1;
			break;
		}
		printf("sync file=%s records=%zu services=%zu messages=%zu transactions=%zu "
		       "added=%zu deleted=%zu chains=%zu conflicts=%zu conntrack_deleted=%zu "
		       "ms=%.1f\n",
		       files[i], st.records, proxy_model_count(m), st.messages, st.transactions,
		       st.elems_added, st.elems_deleted, st.chains_written, st.conflicts,
		       st.conntrack_deleted, now_ms() - t0);
		fflush(stdout);
	}
	proxy_model_free(m);
	proxy_npaddr_free(&npa);
	if (netns_fd >= 0)
		close(netns_fd);
	ops->free(be);
	k8c_error_clear(&err);
	free(files);
	return rc;
}

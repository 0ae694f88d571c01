/*
 * k8c-agent: the node agent (docs/agent.md). `k8c-agent [flags]` runs the node;
 * `k8c-agent cni ...` drives the CNI runtime side by hand (as cnitool) for tests and debugging.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "cni_runtime.h"
#include "log.h"

static void usage(FILE *f)
{
	fputs("Usage: k8c-agent [options]\n"
	      "       k8c-agent cni [dir options] add|del|check ID NETNS [NS NAME UID]\n"
	      "       k8c-agent cni [dir options] gc [VALID-ID...]\n"
	      "       k8c-agent cni [dir options] conf CIDR IPAM-DATA-DIR [CLUSTER-CIDR]\n"
	      "The node agent: registers the Node, runs the pods bound to it (docs/agent.md).\n\n"
	      "  --kubeconfig PATH       API server credentials (else $KUBECONFIG, "
	      "~/.kube/config)\n"
	      "  --node-name NAME        this node (default: the hostname)\n"
	      "  --node-ip IP            the node's InternalIP (default: first global address)\n"
	      "  --port N                the node endpoint's port (default 10250)\n"
	      "  --root-dir DIR          pods, containers, volumes (default /var/lib/k8c-agent)\n"
	      "  --runc-root DIR         runc --root (default /run/k8c-agent/runc)\n"
	      "  --runc-memfd[=BOOL]     run runc from a sealed in-memory copy, made once,\n"
	      "                          which runc 1.1 need not re-copy or bind-mount in each\n"
	      "                          runc init (default true; false: the binary)\n"
	      "  --cni-bin-dir DIRS      CNI plugins, colon-separated (default /opt/cni/bin)\n"
	      "  --cni-conf-dir DIR      CNI network configuration (default /etc/cni/net.d); the\n"
	      "                          agent writes 10-k8c.conflist there if it holds none\n"
	      "  --cni-cache-dir DIR     CNI result cache (default /var/lib/cni)\n"
	      "  --netns-dir DIR         pods' network namespaces (default /var/run/netns)\n"
	      "  --cgroup-parent PATH    cgroup of the pods (default /k8c/<node>)\n"
	      "  --image-root DIR        image store (default <root-dir>/images)\n"
	      "  --pod-cidr CIDR         pod CIDR when the Node's spec.podCIDR is empty\n"
	      "  --cluster-cidr CIDR     every node's pods: the written conflist does not\n"
	      "                          masquerade toward it (ipMasqExceptions)\n"
	      "  --max-pods N            capacity pods (default 110)\n"
	      "  --cpu N                 capacity cpu, e.g. 4 or 3500m (default: the machine)\n"
	      "  --memory BYTES          capacity memory, e.g. 8Gi (default: the machine)\n"
	      "  --node-labels K=V,...   labels of the Node at registration\n"
	      "  --register-with-taints K=V:EFFECT,...  taints of the Node at registration\n"
	      "  --cluster-dns IP        nameserver for pods (default: the node's resolv.conf)\n"
	      "  --cluster-domain NAME   default cluster.local\n"
	      "  --workers N             pod sync threads (default 16)\n"
	      "  --insecure-registry     pull over plain HTTP / unverified TLS\n"
	      "  --client-ca-file PATH   CA of the node endpoint's clients (default: the\n"
	      "                          kubeconfig's CA, the API server's)\n"
	      "  --log-level LEVEL       debug, info, warn, error\n"
	      "  --help\n",
	      f);
}

static int parse_quantity(const char *s, bool cpu, long long *out)
{
	char *end;
	double v = strtod(s, &end);
	static const struct {
		const char *suf;
		double mul;
	} sufs[] = {{"Ki", 1024.0},
		    {"Mi", 1048576.0},
		    {"Gi", 1073741824.0},
		    {"Ti", 1099511627776.0},
		    {"k", 1e3},
		    {"K", 1e3},
		    {"M", 1e6},
		    {"G", 1e9},
		    {"T", 1e12},
		    {"m", 1e-3},
		    {"", 1}};

	if (end == s || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++)
		if (!strcmp(end, sufs[i].suf)) {
			v *= sufs[i].mul;
			*out = (long long)(cpu ? v * 1000 + 0.5 : v + 0.5);
			return 0;
		}
	return -1;
}

static int cni_main(int argc, char **argv, struct k8c_agent_config *cfg)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_cni_opts o = {cfg->cni_bin_dir, cfg->cni_conf_dir, cfg->cni_cache_dir};
	struct k8c_cni *c;
	const char *cmd;
	int rc = 0;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[0];
	if (!strcmp(cmd, "conf")) {
		int r;

		if (argc != 3 && argc != 4) {
			usage(stderr);
			return 2;
		}
		r = k8c_cni_write_default_conf(cfg->cni_conf_dir, "k8c0", argv[1], argv[2],
					       argc == 4 ? argv[3] : NULL, &err);
		if (r < 0) {
			fprintf(stderr, "k8c-agent cni: %s\n", err.msg);
			k8c_error_clear(&err);
			return 1;
		}
		printf("%s\n", r ? "written" : "present");
		return 0;
	}
	c = k8c_cni_new(&o, &err);
	if (!c) {
		fprintf(stderr, "k8c-agent cni: %s\n", err.msg);
		k8c_error_clear(&err);
		return 1;
	}
	if (!strcmp(cmd, "gc")) {
		int n = k8c_cni_gc(c, (const char *const *)argv + 1, "eth0", &err);

		if (n < 0)
			rc = 1;
		else
			printf("deleted %d\n", n);
	} else if ((!strcmp(cmd, "add") || !strcmp(cmd, "del") || !strcmp(cmd, "check")) &&
		   (argc == 3 || argc == 6)) {
		struct k8c_cni_att a = {
			.container_id = argv[1],
			.netns = argv[2],
			.ifname = "eth0",
			.pod_namespace = argc == 6 ? argv[3] : NULL,
			.pod_name = argc == 6 ? argv[4] : NULL,
			.pod_uid = argc == 6 ? argv[5] : NULL,
		};
		json_t *res = NULL;

		if (!strcmp(cmd, "add"))
			rc = k8c_cni_add(c, &a, &res, &err) < 0;
		else if (!strcmp(cmd, "del"))
			rc = k8c_cni_del(c, &a, &err) < 0;
		else
			rc = k8c_cni_check(c, &a, &err) < 0;
		if (res) {
			json_dumpf(res, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(res);
		}
	} else {
		usage(stderr);
		rc = 2;
	}
	if (rc == 1)
		fprintf(stderr, "k8c-agent cni: %s (code %d)\n", err.msg, err.code);
	k8c_error_clear(&err);
	k8c_cni_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	enum {
		O_KUBECONFIG = 256,
		O_NODE,
		O_NODE_IP,
		O_PORT,
		O_ROOT,
		O_RUNC,
		O_CNI_BIN,
		O_CNI_CONF,
		O_CNI_CACHE,
		O_NETNS,
		O_CGROUP,
		O_IMAGE,
		O_POD_CIDR,
		O_MAX_PODS,
		O_CPU,
		O_MEMORY,
		O_LABELS,
		O_TAINTS,
		O_DNS,
		O_DOMAIN,
		O_WORKERS,
		O_INSECURE,
		O_CLIENT_CA,
		O_LOG,
		O_CLUSTER_CIDR,
		O_RUNC_MEMFD,
		O_HELP,
	};
	static const struct option opts[] = {
		{"kubeconfig", required_argument, NULL, O_KUBECONFIG},
		{"node-name", required_argument, NULL, O_NODE},
		{"hostname-override", required_argument, NULL, O_NODE},
		{"node-ip", required_argument, NULL, O_NODE_IP},
		{"port", required_argument, NULL, O_PORT},
		{"root-dir", required_argument, NULL, O_ROOT},
		{"runc-root", required_argument, NULL, O_RUNC},
		{"runc-memfd", optional_argument, NULL, O_RUNC_MEMFD},
		{"cni-bin-dir", required_argument, NULL, O_CNI_BIN},
		{"cni-conf-dir", required_argument, NULL, O_CNI_CONF},
		{"cni-cache-dir", required_argument, NULL, O_CNI_CACHE},
		{"netns-dir", required_argument, NULL, O_NETNS},
		{"cgroup-parent", required_argument, NULL, O_CGROUP},
		{"image-root", required_argument, NULL, O_IMAGE},
		{"pod-cidr", required_argument, NULL, O_POD_CIDR},
		{"cluster-cidr", required_argument, NULL, O_CLUSTER_CIDR},
		{"max-pods", required_argument, NULL, O_MAX_PODS},
		{"cpu", required_argument, NULL, O_CPU},
		{"memory", required_argument, NULL, O_MEMORY},
		{"node-labels", required_argument, NULL, O_LABELS},
		{"register-with-taints", required_argument, NULL, O_TAINTS},
		{"cluster-dns", required_argument, NULL, O_DNS},
		{"cluster-domain", required_argument, NULL, O_DOMAIN},
		{"workers", required_argument, NULL, O_WORKERS},
		{"insecure-registry", no_argument, NULL, O_INSECURE},
		{"client-ca-file", required_argument, NULL, O_CLIENT_CA},
		{"log-level", required_argument, NULL, O_LOG},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	struct k8c_agent_config cfg = {
		.root_dir = "/var/lib/k8c-agent",
		.runc_root = "/run/k8c-agent/runc",
		.runc_memfd = true,
		.cni_bin_dir = "/opt/cni/bin",
		.cni_conf_dir = "/etc/cni/net.d",
		.cni_cache_dir = "/var/lib/cni",
		.netns_dir = "/var/run/netns",
		.cluster_domain = "cluster.local",
		.port = 10250,
		.max_pods = 110,
		.workers = 16,
	};
	const char *kubeconfig = NULL;
	enum k8c_log_level level = K8C_LOG_INFO;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *image_root = NULL, *cgroup_parent = NULL, *hostname = NULL;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case O_KUBECONFIG:
			kubeconfig = optarg;
			break;
		case O_NODE:
			cfg.node_name = optarg;
			break;
		case O_NODE_IP:
			cfg.node_ip = optarg;
			break;
		case O_PORT:
			cfg.port = (int)strtol(optarg, &end, 10);
			if (*end || cfg.port < 1 || cfg.port > 65535) {
				fprintf(stderr, "k8c-agent: --port %s: not a port\n", optarg);
				return 2;
			}
			break;
		case O_ROOT:
			cfg.root_dir = optarg;
			break;
		case O_RUNC:
			cfg.runc_root = optarg;
			break;
		case O_RUNC_MEMFD:
			if (!optarg || strcmp(optarg, "true") == 0) {
				cfg.runc_memfd = true;
			} else if (strcmp(optarg, "false") == 0) {
				cfg.runc_memfd = false;
			} else {
				fprintf(stderr, "k8c-agent: --runc-memfd=%s: not true or false\n",
					optarg);
				return 2;
			}
			break;
		case O_CNI_BIN:
			cfg.cni_bin_dir = optarg;
			break;
		case O_CNI_CONF:
			cfg.cni_conf_dir = optarg;
			break;
		case O_CNI_CACHE:
			cfg.cni_cache_dir = optarg;
			break;
		case O_NETNS:
			cfg.netns_dir = optarg;
			break;
		case O_CGROUP:
			cfg.cgroup_parent = optarg;
			break;
		case O_IMAGE:
			cfg.image_root = optarg;
			break;
		case O_POD_CIDR:
			cfg.pod_cidr = optarg;
			break;
		case O_CLUSTER_CIDR:
			cfg.cluster_cidr = optarg;
			break;
		case O_MAX_PODS:
			cfg.max_pods = strtol(optarg, &end, 10);
			if (*end || cfg.max_pods < 1) {
				fprintf(stderr, "k8c-agent: --max-pods %s: not a count\n", optarg);
				return 2;
			}
			break;
		case O_CPU:
		case O_MEMORY: {
			long long v;

			if (parse_quantity(optarg, c == O_CPU, &v) < 0 || v <= 0) {
				fprintf(stderr, "k8c-agent: --%s %s: not a quantity\n",
					c == O_CPU ? "cpu" : "memory", optarg);
				return 2;
			}
			if (c == O_CPU)
				cfg.cpu_milli = v;
			else
				cfg.memory_bytes = v;
			break;
		}
		case O_LABELS:
			cfg.node_labels = optarg;
			break;
		case O_TAINTS:
			cfg.taints = optarg;
			break;
		case O_DNS:
			cfg.cluster_dns = optarg;
			break;
		case O_DOMAIN:
			cfg.cluster_domain = optarg;
			break;
		case O_WORKERS:
			cfg.workers = (int)strtol(optarg, &end, 10);
			if (*end || cfg.workers < 1 || cfg.workers > 256) {
				fprintf(stderr, "k8c-agent: --workers %s: 1..256\n", optarg);
				return 2;
			}
			break;
		case O_INSECURE:
			cfg.insecure_registry = true;
			break;
		case O_CLIENT_CA:
			cfg.client_ca_file = optarg;
			break;
		case O_LOG:
			if (k8c_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "k8c-agent: --log-level %s: unknown level\n",
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
	k8c_log_init("k8c-agent", level);
	if (optind < argc && !strcmp(argv[optind], "cni"))
		return cni_main(argc - optind - 1, argv + optind + 1, &cfg);
	if (optind < argc) {
		fprintf(stderr, "k8c-agent: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!cfg.node_name) {
		char h[256] = "";

		gethostname(h, sizeof(h) - 1);
		for (char *p = h; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cfg.node_name = hostname = k8c_xstrdup(h);
	}
	if (!cfg.image_root)
		cfg.image_root = image_root = k8c_xasprintf("%s/images", cfg.root_dir);
	if (!cfg.cgroup_parent)
		cfg.cgroup_parent = cgroup_parent = k8c_xasprintf("/k8c/%s", cfg.node_name);
	if (k8c_kubeconfig_default(kubeconfig, NULL, &cfg.kc, &err) < 0) {
		fprintf(stderr, "k8c-agent: %s\n", err.msg);
		k8c_error_clear(&err);
		return 2;
	}
	if (k8c_agent_run(&cfg, &err) < 0) {
		k8c_log_error("stopped", "error=\"%s\"", err.msg);
		rc = 1;
	}
	k8c_kubeconfig_free(&cfg.kc);
	k8c_error_clear(&err);
	return rc;
}

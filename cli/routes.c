/*
 * k8c routes: the host-gw routes of a machine of a real deployment (docs/deploy.md "Pod traffic
 * between machines"): for every other Node with a podCIDR and an InternalIP, `ip route replace
 * <podCIDR> via <InternalIP>`, printed, or run with --apply (root). What `k8c up` does between
 * its node namespaces, for machines of one L2 segment; run again after a node joins.
 */

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "cluster.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "objutil.h"

static void usage(FILE *f)
{
	fputs("Usage: k8c routes --node NAME [--kubeconfig PATH] [--apply]\n"
	      "The routes this machine (the Node NAME) needs to reach the other nodes' pods on "
	      "one\n"
	      "L2 segment: `ip route replace <podCIDR> via <InternalIP>` for every other Node "
	      "with\n"
	      "both, printed; --apply runs them (root). docs/deploy.md.\n\n"
	      "  --node NAME        this machine's Node (its own podCIDR is left out)\n"
	      "  --kubeconfig PATH  credentials (default $KUBECONFIG, ~/.kube/config)\n"
	      "  --apply            run the commands instead of printing them\n"
	      "  --help             show this help\n",
	      f);
}

int cli_routes(int argc, char **argv)
{
	static const struct option lo[] = {
		{"node", required_argument, NULL, 'n'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"apply", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *node = NULL, *kc = NULL;
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = NULL;
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *rv = NULL;
	bool apply = false;
	int opt, ret = 1, n = 0;
	size_t i;
	json_t *o;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n':
			node = optarg;
			break;
		case 'k':
			kc = optarg;
			break;
		case 'a':
			apply = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!node || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (k8c_kubeconfig_default(kc, NULL, &cfg, &err) < 0 ||
	    !(k = k8c_kube_new(&cfg, NULL, &err)) ||
	    k8c_kube_list(k, K8C_GVR_NODES, NULL, NULL, &items, &rv, &err) < 0)
		goto fail;
	json_array_foreach(items, i, o)
	{
		const char *name = k8c_str_at(o, "metadata.name"),
			   *cidr = k8c_str_at(o, "spec.podCIDR");
		const char *ip = k8c_node_address(o, "InternalIP");
		const char *argv_ip[] = {"ip", "route", "replace", cidr, "via", ip, NULL};

		if (!name || !strcmp(name, node))
			continue;
		if (!cidr || !ip) {
			fprintf(stderr, "k8c routes: node %s: no %s yet (not routed)\n", name,
				cidr ? "InternalIP" : "podCIDR");
			continue;
		}
		if (!apply) {
			printf("ip route replace %s via %s    # node %s\n", cidr, ip, name);
		} else if (net_run(argv_ip, NULL, &err) < 0) {
			k8c_error_wrap(&err, "node %s", name);
			goto fail;
		} else {
			fprintf(stderr, "k8c routes: %s via %s (node %s)\n", cidr, ip, name);
		}
		n++;
	}
	if (!n)
		fprintf(stderr, "k8c routes: no other node with a podCIDR and an InternalIP\n");
	ret = 0;
fail:
	if (ret) {
		fprintf(stderr, "k8c routes: %s\n", err.msg ? err.msg : "failed");
		k8c_error_clear(&err);
	}
	if (k)
		k8c_kube_free(k);
	k8c_kubeconfig_free(&cfg);
	return ret;
}

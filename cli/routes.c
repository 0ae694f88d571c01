/*
 * k8c routes: the host-gw routes of a machine of a real deployment (docs/deploy.md "Pod traffic
 * between machines"): for every other Node with a podCIDR and an InternalIP, a route to the
 * podCIDR via the InternalIP, printed as `ip route replace` commands, made once with --apply
 * (root), or kept with --watch: a daemon that follows the Nodes (an informer) and makes, changes
 * and removes the routes as Nodes join, change address or leave. What `k8c up` does between its
 * node namespaces, for machines of one L2 segment.
 *
 * The routes it makes carry the routing protocol number K8C_ROUTE_PROTO (`proto 140` in `ip
 * route`), so that it knows its own: --watch removes a route of that protocol whose Node is gone
 * (also one that left while it was not running) and leaves every other route alone.
 */

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "cluster.h"
#include "informer.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "log.h"
#include "objutil.h"

#define K8C_ROUTE_PROTO "140"
#define RESYNC_MS	30000 /* --watch: routes checked again (one removed by hand is made again) */

static void usage(FILE *f)
{
	fputs("Usage: k8c routes --node NAME [--kubeconfig PATH] [--apply | --watch]\n"
	      "The routes this machine (the Node NAME) needs to reach the other nodes' pods on "
	      "one\n"
	      "L2 segment: a route to every other Node's podCIDR via its InternalIP, printed as\n"
	      "`ip route replace` commands; --apply makes them once (root); --watch keeps them\n"
	      "(root, runs until SIGTERM): it follows the Nodes and makes, changes and removes\n"
	      "the routes as Nodes join, change address or leave, and checks them every 30 s.\n"
	      "Its routes carry `proto " K8C_ROUTE_PROTO "`; no other route is touched. "
	      "docs/deploy.md.\n\n"
	      "  --node NAME        this machine's Node (its own podCIDR is left out)\n"
	      "  --kubeconfig PATH  credentials (default $KUBECONFIG, ~/.kube/config)\n"
	      "  --apply            make the routes instead of printing the commands\n"
	      "  --watch            keep the routes (a daemon; logs one line per change)\n"
	      "  --help             show this help\n",
	      f);
}

/* Adds node o's route (podCIDR -> InternalIP) to want unless it is self or lacks one. */
static void want_node(json_t *want, const json_t *o, const char *self, bool quiet)
{
	const char *name = k8c_str_at(o, "metadata.name"), *cidr = k8c_str_at(o, "spec.podCIDR");
	const char *ip = k8c_node_address(o, "InternalIP");

	if (!name || !strcmp(name, self))
		return;
	if (!cidr || !ip) {
		if (!quiet)
			fprintf(stderr, "k8c routes: node %s: no %s yet (not routed)\n", name,
				cidr ? "InternalIP" : "podCIDR");
		return;
	}
	json_object_set_new(want, cidr, json_pack("{s:s, s:s}", "via", ip, "node", name));
}

/* The routes of protocol K8C_ROUTE_PROTO in the main table: destination -> gateway. */
static json_t *our_routes(struct k8c_error *err)
{
	const char *argv[] = {"ip", "-j", "route", "show", "proto", K8C_ROUTE_PROTO, NULL};
	_cleanup_free_ char *out = NULL;
	json_t *list, *have, *r;
	json_error_t je;
	size_t i;

	if (net_run(argv, &out, err) < 0)
		return NULL;
	if (!(list = json_loads(out && *out ? out : "[]", 0, &je)) || !json_is_array(list)) {
		json_decref(list);
		k8c_error_set(err, 0, "ip -j route show: not a JSON array: %s", je.text);
		return NULL;
	}
	have = json_object();
	json_array_foreach(list, i, r)
	{
		const char *dst = k8c_str_at(r, "dst"), *gw = k8c_str_at(r, "gateway");
		_cleanup_free_ char *key = NULL;

		if (!dst)
			continue;
		key = strchr(dst, '/') ? strdup(dst) : k8c_xasprintf("%s/32", dst);
		json_object_set_new(have, key, json_string(gw ? gw : ""));
	}
	json_decref(list);
	return have;
}

/* Makes the routes of want that are missing or differ; with remove, deletes our routes that
 * want does not have. Returns the number of changes, -1 on the first error. */
static int sync_routes(json_t *want, bool remove, struct k8c_error *err)
{
	_cleanup_json_ json_t *have = our_routes(err);
	const char *dst;
	json_t *w, *h;
	int n = 0;

	if (!have)
		return -1;
	json_object_foreach(want, dst, w)
	{
		const char *via = k8c_str_at(w, "via"), *node = k8c_str_at(w, "node");
		const char *argv[] = {"ip", "route", "replace",	      dst, "via",
				      via,  "proto", K8C_ROUTE_PROTO, NULL};

		if ((h = json_object_get(have, dst)) && !strcmp(json_string_value(h), via))
			continue;
		if (net_run(argv, NULL, err) < 0)
			return k8c_error_wrap(err, "route to node %s's pods %s via %s", node, dst,
					      via);
		k8c_log_info("route made", "node=%s dst=%s via=%s", node, dst, via);
		n++;
	}
	json_object_foreach(have, dst, h)
	{
		const char *argv[] = {"ip", "route", "del", dst, "proto", K8C_ROUTE_PROTO, NULL};

		if (!remove || json_object_get(want, dst))
			continue;
		if (net_run(argv, NULL, err) < 0)
			return k8c_error_wrap(err, "removing the route to %s (its node is gone)",
					      dst);
		k8c_log_info("route removed", "dst=%s via=%s reason=\"no node has this podCIDR\"",
			     dst, json_string_value(h));
		n++;
	}
	return n;
}

/* --watch: follows the Nodes until SIGTERM or SIGINT. */
static int watch(const struct k8c_kubeconfig *cfg, const char *self, struct k8c_error *err)
{
	struct k8c_informer_opts o = {.gvr = K8C_GVR_NODES, .user_agent = "k8c-routes"};
	struct k8c_informer *inf = NULL;
	sigset_t mask;
	int sfd = -1, ret = -1;
	bool dirty = true;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		k8c_error_errno(err, 0, errno, "signalfd");
		goto out;
	}
	if (!(inf = k8c_informer_new(cfg, &o, err)) || k8c_informer_start(inf, err) < 0)
		goto out;
	k8c_log_info("watching nodes", "node=%s proto=%s", self, K8C_ROUTE_PROTO);
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
				      {.fd = k8c_informer_fd(inf), .events = POLLIN}};
		int r = poll(p, 2, RESYNC_MS);

		if (r < 0 && errno != EINTR) {
			k8c_error_errno(err, 0, errno, "poll");
			goto out;
		}
		if (r > 0 && (p[0].revents & POLLIN)) {
			k8c_log_info("stopping", "reason=signal routes=kept");
			ret = 0;
			goto out;
		}
		if (r > 0 && (p[1].revents & POLLIN) && k8c_informer_dispatch(inf, NULL, NULL) > 0)
			dirty = true;
		if (r == 0)
			dirty = true; /* the periodic check */
		if (dirty && k8c_informer_has_synced(inf)) {
			_cleanup_json_ json_t *want = json_object();
			const char *key;
			json_t *n;
			struct k8c_error e = K8C_ERROR_INIT;

			json_object_foreach(k8c_informer_cache(inf), key, n)
				want_node(want, n, self, true);
			/* a failed change is logged and tried again at the next check */
			if (sync_routes(want, true, &e) < 0) {
				char q[512];

				k8c_log_error(
					"route sync failed", "error=%s",
					k8c_log_quote(q, sizeof(q), e.msg ? e.msg : "failed"));
				k8c_error_clear(&e);
			}
			dirty = false;
		}
	}
out:
	if (inf)
		k8c_informer_free(inf);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

int cli_routes(int argc, char **argv)
{
	static const struct option lo[] = {
		{"node", required_argument, NULL, 'n'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"apply", no_argument, NULL, 'a'},
		{"watch", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *node = NULL, *kc = NULL;
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = NULL;
	_cleanup_json_ json_t *items = NULL, *want = json_object();
	_cleanup_free_ char *rv = NULL;
	bool apply = false, watching = false;
	int opt, ret = 1;
	const char *dst;
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
		case 'w':
			watching = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!node || optind < argc || (apply && watching)) {
		usage(stderr);
		return 2;
	}
	if (k8c_kubeconfig_default(kc, NULL, &cfg, &err) < 0)
		goto fail;
	k8c_log_init("k8c-routes", K8C_LOG_INFO);
	if (watching) {
		if (watch(&cfg, node, &err) < 0)
			goto fail;
		ret = 0;
		goto fail;
	}
	if (!(k = k8c_kube_new(&cfg, NULL, &err)) ||
	    k8c_kube_list(k, K8C_GVR_NODES, NULL, NULL, &items, &rv, &err) < 0)
		goto fail;
	json_array_foreach(items, i, o) want_node(want, o, node, false);
	if (!json_object_size(want))
		fprintf(stderr, "k8c routes: no other node with a podCIDR and an InternalIP\n");
	if (apply) {
		if (sync_routes(want, false, &err) < 0)
			goto fail;
	} else {
		json_object_foreach(want, dst, o) printf(
			"ip route replace %s via %s proto " K8C_ROUTE_PROTO "    # node %s\n", dst,
			k8c_str_at(o, "via"), k8c_str_at(o, "node"));
	}
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

/*
 * k8c bench: service throughput on a `k8c up` cluster (docs/up.md "k8c bench"). In a namespace of
 * its own it runs a netserver pod on node1 (and node2), a NodePort Service for each and an
 * Ingress through k8c-ingress, then one client pod on node1 running /netbench of the same image:
 * TCP throughput (HTTP downloads), keep-alive request rate and new connections per second to
 * each server by pod IP, ClusterIP, NodePort (node1's InternalIP) and Ingress, on the same node
 * and across nodes. The client prints a JSON line per test; they are read from pods/log as they
 * come. The table gives each path as a ratio to pod IP on the same placement; JSON, CSV and a
 * gnuplot chart go to --out.
 *
 * Each path reaches its own server port (netserver serves HTTP on SRV_PORT(path)): the server
 * closes first and keeps TIME_WAIT entries of the connections/s test, and a SYN of another path
 * on the same four-tuple at the server (a ClusterIP DNATed to the pod after the pod IP test, a
 * NodePort masqueraded to the node's address, which k8c-ingress's own connections to the backend
 * also come from) carries TCP timestamps of another offset (Linux derives it from the
 * addresses the client sees), fails PAWS and waits for its retransmission a second later: that
 * under-counted the service paths' connections/s in nftables mode.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "cluster.h"
#include "fsutil.h"
#include "kube_client.h"
#include "objutil.h"

#define IMAGE	       "k8c.io/netserver:latest"
#define WARMUP_S       20 /* how long the client waits for a path to answer before measuring */
#define QUICK_SECS     0.4
#define DEFAULT_SECS   1.0
#define DEFAULT_ROUNDS 3
#define MAX_ROUNDS     20
/* The client pod's command: netbench once k8c bench has set net.ipv4.tcp_timestamps to 2 in the
 * pod's network namespace (client_tcp_ts), or after 30 s without. */
#define CLIENT_SH                                                                                  \
	"i=0; while [ \"$(cat /proc/sys/net/ipv4/tcp_timestamps)\" != 2 ] && [ $i -lt 300 ]; do "  \
	"sleep 0.1; i=$((i+1)); done; exec /netbench \"$@\""
#define SRV_PORT(path) (8080 + (path)) /* the server port of a path: 8080 pod IP ... 8083 */
#define SVC_PORT(path) (79 + (path))   /* its Service port: 80 ClusterIP, 81 NodePort, 82 Ingress */

/* The paths, in the table's order; placement: the server on the client's node or another. */
enum path { P_POD, P_CLUSTERIP, P_NODEPORT, P_INGRESS, P_N };
enum kind { K_TPUT, K_RPS, K_CPS, K_N };
static const char *const path_id[P_N] = {"pod", "clusterip", "nodeport", "ingress"};
static const char *const path_label[P_N] = {"pod IP", "ClusterIP", "NodePort", "Ingress"};
static const char *const kind_id[K_N] = {"tput", "rps", "cps"};
static const char *const kind_unit[K_N] = {"Gbit/s", "req/s", "conn/s"};
static const char *const place_id[2] = {"same-node", "cross-node"};
static const char *const place_label[2] = {"same node", "cross node"};

struct result {
	bool done, failed;
	double value; /* the median of the samples */
	double samples[MAX_ROUNDS];
	int n;
	long long count, errors;
	long long syn_retrans; /* the client's SYN retransmissions during the samples */
	char error[256];
};

struct round {
	int services; /* extra Services in the cluster during the round */
	struct result r[2][P_N][K_N];
};

struct bench {
	struct cluster c;
	struct k8c_kube *k;
	char ns[64];
	int places; /* 1, or 2 with a second node */
	bool ingress;
	double secs;
	int passes; /* --rounds */
	char pod_ip[2][64], cluster_ip[2][64];
	int node_port[2]; /* of the Service port SVC_PORT(P_NODEPORT) */
	bool ts_offsets;  /* a client ran with random TCP timestamp offsets (or --tcp-ts-offsets) */
	struct round rounds[2];
	int n_rounds;
};

/* ---- objects ---- */

static int create(struct bench *b, struct k8c_gvr gvr, json_t *obj, json_t **out,
		  struct k8c_error *err)
{
	int r = k8c_kube_create(b->k, gvr, b->ns, obj, out, err);

	if (r < 0)
		k8c_error_wrap(err, "create %s %s/%s", gvr.resource, b->ns,
			       k8c_str_at(obj, "metadata.name") ?: "?");
	json_decref(obj);
	return r;
}

static json_t *pod_obj(const char *name, const char *node, json_t *command, json_t *args)
{
	json_t *ctr = json_pack("{s:s,s:s,s:s,s:o}", "name", "main", "image", IMAGE,
				"imagePullPolicy", "Never", "args", args);

	if (command)
		json_object_set_new(ctr, "command", command);
	return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s,s:i,s:s,s:[o]}}", "apiVersion", "v1",
			 "kind", "Pod", "metadata", "name", name, "labels", "k8c.io/bench", name,
			 "spec", "nodeName", node, "terminationGracePeriodSeconds", 1,
			 "restartPolicy", command ? "Never" : "Always", "containers", ctr);
}

/* The servers, their Services (NodePort) and the Ingress. */
static int make_servers(struct bench *b, struct k8c_error *err)
{
	_cleanup_json_ json_t *rules = json_array();

	for (int p = 0; p < b->places; p++) {
		char name[48], host[64], ports[64];
		json_t *svc_ports;

		snprintf(name, sizeof(name), "srv-%s", b->c.nodes[p].name);
		snprintf(ports, sizeof(ports), "%d,%d,%d,%d", SRV_PORT(P_POD),
			 SRV_PORT(P_CLUSTERIP), SRV_PORT(P_NODEPORT), SRV_PORT(P_INGRESS));
		if (create(b, K8C_GVR_PODS,
			   pod_obj(name, b->c.nodes[p].name, NULL,
				   json_pack("[s,s]", "--http-port", ports)),
			   NULL, err) < 0)
			return -1;
		svc_ports = json_array();
		for (int path = P_CLUSTERIP; path < P_N; path++)
			json_array_append_new(
				svc_ports, json_pack("{s:s,s:i,s:i}", "name", path_id[path], "port",
						     SVC_PORT(path), "targetPort", SRV_PORT(path)));
		if (create(b, K8C_GVR_SERVICES,
			   json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:{s:s},s:o}}", "apiVersion", "v1",
				     "kind", "Service", "metadata", "name", name, "spec", "type",
				     "NodePort", "selector", "k8c.io/bench", name, "ports",
				     svc_ports),
			   NULL, err) < 0)
			return -1;
		snprintf(host, sizeof(host), "%s.bench.k8c", name);
		json_array_append_new(rules,
				      json_pack("{s:s,s:{s:[{s:s,s:s,s:{s:{s:s,s:{s:i}}}}]}}",
						"host", host, "http", "paths", "path", "/",
						"pathType", "Prefix", "backend", "service", "name",
						name, "port", "number", SVC_PORT(P_INGRESS)));
	}
	if (b->ingress &&
	    create(b, K8C_GVR_INGRESSES,
		   json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:O}}", "apiVersion", "networking.k8s.io/v1",
			     "kind", "Ingress", "metadata", "name", "bench", "spec",
			     "ingressClassName", "k8c", "rules", rules),
		   NULL, err) < 0)
		return -1;
	return 0;
}

/* Until the server pods run (their IPs) and the Services have their addresses. */
static int wait_servers(struct bench *b, struct k8c_error *err)
{
	double deadline = cli_now() + 120;

	for (int p = 0; p < b->places; p++) {
		char name[48];

		snprintf(name, sizeof(name), "srv-%s", b->c.nodes[p].name);
		for (;;) {
			_cleanup_json_ json_t *pod = NULL;
			const char *phase, *ip;

			if (k8c_kube_get(b->k, K8C_GVR_PODS, b->ns, name, &pod, err) < 0)
				return -1;
			phase = k8c_str_at(pod, "status.phase") ?: "";
			ip = k8c_str_at(pod, "status.podIP");
			if (!strcmp(phase, "Running") && ip && *ip) {
				snprintf(b->pod_ip[p], sizeof(b->pod_ip[p]), "%s", ip);
				break;
			}
			if (!strcmp(phase, "Failed"))
				return k8c_error_set(err, 0, "pod %s/%s failed", b->ns, name);
			if (cli_interrupted)
				return k8c_error_set(err, 0, "interrupted");
			if (cli_now() > deadline)
				return k8c_error_set(err, 0,
						     "pod %s/%s not Running within 120 s (phase "
						     "%s; `kubectl -n %s describe pod %s`)",
						     b->ns, name, *phase ? phase : "none", b->ns,
						     name);
			cli_sleep_ms(100);
		}
		{
			_cleanup_json_ json_t *svc = NULL;
			size_t i;
			json_t *sp;

			if (k8c_kube_get(b->k, K8C_GVR_SERVICES, b->ns, name, &svc, err) < 0)
				return -1;
			snprintf(b->cluster_ip[p], sizeof(b->cluster_ip[p]), "%s",
				 k8c_str_at(svc, "spec.clusterIP") ?: "");
			json_array_foreach(k8c_at(svc, "spec.ports"), i, sp)
			{
				if (json_integer_value(json_object_get(sp, "port")) ==
				    SVC_PORT(P_NODEPORT))
					b->node_port[p] = (int)json_integer_value(
						json_object_get(sp, "nodePort"));
			}
			if (!b->cluster_ip[p][0] || !b->node_port[p])
				return k8c_error_set(err, 0,
						     "Service %s/%s has no clusterIP or nodePort",
						     b->ns, name);
		}
	}
	return 0;
}

/* n ClusterIP Services selecting the servers (they have endpoints: rules in the proxy). */
static int make_dummies(struct bench *b, int from, int to, struct k8c_error *err)
{
	for (int i = from; i < to; i++) {
		char name[32];

		snprintf(name, sizeof(name), "extra-%d", i);
		if (create(b, K8C_GVR_SERVICES,
			   json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s},s:[{s:i,s:i}]}}", "apiVersion",
				     "v1", "kind", "Service", "metadata", "name", name, "spec",
				     "selector", "k8c.io/bench", "srv-node1", "ports", "port", 80,
				     "targetPort", SRV_PORT(P_POD)),
			   NULL, err) < 0)
			return -1;
		if ((i + 1) % 200 == 0 && i + 1 < to)
			cli_step("  %d/%d extra Services", i + 1, to);
		if (cli_interrupted)
			return k8c_error_set(err, 0, "interrupted");
	}
	return 0;
}

static int last_service_ip(struct bench *b, int n, char *ip, size_t len, struct k8c_error *err)
{
	_cleanup_json_ json_t *svc = NULL;
	char name[32];

	snprintf(name, sizeof(name), "extra-%d", n - 1);
	if (k8c_kube_get(b->k, K8C_GVR_SERVICES, b->ns, name, &svc, err) < 0)
		return -1;
	snprintf(ip, len, "%s", k8c_str_at(svc, "spec.clusterIP") ?: "");
	return *ip ? 0 : k8c_error_set(err, 0, "Service %s/%s has no clusterIP", b->ns, name);
}

/* ---- the client ---- */

/* sync: a ClusterIP that must answer before the round is measured (the last extra Service:
 * node1's proxy has programmed them all), or NULL. */
static json_t *client_args(const struct bench *b, const char *sync)
{
	json_t *a = json_array();
	const char *n1 = b->c.nodes[0].ip;
	char buf[256];

	snprintf(buf, sizeof(buf), "%g", b->secs);
	json_array_append_new(a, json_string("--seconds"));
	json_array_append_new(a, json_string(buf));
	json_array_append_new(a, json_string("--warmup"));
	snprintf(buf, sizeof(buf), "%d", WARMUP_S);
	json_array_append_new(a, json_string(buf));
	json_array_append_new(a, json_string("--rounds"));
	snprintf(buf, sizeof(buf), "%d", b->passes);
	json_array_append_new(a, json_string(buf));
	if (sync) {
		/* an id of no path: its result line is ignored */
		snprintf(buf, sizeof(buf), "sync/same-node,rps,%s:80", sync);
		json_array_append_new(a, json_string(buf));
	}
	for (int p = 0; p < b->places; p++)
		for (int path = 0; path < P_N; path++) {
			if (path == P_INGRESS && !b->ingress)
				continue;
			for (int k = 0; k < K_N; k++) {
				const char *id = path_id[path], *kd = kind_id[k];
				const char *pl = place_id[p];
				const char *node = b->c.nodes[p].name;

				switch (path) {
				case P_POD:
					snprintf(buf, sizeof(buf), "%s/%s,%s,%s:%d", id, pl, kd,
						 b->pod_ip[p], SRV_PORT(P_POD));
					break;
				case P_CLUSTERIP:
					snprintf(buf, sizeof(buf), "%s/%s,%s,%s:%d", id, pl, kd,
						 b->cluster_ip[p], SVC_PORT(P_CLUSTERIP));
					break;
				case P_NODEPORT:
					snprintf(buf, sizeof(buf), "%s/%s,%s,%s:%d", id, pl, kd, n1,
						 b->node_port[p]);
					break;
				default:
					snprintf(buf, sizeof(buf),
						 "%s/%s,%s,%s:80,srv-%s.bench.k8c", id, pl, kd, n1,
						 node);
				}
				json_array_append_new(a, json_string(buf));
			}
		}
	return a;
}

static int n_tests(const struct bench *b)
{
	return b->places * (b->ingress ? P_N : P_N - 1) * K_N;
}

static int lookup(const char *s, const char *const *v, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, v[i]))
			return i;
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, sizeof(*v) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One line of the client's log into the round; true when it is the last ("done"). */
static bool take_line(struct bench *b, struct round *rd, const char *line)
{
	_cleanup_json_ json_t *o = json_loads(line, 0, NULL);
	const char *id, *kind, *slash, *error;
	long long syn;
	char path[32];
	int p, pl, k;
	struct result *r;

	if (!o)
		return false;
	if (json_is_true(json_object_get(o, "done")))
		return true;
	id = k8c_str_at(o, "id");
	kind = k8c_str_at(o, "kind");
	if (!id || !kind || !(slash = strchr(id, '/')) || (size_t)(slash - id) >= sizeof(path))
		return false;
	snprintf(path, sizeof(path), "%.*s", (int)(slash - id), id);
	if ((p = lookup(path, path_id, P_N)) < 0 || (pl = lookup(slash + 1, place_id, 2)) < 0 ||
	    (k = lookup(kind, kind_id, K_N)) < 0)
		return false;
	r = &rd->r[pl][p][k];
	r->done = true;
	if ((error = k8c_str_at(o, "error"))) {
		r->failed = r->n == 0;
		snprintf(r->error, sizeof(r->error), "%s", error);
		cli_step("%-9s %-10s %-4s  FAILED: %s", path_label[p], place_label[pl], kind,
			 error);
		return false;
	}
	if (r->n < MAX_ROUNDS)
		r->samples[r->n++] = json_number_value(json_object_get(o, "value"));
	r->failed = false;
	r->value = median(r->samples, r->n);
	r->count += json_integer_value(json_object_get(o, "count"));
	r->errors += json_integer_value(json_object_get(o, "errors"));
	syn = json_integer_value(json_object_get(o, "synRetrans"));
	if (syn > 0)
		r->syn_retrans += syn;
	cli_step("%-9s %-10s %-4s  %10.*f %s%s%s", path_label[p], place_label[pl], kind,
		 k == K_TPUT ? 2 : 0, r->samples[r->n - 1], kind_unit[k],
		 r->errors ? " (with errors)" : "",
		 syn > 0 ? " (SYNs retransmitted: a second each)" : "");
	(void)b;
	return false;
}

/*
 * TCP timestamps without random offsets (net.ipv4.tcp_timestamps=2) in the client pod's network
 * namespace, its file <cluster>/nodes/<node1>/netns/<uid> (the agent's --netns-dir): this kernel
 * gives each connection a timestamp offset of its own, and a NodePort connection is masqueraded
 * to a random port (fully-random, as kube-proxy does), so a new connection often lands on the
 * four-tuple of a TIME_WAIT entry the server keeps from another one with an unrelated offset,
 * fails PAWS and waits for its SYN's retransmission a second later: one client opening thousands
 * of connections a second through SNAT measured that, not the path (NodePort conn/s 0.4-0.6 of
 * pod IP, down to 0.01 as TIME_WAIT entries pile up). Every path is measured with the same
 * setting. 0, or -1 when the namespace did not come within 60 s.
 */
static int client_tcp_ts(struct bench *b, const char *uid, struct k8c_error *err)
{
	_cleanup_free_ char *path =
		k8c_xasprintf("%s/nodes/%s/netns/%s", b->c.dir, b->c.nodes[0].name, uid);
	double deadline = cli_now() + 60;

	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), st = -1;
		pid_t pid;

		if (fd >= 0) {
			pid = fork();
			if (pid == 0) {
				int sf;

				if (setns(fd, CLONE_NEWNET) < 0)
					_exit(1);
				sf = open("/proc/sys/net/ipv4/tcp_timestamps",
					  O_WRONLY | O_CLOEXEC);
				_exit(sf >= 0 && write(sf, "2", 1) == 1 ? 0 : 2);
			}
			close(fd);
			if (pid > 0)
				waitpid(pid, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				return 0;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
				return k8c_error_set(err, 0,
						     "net.ipv4.tcp_timestamps in the network "
						     "namespace %s: cannot write it",
						     path);
		}
		if (cli_interrupted || cli_now() > deadline)
			return k8c_error_set(err, 0, "the client pod's network namespace %s: %s",
					     path,
					     cli_interrupted ? "interrupted" : "not within 60 s");
		cli_sleep_ms(50);
	}
}

static int run_client(struct bench *b, struct round *rd, const char *name, const char *sync,
		      struct k8c_error *err)
{
	_cleanup_free_ char *logpath = k8c_kube_path(K8C_GVR_PODS, b->ns, name, "log");
	double deadline = cli_now() + n_tests(b) * b->passes * (b->secs + 2.0) + WARMUP_S + 120;
	_cleanup_json_ json_t *made = NULL;
	size_t seen = 0;
	bool done = false;

	if (create(b, K8C_GVR_PODS,
		   pod_obj(name, b->c.nodes[0].name,
			   b->ts_offsets
				   ? json_pack("[s]", "/netbench")
				   : json_pack("[s,s,s,s]", "/bin/sh", "-c", CLIENT_SH, "netbench"),
			   client_args(b, sync)),
		   &made, err) < 0)
		return -1;
	if (!b->ts_offsets && client_tcp_ts(b, k8c_str_at(made, "metadata.uid") ?: "", err) < 0) {
		cli_step("client pod %s: %s (measuring with the default, random offsets)", name,
			 err->msg);
		k8c_error_clear(err);
		b->ts_offsets = true;
	}
	cli_step("client pod %s on %s: %d tests of %g s, %d round(s)", name, b->c.nodes[0].name,
		 n_tests(b), b->secs, b->passes);
	while (!done) {
		_cleanup_json_ json_t *pod = NULL;
		_cleanup_free_ char *text = NULL;
		const char *phase;
		size_t len;

		if (k8c_kube_get(b->k, K8C_GVR_PODS, b->ns, name, &pod, err) < 0)
			return -1;
		phase = k8c_str_at(pod, "status.phase") ?: "";
		if ((!strcmp(phase, "Running") || !strcmp(phase, "Succeeded") ||
		     !strcmp(phase, "Failed")) &&
		    k8c_kube_request_text(b->k, logpath, "container=main", &text, &len, err) == 0) {
			/* whole lines not seen yet */
			while (seen < len) {
				char *nl = memchr(text + seen, '\n', len - seen);

				if (!nl)
					break;
				*nl = 0;
				done |= take_line(b, rd, text + seen);
				seen = (size_t)(nl - text) + 1;
			}
		}
		k8c_error_clear(err);
		if (done)
			break;
		if (!strcmp(phase, "Failed") || !strcmp(phase, "Succeeded"))
			return k8c_error_set(err, 0,
					     "client pod %s/%s ended (%s) before its last result "
					     "(`kubectl -n %s logs %s`)",
					     b->ns, name, phase, b->ns, name);
		if (cli_interrupted)
			return k8c_error_set(err, 0, "interrupted");
		if (cli_now() > deadline)
			return k8c_error_set(err, 0, "client pod %s/%s: no results in time", b->ns,
					     name);
		cli_sleep_ms(!strcmp(phase, "Running") ? 300 : 100);
	}
	return 0;
}

/* ---- output ---- */

static double ratio(const struct round *rd, int pl, int p, int k)
{
	const struct result *base = &rd->r[pl][P_POD][k], *r = &rd->r[pl][p][k];

	if (!r->done || r->failed || !base->done || base->failed || base->value <= 0)
		return -1;
	return r->value / base->value;
}

static void print_cell(const struct round *rd, int pl, int p, int k)
{
	const struct result *r = &rd->r[pl][p][k];
	double x = ratio(rd, pl, p, k);

	if (!r->done)
		printf(" %10s %6s", "-", "");
	else if (r->failed)
		printf(" %10s %6s", "FAILED", "");
	else if (x < 0)
		printf(" %10.*f %6s", k == K_TPUT ? 2 : 0, r->value, "-");
	else
		printf(" %10.*f %6.2f", k == K_TPUT ? 2 : 0, r->value, x);
}

static void print_table(const struct bench *b)
{
	printf("\nk8c bench: cluster \"%s\", %d node(s), proxy %s, pod network %s, %g s a test, "
	       "median of %d round(s), one connection at a time%s\n",
	       b->c.name, b->c.n_nodes, b->c.proxy_mode, b->c.pod_network, b->secs, b->passes,
	       b->ts_offsets ? " (client with random TCP timestamp offsets)" : "");
	printf("%-9s %-10s %5s %10s %6s %10s %6s %10s %6s\n", "path", "to", "svcs", "Gbit/s",
	       "x pod", "req/s", "x pod", "conn/s", "x pod");
	for (int i = 0; i < b->n_rounds; i++)
		for (int pl = 0; pl < b->places; pl++)
			for (int p = 0; p < P_N; p++) {
				if (p == P_INGRESS && !b->ingress)
					continue;
				printf("%-9s %-10s %5d", path_label[p], place_label[pl],
				       b->rounds[i].services);
				for (int k = 0; k < K_N; k++)
					print_cell(&b->rounds[i], pl, p, k);
				putchar('\n');
			}
	fflush(stdout);
}

static json_t *results_json(const struct bench *b)
{
	json_t *rows = json_array();
	char when[32];
	time_t t = time(NULL);

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	for (int i = 0; i < b->n_rounds; i++)
		for (int pl = 0; pl < b->places; pl++)
			for (int p = 0; p < P_N; p++)
				for (int k = 0; k < K_N; k++) {
					const struct result *r = &b->rounds[i].r[pl][p][k];
					double x = ratio(&b->rounds[i], pl, p, k);
					json_t *row;

					if (!r->done)
						continue;
					row = json_pack("{s:s,s:s,s:i,s:s,s:s}", "path", path_id[p],
							"placement", place_id[pl], "services",
							b->rounds[i].services, "kind", kind_id[k],
							"unit", kind_unit[k]);
					if (r->failed) {
						json_object_set_new(row, "error",
								    json_string(r->error));
					} else {
						json_t *sm = json_array();

						for (int j = 0; j < r->n; j++)
							json_array_append_new(
								sm, json_real(r->samples[j]));
						json_object_set_new(row, "value",
								    json_real(r->value));
						json_object_set_new(row, "samples", sm);
						json_object_set_new(row, "count",
								    json_integer(r->count));
						json_object_set_new(row, "errors",
								    json_integer(r->errors));
						json_object_set_new(row, "synRetrans",
								    json_integer(r->syn_retrans));
						json_object_set_new(row, "ratioToPodIP",
								    x < 0 ? json_null()
									  : json_real(x));
					}
					json_array_append_new(rows, row);
				}
	return json_pack("{s:s,s:s,s:i,s:s,s:s,s:f,s:i,s:i,s:o}", "cluster", b->c.name, "time",
			 when, "nodes", b->c.n_nodes, "proxyMode", b->c.proxy_mode, "podNetwork",
			 b->c.pod_network, "secondsPerTest", b->secs, "rounds", b->passes,
			 "clientTcpTimestamps", b->ts_offsets ? 1 : 2, "results", rows);
}

static int write_csv(const struct bench *b, const char *path, struct k8c_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (!f)
		return k8c_error_errno(err, 0, errno, "%s", path);
	fputs("path,placement,services,kind,value,unit,ratio_to_pod_ip,count,errors,error,"
	      "syn_retrans\n",
	      f);
	for (int i = 0; i < b->n_rounds; i++)
		for (int pl = 0; pl < b->places; pl++)
			for (int p = 0; p < P_N; p++)
				for (int k = 0; k < K_N; k++) {
					const struct result *r = &b->rounds[i].r[pl][p][k];
					double x = ratio(&b->rounds[i], pl, p, k);

					if (!r->done)
						continue;
					fprintf(f, "%s,%s,%d,%s,", path_id[p], place_id[pl],
						b->rounds[i].services, kind_id[k]);
					if (r->failed)
						fprintf(f, ",%s,,,,\"%s\",\n", kind_unit[k],
							r->error);
					else if (x < 0)
						fprintf(f, "%.4f,%s,,%lld,%lld,,%lld\n", r->value,
							kind_unit[k], r->count, r->errors,
							r->syn_retrans);
					else
						fprintf(f, "%.4f,%s,%.4f,%lld,%lld,,%lld\n",
							r->value, kind_unit[k], x, r->count,
							r->errors, r->syn_retrans);
				}
	return 0;
}

/* bench.dat (a row per path, the three ratios) and bench.gp, then gnuplot for bench.png. */
static int write_chart(const struct bench *b, const char *dir, struct k8c_error *err)
{
	_cleanup_free_ char *dat = k8c_xasprintf("%s/bench.dat", dir);
	_cleanup_free_ char *gp = k8c_xasprintf("%s/bench.gp", dir);
	_cleanup_free_ char *png = k8c_xasprintf("%s/bench.png", dir);
	_cleanup_fclose_ FILE *d = fopen(dat, "we");
	_cleanup_fclose_ FILE *g = NULL;
	char *out = NULL;
	int r;

	if (!d)
		return k8c_error_errno(err, 0, errno, "%s", dat);
	fputs("# label throughput requests connections (ratios to pod IP)\n", d);
	for (int i = 0; i < b->n_rounds; i++)
		for (int pl = 0; pl < b->places; pl++)
			for (int p = 0; p < P_N; p++) {
				if (p == P_INGRESS && !b->ingress)
					continue;
				fprintf(d, "\"%s %s%s", path_label[p], pl ? "cross" : "same",
					b->n_rounds > 1 ? " " : "\"");
				if (b->n_rounds > 1)
					fprintf(d, "+%d svc\"", b->rounds[i].services);
				for (int k = 0; k < K_N; k++) {
					double x = ratio(&b->rounds[i], pl, p, k);

					if (x < 0)
						fputs(" NaN", d);
					else
						fprintf(d, " %.4f", x);
				}
				fputc('\n', d);
			}
	fclose(d);
	d = NULL;
	if (!(g = fopen(gp, "we")))
		return k8c_error_errno(err, 0, errno, "%s", gp);
	fprintf(g,
		"set terminal pngcairo size 1100,520 noenhanced\n"
		"set output '%s'\n"
		"set title 'k8c bench: %s, %d node(s), proxy %s, pod network %s (ratio to pod "
		"IP)'\n"
		"set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.8 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"
		"set grid ytics\nset ylabel 'ratio to direct pod-to-pod'\n"
		"set xtics rotate by -30\nset key top right\n"
		"plot '%s' using 2:xtic(1) title 'throughput', '' using 3 title 'requests/s', "
		"'' using 4 title 'connections/s'\n",
		png, b->c.name, b->c.n_nodes, b->c.proxy_mode, b->c.pod_network, dat);
	fclose(g);
	g = NULL;
	r = net_run((const char *const[]){"gnuplot", gp, NULL}, &out, err);
	free(out);
	return r;
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH") ?: "/usr/bin:/bin";
	_cleanup_free_ char *copy = k8c_xstrdup(path);
	char *save = NULL;

	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", d, prog);

		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

static int write_out(const struct bench *b, const char *dir, struct k8c_error *err)
{
	_cleanup_free_ char *json = k8c_xasprintf("%s/bench.json", dir);
	_cleanup_free_ char *csv = k8c_xasprintf("%s/bench.csv", dir);
	_cleanup_json_ json_t *res = results_json(b);

	if (k8c_mkdir_p(dir, 0755) < 0)
		return k8c_error_errno(err, 0, errno, "mkdir %s", dir);
	if (json_dump_file(res, json, JSON_INDENT(2)) < 0)
		return k8c_error_errno(err, 0, errno, "write %s", json);
	if (write_csv(b, csv, err) < 0)
		return -1;
	printf("\nresults: %s, %s\n", json, csv);
	if (!in_path("gnuplot")) {
		printf("chart: skipped (no gnuplot; apt-get install gnuplot-nox)\n");
		return 0;
	}
	if (write_chart(b, dir, err) < 0) {
		printf("chart: gnuplot failed: %s\n", err->msg);
		k8c_error_clear(err);
		return 0;
	}
	printf("chart: %s/bench.png\n", dir);
	return 0;
}

/* ---- clean-up ---- */

/* Namespaces of earlier runs that were not removed (a crash, --keep): their label. */
#define BENCH_LABEL "k8c.io/bench-run"

static void delete_ns(struct bench *b, const char *ns, bool wait)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *opts = json_pack("{s:i}", "gracePeriodSeconds", 0);
	_cleanup_json_ json_t *pods = NULL;
	_cleanup_free_ char *rv = NULL;
	double deadline = cli_now() + 30;
	size_t i;
	json_t *p;

	/* the pods first, at once: their containers stop now, not after the namespace's turn */
	if (k8c_kube_list(b->k, K8C_GVR_PODS, ns, NULL, &pods, &rv, &err) == 0)
		json_array_foreach(pods, i, p)
		{
			k8c_kube_delete(b->k, K8C_GVR_PODS, ns, k8c_str_at(p, "metadata.name"),
					opts, NULL, &err);
			k8c_error_clear(&err);
		}
	k8c_error_clear(&err);
	if (k8c_kube_delete(b->k, K8C_GVR_NAMESPACES, NULL, ns, NULL, NULL, &err) < 0 &&
	    err.code != 404) {
		fprintf(stderr, "k8c bench: delete namespace %s: %s\n", ns, err.msg);
		k8c_error_clear(&err);
		return;
	}
	k8c_error_clear(&err);
	while (wait && cli_now() < deadline) {
		_cleanup_json_ json_t *o = NULL;

		if (k8c_kube_get(b->k, K8C_GVR_NAMESPACES, NULL, ns, &o, &err) < 0) {
			k8c_error_clear(&err);
			return;
		}
		cli_sleep_ms(200);
	}
	if (wait)
		fprintf(stderr, "k8c bench: namespace %s still there after 30 s (being deleted)\n",
			ns);
}

static void delete_leftovers(struct bench *b)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_list_opts lo = {.label_selector = BENCH_LABEL};
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *rv = NULL;
	size_t i;
	json_t *ns;

	if (k8c_kube_list(b->k, K8C_GVR_NAMESPACES, NULL, &lo, &items, &rv, &err) < 0) {
		k8c_error_clear(&err);
		return;
	}
	json_array_foreach(items, i, ns)
	{
		const char *name = k8c_str_at(ns, "metadata.name");

		if (name && !k8c_str_at(ns, "metadata.deletionTimestamp") &&
		    !json_object_get(k8c_at(ns, "metadata.labels"), "k8c.io/bench-keep")) {
			cli_step("removing namespace %s of an earlier run", name);
			delete_ns(b, name, false);
		}
	}
}

/* ---- the verb ---- */

static void usage(FILE *f)
{
	fputs("Usage: k8c bench [OPTIONS]\n"
	      "Measure service throughput on a running `k8c up` cluster (docs/up.md): TCP\n"
	      "throughput, keep-alive requests/s and new connections/s from a client pod on node1\n"
	      "to netserver pods by pod IP, ClusterIP, NodePort and Ingress, on the same node and\n"
	      "(with 2 nodes or more) across nodes. Prints a table with each path as a ratio to\n"
	      "pod IP; writes bench.json, bench.csv and (with gnuplot) bench.png to --out.\n"
	      "Everything runs in a namespace of its own, removed at the end.\n\n"
	      "  --name NAME           the cluster (default " CLUSTER_DEFAULT_NAME ")\n"
	      "  --state-dir DIR       clusters' state (default " CLUSTER_DEFAULT_STATE_DIR ")\n"
	      "  --quick               0.4 s a test, one round (the whole run in about 15 s)\n"
	      "  --seconds S           seconds a test (default 1)\n"
	      "  --rounds R            passes over every test; the table has the median\n"
	      "                        (default 3; a busy moment of the machine spreads out)\n"
	      "  --services N          then again with N extra Services (proxy rules) in place\n"
	      "  --out DIR             results (default STATE-DIR/NAME/bench/<time>)\n"
	      "  --keep                leave the namespace, its pods and Services\n"
	      "  --tcp-ts-offsets      keep the kernel's random TCP timestamp offsets in the\n"
	      "                        client pod (by default net.ipv4.tcp_timestamps=2 there: "
	      "see\n"
	      "                        docs/up.md, SNAT and PAWS)\n"
	      "  --help                show this help\n",
	      f);
}

enum { O_NAME = 256, O_STATE, O_QUICK, O_SECS, O_ROUNDS, O_SVCS, O_OUT, O_KEEP, O_TSOFF };

int cli_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{"name", required_argument, NULL, O_NAME},
		{"state-dir", required_argument, NULL, O_STATE},
		{"quick", no_argument, NULL, O_QUICK},
		{"seconds", required_argument, NULL, O_SECS},
		{"rounds", required_argument, NULL, O_ROUNDS},
		{"services", required_argument, NULL, O_SVCS},
		{"out", required_argument, NULL, O_OUT},
		{"keep", no_argument, NULL, O_KEEP},
		{"tcp-ts-offsets", no_argument, NULL, O_TSOFF},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *name = CLUSTER_DEFAULT_NAME, *state_dir = CLUSTER_DEFAULT_STATE_DIR;
	_cleanup_free_ char *out = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	struct sigaction sa = {.sa_handler = cli_on_signal};
	struct bench *b;
	bool keep = false, quick = false, ts_offsets = false;
	double secs = 0;
	int opt, services = 0, rounds = 0, ret = 1;
	char *end;

	cli_t0 = cli_now();
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case O_NAME:
			name = optarg;
			break;
		case O_STATE:
			state_dir = optarg;
			break;
		case O_QUICK:
			quick = true;
			break;
		case O_SECS:
			secs = strtod(optarg, &end);
			if (*end || secs <= 0 || secs > 600) {
				fprintf(stderr, "k8c bench: --seconds: \"%s\" is not in (0, 600]\n",
					optarg);
				return 2;
			}
			break;
		case O_ROUNDS:
			rounds = (int)strtol(optarg, &end, 10);
			if (*end || rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "k8c bench: --rounds: \"%s\" is not in 1..%d\n",
					optarg, MAX_ROUNDS);
				return 2;
			}
			break;
		case O_SVCS:
			services = (int)strtol(optarg, &end, 10);
			if (*end || services < 0 || services > 100000) {
				fprintf(stderr,
					"k8c bench: --services: \"%s\" is not a number in "
					"0..100000\n",
					optarg);
				return 2;
			}
			break;
		case O_OUT:
			free(out);
			out = k8c_xstrdup(optarg);
			break;
		case O_KEEP:
			keep = true;
			break;
		case O_TSOFF:
			ts_offsets = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "k8c bench: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	b = k8c_xmalloc(sizeof(*b));
	memset(b, 0, sizeof(*b));
	if (cluster_open(&b->c, name, state_dir, "bench") < 0) {
		free(b);
		return 1;
	}
	b->secs = secs > 0 ? secs : quick ? QUICK_SECS : DEFAULT_SECS;
	b->passes = rounds > 0 ? rounds : quick ? 1 : DEFAULT_ROUNDS;
	b->places = b->c.n_nodes >= 2 ? 2 : 1;
	b->ts_offsets = ts_offsets;
	b->ingress = cluster_daemon_runs(&b->c, "ingress");
	if (!(b->k = cluster_api(&b->c, &err))) {
		fprintf(stderr, "k8c bench: %s\n", err.msg);
		k8c_error_clear(&err);
		free(b);
		return 1;
	}
	if (!out) {
		char when[32];
		time_t t = time(NULL);

		strftime(when, sizeof(when), "%Y%m%d-%H%M%S", gmtime(&t));
		out = k8c_xasprintf("%s/bench/%s", b->c.dir, when);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	snprintf(b->ns, sizeof(b->ns), "k8c-bench-%lx", (unsigned long)time(NULL));
	cli_step("bench on cluster \"%s\": %d node(s), proxy %s, pod network %s; namespace %s",
		 b->c.name, b->c.n_nodes, b->c.proxy_mode, b->c.pod_network, b->ns);
	delete_leftovers(b);
	{
		json_t *labels = json_pack("{s:s}", BENCH_LABEL, "true");

		if (keep)
			json_object_set_new(labels, "k8c.io/bench-keep", json_string("true"));
		if (k8c_kube_create(b->k, K8C_GVR_NAMESPACES, NULL,
				    json_pack("{s:s,s:s,s:{s:s,s:o}}", "apiVersion", "v1", "kind",
					      "Namespace", "metadata", "name", b->ns, "labels",
					      labels),
				    NULL, &err) < 0) {
			k8c_error_wrap(&err, "namespace %s", b->ns);
			goto fail_nons;
		}
	}
	if (make_servers(b, &err) < 0 || wait_servers(b, &err) < 0)
		goto fail;
	for (int p = 0; p < b->places; p++)
		cli_step("server srv-%s: pod %s, ClusterIP %s, NodePort %d", b->c.nodes[p].name,
			 b->pod_ip[p], b->cluster_ip[p], b->node_port[p]);
	if (!b->ingress)
		cli_step("no k8c-ingress runs: no Ingress path");
	b->n_rounds = 1;
	if (run_client(b, &b->rounds[0], "client", NULL, &err) < 0)
		goto fail;
	if (services > 0) {
		char last[64];

		cli_step("creating %d extra Services", services);
		if (make_dummies(b, 0, services, &err) < 0)
			goto fail;
		b->rounds[1].services = services;
		b->n_rounds = 2;
		if (last_service_ip(b, services, last, sizeof(last), &err) < 0 ||
		    run_client(b, &b->rounds[1], "client-2", last, &err) < 0)
			goto fail;
	}
	print_table(b);
	if (write_out(b, out, &err) < 0)
		goto fail;
	ret = 0;
fail:
	if (ret) {
		fprintf(stderr, "k8c bench: %s\n", err.msg ? err.msg : "failed");
		k8c_error_clear(&err);
		if (b->n_rounds)
			print_table(b);
	}
	if (keep) {
		printf("namespace %s kept (--keep): kubectl delete namespace %s\n", b->ns, b->ns);
	} else {
		cli_step("removing namespace %s", b->ns);
		delete_ns(b, b->ns, true);
		cli_step("done");
	}
	goto out;
fail_nons:
	fprintf(stderr, "k8c bench: %s\n", err.msg);
	k8c_error_clear(&err);
out:
	k8c_kube_free(b->k);
	free(b);
	return ret;
}

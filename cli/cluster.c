/*
 * k8c up | down | status | kubeconfig: a cluster on this machine whose nodes are network
 * namespaces (docs/up.md). The state of a cluster is its directory: state.json (names and
 * addresses, written before anything is made, so `down` after any crash knows what to remove),
 * run/<daemon>.pid, logs/, the server's data, each node's agent state, the shared image store.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "cluster.h"
#include "detach.h"
#include "image.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "objutil.h"

#define DEFAULT_STATE_DIR CLUSTER_DEFAULT_STATE_DIR
#define DEFAULT_NAME	  CLUSTER_DEFAULT_NAME
#define SERVICE_CIDR	  "10.96.0.0/12" /* the server's (its `kubernetes` Service is 10.96.0.1) */
#define UP_TIMEOUT_S	  120

volatile sig_atomic_t cli_interrupted;

void cli_on_signal(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

double cli_t0;

void cli_step(const char *fmt, ...)
{
	va_list ap;

	printf("[%6.2fs] ", cli_now() - cli_t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

/* Link names are short (15 bytes): they carry a hash of the cluster's name, not the name. */
static unsigned name_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h & 0xffffff;
}

static void cluster_names(struct cluster *c, const char *name, const char *state_dir)
{
	unsigned h = name_hash(name);
	char self[sizeof(c->bin)];
	ssize_t n;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", state_dir, name);
	snprintf(c->bridge, sizeof(c->bridge), "k8cb%06x", h);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	if (strrchr(self, '/'))
		*strrchr(self, '/') = 0;
	snprintf(c->bin, sizeof(c->bin), "%s", self);
	snprintf(c->service_cidr, sizeof(c->service_cidr), "%s", SERVICE_CIDR);
	c->port = 6443;
}

static void node_names(struct cluster *c, int n_nodes)
{
	unsigned h = name_hash(c->name);
	char base[sizeof(c->host_ip)];

	c->n_nodes = n_nodes;
	snprintf(base, sizeof(base), "%s", c->host_ip);
	*strrchr(base, '.') = 0;
	for (int i = 0; i < n_nodes; i++) {
		struct cluster_node *n = &c->nodes[i];

		snprintf(n->name, sizeof(n->name), "node%d", i + 1);
		snprintf(n->netns, sizeof(n->netns), "k8c-%s-node%d", c->name, i + 1);
		{
			char v[40];

			snprintf(v, sizeof(v), "k8cv%06x-%d", h, i + 1);
			memcpy(n->veth, v, sizeof(n->veth) - 1); /* 15 bytes at most: i < 64 */
		}
		snprintf(n->ip, sizeof(n->ip), "%.16s.%d", base, 11 + i);
	}
}

/* ---- state.json ---- */

static int state_save(const struct cluster *c, struct k8c_error *err)
{
	_cleanup_json_ json_t *nodes = json_array(), *st = NULL;
	_cleanup_free_ char *path = k8c_xasprintf("%s/state.json", c->dir);
	_cleanup_free_ char *tmp = k8c_xasprintf("%s/.state.json.tmp", c->dir);

	for (int i = 0; i < c->n_nodes; i++) {
		const struct cluster_node *n = &c->nodes[i];

		json_array_append_new(nodes, json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", n->name,
						       "netns", n->netns, "veth", n->veth, "ip",
						       n->ip, "podCIDR", n->pod_cidr));
	}
	st = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:i,s:O}", "name", c->name, "bin",
		       c->bin, "bridge", c->bridge, "subnet", c->subnet, "hostIP", c->host_ip,
		       "clusterCIDR", c->cluster_cidr, "serviceCIDR", c->service_cidr,
		       "serviceRoute", c->service_route, "proxyMode", c->proxy_mode, "podNetwork",
		       c->pod_network, "port", c->port, "nodes", nodes);
	if (!st || json_dump_file(st, tmp, JSON_INDENT(2)) < 0 || rename(tmp, path) < 0)
		return k8c_error_errno(err, 0, errno, "write %s", path);
	return 0;
}

static void copy_str(char *dst, size_t len, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", s ? s : "");
}

/* 1 loaded, 0 no such cluster, -1 unreadable. */
static int state_load(struct cluster *c, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/state.json", c->dir);
	_cleanup_json_ json_t *st = NULL;
	json_error_t jerr;
	json_t *nodes, *n;
	size_t i;

	if (access(path, F_OK) < 0)
		return 0;
	if (!(st = json_load_file(path, 0, &jerr)))
		return k8c_error_set(err, 0, "%s: %s", path, jerr.text);
#define S(field, key) copy_str(c->field, sizeof(c->field), st, key)
	S(bridge, "bridge");
	S(subnet, "subnet");
	S(host_ip, "hostIP");
	S(cluster_cidr, "clusterCIDR");
	S(service_cidr, "serviceCIDR");
	S(proxy_mode, "proxyMode");
	S(pod_network, "podNetwork");
#undef S
	c->service_route = json_is_true(json_object_get(st, "serviceRoute"));
	c->port = (int)json_integer_value(json_object_get(st, "port"));
	nodes = json_object_get(st, "nodes");
	c->n_nodes = 0;
	json_array_foreach(nodes, i, n)
	{
		struct cluster_node *nd = &c->nodes[c->n_nodes];

		if (c->n_nodes == CLUSTER_MAX_NODES)
			break;
		copy_str(nd->name, sizeof(nd->name), n, "name");
		copy_str(nd->netns, sizeof(nd->netns), n, "netns");
		copy_str(nd->veth, sizeof(nd->veth), n, "veth");
		copy_str(nd->ip, sizeof(nd->ip), n, "ip");
		copy_str(nd->pod_cidr, sizeof(nd->pod_cidr), n, "podCIDR");
		c->n_nodes++;
	}
	return 1;
}

/* ---- daemons: started detached, PIDs in run/<role>.pid as "PID STARTTIME EXE" ---- */

/* The start time of a process (clock ticks since boot, /proc/PID/stat field 22), 0 if gone. */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (!(p = strrchr(buf, ')')))
		return 0;
	/* after ") ": state is field 3; starttime is field 22 */
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

struct daemon {
	char role[48];
	pid_t pid;
	unsigned long long start;
	char exe[PATH_MAX];
};

/* Whether the recorded process still runs: same PID, same start time, same executable (a
 * reused PID is some other process). */
static bool daemon_alive(const struct daemon *d)
{
	char path[64], exe[PATH_MAX];
	ssize_t n;
	size_t el = strlen(d->exe);

	if (d->pid <= 1 || proc_start(d->pid) != d->start)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)d->pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) < 0)
		return false;
	exe[n] = 0;
	/* a binary rebuilt since reads "PATH (deleted)" */
	return strncmp(exe, d->exe, el) == 0 &&
	       (exe[el] == 0 || strcmp(exe + el, " (deleted)") == 0);
}

/* The daemons recorded in run/; *n of them. */
static struct daemon *daemons_load(const struct cluster *c, size_t *n)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/run", c->dir);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct daemon *v = NULL;
	struct dirent *e;

	*n = 0;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		_cleanup_free_ char *p = NULL;
		_cleanup_fclose_ FILE *f = NULL;
		struct daemon dm = {0};
		int pid;

		if (l < 5 || strcmp(e->d_name + l - 4, ".pid") != 0 || l - 4 >= sizeof(dm.role))
			continue;
		p = k8c_xasprintf("%s/%s", dir, e->d_name);
		if (!(f = fopen(p, "re")) ||
		    fscanf(f, "%d %llu %4095s", &pid, &dm.start, dm.exe) != 3)
			continue;
		dm.pid = pid;
		memcpy(dm.role, e->d_name, l - 4);
		v = k8c_xrealloc(v, sizeof(*v) * (*n + 1));
		v[(*n)++] = dm;
	}
	return v;
}

struct spawn_arg {
	int fd;
	pid_t parent;
	const char *netns, *log, *pidfile;
	const char **argv;
};

/* In the detached process: report our PID, enter the node's namespace, log to the file, exec.
 * An errno goes back through the pipe if any of it fails; EOF means the exec worked. */
static void spawn_child(void *p)
{
	struct spawn_arg *a = p;
	pid_t me = getpid();
	int e = 0, fd;

	if (me == a->parent) { /* fork failed: k8c_detach runs us in place; do not exec */
		me = -1;
		(void)!write(a->fd, &me, sizeof(me));
		return;
	}
	(void)!write(a->fd, &me, sizeof(me));
	/* recorded here, before the exec (the start time stays): no window in which `up` could die
	 * and leave a daemon nobody knows of */
	if ((fd = open(a->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    dprintf(fd, "%d %llu %s\n", (int)me, proc_start(me), a->argv[0]) < 0)
		goto fail;
	close(fd);
	if (a->netns) {
		_cleanup_free_ char *path = k8c_xasprintf("/run/netns/%s", a->netns);

		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || setns(fd, CLONE_NEWNET) < 0)
			goto fail;
		close(fd);
	}
	if ((fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0)
		goto fail;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (chdir("/") < 0)
		goto fail;
	execv(a->argv[0], (char *const *)a->argv);
fail:
	e = errno;
	(void)!write(a->fd, &e, sizeof(e));
	_exit(127);
}

/* Start argv detached (in the node namespace netns unless NULL), logging to logs/<role>.log;
 * record it in run/<role>.pid. */
static int spawn(const struct cluster *c, const char *role, const char *netns, const char **argv,
		 struct k8c_error *err)
{
	_cleanup_free_ char *log = k8c_xasprintf("%s/logs/%s.log", c->dir, role);
	_cleanup_free_ char *pidf = k8c_xasprintf("%s/run/%s.pid", c->dir, role);
	struct spawn_arg a = {
		.parent = getpid(), .netns = netns, .log = log, .pidfile = pidf, .argv = argv};
	int fds[2], e = 0;
	pid_t pid = -1;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return k8c_error_errno(err, 0, errno, "%s: pipe", role);
	a.fd = fds[1];
	if (k8c_detach(spawn_child, &a) < 0) {
		close(fds[0]);
		close(fds[1]);
		return k8c_error_errno(err, 0, errno, "%s: fork", role);
	}
	close(fds[1]);
	n = read(fds[0], &pid, sizeof(pid));
	if (n == sizeof(pid) && pid > 0 && read(fds[0], &e, sizeof(e)) == sizeof(e)) {
		close(fds[0]);
		return k8c_error_errno(err, 0, e, "%s: start %s", role, argv[0]);
	}
	close(fds[0]);
	if (n != sizeof(pid) || pid <= 0)
		return k8c_error_set(err, 0, "%s: could not fork", role);
	return 0;
}

/* Stop the recorded daemons: SIGTERM, then SIGKILL after 5 s; their pid files go. */
static void daemons_stop(const struct cluster *c)
{
	size_t n;
	struct daemon *d = daemons_load(c, &n);
	double deadline = cli_now() + 5;
	bool any;

	for (size_t i = 0; i < n; i++)
		if (daemon_alive(&d[i]))
			kill(d[i].pid, SIGTERM);
	do {
		any = false;
		for (size_t i = 0; i < n; i++)
			any |= daemon_alive(&d[i]);
		if (any)
			cli_sleep_ms(20);
	} while (any && cli_now() < deadline);
	for (size_t i = 0; i < n; i++)
		if (daemon_alive(&d[i])) {
			fprintf(stderr, "k8c down: %s (PID %d) did not stop in 5 s: killed\n",
				d[i].role, (int)d[i].pid);
			kill(d[i].pid, SIGKILL);
		}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = k8c_xasprintf("%s/run/%s.pid", c->dir, d[i].role);

		for (int k = 0; k < 100 && daemon_alive(&d[i]); k++)
			cli_sleep_ms(10);
		unlink(p);
	}
	free(d);
}

/* A daemon that died: its role, else NULL. */
static const char *daemons_dead(const struct cluster *c)
{
	static char role[48];
	size_t n;
	struct daemon *d = daemons_load(c, &n);
	const char *dead = NULL;

	for (size_t i = 0; i < n && !dead; i++)
		if (!daemon_alive(&d[i])) {
			snprintf(role, sizeof(role), "%s", d[i].role);
			dead = role;
		}
	free(d);
	return dead;
}

static void log_tail(const struct cluster *c, const char *role, int lines)
{
	_cleanup_free_ char *p = k8c_xasprintf("%s/logs/%s.log", c->dir, role);
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	char **ring = k8c_xmalloc(sizeof(char *) * (size_t)lines);
	char *line = NULL;
	size_t cap = 0, k = 0;

	memset(ring, 0, sizeof(char *) * (size_t)lines);
	while (f && getline(&line, &cap, f) > 0) {
		free(ring[k % (size_t)lines]);
		ring[k++ % (size_t)lines] = k8c_xstrdup(line);
	}
	fprintf(stderr, "--- the last lines of %s:\n", p);
	for (size_t i = k > (size_t)lines ? k - (size_t)lines : 0; i < k; i++)
		fputs(ring[i % (size_t)lines], stderr);
	for (int i = 0; i < lines; i++)
		free(ring[i]);
	free(ring);
	free(line);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Everything of the cluster gone; keep_logs leaves logs/ (after a failed `up`). */
static int cluster_remove(struct cluster *c, bool keep_logs)
{
	int fails;

	daemons_stop(c);
	fails = net_teardown(c);
	if (keep_logs) {
		_cleanup_closedir_ DIR *d = opendir(c->dir);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			_cleanup_free_ char *p = NULL;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    !strcmp(e->d_name, "logs"))
				continue;
			p = k8c_xasprintf("%s/%s", c->dir, e->d_name);
			nftw(p, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		}
	} else if (net_count_mounts(c->dir) == 0) {
		nftw(c->dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	} else {
		fprintf(stderr, "k8c down: mounts remain below %s: the directory is kept\n",
			c->dir);
		fails++;
	}
	return fails;
}

/* ---- the API ---- */

static struct k8c_kube *api_client(const struct cluster *c, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/kubeconfig", c->dir);
	struct k8c_kubeconfig cfg = {0};
	struct k8c_kube *k;

	if (k8c_kubeconfig_load(path, NULL, &cfg, err) < 0)
		return NULL;
	k = k8c_kube_new(&cfg, NULL, err);
	k8c_kubeconfig_free(&cfg);
	return k;
}

/* kubeconfig: the server's admin one, pointed at the server's underlay address. */
static int write_kubeconfig(const struct cluster *c, struct k8c_error *err)
{
	_cleanup_free_ char *src = k8c_xasprintf("%s/server/admin.kubeconfig", c->dir);
	_cleanup_free_ char *dst = k8c_xasprintf("%s/kubeconfig", c->dir);
	_cleanup_free_ char *tmp = k8c_xasprintf("%s/.kubeconfig.tmp", c->dir);
	_cleanup_free_ char *from = k8c_xasprintf("https://127.0.0.1:%d", c->port);
	_cleanup_free_ char *to = k8c_xasprintf("https://%s:%d", c->host_ip, c->port);
	_cleanup_fclose_ FILE *in = fopen(src, "re");
	FILE *out;
	char *line = NULL, *p;
	size_t cap = 0;
	bool found = false;

	if (!in)
		return k8c_error_errno(err, 0, errno, "%s", src);
	if (!(out = fopen(tmp, "we")))
		return k8c_error_errno(err, 0, errno, "%s", tmp);
	fchmod(fileno(out), 0600);
	while (getline(&line, &cap, in) > 0) {
		if ((p = strstr(line, from))) {
			fprintf(out, "%.*s%s%s", (int)(p - line), line, to, p + strlen(from));
			found = true;
		} else
			fputs(line, out);
	}
	free(line);
	if (fclose(out) != 0 || !found) {
		unlink(tmp);
		return k8c_error_set(err, 0, "%s: no server %s in it", src, from);
	}
	if (rename(tmp, dst) < 0)
		return k8c_error_errno(err, 0, errno, "rename to %s", dst);
	return 0;
}

/* Poll until check() returns 1 (-1: failed for good), a daemon dies, or the deadline passes. */
static int wait_for(const struct cluster *c, const char *what, double deadline,
		    int (*check)(struct cluster *c, void *arg), void *arg, struct k8c_error *err)
{
	for (;;) {
		const char *dead;
		int r = check((struct cluster *)c, arg);

		if (r != 0)
			return r > 0 ? 0 : k8c_error_set(err, 0, "%s", what);
		if ((dead = daemons_dead(c))) {
			log_tail(c, dead, 15);
			return k8c_error_set(err, 0, "%s exited while waiting for %s", dead, what);
		}
		if (cli_interrupted)
			return k8c_error_set(err, 0, "interrupted while waiting for %s", what);
		if (cli_now() > deadline)
			return k8c_error_set(err, 0, "timed out waiting for %s", what);
		cli_sleep_ms(100);
	}
}

static int check_kubeconfig(struct cluster *c, void *arg)
{
	_cleanup_free_ char *p = k8c_xasprintf("%s/server/admin.kubeconfig", c->dir);

	(void)arg;
	return access(p, R_OK) == 0;
}

static int check_api(struct cluster *c, void *arg)
{
	struct k8c_kube **k = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *ns = NULL;
	int ok;

	if (!*k && !(*k = api_client(c, &err))) {
		k8c_error_clear(&err);
		return 0;
	}
	ok = k8c_kube_get(*k, K8C_GVR_NAMESPACES, NULL, "default", &ns, &err) == 0;
	k8c_error_clear(&err);
	return ok;
}

/* Every node registered, Ready, with a podCIDR (copied into c). */
static int check_nodes(struct cluster *c, void *arg)
{
	struct k8c_kube *k = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *rv = NULL;
	int ready = 0;
	size_t i;
	json_t *n;

	if (k8c_kube_list(k, K8C_GVR_NODES, NULL, NULL, &items, &rv, &err) < 0) {
		k8c_error_clear(&err);
		return 0;
	}
	json_array_foreach(items, i, n)
	{
		const char *name = k8c_str_at(n, "metadata.name"),
			   *cidr = k8c_str_at(n, "spec.podCIDR");

		for (int j = 0; j < c->n_nodes; j++)
			if (name && strcmp(name, c->nodes[j].name) == 0 && cidr &&
			    k8c_condition_true(n, "Ready")) {
				snprintf(c->nodes[j].pod_cidr, sizeof(c->nodes[j].pod_cidr), "%s",
					 cidr);
				ready++;
			}
	}
	return ready == c->n_nodes;
}

static int check_default_sa(struct cluster *c, void *arg)
{
	struct k8c_kube *k = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *sa = NULL;
	int ok;

	(void)c;
	ok = k8c_kube_get(k, K8C_GVR("", "v1", "serviceaccounts"), "default", "default", &sa,
			  &err) == 0;
	k8c_error_clear(&err);
	return ok;
}

static int ingress_class(struct k8c_kube *k, struct k8c_error *err)
{
	_cleanup_json_ json_t *obj =
		json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:s}}", "apiVersion", "networking.k8s.io/v1",
			  "kind", "IngressClass", "metadata", "name", "k8c", "annotations",
			  "ingressclass.kubernetes.io/is-default-class", "true", "spec",
			  "controller", "k8c.io/ingress");

	if (k8c_kube_create(k, K8C_GVR_INGRESSCLASSES, NULL, obj, NULL, err) < 0) {
		if (err->code != 409)
			return k8c_error_wrap(err, "IngressClass k8c");
		k8c_error_clear(err);
	}
	return 0;
}

/* Import build/images/ *.tar (or --images DIR) into the cluster's image store. */
static int import_images(const struct cluster *c, const char *dir, int *count,
			 struct k8c_error *err)
{
	_cleanup_free_ char *root = k8c_xasprintf("%s/images", c->dir);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct k8c_image_store *s;
	struct dirent *e;
	int ret = 0;

	*count = 0;
	if (!d)
		return 0;
	if (!(s = k8c_image_store_open(root, err)))
		return -1;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		_cleanup_free_ char *p = NULL;

		if (l < 5 || strcmp(e->d_name + l - 4, ".tar") != 0)
			continue;
		p = k8c_xasprintf("%s/%s", dir, e->d_name);
		if (k8c_image_import(s, p, NULL, err) < 0) {
			k8c_error_wrap(err, "import %s", p);
			ret = -1;
			break;
		}
		(*count)++;
	}
	k8c_image_store_close(s);
	return ret;
}

static int start_daemons(const struct cluster *c, struct k8c_error *err)
{
	_cleanup_free_ char *kc = k8c_xasprintf("%s/kubeconfig", c->dir);
	_cleanup_free_ char *images = k8c_xasprintf("%s/images", c->dir);
	_cleanup_free_ char *agent = k8c_xasprintf("%s/k8c-agent", c->bin);
	_cleanup_free_ char *proxy = k8c_xasprintf("%s/k8c-proxy", c->bin);
	_cleanup_free_ char *ingress = k8c_xasprintf("%s/k8c-ingress", c->bin);

	for (int i = 0; i < c->n_nodes; i++) {
		const struct cluster_node *n = &c->nodes[i];
		_cleanup_free_ char *nd = k8c_xasprintf("%s/nodes/%s", c->dir, n->name);
		_cleanup_free_ char *root = k8c_xasprintf("%s/root", nd);
		_cleanup_free_ char *runc = k8c_xasprintf("%s/runc", nd);
		_cleanup_free_ char *conf = k8c_xasprintf("%s/cni/conf", nd);
		_cleanup_free_ char *cache = k8c_xasprintf("%s/cni/cache", nd);
		_cleanup_free_ char *netns = k8c_xasprintf("%s/netns", nd);
		_cleanup_free_ char *cg = k8c_xasprintf("/k8c-%s/%s", c->name, n->name);
		_cleanup_free_ char *role_a = k8c_xasprintf("agent-%s", n->name);
		_cleanup_free_ char *role_p = k8c_xasprintf("proxy-%s", n->name);
		const char *aargv[] = {agent,
				       "--kubeconfig",
				       kc,
				       "--node-name",
				       (char *)n->name,
				       "--node-ip",
				       (char *)n->ip,
				       "--root-dir",
				       root,
				       "--runc-root",
				       runc,
				       "--cni-bin-dir",
				       (char *)c->bin,
				       "--cni-conf-dir",
				       conf,
				       "--cni-cache-dir",
				       cache,
				       "--cluster-cidr",
				       (char *)c->cluster_cidr,
				       "--netns-dir",
				       netns,
				       "--cgroup-parent",
				       cg,
				       "--image-root",
				       images,
				       "--workers",
				       "4",
				       NULL};
		const char *pargv[24] = {proxy,
					 "--kubeconfig",
					 kc,
					 "--node-name",
					 (char *)n->name,
					 "--mode",
					 (char *)c->proxy_mode,
					 "--cluster-cidr",
					 (char *)c->cluster_cidr,
					 "--service-cidr",
					 (char *)c->service_cidr};
		size_t pn = 11;
		bool vxlan = !strcmp(c->pod_network, "vxlan");
		_cleanup_free_ char *cg2 = NULL, *pin = NULL;

		if (!strcmp(c->proxy_mode, "ebpf")) {
			/* balance the node's pods only: their cgroup v2 subtree; its own pins */
			_cleanup_free_ char *fs = net_node_bpffs(c, n);

			cg2 = net_node_cgroup2(c, n);
			pin = k8c_xasprintf("%s/k8c", fs);
			pargv[pn++] = "--cgroup-path";
			pargv[pn++] = cg2;
			pargv[pn++] = "--bpf-pin-dir";
			pargv[pn++] = pin;
			/* tc on the underlay (traffic from outside), on the pod bridge, which
			 * net_node_ebpf_up made before any pod: a local backend's replies to the
			 * masquerade address arrive there (without it, a NodePort from the host to
			 * the node holding the backend got no answer), and on the vxlan device,
			 * made with the node: a remote backend's replies to the masquerade address
			 * (k8cvx0's own, the FIB's source toward the overlay) arrive there */
			pargv[pn++] = "--tc-interfaces";
			pargv[pn++] = vxlan ? "k8cu0," NET_POD_BRIDGE "," NET_VXLAN_DEV
					    : "k8cu0," NET_POD_BRIDGE;
		}
		pargv[pn] = NULL;
		if (mkdir(nd, 0755) < 0 && errno != EEXIST)
			return k8c_error_errno(err, 0, errno, "mkdir %s", nd);
		if (spawn(c, role_a, n->netns, aargv, err) < 0 ||
		    spawn(c, role_p, n->netns, pargv, err) < 0)
			return -1;
	}
	if (access(ingress, X_OK) == 0) {
		const struct cluster_node *n = &c->nodes[0];
		_cleanup_free_ char *http = k8c_xasprintf("%s:80", n->ip);
		_cleanup_free_ char *https = k8c_xasprintf("%s:443", n->ip);
		const char *iargv[] = {ingress,
				       "--kubeconfig",
				       kc,
				       "--listen-http",
				       http,
				       "--listen-https",
				       https,
				       "--publish-address",
				       (char *)n->ip,
				       NULL};

		if (spawn(c, "ingress", n->netns, iargv, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- the verbs ---- */

struct opts {
	const char *name, *state_dir, *images, *cluster_cidr, *proxy_mode, *pod_network;
	int nodes;
	bool help;
};

enum { O_NAME = 256, O_NODES, O_PROXY, O_PODNET, O_STATE, O_IMAGES, O_CIDR };

static int parse(int argc, char **argv, struct opts *o, bool up)
{
	static const struct option lo[] = {
		{"name", required_argument, NULL, O_NAME},
		{"nodes", required_argument, NULL, O_NODES},
		{"proxy-mode", required_argument, NULL, O_PROXY},
		{"pod-network", required_argument, NULL, O_PODNET},
		{"state-dir", required_argument, NULL, O_STATE},
		{"images", required_argument, NULL, O_IMAGES},
		{"cluster-cidr", required_argument, NULL, O_CIDR},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int opt;
	char *end;

	*o = (struct opts){.name = DEFAULT_NAME,
			   .state_dir = DEFAULT_STATE_DIR,
			   .nodes = 1,
			   .proxy_mode = "nftables",
			   .pod_network = "host-gw"};
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (!up && opt != O_NAME && opt != O_STATE && opt != 'h') {
			fprintf(stderr, "k8c %s: %s is an option of `k8c up`\n", argv[0],
				argv[optind - 1]);
			return 2;
		}
		switch (opt) {
		case O_NAME:
			o->name = optarg;
			break;
		case O_NODES:
			o->nodes = (int)strtol(optarg, &end, 10);
			if (*end || o->nodes < 1 || o->nodes > CLUSTER_MAX_NODES) {
				fprintf(stderr,
					"k8c up: --nodes: \"%s\" is not a number in 1..%d\n",
					optarg, CLUSTER_MAX_NODES);
				return 2;
			}
			break;
		case O_PROXY:
			o->proxy_mode = optarg;
			break;
		case O_PODNET:
			o->pod_network = optarg;
			break;
		case O_STATE:
			o->state_dir = optarg;
			break;
		case O_IMAGES:
			o->images = optarg;
			break;
		case O_CIDR:
			o->cluster_cidr = optarg;
			break;
		case 'h':
			o->help = true;
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "k8c %s: unexpected argument \"%s\"\n", argv[0], argv[optind]);
		return 2;
	}
	if (!valid_name(o->name)) {
		fprintf(stderr,
			"k8c %s: --name: \"%s\" is not a valid name (1-32 of a-z, 0-9, '-'; no "
			"'-' at either end)\n",
			argv[0], o->name);
		return 2;
	}
	return -1;
}

static void usage_up(FILE *f)
{
	fputs("Usage: k8c up [OPTIONS]\n"
	      "Start a cluster on this machine whose nodes are network namespaces "
	      "(docs/up.md):\n"
	      "k8c-server on the host (on the underlay bridge's address), and in each node's\n"
	      "namespace k8c-agent and k8c-proxy (k8c-ingress on the first node). Waits until "
	      "every\n"
	      "node is Ready, then prints the kubeconfig's path. A cluster of the same name left "
	      "by a\n"
	      "crash is removed first. Needs root.\n\n"
	      "  --name NAME           the cluster (default " DEFAULT_NAME ")\n"
	      "  --nodes N             node namespaces (default 1)\n"
	      "  --proxy-mode MODE     nftables (default) or ebpf (socket load balancing of the\n"
	      "                        pods; its own cgroup v2 subtree and bpffs per node)\n"
	      "  --pod-network MODE    host-gw (default: routes via the nodes' InternalIPs) or\n"
	      "                        vxlan (an overlay between the node namespaces)\n"
	      "  --cluster-cidr CIDR   pods (default: the first of 10.244.0.0/16 .. "
	      "10.249.0.0/16\n"
	      "                        that no route of the host overlaps)\n"
	      "  --images DIR          OCI/docker archives (*.tar) imported into the nodes'\n"
	      "                        store (default: ../images next to the k8c binary)\n"
	      "  --state-dir DIR       clusters' state (default " DEFAULT_STATE_DIR ")\n"
	      "  --help                show this help\n",
	      f);
}

static void usage_other(FILE *f, const char *verb)
{
	fprintf(f, "Usage: k8c %s [--name NAME] [--state-dir DIR]\n", verb);
	if (!strcmp(verb, "down"))
		fputs("Stop every process of the cluster and remove every namespace, link, route,\n"
		      "nftables table, mount, cgroup and runc container it made, then its state "
		      "dir.\n",
		      f);
	else if (!strcmp(verb, "status"))
		fputs("The cluster's addresses, its daemons (running or not) and its nodes.\n"
		      "Exit status 0 when every daemon runs, 1 otherwise.\n",
		      f);
	else
		fputs("Print the path of the cluster's kubeconfig (export KUBECONFIG=$(k8c "
		      "kubeconfig)).\n",
		      f);
	fputs("\n  --name NAME           the cluster (default " DEFAULT_NAME ")\n"
	      "  --state-dir DIR       clusters' state (default " DEFAULT_STATE_DIR ")\n"
	      "  --help                show this help\n",
	      f);
}

static int fail_up(struct cluster *c, struct k8c_error *err)
{
	fprintf(stderr, "k8c up: %s\n", err->msg ? err->msg : "failed");
	k8c_error_clear(err);
	fprintf(stderr, "k8c up: removing what was made (logs are kept in %s/logs)\n", c->dir);
	cluster_remove(c, true);
	return 1;
}

int cli_up(int argc, char **argv)
{
	struct opts o;
	struct cluster *c = k8c_xmalloc(sizeof(*c));
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = NULL;
	_cleanup_free_ char *images = NULL, *srv = NULL, *data = NULL, *logs = NULL, *run = NULL;
	_cleanup_free_ char *port = NULL;
	struct sigaction sa = {.sa_handler = cli_on_signal};
	int r, n_images = 0, ret = 1;

	cli_t0 = cli_now();
	if ((r = parse(argc, argv, &o, true)) >= 0) {
		if (o.help)
			usage_up(stdout);
		else
			usage_up(stderr);
		free(c);
		return r;
	}
	if (strcmp(o.proxy_mode, "nftables") != 0 && strcmp(o.proxy_mode, "ebpf") != 0) {
		fprintf(stderr, "k8c up: --proxy-mode %s: nftables or ebpf\n", o.proxy_mode);
		free(c);
		return 2;
	}
	if (strcmp(o.pod_network, "host-gw") != 0 && strcmp(o.pod_network, "vxlan") != 0) {
		fprintf(stderr, "k8c up: --pod-network %s: host-gw or vxlan\n", o.pod_network);
		free(c);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "k8c up: needs root (network namespaces, runc)\n");
		free(c);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	cluster_names(c, o.name, o.state_dir);
	images = o.images ? k8c_xstrdup(o.images) : k8c_xasprintf("%s/../images", c->bin);

	/* a cluster of this name: running, or left over by a crash */
	if ((r = state_load(c, &err)) < 0) {
		fprintf(stderr, "k8c up: %s\n", err.msg);
		k8c_error_clear(&err);
		free(c);
		return 1;
	}
	if (r > 0) {
		size_t n;
		struct daemon *d = daemons_load(c, &n);
		bool server = false;

		for (size_t i = 0; i < n; i++)
			server |= !strcmp(d[i].role, "server") && daemon_alive(&d[i]);
		free(d);
		if (server && !daemons_dead(c)) {
			fprintf(stderr,
				"k8c up: cluster \"%s\" is up already (k8c status --name %s; k8c "
				"down --name %s)\n",
				c->name, c->name, c->name);
			free(c);
			return 1;
		}
		cli_step("cluster \"%s\": removing what a previous run left", c->name);
		if (cluster_remove(c, false) > 0) {
			fprintf(stderr, "k8c up: could not remove the previous cluster \"%s\"\n",
				c->name);
			free(c);
			return 1;
		}
		cluster_names(c, o.name, o.state_dir);
	}
	if (net_link_exists(c->bridge)) {
		fprintf(stderr,
			"k8c up: link %s exists but is not cluster \"%s\"'s: choose another "
			"--name\n",
			c->bridge, c->name);
		free(c);
		return 1;
	}
	snprintf(c->proxy_mode, sizeof(c->proxy_mode), "%s", o.proxy_mode);
	snprintf(c->pod_network, sizeof(c->pod_network), "%s", o.pod_network);
	if (net_pick_subnet(c->subnet, sizeof(c->subnet), c->host_ip, sizeof(c->host_ip), &err) <
	    0) {
		fprintf(stderr, "k8c up: %s\n", err.msg);
		k8c_error_clear(&err);
		free(c);
		return 1;
	}
	if (o.cluster_cidr) {
		if (net_route_overlaps(o.cluster_cidr)) {
			fprintf(stderr, "k8c up: --cluster-cidr %s overlaps a route of the host\n",
				o.cluster_cidr);
			free(c);
			return 1;
		}
		snprintf(c->cluster_cidr, sizeof(c->cluster_cidr), "%s", o.cluster_cidr);
	} else if (net_pick_cluster_cidr(c->cluster_cidr, sizeof(c->cluster_cidr), &err) < 0) {
		fprintf(stderr, "k8c up: %s\n", err.msg);
		k8c_error_clear(&err);
		free(c);
		return 1;
	}
	node_names(c, o.nodes);

	logs = k8c_xasprintf("%s/logs", c->dir);
	run = k8c_xasprintf("%s/run", c->dir);
	data = k8c_xasprintf("%s/nodes", c->dir);
	{
		char *parent = k8c_xstrdup(c->dir), *p;

		/* mkdir -p of the state dir */
		for (p = parent + 1; (p = strchr(p, '/')); p++) {
			*p = 0;
			mkdir(parent, 0755);
			*p = '/';
		}
		free(parent);
	}
	if ((mkdir(c->dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(logs, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(run, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(data, 0755) < 0 && errno != EEXIST)) {
		fprintf(stderr, "k8c up: mkdir %s: %s\n", c->dir, strerror(errno));
		free(c);
		return 1;
	}
	/* before anything is made: `down` after a crash finds what to remove */
	if (state_save(c, &err) < 0)
		goto fail;
	cli_step("cluster \"%s\" in %s: %d node(s), underlay %s, pods %s, services %s", c->name,
		 c->dir, c->n_nodes, c->subnet, c->cluster_cidr, c->service_cidr);

	if (net_underlay_up(c, &err) < 0)
		goto fail;
	for (int i = 0; i < c->n_nodes; i++)
		if (net_node_up(c, &c->nodes[i], &err) < 0 ||
		    (!strcmp(c->pod_network, "vxlan") && net_vxlan_device(c, i, &err) < 0) ||
		    (!strcmp(c->proxy_mode, "ebpf") && net_node_ebpf_up(c, &c->nodes[i], &err) < 0))
			goto fail;
	cli_step("underlay bridge %s (%s), %d node namespace(s) k8c-%s-node*", c->bridge,
		 c->host_ip, c->n_nodes, c->name);

	srv = k8c_xasprintf("%s/k8c-server", c->bin);
	{
		_cleanup_free_ char *dd = k8c_xasprintf("%s/server", c->dir);
		const char *sargv[] = {srv,
				       "--data-dir",
				       dd,
				       "--bind-address",
				       c->host_ip,
				       "--secure-port",
				       (port = k8c_xasprintf("%d", c->port)),
				       "--cluster-cidr",
				       c->cluster_cidr,
				       NULL};

		if (spawn(c, "server", NULL, sargv, &err) < 0)
			goto fail;
	}
	if (wait_for(c, "the server's kubeconfig", cli_now() + 30, check_kubeconfig, NULL, &err) <
		    0 ||
	    write_kubeconfig(c, &err) < 0 ||
	    wait_for(c, "the API server", cli_now() + 30, check_api, &k, &err) < 0)
		goto fail;
	cli_step("k8c-server: https://%s:%d", c->host_ip, c->port);

	if (import_images(c, images, &n_images, &err) < 0)
		goto fail;
	if (n_images)
		cli_step("%d image(s) from %s imported", n_images, images);
	else
		cli_step("no images in %s (none imported)", images);

	if (start_daemons(c, &err) < 0)
		goto fail;
	cli_step("started %d agent(s), %d prox%s%s", c->n_nodes, c->n_nodes,
		 c->n_nodes == 1 ? "y" : "ies",
		 access(srv, X_OK) == 0 && daemons_dead(c) == NULL ? ", the ingress controller"
								   : "");
	if (wait_for(c, "every node Ready with a podCIDR", cli_now() + UP_TIMEOUT_S, check_nodes, k,
		     &err) < 0)
		goto fail;
	cli_step("%d node(s) Ready", c->n_nodes);
	if (net_routes(c, &err) < 0 || state_save(c, &err) < 0)
		goto fail;
	cli_step("%s between the nodes' podCIDRs%s",
		 strcmp(c->pod_network, "vxlan") ? "host-gw routes" : "a vxlan overlay (k8cvx0)",
		 c->service_route ? "; services routed to node1" : "");
	if (ingress_class(k, &err) < 0 || wait_for(c, "the default ServiceAccount", cli_now() + 30,
						   check_default_sa, k, &err) < 0)
		goto fail;
	cli_step("IngressClass k8c (default), ServiceAccount default/default");
	printf("\ncluster \"%s\" is up. Its kubeconfig:\n  export KUBECONFIG=%s/kubeconfig\n"
	       "Nodes' InternalIPs %s..%s (NodePorts answer there), ingress on http://%s/\n"
	       "k8c status --name %s; k8c down --name %s\n",
	       c->name, c->dir, c->nodes[0].ip, c->nodes[c->n_nodes - 1].ip, c->nodes[0].ip,
	       c->name, c->name);
	ret = 0;
	goto out;
fail:
	ret = fail_up(c, &err);
out:
	if (k)
		k8c_kube_free(k);
	free(c);
	return ret;
}

static int load_or_fail(struct cluster *c, const struct opts *o, const char *verb)
{
	return cluster_open(c, o->name, o->state_dir, verb);
}

struct k8c_kube *cluster_api(const struct cluster *c, struct k8c_error *err)
{
	return api_client(c, err);
}

bool cluster_daemon_runs(const struct cluster *c, const char *role)
{
	size_t n;
	struct daemon *d = daemons_load(c, &n);
	bool alive = false;

	for (size_t i = 0; i < n; i++)
		alive |= !strcmp(d[i].role, role) && daemon_alive(&d[i]);
	free(d);
	return alive;
}

int cluster_open(struct cluster *c, const char *name, const char *state_dir, const char *verb)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int r;

	cluster_names(c, name, state_dir);
	if ((r = state_load(c, &err)) < 0) {
		fprintf(stderr, "k8c %s: %s\n", verb, err.msg);
		k8c_error_clear(&err);
		return -1;
	}
	if (r == 0) {
		fprintf(stderr, "k8c %s: no cluster \"%s\" (no %s/state.json)\n", verb, c->name,
			c->dir);
		return -1;
	}
	return 0;
}

int cli_down(int argc, char **argv)
{
	struct opts o;
	struct cluster *c;
	int r, fails;

	cli_t0 = cli_now();
	if ((r = parse(argc, argv, &o, false)) >= 0) {
		usage_other(o.help ? stdout : stderr, "down");
		return r;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "k8c down: needs root\n");
		return 1;
	}
	c = k8c_xmalloc(sizeof(*c));
	if (load_or_fail(c, &o, "down") < 0) {
		free(c);
		return 1;
	}
	fails = cluster_remove(c, false);
	cli_step("cluster \"%s\" %s", c->name, fails ? "removed, with errors (above)" : "removed");
	free(c);
	return fails ? 1 : 0;
}

int cli_status(int argc, char **argv)
{
	struct opts o;
	struct cluster *c;
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k;
	struct daemon *d;
	size_t n;
	int r, dead = 0;

	if ((r = parse(argc, argv, &o, false)) >= 0) {
		usage_other(o.help ? stdout : stderr, "status");
		return r;
	}
	c = k8c_xmalloc(sizeof(*c));
	if (load_or_fail(c, &o, "status") < 0) {
		free(c);
		return 1;
	}
	printf("cluster:     %s\nstate dir:   %s\nkubeconfig:  %s/kubeconfig\n"
	       "API server:  https://%s:%d\nunderlay:    %s on %s\npods:        %s\n"
	       "services:    %s\nproxy mode:  %s\npod network: %s\n\ndaemons:\n",
	       c->name, c->dir, c->dir, c->host_ip, c->port, c->subnet, c->bridge, c->cluster_cidr,
	       c->service_cidr, c->proxy_mode, c->pod_network);
	d = daemons_load(c, &n);
	for (size_t i = 0; i < n; i++) {
		bool alive = daemon_alive(&d[i]);

		dead += !alive;
		printf("  %-20s %-8s PID %d\n", d[i].role, alive ? "running" : "DEAD",
		       (int)d[i].pid);
	}
	free(d);
	if (n == 0) {
		printf("  (none)\n");
		dead++;
	}
	printf("\nnodes:\n");
	if ((k = api_client(c, &err))) {
		_cleanup_json_ json_t *items = NULL;
		_cleanup_free_ char *rv = NULL;
		size_t i;
		json_t *nd;

		if (k8c_kube_list(k, K8C_GVR_NODES, NULL, NULL, &items, &rv, &err) == 0)
			json_array_foreach(items, i, nd)
			{
				const char *ip = k8c_node_address(nd, "InternalIP");

				printf("  %-12s %-9s %-15s %s\n", k8c_str_at(nd, "metadata.name"),
				       k8c_condition_true(nd, "Ready") ? "Ready" : "NotReady",
				       ip ?: "-", k8c_str_at(nd, "spec.podCIDR") ?: "-");
			}
		k8c_kube_free(k);
	}
	if (err.msg) {
		printf("  (the API does not answer: %s)\n", err.msg);
		k8c_error_clear(&err);
	}
	free(c);
	return dead ? 1 : 0;
}

int cli_kubeconfig(int argc, char **argv)
{
	struct opts o;
	struct cluster *c;
	int r;

	if ((r = parse(argc, argv, &o, false)) >= 0) {
		usage_other(o.help ? stdout : stderr, "kubeconfig");
		return r;
	}
	c = k8c_xmalloc(sizeof(*c));
	if (load_or_fail(c, &o, "kubeconfig") < 0) {
		free(c);
		return 1;
	}
	printf("%s/kubeconfig\n", c->dir);
	free(c);
	return 0;
}

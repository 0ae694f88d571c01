/*
 * The Node of this agent (docs/agent.md "Node"): registration (capacity and allocatable from the
 * machine or flags, addresses, nodeInfo, daemonEndpoints, labels and taints from flags), the
 * podCIDR (the Node's spec, set by the server's node IPAM controller, else --pod-cidr), the Lease
 * in kube-node-lease renewed every 10 s and the conditions kept current through nodes/status.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "kube_client.h"
#include "log.h"
#include "node.h"
#include "objutil.h"

#define LEASE_SECONDS	   40
#define RENEW_SECONDS	   10
#define STATUS_MAX_SECONDS 60

struct agent_node {
	const struct k8c_agent_config *cfg;
	struct k8c_kube *kube; /* the node thread's client */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	bool ready; /* what the Ready condition says */
	char ready_msg[200];
	char *uid; /* the Node's */
	char *pod_cidr;
	char *node_ip;
	char *kube_version;
	time_t last_status;
	bool status_dirty;
};

static void read_line(const char *path, char *buf, size_t n)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	buf[0] = 0;
	if (f && fgets(buf, (int)n, f))
		buf[strcspn(buf, "\n")] = 0;
}

static void os_image(char *buf, size_t n)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/os-release", "re");
	char line[256];

	snprintf(buf, n, "Linux");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		char *v = line + 12;

		v[strcspn(v, "\n")] = 0;
		if (*v == '"') {
			v++;
			v[strcspn(v, "\"")] = 0;
		}
		snprintf(buf, n, "%.120s", v);
	}
}

static long long mem_total(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
			break;
	return kb * 1024;
}

static char *cpu_quantity(long long milli)
{
	if (milli % 1000 == 0)
		return k8c_xasprintf("%lld", milli / 1000);
	return k8c_xasprintf("%lldm", milli);
}

static char *mem_quantity(long long bytes)
{
	if (bytes % 1024 == 0)
		return k8c_xasprintf("%lldKi", bytes / 1024);
	return k8c_xasprintf("%lld", bytes);
}

/* The first global IPv4 address of this network namespace (the node's), or NULL. */
static char *first_address(void)
{
	struct ifaddrs *ifa = NULL;
	char buf[INET_ADDRSTRLEN];
	char *r = NULL;

	if (getifaddrs(&ifa) < 0)
		return NULL;
	for (struct ifaddrs *i = ifa; i && !r; i = i->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;

		if (!sin || sin->sin_family != AF_INET)
			continue;
		if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
			continue;
		if (!strcmp(i->ifa_name, "k8c0"))
			continue; /* our own bridge's gateway address */
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		r = k8c_xstrdup(buf);
	}
	freeifaddrs(ifa);
	return r;
}

/* capacity (and allocatable, the same: nothing is reserved for the system). */
static json_t *capacity(const struct k8c_agent_config *cfg)
{
	long long cpu = cfg->cpu_milli ? cfg->cpu_milli : sysconf(_SC_NPROCESSORS_ONLN) * 1000LL;
	long long mem = cfg->memory_bytes ? cfg->memory_bytes : mem_total();
	struct statvfs vfs;
	_cleanup_free_ char *c = cpu_quantity(cpu), *m = mem_quantity(mem);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "cpu", c, "memory", m, "pods", "0",
			      "hugepages-2Mi", "0");

	json_object_set_new(j, "pods", json_sprintf("%ld", cfg->max_pods));
	if (statvfs(cfg->root_dir, &vfs) == 0 || statvfs("/", &vfs) == 0) {
		_cleanup_free_ char *s = mem_quantity((long long)vfs.f_blocks * vfs.f_frsize);

		json_object_set_new(j, "ephemeral-storage", json_string(s));
	}
	return j;
}

static json_t *node_info(struct agent_node *n)
{
	char machine[64], boot[64], os[128];
	struct utsname u;
	const char *arch;

	read_line("/etc/machine-id", machine, sizeof(machine));
	read_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	os_image(os, sizeof(os));
	uname(&u);
	arch = !strcmp(u.machine, "x86_64")    ? "amd64"
	       : !strcmp(u.machine, "aarch64") ? "arm64"
					       : u.machine;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "machineID", machine,
			 "systemUUID", machine, "bootID", boot, "kernelVersion", u.release,
			 "osImage", os, "containerRuntimeVersion", "k8c://" K8C_VERSION,
			 "kubeletVersion", n->kube_version, "kubeProxyVersion", n->kube_version,
			 "operatingSystem", "linux", "architecture", arch);
}

static json_t *condition(const char *type, bool status, const char *reason, const char *msg,
			 const char *now)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status",
			 status ? "True" : "False", "lastHeartbeatTime", now, "lastTransitionTime",
			 now, "reason", reason, "message", msg);
}

/* The status this agent reports; conditions keep their lastTransitionTime from old. */
static json_t *node_status(struct agent_node *n, const json_t *old)
{
	char now[21];
	json_t *conds;
	json_t *st;

	k8c_rfc3339(time(NULL), now);
	conds = json_pack("[o, o, o, o]",
			  condition("MemoryPressure", false, "KubeletHasSufficientMemory",
				    "kubelet has sufficient memory available", now),
			  condition("DiskPressure", false, "KubeletHasNoDiskPressure",
				    "kubelet has no disk pressure", now),
			  condition("PIDPressure", false, "KubeletHasSufficientPID",
				    "kubelet has sufficient PID available", now),
			  condition("Ready", n->ready,
				    n->ready ? "KubeletReady" : "KubeletNotReady", n->ready_msg,
				    now));
	{
		size_t i;
		json_t *c;

		json_array_foreach(conds, i, c)
		{
			json_t *o =
				k8c_condition(old, json_string_value(json_object_get(c, "type")));

			if (o &&
			    json_equal(json_object_get(o, "status"),
				       json_object_get(c, "status")) &&
			    json_string_value(json_object_get(o, "lastTransitionTime")))
				json_object_set(c, "lastTransitionTime",
						json_object_get(o, "lastTransitionTime"));
		}
	}
	st = json_pack("{s:o, s:o, s:o, s:[{s:s, s:s}, {s:s, s:s}], s:o, s:{s:{s:i}}}", "capacity",
		       capacity(n->cfg), "allocatable", capacity(n->cfg), "conditions", conds,
		       "addresses", "type", "InternalIP", "address", n->node_ip, "type", "Hostname",
		       "address", n->cfg->node_name, "nodeInfo", node_info(n), "daemonEndpoints",
		       "kubeletEndpoint", "Port", n->cfg->port);
	return st;
}

static json_t *parse_labels(const char *s)
{
	json_t *j = json_object();
	_cleanup_free_ char *copy = s ? k8c_xstrdup(s) : NULL;
	char *save = NULL;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');

		if (eq) {
			*eq = 0;
			json_object_set_new(j, t, json_string(eq + 1));
		} else {
			json_object_set_new(j, t, json_string(""));
		}
	}
	return j;
}

static int parse_taints(const char *s, json_t **out, struct k8c_error *err)
{
	json_t *j = json_array();
	_cleanup_free_ char *copy = s ? k8c_xstrdup(s) : NULL;
	char *save = NULL;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(t, ':'), *eq;
		json_t *taint;

		if (!colon ||
		    (strcmp(colon + 1, "NoSchedule") && strcmp(colon + 1, "PreferNoSchedule") &&
		     strcmp(colon + 1, "NoExecute"))) {
			json_decref(j);
			return k8c_error_set(
				err, 0,
				"--register-with-taints %s: expected key[=value]:effect "
				"with effect NoSchedule, PreferNoSchedule or NoExecute",
				t);
		}
		*colon = 0;
		eq = strchr(t, '=');
		if (eq)
			*eq = 0;
		taint = json_pack("{s:s, s:s}", "key", t, "effect", colon + 1);
		if (eq && eq[1])
			json_object_set_new(taint, "value", json_string(eq + 1));
		json_array_append_new(j, taint);
	}
	*out = j;
	return 0;
}

static int patch_status(struct agent_node *n, struct k8c_error *err)
{
	_cleanup_json_ json_t *cur = NULL, *patch = NULL;

	if (k8c_kube_get(n->kube, K8C_GVR_NODES, NULL, n->cfg->node_name, &cur, err) < 0)
		return -1;
	pthread_mutex_lock(&n->mu);
	patch = json_pack("{s:o}", "status", node_status(n, json_object_get(cur, "status")));
	n->status_dirty = false;
	pthread_mutex_unlock(&n->mu);
	if (k8c_kube_patch(n->kube, K8C_GVR_NODES, NULL, n->cfg->node_name, "status",
			   K8C_PATCH_MERGE, patch, NULL, err) < 0)
		return -1;
	n->last_status = time(NULL);
	return 0;
}

static int renew_lease(struct agent_node *n, struct k8c_error *err)
{
	struct timespec ts;
	char now[28];
	_cleanup_json_ json_t *cur = NULL;
	const char *name = n->cfg->node_name;

	clock_gettime(CLOCK_REALTIME, &ts);
	k8c_rfc3339_micro(&ts, now);
	if (k8c_kube_get(n->kube, K8C_GVR_LEASES, "kube-node-lease", name, &cur, err) < 0) {
		_cleanup_json_ json_t *lease = NULL;

		if (err->code != 404)
			return -1;
		k8c_error_clear(err);
		lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
				  "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
				  name, "namespace", "kube-node-lease", "spec", "holderIdentity",
				  name, "leaseDurationSeconds", LEASE_SECONDS, "renewTime", now);
		if (n->uid)
			json_object_set_new(json_object_get(lease, "metadata"), "ownerReferences",
					    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1",
						      "kind", "Node", "name", name, "uid", n->uid));
		return k8c_kube_create(n->kube, K8C_GVR_LEASES, "kube-node-lease", lease, NULL,
				       err);
	}
	json_t *spec = json_object_get(cur, "spec");

	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(cur, "spec", spec);
	}
	json_object_set_new(spec, "holderIdentity", json_string(name));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(LEASE_SECONDS));
	json_object_set_new(spec, "renewTime", json_string(now));
	return k8c_kube_update(n->kube, K8C_GVR_LEASES, "kube-node-lease", cur, NULL, err);
}

static void *node_thread(void *arg)
{
	struct agent_node *n = arg;

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		struct timespec deadline;
		bool status;

		status = n->status_dirty || time(NULL) - n->last_status >= STATUS_MAX_SECONDS;
		pthread_mutex_unlock(&n->mu);
		{
			struct k8c_error err = K8C_ERROR_INIT;

			/* a connection the server closed while idle fails once: retry at once */
			if (renew_lease(n, &err) < 0 && err.code == 0) {
				k8c_error_clear(&err);
				renew_lease(n, &err);
			}
			if (err.msg)
				k8c_log_warn("lease renewal failed", "error=\"%s\"", err.msg);
			k8c_error_clear(&err);
			if (status && patch_status(n, &err) < 0)
				k8c_log_warn("node status update failed", "error=\"%s\"", err.msg);
			k8c_error_clear(&err);
		}
		pthread_mutex_lock(&n->mu);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += RENEW_SECONDS;
		while (!n->stop && !n->status_dirty &&
		       pthread_cond_timedwait(&n->cond, &n->mu, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

static void kube_version(struct agent_node *n)
{
	_cleanup_json_ json_t *v = NULL;
	struct k8c_error err = K8C_ERROR_INIT;

	if (k8c_kube_request(n->kube, "GET", "/version", NULL, NULL, NULL, &v, &err) == 0 &&
	    json_string_value(json_object_get(v, "gitVersion")))
		n->kube_version = k8c_xstrdup(json_string_value(json_object_get(v, "gitVersion")));
	else
		n->kube_version = k8c_xstrdup("v1.32.0");
	k8c_error_clear(&err);
}

struct agent_node *agent_node_register(const struct k8c_agent_config *cfg, struct k8c_error *err)
{
	struct agent_node *n = k8c_xcalloc(1, sizeof(*n));
	_cleanup_json_ json_t *node = NULL, *got = NULL, *taints = NULL;
	json_t *labels;
	const char *cidr;

	n->cfg = cfg;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cond, NULL);
	snprintf(n->ready_msg, sizeof(n->ready_msg),
		 "container runtime network not ready: NetworkReady=false "
		 "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
		 "not initialized");
	n->node_ip = cfg->node_ip ? k8c_xstrdup(cfg->node_ip) : first_address();
	if (!n->node_ip) {
		k8c_error_set(err, 0, "no --node-ip and no IPv4 address in this network namespace");
		goto fail;
	}
	n->kube = k8c_kube_new(&cfg->kc, "k8c-agent/" K8C_VERSION, err);
	if (!n->kube)
		goto fail;
	kube_version(n);
	if (parse_taints(cfg->taints, &taints, err) < 0)
		goto fail;
	labels = parse_labels(cfg->node_labels);
	json_object_set_new(labels, "kubernetes.io/hostname", json_string(cfg->node_name));
	json_object_set_new(labels, "kubernetes.io/os", json_string("linux"));
	json_object_set_new(labels, "kubernetes.io/arch", json_string("amd64"));
	json_object_set_new(labels, "beta.kubernetes.io/os", json_string("linux"));
	json_object_set_new(labels, "beta.kubernetes.io/arch", json_string("amd64"));
	node = json_pack("{s:s, s:s, s:{s:s, s:o}, s:{}, s:o}", "apiVersion", "v1", "kind", "Node",
			 "metadata", "name", cfg->node_name, "labels", labels, "spec", "status",
			 node_status(n, NULL));
	if (json_array_size(taints))
		json_object_set(json_object_get(node, "spec"), "taints", taints);
	if (cfg->pod_cidr)
		json_object_set_new(json_object_get(node, "spec"), "podCIDR",
				    json_string(cfg->pod_cidr)),
			json_object_set_new(json_object_get(node, "spec"), "podCIDRs",
					    json_pack("[s]", cfg->pod_cidr));
	if (k8c_kube_create(n->kube, K8C_GVR_NODES, NULL, node, &got, err) < 0) {
		if (err->code != 409) {
			k8c_error_wrap(err, "register node %s", cfg->node_name);
			goto fail;
		}
		k8c_error_clear(err);
		if (k8c_kube_get(n->kube, K8C_GVR_NODES, NULL, cfg->node_name, &got, err) < 0)
			goto fail;
		k8c_log_info("node already registered", "node=%s", cfg->node_name);
	} else {
		k8c_log_info("node registered", "node=%s ip=%s", cfg->node_name, n->node_ip);
	}
	n->uid = k8c_xstrdup(k8c_str_at(got, "metadata.uid") ?: "");
	cidr = k8c_str_at(got, "spec.podCIDR");
	/* the node IPAM controller sets spec.podCIDR shortly after the Node appears */
	for (int i = 0; (!cidr || !*cidr) && !cfg->pod_cidr && i < 50; i++) {
		json_decref(got);
		got = NULL;
		usleep(200000);
		if (k8c_kube_get(n->kube, K8C_GVR_NODES, NULL, cfg->node_name, &got, err) < 0)
			goto fail;
		cidr = k8c_str_at(got, "spec.podCIDR");
	}
	if (cidr && *cidr)
		n->pod_cidr = k8c_xstrdup(cidr);
	else if (cfg->pod_cidr)
		n->pod_cidr = k8c_xstrdup(cfg->pod_cidr);
	if (patch_status(n, err) < 0)
		goto fail;
	return n;
fail:
	agent_node_free(n);
	return NULL;
}

const char *agent_node_pod_cidr(const struct agent_node *n)
{
	return n->pod_cidr;
}

const char *agent_node_ip(const struct agent_node *n)
{
	return n->node_ip;
}

int agent_node_start(struct agent_node *n, struct k8c_error *err)
{
	int e = pthread_create(&n->thread, NULL, node_thread, n);

	if (e)
		return k8c_error_errno(err, 0, e, "node thread");
	n->started = true;
	return 0;
}

void agent_node_set_ready(struct agent_node *n, bool ready, const char *msg)
{
	pthread_mutex_lock(&n->mu);
	if (n->ready != ready || strcmp(n->ready_msg, msg) != 0) {
		n->ready = ready;
		snprintf(n->ready_msg, sizeof(n->ready_msg), "%s", msg);
		n->status_dirty = true;
		pthread_cond_signal(&n->cond);
	}
	pthread_mutex_unlock(&n->mu);
}

void agent_node_free(struct agent_node *n)
{
	if (!n)
		return;
	if (n->started) {
		pthread_mutex_lock(&n->mu);
		n->stop = true;
		pthread_cond_signal(&n->cond);
		pthread_mutex_unlock(&n->mu);
		k8c_kube_interrupt(n->kube);
		pthread_join(n->thread, NULL);
	}
	k8c_kube_free(n->kube);
	free(n->uid);
	free(n->pod_cidr);
	free(n->node_ip);
	free(n->kube_version);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cond);
	free(n);
}

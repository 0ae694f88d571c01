/*
 * The node's HTTPS endpoint (agent/node_server.h, helper "streams") wired to this agent's pods:
 * logs from the CRI files of the current or previous attempt, exec through the runtime
 * (docs/agent.md "Logs and exec").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "node_glue.h"
#include "node_server.h"
#include "pod.h"

static char *g_log_path(void *data, const char *ns, const char *pod, const char *container,
			bool previous, struct k8c_error *err)
{
	char *log = NULL;

	if (agent_container_lookup(ns, pod, container, previous, NULL, &log, err) < 0)
		return NULL;
	if (access(log, F_OK) < 0) {
		k8c_error_set(err, 400, "container \"%s\" in pod \"%s\" is waiting to start",
			      container, pod);
		free(log);
		return NULL;
	}
	return log;
}

static bool g_running(void *data, const char *ns, const char *pod, const char *container)
{
	struct agent *a = data;
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_container_status st;
	_cleanup_free_ char *id = NULL;
	bool r;

	if (agent_container_lookup(ns, pod, container, false, &id, NULL, &err) < 0) {
		k8c_error_clear(&err);
		return false;
	}
	r = k8c_container_status(a->rt, id, &st, &err) == 0 && st.state == K8C_CTR_RUNNING;
	k8c_error_clear(&err);
	return r;
}

static int g_exec(void *data, const char *ns, const char *pod, const char *container,
		  const char *const *argv, bool tty, int fds[3], pid_t *pid, struct k8c_error *err)
{
	struct agent *a = data;
	_cleanup_free_ char *id = NULL;

	if (agent_container_lookup(ns, pod, container, false, &id, NULL, err) < 0)
		return -1;
	if (k8c_container_exec(a->rt, id, argv, tty, fds, pid, err) < 0) {
		if (err->code != 404)
			err->code = 500;
		return -1;
	}
	return 0;
}

struct k8c_node_server *agent_streams_start(struct agent *a, struct k8c_error *err)
{
	const struct k8c_agent_config *cfg = a->cfg;
	_cleanup_free_ char *dir = k8c_xasprintf("%s/pki", cfg->root_dir);
	_cleanup_free_ char *ca = k8c_xasprintf("%s/client-ca.crt", dir);
	const char *ips[] = {a->node_ip};
	struct k8c_node_server_config sc = {
		.port = cfg->port,
		.cert_dir = dir,
		.node_name = cfg->node_name,
		.san_ips = ips,
		.n_san_ips = 1,
		.client_ca_file = cfg->client_ca_file ? cfg->client_ca_file : ca,
	};
	struct k8c_node_server_ops ops = {
		.data = a, .log_path = g_log_path, .running = g_running, .exec = g_exec};

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		k8c_error_errno(err, 0, errno, "mkdir %s", dir);
		return NULL;
	}
	if (!cfg->client_ca_file) {
		/* the cluster CA the kubeconfig trusts: the API server's, whose client cert it checks */
		FILE *f;

		if (!cfg->kc.ca) {
			k8c_error_set(
				err, 0,
				"node server: no --client-ca-file and no CA in the kubeconfig");
			return NULL;
		}
		f = fopen(ca, "we");
		if (!f || fwrite(cfg->kc.ca, 1, cfg->kc.ca_len, f) != cfg->kc.ca_len) {
			if (f)
				fclose(f);
			k8c_error_errno(err, 0, errno, "write %s", ca);
			return NULL;
		}
		fclose(f);
	}
	return k8c_node_server_start(&sc, &ops, err);
}

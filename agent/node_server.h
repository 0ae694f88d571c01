/*
 * The node's HTTPS endpoint (kubelet's port 10250; docs/agent.md "Logs and exec"): what the API
 * server's pods/log and pods/exec proxy to.
 *
 *   GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&sinceTime
 *       &timestamps&limitBytes&previous          text/plain, from CRI-format log files
 *   GET|POST /exec/{ns}/{pod}/{container}?command=..&command=..&stdin&stdout&stderr&tty
 *       WebSocket v5.channel.k8s.io / v4.channel.k8s.io (channel bytes, status on 3, resize 4,
 *       close-stdin 255 in v5)
 *   GET /healthz
 *
 * TLS with a serving certificate (given, or self-signed and kept in cert_dir), and every client
 * must present a certificate signed by client_ca_file (the cluster CA: the API server's).
 * The server runs its own thread with an h2o event loop; the ops are called from that thread.
 * The pid an exec returns is reaped here (waitpid when its pidfd says it exited) unless the
 * embedder reaps its children itself and gives ops.wait_exit.
 */
#ifndef K8C_AGENT_NODE_SERVER_H
#define K8C_AGENT_NODE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct k8c_node_server_ops {
	void *data;
	/*
	 * The CRI log file of a container (malloc'd path), of its previous instance with
	 * previous. NULL with err when there is none: err->code 404 for an unknown pod or
	 * container (or no previous instance), 400 for a request the pod cannot serve.
	 */
	char *(*log_path)(void *data, const char *ns, const char *pod, const char *container,
			  bool previous, struct k8c_error *err);
	/* Whether the container still runs: a follow ends once it does not and the file stopped
	 * growing. NULL: follow ends only when the client goes away. */
	bool (*running)(void *data, const char *ns, const char *pod, const char *container);
	/*
	 * Run argv in the container (as k8c_container_exec in runtime.h): fds[0] the process's
	 * stdin (write end), fds[1], fds[2] its stdout and stderr (read ends); with tty one pty
	 * master in fds[0] and -1 in the others. *pid exits with the command's exit status.
	 * <0 with err (code 404: no such container; otherwise 500).
	 */
	int (*exec)(void *data, const char *ns, const char *pod, const char *container,
		    const char *const *argv, bool tty, int fds[3], pid_t *pid,
		    struct k8c_error *err);
	/*
	 * Optional, for an embedder that reaps its children itself (a waitpid(-1) loop): called
	 * once an exec'd pid has exited (its pidfd said so), to get its wait status: 0 with
	 * *wstatus, 1 when not reaped yet (asked again 100 ms later), <0 when unknown (exit code
	 * 1 is reported). NULL: the node server reaps the pid with waitpid.
	 */
	int (*wait_exit)(void *data, pid_t pid, int *wstatus);
};

struct k8c_node_server_config {
	const char *address; /* listen address (default 0.0.0.0) */
	int port;	     /* 0: 10250; negative: any free port (k8c_node_server_port) */
	/* serving certificate; both NULL: self-signed, made once in cert_dir (kubelet.crt/.key) */
	const char *cert_file, *key_file;
	const char *cert_dir;
	const char *node_name;	    /* the self-signed certificate's CN and DNS SAN */
	const char *const *san_ips; /* its IP SANs (127.0.0.1 is always added) */
	size_t n_san_ips;
	const char *client_ca_file; /* required: the cluster CA (the API server's pki/ca.crt) */
};

struct k8c_node_server;

/* Listen and start serving in a thread of its own. ops is copied. */
struct k8c_node_server *k8c_node_server_start(const struct k8c_node_server_config *cfg,
					      const struct k8c_node_server_ops *ops,
					      struct k8c_error *err);
/* The bound port (for port 0 in the config). */
int k8c_node_server_port(const struct k8c_node_server *s);
/* Stop the thread, close the listener and every stream (exec'd processes get SIGKILL). */
void k8c_node_server_stop(struct k8c_node_server *s);

#endif

/*
 * Containers on a node (issue 4, docs/agent.md "Runtime"): runc runs them from OCI bundles made
 * here; a small per-container shim (k8c-shim, as conmon) owns the container's stdio, writes it to
 * the CRI log file (with rotation), reaps the container and records its exit, so the agent can
 * be restarted (and killed) while containers keep running and keep logging, and a new agent
 * adopts them from the runtime's state directory.
 */
#ifndef K8C_AGENT_RUNTIME_H
#define K8C_AGENT_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct k8c_runtime_opts {
	const char *state_dir;	   /* bundles, shim state: <root-dir>/containers */
	const char *runc_root;	   /* runc --root */
	const char *runc;	   /* runc binary (default: "runc" on PATH) */
	const char *shim;	   /* k8c-shim binary (default: next to the agent) */
	const char *cgroup_parent; /* e.g. "/k8c/node1" (cgroupsPath prefix) */
	long log_max_bytes;	   /* rotation: --container-log-max-size (10 MiB) */
	int log_max_files;	   /* --container-log-max-files (5) */
	/*
	 * Run runc from a sealed in-memory copy made once (--runc-memfd, docs/agent.md "runc from
	 * a sealed memfd"): runc 1.1 then skips re-executing itself from a private copy in every
	 * `runc init`. Falls back to the binary (logged) if the copy cannot be made or run.
	 */
	bool runc_memfd;
};

struct k8c_mount {
	const char *source, *destination, *type; /* type "bind" (default), "tmpfs" ... */
	bool readonly;
	const char *options; /* extra, comma-separated (e.g. "size=64m" for tmpfs) */
};

struct k8c_container_spec {
	const char *id; /* unique runc id, e.g. "<pod uid>-<container name>-<restart>" */
	const char *const *rootfs_lower; /* image layers, lowest first (overlayfs lowerdir) */
	const char *const *argv;	 /* resolved command + args */
	const char *const *env;		 /* "K=V" */
	const char *cwd;
	uint32_t uid, gid;
	const char *const *add_caps, *const *drop_caps; /* "NET_ADMIN" or "CAP_NET_ADMIN" */
	bool privileged, readonly_rootfs, tty, stdin_open;
	const struct k8c_mount *mounts;
	size_t n_mounts;
	const char *hostname;
	const char *netns_path;		       /* the pod's network namespace */
	const char *ipc_ns_path, *uts_ns_path; /* shared with the pod's first container, or NULL */
	int64_t cpu_shares, cpu_quota_us, cpu_period_us, memory_limit_bytes; /* 0: unset */
	const char *log_path;	       /* CRI-format log file */
	struct k8c_start_times *times; /* optional, filled by k8c_container_start */
};

/* Where a start's time went, in seconds (wall). */
struct k8c_start_times {
	double bundle; /* config.json written */
	double mount;  /* the overlay rootfs */
	double shim;   /* k8c-shim started until it reported the container running */
	double runc;   /* of which `runc run --detach` (as the shim measured it) */
};

enum k8c_container_state { K8C_CTR_CREATED, K8C_CTR_RUNNING, K8C_CTR_EXITED, K8C_CTR_UNKNOWN };

struct k8c_container_status {
	enum k8c_container_state state;
	pid_t pid;
	int exit_code;				     /* 128+signal when killed by a signal */
	char reason[32];			     /* "Completed", "Error", "OOMKilled" */
	int64_t created_ns, started_ns, finished_ns; /* CLOCK_REALTIME */
};

struct k8c_runtime;

struct k8c_runtime *k8c_runtime_new(const struct k8c_runtime_opts *opts, struct k8c_error *err);
void k8c_runtime_free(struct k8c_runtime *rt);

/* Bundle + overlay rootfs + shim + runc create/start. Returns once the process runs. */
int k8c_container_start(struct k8c_runtime *rt, const struct k8c_container_spec *spec,
			struct k8c_error *err);
int k8c_container_status(struct k8c_runtime *rt, const char *id, struct k8c_container_status *st,
			 struct k8c_error *err);
int k8c_container_kill(struct k8c_runtime *rt, const char *id, int sig, struct k8c_error *err);
/* runc delete, unmount the rootfs, remove the bundle and shim state. Idempotent. */
int k8c_container_remove(struct k8c_runtime *rt, const char *id, struct k8c_error *err);
/* Ids of every container in the state dir (adoption after an agent restart). NULL-terminated. */
char **k8c_container_list(struct k8c_runtime *rt, struct k8c_error *err);
/*
 * runc exec: fds[0..2] receive the process's stdin (write end), stdout and stderr (read ends);
 * with tty, one pty master in fds[0] and -1 in the others. *pid to wait for (exit code).
 */
int k8c_container_exec(struct k8c_runtime *rt, const char *id, const char *const *argv, bool tty,
		       int fds[3], pid_t *pid, struct k8c_error *err);

#endif

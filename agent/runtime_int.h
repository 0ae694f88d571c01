/*
 * Between the runtime library and k8c-shim (docs/agent.md "Runtime"): the shim's record of its
 * container, state_dir/<id>/shim.json, always replaced whole (write to a temporary file, rename).
 */
#ifndef K8C_AGENT_RUNTIME_INT_H
#define K8C_AGENT_RUNTIME_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime.h"

#define K8C_SHIM_STATE "shim.json"

struct k8c_shim_state {
	enum k8c_container_state state; /* CREATED, RUNNING or EXITED */
	pid_t shim_pid, pid;
	unsigned long long shim_start; /* the shim's start time (/proc/<pid>/stat field 22) */
	int64_t created_ns, started_ns, finished_ns;
	int exit_code;
	char reason[32];
};

int k8c_shim_state_read(const char *path, struct k8c_shim_state *ss);
int k8c_shim_state_write(const char *path, const struct k8c_shim_state *ss);
/* A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), 0 when it
 * does not exist or is a zombie: with the pid it names one process, whatever reuses the pid. */
unsigned long long k8c_proc_start_time(pid_t pid);
/* Write data to path.tmp, then rename it over path. -1 (errno) on failure. */
int k8c_write_atomic(const char *path, const char *data, size_t len);

#endif

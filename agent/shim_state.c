#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cleanup.h"
#include "runtime_int.h"

static const char *const state_names[] = {"created", "running", "exited", "unknown"};

int k8c_write_atomic(const char *path, const char *data, size_t len)
{
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;

			close(fd);
			unlink(tmp);
			errno = e;
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int k8c_shim_state_write(const char *path, const struct k8c_shim_state *ss)
{
	_cleanup_json_ json_t *doc = json_pack(
		"{s:s,s:i,s:I,s:i,s:I,s:I,s:I,s:i,s:s}", "state", state_names[ss->state],
		"shim_pid", (int)ss->shim_pid, "shim_start", (json_int_t)ss->shim_start, "pid",
		(int)ss->pid, "created_ns", (json_int_t)ss->created_ns, "started_ns",
		(json_int_t)ss->started_ns, "finished_ns", (json_int_t)ss->finished_ns, "exit_code",
		ss->exit_code, "reason", ss->reason);
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);

	return k8c_write_atomic(path, text, strlen(text));
}

int k8c_shim_state_read(const char *path, struct k8c_shim_state *ss)
{
	_cleanup_json_ json_t *doc = json_load_file(path, 0, NULL);
	const char *state, *reason;

	memset(ss, 0, sizeof(*ss));
	if (!doc)
		return -1;
	state = json_string_value(json_object_get(doc, "state"));
	ss->state = K8C_CTR_UNKNOWN;
	for (int i = 0; state && i < 4; i++)
		if (strcmp(state, state_names[i]) == 0)
			ss->state = (enum k8c_container_state)i;
	ss->shim_pid = (pid_t)json_integer_value(json_object_get(doc, "shim_pid"));
	ss->shim_start = (unsigned long long)json_integer_value(json_object_get(doc, "shim_start"));
	ss->pid = (pid_t)json_integer_value(json_object_get(doc, "pid"));
	ss->created_ns = json_integer_value(json_object_get(doc, "created_ns"));
	ss->started_ns = json_integer_value(json_object_get(doc, "started_ns"));
	ss->finished_ns = json_integer_value(json_object_get(doc, "finished_ns"));
	ss->exit_code = (int)json_integer_value(json_object_get(doc, "exit_code"));
	reason = json_string_value(json_object_get(doc, "reason"));
	snprintf(ss->reason, sizeof(ss->reason), "%s", reason ? reason : "");
	return 0;
}

unsigned long long k8c_proc_start_time(pid_t pid)
{
	char path[64], line[1024], *p, *save = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	int field = 3;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(line, sizeof(line), f))
		return 0;
	/* after "pid (comm)": field 3 is the state, field 22 the start time */
	p = strrchr(line, ')');
	if (!p)
		return 0;
	for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save), field++) {
		if (field == 3 && (*t == 'Z' || *t == 'X'))
			return 0;
		if (field == 22)
			return strtoull(t, NULL, 10);
	}
	return 0;
}

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "ipam_exec.h"
#include "jsonutil.h"

extern char **environ;

static int find_plugin(const char *cni_path, const char *type, char *out, size_t len,
		       struct k8c_error *err)
{
	_cleanup_free_ char *copy = NULL;
	char *dir, *save = NULL;

	if (!*type || strchr(type, '/') || !strcmp(type, ".") || !strcmp(type, ".."))
		return k8c_error_set(err, CNI_ERR_INVALID_CONFIG, "invalid plugin type \"%s\"",
				     type);
	copy = k8c_xstrdup(cni_path);
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", dir, type);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return k8c_error_set(err, CNI_ERR_INVALID_CONFIG,
			     "failed to find plugin \"%s\" in path [%s]", type, cni_path);
}

static const struct cni_plugin *builtins[4];
static size_t n_builtins;

void cni_ipam_register_builtin(const struct cni_plugin *plugin)
{
	if (n_builtins < sizeof(builtins) / sizeof(builtins[0]))
		builtins[n_builtins++] = plugin;
}

static char **child_env(const char *command)
{
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n])
		n++;
	env = k8c_xcalloc(n + 2, sizeof(*env));
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "CNI_COMMAND=", 12))
			env[j++] = environ[i];
	env[j++] = k8c_xasprintf("CNI_COMMAND=%s", command);
	env[j] = NULL;
	return env;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static char *read_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = k8c_xmalloc(cap);

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n - 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n + 1 == cap) {
			cap *= 2;
			buf = k8c_xrealloc(buf, cap);
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void free_env(char **env)
{
	size_t i;

	for (i = 0; env[i]; i++)
		if (!strncmp(env[i], "CNI_COMMAND=", 12))
			free(env[i]);
	free(env);
}

static int run_builtin(const struct cni_plugin *plugin, const struct cni_request *req,
		       const char *command, json_t **result, struct k8c_error *err)
{
	char **env = child_env(command);
	struct cni_request sub;
	int ret;

	ret = cni_request_parse(plugin, req->stdin_data, req->stdin_len, (const char *const *)env,
				&sub, err);
	if (ret == 0)
		ret = cni_plugin_dispatch(plugin, &sub, result, err);
	cni_request_free(&sub);
	free_env(env);
	if (ret < 0)
		return k8c_error_wrap(err, "IPAM plugin %s %s", plugin->name, command);
	return 0;
}

int cni_ipam_exec(const struct cni_request *req, const char *type, const char *command,
		  json_t **result, struct k8c_error *err)
{
	char path[PATH_MAX];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, status = 0;
	_cleanup_free_ char *output = NULL;
	char **env = NULL;
	posix_spawn_file_actions_t fa;
	char *argv[] = {(char *)type, NULL};
	size_t olen = 0;
	pid_t pid;
	int ret = -1;
	json_t *j;

	*result = NULL;
	if (find_plugin(req->path, type, path, sizeof(path), err) < 0)
		return -1;
	/* The delegate gets our stdin as it came, as libcni's invoke does. */
	for (size_t i = 0; i < n_builtins; i++)
		if (!strcmp(builtins[i]->name, type))
			return run_builtin(builtins[i], req, command, result, err);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		k8c_error_errno(err, CNI_ERR_IO, errno, "pipe");
		goto out;
	}
	env = child_env(command);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	errno = posix_spawn(&pid, path, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (errno) {
		k8c_error_errno(err, CNI_ERR_IO, errno, "run IPAM plugin %s", path);
		goto out;
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	/* A plugin that exits without reading stdin must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	write_all(in[1], req->stdin_data, req->stdin_len);
	close(in[1]);
	in[1] = -1;
	output = read_fd(out[0], &olen);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	j = olen ? json_loadb(output, olen, 0, NULL) : NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		json_t *code = j ? json_object_get(j, "code") : NULL;
		json_t *msg = j ? json_object_get(j, "msg") : NULL;

		if (json_is_integer(code))
			k8c_error_set(err, (int)json_integer_value(code), "%s",
				      json_is_string(msg) ? json_string_value(msg) : "failed");
		else
			k8c_error_set(err, CNI_ERR_PLUGIN, "exited with status %d: %.200s",
				      WIFEXITED(status) ? WEXITSTATUS(status)
							: 128 + WTERMSIG(status),
				      output);
		json_decref(j);
		k8c_error_wrap(err, "IPAM plugin %s %s", type, command);
		goto out;
	}
	if (olen && !j) {
		k8c_error_set(err, CNI_ERR_DECODE, "IPAM plugin %s %s: output is not JSON: %.200s",
			      type, command, output);
		goto out;
	}
	*result = j;
	ret = 0;
out:
	if (env)
		free_env(env);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return ret;
}

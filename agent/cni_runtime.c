#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "cni_runtime.h"
#include "cni_types.h"
#include "log.h"

extern char **environ;

struct k8c_cni {
	char *bin_dir, *conf_dir, *cache_dir;
	char *file;    /* the configuration file loaded */
	char *raw;     /* its bytes (the cache's "config") */
	json_t *list;  /* {"cniVersion", "name", "plugins": [...]} */
	char *name;    /* network name */
	char *version; /* cniVersion */
};

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *s, size_t n)
{
	char *out = k8c_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *out = k8c_xmalloc(n / 4 * 3 + 4), *o = out;
	unsigned v = 0;
	int bits = 0;

	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *p = strchr(b64, s[i]);

		if (!p || !s[i]) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)((v >> bits) & 0xff);
		}
	}
	*o = 0;
	*len = (size_t)(o - out);
	return out;
}

static bool conf_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcmp(dot, ".conf") || !strcmp(dot, ".conflist") || !strcmp(dot, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The configuration files of dir, sorted (NULL-terminated); NULL with err on a read error. */
static char **conf_files(const char *dir, struct k8c_error *err)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!d) {
		if (errno == ENOENT)
			return k8c_xcalloc(1, sizeof(char *));
		k8c_error_errno(err, 0, errno, "CNI conf dir %s", dir);
		return NULL;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !conf_ext(e->d_name))
			continue;
		v = k8c_xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = k8c_xasprintf("%s/%s", dir, e->d_name);
	}
	if (!v)
		return k8c_xcalloc(1, sizeof(char *));
	v[n] = NULL;
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* A conflist from its bytes: a list as is, a single plugin's .conf as a list of one. */
static json_t *parse_list(const char *raw, size_t len, const char *what, struct k8c_error *err)
{
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(raw, len, 0, &je);
	json_t *plugins, *list;
	const char *name, *ver;

	if (!j || !json_is_object(j)) {
		k8c_error_set(err, 0, "%s: not a JSON object%s%s", what, j ? "" : ": ",
			      j ? "" : je.text);
		return NULL;
	}
	name = json_string_value(json_object_get(j, "name"));
	ver = json_string_value(json_object_get(j, "cniVersion"));
	if (!name || !*name) {
		k8c_error_set(err, 0, "%s: no \"name\"", what);
		return NULL;
	}
	if (!ver)
		ver = "0.3.1";
	if (!cni_version_supported(ver)) {
		k8c_error_set(err, 0, "%s: cniVersion %s is not supported", what, ver);
		return NULL;
	}
	plugins = json_object_get(j, "plugins");
	if (plugins) {
		size_t i;
		json_t *p;

		if (!json_is_array(plugins) || json_array_size(plugins) == 0) {
			k8c_error_set(err, 0, "%s: \"plugins\" must be a non-empty array", what);
			return NULL;
		}
		json_array_foreach(plugins, i, p)
		{
			if (!json_is_object(p) || !json_string_value(json_object_get(p, "type"))) {
				k8c_error_set(err, 0, "%s: plugin %zu has no \"type\"", what, i);
				return NULL;
			}
		}
		json_object_set_new(j, "cniVersion", json_string(ver));
		return k8c_steal_ptr(j);
	}
	if (!json_string_value(json_object_get(j, "type"))) {
		k8c_error_set(err, 0, "%s: no \"type\" and no \"plugins\"", what);
		return NULL;
	}
	list = json_pack("{s:s, s:s, s:[O]}", "cniVersion", ver, "name", name, "plugins", j);
	return list;
}

int k8c_cni_write_default_conf(const char *conf_dir, const char *bridge, const char *pod_cidr,
			       const char *ipam_data_dir, const char *cluster_cidr,
			       struct k8c_error *err)
{
	char **files = conf_files(conf_dir, err);
	_cleanup_json_ json_t *conf = NULL;
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	bool have;

	if (!files)
		return -1;
	have = files[0] != NULL;
	strv_free(files);
	if (have)
		return 0;
	if (k8c_mkdir_p(conf_dir, 0755) < 0)
		return k8c_error_errno(err, 0, errno, "CNI conf dir %s", conf_dir);
	conf = json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:b, s:b, s:{s:s, s:s, s:[[{s:s}]], "
			 "s:[{s:s}]}}]}",
			 "cniVersion", "1.1.0", "name", "k8c", "plugins", "type", "k8c-bridge",
			 "bridge", bridge, "isGateway", 1, "ipMasq", 1, "hairpinMode", 1, "ipam",
			 "type", "k8c-host-local", "dataDir", ipam_data_dir, "ranges", "subnet",
			 pod_cidr, "routes", "dst", "0.0.0.0/0");
	if (cluster_cidr && *cluster_cidr)
		json_object_set_new(json_array_get(json_object_get(conf, "plugins"), 0),
				    "ipMasqExceptions", json_pack("[s]", cluster_cidr));
	path = k8c_xasprintf("%s/10-k8c.conflist", conf_dir);
	tmp = k8c_xasprintf("%s/.10-k8c.conflist.tmp", conf_dir);
	if (json_dump_file(conf, tmp, JSON_INDENT(2)) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return k8c_error_errno(err, 0, errno, "write %s", path);
	}
	return 1;
}

static int read_file(const char *path, char **out, size_t *len, struct k8c_error *err)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return k8c_error_errno(err, errno, errno, "%s", path);
	do {
		if (cap - n < 4096)
			buf = k8c_xrealloc(buf, cap = cap ? cap * 2 : 8192);
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	if (ferror(f)) {
		free(buf);
		return k8c_error_errno(err, EIO, EIO, "%s", path);
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

struct k8c_cni *k8c_cni_new(const struct k8c_cni_opts *o, struct k8c_error *err)
{
	char **files = conf_files(o->conf_dir, err);
	struct k8c_cni *c;

	if (!files)
		return NULL;
	c = k8c_xcalloc(1, sizeof(*c));
	c->bin_dir = k8c_xstrdup(o->bin_dir);
	c->conf_dir = k8c_xstrdup(o->conf_dir);
	c->cache_dir = k8c_xstrdup(o->cache_dir);
	for (size_t i = 0; files[i] && !c->list; i++) {
		size_t len = 0;
		char *raw = NULL;
		struct k8c_error e = K8C_ERROR_INIT;

		if (read_file(files[i], &raw, &len, &e) == 0 &&
		    (c->list = parse_list(raw, len, files[i], &e))) {
			c->raw = raw;
			c->file = k8c_xstrdup(files[i]);
		} else {
			/* as libcni: a broken file is skipped for the next one, loudly */
			k8c_log_warn("CNI configuration skipped", "file=%s error=\"%s\"", files[i],
				     e.msg);
			free(raw);
		}
		k8c_error_clear(&e);
	}
	strv_free(files);
	if (!c->list) {
		k8c_error_set(err, 0, "no CNI network configuration in %s", o->conf_dir);
		k8c_cni_free(c);
		return NULL;
	}
	c->name = k8c_xstrdup(json_string_value(json_object_get(c->list, "name")));
	c->version = k8c_xstrdup(json_string_value(json_object_get(c->list, "cniVersion")));
	k8c_log_info("CNI network loaded", "file=%s network=%s cniVersion=%s plugins=%zu", c->file,
		     c->name, c->version, json_array_size(json_object_get(c->list, "plugins")));
	return c;
}

void k8c_cni_free(struct k8c_cni *c)
{
	if (!c)
		return;
	free(c->bin_dir);
	free(c->conf_dir);
	free(c->cache_dir);
	free(c->file);
	free(c->raw);
	json_decref(c->list);
	free(c->name);
	free(c->version);
	free(c);
}

const char *k8c_cni_network_name(const struct k8c_cni *c)
{
	return c->name;
}

/* The plugin binary: the first bin dir holding an executable `type`. */
static char *find_plugin(const char *bin_dir, const char *type, struct k8c_error *err)
{
	_cleanup_free_ char *dirs = k8c_xstrdup(bin_dir);
	char *save = NULL;

	if (strchr(type, '/') || !strcmp(type, "..") || !strcmp(type, ".")) {
		k8c_error_set(err, 0, "CNI plugin type \"%s\" is not a file name", type);
		return NULL;
	}
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = k8c_xasprintf("%s/%s", d, type);

		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	k8c_error_set(err, 0, "failed to find plugin \"%s\" in path [%s]", type, bin_dir);
	return NULL;
}

static char *cni_args(const struct k8c_cni_att *a)
{
	if (!a->pod_name)
		return k8c_xstrdup("IgnoreUnknown=1");
	return k8c_xasprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
			     "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
			     a->pod_namespace ? a->pod_namespace : "", a->pod_name, a->container_id,
			     a->pod_uid ? a->pod_uid : "");
}

/*
 * Run one plugin: conf on stdin, *out (may be NULL) the JSON it printed on success. A failure
 * carries the plugin's error JSON: "plugin k8c-bridge ADD: msg (details)", code its CNI code.
 */
static int exec_plugin(const struct k8c_cni *c, const char *cmd, const struct k8c_cni_att *a,
		       json_t *conf, json_t **out, struct k8c_error *err)
{
	const char *type = json_string_value(json_object_get(conf, "type"));
	_cleanup_free_ char *path = find_plugin(c->bin_dir, type, err);
	_cleanup_free_ char *stdin_buf = NULL, *args = NULL, *obuf = NULL;
	char *envv[64], *argv[] = {NULL, NULL};
	size_t ne = 0, on = 0, ocap = 0;
	int in[2] = {-1, -1}, op[2] = {-1, -1}, status;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	json_t *res;
	json_error_t je;

	if (!path)
		return -1;
	argv[0] = path;
	stdin_buf = json_dumps(conf, JSON_COMPACT);
	args = a ? cni_args(a) : NULL;
	/* the caller's environment minus any CNI_*, then ours */
	for (char **e = environ; *e && ne < 50; e++)
		if (strncmp(*e, "CNI_", 4) != 0)
			envv[ne++] = *e;
	_cleanup_free_ char *e1 = k8c_xasprintf("CNI_COMMAND=%s", cmd);
	_cleanup_free_ char *e2 = k8c_xasprintf("CNI_PATH=%s", c->bin_dir);
	_cleanup_free_ char *e3 = a ? k8c_xasprintf("CNI_CONTAINERID=%s", a->container_id) : NULL;
	_cleanup_free_ char *e4 =
		a ? k8c_xasprintf("CNI_NETNS=%s", a->netns ? a->netns : "") : NULL;
	_cleanup_free_ char *e5 = a ? k8c_xasprintf("CNI_IFNAME=%s", a->ifname) : NULL;
	_cleanup_free_ char *e6 = a ? k8c_xasprintf("CNI_ARGS=%s", args) : NULL;
	envv[ne++] = e1;
	envv[ne++] = e2;
	if (a) {
		envv[ne++] = e3;
		if (a->netns && *a->netns)
			envv[ne++] = e4;
		envv[ne++] = e5;
		envv[ne++] = e6;
	}
	envv[ne] = NULL;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0) {
		k8c_error_errno(err, 0, errno, "pipe");
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, op[1], STDOUT_FILENO);
	errno = posix_spawn(&pid, path, &fa, NULL, argv, envv);
	posix_spawn_file_actions_destroy(&fa);
	if (errno) {
		k8c_error_errno(err, 0, errno, "plugin %s %s: spawn %s", type, cmd, path);
		goto fail;
	}
	close(in[0]);
	close(op[1]);
	in[0] = op[1] = -1;
	{
		size_t len = strlen(stdin_buf), off = 0;

		while (off < len) {
			ssize_t w = write(in[1], stdin_buf + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				break; /* the plugin exited early: its status tells */
			off += (size_t)w;
		}
	}
	close(in[1]);
	in[1] = -1;
	for (;;) {
		ssize_t r;

		if (ocap - on < 4096)
			obuf = k8c_xrealloc(obuf, ocap = ocap ? ocap * 2 : 8192);
		r = read(op[0], obuf + on, ocap - on - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		on += (size_t)r;
	}
	obuf[on] = 0;
	close(op[0]);
	op[0] = -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			k8c_error_errno(err, 0, errno, "plugin %s %s: wait", type, cmd);
			return -1;
		}
	res = on ? json_loadb(obuf, on, 0, &je) : NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *msg = json_string_value(json_object_get(res, "msg"));
		const char *det = json_string_value(json_object_get(res, "details"));
		int code = (int)json_integer_value(json_object_get(res, "code"));

		if (msg)
			k8c_error_set(err, code, "plugin %s %s: %s%s%s%s", type, cmd, msg,
				      det && *det ? " (" : "", det && *det ? det : "",
				      det && *det ? ")" : "");
		else if (WIFEXITED(status))
			k8c_error_set(err, 0, "plugin %s %s: exit status %d%s%.200s", type, cmd,
				      WEXITSTATUS(status), on ? ": " : "", on ? obuf : "");
		else
			k8c_error_set(err, 0, "plugin %s %s: killed by signal %d", type, cmd,
				      WTERMSIG(status));
		json_decref(res);
		return -1;
	}
	if (out) {
		if (!res && strcmp(cmd, "ADD") == 0) {
			k8c_error_set(err, 0, "plugin %s %s: output is not JSON: %.200s", type, cmd,
				      obuf);
			return -1;
		}
		*out = res;
	} else {
		json_decref(res);
	}
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	return -1;
}

/* The stdin of plugin i: its object plus the list's name and cniVersion (and prevResult). */
static json_t *plugin_conf(json_t *list, size_t i, json_t *prev)
{
	json_t *p = json_deep_copy(json_array_get(json_object_get(list, "plugins"), i));

	json_object_set(p, "name", json_object_get(list, "name"));
	json_object_set(p, "cniVersion", json_object_get(list, "cniVersion"));
	if (prev)
		json_object_set(p, "prevResult", prev);
	return p;
}

static char *cache_path(const struct k8c_cni *c, const char *net, const char *id, const char *ifn)
{
	return k8c_xasprintf("%s/results/%s-%s-%s", c->cache_dir, net, id, ifn);
}

static json_t *cache_read(const struct k8c_cni *c, const char *id, const char *ifname,
			  struct k8c_error *err)
{
	_cleanup_free_ char *path = cache_path(c, c->name, id, ifname);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (!j) {
		if (access(path, F_OK) < 0)
			k8c_error_set(err, ENOENT, "no cached CNI result for %s/%s", id, ifname);
		else
			k8c_error_set(err, EINVAL, "%s: %s", path, je.text);
	}
	return j;
}

static int cache_write(const struct k8c_cni *c, const struct k8c_cni_att *a, json_t *result,
		       struct k8c_error *err)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/results", c->cache_dir);
	_cleanup_free_ char *path = cache_path(c, c->name, a->container_id, a->ifname);
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", path);
	_cleanup_free_ char *cfg = b64_encode(c->raw, strlen(c->raw));
	_cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "kind",
					     "cniCacheV1", "containerId", a->container_id, "config",
					     cfg, "ifName", a->ifname, "networkName", c->name,
					     "netns", a->netns ? a->netns : "", "result", result);

	if (a->pod_name)
		json_object_set_new(j, "cniArgs",
				    json_pack("[[s,s],[s,s],[s,s],[s,s]]", "K8S_POD_NAMESPACE",
					      a->pod_namespace ? a->pod_namespace : "",
					      "K8S_POD_NAME", a->pod_name,
					      "K8S_POD_INFRA_CONTAINER_ID", a->container_id,
					      "K8S_POD_UID", a->pod_uid ? a->pod_uid : ""));
	if (k8c_mkdir_p(dir, 0700) < 0)
		return k8c_error_errno(err, 0, errno, "CNI cache %s", dir);
	if (json_dump_file(j, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return k8c_error_errno(err, 0, errno, "CNI cache %s", path);
	}
	return 0;
}

/* DEL of every plugin of list in reverse order; the first error is reported, all are run. */
static int del_list(const struct k8c_cni *c, json_t *list, const struct k8c_cni_att *a,
		    json_t *prev, struct k8c_error *err)
{
	json_t *plugins = json_object_get(list, "plugins");
	const char *ver = json_string_value(json_object_get(list, "cniVersion"));
	int rc = 0;

	/* prevResult on DEL from 0.4.0 on (libcni) */
	if (cni_version_cmp(ver, "0.4.0") < 0)
		prev = NULL;
	for (size_t i = json_array_size(plugins); i-- > 0;) {
		_cleanup_json_ json_t *conf = plugin_conf(list, i, prev);
		struct k8c_error e = K8C_ERROR_INIT;

		if (exec_plugin(c, "DEL", a, conf, NULL, &e) < 0 && rc == 0) {
			rc = -1;
			k8c_error_set(err, e.code, "%s", e.msg);
		}
		k8c_error_clear(&e);
	}
	return rc;
}

int k8c_cni_add(struct k8c_cni *c, const struct k8c_cni_att *a, json_t **result,
		struct k8c_error *err)
{
	json_t *plugins = json_object_get(c->list, "plugins");
	_cleanup_json_ json_t *prev = NULL;
	size_t i;

	for (i = 0; i < json_array_size(plugins); i++) {
		_cleanup_json_ json_t *conf = plugin_conf(c->list, i, prev);
		json_t *r = NULL;

		if (exec_plugin(c, "ADD", a, conf, &r, err) < 0)
			goto undo;
		json_decref(prev);
		prev = r;
	}
	if (!prev) {
		k8c_error_set(err, 0, "network %s: no result", c->name);
		goto undo;
	}
	if (cache_write(c, a, prev, err) < 0)
		goto undo;
	if (result)
		*result = json_incref(prev);
	return 0;
undo : {
	/* as the CRI runtimes do after a failed ADD: DEL through the whole list, nothing leaks */
	struct k8c_error e = K8C_ERROR_INIT;

	if (del_list(c, c->list, a, NULL, &e) < 0)
		k8c_log_warn("CNI DEL after a failed ADD", "container=%s error=\"%s\"",
			     a->container_id, e.msg);
	k8c_error_clear(&e);
	return k8c_error_wrap(err, "network %s: ADD %s", c->name, a->container_id);
}
}

int k8c_cni_del(struct k8c_cni *c, const struct k8c_cni_att *a, struct k8c_error *err)
{
	struct k8c_error e = K8C_ERROR_INIT;
	_cleanup_json_ json_t *cached = cache_read(c, a->container_id, a->ifname, &e);
	_cleanup_free_ char *path = cache_path(c, c->name, a->container_id, a->ifname);

	k8c_error_clear(&e);
	if (del_list(c, c->list, a, cached ? json_object_get(cached, "result") : NULL, err) < 0)
		return k8c_error_wrap(err, "network %s: DEL %s", c->name, a->container_id);
	if (unlink(path) < 0 && errno != ENOENT)
		return k8c_error_errno(err, 0, errno, "CNI cache %s", path);
	return 0;
}

int k8c_cni_check(struct k8c_cni *c, const struct k8c_cni_att *a, struct k8c_error *err)
{
	json_t *plugins = json_object_get(c->list, "plugins");
	_cleanup_json_ json_t *cached = NULL;

	if (cni_version_cmp(c->version, "0.4.0") < 0)
		return 0; /* CHECK came with 0.4.0 */
	cached = cache_read(c, a->container_id, a->ifname, err);
	if (!cached)
		return k8c_error_wrap(err, "network %s: CHECK", c->name);
	for (size_t i = 0; i < json_array_size(plugins); i++) {
		_cleanup_json_ json_t *conf =
			plugin_conf(c->list, i, json_object_get(cached, "result"));

		if (exec_plugin(c, "CHECK", a, conf, NULL, err) < 0)
			return k8c_error_wrap(err, "network %s: CHECK %s", c->name,
					      a->container_id);
	}
	return 0;
}

json_t *k8c_cni_cached_result(struct k8c_cni *c, const char *container_id, const char *ifname,
			      struct k8c_error *err)
{
	_cleanup_json_ json_t *j = cache_read(c, container_id, ifname, err);
	json_t *r = j ? json_object_get(j, "result") : NULL;

	if (j && !r)
		k8c_error_set(err, EINVAL, "cached CNI entry %s/%s has no result", container_id,
			      ifname);
	return json_incref(r);
}

char **k8c_cni_cached_ids(struct k8c_cni *c, struct k8c_error *err)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/results", c->cache_dir);
	_cleanup_closedir_ DIR *d = opendir(dir);
	size_t plen = strlen(c->name), n = 0;
	struct dirent *e;
	char **v = k8c_xcalloc(1, sizeof(char *));

	if (!d) {
		if (errno == ENOENT)
			return v;
		free(v);
		k8c_error_errno(err, 0, errno, "CNI cache %s", dir);
		return NULL;
	}
	while ((e = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		_cleanup_json_ json_t *j = NULL;
		const char *id;

		/* <net>-<id>-<ifname>: read the entry rather than split the name (ids have '-') */
		if (strncmp(e->d_name, c->name, plen) != 0 || e->d_name[plen] != '-')
			continue;
		if (strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".tmp"))
			continue;
		path = k8c_xasprintf("%s/%s", dir, e->d_name);
		j = json_load_file(path, 0, NULL);
		id = json_string_value(json_object_get(j, "containerId"));
		if (!id || strcmp(json_string_value(json_object_get(j, "networkName")) ?: "",
				  c->name) != 0)
			continue;
		v = k8c_xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = k8c_xstrdup(id);
		v[n] = NULL;
	}
	return v;
}

static bool in_strv(const char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

int k8c_cni_gc(struct k8c_cni *c, const char *const *valid, const char *ifname,
	       struct k8c_error *err)
{
	char **ids = k8c_cni_cached_ids(c, err);
	json_t *plugins = json_object_get(c->list, "plugins");
	_cleanup_json_ json_t *atts = json_array();
	int deleted = 0, rc = 0;

	if (!ids)
		return -1;
	for (size_t i = 0; ids[i]; i++) {
		struct k8c_error e = K8C_ERROR_INIT;
		_cleanup_json_ json_t *entry = NULL, *list = NULL;
		_cleanup_free_ char *raw = NULL, *path = NULL;
		const char *netns, *cfg;
		size_t len;
		struct k8c_cni_att a = {.container_id = ids[i], .ifname = ifname};

		if (in_strv(valid, ids[i]))
			continue;
		entry = cache_read(c, ids[i], ifname, &e);
		cfg = json_string_value(json_object_get(entry, "config"));
		raw = cfg ? b64_decode(cfg, &len) : NULL;
		list = raw ? parse_list(raw, len, "cached CNI config", &e) : NULL;
		netns = json_string_value(json_object_get(entry, "netns"));
		/* a namespace that is gone is no namespace: the plugins clean up without it */
		a.netns = netns && *netns && access(netns, F_OK) == 0 ? netns : NULL;
		{
			json_t *args = json_object_get(entry, "cniArgs");
			size_t k;
			json_t *kv;

			json_array_foreach(args, k, kv)
			{
				const char *key = json_string_value(json_array_get(kv, 0));
				const char *val = json_string_value(json_array_get(kv, 1));

				if (!key || !val)
					continue;
				if (!strcmp(key, "K8S_POD_NAMESPACE"))
					a.pod_namespace = val;
				else if (!strcmp(key, "K8S_POD_NAME"))
					a.pod_name = val;
				else if (!strcmp(key, "K8S_POD_UID"))
					a.pod_uid = val;
			}
		}
		if (del_list(c, list ? list : c->list, &a, json_object_get(entry, "result"), &e) <
		    0) {
			k8c_log_warn("CNI GC: DEL failed", "container=%s error=\"%s\"", ids[i],
				     e.msg);
			if (rc == 0)
				k8c_error_set(err, e.code, "CNI GC of %s: %s", ids[i], e.msg);
			rc = -1;
		} else {
			path = cache_path(c, c->name, ids[i], ifname);
			unlink(path);
			deleted++;
			k8c_log_info("CNI GC: attachment deleted", "container=%s", ids[i]);
		}
		k8c_error_clear(&e);
	}
	strv_free(ids);
	if (cni_version_cmp(c->version, "1.1.0") >= 0) {
		for (size_t i = 0; valid && valid[i]; i++)
			json_array_append_new(atts, json_pack("{s:s, s:s}", "containerID", valid[i],
							      "ifname", ifname));
		for (size_t i = 0; i < json_array_size(plugins); i++) {
			_cleanup_json_ json_t *conf = plugin_conf(c->list, i, NULL);
			struct k8c_error e = K8C_ERROR_INIT;

			json_object_set(conf, "cni.dev/valid-attachments", atts);
			if (exec_plugin(c, "GC", NULL, conf, NULL, &e) < 0) {
				k8c_log_warn("CNI GC failed", "error=\"%s\"", e.msg);
				if (rc == 0)
					k8c_error_set(err, e.code, "%s", e.msg);
				rc = -1;
			}
			k8c_error_clear(&e);
		}
	}
	return rc < 0 ? -1 : deleted;
}

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsonutil.h"
#include "plugin.h"

#define STDIN_MAX (16 << 20)

extern char **environ;

static const struct {
	const char *name;
	enum cni_command cmd;
} commands[] = {
	{"ADD", CNI_CMD_ADD},	      {"DEL", CNI_CMD_DEL},	  {"CHECK", CNI_CMD_CHECK},
	{"VERSION", CNI_CMD_VERSION}, {"STATUS", CNI_CMD_STATUS}, {"GC", CNI_CMD_GC},
};

static const char *env_get(const char *const *envp, const char *key)
{
	size_t klen = strlen(key);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, key, klen) && (*envp)[klen] == '=')
			return *envp + klen + 1;
	return NULL;
}

const char *cni_request_arg(const struct cni_request *req, const char *key)
{
	size_t i;

	for (i = 0; i < req->n_args; i++)
		if (!strcmp(req->args[i].key, key))
			return req->args[i].value;
	return NULL;
}

/* Spec: "alphanumeric first, then [A-Za-z0-9_.-]" (libcni's ValidateContainerID). */
static bool valid_container_id(const char *id)
{
	const char *p;

	if (!id || !*id)
		return false;
	if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
	      (*id >= '0' && *id <= '9')))
		return false;
	for (p = id + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			return false;
	return true;
}

/* Same rules as the kernel's dev_valid_name(): at most IFNAMSIZ-1 bytes, no '/', ':' or space. */
static int validate_ifname(const char *name, struct k8c_error *err)
{
	const char *p;

	if (!name || !*name)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_IFNAME is empty");
	if (strlen(name) > 15)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_IFNAME \"%s\" is longer than 15 characters", name);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_IFNAME \"%s\" is not valid",
				     name);
	for (p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p == ' ' || *p == '\t' || *p == '\n')
			return k8c_error_set(err, CNI_ERR_INVALID_ENV,
					     "CNI_IFNAME \"%s\" contains '%c'", name, *p);
	return 0;
}

static bool known_arg(const struct cni_plugin *plugin, const char *key)
{
	const char *const *k;

	if (!strcmp(key, "IgnoreUnknown"))
		return true;
	for (k = plugin->known_args; k && *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

static int parse_cni_args(const struct cni_plugin *plugin, const char *s, struct cni_request *req,
			  struct k8c_error *err)
{
	_cleanup_free_ char *copy = NULL;
	char *tok, *save = NULL;
	bool ignore_unknown = false;
	size_t i;

	if (!s || !*s)
		return 0;
	copy = k8c_xstrdup(s);
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok)
			return k8c_error_set(err, CNI_ERR_INVALID_ENV,
					     "CNI_ARGS: invalid pair \"%s\" (want KEY=VALUE)", tok);
		*eq = '\0';
		req->args = k8c_xrealloc(req->args, (req->n_args + 1) * sizeof(*req->args));
		req->args[req->n_args].key = k8c_xstrdup(tok);
		req->args[req->n_args].value = k8c_xstrdup(eq + 1);
		req->n_args++;
		if (!strcmp(tok, "IgnoreUnknown"))
			ignore_unknown = !strcmp(eq + 1, "1") || !strcasecmp(eq + 1, "true");
	}
	if (ignore_unknown)
		return 0;
	for (i = 0; i < req->n_args; i++)
		if (!known_arg(plugin, req->args[i].key))
			return k8c_error_set(err, CNI_ERR_INVALID_ENV,
					     "CNI_ARGS: unknown key \"%s\" (set IgnoreUnknown=1 to "
					     "ignore it)",
					     req->args[i].key);
	return 0;
}

void cni_request_free(struct cni_request *req)
{
	size_t i;

	for (i = 0; i < req->n_args; i++) {
		free(req->args[i].key);
		free(req->args[i].value);
	}
	free(req->args);
	json_decref(req->conf);
	memset(req, 0, sizeof(*req));
}

static int parse_env(const struct cni_plugin *plugin, const char *const *envp,
		     struct cni_request *req, struct k8c_error *err)
{
	const char *cmd = env_get(envp, "CNI_COMMAND");
	bool per_container;
	size_t i;

	if (!cmd || !*cmd)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_COMMAND is not set");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0]))
		return k8c_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_COMMAND \"%s\" is not one of "
				     "ADD, DEL, CHECK, VERSION, STATUS, GC",
				     cmd);
	req->command = commands[i].cmd;
	req->command_name = commands[i].name;
	if (req->command == CNI_CMD_VERSION)
		return 0;

	req->path = env_get(envp, "CNI_PATH");
	if (!req->path || !*req->path)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_PATH is not set");

	per_container = req->command == CNI_CMD_ADD || req->command == CNI_CMD_DEL ||
			req->command == CNI_CMD_CHECK;
	if (!per_container)
		return 0;
	req->container_id = env_get(envp, "CNI_CONTAINERID");
	if (!req->container_id || !*req->container_id)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID is not set");
	if (!valid_container_id(req->container_id))
		return k8c_error_set(
			err, CNI_ERR_INVALID_ENV,
			"CNI_CONTAINERID \"%s\" is not valid (alphanumeric first, then "
			"[A-Za-z0-9_.-])",
			req->container_id);
	req->ifname = env_get(envp, "CNI_IFNAME");
	if (validate_ifname(req->ifname, err) < 0)
		return -1;
	req->netns = env_get(envp, "CNI_NETNS");
	if (req->netns && !*req->netns)
		req->netns = NULL;
	if (!req->netns && plugin->needs_netns && req->command != CNI_CMD_DEL)
		return k8c_error_set(err, CNI_ERR_INVALID_ENV, "CNI_NETNS is not set");
	return parse_cni_args(plugin, env_get(envp, "CNI_ARGS"), req, err);
}

static int parse_conf(const char *data, size_t len, struct cni_request *req, struct k8c_error *err)
{
	json_error_t jerr;
	json_t *v;

	req->conf = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req->conf)
		return k8c_error_set(err, CNI_ERR_DECODE,
				     "network configuration: invalid JSON at line %d column %d: %s",
				     jerr.line, jerr.column, jerr.text);
	if (!json_is_object(req->conf))
		return k8c_error_set(err, CNI_ERR_DECODE,
				     "network configuration: expected an object, got %s",
				     k8c_json_type_name(req->conf));
	if (k8c_json_string(req->conf, "cniVersion", &req->version, NULL, err) < 0 ||
	    k8c_json_string(req->conf, "name", &req->name, NULL, err) < 0 ||
	    k8c_json_string(req->conf, "type", &req->type_name, NULL, err) < 0 ||
	    k8c_json_object(req->conf, "runtimeConfig", &req->runtime_config, err) < 0) {
		err->code = CNI_ERR_INVALID_CONFIG;
		return k8c_error_wrap(err, "network configuration");
	}
	v = json_object_get(req->conf, "prevResult");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return k8c_error_set(err, CNI_ERR_DECODE,
					     "network configuration: \"prevResult\": expected an "
					     "object, got %s",
					     k8c_json_type_name(v));
		req->prev_result = v;
	}
	return 0;
}

static void supported_list(char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; cni_supported_versions[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					cni_supported_versions[i]);
}

static int check_version(const struct cni_request *req, struct k8c_error *err)
{
	char list[128];

	supported_list(list, sizeof(list));
	if (!req->version)
		return k8c_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "network configuration has no \"cniVersion\"; this plugin "
				     "supports %s",
				     list);
	if (!cni_version_supported(req->version))
		return k8c_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "incompatible CNI versions: config is \"%s\", plugin supports "
				     "%s",
				     req->version, list);
	if ((req->command == CNI_CMD_STATUS || req->command == CNI_CMD_GC) &&
	    cni_version_cmp(req->version, "1.1.0") < 0)
		return k8c_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "config version \"%s\" does not allow %s (needs 1.1.0)",
				     req->version, req->command_name);
	if (req->command == CNI_CMD_CHECK && cni_version_cmp(req->version, "0.4.0") < 0)
		return k8c_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				     "config version \"%s\" does not allow CHECK (needs 0.4.0)",
				     req->version);
	if ((req->command == CNI_CMD_ADD || req->command == CNI_CMD_DEL ||
	     req->command == CNI_CMD_CHECK) &&
	    (!req->name || !*req->name))
		return k8c_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "network configuration: missing \"name\"");
	return 0;
}

int cni_request_parse(const struct cni_plugin *plugin, const char *data, size_t len,
		      const char *const *envp, struct cni_request *req, struct k8c_error *err)
{
	memset(req, 0, sizeof(*req));
	req->stdin_data = data;
	req->stdin_len = len;
	if (parse_env(plugin, envp, req, err) < 0)
		return -1;
	if (req->command == CNI_CMD_VERSION) {
		/* VERSION may come with an empty stdin or {"cniVersion": ...}. */
		json_t *j = len ? json_loadb(data, len, 0, NULL) : NULL;

		if (j && json_is_object(j))
			req->conf = j;
		else
			json_decref(j);
		if (req->conf)
			k8c_json_string(req->conf, "cniVersion", &req->version, NULL, NULL);
		return 0;
	}
	if (parse_conf(data, len, req, err) < 0)
		return -1;
	return check_version(req, err);
}

bool cni_gc_attachment_valid(const struct cni_request *req, const char *container_id,
			     const char *ifname)
{
	json_t *list = json_object_get(req->conf, "cni.dev/valid-attachments"), *v;
	size_t i;

	if (!list)
		list = json_object_get(req->conf, "cni.dev/attachments");
	if (!json_is_array(list))
		return false;
	json_array_foreach(list, i, v)
	{
		json_t *cid = json_object_get(v, "containerID");
		json_t *ifn = json_object_get(v, "ifname");

		if (json_is_string(cid) && !strcmp(json_string_value(cid), container_id) &&
		    (!ifname || (json_is_string(ifn) && !strcmp(json_string_value(ifn), ifname))))
			return true;
	}
	return false;
}

static char *read_all(FILE *f, size_t *len, struct k8c_error *err)
{
	size_t cap = 4096, n = 0;
	char *buf = k8c_xmalloc(cap);

	for (;;) {
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (r == 0) {
			if (ferror(f)) {
				free(buf);
				k8c_error_errno(err, CNI_ERR_IO, errno, "read stdin");
				return NULL;
			}
			break;
		}
		if (n == cap) {
			if (cap >= STDIN_MAX) {
				free(buf);
				k8c_error_set(err, CNI_ERR_IO, "stdin: more than %d bytes",
					      STDIN_MAX);
				return NULL;
			}
			cap *= 2;
			buf = k8c_xrealloc(buf, cap);
		}
	}
	*len = n;
	return buf;
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
}

static void print_help(const struct cni_plugin *plugin, FILE *out)
{
	char list[128];

	supported_list(list, sizeof(list));
	fprintf(out,
		"%s %s: a CNI plugin.\n\n%s\n\n"
		"Usage: a CNI runtime (containerd, CRI-O, k8c-agent) runs it with the network\n"
		"configuration on stdin and these variables set:\n"
		"  CNI_COMMAND      ADD, DEL, CHECK, VERSION, STATUS or GC\n"
		"  CNI_CONTAINERID  the container's id (ADD, DEL, CHECK)\n"
		"  CNI_NETNS        path of the container's network namespace (optional for DEL)\n"
		"  CNI_IFNAME       interface name inside the container (at most 15 characters)\n"
		"  CNI_ARGS         extra KEY=VALUE;... arguments (IgnoreUnknown=1 to skip unknown "
		"keys)\n"
		"  CNI_PATH         directories where plugins are looked up\n"
		"The result or the error (JSON) goes to stdout; the exit status is 0 on "
		"success.\n\n"
		"CNI protocol versions supported: %s\n"
		"Options: --help, --version\n",
		plugin->name, K8C_VERSION, plugin->about, list);
}

int cni_plugin_dispatch(const struct cni_plugin *plugin, struct cni_request *req, json_t **result,
			struct k8c_error *err)
{
	cni_handler_t h = NULL;

	switch (req->command) {
	case CNI_CMD_ADD:
		h = plugin->add;
		break;
	case CNI_CMD_DEL:
		h = plugin->del;
		break;
	case CNI_CMD_CHECK:
		h = plugin->check;
		break;
	case CNI_CMD_STATUS:
		h = plugin->status;
		break;
	case CNI_CMD_GC:
		h = plugin->gc;
		break;
	case CNI_CMD_VERSION: {
		json_t *v = json_object(), *list = json_array();
		size_t i;

		for (i = 0; cni_supported_versions[i]; i++)
			json_array_append_new(list, json_string(cni_supported_versions[i]));
		json_object_set_new(v, "cniVersion",
				    json_string(cni_version_supported(req->version)
							? req->version
							: CNI_LATEST_VERSION));
		json_object_set_new(v, "supportedVersions", list);
		*result = v;
		return 0;
	}
	}
	if (!h) /* STATUS and GC without state to report or collect: nothing to do. */
		return 0;
	return h(req, result, err);
}

/* The error speaks the request's version, even when the environment was rejected before the
 * configuration was read. */
static void print_error(const struct cni_request *req, const char *data, size_t len,
			const struct k8c_error *err)
{
	_cleanup_json_ json_t *conf = NULL;
	_cleanup_json_ json_t *e = NULL;
	const char *version = req->version;

	if (!version && data && (conf = json_loadb(data, len, 0, NULL)))
		k8c_json_string(conf, "cniVersion", &version, NULL, NULL);
	e = cni_error_json(version, err->code ? err->code : 999, err->msg, NULL);
	print_json(e);
}

int cni_plugin_main(const struct cni_plugin *plugin, int argc, char **argv)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct cni_request req;
	_cleanup_free_ char *data = NULL;
	_cleanup_json_ json_t *result = NULL;
	size_t len = 0;

	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			print_help(plugin, stdout);
			return 0;
		}
		if (!strcmp(argv[1], "--version")) {
			printf("%s %s\n", plugin->name, K8C_VERSION);
			return 0;
		}
		fprintf(stderr, "%s: unknown argument \"%s\" (see --help)\n", plugin->name,
			argv[1]);
		return 2;
	}
	memset(&req, 0, sizeof(req));
	if (!getenv("CNI_COMMAND")) {
		print_help(plugin, stderr);
		k8c_error_set(&err, CNI_ERR_INVALID_ENV, "CNI_COMMAND is not set");
		goto fail;
	}
	if (strcmp(getenv("CNI_COMMAND"), "VERSION") || !isatty(STDIN_FILENO)) {
		data = read_all(stdin, &len, &err);
		if (!data)
			goto fail;
	}
	if (cni_request_parse(plugin, data ? data : "", len, (const char *const *)environ, &req,
			      &err) < 0)
		goto fail;
	if (cni_plugin_dispatch(plugin, &req, &result, &err) < 0)
		goto fail;
	if (result)
		print_json(result);
	cni_request_free(&req);
	return 0;
fail:
	print_error(&req, data, len, &err);
	k8c_error_clear(&err);
	cni_request_free(&req);
	return 1;
}

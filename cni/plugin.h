/*
 * The plugin side of the CNI protocol, shared by k8c-bridge and k8c-host-local: reads the
 * environment and stdin, validates them, dispatches the command, and prints the result or the
 * spec's error JSON. A plugin supplies a table of handlers.
 */
#ifndef K8C_CNI_PLUGIN_H
#define K8C_CNI_PLUGIN_H

#include <stdbool.h>
#include <jansson.h>

#include "cni_types.h"
#include "error.h"

enum cni_command {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS,
	CNI_CMD_GC,
};

struct cni_kv {
	char *key;
	char *value;
};

struct cni_request {
	enum cni_command command;
	const char *command_name; /* "ADD"... */
	const char *container_id; /* NULL for VERSION, STATUS, GC */
	const char *netns;	  /* NULL when unset (allowed for DEL) */
	const char *ifname;
	const char *path;    /* CNI_PATH */
	struct cni_kv *args; /* parsed CNI_ARGS */
	size_t n_args;
	json_t *conf; /* the whole stdin object (borrowed by handlers) */
	const char
		*stdin_data; /* stdin as received (borrowed from the caller of cni_request_parse) */
	size_t stdin_len;
	const char *version;	/* conf's cniVersion */
	const char *name;	/* network name */
	const char *type_name;	/* plugin type from the conf */
	json_t *prev_result;	/* NULL when absent */
	json_t *runtime_config; /* NULL when absent */
};

/* Returns the value of key in CNI_ARGS, or NULL. */
const char *cni_request_arg(const struct cni_request *req, const char *key);

/*
 * Handlers return 0 or -1 with err set (err->code: a CNI error code; 0 is reported as 999, a
 * generic plugin failure). add and check may set *result (a new reference) for stdout.
 */
typedef int (*cni_handler_t)(struct cni_request *req, json_t **result, struct k8c_error *err);

struct cni_plugin {
	const char *name;	       /* "k8c-bridge" */
	const char *about;	       /* one paragraph for --help */
	const char *const *known_args; /* CNI_ARGS keys this plugin understands, NULL-terminated */
	bool needs_netns;	       /* ADD and CHECK require CNI_NETNS */
	cni_handler_t add, del, check, status, gc;
};

/* Run one CNI invocation from the process environment and stdin; returns the exit status. */
int cni_plugin_main(const struct cni_plugin *plugin, int argc, char **argv);

/* Run the handler of req->command (VERSION answered here); for in-process delegation. */
int cni_plugin_dispatch(const struct cni_plugin *plugin, struct cni_request *req, json_t **result,
			struct k8c_error *err);

/* Entry point for tests and the fuzzer: parse and validate a config the way main does. */
int cni_request_parse(const struct cni_plugin *plugin, const char *stdin_data, size_t len,
		      const char *const *envp, struct cni_request *req, struct k8c_error *err);
void cni_request_free(struct cni_request *req);

/*
 * GC: the attachments the runtime still wants, from "cni.dev/valid-attachments" (or the older
 * "cni.dev/attachments"). Returns true when (container_id, ifname) is among them.
 */
bool cni_gc_attachment_valid(const struct cni_request *req, const char *container_id,
			     const char *ifname);

#endif

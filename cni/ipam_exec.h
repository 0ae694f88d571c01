/* Delegation to an IPAM plugin found in CNI_PATH, as libcni's invoke package does it. */
#ifndef K8C_CNI_IPAM_EXEC_H
#define K8C_CNI_IPAM_EXEC_H

#include <jansson.h>

#include "plugin.h"

/*
 * Run the IPAM plugin named by conf.ipam.type with command ("ADD", "DEL", "CHECK", "GC",
 * "STATUS"), passing the request's stdin and environment. On success *result (may be NULL for
 * DEL) is the plugin's stdout as JSON. On a plugin error, err carries its code and message.
 */
int cni_ipam_exec(const struct cni_request *req, const char *type, const char *command,
		  json_t **result, struct k8c_error *err);

/*
 * Register a plugin linked into this binary: delegation to its type then runs its handlers in
 * this process (same stdin, environment and validation, no fork and exec), provided the plugin
 * is present in CNI_PATH as the exec path would require.
 */
void cni_ipam_register_builtin(const struct cni_plugin *plugin);

#endif

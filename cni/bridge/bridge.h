/* k8c-bridge: the command handlers (ADD, DEL, CHECK, STATUS, GC). */
#ifndef K8C_BRIDGE_H
#define K8C_BRIDGE_H

#include "plugin.h"

int bridge_add(struct cni_request *req, json_t **result, struct k8c_error *err);
int bridge_del(struct cni_request *req, json_t **result, struct k8c_error *err);
int bridge_check(struct cni_request *req, json_t **result, struct k8c_error *err);
int bridge_status(struct cni_request *req, json_t **result, struct k8c_error *err);
int bridge_gc(struct cni_request *req, json_t **result, struct k8c_error *err);

extern const struct cni_plugin bridge_plugin;

#endif

/* The node server (logs, exec) wired to the agent's pods (agent/node_glue.c). */
#ifndef K8C_AGENT_NODE_GLUE_H
#define K8C_AGENT_NODE_GLUE_H

#include "error.h"

struct agent;
struct k8c_node_server;

struct k8c_node_server *agent_streams_start(struct agent *a, struct k8c_error *err);

#endif

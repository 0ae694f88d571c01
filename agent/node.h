/* The agent's Node: registration, Lease, status (agent/node.c, docs/agent.md "Node"). */
#ifndef K8C_AGENT_NODE_H
#define K8C_AGENT_NODE_H

#include <stdbool.h>

#include "agent.h"

struct agent_node;

/*
 * Register (or find) the Node, wait up to 10 s for spec.podCIDR unless --pod-cidr is set, and
 * report the status once (NotReady until agent_node_set_ready).
 */
struct agent_node *agent_node_register(const struct k8c_agent_config *cfg, struct k8c_error *err);
/* The background thread: Lease every 10 s, status on change (and every 60 s). */
int agent_node_start(struct agent_node *n, struct k8c_error *err);
/* NULL when neither the Node nor the flags give one. */
const char *agent_node_pod_cidr(const struct agent_node *n);
const char *agent_node_ip(const struct agent_node *n);
void agent_node_set_ready(struct agent_node *n, bool ready, const char *msg);
void agent_node_free(struct agent_node *n);

#endif

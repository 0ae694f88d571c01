/*
 * The scheduler's node cache: each node's allocatable and what the pods bound or assumed on it
 * use (requests, host ports, spreading groups). Pods are accounted by key, so a pod the
 * scheduler assumed and then sees bound in the informer is counted once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "objutil.h"
#include "sched_fit.h"

/* A node without "pods" in allocatable gets the kubelet's default --max-pods. */
#define DEFAULT_MAX_PODS 110

void sched_cache_init(struct sched_cache *c)
{
	memset(c, 0, sizeof(*c));
	c->rr = 0x853c49e6748fea9bull;
}

static void node_free(struct sched_node *n)
{
	free(n->name);
	json_decref(n->obj);
	free(n->ports);
	strmap_free(&n->groups, NULL);
	free(n);
}

static void pod_free(void *p)
{
	sched_pod_free(p);
}

void sched_cache_free(struct sched_cache *c)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		node_free(c->nodes[i]);
	free(c->nodes);
	strmap_free(&c->node_by_name, NULL);
	strmap_free(&c->pods, pod_free);
	memset(c, 0, sizeof(*c));
}

static void account(struct sched_node *n, const struct sched_pod *p, int sign)
{
	sched_res_addsub(&n->used, &p->req, sign);
	n->nz_cpu += sign * p->nz_cpu;
	n->nz_mem += sign * p->nz_mem;
	n->npods += sign;
	if (sign > 0 && p->n_ports) {
		if (n->n_ports + p->n_ports > n->cap_ports) {
			n->cap_ports = (n->n_ports + p->n_ports) * 2;
			n->ports = k8c_xrealloc(n->ports, n->cap_ports * sizeof(*n->ports));
		}
		memcpy(n->ports + n->n_ports, p->ports, p->n_ports * sizeof(*p->ports));
		n->n_ports += p->n_ports;
	} else if (sign < 0) {
		for (size_t i = 0; i < p->n_ports; i++)
			for (size_t j = 0; j < n->n_ports; j++)
				if (memcmp(&n->ports[j], &p->ports[i], sizeof(p->ports[i])) == 0) {
					n->ports[j] = n->ports[--n->n_ports];
					break;
				}
	}
	if (p->group) {
		intptr_t g = (intptr_t)strmap_get(&n->groups, p->group) + sign;

		if (g > 0)
			strmap_set(&n->groups, p->group, (void *)g);
		else
			strmap_del(&n->groups, p->group);
	}
}

static void node_parse(struct sched_node *n, json_t *node)
{
	json_t *alloc = k8c_at(node, "status.allocatable");
	json_t *ready = k8c_condition(node, "Ready");
	const char *st = ready ? k8c_str_at(ready, "status") : NULL;

	if (!json_object_size(alloc))
		alloc = k8c_at(node, "status.capacity");
	json_decref(n->obj);
	n->obj = json_incref(node);
	memset(&n->alloc, 0, sizeof(n->alloc));
	sched_res_add_list(&n->alloc, alloc);
	if (!json_object_get(alloc, "pods"))
		n->alloc.pods = DEFAULT_MAX_PODS;
	n->ready = st && strcmp(st, "True") == 0;
	n->unschedulable = json_is_true(k8c_at(node, "spec.unschedulable"));
}

void sched_cache_node_set(struct sched_cache *c, json_t *node)
{
	const char *name = k8c_str_at(node, "metadata.name");
	struct sched_node *n;
	struct strmap_entry *e;
	size_t i;

	if (!name)
		return;
	n = strmap_get(&c->node_by_name, name);
	if (n) {
		node_parse(n, node);
		return;
	}
	n = k8c_xcalloc(1, sizeof(*n));
	n->name = k8c_xstrdup(name);
	node_parse(n, node);
	if (c->n_nodes == c->cap_nodes) {
		c->cap_nodes = c->cap_nodes ? c->cap_nodes * 2 : 16;
		c->nodes = k8c_xrealloc(c->nodes, c->cap_nodes * sizeof(*c->nodes));
	}
	c->nodes[c->n_nodes++] = n;
	strmap_set(&c->node_by_name, name, n);
	/* pods seen bound to it before the node (or after it was deleted and made again) */
	for (e = strmap_first(&c->pods, &i); e; e = strmap_next(&c->pods, e, &i)) {
		struct sched_pod *p = e->val;

		if (strcmp(p->node, name) == 0)
			account(n, p, +1);
	}
}

void sched_cache_node_del(struct sched_cache *c, const char *name)
{
	struct sched_node *n = strmap_del(&c->node_by_name, name);

	if (!n)
		return;
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i] == n) {
			/* keep the order: ties are sampled over it */
			memmove(c->nodes + i, c->nodes + i + 1,
				(c->n_nodes - i - 1) * sizeof(*c->nodes));
			c->n_nodes--;
			break;
		}
	node_free(n);
}

void sched_cache_pod_del(struct sched_cache *c, const char *key)
{
	struct sched_pod *old = strmap_del(&c->pods, key);
	struct sched_node *n;

	if (!old)
		return;
	n = strmap_get(&c->node_by_name, old->node);
	if (n)
		account(n, old, -1);
	sched_pod_free(old);
}

void sched_cache_pod_set(struct sched_cache *c, struct sched_pod *p)
{
	struct sched_node *n;

	sched_cache_pod_del(c, p->key);
	if (!p->node) {
		sched_pod_free(p);
		return;
	}
	strmap_set(&c->pods, p->key, p);
	n = strmap_get(&c->node_by_name, p->node);
	if (n)
		account(n, p, +1);
}

struct sched_pod *sched_cache_pod(const struct sched_cache *c, const char *key)
{
	return strmap_get(&c->pods, key);
}

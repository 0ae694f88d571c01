/*
 * The scheduler's pure part (docs/controllers.md, "Scheduler"): a cache of nodes with what the
 * pods bound or assumed there request, the filters of kube-scheduler's default profile that k8c
 * implements (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts,
 * NodeResourcesFit, VolumeBinding's PV node affinity) and its scores (least allocated, balanced
 * allocation, spreading of the pods of one controller). No I/O: ctrl_scheduler.c feeds the cache
 * from informers and posts the bindings. Unit-tested in tests/unit/test_sched.c.
 */
#ifndef K8C_SCHED_FIT_H
#define K8C_SCHED_FIT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "strmap.h"

#define SCHED_MAX_SCALAR 8

/* Resources: cpu in millicores, memory and ephemeral-storage in bytes, others in units. */
struct sched_res {
	int64_t cpu, mem, eph, pods;
	int n_scalar;
	struct {
		char name[128];
		int64_t v;
	} scalar[SCHED_MAX_SCALAR];
};

struct sched_port {
	char ip[48]; /* "0.0.0.0" when unset */
	char proto[8];
	int port;
};

/* A pod as the scheduler sees it (parsed once). */
struct sched_pod {
	char *key;  /* ns/name */
	char *node; /* bound or assumed node, NULL while pending */
	json_t *obj;
	struct sched_res req;
	int64_t nz_cpu,
		nz_mem; /* requests with kube's non-zero defaults (100m, 200Mi), for scores */
	struct sched_port *ports;
	size_t n_ports;
	char *group; /* spreading group (the controller's uid), or NULL */
	bool assumed;
};

struct sched_node {
	char *name;
	json_t *obj;
	struct sched_res alloc, used;
	int64_t nz_cpu, nz_mem, npods;
	struct sched_port *ports;
	size_t n_ports, cap_ports;
	struct strmap groups; /* group -> (intptr_t) count */
	bool ready, unschedulable;
};

/* Lookups for the volume filter (PVCs and PVs by name); may be NULL when unused. */
struct sched_volumes {
	json_t *(*pvc)(void *arg, const char *ns, const char *name);
	json_t *(*pv)(void *arg, const char *name);
	void *arg;
};

struct sched_cache {
	struct sched_node **nodes;
	size_t n_nodes, cap_nodes;
	struct strmap node_by_name; /* name -> sched_node */
	struct strmap pods;	    /* key -> sched_pod, only pods with a node */
	unsigned long long rr;	    /* the tie breaker's random state */
};

/* Parse a pod (obj increfed). The caller frees with sched_pod_free. */
struct sched_pod *sched_pod_new(json_t *pod);
void sched_pod_free(struct sched_pod *p);

/* Sum of a pod's requests as the scheduler counts them (max(init), sum(containers), overhead). */
void sched_pod_requests(const json_t *pod, struct sched_res *out, int64_t *nz_cpu, int64_t *nz_mem);
/* Parse a ResourceList ({"cpu":"2","memory":"4Gi",...}) into r (adds to it). */
void sched_res_add_list(struct sched_res *r, const json_t *list);
/* a += sign * b (pods left alone). */
void sched_res_addsub(struct sched_res *a, const struct sched_res *b, int sign);

void sched_cache_init(struct sched_cache *c);
void sched_cache_free(struct sched_cache *c);
/* A node added or changed (obj borrowed, increfed). */
void sched_cache_node_set(struct sched_cache *c, json_t *node);
void sched_cache_node_del(struct sched_cache *c, const char *name);
/*
 * Account a pod on p->node (bound or assumed); takes ownership of p, replacing a previous record
 * of the same key. A pod with no node is not accounted (and frees any previous record).
 */
void sched_cache_pod_set(struct sched_cache *c, struct sched_pod *p);
/* Forget a pod's record (deleted, terminal, or an assumption that failed). */
void sched_cache_pod_del(struct sched_cache *c, const char *key);
/* The record of a pod (or NULL). */
struct sched_pod *sched_cache_pod(const struct sched_cache *c, const char *key);

/*
 * One filter pass for node n: 0 when the pod fits, else 1 with reason set to kube's text for the
 * first failing plugin (e.g. "node(s) didn't match Pod's node affinity/selector"). Insufficient
 * resources may give several reasons, separated by '\n' ("Insufficient cpu\nInsufficient memory").
 */
int sched_filter(const struct sched_node *n, const struct sched_pod *p,
		 const struct sched_volumes *vol, char *reason, size_t len);

/*
 * Pick a node for p: every node filtered, the feasible ones scored. Returns the node, or NULL
 * with *msg (malloc'd) set to kube's FitError text ("0/3 nodes are available: 1 node(s) had
 * untolerated taint {k: v}, 2 Insufficient cpu.").
 */
struct sched_node *sched_pick(struct sched_cache *c, const struct sched_pod *p,
			      const struct sched_volumes *vol, char **msg);

/* Pure predicates, exposed for tests. */
bool sched_tolerates(const json_t *tolerations, const json_t *taint);
bool sched_node_selector_term_matches(const json_t *term, const json_t *node);
/* A NodeSelector ({"nodeSelectorTerms":[...]}) against a node: terms are ORed. */
bool sched_node_selector_matches(const json_t *selector, const json_t *node);
/* nodeSelector and required node affinity of pod against node. */
bool sched_node_affinity_matches(const json_t *pod, const json_t *node);
/* Score (0..100 each) of a node for a pod, as used by sched_pick (for tests). */
int sched_score_least_allocated(const struct sched_node *n, const struct sched_pod *p);
int sched_score_balanced(const struct sched_node *n, const struct sched_pod *p);

#endif

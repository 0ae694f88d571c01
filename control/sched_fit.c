/*
 * The filters and scores of kube-scheduler's default profile that k8c implements, over the node
 * cache (sched_cache.c). Messages are kube's (pkg/scheduler/framework/plugins/...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_validate.h"
#include "cleanup.h"
#include "objutil.h"
#include "sched_fit.h"

#define NANO_PER_MILLI ((__int128)1000000)
#define NANO_PER_UNIT  ((__int128)1000000000)

static int64_t ceil_div(__int128 v, __int128 d)
{
	if (v <= 0)
		return (int64_t)(v / d);
	return (int64_t)((v + d - 1) / d);
}

static int64_t *res_slot(struct sched_res *r, const char *name)
{
	if (strcmp(name, "cpu") == 0)
		return &r->cpu;
	if (strcmp(name, "memory") == 0)
		return &r->mem;
	if (strcmp(name, "ephemeral-storage") == 0)
		return &r->eph;
	if (strcmp(name, "pods") == 0)
		return &r->pods;
	for (int i = 0; i < r->n_scalar; i++)
		if (strcmp(r->scalar[i].name, name) == 0)
			return &r->scalar[i].v;
	if (r->n_scalar == SCHED_MAX_SCALAR || strlen(name) >= sizeof(r->scalar[0].name))
		return NULL;
	snprintf(r->scalar[r->n_scalar].name, sizeof(r->scalar[0].name), "%s", name);
	r->scalar[r->n_scalar].v = 0;
	return &r->scalar[r->n_scalar++].v;
}

static int64_t res_get(const struct sched_res *r, const char *name)
{
	if (strcmp(name, "cpu") == 0)
		return r->cpu;
	if (strcmp(name, "memory") == 0)
		return r->mem;
	if (strcmp(name, "ephemeral-storage") == 0)
		return r->eph;
	if (strcmp(name, "pods") == 0)
		return r->pods;
	for (int i = 0; i < r->n_scalar; i++)
		if (strcmp(r->scalar[i].name, name) == 0)
			return r->scalar[i].v;
	return 0;
}

static int64_t quantity(const char *name, const json_t *v)
{
	struct api_quantity q;

	if (api_quantity_parse_json(v, &q) < 0)
		return 0;
	return ceil_div(q.nano, strcmp(name, "cpu") == 0 ? NANO_PER_MILLI : NANO_PER_UNIT);
}

void sched_res_add_list(struct sched_res *r, const json_t *list)
{
	const char *name;
	json_t *v;

	json_object_foreach((json_t *)list, name, v)
	{
		int64_t *slot = res_slot(r, name);

		if (slot)
			*slot += quantity(name, v);
	}
}

/* A container's requests, each missing request taken from its limit (as API defaulting does). */
static void container_requests(const json_t *ctr, struct sched_res *r)
{
	json_t *req = k8c_at(ctr, "resources.requests"), *lim = k8c_at(ctr, "resources.limits");
	const char *name;
	json_t *v;

	memset(r, 0, sizeof(*r));
	sched_res_add_list(r, req);
	json_object_foreach(lim, name, v)
	{
		int64_t *slot;

		if (json_object_get(req, name))
			continue;
		slot = res_slot(r, name);
		if (slot)
			*slot += quantity(name, v);
	}
}

void sched_res_addsub(struct sched_res *a, const struct sched_res *b, int sign)
{
	a->cpu += sign * b->cpu;
	a->mem += sign * b->mem;
	a->eph += sign * b->eph;
	for (int i = 0; i < b->n_scalar; i++) {
		int64_t *s = res_slot(a, b->scalar[i].name);

		if (s)
			*s += sign * b->scalar[i].v;
	}
}

static void res_max(struct sched_res *a, const struct sched_res *b)
{
	if (b->cpu > a->cpu)
		a->cpu = b->cpu;
	if (b->mem > a->mem)
		a->mem = b->mem;
	if (b->eph > a->eph)
		a->eph = b->eph;
	for (int i = 0; i < b->n_scalar; i++) {
		int64_t *s = res_slot(a, b->scalar[i].name);

		if (s && b->scalar[i].v > *s)
			*s = b->scalar[i].v;
	}
}

#define DEFAULT_MILLI_CPU 100
#define DEFAULT_MEMORY	  (200LL * 1024 * 1024)

void sched_pod_requests(const json_t *pod, struct sched_res *out, int64_t *nz_cpu, int64_t *nz_mem)
{
	struct sched_res sum = {0}, init = {0}, c;
	int64_t nzc = 0, nzm = 0, inzc = 0, inzm = 0;
	size_t i;
	json_t *ctr;

	json_array_foreach(k8c_at(pod, "spec.containers"), i, ctr)
	{
		container_requests(ctr, &c);
		sched_res_addsub(&sum, &c, 1);
		nzc += k8c_at(ctr, "resources.requests.cpu") || k8c_at(ctr, "resources.limits.cpu")
			       ? c.cpu
			       : DEFAULT_MILLI_CPU;
		nzm += k8c_at(ctr, "resources.requests.memory") ||
				       k8c_at(ctr, "resources.limits.memory")
			       ? c.mem
			       : DEFAULT_MEMORY;
	}
	json_array_foreach(k8c_at(pod, "spec.initContainers"), i, ctr)
	{
		container_requests(ctr, &c);
		res_max(&init, &c);
		if (c.cpu > inzc)
			inzc = c.cpu;
		if (c.mem > inzm)
			inzm = c.mem;
	}
	res_max(&sum, &init);
	if (inzc > nzc)
		nzc = inzc;
	if (inzm > nzm)
		nzm = inzm;
	memset(&c, 0, sizeof(c));
	sched_res_add_list(&c, k8c_at(pod, "spec.overhead"));
	sched_res_addsub(&sum, &c, 1);
	nzc += c.cpu;
	nzm += c.mem;
	sum.pods = 0;
	*out = sum;
	if (nz_cpu)
		*nz_cpu = nzc;
	if (nz_mem)
		*nz_mem = nzm;
}

static void pod_ports(struct sched_pod *p)
{
	size_t i, j;
	json_t *ctr, *port;

	json_array_foreach(k8c_at(p->obj, "spec.containers"), i, ctr)
	{
		json_array_foreach(json_object_get(ctr, "ports"), j, port)
		{
			long long hp = k8c_int_at(port, "hostPort", 0);
			const char *ip = k8c_str_at(port, "hostIP");
			const char *proto = k8c_str_at(port, "protocol");
			struct sched_port *sp;

			if (hp <= 0)
				continue;
			p->ports = k8c_xrealloc(p->ports, (p->n_ports + 1) * sizeof(*p->ports));
			sp = &p->ports[p->n_ports++];
			snprintf(sp->ip, sizeof(sp->ip), "%s", ip && *ip ? ip : "0.0.0.0");
			snprintf(sp->proto, sizeof(sp->proto), "%s",
				 proto && *proto ? proto : "TCP");
			sp->port = (int)hp;
		}
	}
}

struct sched_pod *sched_pod_new(json_t *pod)
{
	struct sched_pod *p = k8c_xcalloc(1, sizeof(*p));
	const char *node = k8c_str_at(pod, "spec.nodeName");
	json_t *ref = k8c_controller_ref(pod);

	p->obj = json_incref(pod);
	p->key = k8c_xasprintf("%s/%s", k8c_str_at(pod, "metadata.namespace") ?: "",
			       k8c_str_at(pod, "metadata.name") ?: "");
	if (node && *node)
		p->node = k8c_xstrdup(node);
	sched_pod_requests(pod, &p->req, &p->nz_cpu, &p->nz_mem);
	pod_ports(p);
	if (ref && k8c_str_at(ref, "uid"))
		p->group = k8c_xstrdup(k8c_str_at(ref, "uid"));
	return p;
}

void sched_pod_free(struct sched_pod *p)
{
	if (!p)
		return;
	free(p->key);
	free(p->node);
	free(p->ports);
	free(p->group);
	json_decref(p->obj);
	free(p);
}

/* ---- taints and tolerations (k8s.io/api/core/v1 toleration.go) ---- */

static bool toleration_matches(const json_t *t, const char *key, const char *value,
			       const char *effect)
{
	const char *te = k8c_str_at(t, "effect"), *tk = k8c_str_at(t, "key");
	const char *op = k8c_str_at(t, "operator"), *tv = k8c_str_at(t, "value");

	if (te && *te && strcmp(te, effect) != 0)
		return false;
	if (tk && *tk && strcmp(tk, key) != 0)
		return false;
	if (op && strcmp(op, "Exists") == 0)
		return true; /* an empty key with Exists matches every taint */
	if (!tk || !*tk)
		return false;
	if (op && *op && strcmp(op, "Equal") != 0)
		return false;
	return strcmp(tv ? tv : "", value) == 0;
}

bool sched_tolerates(const json_t *tolerations, const json_t *taint)
{
	const char *key = k8c_str_at(taint, "key") ?: "";
	const char *value = k8c_str_at(taint, "value") ?: "";
	const char *effect = k8c_str_at(taint, "effect") ?: "";
	size_t i;
	json_t *t;

	json_array_foreach(tolerations, i,
			   t) if (toleration_matches(t, key, value, effect)) return true;
	return false;
}

static bool has_taint_key(const json_t *node, const char *key)
{
	size_t i;
	json_t *t;

	json_array_foreach(k8c_at(node, "spec.taints"), i, t)
	{
		const char *k = k8c_str_at(t, "key");

		if (k && strcmp(k, key) == 0)
			return true;
	}
	return false;
}

/*
 * The first taint (NoSchedule or NoExecute) the pod does not tolerate, into reason. A node that
 * is not Ready counts as tainted node.kubernetes.io/not-ready (False) or unreachable (Unknown)
 * with NoSchedule, as the node lifecycle controller taints it: the scheduler itself never checks
 * conditions since TaintNodesByCondition.
 */
static bool untolerated_taint(const struct sched_node *n, const json_t *tolerations, char *reason,
			      size_t len)
{
	size_t i;
	json_t *t;

	json_array_foreach(k8c_at(n->obj, "spec.taints"), i, t)
	{
		const char *effect = k8c_str_at(t, "effect") ?: "";

		if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
			continue;
		if (sched_tolerates(tolerations, t))
			continue;
		snprintf(reason, len, "node(s) had untolerated taint {%s: %s}",
			 k8c_str_at(t, "key") ?: "", k8c_str_at(t, "value") ?: "");
		return true;
	}
	if (!n->ready) {
		json_t *ready = k8c_condition(n->obj, "Ready");
		const char *st = ready ? k8c_str_at(ready, "status") : NULL;
		const char *key = st && strcmp(st, "Unknown") == 0
					  ? "node.kubernetes.io/unreachable"
					  : "node.kubernetes.io/not-ready";
		_cleanup_json_ json_t *virt =
			json_pack("{s:s,s:s}", "key", key, "effect", "NoSchedule");

		if (!has_taint_key(n->obj, key) && !sched_tolerates(tolerations, virt)) {
			snprintf(reason, len, "node(s) had untolerated taint {%s: }", key);
			return true;
		}
	}
	return false;
}

/* ---- node affinity (component-helpers/scheduling/corev1/nodeaffinity) ---- */

static bool str_in(const json_t *values, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x)
	{
		if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
			return true;
	}
	return false;
}

static bool parse_int(const char *s, long long *out)
{
	char *end;

	if (!s || !*s)
		return false;
	*out = strtoll(s, &end, 10);
	return *end == '\0';
}

static bool requirement_matches(const json_t *req, const char *have)
{
	const char *op = k8c_str_at(req, "operator") ?: "";
	const json_t *values = json_object_get(req, "values");
	long long a, b;

	if (strcmp(op, "In") == 0)
		return have && str_in(values, have);
	if (strcmp(op, "NotIn") == 0)
		return !have || !str_in(values, have);
	if (strcmp(op, "Exists") == 0)
		return have != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return have == NULL;
	if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
		if (!have || json_array_size(values) != 1 || !parse_int(have, &a) ||
		    !parse_int(json_string_value(json_array_get(values, 0)), &b))
			return false;
		return op[0] == 'G' ? a > b : a < b;
	}
	return false;
}

bool sched_node_selector_term_matches(const json_t *term, const json_t *node)
{
	const json_t *exprs = json_object_get(term, "matchExpressions");
	const json_t *fields = json_object_get(term, "matchFields");
	json_t *labels = k8c_at(node, "metadata.labels");
	size_t i;
	json_t *r;

	if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
		return false; /* an empty term matches no objects */
	json_array_foreach(exprs, i, r)
	{
		const char *key = k8c_str_at(r, "key");

		if (!key ||
		    !requirement_matches(r, json_string_value(json_object_get(labels, key))))
			return false;
	}
	json_array_foreach(fields, i, r)
	{
		const char *key = k8c_str_at(r, "key");
		const char *op = k8c_str_at(r, "operator") ?: "";

		/* metadata.name is the only field selector kube supports here, with In/NotIn */
		if (!key || strcmp(key, "metadata.name") != 0 ||
		    (strcmp(op, "In") != 0 && strcmp(op, "NotIn") != 0) ||
		    !requirement_matches(r, k8c_str_at(node, "metadata.name")))
			return false;
	}
	return true;
}

bool sched_node_selector_matches(const json_t *selector, const json_t *node)
{
	size_t i;
	json_t *term;

	json_array_foreach(json_object_get(selector, "nodeSelectorTerms"), i, term)
	{
		if (sched_node_selector_term_matches(term, node))
			return true;
	}
	return false;
}

bool sched_node_affinity_matches(const json_t *pod, const json_t *node)
{
	json_t *sel = k8c_at(pod, "spec.nodeSelector");
	json_t *req = k8c_at(pod, "spec.affinity.nodeAffinity."
				  "requiredDuringSchedulingIgnoredDuringExecution");

	if (json_object_size(sel) &&
	    !k8c_map_selector_matches(sel, k8c_at(node, "metadata.labels")))
		return false;
	return !req || json_is_null(req) || sched_node_selector_matches(req, node);
}

/* ---- host ports (NodePorts plugin) ---- */

bool sched_port_conflict(const struct sched_port *a, const struct sched_port *b);
bool sched_port_conflict(const struct sched_port *a, const struct sched_port *b)
{
	if (a->port != b->port || strcmp(a->proto, b->proto) != 0)
		return false;
	return strcmp(a->ip, "0.0.0.0") == 0 || strcmp(b->ip, "0.0.0.0") == 0 ||
	       strcmp(a->ip, b->ip) == 0;
}

static bool ports_conflict(const struct sched_node *n, const struct sched_pod *p)
{
	for (size_t i = 0; i < p->n_ports; i++)
		for (size_t j = 0; j < n->n_ports; j++)
			if (sched_port_conflict(&p->ports[i], &n->ports[j]))
				return true;
	return false;
}

/* ---- resources (NodeResourcesFit) ---- */

static size_t fit_reasons(const struct sched_node *n, const struct sched_pod *p, char *reason,
			  size_t len)
{
	size_t off = 0;
	int k = 0;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (off < len)                                                                     \
			off += (size_t)snprintf(reason + off, len - off, "%s", k++ ? "\n" : "");   \
		if (off < len)                                                                     \
			off += (size_t)snprintf(reason + off, len - off, __VA_ARGS__);             \
	} while (0)
	if (n->npods + 1 > n->alloc.pods)
		ADD("Too many pods");
	if (p->req.cpu > 0 && p->req.cpu > n->alloc.cpu - n->used.cpu)
		ADD("Insufficient cpu");
	if (p->req.mem > 0 && p->req.mem > n->alloc.mem - n->used.mem)
		ADD("Insufficient memory");
	if (p->req.eph > 0 && p->req.eph > n->alloc.eph - n->used.eph)
		ADD("Insufficient ephemeral-storage");
	for (int i = 0; i < p->req.n_scalar; i++) {
		const char *name = p->req.scalar[i].name;

		if (p->req.scalar[i].v > 0 &&
		    p->req.scalar[i].v > res_get(&n->alloc, name) - res_get(&n->used, name))
			ADD("Insufficient %s", name);
	}
#undef ADD
	return (size_t)k;
}

/* ---- volumes: the node affinity of bound PVs (VolumeBinding) ---- */

static bool volumes_fit(const struct sched_node *n, const struct sched_pod *p,
			const struct sched_volumes *vol)
{
	const char *ns = k8c_str_at(p->obj, "metadata.namespace");
	size_t i;
	json_t *v;

	if (!vol)
		return true;
	json_array_foreach(k8c_at(p->obj, "spec.volumes"), i, v)
	{
		const char *claim = k8c_str_at(v, "persistentVolumeClaim.claimName");
		json_t *pvc, *pv, *aff;
		const char *pvname;

		if (!claim)
			continue;
		pvc = vol->pvc(vol->arg, ns, claim);
		pvname = pvc ? k8c_str_at(pvc, "spec.volumeName") : NULL;
		pv = pvname && *pvname ? vol->pv(vol->arg, pvname) : NULL;
		aff = pv ? k8c_at(pv, "spec.nodeAffinity.required") : NULL;
		if (aff && !json_is_null(aff) && !sched_node_selector_matches(aff, n->obj))
			return false;
	}
	return true;
}

int sched_filter(const struct sched_node *n, const struct sched_pod *p,
		 const struct sched_volumes *vol, char *reason, size_t len)
{
	json_t *tol = k8c_at(p->obj, "spec.tolerations");

	if (n->unschedulable) {
		_cleanup_json_ json_t *t =
			json_pack("{s:s,s:s}", "key", "node.kubernetes.io/unschedulable", "effect",
				  "NoSchedule");

		if (!sched_tolerates(tol, t)) {
			snprintf(reason, len, "node(s) were unschedulable");
			return 1;
		}
	}
	if (untolerated_taint(n, tol, reason, len))
		return 1;
	if (!sched_node_affinity_matches(p->obj, n->obj)) {
		snprintf(reason, len, "node(s) didn't match Pod's node affinity/selector");
		return 1;
	}
	if (ports_conflict(n, p)) {
		snprintf(reason, len, "node(s) didn't have free ports for the requested pod ports");
		return 1;
	}
	if (fit_reasons(n, p, reason, len))
		return 1;
	if (!volumes_fit(n, p, vol)) {
		snprintf(reason, len, "node(s) had volume node affinity conflict");
		return 1;
	}
	return 0;
}

/* ---- scores ---- */

static int64_t frac100(int64_t req, int64_t alloc)
{
	if (alloc <= 0 || req >= alloc)
		return 0;
	return (alloc - req) * 100 / alloc;
}

int sched_score_least_allocated(const struct sched_node *n, const struct sched_pod *p)
{
	return (int)((frac100(n->nz_cpu + p->nz_cpu, n->alloc.cpu) +
		      frac100(n->nz_mem + p->nz_mem, n->alloc.mem)) /
		     2);
}

int sched_score_balanced(const struct sched_node *n, const struct sched_pod *p)
{
	double c = n->alloc.cpu > 0 ? (double)(n->nz_cpu + p->nz_cpu) / (double)n->alloc.cpu : 1;
	double m = n->alloc.mem > 0 ? (double)(n->nz_mem + p->nz_mem) / (double)n->alloc.mem : 1;
	double d;

	if (c > 1)
		c = 1;
	if (m > 1)
		m = 1;
	d = c > m ? c - m : m - c;
	return (int)((1 - d / 2) * 100);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* kube's FitError.Error(): "0/N nodes are available: " + sorted "count reason", + "." */
static char *fit_error(size_t n_nodes, const struct strmap *hist)
{
	size_t n = hist->n, k = 0, i, len = 64, off;
	char **lines = k8c_xcalloc(n ? n : 1, sizeof(*lines));
	struct strmap_entry *e;
	char *msg;

	for (e = strmap_first(hist, &i); e; e = strmap_next(hist, e, &i)) {
		lines[k] = k8c_xasprintf("%ld %s", (long)(intptr_t)e->val, e->key);
		len += strlen(lines[k++]) + 2;
	}
	qsort(lines, k, sizeof(*lines), cmp_str);
	msg = k8c_xmalloc(len);
	off = (size_t)snprintf(msg, len, "0/%zu nodes are available: ", n_nodes);
	for (i = 0; i < k; i++) {
		off += (size_t)snprintf(msg + off, len - off, "%s%s", i ? ", " : "", lines[i]);
		free(lines[i]);
	}
	snprintf(msg + off, len - off, ".");
	free(lines);
	return msg;
}

static void hist_add(struct strmap *h, const char *reason)
{
	intptr_t v = (intptr_t)strmap_get(h, reason);

	strmap_set(h, reason, (void *)(v + 1));
}

struct sched_node *sched_pick(struct sched_cache *c, const struct sched_pod *p,
			      const struct sched_volumes *vol, char **msg)
{
	struct sched_node *best = NULL;
	struct strmap hist = {0};
	size_t n_feasible = 0, n_ties = 0, i;
	int64_t best_score = -1, max_group = 0;
	struct sched_node **feasible;
	char reason[512];

	*msg = NULL;
	if (c->n_nodes == 0) {
		*msg = k8c_xstrdup("no nodes available to schedule pods");
		return NULL;
	}
	feasible = k8c_xcalloc(c->n_nodes, sizeof(*feasible));
	for (i = 0; i < c->n_nodes; i++) {
		struct sched_node *n = c->nodes[i];

		if (sched_filter(n, p, vol, reason, sizeof(reason)) == 0) {
			feasible[n_feasible++] = n;
			if (p->group) {
				int64_t g = (intptr_t)strmap_get(&n->groups, p->group);

				if (g > max_group)
					max_group = g;
			}
			continue;
		}
		for (char *r = reason, *nl; r; r = nl) {
			nl = strchr(r, '\n');
			if (nl)
				*nl++ = '\0';
			hist_add(&hist, r);
		}
	}
	if (!n_feasible) {
		*msg = fit_error(c->n_nodes, &hist);
		strmap_free(&hist, NULL);
		free(feasible);
		return NULL;
	}
	strmap_free(&hist, NULL);
	/* ties: reservoir sampling over an LCG, as kube picks one of the best at random */
	for (i = 0; i < n_feasible; i++) {
		struct sched_node *n = feasible[i];
		int64_t s = sched_score_least_allocated(n, p) + sched_score_balanced(n, p);

		if (p->group) {
			int64_t g = (intptr_t)strmap_get(&n->groups, p->group);

			s += 2 * (max_group ? 100 * (max_group - g) / max_group : 100);
		}
		if (s > best_score) {
			best_score = s;
			best = n;
			n_ties = 1;
		} else if (s == best_score) {
			n_ties++;
			c->rr = c->rr * 6364136223846793005ull + 1442695040888963407ull;
			if ((c->rr >> 33) % n_ties == 0)
				best = n;
		}
	}
	free(feasible);
	return best;
}

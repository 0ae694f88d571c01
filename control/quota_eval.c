/*
 * Quota accounting and LimitRange rules (quota_eval.h), after Kubernetes' pkg/quota/v1
 * evaluators, the ResourceQuota admission's checkRequest and the LimitRanger plugin.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota_eval.h"

#include "api_registry.h"
#include "api_validate.h"
#include "cleanup.h"
#include "objutil.h"

#define SC_SUFFIX_CLAIMS  ".storageclass.storage.k8s.io/persistentvolumeclaims"
#define SC_SUFFIX_STORAGE ".storageclass.storage.k8s.io/requests.storage"

static bool is(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool prefixed(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static bool suffixed(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcmp(s + n - m, suf) == 0;
}

/* "count/pods", "count/deployments.apps". */
static char *count_name(const char *group, const char *resource)
{
	return group && *group ? k8c_xasprintf("count/%s.%s", resource, group)
			       : k8c_xasprintf("count/%s", resource);
}

/* The legacy object count name of a core resource, or NULL. */
static const char *legacy_name(const char *group, const char *resource)
{
	static const char *const names[] = {"pods",
					    "services",
					    "secrets",
					    "configmaps",
					    "persistentvolumeclaims",
					    "replicationcontrollers",
					    "resourcequotas",
					    NULL};

	if (group && *group)
		return NULL;
	for (const char *const *n = names; *n; n++)
		if (is(*n, resource))
			return *n;
	return NULL;
}

/* helper.IsNativeResource: no domain, or a kubernetes.io one. */
static bool native_resource(const char *name)
{
	const char *slash = strchr(name, '/');

	return !slash || strstr(name, "kubernetes.io/") != NULL;
}

/* A name that can only be an extended resource (a domain, not kubernetes.io, not requests.). */
static bool extended_resource(const char *name)
{
	return !native_resource(name) && !prefixed(name, "requests.");
}

static bool is_pods(const char *group, const char *resource)
{
	return (!group || !*group) && is(resource, "pods");
}

static bool is_services(const char *group, const char *resource)
{
	return (!group || !*group) && is(resource, "services");
}

static bool is_claims(const char *group, const char *resource)
{
	return (!group || !*group) && is(resource, "persistentvolumeclaims");
}

bool quota_tracks(const char *group, const char *resource, const char *name)
{
	static const char *const pod_names[] = {"cpu",
						"memory",
						"ephemeral-storage",
						"requests.cpu",
						"requests.memory",
						"requests.ephemeral-storage",
						"limits.cpu",
						"limits.memory",
						"limits.ephemeral-storage",
						"pods",
						NULL};
	_cleanup_free_ char *count = count_name(group, resource);
	const char *legacy = legacy_name(group, resource);

	if (is(name, count) || is(name, legacy))
		return true;
	if (is_pods(group, resource)) {
		for (const char *const *n = pod_names; *n; n++)
			if (is(*n, name))
				return true;
		return prefixed(name, "hugepages-") || prefixed(name, "requests.hugepages-") ||
		       (prefixed(name, "requests.") && !native_resource(name + 9));
	}
	if (is_services(group, resource))
		return is(name, "services.nodeports") || is(name, "services.loadbalancers");
	if (is_claims(group, resource))
		return is(name, "requests.storage") || suffixed(name, SC_SUFFIX_CLAIMS) ||
		       suffixed(name, SC_SUFFIX_STORAGE);
	return false;
}

bool quota_handles_update(const char *group, const char *resource)
{
	return is_services(group, resource) || is_claims(group, resource);
}

/* Quantities. */

static bool qget(const json_t *list, const char *name, struct api_quantity *q)
{
	json_t *v = json_object_get(list, name);

	return v && api_quantity_parse_json(v, q) == 0;
}

static void qset(json_t *list, const char *name, const struct api_quantity *q)
{
	char buf[64];

	api_quantity_format(q, buf, sizeof(buf));
	json_object_set_new(list, name, json_string(buf));
}

static void qset_int(json_t *list, const char *name, long long n)
{
	struct api_quantity q = {.nano = (__int128)n * 1000000000,
				 .format = API_QUANTITY_DECIMAL_SI};

	qset(list, name, &q);
}

/* a + b, in a's format unless a is zero (resource.Quantity.Add). */
static struct api_quantity qadd(struct api_quantity a, const struct api_quantity *b)
{
	if (a.nano == 0)
		a.format = b->format;
	a.nano += b->nano;
	return a;
}

void quota_list_add(json_t *a, const json_t *b)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)b, k, v)
	{
		struct api_quantity qa = {0}, qb;

		if (api_quantity_parse_json(v, &qb))
			continue;
		if (!qget(a, k, &qa))
			qa = (struct api_quantity){0, API_QUANTITY_DECIMAL_SI};
		qa = qadd(qa, &qb);
		qset(a, k, &qa);
	}
}

json_t *quota_list_sub(const json_t *a, const json_t *b)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)a, k, v)
	{
		struct api_quantity qa, qb;

		if (api_quantity_parse_json(v, &qa))
			continue;
		if (qget(b, k, &qb))
			qa.nano -= qb.nano;
		if (qa.nano < 0)
			qa.nano = 0;
		qset(out, k, &qa);
	}
	return out;
}

json_t *quota_list_nonzero(const json_t *a)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)a, k, v)
	{
		struct api_quantity q;

		if (api_quantity_parse_json(v, &q) == 0 && q.nano != 0)
			json_object_set(out, k, v);
	}
	return out;
}

json_t *quota_list_mask(const json_t *a, const json_t *names)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)a, k, v) if (json_object_get(names, k))
		json_object_set(out, k, v);
	return out;
}

bool quota_list_equal(const json_t *a, const json_t *b)
{
	const char *k;
	json_t *v;

	if (json_object_size(a) != json_object_size(b))
		return false;
	json_object_foreach((json_t *)a, k, v)
	{
		struct api_quantity qa, qb;

		if (!qget(b, k, &qb) || api_quantity_parse_json(v, &qa) ||
		    api_quantity_cmp(&qa, &qb) != 0)
			return false;
	}
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (an array of borrowed strings, malloc'd; *n its size). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
	size_t i = 0, size = json_is_object(obj) ? json_object_size(obj) : 0;
	const char **keys = k8c_xmalloc((size ? size : 1) * sizeof(*keys));
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
	qsort(keys, i, sizeof(*keys), cmp_str);
	*n = i;
	return keys;
}

char *quota_list_text(const json_t *a)
{
	size_t n, len = 0;
	_cleanup_free_ const char **keys = sorted_keys(a, &n);
	char *out = NULL;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < n; i++) {
		struct api_quantity q;
		char buf[64] = "";

		if (api_quantity_parse_json(json_object_get(a, keys[i]), &q) == 0)
			api_quantity_format(&q, buf, sizeof(buf));
		fprintf(f, "%s%s=%s", i ? "," : "", keys[i], buf);
	}
	fclose(f);
	return out;
}

/* Pods. */

/* Sum over containers, the max with each init container (resourcehelper.PodRequests). */
static json_t *pod_resources(const json_t *pod, const char *which)
{
	json_t *out = json_object(), *c, *v;
	const char *k;
	size_t i;

	json_array_foreach(k8c_at(pod, "spec.containers"), i, c)
	{
		json_t *list = k8c_at(c, which);

		json_object_foreach(list, k, v)
		{
			struct api_quantity q;
			json_t *one = json_object();

			if (api_quantity_parse_json(v, &q) == 0)
				qset(one, k, &q);
			quota_list_add(out, one);
			json_decref(one);
		}
	}
	json_array_foreach(k8c_at(pod, "spec.initContainers"), i, c)
	{
		json_object_foreach(k8c_at(c, which), k, v)
		{
			struct api_quantity q, cur;

			if (api_quantity_parse_json(v, &q))
				continue;
			if (!qget(out, k, &cur) || api_quantity_cmp(&q, &cur) > 0)
				qset(out, k, &q);
		}
	}
	if (json_is_object(k8c_at(pod, "spec.overhead")))
		quota_list_add(out, k8c_at(pod, "spec.overhead"));
	return out;
}

/* podComputeUsageHelper. */
static void pod_compute_usage(json_t *out, const json_t *req, const json_t *lim)
{
	static const char *const names[] = {"cpu", "memory", "ephemeral-storage", NULL};
	const char *k;
	json_t *v;

	qset_int(out, "pods", 1);
	for (const char *const *n = names; *n; n++) {
		json_t *r = json_object_get(req, *n), *l = json_object_get(lim, *n);
		char name[64];

		if (r) {
			json_object_set(out, *n, r);
			snprintf(name, sizeof(name), "requests.%s", *n);
			json_object_set(out, name, r);
		}
		if (l) {
			snprintf(name, sizeof(name), "limits.%s", *n);
			json_object_set(out, name, l);
		}
	}
	json_object_foreach((json_t *)req, k, v)
	{
		_cleanup_free_ char *masked = k8c_xasprintf("requests.%s", k);

		if (prefixed(k, "hugepages-")) {
			json_object_set(out, k, v);
			json_object_set(out, masked, v);
		} else if (extended_resource(k)) {
			json_object_set(out, masked, v);
		}
	}
}

/* QuotaV1Pod: not in a terminal phase, not past its deletion grace period. */
static bool pod_charged(const json_t *pod, time_t now)
{
	const char *phase = k8c_str_at(pod, "status.phase");
	const char *del = k8c_str_at(pod, "metadata.deletionTimestamp");

	if (is(phase, "Succeeded") || is(phase, "Failed"))
		return false;
	if (del) {
		time_t t = k8c_rfc3339_parse(del);
		long long grace = k8c_int_at(pod, "metadata.deletionGracePeriodSeconds", 0);

		if (t >= 0 && now > t + grace)
			return false;
	}
	return true;
}

/* Services and claims. */

static void service_usage(json_t *out, const json_t *svc)
{
	const char *type = k8c_str_at(svc, "spec.type");
	size_t ports = json_array_size(k8c_at(svc, "spec.ports"));

	qset_int(out, "services", 1);
	qset_int(out, "services.loadbalancers", 0);
	qset_int(out, "services.nodeports", 0);
	if (is(type, "NodePort")) {
		qset_int(out, "services.nodeports", (long long)ports);
	} else if (is(type, "LoadBalancer")) {
		json_t *alloc = k8c_at(svc, "spec.allocateLoadBalancerNodePorts");

		if (json_is_false(alloc)) {
			json_t *p;
			size_t i, n = 0;

			json_array_foreach(
				k8c_at(svc, "spec.ports"), i,
				p) if (json_integer_value(json_object_get(p, "nodePort")) != 0) n++;
			ports = n;
		}
		qset_int(out, "services.nodeports", (long long)ports);
		qset_int(out, "services.loadbalancers", 1);
	}
}

/* GetPersistentVolumeClaimClass: spec.storageClassName, else the beta annotation. */
static const char *claim_class(const json_t *pvc)
{
	const char *c = json_string_value(json_object_get(
		k8c_at(pvc, "metadata.annotations"), "volume.beta.kubernetes.io/storage-class"));

	if (c)
		return c;
	return k8c_str_at(pvc, "spec.storageClassName");
}

static void claim_usage(json_t *out, const json_t *pvc)
{
	const char *cls = claim_class(pvc);
	struct api_quantity req, alloc;
	bool have = qget(k8c_at(pvc, "spec.resources.requests"), "storage", &req);
	_cleanup_free_ char *sc_claims = NULL, *sc_storage = NULL;

	/* an expansion in progress is charged at the larger of request and allocation */
	if (qget(k8c_at(pvc, "status.allocatedResources"), "storage", &alloc) &&
	    (!have || api_quantity_cmp(&alloc, &req) > 0))
		req = alloc, have = true;
	qset_int(out, "persistentvolumeclaims", 1);
	if (cls && *cls) {
		sc_claims = k8c_xasprintf("%s" SC_SUFFIX_CLAIMS, cls);
		qset_int(out, sc_claims, 1);
	}
	if (have) {
		qset(out, "requests.storage", &req);
		if (cls && *cls) {
			sc_storage = k8c_xasprintf("%s" SC_SUFFIX_STORAGE, cls);
			qset(out, sc_storage, &req);
		}
	}
}

json_t *quota_usage(const char *group, const char *resource, const json_t *obj, time_t now)
{
	json_t *out = json_object();
	_cleanup_free_ char *count = count_name(group, resource);
	const char *legacy = legacy_name(group, resource);

	qset_int(out, count, 1);
	if (is_pods(group, resource)) {
		if (pod_charged(obj, now)) {
			_cleanup_json_ json_t *req = pod_resources(obj, "resources.requests");
			_cleanup_json_ json_t *lim = pod_resources(obj, "resources.limits");

			pod_compute_usage(out, req, lim);
		}
		return out;
	}
	if (legacy)
		qset_int(out, legacy, 1);
	if (is_services(group, resource))
		service_usage(out, obj);
	else if (is_claims(group, resource))
		claim_usage(out, obj);
	return out;
}

/* Scopes. */

static bool pod_terminating(const json_t *pod)
{
	json_t *ads = k8c_at(pod, "spec.activeDeadlineSeconds");

	return json_is_integer(ads) && json_integer_value(ads) >= 0;
}

/* One scope requirement (scopeName, operator, values) against a pod. */
static bool pod_scope(const json_t *pod, const char *scope, const char *op, const json_t *values)
{
	if (is(scope, "Terminating"))
		return pod_terminating(pod);
	if (is(scope, "NotTerminating"))
		return !pod_terminating(pod);
	if (is(scope, "BestEffort"))
		return is(api_pod_qos(pod), "BestEffort");
	if (is(scope, "NotBestEffort"))
		return !is(api_pod_qos(pod), "BestEffort");
	if (is(scope, "PriorityClass")) {
		const char *pc = k8c_str_at(pod, "spec.priorityClassName");
		bool has = pc && *pc, in = false;
		json_t *v;
		size_t i;

		json_array_foreach(values, i, v) if (has && is(json_string_value(v), pc)) in = true;
		if (!op || is(op, "Exists"))
			return has;
		if (is(op, "DoesNotExist"))
			return !has;
		if (is(op, "In"))
			return in;
		if (is(op, "NotIn"))
			return !in;
		return false;
	}
	if (is(scope, "CrossNamespacePodAffinity")) {
		static const char *const paths[] = {
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution",
			"spec.affinity.podAntiAffinity."
			"requiredDuringSchedulingIgnoredDuringExecution",
			NULL};
		for (const char *const *p = paths; *p; p++) {
			json_t *t;
			size_t i;

			json_array_foreach(
				k8c_at(pod, *p), i,
				t) if (json_array_size(json_object_get(t, "namespaces")) ||
				       json_object_get(t, "namespaceSelector")) return true;
		}
		return false;
	}
	return false;
}

bool quota_scopes_match(const json_t *quota, const char *group, const char *resource,
			const json_t *obj)
{
	json_t *v;
	size_t i;

	json_array_foreach(k8c_at(quota, "spec.scopes"), i, v)
	{
		if (!is_pods(group, resource) || !pod_scope(obj, json_string_value(v), NULL, NULL))
			return false;
	}
	json_array_foreach(k8c_at(quota, "spec.scopeSelector.matchExpressions"), i, v)
	{
		if (!is_pods(group, resource) ||
		    !pod_scope(obj, k8c_str_at(v, "scopeName"), k8c_str_at(v, "operator"),
			       json_object_get(v, "values")))
			return false;
	}
	return true;
}

bool quota_matches(const json_t *quota, const char *group, const char *resource, const json_t *obj)
{
	const char *k;
	json_t *v;
	bool tracked = false;

	json_object_foreach(k8c_at(quota, "status.hard"), k,
			    v) if (quota_tracks(group, resource, k)) tracked = true;
	return tracked && quota_scopes_match(quota, group, resource, obj);
}

/* Validation of a quota's scopes. */

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (is(s, *list))
			return true;
	return false;
}

void quota_validate_scopes(const json_t *quota, json_t *causes)
{
	static const char *const scopes[] = {"Terminating",
					     "NotTerminating",
					     "BestEffort",
					     "NotBestEffort",
					     "PriorityClass",
					     "CrossNamespacePodAffinity",
					     NULL};
	static const char *const standard[] = {"cpu",
					       "memory",
					       "ephemeral-storage",
					       "requests.cpu",
					       "requests.memory",
					       "requests.storage",
					       "requests.ephemeral-storage",
					       "limits.cpu",
					       "limits.memory",
					       "limits.ephemeral-storage",
					       "pods",
					       "services",
					       "replicationcontrollers",
					       "resourcequotas",
					       "secrets",
					       "persistentvolumeclaims",
					       "configmaps",
					       "services.nodeports",
					       "services.loadbalancers",
					       NULL};
	static const char *const compute[] = {
		"pods",		 "cpu",		 "memory",	    "limits.cpu",
		"limits.memory", "requests.cpu", "requests.memory", NULL};
	json_t *list = k8c_at(quota, "spec.scopes"), *v;
	size_t i, n_hard;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!json_array_size(list))
		return;
	/* the value as Go's %#v of []core.ResourceQuotaScope */
	f = open_memstream(&text, &len);
	fputs("[]core.ResourceQuotaScope{", f);
	json_array_foreach(list, i, v)
		fprintf(f, "%s\"%s\"", i ? ", " : "", json_string_value(v) ?: "");
	fputc('}', f);
	fclose(f);
	_cleanup_free_ const char **hard = sorted_keys(k8c_at(quota, "spec.hard"), &n_hard);

	json_array_foreach(list, i, v)
	{
		const char *scope = json_string_value(v);

		if (!in_list(scope, scopes))
			api_cause_add(causes, "FieldValueInvalid", "spec.scopes",
				      "Invalid value: %s: unsupported scope", text);
		for (size_t h = 0; h < n_hard; h++) {
			bool ok = true;

			if (!in_list(hard[h], standard))
				continue;
			if (is(scope, "BestEffort"))
				ok = is(hard[h], "pods");
			else if (in_list(scope, scopes))
				ok = in_list(hard[h], compute);
			if (!ok)
				api_cause_add(causes, "FieldValueInvalid", "spec.scopes",
					      "Invalid value: %s: unsupported scope applied to "
					      "resource",
					      text);
		}
	}
	static const char *const pairs[][2] = {{"BestEffort", "NotBestEffort"},
					       {"Terminating", "NotTerminating"}};
	for (size_t p = 0; p < 2; p++) {
		bool a = false, b = false;

		json_array_foreach(list, i, v)
		{
			a = a || is(json_string_value(v), pairs[p][0]);
			b = b || is(json_string_value(v), pairs[p][1]);
		}
		if (a && b)
			api_cause_add(causes, "FieldValueInvalid", "spec.scopes",
				      "Invalid value: %s: conflicting scopes", text);
	}
	free(text);
}

/* Admission. */

char *quota_pod_constraints(const json_t *hard, const json_t *pod)
{
	static const char *const validation[] = {"cpu",	   "limits.cpu",   "limits.memory",
						 "memory", "requests.cpu", "requests.memory",
						 NULL}; /* sorted */
	static const char *const lists[] = {"spec.containers", "spec.initContainers", NULL};
	/* resource -> container names, in sorted order of resource (the table above) */
	json_t *missing = json_object();
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	for (const char *const *l = lists; *l; l++) {
		json_t *c;
		size_t i;

		json_array_foreach(k8c_at(pod, *l), i, c)
		{
			_cleanup_json_ json_t *usage = json_object();

			pod_compute_usage(usage, k8c_at(c, "resources.requests"),
					  k8c_at(c, "resources.limits"));
			for (const char *const *n = validation; *n; n++) {
				if (!json_object_get(hard, *n) || json_object_get(usage, *n))
					continue;
				if (!json_object_get(missing, *n))
					json_object_set_new(missing, *n, json_object());
				json_object_set_new(json_object_get(missing, *n),
						    k8c_str_at(c, "name") ?: "", json_true());
			}
		}
	}
	if (!json_object_size(missing)) {
		json_decref(missing);
		return NULL;
	}
	f = open_memstream(&out, &len);
	fputs("must specify ", f);
	bool first = true;
	for (const char *const *n = validation; *n; n++) {
		json_t *names = json_object_get(missing, *n);
		size_t cn;

		if (!names)
			continue;
		_cleanup_free_ const char **keys = sorted_keys(names, &cn);

		fprintf(f, "%s%s for: ", first ? "" : "; ", *n);
		for (size_t i = 0; i < cn; i++)
			fprintf(f, "%s%s", i ? "," : "", keys[i]);
		first = false;
	}
	fclose(f);
	json_decref(missing);
	return out;
}

/* The names of hard that group/resource tracks, as an object of name -> true. */
static json_t *restricted_names(const json_t *hard, const char *group, const char *resource)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)hard, k, v) if (quota_tracks(group, resource, k))
		json_object_set_new(out, k, json_true());
	return out;
}

static char *names_text(const json_t *names)
{
	size_t n, len = 0;
	_cleanup_free_ const char **keys = sorted_keys(names, &n);
	char *out = NULL;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", keys[i]);
	fclose(f);
	return out;
}

int quota_check(const json_t *quota, const char *group, const char *resource, const json_t *obj,
		const json_t *old, time_t now, json_t **charged, char **msg)
{
	const char *qname = k8c_str_at(quota, "metadata.name") ?: "";
	json_t *hard = k8c_at(quota, "status.hard"), *used = k8c_at(quota, "status.used");
	_cleanup_json_ json_t *restricted = NULL, *usage = NULL, *delta = NULL, *requested = NULL;
	_cleanup_json_ json_t *next = NULL, *exceeded = NULL;
	const char *k;
	json_t *v;

	if (charged)
		*charged = NULL;
	*msg = NULL;
	if (!quota_matches(quota, group, resource, obj))
		return 0;
	restricted = restricted_names(hard, group, resource);
	if (is_pods(group, resource)) {
		char *c = quota_pod_constraints(hard, obj);

		if (c) {
			*msg = k8c_xasprintf("failed quota: %s: %s", qname, c);
			free(c);
			return -1;
		}
	}
	json_object_foreach(restricted, k, v) if (!json_object_get(used, k))
	{
		_cleanup_free_ char *names = names_text(restricted);

		*msg = k8c_xasprintf("status unknown for quota: %s, resources: %s", qname, names);
		return -1;
	}
	usage = quota_usage(group, resource, obj, now);
	if (old && quota_matches(quota, group, resource, old)) {
		_cleanup_json_ json_t *prev = quota_usage(group, resource, old, now);

		delta = quota_list_sub(usage, prev);
	} else {
		delta = json_incref(usage);
	}
	{
		_cleanup_json_ json_t *nz = quota_list_nonzero(delta);

		requested = quota_list_mask(nz, hard);
	}
	if (!json_object_size(requested))
		return 0;
	next = json_deep_copy(json_is_object(used) ? used : NULL) ?: json_object();
	quota_list_add(next, requested);
	exceeded = json_object();
	json_object_foreach(requested, k, v)
	{
		struct api_quantity n, h;

		if (qget(next, k, &n) && qget(hard, k, &h) && api_quantity_cmp(&n, &h) > 0)
			json_object_set_new(exceeded, k, json_true());
	}
	if (json_object_size(exceeded)) {
		_cleanup_json_ json_t *fr = quota_list_mask(requested, exceeded);
		_cleanup_json_ json_t *fu = quota_list_mask(used, exceeded);
		_cleanup_json_ json_t *fh = quota_list_mask(hard, exceeded);
		_cleanup_free_ char *tr = quota_list_text(fr), *tu = quota_list_text(fu),
				    *th = quota_list_text(fh);

		*msg = k8c_xasprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				     qname, tr, tu, th);
		return -1;
	}
	if (charged)
		*charged = json_incref(next);
	return 0;
}

/* Charges in flight. */

char *quota_pending_key(const char *group, const char *resource, const char *name)
{
	return group && *group ? k8c_xasprintf("%s.%s/%s", resource, group, name)
			       : k8c_xasprintf("%s/%s", resource, name);
}

void quota_pending_add(json_t *status, const char *key, const char *uid, const json_t *delta,
		       time_t now)
{
	json_t *p = json_object_get(status, QUOTA_PENDING_FIELD), *v;
	const char *k;
	void *tmp;

	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(status, QUOTA_PENDING_FIELD, p);
	}
	json_object_foreach_safe(p, tmp, k, v) if (json_integer_value(json_object_get(v, "at")) +
							   QUOTA_PENDING_S <=
						   now) json_object_del(p, k);
	json_object_set_new(p, key,
			    json_pack("{s:s, s:I, s:O}", "uid", uid ? uid : "", "at",
				      (json_int_t)now, "used", delta));
}

json_t *quota_pending_keep(const json_t *status, const json_t *seen, time_t now, json_t *used,
			   time_t *next_expiry)
{
	json_t *out = json_object(), *v;
	const char *k;

	*next_expiry = 0;
	json_object_foreach(json_object_get(status, QUOTA_PENDING_FIELD), k, v)
	{
		time_t exp = (time_t)json_integer_value(json_object_get(v, "at")) + QUOTA_PENDING_S;
		const char *uid = json_string_value(json_object_get(v, "uid"));

		if (exp <= now || is(json_string_value(json_object_get(seen, k)), uid))
			continue;
		json_object_set(out, k, v);
		quota_list_add(used, json_object_get(v, "used"));
		if (!*next_expiry || exp < *next_expiry)
			*next_expiry = exp;
	}
	return out;
}

/* LimitRanger. */

/* Append one error of the aggregate. */
static void errs_add(json_t *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errs_add(json_t *errs, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_array_append_new(errs, json_string(s));
	free(s);
}

/* utilerrors.NewAggregate's text: one error as is, several as "[a, b]". */
static char *errs_text(const json_t *errs)
{
	size_t n = json_array_size(errs), len = 0, i;
	char *out = NULL;
	FILE *f;
	json_t *e;

	if (n == 1)
		return k8c_xstrdup(json_string_value(json_array_get(errs, 0)));
	f = open_memstream(&out, &len);
	fputc('[', f);
	json_array_foreach(errs, i, e) fprintf(f, "%s%s", i ? ", " : "", json_string_value(e));
	fputc(']', f);
	fclose(f);
	return out;
}

static void qtext(const json_t *v, char *buf, size_t len)
{
	struct api_quantity q;

	*buf = 0;
	if (api_quantity_parse_json(v, &q) == 0)
		api_quantity_format(&q, buf, len);
}

/* What a LimitRange constraint compares: its value and the request and limit of a resource. */
struct constraint {
	struct api_quantity e, r, l;
	bool has_r, has_l;
	char et[64], rt[64], lt[64]; /* as kube formats them in its messages */
};

/* < 0: the constraint's value does not parse (it is then not enforced). */
static int constraint_load(struct constraint *c, const char *name, const json_t *enf,
			   const json_t *req, const json_t *lim)
{
	c->has_r = qget(req, name, &c->r);
	c->has_l = qget(lim, name, &c->l);
	if (api_quantity_parse_json(enf, &c->e))
		return -1;
	qtext(enf, c->et, sizeof(c->et));
	qtext(json_object_get(req, name), c->rt, sizeof(c->rt));
	qtext(json_object_get(lim, name), c->lt, sizeof(c->lt));
	return 0;
}

static void min_constraint(json_t *errs, const char *type, const char *name, const json_t *enf,
			   const json_t *req, const json_t *lim)
{
	struct constraint c;

	if (constraint_load(&c, name, enf, req, lim) < 0)
		return;
	if (!c.has_r)
		errs_add(errs, "Minimum %s usage per %s is %s.  No request is specified.", name,
			 type, c.et);
	else if (api_quantity_cmp(&c.r, &c.e) < 0)
		errs_add(errs, "Minimum %s usage per %s is %s, but request is %s.", name, type,
			 c.et, c.rt);
	else if (c.has_l && api_quantity_cmp(&c.l, &c.e) < 0)
		errs_add(errs, "Minimum %s usage per %s is %s, but limit is %s.", name, type, c.et,
			 c.lt);
}

static void max_constraint(json_t *errs, const char *type, const char *name, const json_t *enf,
			   const json_t *req, const json_t *lim)
{
	struct constraint c;

	if (constraint_load(&c, name, enf, req, lim) < 0)
		return;
	if (!c.has_l)
		errs_add(errs, "Maximum %s usage per %s is %s.  No limit is specified.", name, type,
			 c.et);
	else if (api_quantity_cmp(&c.l, &c.e) > 0)
		errs_add(errs, "Maximum %s usage per %s is %s, but limit is %s.", name, type, c.et,
			 c.lt);
	else if (c.has_r && api_quantity_cmp(&c.r, &c.e) > 0)
		errs_add(errs, "Maximum %s usage per %s is %s, but request is %s.", name, type,
			 c.et, c.rt);
}

static void ratio_constraint(json_t *errs, const char *type, const char *name, const json_t *enf,
			     const json_t *req, const json_t *lim)
{
	struct constraint c;

	if (constraint_load(&c, name, enf, req, lim) < 0)
		return;
	/* compared in milli units, as kube does below its overflow bound */
	if (!c.has_r || c.r.nano / 1000000 == 0) {
		errs_add(errs,
			 "%s max limit to request ratio per %s is %s, but no request is specified "
			 "or "
			 "request is 0.",
			 name, type, c.et);
		return;
	}
	if (!c.has_l || c.l.nano / 1000000 == 0) {
		errs_add(errs,
			 "%s max limit to request ratio per %s is %s, but no limit is specified or "
			 "limit is 0.",
			 name, type, c.et);
		return;
	}
	double ratio = (double)(c.l.nano / 1000000) / (double)(c.r.nano / 1000000);

	if (ratio * 1000 > (double)(c.e.nano / 1000000))
		errs_add(errs,
			 "%s max limit to request ratio per %s is %s, but provided ratio is %f.",
			 name, type, c.et, ratio);
}

/* The annotation's text for the defaults set: "cpu, memory request for container c". */
static void defaults_note(json_t *notes, const json_t *set, const char *kind, const char *what,
			  const char *name)
{
	size_t n, len = 0;
	_cleanup_free_ char *s = NULL;
	FILE *f;

	if (!json_object_size(set))
		return;
	_cleanup_free_ const char **keys = sorted_keys(set, &n);

	f = open_memstream(&s, &len);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", keys[i]);
	fprintf(f, " %s for %s %s", kind, what, name ?: "");
	fclose(f);
	json_array_append_new(notes, json_string(s));
}

/* The defaults of a container, with the annotation's text for it appended to notes. */
static void container_defaults(json_t *c, const json_t *def_lim, const json_t *def_req,
			       const char *what, json_t *notes)
{
	json_t *res = json_object_get(c, "resources"), *v;
	json_t *lim, *req, *set_l = json_object(), *set_r = json_object();
	const char *k;

	if (!json_is_object(res)) {
		res = json_object();
		json_object_set_new(c, "resources", res);
	}
	lim = json_object_get(res, "limits");
	if (!json_is_object(lim)) {
		lim = json_object();
		json_object_set_new(res, "limits", lim);
	}
	req = json_object_get(res, "requests");
	if (!json_is_object(req)) {
		req = json_object();
		json_object_set_new(res, "requests", req);
	}
	json_object_foreach((json_t *)def_lim, k, v) if (!json_object_get(lim, k))
	{
		json_object_set(lim, k, v);
		json_object_set_new(set_l, k, json_true());
	}
	json_object_foreach((json_t *)def_req, k, v) if (!json_object_get(req, k))
	{
		json_object_set(req, k, v);
		json_object_set_new(set_r, k, json_true());
	}
	if (!json_object_size(lim))
		json_object_del(res, "limits");
	if (!json_object_size(req))
		json_object_del(res, "requests");
	defaults_note(notes, set_r, "request", what, k8c_str_at(c, "name"));
	defaults_note(notes, set_l, "limit", what, k8c_str_at(c, "name"));
	json_decref(set_l);
	json_decref(set_r);
}

static void check_item(json_t *errs, const json_t *item, const char *type, const json_t *req,
		       const json_t *lim)
{
	const char *k;
	json_t *v;

	json_object_foreach(json_object_get(item, "min"), k, v)
		min_constraint(errs, type, k, v, req, lim);
	json_object_foreach(json_object_get(item, "max"), k, v)
		max_constraint(errs, type, k, v, req, lim);
	json_object_foreach(json_object_get(item, "maxLimitRequestRatio"), k, v)
		ratio_constraint(errs, type, k, v, req, lim);
}

/* One LimitRange against a pod: defaults, then checks. */
static void limitrange_pod_one(json_t *pod, const json_t *lr, json_t *errs)
{
	static const char *const lists[][2] = {{"spec.containers", "container"},
					       {"spec.initContainers", "init container"}};
	_cleanup_json_ json_t *def_lim = json_object(), *def_req = json_object(),
			      *notes = json_array();
	json_t *item, *c;
	size_t i, j;

	json_array_foreach(k8c_at(lr, "spec.limits"), i, item)
	{
		if (!is(k8c_str_at(item, "type"), "Container"))
			continue;
		if (json_is_object(json_object_get(item, "defaultRequest")))
			json_object_update(def_req, json_object_get(item, "defaultRequest"));
		if (json_is_object(json_object_get(item, "default")))
			json_object_update(def_lim, json_object_get(item, "default"));
	}
	for (size_t l = 0; l < 2; l++)
		json_array_foreach(k8c_at(pod, lists[l][0]), j, c) if (json_is_object(c))
			container_defaults(c, def_lim, def_req, lists[l][1], notes);
	if (json_array_size(notes)) {
		json_t *meta = json_object_get(pod, "metadata"), *ann;
		_cleanup_free_ char *s = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&s, &len);
		json_t *n;

		fputs("LimitRanger plugin set: ", f);
		json_array_foreach(notes, j, n)
			fprintf(f, "%s%s", j ? "; " : "", json_string_value(n));
		fclose(f);
		ann = json_object_get(meta, "annotations");
		if (!json_is_object(ann)) {
			ann = json_object();
			json_object_set_new(meta, "annotations", ann);
		}
		json_object_set_new(ann, "kubernetes.io/limit-ranger", json_string(s));
	}
	json_array_foreach(k8c_at(lr, "spec.limits"), i, item)
	{
		const char *type = k8c_str_at(item, "type");

		if (is(type, "Container")) {
			for (size_t l = 0; l < 2; l++)
				json_array_foreach(k8c_at(pod, lists[l][0]), j, c) check_item(
					errs, item, type, k8c_at(c, "resources.requests"),
					k8c_at(c, "resources.limits"));
		} else if (is(type, "Pod")) {
			_cleanup_json_ json_t *req = pod_resources(pod, "resources.requests");
			_cleanup_json_ json_t *lim = pod_resources(pod, "resources.limits");

			check_item(errs, item, type, req, lim);
		}
	}
}

int limitrange_pod(json_t *pod, const json_t *ranges, char **msg)
{
	json_t *lr;
	size_t i;

	*msg = NULL;
	json_array_foreach(ranges, i, lr)
	{
		_cleanup_json_ json_t *errs = json_array();

		limitrange_pod_one(pod, lr, errs);
		if (json_array_size(errs)) {
			*msg = errs_text(errs);
			return -1;
		}
	}
	return 0;
}

int limitrange_pvc(const json_t *pvc, const json_t *ranges, char **msg)
{
	json_t *lr, *item;
	size_t i, j;

	*msg = NULL;
	json_array_foreach(ranges, i, lr)
	{
		_cleanup_json_ json_t *errs = json_array(), *none = json_object();
		json_t *req = k8c_at(pvc, "spec.resources.requests");

		json_array_foreach(k8c_at(lr, "spec.limits"), j, item)
		{
			const char *k, *type = k8c_str_at(item, "type");
			json_t *v;

			if (!is(type, "PersistentVolumeClaim"))
				continue;
			json_object_foreach(json_object_get(item, "min"), k, v)
				min_constraint(errs, type, k, v, req, none);
			json_object_foreach(json_object_get(item, "max"), k, v)
			{
				struct api_quantity e, r;
				char et[64], rt[64];

				if (api_quantity_parse_json(v, &e))
					continue;
				qtext(v, et, sizeof(et));
				qtext(json_object_get(req, k), rt, sizeof(rt));
				if (!qget(req, k, &r))
					errs_add(errs,
						 "Maximum %s usage per %s is %s.  No request is "
						 "specified.",
						 k, type, et);
				else if (api_quantity_cmp(&r, &e) > 0)
					errs_add(
						errs,
						"Maximum %s usage per %s is %s, but request is %s.",
						k, type, et, rt);
			}
		}
		if (json_array_size(errs)) {
			*msg = errs_text(errs);
			return -1;
		}
	}
	return 0;
}

/* DefaultStorageClass. */

static bool class_is_default(const json_t *sc)
{
	json_t *ann = k8c_at(sc, "metadata.annotations");

	return is(json_string_value(
			  json_object_get(ann, "storageclass.kubernetes.io/is-default-class")),
		  "true") ||
	       is(json_string_value(
			  json_object_get(ann, "storageclass.beta.kubernetes.io/is-default-class")),
		  "true");
}

const char *storage_default_class(const json_t *classes)
{
	const json_t *best = NULL;
	json_t *sc;
	size_t i;

	json_array_foreach(classes, i, sc)
	{
		if (!class_is_default(sc))
			continue;
		/* the newest wins; equal times: the first name in order */
		if (!best) {
			best = sc;
			continue;
		}
		time_t a = k8c_rfc3339_parse(k8c_str_at(sc, "metadata.creationTimestamp") ?: "");
		time_t b = k8c_rfc3339_parse(k8c_str_at(best, "metadata.creationTimestamp") ?: "");

		if (a > b || (a == b && strcmp(k8c_str_at(sc, "metadata.name") ?: "",
					       k8c_str_at(best, "metadata.name") ?: "") < 0))
			best = sc;
	}
	return best ? k8c_str_at(best, "metadata.name") : NULL;
}

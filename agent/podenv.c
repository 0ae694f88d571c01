/*
 * A container's environment, as the kubelet makes it (docs/agent.md "Environment"): the image's
 * env, the service environment variables, envFrom (with prefix), env (value with $(VAR)
 * expansion, valueFrom secretKeyRef / configMapKeyRef / fieldRef / resourceFieldRef).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "kubeconfig.h"
#include "objutil.h"
#include "pod.h"

struct envctx {
	struct agent_worker *w;
	const char *ns;
	json_t *cache; /* "secret/name" or "configmap/name" -> object or null (not found) */
};

/* The object, or NULL: not found (err unset) or another error (err set). */
static json_t *get_ref(struct envctx *e, bool secret, const char *name, struct k8c_error *err)
{
	_cleanup_free_ char *key = k8c_xasprintf("%s/%s", secret ? "secret" : "configmap", name);
	json_t *o = json_object_get(e->cache, key);

	if (o)
		return json_is_null(o) ? NULL : o;
	if (k8c_kube_get(e->w->kube, secret ? K8C_GVR_SECRETS : K8C_GVR_CONFIGMAPS, e->ns, name, &o,
			 err) < 0) {
		if (err->code != 404)
			return NULL;
		k8c_error_clear(err);
		json_object_set_new(e->cache, key, json_null());
		return NULL;
	}
	json_object_set_new(e->cache, key, o);
	return o;
}

/* The value of key in a Secret (base64-decoded) or ConfigMap (data, then binaryData). */
static char *ref_value(json_t *obj, bool secret, const char *key)
{
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));

	if (secret) {
		size_t n;
		char *d;

		if (!v)
			v = json_string_value(
				json_object_get(json_object_get(obj, "stringData"), key));
		else if ((d = k8c_base64_decode(v, &n)))
			return d;
		return v ? k8c_xstrdup(v) : NULL;
	}
	return v ? k8c_xstrdup(v) : NULL;
}

char *podenv_expand(const char *s, char *const *env)
{
	size_t cap = strlen(s) + 64, n = 0;
	char *out = k8c_xmalloc(cap);

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (n + 2 > cap)                                                                   \
			out = k8c_xrealloc(out, cap *= 2);                                         \
		out[n++] = (c);                                                                    \
	} while (0)
	for (const char *p = s; *p; p++) {
		if (p[0] == '$' && p[1] == '$') {
			PUT('$'); /* $$ escapes */
			p++;
			continue;
		}
		if (p[0] == '$' && p[1] == '(') {
			const char *end = strchr(p + 2, ')');
			const char *val = NULL;

			if (end) {
				size_t len = (size_t)(end - p - 2);

				for (size_t i = 0; env && env[i]; i++)
					if (!strncmp(env[i], p + 2, len) && env[i][len] == '=')
						val = env[i] + len + 1;
				if (val) {
					for (; *val; val++)
						PUT(*val);
				} else {
					for (const char *q = p; q <= end; q++)
						PUT(*q); /* unknown: left as is */
				}
				p = end;
				continue;
			}
		}
		PUT(*p);
	}
	out[n] = 0;
#undef PUT
	return out;
}

static char *svc_env_name(const char *svc)
{
	char *s = k8c_xstrdup(svc);

	for (char *p = s; *p; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	return s;
}

static void set(json_t *env, const char *k, const char *v)
{
	json_object_set_new(env, k, json_string(v));
}

/* <SVC>_SERVICE_HOST, _SERVICE_PORT[_NAME] and the docker-link variables of one Service. */
static void service_env(json_t *env, json_t *svc)
{
	const char *ip = k8c_str_at(svc, "spec.clusterIP");
	json_t *ports = k8c_at(svc, "spec.ports"), *p;
	_cleanup_free_ char *n = NULL;
	size_t i;
	char k[512], v[512];

	if (!ip || !*ip || !strcmp(ip, "None"))
		return;
	n = svc_env_name(k8c_str_at(svc, "metadata.name") ?: "");
	snprintf(k, sizeof(k), "%s_SERVICE_HOST", n);
	set(env, k, ip);
	json_array_foreach(ports, i, p)
	{
		long long port = k8c_int_at(p, "port", 0);
		const char *pname = json_string_value(json_object_get(p, "name"));
		const char *proto = json_string_value(json_object_get(p, "protocol")) ?: "TCP";
		_cleanup_free_ char *lp = k8c_xstrdup(proto);

		for (char *c = lp; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		snprintf(v, sizeof(v), "%lld", port);
		if (i == 0) {
			snprintf(k, sizeof(k), "%s_SERVICE_PORT", n);
			set(env, k, v);
			snprintf(k, sizeof(k), "%s_PORT", n);
			snprintf(v, sizeof(v), "%s://%s:%lld", lp, ip, port);
			set(env, k, v);
		}
		if (pname && *pname) {
			_cleanup_free_ char *pn = svc_env_name(pname);

			snprintf(k, sizeof(k), "%s_SERVICE_PORT_%s", n, pn);
			snprintf(v, sizeof(v), "%lld", port);
			set(env, k, v);
		}
		snprintf(k, sizeof(k), "%s_PORT_%lld_%s", n, port, proto);
		snprintf(v, sizeof(v), "%s://%s:%lld", lp, ip, port);
		set(env, k, v);
		snprintf(k, sizeof(k), "%s_PORT_%lld_%s_PROTO", n, port, proto);
		set(env, k, lp);
		snprintf(k, sizeof(k), "%s_PORT_%lld_%s_PORT", n, port, proto);
		snprintf(v, sizeof(v), "%lld", port);
		set(env, k, v);
		snprintf(k, sizeof(k), "%s_PORT_%lld_%s_ADDR", n, port, proto);
		set(env, k, ip);
	}
}

static void services_env(struct envctx *e, json_t *env, json_t *pod)
{
	json_t *links = k8c_at(pod, "spec.enableServiceLinks");
	/* the namespace's services unless enableServiceLinks is false, then default/kubernetes */
	_cleanup_json_ json_t *svcs = agent_services_for_env(e->ns, !json_is_false(links));
	size_t i;
	json_t *s;

	json_array_foreach(svcs, i, s) service_env(env, s);
}

/* A fieldRef's value, or NULL when the path is not supported. */
static char *field_value(json_t *pod, const char *path, const char *pod_ip, const char *host_ip)
{
	char key[256];

	if (sscanf(path, "metadata.labels['%255[^']']", key) == 1)
		return k8c_xstrdup(
			json_string_value(json_object_get(k8c_at(pod, "metadata.labels"), key))
				?: "");
	if (sscanf(path, "metadata.annotations['%255[^']']", key) == 1)
		return k8c_xstrdup(
			json_string_value(json_object_get(k8c_at(pod, "metadata.annotations"), key))
				?: "");
	if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
		return k8c_xstrdup(pod_ip ?: "");
	if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
		return k8c_xstrdup(host_ip ?: "");
	if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.namespace") ||
	    !strcmp(path, "metadata.uid") || !strcmp(path, "spec.nodeName") ||
	    !strcmp(path, "spec.serviceAccountName"))
		return k8c_xstrdup(k8c_str_at(pod, path) ?: "");
	if (!strcmp(path, "metadata.labels") || !strcmp(path, "metadata.annotations")) {
		json_t *m = k8c_at(pod, path), *v;
		const char *k;
		char *s = k8c_xstrdup("");

		json_object_foreach(m, k, v)
		{
			char *t = k8c_xasprintf("%s%s%s=\"%s\"", s, *s ? "\n" : "", k,
						json_string_value(v) ?: "");
			free(s);
			s = t;
		}
		return s;
	}
	return NULL;
}

char *podenv_resource_value(struct agent *a, json_t *ctr, json_t *ref);

/* resourceFieldRef: limits.cpu (ceil to the divisor, default 1), limits.memory (bytes)... */
char *podenv_resource_value(struct agent *a, json_t *ctr, json_t *ref)
{
	const char *res = json_string_value(json_object_get(ref, "resource")) ?: "";
	const char *div = json_string_value(json_object_get(ref, "divisor"));
	bool cpu = strstr(res, "cpu") != NULL;
	const char *v = NULL;
	long long val = 0, d = 0;

	if (!strncmp(res, "limits.", 7))
		v = json_string_value(json_object_get(k8c_at(ctr, "resources.limits"), res + 7));
	else if (!strncmp(res, "requests.", 9))
		v = json_string_value(json_object_get(k8c_at(ctr, "resources.requests"), res + 9));
	if (v)
		quantity_parse(v, cpu, &val);
	else if (!strncmp(res, "limits.", 7)) /* no limit: the node's allocatable */
		val = cpu ? (a->cfg->cpu_milli ? a->cfg->cpu_milli
					       : sysconf(_SC_NPROCESSORS_ONLN) * 1000)
			  : a->cfg->memory_bytes;
	if (!div || quantity_parse(div, cpu, &d) < 0 || d <= 0)
		d = cpu ? 1000 : 1;
	return k8c_xasprintf("%lld", (val + d - 1) / d);
}

static bool valid_env_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

char **podenv_build(struct agent_worker *w, json_t *pod, json_t *ctr, const char *pod_ip,
		    const char *const *image_env, struct k8c_error *err)
{
	struct envctx e = {
		.w = w, .ns = k8c_str_at(pod, "metadata.namespace"), .cache = json_object()};
	_cleanup_json_ json_t *env = json_object(), *cache = e.cache;
	json_t *item;
	size_t i, n;
	const char *k;
	json_t *v;
	char **out;

	for (i = 0; image_env && image_env[i]; i++) {
		const char *eq = strchr(image_env[i], '=');
		_cleanup_free_ char *key =
			eq ? strndup(image_env[i], (size_t)(eq - image_env[i])) : NULL;

		if (key)
			set(env, key, eq + 1);
	}
	services_env(&e, env, pod);
	json_array_foreach(json_object_get(ctr, "envFrom"), i, item)
	{
		json_t *cm = json_object_get(item, "configMapRef"),
		       *sec = json_object_get(item, "secretRef");
		json_t *ref = cm ? cm : sec;
		const char *name = json_string_value(json_object_get(ref, "name"));
		const char *prefix = json_string_value(json_object_get(item, "prefix")) ?: "";
		bool optional = json_is_true(json_object_get(ref, "optional"));
		json_t *obj;

		if (!ref || !name)
			continue;
		obj = get_ref(&e, sec != NULL, name, err);
		if (!obj) {
			if (err->msg)
				return NULL;
			if (optional)
				continue;
			k8c_error_set(err, 1, "%s \"%s\" not found", sec ? "secret" : "configmap",
				      name);
			return NULL;
		}
		json_object_foreach(json_object_get(obj, "data"), k, v)
		{
			_cleanup_free_ char *key = k8c_xasprintf("%s%s", prefix, k);
			_cleanup_free_ char *val = ref_value(obj, sec != NULL, k);

			if (valid_env_name(key) && val)
				set(env, key, val);
		}
	}
	json_array_foreach(json_object_get(ctr, "env"), i, item)
	{
		const char *name = json_string_value(json_object_get(item, "name"));
		json_t *from = json_object_get(item, "valueFrom");
		_cleanup_free_ char *val = NULL;

		if (!name)
			continue;
		if (!from) {
			/* expansion against what is defined so far */
			char **cur = k8c_xcalloc(json_object_size(env) + 1, sizeof(char *));
			size_t m = 0;

			json_object_foreach(env, k, v) cur[m++] =
				k8c_xasprintf("%s=%s", k, json_string_value(v));
			val = podenv_expand(json_string_value(json_object_get(item, "value")) ?: "",
					    cur);
			for (size_t j = 0; j < m; j++)
				free(cur[j]);
			free(cur);
		} else if (json_object_get(from, "fieldRef")) {
			const char *path = k8c_str_at(from, "fieldRef.fieldPath") ?: "";

			val = field_value(pod, path, pod_ip, w->a->node_ip);
			if (!val) {
				k8c_error_set(err, 1, "unsupported fieldPath %s in env %s", path,
					      name);
				return NULL;
			}
		} else if (json_object_get(from, "resourceFieldRef")) {
			json_t *ref = json_object_get(from, "resourceFieldRef");
			const char *cname =
				json_string_value(json_object_get(ref, "containerName"));
			json_t *target = ctr;

			if (cname && *cname) {
				json_t *c;
				size_t j;

				json_array_foreach(k8c_at(pod, "spec.containers"), j, c)
				{
					if (!strcmp(json_string_value(json_object_get(c, "name"))
							    ?: "",
						    cname))
						target = c;
				}
			}
			val = podenv_resource_value(w->a, target, ref);
		} else {
			json_t *ref = json_object_get(from, "secretKeyRef");
			bool secret = ref != NULL;
			const char *rname, *key;
			bool optional;
			json_t *obj;

			if (!ref)
				ref = json_object_get(from, "configMapKeyRef");
			if (!ref)
				continue;
			rname = json_string_value(json_object_get(ref, "name")) ?: "";
			key = json_string_value(json_object_get(ref, "key")) ?: "";
			optional = json_is_true(json_object_get(ref, "optional"));
			obj = get_ref(&e, secret, rname, err);
			if (!obj) {
				if (err->msg)
					return NULL;
				if (optional)
					continue;
				k8c_error_set(err, 1, "%s \"%s\" not found",
					      secret ? "secret" : "configmap", rname);
				return NULL;
			}
			val = ref_value(obj, secret, key);
			if (!val && !secret) {
				json_t *b =
					json_object_get(json_object_get(obj, "binaryData"), key);

				if (json_string_value(b)) {
					size_t bn;

					val = k8c_base64_decode(json_string_value(b), &bn);
				}
			}
			if (!val) {
				if (optional)
					continue;
				k8c_error_set(err, 1, "couldn't find key %s in %s %s/%s", key,
					      secret ? "Secret" : "ConfigMap", e.ns, rname);
				return NULL;
			}
		}
		set(env, name, val);
	}
	n = json_object_size(env);
	out = k8c_xcalloc(n + 1, sizeof(char *));
	i = 0;
	json_object_foreach(env, k, v) out[i++] = k8c_xasprintf("%s=%s", k, json_string_value(v));
	return out;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "objutil.h"

json_t *k8c_at(const json_t *obj, const char *path)
{
	json_t *cur = (json_t *)obj;
	const char *p = path;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, n);
		p += n + (dot != NULL);
	}
	return cur;
}

const char *k8c_str_at(const json_t *obj, const char *path)
{
	return json_string_value(k8c_at(obj, path));
}

long long k8c_int_at(const json_t *obj, const char *path, long long def)
{
	json_t *v = k8c_at(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool value_in(const json_t *values, const char *v)
{
	size_t i;
	json_t *x;

	json_array_foreach(values, i, x) if (json_is_string(x) &&
					     strcmp(json_string_value(x), v) == 0) return true;
	return false;
}

static bool expression_matches(const json_t *e, const json_t *labels)
{
	const char *key = json_string_value(json_object_get(e, "key"));
	const char *op = json_string_value(json_object_get(e, "operator"));
	const json_t *values = json_object_get(e, "values");
	const char *v;

	if (!key || !op)
		return false;
	v = json_string_value(json_object_get(labels, key));
	if (strcmp(op, "In") == 0)
		return v && value_in(values, v);
	if (strcmp(op, "NotIn") == 0)
		return !v || !value_in(values, v);
	if (strcmp(op, "Exists") == 0)
		return v != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return v == NULL;
	return false;
}

bool k8c_map_selector_matches(const json_t *selector, const json_t *labels)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)selector, k, v)
	{
		const char *have = json_string_value(json_object_get(labels, k));

		if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
			return false;
	}
	return true;
}

bool k8c_label_selector_matches(const json_t *selector, const json_t *labels)
{
	size_t i;
	json_t *e;

	if (!json_is_object(selector))
		return false;
	if (!k8c_map_selector_matches(json_object_get(selector, "matchLabels"), labels))
		return false;
	json_array_foreach(json_object_get(selector, "matchExpressions"), i,
			   e) if (!expression_matches(e, labels)) return false;
	return true;
}

json_t *k8c_controller_ref(const json_t *obj)
{
	size_t i;
	json_t *r;

	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i,
			   r) if (json_is_true(json_object_get(r, "controller"))) return r;
	return NULL;
}

bool k8c_has_owner_uid(const json_t *obj, const char *uid)
{
	size_t i;
	json_t *r;

	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i, r)
	{
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (u && strcmp(u, uid) == 0)
			return true;
	}
	return false;
}

json_t *k8c_condition(const json_t *obj, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(k8c_at(obj, "status.conditions"), i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

bool k8c_condition_true(const json_t *obj, const char *type)
{
	const char *s = json_string_value(json_object_get(k8c_condition(obj, type), "status"));

	return s && strcmp(s, "True") == 0;
}

bool k8c_pod_ready(const json_t *pod)
{
	return k8c_condition_true(pod, "Ready");
}

bool k8c_pod_active(const json_t *pod)
{
	const char *phase = k8c_str_at(pod, "status.phase");

	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
		return false;
	return k8c_at(pod, "metadata.deletionTimestamp") == NULL;
}

char *k8c_pod_node_index(const json_t *pod)
{
	const char *n = k8c_str_at(pod, "spec.nodeName");

	return n && *n ? k8c_xstrdup(n) : NULL;
}

const char *k8c_node_address(const json_t *node, const char *type)
{
	size_t i;
	json_t *a;

	json_array_foreach(k8c_at(node, "status.addresses"), i, a)
	{
		const char *t = k8c_str_at(a, "type");

		if (t && !strcmp(t, type))
			return k8c_str_at(a, "address");
	}
	return NULL;
}

void k8c_rfc3339(time_t t, char buf[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void k8c_rfc3339_micro(const struct timespec *ts, char buf[28])
{
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(buf, 20, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 28 - n, ".%06dZ", (int)((ts->tv_nsec / 1000) % 1000000));
}

time_t k8c_rfc3339_parse(const char *s)
{
	struct tm tm = {0};
	const char *p;
	time_t t;

	if (!s)
		return -1;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	t = timegm(&tm);
	if (*p == 'Z' || *p == 'z')
		return p[1] ? -1 : t;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = atoi(p + 1), m = atoi(p + 4), off = (h * 60 + m) * 60;

		return *p == '+' ? t - off : t + off;
	}
	return -1;
}

/* Registry lookups, discovery from the table, name rules, causes and ages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "api_registry.h"
#include "cleanup.h"

size_t api_registry_count(void)
{
	return api_registry_n + api_registry_groups_n;
}

const struct api_resource *api_registry_at(size_t i)
{
	return i < api_registry_n ? &api_registry[i] : &api_registry_groups[i - api_registry_n];
}

const struct api_resource *api_registry_find(const char *resource, size_t len)
{
	return api_registry_lookup("", "v1", resource, len);
}

const struct api_resource *api_registry_lookup(const char *group, const char *version,
					       const char *resource, size_t len)
{
	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);

		if (strlen(r->resource) == len && memcmp(r->resource, resource, len) == 0 &&
		    strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0)
			return r;
	}
	return NULL;
}

char *api_registry_api_version(const struct api_resource *r)
{
	return *r->group ? k8c_xasprintf("%s/%s", r->group, r->version) : k8c_xstrdup(r->version);
}

const char *api_registry_store_name(const struct api_resource *r)
{
	return r->store_name ? r->store_name : r->resource;
}

static json_t *string_array(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static const char *const verbs[] = {
	"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
static const char *const status_verbs[] = {"get", "patch", "update", NULL};

static const char *const create_verbs[] = {"create", NULL};
static const char *const get_verbs[] = {"get", NULL};
static const char *const exec_verbs[] = {"create", "get", NULL};

static json_t *subresource(const struct api_resource *r, const char *sub, const char *kind,
			   const char *group, const char *version, const char *const *sub_verbs)
{
	_cleanup_free_ char *n = k8c_xasprintf("%s/%s", r->resource, sub);
	json_t *e =
		json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", n, "singularName", "", "namespaced",
			  r->namespaced, "kind", kind, "verbs", string_array(sub_verbs));

	if (group) {
		json_object_set_new(e, "group", json_string(group));
		json_object_set_new(e, "version", json_string(version));
	}
	return e;
}

json_t *api_registry_discovery_gv(const char *group, const char *version)
{
	_cleanup_free_ char *gv =
		*group ? k8c_xasprintf("%s/%s", group, version) : k8c_xstrdup(version);
	json_t *list = NULL, *res = NULL;

	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		json_t *e;

		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		if (!list) {
			list = json_pack("{s:s, s:s, s:s, s:[]}", "kind", "APIResourceList",
					 "apiVersion", "v1", "groupVersion", gv, "resources");
			res = json_object_get(list, "resources");
		}
		e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->resource, "singularName",
			      r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
			      string_array(r->verbs ? r->verbs : verbs));
		if (r->short_names)
			json_object_set_new(e, "shortNames", string_array(r->short_names));
		if (r->categories)
			json_object_set_new(e, "categories", string_array(r->categories));
		json_array_append_new(res, e);
		if (r->has_scale)
			json_array_append_new(res, subresource(r, "scale", "Scale", "autoscaling",
							       "v1", status_verbs));
		if (r->has_status)
			json_array_append_new(
				res, subresource(r, "status", r->kind, NULL, NULL, status_verbs));
		if (!*r->group && strcmp(r->resource, "pods") == 0) {
			/* api_pods.c */
			json_array_append_new(res, subresource(r, "binding", "Binding", NULL, NULL,
							       create_verbs));
			json_array_append_new(res,
					      subresource(r, "log", "Pod", NULL, NULL, get_verbs));
			json_array_append_new(res, subresource(r, "exec", "PodExecOptions", NULL,
							       NULL, exec_verbs));
		}
	}
	if (list && !*group)
		/* POST namespaces/{ns}/bindings (api_pods.c) */
		json_array_insert_new(res, 0,
				      json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", "bindings",
						"singularName", "binding", "namespaced", 1, "kind",
						"Binding", "verbs", string_array(create_verbs)));
	return list;
}

json_t *api_registry_discovery(void)
{
	return api_registry_discovery_gv("", "v1");
}

json_t *api_registry_group(const char *group)
{
	json_t *g = NULL, *versions = NULL;

	for (size_t i = 0; i < api_registry_groups_n; i++) {
		const struct api_resource *r = &api_registry_groups[i];
		_cleanup_free_ char *gv = NULL;
		size_t j;
		json_t *v;
		bool seen = false;

		if (strcmp(r->group, group) != 0)
			continue;
		gv = k8c_xasprintf("%s/%s", r->group, r->version);
		if (!g) {
			/* the first version in the table is the preferred one */
			g = json_pack("{s:s, s:s, s:s, s:[], s:{s:s, s:s}}", "kind", "APIGroup",
				      "apiVersion", "v1", "name", group, "versions",
				      "preferredVersion", "groupVersion", gv, "version",
				      r->version);
			versions = json_object_get(g, "versions");
		}
		json_array_foreach(versions, j, v) seen |=
			strcmp(json_string_value(json_object_get(v, "version")), r->version) == 0;
		if (!seen)
			json_array_append_new(versions, json_pack("{s:s, s:s}", "groupVersion", gv,
								  "version", r->version));
	}
	return g;
}

json_t *api_registry_group_list(void)
{
	json_t *list =
		json_pack("{s:s, s:s, s:[]}", "kind", "APIGroupList", "apiVersion", "v1", "groups");
	json_t *groups = json_object_get(list, "groups");

	for (size_t i = 0; i < api_registry_groups_n; i++) {
		const char *name = api_registry_groups[i].group;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= strcmp(api_registry_groups[j].group, name) == 0;
		if (!seen) {
			json_t *g = api_registry_group(name);

			json_object_del(g, "kind");
			json_object_del(g, "apiVersion");
			json_array_append_new(groups, g);
		}
	}
	return list;
}

json_t *api_registry_columns(const struct api_resource *r)
{
	json_t *a = json_array();

	for (const struct api_column *c = r->columns; c->name; c++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", c->name,
						   "type", c->type ? c->type : "string", "format",
						   c->format ? c->format : "", "description", "",
						   "priority", c->priority));
	return a;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

const char *api_name_error(enum api_name_rule rule, const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return "name or generateName is required";
	if (rule == API_NAME_PATH_SEGMENT) {
		if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
			return "may not be '.' or '..'";
		return strpbrk(s, "/%") ? "may not contain '/' or '%'" : NULL;
	}
	if (rule == API_NAME_SUBDOMAIN) {
		if (n > 253)
			return "must be no more than 253 characters";
		for (size_t i = 0; i < n; i++) {
			char c = s[i];
			bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';

			if (!(is_alnum_lower(c) || ((c == '-' || c == '.') && !edge)))
				return "a lowercase RFC 1123 subdomain must consist of lower case "
				       "alphanumeric characters, '-' or '.', and must start and "
				       "end with an alphanumeric character (e.g. 'example.com', "
				       "regex used for validation is "
				       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-"
				       "z0-9])?)*')";
		}
		return NULL;
	}
	if (n > 63)
		return "must be no more than 63 characters";
	if (rule == API_NAME_LABEL1035 && !(s[0] >= 'a' && s[0] <= 'z'))
		return "a DNS-1035 label must consist of lower case alphanumeric characters or "
		       "'-', start with an alphabetic character, and end with an alphanumeric "
		       "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
		       "'[a-z]([-a-z0-9]*[a-z0-9])?')";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!(is_alnum_lower(c) || (c == '-' && i > 0 && i < n - 1)))
			return rule == API_NAME_LABEL1035
				       ? "a DNS-1035 label must consist of lower case "
					 "alphanumeric characters or '-', start with an "
					 "alphabetic character, and end with an alphanumeric "
					 "character (e.g. 'my-name',  or 'abc-123', regex used "
					 "for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
				       : "a lowercase RFC 1123 label must consist of lower case "
					 "alphanumeric characters or '-', and must start and end "
					 "with an alphanumeric character (e.g. 'my-name',  or "
					 "'123-abc', regex used for validation is "
					 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
	}
	return NULL;
}

void api_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason", reason, "message", msg,
						"field", field));
}

void api_age(const char *rfc3339, char *buf, size_t len)
{
	struct tm tm = {0};
	long long s, m, h, d;

	if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(buf, len, "<unknown>");
		return;
	}
	s = (long long)(time(NULL) - timegm(&tm));
	if (s < -1) {
		snprintf(buf, len, "<invalid>");
		return;
	}
	if (s < 0)
		s = 0;
	m = s / 60, h = s / 3600, d = h / 24;
	/* apimachinery's duration.HumanDuration */
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (m < 10)
		snprintf(buf, len, s % 60 ? "%lldm%llds" : "%lldm", m, s % 60);
	else if (m < 180)
		snprintf(buf, len, "%lldm", m);
	else if (h < 8)
		snprintf(buf, len, m % 60 ? "%lldh%lldm" : "%lldh", h, m % 60);
	else if (h < 48)
		snprintf(buf, len, "%lldh", h);
	else if (h < 24 * 8)
		snprintf(buf, len, h % 24 ? "%lldd%lldh" : "%lldd", d, h % 24);
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lldd", d);
	else if (h < 24 * 365 * 8)
		snprintf(buf, len, d % 365 ? "%lldy%lldd" : "%lldy", d / 365, d % 365);
	else
		snprintf(buf, len, "%lldy", d / 365);
}

/*
 * kube-apiserver's continue token: base64url without padding of
 * {"v":"meta.k8s.io/v1","rv":N,"start":"<key>\u0000"}.
 */
char *api_continue_encode(int64_t rev, const char *start)
{
	_cleanup_json_ json_t *o = NULL;
	_cleanup_free_ char *js = NULL;
	size_t n;
	char *out;
	int len;

	/* "start" is the last key returned followed by NUL, as kube writes it */
	o = json_pack("{s:s, s:I, s:s%}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rev, "start",
		      start, strlen(start) + 1);
	js = json_dumps(o, JSON_COMPACT);
	n = strlen(js);
	out = k8c_xmalloc(4 * ((n + 2) / 3) + 1);
	len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)js, (int)n);
	while (len > 0 && out[len - 1] == '=')
		out[--len] = '\0';
	for (char *c = out; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	return out;
}

int api_continue_decode(const char *token, int64_t *rev, char **start)
{
	size_t n = strlen(token), pad;
	_cleanup_free_ unsigned char *raw = NULL;
	_cleanup_free_ char *b64 = NULL;
	_cleanup_json_ json_t *o = NULL;
	const char *v, *st;
	size_t st_len;
	json_int_t r;
	int len;

	if (n == 0 || n > 4096 || n % 4 == 1)
		return -1;
	pad = (4 - n % 4) % 4;
	b64 = k8c_xmalloc(n + pad + 1);
	for (size_t i = 0; i < n; i++) {
		char c = token[i];

		if (c == '+' || c == '/' || c == '=')
			return -1;
		b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	memset(b64 + n, '=', pad);
	b64[n + pad] = '\0';
	raw = k8c_xmalloc((n + pad) / 4 * 3 + 1);
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)(n + pad));
	if (len < (int)pad)
		return -1;
	len -= (int)pad;
	o = json_loadb((const char *)raw, (size_t)len, JSON_ALLOW_NUL, NULL);
	if (json_unpack(o, "{s:s, s:I, s:s%}", "v", &v, "rv", &r, "start", &st, &st_len) < 0 ||
	    strcmp(v, "meta.k8s.io/v1") != 0 || r <= 0 || st_len == 0 || st_len > 1024)
		return -1;
	if (st[st_len - 1] == '\0')
		st_len--;
	if (memchr(st, '\0', st_len))
		return -1;
	*rev = r;
	*start = strndup(st, st_len);
	if (!*start)
		abort();
	return 0;
}

bool api_field_supported(const struct api_resource *r, const char *key)
{
	static const char *const pods[] = {"spec.nodeName",
					   "spec.restartPolicy",
					   "spec.schedulerName",
					   "spec.serviceAccountName",
					   "spec.hostNetwork",
					   "status.phase",
					   "status.podIP",
					   "status.nominatedNodeName",
					   NULL};
	static const char *const events[] = {"involvedObject.kind",
					     "involvedObject.namespace",
					     "involvedObject.name",
					     "involvedObject.uid",
					     "involvedObject.apiVersion",
					     "involvedObject.resourceVersion",
					     "involvedObject.fieldPath",
					     "reason",
					     "reportingComponent",
					     "source",
					     "type",
					     NULL};
	static const char *const secrets[] = {"type", NULL};
	static const char *const nodes[] = {"spec.unschedulable", NULL};
	static const char *const rcs[] = {"status.replicas", NULL};
	static const char *const nss[] = {"status.phase", NULL};
	const char *const *keys = NULL;

	if (strcmp(key, "metadata.name") == 0 ||
	    (strcmp(key, "metadata.namespace") == 0 && r->namespaced))
		return true;
	if (*r->group && strcmp(r->group, "events.k8s.io") != 0)
		return false;
	if (strcmp(r->resource, "pods") == 0)
		keys = pods;
	else if (strcmp(r->resource, "events") == 0)
		keys = *r->group ? NULL : events;
	else if (strcmp(r->resource, "secrets") == 0)
		keys = secrets;
	else if (strcmp(r->resource, "nodes") == 0)
		keys = nodes;
	else if (strcmp(r->resource, "replicationcontrollers") == 0)
		keys = rcs;
	else if (strcmp(r->resource, "namespaces") == 0)
		keys = nss;
	for (; keys && *keys; keys++)
		if (strcmp(*keys, key) == 0)
			return true;
	return false;
}

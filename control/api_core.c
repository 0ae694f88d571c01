/*
 * The core v1 resources: the registry table and each kind's Table cells, defaulting and
 * validation, after Kubernetes' pkg/apis/core (defaults.go, validation.go) and kubectl's
 * printers (pkg/printers/internalversion/printers.go).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_kind.h"
#include "api_registry.h"
#include "api_validate.h"
#include "cleanup.h"
#include "objutil.h"
#include "quota_eval.h"

/* Helpers. */

static const char *or_none(const char *s)
{
	return s && *s ? s : "<none>";
}

/* "k1=v1,k2=v2" of a string map, "<none>" when empty. */
static json_t *map_cell(const json_t *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *k;
	json_t *v, *out;
	bool first = true;

	json_object_foreach((json_t *)m, k, v)
	{
		fprintf(f, "%s%s=%s", first ? "" : ",", k, json_string_value(v) ?: "");
		first = false;
	}
	fclose(f);
	out = json_string(len ? buf : "<none>");
	free(buf);
	return out;
}

static long long count_keys(const json_t *m)
{
	return json_is_object(m) ? (long long)json_object_size(m) : 0;
}

static bool valid_config_key(const char *k)
{
	size_t n = strlen(k);

	if (!n || n > 253 || strcmp(k, ".") == 0 || strcmp(k, "..") == 0 ||
	    strncmp(k, "..", 2) == 0)
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static void validate_keys(const json_t *m, const char *field, json_t *causes)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)m, k, v)
	{
		if (!valid_config_key(k))
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": a valid config key must consist of "
				      "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
				      "or 'KEY_NAME',  or 'key-name', regex used for validation is "
				      "'[-._a-zA-Z0-9]+')",
				      k);
	}
}

/* A Secret or ConfigMap with immutable: true keeps its data and stays immutable. */
static void validate_immutable(const json_t *obj, const json_t *old, const char *const *fields,
			       json_t *causes)
{
	if (!old || !json_is_true(json_object_get(old, "immutable")))
		return;
	if (!json_is_true(json_object_get(obj, "immutable")))
		api_cause_add(causes, "FieldValueForbidden", "immutable",
			      "Forbidden: field is immutable when `immutable` is set");
	for (; *fields; fields++) {
		json_t *a = json_object_get(obj, *fields), *b = json_object_get(old, *fields);

		if (!json_equal(a ? a : json_null(), b ? b : json_null()))
			api_cause_add(causes, "FieldValueForbidden", *fields,
				      "Forbidden: field is immutable when `immutable` is set");
	}
}

/* ConfigMaps and Secrets hold at most 1 MiB (kube's MaxSecretSize). */
#define MAX_DATA_SIZE (1024 * 1024)

/* The bytes of a data map's values (base64: decoded). */
static size_t data_size(const json_t *m, bool base64)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)m, k, v)
	{
		const char *str = json_string_value(v) ?: "";
		size_t len = strlen(str);

		if (!base64)
			n += len;
		else if (len >= 4)
			n += len / 4 * 3 - (str[len - 1] == '=') - (str[len - 2] == '=');
	}
	return n;
}

/* Namespaces. */

static const struct api_column ns_columns[] = {{"Name", "string", "name", 0},
					       {"Status", "string", NULL, 0},
					       {"Age", "string", NULL, 0},
					       {NULL}};

static json_t *ns_cells(const json_t *obj)
{
	return json_pack("[o, o, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "status.phase")), api_cell_age(obj));
}

void api_namespace_on_create(json_t *obj)
{
	json_t *labels = api_jobj(api_jobj(obj, "metadata"), "labels");
	const char *name = api_jstr(obj, "metadata.name");

	/* kube-apiserver sets this label on every namespace since 1.21 */
	json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name ? name : ""));
	json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
	json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
}

/* kube's namespace strategy: spec and status change through /finalize and /status only. */
static void ns_on_update(json_t *obj, const json_t *old)
{
	const char *name = api_jstr(old, "metadata.name");

	json_object_set(obj, "spec", json_object_get(old, "spec"));
	json_object_set(obj, "status", json_object_get(old, "status"));
	json_object_set_new(api_jobj(api_jobj(obj, "metadata"), "labels"),
			    "kubernetes.io/metadata.name", json_string(name ? name : ""));
}

/* ConfigMaps. */

static const struct api_column cm_columns[] = {{"Name", "string", "name", 0},
					       {"Data", "integer", NULL, 0},
					       {"Age", "string", NULL, 0},
					       {NULL}};

static json_t *cm_cells(const json_t *obj)
{
	return json_pack("[o, I, o]", api_cell_name(obj),
			 (json_int_t)(count_keys(json_object_get(obj, "data")) +
				      count_keys(json_object_get(obj, "binaryData"))),
			 api_cell_age(obj));
}

static void cm_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const fields[] = {"data", "binaryData", NULL};
	const char *k;
	json_t *v;

	validate_keys(json_object_get(obj, "data"), "data", causes);
	validate_keys(json_object_get(obj, "binaryData"), "binaryData", causes);
	json_object_foreach(json_object_get(obj, "data"), k, v)
	{
		if (!json_is_string(v))
			api_cause_add(causes, "FieldValueInvalid", "data",
				      "Invalid value: \"%s\": must be a string", k);
		if (json_object_get(json_object_get(obj, "binaryData"), k))
			api_cause_add(
				causes, "FieldValueInvalid", "data",
				"Invalid value: \"%s\": duplicate of key present in binaryData", k);
	}
	if (data_size(json_object_get(obj, "data"), false) +
		    data_size(json_object_get(obj, "binaryData"), true) >
	    MAX_DATA_SIZE)
		api_cause_add(causes, "FieldValueTooLong", "[]",
			      "Too long: may not be more than %d bytes", MAX_DATA_SIZE);
	validate_immutable(obj, old, fields, causes);
}

/* Secrets. */

static const struct api_column secret_columns[] = {{"Name", "string", "name", 0},
						   {"Type", "string", NULL, 0},
						   {"Data", "integer", NULL, 0},
						   {"Age", "string", NULL, 0},
						   {NULL}};

static json_t *secret_cells(const json_t *obj)
{
	return json_pack("[o, o, I, o]", api_cell_name(obj), api_cell_str(api_jstr(obj, "type")),
			 (json_int_t)count_keys(json_object_get(obj, "data")), api_cell_age(obj));
}

static char *base64_encode(const char *s, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = k8c_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Standard base64 with padding, as Go's encoding/json decodes []byte. */
static bool base64_valid(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < n - 2)
				return false;
			pad++;
		} else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				    (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return false;
		}
	}
	return true;
}

static void secret_defaults(json_t *obj)
{
	json_t *sd = json_object_get(obj, "stringData"), *v;
	const char *k;

	api_default_str(obj, "type", "Opaque");
	/* stringData is write-only: merged into data (kube's secret strategy) */
	if (json_is_object(sd)) {
		json_t *data = api_jobj(obj, "data");

		json_object_foreach(sd, k, v)
		{
			const char *s = json_string_value(v);

			if (s) {
				_cleanup_free_ char *b = base64_encode(s, strlen(s));

				json_object_set_new(data, k, json_string(b));
			}
		}
	}
	json_object_del(obj, "stringData");
}

/* The keys a Secret's type requires (ValidateSecret); the contents are not checked. */
static void secret_type_validate(const json_t *obj, const char *type, json_t *causes)
{
	static const struct {
		const char *type, *keys[2];
		bool either; /* one of the keys is enough */
	} rules[] = {
		{"kubernetes.io/dockercfg", {".dockercfg", NULL}, false},
		{"kubernetes.io/dockerconfigjson", {".dockerconfigjson", NULL}, false},
		{"kubernetes.io/basic-auth", {"username", "password"}, true},
		{"kubernetes.io/ssh-auth", {"ssh-privatekey", NULL}, false},
		{"kubernetes.io/tls", {"tls.crt", "tls.key"}, false},
	};
	json_t *data = json_object_get(obj, "data");

	if (strcmp(type, "kubernetes.io/service-account-token") == 0 &&
	    !*(json_string_value(json_object_get(api_jget(obj, "metadata.annotations"),
						 "kubernetes.io/service-account.name"))
		       ?: ""))
		api_cause_add(causes, "FieldValueRequired",
			      "metadata.annotations[kubernetes.io/service-account.name]",
			      "Required value");
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		bool any = false;

		if (strcmp(type, rules[i].type) != 0)
			continue;
		for (size_t k = 0; k < 2 && rules[i].keys[k]; k++)
			any |= json_object_get(data, rules[i].keys[k]) != NULL;
		for (size_t k = 0; k < 2 && rules[i].keys[k]; k++) {
			json_t *v = json_object_get(data, rules[i].keys[k]);
			bool missing = rules[i].either ? !any : !v;

			/* ssh-auth needs a non-empty key */
			if (!missing && strcmp(rules[i].keys[k], "ssh-privatekey") == 0)
				missing = !*(json_string_value(v) ?: "");
			if (missing) {
				_cleanup_free_ char *f =
					k8c_xasprintf("data[%s]", rules[i].keys[k]);

				api_cause_add(causes, "FieldValueRequired", f, "Required value");
			}
		}
	}
}

static void secret_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const fields[] = {"data", NULL};
	const char *k, *type = api_jstr(obj, "type");
	json_t *v;

	validate_keys(json_object_get(obj, "data"), "data", causes);
	json_object_foreach(json_object_get(obj, "data"), k, v)
	{
		if (!json_is_string(v) || !base64_valid(json_string_value(v))) {
			_cleanup_free_ char *f = k8c_xasprintf("data[%s]", k);

			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"<secret data>\": must be base64-encoded");
		}
	}
	if (data_size(json_object_get(obj, "data"), true) > MAX_DATA_SIZE)
		api_cause_add(causes, "FieldValueTooLong", "data",
			      "Too long: may not be more than %d bytes", MAX_DATA_SIZE);
	secret_type_validate(obj, type ? type : "", causes);
	if (old && type && api_jstr(old, "type") && strcmp(type, api_jstr(old, "type")) != 0)
		api_cause_add(causes, "FieldValueInvalid", "type",
			      "Invalid value: \"%s\": field is immutable", type);
	validate_immutable(obj, old, fields, causes);
}

/* ServiceAccounts. */

static const struct api_column sa_columns[] = {{"Name", "string", "name", 0},
					       {"Secrets", "integer", NULL, 0},
					       {"Age", "string", NULL, 0},
					       {NULL}};

static json_t *sa_cells(const json_t *obj)
{
	json_t *s = json_object_get(obj, "secrets");

	return json_pack("[o, I, o]", api_cell_name(obj),
			 (json_int_t)(json_is_array(s) ? json_array_size(s) : 0),
			 api_cell_age(obj));
}

/* Services. */

static const struct api_column svc_columns[] = {
	{"Name", "string", "name", 0},	   {"Type", "string", NULL, 0},
	{"Cluster-IP", "string", NULL, 0}, {"External-IP", "string", NULL, 0},
	{"Port(s)", "string", NULL, 0},	   {"Age", "string", NULL, 0},
	{"Selector", "string", NULL, 1},   {NULL}};

static json_t *svc_cells(const json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec"), *p, *ext;
	const char *type = api_jstr(spec, "type");
	char *ports = NULL, *extip = NULL;
	size_t plen = 0, elen = 0, i;
	FILE *f = open_memstream(&ports, &plen);
	FILE *e = open_memstream(&extip, &elen);
	json_t *out;

	json_array_foreach(json_object_get(spec, "ports"), i, p)
	{
		json_int_t np = json_integer_value(json_object_get(p, "nodePort"));

		fprintf(f, "%s%lld", i ? "," : "",
			(long long)json_integer_value(json_object_get(p, "port")));
		if (np)
			fprintf(f, ":%lld", (long long)np);
		fprintf(f, "/%s", api_jstr(p, "protocol") ?: "TCP");
	}
	fclose(f);
	json_array_foreach(json_object_get(spec, "externalIPs"), i, ext)
		fprintf(e, "%s%s", elen ? "," : "", json_string_value(ext) ?: "");
	if (type && strcmp(type, "LoadBalancer") == 0) {
		json_array_foreach(api_jget(obj, "status.loadBalancer.ingress"), i, ext)
		{
			const char *s = api_jstr(ext, "ip") ?: api_jstr(ext, "hostname");

			fflush(e);
			fprintf(e, "%s%s", elen ? "," : "", s ?: "");
		}
		fflush(e);
		if (!elen)
			fprintf(e, "<pending>");
	} else if (type && strcmp(type, "ExternalName") == 0) {
		fflush(e);
		if (!elen)
			fprintf(e, "%s", api_jstr(spec, "externalName") ?: "");
	}
	fclose(e);
	out = json_pack("[o, o, s, s, s, o, o]", api_cell_name(obj), api_cell_str(type),
			or_none(api_jstr(spec, "clusterIP")), or_none(extip), or_none(ports),
			api_cell_age(obj), map_cell(json_object_get(spec, "selector")));
	free(ports);
	free(extip);
	return out;
}

static void svc_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec"), *p;
	const char *type;
	size_t i;

	api_default_str(spec, "type", "ClusterIP");
	api_default_str(spec, "sessionAffinity", "None");
	type = api_jstr(spec, "type");
	if (strcmp(type, "ExternalName") != 0) {
		api_default_str(spec, "internalTrafficPolicy", "Cluster");
		if (!json_object_get(spec, "ipFamilies"))
			json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
		api_default_str(spec, "ipFamilyPolicy", "SingleStack");
	}
	/* externally accessible: NodePort, LoadBalancer, or ClusterIP with external IPs */
	if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0 ||
	    (strcmp(type, "ClusterIP") == 0 &&
	     json_array_size(json_object_get(spec, "externalIPs"))))
		api_default_str(spec, "externalTrafficPolicy", "Cluster");
	if (strcmp(api_jstr(spec, "sessionAffinity"), "None") == 0)
		json_object_del(spec, "sessionAffinityConfig");
	else if (strcmp(api_jstr(spec, "sessionAffinity"), "ClientIP") == 0 &&
		 !json_is_integer(api_jget(spec, "sessionAffinityConfig.clientIP.timeoutSeconds")))
		json_object_set_new(spec, "sessionAffinityConfig",
				    json_pack("{s:{s:i}}", "clientIP", "timeoutSeconds", 10800));
	if (strcmp(type, "LoadBalancer") == 0 &&
	    !json_object_get(spec, "allocateLoadBalancerNodePorts"))
		json_object_set_new(spec, "allocateLoadBalancerNodePorts", json_true());
	json_array_foreach(json_object_get(spec, "ports"), i, p)
	{
		if (!json_is_object(p))
			continue;
		json_t *tp = json_object_get(p, "targetPort");

		api_default_str(p, "protocol", "TCP");
		if ((!tp || (json_is_integer(tp) && !json_integer_value(tp)) ||
		     (json_is_string(tp) && !*json_string_value(tp))) &&
		    json_object_get(p, "port"))
			json_object_set(p, "targetPort", json_object_get(p, "port"));
	}
	api_jobj(obj, "status");
	api_jobj(json_object_get(obj, "status"), "loadBalancer");
	/* LoadBalancerIPMode: an ingress IP is a VIP unless told otherwise */
	if (strcmp(type, "LoadBalancer") == 0) {
		json_t *ing;

		json_array_foreach(api_jget(obj, "status.loadBalancer.ingress"), i,
				   ing) if (json_is_object(ing) && api_jstr(ing, "ip") &&
					    *api_jstr(ing, "ip"))
			api_default_str(ing, "ipMode", "VIP");
	}
}

static void svc_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	json_t *spec = json_object_get(obj, "spec"), *ports = json_object_get(spec, "ports"), *p;
	const char *type = api_jstr(spec, "type") ?: "ClusterIP";
	const char *cip = api_jstr(spec, "clusterIP");
	size_t i;

	if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer") &&
	    strcmp(type, "ExternalName"))
		api_cause_add(causes, "FieldValueNotSupported", "spec.type",
			      "Unsupported value: \"%s\": supported values: \"ClusterIP\", "
			      "\"ExternalName\", \"LoadBalancer\", \"NodePort\"",
			      type);
	if (strcmp(type, "ExternalName") != 0 && !(cip && strcmp(cip, "None") == 0) &&
	    json_array_size(ports) == 0)
		api_cause_add(causes, "FieldValueRequired", "spec.ports", "Required value");
	json_array_foreach(ports, i, p)
	{
		json_t *port = json_object_get(p, "port");
		const char *proto = api_jstr(p, "protocol");
		char f[64];

		snprintf(f, sizeof(f), "spec.ports[%zu].port", i);
		if (!json_is_integer(port))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535)
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: %lld: must be between 1 and 65535, inclusive",
				      (long long)json_integer_value(port));
		snprintf(f, sizeof(f), "spec.ports[%zu].protocol", i);
		if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP"))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: \"SCTP\", "
				      "\"TCP\", \"UDP\"",
				      proto);
		snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
		if (json_array_size(ports) > 1 && !*(api_jstr(p, "name") ?: "")) {
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		} else if (*(api_jstr(p, "name") ?: "")) {
			json_t *o;
			size_t j;

			api_validate_dns_label(api_jstr(p, "name"), f, causes);
			json_array_foreach(ports, j,
					   o) if (j < i && api_jstr(o, "name") &&
						  !strcmp(api_jstr(o, "name"), api_jstr(p, "name")))
			{
				api_cause_add(causes, "FieldValueDuplicate", f,
					      "Duplicate value: \"%s\"", api_jstr(p, "name"));
				break;
			}
		}
		snprintf(f, sizeof(f), "spec.ports[%zu].targetPort", i);
		if (json_object_get(p, "targetPort"))
			api_validate_port_num_or_name(json_object_get(p, "targetPort"), f, causes);
	}
	json_array_foreach(ports, i, p)
	{
		json_t *o;
		size_t j;

		json_array_foreach(ports, j, o) if (j < i &&
						    json_equal(json_object_get(o, "port"),
							       json_object_get(p, "port")) &&
						    !strcmp(api_jstr(o, "protocol") ?: "TCP",
							    api_jstr(p, "protocol") ?: "TCP"))
		{
			char f[48];

			/* kube prints the key, a ServicePort of protocol and port, with %#v */
			snprintf(f, sizeof(f), "spec.ports[%zu]", i);
			api_cause_add(
				causes, "FieldValueDuplicate", f,
				"Duplicate value: core.ServicePort{Name:\"\", Protocol:\"%s\", "
				"AppProtocol:(*string)(nil), Port:%lld, "
				"TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, "
				"NodePort:0}",
				api_jstr(p, "protocol") ?: "TCP",
				(long long)json_integer_value(json_object_get(p, "port")));
			break;
		}
	}
	api_validate_labels(json_object_get(spec, "selector"), "spec.selector", causes);
	if (old) {
		const char *ocip = api_jstr(old, "spec.clusterIP");

		if (ocip && *ocip && cip && strcmp(cip, ocip) != 0 &&
		    strcmp(type, "ExternalName") != 0)
			api_cause_add(causes, "FieldValueInvalid", "spec.clusterIPs[0]",
				      "Invalid value: []string{\"%s\"}: may not change once set",
				      cip);
	}
}

/* An update that omits the allocated clusterIP keeps it (kube's service strategy). */
static void svc_on_update(json_t *obj, const json_t *old)
{
	json_t *spec = api_jobj(obj, "spec");

	if (!api_jstr(spec, "clusterIP") && api_jstr(old, "spec.clusterIP")) {
		json_object_set(spec, "clusterIP", api_jget(old, "spec.clusterIP"));
		if (api_jget(old, "spec.clusterIPs"))
			json_object_set(spec, "clusterIPs", api_jget(old, "spec.clusterIPs"));
	}
	json_object_set(obj, "status", json_object_get(old, "status"));
}

/* Endpoints. */

static const struct api_column ep_columns[] = {{"Name", "string", "name", 0},
					       {"Endpoints", "string", NULL, 0},
					       {"Age", "string", NULL, 0},
					       {NULL}};

/* One "ip:port" (or "ip" without ports) of an Endpoints cell; IPv6 in brackets. */
static void ep_write(FILE *f, size_t n, const char *ip, const json_t *port)
{
	bool v6 = strchr(ip, ':') != NULL;

	if (!port)
		fprintf(f, "%s%s", n ? "," : "", ip);
	else
		fprintf(f, "%s%s%s%s:%lld", n ? "," : "", v6 ? "[" : "", ip, v6 ? "]" : "",
			(long long)json_integer_value(json_object_get(port, "port")));
}

/* Up to 3 endpoints, port by port then address by address (formatEndpoints). */
static json_t *ep_cells(const json_t *obj)
{
	char *buf = NULL;
	size_t len = 0, i, j, k, n = 0, total = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *s, *a, *p, *out, *subsets = json_object_get(obj, "subsets");
	bool more = false;

	json_array_foreach(subsets, i, s)
	{
		json_t *ports = json_object_get(s, "ports"),
		       *addrs = json_object_get(s, "addresses");
		size_t np = json_array_size(ports) ? json_array_size(ports) : 1;

		for (k = 0; k < np; k++) {
			p = json_array_get(ports, k);
			total += json_array_size(addrs);
			json_array_foreach(addrs, j, a)
			{
				if (n == 3) {
					more = true;
					break;
				}
				ep_write(f, n++, api_jstr(a, "ip") ?: "", p);
			}
		}
	}
	if (more)
		fprintf(f, " + %zu more...", total - 3);
	fclose(f);
	out = json_pack("[o, s, o]", api_cell_name(obj), json_array_size(subsets) ? buf : "<none>",
			api_cell_age(obj));
	free(buf);
	return out;
}

/* SetDefaults_EndpointPort: ports' protocol TCP. */
static void ep_defaults(json_t *obj)
{
	json_t *ss, *p;
	size_t i, j;

	json_array_foreach(json_object_get(obj, "subsets"), i, ss)
		json_array_foreach(json_object_get(ss, "ports"), j, p) if (json_is_object(p))
			api_default_str(p, "protocol", "TCP");
}

/* Pods. */

static const struct api_column pod_columns[] = {{"Name", "string", "name", 0},
						{"Ready", "string", NULL, 0},
						{"Status", "string", NULL, 0},
						{"Restarts", "string", NULL, 0},
						{"Age", "string", NULL, 0},
						{"IP", "string", NULL, 1},
						{"Node", "string", NULL, 1},
						{"Nominated Node", "string", NULL, 1},
						{"Readiness Gates", "string", NULL, 1},
						{NULL}};

/* An init container with restartPolicy Always (a sidecar). */
static bool restartable_init(const json_t *spec, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(spec, "initContainers"), i, c)
	{
		if (name && api_jstr(c, "name") && strcmp(api_jstr(c, "name"), name) == 0)
			return strcmp(api_jstr(c, "restartPolicy") ?: "", "Always") == 0;
	}
	return false;
}

/* Whether the pod's condition of type is True. */
static bool pod_condition(const json_t *obj, const char *type)
{
	json_t *c;
	size_t i;

	json_array_foreach(api_jget(obj, "status.conditions"), i, c)
	{
		if (strcmp(api_jstr(c, "type") ?: "", type) == 0)
			return strcmp(api_jstr(c, "status") ?: "", "True") == 0;
	}
	return false;
}

/* Keep the later of two RFC 3339 timestamps in *last (same format: compares as text). */
static void later(const char **last, const char *ts)
{
	if (ts && (!*last || strcmp(ts, *last) > 0))
		*last = ts;
}

/* kubectl's pod row (printPod): Ready, the Status reason, Restarts with the last one's age. */
static json_t *pod_cells(const json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec"), *c,
	       *gates = json_object_get(spec, "readinessGates");
	const char *phase = api_jstr(obj, "status.phase") ?: "";
	const char *sreason = api_jstr(obj, "status.reason");
	const char *last = NULL, *last_sidecar = NULL;
	size_t total = json_array_size(json_object_get(spec, "containers")), i;
	size_t ninit = json_array_size(json_object_get(spec, "initContainers"));
	long long restarts = 0, sidecar_restarts = 0, ready = 0;
	bool initializing = false;
	char reason[96], readys[48], restartss[64], gatess[48];
	json_t *st;

	snprintf(reason, sizeof(reason), "%s", sreason && *sreason ? sreason : phase);
	json_array_foreach(api_jget(obj, "status.conditions"), i, c)
	{
		if (strcmp(api_jstr(c, "type") ?: "", "PodScheduled") == 0 &&
		    strcmp(api_jstr(c, "reason") ?: "", "SchedulingGated") == 0)
			snprintf(reason, sizeof(reason), "SchedulingGated");
	}
	json_array_foreach(json_object_get(spec, "initContainers"), i,
			   c) if (strcmp(api_jstr(c, "restartPolicy") ?: "", "Always") == 0)
		total++;
	json_array_foreach(api_jget(obj, "status.initContainerStatuses"), i, st)
	{
		const char *name = api_jstr(st, "name");
		bool sidecar = restartable_init(spec, name);
		json_t *term = api_jget(st, "state.terminated");
		const char *wr = api_jstr(st, "state.waiting.reason");
		long long rc = json_integer_value(json_object_get(st, "restartCount"));

		restarts += rc;
		later(&last, api_jstr(st, "lastState.terminated.finishedAt"));
		if (sidecar) {
			sidecar_restarts += rc;
			later(&last_sidecar, api_jstr(st, "lastState.terminated.finishedAt"));
		}
		if (term && json_integer_value(json_object_get(term, "exitCode")) == 0)
			continue;
		if (sidecar && json_is_true(json_object_get(st, "started"))) {
			ready += json_is_true(json_object_get(st, "ready"));
			continue;
		}
		if (term) {
			const char *tr = api_jstr(term, "reason");
			long long sig = json_integer_value(json_object_get(term, "signal"));

			if (tr && *tr)
				snprintf(reason, sizeof(reason), "Init:%s", tr);
			else if (sig)
				snprintf(reason, sizeof(reason), "Init:Signal:%lld", sig);
			else
				snprintf(reason, sizeof(reason), "Init:ExitCode:%lld",
					 (long long)json_integer_value(
						 json_object_get(term, "exitCode")));
		} else if (wr && *wr && strcmp(wr, "PodInitializing") != 0) {
			snprintf(reason, sizeof(reason), "Init:%s", wr);
		} else {
			snprintf(reason, sizeof(reason), "Init:%zu/%zu", i, ninit);
		}
		initializing = true;
		break;
	}
	if (!initializing || pod_condition(obj, "Initialized")) {
		json_t *cs = api_jget(obj, "status.containerStatuses");
		bool running = false;

		restarts = sidecar_restarts;
		last = last_sidecar;
		for (i = json_array_size(cs); i-- > 0;) {
			json_t *term;
			const char *wr;

			st = json_array_get(cs, i);
			term = api_jget(st, "state.terminated");
			wr = api_jstr(st, "state.waiting.reason");
			restarts += json_integer_value(json_object_get(st, "restartCount"));
			later(&last, api_jstr(st, "lastState.terminated.finishedAt"));
			if (wr && *wr) {
				snprintf(reason, sizeof(reason), "%s", wr);
			} else if (term && *(api_jstr(term, "reason") ?: "")) {
				snprintf(reason, sizeof(reason), "%s", api_jstr(term, "reason"));
			} else if (term) {
				long long sig = json_integer_value(json_object_get(term, "signal"));

				if (sig)
					snprintf(reason, sizeof(reason), "Signal:%lld", sig);
				else
					snprintf(reason, sizeof(reason), "ExitCode:%lld",
						 (long long)json_integer_value(
							 json_object_get(term, "exitCode")));
			} else if (json_is_true(json_object_get(st, "ready")) &&
				   api_jget(st, "state.running")) {
				running = true;
				ready++;
			}
		}
		if (strcmp(reason, "Completed") == 0 && running)
			snprintf(reason, sizeof(reason), "%s",
				 pod_condition(obj, "Ready") ? "Running" : "NotReady");
	}
	if (api_jget(obj, "metadata.deletionTimestamp") && sreason &&
	    strcmp(sreason, "NodeLost") == 0)
		snprintf(reason, sizeof(reason), "Unknown");
	else if (api_jget(obj, "metadata.deletionTimestamp") && strcmp(phase, "Succeeded") != 0 &&
		 strcmp(phase, "Failed") != 0)
		snprintf(reason, sizeof(reason), "Terminating");
	snprintf(readys, sizeof(readys), "%lld/%zu", ready, total);
	if (restarts && last) {
		char age[32];

		api_age(last, age, sizeof(age));
		snprintf(restartss, sizeof(restartss), "%lld (%s ago)", restarts, age);
	} else {
		snprintf(restartss, sizeof(restartss), "%lld", restarts);
	}
	snprintf(gatess, sizeof(gatess), "<none>");
	if (json_array_size(gates)) {
		size_t ok = 0, j;
		json_t *g, *cond;

		json_array_foreach(gates, i, g)
		{
			json_array_foreach(api_jget(obj, "status.conditions"), j, cond)
			{
				if (strcmp(api_jstr(cond, "type") ?: "",
					   api_jstr(g, "conditionType") ?: "") != 0)
					continue;
				ok += strcmp(api_jstr(cond, "status") ?: "", "True") == 0;
				break;
			}
		}
		snprintf(gatess, sizeof(gatess), "%zu/%zu", ok, json_array_size(gates));
	}
	return json_pack("[o, s, s, s, o, s, s, s, s]", api_cell_name(obj), readys, reason,
			 restartss, api_cell_age(obj),
			 or_none(api_jstr(json_array_get(api_jget(obj, "status.podIPs"), 0), "ip")
					 ?: api_jstr(obj, "status.podIP")),
			 or_none(api_jstr(obj, "spec.nodeName")),
			 or_none(api_jstr(obj, "status.nominatedNodeName")), gatess);
}

/* Always for :latest or no tag (a digest counts as a tag), else IfNotPresent. */
static const char *pull_policy(const char *image)
{
	const char *slash = strrchr(image, '/'), *last = slash ? slash + 1 : image;
	const char *colon = strchr(last, ':');

	if (strchr(image, '@'))
		return "IfNotPresent";
	if (!colon || strcmp(colon + 1, "latest") == 0)
		return "Always";
	return "IfNotPresent";
}

/* A probe's defaults (SetDefaults_Probe, SetDefaults_HTTPGetAction). */
static void probe_defaults(json_t *p)
{
	json_t *h = json_object_get(p, "httpGet");

	if (!json_is_object(p))
		return;
	if (json_integer_value(json_object_get(p, "timeoutSeconds")) == 0)
		json_object_set_new(p, "timeoutSeconds", json_integer(1));
	if (json_integer_value(json_object_get(p, "periodSeconds")) == 0)
		json_object_set_new(p, "periodSeconds", json_integer(10));
	if (json_integer_value(json_object_get(p, "successThreshold")) == 0)
		json_object_set_new(p, "successThreshold", json_integer(1));
	if (json_integer_value(json_object_get(p, "failureThreshold")) == 0)
		json_object_set_new(p, "failureThreshold", json_integer(3));
	if (json_is_object(h)) {
		api_default_str(h, "path", "/");
		api_default_str(h, "scheme", "HTTP");
	}
}

static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe", NULL};
static const char *const hooks[] = {"postStart", "preStop", NULL};

static void container_defaults(json_t *c)
{
	json_t *p, *res;
	size_t i;

	if (!json_is_object(c))
		return;
	if (api_jstr(c, "image"))
		api_default_str(c, "imagePullPolicy", pull_policy(api_jstr(c, "image")));
	api_default_str(c, "terminationMessagePath", "/dev/termination-log");
	api_default_str(c, "terminationMessagePolicy", "File");
	res = api_jobj(c, "resources");
	api_quantities_canonical(json_object_get(res, "limits"));
	api_quantities_canonical(json_object_get(res, "requests"));
	json_array_foreach(json_object_get(c, "ports"), i, p) if (json_is_object(p))
		api_default_str(p, "protocol", "TCP");
	json_array_foreach(json_object_get(c, "env"), i, p)
	{
		json_t *fr = api_jget(p, "valueFrom.fieldRef");

		if (json_is_object(fr))
			api_default_str(fr, "apiVersion", "v1");
	}
	for (const char *const *n = probes; *n; n++)
		probe_defaults(json_object_get(c, *n));
	for (const char *const *h = hooks; *h; h++) {
		json_t *hg = api_jget(api_jget(c, "lifecycle"), *h);

		if (json_is_object(json_object_get(hg, "httpGet")))
			api_default_str(json_object_get(hg, "httpGet"), "scheme", "HTTP");
	}
}

/* The volume sources kube knows, in the order its validation looks at them. */
static const char *const volume_sources[] = {"emptyDir",
					     "hostPath",
					     "gitRepo",
					     "gcePersistentDisk",
					     "awsElasticBlockStore",
					     "secret",
					     "nfs",
					     "iscsi",
					     "glusterfs",
					     "flocker",
					     "persistentVolumeClaim",
					     "rbd",
					     "quobyte",
					     "cinder",
					     "cephfs",
					     "downwardAPI",
					     "fc",
					     "azureFile",
					     "vsphereVolume",
					     "photonPersistentDisk",
					     "portworxVolume",
					     "azureDisk",
					     "configMap",
					     "scaleIO",
					     "projected",
					     "storageos",
					     "csi",
					     "ephemeral",
					     "image",
					     NULL};

/* SetDefaults_Volume and the sources' defaults (defaultMode 0644, hostPath type ""). */
static void volume_defaults(json_t *v)
{
	static const char *const moded[] = {"secret", "configMap", "downwardAPI", "projected",
					    NULL};
	bool any = false;

	if (!json_is_object(v))
		return;
	for (const char *const *s = volume_sources; *s; s++)
		any |= json_object_get(v, *s) != NULL;
	if (!any)
		json_object_set_new(v, "emptyDir", json_object());
	for (const char *const *s = moded; *s; s++)
		if (json_is_object(json_object_get(v, *s)))
			api_default_int(json_object_get(v, *s), "defaultMode", 0644);
	{
		json_t *src;
		size_t i;

		json_array_foreach(api_jget(v, "projected.sources"), i, src)
		{
			json_t *t = json_object_get(src, "serviceAccountToken");

			if (json_is_object(t))
				api_default_int(t, "expirationSeconds", 3600);
		}
	}
	if (json_is_object(json_object_get(v, "iscsi")))
		api_default_str(json_object_get(v, "iscsi"), "iscsiInterface", "default");
	if (json_is_object(json_object_get(v, "hostPath")) &&
	    !json_object_get(json_object_get(v, "hostPath"), "type"))
		json_object_set_new(json_object_get(v, "hostPath"), "type", json_string(""));
}

/* PodSpec defaults (also for templates). */
void api_pod_spec_defaults(json_t *spec)
{
	static const char *const lists[] = {"containers", "initContainers", NULL};
	json_t *v;
	size_t i;

	api_default_str(spec, "restartPolicy", "Always");
	api_default_str(spec, "dnsPolicy", "ClusterFirst");
	api_default_int(spec, "terminationGracePeriodSeconds", 30);
	api_default_str(spec, "schedulerName", "default-scheduler");
	api_jobj(spec, "securityContext");
	for (const char *const *l = lists; *l; l++) {
		json_t *c;

		json_array_foreach(json_object_get(spec, *l), i, c) container_defaults(c);
	}
	json_array_foreach(json_object_get(spec, "volumes"), i, v) volume_defaults(v);
}

/* SetDefaults_Pod: a container's requests default to its limits. */
static void requests_from_limits(json_t *c)
{
	json_t *res = api_jobj(c, "resources"), *lim = json_object_get(res, "limits"), *v;
	const char *k;

	if (!json_object_size(lim))
		return;
	json_object_foreach(lim, k, v)
	{
		json_t *req = api_jobj(res, "requests");

		if (!json_object_get(req, k))
			json_object_set(req, k, v);
	}
}

/* Whether one of the tolerations tolerates a NoExecute taint `key` with no value. */
static bool tolerates_noexecute(const json_t *tols, const char *key)
{
	json_t *t;
	size_t i;

	json_array_foreach(tols, i, t)
	{
		const char *k = api_jstr(t, "key"), *op = api_jstr(t, "operator");
		const char *eff = api_jstr(t, "effect"), *val = api_jstr(t, "value");

		if (eff && *eff && strcmp(eff, "NoExecute") != 0)
			continue;
		if (op && strcmp(op, "Exists") == 0) {
			if (!k || !*k || strcmp(k, key) == 0)
				return true;
		} else if (k && strcmp(k, key) == 0 && (!val || !*val)) {
			return true;
		}
	}
	return false;
}

/*
 * kube's DefaultTolerationSeconds admission: a pod that does not tolerate the NoExecute taint
 * `key` (node.kubernetes.io/not-ready, /unreachable) gets a toleration of it for 300 s.
 */
static void default_toleration(json_t *spec, const char *key)
{
	json_t *tols = json_object_get(spec, "tolerations");

	if (!json_is_array(tols)) {
		tols = json_array();
		json_object_set_new(spec, "tolerations", tols);
	}
	if (!tolerates_noexecute(tols, key))
		json_array_append_new(tols, json_pack("{s:s, s:s, s:s, s:I}", "key", key,
						      "operator", "Exists", "effect", "NoExecute",
						      "tolerationSeconds", (json_int_t)300));
}

static void pod_defaults(json_t *obj)
{
	static const char *const lists[] = {"containers", "initContainers", NULL};
	json_t *spec = api_jobj(obj, "spec");

	api_pod_spec_defaults(spec);
	/* SetDefaults_Pod, and what kube's admission plugins (ServiceAccount, Priority,
	 * DefaultTolerationSeconds) add to Pods but not to templates */
	if (!json_object_get(spec, "enableServiceLinks"))
		json_object_set_new(spec, "enableServiceLinks", json_true());
	api_default_str(spec, "preemptionPolicy", "PreemptLowerPriority");
	api_default_int(spec, "priority", 0);
	default_toleration(spec, "node.kubernetes.io/not-ready");
	default_toleration(spec, "node.kubernetes.io/unreachable");
	api_default_str(spec, "serviceAccountName", "default");
	api_default_str(spec, "serviceAccount", api_jstr(spec, "serviceAccountName"));
	for (const char *const *l = lists; *l; l++) {
		json_t *c;
		size_t i;

		json_array_foreach(json_object_get(spec, *l), i, c)
		{
			json_t *p;
			size_t j;

			if (!json_is_object(c))
				continue;
			requests_from_limits(c);
			/* with hostNetwork, hostPort defaults to containerPort */
			json_array_foreach(
				json_object_get(c, "ports"), j,
				p) if (json_is_true(json_object_get(spec, "hostNetwork")) &&
				       json_is_object(p) &&
				       !json_integer_value(json_object_get(p, "hostPort")))
				json_object_set(p, "hostPort", json_object_get(p, "containerPort"));
		}
	}
}

static void pod_on_create(json_t *obj)
{
	json_t *st = api_jobj(obj, "status");

	json_object_set_new(st, "phase", json_string("Pending"));
	json_object_set_new(st, "qosClass", json_string(api_pod_qos(obj)));
}

/* A probe or lifecycle handler: exactly one action (validateHandler). */
static void handler_validate(const json_t *h, const char *path, bool probe, json_t *causes)
{
	static const char *const kinds[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep", NULL};
	int n = 0;
	char f[512];

	for (const char *const *k = kinds; *k; k++) {
		json_t *a = json_object_get(h, *k);

		if (!a || (probe && strcmp(*k, "sleep") == 0) ||
		    (!probe && strcmp(*k, "grpc") == 0))
			continue;
		snprintf(f, sizeof(f), "%s.%s", path, *k);
		if (n++) {
			api_cause_add(causes, "FieldValueForbidden", f,
				      "Forbidden: may not specify more than 1 handler type");
			continue;
		}
		if (strcmp(*k, "httpGet") == 0 || strcmp(*k, "tcpSocket") == 0) {
			const char *scheme = api_jstr(a, "scheme");

			snprintf(f, sizeof(f), "%s.%s.port", path, *k);
			api_validate_port_num_or_name(json_object_get(a, "port"), f, causes);
			snprintf(f, sizeof(f), "%s.%s.scheme", path, *k);
			if (scheme && strcmp(scheme, "HTTP") && strcmp(scheme, "HTTPS"))
				api_cause_add(causes, "FieldValueNotSupported", f,
					      "Unsupported value: \"%s\": supported values: "
					      "\"HTTP\", \"HTTPS\"",
					      scheme);
		} else if (strcmp(*k, "exec") == 0 &&
			   !json_array_size(json_object_get(a, "command"))) {
			snprintf(f, sizeof(f), "%s.exec.command", path);
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		}
	}
	if (!n)
		api_cause_add(causes, "FieldValueRequired", path,
			      "Required value: must specify a handler type");
}

static void probe_validate(const json_t *p, const char *path, const char *which, json_t *causes)
{
	static const char *const ints[] = {"initialDelaySeconds", "timeoutSeconds",
					   "periodSeconds",	  "successThreshold",
					   "failureThreshold",	  NULL};
	json_t *tg = json_object_get(p, "terminationGracePeriodSeconds");
	char f[512];

	handler_validate(p, path, true, causes);
	for (const char *const *k = ints; *k; k++) {
		snprintf(f, sizeof(f), "%s.%s", path, *k);
		api_validate_nonnegative(json_object_get(p, *k), f, causes);
	}
	snprintf(f, sizeof(f), "%s.successThreshold", path);
	if (strcmp(which, "readinessProbe") != 0 &&
	    json_integer_value(json_object_get(p, "successThreshold")) > 1)
		api_cause_add(
			causes, "FieldValueInvalid", f, "Invalid value: %lld: must be 1",
			(long long)json_integer_value(json_object_get(p, "successThreshold")));
	snprintf(f, sizeof(f), "%s.terminationGracePeriodSeconds", path);
	if (tg && strcmp(which, "readinessProbe") == 0)
		api_cause_add(causes, "FieldValueInvalid", f,
			      "Invalid value: %lld: must not be set for readinessProbes",
			      (long long)json_integer_value(tg));
	else if (tg && json_integer_value(tg) <= 0)
		api_cause_add(causes, "FieldValueInvalid", f,
			      "Invalid value: %lld: must be greater than 0",
			      (long long)json_integer_value(tg));
}

static bool volume_defined(const json_t *vols, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(vols, i, v) if (api_jstr(v, "name") &&
					   strcmp(api_jstr(v, "name"), name) == 0) return true;
	return false;
}

static void volumes_validate(const json_t *vols, const char *path, json_t *causes)
{
	json_t *v, *o;
	size_t i, j;
	char f[256];

	json_array_foreach(vols, i, v)
	{
		const char *name = api_jstr(v, "name") ?: "";
		int n = 0;

		for (const char *const *s = volume_sources; *s; s++) {
			if (!json_object_get(v, *s))
				continue;
			snprintf(f, sizeof(f), "%s[%zu].%s", path, i, *s);
			if (n++)
				api_cause_add(causes, "FieldValueForbidden", f,
					      "Forbidden: may not specify more than 1 volume type");
		}
		snprintf(f, sizeof(f), "%s[%zu]", path, i);
		if (!n)
			api_cause_add(causes, "FieldValueRequired", f,
				      "Required value: must specify a volume type");
		snprintf(f, sizeof(f), "%s[%zu].name", path, i);
		api_validate_dns_label(name, f, causes);
		json_array_foreach(vols, j, o) if (j < i && *name && api_jstr(o, "name") &&
						   strcmp(api_jstr(o, "name"), name) == 0)
		{
			api_cause_add(causes, "FieldValueDuplicate", f, "Duplicate value: \"%s\"",
				      name);
			break;
		}
		snprintf(f, sizeof(f), "%s[%zu].persistentVolumeClaim.claimName", path, i);
		if (json_object_get(v, "persistentVolumeClaim") &&
		    !*(api_jstr(v, "persistentVolumeClaim.claimName") ?: ""))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		snprintf(f, sizeof(f), "%s[%zu].hostPath.path", path, i);
		if (json_object_get(v, "hostPath") && !*(api_jstr(v, "hostPath.path") ?: ""))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
	}
}

/* One container of a list at path (containers[i]); names holds the names seen so far. */
static void container_validate(const json_t *c, const char *path, const json_t *spec, json_t *names,
			       bool init, json_t *causes)
{
	const char *name = api_jstr(c, "name"), *img = api_jstr(c, "image");
	json_t *o, *port_names = json_object(), *mounts = json_object();
	size_t j;
	char f[256];

	snprintf(f, sizeof(f), "%s.name", path);
	if (!name || !*name) {
		api_cause_add(causes, "FieldValueRequired", f, "Required value");
	} else {
		api_validate_dns_label(name, f, causes);
		if (json_object_get(names, name))
			api_cause_add(causes, "FieldValueDuplicate", f, "Duplicate value: \"%s\"",
				      name);
		json_object_set_new(names, name, json_true());
	}
	snprintf(f, sizeof(f), "%s.image", path);
	if (!img || !*img)
		api_cause_add(causes, "FieldValueRequired", f, "Required value");
	{
		const char *pp = api_jstr(c, "imagePullPolicy");
		const char *tp = api_jstr(c, "terminationMessagePolicy");

		snprintf(f, sizeof(f), "%s.imagePullPolicy", path);
		if (pp && strcmp(pp, "Always") && strcmp(pp, "IfNotPresent") && strcmp(pp, "Never"))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: \"Always\", "
				      "\"IfNotPresent\", \"Never\"",
				      pp);
		snprintf(f, sizeof(f), "%s.terminationMessagePolicy", path);
		if (tp && strcmp(tp, "File") && strcmp(tp, "FallbackToLogsOnError"))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: "
				      "\"FallbackToLogsOnError\", \"File\"",
				      tp);
	}
	json_array_foreach(json_object_get(c, "ports"), j, o)
	{
		const char *pn = api_jstr(o, "name"), *proto = api_jstr(o, "protocol");
		json_t *cp = json_object_get(o, "containerPort");

		snprintf(f, sizeof(f), "%s.ports[%zu].name", path, j);
		if (pn && *pn) {
			json_t *before = json_array();

			api_validate_port_name(pn, f, before);
			if (!json_array_size(before) && json_object_get(port_names, pn))
				api_cause_add(causes, "FieldValueDuplicate", f,
					      "Duplicate value: \"%s\"", pn);
			json_array_extend(causes, before);
			json_decref(before);
			json_object_set_new(port_names, pn, json_true());
		}
		snprintf(f, sizeof(f), "%s.ports[%zu].containerPort", path, j);
		if (!json_integer_value(cp))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		else
			api_validate_port_num(cp, f, causes);
		snprintf(f, sizeof(f), "%s.ports[%zu].hostPort", path, j);
		if (json_integer_value(json_object_get(o, "hostPort")))
			api_validate_port_num(json_object_get(o, "hostPort"), f, causes);
		snprintf(f, sizeof(f), "%s.ports[%zu].protocol", path, j);
		if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP"))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: \"SCTP\", "
				      "\"TCP\", \"UDP\"",
				      proto);
	}
	json_decref(port_names);
	json_array_foreach(json_object_get(c, "env"), j, o)
	{
		snprintf(f, sizeof(f), "%s.env[%zu].name", path, j);
		api_validate_env_name(api_jstr(o, "name") ?: "", f, causes);
		snprintf(f, sizeof(f), "%s.env[%zu].valueFrom", path, j);
		if (json_object_get(o, "valueFrom") && *(api_jstr(o, "value") ?: ""))
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"\": may not be specified when `value` is "
				      "not empty");
	}
	snprintf(f, sizeof(f), "%s.resources", path);
	api_validate_resources(json_object_get(c, "resources"), f, causes);
	json_array_foreach(json_object_get(c, "volumeMounts"), j, o)
	{
		const char *vn = api_jstr(o, "name") ?: "", *mp = api_jstr(o, "mountPath") ?: "";

		snprintf(f, sizeof(f), "%s.volumeMounts[%zu].name", path, j);
		if (!*vn)
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		if (!volume_defined(json_object_get(spec, "volumes"), vn))
			api_cause_add(causes, "FieldValueNotFound", f, "Not found: \"%s\"", vn);
		snprintf(f, sizeof(f), "%s.volumeMounts[%zu].mountPath", path, j);
		if (!*mp)
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		else if (json_object_get(mounts, mp))
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"%s\": must be unique", mp);
		json_object_set_new(mounts, mp, json_true());
	}
	json_decref(mounts);
	for (const char *const *n = probes; *n; n++) {
		json_t *p = json_object_get(c, *n);

		snprintf(f, sizeof(f), "%s.%s", path, *n);
		if (p && init && strcmp(api_jstr(c, "restartPolicy") ?: "", "Always") != 0)
			api_cause_add(causes, "FieldValueForbidden", f,
				      "Forbidden: may not be set for init containers without "
				      "restartPolicy=Always");
		else if (json_is_object(p))
			probe_validate(p, f, *n, causes);
	}
	for (const char *const *h = hooks; *h; h++) {
		json_t *hk = api_jget(json_object_get(c, "lifecycle"), *h);

		snprintf(f, sizeof(f), "%s.lifecycle.%s", path, *h);
		if (json_is_object(hk))
			handler_validate(hk, f, false, causes);
	}
}

/* The PodSpec's scalar fields: DNS policy, host and subdomain names, node selector... */
static void pod_spec_fields_validate(const json_t *spec, const char *path, json_t *causes)
{
	const char *dp = api_jstr(spec, "dnsPolicy"), *sa = api_jstr(spec, "serviceAccountName");
	json_t *ads = json_object_get(spec, "activeDeadlineSeconds");
	char f[160];

	snprintf(f, sizeof(f), "%s.dnsPolicy", path);
	if (dp && strcmp(dp, "ClusterFirst") && strcmp(dp, "ClusterFirstWithHostNet") &&
	    strcmp(dp, "Default") && strcmp(dp, "None"))
		api_cause_add(causes, "FieldValueNotSupported", f,
			      "Unsupported value: \"%s\": supported values: \"ClusterFirst\", "
			      "\"ClusterFirstWithHostNet\", \"Default\", \"None\"",
			      dp);
	snprintf(f, sizeof(f), "%s.dnsConfig", path);
	if (dp && strcmp(dp, "None") == 0 && !json_is_object(json_object_get(spec, "dnsConfig")))
		api_cause_add(causes, "FieldValueRequired", f,
			      "Required value: must provide `dnsConfig` when `dnsPolicy` is None");
	snprintf(f, sizeof(f), "%s.nodeSelector", path);
	api_validate_labels(json_object_get(spec, "nodeSelector"), f, causes);
	snprintf(f, sizeof(f), "%s.hostname", path);
	if (*(api_jstr(spec, "hostname") ?: ""))
		api_validate_dns_label(api_jstr(spec, "hostname"), f, causes);
	snprintf(f, sizeof(f), "%s.subdomain", path);
	if (*(api_jstr(spec, "subdomain") ?: ""))
		api_validate_dns_label(api_jstr(spec, "subdomain"), f, causes);
	snprintf(f, sizeof(f), "%s.serviceAccountName", path);
	if (sa && *sa)
		api_validate_subdomain(sa, f, causes);
	snprintf(f, sizeof(f), "%s.activeDeadlineSeconds", path);
	if (ads && (json_integer_value(ads) < 1 || json_integer_value(ads) > 2147483647))
		api_cause_add(causes, "FieldValueInvalid", f,
			      "Invalid value: %lld: must be between 1 and 2147483647, inclusive",
			      (long long)json_integer_value(ads));
	snprintf(f, sizeof(f), "%s.terminationGracePeriodSeconds", path);
	api_validate_nonnegative(json_object_get(spec, "terminationGracePeriodSeconds"), f, causes);
}

void api_pod_spec_validate(const json_t *spec, const char *path, json_t *causes)
{
	json_t *cs = json_object_get(spec, "containers"), *c;
	const char *rp = api_jstr(spec, "restartPolicy");
	_cleanup_json_ json_t *names = json_object();
	char f[128], cf[192];
	size_t i;

	snprintf(f, sizeof(f), "%s.volumes", path);
	volumes_validate(json_object_get(spec, "volumes"), f, causes);
	json_array_foreach(json_object_get(spec, "initContainers"), i, c)
	{
		snprintf(cf, sizeof(cf), "%s.initContainers[%zu]", path, i);
		container_validate(c, cf, spec, names, true, causes);
	}
	if (!json_array_size(cs)) {
		snprintf(f, sizeof(f), "%s.containers", path);
		api_cause_add(causes, "FieldValueRequired", f, "Required value");
	}
	json_array_foreach(cs, i, c)
	{
		snprintf(cf, sizeof(cf), "%s.containers[%zu]", path, i);
		container_validate(c, cf, spec, names, false, causes);
	}
	if (rp && strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
		snprintf(f, sizeof(f), "%s.restartPolicy", path);
		api_cause_add(causes, "FieldValueNotSupported", f,
			      "Unsupported value: \"%s\": supported values: \"Always\", "
			      "\"OnFailure\", \"Never\"",
			      rp);
	}
	pod_spec_fields_validate(spec, path, causes);
}

/* The spec with the fields an update may change (images, activeDeadlineSeconds...) blanked. */
static json_t *pod_spec_fixed(const json_t *spec)
{
	static const char *const lists[] = {"containers", "initContainers", NULL};
	json_t *s = json_deep_copy(spec);

	for (const char *const *l = lists; *l; l++) {
		json_t *c;
		size_t i;

		json_array_foreach(json_object_get(s, *l), i, c) json_object_del(c, "image");
	}
	json_object_del(s, "activeDeadlineSeconds");
	json_object_del(s, "tolerations");
	json_object_del(s, "terminationGracePeriodSeconds");
	return s;
}

static void pod_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	api_pod_spec_validate(json_object_get(obj, "spec"), "spec", causes);
	if (old && json_is_object(json_object_get(obj, "spec"))) {
		_cleanup_json_ json_t *a = pod_spec_fixed(json_object_get(obj, "spec"));
		_cleanup_json_ json_t *b = pod_spec_fixed(json_object_get(old, "spec"));

		if (!json_equal(a, b))
			api_cause_add(causes, "FieldValueForbidden", "spec",
				      "Forbidden: pod updates may not change fields other than "
				      "`spec.containers[*].image`,`spec.initContainers[*].image`,"
				      "`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
				      "additions to existing tolerations),"
				      "`spec.terminationGracePeriodSeconds` (allow it to be set to "
				      "1 if it was previously negative)");
	}
}

/* Events. */

static const struct api_column event_columns[] = {{"Last Seen", "string", NULL, 0},
						  {"Type", "string", NULL, 0},
						  {"Reason", "string", NULL, 0},
						  {"Object", "string", NULL, 0},
						  {"Subobject", "string", NULL, 1},
						  {"Source", "string", NULL, 1},
						  {"Message", "string", NULL, 0},
						  {"First Seen", "string", NULL, 1},
						  {"Count", "string", NULL, 1},
						  {"Name", "string", "name", 1},
						  {NULL}};

static json_t *event_cells(const json_t *obj)
{
	const char *last = api_jstr(obj, "lastTimestamp") ?: api_jstr(obj, "eventTime");
	const char *first = api_jstr(obj, "firstTimestamp") ?: api_jstr(obj, "eventTime");
	const char *kind = api_jstr(obj, "involvedObject.kind") ?: "";
	_cleanup_free_ char *lkind = k8c_xstrdup(kind);
	_cleanup_free_ char *object = NULL, *source = NULL;
	json_int_t count = json_integer_value(json_object_get(obj, "count"));
	char lasts[32], firsts[32], counts[24];

	for (char *p = lkind; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	object = k8c_xasprintf("%s/%s", lkind, api_jstr(obj, "involvedObject.name") ?: "");
	source = k8c_xasprintf("%s%s%s", api_jstr(obj, "source.component") ?: "",
			       api_jstr(obj, "source.host") ? ", " : "",
			       api_jstr(obj, "source.host") ?: "");
	api_age(last, lasts, sizeof(lasts));
	api_age(first, firsts, sizeof(firsts));
	snprintf(counts, sizeof(counts), "%lld", (long long)(count ? count : 1));
	return json_pack("[s, o, o, s, o, s, o, s, s, o]", lasts,
			 api_cell_str(api_jstr(obj, "type")), api_cell_str(api_jstr(obj, "reason")),
			 object, api_cell_str(api_jstr(obj, "involvedObject.fieldPath")), source,
			 api_cell_str(api_jstr(obj, "message")), firsts, counts,
			 api_cell_name(obj));
}

static void event_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	if (!json_is_object(json_object_get(obj, "involvedObject")))
		api_cause_add(causes, "FieldValueRequired", "involvedObject", "Required value");
}

/* Nodes. */

static const struct api_column node_columns[] = {{"Name", "string", "name", 0},
						 {"Status", "string", NULL, 0},
						 {"Roles", "string", NULL, 0},
						 {"Age", "string", NULL, 0},
						 {"Version", "string", NULL, 0},
						 {"Internal-IP", "string", NULL, 1},
						 {"External-IP", "string", NULL, 1},
						 {"OS-Image", "string", NULL, 1},
						 {"Kernel-Version", "string", NULL, 1},
						 {"Container-Runtime", "string", NULL, 1},
						 {NULL}};

static json_t *node_cells(const json_t *obj)
{
	char status[64] = "Unknown", *roles = NULL;
	size_t rlen = 0, i;
	FILE *f = open_memstream(&roles, &rlen);
	const char *k;
	json_t *v, *c, *out;

	json_array_foreach(api_jget(obj, "status.conditions"), i,
			   c) if (api_jstr(c, "type") && strcmp(api_jstr(c, "type"), "Ready") == 0)
		snprintf(status, sizeof(status), "%s",
			 strcmp(api_jstr(c, "status") ?: "", "True") == 0 ? "Ready" : "NotReady");
	if (json_is_true(api_jget(obj, "spec.unschedulable")))
		strncat(status, ",SchedulingDisabled", sizeof(status) - strlen(status) - 1);
	json_object_foreach(api_jget(obj, "metadata.labels"), k, v)
	{
		static const char pfx[] = "node-role.kubernetes.io/";

		if (strncmp(k, pfx, sizeof(pfx) - 1) == 0 && k[sizeof(pfx) - 1])
			fprintf(f, "%s%s", rlen ? "," : "", k + sizeof(pfx) - 1);
		fflush(f);
	}
	fclose(f);
	out = json_pack("[o, s, s, o, o, s, s, s, s, s]", api_cell_name(obj), status,
			or_none(roles), api_cell_age(obj),
			api_cell_str(api_jstr(obj, "status.nodeInfo.kubeletVersion")),
			or_none(k8c_node_address(obj, "InternalIP")),
			or_none(k8c_node_address(obj, "ExternalIP")),
			or_none(api_jstr(obj, "status.nodeInfo.osImage")),
			or_none(api_jstr(obj, "status.nodeInfo.kernelVersion")),
			or_none(api_jstr(obj, "status.nodeInfo.containerRuntimeVersion")));
	free(roles);
	return out;
}

/* SetDefaults_NodeStatus: allocatable is the capacity when not given; canonical quantities. */
static void node_defaults(json_t *obj)
{
	json_t *st = json_object_get(obj, "status"), *cap = json_object_get(st, "capacity");

	api_quantities_canonical(cap);
	api_quantities_canonical(json_object_get(st, "allocatable"));
	if (json_is_object(cap) && !json_object_get(st, "allocatable"))
		json_object_set_new(st, "allocatable", json_deep_copy(cap));
}

/* PersistentVolumes and claims. */

static json_t *access_modes_cell(const json_t *modes)
{
	static const char *const map[][2] = {{"ReadWriteOnce", "RWO"},
					     {"ReadOnlyMany", "ROX"},
					     {"ReadWriteMany", "RWX"},
					     {"ReadWriteOncePod", "RWOP"}};
	char buf[64] = "";
	json_t *m;
	size_t i;

	json_array_foreach(modes, i, m) for (size_t j = 0; j < 4;
					     j++) if (json_string_value(m) &&
						      !strcmp(json_string_value(m), map[j][0]))
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", *buf ? "," : "",
			 map[j][1]);
	return json_string(buf);
}

static const struct api_column pv_columns[] = {
	{"Name", "string", "name", 0},	     {"Capacity", "string", NULL, 0},
	{"Access Modes", "string", NULL, 0}, {"Reclaim Policy", "string", NULL, 0},
	{"Status", "string", NULL, 0},	     {"Claim", "string", NULL, 0},
	{"StorageClass", "string", NULL, 0}, {"VolumeAttributesClass", "string", NULL, 0},
	{"Reason", "string", NULL, 0},	     {"Age", "string", NULL, 0},
	{"VolumeMode", "string", NULL, 1},   {NULL}};

static json_t *pv_cells(const json_t *obj)
{
	_cleanup_free_ char *claim = NULL;

	if (api_jget(obj, "spec.claimRef"))
		claim = k8c_xasprintf("%s/%s", api_jstr(obj, "spec.claimRef.namespace") ?: "",
				      api_jstr(obj, "spec.claimRef.name") ?: "");
	return json_pack("[o, o, o, o, o, s, o, s, o, o, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "spec.capacity.storage")),
			 access_modes_cell(api_jget(obj, "spec.accessModes")),
			 api_cell_str(api_jstr(obj, "spec.persistentVolumeReclaimPolicy")),
			 api_cell_str(api_jstr(obj, "status.phase")), claim ? claim : "",
			 api_cell_str(api_jstr(obj, "spec.storageClassName")),
			 api_jstr(obj, "spec.volumeAttributesClassName") ?: "<unset>",
			 api_cell_str(api_jstr(obj, "status.reason")), api_cell_age(obj),
			 api_cell_str(api_jstr(obj, "spec.volumeMode")));
}

static void pv_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec");

	api_quantities_canonical(json_object_get(spec, "capacity"));
	api_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
	api_default_str(spec, "volumeMode", "Filesystem");
}

static void pv_on_create(json_t *obj)
{
	json_object_set_new(api_jobj(obj, "status"), "phase", json_string("Pending"));
}

static const struct api_column pvc_columns[] = {{"Name", "string", "name", 0},
						{"Status", "string", NULL, 0},
						{"Volume", "string", NULL, 0},
						{"Capacity", "string", NULL, 0},
						{"Access Modes", "string", NULL, 0},
						{"StorageClass", "string", NULL, 0},
						{"VolumeAttributesClass", "string", NULL, 0},
						{"Age", "string", NULL, 0},
						{"VolumeMode", "string", NULL, 1},
						{NULL}};

static json_t *pvc_cells(const json_t *obj)
{
	return json_pack("[o, o, o, o, o, o, s, o, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "status.phase")),
			 api_cell_str(api_jstr(obj, "spec.volumeName")),
			 api_cell_str(api_jstr(obj, "status.capacity.storage")),
			 access_modes_cell(api_jget(obj, "status.accessModes")),
			 api_cell_str(api_jstr(obj, "spec.storageClassName")),
			 api_jstr(obj, "spec.volumeAttributesClassName") ?: "<unset>",
			 api_cell_age(obj), api_cell_str(api_jstr(obj, "spec.volumeMode")));
}

static void pvc_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec");

	api_default_str(spec, "volumeMode", "Filesystem");
	api_quantities_canonical(api_jget(spec, "resources.requests"));
	api_quantities_canonical(api_jget(spec, "resources.limits"));
}

static void pv_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *rp = api_jstr(obj, "spec.persistentVolumeReclaimPolicy");

	if (!json_array_size(api_jget(obj, "spec.accessModes")))
		api_cause_add(causes, "FieldValueRequired", "spec.accessModes", "Required value");
	if (!api_jget(obj, "spec.capacity"))
		api_cause_add(causes, "FieldValueRequired", "spec.capacity", "Required value");
	api_validate_resource_list(api_jget(obj, "spec.capacity"), "spec.capacity", false, causes);
	if (rp && strcmp(rp, "Recycle") && strcmp(rp, "Delete") && strcmp(rp, "Retain"))
		api_cause_add(causes, "FieldValueNotSupported",
			      "spec.persistentVolumeReclaimPolicy",
			      "Unsupported value: \"%s\": supported values: \"Delete\", "
			      "\"Recycle\", \"Retain\"",
			      rp);
}

static void pvc_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	if (!json_array_size(api_jget(obj, "spec.accessModes")))
		api_cause_add(causes, "FieldValueRequired", "spec.accessModes", "Required value");
	if (!api_jget(obj, "spec.resources.requests.storage") &&
	    !api_jget(obj, "spec.dataSourceRef"))
		api_cause_add(causes, "FieldValueRequired", "spec.resources[storage]",
			      "Required value");
	api_validate_resource_list(api_jget(obj, "spec.resources.requests"),
				   "spec.resources.requests", false, causes);
	api_validate_resource_list(api_jget(obj, "spec.resources.limits"), "spec.resources.limits",
				   false, causes);
}

/* ResourceQuotas and LimitRanges. */

static const struct api_column quota_columns[] = {{"Name", "string", "name", 0},
						  {"Age", "string", NULL, 0},
						  {"Request", "string", NULL, 0},
						  {"Limit", "string", NULL, 0},
						  {NULL}};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "cpu: 0/4, pods: 0/10" by sorted resource name, limits.* apart (printResourceQuota). */
static json_t *quota_cells(const json_t *obj)
{
	json_t *hard = api_jget(obj, "spec.hard"), *v, *out;
	json_t *shard = api_jget(obj, "status.hard"), *used = api_jget(obj, "status.used");
	size_t n = json_is_object(hard) ? json_object_size(hard) : 0, i = 0;
	_cleanup_free_ const char **keys = k8c_xmalloc((n ? n : 1) * sizeof(*keys));
	char *req = NULL, *lim = NULL;
	size_t rlen = 0, llen = 0;
	FILE *r = open_memstream(&req, &rlen), *l = open_memstream(&lim, &llen);
	const char *k;

	json_object_foreach(hard, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		const char *u = json_string_value(json_object_get(used, keys[i]));
		const char *h = json_string_value(json_object_get(shard, keys[i]))
					?: json_string_value(json_object_get(hard, keys[i]));
		bool is_limit = strncmp(keys[i], "limits.", 7) == 0;
		FILE *f = is_limit ? l : r;

		fflush(r);
		fflush(l);
		fprintf(f, "%s%s: %s/%s", (is_limit ? llen : rlen) ? ", " : "", keys[i], u ?: "0",
			h ?: "0");
	}
	fclose(r);
	fclose(l);
	out = json_pack("[o, o, s, s]", api_cell_name(obj), api_cell_age(obj), req, lim);
	free(req);
	free(lim);
	return out;
}

static void quota_defaults(json_t *obj)
{
	api_quantities_canonical(api_jget(obj, "spec.hard"));
}

static void quota_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	api_validate_resource_list(api_jget(obj, "spec.hard"), "spec.hard", false, causes);
	quota_validate_scopes(obj, causes);
}

/* SetDefaults_LimitRangeItem: for containers, default <- max, defaultRequest <- default, min. */
static void limits_defaults(json_t *obj)
{
	static const char *const lists[] = {
		"max", "min", "default", "defaultRequest", "maxLimitRequestRatio", NULL};
	json_t *item;
	size_t i;

	json_array_foreach(api_jget(obj, "spec.limits"), i, item)
	{
		const char *k;
		json_t *v;

		if (!json_is_object(item))
			continue;
		for (const char *const *l = lists; *l; l++)
			api_quantities_canonical(json_object_get(item, *l));
		if (strcmp(api_jstr(item, "type") ?: "", "Container") != 0)
			continue;
		json_object_foreach(json_object_get(item, "max"), k,
				    v) if (!json_object_get(json_object_get(item, "default"), k))
			json_object_set(api_jobj(item, "default"), k, v);
		json_object_foreach(
			json_object_get(item, "default"), k,
			v) if (!json_object_get(json_object_get(item, "defaultRequest"), k))
			json_object_set(api_jobj(item, "defaultRequest"), k, v);
		json_object_foreach(
			json_object_get(item, "min"), k,
			v) if (!json_object_get(json_object_get(item, "defaultRequest"), k))
			json_object_set(api_jobj(item, "defaultRequest"), k, v);
	}
}

/* ValidateLimitRange: a supported type, valid quantities, min <= defaultRequest <= default <= max. */
static void limits_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const lists[] = {
		"max", "min", "default", "defaultRequest", "maxLimitRequestRatio", NULL};
	static const char *const order[][2] = {{"min", "max"},	   {"min", "defaultRequest"},
					       {"min", "default"}, {"defaultRequest", "default"},
					       {"default", "max"}, {"defaultRequest", "max"}};
	static const char *const what[] = {"min", "default request", "default", "max"};
	json_t *item;
	size_t i;
	char f[128];

	json_array_foreach(api_jget(obj, "spec.limits"), i, item)
	{
		const char *t = api_jstr(item, "type");
		const char *k;
		json_t *v;

		snprintf(f, sizeof(f), "spec.limits[%zu].type", i);
		if (!t || !*t)
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		else if (strcmp(t, "Pod") && strcmp(t, "Container") &&
			 strcmp(t, "PersistentVolumeClaim"))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: "
				      "\"Container\", \"PersistentVolumeClaim\", \"Pod\"",
				      t);
		for (const char *const *l = lists; *l; l++) {
			snprintf(f, sizeof(f), "spec.limits[%zu].%s", i, *l);
			api_validate_resource_list(json_object_get(item, *l), f, false, causes);
		}
		for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
			json_object_foreach(json_object_get(item, order[o][0]), k, v)
			{
				struct api_quantity a, b;
				char at[64], bt[64];
				json_t *w = json_object_get(json_object_get(item, order[o][1]), k);
				int ai = strcmp(order[o][0], "min") == 0	      ? 0
					 : strcmp(order[o][0], "defaultRequest") == 0 ? 1
										      : 2;
				int bi = strcmp(order[o][1], "max") == 0       ? 3
					 : strcmp(order[o][1], "default") == 0 ? 2
									       : 1;

				if (!w || api_quantity_parse_json(v, &a) ||
				    api_quantity_parse_json(w, &b) || api_quantity_cmp(&a, &b) <= 0)
					continue;
				api_quantity_format(&a, at, sizeof(at));
				api_quantity_format(&b, bt, sizeof(bt));
				snprintf(f, sizeof(f), "spec.limits[%zu].%s[%s]", i, order[o][0],
					 k);
				api_cause_add(causes, "FieldValueInvalid", f,
					      "Invalid value: \"%s\": %s value %s is greater than "
					      "%s value %s",
					      at, what[ai], at, what[bi], bt);
			}
		}
	}
}

static const struct api_column limits_columns[] = {
	{"Name", "string", "name", 0}, {"Created At", "date", NULL, 0}, {NULL}};

static json_t *limits_cells(const json_t *obj)
{
	return json_pack("[o, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "metadata.creationTimestamp")));
}

/* ReplicationControllers. */

/* kubectl prints ReplicationControllers and ReplicaSets with the same columns. */
const struct api_column api_replicas_columns[] = {{"Name", "string", "name", 0},
						  {"Desired", "integer", NULL, 0},
						  {"Current", "integer", NULL, 0},
						  {"Ready", "integer", NULL, 0},
						  {"Age", "string", NULL, 0},
						  {"Containers", "string", NULL, 1},
						  {"Images", "string", NULL, 1},
						  {"Selector", "string", NULL, 1},
						  {NULL}};

static json_t *rc_cells(const json_t *obj)
{
	json_t *pspec = api_jget(obj, "spec.template.spec");

	return json_pack("[o, I, I, I, o, o, o, o]", api_cell_name(obj),
			 json_integer_value(api_jget(obj, "spec.replicas")),
			 json_integer_value(api_jget(obj, "status.replicas")),
			 json_integer_value(api_jget(obj, "status.readyReplicas")),
			 api_cell_age(obj), api_cell_containers(pspec, "name"),
			 api_cell_containers(pspec, "image"),
			 map_cell(api_jget(obj, "spec.selector")));
}

static void rc_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec"), *tmpl = json_object_get(spec, "template");

	api_default_int(spec, "replicas", 1);
	if (json_is_object(tmpl)) {
		json_t *labels = api_jget(tmpl, "metadata.labels");

		if (!json_object_size(json_object_get(spec, "selector")) && json_is_object(labels))
			json_object_set_new(spec, "selector", json_deep_copy(labels));
		/* and the RC's own labels, when it has none */
		if (!json_object_size(api_jget(obj, "metadata.labels")) && json_object_size(labels))
			json_object_set_new(api_jobj(obj, "metadata"), "labels",
					    json_deep_copy(labels));
		api_pod_spec_defaults(api_jobj(tmpl, "spec"));
	}
}

static void rc_on_create(json_t *obj)
{
	json_object_set_new(obj, "status", json_pack("{s:i}", "replicas", 0));
}

static void rc_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	json_t *sel = api_jget(obj, "spec.selector"),
	       *labels = api_jget(obj, "spec.template.metadata.labels");
	const char *k;
	json_t *v;

	api_validate_nonnegative(api_jget(obj, "spec.replicas"), "spec.replicas", causes);
	api_validate_nonnegative(api_jget(obj, "spec.minReadySeconds"), "spec.minReadySeconds",
				 causes);
	if (!json_object_size(sel))
		api_cause_add(causes, "FieldValueRequired", "spec.selector", "Required value");
	else
		api_validate_labels(sel, "spec.selector", causes);
	if (!json_is_object(api_jget(obj, "spec.template"))) {
		api_cause_add(causes, "FieldValueRequired", "spec.template", "Required value");
		return;
	}
	json_object_foreach(sel, k, v)
	{
		if (!json_equal(v, json_object_get(labels, k))) {
			api_cause_add(causes, "FieldValueInvalid", "spec.template.metadata.labels",
				      "Invalid value: `selector` does not match template `labels`");
			break;
		}
	}
	api_validate_labels(labels, "spec.template.metadata.labels", causes);
	api_pod_spec_validate(api_jget(obj, "spec.template.spec"), "spec.template.spec", causes);
}

/* The table. */

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ALL	   NAMES("all")

#define CORE(res, singular_, kind_)                                                                \
	.group = "", .version = "v1", .resource = res, .singular = singular_, .kind = kind_

const struct api_resource api_registry[] = {
	{CORE("namespaces", "namespace", "Namespace"), .has_status = true,
	 .name_rule = API_NAME_LABEL, .short_names = NAMES("ns"), .columns = ns_columns,
	 .cells = ns_cells, .on_create = api_namespace_on_create, .on_update = ns_on_update,
	 .verbs = NAMES("create", "delete", "get", "list", "patch", "update", "watch")},
	{CORE("configmaps", "configmap", "ConfigMap"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("cm"), .columns = cm_columns,
	 .cells = cm_cells, .validate = cm_validate},
	{CORE("secrets", "secret", "Secret"), .namespaced = true, .name_rule = API_NAME_SUBDOMAIN,
	 .columns = secret_columns, .cells = secret_cells, .defaults = secret_defaults,
	 .validate = secret_validate},
	{CORE("serviceaccounts", "serviceaccount", "ServiceAccount"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("sa"), .columns = sa_columns,
	 .cells = sa_cells},
	{CORE("services", "service", "Service"), .namespaced = true, .has_status = true,
	 .name_rule = API_NAME_LABEL1035, .short_names = NAMES("svc"), .categories = ALL,
	 .columns = svc_columns, .cells = svc_cells, .defaults = svc_defaults,
	 .validate = svc_validate, .on_update = svc_on_update, .allocate = api_services_allocate},
	{CORE("endpoints", "endpoints", "Endpoints"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("ep"), .columns = ep_columns,
	 .cells = ep_cells, .defaults = ep_defaults},
	{CORE("pods", "pod", "Pod"), .namespaced = true, .has_status = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("po"), .categories = ALL,
	 .columns = pod_columns, .cells = pod_cells, .defaults = pod_defaults,
	 .on_create = pod_on_create, .validate = pod_validate},
	{CORE("events", "event", "Event"), .namespaced = true, .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("ev"), .columns = event_columns, .cells = event_cells,
	 .validate = event_validate},
	{CORE("nodes", "node", "Node"), .has_status = true, .create_keeps_status = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("no"), .columns = node_columns,
	 .cells = node_cells, .defaults = node_defaults},
	{CORE("persistentvolumes", "persistentvolume", "PersistentVolume"), .has_status = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("pv"), .columns = pv_columns,
	 .cells = pv_cells, .defaults = pv_defaults, .on_create = pv_on_create,
	 .validate = pv_validate},
	{CORE("persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim"),
	 .namespaced = true, .has_status = true, .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("pvc"), .columns = pvc_columns, .cells = pvc_cells,
	 .defaults = pvc_defaults, .on_create = pv_on_create, .validate = pvc_validate},
	{CORE("resourcequotas", "resourcequota", "ResourceQuota"), .namespaced = true,
	 .has_status = true, .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("quota"),
	 .columns = quota_columns, .cells = quota_cells, .defaults = quota_defaults,
	 .validate = quota_validate},
	{CORE("limitranges", "limitrange", "LimitRange"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("limits"), .columns = limits_columns,
	 .cells = limits_cells, .defaults = limits_defaults, .validate = limits_validate},
	{CORE("replicationcontrollers", "replicationcontroller", "ReplicationController"),
	 .namespaced = true, .has_status = true, .name_rule = API_NAME_SUBDOMAIN, .has_scale = true,
	 .short_names = NAMES("rc"), .categories = ALL, .columns = api_replicas_columns,
	 .cells = rc_cells, .defaults = rc_defaults, .on_create = rc_on_create,
	 .validate = rc_validate},
};

const size_t api_registry_n = sizeof(api_registry) / sizeof(api_registry[0]);

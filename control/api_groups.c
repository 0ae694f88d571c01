/*
 * The named API groups: apps/v1, networking.k8s.io/v1, discovery.k8s.io/v1, storage.k8s.io/v1,
 * coordination.k8s.io/v1, events.k8s.io/v1 and rbac.authorization.k8s.io/v1. Their registry
 * entries with each kind's Table cells, defaulting and validation, after Kubernetes'
 * pkg/apis/<group> (defaults.go, validation.go) and kubectl's printers
 * (pkg/printers/internalversion/printers.go); and the autoscaling/v1 Scale of the controllers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_kind.h"
#include "api_registry.h"
#include "api_validate.h"
#include "cleanup.h"

/* Helpers. */

static long long jint(const json_t *obj, const char *path)
{
	return (long long)json_integer_value(api_jget(obj, path));
}

/* A string built by a printf-like writer into a memstream. */
struct sbuf {
	char *buf;
	size_t len;
	FILE *f;
};

static void sbuf_open(struct sbuf *b)
{
	b->buf = NULL;
	b->len = 0;
	b->f = open_memstream(&b->buf, &b->len);
	if (!b->f)
		abort();
}

/* The text written (or none when empty) as a JSON string; b is released. */
static json_t *sbuf_cell(struct sbuf *b, const char *none)
{
	json_t *out;

	fclose(b->f);
	out = json_string(b->len || !none ? b->buf : none);
	free(b->buf);
	return out;
}

/* A LabelSelector as text ("app=web,tier in (a,b)"), as metav1.FormatLabelSelector. */
static void selector_write(FILE *f, const json_t *sel, bool map_only)
{
	const json_t *ml = map_only ? sel : json_object_get(sel, "matchLabels");
	const char *k;
	json_t *v, *e;
	bool first = true;
	size_t i, j;

	json_object_foreach((json_t *)ml, k, v)
	{
		fprintf(f, "%s%s=%s", first ? "" : ",", k, json_string_value(v) ?: "");
		first = false;
	}
	if (map_only)
		return;
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
	{
		const char *key = api_jstr(e, "key") ?: "", *op = api_jstr(e, "operator") ?: "";
		json_t *val;

		fputs(first ? "" : ",", f);
		first = false;
		if (strcmp(op, "Exists") == 0) {
			fputs(key, f);
			continue;
		}
		if (strcmp(op, "DoesNotExist") == 0) {
			fprintf(f, "!%s", key);
			continue;
		}
		fprintf(f, "%s %s (", key, strcmp(op, "NotIn") == 0 ? "notin" : "in");
		json_array_foreach(json_object_get(e, "values"), j, val)
			fprintf(f, "%s%s", j ? "," : "", json_string_value(val) ?: "");
		fputc(')', f);
	}
}

static json_t *selector_cell(const json_t *sel, bool map_only)
{
	struct sbuf b;

	sbuf_open(&b);
	selector_write(b.f, sel, map_only);
	return sbuf_cell(&b, "<none>");
}

/* Whether labels satisfy a LabelSelector (matchLabels and matchExpressions). */
static bool selector_matches(const json_t *sel, const json_t *labels)
{
	const char *k;
	json_t *v, *e;
	size_t i;

	json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
	{
		if (!json_equal(v, json_object_get(labels, k)))
			return false;
	}
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
	{
		const char *op = api_jstr(e, "operator") ?: "";
		const char *have =
			json_string_value(json_object_get(labels, api_jstr(e, "key") ?: ""));
		bool in = false;
		json_t *val;
		size_t j;

		json_array_foreach(json_object_get(e, "values"), j, val) in |=
			have && json_string_value(val) && strcmp(have, json_string_value(val)) == 0;
		if ((strcmp(op, "In") == 0 && !in) || (strcmp(op, "NotIn") == 0 && in) ||
		    (strcmp(op, "Exists") == 0 && !have) ||
		    (strcmp(op, "DoesNotExist") == 0 && have))
			return false;
	}
	return true;
}

/* Whether LabelSelectorAsSelector takes sel: operators known, values as they need. */
static bool selector_convertible(const json_t *sel)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
	{
		const char *op = api_jstr(e, "operator") ?: "";
		size_t nv = json_array_size(json_object_get(e, "values"));

		if (((!strcmp(op, "In") || !strcmp(op, "NotIn")) && !nv) ||
		    ((!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) && nv) ||
		    (strcmp(op, "In") && strcmp(op, "NotIn") && strcmp(op, "Exists") &&
		     strcmp(op, "DoesNotExist")))
			return false;
	}
	return true;
}

/*
 * apps/v1 (ValidateDeploymentSpec and its siblings): a selector is required, not empty, is
 * immutable and selects the template's labels; the template restarts Always and has no
 * activeDeadlineSeconds. what names the kind in kube's "empty selector" message.
 */
static void selector_validate_as(const json_t *obj, const json_t *old, const char *what,
				 json_t *causes)
{
	json_t *sel = api_jget(obj, "spec.selector");
	json_t *labels = api_jget(obj, "spec.template.metadata.labels");
	const char *rp = api_jstr(obj, "spec.template.spec.restartPolicy");
	bool empty = !json_object_size(json_object_get(sel, "matchLabels")) &&
		     !json_array_size(json_object_get(sel, "matchExpressions"));

	if (!json_is_object(sel)) {
		api_cause_add(causes, "FieldValueRequired", "spec.selector", "Required value");
	} else {
		api_validate_label_selector(sel, "spec.selector", causes);
		if (empty) {
			_cleanup_free_ char *t = api_go_label_selector(sel);

			api_cause_add(causes, "FieldValueInvalid", "spec.selector",
				      "Invalid value: %s: empty selector is invalid for %s", t,
				      what);
		}
	}
	if (old && !json_equal(sel, api_jget(old, "spec.selector"))) {
		_cleanup_free_ char *t = api_go_label_selector(sel);

		api_cause_add(causes, "FieldValueInvalid", "spec.selector",
			      "Invalid value: %s: field is immutable", t);
	}
	if (json_is_object(sel) && !selector_convertible(sel)) {
		_cleanup_free_ char *t = api_go_label_selector(sel);

		/* kube validates no template when the selector does not convert */
		api_cause_add(causes, "FieldValueInvalid", "spec.selector",
			      "Invalid value: %s: invalid label selector", t);
		return;
	}
	if (!json_is_object(api_jget(obj, "spec.template"))) {
		api_cause_add(causes, "FieldValueRequired", "spec.template", "Required value");
		return;
	}
	/* a missing selector matches nothing, an empty one everything (kube skips that) */
	if ((!json_is_object(sel) || !empty) &&
	    (!json_is_object(sel) || !selector_matches(sel, labels))) {
		_cleanup_free_ char *t = api_go_string_map(labels);

		api_cause_add(causes, "FieldValueInvalid", "spec.template.metadata.labels",
			      "Invalid value: %s: `selector` does not match template `labels`", t);
	}
	api_validate_labels(labels, "spec.template.metadata.labels", causes);
	api_validate_annotations(api_jget(obj, "spec.template.metadata.annotations"),
				 "spec.template.metadata.annotations", causes);
	api_pod_spec_validate(api_jget(obj, "spec.template.spec"), "spec.template.spec", causes);
	if (rp && strcmp(rp, "Always") != 0)
		api_cause_add(causes, "FieldValueNotSupported", "spec.template.spec.restartPolicy",
			      "Unsupported value: \"%s\": supported values: \"Always\"", rp);
	if (api_jget(obj, "spec.template.spec.activeDeadlineSeconds"))
		api_cause_add(causes, "FieldValueForbidden",
			      "spec.template.spec.activeDeadlineSeconds",
			      "Forbidden: activeDeadlineSeconds in %s is not Supported",
			      strcmp(what, "daemonset") == 0	 ? "DaemonSet"
			      : strcmp(what, "statefulset") == 0 ? "StatefulSet"
								 : "ReplicaSet");
}

/* replicas, revisionHistoryLimit and minReadySeconds are counts (>= 0) when present. */
static void replicas_validate(const json_t *obj, json_t *causes)
{
	static const char *const counts[] = {"replicas", "revisionHistoryLimit", "minReadySeconds",
					     NULL};
	json_t *spec = json_object_get(obj, "spec");
	char f[64];

	for (const char *const *c = counts; *c; c++) {
		snprintf(f, sizeof(f), "spec.%s", *c);
		api_validate_nonnegative(json_object_get(spec, *c), f, causes);
	}
}

/* A rolling update's maxSurge and maxUnavailable (ValidateRollingUpdateDeployment). */
static void rolling_validate(const json_t *ru, const char *path, json_t *causes)
{
	json_t *mu = json_object_get(ru, "maxUnavailable"), *ms = json_object_get(ru, "maxSurge");
	char f[128];

	snprintf(f, sizeof(f), "%s.maxUnavailable", path);
	api_validate_int_or_percent(mu, f, causes);
	if (json_is_string(mu) && atoi(json_string_value(mu)) > 100) {
		_cleanup_free_ char *t = api_intstr_text(mu);

		api_cause_add(causes, "FieldValueInvalid", f,
			      "Invalid value: %s: must not be greater than 100%%", t);
	}
	if (api_intstr_zero(mu) && api_intstr_zero(ms)) {
		_cleanup_free_ char *t = api_intstr_text(mu);

		api_cause_add(causes, "FieldValueInvalid", f,
			      "Invalid value: %s: may not be 0 when `maxSurge` is 0", t);
	}
	snprintf(f, sizeof(f), "%s.maxSurge", path);
	api_validate_int_or_percent(ms, f, causes);
}

static void template_defaults(json_t *spec)
{
	json_t *tmpl = json_object_get(spec, "template");

	if (json_is_object(tmpl))
		api_pod_spec_defaults(api_jobj(tmpl, "spec"));
}

/* Deployments and ReplicaSets (kube's ReplicaSet message says "deployment" too). */
static void controller_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	replicas_validate(obj, causes);
	selector_validate_as(obj, old, "deployment", causes);
}

/* The status a controller starts with (its controller fills it in later). */
static void controller_on_create(json_t *obj)
{
	json_object_set_new(obj, "status", json_object());
}

/* Deployments. */

static const struct api_column deploy_columns[] = {{"Name", "string", "name", 0},
						   {"Ready", "string", NULL, 0},
						   {"Up-to-date", "integer", NULL, 0},
						   {"Available", "integer", NULL, 0},
						   {"Age", "string", NULL, 0},
						   {"Containers", "string", NULL, 1},
						   {"Images", "string", NULL, 1},
						   {"Selector", "string", NULL, 1},
						   {NULL}};

static json_t *deploy_cells(const json_t *obj)
{
	json_t *pspec = api_jget(obj, "spec.template.spec");
	char ready[48];

	snprintf(ready, sizeof(ready), "%lld/%lld", jint(obj, "status.readyReplicas"),
		 jint(obj, "spec.replicas"));
	return json_pack("[o, s, I, I, o, o, o, o]", api_cell_name(obj), ready,
			 (json_int_t)jint(obj, "status.updatedReplicas"),
			 (json_int_t)jint(obj, "status.availableReplicas"), api_cell_age(obj),
			 api_cell_containers(pspec, "name"), api_cell_containers(pspec, "image"),
			 selector_cell(api_jget(obj, "spec.selector"), false));
}

static void deploy_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec"), *strategy = api_jobj(spec, "strategy");

	api_default_int(spec, "replicas", 1);
	api_default_str(strategy, "type", "RollingUpdate");
	if (strcmp(api_jstr(strategy, "type"), "RollingUpdate") == 0) {
		json_t *ru = api_jobj(strategy, "rollingUpdate");

		if (!json_object_get(ru, "maxUnavailable"))
			json_object_set_new(ru, "maxUnavailable", json_string("25%"));
		if (!json_object_get(ru, "maxSurge"))
			json_object_set_new(ru, "maxSurge", json_string("25%"));
	}
	api_default_int(spec, "revisionHistoryLimit", 10);
	api_default_int(spec, "progressDeadlineSeconds", 600);
	template_defaults(spec);
}

static void deploy_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t = api_jstr(obj, "spec.strategy.type");

	controller_validate(obj, old, causes);
	if (t && strcmp(t, "RollingUpdate") && strcmp(t, "Recreate"))
		api_cause_add(causes, "FieldValueNotSupported", "spec.strategy.type",
			      "Unsupported value: \"%s\": supported values: \"Recreate\", "
			      "\"RollingUpdate\"",
			      t);
	if (t && strcmp(t, "Recreate") == 0 && api_jget(obj, "spec.strategy.rollingUpdate"))
		api_cause_add(causes, "FieldValueForbidden", "spec.strategy.rollingUpdate",
			      "Forbidden: may not be specified when strategy `type` is "
			      "'Recreate'");
	else if (json_is_object(api_jget(obj, "spec.strategy.rollingUpdate")))
		rolling_validate(api_jget(obj, "spec.strategy.rollingUpdate"),
				 "spec.strategy.rollingUpdate", causes);
	api_validate_nonnegative(api_jget(obj, "spec.progressDeadlineSeconds"),
				 "spec.progressDeadlineSeconds", causes);
	if (json_is_integer(api_jget(obj, "spec.progressDeadlineSeconds")) &&
	    jint(obj, "spec.progressDeadlineSeconds") <= jint(obj, "spec.minReadySeconds"))
		api_cause_add(causes, "FieldValueInvalid", "spec.progressDeadlineSeconds",
			      "Invalid value: %lld: must be greater than minReadySeconds",
			      jint(obj, "spec.progressDeadlineSeconds"));
}

static void ds_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t = api_jstr(obj, "spec.updateStrategy.type");

	replicas_validate(obj, causes);
	selector_validate_as(obj, old, "daemonset", causes);
	if (t && strcmp(t, "RollingUpdate") && strcmp(t, "OnDelete"))
		api_cause_add(causes, "FieldValueNotSupported", "spec.updateStrategy.type",
			      "Unsupported value: \"%s\": supported values: \"OnDelete\", "
			      "\"RollingUpdate\"",
			      t);
	if (t && strcmp(t, "RollingUpdate") == 0 &&
	    json_is_object(api_jget(obj, "spec.updateStrategy.rollingUpdate")))
		rolling_validate(api_jget(obj, "spec.updateStrategy.rollingUpdate"),
				 "spec.updateStrategy.rollingUpdate", causes);
}

static void sts_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t = api_jstr(obj, "spec.updateStrategy.type");
	const char *pm = api_jstr(obj, "spec.podManagementPolicy");

	replicas_validate(obj, causes);
	selector_validate_as(obj, old, "statefulset", causes);
	if (pm && strcmp(pm, "OrderedReady") && strcmp(pm, "Parallel"))
		api_cause_add(causes, "FieldValueInvalid", "spec.podManagementPolicy",
			      "Invalid value: \"%s\": must be 'OrderedReady' or 'Parallel'", pm);
	if (t && strcmp(t, "RollingUpdate") && strcmp(t, "OnDelete"))
		api_cause_add(causes, "FieldValueInvalid", "spec.updateStrategy",
			      "Invalid value: \"%s\": must be 'RollingUpdate' or 'OnDelete'", t);
	api_validate_nonnegative(api_jget(obj, "spec.updateStrategy.rollingUpdate.partition"),
				 "spec.updateStrategy.rollingUpdate.partition", causes);
}

/* ReplicaSets. */

static json_t *rs_cells(const json_t *obj)
{
	json_t *pspec = api_jget(obj, "spec.template.spec");

	return json_pack("[o, I, I, I, o, o, o, o]", api_cell_name(obj),
			 (json_int_t)jint(obj, "spec.replicas"),
			 (json_int_t)jint(obj, "status.replicas"),
			 (json_int_t)jint(obj, "status.readyReplicas"), api_cell_age(obj),
			 api_cell_containers(pspec, "name"), api_cell_containers(pspec, "image"),
			 selector_cell(api_jget(obj, "spec.selector"), false));
}

static void rs_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec");

	api_default_int(spec, "replicas", 1);
	template_defaults(spec);
}

static void rs_on_create(json_t *obj)
{
	json_object_set_new(obj, "status", json_pack("{s:i}", "replicas", 0));
}

/* DaemonSets. */

static const struct api_column ds_columns[] = {
	{"Name", "string", "name", 0},	      {"Desired", "integer", NULL, 0},
	{"Current", "integer", NULL, 0},      {"Ready", "integer", NULL, 0},
	{"Up-to-date", "integer", NULL, 0},   {"Available", "integer", NULL, 0},
	{"Node Selector", "string", NULL, 0}, {"Age", "string", NULL, 0},
	{"Containers", "string", NULL, 1},    {"Images", "string", NULL, 1},
	{"Selector", "string", NULL, 1},      {NULL}};

static json_t *ds_cells(const json_t *obj)
{
	json_t *pspec = api_jget(obj, "spec.template.spec");

	return json_pack("[o, I, I, I, I, I, o, o, o, o, o]", api_cell_name(obj),
			 (json_int_t)jint(obj, "status.desiredNumberScheduled"),
			 (json_int_t)jint(obj, "status.currentNumberScheduled"),
			 (json_int_t)jint(obj, "status.numberReady"),
			 (json_int_t)jint(obj, "status.updatedNumberScheduled"),
			 (json_int_t)jint(obj, "status.numberAvailable"),
			 selector_cell(json_object_get(pspec, "nodeSelector"), true),
			 api_cell_age(obj), api_cell_containers(pspec, "name"),
			 api_cell_containers(pspec, "image"),
			 selector_cell(api_jget(obj, "spec.selector"), false));
}

static void ds_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec"), *us = api_jobj(spec, "updateStrategy");

	api_default_str(us, "type", "RollingUpdate");
	if (strcmp(api_jstr(us, "type"), "RollingUpdate") == 0) {
		json_t *ru = api_jobj(us, "rollingUpdate");

		if (!json_object_get(ru, "maxUnavailable"))
			json_object_set_new(ru, "maxUnavailable", json_integer(1));
		if (!json_object_get(ru, "maxSurge"))
			json_object_set_new(ru, "maxSurge", json_integer(0));
	}
	api_default_int(spec, "revisionHistoryLimit", 10);
	template_defaults(spec);
}

static void ds_on_create(json_t *obj)
{
	json_object_set_new(obj, "status",
			    json_pack("{s:i, s:i, s:i, s:i}", "currentNumberScheduled", 0,
				      "numberMisscheduled", 0, "desiredNumberScheduled", 0,
				      "numberReady", 0));
}

/* StatefulSets. */

static const struct api_column sts_columns[] = {
	{"Name", "string", "name", 0}, {"Ready", "string", NULL, 0},
	{"Age", "string", NULL, 0},    {"Containers", "string", NULL, 1},
	{"Images", "string", NULL, 1}, {NULL}};

static json_t *sts_cells(const json_t *obj)
{
	json_t *pspec = api_jget(obj, "spec.template.spec");
	char ready[48];

	snprintf(ready, sizeof(ready), "%lld/%lld", jint(obj, "status.readyReplicas"),
		 jint(obj, "spec.replicas"));
	return json_pack("[o, s, o, o, o]", api_cell_name(obj), ready, api_cell_age(obj),
			 api_cell_containers(pspec, "name"), api_cell_containers(pspec, "image"));
}

static void sts_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec"), *us = api_jobj(spec, "updateStrategy");
	json_t *ret = api_jobj(spec, "persistentVolumeClaimRetentionPolicy");

	api_default_int(spec, "replicas", 1);
	api_default_str(spec, "podManagementPolicy", "OrderedReady");
	api_default_str(us, "type", "RollingUpdate");
	if (strcmp(api_jstr(us, "type"), "RollingUpdate") == 0)
		api_default_int(api_jobj(us, "rollingUpdate"), "partition", 0);
	api_default_int(spec, "revisionHistoryLimit", 10);
	api_default_str(ret, "whenDeleted", "Retain");
	api_default_str(ret, "whenScaled", "Retain");
	template_defaults(spec);
}

static void sts_on_create(json_t *obj)
{
	json_object_set_new(obj, "status",
			    json_pack("{s:i, s:i}", "replicas", 0, "availableReplicas", 0));
}

/* Ingresses and IngressClasses. */

static const struct api_column ing_columns[] = {{"Name", "string", "name", 0},
						{"Class", "string", NULL, 0},
						{"Hosts", "string", NULL, 0},
						{"Address", "string", NULL, 0},
						{"Ports", "string", NULL, 0},
						{"Age", "string", NULL, 0},
						{NULL}};

static json_t *ing_cells(const json_t *obj)
{
	struct sbuf hosts, addrs;
	json_t *e;
	size_t i;
	bool first = true;
	const char *cls = api_jstr(obj, "spec.ingressClassName");

	sbuf_open(&hosts);
	json_array_foreach(api_jget(obj, "spec.rules"), i, e)
	{
		const char *h = api_jstr(e, "host");

		if (h && *h) {
			fprintf(hosts.f, "%s%s", first ? "" : ",", h);
			first = false;
		}
	}
	if (first)
		fputc('*', hosts.f);
	sbuf_open(&addrs);
	json_array_foreach(api_jget(obj, "status.loadBalancer.ingress"), i, e)
		fprintf(addrs.f, "%s%s", i ? "," : "", api_jstr(e, "ip") ?: api_jstr(e, "hostname") ?: "");
	return json_pack(
		"[o, o, o, o, s, o]", api_cell_name(obj), json_string(cls ? cls : "<none>"),
		sbuf_cell(&hosts, NULL), sbuf_cell(&addrs, ""),
		json_array_size(api_jget(obj, "spec.tls")) ? "80, 443" : "80", api_cell_age(obj));
}

static void ing_backend_validate(const json_t *b, const char *path, json_t *causes)
{
	char f[128];

	if (!api_jget(b, "service") && !api_jget(b, "resource")) {
		api_cause_add(causes, "FieldValueInvalid", path,
			      "Invalid value: \"\": must specify one of: `resource` or `service`");
		return;
	}
	if (api_jget(b, "service")) {
		snprintf(f, sizeof(f), "%s.service.name", path);
		if (!api_jstr(b, "service.name") || !*api_jstr(b, "service.name"))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		snprintf(f, sizeof(f), "%s.service.port", path);
		if (!api_jget(b, "service.port.number") && !api_jstr(b, "service.port.name"))
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"\": must specify `name` or `number`");
	}
}

/* An IP address literal (IPv4 dotted quad or anything with a ':'). */
static bool looks_like_ip(const char *s)
{
	unsigned a, b, c, d;
	char tail;

	return strchr(s, ':') || sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4;
}

/* An Ingress rule's host: a DNS subdomain, or a wildcard "*.example.com"; not an IP. */
static void host_validate(const char *host, const char *field, json_t *causes)
{
	if (looks_like_ip(host))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must be a DNS name, not an IP address", host);
	if (!strchr(host, '*')) {
		api_validate_subdomain(host, field, causes);
		return;
	}
	if (strlen(host) > 253)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must be no more than 253 characters", host);
	if (strncmp(host, "*.", 2) != 0 || api_name_error(API_NAME_SUBDOMAIN, host + 2))
		api_cause_add(
			causes, "FieldValueInvalid", field,
			"Invalid value: \"%s\": a wildcard DNS-1123 subdomain must start "
			"with '*.', followed by a valid DNS subdomain, which must consist of "
			"lower case alphanumeric characters, '-' or '.' and end with an "
			"alphanumeric character (e.g. '*.example.com', regex used for "
			"validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*["
			"a-z0-9])?)*')",
			host);
}

static void ing_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	json_t *rule, *p, *db = api_jget(obj, "spec.defaultBackend");
	size_t i, j;
	char f[128];

	if (db)
		ing_backend_validate(db, "spec.defaultBackend", causes);
	if (!db && !json_array_size(api_jget(obj, "spec.rules")))
		api_cause_add(causes, "FieldValueInvalid", "spec",
			      "Invalid value: \"\": either `defaultBackend` or `rules` must be "
			      "specified");
	json_array_foreach(api_jget(obj, "spec.rules"), i, rule)
	{
		const char *host = api_jstr(rule, "host");

		snprintf(f, sizeof(f), "spec.rules[%zu].host", i);
		if (host && *host)
			host_validate(host, f, causes);
		json_array_foreach(api_jget(rule, "http.paths"), j, p)
		{
			const char *pt = api_jstr(p, "pathType"), *path = api_jstr(p, "path");

			snprintf(f, sizeof(f), "spec.rules[%zu].http.paths[%zu].pathType", i, j);
			if (!pt)
				api_cause_add(causes, "FieldValueRequired", f,
					      "Required value: pathType must be specified");
			else if (strcmp(pt, "Exact") && strcmp(pt, "Prefix") &&
				 strcmp(pt, "ImplementationSpecific"))
				api_cause_add(causes, "FieldValueNotSupported", f,
					      "Unsupported value: \"%s\": supported values: "
					      "\"Exact\", \"ImplementationSpecific\", \"Prefix\"",
					      pt);
			snprintf(f, sizeof(f), "spec.rules[%zu].http.paths[%zu].path", i, j);
			if (pt && strcmp(pt, "ImplementationSpecific") && (!path || path[0] != '/'))
				api_cause_add(causes, "FieldValueInvalid", f,
					      "Invalid value: \"%s\": must be an absolute path",
					      path ? path : "");
			snprintf(f, sizeof(f), "spec.rules[%zu].http.paths[%zu].backend", i, j);
			ing_backend_validate(json_object_get(p, "backend"), f, causes);
		}
	}
}

static void ing_on_create(json_t *obj)
{
	json_object_set_new(obj, "status", json_pack("{s:{}}", "loadBalancer"));
}

static const struct api_column ingclass_columns[] = {{"Name", "string", "name", 0},
						     {"Controller", "string", NULL, 0},
						     {"Parameters", "string", NULL, 0},
						     {"Age", "string", NULL, 0},
						     {NULL}};

static json_t *ingclass_cells(const json_t *obj)
{
	const json_t *p = api_jget(obj, "spec.parameters");
	char params[300] = "<none>";

	if (p)
		snprintf(params, sizeof(params), "%s%s%s/%s", api_jstr(p, "apiGroup") ?: "",
			 api_jstr(p, "apiGroup") ? "/" : "", api_jstr(p, "kind") ?: "",
			 api_jstr(p, "name") ?: "");
	return json_pack("[o, o, s, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "spec.controller")), params, api_cell_age(obj));
}

/* SetDefaults_IngressClass: parameters are cluster-scoped unless told. */
static void ingclass_defaults(json_t *obj)
{
	json_t *p = api_jget(obj, "spec.parameters");

	if (json_is_object(p))
		api_default_str(p, "scope", "Cluster");
}

static void ingclass_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *c = api_jstr(obj, "spec.controller");

	if (!c || !*c)
		api_cause_add(causes, "FieldValueRequired", "spec.controller", "Required value");
	else if (old &&
		 !json_equal(api_jget(obj, "spec.controller"), api_jget(old, "spec.controller")))
		api_cause_add(causes, "FieldValueInvalid", "spec.controller",
			      "Invalid value: \"%s\": field is immutable", c);
}

/* NetworkPolicies. */

static const struct api_column netpol_columns[] = {{"Name", "string", "name", 0},
						   {"Pod-Selector", "string", NULL, 0},
						   {"Age", "string", NULL, 0},
						   {NULL}};

static json_t *netpol_cells(const json_t *obj)
{
	return json_pack("[o, o, o]", api_cell_name(obj),
			 selector_cell(api_jget(obj, "spec.podSelector"), false),
			 api_cell_age(obj));
}

static const char *const netpol_dirs[][2] = {{"ingress", "from"}, {"egress", "to"}};

static void netpol_defaults(json_t *obj)
{
	json_t *spec = api_jobj(obj, "spec");

	for (size_t d = 0; d < 2; d++) {
		json_t *rule, *port;
		size_t i, j;

		json_array_foreach(json_object_get(spec, netpol_dirs[d][0]), i, rule)
			json_array_foreach(json_object_get(rule, "ports"), j,
					   port) if (json_is_object(port))
				api_default_str(port, "protocol", "TCP");
	}

	api_jobj(spec, "podSelector");
	if (!json_array_size(json_object_get(spec, "policyTypes"))) {
		json_t *t = json_pack("[s]", "Ingress");

		if (json_object_get(spec, "egress"))
			json_array_append_new(t, json_string("Egress"));
		json_object_set_new(spec, "policyTypes", t);
	}
}

/* ValidateNetworkPolicyPort, and the peers' selectors and ipBlocks. */
static void netpol_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t;
	json_t *rule, *port, *types = api_jget(obj, "spec.policyTypes");
	size_t i, j;
	char f[128];

	json_array_foreach(types, i, port)
	{
		t = json_string_value(port);
		snprintf(f, sizeof(f), "spec.policyTypes[%zu]", i);
		if (!t || (strcmp(t, "Ingress") && strcmp(t, "Egress")))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: \"Ingress\", "
				      "\"Egress\"",
				      t ? t : "");
	}
	api_validate_labels(api_jget(obj, "spec.podSelector.matchLabels"),
			    "spec.podSelector.matchLabels", causes);
	for (size_t d = 0; d < 2; d++) {
		json_array_foreach(api_jget(obj, "spec") ? json_object_get(api_jget(obj, "spec"),
									   netpol_dirs[d][0])
							 : NULL,
				   i, rule)
		{
			json_array_foreach(json_object_get(rule, "ports"), j, port)
			{
				const char *proto = api_jstr(port, "protocol");
				json_t *pn = json_object_get(port, "port"),
				       *end = json_object_get(port, "endPort");

				snprintf(f, sizeof(f), "spec.%s[%zu].ports[%zu].protocol",
					 netpol_dirs[d][0], i, j);
				if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") &&
				    strcmp(proto, "SCTP"))
					api_cause_add(
						causes, "FieldValueNotSupported", f,
						"Unsupported value: \"%s\": supported values: "
						"\"TCP\", \"UDP\", \"SCTP\"",
						proto);
				snprintf(f, sizeof(f), "spec.%s[%zu].ports[%zu].port",
					 netpol_dirs[d][0], i, j);
				if (pn)
					api_validate_port_num_or_name(pn, f, causes);
				else if (end)
					api_cause_add(causes, "FieldValueRequired", f,
						      "Required value: when endPort is specified");
				snprintf(f, sizeof(f), "spec.%s[%zu].ports[%zu].endPort",
					 netpol_dirs[d][0], i, j);
				if (end && json_is_string(pn))
					api_cause_add(
						causes, "FieldValueInvalid", f,
						"Invalid value: %lld: may not be specified when "
						"`port` is non-numeric",
						(long long)json_integer_value(end));
				else if (end && json_is_integer(pn)) {
					if (json_integer_value(end) < json_integer_value(pn))
						api_cause_add(
							causes, "FieldValueInvalid", f,
							"Invalid value: %lld: must be greater "
							"than or equal to `port`",
							(long long)json_integer_value(pn));
					api_validate_port_num(end, f, causes);
				}
			}
		}
	}
}

/* EndpointSlices. */

static const struct api_column eps_columns[] = {
	{"Name", "string", "name", 0}, {"AddressType", "string", NULL, 0},
	{"Ports", "string", NULL, 0},  {"Endpoints", "string", NULL, 0},
	{"Age", "string", NULL, 0},    {NULL}};

static json_t *eps_cells(const json_t *obj)
{
	struct sbuf ports, eps;
	json_t *e, *a;
	size_t i, j, n = 0;

	sbuf_open(&ports);
	json_array_foreach(json_object_get(obj, "ports"), i, e)
	{
		if (json_is_integer(json_object_get(e, "port")))
			fprintf(ports.f, "%s%lld", i ? "," : "", jint(e, "port"));
		else
			fprintf(ports.f, "%s<unset>", i ? "," : "");
	}
	sbuf_open(&eps);
	json_array_foreach(json_object_get(obj, "endpoints"), i, e)
	{
		json_array_foreach(json_object_get(e, "addresses"), j, a)
		{
			if (n < 3)
				fprintf(eps.f, "%s%s", n ? "," : "", json_string_value(a) ?: "");
			n++;
		}
	}
	if (n > 3)
		fprintf(eps.f, " + %zu more...", n - 3);
	return json_pack("[o, o, o, o, o]", api_cell_name(obj),
			 api_cell_str(api_jstr(obj, "addressType")), sbuf_cell(&ports, "<unset>"),
			 sbuf_cell(&eps, "<unset>"), api_cell_age(obj));
}

/* SetDefaults_EndpointPort (discovery): name "" and protocol TCP. */
static void eps_defaults(json_t *obj)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(obj, "ports"), i, p)
	{
		if (!json_is_object(p))
			continue;
		if (!json_is_string(json_object_get(p, "name")))
			json_object_set_new(p, "name", json_string(""));
		api_default_str(p, "protocol", "TCP");
	}
}

static void eps_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t = api_jstr(obj, "addressType");

	if (!t)
		api_cause_add(causes, "FieldValueRequired", "addressType", "Required value");
	else if (strcmp(t, "IPv4") && strcmp(t, "IPv6") && strcmp(t, "FQDN"))
		api_cause_add(causes, "FieldValueNotSupported", "addressType",
			      "Unsupported value: \"%s\": supported values: \"FQDN\", \"IPv4\", "
			      "\"IPv6\"",
			      t);
	if (old && t &&
	    !json_equal(json_object_get(obj, "addressType"), json_object_get(old, "addressType")))
		api_cause_add(causes, "FieldValueInvalid", "addressType",
			      "Invalid value: \"%s\": field is immutable", t);
}

/* StorageClasses. */

static const struct api_column sc_columns[] = {{"Name", "string", "name", 0},
					       {"Provisioner", "string", NULL, 0},
					       {"ReclaimPolicy", "string", NULL, 0},
					       {"VolumeBindingMode", "string", NULL, 0},
					       {"AllowVolumeExpansion", "string", NULL, 0},
					       {"Age", "string", NULL, 0},
					       {NULL}};

static json_t *sc_cells(const json_t *obj)
{
	json_t *ann = api_jget(obj, "metadata.annotations");
	const char *n = api_jstr(obj, "metadata.name") ?: "";
	const char *def = json_string_value(
		json_object_get(ann, "storageclass.kubernetes.io/is-default-class"));
	char name[300];

	if (!def)
		def = json_string_value(
			json_object_get(ann, "storageclass.beta.kubernetes.io/is-default-class"));
	snprintf(name, sizeof(name), "%s%s", n,
		 def && strcmp(def, "true") == 0 ? " (default)" : "");
	return json_pack("[s, o, o, o, s, o]", name, api_cell_str(api_jstr(obj, "provisioner")),
			 api_cell_str(api_jstr(obj, "reclaimPolicy")),
			 api_cell_str(api_jstr(obj, "volumeBindingMode")),
			 json_is_true(json_object_get(obj, "allowVolumeExpansion")) ? "true"
										    : "false",
			 api_cell_age(obj));
}

static void sc_defaults(json_t *obj)
{
	api_default_str(obj, "reclaimPolicy", "Delete");
	api_default_str(obj, "volumeBindingMode", "Immediate");
}

static void sc_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *p = api_jstr(obj, "provisioner"), *rp = api_jstr(obj, "reclaimPolicy");
	const char *vb = api_jstr(obj, "volumeBindingMode");

	if (!p || !*p)
		api_cause_add(causes, "FieldValueRequired", "provisioner", "Required value");
	else if (old && !json_equal(json_object_get(obj, "provisioner"),
				    json_object_get(old, "provisioner")))
		api_cause_add(causes, "FieldValueForbidden", "provisioner",
			      "Forbidden: updates to provisioner are forbidden.");
	if (rp && strcmp(rp, "Delete") && strcmp(rp, "Retain") && strcmp(rp, "Recycle"))
		api_cause_add(causes, "FieldValueNotSupported", "reclaimPolicy",
			      "Unsupported value: \"%s\": supported values: \"Delete\", "
			      "\"Recycle\", \"Retain\"",
			      rp);
	if (vb && strcmp(vb, "Immediate") && strcmp(vb, "WaitForFirstConsumer"))
		api_cause_add(causes, "FieldValueNotSupported", "volumeBindingMode",
			      "Unsupported value: \"%s\": supported values: \"Immediate\", "
			      "\"WaitForFirstConsumer\"",
			      vb);
}

/* Leases. */

static const struct api_column lease_columns[] = {{"Name", "string", "name", 0},
						  {"Holder", "string", NULL, 0},
						  {"Age", "string", NULL, 0},
						  {NULL}};

static json_t *lease_cells(const json_t *obj)
{
	const char *h = api_jstr(obj, "spec.holderIdentity");

	return json_pack("[o, s, o]", api_cell_name(obj), h ? h : "", api_cell_age(obj));
}

/* apps/v1 ControllerRevisions (DaemonSet and StatefulSet history; `kubectl rollout history`). */

static const struct api_column crev_columns[] = {{"Name", "string", "name", 0},
						 {"Controller", "string", NULL, 0},
						 {"Revision", "integer", NULL, 0},
						 {"Age", "string", NULL, 0},
						 {NULL}};

static json_t *crev_cells(const json_t *obj)
{
	json_t *refs = api_jget(obj, "metadata.ownerReferences");
	json_t *ctl = NULL, *r;
	size_t i;
	char owner[512] = "<none>";

	json_array_foreach(refs, i, r) if (json_is_true(json_object_get(r, "controller"))) ctl = r;
	if (ctl) {
		const char *av = json_string_value(json_object_get(ctl, "apiVersion"));
		const char *slash = av ? strchr(av, '/') : NULL;
		const char *kind = json_string_value(json_object_get(ctl, "kind"));
		const char *name = json_string_value(json_object_get(ctl, "name"));
		char k[128];

		snprintf(k, sizeof(k), "%s", kind ? kind : "");
		for (char *p = k; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (slash)
			snprintf(owner, sizeof(owner), "%s.%.*s/%s", k, (int)(slash - av), av,
				 name ? name : "");
		else
			snprintf(owner, sizeof(owner), "%s/%s", k, name ? name : "");
	}
	return json_pack("[o, s, I, o]", api_cell_name(obj), owner,
			 (json_int_t)json_integer_value(api_jget(obj, "revision")),
			 api_cell_age(obj));
}

/* events.k8s.io Events (stored apart from core v1 Events: /registry/events.k8s.io/events). */

static const struct api_column eventsv1_columns[] = {
	{"Last Seen", "string", NULL, 0}, {"Type", "string", NULL, 0},
	{"Reason", "string", NULL, 0},	  {"Object", "string", NULL, 0},
	{"Message", "string", NULL, 0},	  {NULL}};

static json_t *eventsv1_cells(const json_t *obj)
{
	const char *ts = api_jstr(obj, "deprecatedLastTimestamp") ?: api_jstr(obj, "eventTime");
	const char *kind = api_jstr(obj, "regarding.kind") ?: "",
		   *name = api_jstr(obj, "regarding.name");
	char age[32], object[300];

	if (!ts)
		ts = api_jstr(obj, "metadata.creationTimestamp");
	api_age(ts && strlen(ts) >= 19 ? ts : NULL, age, sizeof(age));
	if (ts && strlen(ts) > 20) {
		/* eventTime is MicroTime: drop the fraction for api_age */
		char whole[32];

		snprintf(whole, sizeof(whole), "%.19sZ", ts);
		api_age(whole, age, sizeof(age));
	}
	snprintf(object, sizeof(object), "%c%s/%s", kind[0] ? kind[0] | 0x20 : ' ',
		 kind[0] ? kind + 1 : "", name ? name : "");
	return json_pack("[s, s, s, s, s]", age, api_jstr(obj, "type") ?: "",
			 api_jstr(obj, "reason") ?: "", object, api_jstr(obj, "note") ?: "");
}

static void eventsv1_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *t = api_jstr(obj, "type");

	if (!api_jstr(obj, "eventTime"))
		api_cause_add(causes, "FieldValueRequired", "eventTime", "Required value");
	if (t && strcmp(t, "Normal") && strcmp(t, "Warning"))
		api_cause_add(causes, "FieldValueNotSupported", "type",
			      "Unsupported value: \"%s\": supported values: \"Normal\", "
			      "\"Warning\"",
			      t);
}

/* RBAC: stored, not yet enforced. */

static const struct api_column role_columns[] = {
	{"Name", "string", "name", 0}, {"Created At", "date", NULL, 0}, {NULL}};

static json_t *role_cells(const json_t *obj)
{
	const char *ts = api_jstr(obj, "metadata.creationTimestamp");

	return json_pack("[o, s]", api_cell_name(obj), ts ? ts : "");
}

static const struct api_column binding_columns[] = {{"Name", "string", "name", 0},
						    {"Role", "string", NULL, 0},
						    {"Age", "string", NULL, 0},
						    {"Users", "string", NULL, 1},
						    {"Groups", "string", NULL, 1},
						    {"ServiceAccounts", "string", NULL, 1},
						    {NULL}};

static json_t *binding_cells(const json_t *obj)
{
	struct sbuf users, groups, sas;
	char role[300];
	json_t *s;
	size_t i;
	int nu = 0, ng = 0, ns = 0;

	snprintf(role, sizeof(role), "%s/%s", api_jstr(obj, "roleRef.kind") ?: "",
		 api_jstr(obj, "roleRef.name") ?: "");
	sbuf_open(&users);
	sbuf_open(&groups);
	sbuf_open(&sas);
	json_array_foreach(json_object_get(obj, "subjects"), i, s)
	{
		const char *k = api_jstr(s, "kind") ?: "", *n = api_jstr(s, "name") ?: "";

		if (strcmp(k, "User") == 0)
			fprintf(users.f, "%s%s", nu++ ? ", " : "", n);
		else if (strcmp(k, "Group") == 0)
			fprintf(groups.f, "%s%s", ng++ ? ", " : "", n);
		else if (strcmp(k, "ServiceAccount") == 0)
			fprintf(sas.f, "%s%s/%s", ns++ ? ", " : "", api_jstr(s, "namespace") ?: "",
				n);
	}
	return json_pack("[o, s, o, o, o, o]", api_cell_name(obj), role, api_cell_age(obj),
			 sbuf_cell(&users, ""), sbuf_cell(&groups, ""), sbuf_cell(&sas, ""));
}

/* SetDefaults_RoleBinding/ClusterRoleBinding and SetDefaults_Subject: the API groups. */
static void binding_defaults(json_t *obj)
{
	json_t *s;
	size_t i;

	if (json_is_object(json_object_get(obj, "roleRef")))
		api_default_str(json_object_get(obj, "roleRef"), "apiGroup",
				"rbac.authorization.k8s.io");
	json_array_foreach(json_object_get(obj, "subjects"), i, s)
	{
		const char *k = api_jstr(s, "kind") ?: "";

		if (!json_is_object(s) || *(api_jstr(s, "apiGroup") ?: ""))
			continue;
		if (strcmp(k, "User") == 0 || strcmp(k, "Group") == 0)
			json_object_set_new(s, "apiGroup",
					    json_string("rbac.authorization.k8s.io"));
		else if (strcmp(k, "ServiceAccount") == 0)
			json_object_set_new(s, "apiGroup", json_string(""));
	}
}

static void binding_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *k = api_jstr(obj, "roleRef.kind"), *n = api_jstr(obj, "roleRef.name");
	json_t *s;
	size_t i;
	char f[64];

	if (!k || (strcmp(k, "Role") && strcmp(k, "ClusterRole")))
		api_cause_add(causes, "FieldValueNotSupported", "roleRef.kind",
			      "Unsupported value: \"%s\": supported values: \"Role\", "
			      "\"ClusterRole\"",
			      k ? k : "");
	if (!n || !*n)
		api_cause_add(causes, "FieldValueRequired", "roleRef.name", "Required value");
	if (old && !json_equal(json_object_get(obj, "roleRef"), json_object_get(old, "roleRef")))
		api_cause_add(causes, "FieldValueInvalid", "roleRef",
			      "Invalid value: \"%s/%s\": cannot change roleRef", k ? k : "",
			      n ? n : "");
	json_array_foreach(json_object_get(obj, "subjects"), i, s)
	{
		const char *sk = api_jstr(s, "kind");

		snprintf(f, sizeof(f), "subjects[%zu].name", i);
		if (!api_jstr(s, "name") || !*api_jstr(s, "name"))
			api_cause_add(causes, "FieldValueRequired", f, "Required value");
		snprintf(f, sizeof(f), "subjects[%zu].kind", i);
		if (!sk ||
		    (strcmp(sk, "User") && strcmp(sk, "Group") && strcmp(sk, "ServiceAccount")))
			api_cause_add(causes, "FieldValueNotSupported", f,
				      "Unsupported value: \"%s\": supported values: "
				      "\"ServiceAccount\", \"User\", \"Group\"",
				      sk ? sk : "");
	}
}

static void cluster_binding_validate(const json_t *obj, const json_t *old, json_t *causes)
{
	const char *k = api_jstr(obj, "roleRef.kind");

	binding_validate(obj, old, causes);
	if (k && strcmp(k, "Role") == 0)
		api_cause_add(causes, "FieldValueNotSupported", "roleRef.kind",
			      "Unsupported value: \"Role\": supported values: \"ClusterRole\"");
}

/* Scale. */

json_t *api_scale_of(const struct api_resource *r, const json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata"), *out, *m;
	bool map_only = strcmp(r->kind, "ReplicationController") == 0;
	static const char *const keep[] = {
		"name", "namespace", "uid", "resourceVersion", "creationTimestamp", NULL};

	out = json_pack("{s:s, s:s, s:{}, s:{s:I}, s:{s:I, s:o}}", "kind", "Scale", "apiVersion",
			"autoscaling/v1", "metadata", "spec", "replicas",
			(json_int_t)jint(obj, "spec.replicas"), "status", "replicas",
			(json_int_t)jint(obj, "status.replicas"), "selector",
			selector_cell(api_jget(obj, "spec.selector"), map_only));
	m = json_object_get(out, "metadata");
	for (const char *const *k = keep; *k; k++)
		if (json_object_get(meta, *k))
			json_object_set(m, *k, json_object_get(meta, *k));
	if (strcmp(json_string_value(api_jget(out, "status.selector")), "<none>") == 0)
		json_object_set_new(json_object_get(out, "status"), "selector", json_string(""));
	return out;
}

int api_scale_apply(json_t *obj, const json_t *scale, json_t *causes)
{
	json_t *n = api_jget(scale, "spec.replicas");

	if (n && (!json_is_integer(n) || json_integer_value(n) < 0)) {
		api_cause_add(causes, "FieldValueInvalid", "spec.replicas",
			      "Invalid value: %lld: must be greater than or equal to 0",
			      (long long)json_integer_value(n));
		return -1;
	}
	json_object_set_new(api_jobj(obj, "spec"), "replicas",
			    json_integer(n ? json_integer_value(n) : 0));
	return 0;
}

/* The table. */

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ALL	   NAMES("all")

#define GROUP(group_, res, singular_, kind_)                                                       \
	.group = group_, .version = "v1", .resource = res, .singular = singular_, .kind = kind_

const struct api_resource api_registry_groups[] = {
	{GROUP("apps", "deployments", "deployment", "Deployment"), .namespaced = true,
	 .has_status = true, .has_scale = true, .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("deploy"), .categories = ALL, .columns = deploy_columns,
	 .cells = deploy_cells, .defaults = deploy_defaults, .on_create = controller_on_create,
	 .validate = deploy_validate},
	{GROUP("apps", "replicasets", "replicaset", "ReplicaSet"), .namespaced = true,
	 .has_status = true, .has_scale = true, .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("rs"), .categories = ALL, .columns = api_replicas_columns,
	 .cells = rs_cells, .defaults = rs_defaults, .on_create = rs_on_create,
	 .validate = controller_validate},
	{GROUP("apps", "daemonsets", "daemonset", "DaemonSet"), .namespaced = true,
	 .has_status = true, .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("ds"),
	 .categories = ALL, .columns = ds_columns, .cells = ds_cells, .defaults = ds_defaults,
	 .on_create = ds_on_create, .validate = ds_validate},
	{GROUP("apps", "statefulsets", "statefulset", "StatefulSet"), .namespaced = true,
	 .has_status = true, .has_scale = true, .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("sts"), .categories = ALL, .columns = sts_columns, .cells = sts_cells,
	 .defaults = sts_defaults, .on_create = sts_on_create, .validate = sts_validate},
	{GROUP("apps", "controllerrevisions", "controllerrevision", "ControllerRevision"),
	 .namespaced = true, .name_rule = API_NAME_SUBDOMAIN, .columns = crev_columns,
	 .cells = crev_cells},
	{GROUP("networking.k8s.io", "ingresses", "ingress", "Ingress"), .namespaced = true,
	 .has_status = true, .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("ing"),
	 .columns = ing_columns, .cells = ing_cells, .on_create = ing_on_create,
	 .validate = ing_validate},
	{GROUP("networking.k8s.io", "ingressclasses", "ingressclass", "IngressClass"),
	 .name_rule = API_NAME_SUBDOMAIN, .columns = ingclass_columns, .cells = ingclass_cells,
	 .defaults = ingclass_defaults, .validate = ingclass_validate},
	{GROUP("networking.k8s.io", "networkpolicies", "networkpolicy", "NetworkPolicy"),
	 .namespaced = true, .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("netpol"),
	 .columns = netpol_columns, .cells = netpol_cells, .defaults = netpol_defaults,
	 .validate = netpol_validate},
	{GROUP("discovery.k8s.io", "endpointslices", "endpointslice", "EndpointSlice"),
	 .namespaced = true, .name_rule = API_NAME_SUBDOMAIN, .columns = eps_columns,
	 .cells = eps_cells, .defaults = eps_defaults, .validate = eps_validate},
	{GROUP("storage.k8s.io", "storageclasses", "storageclass", "StorageClass"),
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("sc"), .columns = sc_columns,
	 .cells = sc_cells, .defaults = sc_defaults, .validate = sc_validate},
	{GROUP("coordination.k8s.io", "leases", "lease", "Lease"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .columns = lease_columns, .cells = lease_cells},
	{GROUP("events.k8s.io", "events", "event", "Event"), .namespaced = true,
	 .name_rule = API_NAME_SUBDOMAIN, .short_names = NAMES("ev"),
	 .store_name = "events.k8s.io/events", .columns = eventsv1_columns, .cells = eventsv1_cells,
	 .validate = eventsv1_validate},
	{GROUP("rbac.authorization.k8s.io", "roles", "role", "Role"), .namespaced = true,
	 .name_rule = API_NAME_PATH_SEGMENT, .columns = role_columns, .cells = role_cells},
	{GROUP("rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole"),
	 .name_rule = API_NAME_PATH_SEGMENT, .columns = role_columns, .cells = role_cells},
	{GROUP("rbac.authorization.k8s.io", "rolebindings", "rolebinding", "RoleBinding"),
	 .namespaced = true, .name_rule = API_NAME_PATH_SEGMENT, .columns = binding_columns,
	 .cells = binding_cells, .defaults = binding_defaults, .validate = binding_validate},
	{GROUP("rbac.authorization.k8s.io", "clusterrolebindings", "clusterrolebinding",
	       "ClusterRoleBinding"),
	 .name_rule = API_NAME_PATH_SEGMENT, .columns = binding_columns, .cells = binding_cells,
	 .defaults = binding_defaults, .validate = cluster_binding_validate},
	/* last: kubectl resolves "ingress" to the first group that serves it (networking) */
	{.group = "extensions",
	 .version = "v1beta1",
	 .resource = "ingresses",
	 .singular = "ingress",
	 .kind = "Ingress",
	 .namespaced = true,
	 .has_status = true,
	 .name_rule = API_NAME_SUBDOMAIN,
	 .short_names = NAMES("ing"),
	 .store_name = "ingresses",
	 .columns = ing_columns,
	 .cells = ing_cells,
	 .on_create = ing_on_create,
	 .validate = ing_validate,
	 .to_storage = api_ingress_to_v1,
	 .from_storage = api_ingress_to_v1beta1},
};

const size_t api_registry_groups_n = sizeof(api_registry_groups) / sizeof(api_registry_groups[0]);

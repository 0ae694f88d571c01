/*
 * The rules of deletion, as kube-apiserver applies them (api_delete.h): DeleteOptions decoding
 * and validation, what a DELETE does to an object (rest.BeforeDelete, the garbage collector's
 * finalizers, markAsDeleting, the namespace registry), finalizer validation, the Events' age.
 * Pure JSON work: the store and HTTP side is api_delete.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_delete.h"
#include "api_kind.h"
#include "cleanup.h"

void api_delete_options_init(struct api_delete_options *o)
{
	memset(o, 0, sizeof(*o));
	o->orphan_dependents = -1;
}

void api_delete_options_free(struct api_delete_options *o)
{
	free(o->propagation_value);
	free(o->uid);
	free(o->resource_version);
	json_decref(o->dry_run);
	api_delete_options_init(o);
}

/* Go's encoding/json message for a value of the wrong type. */
static int type_error(struct k8c_error *err, const json_t *v, const char *field, const char *type)
{
	return k8c_error_set(err, 400,
			     "json: cannot unmarshal %s into Go struct field DeleteOptions.%s of "
			     "type %s",
			     api_json_type_name(v), field, type);
}

static enum api_propagation propagation_of(const char *s)
{
	if (strcmp(s, "Orphan") == 0)
		return API_PROPAGATION_ORPHAN;
	if (strcmp(s, "Background") == 0)
		return API_PROPAGATION_BACKGROUND;
	if (strcmp(s, "Foreground") == 0)
		return API_PROPAGATION_FOREGROUND;
	return API_PROPAGATION_INVALID;
}

static void set_propagation(struct api_delete_options *o, const char *s)
{
	free(o->propagation_value);
	o->propagation_value = k8c_xstrdup(s);
	o->propagation = propagation_of(s);
}

int api_delete_options_from_json(const json_t *body, struct api_delete_options *o,
				 struct k8c_error *err)
{
	const json_t *v, *pre;
	const char *kind = json_string_value(json_object_get(body, "kind"));

	if (kind && *kind && strcmp(kind, "DeleteOptions") != 0)
		return k8c_error_set(err, 400, "the body of a DELETE must be DeleteOptions, not %s",
				     kind);
	v = json_object_get(body, "gracePeriodSeconds");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v))
			return type_error(err, v, "gracePeriodSeconds", "int64");
		o->has_grace = true;
		o->grace = json_integer_value(v);
	}
	v = json_object_get(body, "propagationPolicy");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return type_error(err, v, "propagationPolicy", "v1.DeletionPropagation");
		set_propagation(o, json_string_value(v));
	}
	v = json_object_get(body, "orphanDependents");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return type_error(err, v, "orphanDependents", "bool");
		o->orphan_dependents = json_is_true(v);
	}
	pre = json_object_get(body, "preconditions");
	if (pre && !json_is_null(pre)) {
		if (!json_is_object(pre))
			return type_error(err, pre, "preconditions", "v1.Preconditions");
		v = json_object_get(pre, "uid");
		if (v && !json_is_null(v)) {
			if (!json_is_string(v))
				return type_error(err, v, "preconditions.uid", "types.UID");
			o->uid = k8c_xstrdup(json_string_value(v));
		}
		v = json_object_get(pre, "resourceVersion");
		if (v && !json_is_null(v)) {
			if (!json_is_string(v))
				return type_error(err, v, "preconditions.resourceVersion",
						  "string");
			o->resource_version = k8c_xstrdup(json_string_value(v));
		}
	}
	v = json_object_get(body, "dryRun");
	if (v && !json_is_null(v)) {
		size_t i;
		json_t *e;

		if (!json_is_array(v))
			return type_error(err, v, "dryRun", "[]string");
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return type_error(err, e, "dryRun", "string");
		}
		json_decref(o->dry_run);
		o->dry_run = json_deep_copy(v);
	}
	return 0;
}

int api_delete_options_from_query(const char *grace, const char *propagation, const char *orphan,
				  const char *dry_run, struct api_delete_options *o,
				  struct k8c_error *err)
{
	if (grace && *grace) {
		char *end;
		long long g;

		errno = 0;
		g = strtoll(grace, &end, 10);
		if (errno || *end)
			return k8c_error_set(err, 400,
					     "strconv.ParseInt: parsing \"%s\": invalid syntax",
					     grace);
		o->has_grace = true;
		o->grace = g;
	}
	if (propagation && *propagation)
		set_propagation(o, propagation);
	if (orphan && *orphan) {
		static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
		static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};

		o->orphan_dependents = -1;
		for (const char *const *s = yes; *s; s++)
			if (strcmp(orphan, *s) == 0)
				o->orphan_dependents = 1;
		for (const char *const *s = no; *s; s++)
			if (strcmp(orphan, *s) == 0)
				o->orphan_dependents = 0;
		if (o->orphan_dependents < 0)
			return k8c_error_set(err, 400,
					     "strconv.ParseBool: parsing \"%s\": invalid syntax",
					     orphan);
	}
	if (dry_run && *dry_run) {
		json_decref(o->dry_run);
		o->dry_run = json_pack("[s]", dry_run);
	}
	return 0;
}

void api_delete_options_validate(const struct api_delete_options *o, json_t *causes)
{
	if (o->orphan_dependents >= 0 && o->propagation != API_PROPAGATION_UNSET)
		api_cause_add(causes, "FieldValueInvalid", "propagationPolicy",
			      "Invalid value: \"%s\": orphanDependents and deletionPropagation "
			      "cannot be both set",
			      o->propagation_value);
	if (o->propagation == API_PROPAGATION_INVALID)
		api_cause_add(causes, "FieldValueNotSupported", "propagationPolicy",
			      "Unsupported value: \"%s\": supported values: \"Foreground\", "
			      "\"Background\", \"Orphan\", \"nil\"",
			      o->propagation_value);
	if (o->dry_run && !api_delete_options_dry_run(o) && json_array_size(o->dry_run)) {
		char *buf = NULL;
		size_t len = 0, i;
		FILE *f = open_memstream(&buf, &len);
		json_t *e;

		fputs("[]string{", f);
		json_array_foreach(o->dry_run, i, e)
			fprintf(f, "%s\"%s\"", i ? ", " : "", json_string_value(e));
		fputc('}', f);
		fclose(f);
		api_cause_add(causes, "FieldValueNotSupported", "dryRun",
			      "Unsupported value: %s: supported values: \"All\"", buf);
		free(buf);
	}
}

/* dryRun: every value "All" (and at least one) is a dry run; other values fail validation. */
bool api_delete_options_dry_run(const struct api_delete_options *o)
{
	size_t i;
	json_t *e;

	if (!o->dry_run || !json_array_size(o->dry_run))
		return false;
	json_array_foreach(o->dry_run, i, e)
	{
		if (strcmp(json_string_value(e), "All") != 0)
			return false;
	}
	return true;
}

/* Time. */

time_t api_time_parse(const char *s)
{
	struct tm tm = {0};
	const char *rest;

	if (!s || !(rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return (time_t)-1;
	if (*rest == '.') {
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	if (strcmp(rest, "Z") != 0)
		return (time_t)-1;
	return timegm(&tm);
}

void api_time_format(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Objects. */

static bool is_core(const struct api_resource *r, const char *resource)
{
	return !*r->group && strcmp(r->resource, resource) == 0;
}

static bool has_finalizer(const json_t *meta, const char *name)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(meta, "finalizers"), i, f)
	{
		if (json_is_string(f) && strcmp(json_string_value(f), name) == 0)
			return true;
	}
	return false;
}

static size_t finalizer_count(const json_t *meta)
{
	return json_array_size(json_object_get(meta, "finalizers"));
}

/* The garbage collection policy of a resource when the options name none. */
enum gc_default { GC_NONE, GC_ORPHAN, GC_DELETE_DEPENDENTS };

static enum gc_default gc_default_policy(const struct api_resource *r)
{
	/* replicationcontrollers in v1 orphan by default, for backwards compatibility */
	if (is_core(r, "replicationcontrollers"))
		return GC_ORPHAN;
	if (strcmp(r->group, "apps") == 0 &&
	    (strcmp(r->resource, "deployments") == 0 || strcmp(r->resource, "replicasets") == 0 ||
	     strcmp(r->resource, "daemonsets") == 0 || strcmp(r->resource, "statefulsets") == 0))
		return GC_DELETE_DEPENDENTS;
	return GC_NONE;
}

/* The first of orphan/foregroundDeletion among the finalizers: 1 orphan, 2 foreground, 0. */
static int first_gc_finalizer(const json_t *meta)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(meta, "finalizers"), i, f)
	{
		const char *s = json_string_value(f);

		if (s && strcmp(s, API_FINALIZER_ORPHAN) == 0)
			return 1;
		if (s && strcmp(s, API_FINALIZER_FOREGROUND) == 0)
			return 2;
	}
	return 0;
}

static bool should_orphan(const struct api_resource *r, const json_t *meta,
			  const struct api_delete_options *o)
{
	if (o->orphan_dependents >= 0)
		return o->orphan_dependents;
	if (o->propagation == API_PROPAGATION_ORPHAN)
		return true;
	if (o->propagation == API_PROPAGATION_BACKGROUND ||
	    o->propagation == API_PROPAGATION_FOREGROUND)
		return false;
	switch (first_gc_finalizer(meta)) {
	case 1:
		return true;
	case 2:
		return false;
	}
	return gc_default_policy(r) == GC_ORPHAN;
}

static bool should_delete_dependents(const json_t *meta, const struct api_delete_options *o)
{
	if (o->orphan_dependents >= 0)
		return false;
	if (o->propagation == API_PROPAGATION_FOREGROUND)
		return true;
	if (o->propagation == API_PROPAGATION_BACKGROUND ||
	    o->propagation == API_PROPAGATION_ORPHAN)
		return false;
	return first_gc_finalizer(meta) == 2;
}

/* metadata.finalizers without orphan and foregroundDeletion, then the ones wanted. */
static void set_gc_finalizers(json_t *meta, bool orphan, bool foreground)
{
	json_t *old = json_object_get(meta, "finalizers"), *next = json_array(), *f;
	size_t i;

	json_array_foreach(old, i, f)
	{
		const char *s = json_string_value(f);

		if (s && strcmp(s, API_FINALIZER_ORPHAN) != 0 &&
		    strcmp(s, API_FINALIZER_FOREGROUND) != 0)
			json_array_append(next, f);
	}
	if (orphan)
		json_array_append_new(next, json_string(API_FINALIZER_ORPHAN));
	if (foreground)
		json_array_append_new(next, json_string(API_FINALIZER_FOREGROUND));
	if (json_array_size(next))
		json_object_set_new(meta, "finalizers", next);
	else {
		json_decref(next);
		json_object_del(meta, "finalizers");
	}
}

/* deletionFinalizersForGarbageCollection: bring the finalizers in line with the options. */
static void gc_finalizers(const struct api_resource *r, json_t *meta,
			  const struct api_delete_options *o)
{
	bool orphan = should_orphan(r, meta, o), fg = should_delete_dependents(meta, o);

	if (orphan != has_finalizer(meta, API_FINALIZER_ORPHAN) ||
	    fg != has_finalizer(meta, API_FINALIZER_FOREGROUND))
		set_gc_finalizers(meta, orphan, fg);
}

static void bump_generation(json_t *meta)
{
	json_t *g = json_object_get(meta, "generation");

	if (json_is_integer(g) && json_integer_value(g) > 0)
		json_object_set_new(meta, "generation", json_integer(json_integer_value(g) + 1));
}

static void set_time(json_t *meta, const char *key, time_t t)
{
	char buf[32];

	api_time_format(t, buf);
	json_object_set_new(meta, key, json_string(buf));
}

/* markAsDeleting: deletionTimestamp now (unless earlier), grace 0, generation on first mark. */
static void mark_as_deleting(json_t *meta, time_t now)
{
	const char *ts = json_string_value(json_object_get(meta, "deletionTimestamp"));
	time_t t = ts ? api_time_parse(ts) : (time_t)-1;

	if (!ts)
		bump_generation(meta);
	if (!ts || t == (time_t)-1 || t > now)
		set_time(meta, "deletionTimestamp", now);
	json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(0));
}

/* 409 worded as rest.BeforeDelete's: the resource is the Kind (and group), why is freed. */
static int conflict(struct k8c_error *err, const struct api_resource *r, const char *name,
		    char *why)
{
	_cleanup_free_ char *w = why;

	return k8c_error_set(err, 409, "Operation cannot be fulfilled on %s%s%s \"%s\": %s",
			     r->kind, *r->group ? "." : "", r->group, name, w);
}

/* The namespace registry's Delete: the first one makes it Terminating. */
static int namespace_plan(const struct api_resource *r, json_t *obj,
			  const struct api_delete_options *o, time_t now, struct k8c_error *err)
{
	json_t *meta = api_jobj(obj, "metadata");
	const char *name = api_jstr(obj, "metadata.name"), *uid = api_jstr(obj, "metadata.uid");
	const char *rv = api_jstr(obj, "metadata.resourceVersion");

	if (o->uid && strcmp(o->uid, uid ? uid : "") != 0)
		return k8c_error_set(err, 409,
				     "Operation cannot be fulfilled on namespaces \"%s\": "
				     "Precondition failed: UID in precondition: %s, UID in object "
				     "meta: %s",
				     name, o->uid, uid ? uid : "");
	if (o->resource_version && strcmp(o->resource_version, rv ? rv : "") != 0)
		return k8c_error_set(err, 409,
				     "Operation cannot be fulfilled on namespaces \"%s\": "
				     "Precondition failed: ResourceVersion in precondition: %s, "
				     "ResourceVersion in object meta: %s",
				     name, o->resource_version, rv ? rv : "");
	if (!json_object_get(meta, "deletionTimestamp")) {
		bool orphan = has_finalizer(meta, API_FINALIZER_ORPHAN);
		bool fg = has_finalizer(meta, API_FINALIZER_FOREGROUND);

		set_time(meta, "deletionTimestamp", now);
		json_object_set_new(api_jobj(obj, "status"), "phase", json_string("Terminating"));
		if (o->orphan_dependents >= 0)
			orphan = o->orphan_dependents, fg = !o->orphan_dependents;
		else if (o->propagation != API_PROPAGATION_UNSET)
			orphan = o->propagation == API_PROPAGATION_ORPHAN,
			fg = o->propagation == API_PROPAGATION_FOREGROUND;
		if (orphan != has_finalizer(meta, API_FINALIZER_ORPHAN) ||
		    fg != has_finalizer(meta, API_FINALIZER_FOREGROUND))
			set_gc_finalizers(meta, orphan, fg);
		return API_DELETE_UPDATE;
	}
	if (json_array_size(api_jget(obj, "spec.finalizers")))
		return API_DELETE_PENDING;
	(void)r;
	return -2; /* the generic rules decide */
}

int api_delete_plan(const struct api_resource *r, json_t *obj, const struct api_delete_options *o,
		    time_t now, struct k8c_error *err)
{
	json_t *meta = api_jobj(obj, "metadata");
	const char *name = api_jstr(obj, "metadata.name"), *uid = api_jstr(obj, "metadata.uid");
	const char *rv = api_jstr(obj, "metadata.resourceVersion");
	json_t *dgps_v = json_object_get(meta, "deletionGracePeriodSeconds");
	const char *ts = json_string_value(json_object_get(meta, "deletionTimestamp"));
	bool graceful = false;
	int64_t grace = o->grace, last_grace = 0;

	if (!name)
		name = "";
	if (is_core(r, "namespaces")) {
		int ret = namespace_plan(r, obj, o, now, err);

		if (ret != -2)
			return ret;
	}
	if (o->uid && strcmp(o->uid, uid ? uid : "") != 0)
		return conflict(err, r, name,
				k8c_xasprintf("the UID in the precondition (%s) does not match the "
					      "UID in record (%s). The object might have been "
					      "deleted and then recreated",
					      o->uid, uid ? uid : ""));
	if (o->resource_version && strcmp(o->resource_version, rv ? rv : "") != 0)
		return conflict(
			err, r, name,
			k8c_xasprintf("the ResourceVersion in the precondition (%s) does not "
				      "match the ResourceVersion in record (%s). The object "
				      "might have been modified",
				      o->resource_version, rv ? rv : ""));
	if (o->has_grace && grace < 0)
		grace = 1;
	if (json_is_integer(dgps_v) && json_integer_value(dgps_v) < 0)
		json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(1));
	dgps_v = json_object_get(meta, "deletionGracePeriodSeconds");
	if (is_core(r, "pods")) {
		/* pods are the graceful kind (podStrategy.CheckGracefulDelete) */
		if (ts) {
			int64_t dgps = json_is_integer(dgps_v) ? json_integer_value(dgps_v) : 0;
			time_t t = api_time_parse(ts);

			if (dgps == 0) {
				graceful = false; /* marked for an immediate delete: finish it */
			} else if (!o->has_grace || grace >= dgps) {
				return API_DELETE_PENDING; /* only a shorter grace period changes it */
			} else {
				if (t == (time_t)-1)
					t = now + dgps;
				set_time(meta, "deletionTimestamp", t - dgps + grace);
				json_object_set_new(meta, "deletionGracePeriodSeconds",
						    json_integer(grace));
				graceful = true;
				last_grace = grace;
			}
		} else {
			json_t *tg = api_jget(obj, "spec.terminationGracePeriodSeconds");
			const char *node = api_jstr(obj, "spec.nodeName");
			const char *phase = api_jstr(obj, "status.phase");
			int64_t period = o->has_grace	       ? grace
					 : json_is_integer(tg) ? json_integer_value(tg)
							       : 0;

			if (!node || !*node)
				period = 0; /* never scheduled: nothing to stop */
			if (phase &&
			    (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
				period = 0; /* terminated already */
			if (period < 0)
				period = 1;
			set_time(meta, "deletionTimestamp", now + period);
			json_object_set_new(meta, "deletionGracePeriodSeconds",
					    json_integer(period));
			bump_generation(meta);
			graceful = true;
			last_grace = period;
		}
	}
	gc_finalizers(r, meta, o);
	if (!graceful) {
		if (finalizer_count(meta)) {
			mark_as_deleting(meta, now);
			return API_DELETE_UPDATE;
		}
		return API_DELETE_NOW;
	}
	if (finalizer_count(meta) || last_grace > 0)
		return API_DELETE_UPDATE;
	return API_DELETE_UPDATE_THEN_DELETE;
}

bool api_delete_returns_object(const struct api_resource *r)
{
	static const char *const core[] = {"pods",
					   "services",
					   "serviceaccounts",
					   "persistentvolumes",
					   "persistentvolumeclaims",
					   "resourcequotas",
					   "namespaces",
					   NULL};

	if (!*r->group) {
		for (const char *const *s = core; *s; s++)
			if (strcmp(r->resource, *s) == 0)
				return true;
		return false;
	}
	return strcmp(r->group, "storage.k8s.io") == 0 &&
	       strcmp(r->resource, "storageclasses") == 0;
}

json_t *api_delete_answer(const struct api_resource *r, json_t *obj, enum api_delete_action action)
{
	json_t *st, *details;
	const char *uid, *name;

	if (action == API_DELETE_UPDATE || api_delete_returns_object(r))
		return json_incref(obj);
	/* finalizeDelete: details.kind is the resource, as kube-apiserver sets it */
	name = api_jstr(obj, "metadata.name");
	details = json_pack("{s:s, s:s}", "name", name ? name : "", "kind", r->resource);
	if (*r->group)
		json_object_set_new(details, "group", json_string(r->group));
	if ((uid = api_jstr(obj, "metadata.uid")))
		json_object_set_new(details, "uid", json_string(uid));
	st = json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion", "v1",
		       "metadata", "status", "Success", "details", details);
	return st;
}

/* Finalizer names. */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

#define QUALIFIED_NAME_FMT                                                                         \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "   \
	"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "  \
	"validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

/* IsQualifiedName: the messages for s, appended to causes at field. */
static void qualified_name_causes(const char *s, const char *field, json_t *causes)
{
	const char *slash = strchr(s, '/'), *name = s;

	if (slash && strchr(slash + 1, '/')) {
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": a qualified name " QUALIFIED_NAME_FMT
			      " with an optional DNS subdomain prefix and '/' (e.g. "
			      "'example.com/MyName')",
			      s);
		return;
	}
	if (slash) {
		_cleanup_free_ char *prefix = strndup(s, (size_t)(slash - s));
		const char *problem;

		name = slash + 1;
		if (!*prefix)
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": prefix part must be non-empty", s);
		else if ((problem = api_name_error(API_NAME_SUBDOMAIN, prefix)))
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": prefix part %s", s, problem);
	}
	if (!*name) {
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": name part must be non-empty", s);
		return;
	}
	if (strlen(name) > 63)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": name part must be no more than 63 characters",
			      s);
	for (size_t i = 0, n = strlen(name); i < n; i++) {
		char c = name[i];

		if (!(is_alnum(c) || ((c == '-' || c == '_' || c == '.') && i > 0 && i < n - 1))) {
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": name part " QUALIFIED_NAME_FMT, s);
			return;
		}
	}
}

static bool standard_finalizer(const char *s)
{
	return strcmp(s, API_FINALIZER_KUBERNETES) == 0 || strcmp(s, API_FINALIZER_ORPHAN) == 0 ||
	       strcmp(s, API_FINALIZER_FOREGROUND) == 0;
}

/* validateKubeFinalizerName: a name without a '/' must be one of the standard ones. */
static void kube_finalizer_cause(const char *s, const char *field, json_t *causes)
{
	if (!strchr(s, '/') && !standard_finalizer(s))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": name is neither a standard finalizer name "
			      "nor is it fully qualified",
			      s);
}

/* Go's %#v of a []string. */
static char *go_string_slice(json_t *a)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	json_t *e;

	fputs("[]string{", f);
	json_array_foreach(a, i, e) fprintf(f, "%s\"%s\"", i ? ", " : "", json_string_value(e));
	fputc('}', f);
	fclose(f);
	return buf;
}

void api_delete_validate_meta(const json_t *obj, const json_t *old, json_t *causes)
{
	const json_t *fins = api_jget(obj, "metadata.finalizers");
	const json_t *ometa = old ? json_object_get(old, "metadata") : NULL;
	size_t i;
	json_t *f;

	if (!fins || json_is_null(fins))
		return;
	if (!json_is_array(fins)) {
		api_cause_add(causes, "FieldValueInvalid", "metadata.finalizers",
			      "Invalid value: %s: must be a list of strings",
			      api_json_type_name(fins));
		return;
	}
	json_array_foreach(fins, i, f)
	{
		if (!json_is_string(f)) {
			api_cause_add(causes, "FieldValueInvalid", "metadata.finalizers",
				      "Invalid value: %s: must be a list of strings",
				      api_json_type_name(f));
			return;
		}
	}
	/* apimachinery's ValidateFinalizers (at metadata.finalizers), then kube's names */
	json_array_foreach(fins, i, f)
		qualified_name_causes(json_string_value(f), "metadata.finalizers", causes);
	if (has_finalizer(json_object_get(obj, "metadata"), API_FINALIZER_ORPHAN) &&
	    has_finalizer(json_object_get(obj, "metadata"), API_FINALIZER_FOREGROUND)) {
		_cleanup_free_ char *v = go_string_slice((json_t *)fins);

		api_cause_add(causes, "FieldValueInvalid", "metadata.finalizers",
			      "Invalid value: %s: finalizer orphan and foregroundDeletion cannot "
			      "be both set",
			      v);
	}
	if (ometa && json_object_get(ometa, "deletionTimestamp")) {
		json_t *extra = json_array();

		json_array_foreach(fins, i, f)
		{
			bool seen = has_finalizer(ometa, json_string_value(f));

			for (size_t j = 0; !seen && j < json_array_size(extra); j++)
				seen = strcmp(json_string_value(json_array_get(extra, j)),
					      json_string_value(f)) == 0;
			if (!seen)
				json_array_append(extra, f);
		}
		if (json_array_size(extra)) {
			_cleanup_free_ char *v = go_string_slice(extra);

			api_cause_add(causes, "FieldValueForbidden", "metadata.finalizers",
				      "Forbidden: no new finalizers can be added if the object is "
				      "being deleted, found new finalizers %s",
				      v);
		}
		json_decref(extra);
	}
	json_array_foreach(fins, i, f)
	{
		char field[48];

		snprintf(field, sizeof(field), "metadata.finalizers[%zu]", i);
		kube_finalizer_cause(json_string_value(f), field, causes);
	}
}

bool api_delete_on_update(const struct api_resource *r, const json_t *obj, const json_t *old)
{
	const json_t *ometa = json_object_get(old, "metadata");
	const json_t *dgps = json_object_get(ometa, "deletionGracePeriodSeconds");

	if (json_array_size(api_jget(obj, "metadata.finalizers")))
		return false;
	if (!json_object_get(ometa, "deletionTimestamp"))
		return false;
	if (is_core(r, "namespaces") && json_array_size(api_jget(obj, "spec.finalizers")))
		return false;
	return !json_is_integer(dgps) || json_integer_value(dgps) == 0;
}

json_t *api_namespace_finalizers(const json_t *body, json_t *causes)
{
	const json_t *fins = api_jget(body, "spec.finalizers");
	size_t i;
	json_t *f;

	if (!fins || json_is_null(fins))
		return NULL;
	if (!json_is_array(fins)) {
		api_cause_add(causes, "FieldValueInvalid", "spec.finalizers",
			      "Invalid value: %s: must be a list of strings",
			      api_json_type_name(fins));
		return NULL;
	}
	json_array_foreach(fins, i, f)
	{
		char field[48];

		snprintf(field, sizeof(field), "spec.finalizers[%zu]", i);
		if (!json_is_string(f)) {
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: %s: must be a string", api_json_type_name(f));
			continue;
		}
		qualified_name_causes(json_string_value(f), field, causes);
		kube_finalizer_cause(json_string_value(f), field, causes);
	}
	return json_deep_copy(fins);
}

bool api_namespace_terminating(const json_t *ns)
{
	const char *phase = api_jstr(ns, "status.phase");

	return phase && strcmp(phase, "Terminating") == 0;
}

bool api_namespace_immortal(const char *name)
{
	return strcmp(name, "default") == 0 || strcmp(name, "kube-system") == 0 ||
	       strcmp(name, "kube-public") == 0;
}

time_t api_event_last_seen(const json_t *ev)
{
	static const char *const fields[] = {"metadata.creationTimestamp",
					     "firstTimestamp",
					     "lastTimestamp",
					     "eventTime",
					     "series.lastObservedTime",
					     "deprecatedFirstTimestamp",
					     "deprecatedLastTimestamp",
					     NULL};
	time_t last = 0;

	for (const char *const *f = fields; *f; f++) {
		time_t t = api_time_parse(api_jstr(ev, *f));

		if (t != (time_t)-1 && t > last)
			last = t;
	}
	return last;
}

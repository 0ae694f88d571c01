/*
 * The rules of deletion (control/api_delete_rules.c): DeleteOptions from a body and from the
 * query, their validation with kube-apiserver's messages, what a DELETE does to an object
 * (preconditions, finalizers, graceful pod deletion, orphan/foregroundDeletion, namespaces),
 * the answer (object or Status), finalizer validation, delete-on-update, Events' age.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_delete.h"
#include "api_kind.h"
#include "cleanup.h"

/* 2026-11-27T11:00:00Z */
#define NOW ((time_t)1795777200)

static const struct api_resource *res(const char *group, const char *version, const char *name)
{
	const struct api_resource *r = api_registry_lookup(group, version, name, strlen(name));

	assert_non_null(r);
	return r;
}

static json_t *parse(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);

	assert_non_null(v);
	return v;
}

/* The message of the only cause, or NULL. */
static const char *only_cause(json_t *causes)
{
	if (json_array_size(causes) != 1)
		return NULL;
	return json_string_value(json_object_get(json_array_get(causes, 0), "message"));
}

static void options_from_json(void **state)
{
	struct api_delete_options o;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *b =
		parse("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":5,"
		      "\"propagationPolicy\":\"Foreground\",\"preconditions\":{\"uid\":\"u1\","
		      "\"resourceVersion\":\"7\"},\"dryRun\":[\"All\"]}");
	_cleanup_json_ json_t *bad = parse("{\"gracePeriodSeconds\":\"5\"}");
	_cleanup_json_ json_t *bad2 = parse("{\"dryRun\":\"All\"}");
	_cleanup_json_ json_t *other = parse("{\"kind\":\"Pod\"}");

	(void)state;
	api_delete_options_init(&o);
	assert_int_equal(api_delete_options_from_json(b, &o, &err), 0);
	assert_true(o.has_grace);
	assert_int_equal(o.grace, 5);
	assert_int_equal(o.propagation, API_PROPAGATION_FOREGROUND);
	assert_int_equal(o.orphan_dependents, -1);
	assert_string_equal(o.uid, "u1");
	assert_string_equal(o.resource_version, "7");
	assert_true(api_delete_options_dry_run(&o));
	api_delete_options_free(&o);

	assert_int_equal(api_delete_options_from_json(bad, &o, &err), -1);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.msg, "json: cannot unmarshal string into Go struct field "
				     "DeleteOptions.gracePeriodSeconds of type int64");
	k8c_error_clear(&err);
	assert_int_equal(api_delete_options_from_json(bad2, &o, &err), -1);
	assert_string_equal(err.msg, "json: cannot unmarshal string into Go struct field "
				     "DeleteOptions.dryRun of type []string");
	k8c_error_clear(&err);
	assert_int_equal(api_delete_options_from_json(other, &o, &err), -1);
	k8c_error_clear(&err);
	api_delete_options_free(&o);
}

static void options_from_query(void **state)
{
	struct api_delete_options o;
	struct k8c_error err = K8C_ERROR_INIT;

	(void)state;
	api_delete_options_init(&o);
	assert_int_equal(api_delete_options_from_query("0", "Orphan", NULL, "All", &o, &err), 0);
	assert_true(o.has_grace);
	assert_int_equal(o.grace, 0);
	assert_int_equal(o.propagation, API_PROPAGATION_ORPHAN);
	assert_true(api_delete_options_dry_run(&o));
	api_delete_options_free(&o);
	assert_int_equal(api_delete_options_from_query(NULL, NULL, "True", NULL, &o, &err), 0);
	assert_int_equal(o.orphan_dependents, 1);
	assert_false(api_delete_options_dry_run(&o));
	api_delete_options_free(&o);
	assert_int_equal(api_delete_options_from_query("x", NULL, NULL, NULL, &o, &err), -1);
	assert_int_equal(err.code, 400);
	assert_string_equal(err.msg, "strconv.ParseInt: parsing \"x\": invalid syntax");
	k8c_error_clear(&err);
	api_delete_options_free(&o);
	assert_int_equal(api_delete_options_from_query(NULL, NULL, "yes", NULL, &o, &err), -1);
	assert_string_equal(err.msg, "strconv.ParseBool: parsing \"yes\": invalid syntax");
	k8c_error_clear(&err);
	api_delete_options_free(&o);
}

static void options_validation(void **state)
{
	struct api_delete_options o;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *c1 = json_array(), *c2 = json_array(), *c3 = json_array(),
			      *c4 = json_array();

	(void)state;
	api_delete_options_init(&o);
	assert_int_equal(api_delete_options_from_query(NULL, "Bogus", NULL, NULL, &o, &err), 0);
	api_delete_options_validate(&o, c1);
	assert_string_equal(only_cause(c1), "Unsupported value: \"Bogus\": supported values: "
					    "\"Foreground\", \"Background\", \"Orphan\", \"nil\"");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c1, 0), "field")),
			    "propagationPolicy");
	api_delete_options_free(&o);

	assert_int_equal(api_delete_options_from_query(NULL, "Orphan", "false", NULL, &o, &err), 0);
	api_delete_options_validate(&o, c2);
	assert_string_equal(only_cause(c2), "Invalid value: \"Orphan\": orphanDependents and "
					    "deletionPropagation cannot be both set");
	api_delete_options_free(&o);

	assert_int_equal(api_delete_options_from_query(NULL, NULL, NULL, "Some", &o, &err), 0);
	api_delete_options_validate(&o, c3);
	assert_string_equal(only_cause(c3),
			    "Unsupported value: []string{\"Some\"}: supported values: \"All\"");
	api_delete_options_free(&o);

	/* the three values kube accepts pass */
	for (const char *const *p =
		     (const char *const[]){"Orphan", "Background", "Foreground", NULL};
	     *p; p++) {
		assert_int_equal(api_delete_options_from_query("3", *p, NULL, "All", &o, &err), 0);
		api_delete_options_validate(&o, c4);
		api_delete_options_free(&o);
	}
	assert_int_equal(json_array_size(c4), 0);
}

/* A stored object with the fields the rules look at. */
static json_t *stored(const char *extra_meta, const char *rest)
{
	_cleanup_free_ char *s = k8c_xasprintf(
		"{\"metadata\":{\"name\":\"o\",\"uid\":\"u1\",\"resourceVersion\":\"7\"%s%s}%s%s}",
		*extra_meta ? "," : "", extra_meta, *rest ? "," : "", rest);

	return parse(s);
}

static int plan(const struct api_resource *r, json_t *obj, const char *grace, const char *prop,
		const char *orphan, struct k8c_error *err)
{
	struct api_delete_options o;
	int ret;

	api_delete_options_init(&o);
	assert_int_equal(api_delete_options_from_query(grace, prop, orphan, NULL, &o, err), 0);
	ret = api_delete_plan(r, obj, &o, NOW, err);
	api_delete_options_free(&o);
	return ret;
}

static void plan_plain_and_finalizers(void **state)
{
	const struct api_resource *cm = res("", "v1", "configmaps");
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *a = stored("", ""), *b = stored("\"finalizers\":[\"x.io/f\"]", "");
	_cleanup_json_ json_t *c = NULL, *d = NULL, *answer = NULL;

	(void)state;
	/* no finalizer: gone at once, answered with a Status (configmaps) */
	assert_int_equal(plan(cm, a, NULL, NULL, NULL, &err), API_DELETE_NOW);
	answer = api_delete_answer(cm, a, API_DELETE_NOW);
	assert_string_equal(api_jstr(answer, "status"), "Success");
	assert_string_equal(api_jstr(answer, "details.kind"), "configmaps");
	assert_string_equal(api_jstr(answer, "details.uid"), "u1");

	/* a finalizer: marked (deletionTimestamp now, grace 0), it stays */
	assert_int_equal(plan(cm, b, NULL, NULL, NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(api_jstr(b, "metadata.deletionTimestamp"), "2026-11-27T11:00:00Z");
	assert_int_equal(json_integer_value(api_jget(b, "metadata.deletionGracePeriodSeconds")), 0);
	/* deleted again later: same mark, nothing new */
	c = json_deep_copy(b);
	assert_int_equal(api_delete_plan(cm, c,
					 &(struct api_delete_options){.orphan_dependents = -1},
					 NOW + 60, &err),
			 API_DELETE_UPDATE);
	assert_true(json_equal(b, c));

	/* Orphan and Foreground add the garbage collector's finalizers; Background drops them */
	d = stored("", "");
	assert_int_equal(plan(cm, d, NULL, "Orphan", NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(
		json_string_value(json_array_get(api_jget(d, "metadata.finalizers"), 0)), "orphan");
	assert_int_equal(plan(cm, d, NULL, "Foreground", NULL, &err), API_DELETE_UPDATE);
	assert_int_equal(json_array_size(api_jget(d, "metadata.finalizers")), 1);
	assert_string_equal(
		json_string_value(json_array_get(api_jget(d, "metadata.finalizers"), 0)),
		"foregroundDeletion");
	assert_int_equal(plan(cm, d, NULL, "Background", NULL, &err), API_DELETE_NOW);
	assert_null(api_jget(d, "metadata.finalizers"));
}

static void plan_preconditions(void **state)
{
	const struct api_resource *cm = res("", "v1", "configmaps");
	const struct api_resource *dep = res("apps", "v1", "deployments");
	const struct api_resource *ns = res("", "v1", "namespaces");
	struct api_delete_options o = {.orphan_dependents = -1, .uid = (char *)"u2"};
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *a = stored("", ""), *n = stored("", "");

	(void)state;
	assert_int_equal(api_delete_plan(cm, a, &o, NOW, &err), -1);
	assert_int_equal(err.code, 409);
	assert_string_equal(err.msg, "Operation cannot be fulfilled on ConfigMap \"o\": the UID in "
				     "the precondition (u2) does not match the UID in record (u1). "
				     "The object might have been deleted and then recreated");
	k8c_error_clear(&err);
	o.uid = NULL;
	o.resource_version = (char *)"6";
	assert_int_equal(api_delete_plan(dep, a, &o, NOW, &err), -1);
	assert_string_equal(err.msg,
			    "Operation cannot be fulfilled on Deployment.apps \"o\": the "
			    "ResourceVersion in the precondition (6) does not match the "
			    "ResourceVersion in record (7). The object might have been modified");
	k8c_error_clear(&err);
	assert_int_equal(api_delete_plan(ns, n, &o, NOW, &err), -1);
	assert_string_equal(err.msg, "Operation cannot be fulfilled on namespaces \"o\": "
				     "Precondition failed: ResourceVersion in precondition: 6, "
				     "ResourceVersion in object meta: 7");
	k8c_error_clear(&err);
	o.resource_version = (char *)"7";
	o.uid = (char *)"u1";
	assert_int_equal(api_delete_plan(cm, a, &o, NOW, &err), API_DELETE_NOW);
}

static void plan_pods(void **state)
{
	const struct api_resource *pods = res("", "v1", "pods");
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *unscheduled = stored("\"generation\":1", "\"spec\":{}");
	_cleanup_json_ json_t *p =
		stored("\"generation\":1", "\"spec\":{\"nodeName\":\"n1\","
					   "\"terminationGracePeriodSeconds\":30}");
	_cleanup_json_ json_t *done =
		stored("", "\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"phase\":\"Succeeded\"}");
	_cleanup_json_ json_t *answer = NULL;

	(void)state;
	/* never scheduled: the grace 0 mark, then the delete; answered with the pod */
	assert_int_equal(plan(pods, unscheduled, NULL, NULL, NULL, &err),
			 API_DELETE_UPDATE_THEN_DELETE);
	assert_int_equal(
		json_integer_value(api_jget(unscheduled, "metadata.deletionGracePeriodSeconds")),
		0);
	answer = api_delete_answer(pods, unscheduled, API_DELETE_UPDATE_THEN_DELETE);
	assert_ptr_equal(answer, unscheduled);
	json_decref(k8c_steal_ptr(answer));
	/* terminal: at once too */
	assert_int_equal(plan(pods, done, NULL, NULL, NULL, &err), API_DELETE_UPDATE_THEN_DELETE);

	/* scheduled: now + terminationGracePeriodSeconds, generation + 1 */
	assert_int_equal(plan(pods, p, NULL, NULL, NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(api_jstr(p, "metadata.deletionTimestamp"), "2026-11-27T11:00:30Z");
	assert_int_equal(json_integer_value(api_jget(p, "metadata.deletionGracePeriodSeconds")),
			 30);
	assert_int_equal(json_integer_value(api_jget(p, "metadata.generation")), 2);
	/* a longer or equal grace period changes nothing, no grace period neither */
	assert_int_equal(plan(pods, p, "30", NULL, NULL, &err), API_DELETE_PENDING);
	assert_int_equal(plan(pods, p, NULL, NULL, NULL, &err), API_DELETE_PENDING);
	/* a shorter one moves the deadline */
	assert_int_equal(plan(pods, p, "10", NULL, NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(api_jstr(p, "metadata.deletionTimestamp"), "2026-11-27T11:00:10Z");
	assert_int_equal(json_integer_value(api_jget(p, "metadata.deletionGracePeriodSeconds")),
			 10);
	assert_int_equal(json_integer_value(api_jget(p, "metadata.generation")), 2);
	/* --grace-period=0 --force: gone now */
	assert_int_equal(plan(pods, p, "0", NULL, NULL, &err), API_DELETE_UPDATE_THEN_DELETE);
	assert_int_equal(json_integer_value(api_jget(p, "metadata.deletionGracePeriodSeconds")), 0);
}

static void plan_gc_defaults(void **state)
{
	const struct api_resource *rc = res("", "v1", "replicationcontrollers");
	const struct api_resource *dep = res("apps", "v1", "deployments");
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *a = stored("", ""), *b = stored("", ""), *c = stored("", "");

	(void)state;
	/* v1 replicationcontrollers orphan by default (for backwards compatibility) */
	assert_int_equal(plan(rc, a, NULL, NULL, NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(
		json_string_value(json_array_get(api_jget(a, "metadata.finalizers"), 0)), "orphan");
	assert_int_equal(plan(rc, b, NULL, "Background", NULL, &err), API_DELETE_NOW);
	/* orphanDependents=false: neither finalizer, deleted at once (kube answers 202 only when it stays) */
	assert_int_equal(plan(dep, c, NULL, NULL, "false", &err), API_DELETE_NOW);
}

static void plan_namespaces(void **state)
{
	const struct api_resource *ns = res("", "v1", "namespaces");
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *n = stored(
		"", "\"spec\":{\"finalizers\":[\"kubernetes\"]},\"status\":{\"phase\":\"Active\"}");
	_cleanup_json_ json_t *next = NULL, *answer = NULL;

	(void)state;
	assert_int_equal(plan(ns, n, NULL, "Background", NULL, &err), API_DELETE_UPDATE);
	assert_string_equal(api_jstr(n, "status.phase"), "Terminating");
	assert_string_equal(api_jstr(n, "metadata.deletionTimestamp"), "2026-11-27T11:00:00Z");
	assert_null(api_jget(n, "metadata.finalizers"));
	assert_true(api_namespace_terminating(n));
	/* again while the kubernetes finalizer is there: the namespace, unchanged */
	assert_int_equal(plan(ns, n, NULL, NULL, NULL, &err), API_DELETE_PENDING);
	answer = api_delete_answer(ns, n, API_DELETE_PENDING);
	assert_ptr_equal(answer, n);
	json_decref(k8c_steal_ptr(answer));
	/* /finalize empties spec.finalizers: that update deletes it */
	next = json_deep_copy(n);
	json_object_set_new(api_jobj(next, "spec"), "finalizers", json_array());
	assert_true(api_delete_on_update(ns, next, n));
	assert_false(api_delete_on_update(ns, n, n));
	assert_true(api_namespace_immortal("default"));
	assert_true(api_namespace_immortal("kube-system"));
	assert_false(api_namespace_immortal("kube-node-lease"));
}

static void finalizer_validation(void **state)
{
	_cleanup_json_ json_t *ok = parse(
		"{\"metadata\":{\"finalizers\":[\"kubernetes\",\"example.com/a-b\",\"orphan\"]}}");
	_cleanup_json_ json_t *bad = parse("{\"metadata\":{\"finalizers\":[\"foo\"]}}");
	_cleanup_json_ json_t *bad2 = parse("{\"metadata\":{\"finalizers\":[\"a/b/c\"]}}");
	_cleanup_json_ json_t *both =
		parse("{\"metadata\":{\"finalizers\":[\"orphan\",\"foregroundDeletion\"]}}");
	_cleanup_json_ json_t *old = parse("{\"metadata\":{\"finalizers\":[\"x.io/a\"],"
					   "\"deletionTimestamp\":\"2026-11-27T11:00:00Z\"}}");
	_cleanup_json_ json_t *added = parse("{\"metadata\":{\"finalizers\":[\"x.io/a\",\"x.io/"
					     "b\"]}}");
	_cleanup_json_ json_t *removed = parse("{\"metadata\":{\"finalizers\":[]}}");
	_cleanup_json_ json_t *c1 = json_array(), *c2 = json_array(), *c3 = json_array(),
			      *c4 = json_array(), *c5 = json_array();
	const struct api_resource *cm = res("", "v1", "configmaps");

	(void)state;
	api_delete_validate_meta(ok, NULL, c1);
	assert_int_equal(json_array_size(c1), 0);
	api_delete_validate_meta(bad, NULL, c2);
	assert_string_equal(only_cause(c2), "Invalid value: \"foo\": name is neither a standard "
					    "finalizer name nor is it fully qualified");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c2, 0), "field")),
			    "metadata.finalizers[0]");
	api_delete_validate_meta(bad2, NULL, c3);
	assert_int_equal(json_array_size(c3), 1);
	assert_non_null(strstr(only_cause(c3), "with an optional DNS subdomain prefix and '/'"));
	api_delete_validate_meta(both, NULL, c4);
	assert_string_equal(
		only_cause(c4),
		"Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer "
		"orphan and foregroundDeletion cannot be both set");
	/* being deleted: no new finalizer; removing them is fine and deletes the object */
	api_delete_validate_meta(added, old, c5);
	assert_string_equal(only_cause(c5), "Forbidden: no new finalizers can be added if the "
					    "object is being deleted, found new finalizers "
					    "[]string{\"x.io/b\"}");
	assert_false(api_delete_on_update(cm, added, old));
	assert_true(api_delete_on_update(cm, removed, old));
	assert_false(api_delete_on_update(cm, removed, removed));
}

static void events_age(void **state)
{
	_cleanup_json_ json_t *ev =
		parse("{\"metadata\":{\"creationTimestamp\":\"2026-11-27T10:00:00Z\"},"
		      "\"lastTimestamp\":\"2026-11-27T10:30:00Z\",\"eventTime\":\"2026-11-27T10:45:"
		      "00.123456Z\"}");
	_cleanup_json_ json_t *none = parse("{}");
	char buf[32];

	(void)state;
	assert_int_equal(api_event_last_seen(ev), NOW - 15 * 60);
	assert_int_equal(api_event_last_seen(none), 0);
	assert_int_equal(api_time_parse("2026-11-27T11:00:00Z"), NOW);
	assert_int_equal(api_time_parse("2026-11-27T11:00:00+01:00"), (time_t)-1);
	api_time_format(NOW + 1, buf);
	assert_string_equal(buf, "2026-11-27T11:00:01Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_from_json),	cmocka_unit_test(options_from_query),
		cmocka_unit_test(options_validation),	cmocka_unit_test(plan_plain_and_finalizers),
		cmocka_unit_test(plan_preconditions),	cmocka_unit_test(plan_pods),
		cmocka_unit_test(plan_gc_defaults),	cmocka_unit_test(plan_namespaces),
		cmocka_unit_test(finalizer_validation), cmocka_unit_test(events_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The schema of the served kinds (generated from python3-kubernetes models plus the supplement):
 * kinds of every served group, fields, merge keys, open types, unknown and duplicate fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_registry.h"
#include "api_schema.h"
#include "cleanup.h"

/* Follow a dotted path of fields from t ("spec.template.spec"); NULL when a step is unknown. */
static const struct api_schema_field *field_path(const struct api_schema_type *t, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	const struct api_schema_field *f = NULL;
	char *save = NULL;

	for (char *tok = strtok_r(copy, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		if (!t)
			return NULL;
		f = api_schema_field(t, tok);
		if (!f)
			return NULL;
		t = f->type;
	}
	return f;
}

static void every_served_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		const struct api_schema_type *t = api_schema_kind(r->group, r->version, r->kind);
		const char *g = NULL, *v = NULL, *k = NULL;

		if (!t)
			fail_msg("no schema for %s/%s %s", r->group, r->version, r->kind);
		assert_non_null(api_schema_field(t, "metadata"));
		assert_non_null(api_schema_field(t, "apiVersion"));
		assert_true(api_schema_type_gvk(t, &g, &v, &k));
		assert_string_equal(g, r->group);
		assert_string_equal(v, r->version);
		assert_string_equal(k, r->kind);
		if (r->has_scale)
			assert_non_null(api_schema_kind("autoscaling", "v1", "Scale"));
	}
	assert_null(api_schema_kind("apps", "v1", "Pod"));
	assert_null(api_schema_kind("", "v2", "Pod"));
}

static void names_and_fields(void **state)
{
	const struct api_schema_type *pod = api_schema_kind("", "v1", "Pod");
	const struct api_schema_type *deploy = api_schema_kind("apps", "v1", "Deployment");
	const struct api_schema_field *f;

	(void)state;
	assert_string_equal(api_schema_type_name(pod), "io.k8s.api.core.v1.Pod");
	assert_string_equal(api_schema_type_name(deploy), "io.k8s.api.apps.v1.Deployment");
	assert_string_equal(api_schema_type_name(api_schema_field(pod, "metadata")->type),
			    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
	assert_non_null(strstr(api_schema_type_description(pod), "collection of containers"));

	f = field_path(pod, "spec.containers");
	assert_non_null(f);
	assert_int_equal(f->kind, API_SCHEMA_ARRAY);
	assert_int_equal(f->elem, API_SCHEMA_OBJECT);
	assert_string_equal(api_schema_type_name(f->type), "io.k8s.api.core.v1.Container");
	assert_true(f->required);
	assert_true(f->description && *f->description);

	f = field_path(pod, "spec.containers.ports.containerPort");
	assert_non_null(f);
	assert_int_equal(f->kind, API_SCHEMA_INTEGER);
	assert_true(f->required);
	assert_int_equal(field_path(pod, "spec.containers.livenessProbe.httpGet.port")->kind,
			 API_SCHEMA_INT_OR_STRING);
	assert_int_equal(field_path(pod, "spec.containers.resources.limits")->kind, API_SCHEMA_MAP);
	assert_int_equal(field_path(pod, "spec.containers.resources.limits")->elem,
			 API_SCHEMA_QUANTITY);
	assert_int_equal(field_path(pod, "metadata.labels")->elem, API_SCHEMA_STRING);
	assert_int_equal(field_path(pod, "metadata.creationTimestamp")->kind, API_SCHEMA_TIME);
	assert_int_equal(api_schema_field(api_schema_kind("", "v1", "Secret"), "data")->elem,
			 API_SCHEMA_BYTES);
	assert_int_equal(field_path(deploy, "spec.strategy.rollingUpdate.maxSurge")->kind,
			 API_SCHEMA_INT_OR_STRING);

	/* fields after 1.22 (the supplement) */
	assert_non_null(field_path(pod, "spec.os.name"));
	assert_non_null(field_path(pod, "spec.schedulingGates.name"));
	assert_non_null(field_path(pod, "spec.containers.resizePolicy.resourceName"));
	assert_non_null(field_path(pod, "spec.containers.restartPolicy"));
	assert_non_null(field_path(pod, "spec.containers.resources.claims.name"));
	assert_non_null(field_path(pod, "spec.containers.lifecycle.preStop.sleep.seconds"));
	assert_string_equal(
		api_schema_type_name(field_path(pod, "spec.containers.lifecycle.preStop")->type),
		"io.k8s.api.core.v1.LifecycleHandler");
	assert_non_null(
		field_path(api_schema_kind("", "v1", "Service"), "spec.trafficDistribution"));
	assert_non_null(field_path(api_schema_kind("apps", "v1", "StatefulSet"),
				   "spec.persistentVolumeClaimRetentionPolicy.whenDeleted"));
	assert_int_equal(field_path(api_schema_kind("extensions", "v1beta1", "Ingress"),
				    "spec.rules.http.paths.backend.servicePort")
				 ->kind,
			 API_SCHEMA_INT_OR_STRING);
	assert_null(field_path(api_schema_kind("networking.k8s.io", "v1", "Ingress"),
			       "spec.rules.http.paths.backend.servicePort"));
	assert_null(field_path(pod, "spec.nope"));

	/* the fields are listed sorted and each can be found by name */
	for (size_t i = 0; i < api_schema_nfields(pod); i++) {
		const struct api_schema_field *fi = api_schema_field_at(pod, i);

		assert_ptr_equal(api_schema_field(pod, fi->name), fi);
		if (i)
			assert_true(strcmp(api_schema_field_at(pod, i - 1)->name, fi->name) < 0);
	}
	assert_null(api_schema_field_at(pod, api_schema_nfields(pod)));
}

static void merge_keys(void **state)
{
	const struct api_schema_type *pod = api_schema_kind("", "v1", "Pod");
	const struct api_schema_type *deploy = api_schema_kind("apps", "v1", "Deployment");
	const struct api_schema_field *f;
	static const struct {
		const char *path, *key;
		unsigned strategy;
	} tags[] = {
		{"spec.containers", "name", API_SCHEMA_MERGE},
		{"spec.initContainers", "name", API_SCHEMA_MERGE},
		{"spec.ephemeralContainers", "name", API_SCHEMA_MERGE},
		{"spec.containers.ports", "containerPort", API_SCHEMA_MERGE},
		{"spec.containers.env", "name", API_SCHEMA_MERGE},
		{"spec.containers.volumeMounts", "mountPath", API_SCHEMA_MERGE},
		{"spec.volumes", "name", API_SCHEMA_MERGE | API_SCHEMA_RETAIN_KEYS},
		{"spec.imagePullSecrets", "name", API_SCHEMA_MERGE},
		{"spec.hostAliases", "ip", API_SCHEMA_MERGE},
		{"metadata.ownerReferences", "uid", API_SCHEMA_MERGE},
		{"status.conditions", "type", API_SCHEMA_MERGE},
		{"metadata.finalizers", NULL, API_SCHEMA_MERGE},
		{"spec.tolerations", NULL, 0},
		{"spec.containers.args", NULL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		f = field_path(pod, tags[i].path);
		if (!f)
			fail_msg("no field %s", tags[i].path);
		assert_int_equal(f->strategy, tags[i].strategy);
		if (tags[i].key)
			assert_string_equal(f->merge_key, tags[i].key);
		else
			assert_null(f->merge_key);
	}
	f = field_path(deploy, "spec.template.spec.containers");
	assert_string_equal(f->merge_key, "name");
	f = field_path(deploy, "spec.strategy");
	assert_int_equal(f->kind, API_SCHEMA_OBJECT);
	assert_int_equal(f->strategy, API_SCHEMA_RETAIN_KEYS);
	f = field_path(api_schema_kind("", "v1", "Service"), "spec.ports");
	assert_string_equal(f->merge_key, "port");
	/* updateStrategy of a DaemonSet carries no tag in k8s.io/api apps/v1 */
	f = field_path(api_schema_kind("apps", "v1", "DaemonSet"), "spec.updateStrategy");
	assert_int_equal(f->strategy, 0);
}

static json_t *unknown(const char *group, const char *version, const char *kind, const char *doc)
{
	json_t *problems = json_array();
	_cleanup_json_ json_t *obj = json_loads(doc, 0, NULL);

	assert_non_null(obj);
	api_schema_unknown_fields(api_schema_kind(group, version, kind), obj, problems);
	return problems;
}

static void unknown_fields(void **state)
{
	_cleanup_json_ json_t *p = NULL;

	(void)state;
	p = unknown("", "v1", "Pod",
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
		    "\"labels\":{\"any.key/x\":\"y\"},\"annotations\":{\"a\":\"b\"}},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"ports\":"
		    "[{\"containerPort\":80}],\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]}}");
	assert_int_equal(json_array_size(p), 0);
	json_decref(p);

	p = unknown(
		"", "v1", "Pod",
		"{\"metadata\":{\"name\":\"p\",\"nam\":1},\"spec\":{\"foo\":1,\"containers\":"
		"[{\"name\":\"a\"},{\"name\":\"c\",\"imagex\":\"i\",\"ports\":[{\"containerPort\":"
		"80,\"hostPrt\":1}]}]},\"bar\":null}");
	assert_int_equal(json_array_size(p), 5);
	{
		const char *want[] = {
			"unknown field \"metadata.nam\"",
			"unknown field \"spec.foo\"",
			"unknown field \"spec.containers[1].imagex\"",
			"unknown field \"spec.containers[1].ports[0].hostPrt\"",
			"unknown field \"bar\"",
		};
		for (size_t i = 0; i < 5; i++) {
			bool found = false;

			for (size_t j = 0; j < json_array_size(p); j++)
				found |= strcmp(json_string_value(json_array_get(p, j)), want[i]) ==
					 0;
			if (!found)
				fail_msg("missing %s", want[i]);
		}
	}
	json_decref(p);

	/* deep through a Deployment's pod template */
	p = unknown("apps", "v1", "Deployment",
		    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
		    "\"env\":[{\"name\":\"A\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
		    "\"key\":\"k\",\"opt\":true}}}]}]}}}}");
	assert_int_equal(json_array_size(p), 1);
	assert_string_equal(
		json_string_value(json_array_get(p, 0)),
		"unknown field "
		"\"spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.opt\"");
	json_decref(p);

	/* open types and free-form values are not checked inside */
	p = unknown("", "v1", "Pod",
		    "{\"spec\":{\"schedulingGroup\":{\"anything\":1},\"containers\":[]},"
		    "\"metadata\":{\"managedFields\":[{\"fieldsV1\":{\"f:x\":{}}}]}}");
	assert_int_equal(json_array_size(p), 0);
	json_decref(p);

	/* wrong shapes are not unknown fields (the type check is the decoder's) */
	p = unknown("", "v1", "Pod", "{\"spec\":\"x\",\"metadata\":[1]}");
	assert_int_equal(json_array_size(p), 0);
	json_decref(p);

	/* dropping removes exactly what is reported */
	{
		_cleanup_json_ json_t *obj = json_loads(
			"{\"spec\":{\"foo\":1,\"replicas\":2,\"template\":{\"spec\":{"
			"\"containers\":[{\"name\":\"c\",\"bad\":[1]}]}}},\"metadata\":{\"labels\":"
			"{\"bad\":\"kept\"}}}",
			0, NULL);
		_cleanup_json_ json_t *want = json_loads(
			"{\"spec\":{\"replicas\":2,\"template\":{\"spec\":{\"containers\":"
			"[{\"name\":\"c\"}]}}},\"metadata\":{\"labels\":{\"bad\":\"kept\"}}}",
			0, NULL);

		api_schema_drop_unknown(api_schema_kind("apps", "v1", "Deployment"), obj);
		assert_true(json_equal(obj, want));
	}

	p = unknown("extensions", "v1beta1", "Ingress",
		    "{\"spec\":{\"backend\":{\"serviceName\":\"s\",\"servicePort\":80,"
		    "\"service\":{}}}}");
	assert_int_equal(json_array_size(p), 1);
	assert_string_equal(json_string_value(json_array_get(p, 0)),
			    "unknown field \"spec.backend.service\"");
}

static void duplicate_fields(void **state)
{
	_cleanup_json_ json_t *p = json_array();
	const char *doc = "{\"metadata\": {\"name\": \"a\", \"labels\": {\"x\": \"1\"}, "
			  "\"name\": \"b\"}, \"spec\": {\"containers\": [{\"name\": \"c\"}, "
			  "{\"name\": \"d\", \"image\": \"e\\\"q\", \"name\": \"f\"}]}, "
			  "\"k\\u00e9\": [1, 2.5e3, true, null], \"k\u00e9\": 0}";

	(void)state;
	assert_int_equal(api_schema_duplicate_fields(doc, strlen(doc), p), 0);
	assert_int_equal(json_array_size(p), 3);
	assert_string_equal(json_string_value(json_array_get(p, 0)),
			    "duplicate field \"metadata.name\"");
	assert_string_equal(json_string_value(json_array_get(p, 1)),
			    "duplicate field \"spec.containers[1].name\"");
	assert_string_equal(json_string_value(json_array_get(p, 2)), "duplicate field \"k\u00e9\"");
	json_array_clear(p);
	assert_int_equal(api_schema_duplicate_fields("{\"a\":1,\"b\":{\"a\":2}}", 19, p), 0);
	assert_int_equal(json_array_size(p), 0);
	assert_int_equal(api_schema_duplicate_fields("{\"a\":1,", 7, p), -1);
	assert_int_equal(api_schema_duplicate_fields("{\"a\":1} x", 9, p), -1);
}

/* What the server's defaulting and create hooks add to an object is all known to the schema. */
static void defaults_are_known(void **state)
{
	static const char pod_spec[] =
		"{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"ports\":[{\"containerPort\":80}"
		"],"
		"\"livenessProbe\":{\"httpGet\":{\"port\":80}},\"env\":[{\"name\":\"A\","
		"\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}]}],"
		"\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"cm\"}},{\"name\":\"s\","
		"\"secret\":{\"secretName\":\"x\"}},{\"name\":\"e\",\"emptyDir\":{}}]}";
	static const char sel[] = "\"selector\":{\"matchLabels\":{\"a\":\"b\"}}";
	char tmpl[2048], spec[2560];

	(void)state;
	snprintf(tmpl, sizeof(tmpl), "{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":%s}",
		 pod_spec);
	for (size_t i = 0; i < api_registry_count(); i++) {
		const struct api_resource *r = api_registry_at(i);
		const struct api_schema_type *t = api_schema_kind(r->group, r->version, r->kind);
		_cleanup_json_ json_t *obj = NULL, *problems = json_array();
		_cleanup_free_ char *av = api_registry_api_version(r);

		if (strcmp(r->kind, "Pod") == 0)
			snprintf(spec, sizeof(spec), "%s", pod_spec);
		else if (strcmp(r->kind, "Deployment") == 0 || strcmp(r->kind, "ReplicaSet") == 0 ||
			 strcmp(r->kind, "DaemonSet") == 0 || strcmp(r->kind, "StatefulSet") == 0)
			snprintf(spec, sizeof(spec), "{%s,\"template\":%s}", sel, tmpl);
		else if (strcmp(r->kind, "ReplicationController") == 0)
			snprintf(spec, sizeof(spec), "{\"selector\":{\"a\":\"b\"},\"template\":%s}",
				 tmpl);
		else if (strcmp(r->kind, "Service") == 0)
			snprintf(spec, sizeof(spec),
				 "{\"selector\":{\"a\":\"b\"},\"ports\":[{\"port\":80}],"
				 "\"type\":\"NodePort\"}");
		else if (strcmp(r->kind, "NetworkPolicy") == 0)
			snprintf(spec, sizeof(spec),
				 "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":80}]}]}");
		else if (strcmp(r->kind, "PersistentVolume") == 0)
			snprintf(spec, sizeof(spec),
				 "{\"capacity\":{\"storage\":\"1Gi\"},\"hostPath\":{\"path\":\"/"
				 "x\"},"
				 "\"accessModes\":[\"ReadWriteOnce\"]}");
		else if (strcmp(r->kind, "PersistentVolumeClaim") == 0)
			snprintf(spec, sizeof(spec),
				 "{\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
				 "\"accessModes\":[\"ReadWriteOnce\"]}");
		else
			spec[0] = '\0';
		obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", av, "kind", r->kind,
				"metadata", "name", "x", "namespace", "default");
		if (*spec)
			json_object_set_new(obj, "spec", json_loads(spec, 0, NULL));
		if (strcmp(r->kind, "StorageClass") == 0)
			json_object_set_new(obj, "provisioner", json_string("p"));
		if (r->to_storage)
			r->to_storage(obj);
		if (r->defaults)
			r->defaults(obj);
		if (r->on_create)
			r->on_create(obj);
		if (r->from_storage)
			r->from_storage(obj);
		api_schema_unknown_fields(t, obj, problems);
		if (json_array_size(problems)) {
			_cleanup_free_ char *s = json_dumps(problems, 0);

			fail_msg("%s/%s %s: the server adds %s", r->group, r->version, r->kind, s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_served_kind), cmocka_unit_test(names_and_fields),
		cmocka_unit_test(merge_keys),	     cmocka_unit_test(unknown_fields),
		cmocka_unit_test(duplicate_fields),  cmocka_unit_test(defaults_are_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

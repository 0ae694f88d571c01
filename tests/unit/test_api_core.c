/* The registry's pure parts: defaulting, validation, Table cells, names and patches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "api_registry.h"

static const struct api_resource *res(const char *name)
{
	const struct api_resource *r = api_registry_find(name, strlen(name));

	assert_non_null(r);
	return r;
}

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

/* The causes of validating obj (against old) as r, as "field|field|". */
static char *causes_of(const struct api_resource *r, json_t *obj, json_t *old)
{
	json_t *causes = json_array(), *c;
	static char buf[512];
	size_t i;

	if (r->defaults) {
		r->defaults(obj);
		if (old)
			r->defaults(old); /* stored objects are defaulted */
	}
	r->validate(obj, old, causes);
	buf[0] = '\0';
	json_array_foreach(causes, i, c)
	{
		strcat(buf, json_string_value(json_object_get(c, "field")));
		strcat(buf, "|");
	}
	json_decref(causes);
	return buf;
}

static void pod_defaults(void **state)
{
	const struct api_resource *r = res("pods");
	json_t *p =
		load("{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"nginx\"},"
		     "{\"name\":\"b\",\"image\":\"reg:5000/x/nginx:1.25\",\"ports\":"
		     "[{\"containerPort\":80}]},{\"name\":\"c\",\"image\":\"nginx:latest\"}]}}");
	json_t *spec, *c0, *c1;

	r->defaults(p);
	r->on_create(p);
	spec = json_object_get(p, "spec");
	c0 = json_array_get(json_object_get(spec, "containers"), 0);
	c1 = json_array_get(json_object_get(spec, "containers"), 1);
	assert_string_equal(json_string_value(json_object_get(spec, "restartPolicy")), "Always");
	assert_string_equal(json_string_value(json_object_get(spec, "dnsPolicy")), "ClusterFirst");
	assert_int_equal(json_integer_value(json_object_get(spec, "terminationGracePeriodSeconds")),
			 30);
	assert_string_equal(json_string_value(json_object_get(spec, "schedulerName")),
			    "default-scheduler");
	assert_string_equal(json_string_value(json_object_get(c0, "imagePullPolicy")), "Always");
	assert_string_equal(json_string_value(json_object_get(c1, "imagePullPolicy")),
			    "IfNotPresent");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(spec, "containers"), 2), "imagePullPolicy")),
		"Always");
	assert_string_equal(json_string_value(json_object_get(c0, "terminationMessagePath")),
			    "/dev/termination-log");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(c1, "ports"), 0), "protocol")),
			    "TCP");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(p, "status"), "phase")),
		"Pending");
	json_decref(p);
}

static void service_defaults(void **state)
{
	json_t *s = load("{\"spec\":{\"ports\":[{\"port\":80},{\"port\":53,\"protocol\":\"UDP\","
			 "\"targetPort\":5353}]}}");
	json_t *spec, *p0, *p1;

	res("services")->defaults(s);
	spec = json_object_get(s, "spec");
	p0 = json_array_get(json_object_get(spec, "ports"), 0);
	p1 = json_array_get(json_object_get(spec, "ports"), 1);
	assert_string_equal(json_string_value(json_object_get(spec, "type")), "ClusterIP");
	assert_string_equal(json_string_value(json_object_get(spec, "sessionAffinity")), "None");
	assert_string_equal(json_string_value(json_object_get(p0, "protocol")), "TCP");
	assert_int_equal(json_integer_value(json_object_get(p0, "targetPort")), 80);
	assert_string_equal(json_string_value(json_object_get(p1, "protocol")), "UDP");
	assert_int_equal(json_integer_value(json_object_get(p1, "targetPort")), 5353);
	json_decref(s);
}

static void secret_defaults_and_validation(void **state)
{
	const struct api_resource *r = res("secrets");
	json_t *s = load("{\"stringData\":{\"p\":\"hunter2\"},\"data\":{\"q\":\"YWI=\"}}");

	assert_string_equal(causes_of(r, s, NULL), "");
	assert_string_equal(json_string_value(json_object_get(s, "type")), "Opaque");
	assert_string_equal(json_string_value(json_object_get(json_object_get(s, "data"), "p")),
			    "aHVudGVyMg==");
	assert_null(json_object_get(s, "stringData"));
	json_decref(s);
	s = load("{\"data\":{\"k\":\"not base64!\",\"bad key\":\"YQ==\"}}");
	assert_string_equal(causes_of(r, s, NULL), "data|data[k]|");
	json_decref(s);
}

static void validation_causes(void **state)
{
	json_t *p = load("{\"spec\":{\"containers\":[]}}");
	json_t *old, *cm;

	assert_string_equal(causes_of(res("pods"), p, NULL), "spec.containers|");
	json_decref(p);
	p = load("{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"image\":\"x\"},{\"name\":\"a\","
		 "\"image\":\"y\",\"ports\":[{\"containerPort\":70000}]}],"
		 "\"restartPolicy\":\"Sometimes\"}}");
	assert_string_equal(causes_of(res("pods"), p, NULL),
			    "spec.containers[0].image|spec.containers[1].name|"
			    "spec.containers[2].name|spec.containers[2].ports[0].containerPort|"
			    "spec.restartPolicy|");
	json_decref(p);
	/* a pod's spec is immutable but for images */
	old = load("{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}}");
	p = load("{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"y\"}]}}");
	assert_string_equal(causes_of(res("pods"), p, old), "");
	json_decref(p);
	p = load("{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"x\"}]}}");
	assert_string_equal(causes_of(res("pods"), p, old), "spec|");
	json_decref(p);
	json_decref(old);
	/* immutable ConfigMaps */
	old = load("{\"data\":{\"a\":\"1\"},\"immutable\":true}");
	cm = load("{\"data\":{\"a\":\"2\"}}");
	assert_string_equal(causes_of(res("configmaps"), cm, old), "immutable|data|");
	json_decref(cm);
	cm = load("{\"data\":{\"a\":\"1\"},\"immutable\":true,\"metadata\":{\"labels\":{}}}");
	assert_string_equal(causes_of(res("configmaps"), cm, old), "");
	json_decref(cm);
	json_decref(old);
	cm = load("{\"spec\":{\"ports\":[{\"port\":0}]}}");
	/* targetPort defaults to port, 0 too: kube reports both */
	assert_string_equal(causes_of(res("services"), cm, NULL),
			    "spec.ports[0].port|spec.ports[0].targetPort|");
	json_decref(cm);
}

static void names(void **state)
{
	assert_null(api_name_error(API_NAME_SUBDOMAIN, "a.b-c.d"));
	assert_non_null(api_name_error(API_NAME_SUBDOMAIN, "a..b"));
	assert_non_null(api_name_error(API_NAME_SUBDOMAIN, "-a"));
	assert_non_null(api_name_error(API_NAME_LABEL, "a.b"));
	assert_null(api_name_error(API_NAME_LABEL, "1abc"));
	assert_non_null(api_name_error(API_NAME_LABEL1035, "1abc"));
	assert_null(api_name_error(API_NAME_LABEL1035, "web-1"));
	assert_non_null(api_name_error(API_NAME_LABEL, "Upper"));
	assert_non_null(api_name_error(API_NAME_LABEL, ""));
}

static char *cells(const char *resource, const char *obj)
{
	json_t *o = load(obj), *c = res(resource)->cells(o);
	char *s = json_dumps(c, JSON_COMPACT);

	json_decref(o);
	json_decref(c);
	return s;
}

static void table_cells(void **state)
{
	char *s;

	s = cells("pods", "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{},{}],"
			  "\"nodeName\":\"n1\"},\"status\":{\"phase\":\"Running\",\"podIP\":"
			  "\"10.0.0.2\",\"containerStatuses\":[{\"ready\":true,\"restartCount\":2,"
			  "\"state\":{\"running\":{}}},{\"ready\":false,\"restartCount\":1,"
			  "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}");
	assert_string_equal(s, "[\"p\",\"1/2\",\"CrashLoopBackOff\",\"3\",\"<unknown>\","
			       "\"10.0.0.2\",\"n1\",\"<none>\",\"<none>\"]");
	free(s);
	s = cells("services",
		  "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":"
		  "\"10.96.0.10\",\"ports\":[{\"port\":80,\"nodePort\":30080,\"protocol\":\"TCP\"},"
		  "{\"port\":53,\"protocol\":\"UDP\"}],\"selector\":{\"app\":\"web\"}}}");
	assert_string_equal(s, "[\"s\",\"NodePort\",\"10.96.0.10\",\"<none>\","
			       "\"80:30080/TCP,53/UDP\",\"<unknown>\",\"app=web\"]");
	free(s);
	s = cells("services",
		  "{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":\"LoadBalancer\"}}");
	assert_string_equal(s, "[\"lb\",\"LoadBalancer\",\"<none>\",\"<pending>\",\"<none>\","
			       "\"<unknown>\",\"<none>\"]");
	free(s);
	s = cells("secrets", "{\"metadata\":{\"name\":\"x\"},\"type\":\"Opaque\",\"data\":{\"a\":"
			     "\"\",\"b\":\"\"}}");
	assert_string_equal(s, "[\"x\",\"Opaque\",2,\"<unknown>\"]");
	free(s);
	s = cells("endpoints",
		  "{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{\"ip\":"
		  "\"1.1.1.1\"},{\"ip\":\"2.2.2.2\"}],\"ports\":[{\"port\":80},"
		  "{\"port\":443}]}]}");
	/* kubectl's order: port by port, then address by address */
	assert_string_equal(s, "[\"e\",\"1.1.1.1:80,2.2.2.2:80,1.1.1.1:443 + 1 more...\","
			       "\"<unknown>\"]");
	free(s);
	s = cells("endpoints", "{\"metadata\":{\"name\":\"e\"},\"subsets\":[{\"addresses\":[{"
			       "\"ip\":\"fd00::1\"}],\"ports\":[{\"port\":80}]}]}");
	assert_string_equal(s, "[\"e\",\"[fd00::1]:80\",\"<unknown>\"]");
	free(s);
	s = cells("resourcequotas",
		  "{\"metadata\":{\"name\":\"q\"},\"spec\":{\"hard\":{\"pods\":\"10\","
		  "\"limits.cpu\":\"2\",\"cpu\":\"1\"}},\"status\":{\"hard\":{\"pods\":\"10\","
		  "\"limits.cpu\":\"2\"},\"used\":{\"pods\":\"1\"}}}");
	/* spec.hard's names sorted, limits.* apart */
	assert_string_equal(s,
			    "[\"q\",\"<unknown>\",\"cpu: 0/1, pods: 1/10\",\"limits.cpu: 0/2\"]");
	free(s);
}

/* The pod row's Status, Ready and Restarts as kubectl's printPod works them out. */
static void pod_rows(void **state)
{
	static const struct {
		const char *pod, *ready, *status, *restarts;
	} rows[] = {
		/* the second init container waits for the first */
		{"{\"spec\":{\"initContainers\":[{\"name\":\"i1\"},{\"name\":\"i2\"}],"
		 "\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\","
		 "\"initContainerStatuses\":[{\"name\":\"i1\",\"state\":{\"terminated\":{"
		 "\"exitCode\":0}}},{\"name\":\"i2\",\"state\":{\"running\":{}}}]}}",
		 "0/1", "Init:1/2", "0"},
		{"{\"spec\":{\"initContainers\":[{\"name\":\"i1\"}],\"containers\":[{\"name\":"
		 "\"c\"}]},"
		 "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i1\","
		 "\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]}}",
		 "0/1", "Init:ErrImagePull", "0"},
		{"{\"spec\":{\"initContainers\":[{\"name\":\"i1\"}],\"containers\":[{\"name\":"
		 "\"c\"}]},"
		 "\"status\":{\"phase\":\"Failed\",\"initContainerStatuses\":[{\"name\":\"i1\","
		 "\"state\":{\"terminated\":{\"exitCode\":2}}}]}}",
		 "0/1", "Init:ExitCode:2", "0"},
		/* a sidecar counts in Ready */
		{"{\"spec\":{\"initContainers\":[{\"name\":\"s\",\"restartPolicy\":\"Always\"}],"
		 "\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\","
		 "\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\"}],"
		 "\"initContainerStatuses\":[{\"name\":\"s\",\"started\":true,\"ready\":true,"
		 "\"state\":{\"running\":{}}}],\"containerStatuses\":[{\"name\":\"c\",\"ready\":"
		 "true,\"state\":{\"running\":{}}}]}}",
		 "2/2", "Running", "0"},
		/* the first container's reason wins; restarts with the last one's age */
		{"{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{"
		 "\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"restartCount\":3,"
		 "\"lastState\":{\"terminated\":{\"finishedAt\":\"2001-01-01T00:00:00Z\"}},"
		 "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}},{\"name\":\"b\","
		 "\"state\":{\"terminated\":{\"reason\":\"OOMKilled\",\"exitCode\":137}}}]}}",
		 "0/2", "CrashLoopBackOff", "3 ("},
		/* Completed with a container still running: NotReady without the Ready condition */
		{"{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{"
		 "\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"state\":{"
		 "\"terminated\":{\"reason\":\"Completed\"}}},{\"name\":\"b\",\"ready\":true,"
		 "\"state\":{\"running\":{}}}]}}",
		 "1/2", "NotReady", "0"},
		{"{\"metadata\":{\"deletionTimestamp\":\"2001-01-01T00:00:00Z\"},\"spec\":{"
		 "\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Running\"}}",
		 "0/1", "Terminating", "0"},
		{"{\"metadata\":{\"deletionTimestamp\":\"2001-01-01T00:00:00Z\"},\"spec\":{"
		 "\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Succeeded\"}}",
		 "0/1", "Succeeded", "0"},
		{"{\"spec\":{\"containers\":[{\"name\":\"a\"}]},\"status\":{\"phase\":\"Pending\","
		 "\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":"
		 "\"SchedulingGated\"}]}}",
		 "0/1", "SchedulingGated", "0"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *o = load(rows[i].pod), *c = res("pods")->cells(o);
		const char *ready = json_string_value(json_array_get(c, 1));
		const char *status = json_string_value(json_array_get(c, 2));
		const char *restarts = json_string_value(json_array_get(c, 3));

		if (strcmp(ready, rows[i].ready) || strcmp(status, rows[i].status) ||
		    strncmp(restarts, rows[i].restarts, strlen(rows[i].restarts)))
			fail_msg("pod %zu: %s %s %s, want %s %s %s", i, ready, status, restarts,
				 rows[i].ready, rows[i].status, rows[i].restarts);
		if (strchr(rows[i].restarts, '(') && !strstr(restarts, " ago)"))
			fail_msg("pod %zu: restarts %s", i, restarts);
		json_decref(c);
		json_decref(o);
	}
}

static void discovery(void **state)
{
	json_t *d = api_registry_discovery(), *e;
	size_t i;
	bool pods = false, ns = false;

	json_array_foreach(json_object_get(d, "resources"), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));

		assert_non_null(json_object_get(e, "singularName"));
		assert_non_null(json_object_get(e, "verbs"));
		if (strcmp(n, "pods") == 0)
			pods = json_is_true(json_object_get(e, "namespaced"));
		if (strcmp(n, "namespaces") == 0)
			ns = json_is_false(json_object_get(e, "namespaced"));
	}
	assert_true(pods && ns);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pod_defaults),
		cmocka_unit_test(service_defaults),
		cmocka_unit_test(secret_defaults_and_validation),
		cmocka_unit_test(validation_causes),
		cmocka_unit_test(names),
		cmocka_unit_test(table_cells),
		cmocka_unit_test(pod_rows),
		cmocka_unit_test(discovery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

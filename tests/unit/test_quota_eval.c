/*
 * Quota accounting and LimitRange rules (control/quota_eval.c): usage of pods, services and
 * claims, scopes, kube's admission messages, LimitRanger defaults and checks, the default
 * StorageClass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "quota_eval.h"

static json_t *load(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (!j)
		fail_msg("bad JSON in test: %s: %s", e.text, s);
	return j;
}

/* The usage as "a=1,b=2". */
static char text[1024];

static const char *usage_text(const char *group, const char *resource, const char *obj)
{
	json_t *o = load(obj), *u = quota_usage(group, resource, o, time(NULL));
	char *t = quota_list_text(u);

	snprintf(text, sizeof(text), "%s", t);
	free(t);
	json_decref(u);
	json_decref(o);
	return text;
}

static void test_pod_usage(void **state)
{
	(void)state;
	/* containers sum, init containers max against the sum */
	assert_string_equal(
		usage_text(
			"", "pods",
			"{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":"
			"{\"cpu\":\"250m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"500m\"}}},"
			"{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":"
			"\"64Mi\"}}}],\"initContainers\":[{\"name\":\"i\",\"resources\":"
			"{\"requests\":{\"memory\":\"1Gi\"}}}]}}"),
		"count/pods=1,cpu=500m,limits.cpu=500m,memory=1Gi,pods=1,requests.cpu=500m,"
		"requests.memory=1Gi");
	/* a pod that ended counts as an object only */
	assert_string_equal(usage_text("", "pods",
				       "{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{"
				       "\"requests\":{\"cpu\":\"1\"}}}]},\"status\":{\"phase\":"
				       "\"Succeeded\"}}"),
			    "count/pods=1");
	/* past its deletion grace period too */
	assert_string_equal(
		usage_text("", "pods",
			   "{\"metadata\":{\"deletionTimestamp\":\"2020-01-01T00:00:00Z\","
			   "\"deletionGracePeriodSeconds\":30},\"spec\":{\"containers\":[{\"name\":"
			   "\"a\"}]}}"),
		"count/pods=1");
}

static void test_other_usage(void **state)
{
	(void)state;
	assert_string_equal(
		usage_text("", "services",
			   "{\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80},{\"port\":"
			   "443}]}}"),
		"count/services=1,services=1,services.loadbalancers=0,services.nodeports=2");
	assert_string_equal(
		usage_text("", "services",
			   "{\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]}}"),
		"count/services=1,services=1,services.loadbalancers=1,services.nodeports=1");
	assert_string_equal(
		usage_text("", "persistentvolumeclaims",
			   "{\"spec\":{\"storageClassName\":\"gold\",\"resources\":{\"requests\":"
			   "{\"storage\":\"2Gi\"}}}}"),
		"count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/"
		"persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=2Gi,"
		"persistentvolumeclaims=1,requests.storage=2Gi");
	assert_string_equal(usage_text("", "configmaps", "{}"), "configmaps=1,count/configmaps=1");
	assert_string_equal(usage_text("apps", "deployments", "{}"), "count/deployments.apps=1");
	assert_true(quota_tracks("", "pods", "requests.cpu"));
	assert_true(quota_tracks("", "pods", "requests.example.com/gpu"));
	assert_false(quota_tracks("", "pods", "services"));
	assert_true(quota_tracks("apps", "deployments", "count/deployments.apps"));
	assert_false(quota_tracks("apps", "deployments", "count/deployments"));
	assert_true(quota_tracks("", "persistentvolumeclaims",
				 "gold.storageclass.storage.k8s.io/requests.storage"));
}

/* quota_check's outcome: "ok", "ok used=..." or the message. */
static char out[2048];

static const char *check(const char *quota, const char *resource, const char *obj, const char *old)
{
	json_t *q = load(quota), *o = load(obj), *p = old ? load(old) : NULL, *charged = NULL;
	char *msg = NULL;
	int rc = quota_check(q, "", resource, o, p, time(NULL), &charged, &msg);

	if (rc < 0) {
		snprintf(out, sizeof(out), "%s", msg);
	} else if (charged) {
		char *t = quota_list_text(charged);

		snprintf(out, sizeof(out), "ok used=%s", t);
		free(t);
	} else {
		snprintf(out, sizeof(out), "ok");
	}
	free(msg);
	json_decref(charged);
	json_decref(q);
	json_decref(o);
	json_decref(p);
	return out;
}

#define POD_Q                                                                                      \
	"{\"metadata\":{\"name\":\"q\"},\"status\":{\"hard\":{\"pods\":\"2\",\"requests.cpu\":"    \
	"\"1\"},\"used\":{\"pods\":\"%s\",\"requests.cpu\":\"%s\"}}}"

static void test_check(void **state)
{
	char q[512];
	const char *pod = "{\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":"
			  "{\"cpu\":\"600m\"}}}]}}";

	(void)state;
	snprintf(q, sizeof(q), POD_Q, "0", "0");
	assert_string_equal(check(q, "pods", pod, NULL), "ok used=pods=1,requests.cpu=600m");
	snprintf(q, sizeof(q), POD_Q, "1", "600m");
	assert_string_equal(check(q, "pods", pod, NULL),
			    "exceeded quota: q, requested: requests.cpu=600m, used: "
			    "requests.cpu=600m, limited: requests.cpu=1");
	snprintf(q, sizeof(q), POD_Q, "2", "0");
	assert_string_equal(check(q, "pods", pod, NULL),
			    "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2");
	/* cpu constrained: every container must ask for it */
	snprintf(q, sizeof(q), POD_Q, "0", "0");
	assert_string_equal(check(q, "pods",
				  "{\"spec\":{\"containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}",
				  NULL),
			    "failed quota: q: must specify requests.cpu for: a,b");
	/* the controller has not counted yet */
	assert_string_equal(check("{\"metadata\":{\"name\":\"q\"},\"status\":{\"hard\":{\"pods\":"
				  "\"2\",\"count/pods\":\"3\"}}}",
				  "pods", "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}", NULL),
			    "status unknown for quota: q, resources: count/pods,pods");
	/* a quota without status.hard does not apply (the controller sets it) */
	assert_string_equal(check("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"hard\":{\"pods\":"
				  "\"0\"}}}",
				  "pods", pod, NULL),
			    "ok");
	/* services: an update to NodePort is charged the difference */
	assert_string_equal(
		check("{\"metadata\":{\"name\":\"s\"},\"status\":{\"hard\":{\"services.nodeports\":"
		      "\"1\"},\"used\":{\"services.nodeports\":\"0\"}}}",
		      "services",
		      "{\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":1},{\"port\":2}]}}",
		      "{\"metadata\":{\"resourceVersion\":\"5\"},\"spec\":{\"type\":\"ClusterIP\","
		      "\"ports\":[{\"port\":1},{\"port\":2}]}}"),
		"exceeded quota: s, requested: services.nodeports=2, used: services.nodeports=0, "
		"limited: services.nodeports=1");
}

static void test_scopes(void **state)
{
	json_t *be = load("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"scopes\":[\"BestEffort\"]},"
			  "\"status\":{\"hard\":{\"pods\":\"1\"},\"used\":{\"pods\":\"0\"}}}");
	json_t *term =
		load("{\"metadata\":{\"name\":\"q\"},\"spec\":{\"scopes\":[\"Terminating\"]},"
		     "\"status\":{\"hard\":{\"pods\":\"1\"},\"used\":{\"pods\":\"0\"}}}");
	json_t *p1 = load("{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
	json_t *p2 = load("{\"spec\":{\"activeDeadlineSeconds\":5,\"containers\":[{\"name\":\"c\","
			  "\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}");
	json_t *cm = load("{}");

	(void)state;
	assert_true(quota_matches(be, "", "pods", p1));
	assert_false(quota_matches(be, "", "pods", p2));
	assert_false(quota_matches(term, "", "pods", p1));
	assert_true(quota_matches(term, "", "pods", p2));
	assert_false(quota_scopes_match(be, "", "configmaps", cm)); /* scoped: pods only */
	json_decref(be);
	json_decref(term);
	json_decref(p1);
	json_decref(p2);
	json_decref(cm);
}

static void test_limitrange(void **state)
{
	json_t *lr =
		load("[{\"spec\":{\"limits\":[{\"type\":\"Container\",\"default\":{\"cpu\":"
		     "\"500m\",\"memory\":\"256Mi\"},\"defaultRequest\":{\"cpu\":\"100m\"},"
		     "\"max\":{\"cpu\":\"1\"},\"maxLimitRequestRatio\":{\"memory\":\"2\"}}]}}]");
	json_t *pod = load("{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"web\","
			   "\"resources\":{\"requests\":{\"memory\":\"64Mi\"}}}]}}");
	char *msg = NULL;

	(void)state;
	/* defaults set; memory 256Mi / 64Mi = 4 > 2 */
	assert_int_equal(limitrange_pod(pod, lr, &msg), -1);
	assert_string_equal(msg, "memory max limit to request ratio per Container is 2, but "
				 "provided ratio is 4.000000.");
	free(msg);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(pod, "metadata"), "annotations"),
			"kubernetes.io/limit-ranger")),
		"LimitRanger plugin set: cpu request for container web; cpu, memory "
		"limit for container web");
	json_decref(pod);
	pod = load("{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{"
		   "\"limits\":{\"cpu\":\"2\",\"memory\":\"100Mi\"},\"requests\":{\"cpu\":\"2\","
		   "\"memory\":\"100Mi\"}}}]}}");
	assert_int_equal(limitrange_pod(pod, lr, &msg), -1);
	assert_string_equal(msg, "Maximum cpu usage per Container is 1, but limit is 2.");
	free(msg);
	json_decref(pod);
	json_decref(lr);
	/* several errors aggregate as [a, b]; Pod type sums containers */
	lr = load("[{\"spec\":{\"limits\":[{\"type\":\"Pod\",\"min\":{\"cpu\":\"1\"},\"max\":{"
		  "\"memory\":\"1Gi\"}}]}}]");
	pod = load("{\"metadata\":{},\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{"
		   "\"requests\":{\"cpu\":\"200m\"}}},{\"name\":\"b\",\"resources\":{\"requests\":{"
		   "\"cpu\":\"300m\"}}}]}}");
	assert_int_equal(limitrange_pod(pod, lr, &msg), -1);
	assert_string_equal(msg, "[Minimum cpu usage per Pod is 1, but request is 500m., Maximum "
				 "memory usage per Pod is 1Gi.  No limit is specified.]");
	free(msg);
	json_decref(pod);
	json_decref(lr);
	lr = load("[{\"spec\":{\"limits\":[{\"type\":\"PersistentVolumeClaim\",\"min\":{"
		  "\"storage\":\"1Gi\"},\"max\":{\"storage\":\"2Gi\"}}]}}]");
	pod = load("{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"5Gi\"}}}}");
	assert_int_equal(limitrange_pvc(pod, lr, &msg), -1);
	assert_string_equal(msg, "Maximum storage usage per PersistentVolumeClaim is 2Gi, but "
				 "request is 5Gi.");
	free(msg);
	json_decref(pod);
	json_decref(lr);
}

static void test_default_class(void **state)
{
	json_t *c = load(
		"[{\"metadata\":{\"name\":\"a\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\","
		"\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}},"
		"{\"metadata\":{\"name\":\"b\",\"creationTimestamp\":\"2026-02-01T00:00:00Z\","
		"\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}},"
		"{\"metadata\":{\"name\":\"c\",\"creationTimestamp\":\"2026-03-01T00:00:00Z\"}}]");

	(void)state;
	assert_string_equal(storage_default_class(c), "b");
	json_array_remove(c, 1);
	json_array_remove(c, 0);
	assert_null(storage_default_class(c));
	json_decref(c);
}

static void test_validate_scopes(void **state)
{
	json_t *q = load("{\"spec\":{\"scopes\":[\"BestEffort\",\"NotBestEffort\"],\"hard\":{"
			 "\"cpu\":\"1\",\"pods\":\"2\",\"count/secrets\":\"1\"}}}");
	json_t *causes = json_array();
	char *all;

	(void)state;
	quota_validate_scopes(q, causes);
	all = json_dumps(causes, JSON_COMPACT);
	/* BestEffort: cpu is not a pod count; NotBestEffort allows both; the pair conflicts */
	assert_int_equal(json_array_size(causes), 2);
	assert_non_null(strstr(all,
			       "Invalid value: []core.ResourceQuotaScope{\\\"BestEffort\\\", "
			       "\\\"NotBestEffort\\\"}: unsupported scope applied to resource"));
	assert_non_null(strstr(all, "conflicting scopes"));
	free(all);
	json_decref(causes);
	json_decref(q);
	q = load("{\"spec\":{\"scopes\":[\"Terminating\"],\"hard\":{\"limits.cpu\":\"1\","
		 "\"pods\":\"2\"}}}");
	causes = json_array();
	quota_validate_scopes(q, causes);
	assert_int_equal(json_array_size(causes), 0);
	json_decref(causes);
	json_decref(q);
}

static void test_list_ops(void **state)
{
	json_t *a = load("{\"cpu\":\"500m\",\"memory\":\"1Gi\"}");
	json_t *b = load("{\"cpu\":\"1500m\",\"pods\":\"1\"}");
	json_t *d;
	char *t;

	(void)state;
	quota_list_add(a, b);
	t = quota_list_text(a);
	assert_string_equal(t, "cpu=2,memory=1Gi,pods=1");
	free(t);
	d = quota_list_sub(b, a); /* never negative */
	t = quota_list_text(d);
	assert_string_equal(t, "cpu=0,pods=0");
	free(t);
	assert_false(quota_list_equal(a, b));
	json_decref(d);
	d = load("{\"cpu\":\"2000m\",\"memory\":\"1024Mi\",\"pods\":\"1\"}");
	assert_true(quota_list_equal(a, d));
	json_decref(d);
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_usage),  cmocka_unit_test(test_other_usage),
		cmocka_unit_test(test_check),	   cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_limitrange), cmocka_unit_test(test_default_class),
		cmocka_unit_test(test_list_ops),   cmocka_unit_test(test_validate_scopes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Validation and defaulting after kube's rules (api_validate.c and the kinds' hooks):
 * quantities, names, ObjectMeta, PodSpec parts, controllers, Services, Ingress, NetworkPolicy,
 * ConfigMaps, quotas, LimitRanges, and the Pod QoS class.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_registry.h"
#include "api_validate.h"

static const struct api_resource *res(const char *group, const char *name)
{
	const struct api_resource *r = api_registry_lookup(group, "v1", name, strlen(name));

	assert_non_null(r);
	return r;
}

static json_t *load(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (!j)
		fail_msg("bad JSON in test: %s: %s", e.text, s);
	return j;
}

/* Defaults, then validation as admit() runs it: "field|field|" and the messages in msgs. */
static char fields[2048], msgs[8192];

static const char *validate(const struct api_resource *r, const char *json, const char *old_json)
{
	json_t *obj = load(json), *old = old_json ? load(old_json) : NULL, *causes = json_array(),
	       *c;
	size_t i;

	if (r->defaults) {
		r->defaults(obj);
		if (old)
			r->defaults(old);
	}
	api_validate_meta(obj, causes);
	if (r->validate)
		r->validate(obj, old, causes);
	fields[0] = msgs[0] = '\0';
	json_array_foreach(causes, i, c)
	{
		strcat(fields, json_string_value(json_object_get(c, "field")));
		strcat(fields, "|");
		strcat(msgs, json_string_value(json_object_get(c, "reason")));
		strcat(msgs, " ");
		strcat(msgs, json_string_value(json_object_get(c, "message")));
		strcat(msgs, "\n");
	}
	json_decref(causes);
	json_decref(obj);
	json_decref(old);
	return fields;
}

static void has_msg(const char *want)
{
	if (!strstr(msgs, want))
		fail_msg("no cause \"%s\" in:\n%s", want, msgs);
}

static const char *canon(const char *s)
{
	static char buf[64];
	struct api_quantity q;

	if (api_quantity_parse(s, &q) != 0)
		return "ERR";
	api_quantity_format(&q, buf, sizeof(buf));
	return buf;
}

static void quantities(void **state)
{
	static const char *const cases[][2] = {{"1", "1"},
					       {"0.5", "500m"},
					       {"1500m", "1500m"},
					       {"1000", "1k"},
					       {"1024Mi", "1Gi"},
					       {"1536Mi", "1536Mi"},
					       {"1Ki", "1Ki"},
					       {"512Ki", "512Ki"},
					       {"100Mi", "100Mi"},
					       {"1e3", "1e3"},
					       {"1.5e3", "1500"},
					       {"0", "0"},
					       {"+2", "2"},
					       {"-1", "-1"},
					       {"0.1m", "100u"},
					       {"1n", "1n"},
					       {"0.0000000001", "1n"},
					       {"2G", "2G"},
					       {"2000M", "2G"},
					       {"1.5Gi", "1536Mi"},
					       {"0.5Ki", "512"},
					       {".5", "500m"},
					       {"5.", "5"},
					       {"1E", "1E"},
					       {"123456789", "123456789"}};
	struct api_quantity a, b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(canon(cases[i][0]), cases[i][1]) != 0)
			fail_msg("%s: got %s, want %s", cases[i][0], canon(cases[i][0]),
				 cases[i][1]);
	assert_int_equal(api_quantity_parse("abc", &a), -1);
	assert_int_equal(api_quantity_parse("", &a), -1);
	assert_int_equal(api_quantity_parse("1x", &a), -1);
	assert_int_equal(api_quantity_parse("1 Mi", &a), -1);
	assert_int_equal(api_quantity_parse("1Mk", &a), -2); /* a suffix kube cannot read */
	assert_int_equal(api_quantity_parse("1e", &a), -2);
	assert_int_equal(api_quantity_parse("1.2.3", &a), -1);
	assert_int_equal(api_quantity_parse("500m", &a), 0);
	assert_int_equal(api_quantity_parse("0.5", &b), 0);
	assert_int_equal(api_quantity_cmp(&a, &b), 0);
	assert_int_equal(api_quantity_parse("1Gi", &b), 0);
	assert_true(api_quantity_cmp(&a, &b) < 0);
	{
		json_t *two = json_integer(2); /* YAML's `cpu: 2` */

		assert_int_equal(api_quantity_parse_json(two, &a), 0);
		json_decref(two);
	}
	assert_true(api_quantity_cmp(&a, &b) < 0);
}

static void names(void **state)
{
	char buf[512];

	(void)state;
	assert_null(api_qualified_name_error("app", buf, sizeof(buf)));
	assert_null(api_qualified_name_error("app.kubernetes.io/name", buf, sizeof(buf)));
	assert_null(api_qualified_name_error("My_Key.1", buf, sizeof(buf)));
	assert_non_null(strstr(api_qualified_name_error("-app", buf, sizeof(buf)), "name part"));
	assert_string_equal(api_qualified_name_error("/app", buf, sizeof(buf)),
			    "prefix part must be non-empty");
	assert_string_equal(api_qualified_name_error("example.com/", buf, sizeof(buf)),
			    "name part must be non-empty");
	assert_non_null(strstr(api_qualified_name_error("Example.com/app", buf, sizeof(buf)),
			       "prefix part a lowercase RFC 1123 subdomain"));
	assert_non_null(strstr(api_qualified_name_error("a/b/c", buf, sizeof(buf)),
			       "with an optional DNS subdomain prefix"));
	assert_string_equal(
		api_qualified_name_error(
			"a234567890123456789012345678901234567890123456789012345678901234", buf,
			sizeof(buf)),
		"name part must be no more than 63 characters");
	assert_null(api_label_value_error(""));
	assert_null(api_label_value_error("v1.2_x-y"));
	assert_non_null(api_label_value_error("a b"));
	assert_non_null(api_label_value_error("x-"));
	assert_string_equal(
		api_label_value_error(
			"a234567890123456789012345678901234567890123456789012345678901234"),
		"must be no more than 63 characters");
}

static void port_and_env_names(void **state)
{
	json_t *causes = json_array();

	(void)state;
	api_validate_port_name("http", "f", causes);
	api_validate_port_name("web-8080", "f", causes);
	assert_int_equal(json_array_size(causes), 0);
	api_validate_port_name("8080", "f", causes); /* no letter */
	assert_int_equal(json_array_size(causes), 1);
	api_validate_port_name("-a--b_very-long-name", "f", causes); /* 4 rules broken */
	assert_int_equal(json_array_size(causes), 5);
	json_array_clear(causes);
	api_validate_env_name("MY_VAR", "f", causes);
	api_validate_env_name("my.env-name", "f", causes);
	assert_int_equal(json_array_size(causes), 0);
	api_validate_env_name("1X", "f", causes);
	api_validate_env_name("A B", "f", causes);
	api_validate_env_name("..x", "f", causes);
	assert_int_equal(json_array_size(causes), 3);
	json_decref(causes);
}

static void metadata(void **state)
{
	const struct api_resource *cm = res("", "configmaps");
	char *big;
	size_t n = 256 * 1024 + 10;

	(void)state;
	assert_string_equal(
		validate(cm,
			 "{\"metadata\":{\"labels\":{\"app.kubernetes.io/name\":\"web\","
			 "\"tier\":\"\"},\"annotations\":{\"Example.COM/Key\":\"x\"}}}",
			 NULL),
		"");
	assert_string_equal(validate(cm, "{\"metadata\":{\"labels\":{\"Foo Bar\":\"x\"}}}", NULL),
			    "metadata.labels|");
	has_msg("FieldValueInvalid Invalid value: \"Foo Bar\": name part must consist of "
		"alphanumeric characters, '-', '_' or '.', and must start and end with an "
		"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
		"for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
	assert_string_equal(validate(cm, "{\"metadata\":{\"labels\":{\"a\":\"-x\"}}}", NULL),
			    "metadata.labels|");
	has_msg("Invalid value: \"-x\": a valid label must be an empty string");
	assert_string_equal(validate(cm, "{\"metadata\":{\"annotations\":{\"a b\":\"x\"}}}", NULL),
			    "metadata.annotations|");
	big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	{
		json_t *o = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "k", big);
		char *s = json_dumps(o, 0);

		assert_string_equal(validate(cm, s, NULL), "metadata.annotations|");
		has_msg("FieldValueTooLong Too long: may not be more than 262144 bytes");
		free(s);
		json_decref(o);
	}
	/* ConfigMap data: 1 MiB at most */
	{
		char *d = malloc(1024 * 1024 + 2);
		json_t *o;
		char *s;

		memset(d, 'x', 1024 * 1024 + 1);
		d[1024 * 1024 + 1] = '\0';
		o = json_pack("{s:{s:s}}", "data", "k", d);
		s = json_dumps(o, 0);
		assert_string_equal(validate(cm, s, NULL), "[]|");
		has_msg("FieldValueTooLong Too long: may not be more than 1048576 bytes");
		free(s);
		json_decref(o);
		free(d);
	}
	free(big);
}

#define POD(containers) "{\"spec\":{\"containers\":[" containers "]}}"

static void pod_resources_and_qos(void **state)
{
	const struct api_resource *r = res("", "pods");
	static const struct {
		const char *pod, *qos;
	} qos[] = {
		{POD("{\"name\":\"a\",\"image\":\"i\"}"), "BestEffort"},
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}"
		     "}"),
		 "Burstable"},
		/* requests default to limits: Guaranteed */
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"1\","
		     "\"memory\":\"1Gi\"}}}"),
		 "Guaranteed"},
		/* equal after parsing (0.5 = 500m, 1Gi = 1024Mi) */
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"0.5\","
		     "\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"500m\",\"memory\":\"1024Mi\"}}}"),
		 "Guaranteed"},
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"1\","
		     "\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"500m\"}}}"),
		 "Burstable"},
		/* every container needs both limits */
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"1\","
		     "\"memory\":\"1Gi\"}}},{\"name\":\"b\",\"image\":\"i\"}"),
		 "Burstable"},
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}"),
		 "Burstable"},
		/* only cpu and memory count */
		{POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"ephemeral-"
		     "storage\":\"1Gi\"}}}"),
		 "BestEffort"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(qos) / sizeof(qos[0]); i++) {
		json_t *p = load(qos[i].pod);

		r->defaults(p);
		r->on_create(p);
		if (strcmp(json_string_value(
				   json_object_get(json_object_get(p, "status"), "qosClass")),
			   qos[i].qos) != 0)
			fail_msg("pod %zu: qosClass %s, want %s", i,
				 json_string_value(
					 json_object_get(json_object_get(p, "status"), "qosClass")),
				 qos[i].qos);
		json_decref(p);
	}
	assert_string_equal(
		validate(r,
			 POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":"
			     "\"1\"},\"requests\":{\"cpu\":\"2\",\"memory\":\"abc\",\"gpu\":\"1\"}}"
			     "}"),
			 NULL),
		"spec.containers[0].resources.requests[memory]|"
		"spec.containers[0].resources.requests[gpu]|"
		"spec.containers[0].resources.requests|");
	has_msg("Invalid value: \"2\": must be less than or equal to cpu limit of 1");
	has_msg("Invalid value: \"abc\": quantities must match the regular expression "
		"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
	has_msg("Invalid value: \"gpu\": must be a standard resource for containers");
	assert_string_equal(
		validate(r,
			 POD("{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{"
			     "\"example.com/gpu\":\"1\",\"memory\":\"-1\"}}}"),
			 NULL),
		/* requests default to the limits: both lists hold -1 */
		"spec.containers[0].resources.limits[memory]|"
		"spec.containers[0].resources.requests[memory]|");
	has_msg("Invalid value: \"-1\": must be greater than or equal to 0");
}

static void pod_probes_env_ports(void **state)
{
	const struct api_resource *r = res("", "pods");
	json_t *p =
		load(POD("{\"name\":\"a\",\"image\":\"i\",\"livenessProbe\":{\"httpGet\":{\"port\":"
			 "80}},\"readinessProbe\":{\"tcpSocket\":{\"port\":\"http\"},"
			 "\"periodSeconds\":5}}"));
	json_t *lp, *rp;

	(void)state;
	r->defaults(p);
	lp = json_object_get(
		json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0),
		"livenessProbe");
	rp = json_object_get(
		json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0),
		"readinessProbe");
	assert_int_equal(json_integer_value(json_object_get(lp, "timeoutSeconds")), 1);
	assert_int_equal(json_integer_value(json_object_get(lp, "periodSeconds")), 10);
	assert_int_equal(json_integer_value(json_object_get(lp, "successThreshold")), 1);
	assert_int_equal(json_integer_value(json_object_get(lp, "failureThreshold")), 3);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(lp, "httpGet"), "path")), "/");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(lp, "httpGet"), "scheme")),
		"HTTP");
	assert_int_equal(json_integer_value(json_object_get(rp, "periodSeconds")), 5);
	json_decref(p);

	assert_string_equal(
		validate(r,
			 POD("{\"name\":\"a\",\"image\":\"i\",\"livenessProbe\":{\"exec\":{"
			     "\"command\":[\"true\"]},\"httpGet\":{\"port\":80},"
			     "\"successThreshold\":2},\"readinessProbe\":{\"initialDelaySeconds\":-"
			     "1},\"startupProbe\":{\"httpGet\":{\"port\":0}}}"),
			 NULL),
		"spec.containers[0].livenessProbe.httpGet|"
		"spec.containers[0].livenessProbe.successThreshold|"
		"spec.containers[0].readinessProbe|"
		"spec.containers[0].readinessProbe.initialDelaySeconds|"
		"spec.containers[0].startupProbe.httpGet.port|");
	has_msg("FieldValueForbidden Forbidden: may not specify more than 1 handler type");
	has_msg("FieldValueRequired Required value: must specify a handler type");
	has_msg("Invalid value: 2: must be 1");
	assert_string_equal(
		validate(r,
			 POD("{\"name\":\"a\",\"image\":\"i\",\"env\":[{\"name\":\"OK_1\"},{"
			     "\"name\":\"1BAD\"},{\"name\":\"\"}],\"ports\":[{\"name\":\"http\","
			     "\"containerPort\":80},{\"name\":\"http\",\"containerPort\":81},{"
			     "\"name\":\"Web\",\"containerPort\":70000,\"protocol\":\"XTP\"}]},"
			     "{\"name\":\"a\",\"image\":\"\"}"),
			 NULL),
		"spec.containers[0].ports[1].name|spec.containers[0].ports[2].name|"
		"spec.containers[0].ports[2].containerPort|spec.containers[0].ports[2].protocol|"
		"spec.containers[0].env[1].name|spec.containers[0].env[2].name|"
		"spec.containers[1].name|spec.containers[1].image|");
	has_msg("FieldValueDuplicate Duplicate value: \"http\"");
	has_msg("Invalid value: \"Web\": must contain only alpha-numeric characters (a-z, 0-9), "
		"and hyphens (-)");
	has_msg("FieldValueNotSupported Unsupported value: \"XTP\": supported values: \"SCTP\", "
		"\"TCP\", \"UDP\"");
}

static void pod_spec_fields(void **state)
{
	const struct api_resource *r = res("", "pods");

	(void)state;
	assert_string_equal(
		validate(
			r,
			"{\"spec\":{\"dnsPolicy\":\"None\",\"hostname\":\"Bad_Host\",\"subdomain\":"
			"\"ok\",\"nodeSelector\":{\"disk\":\"s s d\"},\"serviceAccountName\":\"A\","
			"\"activeDeadlineSeconds\":0,\"containers\":[{\"name\":\"c\",\"image\":"
			"\"i\","
			"\"imagePullPolicy\":\"Sometimes\",\"terminationMessagePolicy\":\"Stdout\"}"
			"]}}",
			NULL),
		"spec.containers[0].imagePullPolicy|spec.containers[0].terminationMessagePolicy|"
		"spec.dnsConfig|spec.nodeSelector|spec.hostname|spec.serviceAccountName|"
		"spec.activeDeadlineSeconds|");
	has_msg("Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", "
		"\"Never\"");
	has_msg("Invalid value: 0: must be between 1 and 2147483647, inclusive");
	assert_string_equal(
		validate(r,
			 "{\"spec\":{\"dnsPolicy\":\"Nearest\",\"containers\":[{\"name\":"
			 "\"c\",\"image\":\"i\"}]}}",
			 NULL),
		"spec.dnsPolicy|");
}

static void pod_volumes(void **state)
{
	const struct api_resource *r = res("", "pods");
	json_t *p = load("{\"spec\":{\"volumes\":[{\"name\":\"a\"},{\"name\":\"s\",\"secret\":{"
			 "\"secretName\":\"x\"}},{\"name\":\"h\",\"hostPath\":{\"path\":\"/x\"}}],"
			 "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
	json_t *vols;

	(void)state;
	r->defaults(p);
	vols = json_object_get(json_object_get(p, "spec"), "volumes");
	assert_true(json_is_object(json_object_get(json_array_get(vols, 0), "emptyDir")));
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_array_get(vols, 1), "secret"), "defaultMode")),
		420);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(vols, 2), "hostPath"), "type")),
			    "");
	json_decref(p);
	assert_string_equal(
		validate(
			r,
			"{\"spec\":{\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},{\"name\":"
			"\"data\",\"emptyDir\":{}},{\"name\":\"Bad\",\"emptyDir\":{},\"hostPath\":{"
			"\"path\":\"/x\"}},{\"name\":\"p\",\"persistentVolumeClaim\":{}}],"
			"\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"volumeMounts\":[{"
			"\"name\":\"data\",\"mountPath\":\"/d\"},{\"name\":\"nope\",\"mountPath\":"
			"\"/d\"},{\"name\":\"data\"}]}]}}",
			NULL),
		"spec.volumes[1].name|spec.volumes[2].hostPath|spec.volumes[2].name|"
		"spec.volumes[3].persistentVolumeClaim.claimName|"
		"spec.containers[0].volumeMounts[1].name|"
		"spec.containers[0].volumeMounts[1].mountPath|"
		"spec.containers[0].volumeMounts[2].mountPath|");
	has_msg("FieldValueNotFound Not found: \"nope\"");
	has_msg("Invalid value: \"/d\": must be unique");
	has_msg("Forbidden: may not specify more than 1 volume type");
}

#define DEPLOY(spec)                                                                               \
	"{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"a\"}},\"template\":{\"metadata\":{"   \
	"\"labels\":{\"app\":\"a\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"         \
	"\"i\"}]}}" spec "}}"

static void controllers(void **state)
{
	const struct api_resource *d = res("apps", "deployments");
	const struct api_resource *ds = res("apps", "daemonsets");

	(void)state;
	assert_string_equal(validate(d, DEPLOY(""), NULL), "");
	assert_string_equal(
		validate(d,
			 DEPLOY(",\"replicas\":-1,\"revisionHistoryLimit\":-2,\"strategy\":{"
				"\"rollingUpdate\":{\"maxSurge\":0,\"maxUnavailable\":0}}"),
			 NULL),
		"spec.replicas|spec.revisionHistoryLimit|"
		"spec.strategy.rollingUpdate.maxUnavailable|");
	has_msg("Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 "
		"when `maxSurge` is 0");
	assert_string_equal(
		validate(d,
			 DEPLOY(",\"strategy\":{\"rollingUpdate\":{\"maxSurge\":\"x\","
				"\"maxUnavailable\":\"150%\"}}"),
			 NULL),
		"spec.strategy.rollingUpdate.maxUnavailable|spec.strategy.rollingUpdate.maxSurge|");
	has_msg("must not be greater than 100%");
	has_msg("a valid percent string must be a numeric string followed by an ending '%'");
	assert_string_equal(validate(d,
				     DEPLOY(",\"strategy\":{\"rollingUpdate\":{\"maxSurge\":"
					    "\"0%\",\"maxUnavailable\":\"0%\"}}"),
				     NULL),
			    "spec.strategy.rollingUpdate.maxUnavailable|");
	assert_string_equal(
		validate(d, DEPLOY(",\"progressDeadlineSeconds\":5,\"minReadySeconds\":10"), NULL),
		"spec.progressDeadlineSeconds|");
	assert_string_equal(
		validate(ds, DEPLOY(",\"updateStrategy\":{\"type\":\"Sometimes\"}"), NULL),
		"spec.updateStrategy.type|");
	assert_string_equal(validate(res("apps", "statefulsets"),
				     DEPLOY(",\"podManagementPolicy\":\"Random\""), NULL),
			    "spec.podManagementPolicy|");
}

/* The selector and template rules of apps/v1, with kube's %#v values in the messages. */
static void controller_selectors(void **state)
{
	const struct api_resource *d = res("apps", "deployments");
	static const char *const kinds[][2] = {{"deployments", "deployment"},
					       {"replicasets", "deployment"},
					       {"daemonsets", "daemonset"},
					       {"statefulsets", "statefulset"}};
	char want[128];

	(void)state;
	assert_string_equal(
		validate(d,
			 "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"x\"}},\"template\":{"
			 "\"metadata\":{\"labels\":{\"app\":\"check-out\",\"b\":\"c\"}},\"spec\":{"
			 "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
			 NULL),
		"spec.template.metadata.labels|");
	has_msg("Invalid value: map[string]string{\"app\":\"check-out\", \"b\":\"c\"}: `selector` "
		"does not match template `labels`");
	assert_string_equal(
		validate(d, DEPLOY(""),
			 "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"b\"}},"
			 "\"template\":{\"metadata\":{\"labels\":{\"app\":\"b\"}},"
			 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}"),
		"spec.selector|");
	has_msg("Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"a\"}, "
		"MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable");
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(
			validate(res("apps", kinds[i][0]),
				 "{\"spec\":{\"selector\":{},\"template\":{\"metadata\":{"
				 "\"labels\":{"
				 "\"app\":\"a\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
				 "\"image\":\"i\"}]}}}}",
				 NULL),
			"spec.selector|");
		snprintf(want, sizeof(want), "empty selector is invalid for %s", kinds[i][1]);
		has_msg(want);
	}
	assert_string_equal(
		validate(
			d,
			"{\"spec\":{\"selector\":{\"matchExpressions\":[{\"key\":\"app\","
			"\"operator\":\"In\"},{\"key\":\"b\",\"operator\":\"Exists\",\"values\":["
			"\"x\"]},{\"key\":\"c\",\"operator\":\"Like\"}]},\"template\":{\"metadata\""
			":{\"labels\":{\"app\":\"a\"}},\"spec\":{\"restartPolicy\":\"Never\","
			"\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
			NULL),
		"spec.selector.matchExpressions[0].values|spec.selector.matchExpressions[1].values|"
		/* a selector that does not convert: no template checks (as kube) */
		"spec.selector.matchExpressions[2].operator|spec.selector|");
	has_msg("invalid label selector");
	assert_string_equal(
		validate(d,
			 "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"a\"}},\"template\":{"
			 "\"metadata\":{\"labels\":{\"app\":\"a\"}},\"spec\":{\"restartPolicy\":"
			 "\"Never\",\"activeDeadlineSeconds\":5,\"containers\":[{\"name\":\"c\","
			 "\"image\":\"i\"}]}}}}",
			 NULL),
		"spec.template.spec.restartPolicy|spec.template.spec.activeDeadlineSeconds|");
	has_msg("Unsupported value: \"Never\": supported values: \"Always\"");
	has_msg("Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported");
}

static void services(void **state)
{
	const struct api_resource *r = res("", "services");

	(void)state;
	assert_string_equal(
		validate(r,
			 "{\"spec\":{\"selector\":{\"app\":\"a b\"},\"ports\":[{\"name\":\"http\","
			 "\"port\":80,\"targetPort\":\"http-web\"},{\"name\":\"http\",\"port\":81,"
			 "\"targetPort\":\"Bad_Name\"},{\"name\":\"x\",\"port\":82,\"targetPort\":"
			 "0}]}}",
			 NULL),
		"spec.ports[1].name|spec.ports[1].targetPort|spec.selector|");
	has_msg("Duplicate value: \"http\"");
	/* the same port and protocol twice */
	assert_string_equal(validate(r,
				     "{\"spec\":{\"ports\":[{\"name\":\"a\",\"port\":80},{"
				     "\"name\":\"b\",\"port\":80},{\"name\":\"c\",\"port\":80,"
				     "\"protocol\":\"UDP\"}]}}",
				     NULL),
			    "spec.ports[1]|");
	has_msg("FieldValueDuplicate Duplicate value: core.ServicePort{Name:\"\", "
		"Protocol:\"TCP\", "
		"AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
		"IntVal:0, StrVal:\"\"}, NodePort:0}");
}

/* Other kinds' SetDefaults_*: ResourceLists round up to milli units, Services, RCs, Nodes. */
static void more_defaults(void **state)
{
	json_t *l = load("{\"a\":\"0.1m\",\"b\":\"1n\",\"c\":\"1.5\",\"d\":2,\"e\":\"bad\","
			 "\"f\":\"2048Ki\"}");
	json_t *svc =
		load("{\"spec\":{\"sessionAffinity\":\"ClientIP\",\"externalIPs\":[\"1.2.3.4\"],"
		     "\"ports\":[{\"port\":80}]}}");
	json_t *rc = load("{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"app\":\"a\"}},"
			  "\"spec\":{\"containers\":[]}}}}");
	json_t *node = load("{\"status\":{\"capacity\":{\"cpu\":\"4\",\"memory\":\"8192Mi\"}}}");
	char *t;

	(void)state;
	api_quantities_canonical(l);
	t = json_dumps(l, JSON_COMPACT);
	assert_string_equal(t, "{\"a\":\"1m\",\"b\":\"1m\",\"c\":\"1500m\",\"d\":\"2\",\"e\":"
			       "\"bad\",\"f\":\"2Mi\"}");
	free(t);
	res("", "services")->defaults(svc);
	t = json_dumps(json_object_get(svc, "spec"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(
		strstr(t, "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":10800}}"));
	assert_non_null(strstr(t, "\"externalTrafficPolicy\":\"Cluster\""));
	free(t);
	res("", "replicationcontrollers")->defaults(rc);
	t = json_dumps(rc, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(t, "\"metadata\":{\"labels\":{\"app\":\"a\"}}"));
	assert_non_null(strstr(t, "\"selector\":{\"app\":\"a\"}"));
	free(t);
	res("", "nodes")->defaults(node);
	t = json_dumps(node, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(t, "{\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},"
			       "\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"}}}");
	free(t);
	json_decref(l);
	json_decref(svc);
	json_decref(rc);
	json_decref(node);
}

/* The named groups' SetDefaults_*: RBAC API groups, EndpointSlice ports, IngressClass scope. */
static void group_defaults(void **state)
{
	json_t *rb = load("{\"roleRef\":{\"kind\":\"Role\",\"name\":\"r\"},\"subjects\":[{\"kind\":"
			  "\"User\",\"name\":\"u\"},{\"kind\":\"ServiceAccount\",\"name\":\"s\","
			  "\"namespace\":\"n\"}]}");
	json_t *eps = load("{\"addressType\":\"IPv4\",\"ports\":[{\"port\":80}]}");
	json_t *ic = load("{\"spec\":{\"controller\":\"x/y\",\"parameters\":{\"kind\":\"K\","
			  "\"name\":\"n\"}}}");
	char *t;

	(void)state;
	res("rbac.authorization.k8s.io", "rolebindings")->defaults(rb);
	t = json_dumps(rb, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(t, "{\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":"
			       "\"Role\",\"name\":\"r\"},\"subjects\":[{\"apiGroup\":\"rbac."
			       "authorization.k8s.io\",\"kind\":\"User\",\"name\":\"u\"},{"
			       "\"apiGroup\":\"\",\"kind\":\"ServiceAccount\",\"name\":\"s\","
			       "\"namespace\":\"n\"}]}");
	free(t);
	res("discovery.k8s.io", "endpointslices")->defaults(eps);
	t = json_dumps(json_object_get(eps, "ports"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(t, "[{\"name\":\"\",\"port\":80,\"protocol\":\"TCP\"}]");
	free(t);
	res("networking.k8s.io", "ingressclasses")->defaults(ic);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(ic, "spec"), "parameters"), "scope")),
		"Cluster");
	json_decref(rb);
	json_decref(eps);
	json_decref(ic);
}

/* Pods get the admission plugins' fields (priority, tolerations...); templates do not. */
static void pod_and_template_defaults(void **state)
{
	json_t *pod = load("{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"c\","
			   "\"image\":\"i\",\"ports\":[{\"containerPort\":80}]}]}}");
	json_t *dep = load(DEPLOY(""));
	json_t *ps, *ts;

	(void)state;
	res("", "pods")->defaults(pod);
	res("apps", "deployments")->defaults(dep);
	ps = json_object_get(pod, "spec");
	ts = json_object_get(json_object_get(json_object_get(dep, "spec"), "template"), "spec");
	assert_int_equal(json_array_size(json_object_get(ps, "tolerations")), 2);
	assert_true(json_is_true(json_object_get(ps, "enableServiceLinks")));
	assert_int_equal(json_integer_value(json_object_get(ps, "priority")), 0);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(json_object_get(
					       json_array_get(json_object_get(ps, "containers"), 0),
					       "ports"),
				       0),
			"hostPort")),
		80);
	assert_null(json_object_get(ts, "tolerations"));
	assert_null(json_object_get(ts, "enableServiceLinks"));
	assert_null(json_object_get(ts, "priority"));
	assert_null(json_object_get(ts, "serviceAccountName"));
	assert_string_equal(json_string_value(json_object_get(ts, "dnsPolicy")), "ClusterFirst");
	assert_true(json_is_object(json_object_get(ts, "securityContext")));
	json_decref(pod);
	json_decref(dep);
}

static void secrets_by_type(void **state)
{
	const struct api_resource *r = res("", "secrets");

	(void)state;
	assert_string_equal(validate(r, "{\"type\":\"kubernetes.io/tls\",\"data\":{}}", NULL),
			    "data[tls.crt]|data[tls.key]|");
	assert_string_equal(validate(r,
				     "{\"type\":\"kubernetes.io/tls\",\"data\":{\"tls.crt\":\"\","
				     "\"tls.key\":\"\"}}",
				     NULL),
			    "");
	assert_string_equal(validate(r, "{\"type\":\"kubernetes.io/basic-auth\"}", NULL),
			    "data[username]|data[password]|");
	assert_string_equal(validate(r,
				     "{\"type\":\"kubernetes.io/basic-auth\",\"data\":{"
				     "\"password\":\"eA==\"}}",
				     NULL),
			    "");
	assert_string_equal(validate(r,
				     "{\"type\":\"kubernetes.io/ssh-auth\",\"data\":{\"ssh-"
				     "privatekey\":\"\"}}",
				     NULL),
			    "data[ssh-privatekey]|");
	assert_string_equal(validate(r, "{\"type\":\"kubernetes.io/dockerconfigjson\"}", NULL),
			    "data[.dockerconfigjson]|");
	assert_string_equal(validate(r, "{\"type\":\"kubernetes.io/service-account-token\"}", NULL),
			    "metadata.annotations[kubernetes.io/service-account.name]|");
	assert_string_equal(validate(r, "{\"type\":\"example.com/custom\"}", NULL), "");
}

static void ingress_and_netpol(void **state)
{
	const struct api_resource *ing = res("networking.k8s.io", "ingresses");
	const struct api_resource *np = res("networking.k8s.io", "networkpolicies");

#define RULE(host)                                                                                 \
	"{\"host\":\"" host "\",\"http\":{\"paths\":[{\"path\":\"/\",\"pathType\":\"Prefix\","     \
	"\"backend\":{\"service\":{\"name\":\"s\",\"port\":{\"number\":80}}}}]}}"
	(void)state;
	assert_string_equal(
		validate(ing,
			 "{\"spec\":{\"rules\":[" RULE("foo.bar.com") "," RULE("*.bar.com") "]}}",
			 NULL),
		"");
	assert_string_equal(validate(ing,
				     "{\"spec\":{\"rules\":[" RULE("Foo.com") "," RULE(
					     "*") "," RULE("10.0.0.1") "," RULE("a.*.com") "]}}",
				     NULL),
			    "spec.rules[0].host|spec.rules[1].host|spec.rules[2].host|"
			    "spec.rules[3].host|");
	has_msg("must be a DNS name, not an IP address");
	has_msg("a wildcard DNS-1123 subdomain must start with '*.'");
	assert_string_equal(
		validate(np,
			 "{\"spec\":{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":80},{"
			 "\"port\":\"http\",\"endPort\":90},{\"port\":70000,\"protocol\":\"XTP\"},{"
			 "\"port\":100,\"endPort\":90}]}]}}",
			 NULL),
		"spec.ingress[0].ports[1].endPort|spec.ingress[0].ports[2].protocol|"
		"spec.ingress[0].ports[2].port|spec.ingress[0].ports[3].endPort|");
}

static void quota_and_limits(void **state)
{
	const struct api_resource *q = res("", "resourcequotas");
	const struct api_resource *l = res("", "limitranges");
	json_t *lr = load("{\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{\"cpu\":\"2\"},"
			  "\"min\":{\"memory\":\"64Mi\"}}]}}");
	json_t *item;

	(void)state;
	assert_string_equal(
		validate(q, "{\"spec\":{\"hard\":{\"pods\":\"10\",\"cpu\":\"4\"}}}", NULL), "");
	assert_string_equal(
		validate(q, "{\"spec\":{\"hard\":{\"cpu\":\"x\",\"memory\":\"-1Gi\"}}}", NULL),
		"spec.hard[cpu]|spec.hard[memory]|");
	l->defaults(lr);
	item = json_array_get(json_object_get(json_object_get(lr, "spec"), "limits"), 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(item, "default"), "cpu")), "2");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(item, "defaultRequest"), "cpu")),
		"2");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(item, "defaultRequest"), "memory")),
			    "64Mi");
	json_decref(lr);
	assert_string_equal(
		validate(l,
			 "{\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{"
			 "\"cpu\":\"1\"},\"min\":{\"cpu\":\"2\"}},{\"type\":\"Node\"}]}}",
			 NULL),
		"spec.limits[0].min[cpu]|spec.limits[0].min[cpu]|spec.limits[0].min[cpu]|"
		"spec.limits[1].type|");
	has_msg("min value 2 is greater than max value 1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantities),
		cmocka_unit_test(names),
		cmocka_unit_test(port_and_env_names),
		cmocka_unit_test(metadata),
		cmocka_unit_test(pod_resources_and_qos),
		cmocka_unit_test(pod_probes_env_ports),
		cmocka_unit_test(pod_volumes),
		cmocka_unit_test(pod_spec_fields),
		cmocka_unit_test(controllers),
		cmocka_unit_test(services),
		cmocka_unit_test(ingress_and_netpol),
		cmocka_unit_test(quota_and_limits),
		cmocka_unit_test(secrets_by_type),
		cmocka_unit_test(pod_and_template_defaults),
		cmocka_unit_test(more_defaults),
		cmocka_unit_test(group_defaults),
		cmocka_unit_test(controller_selectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

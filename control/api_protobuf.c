/*
 * A schema-driven decoder for Kubernetes protobuf bodies: one table per message type lists its
 * fields {number, JSON name, kind}. Field numbers are those of the public API's generated.proto
 * files (k8s.io/api, k8s.io/apimachinery). Unknown fields are skipped, as protobuf requires.
 *
 * JSON omits zero values where protobuf does not: Go's gogo-protobuf marshals every non-pointer
 * field (an empty string, a 0, a false), while encoding/json drops them with omitempty. So a zero
 * scalar is left out unless the Go field is a pointer (F_PTR), in which case presence on the wire
 * means it was set (e.g. replicas: 0, immutable: false).
 */
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_protobuf.h"
#include "cleanup.h"

#define PB_MAX_DEPTH 32

enum pb_kind {
	PB_STRING,
	PB_BYTES, /* base64 in JSON */
	PB_INT32,
	PB_INT64,
	PB_BOOL,
	PB_MSG,	    /* a nested object */
	PB_INLINE,  /* an embedded Go struct: its fields go into the parent object */
	PB_REP_MSG, /* array of objects */
	PB_REP_STR, /* array of strings */
	PB_MAP_STR, /* map<string,string> as entries {1: key, 2: value} */
	PB_MAP_BYTES,
	PB_MAP_QTY, /* map<string,Quantity> */
	PB_INTSTR,  /* util/intstr.IntOrString {1: type, 2: intVal, 3: strVal} */
	PB_QTY,	    /* api/resource.Quantity {1: string} */
	PB_TIME,    /* meta/v1.Time {1: seconds, 2: nanos} as RFC 3339 */
};

#define F_PTR 1 /* a Go pointer: emitted when present, even if zero */

struct pb_msg;

struct pb_field {
	uint32_t num;
	const char *json;
	uint8_t kind;
	uint8_t flags;
	const struct pb_msg *msg;
};

struct pb_msg {
	const char *name;
	const struct pb_field *fields;
	size_t n;
};

/* One pb_field initialiser; the macros below name the kinds. */
#define PBF(num, json, kind, flags, msg)                                                           \
	{                                                                                          \
		num, json, kind, flags, msg                                                        \
	}
#define S(n, j)	    PBF(n, j, PB_STRING, 0, NULL)
#define SP(n, j)    PBF(n, j, PB_STRING, F_PTR, NULL)
#define I32(n, j)   PBF(n, j, PB_INT32, 0, NULL)
#define I32P(n, j)  PBF(n, j, PB_INT32, F_PTR, NULL)
#define I64(n, j)   PBF(n, j, PB_INT64, 0, NULL)
#define I64P(n, j)  PBF(n, j, PB_INT64, F_PTR, NULL)
#define B(n, j)	    PBF(n, j, PB_BOOL, 0, NULL)
#define BP(n, j)    PBF(n, j, PB_BOOL, F_PTR, NULL)
#define M(n, j, m)  PBF(n, j, PB_MSG, 0, &m)
#define INL(n, m)   PBF(n, NULL, PB_INLINE, 0, &m)
#define RM(n, j, m) PBF(n, j, PB_REP_MSG, 0, &m)
#define RS(n, j)    PBF(n, j, PB_REP_STR, 0, NULL)
#define MAPS(n, j)  PBF(n, j, PB_MAP_STR, 0, NULL)
#define MAPB(n, j)  PBF(n, j, PB_MAP_BYTES, 0, NULL)
#define MAPQ(n, j)  PBF(n, j, PB_MAP_QTY, 0, NULL)
#define IOS(n, j)   PBF(n, j, PB_INTSTR, 0, NULL)
#define QTY(n, j)   PBF(n, j, PB_QTY, 0, NULL)
#define TIME(n, j)  PBF(n, j, PB_TIME, 0, NULL)

#define MSG(id, ...)                                                                               \
	static const struct pb_field id##_fields[] = {__VA_ARGS__};                                \
	static const struct pb_msg id = {#id, id##_fields,                                         \
					 sizeof(id##_fields) / sizeof(id##_fields[0])}

/* clang-format off */
/* apimachinery pkg/apis/meta/v1 */
MSG(owner_reference, S(1, "kind"), S(3, "name"), S(4, "uid"), S(5, "apiVersion"),
    BP(6, "controller"), BP(7, "blockOwnerDeletion"));
MSG(object_meta, S(1, "name"), S(2, "generateName"), S(3, "namespace"), S(4, "selfLink"),
    S(5, "uid"), S(6, "resourceVersion"), I64(7, "generation"), TIME(8, "creationTimestamp"),
    TIME(9, "deletionTimestamp"), I64P(10, "deletionGracePeriodSeconds"), MAPS(11, "labels"),
    MAPS(12, "annotations"), RM(13, "ownerReferences", owner_reference),
    RS(14, "finalizers"));
MSG(label_selector_requirement, S(1, "key"), S(2, "operator"), RS(3, "values"));
MSG(label_selector, MAPS(1, "matchLabels"),
    RM(2, "matchExpressions", label_selector_requirement));

/* core/v1 */
MSG(namespace_spec, RS(1, "finalizers"));
MSG(namespace, M(1, "metadata", object_meta), M(2, "spec", namespace_spec));
MSG(secret, M(1, "metadata", object_meta), MAPB(2, "data"), S(3, "type"),
    MAPS(4, "stringData"), BP(5, "immutable"));
MSG(config_map, M(1, "metadata", object_meta), MAPS(2, "data"), MAPB(3, "binaryData"),
    BP(4, "immutable"));
MSG(local_object_reference, S(1, "name"));
MSG(object_reference, S(1, "kind"), S(2, "namespace"), S(3, "name"), S(4, "uid"),
    S(5, "apiVersion"), S(6, "resourceVersion"), S(7, "fieldPath"));
MSG(service_account, M(1, "metadata", object_meta), RM(2, "secrets", object_reference),
    RM(3, "imagePullSecrets", local_object_reference),
    BP(4, "automountServiceAccountToken"));
MSG(service_port, S(1, "name"), S(2, "protocol"), I32(3, "port"), IOS(4, "targetPort"),
    I32(5, "nodePort"), SP(6, "appProtocol"));
MSG(service_spec, RM(1, "ports", service_port), MAPS(2, "selector"), S(3, "clusterIP"),
    S(4, "type"), RS(5, "externalIPs"), S(7, "sessionAffinity"), S(8, "loadBalancerIP"),
    RS(9, "loadBalancerSourceRanges"), S(10, "externalName"),
    S(11, "externalTrafficPolicy"), I32(12, "healthCheckNodePort"),
    B(13, "publishNotReadyAddresses"), SP(17, "ipFamilyPolicy"), RS(18, "clusterIPs"),
    RS(19, "ipFamilies"), BP(20, "allocateLoadBalancerNodePorts"),
    SP(21, "loadBalancerClass"), SP(22, "internalTrafficPolicy"),
    SP(23, "trafficDistribution"));
MSG(service, M(1, "metadata", object_meta), M(2, "spec", service_spec));
MSG(scoped_resource_selector_requirement, S(1, "scopeName"), S(2, "operator"),
    RS(3, "values"));
MSG(scope_selector, RM(1, "matchExpressions", scoped_resource_selector_requirement));
MSG(resource_quota_spec, MAPQ(1, "hard"), RS(2, "scopes"),
    M(3, "scopeSelector", scope_selector));
MSG(resource_quota, M(1, "metadata", object_meta), M(2, "spec", resource_quota_spec));

MSG(container_port, S(1, "name"), I32(2, "hostPort"), I32(3, "containerPort"),
    S(4, "protocol"), S(5, "hostIP"));
MSG(object_field_selector, S(1, "apiVersion"), S(2, "fieldPath"));
MSG(resource_field_selector, S(1, "containerName"), S(2, "resource"), QTY(3, "divisor"));
MSG(key_selector, INL(1, local_object_reference), S(2, "key"), BP(3, "optional"));
MSG(env_var_source, M(1, "fieldRef", object_field_selector),
    M(2, "resourceFieldRef", resource_field_selector), M(3, "configMapKeyRef", key_selector),
    M(4, "secretKeyRef", key_selector));
MSG(env_var, S(1, "name"), S(2, "value"), M(3, "valueFrom", env_var_source));
MSG(env_from_ref, INL(1, local_object_reference), BP(2, "optional"));
MSG(env_from_source, S(1, "prefix"), M(2, "configMapRef", env_from_ref),
    M(3, "secretRef", env_from_ref));
MSG(resource_claim, S(1, "name"), S(2, "request"));
MSG(resource_requirements, MAPQ(1, "limits"), MAPQ(2, "requests"),
    RM(3, "claims", resource_claim));
MSG(volume_mount, S(1, "name"), B(2, "readOnly"), S(3, "mountPath"), S(4, "subPath"),
    SP(5, "mountPropagation"), S(6, "subPathExpr"), SP(7, "recursiveReadOnly"));
MSG(container, S(1, "name"), S(2, "image"), RS(3, "command"), RS(4, "args"),
    S(5, "workingDir"), RM(6, "ports", container_port), RM(7, "env", env_var),
    M(8, "resources", resource_requirements), RM(9, "volumeMounts", volume_mount),
    S(13, "terminationMessagePath"), S(14, "imagePullPolicy"), B(16, "stdin"),
    B(17, "stdinOnce"), B(18, "tty"), RM(19, "envFrom", env_from_source),
    S(20, "terminationMessagePolicy"), SP(24, "restartPolicy"));
MSG(pod_spec, RM(2, "containers", container), S(3, "restartPolicy"),
    I64P(4, "terminationGracePeriodSeconds"), I64P(5, "activeDeadlineSeconds"),
    S(6, "dnsPolicy"), MAPS(7, "nodeSelector"), S(8, "serviceAccountName"),
    S(9, "serviceAccount"), S(10, "nodeName"), B(11, "hostNetwork"), B(12, "hostPID"),
    B(13, "hostIPC"), RM(15, "imagePullSecrets", local_object_reference),
    S(16, "hostname"), S(17, "subdomain"), S(19, "schedulerName"),
    RM(20, "initContainers", container), BP(21, "automountServiceAccountToken"),
    S(24, "priorityClassName"), I32P(25, "priority"), BP(27, "shareProcessNamespace"),
    SP(29, "runtimeClassName"), BP(30, "enableServiceLinks"), SP(31, "preemptionPolicy"),
    BP(35, "setHostnameAsFQDN"), BP(37, "hostUsers"));
MSG(pod_template_spec, M(1, "metadata", object_meta), M(2, "spec", pod_spec));
MSG(pod, M(1, "metadata", object_meta), M(2, "spec", pod_spec));

/* apps/v1 */
MSG(rolling_update_deployment, IOS(1, "maxUnavailable"), IOS(2, "maxSurge"));
MSG(deployment_strategy, S(1, "type"), M(2, "rollingUpdate", rolling_update_deployment));
MSG(deployment_spec, I32P(1, "replicas"), M(2, "selector", label_selector),
    M(3, "template", pod_template_spec), M(4, "strategy", deployment_strategy),
    I32(5, "minReadySeconds"), I32P(6, "revisionHistoryLimit"), B(7, "paused"),
    I32P(9, "progressDeadlineSeconds"));
MSG(deployment, M(1, "metadata", object_meta), M(2, "spec", deployment_spec));

/* batch/v1 */
MSG(job_spec, I32P(1, "parallelism"), I32P(2, "completions"),
    I64P(3, "activeDeadlineSeconds"), M(4, "selector", label_selector),
    BP(5, "manualSelector"), M(6, "template", pod_template_spec), I32P(7, "backoffLimit"),
    I32P(8, "ttlSecondsAfterFinished"), SP(9, "completionMode"), BP(10, "suspend"),
    I32P(12, "backoffLimitPerIndex"), I32P(13, "maxFailedIndexes"),
    SP(14, "podReplacementPolicy"), SP(15, "managedBy"));
MSG(job, M(1, "metadata", object_meta), M(2, "spec", job_spec));
MSG(job_template_spec, M(1, "metadata", object_meta), M(2, "spec", job_spec));
MSG(cron_job_spec, S(1, "schedule"), I64P(2, "startingDeadlineSeconds"),
    S(3, "concurrencyPolicy"), BP(4, "suspend"), M(5, "jobTemplate", job_template_spec),
    I32P(6, "successfulJobsHistoryLimit"), I32P(7, "failedJobsHistoryLimit"),
    SP(8, "timeZone"));
MSG(cron_job, M(1, "metadata", object_meta), M(2, "spec", cron_job_spec));

/* rbac.authorization.k8s.io/v1 */
MSG(policy_rule, RS(1, "verbs"), RS(2, "apiGroups"), RS(3, "resources"),
    RS(4, "resourceNames"), RS(5, "nonResourceURLs"));
MSG(aggregation_rule, RM(1, "clusterRoleSelectors", label_selector));
MSG(role, M(1, "metadata", object_meta), RM(2, "rules", policy_rule));
MSG(cluster_role, M(1, "metadata", object_meta), RM(2, "rules", policy_rule),
    M(3, "aggregationRule", aggregation_rule));
MSG(subject, S(1, "kind"), S(2, "apiGroup"), S(3, "name"), S(4, "namespace"));
MSG(role_ref, S(1, "apiGroup"), S(2, "kind"), S(3, "name"));
MSG(role_binding, M(1, "metadata", object_meta), RM(2, "subjects", subject),
    M(3, "roleRef", role_ref));

/* scheduling.k8s.io/v1, policy/v1 */
MSG(priority_class, M(1, "metadata", object_meta), I32(2, "value"), B(3, "globalDefault"),
    S(4, "description"), SP(5, "preemptionPolicy"));
MSG(pdb_spec, IOS(1, "minAvailable"), M(2, "selector", label_selector),
    IOS(3, "maxUnavailable"), SP(4, "unhealthyPodEvictionPolicy"));
MSG(pdb, M(1, "metadata", object_meta), M(2, "spec", pdb_spec));

/* authentication.k8s.io/v1 (kubectl 1.33 `create token`) */
MSG(bound_object_reference, S(1, "kind"), S(2, "apiVersion"), S(3, "name"), S(4, "uid"));
MSG(token_request_spec, RS(1, "audiences"), M(3, "boundObjectRef", bound_object_reference),
    I64P(4, "expirationSeconds"));
MSG(token_request, M(1, "metadata", object_meta), M(2, "spec", token_request_spec));

/* runtime.Unknown and its TypeMeta */
MSG(type_meta, S(1, "apiVersion"), S(2, "kind"));
/* clang-format on */

/* The kinds a body may carry; status (field 3 everywhere) is not decoded: the server resets it. */
static const struct {
	const char *api_version, *kind;
	const struct pb_msg *msg;
} kinds[] = {
	{"v1", "Namespace", &namespace},
	{"v1", "Secret", &secret},
	{"v1", "ConfigMap", &config_map},
	{"v1", "ServiceAccount", &service_account},
	{"v1", "Service", &service},
	{"v1", "ResourceQuota", &resource_quota},
	{"v1", "Pod", &pod},
	{"apps/v1", "Deployment", &deployment},
	{"batch/v1", "Job", &job},
	{"batch/v1", "CronJob", &cron_job},
	{"rbac.authorization.k8s.io/v1", "Role", &role},
	{"rbac.authorization.k8s.io/v1", "ClusterRole", &cluster_role},
	{"rbac.authorization.k8s.io/v1", "RoleBinding", &role_binding},
	{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &role_binding},
	{"scheduling.k8s.io/v1", "PriorityClass", &priority_class},
	{"policy/v1", "PodDisruptionBudget", &pdb},
	{"authentication.k8s.io/v1", "TokenRequest", &token_request},
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb_reader {
	const uint8_t *p, *end;
};

static int bad(struct k8c_error *err, const char *what)
{
	return k8c_error_set(err, 400, "%s", what);
}

static int read_varint(struct pb_reader *r, uint64_t *v, struct k8c_error *err)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			return bad(err, "truncated varint");
		b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return bad(err, "varint longer than 10 bytes");
}

/* The next field's number, wire type and, for WT_LEN, its bytes; for WT_VARINT its value. */
static int read_field(struct pb_reader *r, uint32_t *num, int *wt, uint64_t *v,
		      struct pb_reader *sub, struct k8c_error *err)
{
	uint64_t tag;

	if (read_varint(r, &tag, err) < 0)
		return -1;
	if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return bad(err, "invalid field number");
	*num = (uint32_t)(tag >> 3);
	*wt = (int)(tag & 7);
	switch (*wt) {
	case WT_VARINT:
		return read_varint(r, v, err);
	case WT_I64:
	case WT_I32: {
		size_t n = *wt == WT_I64 ? 8 : 4;

		if ((size_t)(r->end - r->p) < n)
			return bad(err, "fixed-width field past the end");
		r->p += n;
		return 0;
	}
	case WT_LEN:
		if (read_varint(r, v, err) < 0)
			return -1;
		if (*v > (uint64_t)(r->end - r->p))
			return bad(err, "length past the end");
		sub->p = r->p;
		sub->end = r->p + *v;
		r->p += *v;
		return 0;
	default:
		return k8c_error_set(err, 400, "unsupported wire type %d", *wt);
	}
}

static json_t *pb_string(const struct pb_reader *s, struct k8c_error *err)
{
	json_t *j = json_stringn((const char *)s->p, (size_t)(s->end - s->p));

	if (!j)
		bad(err, "string is not valid UTF-8");
	return j;
}

static json_t *pb_base64(const struct pb_reader *s)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = (size_t)(s->end - s->p), o = 0;
	_cleanup_free_ char *out = malloc(4 * ((n + 2) / 3) + 1);
	const uint8_t *p = s->p;

	if (!out)
		abort();
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		out[o++] = tab[w >> 18 & 63];
		out[o++] = tab[w >> 12 & 63];
		out[o++] = i + 1 < n ? tab[w >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[w & 63] : '=';
	}
	return json_stringn(out, o);
}

/* Quantity {1: string}. */
static json_t *pb_quantity(struct pb_reader r, struct k8c_error *err)
{
	json_t *q = NULL;

	while (r.p < r.end) {
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			goto fail;
		if (num == 1 && wt == WT_LEN) {
			json_decref(q);
			if (!(q = pb_string(&sub, err)))
				return NULL;
		}
	}
	return q ? q : json_string("0");
fail:
	json_decref(q);
	return NULL;
}

/* IntOrString {1: type (0 int, 1 string), 2: intVal, 3: strVal}. */
static json_t *pb_intstr(struct pb_reader r, struct k8c_error *err)
{
	_cleanup_json_ json_t *str = NULL;
	uint64_t type = 0, ival = 0;

	while (r.p < r.end) {
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			return NULL;
		if (num == 1 && wt == WT_VARINT)
			type = v;
		else if (num == 2 && wt == WT_VARINT)
			ival = v;
		else if (num == 3 && wt == WT_LEN) {
			json_decref(str);
			if (!(str = pb_string(&sub, err)))
				return NULL;
		}
	}
	if (type == 1)
		return str ? json_incref(str) : json_string("");
	return json_integer((int32_t)ival);
}

/* Time {1: seconds, 2: nanos}: RFC 3339 in UTC, whole seconds as metav1.Time marshals. */
static json_t *pb_time(struct pb_reader r, struct k8c_error *err)
{
	int64_t secs = 0;
	bool any = false;
	struct tm tm;
	char buf[32];
	time_t t;

	while (r.p < r.end) {
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			return NULL;
		if (num == 1 && wt == WT_VARINT)
			secs = (int64_t)v;
		any = true;
	}
	if (!any)
		return json_null(); /* the zero Time marshals as an empty message */
	/* 0001-01-01 .. 9999-12-31 */
	if (secs < -62135596800LL || secs > 253402300799LL) {
		bad(err, "time out of range");
		return NULL;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		bad(err, "time out of range");
		return NULL;
	}
	return json_string(buf);
}

static int decode_msg(const struct pb_msg *m, struct pb_reader r, json_t *obj, int depth,
		      struct k8c_error *err);

/* A map entry {1: key, 2: value} into map[key]. */
static int decode_entry(const struct pb_field *f, struct pb_reader r, json_t *map,
			struct k8c_error *err)
{
	_cleanup_json_ json_t *key = NULL, *val = NULL;

	while (r.p < r.end) {
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			return -1;
		if (wt != WT_LEN || (num != 1 && num != 2))
			continue;
		if (num == 1) {
			json_decref(key);
			if (!(key = pb_string(&sub, err)))
				return -1;
			continue;
		}
		json_decref(val);
		val = f->kind == PB_MAP_STR	? pb_string(&sub, err)
		      : f->kind == PB_MAP_BYTES ? pb_base64(&sub)
						: pb_quantity(sub, err);
		if (!val)
			return -1;
	}
	if (!val)
		val = f->kind == PB_MAP_QTY ? json_string("0") : json_string("");
	json_object_set(map, key ? json_string_value(key) : "", val);
	return 0;
}

/* obj[name] as a container of the given type, created when missing. */
static json_t *child(json_t *obj, const char *name, bool array)
{
	json_t *c = json_object_get(obj, name);

	if (array ? json_is_array(c) : json_is_object(c))
		return c;
	c = array ? json_array() : json_object();
	json_object_set_new(obj, name, c);
	return c;
}

static int decode_len(const struct pb_field *f, struct pb_reader sub, json_t *obj, int depth,
		      struct k8c_error *err)
{
	json_t *v;

	switch (f->kind) {
	case PB_STRING:
		if (!(v = pb_string(&sub, err)))
			return -1;
		if (json_string_length(v) == 0 && !(f->flags & F_PTR)) {
			json_decref(v);
			return 0;
		}
		break;
	case PB_BYTES:
		v = pb_base64(&sub);
		break;
	case PB_MSG:
		return decode_msg(f->msg, sub, child(obj, f->json, false), depth + 1, err);
	case PB_INLINE:
		return decode_msg(f->msg, sub, obj, depth + 1, err);
	case PB_REP_MSG: {
		json_t *o = json_object();

		json_array_append_new(child(obj, f->json, true), o);
		return decode_msg(f->msg, sub, o, depth + 1, err);
	}
	case PB_REP_STR:
		if (!(v = pb_string(&sub, err)))
			return -1;
		json_array_append_new(child(obj, f->json, true), v);
		return 0;
	case PB_MAP_STR:
	case PB_MAP_BYTES:
	case PB_MAP_QTY:
		return decode_entry(f, sub, child(obj, f->json, false), err);
	case PB_INTSTR:
		v = pb_intstr(sub, err);
		break;
	case PB_QTY:
		v = pb_quantity(sub, err);
		break;
	case PB_TIME:
		if (!(v = pb_time(sub, err)))
			return -1;
		if (json_is_null(v)) /* encoding/json would write null; leave it out */
			return 0;
		break;
	default:
		return k8c_error_set(err, 400, "wrong wire type");
	}
	if (!v)
		return -1;
	json_object_set_new(obj, f->json, v);
	return 0;
}

static int decode_varint(const struct pb_field *f, uint64_t v, json_t *obj, struct k8c_error *err)
{
	bool keep = f->flags & F_PTR;

	switch (f->kind) {
	case PB_INT32:
		if (v || keep)
			json_object_set_new(obj, f->json, json_integer((int32_t)v));
		return 0;
	case PB_INT64:
		if (v || keep)
			json_object_set_new(obj, f->json, json_integer((json_int_t)(int64_t)v));
		return 0;
	case PB_BOOL:
		if (v || keep)
			json_object_set_new(obj, f->json, json_boolean(v != 0));
		return 0;
	default:
		return k8c_error_set(err, 400, "wrong wire type");
	}
}

static int decode_msg(const struct pb_msg *m, struct pb_reader r, json_t *obj, int depth,
		      struct k8c_error *err)
{
	if (depth > PB_MAX_DEPTH)
		return k8c_error_set(err, 400, "nesting deeper than %d", PB_MAX_DEPTH);
	while (r.p < r.end) {
		const struct pb_field *f = NULL;
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt, rc;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			return -1;
		for (size_t i = 0; i < m->n; i++)
			if (m->fields[i].num == num)
				f = &m->fields[i];
		if (!f || wt == WT_I64 || wt == WT_I32)
			continue; /* unknown fields are skipped; no schema field is fixed-width */
		rc = wt == WT_LEN ? decode_len(f, sub, obj, depth, err)
				  : decode_varint(f, v, obj, err);
		if (rc < 0)
			return k8c_error_wrap(err, "%s", f->json ? f->json : m->name);
	}
	return 0;
}

bool api_protobuf_content_type(const char *ct, size_t len)
{
	size_t n = strlen(API_PROTOBUF_MEDIA_TYPE);

	return len >= n && strncasecmp(ct, API_PROTOBUF_MEDIA_TYPE, n) == 0 &&
	       (len == n || ct[n] == ';' || ct[n] == ' ');
}

json_t *api_protobuf_decode(const void *buf, size_t len, struct k8c_error *err)
{
	static const uint8_t magic[4] = {'k', '8', 's', 0};
	struct pb_reader r = {buf, (const uint8_t *)buf + len}, raw = {NULL, NULL};
	_cleanup_json_ json_t *tm = json_object(), *obj = NULL;
	const char *api_version, *kind;
	bool have_raw = false;

	if (len < sizeof(magic) || memcmp(buf, magic, sizeof(magic)) != 0) {
		bad(err, "protobuf body does not start with the k8s\\0 magic");
		return NULL;
	}
	r.p += sizeof(magic);
	while (r.p < r.end) {
		struct pb_reader sub;
		uint32_t num;
		uint64_t v;
		int wt;

		if (read_field(&r, &num, &wt, &v, &sub, err) < 0)
			goto fail;
		if (wt != WT_LEN)
			continue;
		if (num == 1 && decode_msg(&type_meta, sub, tm, 1, err) < 0)
			goto fail;
		if (num == 2) {
			raw = sub;
			have_raw = true;
		}
		if (num == 3 && sub.p != sub.end) {
			k8c_error_set(err, 415, "protobuf contentEncoding %.*s is not supported",
				      (int)(sub.end - sub.p > 64 ? 64 : sub.end - sub.p),
				      (const char *)sub.p);
			goto fail;
		}
	}
	api_version = json_string_value(json_object_get(tm, "apiVersion"));
	kind = json_string_value(json_object_get(tm, "kind"));
	if (!kind || !api_version) {
		bad(err, "protobuf envelope has no apiVersion and kind");
		return NULL;
	}
	if (!have_raw) {
		bad(err, "protobuf envelope has no object");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].kind, kind) != 0 || strcmp(kinds[i].api_version, api_version))
			continue;
		obj = json_pack("{s:s,s:s}", "kind", kind, "apiVersion", api_version);
		if (decode_msg(kinds[i].msg, raw, obj, 1, err) < 0)
			goto fail;
		return json_incref(obj);
	}
	k8c_error_set(err, 415,
		      "protobuf decoding of %s %s is not supported; send application/json",
		      api_version, kind);
	return NULL;
fail:
	k8c_error_wrap(err, "the body of the request could not be decoded as protobuf");
	return NULL;
}

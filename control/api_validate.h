/*
 * Field validation shared by the kinds, after Kubernetes' apimachinery util/validation and
 * pkg/apis/core/validation: qualified names, label values, IANA port names, environment
 * variable names, resource quantities (the Quantity grammar, its canonical text and order),
 * ObjectMeta labels and annotations, and a Pod's QoS class. Each check appends causes
 * ({reason, message, field}) with kube's messages; pure JSON work, unit-tested
 * (tests/unit/test_api_validation.c).
 */
#ifndef K8C_API_VALIDATE_H
#define K8C_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* A Kubernetes quantity: its value in units of 10^-9 (rounded up) and its format. */
enum api_quantity_format {
	API_QUANTITY_DECIMAL_SI,       /* "", m, k, M... */
	API_QUANTITY_BINARY_SI,	       /* Ki, Mi, Gi... */
	API_QUANTITY_DECIMAL_EXPONENT, /* 1e3 */
};

struct api_quantity {
	__int128 nano;
	enum api_quantity_format format;
};

/* kube's text for a string that does not parse as a quantity. */
#define API_QUANTITY_ERROR                                                                         \
	"quantities must match the regular expression "                                            \
	"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

/* Parse s (the Quantity grammar: number, then a binary SI, decimal SI or exponent suffix). */
int api_quantity_parse(const char *s, struct api_quantity *q);
/* Parse a JSON quantity: a string, or a number as kube's decoder accepts. */
int api_quantity_parse_json(const json_t *v, struct api_quantity *q);
/* q's canonical text, as resource.Quantity.String() ("1500m", "1Gi", "1k"). */
void api_quantity_format(const struct api_quantity *q, char *buf, size_t len);
/* <0, 0, >0 as a < b. */
int api_quantity_cmp(const struct api_quantity *a, const struct api_quantity *b);
/* Rewrite the quantities of a ResourceList rounded up to milli units, in canonical form. */
void api_quantities_canonical(json_t *list);

/* Messages of kube's name checks, or NULL when s is valid (static text). */
const char *api_qualified_name_error(const char *s, char *buf, size_t len);
const char *api_label_value_error(const char *s);

/* Append causes for what is wrong with s as <what>, field is the cause's path. */
void api_validate_dns_label(const char *s, const char *field, json_t *causes);
void api_validate_subdomain(const char *s, const char *field, json_t *causes);
void api_validate_port_name(const char *s, const char *field, json_t *causes);
void api_validate_port_num(const json_t *v, const char *field, json_t *causes);
/* An IntOrString port: a number 1..65535 or an IANA_SVC_NAME. */
void api_validate_port_num_or_name(const json_t *v, const char *field, json_t *causes);
void api_validate_env_name(const char *s, const char *field, json_t *causes);
/* v must be an integer >= 0 when present ("must be greater than or equal to 0"). */
void api_validate_nonnegative(const json_t *v, const char *field, json_t *causes);

/* A string map of labels (keys are qualified names, values label values). */
void api_validate_labels(const json_t *labels, const char *field, json_t *causes);
/* Annotations: qualified-name keys (any case), at most 256 KiB in all. */
void api_validate_annotations(const json_t *ann, const char *field, json_t *causes);
/* metadata.labels and metadata.annotations of any object (the generic part of validation). */
void api_validate_meta(const json_t *obj, json_t *causes);

/*
 * A ResourceList at field (requests, limits, quota hard): quantities parse and are not
 * negative. containers: names are the containers' resources (cpu, memory, ...).
 */
void api_validate_resource_list(const json_t *list, const char *field, bool containers,
				json_t *causes);
/* A container's resources: both lists, and requests <= limits. */
void api_validate_resources(const json_t *res, const char *field, json_t *causes);

/* An intstr maxSurge/maxUnavailable: a count >= 0 or a percentage "N%" (at most 100%). */
void api_validate_int_or_percent(const json_t *v, const char *field, json_t *causes);
/* Go's %#v of an intstr.IntOrString, as kube prints it in messages (malloc'd). */
char *api_intstr_text(const json_t *v);
/* Whether an intstr is zero (0 or "0%"). */
bool api_intstr_zero(const json_t *v);

/* Go's %#v of a map[string]string and of a v1.LabelSelector, as kube prints them (malloc'd). */
char *api_go_string_map(const json_t *m);
char *api_go_label_selector(const json_t *sel);
/* A LabelSelector: matchLabels as labels, matchExpressions' operators, values and keys. */
void api_validate_label_selector(const json_t *sel, const char *field, json_t *causes);

/* The Pod's QoS class: "Guaranteed", "Burstable" or "BestEffort" (kube's GetPodQOS). */
const char *api_pod_qos(const json_t *pod);

#endif

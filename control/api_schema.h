/*
 * The schema of the served kinds: every object type reachable from a served kind, with its
 * fields' JSON names and types, descriptions, and the strategic-merge-patch metadata of
 * k8s.io/api (patchMergeKey / patchStrategy tags). One source for three users: the OpenAPI
 * documents (/openapi/v3, `kubectl explain`), server-side field validation
 * (fieldValidation=Strict|Warn) and strategic merge patch (api_patch.c).
 *
 * Types are immutable, statically allocated and live for the whole process: pointers may be kept
 * and compared. Thread-safe (read-only).
 */
#ifndef K8C_API_SCHEMA_H
#define K8C_API_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum api_schema_kind {
	API_SCHEMA_ANY, /* anything (x-kubernetes-preserve-unknown-fields, RawExtension) */
	API_SCHEMA_OBJECT,
	API_SCHEMA_ARRAY,
	API_SCHEMA_MAP, /* an object with free keys (map[string]T) */
	API_SCHEMA_STRING,
	API_SCHEMA_INTEGER,
	API_SCHEMA_NUMBER,
	API_SCHEMA_BOOLEAN,
	API_SCHEMA_INT_OR_STRING,
	API_SCHEMA_QUANTITY, /* resource.Quantity: a string or a number */
	API_SCHEMA_TIME,     /* metav1.Time: RFC 3339 string */
	API_SCHEMA_BYTES,    /* []byte: base64 string */
};

/* patchStrategy of a field (a bit set: "merge,retainKeys" is both). */
#define API_SCHEMA_MERGE       1u
#define API_SCHEMA_REPLACE     2u
#define API_SCHEMA_RETAIN_KEYS 4u

struct api_schema_type;

struct api_schema_field {
	const char *name; /* JSON name */
	enum api_schema_kind kind;
	/* OBJECT: the object's type; ARRAY and MAP: the element's type when elements are objects */
	const struct api_schema_type *type;
	enum api_schema_kind elem; /* ARRAY and MAP: the elements' kind */
	const char *merge_key;	   /* ARRAY with API_SCHEMA_MERGE of objects: the key; else NULL */
	unsigned strategy;	   /* API_SCHEMA_* bits, 0 when the tag is absent */
	bool required;
	const char *description;
};

/* The type of a served kind's object, e.g. ("apps", "v1", "Deployment"); group "" is core. */
const struct api_schema_type *api_schema_kind(const char *group, const char *version,
					      const char *kind);

/* OpenAPI name, e.g. "io.k8s.api.core.v1.PodSpec". */
const char *api_schema_type_name(const struct api_schema_type *t);

const char *api_schema_type_description(const struct api_schema_type *t);

/* A field of t by JSON name, or NULL when t has no such field. */
const struct api_schema_field *api_schema_field(const struct api_schema_type *t, const char *name);

size_t api_schema_nfields(const struct api_schema_type *t);
const struct api_schema_field *api_schema_field_at(const struct api_schema_type *t, size_t i);

/* Whether t accepts fields it does not list (unknown fields are not errors inside it). */
bool api_schema_open(const struct api_schema_type *t);

/* The x-kubernetes-group-version-kind of t when t is a served kind's type (else false). */
bool api_schema_type_gvk(const struct api_schema_type *t, const char **group, const char **version,
			 const char **kind);

/*
 * Append to problems (a JSON array of strings) `unknown field "spec.foo"` for every field of obj
 * that t does not know, walking nested objects and lists of objects (paths as kube-apiserver's
 * strict decoding prints them: spec.containers[0].foo). Nothing is checked inside open types,
 * maps of free values or ANY fields. obj need not be an object.
 */
void api_schema_unknown_fields(const struct api_schema_type *t, const json_t *obj,
			       json_t *problems);

/*
 * Remove from obj the fields api_schema_unknown_fields() reports, as kube-apiserver's decoding
 * drops them when fieldValidation is Warn or Ignore.
 */
void api_schema_drop_unknown(const struct api_schema_type *t, json_t *obj);

/*
 * Append `duplicate field "metadata.name"` for every key repeated within one JSON object of
 * the document text (which jansson's decoder would silently collapse, keeping the last).
 * Returns <0 when text is not valid JSON (nothing appended then beyond what was found).
 */
int api_schema_duplicate_fields(const char *text, size_t len, json_t *problems);

#endif

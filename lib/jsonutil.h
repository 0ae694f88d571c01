/* Typed access to JSON objects (jansson) with errors that name the key and the cause. */
#ifndef K8C_JSONUTIL_H
#define K8C_JSONUTIL_H

#include <stdbool.h>
#include <jansson.h>

#include "error.h"

/*
 * Each getter: a missing key (or JSON null) leaves *out = def and returns 0; a key of the wrong
 * type returns -1 with err set to `"key": expected a string, got a number` (code left 0 for the
 * caller to choose). obj may be NULL (treated as empty).
 */
int k8c_json_string(json_t *obj, const char *key, const char **out, const char *def,
		    struct k8c_error *err);
int k8c_json_bool(json_t *obj, const char *key, bool *out, bool def, struct k8c_error *err);
int k8c_json_int(json_t *obj, const char *key, long long *out, long long def,
		 struct k8c_error *err);
/* Borrowed reference, or NULL when absent. */
int k8c_json_object(json_t *obj, const char *key, json_t **out, struct k8c_error *err);
int k8c_json_array(json_t *obj, const char *key, json_t **out, struct k8c_error *err);
/* Name of a JSON value's type for messages: "a string", "an object"... */
const char *k8c_json_type_name(const json_t *v);

#endif

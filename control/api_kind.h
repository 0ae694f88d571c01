/* JSON and Table-cell helpers shared by the per-kind code (api_core.c, api_groups.c). */
#ifndef K8C_API_KIND_H
#define K8C_API_KIND_H

#include <jansson.h>

#include "api_registry.h"

/* The value at a dotted path ("metadata.name"), borrowed, or NULL. */
json_t *api_jget(const json_t *obj, const char *path);
/* obj[key], created as an empty object when absent or not an object. */
json_t *api_jobj(json_t *obj, const char *key);
/* The string at a dotted path, or NULL. */
const char *api_jstr(const json_t *obj, const char *path);
/* Set obj[key] to value when it is missing (or an empty string / not an integer). */
void api_default_str(json_t *obj, const char *key, const char *value);
void api_default_int(json_t *obj, const char *key, long long value);
/* Table cells: the object's age, its name, a string or "<none>", a field of every container. */
json_t *api_cell_age(const json_t *obj);
json_t *api_cell_name(const json_t *obj);
json_t *api_cell_str(const char *s);
json_t *api_cell_containers(const json_t *spec, const char *field);

/* The JSON type name Go's encoding/json uses in "cannot unmarshal X into ...". */
const char *api_json_type_name(const json_t *v);

/* The Table columns of ReplicationControllers and ReplicaSets (kubectl's are the same). */
extern const struct api_column api_replicas_columns[];

#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_kind.h"
#include "api_registry.h"

/* The value at a dotted path ("spec.nodeName"), borrowed, or NULL. */
json_t *api_jget(const json_t *obj, const char *path)
{
	json_t *v = (json_t *)obj;
	char part[64];

	while (v && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		v = json_object_get(v, part);
		path += n + (path[n] == '.');
	}
	return v;
}

/* obj.key, created as an empty object when absent or not an object. */
json_t *api_jobj(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(obj, key, v);
	}
	return v;
}

const char *api_jstr(const json_t *obj, const char *path)
{
	return json_string_value(api_jget(obj, path));
}

void api_default_int(json_t *obj, const char *key, long long value)
{
	if (!json_is_integer(json_object_get(obj, key)))
		json_object_set_new(obj, key, json_integer(value));
}

void api_default_str(json_t *obj, const char *key, const char *value)
{
	if (!json_is_string(json_object_get(obj, key)) ||
	    !*json_string_value(json_object_get(obj, key)))
		json_object_set_new(obj, key, json_string(value));
}

json_t *api_cell_age(const json_t *obj)
{
	char age[32];

	api_age(api_jstr(obj, "metadata.creationTimestamp"), age, sizeof(age));
	return json_string(age);
}

json_t *api_cell_name(const json_t *obj)
{
	const char *n = api_jstr(obj, "metadata.name");

	return json_string(n ? n : "");
}

json_t *api_cell_str(const char *s)
{
	return json_string(s ? s : "");
}

/* ",".join(containers[].field), for the wide columns of controllers. */
json_t *api_cell_containers(const json_t *spec, const char *field)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	json_t *c, *out;

	json_array_foreach(json_object_get(spec, "containers"), i, c) fprintf(
		f, "%s%s", i ? "," : "", json_string_value(json_object_get(c, field)) ?: "");
	fclose(f);
	out = json_string(buf);
	free(buf);
	return out;
}

const char *api_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "number";
	}
}

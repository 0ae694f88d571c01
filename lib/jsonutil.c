#include "jsonutil.h"

const char *k8c_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static json_t *lookup(json_t *obj, const char *key)
{
	json_t *v;

	if (!obj || !json_is_object(obj))
		return NULL;
	v = json_object_get(obj, key);
	if (v && json_is_null(v))
		return NULL;
	return v;
}

static int wrong_type(const char *key, const char *want, json_t *v, struct k8c_error *err)
{
	return k8c_error_set(err, 0, "\"%s\": expected %s, got %s", key, want,
			     k8c_json_type_name(v));
}

int k8c_json_string(json_t *obj, const char *key, const char **out, const char *def,
		    struct k8c_error *err)
{
	json_t *v = lookup(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong_type(key, "a string", v, err);
	*out = json_string_value(v);
	return 0;
}

int k8c_json_bool(json_t *obj, const char *key, bool *out, bool def, struct k8c_error *err)
{
	json_t *v = lookup(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return wrong_type(key, "a boolean", v, err);
	*out = json_is_true(v);
	return 0;
}

int k8c_json_int(json_t *obj, const char *key, long long *out, long long def, struct k8c_error *err)
{
	json_t *v = lookup(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* JSON has one number type: 1500.0 is the integer 1500, 1500.5 is not. */
		if (d != (double)(long long)d)
			return wrong_type(key, "an integer", v, err);
		*out = (long long)d;
		return 0;
	}
	if (!json_is_integer(v))
		return wrong_type(key, "an integer", v, err);
	*out = json_integer_value(v);
	return 0;
}

int k8c_json_object(json_t *obj, const char *key, json_t **out, struct k8c_error *err)
{
	json_t *v = lookup(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return wrong_type(key, "an object", v, err);
	*out = v;
	return 0;
}

int k8c_json_array(json_t *obj, const char *key, json_t **out, struct k8c_error *err)
{
	json_t *v = lookup(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return wrong_type(key, "an array", v, err);
	*out = v;
	return 0;
}

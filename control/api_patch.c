/*
 * The three PATCH types with kube-apiserver's semantics (see api_patch.h).
 *
 * JSON patch follows gopkg.in/evanphx/json-patch.v4, the library kube-apiserver applies it with,
 * including its departures from RFC 6902 that clients can observe: "replace" of a missing object
 * member adds it, negative array indices count from the end, a path's first token is not checked
 * to be empty, and "copy" from a missing member copies null.
 *
 * Strategic merge patch follows k8s.io/apimachinery's strategicpatch as the server runs it
 * (parallel lists merged, unmatched nulls ignored): the schema of each level gives the list
 * strategy (patchStrategy "merge", with patchMergeKey for lists of objects) and "retainKeys".
 * Lists merge by key; the merged order puts the patch's elements in the patch's order and keeps
 * the server-only elements where they were relative to them; `$setElementOrder/<list>` orders
 * the elements it names. Errors carry kube's messages with Go's %v rendering of values.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_patch.h"
#include "api_kind.h"
#include "api_registry.h"
#include "api_schema.h"
#include "cleanup.h"

#define MAX_JSON_PATCH_OPS 10000

static const char directive_marker[] = "$patch";
static const char retain_keys_directive[] = "$retainKeys";
static const char delete_prefix[] = "$deleteFromPrimitiveList";
static const char order_prefix[] = "$setElementOrder";

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int api_patch_type(const char *ct, size_t len, enum api_patch_type *type)
{
	static const struct {
		const char *name;
		enum api_patch_type type;
	} types[] = {
		{"application/json-patch+json", API_PATCH_JSON},
		{"application/merge-patch+json", API_PATCH_MERGE},
		{"application/strategic-merge-patch+json", API_PATCH_STRATEGIC},
	};
	size_t n = len;

	if (!ct)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (ct[i] == ';') {
			n = i;
			break;
		}
	while (n > 0 && ct[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == n && strncasecmp(ct, types[i].name, n) == 0) {
			*type = types[i].type;
			return 0;
		}
	return -1;
}

/* ---- Go's fmt rendering of decoded JSON (the values in kube's error messages) ---- */

/*
 * d as fmt's %v prints a float64 (strconv 'g', shortest): the fewest digits that read back, in
 * %e form when the decimal exponent is below -4 or at least 6 (1e+06, 1.5, 0.0001).
 */
static void go_float(FILE *f, double d)
{
	char buf[64];
	int prec, exp;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	exp = atoi(strchr(buf, 'e') + 1);
	if (exp < -4 || exp >= 6)
		fputs(buf, f);
	else
		fprintf(f, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* v as fmt's %v (verb_s false) or %s (true) prints the interface{} it decodes to. */
static void go_fmt(FILE *f, const json_t *v, bool verb_s)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), f);
		break;
	case JSON_INTEGER:
		fprintf(f, verb_s ? "%%!s(int64=%" PRId64 ")" : "%" PRId64,
			(int64_t)json_integer_value(v));
		break;
	case JSON_REAL:
		if (verb_s)
			fputs("%!s(float64=", f);
		go_float(f, json_real_value(v));
		if (verb_s)
			fputc(')', f);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		fprintf(f, verb_s ? "%%!s(bool=%s)" : "%s", json_is_true(v) ? "true" : "false");
		break;
	case JSON_NULL:
		fputs(verb_s ? "%!s(<nil>)" : "<nil>", f);
		break;
	case JSON_ARRAY: {
		size_t i;
		json_t *e;

		fputc('[', f);
		json_array_foreach(v, i, e)
		{
			if (i)
				fputc(' ', f);
			go_fmt(f, e, verb_s);
		}
		fputc(']', f);
		break;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v), i = 0;
		const char **keys = k8c_xmalloc((n ? n : 1) * sizeof(*keys));
		const char *k;
		json_t *e;

		json_object_foreach((json_t *)v, k, e) keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
		fputs("map[", f);
		for (i = 0; i < n; i++) {
			if (i)
				fputc(' ', f);
			fprintf(f, "%s:", keys[i]);
			go_fmt(f, json_object_get(v, keys[i]), verb_s);
		}
		fputc(']', f);
		free(keys);
		break;
	}
	}
}

static char *go_str(const json_t *v, bool verb_s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	if (v)
		go_fmt(f, v, verb_s);
	else
		fputs(verb_s ? "%!s(<nil>)" : "<nil>", f);
	fclose(f);
	return buf;
}

/* reflect.TypeOf(x) as %s prints it, for mergepatch.ErrBadArgType. */
static const char *go_type(const json_t *v)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_OBJECT:
		return "map[string]interface {}";
	case JSON_ARRAY:
		return "[]interface {}";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "int64";
	case JSON_REAL:
		return "float64";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "%!s(<nil>)";
	}
}

static int err_bad_arg_type(struct k8c_error *err, const char *expected, const json_t *actual)
{
	return k8c_error_set(err, 500, "expected a %s, but received a %s", expected,
			     go_type(actual));
}

static int err_no_merge_key(struct k8c_error *err, const json_t *m, const char *key)
{
	_cleanup_free_ char *s = go_str(m, false);

	return k8c_error_set(err, 500, "map: %s does not contain declared merge key: %s", s, key);
}

static int err_bad_patch_type(struct k8c_error *err, const json_t *t, const json_t *m)
{
	_cleanup_free_ char *ts = go_str(t, true), *ms = go_str(m, false);

	return k8c_error_set(err, 500, "unknown patch type: %s in map: %s", ts, ms);
}

/* ---- JSON patch (gopkg.in/evanphx/json-patch.v4) ---- */

/* RFC 6901 unescaping: "~1" is '/', then "~0" is '~' (one left-to-right pass). */
static char *pointer_token(const char *s, size_t n)
{
	char *out = k8c_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
			*o++ = s[i + 1] == '1' ? '/' : '~';
			i++;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* strconv.Atoi: 0 and *out, or -1 with Go's error text in msg. */
static int go_atoi(const char *s, long long *out, char **msg)
{
	const char *p = s;
	bool neg = false;
	unsigned long long v = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p) {
		*msg = k8c_xasprintf("strconv.Atoi: parsing \"%s\": invalid syntax", s);
		return -1;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			*msg = k8c_xasprintf("strconv.Atoi: parsing \"%s\": invalid syntax", s);
			return -1;
		}
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > (unsigned long long)INT64_MAX + (neg ? 1 : 0)) {
			*msg = k8c_xasprintf("strconv.Atoi: parsing \"%s\": value out of range", s);
			return -1;
		}
	}
	*out = neg ? -(long long)v : (long long)v;
	return 0;
}

/*
 * The container of path's last token and that token (decoded, malloc'd), as findObject: NULL
 * when the path has no '/' or a step is missing, null, out of range or not a container. The
 * first token is skipped unread, as the library does.
 */
static json_t *find_object(json_t *doc, const char *path, char **key)
{
	const char *p = strchr(path, '/'), *next;
	json_t *cur = doc;

	*key = NULL;
	if (!p)
		return NULL;
	for (p++; (next = strchr(p, '/')); p = next + 1) {
		_cleanup_free_ char *tok = pointer_token(p, (size_t)(next - p));
		json_t *n;

		if (json_is_object(cur)) {
			n = json_object_get(cur, tok);
		} else {
			_cleanup_free_ char *msg = NULL;
			long long idx, len = (long long)json_array_size(cur);

			if (go_atoi(tok, &idx, &msg) < 0)
				return NULL;
			if (idx < 0) {
				if (idx < -len)
					return NULL;
				idx += len;
			}
			if (idx >= len)
				return NULL;
			n = json_array_get(cur, (size_t)idx);
		}
		if (!json_is_object(n) && !json_is_array(n))
			return NULL;
		cur = n;
	}
	*key = pointer_token(p, strlen(p));
	return cur;
}

/* partialArray.get: the index of key in a, or -1 with the error text in msg. */
static long long array_index(json_t *a, const char *key, char **msg)
{
	long long idx, len = (long long)json_array_size(a);

	if (go_atoi(key, &idx, msg) < 0)
		return -1;
	if (idx < 0) {
		if (idx < -len) {
			*msg = k8c_xasprintf("Unable to access invalid index: %lld: invalid index "
					     "referenced",
					     idx);
			return -1;
		}
		idx += len;
	}
	if (idx >= len) {
		*msg = k8c_xasprintf(
			"Unable to access invalid index: %lld: invalid index referenced", idx);
		return -1;
	}
	return idx;
}

/* container.get: the member (NULL when missing or null) or -1 with msg for arrays. */
static int con_get(json_t *con, const char *key, json_t **out, char **msg)
{
	long long idx;

	if (json_is_object(con)) {
		*out = json_object_get(con, key);
		if (json_is_null(*out))
			*out = NULL;
		return 0;
	}
	idx = array_index(con, key, msg);
	if (idx < 0)
		return -1;
	*out = json_array_get(con, (size_t)idx);
	return 0;
}

/* container.add (val stolen; NULL is null), or -1 with msg. */
static int con_add(json_t *con, const char *key, json_t *val, char **msg)
{
	long long idx, len;
	_cleanup_free_ char *amsg = NULL;

	if (!val)
		val = json_null();
	if (json_is_object(con)) {
		json_object_set_new(con, key, val);
		return 0;
	}
	if (strcmp(key, "-") == 0) {
		json_array_append_new(con, val);
		return 0;
	}
	len = (long long)json_array_size(con) + 1;
	if (go_atoi(key, &idx, &amsg) < 0) {
		*msg = k8c_xasprintf("value was not a proper array index: '%s': %s", key, amsg);
		json_decref(val);
		return -1;
	}
	if (idx >= len || idx < -len) {
		*msg = k8c_xasprintf(
			"Unable to access invalid index: %lld: invalid index referenced", idx);
		json_decref(val);
		return -1;
	}
	if (idx < 0)
		idx += len;
	json_array_insert_new(con, (size_t)idx, val);
	return 0;
}

/* container.remove, or -1 with msg. */
static int con_remove(json_t *con, const char *key, char **msg)
{
	long long idx, len;

	if (json_is_object(con)) {
		if (!json_object_get(con, key)) {
			*msg = k8c_xasprintf("Unable to remove nonexistent key: %s: missing value",
					     key);
			return -1;
		}
		json_object_del(con, key);
		return 0;
	}
	len = (long long)json_array_size(con);
	if (go_atoi(key, &idx, msg) < 0)
		return -1;
	if (idx >= len || idx < -len) {
		*msg = k8c_xasprintf(
			"Unable to access invalid index: %lld: invalid index referenced", idx);
		return -1;
	}
	if (idx < 0)
		idx += len;
	json_array_remove(con, (size_t)idx);
	return 0;
}

/* An operation's string member: 0 with *out, -1 when missing or null (Go's zero value). */
static int op_string(const json_t *op, const char *name, const char **out)
{
	*out = json_string_value(json_object_get(op, name));
	return *out ? 0 : -1;
}

static json_t *op_value(const json_t *op)
{
	json_t *v = json_object_get(op, "value");

	return v ? json_deep_copy(v) : NULL;
}

static int jp_add(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *key = NULL, *msg = NULL;
	const char *path;
	json_t *con;

	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(err, 422,
				     "add operation failed to decode path: missing value");
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"add operation does not apply: doc is missing path: \"%s\": missing value",
			path);
	if (con_add(con, key, op_value(op), &msg) < 0)
		return k8c_error_set(err, 422, "error in add for path: '%s': %s", path, msg);
	return 0;
}

static int jp_remove(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *key = NULL, *msg = NULL;
	const char *path;
	json_t *con;

	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(err, 422,
				     "remove operation failed to decode path: missing value");
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"remove operation does not apply: doc is missing path: \"%s\": missing "
			"value",
			path);
	if (con_remove(con, key, &msg) < 0)
		return k8c_error_set(err, 422, "error in remove for path: '%s': %s", path, msg);
	return 0;
}

static int jp_replace(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *key = NULL, *msg = NULL;
	const char *path;
	json_t *con, *cur;
	long long idx;

	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(
			err, 422,
			"replace operation failed to decode path: operation missing path field: "
			"missing value");
	if (!*path) {
		json_t *v = json_object_get(op, "value");

		/* the library answers a non-container value with success and no change */
		if (json_is_object(v) || json_is_array(v)) {
			json_decref(*doc);
			*doc = json_deep_copy(v);
		}
		return 0;
	}
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"replace operation does not apply: doc is missing path: %s: missing value",
			path);
	if (con_get(con, key, &cur, &msg) < 0)
		return k8c_error_set(
			err, 422,
			"replace operation does not apply: doc is missing key: %s: missing value",
			path);
	if (json_is_object(con)) {
		json_t *v = op_value(op);

		json_object_set_new(con, key, v ? v : json_null());
		return 0;
	}
	idx = array_index(con, key, &msg);
	json_t *v = op_value(op);

	json_array_set_new(con, (size_t)idx, v ? v : json_null());
	return 0;
}

static int jp_move(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *fkey = NULL, *key = NULL, *msg = NULL;
	_cleanup_json_ json_t *val = NULL;
	const char *from, *path;
	json_t *con, *v;

	if (op_string(op, "from", &from) < 0)
		return k8c_error_set(
			err, 422,
			"move operation failed to decode from: operation, missing from field: "
			"missing value");
	con = find_object(*doc, from, &fkey);
	if (!con)
		return k8c_error_set(
			err, 422,
			"move operation does not apply: doc is missing from path: %s: missing "
			"value",
			from);
	if (con_get(con, fkey, &v, &msg) < 0)
		return k8c_error_set(err, 422, "error in move for path: '%s': %s", fkey, msg);
	val = json_incref(v);
	if (con_remove(con, fkey, &msg) < 0)
		return k8c_error_set(err, 422, "error in move for path: '%s': %s", fkey, msg);
	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(
			err, 422,
			"move operation failed to decode path: operation missing path field: "
			"missing value");
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"move operation does not apply: doc is missing destination path: %s: "
			"missing value",
			path);
	if (con_add(con, key, json_incref(val), &msg) < 0)
		return k8c_error_set(err, 422, "error in move for path: '%s': %s", path, msg);
	return 0;
}

static int jp_test(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *key = NULL, *msg = NULL;
	const char *path;
	json_t *con, *cur, *want = json_object_get(op, "value");

	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(
			err, 422,
			"test operation failed to decode path: operation missing path field: "
			"missing value");
	if (!*path) {
		if (want && json_equal(*doc, want))
			return 0;
		return k8c_error_set(err, 422, "testing value  failed: test failed");
	}
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"test operation does not apply: is missing path: %s: missing value", path);
	if (con_get(con, key, &cur, &msg) < 0)
		return k8c_error_set(err, 422, "error in test for path: '%s': %s", path, msg);
	if (!cur) {
		if (!want || json_is_null(want))
			return 0;
	} else if (want && json_equal(cur, want)) {
		return 0;
	}
	return k8c_error_set(err, 422, "testing value %s failed: test failed", path);
}

static int jp_copy(json_t **doc, const json_t *op, struct k8c_error *err)
{
	_cleanup_free_ char *fkey = NULL, *key = NULL, *msg = NULL;
	const char *from, *path;
	json_t *con, *v;

	if (op_string(op, "from", &from) < 0)
		return k8c_error_set(
			err, 422,
			"copy operation failed to decode from: operation, missing from field: "
			"missing value");
	con = find_object(*doc, from, &fkey);
	if (!con)
		return k8c_error_set(
			err, 422,
			"copy operation does not apply: doc is missing from path: %s: missing "
			"value",
			from);
	if (con_get(con, fkey, &v, &msg) < 0)
		return k8c_error_set(err, 422, "error in copy for from: '%s': %s", from, msg);
	if (op_string(op, "path", &path) < 0)
		return k8c_error_set(err, 422,
				     "copy operation failed to decode path: missing value");
	con = find_object(*doc, path, &key);
	if (!con)
		return k8c_error_set(
			err, 422,
			"copy operation does not apply: doc is missing destination path: %s: "
			"missing value",
			path);
	if (con_add(con, key, v ? json_deep_copy(v) : NULL, &msg) < 0)
		return k8c_error_set(err, 422, "error while adding value during copy: %s", msg);
	return 0;
}

/*
 * kube-apiserver first decodes the operations strictly into {op, path, from string; value}:
 * a body that is not a list of objects, or a string field that is not a string, is a 400.
 */
static int jp_decode(const json_t *ops, struct k8c_error *err)
{
	static const char *const fields[] = {"op", "path", "from", NULL};
	size_t i;
	json_t *op;

	if (json_is_null(ops))
		return 0;
	if (!json_is_array(ops))
		return k8c_error_set(
			err, 400,
			"error decoding patch: json: cannot unmarshal %s into Go value of type "
			"[]handlers.jsonPatchOp",
			api_json_type_name(ops));
	json_array_foreach(ops, i, op)
	{
		if (json_is_null(op))
			continue;
		if (!json_is_object(op))
			return k8c_error_set(
				err, 400,
				"error decoding patch: json: cannot unmarshal %s into Go value "
				"of type handlers.jsonPatchOp",
				api_json_type_name(op));
		for (const char *const *f = fields; *f; f++) {
			json_t *v = json_object_get(op, *f);

			if (v && !json_is_string(v) && !json_is_null(v))
				return k8c_error_set(
					err, 400,
					"error decoding patch: json: cannot unmarshal %s into Go "
					"struct field jsonPatchOp.%s of type string",
					api_json_type_name(v), *f);
		}
	}
	if (json_array_size(ops) > MAX_JSON_PATCH_OPS)
		return k8c_error_set(
			err, 413,
			"Request entity too large: The allowed maximum operations in a JSON "
			"patch is %d, got %zu",
			MAX_JSON_PATCH_OPS, json_array_size(ops));
	return 0;
}

static json_t *json_patch(const json_t *obj, const json_t *ops, struct k8c_error *err)
{
	static const struct {
		const char *name;
		int (*fn)(json_t **doc, const json_t *op, struct k8c_error *err);
	} kinds[] = {
		{"add", jp_add},   {"remove", jp_remove}, {"replace", jp_replace},
		{"move", jp_move}, {"test", jp_test},	  {"copy", jp_copy},
	};
	json_t *doc, *op;
	size_t i;

	if (jp_decode(ops, err) < 0)
		return NULL;
	doc = json_deep_copy(obj);
	json_array_foreach(ops, i, op)
	{
		const char *kind = json_string_value(json_object_get(op, "op"));
		size_t k;

		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (kind && strcmp(kind, kinds[k].name) == 0)
				break;
		if (k == sizeof(kinds) / sizeof(kinds[0])) {
			k8c_error_set(err, 422, "Unexpected kind: %s", kind ? kind : "unknown");
			json_decref(doc);
			return NULL;
		}
		if (kinds[k].fn(&doc, op, err) < 0) {
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}

/* ---- JSON merge patch (the library's MergePatch) ---- */

static void prune_nulls(json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *e, *tmp;

		json_object_foreach_safe(v, tmp, k, e)
		{
			if (json_is_null(e))
				json_object_del(v, k);
			else
				prune_nulls(e);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e) prune_nulls(e);
	}
}

static void merge_docs(json_t *doc, const json_t *patch);

/* The merge of patch (a copy is taken) over cur: a new reference. */
static json_t *merge_value(json_t *cur, const json_t *patch)
{
	json_t *p;

	if (!json_is_object(cur)) {
		p = json_deep_copy(patch);
		prune_nulls(p);
		return p;
	}
	if (!json_is_object(patch))
		return json_deep_copy(patch);
	merge_docs(cur, patch);
	return json_incref(cur);
}

static void merge_docs(json_t *doc, const json_t *patch)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)patch, k, v)
	{
		json_t *cur = json_object_get(doc, k);

		if (json_is_null(v)) {
			json_object_del(doc, k);
		} else if (!cur || json_is_null(cur)) {
			json_t *c = json_deep_copy(v);

			prune_nulls(c);
			json_object_set_new(doc, k, c);
		} else {
			json_object_set_new(doc, k, merge_value(cur, v));
		}
	}
}

/* ---- strategic merge patch (strategicpatch.StrategicMergeMapPatch) ---- */

/* The patch metadata of a field: strategy, merge key and the type below it. */
struct meta {
	unsigned strategy;
	const char *merge_key; /* "" when none */
	const struct api_schema_type *type;
};

static struct meta lookup(const struct api_schema_type *t, const char *key)
{
	const struct api_schema_field *f = t ? api_schema_field(t, key) : NULL;
	struct meta m = {0, "", NULL};

	if (!f)
		return m;
	m.strategy = f->strategy;
	m.merge_key = f->merge_key ? f->merge_key : "";
	/* map values have no struct fields to look patch metadata up in */
	m.type = f->kind == API_SCHEMA_MAP || f->kind == API_SCHEMA_ANY ? NULL : f->type;
	return m;
}

/*
 * removeDirectives after discardNullValuesFromPatch: what a patch value not merged with
 * anything becomes. NULL when v itself is a directive map (the field is dropped).
 */
static json_t *remove_directives(const json_t *v)
{
	if (json_is_object(v)) {
		json_t *out, *e;
		const char *k;

		if (json_object_get(v, directive_marker))
			return NULL;
		out = json_object();
		json_object_foreach((json_t *)v, k, e)
		{
			json_t *n;

			/* other "$" keys are unknown fields of the typed object: dropped */
			if (json_is_null(e) || k[0] == '$')
				continue;
			n = remove_directives(e);
			if (n)
				json_object_set_new(out, k, n);
		}
		return out;
	}
	if (json_is_array(v)) {
		json_t *out = json_array(), *e;
		size_t i;

		json_array_foreach(v, i, e)
		{
			json_t *n = remove_directives(e);

			if (n)
				json_array_append_new(out, n);
		}
		return out;
	}
	return json_deep_copy(v);
}

/*
 * A raw patch value kube stores as decoded into the typed object: members named "$..." are
 * unknown fields (dropped) and null members are zero values (omitted).
 */
static json_t *raw_value(const json_t *v)
{
	if (json_is_object(v)) {
		json_t *out = json_object(), *e;
		const char *k;

		json_object_foreach((json_t *)v, k, e)
		{
			if (k[0] == '$' || json_is_null(e))
				continue;
			json_object_set_new(out, k, raw_value(e));
		}
		return out;
	}
	if (json_is_array(v)) {
		json_t *out = json_array(), *e;
		size_t i;

		json_array_foreach(v, i, e) json_array_append_new(out, raw_value(e));
		return out;
	}
	return json_deep_copy(v);
}

/* Go's interface{} equality of two decoded scalars (maps and lists are never equal here). */
static bool scalar_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	if (json_is_object(a) || json_is_array(a))
		return false;
	return json_equal(a, b);
}

/* The merge key value of m, or NULL when m is not a map or has none. */
static json_t *key_of(const json_t *m, const char *key)
{
	return json_is_object(m) ? json_object_get(m, key) : NULL;
}

/* findMapInSliceBasedOnKeyValue: the index or -1; -2 with err when an element is no map. */
static long find_by_key(const json_t *list, const char *key, const json_t *value,
			struct k8c_error *err)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		json_t *v;

		if (!json_is_object(e)) {
			k8c_error_set(err, 500, "value for key %zu is not a map", i);
			return -2;
		}
		v = json_object_get(e, key);
		if (v && scalar_equal(v, value))
			return (long)i;
	}
	return -1;
}

/* index(): the position of v in list, by merge key for maps, by value otherwise; -1. */
static long index_in(const json_t *list, const json_t *v, const char *key, bool maps)
{
	const json_t *want = maps ? key_of(v, key) : v;
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		const json_t *got = maps ? key_of(e, key) : e;

		if (!want && !got)
			return (long)i;
		if (want && got && scalar_equal(want, got))
			return (long)i;
	}
	return -1;
}

/*
 * Position indexes, so that long lists are not searched element by element: a JSON object from
 * a value's text (a scalar's JSON, "-" for a missing key) to its first position. Maps and lists
 * have no text: they never equal anything here.
 */
static char *value_text(const json_t *v)
{
	if (!v)
		return strdup("-");
	if (json_is_object(v) || json_is_array(v))
		return NULL;
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static void pos_add(json_t *pm, const json_t *v, size_t i)
{
	_cleanup_free_ char *t = value_text(v);

	if (t && !json_object_get(pm, t))
		json_object_set_new(pm, t, json_integer((json_int_t)i));
}

static long pos_get(const json_t *pm, const json_t *v)
{
	_cleanup_free_ char *t = value_text(v);
	json_t *at = t ? json_object_get(pm, t) : NULL;

	return at ? (long)json_integer_value(at) : -1;
}

/* The index of index_in(list, ., key, maps): look values up with pos_get(pm, key_of or v). */
static json_t *pos_index(const json_t *list, const char *key, bool maps)
{
	json_t *pm = json_object(), *e;
	size_t i;

	json_array_foreach(list, i, e) pos_add(pm, maps ? key_of(e, key) : e, i);
	return pm;
}

static long pos_of(const json_t *pm, const json_t *v, const char *key, bool maps)
{
	return pos_get(pm, maps ? key_of(v, key) : v);
}

/*
 * The index of find_by_key(list, key, .): the elements before the first one that is not a map
 * (*bad, -1 when none), those without the key left out.
 */
static json_t *find_index(const json_t *list, const char *key, long *bad)
{
	json_t *pm = json_object(), *e;
	size_t i;

	*bad = -1;
	json_array_foreach(list, i, e)
	{
		json_t *kv;

		if (!json_is_object(e)) {
			*bad = (long)i;
			break;
		}
		kv = json_object_get(e, key);
		if (kv)
			pos_add(pm, kv, i);
	}
	return pm;
}

/* find_by_key through its index: a miss reaches the first non-map, if any (an error). */
static long find_indexed(const json_t *pm, long bad, const json_t *value, struct k8c_error *err)
{
	long at = pos_get(pm, value);

	if (at >= 0 || bad < 0)
		return at;
	k8c_error_set(err, 500, "value for key %ld is not a map", bad);
	return -2;
}

enum elem_kind { ELEM_NONE, ELEM_MAP, ELEM_SCALAR };

/* sliceElementType over lists: the common kind, or ELEM_NONE with err. */
static enum elem_kind element_kind(const json_t *a, const json_t *b, struct k8c_error *err)
{
	const json_t *lists[2] = {a, b};
	int type = -1;

	for (int l = 0; l < 2; l++) {
		size_t i;
		json_t *e;

		json_array_foreach(lists[l], i, e)
		{
			int t = json_is_boolean(e) ? JSON_TRUE : (int)json_typeof(e);

			if (type < 0) {
				type = t;
				if (t == JSON_ARRAY) {
					k8c_error_set(err, 422, "lists of lists are not supported");
					return ELEM_NONE;
				}
			} else if (type != t) {
				_cleanup_free_ char *sa = go_str(a ? a : json_array(), false);
				_cleanup_free_ char *sb = go_str(b ? b : json_array(), false);

				k8c_error_set(err, 500,
					      "list element types are not identical: [%s %s]", sa,
					      sb);
				return ELEM_NONE;
			}
		}
	}
	if (type < 0) {
		k8c_error_set(err, 500, "no elements in any of the given slices");
		return ELEM_NONE;
	}
	return type == JSON_OBJECT ? ELEM_MAP : ELEM_SCALAR;
}

/* Elements of list present (by key or value) in by go to *in, the others to *out. */
static int partition(const json_t *list, const json_t *by, const char *key, bool maps, json_t **in,
		     json_t **out, struct k8c_error *err)
{
	_cleanup_json_ json_t *pm = NULL;
	long bad = -1;
	size_t i;
	json_t *e;

	*in = json_array();
	*out = json_array();
	pm = maps ? find_index(by, key, &bad) : pos_index(by, NULL, false);
	json_array_foreach(list, i, e)
	{
		bool found;

		if (maps) {
			json_t *kv;
			long at;

			if (!json_is_object(e))
				return err_bad_arg_type(err, "map[string]interface {}", e);
			kv = json_object_get(e, key);
			if (!kv)
				return err_no_merge_key(err, e, key);
			at = find_indexed(pm, bad, kv, err);
			if (at == -2)
				return -1;
			found = at >= 0;
		} else {
			found = pos_get(pm, e) >= 0;
		}
		json_array_append(found ? *in : *out, e);
	}
	return 0;
}

struct ranked {
	json_t *v;
	long pos;   /* in the order list */
	size_t idx; /* in the list: ties keep it */
};

static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* normalizeSliceOrder: list sorted (stably) by the positions in order; deletions last. */
static json_t *sort_by_order(const json_t *list, const json_t *order, const char *key, bool maps,
			     struct k8c_error *err)
{
	json_t *keep = json_array(), *del = json_array(), *e;
	size_t i, n;

	json_array_foreach(list, i, e)
	{
		const char *d = json_string_value(json_object_get(e, directive_marker));

		if (maps) {
			if (!json_is_object(e) || !json_object_get(e, key)) {
				json_decref(keep);
				json_decref(del);
				return json_is_object(e)
					       ? (err_no_merge_key(err, e, key), NULL)
					       : (err_bad_arg_type(err, "map[string]interface {}",
								   e),
						  NULL);
			}
			if (d && strcmp(d, "delete") == 0) {
				json_array_append(del, e);
				continue;
			}
		}
		json_array_append(keep, e);
	}
	if (maps)
		json_array_foreach(order, i, e) if (!json_is_object(e) || !json_object_get(e, key))
		{
			json_decref(keep);
			json_decref(del);
			if (json_is_object(e))
				err_no_merge_key(err, e, key);
			else
				err_bad_arg_type(err, "map[string]interface {}", e);
			return NULL;
		}
	/* a stable sort by position in order, each position looked up once */
	n = json_array_size(keep);
	if (n > 1) {
		struct ranked *r = k8c_xmalloc(n * sizeof(*r));
		_cleanup_json_ json_t *pm = pos_index(order, key, maps);
		bool all = true;

		for (i = 0; i < n; i++) {
			r[i].v = json_array_get(keep, i);
			r[i].pos = pos_of(pm, r[i].v, key, maps);
			r[i].idx = i;
			all = all && r[i].pos >= 0;
		}
		if (all) {
			qsort(r, n, sizeof(*r), cmp_ranked);
		} else {
			/* the library's comparator orders only pairs it finds both of */
			for (i = 1; i < n; i++) {
				struct ranked x = r[i];
				size_t j = i;

				while (j > 0 && x.pos >= 0 && r[j - 1].pos >= 0 &&
				       x.pos < r[j - 1].pos) {
					r[j] = r[j - 1];
					j--;
				}
				r[j] = x;
			}
		}
		{
			json_t *sorted = json_array();

			for (i = 0; i < n; i++)
				json_array_append(sorted, r[i].v);
			json_decref(keep);
			keep = sorted;
		}
		free(r);
	}
	json_array_extend(keep, del);
	json_decref(del);
	return keep;
}

/*
 * normalizeElementOrder: the patch's elements in order, the server-only ones in server order,
 * merged so that a server-only element stays before a patch element it preceded on the server.
 */
static json_t *normalize_order(const json_t *patch_items, const json_t *server_only,
			       const json_t *order, const json_t *server_order, const char *key,
			       bool maps, struct k8c_error *err)
{
	_cleanup_json_ json_t *p = sort_by_order(patch_items, order, key, maps, err);
	_cleanup_json_ json_t *s =
		p ? sort_by_order(server_only, server_order, key, maps, err) : NULL;
	_cleanup_json_ json_t *pm = NULL;
	json_t *all;
	size_t i = 0, j = 0, nl, nr;

	if (!s)
		return NULL;
	pm = pos_index(server_order, key, maps);
	nl = json_array_size(s);
	nr = json_array_size(p);
	all = json_array();
	while (i < nl || j < nr) {
		if (i >= nl) {
			json_array_append(all, json_array_get(p, j++));
		} else if (j >= nr) {
			json_array_append(all, json_array_get(s, i++));
		} else {
			long li = pos_of(pm, json_array_get(s, i), key, maps);
			long ri = pos_of(pm, json_array_get(p, j), key, maps);

			if (li >= 0 && ri >= 0 && li < ri)
				json_array_append(all, json_array_get(s, i++));
			else
				json_array_append(all, json_array_get(p, j++));
		}
	}
	return all;
}

static json_t *merge_map(json_t *orig, json_t *patch, const struct api_schema_type *t,
			 struct k8c_error *err);

/* mergeSlice: a list with patchStrategy merge (or a $deleteFromPrimitiveList). New reference. */
static json_t *merge_slice(json_t *orig, json_t *patch, const struct api_schema_type *elem,
			   const char *key, bool delete_list, struct k8c_error *err)
{
	_cleanup_json_ json_t *server = NULL, *plain = NULL, *merged = NULL;
	_cleanup_json_ json_t *in = NULL, *out = NULL;
	enum elem_kind kind;
	size_t i;
	json_t *e;

	if (json_array_size(orig) == 0 && json_array_size(patch) == 0)
		return json_incref(orig);
	kind = element_kind(orig, patch, err);
	if (kind == ELEM_NONE)
		return NULL;
	if (kind == ELEM_SCALAR) {
		if (delete_list) {
			_cleanup_json_ json_t *pm = pos_index(patch, NULL, false);
			json_t *res = json_array();

			json_array_foreach(orig, i, e) if (pos_get(pm, e) < 0)
				json_array_append(res, e);
			return res;
		}
		/* a union: the original's elements, then the patch's new ones */
		_cleanup_json_ json_t *seen = json_object();

		merged = json_array();
		for (int l = 0; l < 2; l++)
			json_array_foreach(l ? patch : orig, i, e) if (pos_get(seen, e) < 0)
			{
				pos_add(seen, e, json_array_size(merged));
				json_array_append(merged, e);
			}
		server = json_incref(orig);
		plain = json_incref(patch);
	} else {
		bool replace = false;

		if (!*key) {
			k8c_error_set(err, 500, "cannot merge lists without merge key for struct");
			return NULL;
		}
		/* mergeSliceWithSpecialElements */
		server = json_deep_copy(orig);
		plain = json_array();
		json_array_foreach(patch, i, e)
		{
			json_t *d = json_object_get(e, directive_marker);
			const char *ds = json_string_value(d);

			if (!d) {
				json_array_append(plain, e);
			} else if (ds && strcmp(ds, "delete") == 0) {
				json_t *kv = json_object_get(e, key);
				long at;

				if (!kv) {
					err_no_merge_key(err, e, key);
					return NULL;
				}
				while ((at = find_by_key(server, key, kv, err)) >= 0)
					json_array_remove(server, (size_t)at);
				if (at == -2)
					return NULL;
			} else if (ds && strcmp(ds, "replace") == 0) {
				replace = true;
			} else if (ds && strcmp(ds, "merge") == 0) {
				k8c_error_set(err, 500,
					      "merging lists cannot yet be specified in the patch");
				return NULL;
			} else {
				err_bad_patch_type(err, d, e);
				return NULL;
			}
		}
		if (replace) {
			json_decref(server);
			server = json_array();
			json_array_foreach(plain, i, e) json_array_append_new(server, raw_value(e));
			json_decref(plain);
			plain = json_array();
		}
		/* mergeSliceWithoutSpecialElements */
		merged = json_deep_copy(server);
		_cleanup_json_ json_t *pm = NULL;
		long bad;

		pm = find_index(merged, key, &bad);
		json_array_foreach(plain, i, e)
		{
			json_t *kv = json_object_get(e, key);
			long at;

			if (!kv) {
				err_no_merge_key(err, e, key);
				return NULL;
			}
			at = find_indexed(pm, bad, kv, err);
			if (at == -2)
				return NULL;
			if (at >= 0) {
				json_t *m = merge_map(json_array_get(merged, (size_t)at),
						      json_deep_copy(e), elem, err);

				if (!m)
					return NULL;
				json_array_set_new(merged, (size_t)at, m);
			} else {
				json_t *n = raw_value(e);

				if (bad < 0)
					pos_add(pm, json_object_get(n, key),
						json_array_size(merged));
				json_array_append_new(merged, n);
			}
		}
	}
	if (partition(merged, plain, key, kind == ELEM_MAP, &in, &out, err) < 0)
		return NULL;
	return normalize_order(in, out, plain, server, key, kind == ELEM_MAP, err);
}

/* mergeSliceHandler: merge lists merged, others replaced by the patch's list. */
static json_t *merge_list_field(json_t *orig, json_t *patch, struct meta m, bool delete_list,
				struct k8c_error *err)
{
	if (!json_is_array(orig)) {
		err_bad_arg_type(err, "[]interface {}", orig);
		return NULL;
	}
	if (!json_is_array(patch)) {
		err_bad_arg_type(err, "[]interface {}", patch);
		return NULL;
	}
	if ((m.strategy & API_SCHEMA_MERGE) || delete_list)
		return merge_slice(orig, patch, m.type, m.merge_key, delete_list, err);
	return raw_value(patch);
}

/* extractKey: the list a "$prefix/<list>" key names, or NULL with err. */
static const char *directive_key(const char *k, const char *prefix, struct k8c_error *err)
{
	size_t n = strlen(prefix);

	if (strncmp(k, prefix, n) != 0 || k[n] != '/') {
		k8c_error_set(err, 400, "%s",
			      strcmp(prefix, delete_prefix) == 0
				      ? "invalid patch format of primitive list"
				      : "invalid patch format of setElementOrder list");
		return NULL;
	}
	return k + n + 1;
}

/* validatePatchWithSetOrderList: the patch's elements appear in the order list, in its order. */
static int check_order_list(const json_t *plist, const json_t *order, const char *key,
			    struct k8c_error *err)
{
	_cleanup_json_ json_t *nondel = json_array();
	size_t pi = 0, oi = 0, i;
	json_t *e;

	if (json_array_size(order) == 0 || json_array_size(plist) == 0)
		return 0;
	json_array_foreach(plist, i, e)
	{
		const char *d;

		if (*key) {
			if (!json_is_object(e))
				return err_bad_arg_type(err, "map[string]interface {}", e);
			d = json_string_value(json_object_get(e, directive_marker));
			if (d && strcmp(d, "delete") == 0)
				continue;
		}
		json_array_append(nondel, e);
	}
	while (pi < json_array_size(nondel) && oi < json_array_size(order)) {
		json_t *p = json_array_get(nondel, pi), *o = json_array_get(order, oi);
		bool eq;

		if (json_is_object(p) && json_object_get(p, directive_marker)) {
			pi++;
			continue;
		}
		if (!*key) {
			eq = scalar_equal(p, o);
		} else {
			json_t *pk, *ok;

			if (!json_is_object(p))
				return err_bad_arg_type(err, "map[string]interface {}", p);
			if (!json_is_object(o))
				return err_bad_arg_type(err, "map[string]interface {}", o);
			if (!(pk = json_object_get(p, key)))
				return err_no_merge_key(err, p, key);
			if (!(ok = json_object_get(o, key)))
				return err_no_merge_key(err, o, key);
			eq = scalar_equal(pk, ok);
		}
		if (eq)
			pi++;
		oi++;
	}
	if (pi < json_array_size(nondel) && oi >= json_array_size(order)) {
		_cleanup_free_ char *ps = go_str(plist, false), *os = go_str(order, false);

		return k8c_error_set(err, 500,
				     "The order in patch list:\n%s\n doesn't match %s list:\n%s\n",
				     ps, order_prefix, os);
	}
	return 0;
}

/* mergePatchIntoOriginal: the lists with a $setElementOrder directive. */
static int apply_element_order(json_t *orig, json_t *patch, const struct api_schema_type *t,
			       struct k8c_error *err)
{
	_cleanup_json_ json_t *keys = json_array();
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(patch, k, v) if (has_prefix(k, order_prefix))
		json_array_append_new(keys, json_string(k));
	json_array_foreach(keys, i, v)
	{
		_cleanup_json_ json_t *order =
			json_incref(json_object_get(patch, json_string_value(v)));
		_cleanup_json_ json_t *merged = NULL, *in = NULL, *out = NULL, *both = NULL;
		_cleanup_json_ json_t *olist = NULL, *plist = NULL, *empty = json_array();
		const char *name;
		struct meta m;
		enum elem_kind kind;

		json_object_del(patch, json_string_value(v));
		if (!json_is_array(order))
			return err_bad_arg_type(err, "[]interface {}", order);
		name = directive_key(json_string_value(v), order_prefix, err);
		if (!name)
			return -1;
		olist = json_incref(json_object_get(orig, name));
		plist = json_incref(json_object_get(patch, name));
		if (olist && !json_is_array(olist))
			return err_bad_arg_type(err, "[]interface {}", olist);
		if (plist && !json_is_array(plist))
			return err_bad_arg_type(err, "[]interface {}", plist);
		m = lookup(t, name);
		if (check_order_list(plist ? plist : empty, order, m.merge_key, err) < 0)
			return -1;
		if (olist && !plist)
			merged = json_incref(olist);
		else if (!olist && plist)
			merged = remove_directives(plist);
		else if (olist && plist)
			merged = merge_list_field(olist, plist, m, false, err);
		else
			continue;
		if (!merged)
			return -1;
		if (partition(merged, order, m.merge_key, *m.merge_key != '\0', &in, &out, err) < 0)
			return -1;
		kind = element_kind(olist ? olist : empty, plist ? plist : empty, err);
		if (kind == ELEM_NONE)
			return -1;
		both = normalize_order(in, out, order, olist ? olist : empty, m.merge_key,
				       kind == ELEM_MAP, err);
		if (!both)
			return -1;
		json_object_set(orig, name, both);
		json_object_del(patch, name);
	}
	return 0;
}

/* applyRetainKeysDirective: only the listed keys of orig stay; the patch may set no others. */
static int apply_retain_keys(json_t *orig, json_t *patch, struct k8c_error *err)
{
	_cleanup_json_ json_t *list = json_incref(json_object_get(patch, retain_keys_directive));
	const char *k;
	json_t *v, *tmp;

	if (!list)
		return 0;
	json_object_del(patch, retain_keys_directive);
	if (!json_is_array(list))
		return k8c_error_set(err, 400, "invalid patch format of retainKeys");
	json_object_foreach(patch, k, v)
	{
		_cleanup_json_ json_t *ks = NULL;

		if (json_is_null(v) || has_prefix(k, delete_prefix) || has_prefix(k, order_prefix))
			continue;
		ks = json_string(k);
		if (index_in(list, ks, NULL, false) < 0)
			return k8c_error_set(err, 400, "invalid patch format of retainKeys");
	}
	json_object_foreach_safe(orig, tmp, k, v)
	{
		_cleanup_json_ json_t *ks = json_string(k);

		if (index_in(list, ks, NULL, false) < 0)
			json_object_del(orig, k);
	}
	return 0;
}

/* Whether a and b decode to the same Go type (map, list, string, int64, float64, bool, nil). */
static bool same_type(const json_t *a, const json_t *b)
{
	if (json_is_boolean(a) && json_is_boolean(b))
		return true;
	return json_typeof(a) == json_typeof(b);
}

/*
 * mergeMap: patch (owned, consumed) over orig (NULL is {}); the result as a new reference (orig
 * changed in place, or a new map for a $patch directive), NULL with err.
 */
static json_t *merge_map(json_t *orig, json_t *patch, const struct api_schema_type *t,
			 struct k8c_error *err)
{
	_cleanup_json_ json_t *p = patch, *keys = NULL;
	json_t *d = json_object_get(p, directive_marker), *kv;
	size_t i;

	if (d) {
		const char *ds = json_string_value(d);

		if (ds && strcmp(ds, "replace") == 0) {
			json_object_del(p, directive_marker);
			return raw_value(p);
		}
		if (ds && strcmp(ds, "delete") == 0)
			return json_object();
		err_bad_patch_type(err, d, p);
		return NULL;
	}
	orig = orig ? json_incref(orig) : json_object();
	if (apply_retain_keys(orig, p, err) < 0 || apply_element_order(orig, p, t, err) < 0) {
		json_decref(orig);
		return NULL;
	}
	keys = json_array();
	{
		const char *k;
		json_t *v;

		json_object_foreach(p, k, v) json_array_append_new(keys, json_string(k));
	}
	json_array_foreach(keys, i, kv)
	{
		const char *k = json_string_value(kv);
		json_t *pv = json_object_get(p, k), *ov, *res;
		bool delete_list = false;
		struct meta m;

		if (has_prefix(k, delete_prefix)) {
			k = directive_key(k, delete_prefix, err);
			if (!k) {
				json_decref(orig);
				return NULL;
			}
			delete_list = true;
		} else if (k[0] == '$') {
			continue; /* an unknown field of the typed object: dropped */
		}
		if (json_is_null(pv)) {
			if (!delete_list)
				json_object_del(orig, k);
			continue;
		}
		ov = json_object_get(orig, k);
		if (!ov || !same_type(ov, pv)) {
			if (!delete_list) {
				json_t *n = remove_directives(pv);

				if (n)
					json_object_set_new(orig, k, n);
				else
					json_object_del(orig, k);
			}
			continue;
		}
		m = lookup(t, k);
		if (json_is_object(ov)) {
			if (m.strategy & API_SCHEMA_REPLACE)
				res = raw_value(pv);
			else
				res = merge_map(ov, json_deep_copy(pv), m.type, err);
		} else if (json_is_array(ov)) {
			res = merge_list_field(ov, pv, m, delete_list, err);
		} else {
			res = json_deep_copy(pv);
		}
		if (!res) {
			json_decref(orig);
			return NULL;
		}
		json_object_set_new(orig, k, res);
	}
	return orig;
}

/* ---- entry points ---- */

json_t *api_patch_apply(const json_t *obj, const char *body, size_t len, enum api_patch_type type,
			const struct api_schema_type *t, struct k8c_error *err)
{
	_cleanup_json_ json_t *patch = NULL;
	json_error_t jerr;
	json_t *doc;

	patch = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &jerr);
	if (!patch) {
		k8c_error_set(
			err, 400, "%s%s",
			type == API_PATCH_STRATEGIC ? "" : "error decoding patch: ", jerr.text);
		return NULL;
	}
	switch (type) {
	case API_PATCH_JSON:
		return json_patch(obj, patch, err);
	case API_PATCH_MERGE:
		if (json_is_null(patch)) {
			k8c_error_set(err, 400, "Invalid JSON Patch");
			return NULL;
		}
		if (!json_is_object(patch)) {
			k8c_error_set(
				err, 400,
				"error decoding patch: json: cannot unmarshal %s into Go value of "
				"type "
				"map[string]interface {}",
				api_json_type_name(patch));
			return NULL;
		}
		doc = json_deep_copy(obj);
		merge_docs(doc, patch);
		return doc;
	case API_PATCH_STRATEGIC:
		if (json_is_null(patch))
			return json_deep_copy(obj);
		if (!json_is_object(patch)) {
			k8c_error_set(err, 400,
				      "json: cannot unmarshal %s into Go value of type "
				      "map[string]interface "
				      "{}",
				      api_json_type_name(patch));
			return NULL;
		}
		doc = json_deep_copy(obj);
		{
			json_t *res = merge_map(doc, json_incref(patch), t, err);

			json_decref(doc);
			return res;
		}
	}
	k8c_error_set(err, 415, "unknown patch type");
	return NULL;
}

static json_t *status_new(int code, const char *reason, const char *message)
{
	json_t *st =
		json_pack("{s:s, s:s, s:{}, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
			  "metadata", "status", "Failure", "message", message, "code", code);

	if (*reason)
		json_object_set_new(st, "reason", json_string(reason));
	return st;
}

json_t *api_patch_error_status(const struct k8c_error *err)
{
	const char *msg = err->msg ? err->msg : "patch failed";
	json_t *st;

	switch (err->code) {
	case 422:
		/* errors.NewGenericServerResponse(422, ...): the cause is not passed on */
		st = status_new(422, "Invalid",
				"the server rejected our request due to an error in our request");
		json_object_set_new(st, "details", json_object());
		return st;
	case 400:
		return status_new(400, "BadRequest", msg);
	case 413:
		return status_new(413, "RequestEntityTooLarge", msg);
	case 415:
		return status_new(415, "UnsupportedMediaType", msg);
	default:
		/* a plain error: 500 with reason Unknown (empty, so left out) */
		return status_new(500, "", msg);
	}
}

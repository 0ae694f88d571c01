/*
 * Lookups in the generated schema tables (api_schema_data.c, built by gen_api_schema.py) and the
 * field checks of server-side field validation: unknown fields against the schema, duplicate
 * keys in the request text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_schema_data.h"
#include "cleanup.h"

const struct api_schema_type *api_schema_kind(const char *group, const char *version,
					      const char *kind)
{
	for (size_t i = 0; i < api_schema_nkinds; i++) {
		const struct api_schema_kind_entry *k = &api_schema_kinds[i];

		if (strcmp(k->group, group) == 0 && strcmp(k->version, version) == 0 &&
		    strcmp(k->kind, kind) == 0)
			return k->type;
	}
	return NULL;
}

bool api_schema_type_gvk(const struct api_schema_type *t, const char **group, const char **version,
			 const char **kind)
{
	for (size_t i = 0; i < api_schema_nkinds; i++) {
		if (api_schema_kinds[i].type == t) {
			*group = api_schema_kinds[i].group;
			*version = api_schema_kinds[i].version;
			*kind = api_schema_kinds[i].kind;
			return true;
		}
	}
	return false;
}

const char *api_schema_type_name(const struct api_schema_type *t)
{
	return t->name;
}

const char *api_schema_type_description(const struct api_schema_type *t)
{
	return t->description;
}

static int field_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct api_schema_field *)elem)->name);
}

const struct api_schema_field *api_schema_field(const struct api_schema_type *t, const char *name)
{
	if (!t || !t->nfields)
		return NULL;
	return bsearch(name, t->fields, t->nfields, sizeof(t->fields[0]), field_cmp);
}

size_t api_schema_nfields(const struct api_schema_type *t)
{
	return t->nfields;
}

const struct api_schema_field *api_schema_field_at(const struct api_schema_type *t, size_t i)
{
	return i < t->nfields ? &t->fields[i] : NULL;
}

bool api_schema_open(const struct api_schema_type *t)
{
	return t->open;
}

static void add_problem(json_t *problems, const char *what, const char *path, const char *key)
{
	_cleanup_free_ char *s = NULL;

	if (asprintf(&s, "%s field \"%s%s%s\"", what, path, *path && *key != '[' ? "." : "", key) <
	    0)
		abort();
	json_array_append_new(problems, json_string(s));
}

/* Report (problems non-NULL) or drop (problems NULL) the fields of obj that t does not know. */
static void unknown_walk(const struct api_schema_type *t, json_t *obj, const char *path,
			 json_t *problems)
{
	const char *key;
	json_t *val;
	void *tmp;

	if (!t || t->open || !json_is_object(obj))
		return;
	json_object_foreach_safe(obj, tmp, key, val)
	{
		const struct api_schema_field *f = api_schema_field(t, key);
		_cleanup_free_ char *sub = NULL;

		if (!f) {
			if (problems)
				add_problem(problems, "unknown", path, key);
			else
				json_object_del(obj, key);
			continue;
		}
		if (!f->type)
			continue;
		if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", key) < 0)
			abort();
		if (f->kind == API_SCHEMA_OBJECT) {
			unknown_walk(f->type, val, sub, problems);
		} else if (f->kind == API_SCHEMA_ARRAY && json_is_array(val)) {
			size_t i;
			json_t *el;

			json_array_foreach(val, i, el)
			{
				_cleanup_free_ char *ip = NULL;

				if (asprintf(&ip, "%s[%zu]", sub, i) < 0)
					abort();
				unknown_walk(f->type, el, ip, problems);
			}
		} else if (f->kind == API_SCHEMA_MAP && json_is_object(val)) {
			const char *k;
			json_t *v;

			json_object_foreach(val, k, v)
			{
				_cleanup_free_ char *kp = NULL;

				if (asprintf(&kp, "%s[%s]", sub, k) < 0)
					abort();
				unknown_walk(f->type, v, kp, problems);
			}
		}
	}
}

void api_schema_unknown_fields(const struct api_schema_type *t, const json_t *obj, json_t *problems)
{
	/* with problems given, nothing is changed */
	unknown_walk(t, (json_t *)obj, "", problems);
}

void api_schema_drop_unknown(const struct api_schema_type *t, json_t *obj)
{
	unknown_walk(t, obj, "", NULL);
}

/* A scanner of JSON text that only tracks object keys (the text was decoded once already). */
struct scan {
	const char *p, *end;
	json_t *problems;
	int depth;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A string at s->p (the quote); its decoded text (malloc'd, escapes of the BMP), or NULL. */
static char *scan_string(struct scan *s)
{
	size_t cap = 16, n = 0;
	char *out;

	if (s->p >= s->end || *s->p != '"')
		return NULL;
	out = k8c_xmalloc(cap);
	for (s->p++; s->p < s->end && *s->p != '"'; s->p++) {
		unsigned c = (unsigned char)*s->p;
		char enc[4];
		size_t elen = 1;
		bool esc = false;

		if (c == '\\') {
			esc = true;
			if (++s->p >= s->end)
				break;
			switch (*s->p) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				int v = s->end - s->p > 4 ? hex4(s->p + 1) : -1;

				if (v < 0)
					goto bad;
				s->p += 4;
				c = (unsigned)v;
				break;
			}
			default:
				c = (unsigned char)*s->p;
			}
		}
		if (c < 0x80 || !esc) {
			enc[0] = (char)c;
		} else if (c < 0x800) {
			enc[0] = (char)(0xc0 | (c >> 6));
			enc[1] = (char)(0x80 | (c & 0x3f));
			elen = 2;
		} else {
			enc[0] = (char)(0xe0 | (c >> 12));
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (c & 0x3f));
			elen = 3;
		}
		if (n + elen + 1 > cap) {
			cap *= 2;
			out = k8c_xrealloc(out, cap);
		}
		memcpy(out + n, enc, elen);
		n += elen;
	}
	if (s->p >= s->end)
		goto bad;
	s->p++;
	out[n] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static int scan_value(struct scan *s, const char *path);

static int scan_object(struct scan *s, const char *path)
{
	_cleanup_json_ json_t *seen = json_object();

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		_cleanup_free_ char *key = NULL, *sub = NULL;

		skip_ws(s);
		key = scan_string(s);
		if (!key)
			return -1;
		if (json_object_get(seen, key))
			add_problem(s->problems, "duplicate", path, key);
		else
			json_object_set_new(seen, key, json_true());
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return -1;
		s->p++;
		if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", key) < 0)
			abort();
		if (scan_value(s, sub) < 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int scan_array(struct scan *s, const char *path)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (size_t i = 0;; i++) {
		_cleanup_free_ char *sub = NULL;

		if (asprintf(&sub, "%s[%zu]", path, i) < 0)
			abort();
		if (scan_value(s, sub) < 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int scan_value(struct scan *s, const char *path)
{
	int rc;

	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
	case '[':
		if (++s->depth > 2048) /* jansson's JSON_PARSER_MAX_DEPTH */
			return -1;
		rc = *s->p == '{' ? scan_object(s, path) : scan_array(s, path);
		s->depth--;
		return rc;
	case '"': {
		char *str = scan_string(s);

		if (!str)
			return -1;
		free(str);
		return 0;
	}
	default:
		/*
		 * a number or a literal; a NUL byte ends the token's text for strchr() but not
		 * for jansson, which drops a NUL right after a number ("1\0,2" is [1, 2])
		 */
		while (s->p < s->end && (!*s->p || !strchr(",}] \t\r\n", *s->p)))
			s->p++;
		return 0;
	}
}

int api_schema_duplicate_fields(const char *text, size_t len, json_t *problems)
{
	struct scan s = {.p = text, .end = text + len, .problems = problems};

	if (scan_value(&s, "") < 0)
		return -1;
	skip_ws(&s);
	return s.p == s.end ? 0 : -1;
}

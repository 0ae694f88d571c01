#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_json.h"

#define MAX_DEPTH 64

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

/* A plain scalar as YAML 1.1 resolves it (typed), or the narrower kubeconfig set. */
static json_t *plain_scalar(const char *s, size_t len, bool typed)
{
	static const char *const nulls[] = {"null", "Null", "NULL", "~", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
					    "YES",  "on",   "On",   "ON",  NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "no",  "No",
					     "NO",    "off",   "Off",	"OFF", NULL};
	char *end;

	if (len == 0 || one_of(s, nulls))
		return json_null();
	if (!typed) {
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
			return json_true();
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
			return json_false();
		return json_stringn(s, len);
	}
	if (one_of(s, trues))
		return json_true();
	if (one_of(s, falses))
		return json_false();
	if (strlen(s) == len && (isdigit((unsigned char)s[0]) ||
				 ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))) {
		long long v;
		double d;

		errno = 0;
		v = strtoll(s, &end, strncmp(s, "0x", 2) == 0 ? 16 : 10);
		if (!*end && !errno)
			return json_integer(v);
		errno = 0;
		d = strtod(s, &end);
		if (!*end && !errno && strpbrk(s, ".eE") && !strpbrk(s, "xX"))
			return json_real(d);
	}
	return json_stringn(s, len);
}

static json_t *convert(yaml_document_t *doc, yaml_node_t *node, bool typed, int depth)
{
	json_t *j;

	if (!node || depth > MAX_DEPTH)
		return NULL;
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)node->data.scalar.value;
		size_t len = node->data.scalar.length;

		/* (the loader tags every untagged scalar !!str: the style tells) */
		if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return plain_scalar(s, len, typed);
		return json_stringn(s, len);
	}
	case YAML_SEQUENCE_NODE:
		j = json_array();
		for (yaml_node_item_t *i = node->data.sequence.items.start;
		     i < node->data.sequence.items.top; i++) {
			json_t *v = convert(doc, yaml_document_get_node(doc, *i), typed, depth + 1);

			if (!v) {
				json_decref(j);
				return NULL;
			}
			json_array_append_new(j, v);
		}
		return j;
	case YAML_MAPPING_NODE:
		j = json_object();
		for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
		     p < node->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			json_t *v;

			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(j);
				return NULL;
			}
			v = convert(doc, yaml_document_get_node(doc, p->value), typed, depth + 1);
			if (!v) {
				json_decref(j);
				return NULL;
			}
			json_object_setn_new(j, (const char *)k->data.scalar.value,
					     k->data.scalar.length, v);
		}
		return j;
	default:
		return NULL;
	}
}

/* Whether the text uses an alias (*name): refused, as a document may then grow without bound. */
static bool has_alias(const char *text, size_t len, struct k8c_error *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	bool alias = false, done = false;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !alias) {
		if (!yaml_parser_parse(&parser, &ev))
			break; /* the loader reports the error */
		alias = ev.type == YAML_ALIAS_EVENT;
		done = ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_DOCUMENT_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (alias)
		k8c_error_set(err, 0, "YAML aliases are not supported");
	return alias;
}

json_t *k8c_yaml_to_json(const char *text, size_t len, bool typed, struct k8c_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	json_t *out;

	if (has_alias(text, len, err))
		return NULL;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		k8c_error_set(err, 0, "line %zu column %zu: %s", parser.problem_mark.line + 1,
			      parser.problem_mark.column + 1,
			      parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return NULL;
	}
	root = yaml_document_get_root_node(&doc);
	out = root ? convert(&doc, root, typed, 0) : json_null();
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (!out)
		k8c_error_set(err, 0,
			      "nested deeper than %d levels, or a mapping key that is not "
			      "a scalar",
			      MAX_DEPTH);
	return out;
}

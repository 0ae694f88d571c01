/*
 * Field validation shared by the kinds, after Kubernetes' apimachinery util/validation,
 * api/resource (the Quantity grammar) and pkg/apis/core/validation. The messages are kube's,
 * written from its documented texts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_kind.h"
#include "api_registry.h"
#include "api_validate.h"
#include "cleanup.h"

/* Quantities. */

static const struct {
	const char *suffix;
	int base, exp; /* 10^exp or 1024^exp */
} suffixes[] = {
	{"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"", 10, 0},   {"k", 10, 3}, {"M", 10, 6},
	{"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 1}, {"Mi", 2, 2},
	{"Gi", 2, 3},  {"Ti", 2, 4},  {"Pi", 2, 5},  {"Ei", 2, 6},
};

#define NANO_LIMIT ((__int128)1 << 120)

static __int128 pow10_128(int n)
{
	__int128 v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

int api_quantity_parse(const char *s, struct api_quantity *q)
{
	const char *p = s, *suffix;
	bool neg = false;
	__int128 num = 0, mult = 1;
	int frac = 0, digits = 0, exp10 = 0;
	size_t i;
	char sfx[16];

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; isdigit((unsigned char)*p); p++, digits++)
		if (digits < 36)
			num = num * 10 + (*p - '0');
		else
			return -1;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++, frac++)
			if (digits < 36)
				num = num * 10 + (*p - '0');
			else
				return -1;
	}
	if (!digits)
		return -1;
	suffix = p;
	p += strspn(p, "eEinumkKMGTP");
	if (*p == '+' || *p == '-')
		p++;
	p += strspn(p, "0123456789");
	if (*p || (size_t)(p - suffix) >= sizeof(sfx))
		return -1;
	memcpy(sfx, suffix, (size_t)(p - suffix));
	sfx[p - suffix] = '\0';
	q->format = API_QUANTITY_DECIMAL_SI;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (strcmp(sfx, suffixes[i].suffix) == 0)
			break;
	if (i < sizeof(suffixes) / sizeof(suffixes[0])) {
		if (suffixes[i].base == 2) {
			q->format = API_QUANTITY_BINARY_SI;
			for (int k = 0; k < suffixes[i].exp; k++)
				mult *= 1024;
		} else {
			exp10 = suffixes[i].exp;
		}
	} else if ((sfx[0] == 'e' || sfx[0] == 'E') && sfx[1] &&
		   strspn(sfx + 1 + (sfx[1] == '+' || sfx[1] == '-'), "0123456789") ==
			   strlen(sfx + 1 + (sfx[1] == '+' || sfx[1] == '-')) &&
		   sfx[1 + (sfx[1] == '+' || sfx[1] == '-')]) {
		q->format = API_QUANTITY_DECIMAL_EXPONENT;
		exp10 = atoi(sfx + 1);
		if (exp10 > 30 || exp10 < -40)
			return -1;
	} else {
		return -2;
	}
	/* value = num * mult * 10^(exp10 - frac); in nano units: * 10^9 */
	{
		int scale = exp10 - frac + 9;
		__int128 v = num * mult;

		if (scale >= 0) {
			if (scale > 36 || (v && v > NANO_LIMIT / pow10_128(scale)))
				return -1;
			v *= pow10_128(scale);
		} else {
			__int128 d = -scale > 36 ? 0 : pow10_128(-scale);

			v = d ? (v + d - 1) / d : (v ? 1 : 0); /* rounded up, as kube */
		}
		q->nano = neg ? -v : v;
	}
	return 0;
}

int api_quantity_parse_json(const json_t *v, struct api_quantity *q)
{
	char buf[64];

	if (json_is_string(v))
		return api_quantity_parse(json_string_value(v), q);
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return api_quantity_parse(buf, q);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.9f", json_real_value(v));
		return api_quantity_parse(buf, q);
	}
	return -1;
}

static void i128_text(__int128 v, char *buf, size_t len)
{
	char tmp[64];
	int n = 0;
	bool neg = v < 0;

	if (neg)
		v = -v;
	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	for (int i = 0; i < n && (size_t)i + 1 < len; i++)
		buf[i] = tmp[n - 1 - i];
	buf[(size_t)n < len ? (size_t)n : len - 1] = '\0';
}

void api_quantity_format(const struct api_quantity *q, char *buf, size_t len)
{
	__int128 v = q->nano, one = pow10_128(9);
	enum api_quantity_format f = q->format;
	char num[64];

	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	if (f == API_QUANTITY_BINARY_SI && (v % one != 0 || (v > -1024 * one && v < 1024 * one)))
		f = API_QUANTITY_DECIMAL_SI;
	if (f == API_QUANTITY_BINARY_SI) {
		static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
		int k = 0;

		v /= one;
		while (k < 6 && v % 1024 == 0) {
			v /= 1024;
			k++;
		}
		i128_text(v, num, sizeof(num));
		snprintf(buf, len, "%s%s", num, bin[k]);
		return;
	}
	/* mantissa * 10^e with e a multiple of 3, the largest that keeps the mantissa whole */
	{
		int e = -9;

		while (v % 1000 == 0) {
			v /= 1000;
			e += 3;
		}
		i128_text(v, num, sizeof(num));
		if (f == API_QUANTITY_DECIMAL_EXPONENT) {
			if (e)
				snprintf(buf, len, "%se%d", num, e);
			else
				snprintf(buf, len, "%s", num);
			return;
		}
		if (e > 18) {
			snprintf(buf, len, "%se%d", num, e);
			return;
		}
		for (size_t i = 0; i < 10; i++)
			if (suffixes[i].exp == e)
				snprintf(buf, len, "%s%s", num, suffixes[i].suffix);
	}
}

int api_quantity_cmp(const struct api_quantity *a, const struct api_quantity *b)
{
	return a->nano < b->nano ? -1 : a->nano > b->nano;
}

void api_quantities_canonical(json_t *list)
{
	const char *k;
	json_t *v;
	struct api_quantity q;
	char buf[64];

	json_object_foreach(list, k, v)
	{
		if (api_quantity_parse_json(v, &q) == 0) {
			/* SetDefaults_ResourceList: rounded up to milli units */
			if (q.nano > 0 && q.nano % 1000000)
				q.nano += 1000000 - q.nano % 1000000;
			api_quantity_format(&q, buf, sizeof(buf));
			json_object_set_new(list, k, json_string(buf));
		}
	}
}

/* Names. */

#define QNAME_MSG                                                                                  \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "   \
	"an alphanumeric character"
#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? */
static bool qname_ok(const char *s, size_t n)
{
	if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

const char *api_qualified_name_error(const char *s, char *buf, size_t len)
{
	const char *slash = strchr(s, '/'), *name = s, *problem;

	if (slash && strchr(slash + 1, '/'))
		return "a qualified name " QNAME_MSG " (e.g. 'MyName',  or 'my.name',  or "
		       "'123-abc', regex used for validation is '" QNAME_FMT "') with an optional "
		       "DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
	if (slash) {
		_cleanup_free_ char *prefix = strndup(s, (size_t)(slash - s));

		name = slash + 1;
		if (!*prefix)
			return "prefix part must be non-empty";
		if ((problem = api_name_error(API_NAME_SUBDOMAIN, prefix))) {
			snprintf(buf, len, "prefix part %s", problem);
			return buf;
		}
	}
	if (!*name)
		return "name part must be non-empty";
	if (strlen(name) > 63)
		return "name part must be no more than 63 characters";
	if (!qname_ok(name, strlen(name)))
		return "name part " QNAME_MSG " (e.g. 'MyName',  or 'my.name',  or '123-abc', "
		       "regex used for validation is '" QNAME_FMT "')";
	return NULL;
}

const char *api_label_value_error(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	if (n && !qname_ok(s, n))
		return "a valid label must be an empty string or consist of alphanumeric "
		       "characters, '-', '_' or '.', and must start and end with an alphanumeric "
		       "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
		       "validation is '(" QNAME_FMT ")?')";
	return NULL;
}

void api_validate_dns_label(const char *s, const char *field, json_t *causes)
{
	const char *problem;

	if (!*s)
		api_cause_add(causes, "FieldValueRequired", field, "Required value");
	else if ((problem = api_name_error(API_NAME_LABEL, s)))
		api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", s,
			      problem);
}

void api_validate_subdomain(const char *s, const char *field, json_t *causes)
{
	const char *problem;

	if ((problem = api_name_error(API_NAME_SUBDOMAIN, s)))
		api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", s,
			      problem);
}

/* IANA_SVC_NAME (RFC 6335): every rule broken is a cause, as kube's IsValidPortName. */
void api_validate_port_name(const char *s, const char *field, json_t *causes)
{
	size_t n = strlen(s);

	if (n > 15)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must be no more than 15 characters", s);
	if (!n || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must contain only alpha-numeric characters "
			      "(a-z, 0-9), and hyphens (-)",
			      s);
	if (!strpbrk(s, "abcdefghijklmnopqrstuvwxyz"))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must contain at least one letter (a-z)", s);
	if (strstr(s, "--"))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must not contain consecutive hyphens", s);
	if (n && (s[0] == '-' || s[n - 1] == '-'))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must not begin or end with a hyphen", s);
}

void api_validate_port_num(const json_t *v, const char *field, json_t *causes)
{
	long long n = json_integer_value(v);

	if (n < 1 || n > 65535)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: %lld: must be between 1 and 65535, inclusive", n);
}

void api_validate_port_num_or_name(const json_t *v, const char *field, json_t *causes)
{
	if (json_is_integer(v))
		api_validate_port_num(v, field, causes);
	else if (json_is_string(v))
		api_validate_port_name(json_string_value(v), field, causes);
	else
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"\": must be an integer or string");
}

void api_validate_env_name(const char *s, const char *field, json_t *causes)
{
	size_t n = strlen(s);

	if (!n) {
		api_cause_add(causes, "FieldValueRequired", field, "Required value");
		return;
	}
	if (isdigit((unsigned char)s[0]) ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != n)
		api_cause_add(
			causes, "FieldValueInvalid", field,
			"Invalid value: \"%s\": a valid environment variable name must "
			"consist of alphabetic characters, digits, '_', '-', or '.', and must "
			"not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
			"'MyEnvName1', regex used for validation is "
			"'[-._a-zA-Z][-._a-zA-Z0-9]*')",
			s);
	if (strcmp(s, ".") == 0)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must not be '.'", s);
	else if (strcmp(s, "..") == 0)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must not be '..'", s);
	else if (strncmp(s, "..", 2) == 0)
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: \"%s\": must not start with '..'", s);
}

void api_validate_nonnegative(const json_t *v, const char *field, json_t *causes)
{
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
		api_cause_add(causes, "FieldValueInvalid", field,
			      "Invalid value: %lld: must be greater than or equal to 0",
			      (long long)json_integer_value(v));
}

/* Metadata. */

void api_validate_labels(const json_t *labels, const char *field, json_t *causes)
{
	const char *k, *problem;
	json_t *v;
	char buf[512];

	json_object_foreach((json_t *)labels, k, v)
	{
		if ((problem = api_qualified_name_error(k, buf, sizeof(buf))))
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": %s", k, problem);
		if (json_is_string(v) && (problem = api_label_value_error(json_string_value(v))))
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": %s", json_string_value(v), problem);
	}
}

#define ANNOTATIONS_MAX (256 * 1024)

void api_validate_annotations(const json_t *ann, const char *field, json_t *causes)
{
	const char *k, *problem;
	json_t *v;
	char buf[512];
	size_t total = 0;

	json_object_foreach((json_t *)ann, k, v)
	{
		_cleanup_free_ char *lower = k8c_xstrdup(k);

		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if ((problem = api_qualified_name_error(lower, buf, sizeof(buf))))
			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: \"%s\": %s", k, problem);
		total += strlen(k) + strlen(json_string_value(v) ?: "");
	}
	if (total > ANNOTATIONS_MAX)
		api_cause_add(causes, "FieldValueTooLong", field,
			      "Too long: may not be more than %d bytes", ANNOTATIONS_MAX);
}

void api_validate_meta(const json_t *obj, json_t *causes)
{
	const json_t *meta = json_object_get(obj, "metadata");

	api_validate_labels(json_object_get(meta, "labels"), "metadata.labels", causes);
	api_validate_annotations(json_object_get(meta, "annotations"), "metadata.annotations",
				 causes);
}

/* Resources. */

static bool container_resource(const char *name)
{
	return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
	       strcmp(name, "ephemeral-storage") == 0 || strncmp(name, "hugepages-", 10) == 0;
}

void api_validate_resource_list(const json_t *list, const char *field, bool containers,
				json_t *causes)
{
	const char *k, *problem;
	json_t *v;
	char buf[512];
	struct api_quantity q;

	json_object_foreach((json_t *)list, k, v)
	{
		_cleanup_free_ char *f = k8c_xasprintf("%s[%s]", field, k);
		char text[64];
		int rc;

		if ((problem = api_qualified_name_error(k, buf, sizeof(buf))))
			api_cause_add(causes, "FieldValueInvalid", f, "Invalid value: \"%s\": %s",
				      k, problem);
		else if (containers && !strchr(k, '/') && !container_resource(k))
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"%s\": must be a standard resource for "
				      "containers",
				      k);
		rc = api_quantity_parse_json(v, &q);
		if (rc < 0) {
			api_cause_add(causes, "FieldValueInvalid", f, "Invalid value: \"%s\": %s",
				      json_string_value(v) ?: "",
				      rc == -2 ? "unable to parse quantity's suffix"
					       : API_QUANTITY_ERROR);
			continue;
		}
		api_quantity_format(&q, text, sizeof(text));
		if (q.nano < 0)
			api_cause_add(causes, "FieldValueInvalid", f,
				      "Invalid value: \"%s\": must be greater than or equal to 0",
				      text);
	}
}

void api_validate_resources(const json_t *res, const char *field, json_t *causes)
{
	const json_t *lim = json_object_get(res, "limits"), *req = json_object_get(res, "requests");
	_cleanup_free_ char *lf = k8c_xasprintf("%s.limits", field);
	_cleanup_free_ char *rf = k8c_xasprintf("%s.requests", field);
	const char *k;
	json_t *v;

	api_validate_resource_list(lim, lf, true, causes);
	api_validate_resource_list(req, rf, true, causes);
	json_object_foreach((json_t *)req, k, v)
	{
		struct api_quantity rq, lq;
		char rt[64], lt[64];
		bool overcommit = container_resource(k) && strncmp(k, "hugepages-", 10) != 0;

		if (!json_object_get(lim, k) || api_quantity_parse_json(v, &rq) ||
		    api_quantity_parse_json(json_object_get(lim, k), &lq))
			continue;
		api_quantity_format(&rq, rt, sizeof(rt));
		api_quantity_format(&lq, lt, sizeof(lt));
		if (!overcommit && api_quantity_cmp(&rq, &lq) != 0)
			api_cause_add(causes, "FieldValueInvalid", rf,
				      "Invalid value: \"%s\": must be equal to %s limit of %s", rt,
				      k, lt);
		else if (api_quantity_cmp(&rq, &lq) > 0)
			api_cause_add(causes, "FieldValueInvalid", rf,
				      "Invalid value: \"%s\": must be less than or equal to %s "
				      "limit of %s",
				      rt, k, lt);
	}
}

/* IntOrString. */

char *api_intstr_text(const json_t *v)
{
	if (json_is_string(v))
		return k8c_xasprintf("intstr.IntOrString{Type:1, IntVal:0, StrVal:\"%s\"}",
				     json_string_value(v));
	return k8c_xasprintf("intstr.IntOrString{Type:0, IntVal:%lld, StrVal:\"\"}",
			     (long long)json_integer_value(v));
}

bool api_intstr_zero(const json_t *v)
{
	if (json_is_string(v))
		return strtol(json_string_value(v), NULL, 10) == 0 &&
		       isdigit((unsigned char)*json_string_value(v));
	return !v || json_integer_value(v) == 0;
}

void api_validate_int_or_percent(const json_t *v, const char *field, json_t *causes)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = strspn(s, "0123456789");

		if (!n || strcmp(s + n, "%") != 0) {
			_cleanup_free_ char *t = api_intstr_text(v);

			api_cause_add(causes, "FieldValueInvalid", field,
				      "Invalid value: %s: a valid percent string must be a numeric "
				      "string followed by an ending '%%' (e.g. '1%%',  or '93%%', "
				      "regex used for validation is '[0-9]+%%')",
				      t);
		}
	} else if (v) {
		api_validate_nonnegative(v, field, causes);
	}
}

/* Go's %#v of values, as kube's messages print them. */

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's %q of s (ASCII: quotes and backslashes escaped). */
static void go_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void go_map(FILE *f, const json_t *m)
{
	size_t n = json_is_object(m) ? json_object_size(m) : 0, i = 0;
	_cleanup_free_ const char **keys = k8c_xmalloc((n ? n : 1) * sizeof(*keys));
	const char *k;
	json_t *v;

	if (!json_is_object(m)) {
		fputs("map[string]string(nil)", f);
		return;
	}
	json_object_foreach((json_t *)m, k, v) keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	fputs("map[string]string{", f);
	for (i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		go_quote(f, keys[i]);
		fputc(':', f);
		go_quote(f, json_string_value(json_object_get(m, keys[i])) ?: "");
	}
	fputc('}', f);
}

char *api_go_string_map(const json_t *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	go_map(f, m);
	fclose(f);
	return buf;
}

char *api_go_label_selector(const json_t *sel)
{
	json_t *exprs = json_object_get(sel, "matchExpressions"), *e, *v;
	char *buf = NULL;
	size_t len = 0, i, j;
	FILE *f = open_memstream(&buf, &len);

	fputs("v1.LabelSelector{MatchLabels:", f);
	go_map(f, json_object_get(sel, "matchLabels"));
	fputs(", MatchExpressions:", f);
	if (!json_is_array(exprs)) {
		fputs("[]v1.LabelSelectorRequirement(nil)}", f);
		fclose(f);
		return buf;
	}
	fputs("[]v1.LabelSelectorRequirement{", f);
	json_array_foreach(exprs, i, e)
	{
		fprintf(f, "%sv1.LabelSelectorRequirement{Key:", i ? ", " : "");
		go_quote(f, api_jstr(e, "key") ?: "");
		fputs(", Operator:", f);
		go_quote(f, api_jstr(e, "operator") ?: "");
		fputs(", Values:", f);
		if (!json_is_array(json_object_get(e, "values"))) {
			fputs("[]string(nil)}", f);
			continue;
		}
		fputs("[]string{", f);
		json_array_foreach(json_object_get(e, "values"), j, v)
		{
			fputs(j ? ", " : "", f);
			go_quote(f, json_string_value(v) ?: "");
		}
		fputs("}}", f);
	}
	fputs("}}", f);
	fclose(f);
	return buf;
}

void api_validate_label_selector(const json_t *sel, const char *field, json_t *causes)
{
	_cleanup_free_ char *ml = k8c_xasprintf("%s.matchLabels", field);
	json_t *e;
	size_t i;

	api_validate_labels(json_object_get(sel, "matchLabels"), ml, causes);
	json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
	{
		const char *op = api_jstr(e, "operator") ?: "", *key = api_jstr(e, "key") ?: "";
		size_t nv = json_array_size(json_object_get(e, "values"));
		_cleanup_free_ char *fo =
			k8c_xasprintf("%s.matchExpressions[%zu].operator", field, i);
		_cleanup_free_ char *fv =
			k8c_xasprintf("%s.matchExpressions[%zu].values", field, i);
		_cleanup_free_ char *fk = k8c_xasprintf("%s.matchExpressions[%zu].key", field, i);
		const char *problem;
		char buf[512];

		if (!strcmp(op, "In") || !strcmp(op, "NotIn")) {
			if (!nv)
				api_cause_add(
					causes, "FieldValueRequired", fv,
					"Required value: must be specified when `operator` is "
					"'In' or 'NotIn'");
		} else if (!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) {
			if (nv)
				api_cause_add(causes, "FieldValueForbidden", fv,
					      "Forbidden: may not be specified when `operator` is "
					      "'Exists' or 'DoesNotExist'");
		} else {
			api_cause_add(causes, "FieldValueInvalid", fo,
				      "Invalid value: \"%s\": not a valid selector operator", op);
		}
		if ((problem = api_qualified_name_error(key, buf, sizeof(buf))))
			api_cause_add(causes, "FieldValueInvalid", fk, "Invalid value: \"%s\": %s",
				      key, problem);
	}
}

/* QoS. */

/* The requests and limits of cpu and memory above zero, summed over the containers. */
struct qos_sum {
	struct api_quantity q[2];
	bool set[2];
};

static void qos_add(struct qos_sum *s, const json_t *list, bool found[2])
{
	static const char *const names[] = {"cpu", "memory"};

	for (int i = 0; i < 2; i++) {
		struct api_quantity q;

		if (api_quantity_parse_json(json_object_get(list, names[i]), &q) || q.nano <= 0)
			continue;
		s->q[i].nano = s->set[i] ? s->q[i].nano + q.nano : q.nano;
		s->set[i] = true;
		if (found)
			found[i] = true;
	}
}

const char *api_pod_qos(const json_t *pod)
{
	static const char *const lists[] = {"spec.containers", "spec.initContainers", NULL};
	struct qos_sum req = {0}, lim = {0};
	bool guaranteed = true;

	for (const char *const *l = lists; *l; l++) {
		json_t *c;
		size_t i;

		json_array_foreach(api_jget(pod, *l), i, c)
		{
			bool found[2] = {false, false};

			qos_add(&req, api_jget(c, "resources.requests"), NULL);
			qos_add(&lim, api_jget(c, "resources.limits"), found);
			if (!found[0] || !found[1])
				guaranteed = false;
		}
	}
	if (!req.set[0] && !req.set[1] && !lim.set[0] && !lim.set[1])
		return "BestEffort";
	for (int i = 0; i < 2 && guaranteed; i++)
		if (req.set[i] && (!lim.set[i] || req.q[i].nano != lim.q[i].nano))
			guaranteed = false;
	if (guaranteed && req.set[0] == lim.set[0] && req.set[1] == lim.set[1])
		return "Guaranteed";
	return "Burstable";
}

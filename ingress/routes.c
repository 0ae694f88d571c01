/* The Ingress route table: build from the caches, match a request (routes.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "routes.h"

#define DEFAULT_CLASS_ANN "ingressclass.kubernetes.io/is-default-class"
#define LEGACY_CLASS_ANN  "kubernetes.io/ingress.class"
#define SERVICE_NAME_LBL  "kubernetes.io/service-name"

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static const char *jpath(const json_t *o, const char *a, const char *b)
{
	return jstr(json_object_get(o, a), b);
}

/* An informer cache (object) or an array, as a new array. */
static json_t *as_array(json_t *c)
{
	json_t *a = json_array(), *v;
	const char *k;
	size_t i;

	if (json_is_array(c))
		json_array_foreach(c, i, v) json_array_append(a, v);
	else if (json_is_object(c))
		json_object_foreach(c, k, v) json_array_append(a, v);
	return a;
}

static char *obj_key(const json_t *o)
{
	const char *ns = jpath(o, "metadata", "namespace");
	char *s;

	if (asprintf(&s, "%s/%s", ns, jpath(o, "metadata", "name")) < 0)
		abort();
	return s;
}

/* An annotation's value: ours (k8c.io/NAME) first, else ingress-nginx's; NULL when unset. */
static const char *annotation(const json_t *ing, const char *name)
{
	const json_t *ann = json_object_get(json_object_get(ing, "metadata"), "annotations");
	static const char ours[] = "k8c.io/", theirs[] = "nginx.ingress.kubernetes.io/";
	char key[128];
	size_t n = strlen(name);
	const char *v;

	/* on every Ingress of every build: no formatting */
	if (!json_object_size(ann) || n + sizeof(theirs) > sizeof(key))
		return NULL;
	memcpy(key, ours, sizeof(ours) - 1);
	memcpy(key + sizeof(ours) - 1, name, n + 1);
	if ((v = json_string_value(json_object_get(ann, key))))
		return v;
	memcpy(key, theirs, sizeof(theirs) - 1);
	memcpy(key + sizeof(theirs) - 1, name, n + 1);
	return json_string_value(json_object_get(ann, key));
}

static void warn(struct ing_annotations *a, const char *name, const char *value, const char *why)
{
	char *w;

	if (asprintf(&w, "%s%s%s '%s': %s", a->warnings ? a->warnings : "", a->warnings ? "; " : "",
		     name, value, why) < 0)
		abort();
	free(a->warnings);
	a->warnings = w;
}

static bool boolean(const json_t *ing, struct ing_annotations *a, const char *name)
{
	const char *v = annotation(ing, name);

	if (!v || !strcasecmp(v, "false"))
		return false;
	if (!strcasecmp(v, "true"))
		return true;
	warn(a, name, v, "want true or false");
	return false;
}

/* nginx sizes: a number of bytes with an optional k, m or g suffix. */
static long long size_value(const char *v)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		return -1;
	switch (*end) {
	case '\0':
		return n;
	case 'k':
	case 'K':
		n *= 1024;
		break;
	case 'm':
	case 'M':
		n *= 1024 * 1024;
		break;
	case 'g':
	case 'G':
		n *= 1024LL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	return end[1] ? -1 : n;
}

/* Seconds ("5" or "5s") as milliseconds, 0 when invalid. */
static unsigned seconds_ms(const char *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || (*end && strcmp(end, "s")) || !n || n > 86400)
		return 0;
	return (unsigned)n * 1000;
}

static bool parse_cidr(const char *s, struct ing_cidr *c)
{
	char buf[64], *slash;
	unsigned long bits;
	char *end;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')))
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6;
	else
		return false;
	c->bits = c->family == AF_INET ? 32 : 128;
	if (slash) {
		errno = 0;
		bits = strtoul(slash, &end, 10);
		if (errno || end == slash || *end || bits > c->bits)
			return false;
		c->bits = (unsigned)bits;
	}
	return true;
}

/* A number from lo to hi, else warn and return dflt. */
static unsigned number(const json_t *ing, struct ing_annotations *a, const char *name, unsigned lo,
		       unsigned hi, unsigned dflt)
{
	const char *v = annotation(ing, name);
	char *end, why[64];
	unsigned long n;

	if (!v)
		return dflt;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (!errno && end != v && !*end && n >= lo && n <= hi)
		return (unsigned)n;
	snprintf(why, sizeof(why), "want a number from %u to %u", lo, hi);
	warn(a, name, v, why);
	return dflt;
}

static void parse_canary(const json_t *ing, struct ing_annotations *a)
{
	const char *v;

	if ((v = annotation(ing, "canary-by-header")) && *v) {
		if (strpbrk(v, " \t\r\n:")) {
			warn(a, "canary-by-header", v, "not a header name");
		} else {
			a->canary_header = k8c_xstrdup(v);
			for (char *c = a->canary_header; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
	}
	if ((v = annotation(ing, "canary-by-header-value")) && *v)
		a->canary_header_value = k8c_xstrdup(v);
	if ((v = annotation(ing, "canary-by-header-pattern")) && *v && !a->canary_header_value) {
		char msg[256];
		int rc;
		a->canary_header_re = k8c_xcalloc(1, sizeof(*a->canary_header_re));
		if ((rc = regcomp(a->canary_header_re, v, REG_EXTENDED | REG_NOSUB))) {
			regerror(rc, a->canary_header_re, msg, sizeof(msg));
			free(a->canary_header_re);
			a->canary_header_re = NULL;
			warn(a, "canary-by-header-pattern", v, msg);
		}
	}
	if ((v = annotation(ing, "canary-by-cookie")) && *v) {
		if (strpbrk(v, "=;, \t\r\n\""))
			warn(a, "canary-by-cookie", v, "not a cookie name");
		else
			a->canary_cookie = k8c_xstrdup(v);
	}
	a->canary_weight_total = number(ing, a, "canary-weight-total", 1, 1000000000, 100);
	a->canary_weight = number(ing, a, "canary-weight", 0, a->canary_weight_total, 0);
}

bool ing_canary_chosen(const struct ing_annotations *c, const char *header, size_t header_len,
		       const char *cookie, size_t cookie_len, uint32_t random)
{
	if (c->canary_header && header) {
		if (c->canary_header_value) {
			if (strlen(c->canary_header_value) == header_len &&
			    !memcmp(c->canary_header_value, header, header_len))
				return true;
		} else if (c->canary_header_re) {
			char buf[1024];
			if (header_len < sizeof(buf)) {
				memcpy(buf, header, header_len);
				buf[header_len] = '\0';
				if (!regexec(c->canary_header_re, buf, 0, NULL, 0))
					return true;
			}
		} else if (header_len == 6 && !memcmp(header, "always", 6)) {
			return true;
		} else if (header_len == 5 && !memcmp(header, "never", 5)) {
			return false;
		}
	}
	if (c->canary_cookie && cookie) {
		if (cookie_len == 6 && !memcmp(cookie, "always", 6))
			return true;
		if (cookie_len == 5 && !memcmp(cookie, "never", 5))
			return false;
	}
	/* as ingress-nginx's math.random(total) <= weight */
	return c->canary_weight &&
	       (uint64_t)random * c->canary_weight_total >> 32 < c->canary_weight;
}

struct ing_annotations *ing_annotations_parse(const json_t *ing)
{
	struct ing_annotations *a = k8c_xcalloc(1, sizeof(*a));
	const char *v;

	a->body_max = -1;
	a->force_ssl_redirect = boolean(ing, a, "force-ssl-redirect");
	a->use_regex = boolean(ing, a, "use-regex");
	a->enable_cors = boolean(ing, a, "enable-cors");
	if ((v = annotation(ing, "rewrite-target")) && *v) {
		if (*v == '/')
			a->rewrite_target = k8c_xstrdup(v);
		else
			warn(a, "rewrite-target", v, "not a path (must start with /)");
	}
	if ((v = annotation(ing, "proxy-body-size")) && (a->body_max = size_value(v)) < 0)
		warn(a, "proxy-body-size", v, "want bytes with an optional k, m or g suffix");
	if ((v = annotation(ing, "proxy-connect-timeout")) &&
	    !(a->connect_timeout_ms = seconds_ms(v)))
		warn(a, "proxy-connect-timeout", v, "want seconds (1 to 86400)");
	if ((v = annotation(ing, "proxy-read-timeout")) && !(a->read_timeout_ms = seconds_ms(v)))
		warn(a, "proxy-read-timeout", v, "want seconds (1 to 86400)");
	if ((v = annotation(ing, "whitelist-source-range")) ||
	    (v = annotation(ing, "allowlist-source-range"))) {
		char *copy = k8c_xstrdup(v), *save = NULL, *tok;

		a->allow_set = true; /* an invalid range allows nobody more: fails closed */
		for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			struct ing_cidr c;
			if (!parse_cidr(tok, &c)) {
				warn(a, "whitelist-source-range", tok, "not an address or CIDR");
				continue;
			}
			a->allow = realloc(a->allow, (a->n_allow + 1) * sizeof(*a->allow));
			if (!a->allow)
				abort();
			a->allow[a->n_allow++] = c;
		}
		free(copy);
	}
	if ((v = annotation(ing, "affinity"))) {
		if (!strcmp(v, "cookie"))
			a->affinity_cookie = true;
		else
			warn(a, "affinity", v, "only \"cookie\" is supported");
	}
	v = annotation(ing, "session-cookie-name");
	a->cookie_name = k8c_xstrdup(v && *v && !strpbrk(v, "=;, \t\r\n\"") ? v : "INGRESSCOOKIE");
	if ((v = annotation(ing, "limit-rps"))) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (end == v || *end || !n || n > 1000000)
			warn(a, "limit-rps", v, "want requests per second (1 to 1000000)");
		else
			a->limit_rps = (unsigned)n;
	}
	a->canary = boolean(ing, a, "canary");
	if (a->canary)
		parse_canary(ing, a);
	if ((v = annotation(ing, "backend-protocol"))) {
		if (!strcasecmp(v, "HTTPS"))
			a->backend_https = true;
		else if (strcasecmp(v, "HTTP"))
			warn(a, "backend-protocol", v, "only HTTP and HTTPS are supported");
	}
	return a;
}

static void regex_free(regex_t *re)
{
	if (re) {
		regfree(re);
		free(re);
	}
}

void ing_annotations_free(struct ing_annotations *a)
{
	if (!a)
		return;
	free(a->rewrite_target);
	free(a->allow);
	free(a->cookie_name);
	free(a->canary_header);
	free(a->canary_header_value);
	regex_free(a->canary_header_re);
	free(a->canary_cookie);
	free(a->warnings);
	free(a);
}

/* A new object with the named members of o (those it has), borrowed references. */
static json_t *pick_keys(const json_t *o, const char *const *keys)
{
	json_t *out = json_object();

	for (; *keys; keys++)
		if (json_object_get(o, *keys))
			json_object_set(out, *keys, json_object_get(o, *keys));
	return out;
}

static const char *const meta_keys[] = {
	"name", "namespace", "uid", "resourceVersion", "creationTimestamp", NULL};

json_t *ing_ingress_transform(json_t *obj)
{
	const json_t *md = json_object_get(obj, "metadata"), *v;
	static const char *const keys[] = {"apiVersion", "kind", "spec", "status", NULL};
	json_t *out = pick_keys(obj, keys), *m = pick_keys(md, meta_keys), *ann = json_object();
	const char *k;

	json_object_foreach((json_t *)json_object_get(md, "annotations"), k, v)
	{
		if (!strncmp(k, "k8c.io/", 7) || !strncmp(k, "nginx.ingress.kubernetes.io/", 28) ||
		    !strcmp(k, LEGACY_CLASS_ANN))
			json_object_set(ann, k, (json_t *)v);
	}
	if (json_object_size(ann))
		json_object_set(m, "annotations", ann);
	json_decref(ann);
	json_object_set_new(out, "metadata", m);
	return out;
}

json_t *ing_service_transform(json_t *obj)
{
	static const char *const keys[] = {"apiVersion", "kind", NULL};
	json_t *out = pick_keys(obj, keys), *spec = json_object();

	json_object_set_new(out, "metadata",
			    pick_keys(json_object_get(obj, "metadata"), meta_keys));
	if (json_object_get(json_object_get(obj, "spec"), "ports"))
		json_object_set(spec, "ports",
				json_object_get(json_object_get(obj, "spec"), "ports"));
	json_object_set_new(out, "spec", spec);
	return out;
}

json_t *ing_slice_transform(json_t *obj)
{
	static const char *const keys[] = {"apiVersion", "kind", "addressType", "ports", NULL};
	const json_t *md = json_object_get(obj, "metadata"), *ep;
	const char *svc =
		json_string_value(json_object_get(json_object_get(md, "labels"), SERVICE_NAME_LBL));
	json_t *out = pick_keys(obj, keys), *m = pick_keys(md, meta_keys), *eps = json_array();
	size_t i;

	if (svc)
		json_object_set_new(m, "labels", json_pack("{s:s}", SERVICE_NAME_LBL, svc));
	json_object_set_new(out, "metadata", m);
	json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
	{
		json_t *e = json_object();
		const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
		if (json_object_get(ep, "addresses"))
			json_object_set(e, "addresses", json_object_get(ep, "addresses"));
		if (ready)
			json_object_set_new(e, "conditions", json_pack("{s:O}", "ready", ready));
		json_array_append_new(eps, e);
	}
	json_object_set_new(out, "endpoints", eps);
	return out;
}

/* Our IngressClasses, read once per build. */
struct our_classes {
	const char **names;
	size_t n;
	bool has_default; /* one of ours is annotated is-default-class: "true" */
};

static void our_classes_init(struct our_classes *oc, json_t *classes, const char *controller)
{
	json_t *all = as_array(classes), *c;
	size_t i;

	memset(oc, 0, sizeof(*oc));
	oc->names = k8c_xcalloc(json_array_size(all), sizeof(*oc->names));
	if (!controller)
		controller = ING_DEFAULT_CONTROLLER;
	json_array_foreach(all, i, c)
	{
		const char *d = json_string_value(json_object_get(
			json_object_get(json_object_get(c, "metadata"), "annotations"),
			DEFAULT_CLASS_ANN));

		if (strcmp(jpath(c, "spec", "controller"), controller))
			continue;
		oc->names[oc->n++] = jpath(c, "metadata", "name"); /* classes outlive oc */
		if (d && !strcmp(d, "true"))
			oc->has_default = true;
	}
	json_decref(all);
}

/* The class an Ingress names (spec.ingressClassName, else the legacy annotation), or NULL. */
static const char *wanted_class(const json_t *ing)
{
	const char *want = json_string_value(
		json_object_get(json_object_get(ing, "spec"), "ingressClassName"));

	if (!want)
		want = json_string_value(json_object_get(
			json_object_get(json_object_get(ing, "metadata"), "annotations"),
			LEGACY_CLASS_ANN));
	return want;
}

static bool class_ours(const char *want, const struct our_classes *oc)
{
	if (!want)
		return oc->has_default;
	for (size_t i = 0; i < oc->n; i++)
		if (!strcmp(oc->names[i], want))
			return true;
	return false;
}

static bool is_ours(const json_t *ing, const struct our_classes *oc)
{
	return class_ours(wanted_class(ing), oc);
}

bool ing_is_ours(const json_t *ing, json_t *classes, const char *controller)
{
	struct our_classes oc;
	bool ours;

	our_classes_init(&oc, classes, controller);
	ours = is_ours(ing, &oc);
	free(oc.names);
	return ours;
}

/*
 * Compiled Ingresses ("units"), kept by a builder between builds (routes.h). A unit holds what
 * its Ingress says, parsed once: rules (hosts, normalized paths, regexes), annotations, TLS hosts
 * and the backends as written. A build resolves the backends against Services and
 * EndpointSlices and merges the units of our class into a table of pointer arrays; the table
 * holds a reference on each unit it uses and borrows their strings.
 */

/* A backend as the Ingress writes it ({service: {name, port}} or the legacy shape). */
struct bspec {
	char *service;	   /* "ns/name" */
	char *port;	   /* as written: "80" or "http" */
	const char *error; /* the backend names no Service: never resolved */
	char kind;	   /* the port: '#' a number, '=' a name, '-' none */
	long long number;
	char *memo; /* "ns/name\n#80", "...\n=http" or "...\n-": the resolution's key */
	/* the builder's resolution of it (while ent_gen is the builder's res_gen) */
	struct res_ent *ent;
	unsigned long ent_gen;
};

/* One path rule of an Ingress. */
struct rule {
	char *host;	  /* lower case, "" for none, "*.x" for a wildcard */
	size_t host_hash; /* hash_key(host): the walk by host compares it first */
	char *path;	  /* normalized: a Prefix path has no trailing slash (but "/") */
	size_t len;
	enum ing_path_type type;
	regex_t *re;
	char *error;	 /* an invalid regex path: why (the rule answers 503) */
	size_t bs;	 /* its backend spec (the defaultBackend's for a rule without paths) */
	bool canary;	 /* of a canary Ingress: the alternative of a main rule */
	bool is_default; /* a host without paths: its Ingress' defaultBackend */
	bool has_def;	 /* its Ingress has a defaultBackend (u->def >= 0) */
	size_t seq;	 /* its place in the Ingress */
	struct ing_unit *u;
	struct ing_backend *b; /* the builder's, during a build */
};

struct tls_rule {
	char *host; /* lower case, "*.x" for a wildcard */
	char *secret;
	bool redirect;
	struct ing_unit *u;
	size_t seq; /* its place in the Ingress */
};

struct ing_unit {
	atomic_long refs; /* the builder's (while current) and one per table using it */
	json_t *obj;	  /* the cached object compiled (a reference) */
	char *key;	  /* "ns/name" */
	json_t *key_json; /* the same as a JSON string, for the tables' served arrays */
	const char *ts, *ns, *name, *want_class; /* in obj; want_class NULL: none named */
	struct ing_annotations *ann;
	struct bspec *bs;
	size_t n_bs, cap_bs;
	long def; /* index in bs of the defaultBackend, -1: none (or a canary's, not served) */
	struct rule *rules;
	size_t n_rules, cap_rules;
	struct tls_rule *tls;
	size_t n_tls;
	/* the builder's (main thread), never read by the serving threads */
	struct ing_unit *next;	  /* hash chain */
	unsigned long mark;	  /* the build that saw it last */
	bool dead;		  /* dropped by the builder */
	size_t rank;		  /* among ours, oldest first */
	struct ing_backend *defb; /* this build's defaultBackend */
};

/*
 * A Service port resolved to its ready endpoints: made once, shared by the tables until its
 * Service or one of its EndpointSlices changes; freed with the last holder (any thread).
 */
struct ing_resolved {
	atomic_long refs; /* the builder's entry's (while current) and one per table */
	char *error;
	struct ing_endpoint *eps;
	size_t n_eps;
};

/* The builder's resolution of one bspec memo (main thread only). */
struct res_ent {
	char *memo;
	char *service; /* "ns/name" */
	struct ing_resolved *r;
	unsigned long mark; /* the build that used it last */
	struct res_ent *next;
};

struct ing_builder {
	struct ing_unit **buckets; /* "ns/name" → unit, chained */
	size_t n_buckets, n_units;
	struct ing_unit **units; /* every unit, oldest first (cmp_unit) */
	size_t n_sorted;
	struct rule **rules;   /* every rule of every unit, by precedence (cmp_rule) */
	struct tls_rule **tls; /* every TLS host of every unit, by name, oldest first (cmp_tls) */
	size_t n_tls;
	size_t n_rules, n_canary_rules, n_bs; /* n_bs: of all units */
	unsigned long mark;
	char *classes; /* our classes at the last build ("name\n"..., "*" first when a default) */
	struct ing_build_stats stats;
	/* resolutions kept across builds (with Service and EndpointSlice keys) */
	json_t *res_index; /* memo → struct res_ent * (as an integer) */
	struct res_ent *res_all;
	unsigned long res_gen; /* bumped when all entries are dropped (bspecs' ent stale) */
	bool res_keyed;	       /* the index is of informer caches (objects): deltas apply */
	json_t *slice_svc;     /* EndpointSlice "ns/name" → "ns/service" */
	json_t *svc_slices;    /* "ns/service" → {EndpointSlice "ns/name": true} */
};

static void unit_unref(struct ing_unit *u)
{
	if (!u || atomic_fetch_sub(&u->refs, 1) != 1)
		return;
	for (size_t i = 0; i < u->n_rules; i++) {
		struct rule *r = &u->rules[i];
		free(r->host);
		free(r->path);
		regex_free(r->re);
		free(r->error);
	}
	free(u->rules);
	for (size_t i = 0; i < u->n_bs; i++) {
		free(u->bs[i].service);
		free(u->bs[i].port);
		free(u->bs[i].memo);
	}
	free(u->bs);
	for (size_t i = 0; i < u->n_tls; i++) {
		free(u->tls[i].host);
		free(u->tls[i].secret);
	}
	free(u->tls);
	ing_annotations_free(u->ann);
	free(u->key);
	json_decref(u->key_json);
	json_decref(u->obj);
	free(u);
}

/* The fields of obj the build sorts and selects by (obj is the unit's). */
static void unit_read_keys(struct ing_unit *u)
{
	const json_t *md = json_object_get(u->obj, "metadata");

	u->ts = jstr(md, "creationTimestamp");
	u->ns = jstr(md, "namespace");
	u->name = jstr(md, "name");
	u->want_class = wanted_class(u->obj);
}

/* A backend spec ({service: {name, port: {number|name}}} or legacy {serviceName, servicePort}). */
static size_t add_bspec(struct ing_unit *u, const json_t *spec)
{
	const json_t *svc = json_object_get(spec, "service");
	const char *name;
	json_t *port;
	struct bspec *s;
	char buf[32];

	if (svc) {
		name = jstr(svc, "name");
		port = json_object_get(json_object_get(svc, "port"), "number");
		if (!port)
			port = json_object_get(json_object_get(svc, "port"), "name");
	} else {
		name = jstr(spec, "serviceName");
		port = json_object_get(spec, "servicePort");
	}
	if (u->n_bs == u->cap_bs) {
		u->cap_bs = u->cap_bs ? 2 * u->cap_bs : 2;
		if (!(u->bs = realloc(u->bs, u->cap_bs * sizeof(*u->bs))))
			abort();
	}
	s = &u->bs[u->n_bs];
	memset(s, 0, sizeof(*s));
	if (asprintf(&s->service, "%s/%s", u->ns, name) < 0)
		abort();
	if (json_is_integer(port))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(port));
	else
		snprintf(buf, sizeof(buf), "%s",
			 json_string_value(port) ? json_string_value(port) : "");
	s->port = k8c_xstrdup(buf);
	if (!*name)
		s->error = "the backend names no service (resource backends are not served)";
	s->kind = json_is_integer(port) ? '#' : json_is_string(port) ? '=' : '-';
	s->number = json_is_integer(port) ? (long long)json_integer_value(port) : 0;
	if (asprintf(&s->memo, "%s\n%c%s", s->service, s->kind, s->port) < 0)
		abort();
	return u->n_bs++;
}

static size_t hash_key(const char *s);

static void add_rule(struct ing_unit *u, const char *host, const char *path, const char *type,
		     size_t bs, bool regex, bool canary, bool is_default)
{
	struct rule *r;
	size_t len;

	if (u->n_rules == u->cap_rules) {
		u->cap_rules = u->cap_rules ? 2 * u->cap_rules : 2;
		if (!(u->rules = realloc(u->rules, u->cap_rules * sizeof(*u->rules))))
			abort();
	}
	r = &u->rules[u->n_rules];
	memset(r, 0, sizeof(*r));
	r->host = k8c_xstrdup(host);
	for (char *c = r->host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	r->host_hash = hash_key(r->host);
	r->type = !strcmp(type, "Exact") ? ING_PATH_EXACT : ING_PATH_PREFIX;
	if (!*path)
		path = "/";
	len = strlen(path);
	if (regex && r->type == ING_PATH_PREFIX) {
		/* use-regex: the path is a POSIX ERE matched from the path's start, as nginx's
		 * case-insensitive "location ~*"; an invalid one makes this rule answer 503 */
		char *anchored, msg[256];
		int rc;

		if (asprintf(&anchored, "^%s", path) < 0)
			abort();
		r->re = k8c_xcalloc(1, sizeof(*r->re));
		if ((rc = regcomp(r->re, anchored, REG_EXTENDED | REG_ICASE))) {
			regerror(rc, r->re, msg, sizeof(msg));
			free(r->re);
			r->re = NULL;
			if (asprintf(&r->error, "invalid regex path %s: %s", path, msg) < 0)
				abort();
		}
		free(anchored);
	}
	if (r->type == ING_PATH_PREFIX && !r->re)
		while (len > 1 && path[len - 1] == '/')
			len--;
	r->path = strndup(path, len);
	if (!r->path)
		abort();
	r->len = len;
	r->bs = bs;
	r->canary = canary;
	r->is_default = is_default;
	r->seq = u->n_rules++;
}

/* ssl-redirect: on unless our annotation or ingress-nginx's says "false". */
static bool ssl_redirect(const json_t *ing)
{
	const json_t *ann = json_object_get(json_object_get(ing, "metadata"), "annotations");
	static const char *const names[] = {"k8c.io/ssl-redirect",
					    "nginx.ingress.kubernetes.io/ssl-redirect"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = json_string_value(json_object_get(ann, names[i]));
		if (v && !strcasecmp(v, "false"))
			return false;
	}
	return true;
}

/* Parse and compile one Ingress. */
static struct ing_unit *unit_compile(json_t *ing, const char *key)
{
	struct ing_unit *u = k8c_xcalloc(1, sizeof(*u));
	json_t *spec = json_object_get(ing, "spec"), *rule, *p, *h, *def;
	size_t i, j, n_tls = 0;
	bool redirect = ssl_redirect(ing);

	atomic_init(&u->refs, 1);
	u->obj = json_incref(ing);
	u->key = k8c_xstrdup(key);
	u->key_json = json_string(key);
	unit_read_keys(u);
	u->def = -1;
	u->ann = ing_annotations_parse(ing);

	json_array_foreach(json_object_get(spec, "tls"), i, rule) n_tls +=
		json_array_size(json_object_get(rule, "hosts"));
	u->tls = k8c_xcalloc(n_tls, sizeof(*u->tls));
	json_array_foreach(json_object_get(spec, "tls"), i, rule)
	{
		const char *secret = jstr(rule, "secretName");

		if (!*secret)
			continue;
		json_array_foreach(json_object_get(rule, "hosts"), j, h)
		{
			struct tls_rule *tr;

			if (!json_string_value(h) || !*json_string_value(h))
				continue;
			tr = &u->tls[u->n_tls++];
			tr->host = k8c_xstrdup(json_string_value(h));
			for (char *c = tr->host; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (asprintf(&tr->secret, "%s/%s", u->ns, secret) < 0)
				abort();
			tr->redirect = redirect;
		}
	}
	def = json_object_get(spec, "defaultBackend");
	if (!def)
		def = json_object_get(spec, "backend"); /* extensions/v1beta1 */
	if (def && u->ann->canary)
		warn(u->ann, "canary", "true",
		     "the defaultBackend of a canary Ingress is not served");
	else if (def)
		u->def = (long)add_bspec(u, def);
	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		const char *host = jstr(rule, "host");
		json_t *paths = json_object_get(json_object_get(rule, "http"), "paths");

		if (!json_array_size(paths) && u->def >= 0) /* only the defaultBackend */
			add_rule(u, host, "/", "Prefix", (size_t)u->def, false, false, true);
		json_array_foreach(paths, j, p)
		{
			const char *type = jstr(p, "pathType");
			size_t bs = add_bspec(u, json_object_get(p, "backend"));
			add_rule(u, host, jstr(p, "path"), *type ? type : "ImplementationSpecific",
				 bs, u->ann->use_regex && !u->ann->canary, u->ann->canary, false);
		}
	}
	for (i = 0; i < u->n_rules; i++) {
		u->rules[i].u = u;
		u->rules[i].has_def = u->def >= 0;
	}
	for (i = 0; i < u->n_tls; i++) {
		u->tls[i].u = u;
		u->tls[i].seq = i;
	}
	return u;
}

bool ing_status_change_only(const json_t *a, const json_t *b)
{
	const json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
	static const char *const keys[] = {"name", "namespace", "uid", "creationTimestamp",
					   "annotations"};
	const json_t *sa = json_object_get(a, "spec"), *sb = json_object_get(b, "spec");

	if (!a || !b || (sa != sb && (!sa || !sb || !json_equal((json_t *)sa, (json_t *)sb))))
		return false;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *x = json_object_get(ma, keys[i]), *y = json_object_get(mb, keys[i]);
		if (x != y && (!x || !y || !json_equal((json_t *)x, (json_t *)y)))
			return false;
	}
	return true;
}

/* Oldest first (creationTimestamp is RFC 3339 in UTC: compares as text), then ns/name. */
static int cmp_unit(const struct ing_unit *x, const struct ing_unit *y)
{
	int c = strcmp(x->ts, y->ts);

	if (c)
		return c;
	c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

static int cmp_unit_p(const void *a, const void *b)
{
	return cmp_unit(*(struct ing_unit *const *)a, *(struct ing_unit *const *)b);
}

/* Precedence: by host, longest path first, Exact before Prefix, the older Ingress, its order. */
static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = *(struct rule *const *)a, *y = *(struct rule *const *)b;
	int c;

	if ((c = strcmp(x->host, y->host)))
		return c;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	if (x->type != y->type)
		return x->type == ING_PATH_EXACT ? -1 : 1;
	if (x->u != y->u && (c = cmp_unit(x->u, y->u)))
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* TLS hosts: by name, then the older Ingress, its order. */
static int cmp_tls(const void *a, const void *b)
{
	const struct tls_rule *x = *(struct tls_rule *const *)a, *y = *(struct tls_rule *const *)b;
	int c;

	if ((c = strcmp(x->host, y->host)))
		return c;
	if (x->u != y->u && (c = cmp_unit(x->u, y->u)))
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static size_t hash_key(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct ing_unit **bucket_of(struct ing_builder *b, const char *key)
{
	return &b->buckets[hash_key(key) & (b->n_buckets - 1)];
}

static struct ing_unit *unit_find(struct ing_builder *b, const char *key)
{
	struct ing_unit *u = *bucket_of(b, key);

	while (u && strcmp(u->key, key))
		u = u->next;
	return u;
}

static void unit_unlink(struct ing_builder *b, struct ing_unit *u)
{
	struct ing_unit **pp = bucket_of(b, u->key);

	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	b->n_units--;
}

static void unit_link(struct ing_builder *b, struct ing_unit *u)
{
	struct ing_unit **pp;

	if (b->n_units >= b->n_buckets) { /* grow: at most one unit per bucket on average */
		struct ing_unit **old = b->buckets;
		size_t n_old = b->n_buckets;

		b->n_buckets = n_old ? 2 * n_old : 64;
		b->buckets = k8c_xcalloc(b->n_buckets, sizeof(*b->buckets));
		for (size_t i = 0; i < n_old; i++) {
			for (struct ing_unit *v = old[i], *next; v; v = next) {
				next = v->next;
				pp = bucket_of(b, v->key);
				v->next = *pp;
				*pp = v;
			}
		}
		free(old);
	}
	pp = bucket_of(b, u->key);
	u->next = *pp;
	*pp = u;
	b->n_units++;
}

/* The first place in arr (n, sorted by cmp) whose element is not before x. */
static size_t lower_bound(void **arr, size_t n, void *x, int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp(&arr[mid], &x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A sorted array of pointers after a build: drop `gone` (n_gone, those whose unit is not
 * current: dead()), add `add` (n_add). Few are removed and inserted where they are (binary
 * search, memmove), many filtered out and sorted in at once.
 */
static void sorted_update(void ***arr, size_t *n, bool (*dead)(const void *), void **gone,
			  size_t n_gone, void **add, size_t n_add,
			  int (*cmp)(const void *, const void *))
{
	size_t k = *n;
	bool filter = n_gone > 64;

	for (size_t i = 0; i < n_gone && !filter; i++) {
		size_t at = lower_bound(*arr, k, gone[i], cmp);

		while (at < k && (*arr)[at] != gone[i] && !cmp(&(*arr)[at], &gone[i]))
			at++;
		if (at < k && (*arr)[at] == gone[i]) {
			memmove(*arr + at, *arr + at + 1, (k - at - 1) * sizeof(**arr));
			k--;
		} else { /* not where its keys say (never expected): filter them all */
			filter = true;
		}
	}
	if (filter) {
		size_t m = k;
		k = 0;
		for (size_t i = 0; i < m; i++)
			if (!dead((*arr)[i]))
				(*arr)[k++] = (*arr)[i];
	}
	if (!(*arr = realloc(*arr, (k + n_add ? k + n_add : 1) * sizeof(**arr))))
		abort();
	if (n_add > 64) {
		memcpy(*arr + k, add, n_add * sizeof(*add));
		k += n_add;
		qsort(*arr, k, sizeof(**arr), cmp);
	} else {
		for (size_t i = 0; i < n_add; i++) {
			size_t lo = 0, hi = k; /* after the equal ones */
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (cmp(&(*arr)[mid], &add[i]) <= 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			memmove(*arr + lo + 1, *arr + lo, (k - lo) * sizeof(**arr));
			(*arr)[lo] = add[i];
			k++;
		}
	}
	*n = k;
}

static bool unit_dead(const void *p)
{
	return ((const struct ing_unit *)p)->dead;
}

static bool rule_dead(const void *p)
{
	return ((const struct rule *)p)->u->dead;
}

static bool tls_dead(const void *p)
{
	return ((const struct tls_rule *)p)->u->dead;
}

struct ing_builder *ing_builder_new(void)
{
	struct ing_builder *b = k8c_xcalloc(1, sizeof(struct ing_builder));

	b->res_index = json_object();
	b->slice_svc = json_object();
	b->svc_slices = json_object();
	return b;
}

static void resolved_unref(struct ing_resolved *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	free(r->error);
	free(r->eps);
	free(r);
}

static void res_ent_free(struct res_ent *e)
{
	free(e->memo);
	free(e->service);
	resolved_unref(e->r);
	free(e);
}

/* Drop every resolution (the tables keep theirs): the next uses resolve again. */
static void res_reset(struct ing_builder *b)
{
	for (struct res_ent *e = b->res_all, *next; e; e = next) {
		next = e->next;
		res_ent_free(e);
	}
	b->res_all = NULL;
	json_object_clear(b->res_index);
	b->res_gen++;
}

void ing_builder_free(struct ing_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_sorted; i++)
		unit_unref(b->units[i]);
	free(b->units);
	free(b->rules);
	free(b->tls);
	free(b->buckets);
	free(b->classes);
	res_reset(b);
	json_decref(b->res_index);
	json_decref(b->slice_svc);
	json_decref(b->svc_slices);
	json_decref(b->stats.added_keys);
	json_decref(b->stats.removed_keys);
	free(b);
}

void ing_builder_refresh(struct ing_builder *b, const char *key, json_t *old, json_t *new)
{
	struct ing_unit *u = b->buckets ? unit_find(b, key) : NULL;

	if (!u || u->obj != old || !new || !ing_status_change_only(old, new))
		return;
	u->obj = json_incref(new);
	unit_read_keys(u);
	json_decref(old);
}

void ing_builder_stats(const struct ing_builder *b, struct ing_build_stats *out)
{
	*out = b->stats;
}

/* The units added and dropped by one build. */
struct sync {
	struct ing_unit **added, **dead;
	size_t n_added, cap_added, n_dead, cap_dead, n_rules;
};

static void push_unit(struct ing_unit ***arr, size_t *n, size_t *cap, struct ing_unit *u)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		if (!(*arr = realloc(*arr, *cap * sizeof(**arr))))
			abort();
	}
	(*arr)[(*n)++] = u;
}

/* Drop a unit from the builder (the tables using it keep it alive). */
static void unit_kill(struct ing_builder *b, struct sync *s, struct ing_unit *u)
{
	unit_unlink(b, u);
	u->dead = true;
	b->n_canary_rules -= u->ann->canary ? u->n_rules : 0;
	b->n_bs -= u->n_bs;
	push_unit(&s->dead, &s->n_dead, &s->cap_dead, u);
	json_array_append(b->stats.removed_keys, u->key_json);
}

/* One Ingress of the collection (key, v) against its unit: reused, recompiled, or dropped. */
static void sync_one(struct ing_builder *b, struct sync *s, const char *key, json_t *v,
		     const struct our_classes *oc, bool same_classes)
{
	struct ing_unit *u = b->buckets ? unit_find(b, key) : NULL;

	if (u && u->mark == b->mark) /* the same key twice (an array): the first wins */
		return;
	/* only the Ingresses of our classes are compiled; a unit compiled from this very object
	 * is of them if the classes are the same */
	if (!(u && u->obj == v && same_classes) &&
	    !class_ours(u && u->obj == v ? u->want_class : wanted_class(v), oc)) {
		if (u)
			unit_kill(b, s, u);
		return;
	}
	if (u && (u->obj == v || ing_status_change_only(u->obj, v))) {
		if (u->obj != v) { /* a status or resourceVersion change alone */
			json_t *old = u->obj;
			u->obj = json_incref(v);
			unit_read_keys(u);
			json_decref(old);
		}
		u->mark = b->mark;
		b->stats.reused++;
		return;
	}
	if (u) /* changed */
		unit_kill(b, s, u);
	u = unit_compile(v, key);
	u->mark = b->mark;
	unit_link(b, u);
	push_unit(&s->added, &s->n_added, &s->cap_added, u);
	json_array_append(b->stats.added_keys, u->key_json);
	s->n_rules += u->n_rules;
	b->n_canary_rules += u->ann->canary ? u->n_rules : 0; /* all its rules are */
	b->n_bs += u->n_bs;
	b->stats.compiled++;
}

/*
 * Bring the builder's units up to date with the Ingresses: compile the new and changed ones,
 * drop the deleted ones (the tables using them keep them alive). With `changed` (the keys that
 * changed since the last build), only those are looked at; else all.
 */
static void sync_units(struct ing_builder *b, json_t *ingresses, json_t *changed,
		       const struct our_classes *oc)
{
	struct sync s = {0};
	void **rules, **gone;
	size_t i, len = 0, n_gone = 0, n_add = 0;
	bool same_classes, by_keys;
	char *classes = NULL;
	FILE *f = open_memstream(&classes, &len);
	const char *key;
	json_t *v;

	if (!f)
		abort();
	fputs(oc->has_default ? "*\n" : "", f);
	for (i = 0; i < oc->n; i++)
		fprintf(f, "%s\n", oc->names[i]);
	fclose(f);
	same_classes = b->classes && !strcmp(b->classes, classes);
	free(b->classes);
	b->classes = classes;
	/* by keys once a first build has seen them all and while the classes stay the same */
	by_keys = json_is_object(changed) && json_is_object(ingresses) && b->mark && same_classes;
	b->mark++;
	json_decref(b->stats.added_keys);
	json_decref(b->stats.removed_keys);
	memset(&b->stats, 0, sizeof(b->stats));
	b->stats.added_keys = json_array();
	b->stats.removed_keys = json_array();
	b->stats.by_keys = by_keys;
	if (by_keys) {
		json_object_foreach(changed, key, v)
		{
			json_t *now = json_object_get(ingresses, key);
			struct ing_unit *u;

			if (now)
				sync_one(b, &s, key, now, oc, same_classes);
			else if (b->buckets && (u = unit_find(b, key)))
				unit_kill(b, &s, u); /* deleted */
		}
	} else if (json_is_array(ingresses)) { /* an array (tests): keyed here */
		json_array_foreach(ingresses, i, v)
		{
			char *k = obj_key(v);
			sync_one(b, &s, k, v, oc, same_classes);
			free(k);
		}
	} else {
		json_object_foreach(ingresses, key, v) sync_one(b, &s, key, v, oc, same_classes);
	}
	if (!by_keys) /* the deleted: not seen by this build */
		for (i = 0; i < b->n_sorted; i++)
			if (b->units[i]->mark != b->mark && !b->units[i]->dead)
				unit_kill(b, &s, b->units[i]);
	b->stats.removed = s.n_dead;
	for (i = 0; i < s.n_dead; i++)
		n_gone += s.dead[i]->n_rules + s.dead[i]->n_tls;
	for (i = 0; i < s.n_added; i++)
		n_add += s.added[i]->n_tls;
	gone = k8c_xcalloc(n_gone, sizeof(*gone));
	n_gone = 0;
	for (i = 0; i < s.n_dead; i++)
		for (size_t k = 0; k < s.dead[i]->n_rules; k++)
			gone[n_gone++] = &s.dead[i]->rules[k];
	rules = k8c_xcalloc(s.n_rules + n_add, sizeof(*rules));
	s.n_rules = 0;
	for (i = 0; i < s.n_added; i++)
		for (size_t k = 0; k < s.added[i]->n_rules; k++)
			rules[s.n_rules++] = &s.added[i]->rules[k];
	if (s.n_rules && s.n_rules <= 64)
		qsort(rules, s.n_rules, sizeof(*rules), cmp_rule);
	sorted_update((void ***)&b->rules, &b->n_rules, rule_dead, gone, n_gone, rules, s.n_rules,
		      cmp_rule);
	/* the same for the TLS hosts */
	n_gone = n_add = 0;
	for (i = 0; i < s.n_dead; i++)
		for (size_t k = 0; k < s.dead[i]->n_tls; k++)
			gone[n_gone++] = &s.dead[i]->tls[k];
	for (i = 0; i < s.n_added; i++)
		for (size_t k = 0; k < s.added[i]->n_tls; k++)
			rules[n_add++] = &s.added[i]->tls[k];
	if (n_add && n_add <= 64)
		qsort(rules, n_add, sizeof(*rules), cmp_tls);
	sorted_update((void ***)&b->tls, &b->n_tls, tls_dead, gone, n_gone, rules, n_add, cmp_tls);
	if (s.n_added && s.n_added <= 64)
		qsort(s.added, s.n_added, sizeof(*s.added), cmp_unit_p);
	sorted_update((void ***)&b->units, &b->n_sorted, unit_dead, (void **)s.dead, s.n_dead,
		      (void **)s.added, s.n_added, cmp_unit_p);
	for (i = 0; i < s.n_dead; i++)
		unit_unref(s.dead[i]);
	free(s.dead);
	free(gone);
	free(rules);
	free(s.added);
}

/* The state of one build. */
struct build {
	struct ing_builder *bu;
	struct ing_table *t;
	json_t *svcs;	/* "ns/name" → Service */
	json_t *slices; /* "ns/name" → EndpointSlice */
	json_t *dirty;	/* "ns/service" whose resolutions are stale, NULL: none */
	size_t cap_resolved;
};

/*
 * Index the EndpointSlice key (now sl, NULL when deleted) by its Service (its
 * kubernetes.io/service-name label); the Services it left or joined go into dirty.
 */
static void slice_index(struct ing_builder *b, const char *key, const json_t *sl, json_t *dirty)
{
	const char *old = json_string_value(json_object_get(b->slice_svc, key));
	const char *label = json_string_value(json_object_get(
		json_object_get(json_object_get(sl, "metadata"), "labels"), SERVICE_NAME_LBL));
	json_t *set;
	char *svc;

	if (old) {
		set = json_object_get(b->svc_slices, old);
		json_object_del(set, key);
		if (!json_object_size(set))
			json_object_del(b->svc_slices, old);
		if (dirty)
			json_object_set_new(dirty, old, json_true());
		json_object_del(b->slice_svc, key); /* old is freed */
	}
	if (!sl || !label)
		return;
	if (asprintf(&svc, "%s/%s", jpath(sl, "metadata", "namespace"), label) < 0)
		abort();
	if (!(set = json_object_get(b->svc_slices, svc))) {
		set = json_object();
		json_object_set_new(b->svc_slices, svc, set);
	}
	json_object_set_new(set, key, json_true());
	json_object_set_new(b->slice_svc, key, json_string(svc));
	if (dirty)
		json_object_set_new(dirty, svc, json_true());
	free(svc);
}

static int cmp_str_p(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_endpoints(struct ing_resolved *r, json_t *slices, const char *port_name)
{
	json_t *sl, *p, *ep;
	size_t i, j, k, cap = 0;

	json_array_foreach(slices, i, sl)
	{
		const char *at = jstr(sl, "addressType");
		long port = -1;

		if (strcmp(at, "IPv4") && strcmp(at, "IPv6"))
			continue;
		json_array_foreach(json_object_get(sl, "ports"), j, p)
		{
			if (!strcmp(jstr(p, "name"), port_name) &&
			    json_is_integer(json_object_get(p, "port")))
				port = (long)json_integer_value(json_object_get(p, "port"));
		}
		if (port <= 0 || port > 65535)
			continue;
		json_array_foreach(json_object_get(sl, "endpoints"), k, ep)
		{
			/* "ready": nil means ready (discovery/v1 EndpointConditions) */
			json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
			const char *addr = json_string_value(
				json_array_get(json_object_get(ep, "addresses"), 0));

			if (json_is_false(ready) || !addr || strlen(addr) >= sizeof(r->eps[0].addr))
				continue;
			if (r->n_eps == cap) {
				cap = cap ? 2 * cap : 4;
				r->eps = realloc(r->eps, cap * sizeof(*r->eps));
				if (!r->eps)
					abort();
			}
			snprintf(r->eps[r->n_eps].addr, sizeof(r->eps[0].addr), "%s", addr);
			r->eps[r->n_eps++].port = (uint16_t)port;
		}
	}
}

/* A backend spec resolved against the Services and EndpointSlices (a new reference). */
static struct ing_resolved *resolve_now(struct build *bd, const struct bspec *s)
{
	json_t *svc, *sp, *match = NULL, *set, *v, *arr;
	struct ing_resolved *r = k8c_xcalloc(1, sizeof(*r));
	const char **keys;
	const char *key;
	size_t i, n = 0;

	atomic_init(&r->refs, 1);
	if (!(svc = json_object_get(bd->svcs, s->service))) {
		if (asprintf(&r->error, "service %s not found", s->service) < 0)
			abort();
		return r;
	}
	json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, sp)
	{
		if (s->kind == '#' && json_integer_value(json_object_get(sp, "port")) == s->number)
			match = sp;
		else if (s->kind == '=' && !strcmp(jstr(sp, "name"), s->port))
			match = sp;
		if (match)
			break;
	}
	if (!match) {
		if (asprintf(&r->error, "service %s has no port %s", s->service, s->port) < 0)
			abort();
		return r;
	}
	/* its EndpointSlices by name (an order that does not depend on the caches' history) */
	set = json_object_get(bd->bu->svc_slices, s->service);
	keys = k8c_xcalloc(json_object_size(set), sizeof(*keys));
	json_object_foreach(set, key, v) keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str_p);
	arr = json_array();
	for (i = 0; i < n; i++)
		if ((v = json_object_get(bd->slices, keys[i])))
			json_array_append(arr, v);
	add_endpoints(r, arr, jstr(match, "name"));
	json_decref(arr);
	free(keys);
	return r;
}

/*
 * The resolution of s for this build: the builder's, unless its Service or EndpointSlices
 * changed (or it is new); the table takes a reference on each it uses, once.
 */
static const struct ing_resolved *resolve(struct build *bd, struct bspec *s)
{
	struct ing_builder *bu = bd->bu;
	struct res_ent *e = s->ent_gen == bu->res_gen ? s->ent : NULL;

	if (!e) {
		json_t *m = json_object_get(bu->res_index, s->memo);

		if (m) {
			e = (struct res_ent *)(intptr_t)json_integer_value(m);
		} else {
			e = k8c_xcalloc(1, sizeof(*e));
			e->memo = k8c_xstrdup(s->memo);
			e->service = k8c_xstrdup(s->service);
			e->next = bu->res_all;
			bu->res_all = e;
			json_object_set_new(bu->res_index, s->memo,
					    json_integer((json_int_t)(intptr_t)e));
		}
		s->ent = e;
		s->ent_gen = bu->res_gen;
	}
	if (e->mark != bu->mark) { /* its first use in this build */
		if (!e->r || (bd->dirty && json_object_get(bd->dirty, e->service))) {
			resolved_unref(e->r);
			e->r = resolve_now(bd, s);
			bu->stats.resolved++;
		}
		e->mark = bu->mark;
		if (bd->t->n_resolved == bd->cap_resolved)
			abort(); /* sized for one per backend spec */
		atomic_fetch_add(&e->r->refs, 1);
		bd->t->resolved[bd->t->n_resolved++] = e->r;
	}
	return e->r;
}

/* Drop the resolutions this build did not use (their bspecs are gone). */
static void res_sweep(struct ing_builder *bu)
{
	for (struct res_ent **pp = &bu->res_all, *e; (e = *pp);) {
		if (e->mark == bu->mark) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		json_object_del(bu->res_index, e->memo);
		res_ent_free(e);
	}
}

/* A collection keyed "ns/name": an informer cache as it is, an array indexed here. */
static json_t *keyed(json_t *c)
{
	json_t *out, *v;
	size_t i;

	if (json_is_object(c))
		return json_incref(c);
	out = json_object();
	json_array_foreach(c, i, v)
	{
		char *k = obj_key(v);
		json_object_set(out, k, v);
		free(k);
	}
	return out;
}

/*
 * The Services and EndpointSlices of this build: with their deltas (and informer caches, as
 * the last build), only the Services those name are resolved again; else all of them.
 */
static void build_sources(struct build *bd, json_t *services, json_t *slices,
			  const struct ing_build_opts *opts)
{
	struct ing_builder *bu = bd->bu;
	bool objects = json_is_object(services) && json_is_object(slices);
	const char *key;
	json_t *v;

	if (objects && bu->res_keyed && opts && json_is_object(opts->changed_services) &&
	    json_is_object(opts->changed_slices)) {
		bd->svcs = json_incref(services);
		bd->slices = json_incref(slices);
		bd->dirty = json_object();
		json_object_foreach(opts->changed_services, key, v)
			json_object_set_new(bd->dirty, key, json_true());
		json_object_foreach(opts->changed_slices, key, v)
			slice_index(bu, key, json_object_get(slices, key), bd->dirty);
		return;
	}
	bd->svcs = keyed(services);
	bd->slices = keyed(slices);
	res_reset(bu);
	json_object_clear(bu->slice_svc);
	json_object_clear(bu->svc_slices);
	json_object_foreach(bd->slices, key, v) slice_index(bu, key, v, NULL);
	bu->res_keyed = objects;
}

/* This build's backend of a unit's spec (the rule's invalid regex when nothing else is wrong). */
static struct ing_backend *make_backend(struct build *bd, struct ing_unit *u, size_t bs,
					const char *rule_error)
{
	struct ing_table *t = bd->t;
	struct ing_backend *b = &t->bk[t->n_backends];
	struct bspec *s = &u->bs[bs];

	if (t->n_backends == bd->cap_resolved)
		abort(); /* sized for one per backend spec */
	b->ingress = u->key;
	b->service = s->service;
	b->port = s->port;
	b->ann = u->ann;
	atomic_init(&b->rr, 0);
	if (s->error) {
		b->error = s->error;
		b->eps = NULL;
		b->n_eps = 0;
	} else {
		const struct ing_resolved *r = resolve(bd, s);
		b->error = r->error;
		b->eps = r->eps;
		b->n_eps = r->n_eps;
	}
	if (!b->error)
		b->error = rule_error;
	t->backends[t->n_backends++] = b;
	return b;
}

/* A warning of this build about a served Ingress (after its annotations' own). */
static void table_warn(struct ing_table *t, const struct ing_unit *u, const char *name,
		       const char *value, const char *why)
{
	char **w = &t->warnings[u->rank], *s;
	const char *prev = *w ? *w : u->ann->warnings;

	if (asprintf(&s, "%s%s%s '%s': %s", prev ? prev : "", prev ? "; " : "", name, value, why) <
	    0)
		abort();
	free(*w);
	*w = s;
}

static const struct ing_host *find_host(const struct ing_host *hosts, size_t n, const char *name,
					size_t len);

/*
 * Each rule of a canary Ingress becomes the alternative of the main rule with the same host,
 * path and pathType (as ingress-nginx's): the oldest canary wins a rule; a canary rule with no
 * such main rule is not served (a warning on the canary Ingress).
 */
static void attach_canaries(struct ing_table *t, struct rule **canaries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rule *e = canaries[i];
		const char *host = e->host;
		const struct ing_host *h;
		struct ing_path *p = NULL;

		if (!*host)
			h = t->has_any ? &t->any : NULL;
		else if (!strncmp(host, "*.", 2))
			h = find_host(t->wild, t->n_wild, host + 2, strlen(host + 2));
		else
			h = find_host(t->exact, t->n_exact, host, strlen(host));
		for (size_t k = 0; h && k < h->n_paths && !p; k++) {
			struct ing_path *q = &h->paths[k];
			if (q->type == e->type && q->len == e->len &&
			    !memcmp(q->path, e->path, q->len))
				p = q;
		}
		if (!p) {
			char *what;
			if (asprintf(&what, "%s%s", host, e->path) < 0)
				abort();
			table_warn(t, e->u, "canary", what,
				   "no rule of a main Ingress has this host, path "
				   "and pathType: not served");
			free(what);
			continue;
		}
		if (p->canary)
			continue; /* an older canary has it */
		p->canary = e->b;
		p->canary_by = e->u->ann;
		/* the canary's requests get the main rule's annotations (ingress-nginx's canary
		 * Ingresses inherit them) */
		e->b->ann = p->backend->ann;
	}
}

/* One TLS host per name: the oldest Ingress' Secret (its first entry). */
static void group_tls(struct ing_builder *bu, struct ing_table *t)
{
	size_t n = bu->n_tls;

	t->tls_exact = k8c_xcalloc(n, sizeof(*t->tls_exact));
	t->tls_wild = k8c_xcalloc(n, sizeof(*t->tls_wild));
	for (size_t i = 0; i < n; i++) {
		const struct tls_rule *r = bu->tls[i];
		const char *h = r->host;
		bool wild = !strncmp(h, "*.", 2);
		struct ing_tls_host *th;

		if (i > 0 && !strcmp(h, bu->tls[i - 1]->host))
			continue;
		th = wild ? &t->tls_wild[t->n_tls_wild++] : &t->tls_exact[t->n_tls_exact++];
		th->name = wild ? h + 2 : h;
		th->secret = r->secret;
		th->redirect = r->redirect;
		th->ingress = r->u->key;
	}
}

/* Group the rules (all of units of our classes), in precedence order, by host. */
static void group(struct ing_builder *bu, struct ing_table *t, struct rule ***canaries,
		  size_t *n_canaries)
{
	size_t n_main = bu->n_rules - bu->n_canary_rules, i, np = 0;

	/* one pass: the host arrays are sized for one host per rule, then trimmed (malloc: the
	 * pages not written are never touched; every field written is set below) */
	*canaries = k8c_xcalloc(bu->n_canary_rules, sizeof(**canaries));
	*n_canaries = 0;
	t->all_paths = k8c_xmalloc(n_main * sizeof(*t->all_paths));
	t->exact = k8c_xmalloc(n_main * sizeof(*t->exact));
	t->wild = k8c_xmalloc(n_main * sizeof(*t->wild));
	for (i = 0; i < bu->n_rules;) {
		struct rule *r = bu->rules[i];
		const char *host = r->host;
		struct ing_host *h = NULL;
		size_t best = (size_t)-1;

		for (; i < bu->n_rules &&
		       (bu->rules[i] == r || (bu->rules[i]->host_hash == r->host_hash &&
					      !strcmp(bu->rules[i]->host, host)));
		     i++) {
			struct rule *q = bu->rules[i];
			struct ing_path *p;

			if (q->canary) {
				(*canaries)[(*n_canaries)++] = q;
				continue;
			}
			if (!h) {
				if (!*host) {
					h = &t->any;
					t->has_any = true;
				} else if (!strncmp(host, "*.", 2)) {
					h = &t->wild[t->n_wild++];
				} else {
					h = &t->exact[t->n_exact++];
				}
				/* q's: the first rule may be of a unit this table does not hold */
				h->name = !strncmp(q->host, "*.", 2) ? q->host + 2 : q->host;
				h->paths = &t->all_paths[np];
				h->n_paths = 0;
			}
			p = &t->all_paths[np++];
			h->n_paths++;
			p->path = q->path;
			p->len = q->len;
			p->type = q->type;
			p->re = q->re;
			p->backend = q->b;
			p->canary = NULL;
			p->canary_by = NULL;
			if (q->has_def && q->u->rank < best)
				best = q->u->rank;
		}
		if (h)
			h->fallback = best != (size_t)-1 ? t->units[best]->defb : NULL;
	}
	/* trimmed before anything points into them */
	t->exact = k8c_xrealloc(t->exact, t->n_exact * sizeof(*t->exact));
	t->wild = k8c_xrealloc(t->wild, t->n_wild * sizeof(*t->wild));
}

struct ing_table *ing_builder_build(struct ing_builder *bu, json_t *ingresses, json_t *classes,
				    json_t *services, json_t *slices,
				    const struct ing_build_opts *opts, struct k8c_error *err)
{
	struct build bd = {0};
	struct ing_table *t = k8c_xcalloc(1, sizeof(*t));
	struct our_classes oc;
	struct rule **canaries;
	size_t i, n_canaries, n_bs = 0;

	bd.t = t;
	bd.bu = bu;
	atomic_init(&t->refs, 1);
	t->generation = opts ? opts->generation : 0;
	our_classes_init(&oc, classes, opts ? opts->controller : NULL);
	sync_units(bu, ingresses, opts ? opts->changed : NULL, &oc);
	free(oc.names);

	/* the units (all of our classes), oldest first: references, served, annotations; their
	 * backends: per Ingress its defaultBackend, then one per rule (as written). One pass, the
	 * arrays not zeroed (every element used is written) */
	build_sources(&bd, services, slices, opts);
	n_bs = bu->n_bs;
	bd.cap_resolved = n_bs;
	t->resolved = k8c_xmalloc(n_bs * sizeof(*t->resolved));
	t->bk = k8c_xmalloc(n_bs * sizeof(*t->bk));
	t->backends = k8c_xmalloc(n_bs * sizeof(*t->backends));
	t->units = k8c_xmalloc(bu->n_sorted * sizeof(*t->units));
	t->anns = k8c_xmalloc(bu->n_sorted * sizeof(*t->anns));
	t->warnings = k8c_xcalloc(bu->n_sorted, sizeof(*t->warnings));
	t->served = json_array();
	for (i = 0; i < bu->n_sorted; i++) {
		struct ing_unit *u = bu->units[i];

		u->defb = NULL;
		u->rank = t->n_units;
		atomic_fetch_add(&u->refs, 1);
		t->units[t->n_units++] = u;
		json_array_append(t->served, u->key_json);
		t->anns[i] = u->ann;
		if (u->ann->warnings) /* its own; table_warn appends this build's */
			t->warnings[i] = k8c_xstrdup(u->ann->warnings);
		if (u->def >= 0)
			u->defb = make_backend(&bd, u, (size_t)u->def, NULL);
		if (!t->fallback && u->defb)
			t->fallback = u->defb;
		for (size_t k = 0; k < u->n_rules; k++) {
			struct rule *r = &u->rules[k];
			r->b = r->is_default ? u->defb : make_backend(&bd, u, r->bs, r->error);
		}
	}
	t->n_anns = t->n_units;
	res_sweep(bu);
	group(bu, t, &canaries, &n_canaries);
	attach_canaries(t, canaries, n_canaries);
	group_tls(bu, t);
	free(canaries);
	json_decref(bd.svcs);
	json_decref(bd.slices);
	json_decref(bd.dirty);
	(void)err;
	return t;
}

struct ing_table *ing_table_build(json_t *ingresses, json_t *classes, json_t *services,
				  json_t *slices, const struct ing_build_opts *opts,
				  struct k8c_error *err)
{
	struct ing_builder *b = ing_builder_new();
	struct ing_table *t = ing_builder_build(b, ingresses, classes, services, slices, opts, err);

	ing_builder_free(b);
	return t;
}

struct ing_table *ing_table_ref(struct ing_table *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

void ing_table_unref(struct ing_table *t)
{
	size_t i;

	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	free(t->exact);
	free(t->wild);
	free(t->all_paths);
	free(t->bk);
	free(t->backends);
	for (i = 0; i < t->n_resolved; i++)
		resolved_unref(t->resolved[i]);
	free(t->resolved);
	for (i = 0; i < t->n_tls_exact + t->n_tls_wild; i++) {
		struct ing_tls_host *th =
			i < t->n_tls_exact ? &t->tls_exact[i] : &t->tls_wild[i - t->n_tls_exact];
		if (th->ctx && t->ctx_free)
			t->ctx_free(th->ctx);
	}
	free(t->tls_exact);
	free(t->tls_wild);
	if (t->default_ctx && t->ctx_free)
		t->ctx_free(t->default_ctx);
	json_decref(t->served);
	for (i = 0; i < t->n_units; i++) {
		free(t->warnings[i]);
		unit_unref(t->units[i]);
	}
	free(t->warnings);
	free(t->anns);
	free(t->units);
	free(t);
}

bool ing_path_matches(const struct ing_path *p, const char *path, size_t len)
{
	if (p->type == ING_PATH_EXACT)
		return len == p->len && !memcmp(path, p->path, len);
	if (p->len == 1) /* "/" */
		return len >= 1 && path[0] == '/';
	return len >= p->len && !memcmp(path, p->path, p->len) &&
	       (len == p->len || path[p->len] == '/');
}

/*
 * Binary search of a lower-case name among n elements of size bytes sorted by name, each
 * starting with its `char *name` (struct ing_host, struct ing_tls_host); NULL when absent.
 */
static const void *find_named(const void *base, size_t n, size_t size, const char *name, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const void *e = (const char *)base + mid * size;
		const char *en = *(char *const *)e;
		int c = strncmp(en, name, len);

		if (!c && en[len])
			c = 1;
		if (!c)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

_Static_assert(offsetof(struct ing_host, name) == 0, "find_named() reads the name first");
_Static_assert(offsetof(struct ing_tls_host, name) == 0, "find_named() reads the name first");

static const struct ing_host *find_host(const struct ing_host *hosts, size_t n, const char *name,
					size_t len)
{
	return find_named(hosts, n, sizeof(*hosts), name, len);
}

const struct ing_backend *ing_table_match(const struct ing_table *t, const char *host,
					  size_t host_len, const char *path, size_t path_len,
					  struct ing_match *m)
{
	char name[256];
	const struct ing_host *h = NULL;
	struct ing_match dummy;
	size_t i, n = 0;
	const char *q = memchr(path, '?', path_len);

	if (!m)
		m = &dummy;
	memset(m, 0, sizeof(*m));
	if (q)
		path_len = (size_t)(q - path);
	/* the host without ":port" (an IPv6 literal in brackets matches no rule host) */
	for (i = 0; i < host_len && host[i] != ':' && n < sizeof(name) - 1; i++)
		name[n++] = (char)tolower((unsigned char)host[i]);
	if (i < host_len && host[i] != ':') /* longer than any DNS name: matches no host rule */
		n = 0;
	name[n] = '\0';
	while (n > 0 && name[n - 1] == '.') /* "foo.com." is "foo.com" */
		name[--n] = '\0';

	if (n)
		h = find_host(t->exact, t->n_exact, name, n);
	if (!h && n) {
		const char *dot = memchr(name, '.', n);
		if (dot && dot > name)
			h = find_host(t->wild, t->n_wild, dot + 1, n - (size_t)(dot + 1 - name));
	}
	if (!h && t->has_any)
		h = &t->any;
	m->host = h;
	if (h) {
		for (i = 0; i < h->n_paths; i++) {
			const struct ing_path *p = &h->paths[i];
			if (p->re) {
				char buf[4096];
				if (path_len >= sizeof(buf))
					continue;
				memcpy(buf, path, path_len);
				buf[path_len] = '\0';
				if (regexec(p->re, buf, ING_MAX_GROUPS, m->groups, 0))
					continue;
				m->path = p;
				return m->backend = p->backend;
			}
			if (ing_path_matches(&h->paths[i], path, path_len)) {
				m->path = &h->paths[i];
				m->backend = h->paths[i].backend;
				return m->backend;
			}
		}
		if (h->fallback)
			return m->backend = h->fallback;
	}
	return m->backend = t->fallback;
}

static const struct ing_tls_host *find_tls(const struct ing_tls_host *hosts, size_t n,
					   const char *name, size_t len)
{
	return find_named(hosts, n, sizeof(*hosts), name, len);
}

const struct ing_tls_host *ing_table_tls(const struct ing_table *t, const char *name)
{
	char lc[256];
	size_t n = 0;
	const struct ing_tls_host *th;
	const char *dot;

	if (!name)
		return NULL;
	for (; name[n] && n < sizeof(lc) - 1; n++)
		lc[n] = (char)tolower((unsigned char)name[n]);
	if (name[n]) /* longer than any DNS name */
		return NULL;
	lc[n] = '\0';
	if (!n || (th = find_tls(t->tls_exact, t->n_tls_exact, lc, n)))
		return n ? th : NULL;
	dot = strchr(lc, '.');
	if (!dot || dot == lc)
		return NULL;
	return find_tls(t->tls_wild, t->n_tls_wild, dot + 1, n - (size_t)(dot + 1 - lc));
}

const struct ing_endpoint *ing_backend_pick(const struct ing_backend *b)
{
	unsigned i;

	if (!b || !b->n_eps)
		return NULL;
	i = atomic_fetch_add((atomic_uint *)&b->rr, 1);
	return &b->eps[i % b->n_eps];
}

long ing_rewrite(const struct ing_match *m, const char *target, const char *path, size_t len,
		 char *out, size_t size)
{
	size_t n = 0;
	const char *q = memchr(path, '?', len);

#define PUT(p, l)                                                                                  \
	do {                                                                                       \
		if (n + (l) >= size)                                                               \
			return -1;                                                                 \
		memcpy(out + n, (p), (l));                                                         \
		n += (l);                                                                          \
	} while (0)

	if (q)
		len = (size_t)(q - path);
	/* as nginx's "rewrite": the target replaces the whole path, $1..$9 the groups of a regex
	 * path (empty for other paths) */
	for (const char *c = target; *c; c++) {
		if (*c == '$' && c[1] >= '0' && c[1] <= '9') {
			const regmatch_t *g = &m->groups[c[1] - '0'];
			if (m->path && m->path->re && g->rm_so >= 0 && (size_t)g->rm_eo <= len)
				PUT(path + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
			c++;
		} else {
			PUT(c, 1);
		}
	}
#undef PUT
	out[n] = '\0';
	return n && out[0] == '/' ? (long)n : -1;
}

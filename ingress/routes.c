/* The Ingress route table: build from the caches, match a request (routes.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "routes.h"

#define DEFAULT_CLASS_ANN "ingressclass.kubernetes.io/is-default-class"
#define LEGACY_CLASS_ANN  "kubernetes.io/ingress.class"
#define SERVICE_NAME_LBL  "kubernetes.io/service-name"

/* One path rule while building: flattened over all Ingresses, then sorted and grouped by host. */
struct entry {
	char *host; /* lower case, "" for none, "*.x" for a wildcard */
	struct ing_path p;
	size_t order; /* the Ingress' rank (oldest first) */
	size_t seq;
	bool canary; /* of a canary Ingress: attached to a main rule, sorted last */
};

struct tls_entry {
	char *host; /* lower case, "*.x" for a wildcard */
	char *secret;
	const char
		*ingress; /* "ns/name", the builder's (sorted_ing.key) until group_tls copies it */
	bool redirect;
	size_t seq; /* Ingresses are visited oldest first */
};

struct builder {
	struct ing_table *t;
	json_t *svcs;	/* "ns/name" → Service (borrowed) */
	json_t *slices; /* "ns/service" → array of EndpointSlices */
	struct entry *e;
	size_t n, cap, n_main; /* after sorting, the canary entries follow the n_main others */
	struct ing_backend **defaults; /* per Ingress rank: its defaultBackend or NULL */
	struct tls_entry *tls;
	size_t n_tls, cap_tls;
};

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

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
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
			a->canary_header = xstrdup(v);
			for (char *c = a->canary_header; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
	}
	if ((v = annotation(ing, "canary-by-header-value")) && *v)
		a->canary_header_value = xstrdup(v);
	if ((v = annotation(ing, "canary-by-header-pattern")) && *v && !a->canary_header_value) {
		char msg[256];
		int rc;
		a->canary_header_re = xcalloc(1, sizeof(*a->canary_header_re));
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
			a->canary_cookie = xstrdup(v);
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
	struct ing_annotations *a = xcalloc(1, sizeof(*a));
	const char *v;

	a->body_max = -1;
	a->force_ssl_redirect = boolean(ing, a, "force-ssl-redirect");
	a->use_regex = boolean(ing, a, "use-regex");
	a->enable_cors = boolean(ing, a, "enable-cors");
	if ((v = annotation(ing, "rewrite-target")) && *v) {
		if (*v == '/')
			a->rewrite_target = xstrdup(v);
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
		char *copy = xstrdup(v), *save = NULL, *tok;

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
	a->cookie_name = xstrdup(v && *v && !strpbrk(v, "=;, \t\r\n\"") ? v : "INGRESSCOOKIE");
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

void ing_annotations_free(struct ing_annotations *a)
{
	if (!a)
		return;
	free(a->rewrite_target);
	free(a->allow);
	free(a->cookie_name);
	free(a->canary_header);
	free(a->canary_header_value);
	if (a->canary_header_re) {
		regfree(a->canary_header_re);
		free(a->canary_header_re);
	}
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
	oc->names = xcalloc(json_array_size(all), sizeof(*oc->names));
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

static bool is_ours(const json_t *ing, const struct our_classes *oc)
{
	const char *want = json_string_value(
		json_object_get(json_object_get(ing, "spec"), "ingressClassName"));

	if (!want)
		want = json_string_value(json_object_get(
			json_object_get(json_object_get(ing, "metadata"), "annotations"),
			LEGACY_CLASS_ANN));
	if (!want)
		return oc->has_default;
	for (size_t i = 0; i < oc->n; i++)
		if (!strcmp(oc->names[i], want))
			return true;
	return false;
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

/* An Ingress of ours with its sort key, read once. */
struct sorted_ing {
	json_t *obj;
	const char *ts, *ns, *name;
	char *key; /* "ns/name" */
};

/* Sort Ingresses oldest first (creationTimestamp is RFC 3339 in UTC: compares as text). */
static int cmp_ingress(const void *a, const void *b)
{
	const struct sorted_ing *x = a, *y = b;
	int c = strcmp(x->ts, y->ts);

	if (c)
		return c;
	c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

static void add_endpoints(struct ing_backend *b, json_t *slices, const char *port_name)
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

			if (json_is_false(ready) || !addr || strlen(addr) >= sizeof(b->eps[0].addr))
				continue;
			if (b->n_eps == cap) {
				cap = cap ? 2 * cap : 4;
				b->eps = realloc(b->eps, cap * sizeof(*b->eps));
				if (!b->eps)
					abort();
			}
			snprintf(b->eps[b->n_eps].addr, sizeof(b->eps[0].addr), "%s", addr);
			b->eps[b->n_eps++].port = (uint16_t)port;
		}
	}
}

/* A backend ({service: {name, port: {number|name}}} or legacy {serviceName, servicePort}). */
static struct ing_backend *new_backend(struct builder *bd, const char *ing_key, const char *ns,
				       const json_t *spec, const struct ing_annotations *ann)
{
	struct ing_backend *b = xcalloc(1, sizeof(*b));
	const json_t *svc = json_object_get(spec, "service");
	const char *name;
	json_t *port, *s, *sp, *match = NULL;
	char buf[32], *key;
	size_t i;

	if (svc) {
		name = jstr(svc, "name");
		port = json_object_get(json_object_get(svc, "port"), "number");
		if (!port)
			port = json_object_get(json_object_get(svc, "port"), "name");
	} else {
		name = jstr(spec, "serviceName");
		port = json_object_get(spec, "servicePort");
	}
	b->ingress = xstrdup(ing_key);
	b->ann = ann;
	if (asprintf(&key, "%s/%s", ns, name) < 0)
		abort();
	b->service = key;
	if (json_is_integer(port))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(port));
	else
		snprintf(buf, sizeof(buf), "%s",
			 json_string_value(port) ? json_string_value(port) : "");
	b->port = xstrdup(buf);

	bd->t->backends = realloc(bd->t->backends, (bd->t->n_backends + 1) * sizeof(b));
	if (!bd->t->backends)
		abort();
	bd->t->backends[bd->t->n_backends++] = b;

	if (!*name) {
		b->error =
			xstrdup("the backend names no service (resource backends are not served)");
		return b;
	}
	if (!(s = json_object_get(bd->svcs, key))) {
		if (asprintf(&b->error, "service %s not found", key) < 0)
			abort();
		return b;
	}
	json_array_foreach(json_object_get(json_object_get(s, "spec"), "ports"), i, sp)
	{
		if (json_is_integer(port) &&
		    json_integer_value(json_object_get(sp, "port")) == json_integer_value(port))
			match = sp;
		else if (json_is_string(port) && !strcmp(jstr(sp, "name"), json_string_value(port)))
			match = sp;
		if (match)
			break;
	}
	if (!match) {
		if (asprintf(&b->error, "service %s has no port %s", key, b->port) < 0)
			abort();
		return b;
	}
	add_endpoints(b, json_object_get(bd->slices, key), jstr(match, "name"));
	return b;
}

static void add_entry(struct builder *bd, const char *host, const char *path, const char *type,
		      struct ing_backend *b, size_t order, bool regex, bool canary)
{
	struct entry *e;
	size_t len;

	if (bd->n == bd->cap) {
		bd->cap = bd->cap ? 2 * bd->cap : 16;
		bd->e = realloc(bd->e, bd->cap * sizeof(*bd->e));
		if (!bd->e)
			abort();
	}
	e = &bd->e[bd->n];
	memset(e, 0, sizeof(*e));
	e->host = xstrdup(host);
	for (char *c = e->host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	e->p.type = !strcmp(type, "Exact") ? ING_PATH_EXACT : ING_PATH_PREFIX;
	if (!*path)
		path = "/";
	len = strlen(path);
	if (regex && e->p.type == ING_PATH_PREFIX) {
		/* use-regex: the path is a POSIX ERE matched from the path's start, as nginx's
		 * case-insensitive "location ~*"; an invalid one makes this rule answer 503 */
		char *anchored, msg[256];
		int rc;

		if (asprintf(&anchored, "^%s", path) < 0)
			abort();
		e->p.re = xcalloc(1, sizeof(*e->p.re));
		if ((rc = regcomp(e->p.re, anchored, REG_EXTENDED | REG_ICASE))) {
			regerror(rc, e->p.re, msg, sizeof(msg));
			free(e->p.re);
			e->p.re = NULL;
			if (!b->error &&
			    asprintf(&b->error, "invalid regex path %s: %s", path, msg) < 0)
				abort();
		}
		free(anchored);
	}
	if (e->p.type == ING_PATH_PREFIX && !e->p.re)
		while (len > 1 && path[len - 1] == '/')
			len--;
	e->p.path = strndup(path, len);
	if (!e->p.path)
		abort();
	e->p.len = len;
	e->p.backend = b;
	e->order = order;
	e->canary = canary;
	e->seq = bd->n++;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c;

	if (x->canary != y->canary)
		return x->canary ? 1 : -1;
	if ((c = strcmp(x->host, y->host)))
		return c;
	if (x->p.len != y->p.len)
		return x->p.len > y->p.len ? -1 : 1;
	if (x->p.type != y->p.type)
		return x->p.type == ING_PATH_EXACT ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
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

static void add_ingress(struct builder *bd, json_t *ing, const char *key, size_t order)
{
	json_t *spec = json_object_get(ing, "spec"), *rule, *p, *def;
	const char *ns = jpath(ing, "metadata", "namespace");
	size_t i, j;
	struct ing_annotations *ann = ing_annotations_parse(ing);
	bool redirect = ssl_redirect(ing);

	bd->t->anns = realloc(bd->t->anns, (bd->t->n_anns + 1) * sizeof(*bd->t->anns));
	if (!bd->t->anns)
		abort();
	bd->t->anns[bd->t->n_anns++] = ann;

	json_array_foreach(json_object_get(spec, "tls"), i, rule)
	{
		const char *secret = jstr(rule, "secretName");
		json_t *h;

		if (!*secret)
			continue;
		json_array_foreach(json_object_get(rule, "hosts"), j, h)
		{
			struct tls_entry *te;

			if (!json_string_value(h) || !*json_string_value(h))
				continue;
			if (bd->n_tls == bd->cap_tls) {
				bd->cap_tls = bd->cap_tls ? 2 * bd->cap_tls : 8;
				bd->tls = realloc(bd->tls, bd->cap_tls * sizeof(*bd->tls));
				if (!bd->tls)
					abort();
			}
			te = &bd->tls[bd->n_tls];
			te->host = xstrdup(json_string_value(h));
			for (char *c = te->host; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (asprintf(&te->secret, "%s/%s", ns, secret) < 0)
				abort();
			te->redirect = redirect;
			te->ingress = key;
			te->seq = bd->n_tls++;
		}
	}
	def = json_object_get(spec, "defaultBackend");
	if (!def)
		def = json_object_get(spec, "backend"); /* extensions/v1beta1 */
	if (def && ann->canary)
		warn(ann, "canary", "true", "the defaultBackend of a canary Ingress is not served");
	else if (def)
		bd->defaults[order] = new_backend(bd, key, ns, def, ann);
	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		const char *host = jstr(rule, "host");
		json_t *paths = json_object_get(json_object_get(rule, "http"), "paths");

		if (!json_array_size(paths) && bd->defaults[order]) /* only the defaultBackend */
			add_entry(bd, host, "/", "Prefix", bd->defaults[order], order, false,
				  false);
		json_array_foreach(paths, j, p)
		{
			const char *type = jstr(p, "pathType");
			struct ing_backend *b =
				new_backend(bd, key, ns, json_object_get(p, "backend"), ann);
			add_entry(bd, host, jstr(p, "path"),
				  *type ? type : "ImplementationSpecific", b, order,
				  ann->use_regex && !ann->canary, ann->canary);
		}
	}
}

static int cmp_tls(const void *a, const void *b)
{
	const struct tls_entry *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* One TLS host per name (the first after sorting: the oldest Ingress' Secret). */
static void group_tls(struct builder *bd)
{
	struct ing_table *t = bd->t;

	if (bd->n_tls)
		qsort(bd->tls, bd->n_tls, sizeof(*bd->tls), cmp_tls);
	t->tls_exact = xcalloc(bd->n_tls, sizeof(*t->tls_exact));
	t->tls_wild = xcalloc(bd->n_tls, sizeof(*t->tls_wild));
	for (size_t i = 0; i < bd->n_tls; i++) {
		const char *h = bd->tls[i].host;
		bool wild = !strncmp(h, "*.", 2);
		struct ing_tls_host *th;

		if (i > 0 && !strcmp(h, bd->tls[i - 1].host))
			continue;
		th = wild ? &t->tls_wild[t->n_tls_wild++] : &t->tls_exact[t->n_tls_exact++];
		th->name = xstrdup(wild ? h + 2 : h);
		th->secret = xstrdup(bd->tls[i].secret);
		th->redirect = bd->tls[i].redirect;
		th->ingress = xstrdup(bd->tls[i].ingress);
	}
}

/* Group the sorted entries by host into the table. */
static void group(struct builder *bd)
{
	struct ing_table *t = bd->t;
	size_t i = 0;

	t->exact = xcalloc(bd->n_main, sizeof(*t->exact));
	t->wild = xcalloc(bd->n_main, sizeof(*t->wild));
	while (i < bd->n_main) {
		const char *host = bd->e[i].host;
		struct ing_host *h;
		size_t j = i, best = (size_t)-1;

		while (j < bd->n_main && !strcmp(bd->e[j].host, host))
			j++;
		if (!*host) {
			h = &t->any;
			t->has_any = true;
		} else if (!strncmp(host, "*.", 2)) {
			h = &t->wild[t->n_wild++];
		} else {
			h = &t->exact[t->n_exact++];
		}
		h->name = xstrdup(!strncmp(host, "*.", 2) ? host + 2 : host);
		h->paths = xcalloc(j - i, sizeof(*h->paths));
		for (size_t k = i; k < j; k++) {
			h->paths[h->n_paths++] = bd->e[k].p;
			bd->e[k].p.path = NULL; /* moved */
			bd->e[k].p.re = NULL;
			if (bd->defaults[bd->e[k].order] && bd->e[k].order < best)
				best = bd->e[k].order;
		}
		h->fallback = best != (size_t)-1 ? bd->defaults[best] : NULL;
		i = j;
	}
}

static const struct ing_host *find_host(const struct ing_host *hosts, size_t n, const char *name,
					size_t len);

/*
 * Each rule of a canary Ingress becomes the alternative of the main rule with the same host,
 * path and pathType (as ingress-nginx's): the oldest canary wins a rule; a canary rule with no
 * such main rule is not served (a warning on the canary Ingress).
 */
static void attach_canaries(struct builder *bd)
{
	struct ing_table *t = bd->t;

	for (size_t i = bd->n_main; i < bd->n; i++) {
		struct entry *e = &bd->e[i];
		const char *host = e->host;
		const struct ing_host *h;
		struct ing_path *p = NULL;
		struct ing_annotations *ann = (struct ing_annotations *)e->p.backend->ann;

		if (!*host)
			h = t->has_any ? &t->any : NULL;
		else if (!strncmp(host, "*.", 2))
			h = find_host(t->wild, t->n_wild, host + 2, strlen(host + 2));
		else
			h = find_host(t->exact, t->n_exact, host, strlen(host));
		for (size_t k = 0; h && k < h->n_paths && !p; k++) {
			struct ing_path *q = &h->paths[k];
			if (q->type == e->p.type && q->len == e->p.len &&
			    !memcmp(q->path, e->p.path, q->len))
				p = q;
		}
		if (!p) {
			char *what;
			if (asprintf(&what, "%s%s", host, e->p.path) < 0)
				abort();
			warn(ann, "canary", what,
			     "no rule of a main Ingress has this host, path "
			     "and pathType: not served");
			free(what);
			continue;
		}
		if (p->canary)
			continue; /* an older canary has it */
		p->canary = e->p.backend;
		p->canary_by = ann;
		/* the canary's requests get the main rule's annotations (ingress-nginx's canary
		 * Ingresses inherit them) */
		e->p.backend->ann = p->backend->ann;
	}
}

struct ing_table *ing_table_build(json_t *ingresses, json_t *classes, json_t *services,
				  json_t *slices, const struct ing_build_opts *opts,
				  struct k8c_error *err)
{
	struct builder bd = {0};
	json_t *ings = as_array(ingresses), *all, *v, *ours = json_array();
	struct sorted_ing *sorted;
	struct our_classes oc;
	size_t i, n = 0;

	bd.t = xcalloc(1, sizeof(*bd.t));
	atomic_init(&bd.t->refs, 1);
	bd.t->generation = opts ? opts->generation : 0;
	bd.t->served = json_array();

	bd.svcs = json_object();
	all = as_array(services);
	json_array_foreach(all, i, v)
	{
		char *k = obj_key(v);
		json_object_set(bd.svcs, k, v);
		free(k);
	}
	json_decref(all);
	bd.slices = json_object();
	all = as_array(slices);
	json_array_foreach(all, i, v)
	{
		const char *svc = json_string_value(
			json_object_get(json_object_get(json_object_get(v, "metadata"), "labels"),
					SERVICE_NAME_LBL));
		char *k;
		json_t *arr;

		if (!svc)
			continue;
		if (asprintf(&k, "%s/%s", jpath(v, "metadata", "namespace"), svc) < 0)
			abort();
		if (!(arr = json_object_get(bd.slices, k))) {
			arr = json_array();
			json_object_set_new(bd.slices, k, arr);
		}
		json_array_append(arr, v);
		free(k);
	}
	json_decref(all);

	sorted = xcalloc(json_array_size(ings), sizeof(*sorted));
	our_classes_init(&oc, classes, opts ? opts->controller : NULL);
	json_array_foreach(ings, i, v)
	{
		const json_t *md = json_object_get(v, "metadata");
		if (!is_ours(v, &oc))
			continue;
		sorted[n] = (struct sorted_ing){v, jstr(md, "creationTimestamp"),
						jstr(md, "namespace"), jstr(md, "name"), NULL};
		sorted[n++].key = obj_key(v);
	}
	free(oc.names);
	qsort(sorted, n, sizeof(*sorted), cmp_ingress);
	bd.defaults = xcalloc(n, sizeof(*bd.defaults));
	for (i = 0; i < n; i++) {
		json_array_append_new(ours, json_string(sorted[i].key));
		add_ingress(&bd, sorted[i].obj, sorted[i].key, i);
		if (!bd.t->fallback && bd.defaults[i])
			bd.t->fallback = bd.defaults[i];
	}
	if (bd.n)
		qsort(bd.e, bd.n, sizeof(*bd.e), cmp_entry);
	while (bd.n_main < bd.n && !bd.e[bd.n_main].canary)
		bd.n_main++;
	group(&bd);
	attach_canaries(&bd);
	group_tls(&bd); /* copies the Ingress keys of the TLS entries */
	for (i = 0; i < n; i++)
		free(sorted[i].key);
	json_decref(bd.t->served);
	bd.t->served = ours;

	for (i = 0; i < bd.n; i++) {
		free(bd.e[i].host);
		free(bd.e[i].p.path);
		if (bd.e[i].p.re) {
			regfree(bd.e[i].p.re);
			free(bd.e[i].p.re);
		}
	}
	free(bd.e);
	for (i = 0; i < bd.n_tls; i++) {
		free(bd.tls[i].host);
		free(bd.tls[i].secret);
	}
	free(bd.tls);
	free(bd.defaults);
	free(sorted);
	json_decref(bd.svcs);
	json_decref(bd.slices);
	json_decref(ings);
	(void)err;
	return bd.t;
}

struct ing_table *ing_table_ref(struct ing_table *t)
{
	atomic_fetch_add(&t->refs, 1);
	return t;
}

static void free_host(struct ing_host *h)
{
	for (size_t i = 0; i < h->n_paths; i++) {
		free(h->paths[i].path);
		if (h->paths[i].re) {
			regfree(h->paths[i].re);
			free(h->paths[i].re);
		}
	}
	free(h->paths);
	free(h->name);
}

void ing_table_unref(struct ing_table *t)
{
	size_t i;

	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	for (i = 0; i < t->n_exact; i++)
		free_host(&t->exact[i]);
	for (i = 0; i < t->n_wild; i++)
		free_host(&t->wild[i]);
	free_host(&t->any);
	free(t->exact);
	free(t->wild);
	for (i = 0; i < t->n_backends; i++) {
		struct ing_backend *b = t->backends[i];
		free(b->ingress);
		free(b->service);
		free(b->port);
		free(b->error);
		free(b->eps);
		free(b);
	}
	free(t->backends);
	for (i = 0; i < t->n_tls_exact + t->n_tls_wild; i++) {
		struct ing_tls_host *th =
			i < t->n_tls_exact ? &t->tls_exact[i] : &t->tls_wild[i - t->n_tls_exact];
		if (th->ctx && t->ctx_free)
			t->ctx_free(th->ctx);
		free(th->name);
		free(th->secret);
		free(th->ingress);
	}
	free(t->tls_exact);
	free(t->tls_wild);
	if (t->default_ctx && t->ctx_free)
		t->ctx_free(t->default_ctx);
	json_decref(t->served);
	for (i = 0; i < t->n_anns; i++)
		ing_annotations_free(t->anns[i]);
	free(t->anns);
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

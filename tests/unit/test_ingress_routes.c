/* ingress/routes: the route table against the Ingress spec's matching tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routes.h"

/* JSON written with ' for " (readable test data). */
static json_t *j(const char *text)
{
	char *s = strdup(text);
	json_error_t e;
	json_t *v;

	for (char *c = s; *c; c++)
		if (*c == '\'')
			*c = '"';
	v = json_loads(s, 0, &e);
	if (!v)
		fail_msg("bad test JSON: %s: %s", e.text, s);
	free(s);
	return v;
}

#define CLASSES                                                                                    \
	"[{'metadata':{'name':'k8c'},'spec':{'controller':'k8c.io/ingress'}},"                     \
	"{'metadata':{'name':'nginx'},'spec':{'controller':'k8s.io/ingress-nginx'}}]"

/* Services a (port 80 "http"), b (port 8080 unnamed), empty (no endpoints) in ns1. */
#define SERVICES                                                                                   \
	"[{'metadata':{'namespace':'ns1','name':'a'},'spec':{'ports':[{'name':'http','port':80}]}" \
	"},"                                                                                       \
	"{'metadata':{'namespace':'ns1','name':'b'},'spec':{'ports':[{'port':8080}]}},"            \
	"{'metadata':{'namespace':'ns1','name':'empty'},'spec':{'ports':[{'port':80}]}}]"

#define SLICES                                                                                     \
	"[{'metadata':{'namespace':'ns1','name':'a-1','labels':{'kubernetes.io/"                   \
	"service-name':'a'}},"                                                                     \
	"'addressType':'IPv4','ports':[{'name':'http','port':9001}],"                              \
	"'endpoints':[{'addresses':['127.0.0.2'],'conditions':{'ready':true}},"                    \
	"{'addresses':['127.0.0.3']},"                                                             \
	"{'addresses':['127.0.0.4'],'conditions':{'ready':false}}]},"                              \
	"{'metadata':{'namespace':'ns1','name':'b-1','labels':{'kubernetes.io/"                    \
	"service-name':'b'}},"                                                                     \
	"'addressType':'IPv4','ports':[{'port':9002}],"                                            \
	"'endpoints':[{'addresses':['127.0.0.5']}]}]"

static struct ing_table *build(const char *ingresses)
{
	json_t *i = j(ingresses), *c = j(CLASSES), *s = j(SERVICES), *e = j(SLICES);
	struct k8c_error err = K8C_ERROR_INIT;
	struct ing_table *t = ing_table_build(i, c, s, e, NULL, &err);

	assert_non_null(t);
	json_decref(i);
	json_decref(c);
	json_decref(s);
	json_decref(e);
	return t;
}

/* "ns/ingress service path" of the match, or "404". */
static const char *route(const struct ing_table *t, const char *host, const char *path)
{
	static char buf[256];
	struct ing_match m;

	if (!ing_table_match(t, host, strlen(host), path, strlen(path), &m))
		return "404";
	snprintf(buf, sizeof(buf), "%s %s %s", m.backend->ingress, m.backend->service,
		 m.path ? m.path->path : "default");
	return buf;
}

#define BK(svc)		   "{'service':{'name':'" svc "','port':{'number':80}}}"
#define P(path, type, svc) "{'path':'" path "','pathType':'" type "','backend':" BK(svc) "}"
#define ING(name, ts, host, paths)                                                                 \
	"{'metadata':{'namespace':'ns1','name':'" name "','creationTimestamp':'" ts "'},"          \
	"'spec':{'ingressClassName':'k8c','rules':[{'host':'" host "','http':{'paths':[" paths     \
	"]}}]}}"

static void assert_route(const struct ing_table *t, const char *host, const char *path,
			 const char *want)
{
	const char *got = route(t, host, path);
	if (strcmp(got, want))
		fail_msg("%s%s: got \"%s\", want \"%s\"", host, path, got, want);
}

/* The table of kubernetes.io/docs/concepts/services-networking/ingress/#examples */
static void test_spec_examples(void **state)
{
	struct ing_table *t;

	/* Prefix / : all paths */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/", "Prefix", "a")) "]");
	assert_route(t, "x", "/", "ns1/i ns1/a /");
	assert_route(t, "x", "/anything/at/all", "ns1/i ns1/a /");
	ing_table_unref(t);

	/* Exact /foo: /foo yes, /bar no, /foo/ no */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/foo", "Exact", "a")) "]");
	assert_route(t, "x", "/foo", "ns1/i ns1/a /foo");
	assert_route(t, "x", "/bar", "404");
	assert_route(t, "x", "/foo/", "404");
	assert_route(t, "x", "/foo?q=1", "ns1/i ns1/a /foo");
	assert_route(t, "x", "/Foo", "404"); /* case-sensitive */
	ing_table_unref(t);

	/* Exact /foo/: /foo no */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/foo/", "Exact", "a")) "]");
	assert_route(t, "x", "/foo", "404");
	assert_route(t, "x", "/foo/", "ns1/i ns1/a /foo/");
	ing_table_unref(t);

	/* Prefix /foo and /foo/: /foo, /foo/ yes; element-wise */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/foo/", "Prefix", "a")) "]");
	assert_route(t, "x", "/foo", "ns1/i ns1/a /foo");
	assert_route(t, "x", "/foo/", "ns1/i ns1/a /foo");
	assert_route(t, "x", "/foo/bar", "ns1/i ns1/a /foo");
	assert_route(t, "x", "/foobar", "404");
	ing_table_unref(t);

	/* Prefix /aaa/bb does not match /aaa/bbb; /aaa/bbb matches /aaa/bbb/ccc, not /aaa/bbbxyz */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x",
			  P("/aaa/bb", "Prefix", "a") "," P("/aaa/bbb", "Prefix", "b")) "]");
	assert_route(t, "x", "/aaa/bbb", "ns1/i ns1/b /aaa/bbb");
	assert_route(t, "x", "/aaa/bbb/ccc", "ns1/i ns1/b /aaa/bbb");
	assert_route(t, "x", "/aaa/bbbxyz", "404");
	assert_route(t, "x", "/aaa/bb", "ns1/i ns1/a /aaa/bb");
	ing_table_unref(t);

	/* Prefix / and /aaa: /aaa/ccc goes to /aaa, /ccc to / */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x",
			  P("/", "Prefix", "a") "," P("/aaa", "Prefix", "b")) "]");
	assert_route(t, "x", "/aaa/ccc", "ns1/i ns1/b /aaa");
	assert_route(t, "x", "/ccc", "ns1/i ns1/a /");
	ing_table_unref(t);

	/* Exact /foo and Prefix /foo: Exact wins on /foo, Prefix on /foo/x */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x",
			  P("/foo", "Prefix", "a") "," P("/foo", "Exact", "b")) "]");
	assert_route(t, "x", "/foo", "ns1/i ns1/b /foo");
	assert_route(t, "x", "/foo/x", "ns1/i ns1/a /foo");
	ing_table_unref(t);

	/* ImplementationSpecific is Prefix */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x",
			  P("/api", "ImplementationSpecific", "a")) "]");
	assert_route(t, "x", "/api/v1", "ns1/i ns1/a /api");
	assert_route(t, "x", "/apix", "404");
	ing_table_unref(t);
}

static void test_hosts(void **state)
{
	struct ing_table *t = build(
		"[" ING("i", "2026-01-01T00:00:00Z", "*.foo.com", P("/", "Prefix", "a")) "," ING(
			"j", "2026-01-01T00:00:01Z", "Bar.Foo.com", P("/", "Prefix", "b")) "]");

	assert_route(t, "baz.foo.com", "/", "ns1/i ns1/a /");
	assert_route(t, "BAZ.foo.com:8080", "/", "ns1/i ns1/a /");
	assert_route(t, "bar.foo.com", "/", "ns1/j ns1/b /"); /* exact beats wildcard */
	assert_route(t, "bar.foo.com.", "/", "ns1/j ns1/b /");
	assert_route(t, "baz.bar.foo.com", "/", "404"); /* a single label only */
	assert_route(t, "foo.com", "/", "404");
	assert_route(t, ".foo.com", "/", "404");
	assert_route(t, "other.com", "/", "404");
	assert_route(t, "", "/", "404");
	{ /* a name longer than any DNS name matches nothing (and is not truncated) */
		char long_host[400];
		memset(long_host, 'a', sizeof(long_host) - 1);
		long_host[sizeof(long_host) - 1] = '\0';
		memcpy(long_host + sizeof(long_host) - 1 - 12, ".bar.foo.com", 12);
		assert_route(t, long_host, "/", "404");
		assert_null(ing_table_tls(t, long_host));
	}
	ing_table_unref(t);
}

static void test_merge_and_defaults(void **state)
{
	/* two Ingresses on one host; the older wins a duplicate path; a host-less rule; defaults */
	struct ing_table *t = build("[" ING(
		"new", "2026-01-02T00:00:00Z", "x",
		P("/dup", "Prefix", "b") "," P(
			"/new", "Exact",
			"b")) "," ING("old", "2026-01-01T00:00:00Z", "x",
				      P("/dup", "Prefix",
					"a")) ","
					      "{'metadata':{'namespace':'ns1','name':'any','"
					      "creationTimestamp':'2026-01-03T00:00:00Z'},"
					      "'spec':{'ingressClassName':'k8c','defaultBackend'"
					      ":" BK("b") ",'rules':[{'http':{'paths':[" P(
						      "/catch", "Prefix", "a") "]}}]}}]");

	assert_route(t, "x", "/dup/1", "ns1/old ns1/a /dup");
	assert_route(t, "x", "/new", "ns1/new ns1/b /new");
	assert_route(t, "x", "/nothing", "ns1/any ns1/b default"); /* the global defaultBackend */
	assert_route(t, "y", "/catch/me", "ns1/any ns1/a /catch"); /* host-less rules */
	assert_route(t, "y", "/else", "ns1/any ns1/b default");
	assert_int_equal(json_array_size(t->served), 3);
	ing_table_unref(t);

	/* no defaultBackend anywhere: 404 */
	t = build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/a", "Exact", "a")) "]");
	assert_route(t, "x", "/b", "404");
	ing_table_unref(t);
}

static void test_classes(void **state)
{
	json_t *classes = j(CLASSES);
	json_t *dflt = j("[{'metadata':{'name':'k8c','annotations':{'ingressclass.kubernetes.io/"
			 "is-default-class':'true'}},'spec':{'controller':'k8c.io/ingress'}}]");
	json_t *named = j("{'spec':{'ingressClassName':'k8c'}}");
	json_t *other = j("{'spec':{'ingressClassName':'nginx'}}");
	json_t *missing = j("{'spec':{'ingressClassName':'gone'}}");
	json_t *legacy = j("{'metadata':{'annotations':{'kubernetes.io/ingress.class':'k8c'}}}");
	json_t *legacy_other =
		j("{'metadata':{'annotations':{'kubernetes.io/ingress.class':'nginx'}}}");
	json_t *none = j("{'spec':{}}");

	assert_true(ing_is_ours(named, classes, NULL));
	assert_false(ing_is_ours(other, classes, NULL));
	assert_false(ing_is_ours(missing, classes, NULL));
	assert_true(ing_is_ours(legacy, classes, NULL));
	assert_false(ing_is_ours(legacy_other, classes, NULL));
	assert_false(ing_is_ours(none, classes, NULL)); /* no default class */
	assert_true(ing_is_ours(none, dflt, NULL));	/* our class is the default */
	assert_false(ing_is_ours(none, dflt, "example.com/other"));
	assert_true(ing_is_ours(other, classes, "k8s.io/ingress-nginx"));

	json_decref(classes);
	json_decref(dflt);
	json_decref(named);
	json_decref(other);
	json_decref(missing);
	json_decref(legacy);
	json_decref(legacy_other);
	json_decref(none);
}

static void test_backends(void **state)
{
	struct ing_table *t = build("[" ING(
		"i", "2026-01-01T00:00:00Z", "x",
		P("/a", "Prefix",
		  "a") ","
		       "{'path':'/"
		       "named','pathType':'Prefix','backend':{'service':{'name':'a','port':{"
		       "'name':'http'}}}},"
		       "{'path':'/b','pathType':'Prefix','backend':{'service':{'name':'b','port':{"
		       "'number':8080}}}},"
		       "{'path':'/"
		       "badport','pathType':'Prefix','backend':{'service':{'name':'b','port':{"
		       "'number':81}}}}," P("/empty", "Prefix", "empty") "," P(
			       "/gone", "Prefix",
			       "gone")) ","
					"{'metadata':{'namespace':'ns1','name':'legacy','"
					"creationTimestamp':'2026-01-01T00:00:01Z',"
					"'annotations':{'kubernetes.io/ingress.class':'k8c'}},"
					"'spec':{'rules':[{'host':'old','http':{'paths':[{'path':'/"
					"','backend':{"
					"'serviceName':'b','servicePort':8080}}]}}]}}"
					"]");
	struct ing_match m;
	const struct ing_endpoint *e1, *e2, *e3;

	/* by number: the ready endpoints (ready unset counts as ready), round robin */
	assert_non_null(ing_table_match(t, "x", 1, "/a", 2, &m));
	assert_null(m.backend->error);
	assert_int_equal(m.backend->n_eps, 2);
	e1 = ing_backend_pick(m.backend);
	e2 = ing_backend_pick(m.backend);
	e3 = ing_backend_pick(m.backend);
	assert_string_not_equal(e1->addr, e2->addr);
	assert_string_equal(e1->addr, e3->addr);
	assert_int_equal(e1->port, 9001);

	assert_non_null(ing_table_match(t, "x", 1, "/named", 6, &m));
	assert_int_equal(m.backend->n_eps, 2);
	assert_non_null(ing_table_match(t, "x", 1, "/b", 2, &m));
	assert_int_equal(m.backend->n_eps, 1);
	assert_string_equal(ing_backend_pick(m.backend)->addr, "127.0.0.5");
	assert_int_equal(ing_backend_pick(m.backend)->port, 9002);

	assert_non_null(ing_table_match(t, "x", 1, "/badport", 8, &m));
	assert_string_equal(m.backend->error, "service ns1/b has no port 81");
	assert_non_null(ing_table_match(t, "x", 1, "/empty", 6, &m));
	assert_null(m.backend->error);
	assert_int_equal(m.backend->n_eps, 0);
	assert_null(ing_backend_pick(m.backend));
	assert_non_null(ing_table_match(t, "x", 1, "/gone", 5, &m));
	assert_string_equal(m.backend->error, "service ns1/gone not found");

	/* the legacy shape: serviceName/servicePort, no pathType */
	assert_non_null(ing_table_match(t, "old", 3, "/z", 2, &m));
	assert_string_equal(m.backend->service, "ns1/b");
	assert_int_equal(m.backend->n_eps, 1);
	ing_table_unref(t);
}

static void test_tls_hosts(void **state)
{
	struct ing_table *t = build(
		"[{'metadata':{'namespace':'ns1','name':'new','creationTimestamp':'2026-01-"
		"02T00:00:00Z'},"
		"'spec':{'ingressClassName':'k8c','tls':[{'hosts':['foo.com','*.foo.com'],"
		"'secretName':'new-cert'}]}},"
		"{'metadata':{'namespace':'ns1','name':'old','creationTimestamp':'2026-01-"
		"01T00:00:00Z','annotations':{'nginx.ingress.kubernetes.io/ssl-redirect':'false'}},"
		"'spec':{'ingressClassName':'k8c','tls':[{'hosts':['Foo.com'],'secretName':'"
		"old-cert'},"
		"{'hosts':['nosecret.com']}]}}]");

	assert_string_equal(ing_table_tls(t, "foo.com")->secret, "ns1/old-cert"); /* oldest */
	assert_string_equal(ing_table_tls(t, "FOO.COM")->secret, "ns1/old-cert");
	assert_string_equal(ing_table_tls(t, "a.foo.com")->secret, "ns1/new-cert");
	assert_null(ing_table_tls(t, "b.a.foo.com"));
	assert_false(ing_table_tls(t, "foo.com")->redirect);  /* annotated "false" */
	assert_true(ing_table_tls(t, "a.foo.com")->redirect); /* on by default */
	assert_null(ing_table_tls(t, "nosecret.com"));
	assert_null(ing_table_tls(t, "bar.com"));
	assert_null(ing_table_tls(t, ""));
	assert_null(ing_table_tls(t, NULL));
	ing_table_unref(t);
}

static void test_refcount(void **state)
{
	struct ing_table *t =
		build("[" ING("i", "2026-01-01T00:00:00Z", "x", P("/", "Prefix", "a")) "]");

	ing_table_ref(t);
	ing_table_unref(t);
	assert_route(t, "x", "/", "ns1/i ns1/a /"); /* still alive */
	ing_table_unref(t);
}

/* Annotations: ours first, else ingress-nginx's; invalid values ignored with a warning. */
static void test_annotations(void **state)
{
	json_t *ing = j(
		"{'metadata':{'annotations':{"
		"'k8c.io/proxy-body-size':'2m','nginx.ingress.kubernetes.io/proxy-body-size':'1k',"
		"'nginx.ingress.kubernetes.io/whitelist-source-range':'10.0.0.0/8, ::1, 300.1.1.1',"
		"'nginx.ingress.kubernetes.io/proxy-read-timeout':'30s',"
		"'nginx.ingress.kubernetes.io/proxy-connect-timeout':'x',"
		"'nginx.ingress.kubernetes.io/use-regex':'TRUE',"
		"'nginx.ingress.kubernetes.io/limit-rps':'7',"
		"'nginx.ingress.kubernetes.io/backend-protocol':'GRPC'}}}");
	struct ing_annotations *a = ing_annotations_parse(ing);

	assert_int_equal(a->body_max, 2 * 1024 * 1024);
	assert_true(a->allow_set);
	assert_int_equal(a->n_allow, 2);
	assert_int_equal(a->allow[0].bits, 8);
	assert_int_equal(a->allow[1].bits, 128);
	assert_int_equal(a->read_timeout_ms, 30000);
	assert_int_equal(a->connect_timeout_ms, 0);
	assert_true(a->use_regex);
	assert_int_equal(a->limit_rps, 7);
	assert_false(a->backend_https);
	assert_string_equal(a->cookie_name, "INGRESSCOOKIE");
	assert_non_null(strstr(a->warnings, "whitelist-source-range '300.1.1.1'"));
	assert_non_null(strstr(a->warnings, "proxy-connect-timeout 'x'"));
	assert_non_null(strstr(a->warnings, "backend-protocol 'GRPC'"));
	ing_annotations_free(a);
	json_decref(ing);
}

/* use-regex paths (anchored, case-insensitive), rewrite-target with groups, a bad regex. */
static void test_regex_rewrite(void **state)
{
	struct ing_table *t = build(
		"[{'metadata':{'namespace':'ns1','name':'r','creationTimestamp':'2026-01-01T00:00:"
		"00Z',"
		"'annotations':{'nginx.ingress.kubernetes.io/use-regex':'true'}},'spec':{"
		"'ingressClassName':'k8c','rules':[{'host':'x','http':{'paths':["
		"{'path':'/api(/|$)(.*)','pathType':'ImplementationSpecific','backend':{'service':"
		"{'name':'a','port':{'number':80}}}},"
		"{'path':'/bad(','pathType':'ImplementationSpecific','backend':{'service':"
		"{'name':'a','port':{'number':80}}}},"
		"{'path':'/e','pathType':'Exact','backend':{'service':{'name':'b','port':"
		"{'number':8080}}}}]}}]}}]");
	struct ing_match m;
	char out[64];
	const char *p = "/API/v1/x?q=1";

	assert_non_null(ing_table_match(t, "x", 1, p, strlen(p), &m));
	assert_non_null(m.path->re);
	assert_int_equal(ing_rewrite(&m, "/$2", p, strlen(p), out, sizeof(out)), 5);
	assert_string_equal(out, "/v1/x");
	assert_int_equal(ing_rewrite(&m, "/v2/$2/$1", p, strlen(p), out, sizeof(out)), 10);
	assert_string_equal(out, "/v2/v1/x//");
	assert_int_equal(ing_rewrite(&m, "$2", p, strlen(p), out, sizeof(out)), -1); /* no '/' */
	assert_null(ing_table_match(t, "x", 1, "/apix", 5, &m));
	assert_null(ing_table_match(t, "x", 1, "/v/api", 6, &m)); /* anchored */
	/* the invalid regex: matched as a literal prefix, its backend in error (503) */
	assert_non_null(ing_table_match(t, "x", 1, "/bad(", 5, &m));
	assert_non_null(strstr(m.backend->error, "invalid regex path /bad("));
	/* Exact stays exact, and rewrites to the target without groups */
	assert_non_null(ing_table_match(t, "x", 1, "/e", 2, &m));
	assert_null(m.path->re);
	assert_int_equal(ing_rewrite(&m, "/$2", "/e", 2, out, sizeof(out)), 1);
	assert_string_equal(out, "/");
	assert_null(ing_table_match(t, "x", 1, "/E", 2, &m));
	ing_table_unref(t);
}

#define CANARY(name, ts, anns, host, paths)                                                        \
	"{'metadata':{'namespace':'ns1','name':'" name "','creationTimestamp':'" ts "',"           \
	"'annotations':{'nginx.ingress.kubernetes.io/canary':'true'" anns "}},"                    \
	"'spec':{'ingressClassName':'k8c','rules':[{'host':'" host "','http':{'paths':[" paths     \
	"]}}]}}"

/* canary: attached to the main rule of the same host, path and pathType; the decision. */
static void test_canary(void **state)
{
	struct ing_table *t = build("[" ING(
		"main", "2026-01-01T00:00:00Z", "x",
		P("/", "Prefix", "a") "," P(
			"/e", "Exact",
			"a")) "," CANARY("c1", "2026-01-02T00:00:00Z",
					 ",'k8c.io/canary-by-header':'X-Canary'", "x",
					 P("/", "Prefix", "b") "," P("/e", "Prefix", "b") "," P(
						 "/none", "Prefix",
						 "b")) "," CANARY("c2", "2026-01-03T00:00:00Z", "",
								  "x",
								  P("/", "Prefix", "empty")) "]");
	struct ing_match m;
	const struct ing_annotations *c;

	/* a canary Ingress makes no rule of its own: /none is not served, the canary / is the
	 * alternative of main's / */
	assert_route(t, "x", "/none", "ns1/main ns1/a /");
	assert_non_null(ing_table_match(t, "x", 1, "/y", 2, &m));
	assert_non_null(m.path->canary);
	assert_string_equal(m.path->canary->ingress, "ns1/c1"); /* the oldest canary */
	assert_string_equal(m.path->canary->service, "ns1/b");
	assert_ptr_equal(m.path->canary->ann, m.backend->ann); /* the main rule's annotations */
	c = m.path->canary_by;
	assert_true(c->canary);
	assert_string_equal(c->canary_header, "x-canary");
	/* pathType differs (Exact vs Prefix): no alternative */
	assert_non_null(ing_table_match(t, "x", 1, "/e", 2, &m));
	assert_null(m.path->canary);
	/* c1's /none has no main rule: a warning of this table on c1 (served second) */
	assert_string_equal(json_string_value(json_array_get(t->served, 1)), "ns1/c1");
	assert_non_null(strstr(t->warnings[1], "x/none"));
	assert_null(c->warnings); /* the Ingress' own annotations are valid */

	/* header: always / never / other (then weight, 0 here) */
	assert_true(ing_canary_chosen(c, "always", 6, NULL, 0, 0));
	assert_false(ing_canary_chosen(c, "never", 5, NULL, 0, 0));
	assert_false(ing_canary_chosen(c, "yes", 3, NULL, 0, 0));
	assert_false(ing_canary_chosen(c, NULL, 0, NULL, 0, 0));
	ing_table_unref(t);
}

/* canary decision: header value and pattern, cookie, weight, precedence. */
static void test_canary_decision(void **state)
{
	json_t *ing = j("{'metadata':{'annotations':{'nginx.ingress.kubernetes.io/canary':'true',"
			"'nginx.ingress.kubernetes.io/canary-by-header':'X-Beta',"
			"'nginx.ingress.kubernetes.io/canary-by-header-value':'yes',"
			"'nginx.ingress.kubernetes.io/canary-by-cookie':'beta',"
			"'nginx.ingress.kubernetes.io/canary-weight':'25'}}}");
	struct ing_annotations *a = ing_annotations_parse(ing);
	unsigned n = 0;

	assert_null(a->warnings);
	assert_int_equal(a->canary_weight, 25);
	assert_int_equal(a->canary_weight_total, 100);
	/* the header's value: canary; another value ("always" too): the next rules decide */
	assert_true(ing_canary_chosen(a, "yes", 3, "never", 5, 0));
	assert_false(ing_canary_chosen(a, "always", 6, "never", 5, 0));
	assert_true(ing_canary_chosen(a, "no", 2, "always", 6, UINT32_MAX));
	/* cookie never beats the weight; no header nor cookie: the weight */
	assert_false(ing_canary_chosen(a, NULL, 0, "never", 5, 0));
	for (uint32_t r = 0; r < 1000; r++)
		n += ing_canary_chosen(a, NULL, 0, "other", 5,
				       (uint32_t)(((uint64_t)r << 32) / 1000));
	assert_int_equal(n, 250);
	ing_annotations_free(a);
	json_decref(ing);

	ing = j("{'metadata':{'annotations':{'k8c.io/canary':'true',"
		"'k8c.io/canary-by-header':'x-v','k8c.io/canary-by-header-pattern':'^v(2|3)$',"
		"'k8c.io/canary-weight':'5','k8c.io/canary-weight-total':'10'}}}");
	a = ing_annotations_parse(ing);
	assert_null(a->warnings);
	assert_true(ing_canary_chosen(a, "v3", 2, NULL, 0, UINT32_MAX));
	assert_false(ing_canary_chosen(a, "v4", 2, NULL, 0, UINT32_MAX));
	assert_true(ing_canary_chosen(a, "v4", 2, NULL, 0, UINT32_MAX / 2 - 1)); /* 5 of 10 */
	assert_false(ing_canary_chosen(a, "v4", 2, NULL, 0, UINT32_MAX / 2 + 1));
	ing_annotations_free(a);
	json_decref(ing);

	/* invalid: weight over the total, a bad pattern */
	ing = j("{'metadata':{'annotations':{'k8c.io/canary':'true','k8c.io/canary-weight':'101',"
		"'k8c.io/canary-by-header':'h','k8c.io/canary-by-header-pattern':'('}}}");
	a = ing_annotations_parse(ing);
	assert_int_equal(a->canary_weight, 0);
	assert_null(a->canary_header_re);
	assert_non_null(strstr(a->warnings, "canary-weight '101'"));
	assert_non_null(strstr(a->warnings, "canary-by-header-pattern '('"));
	ing_annotations_free(a);
	json_decref(ing);
}

/* The whole table as text: hosts, rules, backends, defaults, TLS hosts, served, warnings. */
static void dump_backend(FILE *f, const struct ing_backend *b)
{
	if (!b) {
		fputs("-", f);
		return;
	}
	fprintf(f, "%s>%s:%s", b->ingress, b->service, b->port);
	if (b->error)
		fprintf(f, " error=\"%s\"", b->error);
	for (size_t i = 0; i < b->n_eps; i++)
		fprintf(f, " %s:%u", b->eps[i].addr, b->eps[i].port);
	fprintf(f, " rewrite=%s", b->ann->rewrite_target ? b->ann->rewrite_target : "-");
}

static void dump_host(FILE *f, const char *kind, const struct ing_host *h)
{
	fprintf(f, "%s %s fallback=", kind, h->name);
	dump_backend(f, h->fallback);
	fputc('\n', f);
	for (size_t i = 0; i < h->n_paths; i++) {
		const struct ing_path *p = &h->paths[i];
		fprintf(f, "  %s %s%s -> ", p->type == ING_PATH_EXACT ? "Exact" : "Prefix", p->path,
			p->re ? " (regex)" : "");
		dump_backend(f, p->backend);
		if (p->canary) {
			fputs(" canary ", f);
			dump_backend(f, p->canary);
			fprintf(f, " by header=%s",
				p->canary_by->canary_header ? p->canary_by->canary_header : "-");
		}
		fputc('\n', f);
	}
}

static char *dump(const struct ing_table *t)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	for (i = 0; i < t->n_exact; i++)
		dump_host(f, "host", &t->exact[i]);
	for (i = 0; i < t->n_wild; i++)
		dump_host(f, "wild", &t->wild[i]);
	if (t->has_any)
		dump_host(f, "any", &t->any);
	fputs("fallback ", f);
	dump_backend(f, t->fallback);
	fputc('\n', f);
	for (i = 0; i < t->n_backends; i++) {
		fputs("backend ", f);
		dump_backend(f, t->backends[i]);
		fputc('\n', f);
	}
	for (i = 0; i < t->n_tls_exact + t->n_tls_wild; i++) {
		const struct ing_tls_host *th =
			i < t->n_tls_exact ? &t->tls_exact[i] : &t->tls_wild[i - t->n_tls_exact];
		fprintf(f, "tls %s%s %s %s %d\n", i < t->n_tls_exact ? "" : "*.", th->name,
			th->secret, th->ingress, th->redirect);
	}
	for (i = 0; i < json_array_size(t->served); i++)
		fprintf(f, "served %s warnings=%s\n",
			json_string_value(json_array_get(t->served, i)),
			t->warnings[i] ? t->warnings[i] : "-");
	fclose(f);
	return buf;
}

/* An informer-like cache: key "ns/name" → object. */
static json_t *cache_of(const char *array)
{
	json_t *a = j(array), *c = json_object(), *v;
	size_t i;

	json_array_foreach(a, i, v)
	{
		char key[256];
		snprintf(
			key, sizeof(key), "%s/%s",
			json_string_value(
				json_object_get(json_object_get(v, "metadata"), "namespace")),
			json_string_value(json_object_get(json_object_get(v, "metadata"), "name")));
		json_object_set(c, key, v);
	}
	json_decref(a);
	return c;
}

/*
 * One incremental build against a full build of the same collections: the same table, and the
 * number of Ingresses it compiled. changed: the keys changed since the last build (a JSON
 * object, as k8c-ingress passes its deltas; consumed), or NULL (all compared); changed_svcs,
 * changed_slices: the Services' and EndpointSlices' (consumed), or NULL (all resolved).
 */
static struct ing_table *build_both_keys(struct ing_builder *b, json_t *changed,
					 json_t *changed_svcs, json_t *changed_slices, json_t *ings,
					 json_t *classes, json_t *svcs, json_t *slices,
					 size_t want_compiled, size_t want_removed)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct ing_build_opts opts = {.changed = changed,
				      .changed_services = changed_svcs,
				      .changed_slices = changed_slices};
	struct ing_table *inc = ing_builder_build(b, ings, classes, svcs, slices, &opts, &err);
	struct ing_table *full = ing_table_build(ings, classes, svcs, slices, NULL, &err);
	struct ing_build_stats st;
	char *x = dump(inc), *y = dump(full);

	if (strcmp(x, y)) {
		size_t i = 0, l = 0;
		while (x[i] == y[i])
			if (x[i++] == '\n')
				l = i;
		if (getenv("DUMP_DIR")) {
			char path[512];
			FILE *f;
			snprintf(path, sizeof(path), "%s/inc", getenv("DUMP_DIR"));
			f = fopen(path, "w");
			fputs(x, f);
			fclose(f);
			snprintf(path, sizeof(path), "%s/full", getenv("DUMP_DIR"));
			f = fopen(path, "w");
			fputs(y, f);
			fclose(f);
		}
		fail_msg("incremental and full differ from line\n%.300s\nfull:\n%.300s", x + l,
			 y + l);
	}
	ing_builder_stats(b, &st);
	json_decref(changed);
	json_decref(changed_svcs);
	json_decref(changed_slices);
	assert_int_equal(json_array_size(st.added_keys), st.compiled);
	assert_int_equal(json_array_size(st.removed_keys), st.removed);
	if (st.compiled != want_compiled || st.removed != want_removed)
		fail_msg("compiled %zu removed %zu, want %zu and %zu", st.compiled, st.removed,
			 want_compiled, want_removed);
	free(x);
	free(y);
	ing_table_unref(full);
	return inc;
}

static struct ing_table *build_both(struct ing_builder *b, json_t *changed, json_t *ings,
				    json_t *classes, json_t *svcs, json_t *slices,
				    size_t want_compiled, size_t want_removed)
{
	return build_both_keys(b, changed, NULL, NULL, ings, classes, svcs, slices, want_compiled,
			       want_removed);
}

/* A JSON object with the space-separated keys of s. */
static json_t *keys(const char *s)
{
	json_t *o = json_object();
	char *copy = strdup(s), *save = NULL;

	for (char *k = strtok_r(copy, " ", &save); k; k = strtok_r(NULL, " ", &save))
		json_object_set_new(o, k, json_true());
	free(copy);
	return o;
}

#define ING_TS(name, ts)                                                                           \
	"{'metadata':{'namespace':'ns1','name':'" name "','creationTimestamp':'" ts "'"

/* Changed, added and deleted Ingresses, classes, Services and EndpointSlices: as a full build. */
static void test_incremental(void **state)
{
	json_t *classes = j(CLASSES), *svcs = j(SERVICES), *slices = j(SLICES);
	json_t *ings = cache_of("[" ING("a", "2026-01-01T00:00:00Z", "x", P("/", "Prefix", "a") "," P("/e", "Exact", "b")) "," ING(
		"b", "2026-01-02T00:00:00Z", "x",
		P("/", "Prefix", "b") "," P(
			"/b", "Prefix",
			"b")) "," ING("w", "2026-01-03T00:00:00Z", "*.w.test",
				      P("/", "Prefix",
					"a")) "," CANARY("c",
							 "2026-01-04T00:00:00Z", ",'k8c.io/canary-by-header':'X-C'",
							 "x",
							 P("/", "Prefix", "empty") "," P(
								 "/none", "Prefix",
								 "b")) "," ING_TS("d",
										  "2026-01-05T00:"
										  "00:00Z") ",'"
											    "annota"
											    "tions'"
											    ":{'"
											    "k8c."
											    "io/"
											    "use-"
											    "regex'"
											    ":'"
											    "true',"
											    "'k8c."
											    "io/"
											    "rewrit"
											    "e-"
											    "target"
											    "':'/"
											    "$1','"
											    "k8c."
											    "io/"
											    "limit-"
											    "rps':'"
											    "x'}},"
											    "'spec'"
											    ":{'"
											    "ingres"
											    "sClass"
											    "Name':"
											    "'k8c',"
											    "'defau"
											    "ltBack"
											    "end'"
											    ":" BK("b") ",'tls':[{'hosts':['d.test'],'secretName':'d-cert'}],'rules':[{'host':'d.test','http':{'paths':[" P(
												    "/r/(.*)",
												    "Prefix",
												    "a") "," P("/bad(",
													       "Prefix",
													       "a") "]}},{'host':'d2.test'}]}}"
														    "," ING_TS("o", "2026-01-06T00:00:00Z") "},'spec':{'ingressClassName':'nginx','rules':[{'host':'x','http':{'paths':[" P(
															    "/o",
															    "Prefix",
															    "a") "]}}]}}"
																 "]");
	struct ing_builder *b = ing_builder_new();
	struct ing_table *t0, *t;
	struct ing_build_stats st;
	json_t *v;

	t0 = build_both(b, NULL, ings, classes, svcs, slices, 5, 0); /* not o (class nginx) */
	assert_route(t0, "x", "/b/1", "ns1/b ns1/b /b");
	assert_route(t0, "d.test", "/r/q", "ns1/d ns1/a /r/(.*)");

	/* a status change alone: nothing compiled */
	v = json_deep_copy(json_object_get(ings, "ns1/a"));
	json_object_set_new(v, "status", j("{'loadBalancer':{'ingress':[{'ip':'1.2.3.4'}]}}"));
	json_object_set_new(ings, "ns1/a", v);
	t = build_both(b, keys(""), ings, classes, svcs, slices, 0, 0);
	ing_table_unref(t);
	/* and told of it (as k8c-ingress does on such an update) */
	v = json_deep_copy(json_object_get(ings, "ns1/a"));
	json_object_set_new(v, "status", j("{'loadBalancer':{'ingress':[{'ip':'1.2.3.5'}]}}"));
	ing_builder_refresh(b, "ns1/a", json_object_get(ings, "ns1/a"), v);
	json_object_set_new(ings, "ns1/a", v);
	t = build_both(b, NULL, ings, classes, svcs, slices, 0, 0);
	ing_table_unref(t);

	/* a changed Ingress (b gets a new path and loses /b), an added one on an existing host
	 * and a new host, a deleted one (w) */
	json_object_set_new(ings, "ns1/b",
			    j(ING("b", "2026-01-02T00:00:00Z", "x",
				  P("/", "Prefix", "b") "," P("/new", "Exact", "a"))));
	json_object_set_new(ings, "ns1/n",
			    j(ING("n", "2025-12-31T00:00:00Z", "x",
				  P("/", "Prefix", "empty") "," P("/n", "Prefix", "a"))));
	json_object_set_new(ings, "ns1/m",
			    j(ING("m", "2026-02-01T00:00:00Z", "m.test", P("/", "Prefix", "a"))));
	json_object_del(ings, "ns1/w");
	t = build_both(b, keys("ns1/b ns1/n ns1/m ns1/w"), ings, classes, svcs, slices, 3, 2);
	ing_builder_stats(b, &st);
	assert_true(st.by_keys);			/* only the four keys were looked at */
	assert_route(t, "x", "/", "ns1/n ns1/empty /"); /* n is older than a now */
	assert_route(t, "x", "/b/1", "ns1/n ns1/empty /");
	assert_route(t, "x", "/new", "ns1/b ns1/a /new");
	assert_route(t, "m.test", "/", "ns1/m ns1/a /");
	assert_route(t, "q.w.test", "/", "ns1/d ns1/b default"); /* w is gone */
	/* the first table is untouched: its Ingresses' rules live as long as it does */
	assert_route(t0, "x", "/b/1", "ns1/b ns1/b /b");
	assert_route(t0, "q.w.test", "/", "ns1/w ns1/a /");
	ing_table_unref(t0);
	ing_table_unref(t);

	/* the class nginx becomes ours (o is compiled and served), then goes (o dropped) */
	json_decref(classes);
	classes = j("[{'metadata':{'name':'k8c'},'spec':{'controller':'k8c.io/ingress'}},"
		    "{'metadata':{'name':'nginx'},'spec':{'controller':'k8c.io/ingress'}}]");
	t0 = build_both(b, keys(""), ings, classes, svcs, slices, 1, 0); /* all: classes */
	ing_builder_stats(b, &st);
	assert_false(st.by_keys); /* the classes changed: all compared */
	assert_route(t0, "x", "/o", "ns1/o ns1/a /o");
	json_decref(classes);
	classes = j(CLASSES);
	t = build_both(b, keys(""), ings, classes, svcs, slices, 0, 1);
	assert_route(t, "x", "/o", "ns1/n ns1/empty /");
	ing_table_unref(t);

	/* endpoints and Services change: nothing compiled, the backends follow */
	json_decref(slices);
	slices = j("[{'metadata':{'namespace':'ns1','name':'e-1','labels':{'kubernetes.io/"
		   "service-name':'empty'}},'addressType':'IPv4','ports':[{'port':9003}],"
		   "'endpoints':[{'addresses':['127.0.0.9']}]}]");
	json_decref(svcs);
	svcs = j(
		"[{'metadata':{'namespace':'ns1','name':'empty'},'spec':{'ports':[{'port':80}]}}]");
	t = build_both(b, keys(""), ings, classes, svcs, slices, 0, 0);
	{
		struct ing_match m;
		assert_non_null(ing_table_match(t, "x", 1, "/", 1, &m));
		assert_int_equal(m.backend->n_eps, 1);
		assert_string_equal(m.backend->eps[0].addr, "127.0.0.9");
		assert_non_null(ing_table_match(t, "x", 1, "/n", 2, &m));
		assert_string_equal(m.backend->error, "service ns1/a not found");
	}
	ing_table_unref(t);

	/* every Ingress deleted, then the builder freed while a table is still in use */
	json_object_clear(ings);
	t = build_both(b, keys("ns1/a ns1/b ns1/c ns1/d ns1/m ns1/n ns1/o"), ings, classes, svcs,
		       slices, 0, 6);
	assert_int_equal(t->n_exact + t->n_wild, 0);
	ing_table_unref(t);
	json_object_set_new(ings, "ns1/a",
			    j(ING("a", "2026-01-01T00:00:00Z", "x", P("/", "Prefix", "a"))));
	t = build_both(b, keys("ns1/a"), ings, classes, svcs, slices, 1, 0);
	ing_builder_free(b);
	assert_route(t, "x", "/", "ns1/a ns1/a /");
	ing_table_unref(t);
	ing_table_unref(t0);
	json_decref(ings);
	json_decref(classes);
	json_decref(svcs);
	json_decref(slices);
}

/* Many Ingresses, changed a few at a time in random order: always as a full build. */
static void test_incremental_many(void **state)
{
	json_t *classes = j(CLASSES), *svcs = j(SERVICES), *slices = j(SLICES),
	       *ings = json_object();
	json_t *ours = json_object(); /* key → whether its current version is of our class */
	struct ing_builder *b = ing_builder_new();
	unsigned seed = 42;

	for (int round = 0; round < 40; round++) {
		size_t changes = round == 0 ? 200 : 1 + rand_r(&seed) % 5, compiled = 0,
		       removed = 0;
		struct ing_table *t;
		json_t *fresh = json_object();

		for (size_t c = 0; c < changes; c++) {
			unsigned k = rand_r(&seed) % 150;
			char key[32], name[16], text[1024], tls[160];
			bool had;

			snprintf(name, sizeof(name), "i%u", k);
			snprintf(key, sizeof(key), "ns1/%s", name);
			if (json_object_get(fresh, key))
				continue; /* once per round: the counts below stay simple */
			had = json_is_true(json_object_get(ours, key));
			if (json_object_get(ings, key) && rand_r(&seed) % 3 == 0) {
				json_object_del(ings, key);
				json_object_del(ours, key);
				removed += had;
				json_object_set_new(fresh, key, json_true());
				continue;
			}
			/* TLS hosts shared by several Ingresses (the oldest one's Secret wins) */
			tls[0] = '\0';
			if (rand_r(&seed) % 2)
				snprintf(tls, sizeof(tls),
					 "'tls':[{'hosts':['%sh%u.test','t%u.test'],'secretName':'"
					 "c%u'}],",
					 rand_r(&seed) % 4 ? "" : "*.", rand_r(&seed) % 20,
					 rand_r(&seed) % 5, rand_r(&seed) % 3);
			/* hosts shared by several Ingresses, paths that tie, wildcards, classes */
			snprintf(text, sizeof(text),
				 "{'metadata':{'namespace':'ns1','name':'%s','creationTimestamp':"
				 "'2026-01-%02uT00:00:00Z'},'spec':{'ingressClassName':'%s',%s"
				 "'rules':[{'host':'%sh%u.test','http':{'paths':[{'path':'/%u',"
				 "'pathType':'%s','backend':" BK("%s") "}]}}]}}",
				 name, 1 + rand_r(&seed) % 28, rand_r(&seed) % 7 ? "k8c" : "nginx",
				 tls, rand_r(&seed) % 4 ? "" : "*.", rand_r(&seed) % 20,
				 rand_r(&seed) % 3, rand_r(&seed) % 2 ? "Prefix" : "Exact",
				 rand_r(&seed) % 2 ? "a" : "b");
			json_object_set_new(ings, key, j(text));
			json_object_set_new(ours, key, json_boolean(strstr(text, "'k8c'") != NULL));
			compiled += strstr(text, "'k8c'") != NULL;
			removed += had;
			json_object_set_new(fresh, key, json_true());
		}
		t = build_both(b, round % 2 ? json_incref(fresh) : NULL, ings, classes, svcs,
			       slices, compiled, removed);
		ing_table_unref(t);
		json_decref(fresh);
	}
	ing_builder_free(b);
	json_decref(ings);
	json_decref(ours);
	json_decref(classes);
	json_decref(svcs);
	json_decref(slices);
}

/*
 * Services and EndpointSlices added, changed (ports, endpoints, readiness, the Service label)
 * and deleted at random, told to the builder by key: the Service ports it reuses and those it
 * resolves again give the same table as a full build; nothing changed, nothing is resolved.
 */
static void test_incremental_endpoints(void **state)
{
	json_t *classes = j(CLASSES), *svcs = json_object(), *slices = json_object(),
	       *ings = json_object();
	struct ing_builder *b = ing_builder_new();
	struct ing_build_stats st;
	struct ing_table *t;
	unsigned seed = 7;

	/* 40 Ingresses over Services s0..s5, by port number 80 or by name "http" */
	for (unsigned i = 0; i < 40; i++) {
		char key[32], text[1024];

		snprintf(key, sizeof(key), "ns1/i%u", i);
		snprintf(text, sizeof(text),
			 "{'metadata':{'namespace':'ns1','name':'i%u','creationTimestamp':"
			 "'2026-01-%02uT00:00:00Z'},'spec':{'ingressClassName':'k8c',"
			 "'rules':[{'host':'h%u.test','http':{'paths':[{'path':'/','pathType':"
			 "'Prefix','backend':{'service':{'name':'s%u','port':{%s}}}}]}}]}}",
			 i, 1 + i % 28, i % 9, i % 6, i % 2 ? "'number':80" : "'name':'http'");
		json_object_set_new(ings, key, j(text));
	}
	t = build_both_keys(b, NULL, json_object(), json_object(), ings, classes, svcs, slices, 40,
			    0);
	ing_table_unref(t);
	for (int round = 0; round < 60; round++) {
		json_t *csvcs = json_object(), *cslices = json_object();
		size_t changes = round % 5 == 4 ? 0 : 1 + rand_r(&seed) % 3;

		for (size_t c = 0; c < changes; c++) {
			unsigned k = rand_r(&seed) % 7, what = rand_r(&seed) % 4;
			char key[32], text[1024];

			if (what ==
			    0) { /* a Service: added/changed (its port's name), or deleted */
				snprintf(key, sizeof(key), "ns1/s%u", k);
				if (rand_r(&seed) % 4 == 0) {
					json_object_del(svcs, key);
				} else {
					snprintf(text, sizeof(text),
						 "{'metadata':{'namespace':'ns1','name':'s%u'},"
						 "'spec':{'ports':[{'name':'%s','port':80}]}}",
						 k, rand_r(&seed) % 3 ? "http" : "web");
					json_object_set_new(svcs, key, j(text));
				}
				json_object_set_new(csvcs, key, json_true());
				continue;
			}
			/* an EndpointSlice s<k>-<n>: its Service (label) may change too */
			snprintf(key, sizeof(key), "ns1/e%u-%u", k, what);
			if (rand_r(&seed) % 4 == 0) {
				json_object_del(slices, key);
			} else {
				unsigned svc = rand_r(&seed) % 5 ? k : (unsigned)rand_r(&seed) % 7;
				snprintf(
					text, sizeof(text),
					"{'metadata':{'namespace':'ns1','name':'e%u-%u','labels':{"
					"'kubernetes.io/service-name':'s%u'}},'addressType':'IPv4',"
					"'ports':[{'name':'http','port':%u}],'endpoints':["
					"{'addresses':['10.0.%u.1'],'conditions':{'ready':%s}},"
					"{'addresses':['10.0.%u.2']}]}",
					k, what, svc, 9000 + rand_r(&seed) % 3, k * 4 + what,
					rand_r(&seed) % 3 ? "true" : "false", k * 4 + what);
				json_object_set_new(slices, key, j(text));
			}
			json_object_set_new(cslices, key, json_true());
		}
		t = build_both_keys(b, json_object(), csvcs, cslices, ings, classes, svcs, slices,
				    0, 0);
		ing_builder_stats(b, &st);
		if (!changes)
			assert_int_equal(st.resolved, 0);
		ing_table_unref(t);
	}
	/* without the keys: every Service port (6 distinct: s0..s5, each by one kind) is resolved
	 * again */
	t = build_both_keys(b, json_object(), NULL, NULL, ings, classes, svcs, slices, 0, 0);
	ing_builder_stats(b, &st);
	assert_int_equal(st.resolved, 6);
	ing_table_unref(t);
	ing_builder_free(b);
	json_decref(ings);
	json_decref(classes);
	json_decref(svcs);
	json_decref(slices);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_examples),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_merge_and_defaults),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_tls_hosts),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_regex_rewrite),
		cmocka_unit_test(test_canary),
		cmocka_unit_test(test_canary_decision),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_incremental_many),
		cmocka_unit_test(test_incremental_endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

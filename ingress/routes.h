/*
 * The Ingress route table: an immutable snapshot built from the informers' caches (Ingresses,
 * IngressClasses, Services, EndpointSlices) and matched on every request (docs/ingress.md).
 *
 * Pure C + jansson, no I/O: ing_table_build() reads JSON collections (an informer cache, a JSON
 * object key → object, or an array of objects) and returns a table that never changes afterwards
 * except for the round-robin counters (atomics). Tables are reference counted so that the serving
 * threads can keep the one they started a request on while the builder publishes a new one.
 *
 * Incremental builds (struct ing_builder): each Ingress is parsed and compiled once (its rules,
 * regexes, annotations, TLS hosts and backend references: a "unit", reference counted) and kept
 * between builds keyed by "ns/name" and the cached object; a build compiles only the Ingresses
 * that changed, and each table holds references to the units it routes with and borrows their
 * strings, so a table costs pointer arrays (hosts, paths, backends) over units shared with the
 * previous tables, and a unit is freed with the last table that uses it.
 */
#ifndef K8C_INGRESS_ROUTES_H
#define K8C_INGRESS_ROUTES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <regex.h>

#include "error.h"

#define ING_DEFAULT_CONTROLLER "k8c.io/ingress"

enum ing_path_type {
	ING_PATH_EXACT,
	ING_PATH_PREFIX, /* ImplementationSpecific is Prefix too */
};

struct ing_endpoint {
	char addr[48]; /* IPv4 or IPv6 literal, without brackets */
	uint16_t port;
};

/* An address range of whitelist-source-range. */
struct ing_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

/*
 * The annotations of one Ingress (k8c.io/NAME, else nginx.ingress.kubernetes.io/NAME), shared by
 * its backends. An invalid value is ignored with a warning in `warnings` (logged, and an Event).
 */
struct ing_annotations {
	bool force_ssl_redirect, use_regex, enable_cors, affinity_cookie, backend_https;
	char *rewrite_target;	     /* NULL: none */
	long long body_max;	     /* proxy-body-size in bytes, -1: unset, 0: unlimited */
	unsigned connect_timeout_ms; /* proxy-connect-timeout, 0: the flag's */
	unsigned read_timeout_ms;    /* proxy-read-timeout, 0: h2o's default */
	struct ing_cidr *allow;	     /* whitelist-source-range (allow_set): only these */
	size_t n_allow;
	bool allow_set;
	unsigned limit_rps; /* 0: none */
	char *cookie_name;  /* session-cookie-name, default INGRESSCOOKIE */
	/* canary: this Ingress' rules are alternatives of the main Ingress' same host and path */
	bool canary;
	char *canary_header;	   /* canary-by-header, lower case, NULL: none */
	char *canary_header_value; /* canary-by-header-value, NULL: none */
	regex_t *canary_header_re; /* canary-by-header-pattern (when no -value), NULL: none */
	char *canary_cookie;	   /* canary-by-cookie, NULL: none */
	unsigned canary_weight, canary_weight_total; /* canary-weight (0), -total (100) */
	char *warnings;				     /* "; "-joined, NULL when none */
};

/*
 * Where a rule sends its requests: a Service port resolved to its ready endpoints. Made per
 * table; its strings belong to the table's units (or its resolved Service ports).
 */
struct ing_backend {
	const char *ingress;	  /* "ns/name" of the Ingress it comes from */
	const char *service;	  /* "ns/name" */
	const char *port;	  /* the Service port as written: "80" or "http" */
	const char *error;	  /* why it cannot be served (missing Service or port), else NULL */
	struct ing_endpoint *eps; /* ready endpoints; none: 503 */
	size_t n_eps;
	atomic_uint rr;
	const struct ing_annotations *ann; /* of its Ingress, never NULL */
};

struct ing_path {
	const char *path; /* normalized: a Prefix path has no trailing slash (but "/") */
	size_t len;
	enum ing_path_type type;
	struct ing_backend *backend;
	regex_t *re; /* use-regex (not Exact): POSIX ERE anchored at the start, case-insensitive */
	/* the rule of a canary Ingress with the same host, path and pathType, or NULL: its backend
	 * (with this rule's annotations, as ingress-nginx's canaries inherit the main Ingress'),
	 * and the canary Ingress' annotations that choose it (ing_canary_chosen) */
	struct ing_backend *canary;
	const struct ing_annotations *canary_by;
};

struct ing_host {
	const char *name; /* lower case; for a wildcard "*.foo.com" the key is "foo.com" */
	struct ing_path
		*paths; /* by precedence: longest first, Exact before Prefix, oldest first */
	size_t n_paths;
	struct ing_backend
		*fallback; /* defaultBackend of the oldest Ingress of this host, or NULL */
};

/* A TLS host of spec.tls[]: the Secret whose certificate answers its SNI name. */
struct ing_tls_host {
	const char *name;    /* lower case; a wildcard "*.foo.com" is keyed "foo.com" */
	const char *secret;  /* "ns/name" */
	const char *ingress; /* "ns/name" of the Ingress whose spec.tls names it */
	void *ctx;	     /* filled after the build by whoever loads certificates (an SSL_CTX) */
	bool redirect; /* HTTP requests get 308 to HTTPS (ssl-redirect, unless annotated "false") */
};

struct ing_unit;     /* one compiled Ingress (routes.c) */
struct ing_resolved; /* one Service port resolved to endpoints (routes.c) */

struct ing_table {
	atomic_long refs;
	unsigned long generation;
	struct ing_host *exact; /* sorted by name (binary search) */
	size_t n_exact;
	struct ing_host *wild; /* keyed by parent domain, sorted */
	size_t n_wild;
	struct ing_host any; /* rules without a host */
	bool has_any;
	struct ing_backend *fallback;  /* defaultBackend of the oldest Ingress that has one */
	struct ing_backend **backends; /* every backend (in bk) */
	size_t n_backends;
	json_t *served; /* array of "ns/name" of the Ingresses of our class, oldest first */
	struct ing_annotations **anns; /* one per served Ingress (its unit's) */
	size_t n_anns;
	char **warnings; /* per served Ingress: its annotations' and this build's warnings, or NULL */
	/* owned: the units used (references), the arrays the above point into */
	struct ing_unit **units;
	size_t n_units;
	struct ing_path *all_paths;
	struct ing_backend *bk;
	struct ing_resolved **resolved; /* references: the Service ports its backends resolved */
	size_t n_resolved;
	struct ing_tls_host *tls_exact, *tls_wild; /* sorted by name; the oldest Ingress wins */
	size_t n_tls_exact, n_tls_wild;
	void (*ctx_free)(void *ctx); /* frees each ing_tls_host.ctx with the table */
	void *default_ctx; /* --default-ssl-certificate's, filled after the build, or NULL */
};

struct ing_build_opts {
	const char *controller; /* spec.controller of our IngressClasses; NULL: the default */
	unsigned long generation;
	/*
	 * ing_builder_build: a JSON object whose keys are the Ingresses added, changed or deleted
	 * since the builder's last build (an informer's deltas; a status-only update may be left
	 * out): only those are looked at. NULL: every Ingress is compared (so is every one on a
	 * builder's first build and when our IngressClasses changed).
	 */
	json_t *changed;
	/*
	 * ing_builder_build: the keys ("ns/name") of the Services and of the EndpointSlices added,
	 * changed or deleted since the builder's last build (informers' deltas). With both (and
	 * informer caches: JSON objects), a Service port resolved by an earlier build is reused
	 * unless its Service or one of its EndpointSlices is among them; NULL: every Service port
	 * is resolved again (and the EndpointSlices indexed by Service again).
	 */
	json_t *changed_services, *changed_slices;
};

/*
 * Collections: a JSON object (key → object, as an informer cache: namespaced objects keyed
 * "ns/name") or an array; NULL: empty. A full build (no state kept).
 */
struct ing_table *ing_table_build(json_t *ingresses, json_t *classes, json_t *services,
				  json_t *slices, const struct ing_build_opts *opts,
				  struct k8c_error *err);

/*
 * The incremental builder: ing_builder_build() takes the same collections as ing_table_build()
 * and gives the same table, compiling only the Ingresses of our classes that are new or changed
 * since its last build (an Ingress whose cached object is the same pointer, or differs in its
 * status or resourceVersion alone, is reused; Ingresses of other classes are not kept). A
 * Service port is resolved to endpoints once and shared by the tables until its Service or one
 * of its EndpointSlices changes (opts->changed_services, changed_slices; without them, on every
 * build). Tables it made stay valid after ing_builder_free().
 */
struct ing_builder;
struct ing_build_stats {
	size_t compiled; /* Ingresses parsed and compiled by the last build */
	size_t reused;	 /* Ingresses reused from an earlier build */
	size_t removed;	 /* compiled Ingresses dropped (deleted or changed) */
	/* arrays of "ns/name" (borrowed, until the next build): the Ingresses compiled (new,
	 * changed, or now of our classes) and those dropped (deleted, changed, or not of our
	 * classes any more); a changed one is in both. The served set changed by these alone. */
	json_t *added_keys, *removed_keys;
	bool by_keys;	 /* only the changed keys were looked at */
	size_t resolved; /* Service ports resolved to endpoints by the last build (not reused) */
};
struct ing_builder *ing_builder_new(void);
void ing_builder_free(struct ing_builder *b);
struct ing_table *ing_builder_build(struct ing_builder *b, json_t *ingresses, json_t *classes,
				    json_t *services, json_t *slices,
				    const struct ing_build_opts *opts, struct k8c_error *err);
void ing_builder_stats(const struct ing_builder *b, struct ing_build_stats *out);
/*
 * Optional, for an update of the Ingress cached under key that changed its status alone: a
 * compiled Ingress that still holds old takes new instead, so that old is freed now and the
 * next build finds the same pointer (else it compares the two then).
 */
void ing_builder_refresh(struct ing_builder *b, const char *key, json_t *old, json_t *new);
struct ing_table *ing_table_ref(struct ing_table *t);
void ing_table_unref(struct ing_table *t);

#define ING_MAX_GROUPS 10

struct ing_match {
	const struct ing_backend *backend; /* NULL: 404 */
	const struct ing_path *path;	   /* the rule that matched; NULL for a defaultBackend */
	const struct ing_host *host;	   /* NULL when no host entry matched */
	regmatch_t groups[ING_MAX_GROUPS]; /* of a regex path: $0..$9 */
};

/*
 * The path rewrite-target makes of the request path (without the query) that m matched, into
 * out (NUL-terminated): as nginx's rewrite, the target replaces the whole path, with $0..$9
 * replaced by the groups of a regex path (by nothing for other paths). Returns the length, or -1
 * when it does not fit or is not a path (does not start with '/').
 */
long ing_rewrite(const struct ing_match *m, const char *target, const char *path, size_t len,
		 char *out, size_t size);

/*
 * Whether a request goes to the canary, as ingress-nginx decides: canary-by-header first (the
 * header equal to canary-by-header-value, or matching canary-by-header-pattern: canary; without
 * either, "always": canary, "never": not; any other value or no header: next rule), then
 * canary-by-cookie ("always", "never", else next), then canary-weight out of
 * canary-weight-total with random (uniform over 32 bits). header and cookie are the request's
 * values (NULL when absent).
 */
bool ing_canary_chosen(const struct ing_annotations *c, const char *header, size_t header_len,
		       const char *cookie, size_t cookie_len, uint32_t random);

/* Parse the annotations of an Ingress (exposed for tests); free with ing_annotations_free. */
struct ing_annotations *ing_annotations_parse(const json_t *ingress);
void ing_annotations_free(struct ing_annotations *a);

/*
 * Route one request: host as the client sent it (Host or :authority, a ":port" is ignored, case
 * is not significant), path without the query (a '?' ends it). Returns m->backend or NULL.
 */
const struct ing_backend *ing_table_match(const struct ing_table *t, const char *host,
					  size_t host_len, const char *path, size_t path_len,
					  struct ing_match *m);

/* The TLS host for an SNI name (exact first, then a single-label wildcard), or NULL. */
const struct ing_tls_host *ing_table_tls(const struct ing_table *t, const char *name);

/* The next endpoint in round robin, or NULL when the backend has none. Thread-safe. */
const struct ing_endpoint *ing_backend_pick(const struct ing_backend *b);

/*
 * Informer transforms (k8c_transform_fn): reduced copies holding only what the build, the
 * status writer and the Events read, so that 10,000 Ingresses fit in little memory. Ingresses
 * keep metadata name/namespace/uid/resourceVersion/creationTimestamp and the annotations of
 * ours, ingress-nginx's and the legacy class, spec and status; Services metadata and
 * spec.ports; EndpointSlices metadata (with the service-name label), addressType, ports and
 * endpoints' addresses and ready condition.
 */
json_t *ing_ingress_transform(json_t *obj);
json_t *ing_service_transform(json_t *obj);
json_t *ing_slice_transform(json_t *obj);

/*
 * Whether two versions of a cached Ingress differ in their status and resourceVersion alone
 * (spec, name, namespace, uid, creationTimestamp and annotations equal): nothing to rebuild.
 */
bool ing_status_change_only(const json_t *a, const json_t *b);

/* Whether an Ingress belongs to the IngressClasses of controller (exposed for tests). */
bool ing_is_ours(const json_t *ingress, json_t *classes, const char *controller);

/* Whether a request path matches one rule path (exposed for tests). */
bool ing_path_matches(const struct ing_path *p, const char *path, size_t len);

#endif

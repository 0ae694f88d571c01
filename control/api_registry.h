/*
 * The resource registry: one table entry per served resource (group, version, names, scope,
 * verbs, Table columns, defaulting, validation). The generic handlers (api_resource.c) and
 * discovery (api.c) are driven by it. Everything here is pure JSON work, without HTTP or store,
 * so that it can be unit-tested (tests/unit/test_api_core.c).
 */
#ifndef K8C_API_REGISTRY_H
#define K8C_API_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* What a resource's metadata.name must be. */
enum api_name_rule {
	API_NAME_SUBDOMAIN,    /* DNS-1123 subdomain (most resources) */
	API_NAME_LABEL,	       /* DNS-1123 label (namespaces) */
	API_NAME_LABEL1035,    /* DNS-1035 label: starts with a letter (services) */
	API_NAME_PATH_SEGMENT, /* anything but "." and ".." without '/' or '%' (RBAC objects) */
};

/* One Table column: priority 1 columns are shown by `-o wide` only. */
struct api_column {
	const char *name, *type, *format;
	int priority;
};

struct store;

struct api_resource {
	const char *group, *version; /* "" and "v1" for the core group */
	const char *resource, *singular, *kind;
	bool namespaced;
	bool has_status;	  /* status changes through /status only; updates keep it */
	bool create_keeps_status; /* a create may set the status (nodes); else it is reset */
	bool has_scale;		  /* a /scale subresource (autoscaling/v1 Scale of spec.replicas) */
	/* The store's name of the collection, /registry/<store_name>/...; NULL: resource. */
	const char *store_name;
	enum api_name_rule name_rule;
	const char *const *short_names; /* NULL-terminated; NULL for none */
	const char *const *categories;
	const struct api_column *columns; /* terminated by {NULL} */
	/* The cells of obj's row, one per column (a new array). */
	json_t *(*cells)(const json_t *obj);
	/* Fill in defaults on create and on update (as kube-apiserver's defaulting on decode). */
	void (*defaults)(json_t *obj);
	/* What the server sets on create only (status.phase Pending...). May be NULL. */
	void (*on_create)(json_t *obj);
	/*
	 * Append causes ({reason, message, field}) for what is wrong with obj; old is the stored
	 * version on update, NULL on create. May be NULL. Name checks are generic.
	 */
	void (*validate)(const json_t *obj, const json_t *old, json_t *causes);
	/* On update: carry over from old what a client cannot change here (NULL: nothing). */
	void (*on_update)(json_t *obj, const json_t *old);
	const char *const *verbs; /* NULL: all, deletecollection included */
	/*
	 * After validation, on create (old NULL) and update: take what the object needs from the
	 * store (a ClusterIP, NodePorts), keeping what old holds.
	 */
	int (*allocate)(struct store *store, json_t *obj, const json_t *old, json_t *causes);
	/*
	 * A legacy version stored as another (extensions/v1beta1 Ingress as networking.k8s.io/v1,
	 * under the same store_name): to_storage converts a request body in place after its
	 * kind/apiVersion checks, from_storage an object on its way out. The other hooks
	 * (defaults, validate, cells) see the stored version. NULL for the others.
	 */
	void (*to_storage)(json_t *obj);
	void (*from_storage)(json_t *obj);
};

/* The core group's entries (api_core.c), in discovery order; api_registry_n entries. */
extern const struct api_resource api_registry[];
extern const size_t api_registry_n;

/* The named groups' entries (api_groups.c): apps, networking.k8s.io, rbac... */
extern const struct api_resource api_registry_groups[];
extern const size_t api_registry_groups_n;

/* Every entry, core first: i < api_registry_count(). */
size_t api_registry_count(void);
const struct api_resource *api_registry_at(size_t i);

/* The core entry of a resource by plural name, or NULL. */
const struct api_resource *api_registry_find(const char *resource, size_t len);

/* The entry of group/version/resource ("" for the core group), or NULL. */
const struct api_resource *api_registry_lookup(const char *group, const char *version,
					       const char *resource, size_t len);

/* The APIResourceList of the core group (a new object). */
json_t *api_registry_discovery(void);

/* The APIResourceList of group/version (a new object), NULL when nothing is served there. */
json_t *api_registry_discovery_gv(const char *group, const char *version);

/* The APIGroupList of the named groups (a new object). */
json_t *api_registry_group_list(void);

/* The APIGroup of a named group (a new object), or NULL. */
json_t *api_registry_group(const char *group);

/* r's apiVersion, "v1" or "group/version" (malloc'd). */
char *api_registry_api_version(const struct api_resource *r);

/* The collection's name in the store keys (/registry/<name>/...). */
const char *api_registry_store_name(const struct api_resource *r);

/* The Table columnDefinitions of r (a new array). */
json_t *api_registry_columns(const struct api_resource *r);

/* NULL when s is a valid name under rule, else the message of kube's validation. */
const char *api_name_error(enum api_name_rule rule, const char *s);

/* Append a cause: reason "FieldValueInvalid" (value given), "FieldValueRequired"... */
void api_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Allocate a Service's ClusterIP (or check the requested one) and, for types NodePort and
 * LoadBalancer, its NodePorts; old is the stored version on update (its allocations are kept;
 * NodePorts are dropped when the type goes back to ClusterIP). <0 with causes on failure.
 */
int api_services_allocate(struct store *store, json_t *svc, const json_t *old, json_t *causes);
/*
 * After the store write (done or failed) that followed an allocate on this thread: what it
 * reserved is in the store now (or not taken), so other threads may hand it out again.
 */
void api_services_settle(void);
/* Close the store watch of the allocator (before the store is closed). */
void api_services_free(void);

/* Human age of an RFC 3339 timestamp, as kubectl prints it ("5m", "3d4h"). */
void api_age(const char *rfc3339, char *buf, size_t len);

/* PodSpec defaults and validation (pods, and the templates of controllers; api_core.c). */
void api_pod_spec_defaults(json_t *spec);
void api_pod_spec_validate(const json_t *spec, const char *path, json_t *causes);

/*
 * The autoscaling/v1 Scale of an object of r (has_scale): spec.replicas, status.replicas and
 * status.selector as a label selector string (a new object).
 */
json_t *api_scale_of(const struct api_resource *r, const json_t *obj);

/* Set obj's spec.replicas from a Scale; <0 with a cause when the Scale is invalid. */
int api_scale_apply(json_t *obj, const json_t *scale, json_t *causes);

/* Namespace defaults kube-apiserver sets on create (label, finalizer, phase); exposed for bootstrap. */
void api_namespace_on_create(json_t *obj);

/*
 * List continue tokens, as kube-apiserver's: base64 of {"v":"meta.k8s.io/v1","rv":REV,
 * "start":"NAME\u0000"} where NAME is the last key of the page relative to the list's prefix.
 * decode: <0 for a malformed token; *start is malloc'd.
 */
char *api_continue_encode(int64_t rev, const char *start);
int api_continue_decode(const char *token, int64_t *rev, char **start);

/*
 * extensions/v1beta1 Ingress <-> networking.k8s.io/v1 Ingress, in place (api_legacy.c):
 * spec.backend {serviceName, servicePort} is spec.defaultBackend {service {name, port {number |
 * name}}}, the paths' backends likewise, pathType defaults to ImplementationSpecific on the way
 * in; resource backends, tls and ingressClassName are unchanged.
 */
void api_ingress_to_v1(json_t *obj);
void api_ingress_to_v1beta1(json_t *obj);

/* Whether r's lists support the field selector key (metadata.name for all, spec.nodeName...). */
bool api_field_supported(const struct api_resource *r, const char *key);

#endif

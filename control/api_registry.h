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
#include <jansson.h>

/* What a resource's metadata.name must be. */
enum api_name_rule {
	API_NAME_SUBDOMAIN, /* DNS-1123 subdomain (most resources) */
	API_NAME_LABEL,	    /* DNS-1123 label (namespaces) */
	API_NAME_LABEL1035, /* DNS-1035 label: starts with a letter (services) */
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
	/* On create, after validation: take what the object needs from the store (a ClusterIP). */
	int (*allocate)(struct store *store, json_t *obj, json_t *causes);
};

/* The registry, in discovery order; api_registry_n entries. */
extern const struct api_resource api_registry[];
extern const size_t api_registry_n;

/* The entry of a resource by plural name, or NULL. */
const struct api_resource *api_registry_find(const char *resource, size_t len);

/* The APIResourceList of the core group (a new object). */
json_t *api_registry_discovery(void);

/* The Table columnDefinitions of r (a new array). */
json_t *api_registry_columns(const struct api_resource *r);

/* NULL when s is a valid name under rule, else the message of kube's validation. */
const char *api_name_error(enum api_name_rule rule, const char *s);

/* Append a cause: reason "FieldValueInvalid" (value given), "FieldValueRequired"... */
void api_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Apply a JSON merge patch (RFC 7386) to target. With strategic, lists of objects with a
 * Kubernetes merge key (containers by name, ports by containerPort/port...) merge element by
 * element, `$patch: delete|replace` is honoured, and other `$` directives are dropped.
 */
void api_patch_merge(json_t *target, const json_t *patch, bool strategic);

/* Allocate a Service's ClusterIP (or check the requested one); <0 with a cause on failure. */
int api_services_allocate(struct store *store, json_t *svc, json_t *causes);

/* Human age of an RFC 3339 timestamp, as kubectl prints it ("5m", "3d4h"). */
void api_age(const char *rfc3339, char *buf, size_t len);

/* Namespace defaults kube-apiserver sets on create (label, finalizer, phase); exposed for bootstrap. */
void api_namespace_on_create(json_t *obj);

#endif

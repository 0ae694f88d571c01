/*
 * Deletion as kube-apiserver does it: DeleteOptions, finalizers and deletionTimestamp, graceful
 * deletion of pods, the namespace lifecycle (Terminating, the `kubernetes` finalizer, /finalize)
 * and the TTL of Events.
 *
 * The rules (api_delete_rules.c) are pure JSON work, unit-tested in tests/unit/test_api_delete.c;
 * the handlers and the background worker (api_delete.c) apply them to the store.
 */
#ifndef K8C_API_DELETE_H
#define K8C_API_DELETE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "api_registry.h"
#include "error.h"

/* The finalizers kube-apiserver and its garbage collector know by name. */
#define API_FINALIZER_ORPHAN	 "orphan"
#define API_FINALIZER_FOREGROUND "foregroundDeletion"
#define API_FINALIZER_KUBERNETES "kubernetes"

enum api_propagation {
	API_PROPAGATION_UNSET,
	API_PROPAGATION_ORPHAN,
	API_PROPAGATION_BACKGROUND,
	API_PROPAGATION_FOREGROUND,
	API_PROPAGATION_INVALID, /* any other value: propagation_value holds it */
};

/* metav1.DeleteOptions. */
struct api_delete_options {
	bool has_grace;
	int64_t grace; /* gracePeriodSeconds */
	enum api_propagation propagation;
	char *propagation_value;      /* as sent, for the message of an invalid one */
	int orphan_dependents;	      /* deprecated orphanDependents: -1 unset, 0, 1 */
	char *uid, *resource_version; /* preconditions; NULL when unset */
	json_t *dry_run;	      /* the dryRun list as sent (array of strings), or NULL */
};

void api_delete_options_init(struct api_delete_options *o);
void api_delete_options_free(struct api_delete_options *o);

/*
 * Read a DeleteOptions body (kind DeleteOptions or none; apiVersion v1, meta.k8s.io/v1 or the
 * resource's). <0 with err->code 400 and kube's decoding message when a field has the wrong type.
 */
int api_delete_options_from_json(const json_t *body, struct api_delete_options *o,
				 struct k8c_error *err);

/*
 * Read the query parameters of a DELETE without a body (each NULL when absent). <0 with
 * err->code 400 when gracePeriodSeconds or orphanDependents does not parse.
 */
int api_delete_options_from_query(const char *grace, const char *propagation, const char *orphan,
				  const char *dry_run, struct api_delete_options *o,
				  struct k8c_error *err);

/* ValidateDeleteOptions: append causes (propagationPolicy, orphanDependents, dryRun). */
void api_delete_options_validate(const struct api_delete_options *o, json_t *causes);

/* Whether the options ask for a dry run (dryRun: [All]). */
bool api_delete_options_dry_run(const struct api_delete_options *o);

/* What a DELETE does to an object, decided by api_delete_plan(). */
enum api_delete_action {
	API_DELETE_PENDING, /* already being deleted: nothing to write; answer the object */
	API_DELETE_UPDATE,  /* store the object (marked for deletion); it stays */
	API_DELETE_UPDATE_THEN_DELETE, /* store it (a pod's grace 0 mark), then delete it */
	API_DELETE_NOW,		       /* delete it */
};

/*
 * Decide a DELETE of obj (the stored version, metadata.resourceVersion set) with options o at
 * time now, as kube-apiserver's registry does (rest.BeforeDelete, the garbage collector's
 * finalizers, markAsDeleting; the namespace registry's Terminating phase): obj is changed in
 * place into what is to be stored. Returns the action, or <0 with err->code 409 (a
 * precondition failed; err->msg is kube's message after "Operation cannot be fulfilled on
 * R \"name\": ").
 */
int api_delete_plan(const struct api_resource *r, json_t *obj, const struct api_delete_options *o,
		    time_t now, struct k8c_error *err);

/* Whether kube-apiserver answers a delete of r with the deleted object (else a Status). */
bool api_delete_returns_object(const struct api_resource *r);

/*
 * The answer to a DELETE whose outcome is action: obj itself (a new reference) or, for a
 * removal of a resource that answers with a Status, the Success Status naming it.
 */
json_t *api_delete_answer(const struct api_resource *r, json_t *obj, enum api_delete_action action);

/*
 * Metadata rules of create (old NULL) and update (ValidateObjectMeta(Update)): finalizer names,
 * orphan and foregroundDeletion not both, no new finalizer once deletionTimestamp is set.
 */
void api_delete_validate_meta(const json_t *obj, const json_t *old, json_t *causes);

/*
 * Whether an update of old into obj removes the object (ShouldDeleteDuringUpdate): old is being
 * deleted (deletionTimestamp, grace 0 or none), obj has no finalizer left (for a namespace, no
 * spec.finalizers either).
 */
bool api_delete_on_update(const struct api_resource *r, const json_t *obj, const json_t *old);

/*
 * The spec.finalizers of a namespace's /finalize body, checked (causes for invalid names);
 * returns the list to store (a new reference) or NULL when the body has none.
 */
json_t *api_namespace_finalizers(const json_t *body, json_t *causes);

/* Whether a stored namespace is Terminating (new content is refused). */
bool api_namespace_terminating(const json_t *ns);

/* The namespaces that may not be deleted (default, kube-system, kube-public). */
bool api_namespace_immortal(const char *name);

/*
 * The time of an Event's last write as far as its fields tell (creationTimestamp, firstTimestamp,
 * lastTimestamp, eventTime, series.lastObservedTime, deprecated*; the latest); 0 when none parses.
 */
time_t api_event_last_seen(const json_t *ev);

/* RFC 3339 (seconds or fractional, Z) to time_t; (time_t)-1 when it does not parse. */
time_t api_time_parse(const char *s);

/* time_t to RFC 3339 with seconds, UTC ("2026-11-27T11:21:13Z"). */
void api_time_format(time_t t, char buf[32]);

#endif

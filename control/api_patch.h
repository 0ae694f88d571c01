/*
 * PATCH bodies as kube-apiserver applies them: JSON patch (RFC 6902, as gopkg.in/evanphx/json-patch.v4
 * does it), JSON merge patch (RFC 7386) and strategic merge patch (k8s.io/apimachinery's
 * strategicpatch, server side), with merge keys and strategies from the schema of the object's
 * type (api_schema.h). Pure JSON work, unit-tested in tests/unit/test_api_patch.c.
 */
#ifndef K8C_API_PATCH_H
#define K8C_API_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"

struct api_schema_type;

enum api_patch_type {
	API_PATCH_JSON,	     /* application/json-patch+json */
	API_PATCH_MERGE,     /* application/merge-patch+json */
	API_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
};

/* The media types a PATCH accepts, as kube-apiserver lists them in a 415. */
#define API_PATCH_MEDIA_TYPES                                                                      \
	"application/json-patch+json, application/merge-patch+json, "                              \
	"application/strategic-merge-patch+json"

/* The patch type of a Content-Type value (parameters after ';' ignored); -1 when none. */
int api_patch_type(const char *content_type, size_t len, enum api_patch_type *type);

/*
 * Apply the patch body (len bytes) of type to obj, which is left unchanged. t is the type of obj
 * (api_schema_kind()) for a strategic merge patch; NULL means no schema: maps merge, lists are
 * replaced whole. Returns the patched object (a new reference), or NULL with err->code the HTTP
 * status kube-apiserver answers (400 a malformed patch, 413 too many operations, 422 a JSON patch
 * operation that does not apply, 500 what kube reports as an internal error) and err->msg the
 * cause (see api_patch_send_error for what the client is told).
 */
json_t *api_patch_apply(const json_t *obj, const char *body, size_t len, enum api_patch_type type,
			const struct api_schema_type *t, struct k8c_error *err);

/*
 * The Status kube-apiserver answers for an api_patch_apply error (a new object): 422 is
 * "the server rejected our request due to an error in our request" without details, as kube's
 * generic server response; the others carry err->msg.
 */
json_t *api_patch_error_status(const struct k8c_error *err);

#endif

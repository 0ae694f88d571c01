/*
 * Kubernetes protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf), which
 * kubectl 1.32+ sends for typed `kubectl create` commands: the 4 bytes "k8s\0", a runtime.Unknown
 * envelope {1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType} and
 * the object's own protobuf encoding in raw. Decoding is driven by a table of the messages of the
 * kinds that `kubectl create` makes; the result is the JSON object the same request would have
 * sent, so the handlers go on exactly as for a JSON body. Responses stay JSON.
 */
#ifndef K8C_API_PROTOBUF_H
#define K8C_API_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"

#define API_PROTOBUF_MEDIA_TYPE "application/vnd.kubernetes.protobuf"

/* Whether a Content-Type value names the Kubernetes protobuf media type (parameters allowed). */
bool api_protobuf_content_type(const char *ct, size_t len);

/*
 * Decode a protobuf request body into a new JSON object (caller owns it) with apiVersion and kind
 * from the envelope. NULL on failure with err->code the HTTP status to answer: 400 for malformed
 * input (bad magic, truncated varint, length past the end, nesting too deep, wrong wire type,
 * invalid UTF-8), 415 for a kind or encoding this decoder has no table for.
 */
json_t *api_protobuf_decode(const void *buf, size_t len, struct k8c_error *err);

#endif

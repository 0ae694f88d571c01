/*
 * Quota and storage admission in the API server (api_quota.c, docs/apiserver.md "Admission"):
 * kube-apiserver's LimitRanger, DefaultStorageClass and ResourceQuota plugins.
 */
#ifndef K8C_API_QUOTA_H
#define K8C_API_QUOTA_H

#include <stdbool.h>
#include <jansson.h>
#include <h2o.h>

#include "api_registry.h"

struct api;

/*
 * Mutating admission, after defaulting and before validation (old NULL on create): a pod's
 * container defaults from the namespace's LimitRanges, a claim's default StorageClass. <0 after
 * answering (a store failure).
 */
int api_admission_mutate(struct api *api, h2o_req_t *req, const struct api_resource *r,
			 const char *ns, const char *name, json_t *obj, const json_t *old);

/*
 * Validating admission, after validation, before the write: LimitRange min/max/ratio, then the
 * ResourceQuotas of the namespace (charged unless dry). <0 after answering 403 Forbidden.
 */
int api_admission_validate(struct api *api, h2o_req_t *req, const struct api_resource *r,
			   const char *ns, const char *name, const json_t *obj, const json_t *old,
			   bool dry);

/* Release the admission's store watches (before store_close()). */
void api_quota_free(void);

#endif

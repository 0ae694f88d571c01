/*
 * Service-account authentication in k8c-server: `Authorization: Bearer <jwt>` tokens signed with
 * <data-dir>/pki/sa.key (made on first start), and TokenRequest (POST
 * /api/v1/namespaces/{ns}/serviceaccounts/{name}/token). docs/controllers.md, "serviceaccount".
 */
#ifndef K8C_API_AUTH_H
#define K8C_API_AUTH_H

#include <stdbool.h>
#include <h2o.h>

#include "api.h"
#include "error.h"
#include "store.h"

/* Load or make pki_dir/sa.key and sa.pub (before the loops start). */
int api_auth_init(const char *pki_dir, struct k8c_error *err);
void api_auth_free(void);

/*
 * Whether req carries a valid service-account token: signature, expiry, audience, and the
 * service account (and the bound pod or secret) still existing with the token's uid.
 */
bool api_auth_bearer(struct store *store, h2o_req_t *req);

/* POST .../serviceaccounts/{name}/token: an authentication.k8s.io/v1 TokenRequest. */
void api_token_serve(struct api *api, h2o_req_t *req, const char *ns, const char *name);

#endif

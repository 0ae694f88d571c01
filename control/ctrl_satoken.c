/*
 * serviceaccount-token: the legacy token controller. A Secret of type
 * kubernetes.io/service-account-token naming a ServiceAccount (annotation
 * kubernetes.io/service-account.name) gets data.token (a JWT signed with the service-account key,
 * legacy claims, no expiry), data["ca.crt"], data.namespace and the annotation
 * kubernetes.io/service-account.uid; such a Secret whose ServiceAccount is gone (or was recreated
 * with another uid) is deleted, as kube's tokens controller does. docs/controllers.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_controllers.h"
#include "ctrl_manager.h"
#include "objutil.h"
#include "sa_token.h"

#define TOKEN_TYPE  "kubernetes.io/service-account-token"
#define ANN_SA_NAME "kubernetes.io/service-account.name"
#define ANN_SA_UID  "kubernetes.io/service-account.uid"

#define K8C_GVR_SERVICEACCOUNTS K8C_GVR("", "v1", "serviceaccounts")

struct tok_ctrl {
	struct k8c_informer *secrets, *sas;
	EVP_PKEY *key;
	char *ca; /* PEM */
};

static const char *ann(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(k8c_at(o, "metadata.annotations"), k));
}

static bool is_token_secret(const json_t *s)
{
	const char *t = k8c_str_at(s, "type");

	return t && strcmp(t, TOKEN_TYPE) == 0;
}

static void on_secret(const struct k8c_delta *d, void *arg)
{
	if ((d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE) && is_token_secret(d->new))
		k8c_ctrl_enqueue(arg, d->key);
}

/* A ServiceAccount changed or went: its token Secrets. */
static void on_sa(const struct k8c_delta *d, void *arg)
{
	struct k8c_ctrl *c = arg;
	struct tok_ctrl *t = k8c_ctrl_data(c);
	const json_t *sa = d->new ? d->new : d->old;
	const char *ns = k8c_str_at(sa, "metadata.namespace"),
		   *name = k8c_str_at(sa, "metadata.name");
	const char *k;
	json_t *s;

	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	if (!ns || !name)
		return;
	json_object_foreach(k8c_informer_cache(t->secrets), k, s)
	{
		const char *sns = k8c_str_at(s, "metadata.namespace"),
			   *sa_name = ann(s, ANN_SA_NAME);

		if (is_token_secret(s) && sns && strcmp(sns, ns) == 0 && sa_name &&
		    strcmp(sa_name, name) == 0)
			k8c_ctrl_enqueue(c, k);
	}
}

static int tok_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct tok_ctrl *t = k8c_xcalloc(1, sizeof(*t));
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SECRETS};
	struct k8c_informer_opts ao = {.gvr = K8C_GVR_SERVICEACCOUNTS};

	k8c_ctrl_set_data(c, t);
	if (!ctrl_config.sa_key_file)
		return k8c_error_set(err, 0,
				     "no --service-account-private-key-file: cannot sign tokens");
	if (!(t->key = sa_key_load(ctrl_config.sa_key_file, err)))
		return -1;
	if (ctrl_config.root_ca_file) {
		FILE *f = fopen(ctrl_config.root_ca_file, "r");
		size_t n = 0, cap = 0;
		char buf[4096];

		if (!f)
			return k8c_error_errno(err, 0, errno, "--root-ca-file %s",
					       ctrl_config.root_ca_file);
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			t->ca = k8c_xrealloc(t->ca, cap + n + 1);
			memcpy(t->ca + cap, buf, n);
			cap += n;
			t->ca[cap] = 0;
		}
		fclose(f);
	} else if (ctrl_config.root_ca_data) {
		t->ca = k8c_xstrdup(ctrl_config.root_ca_data);
	}
	if (!(t->secrets = k8c_ctrl_informer(c, &so, on_secret, err)) ||
	    !(t->sas = k8c_ctrl_informer(c, &ao, on_sa, err)))
		return -1;
	return 0;
}

static int delete_secret(struct k8c_ctrl *c, const char *ns, const char *name, const char *uid,
			 struct k8c_error *err)
{
	_cleanup_json_ json_t *opts =
		json_pack("{s:s, s:s, s:{s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
			  "preconditions", "uid", uid ? uid : "");

	if (!uid)
		json_object_del(opts, "preconditions");
	if (k8c_kube_delete(k8c_ctrl_kube(c), K8C_GVR_SECRETS, ns, name, opts, NULL, err) < 0) {
		if (err->code == 404 || err->code == 409) {
			k8c_error_clear(err);
			return 0;
		}
		return k8c_error_wrap(err, "delete token secret %s/%s", ns, name);
	}
	return 0;
}

static int tok_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	struct tok_ctrl *t = k8c_ctrl_data(c);
	json_t *secret = k8c_informer_get(t->secrets, NULL, key), *sa, *data, *anns;
	const char *ns, *name, *sa_name, *sa_uid, *have_uid;
	_cleanup_json_ json_t *copy = NULL, *claims = NULL, *live = NULL;
	_cleanup_free_ char *token = NULL, *tok64 = NULL, *ca64 = NULL, *ns64 = NULL;

	if (!secret || !is_token_secret(secret) || k8c_at(secret, "metadata.deletionTimestamp"))
		return 0;
	ns = k8c_str_at(secret, "metadata.namespace");
	name = k8c_str_at(secret, "metadata.name");
	sa_name = ann(secret, ANN_SA_NAME);
	have_uid = ann(secret, ANN_SA_UID);
	if (!ns || !name || !sa_name)
		return 0;
	sa = k8c_informer_get(t->sas, ns, sa_name);
	if (!sa) {
		/* our cache may be behind: ask the server before deleting */
		if (k8c_kube_get(k8c_ctrl_kube(c), K8C_GVR_SERVICEACCOUNTS, ns, sa_name, &live,
				 err) == 0)
			return 0; /* exists: the informer will bring it */
		if (err->code != 404)
			return -1;
		k8c_error_clear(err);
		return delete_secret(c, ns, name, k8c_str_at(secret, "metadata.uid"), err);
	}
	sa_uid = k8c_str_at(sa, "metadata.uid");
	if (have_uid && sa_uid && strcmp(have_uid, sa_uid) != 0)
		return delete_secret(c, ns, name, k8c_str_at(secret, "metadata.uid"), err);
	data = k8c_at(secret, "data");
	if (have_uid && json_object_get(data, "token") && json_object_get(data, "namespace") &&
	    (!t->ca || json_object_get(data, "ca.crt")))
		return 0;
	claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "iss", SA_TOKEN_LEGACY_ISSUER,
			   "kubernetes.io/serviceaccount/namespace", ns,
			   "kubernetes.io/serviceaccount/secret.name", name,
			   "kubernetes.io/serviceaccount/service-account.name", sa_name,
			   "kubernetes.io/serviceaccount/service-account.uid", sa_uid ? sa_uid : "",
			   "sub", "");
	json_object_set_new(claims, "sub",
			    json_sprintf("system:serviceaccount:%s:%s", ns, sa_name));
	if (!(token = sa_token_sign(t->key, claims, err)))
		return -1;
	copy = json_deep_copy(secret);
	data = json_object_get(copy, "data");
	if (!json_is_object(data)) {
		data = json_object();
		json_object_set_new(copy, "data", data);
	}
	tok64 = sa_base64(token, strlen(token));
	ns64 = sa_base64(ns, strlen(ns));
	json_object_set_new(data, "token", json_string(tok64));
	json_object_set_new(data, "namespace", json_string(ns64));
	if (t->ca) {
		ca64 = sa_base64(t->ca, strlen(t->ca));
		json_object_set_new(data, "ca.crt", json_string(ca64));
	}
	anns = k8c_at(copy, "metadata.annotations");
	if (json_is_object(anns) && sa_uid)
		json_object_set_new(anns, ANN_SA_UID, json_string(sa_uid));
	if (k8c_kube_update(k8c_ctrl_kube(c), K8C_GVR_SECRETS, ns, copy, NULL, err) < 0)
		return k8c_error_wrap(err, "token secret %s/%s", ns, name);
	return 0;
}

static void tok_fini(struct k8c_ctrl *c)
{
	struct tok_ctrl *t = k8c_ctrl_data(c);

	if (!t)
		return;
	EVP_PKEY_free(t->key);
	free(t->ca);
	free(t);
}

const struct k8c_controller_def ctrl_serviceaccount_token_def = {
	.name = "serviceaccount-token",
	.init = tok_init,
	.sync = tok_sync,
	.fini = tok_fini,
};

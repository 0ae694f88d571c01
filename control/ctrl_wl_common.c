/* What the workload controllers share and that talks to the API: claims, status writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "controller.h"
#include "ctrl_workloads.h"
#include "log.h"
#include "objutil.h"

const char *wl_api_message(const struct k8c_error *err)
{
	char pat[16];
	const char *p;

	if (!err->msg)
		return "";
	if (err->code <= 0)
		return err->msg;
	snprintf(pat, sizeof(pat), ": %d ", err->code);
	p = strstr(err->msg, pat);
	if (!p)
		return err->msg;
	p = strstr(p + strlen(pat), ": ");
	return p ? p + 2 : err->msg;
}

void wl_split_key(const char *key, char **ns, char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash) {
		*ns = NULL;
		*name = k8c_xstrdup(key);
		return;
	}
	*ns = strndup(key, (size_t)(slash - key));
	*name = k8c_xstrdup(slash + 1);
}

int wl_update_status(struct k8c_ctrl *c, struct k8c_gvr gvr, const json_t *obj, json_t *status,
		     struct k8c_error *err)
{
	_cleanup_json_ json_t *copy = json_deep_copy(obj);

	json_object_set(copy, "status", status);
	return k8c_kube_update_status(k8c_ctrl_kube(c), gvr, k8c_str_at(obj, "metadata.namespace"),
				      copy, NULL, err);
}

/* ownerReferences without the one of uid (NULL when none are left). New reference. */
static json_t *refs_without(const json_t *obj, const char *uid)
{
	json_t *out = json_array();
	size_t i;
	json_t *r;

	json_array_foreach(k8c_at(obj, "metadata.ownerReferences"), i, r)
	{
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (!u || strcmp(u, uid) != 0)
			json_array_append(out, r);
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return json_null();
	}
	return out;
}

static int patch_refs(struct k8c_ctrl *c, struct k8c_gvr gvr, const json_t *obj, json_t *refs,
		      json_t **out, struct k8c_error *err)
{
	_cleanup_json_ json_t *p =
		json_pack("{s:{s:o, s:s, s:s}}", "metadata", "ownerReferences", refs,
			  "resourceVersion", k8c_str_at(obj, "metadata.resourceVersion") ?: "",
			  "uid", k8c_str_at(obj, "metadata.uid") ?: "");

	return k8c_kube_patch(k8c_ctrl_kube(c), gvr, k8c_str_at(obj, "metadata.namespace"),
			      k8c_str_at(obj, "metadata.name"), NULL, K8C_PATCH_MERGE, p, out, err);
}

json_t **wl_claim(struct k8c_ctrl *c, const json_t *owner, struct k8c_gvr owner_gvr,
		  const char *api_version, const char *kind, struct k8c_gvr gvr,
		  json_t *const *cands, size_t ncands,
		  bool (*matches)(const json_t *, const void *), const void *arg, json_t *keep,
		  size_t *n, struct k8c_error *err)
{
	json_t **out = k8c_xcalloc(ncands + 1, sizeof(*out));
	const char *uid = k8c_str_at(owner, "metadata.uid") ?: "";
	bool deleting = k8c_at(owner, "metadata.deletionTimestamp") != NULL;
	int can_adopt = -1; /* unknown until the first orphan */
	size_t k = 0;

	for (size_t i = 0; i < ncands; i++) {
		json_t *o = cands[i], *ref = k8c_controller_ref(o), *ans = NULL;
		const char *ruid = json_string_value(json_object_get(ref, "uid"));
		bool m = matches(o, arg);

		if (ref) {
			if (!ruid || strcmp(ruid, uid) != 0)
				continue;
			if (m) {
				out[k++] = o;
				continue;
			}
			if (deleting)
				continue;
			/* release: it stopped matching */
			if (patch_refs(c, gvr, o, refs_without(o, uid), NULL, err) < 0 &&
			    err->code != 404 && err->code != 409) {
				free(out);
				return NULL;
			}
			k8c_error_clear(err);
			continue;
		}
		if (!m || deleting || k8c_at(o, "metadata.deletionTimestamp"))
			continue;
		if (can_adopt < 0) {
			_cleanup_json_ json_t *fresh = NULL;

			/* RecheckDeletionTimestamp: adopt only for a live owner of this uid */
			if (k8c_kube_get(k8c_ctrl_kube(c), owner_gvr,
					 k8c_str_at(owner, "metadata.namespace"),
					 k8c_str_at(owner, "metadata.name"), &fresh, err) < 0) {
				free(out);
				return NULL;
			}
			can_adopt = strcmp(k8c_str_at(fresh, "metadata.uid") ?: "", uid) == 0 &&
				    !k8c_at(fresh, "metadata.deletionTimestamp");
		}
		if (!can_adopt)
			continue;
		{
			json_t *refs = json_deep_copy(k8c_at(o, "metadata.ownerReferences"));

			if (!json_is_array(refs)) {
				json_decref(refs);
				refs = json_array();
			}
			json_array_append_new(refs, wl_controller_ref(owner, api_version, kind));
			if (patch_refs(c, gvr, o, refs, &ans, err) < 0) {
				if (err->code == 404 || err->code == 409) {
					k8c_error_clear(err);
					continue;
				}
				free(out);
				return NULL;
			}
		}
		json_array_append_new(keep, ans);
		out[k++] = ans;
	}
	*n = k;
	return out;
}

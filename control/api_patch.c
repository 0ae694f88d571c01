/*
 * Merge patch (RFC 7386) and the subset of strategic merge patch kubectl apply needs: lists of
 * objects merged by their merge key (k8s.io/api's patchMergeKey tags), `$patch` directives on
 * maps and list elements. `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` are
 * dropped: the merged list keeps the stored order with new elements appended.
 */
#include <string.h>

#include "api_registry.h"

/* The merge key of a list field, or NULL when the list is replaced whole. */
static const char *merge_key(const char *field, const json_t *list)
{
	static const char *const keys[][2] = {
		{"containers", "name"},
		{"initContainers", "name"},
		{"ephemeralContainers", "name"},
		{"env", "name"},
		{"volumes", "name"},
		{"imagePullSecrets", "name"},
		{"secrets", "name"},
		{"volumeMounts", "mountPath"},
		{"volumeDevices", "devicePath"},
		{"hostAliases", "ip"},
		{"topologySpreadConstraints", "topologyKey"},
		{"conditions", "type"},
		{"addresses", "type"},
		{"podIPs", "ip"},
		{"ownerReferences", "uid"},
	};

	if (strcmp(field, "ports") == 0) {
		/* container ports merge by containerPort, service ports by port */
		json_t *first = json_array_get(list, 0);

		return json_object_get(first, "containerPort") ? "containerPort" : "port";
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(field, keys[i][0]) == 0)
			return keys[i][1];
	return NULL;
}

static json_t *find_by_key(json_t *list, const char *key, json_t *value, size_t *idx)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
	{
		if (json_equal(json_object_get(e, key), value)) {
			*idx = i;
			return e;
		}
	}
	return NULL;
}

static void merge_list(json_t *target, json_t *patch, const char *key)
{
	json_t *pe;
	size_t i;

	json_array_foreach(patch, i, pe)
	{
		json_t *kv = json_object_get(pe, key), *te;
		const char *directive = json_string_value(json_object_get(pe, "$patch"));
		size_t idx = 0;

		if (!json_is_object(pe) || !kv) {
			json_array_append(target, pe);
			continue;
		}
		te = find_by_key(target, key, kv, &idx);
		if (directive && strcmp(directive, "delete") == 0) {
			if (te)
				json_array_remove(target, idx);
		} else if (te) {
			api_patch_merge(te, pe, true);
		} else {
			json_t *n = json_object();

			api_patch_merge(n, pe, true);
			json_array_append_new(target, n);
		}
	}
}

void api_patch_merge(json_t *target, const json_t *patch, bool strategic)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)patch, k, v)
	{
		json_t *t = json_object_get(target, k);
		const char *mk;

		if (k[0] == '$')
			continue;
		if (json_is_null(v)) {
			json_object_del(target, k);
		} else if (json_is_object(v)) {
			const char *d =
				strategic ? json_string_value(json_object_get(v, "$patch")) : NULL;

			if (d && strcmp(d, "delete") == 0) {
				json_object_del(target, k);
				continue;
			}
			if (!json_is_object(t) || (d && strcmp(d, "replace") == 0)) {
				t = json_object();
				json_object_set_new(target, k, t);
			}
			api_patch_merge(t, v, strategic);
		} else if (strategic && json_is_array(v) && json_is_array(t) &&
			   (mk = merge_key(k, t)) && json_is_object(json_array_get(t, 0))) {
			merge_list(t, v, mk);
		} else if (strategic && json_is_array(v)) {
			/* a list replaced whole: drop the elements that are only directives */
			json_t *n = json_array(), *e;
			size_t i;

			json_array_foreach(v, i, e)
			{
				if (json_is_object(e) && json_object_get(e, "$patch"))
					continue;
				if (json_is_object(e)) {
					json_t *c = json_object();

					api_patch_merge(c, e, true);
					json_array_append_new(n, c);
				} else {
					json_array_append(n, e);
				}
			}
			json_object_set_new(target, k, n);
		} else {
			json_object_set(target, k, v);
		}
	}
}

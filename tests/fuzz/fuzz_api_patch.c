/*
 * Fuzz the patch engine (api_patch.c) with the patch body from outside: the first byte picks the
 * patch type and the schema (Deployment, Pod, Service or none); the rest is the body, applied to
 * a Deployment. An input "OBJECT\n\nBODY" applies BODY to OBJECT instead, so that ordering and
 * merge-key paths see odd originals too. Checked: a result is a JSON value that serializes, an
 * error carries one of the codes kube answers and a message, and the original is untouched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api_patch.h"
#include "api_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char deploy[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\","
	"\"labels\":{\"a\":\"1\"},\"finalizers\":[\"x\",\"y\"]},\"spec\":{\"replicas\":1,"
	"\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":1}},"
	"\"template\":{\"spec\":{\"containers\":[{\"name\":\"c1\",\"image\":\"i\",\"ports\":"
	"[{\"containerPort\":80},{\"containerPort\":81}],\"env\":[{\"name\":\"A\",\"value\":"
	"\"1\"}]},{\"name\":\"c2\"}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum api_patch_type types[] = {API_PATCH_JSON, API_PATCH_MERGE,
						    API_PATCH_STRATEGIC};
	const struct api_schema_type *schemas[] = {
		api_schema_kind("apps", "v1", "Deployment"),
		api_schema_kind("", "v1", "Pod"),
		api_schema_kind("", "v1", "Service"),
		NULL,
	};
	struct k8c_error err = K8C_ERROR_INIT;
	const char *body, *sep;
	json_t *obj = NULL, *copy, *res;
	size_t len;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	len = size - 1;
	sep = memmem(body, len, "\n\n", 2);
	if (sep)
		obj = json_loadb(body, (size_t)(sep - body), JSON_DECODE_ANY, NULL);
	if (obj) {
		len -= (size_t)(sep + 2 - body);
		body = sep + 2;
	} else {
		obj = json_loads(deploy, 0, NULL);
	}
	copy = json_deep_copy(obj);
	res = api_patch_apply(obj, body, len, types[data[0] % 3], schemas[(data[0] / 3) % 4], &err);
	if (!json_equal(obj, copy))
		__builtin_trap(); /* the original changed */
	if (res) {
		char *s = json_dumps(res, JSON_ENCODE_ANY);

		if (!s)
			__builtin_trap();
		free(s);
		json_decref(res);
	} else {
		json_t *st;

		if (!err.msg ||
		    (err.code != 400 && err.code != 413 && err.code != 422 && err.code != 500))
			__builtin_trap();
		st = api_patch_error_status(&err);
		json_decref(st);
	}
	k8c_error_clear(&err);
	json_decref(copy);
	json_decref(obj);
	return 0;
}

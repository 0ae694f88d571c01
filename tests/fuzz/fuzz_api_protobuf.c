/* Fuzz the Kubernetes protobuf body decoder (kubectl 1.32+ `create <kind>` request bodies). */
#include <stddef.h>
#include <stdint.h>

#include "api_protobuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *obj = api_protobuf_decode(data, size, &err);

	if (!obj && err.code != 400 && err.code != 415)
		__builtin_trap();
	json_decref(obj);
	k8c_error_clear(&err);
	return 0;
}

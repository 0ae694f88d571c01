/* Manifest and index parsing (registry answers, archive blobs) and the platform choice on
 * arbitrary bytes: an error with a message, or a manifest with config and layers / an index with
 * manifests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	json_t *m = NULL, *pick = NULL;

	if (image_manifest_parse(data, size, NULL, &m, &err) == 0) {
		const char *mt = json_string_value(json_object_get(m, "mediaType"));

		if (!mt)
			abort();
		if (json_is_array(json_object_get(m, "manifests")) &&
		    image_index_pick(m, &pick, &err) == 0 &&
		    !json_string_value(json_object_get(pick, "digest")))
			abort();
		json_decref(m);
	} else if (!err.msg) {
		abort();
	}
	k8c_error_clear(&err);
	return 0;
}

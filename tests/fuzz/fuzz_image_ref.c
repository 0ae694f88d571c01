/* Image reference normalisation on arbitrary text: an error, or a reference that normalises to
 * itself (idempotent) and names a registry and a tag or digest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char *s = strndup((const char *)data, size), *out = NULL, *again = NULL;

	if (k8c_image_normalize(s, &out, &err) == 0) {
		if (!strchr(out, '/') || (!strchr(strrchr(out, '/'), ':') && !strchr(out, '@')))
			abort();
		if (k8c_image_normalize(out, &again, &err) < 0 || strcmp(out, again) != 0)
			abort();
	} else if (!err.msg) {
		abort();
	}
	k8c_error_clear(&err);
	free(again);
	free(out);
	free(s);
	return 0;
}

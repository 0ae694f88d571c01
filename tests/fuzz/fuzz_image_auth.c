/* imagePullSecrets lookup (a Secret's .dockerconfigjson or .dockercfg) on arbitrary bytes: an
 * error with a message, no credentials, or both a username and a password. */
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const refs[] = {"busybox", "registry.example.com:5000/team/app:1"};
	struct k8c_error err = K8C_ERROR_INIT;

	for (size_t i = 0; i < 2; i++) {
		char *u = NULL, *p = NULL;

		if (k8c_image_auth_lookup((const char *)data, size, refs[i], &u, &p, &err) < 0) {
			if (!err.msg || u || p)
				abort();
		} else if (!u != !p) {
			abort();
		}
		k8c_error_clear(&err);
		free(u);
		free(p);
	}
	return 0;
}

/* Kubeconfig parsing (libyaml → JSON → fields) on arbitrary text: an error or a config, no crash. */
#include <stdint.h>
#include <stdlib.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig c;

	if (k8c_kubeconfig_parse("fuzz", (const char *)data, size, "/nonexistent", NULL, &c,
				 &err) == 0) {
		if (!c.server || !c.namespace)
			abort();
		k8c_kubeconfig_free(&c);
	} else if (!err.msg) {
		abort();
	}
	k8c_error_clear(&err);
	return 0;
}

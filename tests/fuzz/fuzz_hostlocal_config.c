/* libFuzzer: arbitrary bytes as a k8c-host-local network config (and CNI_ARGS IP value). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct hl_config cfg;
	const uint8_t *nl = memchr(data, '\n', size);
	char *env_ip = NULL;
	json_t *j;

	/* An optional first line "IP=..." feeds the CNI_ARGS parser too. */
	if (nl && size >= 3 && !memcmp(data, "IP=", 3)) {
		env_ip = strndup((const char *)data + 3, (size_t)(nl - data) - 3);
		size -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	j = json_loadb((const char *)data, size, 0, NULL);
	if (j) {
		if (hl_config_parse(j, env_ip, &cfg, &err) == 0) {
			size_t i;

			for (i = 0; i < cfg.n_sets; i++)
				free(hl_rangeset_format(&cfg.sets[i]));
			if (cfg.n_sets)
				(void)hl_rangeset_capacity(&cfg.sets[0]);
			hl_config_free(&cfg);
		}
		json_decref(j);
	}
	free(env_ip);
	k8c_error_clear(&err);
	return 0;
}

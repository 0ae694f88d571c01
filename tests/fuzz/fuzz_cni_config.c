/* Fuzz the bridge plugin's stdin path: request parsing, config validation, prevResult parsing. */
#include <stddef.h>
#include <stdint.h>

#include "br_config.h"
#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const env[] = {"CNI_COMMAND=ADD",
					  "CNI_CONTAINERID=c1",
					  "CNI_NETNS=/n",
					  "CNI_IFNAME=eth0",
					  "CNI_PATH=/x",
					  "CNI_ARGS=IgnoreUnknown=1;MAC=0a:00:00:00:00:01",
					  NULL};
	struct k8c_error err = K8C_ERROR_INIT;
	struct cni_request req;
	struct br_config c;

	if (cni_request_parse(&bridge_plugin, (const char *)data, size, env, &req, &err) == 0) {
		if (br_config_parse(&req, &c, &err) == 0)
			br_config_free(&c);
		if (req.prev_result) {
			struct cni_result r;

			if (cni_result_parse(req.prev_result, &r, &err) == 0) {
				json_decref(cni_result_to_json(&r, "0.3.1"));
				json_decref(cni_result_to_json(&r, "1.1.0"));
				cni_result_free(&r);
			}
		}
	}
	k8c_error_clear(&err);
	cni_request_free(&req);
	return 0;
}

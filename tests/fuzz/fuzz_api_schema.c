/*
 * Fuzz the field checks of server-side validation: the duplicate-key scanner over request text
 * (it must accept whatever jansson accepts) and the unknown-field walk and drop over the
 * decoded object against a Pod's and a Deployment's schema.
 */
#include <stddef.h>
#include <stdint.h>

#include "api_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *problems = json_array();
	json_t *obj = json_loadb((const char *)data, size, 0, NULL);
	int rc = api_schema_duplicate_fields((const char *)data, size, problems);

	if (obj && rc < 0)
		__builtin_trap(); /* valid JSON the scanner refused */
	if (obj) {
		api_schema_unknown_fields(api_schema_kind("", "v1", "Pod"), obj, problems);
		api_schema_drop_unknown(api_schema_kind("apps", "v1", "Deployment"), obj);
		json_array_clear(problems);
		api_schema_unknown_fields(api_schema_kind("apps", "v1", "Deployment"), obj,
					  problems);
		if (json_array_size(problems))
			__builtin_trap(); /* something reported survived the drop */
	}
	json_decref(obj);
	json_decref(problems);
	return 0;
}

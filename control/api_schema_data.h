/* The tables behind api_schema.h, generated into the build directory (gen_api_schema.py). */
#ifndef K8C_API_SCHEMA_DATA_H
#define K8C_API_SCHEMA_DATA_H

#include "api_schema.h"

struct api_schema_type {
	const char *name; /* OpenAPI name */
	const char *description;
	const struct api_schema_field *fields; /* sorted by name (strcmp) */
	size_t nfields;
	bool open;
};

struct api_schema_kind_entry {
	const char *group, *version, *kind;
	const struct api_schema_type *type;
};

extern const struct api_schema_type api_schema_types[];
extern const size_t api_schema_ntypes;
extern const struct api_schema_kind_entry api_schema_kinds[];
extern const size_t api_schema_nkinds;

#endif

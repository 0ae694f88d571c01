/*
 * YAML to JSON (jansson) with libyaml: the first document of text; mappings (scalar keys),
 * sequences and scalars. With typed, plain scalars are resolved as YAML 1.1 does it for
 * Kubernetes manifests (go-yaml v2 behind sigs.k8s.io/yaml): null/~/empty, booleans
 * (true/false, yes/no, on/off in their three casings), integers (decimal, 0x hex) and floats;
 * quoted scalars stay strings. Without typed, only true/false/null are typed (kubeconfig). A
 * YAML error is "line L column C: problem"; aliases are refused (no billion laughs).
 */
#ifndef K8C_YAML_JSON_H
#define K8C_YAML_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "error.h"

/* A new JSON value, or NULL with err set (err->code 0). */
json_t *k8c_yaml_to_json(const char *text, size_t len, bool typed, struct k8c_error *err);

#endif

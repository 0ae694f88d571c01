/* k8c-host-local as a plugin table, for its binary and for in-process IPAM in k8c-bridge. */
#ifndef K8C_HOSTLOCAL_H
#define K8C_HOSTLOCAL_H

#include "plugin.h"

extern const struct cni_plugin hostlocal_plugin;

#endif

/* The controllers' definitions, one line each; ctrl_manager.c lists them in ctrl_registry. */
#ifndef K8C_CTRL_CONTROLLERS_H
#define K8C_CTRL_CONTROLLERS_H

#include "controller.h"

extern const struct k8c_controller_def ctrl_serviceaccount_def;
extern const struct k8c_controller_def ctrl_resourcequota_def;
extern const struct k8c_controller_def ctrl_volume_def;
extern const struct k8c_controller_def ctrl_serviceaccount_token_def;
extern const struct k8c_controller_def ctrl_nodeipam_def;
extern const struct k8c_controller_def ctrl_nodelifecycle_def;
extern const struct k8c_controller_def ctrl_garbagecollector_def;

#endif

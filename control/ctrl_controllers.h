/* The controllers' definitions, one line each; ctrl_manager.c lists them in ctrl_registry. */
#ifndef K8C_CTRL_CONTROLLERS_H
#define K8C_CTRL_CONTROLLERS_H

#include "controller.h"

extern const struct k8c_controller_def ctrl_serviceaccount_def;
extern const struct k8c_controller_def ctrl_resourcequota_def;
extern const struct k8c_controller_def ctrl_volume_def;
extern const struct k8c_controller_def ctrl_podgc_def;
extern const struct k8c_controller_def ctrl_serviceaccount_token_def;
extern const struct k8c_controller_def ctrl_nodeipam_def;
extern const struct k8c_controller_def ctrl_nodelifecycle_def;
extern const struct k8c_controller_def ctrl_garbagecollector_def;
extern const struct k8c_controller_def ctrl_replicaset_def;
extern const struct k8c_controller_def ctrl_replicationcontroller_def;
extern const struct k8c_controller_def ctrl_deployment_def;
extern const struct k8c_controller_def ctrl_daemonset_def;
extern const struct k8c_controller_def ctrl_statefulset_def;
extern const struct k8c_controller_def ctrl_scheduler_def;
extern const struct k8c_controller_def ctrl_endpoint_def;
extern const struct k8c_controller_def ctrl_endpointslice_def;
extern const struct k8c_controller_def ctrl_endpointslicemirroring_def;

#endif

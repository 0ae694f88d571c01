/*
 * The controllers k8c knows (the registry), their settings, and the manager flags shared by
 * k8c-controller-manager (ctrl_main.c) and k8c-server, which runs the manager in-process.
 * docs/controllers.md.
 */
#ifndef K8C_CTRL_MANAGER_H
#define K8C_CTRL_MANAGER_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "controller.h"
#include "error.h"

/* Settings the controllers read (set before the manager starts, read-only afterwards). */
struct ctrl_config {
	const char *cluster_cidr;      /* nodeipam: --cluster-cidr (10.244.0.0/16) */
	int node_cidr_mask_size;       /* nodeipam: --node-cidr-mask-size (24) */
	int node_monitor_grace_period; /* nodelifecycle: seconds (40) */
	int pod_gc_quarantine;	       /* podgc: seconds a pod's node must be gone (40) */
	const char *provision_root;    /* persistentvolume-binder: --provision-root */
	/* serviceaccount-token: --service-account-private-key-file, --root-ca-file (k8c-server
	 * sets them to its pki/sa.key and pki/ca.crt); leaked on purpose when set by the server */
	const char *sa_key_file;
	const char *root_ca_file;
	const char *root_ca_data; /* else this PEM (k8c-controller-manager: its kubeconfig's CA) */
};
extern struct ctrl_config ctrl_config;

/* Every controller, one line each in ctrl_manager.c; NULL-terminated. */
extern const struct k8c_controller_def *const ctrl_registry[];

/* The manager's command-line flags (besides --kubeconfig and --log-level). */
struct ctrl_flags {
	const char *controllers; /* "*", "a,b", "*,-garbagecollector", "" for none */
	bool leader_elect;
	int lease_duration_s, renew_deadline_s, retry_period_s;
	const char *lease_namespace, *lease_name;
};
#define CTRL_FLAGS_DEFAULT                                                                         \
	{                                                                                          \
		.controllers = "*", .leader_elect = true, .lease_duration_s = 15,                  \
		.renew_deadline_s = 10, .retry_period_s = 2, .lease_namespace = "kube-system",     \
		.lease_name = "k8c-controller-manager"                                             \
	}

/* getopt_long entries for them (values >= CTRL_OPT_BASE), to append to a program's table. */
#define CTRL_OPT_BASE 0x4000
extern const struct option ctrl_options[];
extern const size_t ctrl_n_options;
/* Handle one of them (opt >= CTRL_OPT_BASE); -1 with err on a bad value. */
int ctrl_parse_option(int opt, const char *arg, struct ctrl_flags *f, struct k8c_error *err);
/* The --help lines for them. */
void ctrl_usage(FILE *f);

/*
 * The controllers a --controllers value chooses, as kube-controller-manager: a comma list of
 * names, `*` for every one, `-name` to leave one out ("*,-nodeipam"). *out is a NULL-terminated
 * array (free() it; the names belong to the registry). Unknown names are an error.
 */
int ctrl_select(const char *spec, const char ***out, size_t *n, struct k8c_error *err);

/* A duration "15s", "2m", "1h30m" or plain seconds "15", in whole seconds (> 0). */
int ctrl_parse_seconds(const char *s, int *out);

#endif

/* The controller registry, settings and manager flags (ctrl_manager.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctrl_manager.h"
#include "ctrl_controllers.h"

struct ctrl_config ctrl_config = {
	.cluster_cidr = "10.244.0.0/16",
	.node_cidr_mask_size = 24,
	.node_monitor_grace_period = 40,
	.pod_gc_quarantine = 40,
	.provision_root = "/var/lib/k8c/volumes",
};

/* one line per controller (kept so for merges: clang-format would pack them) */
/* clang-format off */
const struct k8c_controller_def *const ctrl_registry[] = {
	&ctrl_serviceaccount_def,
	&ctrl_serviceaccount_token_def,
	&ctrl_nodeipam_def,
	&ctrl_nodelifecycle_def,
	&ctrl_garbagecollector_def,
	&ctrl_replicaset_def,
	&ctrl_replicationcontroller_def,
	&ctrl_deployment_def,
	&ctrl_daemonset_def,
	&ctrl_statefulset_def,
	&ctrl_scheduler_def,
	&ctrl_endpoint_def,
	&ctrl_endpointslice_def,
	&ctrl_endpointslicemirroring_def,
	&ctrl_resourcequota_def,
	&ctrl_volume_def,
	&ctrl_podgc_def,
	NULL,
};
/* clang-format on */

enum {
	O_CONTROLLERS = CTRL_OPT_BASE,
	O_LEADER_ELECT,
	O_LEASE_DURATION,
	O_RENEW_DEADLINE,
	O_RETRY_PERIOD,
	O_LEASE_NS,
	O_LEASE_NAME,
	O_CLUSTER_CIDR,
	O_NODE_MASK,
	O_GRACE,
	O_PODGC_QUARANTINE,
	O_PROVISION_ROOT,
	O_SA_KEY,
	O_ROOT_CA,
};

const struct option ctrl_options[] = {
	{"controllers", required_argument, NULL, O_CONTROLLERS},
	{"leader-elect", optional_argument, NULL, O_LEADER_ELECT},
	{"leader-elect-lease-duration", required_argument, NULL, O_LEASE_DURATION},
	{"leader-elect-renew-deadline", required_argument, NULL, O_RENEW_DEADLINE},
	{"leader-elect-retry-period", required_argument, NULL, O_RETRY_PERIOD},
	{"leader-elect-resource-namespace", required_argument, NULL, O_LEASE_NS},
	{"leader-elect-resource-name", required_argument, NULL, O_LEASE_NAME},
	{"cluster-cidr", required_argument, NULL, O_CLUSTER_CIDR},
	{"node-cidr-mask-size", required_argument, NULL, O_NODE_MASK},
	{"node-monitor-grace-period", required_argument, NULL, O_GRACE},
	{"pod-gc-quarantine", required_argument, NULL, O_PODGC_QUARANTINE},
	{"provision-root", required_argument, NULL, O_PROVISION_ROOT},
	{"service-account-private-key-file", required_argument, NULL, O_SA_KEY},
	{"root-ca-file", required_argument, NULL, O_ROOT_CA},
};
const size_t ctrl_n_options = sizeof(ctrl_options) / sizeof(ctrl_options[0]);

void ctrl_usage(FILE *f)
{
	fputs("  --controllers LIST      controllers to run: comma-separated names, '*' for all,\n"
	      "                          '-name' to leave one out (default '*'); known: ",
	      f);
	for (size_t i = 0; ctrl_registry[i]; i++)
		fprintf(f, "%s%s", i ? ", " : "", ctrl_registry[i]->name);
	fputs("\n"
	      "  --leader-elect[=BOOL]   hold a Lease before running controllers (default true)\n"
	      "  --leader-elect-lease-duration D  (default 15s)\n"
	      "  --leader-elect-renew-deadline D  (default 10s)\n"
	      "  --leader-elect-retry-period D    (default 2s)\n"
	      "  --leader-elect-resource-namespace NS  the Lease's namespace (kube-system)\n"
	      "  --leader-elect-resource-name NAME     the Lease's name (k8c-controller-manager)\n"
	      "  --cluster-cidr CIDR     pod CIDR nodes' podCIDRs come from (10.244.0.0/16)\n"
	      "  --node-cidr-mask-size N prefix length of each node's podCIDR (24)\n"
	      "  --node-monitor-grace-period D  a node whose Lease is older is Unknown (40s)\n"
	      "  --pod-gc-quarantine D   podgc: how long a pod's node must be gone before the\n"
	      "                          pod is force-deleted (40s, as kube)\n"
	      "  --service-account-private-key-file F  RSA key signing legacy Secret tokens\n"
	      "                          (k8c-server: its pki/sa.key)\n"
	      "  --root-ca-file F        ca.crt put into token Secrets (default: the CA of the\n"
	      "                          kubeconfig; k8c-server: its pki/ca.crt)\n",
	      f);
}

int ctrl_parse_seconds(const char *s, int *out)
{
	const char *p = s;
	long long total = 0;

	if (!*s)
		return -1;
	while (*p) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno || end == p || v < 0)
			return -1;
		if (!*end && p == s) { /* plain seconds */
			total = v;
			p = end;
			break;
		}
		if (!*end || !strchr("hms", *end))
			return -1;
		total += v * (*end == 'h' ? 3600 : *end == 'm' ? 60 : 1);
		if (total > 86400LL * 365)
			return -1;
		p = end + 1;
	}
	if (total <= 0 || total > 86400LL * 365)
		return -1;
	*out = (int)total;
	return 0;
}

int ctrl_parse_option(int opt, const char *arg, struct ctrl_flags *f, struct k8c_error *err)
{
	int *secs = NULL;
	const char *name = "?";

	for (size_t i = 0; i < ctrl_n_options; i++)
		if (ctrl_options[i].val == opt)
			name = ctrl_options[i].name;
	switch (opt) {
	case O_CONTROLLERS:
		f->controllers = arg;
		return 0;
	case O_LEADER_ELECT:
		if (!arg || strcmp(arg, "true") == 0)
			f->leader_elect = true;
		else if (strcmp(arg, "false") == 0)
			f->leader_elect = false;
		else
			return k8c_error_set(err, 0, "--leader-elect: \"%s\" is not true or false",
					     arg);
		return 0;
	case O_LEASE_DURATION:
		secs = &f->lease_duration_s;
		break;
	case O_RENEW_DEADLINE:
		secs = &f->renew_deadline_s;
		break;
	case O_RETRY_PERIOD:
		secs = &f->retry_period_s;
		break;
	case O_GRACE:
		secs = &ctrl_config.node_monitor_grace_period;
		break;
	case O_PODGC_QUARANTINE:
		secs = &ctrl_config.pod_gc_quarantine;
		break;
	case O_LEASE_NS:
		f->lease_namespace = arg;
		return 0;
	case O_SA_KEY:
		ctrl_config.sa_key_file = arg;
		return 0;
	case O_ROOT_CA:
		ctrl_config.root_ca_file = arg;
		return 0;
	case O_LEASE_NAME:
		f->lease_name = arg;
		return 0;
	case O_PROVISION_ROOT:
		ctrl_config.provision_root = arg;
		return 0;
	case O_CLUSTER_CIDR:
		ctrl_config.cluster_cidr = arg;
		return 0;
	case O_NODE_MASK: {
		char *end;
		long v = strtol(arg, &end, 10);

		if (!*arg || *end || v < 1 || v > 128)
			return k8c_error_set(err, 0,
					     "--node-cidr-mask-size: \"%s\" is not an integer in "
					     "[1, 128]",
					     arg);
		ctrl_config.node_cidr_mask_size = (int)v;
		return 0;
	}
	default:
		return k8c_error_set(err, 0, "unknown option");
	}
	if (ctrl_parse_seconds(arg, secs) < 0)
		return k8c_error_set(err, 0,
				     "--%s: \"%s\" is not a positive duration (e.g. 15s, 2m, 15)",
				     name, arg);
	return 0;
}

static bool known(const char *name)
{
	for (size_t i = 0; ctrl_registry[i]; i++)
		if (strcmp(ctrl_registry[i]->name, name) == 0)
			return true;
	return false;
}

int ctrl_select(const char *spec, const char ***out, size_t *n_out, struct k8c_error *err)
{
	_cleanup_free_ char *copy = k8c_xstrdup(spec);
	size_t n_reg = 0, n = 0;
	bool star = false;
	const char **names;
	char *save = NULL;

	while (ctrl_registry[n_reg])
		n_reg++;
	/* validate first */
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const char *name = *t == '-' ? t + 1 : t;

		if (strcmp(t, "*") == 0) {
			star = true;
			continue;
		}
		if (!known(name))
			return k8c_error_set(
				err, 0, "--controllers: \"%s\" is not a known controller", name);
	}
	names = k8c_xcalloc(n_reg + 1, sizeof(*names));
	for (size_t i = 0; i < n_reg; i++) {
		const char *name = ctrl_registry[i]->name;
		bool on = star, excluded = false;
		const char *p = spec;

		/* an explicit name or -name, anywhere in the list */
		while (*p) {
			size_t len = strcspn(p, ",");

			if (len == strlen(name) && strncmp(p, name, len) == 0)
				on = true;
			if (*p == '-' && len == strlen(name) + 1 &&
			    strncmp(p + 1, name, len - 1) == 0)
				excluded = true;
			p += len;
			if (*p == ',')
				p++;
		}
		if (on && !excluded)
			names[n++] = name;
	}
	*out = names;
	if (n_out)
		*n_out = n;
	return 0;
}

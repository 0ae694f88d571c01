/*
 * k8c-controller-manager: the controllers of control/ctrl_*.c against any Kubernetes API server,
 * with leader election (docs/controllers.md). k8c-server runs the same manager in-process.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctrl_manager.h"
#include "kubeconfig.h"
#include "log.h"

static void usage(FILE *f)
{
	fputs("Usage: k8c-controller-manager [OPTIONS]\n"
	      "Run the k8c controllers against a Kubernetes API server (docs/controllers.md).\n\n"
	      "  --kubeconfig PATH       API server credentials (else $KUBECONFIG, the in-cluster\n"
	      "                          config, ~/.kube/config)\n",
	      f);
	ctrl_usage(f);
	fputs("  --log-level LEVEL       debug, info, warn or error (default info)\n"
	      "  --help                  show this help\n",
	      f);
}

int main(int argc, char **argv)
{
	enum { O_KUBECONFIG = 256, O_LOG, O_HELP };
	struct option opts[32] = {
		{"kubeconfig", required_argument, NULL, O_KUBECONFIG},
		{"log-level", required_argument, NULL, O_LOG},
		{"help", no_argument, NULL, O_HELP},
	};
	struct ctrl_flags fl = CTRL_FLAGS_DEFAULT;
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ctrl_manager *m;
	struct k8c_ctrl_manager_opts mo = {0};
	enum k8c_log_level level = K8C_LOG_INFO;
	const char *kubeconfig = NULL;
	_cleanup_free_ const char **names = NULL;
	_cleanup_close_ int sfd = -1;
	struct pollfd p[2];
	sigset_t mask;
	size_t n = 3, n_names = 0;
	int c, rc = 0;

	for (size_t i = 0; i < ctrl_n_options; i++)
		opts[n++] = ctrl_options[i];
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_KUBECONFIG:
			kubeconfig = optarg;
			break;
		case O_LOG:
			if (k8c_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr,
					"k8c-controller-manager: --log-level: \"%s\" is not one of "
					"debug, info, warn, error\n",
					optarg);
				return 2;
			}
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "k8c-controller-manager: %s needs a value\n",
				argv[optind - 1]);
			return 2;
		case '?':
			fprintf(stderr, "k8c-controller-manager: unknown flag %s (see --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			if (ctrl_parse_option(c, optarg, &fl, &err) < 0) {
				fprintf(stderr, "k8c-controller-manager: %s\n", err.msg);
				k8c_error_clear(&err);
				return 2;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "k8c-controller-manager: unexpected argument %s (see --help)\n",
			argv[optind]);
		return 2;
	}
	if (ctrl_select(fl.controllers, &names, &n_names, &err) < 0) {
		fprintf(stderr, "k8c-controller-manager: %s\n", err.msg);
		k8c_error_clear(&err);
		return 2;
	}
	k8c_log_init("k8c-controller-manager", level);
	if (k8c_kubeconfig_default(kubeconfig, NULL, &cfg, &err) < 0) {
		fprintf(stderr, "k8c-controller-manager: %s\n", err.msg);
		k8c_error_clear(&err);
		return 1;
	}
	if (!ctrl_config.root_ca_file && cfg.ca)
		ctrl_config.root_ca_data = cfg.ca;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread starts: they inherit it */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	mo.cfg = &cfg;
	mo.controllers = names;
	mo.leader_elect = fl.leader_elect;
	mo.lease_namespace = fl.lease_namespace;
	mo.lease_name = fl.lease_name;
	mo.lease_duration_s = fl.lease_duration_s;
	mo.renew_deadline_s = fl.renew_deadline_s;
	mo.retry_period_s = fl.retry_period_s;
	mo.user_agent = "k8c-controller-manager";
	k8c_log_info("starting", "server=%s controllers=%zu leader_elect=%s", cfg.server, n_names,
		     fl.leader_elect ? "true" : "false");
	if (!(m = k8c_ctrl_manager_start(&mo, ctrl_registry, &err))) {
		fprintf(stderr, "k8c-controller-manager: %s\n", err.msg);
		k8c_error_clear(&err);
		k8c_kubeconfig_free(&cfg);
		return 1;
	}
	p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = k8c_ctrl_manager_lost_fd(m), .events = POLLIN};
	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (p[1].revents) {
		k8c_log_error("leader lease lost, exiting", NULL);
		rc = 1;
	} else {
		k8c_log_info("stopping", NULL);
	}
	k8c_ctrl_manager_stop(m);
	k8c_kubeconfig_free(&cfg);
	return rc;
}

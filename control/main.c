/* k8c-server: the API server's command line. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server.h"

static void usage(FILE *f)
{
	fputs("Usage: k8c-server [OPTIONS]\n"
	      "Serve the Kubernetes API over HTTPS (HTTP/1.1 and HTTP/2), state in SQLite.\n\n"
	      "  --data-dir DIR          state.db, pki/ and admin.kubeconfig (default "
	      "/var/lib/k8c)\n"
	      "  --secure-port PORT      HTTPS port (default 6443)\n"
	      "  --bind-address ADDR     IP address to listen on (default 0.0.0.0)\n"
	      "  --kube-minor N          minor version reported by /version (default 31)\n"
	      "  --compact-interval SEC  compact the store every SEC seconds, keeping one "
	      "interval\n"
	      "                          of history for watchers (default 300, 0 = never)\n"
	      "  --event-ttl DURATION    delete Events this long after their last write, e.g. "
	      "1h, 30m,\n"
	      "                          90s, 1h30m (default 1h, 0 = keep them)\n"
	      "  --threads N             event-loop threads serving requests (default: the\n"
	      "                          number of CPUs)\n"
	      "  --log-level LEVEL       debug, info, warn or error (default info); logs are\n"
	      "                          logfmt lines on stderr\n",
	      f);
	fputs("The controllers run in-process against this server (admin certificate, loopback)\n"
	      "unless --controllers is empty; see docs/controllers.md:\n",
	      f);
	ctrl_usage(f);
	fputs("  --help                  show this help\n", f);
}

/* A Go duration of hours, minutes and seconds ("1h", "1h30m", "90s", "0") in whole seconds. */
static int parse_duration(const char *flag, const char *s, int *out)
{
	const char *p = s;
	long long total = 0;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	while (*p) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno || end == p || v < 0 || !strchr("hms", *end) || !*end)
			goto bad;
		total += v * (*end == 'h' ? 3600 : *end == 'm' ? 60 : 1);
		if (total > 86400LL * 365)
			goto bad;
		p = end + 1;
	}
	if (p == s)
		goto bad;
	*out = (int)total;
	return 0;
bad:
	fprintf(stderr,
		"k8c-server: %s: \"%s\" is not a duration of hours, minutes and seconds (e.g. "
		"1h30m, 90s) up to a year\n",
		flag, s);
	return -1;
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi) {
		fprintf(stderr, "k8c-server: %s: \"%s\" is not an integer in [%d, %d]\n", flag, s,
			lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct option opts[32] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"secure-port", required_argument, NULL, 'p'},
		{"bind-address", required_argument, NULL, 'b'},
		{"kube-minor", required_argument, NULL, 'm'},
		{"compact-interval", required_argument, NULL, 'c'},
		{"event-ttl", required_argument, NULL, 'e'},
		{"threads", required_argument, NULL, 't'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
	};
	struct ctrl_flags ctrl = CTRL_FLAGS_DEFAULT;
	size_t n_opts = 9;
	struct server_config cfg = {
		.data_dir = "/var/lib/k8c",
		.bind_address = "0.0.0.0",
		.port = 6443,
		.kube_minor = 31,
		.compact_interval = 300,
		.event_ttl = 3600,
		.threads = 0,
		.ctrl = &ctrl,
	};
	enum k8c_log_level level = K8C_LOG_INFO;
	struct k8c_error err = K8C_ERROR_INIT;
	int c;

	for (size_t i = 0; i < ctrl_n_options; i++)
		opts[n_opts++] = ctrl_options[i];
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'p':
			if (parse_int("--secure-port", optarg, 1, 65535, &cfg.port) < 0)
				return 2;
			break;
		case 'b':
			cfg.bind_address = optarg;
			break;
		case 'm':
			if (parse_int("--kube-minor", optarg, 0, 999, &cfg.kube_minor) < 0)
				return 2;
			break;
		case 'c':
			if (parse_int("--compact-interval", optarg, 0, 86400 * 365,
				      &cfg.compact_interval) < 0)
				return 2;
			break;
		case 'e':
			if (parse_duration("--event-ttl", optarg, &cfg.event_ttl) < 0)
				return 2;
			break;
		case 't':
			if (parse_int("--threads", optarg, 1, 256, &cfg.threads) < 0)
				return 2;
			break;
		case 'l':
			if (k8c_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr,
					"k8c-server: --log-level: \"%s\" is not one of debug, "
					"info, "
					"warn, error\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "k8c-server: %s needs a value\n", argv[optind - 1]);
			return 2;
		case '?':
			fprintf(stderr, "k8c-server: unknown flag %s (see --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			if (ctrl_parse_option(c, optarg, &ctrl, &err) < 0) {
				fprintf(stderr, "k8c-server: %s\n", err.msg);
				k8c_error_clear(&err);
				return 2;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "k8c-server: unexpected argument %s (see --help)\n", argv[optind]);
		return 2;
	}
	{
		unsigned char a[16];

		if (inet_pton(AF_INET, cfg.bind_address, a) != 1 &&
		    inet_pton(AF_INET6, cfg.bind_address, a) != 1) {
			fprintf(stderr, "k8c-server: --bind-address: \"%s\" is not an IP address\n",
				cfg.bind_address);
			return 2;
		}
	}
	{
		const char **names = NULL;

		if (ctrl_select(ctrl.controllers, &names, NULL, &err) < 0) {
			fprintf(stderr, "k8c-server: %s\n", err.msg);
			k8c_error_clear(&err);
			return 2;
		}
		free(names);
	}
	if (!*cfg.data_dir) {
		fprintf(stderr, "k8c-server: --data-dir must not be empty\n");
		return 2;
	}
	k8c_log_init("k8c-server", level);
	if (cfg.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
	}
	if (server_run(&cfg, &err) < 0) {
		fprintf(stderr, "k8c-server: %s\n", err.msg ? err.msg : "failed");
		k8c_error_clear(&err);
		return 1;
	}
	return 0;
}

/* k8c: the node's command line. One verb per file (cli/image.c...), dispatched from a table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
	{"image", "manage the node's image store (import, list, pull, rm, inspect)", cli_image},
	{"up", "start a local cluster whose nodes are network namespaces", cli_up},
	{"down", "stop a local cluster and remove everything it made", cli_down},
	{"status", "a local cluster's addresses, daemons and nodes", cli_status},
	{"kubeconfig", "print the path of a local cluster's kubeconfig", cli_kubeconfig},
	{"join-config", "a kubeconfig with a token for another machine's node daemons",
	 cli_join_config},
	{"routes", "the routes between machines' pod networks (host-gw, printed or applied)",
	 cli_routes},
	{"bench", "measure service throughput on a local cluster (pod IP, ClusterIP...)",
	 cli_bench},
};

static void usage(FILE *f)
{
	fputs("Usage: k8c COMMAND [ARGS...]\n\nCommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
	fputs("\nRun 'k8c COMMAND --help' for a command's options.\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("k8c %s\n", K8C_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "k8c: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}

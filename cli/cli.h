/* The k8c command's verbs: each takes its own argv (argv[0] is the verb) and returns the exit
 * status (0 ok, 1 failed, 2 usage). */
#ifndef K8C_CLI_H
#define K8C_CLI_H

struct cli_command {
	const char *name, *help;
	int (*run)(int argc, char **argv);
};

/* k8c image import|list|pull|rm|inspect (cli/image.c). */
int cli_image(int argc, char **argv);

/* k8c up|down|status|kubeconfig: local clusters of network-namespace nodes (cli/cluster.c). */
int cli_up(int argc, char **argv);
int cli_down(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_kubeconfig(int argc, char **argv);
/* k8c join-config: a token kubeconfig for the node daemons of another machine (cli/join.c). */
int cli_join_config(int argc, char **argv);
/* k8c routes: the host-gw routes of a machine of a real deployment (cli/routes.c). */
int cli_routes(int argc, char **argv);
/* k8c bench: service throughput on a local cluster (cli/bench.c). */
int cli_bench(int argc, char **argv);

#endif

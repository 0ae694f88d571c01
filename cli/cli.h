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

#endif

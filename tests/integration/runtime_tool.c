/*
 * A command line over agent/runtime.h for runtime_runc.sh: each invocation is a new process, so
 * the test also shows that the shim outlives its caller and that state is read back from disk.
 *
 *   k8c_runtime_tool GLOBAL start ID --rootfs DIR[:DIR...] --log FILE [OPTIONS] -- ARGV...
 *   k8c_runtime_tool GLOBAL status|wait|remove ID
 *   k8c_runtime_tool GLOBAL kill ID SIGNAL
 *   k8c_runtime_tool GLOBAL exec [--tty] [--stdin] ID -- ARGV...   (exits with the exec's code)
 *   k8c_runtime_tool GLOBAL list
 * GLOBAL: --state-dir D --runc-root R [--cgroup-parent P] [--log-max-bytes N]
 *         [--log-max-files N] [--shim PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

static const char *const state_names[] = {"created", "running", "exited", "unknown"};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: k8c_runtime_tool --state-dir D --runc-root R [--cgroup-parent P]\n"
		"         [--log-max-bytes N] [--log-max-files N] [--shim PATH] COMMAND ...\n"
		"  start ID --rootfs DIR[:DIR...] --log FILE [--netns PATH] [--ipc PATH] [--uts "
		"PATH]\n"
		"        [--env K=V]... [--cwd DIR] [--uid N] [--gid N] [--memory BYTES]\n"
		"        [--cpu-shares N] [--cpu-quota US] [--cpu-period US] [--readonly] [--tty]\n"
		"        [--hostname H] [--cap-add C]... [--cap-drop C]... [--privileged]\n"
		"        [--bind SRC:DST[:ro]]... [--tmpfs DST] [--stdin] -- ARGV...\n"
		"  status ID | wait ID | remove ID | kill ID SIGNAL | list\n"
		"  exec [--tty] [--stdin] ID -- ARGV...   (exits with the command's exit code)\n"
		"Status is printed as JSON. Drives agent/runtime.c for tests/integration.\n");
}

static int die(const char *what, struct k8c_error *err)
{
	fprintf(stderr, "%s: %s\n", what, err->msg ? err->msg : "failed");
	k8c_error_clear(err);
	return 1;
}

static void print_status(const char *id, const struct k8c_container_status *st)
{
	printf("{\"id\":\"%s\",\"state\":\"%s\",\"pid\":%d,\"exit_code\":%d,\"reason\":\"%s\","
	       "\"created_ns\":%lld,\"started_ns\":%lld,\"finished_ns\":%lld}\n",
	       id, state_names[st->state], (int)st->pid, st->exit_code, st->reason,
	       (long long)st->created_ns, (long long)st->started_ns, (long long)st->finished_ns);
}

#define MAXV 64

static int cmd_start(struct k8c_runtime *rt, int argc, char **argv)
{
	static const struct option opts[] = {
		{"rootfs", required_argument, NULL, 'r'},
		{"log", required_argument, NULL, 'l'},
		{"netns", required_argument, NULL, 'n'},
		{"ipc", required_argument, NULL, 'i'},
		{"uts", required_argument, NULL, 'u'},
		{"env", required_argument, NULL, 'e'},
		{"cwd", required_argument, NULL, 'w'},
		{"uid", required_argument, NULL, 'U'},
		{"gid", required_argument, NULL, 'G'},
		{"memory", required_argument, NULL, 'm'},
		{"cpu-shares", required_argument, NULL, 's'},
		{"cpu-quota", required_argument, NULL, 'q'},
		{"cpu-period", required_argument, NULL, 'p'},
		{"readonly", no_argument, NULL, 'R'},
		{"tty", no_argument, NULL, 't'},
		{"hostname", required_argument, NULL, 'h'},
		{"cap-add", required_argument, NULL, 'a'},
		{"cap-drop", required_argument, NULL, 'd'},
		{"privileged", no_argument, NULL, 'P'},
		{"bind", required_argument, NULL, 'b'},
		{"tmpfs", required_argument, NULL, 'T'},
		{"stdin", no_argument, NULL, 'I'},
		{NULL, 0, NULL, 0},
	};
	struct k8c_container_spec spec = {0};
	const char *lower[MAXV] = {0}, *env[MAXV] = {0}, *add[MAXV] = {0}, *drop[MAXV] = {0};
	struct k8c_mount mounts[MAXV];
	size_t nl = 0, ne = 0, na = 0, nd = 0;
	struct k8c_error err = K8C_ERROR_INIT;
	int c;

	memset(mounts, 0, sizeof(mounts));
	optind = 0; /* "start ID [OPTIONS] -- ARGV": options may follow the id */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			for (char *s = strtok(optarg, ":"); s && nl < MAXV - 1;
			     s = strtok(NULL, ":"))
				lower[nl++] = s;
			break;
		case 'l':
			spec.log_path = optarg;
			break;
		case 'n':
			spec.netns_path = optarg;
			break;
		case 'i':
			spec.ipc_ns_path = optarg;
			break;
		case 'u':
			spec.uts_ns_path = optarg;
			break;
		case 'e':
			if (ne < MAXV - 1)
				env[ne++] = optarg;
			break;
		case 'w':
			spec.cwd = optarg;
			break;
		case 'U':
			spec.uid = (uint32_t)atol(optarg);
			break;
		case 'G':
			spec.gid = (uint32_t)atol(optarg);
			break;
		case 'm':
			spec.memory_limit_bytes = atoll(optarg);
			break;
		case 's':
			spec.cpu_shares = atoll(optarg);
			break;
		case 'q':
			spec.cpu_quota_us = atoll(optarg);
			break;
		case 'p':
			spec.cpu_period_us = atoll(optarg);
			break;
		case 'R':
			spec.readonly_rootfs = true;
			break;
		case 't':
			spec.tty = true;
			break;
		case 'h':
			spec.hostname = optarg;
			break;
		case 'a':
			if (na < MAXV - 1)
				add[na++] = optarg;
			break;
		case 'd':
			if (nd < MAXV - 1)
				drop[nd++] = optarg;
			break;
		case 'P':
			spec.privileged = true;
			break;
		case 'I':
			spec.stdin_open = true;
			break;
		case 'b':
		case 'T': {
			struct k8c_mount *m = &mounts[spec.n_mounts];
			char *dst, *ro;

			if (spec.n_mounts >= MAXV)
				break;
			if (c == 'T') {
				m->type = "tmpfs";
				m->destination = optarg;
			} else {
				dst = strchr(optarg, ':');
				if (!dst) {
					fprintf(stderr, "--bind SRC:DST[:ro]\n");
					return 2;
				}
				*dst++ = 0;
				ro = strchr(dst, ':');
				if (ro) {
					*ro++ = 0;
					m->readonly = strcmp(ro, "ro") == 0;
				}
				m->source = optarg;
				m->destination = dst;
			}
			spec.n_mounts++;
			break;
		}
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	spec.id = argv[optind++];
	spec.argv = (const char *const *)&argv[optind];
	spec.rootfs_lower = lower;
	spec.env = env;
	spec.add_caps = add;
	spec.drop_caps = drop;
	spec.mounts = mounts;
	if (k8c_container_start(rt, &spec, &err) < 0)
		return die("start", &err);
	return 0;
}

static int cmd_exec(struct k8c_runtime *rt, int argc, char **argv)
{
	bool tty = false, in = false;
	int fds[3], status, i = 1;
	pid_t pid;
	struct k8c_error err = K8C_ERROR_INIT;

	for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--tty") == 0)
			tty = true;
		else if (strcmp(argv[i], "--stdin") == 0)
			in = true;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *id = argv[i++];

	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (k8c_container_exec(rt, id, (const char *const *)&argv[i], tty, fds, &pid, &err) < 0)
		return die("exec", &err);
	/* stdin: copied when asked (to EOF, then closed); output to ours */
	struct pollfd p[3] = {{.fd = in ? 0 : -1, .events = POLLIN},
			      {.fd = fds[1], .events = POLLIN},
			      {.fd = fds[2], .events = POLLIN}};
	if (tty) {
		p[1].fd = fds[0];
		if (!in)
			p[0].fd = -1;
	} else if (!in) {
		close(fds[0]);
	}
	char buf[65536];

	while (p[1].fd >= 0 || p[2].fd >= 0) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].fd >= 0 && p[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));

			if (n <= 0) {
				p[0].fd = -1;
				if (!tty)
					close(fds[0]);
			} else if (write(tty ? fds[0] : fds[0], buf, (size_t)n) < 0) {
				p[0].fd = -1;
			}
		}
		for (int k = 1; k < 3; k++) {
			if (p[k].fd < 0 || !p[k].revents)
				continue;
			ssize_t n = read(p[k].fd, buf, sizeof(buf));

			if (n <= 0) {
				close(p[k].fd);
				p[k].fd = -1;
				continue;
			}
			if (write(k == 1 ? 1 : 2, buf, (size_t)n) < 0)
				return 1;
		}
	}
	if (in && p[0].fd >= 0 && !tty)
		close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int dispatch(struct k8c_runtime *rt, const char *cmd, int argc, char **argv)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_container_status st;

	if (strcmp(cmd, "start") == 0)
		return cmd_start(rt, argc, argv);
	if (strcmp(cmd, "exec") == 0)
		return cmd_exec(rt, argc, argv);
	if (strcmp(cmd, "list") == 0) {
		char **ids = k8c_container_list(rt, &err);

		if (!ids)
			return die("list", &err);
		for (char **i = ids; *i; i++) {
			printf("%s\n", *i);
			free(*i);
		}
		free(ids);
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "status") == 0) {
		if (k8c_container_status(rt, argv[1], &st, &err) < 0)
			return die("status", &err);
		print_status(argv[1], &st);
	} else if (strcmp(cmd, "wait") == 0) {
		/* until exited, up to 20 s */
		for (int i = 0; i < 400; i++) {
			if (k8c_container_status(rt, argv[1], &st, &err) < 0)
				return die("status", &err);
			if (st.state == K8C_CTR_EXITED)
				break;
			usleep(50000);
		}
		print_status(argv[1], &st);
		return st.state == K8C_CTR_EXITED ? 0 : 1;
	} else if (strcmp(cmd, "kill") == 0 && argc >= 3) {
		if (k8c_container_kill(rt, argv[1], atoi(argv[2]), &err) < 0)
			return die("kill", &err);
	} else if (strcmp(cmd, "remove") == 0) {
		if (k8c_container_remove(rt, argv[1], &err) < 0)
			return die("remove", &err);
	} else {
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 's'},
		{"runc-root", required_argument, NULL, 'r'},
		{"cgroup-parent", required_argument, NULL, 'c'},
		{"log-max-bytes", required_argument, NULL, 'm'},
		{"log-max-files", required_argument, NULL, 'n'},
		{"shim", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct k8c_runtime_opts o = {0};
	struct k8c_runtime *rt;
	struct k8c_error err = K8C_ERROR_INIT;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.state_dir = optarg;
			break;
		case 'r':
			o.runc_root = optarg;
			break;
		case 'c':
			o.cgroup_parent = optarg;
			break;
		case 'm':
			o.log_max_bytes = atol(optarg);
			break;
		case 'n':
			o.log_max_files = atoi(optarg);
			break;
		case 'S':
			o.shim = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	rt = k8c_runtime_new(&o, &err);
	if (!rt)
		return die("runtime", &err);
	rc = dispatch(rt, argv[optind], argc - optind, argv + optind);
	k8c_runtime_free(rt);
	return rc;
}

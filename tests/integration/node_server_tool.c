/*
 * k8c_node_server_tool: agent/node_server.c with ops of its own, for streams_*.sh: logs are
 * files in --log-dir named <ns>_<pod>_<container>.log (previous instance: .previous.log;
 * <...>.running present while "the container runs"), and exec runs the command on this host in
 * --exec-cwd (and --netns, when given). The bound port is written to --port-file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "node_server.h"

static const char *log_dir = ".", *exec_cwd = "/", *netns;

/*
 * --reaper: this process reaps every child itself (waitpid(-1) in the main thread, as an agent
 * that is a child subreaper would) and answers ops.wait_exit from what it reaped.
 */
#define REAPED_MAX 256
static struct {
	pthread_mutex_t lock;
	pid_t pid[REAPED_MAX];
	int status[REAPED_MAX];
	size_t n;
} reaped = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int wait_exit(void *data, pid_t pid, int *wstatus)
{
	int r = 1;

	pthread_mutex_lock(&reaped.lock);
	for (size_t i = 0; i < reaped.n; i++) {
		if (reaped.pid[i] == pid) {
			*wstatus = reaped.status[i];
			reaped.pid[i] = reaped.pid[--reaped.n];
			reaped.status[i] = reaped.status[reaped.n];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reaped.lock);
	return r;
}

static void reap_all(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		pthread_mutex_lock(&reaped.lock);
		if (reaped.n == REAPED_MAX)
			reaped.n--; /* forget the newest: the table is for a test */
		reaped.pid[reaped.n] = pid;
		reaped.status[reaped.n++] = status;
		pthread_mutex_unlock(&reaped.lock);
	}
}

static char *file_of(const char *ns, const char *pod, const char *container, const char *suffix)
{
	return k8c_xasprintf("%s/%s_%s_%s%s", log_dir, ns, pod, container, suffix);
}

static char *log_path(void *data, const char *ns, const char *pod, const char *container,
		      bool previous, struct k8c_error *err)
{
	char *p = file_of(ns, pod, container, previous ? ".previous.log" : ".log");
	struct stat st;

	if (stat(p, &st) < 0) {
		free(p);
		if (previous)
			k8c_error_set(
				err, 400,
				"previous terminated container \"%s\" in pod \"%s\" not found",
				container, pod);
		else
			k8c_error_set(err, 404, "container \"%s\" in pod \"%s\" not found",
				      container, pod);
		return NULL;
	}
	return p;
}

static bool running(void *data, const char *ns, const char *pod, const char *container)
{
	_cleanup_free_ char *p = file_of(ns, pod, container, ".running");

	return access(p, F_OK) == 0;
}

static void child(const char *const *argv, int in, int out, int errfd, const char *pts)
{
	if (netns) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(126);
	}
	if (chdir(exec_cwd) < 0)
		_exit(126);
	if (pts) {
		int s;

		setsid();
		s = open(pts, O_RDWR);
		if (s < 0)
			_exit(126);
		ioctl(s, TIOCSCTTY, 0);
		in = out = errfd = s;
	}
	{
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* main() blocked some for sigwait */
	}
	dup2(in, 0);
	dup2(out, 1);
	dup2(errfd, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int do_exec(void *data, const char *ns, const char *pod, const char *container,
		   const char *const *argv, bool tty, int fds[3], pid_t *pid, struct k8c_error *err)
{
	_cleanup_free_ char *p = file_of(ns, pod, container, ".log");
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, m = -1;
	char pts[128];

	if (access(p, F_OK) < 0)
		return k8c_error_set(err, 404, "container \"%s\" in pod \"%s\" not found",
				     container, pod);
	if (tty) {
		m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
		    ptsname_r(m, pts, sizeof(pts)) != 0) {
			if (m >= 0)
				close(m);
			return k8c_error_errno(err, 500, errno, "pty");
		}
	} else if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
		   pipe2(er, O_CLOEXEC) < 0) {
		return k8c_error_errno(err, 500, errno, "pipe");
	}
	*pid = fork();
	if (*pid < 0)
		return k8c_error_errno(err, 500, errno, "fork");
	if (*pid == 0)
		child(argv, in[0], out[1], er[1], tty ? pts : NULL);
	if (tty) {
		fds[0] = m;
		fds[1] = fds[2] = -1;
	} else {
		close(in[0]);
		close(out[1]);
		close(er[1]);
		fds[0] = in[1];
		fds[1] = out[0];
		fds[2] = er[0];
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: k8c_node_server_tool --client-ca FILE --cert-dir DIR --log-dir DIR\n"
		   "         [--port N] [--port-file FILE] [--exec-cwd DIR] [--netns PATH]\n"
		   "         [--reaper]  (reap every child here; exit statuses through wait_exit)\n"
		   "Serves agent/node_server.c's /containerLogs and /exec from files and host\n"
		   "processes (tests/integration/streams_*.sh).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"client-ca", required_argument, NULL, 'c'},
					     {"cert-dir", required_argument, NULL, 'd'},
					     {"log-dir", required_argument, NULL, 'l'},
					     {"port", required_argument, NULL, 'p'},
					     {"port-file", required_argument, NULL, 'f'},
					     {"exec-cwd", required_argument, NULL, 'w'},
					     {"netns", required_argument, NULL, 'n'},
					     {"reaper", no_argument, NULL, 'r'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct k8c_node_server_config cfg = {.address = "127.0.0.1", .port = -1};
	struct k8c_node_server_ops ops = {
		.log_path = log_path, .running = running, .exec = do_exec};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_node_server *srv;
	const char *port_file = NULL;
	bool reaper = false;
	sigset_t set;
	int c, sig;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg.client_ca_file = optarg;
			break;
		case 'd':
			cfg.cert_dir = optarg;
			break;
		case 'l':
			log_dir = optarg;
			break;
		case 'p':
			cfg.port = atoi(optarg);
			if (cfg.port == 0)
				cfg.port = -1; /* any */
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'w':
			exec_cwd = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'r':
			reaper = true;
			ops.wait_exit = wait_exit;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	k8c_log_init("k8c_node_server_tool", K8C_LOG_INFO);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	cfg.node_name = "test-node";
	if (!(srv = k8c_node_server_start(&cfg, &ops, &err))) {
		fprintf(stderr, "k8c_node_server_tool: %s\n", err.msg);
		return 1;
	}
	if (port_file) {
		_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");

		if (!f || fprintf(f, "%d\n", k8c_node_server_port(srv)) < 0 || fclose(f) != 0 ||
		    rename(tmp, port_file) < 0) {
			fprintf(stderr, "k8c_node_server_tool: write %s failed\n", port_file);
			return 1;
		}
	}
	for (;;) {
		sigwait(&set, &sig);
		if (sig != SIGCHLD)
			break;
		if (reaper)
			reap_all();
	}
	k8c_node_server_stop(srv);
	return 0;
}

/*
 * k8c-shim: one per container, as conmon (docs/agent.md "Runtime").
 *
 * Started by the runtime library with the bundle prepared; forks a daemon and the first process
 * exits. The daemon leaves the caller's session, becomes a child subreaper, creates the
 * container and starts it with `runc run --detach` (stdio: pipes it owns, or a pty received over a
 * console socket), reports "ok <pid>" or "error <message>" on the sync fd, and then
 * copies the container's stdout and stderr to the CRI log file until the container exits:
 *
 *   2026-11-27T14:13:31.123456789Z stdout F a full line
 *   2026-11-27T14:13:31.123456789Z stderr P the first 16 KiB of a longer line
 *
 * rotating it at --log-max-bytes (the current file renamed <path>.<YYYYMMDD-hhmmss.ns>, a new one
 * opened, at most --log-max-files files kept in all, as the kubelet does; SIGUSR1 reopens the
 * file). It reaps the container, records the exit (code, 128+signal, OOMKilled from the memory
 * cgroup) in <bundle>/shim.json, replaced atomically, and exits. The agent may die and restart
 * meanwhile: nothing here depends on it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "console.h"
#include "log.h"
#include "runtime_int.h"

#define LINE_MAX_BYTES 16384

struct stream {
	const char *name; /* "stdout", "stderr" */
	int fd;
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static struct {
	const char *id, *bundle, *runc, *runc_root, *cgroup_path, *log_path;
	long log_max_bytes;
	int log_max_files, sync_fd, runc_fd;
	bool tty, stdin_open;
	int log_fd;
	long log_size;
	char *state_path;
	struct k8c_shim_state st;
} g = {.sync_fd = -1,
       .runc_fd = -1,
       .log_fd = -1,
       .log_max_bytes = 10 * 1024 * 1024,
       .log_max_files = 5};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: k8c-shim --id ID --bundle DIR --runc PATH --runc-root DIR --log-path FILE\n"
		"                [--cgroup-path PATH] [--log-max-bytes N] [--log-max-files N]\n"
		"                [--sync-fd FD] [--runc-fd FD] [--tty] [--stdin]\n"
		"Runs one container with runc and stays with it (as conmon): copies its output to\n"
		"the CRI log file with rotation, reaps it and records its exit in DIR/shim.json.\n"
		"Started by the agent's runtime (docs/agent.md \"Runtime\"), not by hand.\n"
		"  --id ID            the runc container id\n"
		"  --bundle DIR       the OCI bundle (config.json, rootfs); shim.json is written "
		"here\n"
		"  --runc PATH        the runc binary\n"
		"  --runc-fd FD       run runc from FD instead, the agent's sealed memfd copy of\n"
		"                     PATH (closed once runc has run)\n"
		"  --runc-root DIR    runc --root\n"
		"  --cgroup-path P    the container's cgroupsPath (for OOM detection)\n"
		"  --log-path FILE    the CRI log file\n"
		"  --log-max-bytes N  rotate at N bytes (10 MiB)\n"
		"  --log-max-files N  keep at most N files, the current one included (5)\n"
		"  --sync-fd FD       report \"ok <pid>\" or \"error <message>\" here, then close "
		"it\n"
		"  --tty              the container has a terminal (its output is all stdout)\n"
		"  --stdin            keep the container's stdin open (a pipe)\n"
		"  --help\n");
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	va_list ap;

	if (g.sync_fd < 0)
		return;
	va_start(ap, fmt);
	vdprintf(g.sync_fd, fmt, ap);
	va_end(ap);
	close(g.sync_fd);
	g.sync_fd = -1;
}

static void save_state(void)
{
	if (k8c_shim_state_write(g.state_path, &g.st) < 0) {
		char q[512];

		k8c_log_error("cannot write state", "path=%s error=%s",
			      k8c_log_quote(q, sizeof(q), g.state_path), strerror(errno));
	}
}

/* ---- the CRI log file --------------------------------------------------------------------- */

static void log_open(void)
{
	struct stat sb;

	if (g.log_fd >= 0)
		close(g.log_fd);
	k8c_mkdir_parents(g.log_path, 0755);
	g.log_fd = open(g.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (g.log_fd < 0) {
		k8c_log_error("cannot open the log file", "path=%s error=\"%s\"", g.log_path,
			      strerror(errno));
		return;
	}
	g.log_size = fstat(g.log_fd, &sb) == 0 ? (long)sb.st_size : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Delete the oldest rotated files beyond max_files - 1 (the current file is one of the max). */
static void log_prune(void)
{
	_cleanup_free_ char *dir = k8c_xstrdup(g.log_path);
	char *slash = strrchr(dir, '/');
	const char *base = strrchr(g.log_path, '/') + 1;
	size_t blen = strlen(base), n = 0;
	char **names = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	long keep = g.log_max_files > 1 ? g.log_max_files - 1 : 0;

	*slash = 0;
	d = opendir(*dir ? dir : "/");
	if (!d)
		return;
	while ((e = readdir(d))) {
		/* <base>.<YYYYMMDD-hhmmss>.<ns> */
		if (strncmp(e->d_name, base, blen) != 0 || e->d_name[blen] != '.' ||
		    strlen(e->d_name + blen + 1) < 15 || e->d_name[blen + 9] != '-')
			continue;
		names = k8c_xrealloc(names, (n + 1) * sizeof(char *));
		names[n++] = k8c_xstrdup(e->d_name);
	}
	qsort(names, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if ((long)(n - i) > keep) {
			_cleanup_free_ char *p = k8c_xasprintf("%s/%s", dir, names[i]);

			unlink(p);
		}
		free(names[i]);
	}
	free(names);
}

static void log_rotate(void)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	_cleanup_free_ char *to = NULL;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	/* fixed width, so that names sort as times do (several rotations may share a second) */
	to = k8c_xasprintf("%s.%s.%09ld", g.log_path, stamp, ts.tv_nsec);
	if (rename(g.log_path, to) < 0)
		k8c_log_warn("cannot rotate the log file", "path=%s error=\"%s\"", g.log_path,
			     strerror(errno));
	log_open();
	log_prune();
}

/* One CRI log line: "<RFC3339Nano> <stream> <F|P> <text>\n", in one write. */
static void log_line(const char *stream, bool partial, const char *text, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char head[80], frac[16] = "";
	size_t hlen, total;
	_cleanup_free_ char *line = NULL;

	if (g.tty && !partial && len > 0 && text[len - 1] == '\r')
		len--;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (ts.tv_nsec) {
		/* RFC 3339 with nanoseconds, trailing zeros dropped (Go's RFC3339Nano) */
		int n = snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);

		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = 0;
	}
	hlen = strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
	hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen, "%sZ %s %c ", frac, stream,
				 partial ? 'P' : 'F');
	total = hlen + len + 1;
	line = k8c_xmalloc(total);
	memcpy(line, head, hlen);
	memcpy(line + hlen, text, len);
	line[total - 1] = '\n';
	if (g.log_max_bytes > 0 && g.log_size > 0 && g.log_size + (long)total > g.log_max_bytes)
		log_rotate();
	if (g.log_fd < 0)
		return;
	for (size_t off = 0; off < total;) {
		ssize_t w = write(g.log_fd, line + off, total - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			k8c_log_error("cannot write the log file", "path=%s error=\"%s\"",
				      g.log_path, strerror(errno));
			return;
		}
		off += (size_t)w;
	}
	g.log_size += (long)total;
}

/* Split what was read into lines; a line that fills the buffer goes out as a partial one. */
static void stream_feed(struct stream *s, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n, room = LINE_MAX_BYTES - s->len;

		if (seg > room) {
			memcpy(s->buf + s->len, p, room);
			log_line(s->name, true, s->buf, LINE_MAX_BYTES);
			s->len = 0;
			p += room;
			n -= room;
			continue;
		}
		memcpy(s->buf + s->len, p, seg);
		s->len += seg;
		p += seg;
		n -= seg;
		if (nl) {
			log_line(s->name, false, s->buf, s->len);
			s->len = 0;
			p++;
			n--;
		} else if (s->len == LINE_MAX_BYTES) {
			log_line(s->name, true, s->buf, s->len);
			s->len = 0;
		}
	}
}

/* Read once; false at end of stream (EOF, or EIO from a pty whose other side is gone). */
static bool stream_read(struct stream *s)
{
	char chunk[65536];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		/* the last line, unterminated, counts as a full one (as containerd does) */
		if (s->len > 0)
			log_line(s->name, false, s->buf, s->len);
		s->len = 0;
		close(s->fd);
		s->fd = -1;
		return false;
	}
	stream_feed(s, chunk, (size_t)n);
	return true;
}

/* ---- running runc ------------------------------------------------------------------------- */

/* Fork argv (exec'd from --runc-fd if given) with the given stdio; returns the pid or -1. */
static pid_t spawn(const char *const argv[], int in, int out, int err)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		k8c_close_fds_except(g.runc_fd);
		k8c_execv_fd(g.runc_fd, argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_pid(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* Everything readable now from fd (non-blocking), trimmed, or runc's msg="..." from it. */
static void drain_msg(int fd, char *msg, size_t size)
{
	char text[8192], *m;
	size_t len = 0;
	ssize_t n;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (len < sizeof(text) - 1 && (n = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = 0;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = 0;
	m = strstr(text, "msg=\"");
	if (m) {
		char *end;

		m += 5;
		end = strrchr(m, '"');
		if (end)
			*end = 0;
		/* logrus quotes: \" and \\ */
		char *w = m;

		for (char *r = m; *r; r++) {
			if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
				r++;
			*w++ = *r;
		}
		*w = 0;
		/* "runc run: runc run failed: x" says it twice */
		if (strncmp(m, "runc run failed: ", 17) == 0)
			m += 17;
		snprintf(msg, size, "%.*s", (int)(size - 1), m);
	} else {
		snprintf(msg, size, "%.*s", (int)(size - 1), len ? text : "no output");
	}
}

/* OOM kills in the container's memory cgroup (v1 memory.oom_control, else v2 memory.events). */
static bool oom_killed(void)
{
	if (!g.cgroup_path)
		return false;
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p =
			i == 0 ? k8c_xasprintf("/sys/fs/cgroup/memory%s/memory.oom_control",
					       g.cgroup_path)
			       : k8c_xasprintf("/sys/fs/cgroup%s/memory.events", g.cgroup_path);
		_cleanup_fclose_ FILE *f = fopen(p, "re");
		char key[64];
		long long v;

		if (!f)
			continue;
		while (fscanf(f, "%63s %lld", key, &v) == 2)
			if (strcmp(key, "oom_kill") == 0)
				return v > 0;
	}
	return false;
}

/* ---- main --------------------------------------------------------------------------------- */

static int run(void)
{
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), status, sfd, lfd = -1;
	_cleanup_free_ char *pidfile = k8c_xasprintf("%s/init.pid", g.bundle);
	_cleanup_free_ char *sock = k8c_xasprintf("%s/console.sock", g.bundle);
	struct stream streams[2] = {{.name = "stdout", .fd = -1}, {.name = "stderr", .fd = -1}};
	char msg[1024], buf[32] = "";
	sigset_t mask;
	pid_t pid;
	int64_t runc_ns;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	g.st.shim_pid = getpid();
	g.st.shim_start = k8c_proc_start_time(g.st.shim_pid);
	g.st.state = K8C_CTR_CREATED;
	g.st.created_ns = now_ns();
	save_state();
	log_open();

	/* runc run: the container's stdio are our pipes (or a pty through the console socket) */
	if (pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0 ||
	    (g.stdin_open && !g.tty && pipe2(in_pipe, O_CLOEXEC) < 0)) {
		report("error pipes: %s\n", strerror(errno));
		return 1;
	}
	/*
	 * One runc process, `run --detach` (create and start in one): runc costs 13 ms of CPU per
	 * container so instead of 18 ms with `create` then `start` (measured here), which counts
	 * when a node starts 50 pods at once on 2 cores.
	 */
	const char *run_argv[16] = {g.runc, "--root", g.runc_root, "run", "--detach"};
	size_t n = 5;

	run_argv[n++] = "--bundle";
	run_argv[n++] = g.bundle;
	run_argv[n++] = "--pid-file";
	run_argv[n++] = pidfile;
	if (g.tty) {
		lfd = k8c_console_listen(sock);
		if (lfd < 0) {
			report("error console socket %s: %s\n", sock, strerror(errno));
			return 1;
		}
		run_argv[n++] = "--console-socket";
		run_argv[n++] = sock;
	}
	run_argv[n++] = g.id;
	run_argv[n] = NULL;
	const char *from = g.runc_fd >= 0 ? "memfd" : "binary";

	runc_ns = now_ns();
	if (g.tty) {
		pid = spawn(run_argv, null, null, err_pipe[1]);
	} else {
		pid = spawn(run_argv, in_pipe[0] >= 0 ? in_pipe[0] : null, out_pipe[1],
			    err_pipe[1]);
	}
	/* runc ran (or not): the memfd is not held for the container's life */
	if (g.runc_fd >= 0) {
		close(g.runc_fd);
		g.runc_fd = -1;
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (in_pipe[0] >= 0)
		close(in_pipe[0]);
	status = pid < 0 ? -1 : wait_pid(pid);
	runc_ns = now_ns() - runc_ns;
	if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		drain_msg(err_pipe[0], msg, sizeof(msg));
		report("error runc run: %s\n", msg);
		g.st.state = K8C_CTR_EXITED;
		g.st.exit_code = 128;
		snprintf(g.st.reason, sizeof(g.st.reason), "StartError");
		g.st.finished_ns = now_ns();
		save_state();
		return 1;
	}
	if (g.tty) {
		int master = k8c_console_recv(lfd);

		close(lfd);
		unlink(sock);
		if (master < 0) {
			report("error console from runc: %s\n", strerror(errno));
			return 1;
		}
		close(out_pipe[0]);
		close(err_pipe[0]);
		streams[0].fd = master;
	} else {
		streams[0].fd = out_pipe[0];
		streams[1].fd = err_pipe[0];
	}
	int pf = open(pidfile, O_RDONLY | O_CLOEXEC);

	if (pf >= 0) {
		ssize_t r = read(pf, buf, sizeof(buf) - 1);

		buf[r > 0 ? r : 0] = 0;
		close(pf);
	}
	g.st.pid = (pid_t)atoi(buf);
	if (g.st.pid <= 0) {
		report("error runc run wrote no pid to %s\n", pidfile);
		return 1;
	}
	g.st.started_ns = now_ns();
	g.st.state = K8C_CTR_RUNNING;
	save_state();
	report("ok %d runc_us=%lld\n", (int)g.st.pid, (long long)(runc_ns / 1000));
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	k8c_log_info("container started", "id=%s pid=%d runc=%s start_ms=%.1f runc_cpu_ms=%.1f",
		     g.id, (int)g.st.pid, from, (double)(g.st.started_ns - g.st.created_ns) / 1e6,
		     (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3);
	close(null);

	/* copy output until the container is gone and its pipes are closed */
	bool exited = false;
	int64_t deadline = 0;

	for (;;) {
		struct pollfd pfd[3] = {{.fd = sfd, .events = POLLIN},
					{.fd = streams[0].fd, .events = POLLIN},
					{.fd = streams[1].fd, .events = POLLIN}};
		int timeout = -1, r;

		if (exited) {
			if (streams[0].fd < 0 && streams[1].fd < 0)
				break;
			/* something outside the container still holds a pipe: give up after 2 s */
			int64_t left = (deadline - now_ns()) / 1000000;

			if (left <= 0)
				break;
			timeout = (int)left;
		}
		r = poll(pfd, 3, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (pfd[i + 1].fd >= 0 && pfd[i + 1].revents)
				stream_read(&streams[i]);
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR1)
					log_open();
			}
			pid_t w;

			while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
				if (w != g.st.pid)
					continue;
				exited = true;
				deadline = now_ns() + 2000000000LL;
				g.st.finished_ns = now_ns();
				g.st.exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
						 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
								       : 255;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (streams[i].fd >= 0) {
			if (streams[i].len > 0)
				log_line(streams[i].name, false, streams[i].buf, streams[i].len);
			close(streams[i].fd);
		}
	if (in_pipe[1] >= 0)
		close(in_pipe[1]);
	if (!exited) {
		/* the loop ended without the exit (poll failed): wait for it */
		status = wait_pid(g.st.pid);
		g.st.finished_ns = now_ns();
		g.st.exit_code = status < 0	       ? 255
				 : WIFEXITED(status)   ? WEXITSTATUS(status)
				 : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
						       : 255;
	}
	snprintf(g.st.reason, sizeof(g.st.reason), "%s",
		 oom_killed()	       ? "OOMKilled"
		 : g.st.exit_code == 0 ? "Completed"
				       : "Error");
	g.st.state = K8C_CTR_EXITED;
	save_state();
	k8c_log_info("container exited", "id=%s pid=%d exit_code=%d reason=%s", g.id, (int)g.st.pid,
		     g.st.exit_code, g.st.reason);
	/* reap whatever else was reparented to us */
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"bundle", required_argument, NULL, 'b'},
		{"runc", required_argument, NULL, 'r'},
		{"runc-root", required_argument, NULL, 'R'},
		{"cgroup-path", required_argument, NULL, 'c'},
		{"log-path", required_argument, NULL, 'l'},
		{"log-max-bytes", required_argument, NULL, 'm'},
		{"log-max-files", required_argument, NULL, 'n'},
		{"sync-fd", required_argument, NULL, 's'},
		{"runc-fd", required_argument, NULL, 'F'},
		{"tty", no_argument, NULL, 't'},
		{"stdin", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			g.id = optarg;
			break;
		case 'b':
			g.bundle = optarg;
			break;
		case 'r':
			g.runc = optarg;
			break;
		case 'R':
			g.runc_root = optarg;
			break;
		case 'c':
			g.cgroup_path = optarg;
			break;
		case 'l':
			g.log_path = optarg;
			break;
		case 'm':
			g.log_max_bytes = atol(optarg);
			break;
		case 'n':
			g.log_max_files = atoi(optarg);
			break;
		case 's':
			g.sync_fd = atoi(optarg);
			break;
		case 'F':
			g.runc_fd = atoi(optarg);
			if (g.runc_fd < 3 || fcntl(g.runc_fd, F_GETFD) < 0) {
				fprintf(stderr, "k8c-shim: --runc-fd %s: not an open descriptor\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			g.tty = true;
			break;
		case 'I':
			g.stdin_open = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!g.id || !g.bundle || !g.runc || !g.runc_root || !g.log_path || g.log_path[0] != '/' ||
	    optind != argc) {
		usage(stderr);
		return 2;
	}
	k8c_log_init("k8c-shim", K8C_LOG_INFO);
	g.state_path = k8c_xasprintf("%s/%s", g.bundle, K8C_SHIM_STATE);
	if (g.sync_fd >= 0)
		fcntl(g.sync_fd, F_SETFD, FD_CLOEXEC);
	if (g.runc_fd >= 0)
		fcntl(g.runc_fd, F_SETFD, FD_CLOEXEC);

	/* detach: the caller waits only for this first process */
	pid = fork();
	if (pid < 0) {
		report("error fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid > 0)
		_exit(0);
	setsid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		report("error subreaper: %s\n", strerror(errno));
		return 1;
	}
	if (chdir("/") < 0)
		return 1;
	return run();
}

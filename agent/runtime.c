/*
 * Containers via runc and k8c-shim (docs/agent.md "Runtime").
 *
 * Layout of one container, state_dir/<id>/:
 *   config.json   the OCI runtime spec (1.0.2, as runc 1.1 reads it)
 *   rootfs/       overlayfs of the image layers (lowerdir) with upper/ and work/ beside it
 *   shim.json     the shim's record (shim pid, container pid, times, exit), replaced atomically
 *   shim.log      the shim's own log lines
 * runc's state is under runc_root/<id>; the cgroup is <cgroup_parent>/<id> in every hierarchy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cleanup.h"
#include "fsutil.h"
#include "console.h"
#include "log.h"
#include "runtime.h"
#include "runtime_int.h"

struct k8c_runtime {
	char *state_dir, *runc_root, *runc, *shim, *cgroup_parent;
	/* runc's sealed copy (close-on-exec; a child keeps it open for its fexecve:
	 * k8c_close_fds_except), or -1: runc runs from its binary */
	int runc_fd;
	long log_max_bytes;
	int log_max_files;
	char **cgroup_mounts; /* read once: the hierarchies do not move while we run */
};

static char **cgroup_mounts(void);

/* ---- small helpers ------------------------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Find an executable: a path with a '/' as is, else along PATH. */
static char *which(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *dir, *save = NULL;

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? k8c_xstrdup(name) : NULL;
	copy = k8c_xstrdup(path ? path
				: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = k8c_xasprintf("%s/%s", dir, name);

		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 200 || id[0] == '.')
		return false;
	for (const char *c = id; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return false;
	return true;
}

static void reset_signals(void)
{
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
}

/*
 * In a forked child: stdin, stdout and stderr from in, out and errfd; every other descriptor
 * closed but exec_fd (runc's sealed memfd, or -1). With argv, then exec it (from exec_fd when
 * >= 0, else the binary argv[0]) and, should that fail, say why on stderr and exit 127; without
 * argv, return to the caller.
 */
static void child_exec(int exec_fd, char *const argv[], int in, int out, int errfd)
{
	dup2(in, 0);
	dup2(out, 1);
	dup2(errfd, 2);
	k8c_close_fds_except(exec_fd);
	if (!argv)
		return;
	k8c_execv_fd(exec_fd, argv[0], argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/*
 * Run argv (argv[0] an absolute path) with stdin /dev/null; collect stdout and stderr (each
 * trimmed, NUL-terminated) when asked. Returns the wait status, or -1 (errno) if it did not run.
 */
static int run_capture(int exec_fd, char *const argv[], char **out, char **errout)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	char *buf[2] = {NULL, NULL};
	size_t len[2] = {0, 0}, cap[2] = {0, 0};
	pid_t pid;
	int status = -1;

	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		reset_signals();
		child_exec(exec_fd, argv, null, po[1], pe[1]);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd pfd[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
	int open_fds = 2;

	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (cap[i] - len[i] < 4096) {
				cap[i] = cap[i] * 2 + 4096;
				buf[i] = k8c_xrealloc(buf[i], cap[i] + 1);
			}
			ssize_t n = read(pfd[i].fd, buf[i] + len[i], cap[i] - len[i]);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			len[i] += (size_t)n;
		}
	}
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < 2; i++) {
		char **dst = i == 0 ? out : errout;

		if (!buf[i])
			buf[i] = k8c_xstrdup("");
		else
			buf[i][len[i]] = 0;
		while (len[i] > 0 && (buf[i][len[i] - 1] == '\n' || buf[i][len[i] - 1] == ' '))
			buf[i][--len[i]] = 0;
		if (dst)
			*dst = buf[i];
		else
			free(buf[i]);
	}
	return status;
}

/* runc's error output is logrus text (`time=".." level=error msg="..."`) or plain: keep msg. */
static void runc_msg(const char *text, char *buf, size_t size)
{
	const char *m = strstr(text, "msg=\"");

	if (m) {
		const char *end;

		m += 5;
		end = strrchr(m, '"');
		if (!end || end < m)
			end = m + strlen(m);
		/* unquote logrus' \" and \\ */
		size_t o = 0;

		for (; m < end && o + 1 < size; m++) {
			if (*m == '\\' && m + 1 < end && (m[1] == '"' || m[1] == '\\'))
				m++;
			buf[o++] = *m;
		}
		buf[o] = 0;
	} else {
		snprintf(buf, size, "%s", *text ? text : "no output");
	}
}

/* runc --root R <args...>; stdout returned in *out when asked; failure sets err. */
static int runc_run(struct k8c_runtime *rt, const char *const *args, char **out,
		    struct k8c_error *err)
{
	const char *argv[16];
	size_t n = 0;
	_cleanup_free_ char *errout = NULL;
	char msg[512];
	int status;

	argv[n++] = rt->runc;
	argv[n++] = "--root";
	argv[n++] = rt->runc_root;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	status = run_capture(rt->runc_fd, (char *const *)argv, out, &errout);
	if (status < 0)
		return k8c_error_errno(err, errno, errno, "run %s", rt->runc);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	runc_msg(errout, msg, sizeof(msg));
	if (out) {
		free(*out);
		*out = NULL;
	}
	return k8c_error_set(err, 0, "runc %s: %s", argv[3], msg);
}

/* ---- runtime ------------------------------------------------------------------------------ */

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable, even where vm.memfd_noexec asks otherwise */
#endif
/* what runc 1.1 wants to see on /proc/self/exe (is_self_cloned, libcontainer/nsenter) */
#define RUNC_MEMFD_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/*
 * A sealed in-memory copy of the runc binary (docs/agent.md "runc from a sealed memfd"). Every
 * `runc init` (one per container start, one per exec) first makes sure that /proc/self/exe is not
 * the host's runc binary, which a container could otherwise open and overwrite through
 * /proc/<pid>/exe (CVE-2019-5736): as root runc 1.1.5 bind-mounts itself read-only on a temporary
 * file in its state dir, re-executes itself from it and unmounts it (else it copies its 8.7 MB
 * into a memfd), unless /proc/self/exe already is a memfd sealed with exactly these four seals,
 * which nobody can write, grow, shrink or unseal: what this makes, once per agent.
 * Returns the memfd (close-on-exec) or -1 with err set.
 */
static int runc_memfd_open(const char *runc, struct k8c_error *err)
{
	_cleanup_close_ int in = open(runc, O_RDONLY | O_CLOEXEC), fd = -1;
	struct stat st;
	off_t done = 0;
	int seals;

	if (in < 0 || fstat(in, &st) < 0)
		return k8c_error_errno(err, errno, errno, "open %s", runc);
	fd = memfd_create("runc", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3: no MFD_EXEC, every memfd executable */
		fd = memfd_create("runc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return k8c_error_errno(err, errno, errno, "memfd_create");
	while (done < st.st_size) {
		ssize_t n = sendfile(fd, in, &done, (size_t)(st.st_size - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return k8c_error_errno(err, n < 0 ? errno : EIO, n < 0 ? errno : EIO,
					       "copy %s to a memfd", runc);
	}
	if (fcntl(fd, F_ADD_SEALS, RUNC_MEMFD_SEALS) < 0)
		return k8c_error_errno(err, errno, errno, "seal the memfd copy of %s", runc);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals != RUNC_MEMFD_SEALS)
		return k8c_error_set(err, 0, "memfd copy of %s has seals %#x, runc wants %#x", runc,
				     (unsigned)seals, (unsigned)RUNC_MEMFD_SEALS);
	/* above the descriptors a child's stdio and the shim's sync (3) and runc (4) ones take */
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);

	if (high < 0)
		return k8c_error_errno(err, errno, errno, "dup the runc memfd");
	return high;
}

/* rt->runc_fd: the sealed copy when asked for and it runs, else -1 (the binary). */
static void runc_exec_setup(struct k8c_runtime *rt, bool memfd)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *out = NULL, *errout = NULL;
	char q[512];
	int fd, status;

	rt->runc_fd = -1;
	if (!memfd) {
		k8c_log_debug("runc runs from its binary", "runc=%s reason=--runc-memfd=false",
			      k8c_log_quote(q, sizeof(q), rt->runc));
		return;
	}
	fd = runc_memfd_open(rt->runc, &err);
	if (fd >= 0) {
		const char *argv[] = {rt->runc, "--version", NULL};

		/* it must also run (vm.memfd_noexec, a security module may refuse) */
		status = run_capture(fd, (char *const *)argv, &out, &errout);
		if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		    strncmp(out, "runc version", 12) == 0) {
			rt->runc_fd = fd;
			k8c_log_info("runc runs from a sealed memfd", "runc=%s fd=%d",
				     k8c_log_quote(q, sizeof(q), rt->runc), fd);
			return;
		}
		close(fd);
		k8c_error_set(&err, 0, "runc from a memfd did not run: %s",
			      status < 0	  ? strerror(errno)
			      : errout && *errout ? errout
						  : "exit status not 0");
	}
	char qe[512];

	k8c_log_warn("runc runs from its binary, not from a sealed memfd", "runc=%s error=%s",
		     k8c_log_quote(q, sizeof(q), rt->runc), k8c_log_quote(qe, sizeof(qe), err.msg));
	k8c_error_clear(&err);
}

struct k8c_runtime *k8c_runtime_new(const struct k8c_runtime_opts *opts, struct k8c_error *err)
{
	_cleanup_free_ char *runc = NULL, *shim = NULL;
	struct k8c_runtime *rt;

	if (!opts->state_dir || !opts->runc_root) {
		k8c_error_set(err, EINVAL, "runtime: state_dir and runc_root are required");
		return NULL;
	}
	runc = which(opts->runc ? opts->runc : "runc");
	if (!runc) {
		k8c_error_set(err, ENOENT,
			      "runtime: runc binary %s not found (apt-get install runc)",
			      opts->runc ? opts->runc : "runc");
		return NULL;
	}
	if (opts->shim) {
		shim = which(opts->shim);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n > 0) {
			self[n] = 0;
			char *slash = strrchr(self, '/');

			if (slash)
				*slash = 0;
			shim = k8c_xasprintf("%s/k8c-shim", self);
			if (access(shim, X_OK) < 0) {
				free(shim);
				shim = which("k8c-shim");
			}
		}
	}
	if (!shim) {
		k8c_error_set(err, ENOENT, "runtime: shim binary %s not found",
			      opts->shim ? opts->shim : "k8c-shim");
		return NULL;
	}
	if (k8c_mkdir_p(opts->state_dir, 0711) < 0) {
		k8c_error_errno(err, errno, errno, "runtime: create state dir %s", opts->state_dir);
		return NULL;
	}
	if (k8c_mkdir_p(opts->runc_root, 0711) < 0) {
		k8c_error_errno(err, errno, errno, "runtime: create runc root %s", opts->runc_root);
		return NULL;
	}
	rt = k8c_xcalloc(1, sizeof(*rt));
	rt->state_dir = k8c_xstrdup(opts->state_dir);
	rt->runc_root = k8c_xstrdup(opts->runc_root);
	rt->runc = k8c_steal_ptr(runc);
	rt->shim = k8c_steal_ptr(shim);
	rt->cgroup_parent = k8c_xstrdup(
		opts->cgroup_parent && *opts->cgroup_parent ? opts->cgroup_parent : "/k8c");
	/* cgroupsPath is "<parent>/<id>": parent absolute, without a trailing slash */
	if (rt->cgroup_parent[0] != '/') {
		char *abs = k8c_xasprintf("/%s", rt->cgroup_parent);

		free(rt->cgroup_parent);
		rt->cgroup_parent = abs;
	}
	for (size_t n = strlen(rt->cgroup_parent); n > 1 && rt->cgroup_parent[n - 1] == '/'; n--)
		rt->cgroup_parent[n - 1] = 0;
	rt->log_max_bytes = opts->log_max_bytes > 0 ? opts->log_max_bytes : 10 * 1024 * 1024;
	rt->log_max_files = opts->log_max_files > 0 ? opts->log_max_files : 5;
	rt->cgroup_mounts = cgroup_mounts();
	runc_exec_setup(rt, opts->runc_memfd);
	return rt;
}

void k8c_runtime_free(struct k8c_runtime *rt)
{
	if (!rt)
		return;
	free(rt->state_dir);
	free(rt->runc_root);
	free(rt->runc);
	if (rt->runc_fd >= 0)
		close(rt->runc_fd);
	free(rt->shim);
	free(rt->cgroup_parent);
	for (char **m = rt->cgroup_mounts; m && *m; m++)
		free(*m);
	free(rt->cgroup_mounts);
	free(rt);
}

static char *bundle_path(struct k8c_runtime *rt, const char *id, const char *file)
{
	return file ? k8c_xasprintf("%s/%s/%s", rt->state_dir, id, file)
		    : k8c_xasprintf("%s/%s", rt->state_dir, id);
}

static char *cgroup_path(struct k8c_runtime *rt, const char *id)
{
	return strcmp(rt->cgroup_parent, "/") == 0 ? k8c_xasprintf("/%s", id)
						   : k8c_xasprintf("%s/%s", rt->cgroup_parent, id);
}

/* ---- the OCI spec ------------------------------------------------------------------------- */

/* Every capability runc 1.1 knows, and containerd's default set. */
static const char *const all_caps[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
	NULL,
};
static const char *const default_caps[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
	NULL,
};
static const char *const masked_paths[] = {
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	NULL,
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" as "CAP_NET_ADMIN"; NULL for "ALL". */
static char *cap_name(const char *c)
{
	char *s;

	if (strcasecmp(c, "ALL") == 0)
		return NULL;
	s = strncasecmp(c, "CAP_", 4) == 0 ? k8c_xstrdup(c) : k8c_xasprintf("CAP_%s", c);
	for (char *p = s; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return s;
}

static bool list_has(const char *const *l, const char *want)
{
	for (; l && *l; l++) {
		_cleanup_free_ char *n = cap_name(*l);

		if (!n || strcmp(n, want) == 0)
			return true; /* "ALL" matches everything */
	}
	return false;
}

/* This process's bounding set (all_caps[i] is capability number i); all ones if unreadable. */
static unsigned long long own_caps(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "CapBnd:", 7) == 0)
			return strtoull(line + 7, NULL, 16);
	return ~0ULL;
}

/* Every name known; with `have`, every name (but "ALL") also in our own bounding set. */
static int check_caps(const char *const *l, unsigned long long have, struct k8c_error *err)
{
	for (; l && *l; l++) {
		_cleanup_free_ char *n = cap_name(*l);
		bool known = !n;

		for (size_t i = 0; n && all_caps[i]; i++) {
			if (strcmp(all_caps[i], n) != 0)
				continue;
			known = true;
			if (have && !((have >> i) & 1))
				return k8c_error_set(err, EPERM,
						     "capability %s: not held by the runtime, so "
						     "runc cannot grant it",
						     n);
		}
		if (!known)
			return k8c_error_set(err, EINVAL, "unknown capability %s", *l);
	}
	return 0;
}

static json_t *caps_json(const struct k8c_container_spec *spec)
{
	json_t *set = json_array();
	/* privileged: every capability we have ourselves (as containerd's
	 * WithAllCurrentCapabilities: runc cannot grant more) */
	unsigned long long have = own_caps();

	for (size_t i = 0; all_caps[i]; i++) {
		bool on;

		if (spec->privileged)
			on = (have >> i) & 1;
		else {
			on = false;
			for (size_t j = 0; default_caps[j]; j++)
				on = on || strcmp(default_caps[j], all_caps[i]) == 0;
			/* "ALL" adds what we have */
			if (list_has(spec->add_caps, all_caps[i]))
				on = (have >> i) & 1;
			if (list_has(spec->drop_caps, all_caps[i]))
				on = false;
		}
		if (on)
			json_array_append_new(set, json_string(all_caps[i]));
	}
	return json_pack("{s:o,s:o,s:o}", "bounding", json_deep_copy(set), "effective",
			 json_deep_copy(set), "permitted", set);
}

static json_t *strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

/* Comma-separated options as a JSON array, appended to a. */
static void opts_append(json_t *a, const char *opts)
{
	_cleanup_free_ char *copy = NULL;
	char *o, *save = NULL;

	if (!opts || !*opts)
		return;
	copy = k8c_xstrdup(opts);
	for (o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(o));
}

static json_t *mount_json(const char *dst, const char *type, const char *src, const char *opts)
{
	json_t *o = json_array();

	opts_append(o, opts);
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dst, "type", type, "source", src,
			 "options", o);
}

static json_t *spec_json(struct k8c_runtime *rt, const struct k8c_container_spec *spec,
			 struct k8c_error *err)
{
	json_t *env = strv_json(spec->env), *mounts, *ns, *res, *linux_, *process, *root;
	bool has_path = false;
	_cleanup_free_ char *cg = cgroup_path(rt, spec->id);

	/* open files: 1048576 as containerd's pods get, or what this machine lets us raise to */
	struct rlimit rl;
	rlim_t nofile = 1048576;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < nofile)
		nofile = rl.rlim_max;
	for (const char *const *e = spec->env; e && *e; e++)
		has_path = has_path || strncmp(*e, "PATH=", 5) == 0;
	if (!has_path)
		json_array_append_new(
			env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
					 "/sbin:/bin"));
	process = json_pack("{s:b,s:{s:i,s:i},s:o,s:o,s:s,s:o,s:[{s:s,s:i,s:i}],s:b}", "terminal",
			    spec->tty, "user", "uid", (json_int_t)spec->uid, "gid",
			    (json_int_t)spec->gid, "args", strv_json(spec->argv), "env", env, "cwd",
			    spec->cwd && *spec->cwd ? spec->cwd : "/", "capabilities",
			    caps_json(spec), "rlimits", "type", "RLIMIT_NOFILE", "hard",
			    (json_int_t)nofile, "soft", (json_int_t)nofile, "noNewPrivileges", 0);
	if (spec->tty)
		json_object_set_new(process, "consoleSize",
				    json_pack("{s:i,s:i}", "height", 24, "width", 80));
	root = json_pack("{s:s,s:b}", "path", "rootfs", "readonly", spec->readonly_rootfs);

	mounts = json_array();
	json_array_append_new(mounts, mount_json("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount_json("/dev", "tmpfs", "tmpfs",
						 "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(
		mounts, mount_json("/dev/pts", "devpts", "devpts",
				   "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(mounts, mount_json("/dev/shm", "tmpfs", "shm",
						 "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts,
			      mount_json("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount_json("/sys", "sysfs", "sysfs",
						 spec->privileged ? "nosuid,noexec,nodev,rw"
								  : "nosuid,noexec,nodev,ro"));
	json_array_append_new(mounts,
			      mount_json("/sys/fs/cgroup", "cgroup", "cgroup",
					 spec->privileged ? "nosuid,noexec,nodev,relatime,rw"
							  : "nosuid,noexec,nodev,relatime,ro"));
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct k8c_mount *m = &spec->mounts[i];
		const char *type = m->type && *m->type ? m->type : "bind";
		json_t *o = json_array();

		if (!m->destination || m->destination[0] != '/') {
			json_decref(o);
			json_decref(mounts);
			json_decref(process);
			json_decref(root);
			k8c_error_set(err, EINVAL, "mount %zu: destination %s is not absolute", i,
				      m->destination ? m->destination : "(none)");
			return NULL;
		}
		if (strcmp(type, "bind") == 0) {
			json_array_append_new(o, json_string("rbind"));
			json_array_append_new(o, json_string("rprivate"));
		} else {
			json_array_append_new(o, json_string("nosuid"));
			json_array_append_new(o, json_string("nodev"));
		}
		if (m->readonly)
			json_array_append_new(o, json_string("ro"));
		opts_append(o, m->options);
		json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:o}", "destination",
							m->destination, "type", type, "source",
							m->source && *m->source ? m->source : type,
							"options", o));
	}

	ns = json_array();
	json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
	json_array_append_new(
		ns, spec->netns_path && *spec->netns_path
			    ? json_pack("{s:s,s:s}", "type", "network", "path", spec->netns_path)
			    : json_pack("{s:s}", "type", "network"));
	json_array_append_new(
		ns, spec->ipc_ns_path && *spec->ipc_ns_path
			    ? json_pack("{s:s,s:s}", "type", "ipc", "path", spec->ipc_ns_path)
			    : json_pack("{s:s}", "type", "ipc"));
	json_array_append_new(
		ns, spec->uts_ns_path && *spec->uts_ns_path
			    ? json_pack("{s:s,s:s}", "type", "uts", "path", spec->uts_ns_path)
			    : json_pack("{s:s}", "type", "uts"));

	res = json_pack("{s:[{s:b,s:s}]}", "devices", "allow", spec->privileged, "access", "rwm");
	if (spec->cpu_shares > 0 || spec->cpu_quota_us > 0 || spec->cpu_period_us > 0) {
		json_t *cpu = json_object();

		if (spec->cpu_shares > 0)
			json_object_set_new(cpu, "shares", json_integer(spec->cpu_shares));
		if (spec->cpu_quota_us > 0)
			json_object_set_new(cpu, "quota", json_integer(spec->cpu_quota_us));
		if (spec->cpu_period_us > 0)
			json_object_set_new(cpu, "period", json_integer(spec->cpu_period_us));
		json_object_set_new(res, "cpu", cpu);
	}
	if (spec->memory_limit_bytes > 0) {
		json_t *mem = json_pack("{s:I}", "limit", (json_int_t)spec->memory_limit_bytes);

		/* no swap beyond the limit, as the kubelet asks (memory+swap = limit) where the
		 * kernel accounts swap */
		if (access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
			json_object_set_new(mem, "swap", json_integer(spec->memory_limit_bytes));
		json_object_set_new(res, "memory", mem);
	}

	linux_ = json_pack("{s:o,s:s,s:o}", "namespaces", ns, "cgroupsPath", cg, "resources", res);
	if (!spec->privileged) {
		json_object_set_new(linux_, "maskedPaths", strv_json(masked_paths));
		json_object_set_new(linux_, "readonlyPaths", strv_json(readonly_paths));
	}
	json_t *doc = json_pack("{s:s,s:o,s:o,s:o,s:o}", "ociVersion", "1.0.2", "process", process,
				"root", root, "mounts", mounts, "linux", linux_);
	/* runc refuses a hostname without a UTS namespace of its own; a joined one keeps its name */
	if (spec->hostname && *spec->hostname && !(spec->uts_ns_path && *spec->uts_ns_path))
		json_object_set_new(doc, "hostname", json_string(spec->hostname));
	return doc;
}

/* ---- start -------------------------------------------------------------------------------- */

static int mount_rootfs(struct k8c_runtime *rt, const struct k8c_container_spec *spec,
			struct k8c_error *err)
{
	_cleanup_free_ char *upper = bundle_path(rt, spec->id, "upper");
	_cleanup_free_ char *work = bundle_path(rt, spec->id, "work");
	_cleanup_free_ char *rootfs = bundle_path(rt, spec->id, "rootfs");
	_cleanup_free_ char *lower = NULL, *opts = NULL;
	size_t n = 0, len = 0;

	for (n = 0; spec->rootfs_lower && spec->rootfs_lower[n]; n++)
		len += strlen(spec->rootfs_lower[n]) + 1;
	if (n == 0)
		return k8c_error_set(err, EINVAL, "no image layers for the root filesystem");
	lower = k8c_xcalloc(1, len + 1);
	/* overlayfs lists the top layer first; the spec gives the lowest first */
	for (size_t i = n; i-- > 0;) {
		const char *l = spec->rootfs_lower[i];

		if (strchr(l, ':') || strchr(l, ','))
			return k8c_error_set(err, EINVAL, "layer path %s has ':' or ','", l);
		if (access(l, F_OK) < 0)
			return k8c_error_errno(err, errno, errno, "layer %s", l);
		strcat(lower, l);
		if (i > 0)
			strcat(lower, ":");
	}
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(rootfs, 0755) < 0)
		return k8c_error_errno(err, errno, errno, "create %s", upper);
	opts = k8c_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (strlen(opts) >= 4096)
		return k8c_error_set(err, E2BIG, "overlay options for %zu layers exceed a page", n);
	if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
		return k8c_error_errno(err, errno, errno, "mount overlay on %s", rootfs);
	return 0;
}

/* Start k8c-shim for the bundle and wait for its verdict on the sync pipe. */
static int spawn_shim(struct k8c_runtime *rt, const struct k8c_container_spec *spec,
		      struct k8c_error *err)
{
	_cleanup_free_ char *bundle = bundle_path(rt, spec->id, NULL);
	_cleanup_free_ char *cg = cgroup_path(rt, spec->id);
	_cleanup_free_ char *shimlog = bundle_path(rt, spec->id, "shim.log");
	char maxb[32], maxf[32];
	const char *argv[32];
	size_t n = 0;
	int sync[2];
	pid_t pid;
	int status;
	char msg[4096];
	size_t got = 0;

	snprintf(maxb, sizeof(maxb), "%ld", rt->log_max_bytes);
	snprintf(maxf, sizeof(maxf), "%d", rt->log_max_files);
	argv[n++] = rt->shim;
	argv[n++] = "--id";
	argv[n++] = spec->id;
	argv[n++] = "--bundle";
	argv[n++] = bundle;
	argv[n++] = "--runc";
	argv[n++] = rt->runc;
	if (rt->runc_fd >= 0) {
		/* the sealed copy, as fd 4 of the shim, which closes it once runc has run */
		argv[n++] = "--runc-fd";
		argv[n++] = "4";
	}
	argv[n++] = "--runc-root";
	argv[n++] = rt->runc_root;
	argv[n++] = "--cgroup-path";
	argv[n++] = cg;
	argv[n++] = "--log-path";
	argv[n++] = spec->log_path;
	argv[n++] = "--log-max-bytes";
	argv[n++] = maxb;
	argv[n++] = "--log-max-files";
	argv[n++] = maxf;
	argv[n++] = "--sync-fd";
	argv[n++] = "3";
	if (spec->tty)
		argv[n++] = "--tty";
	if (spec->stdin_open)
		argv[n++] = "--stdin";
	argv[n] = NULL;

	if (pipe2(sync, O_CLOEXEC) < 0)
		return k8c_error_errno(err, errno, errno, "shim sync pipe");
	/*
	 * posix_spawn (vfork-like) rather than fork: the agent is a process of many threads and
	 * tens of MiB, whose page tables a fork copies only for the exec to drop them.
	 */
	{
		posix_spawn_file_actions_t fa;
		posix_spawnattr_t at;
		sigset_t none, all;
		int e;

		sigemptyset(&none);
		sigfillset(&all);
		posix_spawnattr_init(&at);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setsigdefault(&at, &all);
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, sync[1], 3);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
		posix_spawn_file_actions_adddup2(&fa, 0, 1);
		posix_spawn_file_actions_addopen(&fa, 2, shimlog, O_WRONLY | O_CREAT | O_APPEND,
						 0600);
		if (rt->runc_fd >= 0)
			posix_spawn_file_actions_adddup2(&fa, rt->runc_fd, 4);
		posix_spawn_file_actions_addclosefrom_np(&fa, rt->runc_fd >= 0 ? 5 : 4);
		e = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
		if (e) {
			close(sync[0]);
			close(sync[1]);
			return k8c_error_errno(err, e, e, "start shim %s", argv[0]);
		}
	}
	close(sync[1]);
	/* the shim forks its daemon and exits; the daemon reports on the pipe and closes it */
	while (got < sizeof(msg) - 1) {
		ssize_t r = read(sync[0], msg + got, sizeof(msg) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	msg[got] = 0;
	close(sync[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (strncmp(msg, "ok", 2) == 0) {
		/* "ok <pid> runc_us=<n>" */
		const char *r = strstr(msg, "runc_us=");

		if (r && spec->times)
			spec->times->runc = strtod(r + 8, NULL) / 1e6;
		return 0;
	}
	if (got == 0)
		return k8c_error_set(err, 0, "shim exited without a report (status %d), see %s",
				     status, shimlog);
	while (got > 0 && msg[got - 1] == '\n')
		msg[--got] = 0;
	return k8c_error_set(err, 0, "%s", strncmp(msg, "error ", 6) == 0 ? msg + 6 : msg);
}

int k8c_container_start(struct k8c_runtime *rt, const struct k8c_container_spec *spec,
			struct k8c_error *err)
{
	_cleanup_free_ char *bundle = NULL, *config = NULL, *text = NULL;
	_cleanup_json_ json_t *doc = NULL;
	struct k8c_error ignore = K8C_ERROR_INIT;
	double t0, t1, t2;

	if (!valid_id(spec->id))
		return k8c_error_set(err, EINVAL, "container id \"%s\": want [A-Za-z0-9_.-]+",
				     spec->id ? spec->id : "");
	if (!spec->argv || !spec->argv[0])
		return k8c_error_set(err, EINVAL, "container %s: no command", spec->id);
	if (!spec->log_path || spec->log_path[0] != '/')
		return k8c_error_set(err, EINVAL, "container %s: log path must be absolute",
				     spec->id);
	if (check_caps(spec->add_caps, own_caps(), err) < 0 ||
	    check_caps(spec->drop_caps, 0, err) < 0)
		return k8c_error_wrap(err, "container %s", spec->id);
	bundle = bundle_path(rt, spec->id, NULL);
	if (mkdir(bundle, 0700) < 0) {
		if (errno == EEXIST)
			return k8c_error_set(err, EEXIST, "container %s: already exists", spec->id);
		return k8c_error_errno(err, errno, errno, "container %s: create bundle %s",
				       spec->id, bundle);
	}
	t0 = mono();
	doc = spec_json(rt, spec, err);
	if (!doc)
		goto fail;
	text = json_dumps(doc, JSON_INDENT(1));
	config = bundle_path(rt, spec->id, "config.json");
	if (k8c_write_atomic(config, text, strlen(text)) < 0) {
		k8c_error_errno(err, errno, errno, "write %s", config);
		goto fail;
	}
	t1 = mono();
	if (mount_rootfs(rt, spec, err) < 0)
		goto fail;
	t2 = mono();
	if (spawn_shim(rt, spec, err) < 0)
		goto fail;
	if (spec->times) {
		spec->times->bundle = t1 - t0;
		spec->times->mount = t2 - t1;
		spec->times->shim = mono() - t2;
	}
	return 0;
fail:
	k8c_container_remove(rt, spec->id, &ignore);
	k8c_error_clear(&ignore);
	return k8c_error_wrap(err, "container %s", spec->id);
}

/* ---- status ------------------------------------------------------------------------------- */

/* The shim of that record still runs (not exited, not a zombie, its pid not reused). */
static bool shim_alive(const struct k8c_shim_state *ss)
{
	unsigned long long t;

	if (ss->shim_pid <= 0)
		return false;
	t = k8c_proc_start_time(ss->shim_pid);
	return t != 0 && t == ss->shim_start;
}

static int read_shim_state(struct k8c_runtime *rt, const char *id, struct k8c_shim_state *ss)
{
	_cleanup_free_ char *path = bundle_path(rt, id, K8C_SHIM_STATE);

	return k8c_shim_state_read(path, ss);
}

int k8c_container_status(struct k8c_runtime *rt, const char *id, struct k8c_container_status *st,
			 struct k8c_error *err)
{
	struct k8c_shim_state ss;
	_cleanup_free_ char *bundle = NULL, *out = NULL;
	_cleanup_json_ json_t *doc = NULL;
	struct k8c_error rerr = K8C_ERROR_INIT;
	struct stat sb;
	bool have_shim;
	const char *status;

	memset(st, 0, sizeof(*st));
	st->state = K8C_CTR_UNKNOWN;
	if (!valid_id(id))
		return k8c_error_set(err, EINVAL, "container id \"%s\" is not valid", id ? id : "");
	have_shim = read_shim_state(rt, id, &ss) == 0;
	if (have_shim) {
		st->pid = ss.pid;
		st->created_ns = ss.created_ns;
		st->started_ns = ss.started_ns;
		if (ss.state == K8C_CTR_EXITED) {
			st->state = K8C_CTR_EXITED;
			st->exit_code = ss.exit_code;
			st->finished_ns = ss.finished_ns;
			snprintf(st->reason, sizeof(st->reason), "%s", ss.reason);
			return 0;
		}
		if (shim_alive(&ss)) {
			st->state = ss.state;
			return 0;
		}
	}
	/* no shim to tell: ask runc */
	if (runc_run(rt, (const char *const[]){"state", id, NULL}, &out, &rerr) < 0) {
		bundle = bundle_path(rt, id, NULL);
		if (!have_shim && stat(bundle, &sb) < 0) {
			k8c_error_clear(&rerr);
			return k8c_error_set(err, ENOENT, "container %s: not found", id);
		}
		k8c_error_clear(&rerr);
		st->state = K8C_CTR_UNKNOWN;
		snprintf(st->reason, sizeof(st->reason), "Unknown");
		return 0;
	}
	doc = json_loads(out, 0, NULL);
	status = json_string_value(json_object_get(doc, "status"));
	if (!status)
		return k8c_error_set(err, 0, "container %s: runc state: no status in %s", id, out);
	if (!st->pid)
		st->pid = (pid_t)json_integer_value(json_object_get(doc, "pid"));
	if (strcmp(status, "created") == 0) {
		st->state = K8C_CTR_CREATED;
	} else if (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0) {
		st->state = K8C_CTR_RUNNING;
	} else {
		/* stopped with nobody having recorded the exit: the code is lost */
		st->state = K8C_CTR_EXITED;
		st->exit_code = 255;
		snprintf(st->reason, sizeof(st->reason), "Error");
		if (!st->finished_ns)
			st->finished_ns = now_ns();
	}
	return 0;
}

/* Hand a local error to the caller's err (which may be NULL); returns -1. */
static int move_error(struct k8c_error *err, struct k8c_error *from)
{
	if (!err) {
		k8c_error_clear(from);
		return -1;
	}
	k8c_error_clear(err);
	*err = *from;
	from->msg = NULL;
	return -1;
}

/* ---- kill, remove, list ------------------------------------------------------------------- */

/*
 * Signal the container's init directly when its shim runs (saves a runc process: 5 ms of CPU):
 * through a pidfd, after checking that the process behind it is in the container's cgroup, so
 * that a pid the shim has just reaped and the kernel reused is never signalled. 0 when sent.
 */
static int signal_direct(struct k8c_runtime *rt, const char *id, int sig)
{
	struct k8c_shim_state ss;
	_cleanup_free_ char *cg = cgroup_path(rt, id), *path = NULL, *suffix = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_close_ int pfd = -1;
	char *line = NULL;
	size_t cap = 0, slen;
	bool ours = false;
	ssize_t n;

	if (read_shim_state(rt, id, &ss) < 0 || ss.state != K8C_CTR_RUNNING || ss.pid <= 0 ||
	    !shim_alive(&ss))
		return -1;
	pfd = (int)syscall(SYS_pidfd_open, ss.pid, 0);
	if (pfd < 0)
		return -1;
	path = k8c_xasprintf("/proc/%d/cgroup", (int)ss.pid);
	suffix = k8c_xasprintf(":%s\n", cg);
	slen = strlen(suffix);
	f = fopen(path, "re");
	while (f && (n = getline(&line, &cap, f)) > 0)
		ours = ours || ((size_t)n >= slen && strcmp(line + n - slen, suffix) == 0);
	free(line);
	if (!ours)
		return -1;
	return (int)syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
}

int k8c_container_kill(struct k8c_runtime *rt, const char *id, int sig, struct k8c_error *err)
{
	char signum[16];
	struct k8c_container_status st;
	struct k8c_error serr = K8C_ERROR_INIT;

	if (!valid_id(id))
		return k8c_error_set(err, EINVAL, "container id \"%s\" is not valid", id ? id : "");
	if (signal_direct(rt, id, sig) == 0)
		return 0;
	snprintf(signum, sizeof(signum), "%d", sig);
	if (runc_run(rt, (const char *const[]){"kill", id, signum, NULL}, NULL, err) == 0)
		return 0;
	/* a container that has already exited needs no signal */
	if (k8c_container_status(rt, id, &st, &serr) == 0 && st.state == K8C_CTR_EXITED) {
		k8c_error_clear(err);
		return 0;
	}
	if (serr.code == ENOENT) {
		return move_error(err, &serr);
	}
	k8c_error_clear(&serr);
	return k8c_error_wrap(err, "container %s: signal %d", id, sig);
}

/* rmdir a cgroup directory and everything below it, leaves first. */
static void rmdir_tree(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *sub = k8c_xasprintf("%s/%s", path, e->d_name);
		rmdir_tree(sub);
	}
	rmdir(path);
}

/* The mount points of every cgroup v1 hierarchy and of cgroup v2. */
static char **cgroup_mounts(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, n = 0;
	char **v = k8c_xcalloc(1, sizeof(char *));

	while (f && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), mp[PATH_MAX], fstype[64];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
		    sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
			continue;
		v = k8c_xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = k8c_xstrdup(mp);
		v[n] = NULL;
	}
	free(line);
	return v;
}

static void remove_cgroups(struct k8c_runtime *rt, const char *id)
{
	_cleanup_free_ char *cg = cgroup_path(rt, id);

	for (char **m = rt->cgroup_mounts; *m; m++) {
		_cleanup_free_ char *p = k8c_xasprintf("%s%s", *m, cg);

		rmdir_tree(p);
	}
}

static int rm_rf(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(sb.st_mode)) {
		_cleanup_closedir_ DIR *d = opendir(path);
		struct dirent *e;

		if (!d)
			return -1;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			_cleanup_free_ char *sub = k8c_xasprintf("%s/%s", path, e->d_name);
			if (rm_rf(sub) < 0)
				return -1;
		}
		return rmdir(path);
	}
	return unlink(path);
}

static bool is_mountpoint(const char *path)
{
	struct stat a, b;
	_cleanup_free_ char *parent = k8c_xasprintf("%s/..", path);

	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

int k8c_container_remove(struct k8c_runtime *rt, const char *id, struct k8c_error *err)
{
	_cleanup_free_ char *bundle = NULL, *rootfs = NULL, *runc_state = NULL;
	struct k8c_shim_state ss;
	struct k8c_error derr = K8C_ERROR_INIT;
	bool have_shim;

	if (!valid_id(id))
		return k8c_error_set(err, EINVAL, "container id \"%s\" is not valid", id ? id : "");
	bundle = bundle_path(rt, id, NULL);
	rootfs = bundle_path(rt, id, "rootfs");
	runc_state = k8c_xasprintf("%s/%s", rt->runc_root, id);
	have_shim = read_shim_state(rt, id, &ss) == 0;

	/*
	 * A live container is killed first (runc kill, then the shim records the exit and leaves:
	 * 2 s at most, then it is ended): runc delete --force of a running container polls for its
	 * death and takes 100 ms here, a kill and a delete of the stopped one a third of that.
	 */
	if (have_shim && ss.shim_pid > 0 && shim_alive(&ss)) {
		if (signal_direct(rt, id, SIGKILL) < 0 && access(runc_state, F_OK) == 0)
			runc_run(rt, (const char *const[]){"kill", id, "9", NULL}, NULL, &derr);
		k8c_error_clear(&derr);
		for (int i = 0; i < 2000 && shim_alive(&ss); i++)
			usleep(1000);
		if (shim_alive(&ss)) {
			k8c_log_warn("shim did not exit after its container was killed, ending it",
				     "container=%s shim_pid=%d", id, (int)ss.shim_pid);
			kill(ss.shim_pid, SIGKILL);
		}
	}
	/* removes runc's state and the cgroup (and kills the container if the above could not) */
	if (access(runc_state, F_OK) == 0 &&
	    runc_run(rt, (const char *const[]){"delete", "--force", id, NULL}, NULL, &derr) < 0 &&
	    access(runc_state, F_OK) == 0) {
		k8c_error_wrap(&derr, "container %s", id);
		return move_error(err, &derr);
	}
	k8c_error_clear(&derr);
	if (is_mountpoint(rootfs) && umount2(rootfs, 0) < 0) {
		if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			return k8c_error_errno(err, errno, errno, "container %s: unmount %s", id,
					       rootfs);
	}
	remove_cgroups(rt, id);
	if (rm_rf(bundle) < 0)
		return k8c_error_errno(err, errno, errno, "container %s: remove %s", id, bundle);
	return 0;
}

char **k8c_container_list(struct k8c_runtime *rt, struct k8c_error *err)
{
	_cleanup_closedir_ DIR *d = opendir(rt->state_dir);
	struct dirent *e;
	size_t n = 0;
	char **v;

	if (!d) {
		k8c_error_errno(err, errno, errno, "list containers in %s", rt->state_dir);
		return NULL;
	}
	v = k8c_xcalloc(1, sizeof(char *));
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || !valid_id(e->d_name))
			continue;
		v = k8c_xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = k8c_xstrdup(e->d_name);
		v[n] = NULL;
	}
	return v;
}

/* ---- exec --------------------------------------------------------------------------------- */

static int exec_pipes(struct k8c_runtime *rt, const char *id, const char *const *argv, int fds[3],
		      pid_t *pid, struct k8c_error *err)
{
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	const char **av;
	size_t n = 0, argc = 0;
	pid_t child;

	for (; argv[argc]; argc++)
		;
	av = k8c_xcalloc(argc + 8, sizeof(char *));
	av[n++] = rt->runc;
	av[n++] = "--root";
	av[n++] = rt->runc_root;
	av[n++] = "exec";
	av[n++] = id;
	for (size_t i = 0; i < argc; i++)
		av[n++] = argv[i];
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			k8c_error_errno(err, errno, errno, "container %s: exec pipes", id);
			goto fail;
		}
	child = fork();
	if (child < 0) {
		k8c_error_errno(err, errno, errno, "container %s: fork exec", id);
		goto fail;
	}
	if (child == 0) {
		reset_signals();
		setsid();
		child_exec(rt->runc_fd, (char *const *)av, p[0][0], p[1][1], p[2][1]);
	}
	free(av);
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	fds[0] = p[0][1];
	fds[1] = p[1][0];
	fds[2] = p[2][0];
	*pid = child;
	return 0;
fail:
	free(av);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0)
				close(p[i][j]);
	return -1;
}

/*
 * With a tty runc must hand the pty master over a console socket and detach (-d); a child of
 * ours, a subreaper, runs it, inherits the exec'd process when runc exits, waits for it and
 * exits with its code (128+signal when killed), so the caller waits for that child as for a
 * process of its own.
 */
static int exec_tty(struct k8c_runtime *rt, const char *id, const char *const *argv, int fds[3],
		    pid_t *pid, struct k8c_error *err)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *dir = k8c_xasprintf("%s/k8c-exec.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	_cleanup_free_ char *sock = NULL, *pidfile = NULL;
	_cleanup_close_ int lfd = -1;
	int master;
	pid_t child;
	size_t argc = 0;

	for (; argv[argc]; argc++)
		;
	if (!mkdtemp(dir))
		return k8c_error_errno(err, errno, errno, "container %s: exec temp dir", id);
	sock = k8c_xasprintf("%s/console.sock", dir);
	pidfile = k8c_xasprintf("%s/pid", dir);
	lfd = k8c_console_listen(sock);
	if (lfd < 0) {
		k8c_error_errno(err, errno, errno, "container %s: console socket %s", id, sock);
		rmdir(dir);
		return -1;
	}
	int ep[2];

	if (pipe2(ep, O_CLOEXEC) < 0) {
		unlink(sock);
		rmdir(dir);
		return k8c_error_errno(err, errno, errno, "container %s: exec pipe", id);
	}
	const char **av = k8c_xcalloc(argc + 16, sizeof(char *));
	size_t n = 0;

	av[n++] = rt->runc;
	av[n++] = "--root";
	av[n++] = rt->runc_root;
	av[n++] = "exec";
	av[n++] = "-t";
	av[n++] = "-d";
	av[n++] = "--console-socket";
	av[n++] = sock;
	av[n++] = "--pid-file";
	av[n++] = pidfile;
	av[n++] = id;
	for (size_t i = 0; i < argc; i++)
		av[n++] = argv[i];
	child = fork();
	if (child < 0) {
		free(av);
		close(ep[0]);
		close(ep[1]);
		unlink(sock);
		rmdir(dir);
		return k8c_error_errno(err, errno, errno, "container %s: fork exec", id);
	}
	if (child == 0) {
		int null = open("/dev/null", O_RDWR), status;
		pid_t runc, target = 0, w;
		char buf[32] = "";

		reset_signals();
		setsid();
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		child_exec(rt->runc_fd, NULL, null, null, ep[1]);
		runc = fork();
		if (runc == 0)
			child_exec(rt->runc_fd, (char *const *)av, 0, 1, 2);
		if (rt->runc_fd >= 0)
			close(rt->runc_fd); /* this child's copy, not held while the exec runs */
		while ((w = waitpid(runc, &status, 0)) < 0 && errno == EINTR)
			;
		if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			/* runc failed, perhaps without connecting: unblock the caller's accept */
			k8c_console_cancel(sock);
			unlink(pidfile);
			unlink(sock);
			rmdir(dir);
			_exit(126);
		}
		int pf = open(pidfile, O_RDONLY);
		if (pf >= 0) {
			ssize_t r = read(pf, buf, sizeof(buf) - 1);
			if (r > 0)
				buf[r] = 0;
			close(pf);
		}
		target = (pid_t)atoi(buf);
		unlink(pidfile);
		unlink(sock);
		rmdir(dir);
		/* reap everything we inherit; exit with the exec'd process's status */
		int code = 126;
		while ((w = wait(&status)) != -1 || errno == EINTR) {
			if (w == target && target > 0)
				code = WIFEXITED(status)     ? WEXITSTATUS(status)
				       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
							     : 126;
		}
		_exit(code);
	}
	free(av);
	close(ep[1]);
	master = k8c_console_recv(lfd);
	if (master < 0) {
		char msg[512], text[512];
		ssize_t r = read(ep[0], text, sizeof(text) - 1);

		text[r > 0 ? r : 0] = 0;
		runc_msg(text, msg, sizeof(msg));
		close(ep[0]);
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		unlink(sock);
		unlink(pidfile);
		rmdir(dir);
		return k8c_error_set(err, 0, "container %s: runc exec: %s", id, msg);
	}
	close(ep[0]);
	fds[0] = master;
	fds[1] = -1;
	fds[2] = -1;
	*pid = child;
	return 0;
}

int k8c_container_exec(struct k8c_runtime *rt, const char *id, const char *const *argv, bool tty,
		       int fds[3], pid_t *pid, struct k8c_error *err)
{
	if (!valid_id(id))
		return k8c_error_set(err, EINVAL, "container id \"%s\" is not valid", id ? id : "");
	if (!argv || !argv[0])
		return k8c_error_set(err, EINVAL, "container %s: exec without a command", id);
	return tty ? exec_tty(rt, id, argv, fds, pid, err)
		   : exec_pipes(rt, id, argv, fds, pid, err);
}

/*
 * Times CNI plugin invocations without a shell in between: posix_spawn, the config written to a
 * pipe on stdin, waitpid, CLOCK_MONOTONIC around the whole thing (what a runtime pays per call).
 * Run it inside the node namespace (ip netns exec); cni_bench.sh sets everything up.
 *
 *   cni_bench PLUGIN CNI_PATH CONF_FILE NETNS_FMT CID_FMT CMD FIRST COUNT PARALLEL OUTDIR
 *
 * NETNS_FMT and CID_FMT take the pod index (%d), e.g. /var/run/netns/bp-%d-123 and c-%d-123;
 * NETNS_FMT "-" leaves CNI_NETNS unset. PARALLEL 0 runs one call after the other, 1 starts all of
 * them at once. Prints one line: "count p50_ms p99_ms max_ms first_ms last_ms wall_ms", then the
 * per-call latencies (ms, in index order) on a second line. Each call's stdout and stderr go to
 * OUTDIR/<index>.out; a failing call is reported with that file and makes the exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct call {
	pid_t pid;
	double t0, t1;
	int status;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, int n, int p)
{
	int i = (p * n + 99) / 100 - 1;
	return v[i < 0 ? 0 : i];
}

static char *readfile(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	if (!buf || fread(buf, 1, n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static pid_t spawn_call(const char *plugin, char **env, const char *conf, size_t len,
			const char *outpath)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t def;
	char *argv[] = {(char *)plugin, NULL};
	int p[2], out;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	out = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, out, 2);
	/* We ignore SIGPIPE (a child may exit before reading its stdin); the child must not. */
	posix_spawnattr_init(&attr);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	if (posix_spawn(&pid, plugin, &fa, &attr, argv, env) != 0)
		pid = -1;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	close(out);
	/* A config is far below the pipe buffer: the write never blocks. */
	if (pid > 0 && write(p[1], conf, len) != (ssize_t)len && errno != EPIPE)
		fprintf(stderr, "write to %s stdin: %s\n", plugin, strerror(errno));
	close(p[1]);
	return pid;
}

static char *xfmt(const char *fmt, int i)
{
	char *s;
	if (asprintf(&s, fmt, i) < 0)
		abort();
	return s;
}

static char *xstr(const char *a, const char *b)
{
	char *s;
	if (asprintf(&s, "%s%s", a, b) < 0)
		abort();
	return s;
}

int main(int argc, char **argv)
{
	const char *plugin, *cni_path, *netns_fmt, *cid_fmt, *cmd, *outdir;
	int first, count, parallel, failed = 0;
	char *conf, path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	size_t len;
	struct call *calls;
	double *lat, wall0, wall;

	if (argc != 11) {
		fprintf(stderr,
			"usage: %s PLUGIN CNI_PATH CONF_FILE NETNS_FMT CID_FMT CMD FIRST "
			"COUNT PARALLEL OUTDIR\n",
			argv[0]);
		return 2;
	}
	plugin = argv[1];
	cni_path = argv[2];
	netns_fmt = argv[4];
	cid_fmt = argv[5];
	cmd = argv[6];
	first = atoi(argv[7]);
	count = atoi(argv[8]);
	parallel = atoi(argv[9]);
	outdir = argv[10];
	conf = readfile(argv[3], &len);
	if (!conf || count <= 0) {
		fprintf(stderr, "cannot read %s\n", argv[3]);
		return 2;
	}
	calls = calloc(count, sizeof(*calls));
	lat = calloc(count, sizeof(*lat));

	/* Environments are built before the clock starts. */
	char ***envs = calloc(count, sizeof(*envs));
	char **outs = calloc(count, sizeof(*outs));
	for (int i = 0; i < count; i++) {
		char **e = calloc(8, sizeof(*e)), *cid = xfmt(cid_fmt, first + i);
		int k = 0;

		e[k++] = path_env;
		e[k++] = xstr("CNI_COMMAND=", cmd);
		e[k++] = xstr("CNI_PATH=", cni_path);
		e[k++] = xstr("CNI_IFNAME=", "eth0");
		e[k++] = xstr("CNI_CONTAINERID=", cid);
		free(cid);
		if (strcmp(netns_fmt, "-") != 0) {
			char *ns = xfmt(netns_fmt, first + i);
			e[k++] = xstr("CNI_NETNS=", ns);
			free(ns);
		}
		envs[i] = e;
		outs[i] = xfmt("%d.out", first + i);
		char *o = xstr(outdir, "/");
		char *full = xstr(o, outs[i]);
		free(o);
		free(outs[i]);
		outs[i] = full;
	}

	signal(SIGPIPE, SIG_IGN);
	wall0 = now_ms();
	for (int i = 0; i < count; i++) {
		calls[i].t0 = now_ms();
		calls[i].pid = spawn_call(plugin, envs[i], conf, len, outs[i]);
		if (calls[i].pid < 0) {
			fprintf(stderr, "spawn %s: %s\n", plugin, strerror(errno));
			return 1;
		}
		if (!parallel) {
			waitpid(calls[i].pid, &calls[i].status, 0);
			calls[i].t1 = now_ms();
		}
	}
	if (parallel) {
		for (int done = 0; done < count; done++) {
			int st;
			pid_t pid = waitpid(-1, &st, 0);
			double t = now_ms();
			for (int i = 0; i < count; i++) {
				if (calls[i].pid == pid) {
					calls[i].status = st;
					calls[i].t1 = t;
					break;
				}
			}
		}
	}
	wall = now_ms() - wall0;

	for (int i = 0; i < count; i++) {
		lat[i] = calls[i].t1 - calls[i].t0;
		if (!WIFEXITED(calls[i].status) || WEXITSTATUS(calls[i].status) != 0) {
			size_t l;
			char *o = readfile(outs[i], &l);
			fprintf(stderr, "%s %s index %d failed (status 0x%x): %s\n", plugin, cmd,
				first + i, calls[i].status, o ? o : "");
			free(o);
			failed = 1;
		}
	}
	double first_ms = lat[0], last_ms = lat[count - 1];
	char *line = NULL;
	size_t linelen = 0;
	FILE *m = open_memstream(&line, &linelen);
	for (int i = 0; i < count; i++)
		fprintf(m, "%s%.2f", i ? " " : "", lat[i]);
	fclose(m);
	qsort(lat, count, sizeof(*lat), cmp_double);
	printf("%d %.2f %.2f %.2f %.2f %.2f %.2f\n%s\n", count, pct(lat, count, 50),
	       pct(lat, count, 99), lat[count - 1], first_ms, last_ms, wall, line);
	return failed;
}

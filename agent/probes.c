/*
 * Container probes (docs/agent.md "Probes"): exec (runc exec in the container, exit code 0),
 * httpGet (a socket made in the pod's network namespace, status 200-399), tcpSocket (the
 * connection opens), each bounded by timeoutSeconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "netns.h"
#include "objutil.h"
#include "pod.h"

static int exec_probe(struct agent_worker *w, struct agent_ctr *c, json_t *cmd, int timeout_ms,
		      char *msg, size_t msglen)
{
	size_t n = json_array_size(cmd), i;
	const char **argv = k8c_xcalloc(n + 1, sizeof(char *));
	int fds[3] = {-1, -1, -1}, status = 0;
	pid_t pid = -1;
	struct k8c_error err = K8C_ERROR_INIT;
	double deadline = agent_now() + timeout_ms / 1000.0;
	char out[512];
	size_t on = 0;
	bool exited = false;

	for (i = 0; i < n; i++)
		argv[i] = json_string_value(json_array_get(cmd, i)) ?: "";
	if (!n || k8c_container_exec(w->a->rt, c->id, argv, false, fds, &pid, &err) < 0) {
		snprintf(msg, msglen, "exec failed: %s", err.msg ? err.msg : "no command");
		k8c_error_clear(&err);
		free(argv);
		return 0;
	}
	free(argv);
	if (fds[0] >= 0)
		close(fds[0]);
	for (;;) {
		struct pollfd pf[2] = {{.fd = fds[1], .events = POLLIN},
				       {.fd = fds[2], .events = POLLIN}};
		int left = (int)((deadline - agent_now()) * 1000);

		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			break;
		}
		if (left <= 0)
			break;
		if (poll(pf, 2, left > 50 ? 50 : left) > 0)
			for (int k = 0; k < 2; k++)
				if (pf[k].fd >= 0 && pf[k].revents) {
					char buf[256];
					ssize_t r = read(pf[k].fd, buf, sizeof(buf));

					if (r <= 0) {
						close(fds[k + 1]);
						fds[k + 1] = -1;
					} else if (on < sizeof(out) - 1) {
						size_t cp = (size_t)r < sizeof(out) - 1 - on
								    ? (size_t)r
								    : sizeof(out) - 1 - on;

						memcpy(out + on, buf, cp);
						on += cp;
					}
				}
	}
	out[on] = 0;
	for (int k = 1; k < 3; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(msg, msglen, "command timed out after %ds", timeout_ms / 1000);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	snprintf(msg, msglen, "command failed with exit code %d: %s",
		 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out);
	return 0;
}

/* A connected TCP socket from inside the pod's network namespace, or -1 (msg). */
static int pod_connect(struct agent_pod *p, const char *host, int port, int timeout_ms, char *msg,
		       size_t msglen)
{
	struct k8c_error err = K8C_ERROR_INIT;
	int nsfd = k8c_netns_open(p->netns_path, &err), saved = -1, s = -1;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct pollfd pf;
	int so = 0;
	socklen_t sl = sizeof(so);

	if (nsfd < 0 || k8c_netns_enter(nsfd, &saved, &err) < 0) {
		snprintf(msg, msglen, "pod network namespace: %s", err.msg);
		k8c_error_clear(&err);
		if (nsfd >= 0)
			close(nsfd);
		return -1;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	k8c_netns_restore(&saved);
	close(nsfd);
	if (s < 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		snprintf(msg, msglen, "bad probe address %s", host);
		if (s >= 0)
			close(s);
		return -1;
	}
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
		snprintf(msg, msglen, "dial tcp %s:%d: connect: %s", host, port, strerror(errno));
		close(s);
		return -1;
	}
	pf = (struct pollfd){.fd = s, .events = POLLOUT};
	if (poll(&pf, 1, timeout_ms) <= 0) {
		snprintf(msg, msglen, "dial tcp %s:%d: i/o timeout", host, port);
		close(s);
		return -1;
	}
	getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl);
	if (so) {
		snprintf(msg, msglen, "dial tcp %s:%d: connect: %s", host, port, strerror(so));
		close(s);
		return -1;
	}
	return s;
}

/* A port by number, or by the name of one of the container's ports. */
static int probe_port(json_t *ctr, json_t *port)
{
	size_t i;
	json_t *cp;

	if (json_is_integer(port))
		return (int)json_integer_value(port);
	if (json_is_string(port)) {
		const char *s = json_string_value(port);
		char *end;
		long v = strtol(s, &end, 10);

		if (!*end && end != s)
			return (int)v;
		json_array_foreach(json_object_get(ctr, "ports"), i, cp)
		{
			if (!strcmp(json_string_value(json_object_get(cp, "name")) ?: "", s))
				return (int)k8c_int_at(cp, "containerPort", 0);
		}
	}
	return 0;
}

static int http_probe(struct agent_pod *p, json_t *ctr, json_t *h, int timeout_ms, char *msg,
		      size_t msglen)
{
	const char *host = json_string_value(json_object_get(h, "host"));
	const char *path = json_string_value(json_object_get(h, "path")) ?: "/";
	int port = probe_port(ctr, json_object_get(h, "port"));
	double deadline = agent_now() + timeout_ms / 1000.0;
	_cleanup_free_ char *req = NULL;
	char *hdrs = k8c_xstrdup(""), resp[256];
	bool has_host = false, has_ua = false;
	size_t i, rn = 0;
	json_t *hd;
	int s, code = 0;

	if (!host || !*host)
		host = p->ip ? p->ip : "127.0.0.1";
	json_array_foreach(json_object_get(h, "httpHeaders"), i, hd)
	{
		const char *n = json_string_value(json_object_get(hd, "name")) ?: "";
		const char *v = json_string_value(json_object_get(hd, "value")) ?: "";
		char *t = k8c_xasprintf("%s%s: %s\r\n", hdrs, n, v);

		has_host |= !strcasecmp(n, "Host");
		has_ua |= !strcasecmp(n, "User-Agent");
		free(hdrs);
		hdrs = t;
	}
	{
		_cleanup_free_ char *hosthdr =
			has_host ? k8c_xstrdup("") : k8c_xasprintf("Host: %s:%d\r\n", host, port);

		req = k8c_xasprintf(
			"GET %s%s HTTP/1.1\r\n%s%s%sAccept: */*\r\nConnection: close\r\n\r\n",
			*path == '/' ? "" : "/", path, hosthdr, hdrs,
			has_ua ? "" : "User-Agent: kube-probe/1.32\r\n");
	}
	free(hdrs);
	s = pod_connect(p, host, port, timeout_ms, msg, msglen);
	if (s < 0)
		return 0;
	if (write(s, req, strlen(req)) < 0) {
		snprintf(msg, msglen, "Get \"http://%s:%d%s\": %s", host, port, path,
			 strerror(errno));
		close(s);
		return 0;
	}
	while (rn < sizeof(resp) - 1 && !memchr(resp, '\n', rn)) {
		struct pollfd pf = {.fd = s, .events = POLLIN};
		int left = (int)((deadline - agent_now()) * 1000);
		ssize_t r;

		if (left <= 0 || poll(&pf, 1, left) <= 0) {
			snprintf(
				msg, msglen,
				"Get \"http://%s:%d%s\": context deadline exceeded (Client.Timeout "
				"exceeded while awaiting headers)",
				host, port, path);
			close(s);
			return 0;
		}
		r = read(s, resp + rn, sizeof(resp) - 1 - rn);
		if (r <= 0)
			break;
		rn += (size_t)r;
	}
	resp[rn] = 0;
	close(s);
	if (sscanf(resp, "HTTP/%*s %d", &code) != 1) {
		snprintf(msg, msglen, "Get \"http://%s:%d%s\": malformed HTTP response", host, port,
			 path);
		return 0;
	}
	if (code >= 200 && code < 400)
		return 1;
	snprintf(msg, msglen, "HTTP probe failed with statuscode: %d", code);
	return 0;
}

int probe_run(struct agent_worker *w, struct agent_pod *p, struct agent_ctr *c, json_t *ctr,
	      json_t *probe, char *msg, size_t msglen)
{
	int timeout_ms = (int)k8c_int_at(probe, "timeoutSeconds", 1) * 1000;
	json_t *x;

	msg[0] = 0;
	if (timeout_ms <= 0)
		timeout_ms = 1000;
	if ((x = json_object_get(probe, "exec")))
		return exec_probe(w, c, json_object_get(x, "command"), timeout_ms, msg, msglen);
	if ((x = json_object_get(probe, "httpGet")))
		return http_probe(p, ctr, x, timeout_ms, msg, msglen);
	if ((x = json_object_get(probe, "tcpSocket"))) {
		const char *host = json_string_value(json_object_get(x, "host"));
		int port = probe_port(ctr, json_object_get(x, "port"));
		int s;

		if (!host || !*host)
			host = p->ip ? p->ip : "127.0.0.1";
		s = pod_connect(p, host, port, timeout_ms, msg, msglen);
		if (s < 0)
			return 0;
		close(s);
		return 1;
	}
	/* grpc and unknown handlers: not supported here; reported as success (not killed) */
	return 1;
}

/*
 * runc's --console-socket protocol (docs/agent.md "Runtime"): runc connects to a unix socket and
 * sends the pty master of a terminal container or exec as SCM_RIGHTS. Used by k8c-shim (tty
 * containers) and k8c_container_exec (tty execs).
 */
#ifndef K8C_AGENT_CONSOLE_H
#define K8C_AGENT_CONSOLE_H

/* A listening SOCK_STREAM unix socket at path (removed first if present); fd or -1 (errno). */
int k8c_console_listen(const char *path);
/* Accept one connection on the listener and receive the pty master; fd or -1 (errno). */
int k8c_console_recv(int listen_fd);
/* Connect to the socket at path and hang up, so that a k8c_console_recv waiting on it fails
 * (EBADMSG) when runc will not connect. */
void k8c_console_cancel(const char *path);

#endif

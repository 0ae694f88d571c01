/*
 * k8c-server's in-process controller manager (docs/controllers.md): the manager of
 * lib/controller.h against the server itself (admin client certificate, loopback), started once
 * the server listens, stopped on SIGTERM before the event loops end.
 */
#ifndef K8C_SERVER_CTRL_H
#define K8C_SERVER_CTRL_H

#include <signal.h>
#include <stdatomic.h>

#include "ctrl_manager.h"
#include "error.h"

struct server_ctrl;

/*
 * Start the manager with flags fl (fl->controllers "" or NULL: returns NULL with no error, and
 * *done is set at once) against url with the credentials of kubeconfig_path. A thread waits for
 * *stop (set by the signal handler), then stops the manager and sets *done. If the manager loses
 * its lease it is restarted as a standby (the server keeps serving).
 */
struct server_ctrl *server_ctrl_start(const struct ctrl_flags *fl, const char *kubeconfig_path,
				      const char *url, volatile sig_atomic_t *stop,
				      atomic_int *done, struct k8c_error *err);
/* Join the thread (after *done) and free. NULL: nothing. */
void server_ctrl_free(struct server_ctrl *s);

#endif

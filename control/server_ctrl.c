/* k8c-server's in-process controller manager (server_ctrl.h). */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "kubeconfig.h"
#include "log.h"
#include "server_ctrl.h"

#define STOP_POLL_MS 100

struct server_ctrl {
	struct k8c_kubeconfig cfg;
	struct k8c_ctrl_manager_opts opts;
	const char **names;
	char *identity;
	struct k8c_ctrl_manager *m;
	volatile sig_atomic_t *stop;
	atomic_int *done;
	pthread_t thread;
};

static void *watch_thread(void *arg)
{
	struct server_ctrl *s = arg;
	struct k8c_error err = K8C_ERROR_INIT;

	while (!*s->stop) {
		struct pollfd p = {.fd = s->m ? k8c_ctrl_manager_lost_fd(s->m) : -1,
				   .events = POLLIN};

		poll(&p, 1, STOP_POLL_MS);
		if (*s->stop || !(p.revents & POLLIN))
			continue;
		/* lost the lease: stand by again, keep serving */
		k8c_log_warn("controller manager lost its lease, standing by", NULL);
		k8c_ctrl_manager_stop(s->m);
		if (!(s->m = k8c_ctrl_manager_start(&s->opts, ctrl_registry, &err))) {
			k8c_log_error("controller manager not restarted", "error=\"%s\"", err.msg);
			k8c_error_clear(&err);
		}
	}
	k8c_log_info("stopping the controllers", NULL);
	k8c_ctrl_manager_stop(s->m);
	s->m = NULL;
	atomic_store(s->done, 1);
	return NULL;
}

struct server_ctrl *server_ctrl_start(const struct ctrl_flags *fl, const char *kubeconfig_path,
				      const char *url, volatile sig_atomic_t *stop,
				      atomic_int *done, struct k8c_error *err)
{
	struct server_ctrl *s;
	size_t n = 0;

	if (!fl->controllers || !*fl->controllers) {
		atomic_store(done, 1);
		return NULL;
	}
	s = k8c_xcalloc(1, sizeof(*s));
	if (ctrl_select(fl->controllers, &s->names, &n, err) < 0)
		goto fail;
	if (k8c_kubeconfig_load(kubeconfig_path, NULL, &s->cfg, err) < 0)
		goto fail;
	free(s->cfg.server);
	s->cfg.server = k8c_xstrdup(url);
	s->opts.cfg = &s->cfg;
	s->opts.controllers = s->names;
	s->opts.leader_elect = fl->leader_elect;
	s->opts.lease_namespace = fl->lease_namespace;
	s->opts.lease_name = fl->lease_name;
	s->opts.lease_duration_s = fl->lease_duration_s;
	s->opts.renew_deadline_s = fl->renew_deadline_s;
	s->opts.retry_period_s = fl->retry_period_s;
	s->opts.user_agent = "k8c-controller-manager";
	/*
	 * A stable identity (host and listening address): a server restarted after a crash finds
	 * its own unexpired Lease and leads at once instead of waiting for it to expire.
	 */
	{
		char host[256] = "localhost";

		gethostname(host, sizeof(host) - 1);
		s->identity = k8c_xasprintf("%s_%s", host,
					    strncmp(url, "https://", 8) == 0 ? url + 8 : url);
		s->opts.identity = s->identity;
	}
	s->stop = stop;
	s->done = done;
	if (!(s->m = k8c_ctrl_manager_start(&s->opts, ctrl_registry, err)))
		goto fail;
	if (pthread_create(&s->thread, NULL, watch_thread, s) != 0) {
		k8c_error_set(err, 0, "controller manager: cannot start its thread");
		k8c_ctrl_manager_stop(s->m);
		goto fail;
	}
	k8c_log_info("controller manager started", "controllers=%zu leader_elect=%s", n,
		     fl->leader_elect ? "true" : "false");
	return s;
fail:
	k8c_error_wrap(err, "controller manager");
	k8c_kubeconfig_free(&s->cfg);
	free(s->names);
	free(s->identity);
	free(s);
	return NULL;
}

void server_ctrl_free(struct server_ctrl *s)
{
	if (!s)
		return;
	pthread_join(s->thread, NULL);
	k8c_kubeconfig_free(&s->cfg);
	free(s->names);
	free(s->identity);
	free(s);
}

/*
 * The controller manager (lib/controller.h): leader election on a coordination.k8s.io/v1 Lease,
 * as client-go's leaderelection with a LeaseLock, then one thread per chosen controller.
 *
 * Acquire/renew (every retry period): GET the Lease (create it when missing); when another
 * holder's record has not changed for leaseDurationSeconds as observed on OUR clock (not the
 * record's renewTime: clocks of two hosts may differ), take it over; PUT with the
 * resourceVersion read, so of two candidates one wins and the other gets a 409. The leader
 * renews every retry period; when no renew succeeded for the renew deadline it has lost: it
 * stops its controllers and makes lost_fd readable. On stop it releases the Lease (holder "",
 * leaseDurationSeconds 1) so a standby takes over at its next retry.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "cleanup.h"
#include "controller.h"
#include "controller_internal.h"
#include "log.h"
#include "objutil.h"

struct k8c_ctrl_manager {
	const struct k8c_kubeconfig *cfg;
	const struct k8c_controller_def **chosen; /* NULL-terminated */
	size_t n_chosen;
	struct k8c_ctrl **ctrls;
	bool leader_elect;
	char *lease_ns, *lease_name, *identity, *user_agent;
	int lease_duration_s, renew_deadline_s, retry_period_s;

	struct k8c_kube *kube; /* the manager thread's (interruptible) */
	pthread_t thread;
	bool started;
	int stop_fd, lost_fd;
	atomic_bool stopping, leading;

	/* the record last seen and when (our monotonic clock) it changed */
	char *observed; /* "holder\x1frenewTime\x1frv" */
	int64_t observed_at_ms;
};

static void now_micro(char buf[28])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	k8c_rfc3339_micro(&ts, buf);
}

/* Wait ms or until stop; true when stopping. */
static bool wait_stop(struct k8c_ctrl_manager *m, int ms)
{
	struct pollfd p = {.fd = m->stop_fd, .events = POLLIN};

	if (atomic_load(&m->stopping))
		return true;
	poll(&p, 1, ms);
	return atomic_load(&m->stopping);
}

/* One attempt to acquire or renew. 1: we hold it; 0: someone else does; -1: error (err). */
static int try_acquire_or_renew(struct k8c_ctrl_manager *m, struct k8c_error *err)
{
	struct k8c_gvr gvr = K8C_GVR_LEASES;
	_cleanup_json_ json_t *lease = NULL, *out = NULL;
	_cleanup_free_ char *rec = NULL;
	const char *holder, *renew, *rv;
	char now[28];
	json_t *spec;
	bool mine;

	now_micro(now);
	if (k8c_kube_get(m->kube, gvr, m->lease_ns, m->lease_name, &lease, err) < 0) {
		if (err->code != 404)
			return -1;
		k8c_error_clear(err);
		lease = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}",
				  "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
				  "metadata", "name", m->lease_name, "namespace", m->lease_ns,
				  "spec", "holderIdentity", m->identity, "leaseDurationSeconds",
				  m->lease_duration_s, "acquireTime", now, "renewTime", now,
				  "leaseTransitions", 0);
		if (k8c_kube_create(m->kube, gvr, m->lease_ns, lease, NULL, err) < 0)
			return err->code == 409 ? (k8c_error_clear(err), 0) : -1;
		return 1;
	}
	spec = json_object_get(lease, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(lease, "spec", spec);
	}
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	renew = json_string_value(json_object_get(spec, "renewTime"));
	rv = k8c_str_at(lease, "metadata.resourceVersion");
	rec = k8c_xasprintf("%s\x1f%s\x1f%s", holder ? holder : "", renew ? renew : "",
			    rv ? rv : "");
	if (!m->observed || strcmp(m->observed, rec) != 0) {
		free(m->observed);
		m->observed = k8c_xstrdup(rec);
		m->observed_at_ms = k8c_ctrl_now_ms();
	}
	mine = holder && strcmp(holder, m->identity) == 0;
	if (holder && *holder && !mine) {
		long long dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));

		if (dur <= 0)
			dur = m->lease_duration_s;
		if (m->observed_at_ms + dur * 1000 > k8c_ctrl_now_ms())
			return 0; /* held, not expired */
	}
	if (!mine) {
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(
			spec, "leaseTransitions",
			json_integer(json_integer_value(json_object_get(spec, "leaseTransitions")) +
				     1));
	}
	json_object_set_new(spec, "holderIdentity", json_string(m->identity));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(m->lease_duration_s));
	json_object_set_new(spec, "renewTime", json_string(now));
	if (k8c_kube_update(m->kube, gvr, m->lease_ns, lease, &out, err) < 0)
		return err->code == 409 ? (k8c_error_clear(err), 0) : -1;
	return 1;
}

static void release(struct k8c_ctrl_manager *m)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_gvr gvr = K8C_GVR_LEASES;
	struct k8c_kube *kube = k8c_kube_new(m->cfg, m->user_agent, &err);
	_cleanup_json_ json_t *lease = NULL;
	char now[28], q[512];
	json_t *spec;

	if (!kube)
		goto fail;
	if (k8c_kube_get(kube, gvr, m->lease_ns, m->lease_name, &lease, &err) < 0)
		goto fail;
	spec = json_object_get(lease, "spec");
	if (!json_is_object(spec) || !k8c_str_at(spec, "holderIdentity") ||
	    strcmp(k8c_str_at(spec, "holderIdentity"), m->identity) != 0)
		goto out; /* not ours any more */
	now_micro(now);
	json_object_set_new(spec, "holderIdentity", json_string(""));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
	json_object_set_new(spec, "renewTime", json_string(now));
	json_object_set_new(spec, "acquireTime", json_string(now));
	if (k8c_kube_update(kube, gvr, m->lease_ns, lease, NULL, &err) < 0)
		goto fail;
	k8c_log_info("leader lease released", "lease=%s/%s identity=%s", m->lease_ns, m->lease_name,
		     m->identity);
	goto out;
fail:
	k8c_log_warn("leader lease not released", "lease=%s/%s error=%s", m->lease_ns,
		     m->lease_name, k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
out:
	k8c_error_clear(&err);
	k8c_kube_free(kube);
}

static void start_controllers(struct k8c_ctrl_manager *m)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char q[1024];

	for (size_t i = 0; i < m->n_chosen; i++) {
		m->ctrls[i] = k8c_ctrl_start(m->chosen[i], m->cfg, m->user_agent, &err);
		if (!m->ctrls[i]) {
			k8c_log_error("controller not started", "controller=%s error=%s",
				      m->chosen[i]->name,
				      k8c_log_quote(q, sizeof(q), err.msg ? err.msg : "failed"));
			k8c_error_clear(&err);
		}
	}
}

static void stop_controllers(struct k8c_ctrl_manager *m)
{
	for (size_t i = 0; i < m->n_chosen; i++) {
		k8c_ctrl_stop(m->ctrls[i]);
		m->ctrls[i] = NULL;
	}
}

static void *manager_thread(void *arg)
{
	struct k8c_ctrl_manager *m = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	char q[1024];
	int64_t last_ok;
	bool logged_wait = false;

	if (m->leader_elect) {
		for (;;) {
			int r = try_acquire_or_renew(m, &err);

			if (atomic_load(&m->stopping))
				goto out;
			if (r == 1)
				break;
			if (r < 0) {
				k8c_log_warn("leader lease: acquire failed", "lease=%s/%s error=%s",
					     m->lease_ns, m->lease_name,
					     k8c_log_quote(q, sizeof(q), err.msg));
				k8c_error_clear(&err);
			} else if (!logged_wait) {
				k8c_log_info("waiting for the leader lease",
					     "lease=%s/%s identity=%s", m->lease_ns, m->lease_name,
					     m->identity);
				logged_wait = true;
			}
			if (wait_stop(m, m->retry_period_s * 1000))
				goto out;
		}
		k8c_log_info("leading", "lease=%s/%s identity=%s", m->lease_ns, m->lease_name,
			     m->identity);
	}
	start_controllers(m);
	atomic_store(&m->leading, true);
	if (!m->leader_elect)
		goto out;
	last_ok = k8c_ctrl_now_ms();
	while (!wait_stop(m, m->retry_period_s * 1000)) {
		int r = try_acquire_or_renew(m, &err);

		if (atomic_load(&m->stopping))
			break;
		if (r == 1) {
			last_ok = k8c_ctrl_now_ms();
			continue;
		}
		if (r < 0) {
			k8c_log_warn("leader lease: renew failed", "lease=%s/%s error=%s",
				     m->lease_ns, m->lease_name,
				     k8c_log_quote(q, sizeof(q), err.msg));
			k8c_error_clear(&err);
		}
		if (r == 0 || k8c_ctrl_now_ms() - last_ok >= (int64_t)m->renew_deadline_s * 1000) {
			uint64_t one = 1;

			k8c_log_error("leader lease lost", "lease=%s/%s identity=%s", m->lease_ns,
				      m->lease_name, m->identity);
			atomic_store(&m->leading, false);
			stop_controllers(m);
			if (write(m->lost_fd, &one, sizeof(one)) < 0) {
				/* cannot fail on an eventfd */
			}
			break;
		}
	}
out:
	k8c_error_clear(&err);
	return NULL;
}

static char *default_identity(void)
{
	char host[256] = "localhost", rnd[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");

	gethostname(host, sizeof(host) - 1);
	if (f) {
		if (!fgets(rnd, sizeof(rnd), f))
			rnd[0] = 0;
		fclose(f);
		rnd[strcspn(rnd, "\n")] = 0;
	}
	if (!rnd[0])
		snprintf(rnd, sizeof(rnd), "%ld", (long)getpid());
	return k8c_xasprintf("%s_%s", host, rnd);
}

struct k8c_ctrl_manager *k8c_ctrl_manager_start(const struct k8c_ctrl_manager_opts *o,
						const struct k8c_controller_def *const *defs,
						struct k8c_error *err)
{
	struct k8c_ctrl_manager *m = k8c_xcalloc(1, sizeof(*m));
	size_t n_defs = 0;

	m->stop_fd = m->lost_fd = -1;
	while (defs[n_defs])
		n_defs++;
	m->chosen = k8c_xcalloc(n_defs + 1, sizeof(*m->chosen));
	if (!o->controllers) {
		for (size_t i = 0; i < n_defs; i++)
			m->chosen[m->n_chosen++] = defs[i];
	} else {
		for (size_t k = 0; o->controllers[k]; k++) {
			size_t i;

			for (i = 0; i < n_defs && strcmp(defs[i]->name, o->controllers[k]); i++)
				;
			if (i == n_defs) {
				k8c_error_set(err, 0, "unknown controller \"%s\"",
					      o->controllers[k]);
				goto fail;
			}
			m->chosen[m->n_chosen++] = defs[i];
		}
	}
	m->ctrls = k8c_xcalloc(m->n_chosen + 1, sizeof(*m->ctrls));
	m->cfg = o->cfg;
	m->leader_elect = o->leader_elect;
	m->lease_ns = k8c_xstrdup(o->lease_namespace ? o->lease_namespace : "kube-system");
	m->lease_name = k8c_xstrdup(o->lease_name ? o->lease_name : "k8c-controller-manager");
	m->identity = o->identity ? k8c_xstrdup(o->identity) : default_identity();
	m->user_agent = k8c_xstrdup(o->user_agent ? o->user_agent : "k8c-controller-manager");
	m->lease_duration_s = o->lease_duration_s > 0 ? o->lease_duration_s : 15;
	m->renew_deadline_s = o->renew_deadline_s > 0 ? o->renew_deadline_s : 10;
	m->retry_period_s = o->retry_period_s > 0 ? o->retry_period_s : 2;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->lost_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0 || m->lost_fd < 0) {
		k8c_error_errno(err, 0, errno, "controller manager: eventfd");
		goto fail;
	}
	if (!(m->kube = k8c_kube_new(m->cfg, m->user_agent, err)))
		goto fail;
	if (pthread_create(&m->thread, NULL, manager_thread, m) != 0) {
		k8c_error_set(err, 0, "controller manager: cannot start its thread");
		goto fail;
	}
	m->started = true;
	return m;
fail:
	k8c_ctrl_manager_stop(m);
	return NULL;
}

bool k8c_ctrl_manager_leading(const struct k8c_ctrl_manager *m)
{
	return atomic_load(&((struct k8c_ctrl_manager *)m)->leading);
}

int k8c_ctrl_manager_lost_fd(const struct k8c_ctrl_manager *m)
{
	return m->lost_fd;
}

void k8c_ctrl_manager_stop(struct k8c_ctrl_manager *m)
{
	uint64_t one = 1;
	bool was_leading;

	if (!m)
		return;
	atomic_store(&m->stopping, true);
	if (m->started) {
		if (write(m->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on an eventfd */
		}
		k8c_kube_interrupt(m->kube);
		pthread_join(m->thread, NULL);
	}
	was_leading = atomic_load(&m->leading);
	if (m->ctrls)
		stop_controllers(m);
	if (m->started && m->leader_elect && was_leading)
		release(m);
	atomic_store(&m->leading, false);
	k8c_kube_free(m->kube);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	if (m->lost_fd >= 0)
		close(m->lost_fd);
	free(m->chosen);
	free(m->ctrls);
	free(m->lease_ns);
	free(m->lease_name);
	free(m->identity);
	free(m->user_agent);
	free(m->observed);
	free(m);
}

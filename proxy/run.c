#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "health.h"
#include "informer.h"
#include "log.h"
#include "metrics.h"
#include "netns.h"
#include "run.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

struct loop {
	const struct proxy_run_opts *o;
	const char *kind; /* of the informer being dispatched */
	size_t bad;
	bool np_dirty; /* the node's addresses or its Node changed: resolve NodePort addresses */
	double first_delta; /* when the first change since the last sync arrived (0: none) */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_delta(const struct k8c_delta *d, void *arg)
{
	struct loop *l = arg;
	struct k8c_error err = K8C_ERROR_INIT;
	int r = 0;

	if (!l->first_delta && (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE ||
				d->type == K8C_DELTA_DELETE))
		l->first_delta = now_ms();
	switch (d->type) {
	case K8C_DELTA_ADD:
	case K8C_DELTA_UPDATE:
		r = proxy_model_apply(l->o->m, d->new, l->kind, false, &err);
		break;
	case K8C_DELTA_DELETE:
		r = proxy_model_apply(l->o->m, d->old ? d->old : d->new, l->kind, true, &err);
		break;
	case K8C_DELTA_ERROR:
		k8c_log_warn("watch error (retrying)", "kind=%s error=\"%s\"", l->kind,
			     d->msg ? d->msg : "?");
		break;
	case K8C_DELTA_SYNCED:
		k8c_log_info("informer synced", "kind=%s", l->kind);
		break;
	}
	if (r < 0) {
		l->bad++;
		k8c_log_warn("object skipped", "kind=%s key=%s error=\"%s\"", l->kind,
			     d->key ? d->key : "?", err.msg);
	}
	k8c_error_clear(&err);
}

/* The Node (field selector metadata.name=NAME): its addresses for `primary` NodePorts. */
static void on_node(const struct k8c_delta *d, void *arg)
{
	struct loop *l = arg;

	if (d->type == K8C_DELTA_ADD || d->type == K8C_DELTA_UPDATE ||
	    d->type == K8C_DELTA_DELETE) {
		if (proxy_npaddr_set_node(l->o->npaddr,
					  d->type == K8C_DELTA_DELETE ? NULL : d->new))
			l->np_dirty = true;
	} else if (d->type == K8C_DELTA_ERROR) {
		k8c_log_warn("watch error (retrying)", "kind=Node error=\"%s\"",
			     d->msg ? d->msg : "?");
	}
}

/* Run f(arg) in the node's network namespace (o->netns_fd), or here. */
static int in_node_ns(const struct proxy_run_opts *o, int (*f)(void *, struct k8c_error *),
		      void *arg, struct k8c_error *err)
{
	int saved = -1, rc;

	if (o->netns_fd >= 0 && k8c_netns_enter(o->netns_fd, &saved, err) < 0)
		return -1;
	rc = f(arg, err);
	if (o->netns_fd >= 0)
		k8c_netns_restore(&saved);
	return rc;
}

struct np_state {
	const struct proxy_run_opts *o;
	struct k8c_ipnet *cur; /* what the backend was last given */
	size_t n_cur;
	int mon; /* address changes (rtnetlink), -1: none */
};

static int np_monitor_open(void *arg, struct k8c_error *err)
{
	struct np_state *ns = arg;

	ns->mon = proxy_npaddr_monitor(err);
	return ns->mon < 0 ? -1 : 0;
}

/* Resolve the NodePort addresses again; returns 1 when they changed (the backend told). */
static int np_refresh(void *arg, struct k8c_error *err)
{
	struct np_state *ns = arg;
	struct k8c_ipnet *v;
	ssize_t n = proxy_npaddr_resolve(ns->o->npaddr, &v, err);

	if (n < 0)
		return -1;
	if ((size_t)n == ns->n_cur && (n == 0 || memcmp(v, ns->cur, (size_t)n * sizeof(*v)) == 0)) {
		free(v);
		return 0;
	}
	free(ns->cur);
	ns->cur = v;
	ns->n_cur = (size_t)n;
	ns->o->ops->set_nodeport_ips(ns->o->be, v, (size_t)n);
	k8c_log_info("nodeport addresses", "count=%zu", (size_t)n);
	return 1;
}

int proxy_run(const struct proxy_run_opts *o, struct k8c_error *err)
{
	struct k8c_informer_opts so = {.gvr = K8C_GVR_SERVICES, .user_agent = "k8c-proxy"};
	struct k8c_informer_opts eo = {.gvr = K8C_GVR_ENDPOINTSLICES, .user_agent = "k8c-proxy"};
	struct k8c_informer *svc = NULL, *eps = NULL, *node = NULL;
	struct loop l = {.o = o, .np_dirty = true};
	struct np_state nps = {.o = o, .mon = -1};
	bool np_pending = false, follow_np = o->npaddr && o->ops->set_nodeport_ips;
	_cleanup_free_ char *node_sel = NULL;
	struct proxy_metrics mt = {0};
	struct proxy_health *hc = proxy_health_new(o->netns_fd);
	struct pollfd *p = NULL;
	sigset_t mask;
	_cleanup_close_ int sfd = -1, hfd = -1;
	double last_sync = -1e12, retry_at = 0;
	unsigned retry_ms = RETRY_MIN_MS;
	bool full = true; /* the first sync reads the kernel's state back anyway */
	int rc = -1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		return k8c_error_errno(err, 0, errno, "signalfd");
	if (o->metrics_addr && (hfd = proxy_http_listen(o->metrics_addr, err)) < 0)
		return k8c_error_wrap(err, "--metrics-bind-address");
	if (follow_np && o->npaddr->primary) {
		struct k8c_informer_opts no = {.gvr = K8C_GVR_NODES, .user_agent = "k8c-proxy"};

		if (!o->node_name) {
			k8c_error_set(err, 0, "--nodeport-addresses primary needs --node-name");
			goto out;
		}
		node_sel = k8c_xasprintf("metadata.name=%s", o->node_name);
		no.field_selector = node_sel;
		if (!(node = k8c_informer_new(o->kc, &no, err)) ||
		    k8c_informer_start(node, err) < 0)
			goto out;
	}
	if (follow_np && o->npaddr->n_cidrs && in_node_ns(o, np_monitor_open, &nps, err) < 0)
		goto out;
	svc = k8c_informer_new(o->kc, &so, err);
	eps = svc ? k8c_informer_new(o->kc, &eo, err) : NULL;
	if (!svc || !eps || k8c_informer_start(svc, err) < 0 || k8c_informer_start(eps, err) < 0)
		goto out;
	k8c_log_info("watching", "server=%s", o->kc->server);
	for (;;) {
		size_t nh = proxy_health_count(hc);
		bool synced = k8c_informer_has_synced(svc) && k8c_informer_has_synced(eps) &&
			      (!node || k8c_informer_has_synced(node));
		bool pending;

		if (follow_np && l.np_dirty && (!node || k8c_informer_has_synced(node))) {
			struct k8c_error nerr = K8C_ERROR_INIT;
			int r = in_node_ns(o, np_refresh, &nps, &nerr);

			if (r < 0)
				k8c_log_warn("cannot read the node's addresses", "error=\"%s\"",
					     nerr.msg);
			np_pending |= r > 0;
			l.np_dirty = r < 0; /* a failure: again at the next turn */
			k8c_error_clear(&nerr);
		}
		pending = synced && (full || np_pending || proxy_model_dirty_count(o->m) > 0);
		double now = now_ms(), due = last_sync + o->min_sync_ms;
		int timeout = -1;

		if (pending) {
			if (retry_at > due)
				due = retry_at;
			if (due <= now) {
				struct proxy_sync_stats st;
				struct k8c_error serr = K8C_ERROR_INIT;
				double t0 = now_ms();

				last_sync = t0;
				int sr = o->ops->sync(o->be, o->m, full, &st, &serr);

				proxy_hist_observe(&mt.sync_seconds, (now_ms() - t0) / 1e3);
				mt.last_failed = sr < 0;
				if (sr < 0) {
					mt.syncs_failed++;
					k8c_log_error("sync failed; the previous rules stay",
						      "error=\"%s\" retry_ms=%u", serr.msg,
						      retry_ms);
					retry_at = now_ms() + retry_ms;
					retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
									       : retry_ms * 2;
				} else {
					k8c_log_info("synced",
						     "records=%zu services=%zu messages=%zu "
						     "transactions=%zu added=%zu deleted=%zu "
						     "conflicts=%zu conntrack_deleted=%zu ms=%.1f",
						     st.records, proxy_model_count(o->m),
						     st.messages, st.transactions, st.elems_added,
						     st.elems_deleted, st.conflicts,
						     st.conntrack_deleted, now_ms() - t0);
					mt.syncs_ok++;
					mt.synced_once = true;
					mt.elements = st.elements;
					mt.conntrack_deleted += st.conntrack_deleted;
					mt.conflicts += st.conflicts;
					if (l.first_delta) {
						proxy_hist_observe(&mt.latency_seconds,
								   (now_ms() - l.first_delta) /
									   1e3);
						l.first_delta = 0;
					}
					full = false;
					np_pending = false;
					proxy_health_update(hc, o->m);
					retry_at = 0;
					retry_ms = RETRY_MIN_MS;
				}
				k8c_error_clear(&serr);
				continue;
			}
			timeout = (int)(due - now) + 1;
		}
		p = k8c_xrealloc(p, (6 + nh) * sizeof(*p));
		p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = k8c_informer_fd(svc), .events = POLLIN};
		p[2] = (struct pollfd){.fd = k8c_informer_fd(eps), .events = POLLIN};
		p[3] = (struct pollfd){.fd = hfd, .events = POLLIN}; /* -1: ignored by poll */
		proxy_health_pollfds(hc, p + 4, nh);
		p[4 + nh] =
			(struct pollfd){.fd = node ? k8c_informer_fd(node) : -1, .events = POLLIN};
		p[5 + nh] = (struct pollfd){.fd = nps.mon, .events = POLLIN};
		if (l.np_dirty && timeout < 0 && follow_np)
			timeout = 1000; /* resolving failed: try again */
		if (o->ops->tick) {	/* when the backend asks for it, else no wake-up */
			int t = o->ops->tick(o->be, now_ms());

			if (t >= 0 && (timeout < 0 || timeout > t))
				timeout = t;
		}
		if (poll(p, 6 + nh, timeout) < 0) {
			if (errno == EINTR)
				continue;
			k8c_error_errno(err, 0, errno, "poll");
			goto out;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) > 0)
				k8c_log_info("stopping", "signal=%u", si.ssi_signo);
			rc = 0;
			goto out;
		}
		if (hfd >= 0 && p[3].revents)
			proxy_http_serve(hfd, &mt, o->m);
		for (size_t i = 0; i < nh; i++)
			if (p[4 + i].revents)
				proxy_health_serve(hc, i, mt.synced_once && !mt.last_failed);
		if (nps.mon >= 0 && p[5 + nh].revents) {
			proxy_npaddr_drain(nps.mon);
			l.np_dirty = true;
		}
		if (node)
			k8c_informer_dispatch(node, on_node, &l);
		l.kind = "Service";
		k8c_informer_dispatch(svc, on_delta, &l);
		l.kind = "EndpointSlice";
		k8c_informer_dispatch(eps, on_delta, &l);
	}
out:
	proxy_health_free(hc);
	free(p);
	k8c_informer_free(svc);
	k8c_informer_free(eps);
	k8c_informer_free(node);
	if (nps.mon >= 0)
		close(nps.mon);
	free(nps.cur);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return rc;
}

/*
 * The controller runtime: what every k8c controller and the scheduler are built on (issue 5,
 * docs/controllers.md).
 *
 * A controller is a definition (name, init, sync, fini). The runtime gives each running
 * controller one thread, its own API client for writes, the informers it asked for in init(),
 * and one work queue of keys ("ns/name" or "name"), as client-go's workqueue:
 *
 *  - a key is queued at most once; a key being synced that is queued again is synced once more
 *    after the running sync returns (never two syncs of one key at once: there is one worker);
 *  - sync() returning < 0 requeues the key rate-limited (per key exponential back-off, 5 ms
 *    doubling to 1000 s, as client-go's default controller rate limiter) and logs the error
 *    with the controller's name and the key; returning 0 forgets the key's failures;
 *  - k8c_ctrl_enqueue_after() queues a key after a delay (e.g. minReadySeconds, toleration
 *    times, lease expiry);
 *  - nothing is synced before every informer of the controller has synced (its first list).
 *
 * The thread polls the informers' eventfds and a timer; it calls each informer's delta handler
 * (which usually maps the delta to keys and enqueues them) and then syncs queued keys. Caches are
 * read without locks from the handlers and from sync(): all run on the controller's thread.
 * Writes go through k8c_ctrl_kube(): plain blocking requests (a 409 Conflict is returned to sync
 * as an error, so the key is retried on a newer cache: level-triggered, idempotent).
 *
 * Leader election: a manager (k8c-controller-manager, or the controllers inside k8c-server) holds
 * one Lease (coordination.k8s.io/v1, kube-system/k8c-controller-manager by default) before it
 * starts any controller, renews it, and stops every controller (and exits, as kube-controller-
 * manager does) when it loses it, so two managers never both act.
 */
#ifndef K8C_CONTROLLER_H
#define K8C_CONTROLLER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"
#include "informer.h"
#include "kube_client.h"
#include "kubeconfig.h"

struct k8c_ctrl;

struct k8c_controller_def {
	const char *name; /* as in --controllers: "replicaset", "deployment", "scheduler"... */
	/* source.component of its Events, kube's name ("deployment-controller",
	 * "default-scheduler"...): `kubectl describe`'s From column. NULL: "<name>-controller". */
	const char *component;
	/* Ask for informers (k8c_ctrl_informer) and set private data. Runs on the thread. */
	int (*init)(struct k8c_ctrl *c, struct k8c_error *err);
	/* Reconcile one key of the queue. < 0 with err set: retried rate-limited. */
	int (*sync)(struct k8c_ctrl *c, const char *key, struct k8c_error *err);
	/* Free private data (informers are freed by the runtime afterwards). May be NULL. */
	void (*fini)(struct k8c_ctrl *c);
};

/*
 * An informer owned by the controller (started by the runtime after init returns). on_delta
 * (may be NULL) runs on the controller's thread for each delta, after the cache changed.
 */
struct k8c_informer *k8c_ctrl_informer(struct k8c_ctrl *c, const struct k8c_informer_opts *opts,
				       k8c_delta_fn on_delta, struct k8c_error *err);

void k8c_ctrl_enqueue(struct k8c_ctrl *c, const char *key);
void k8c_ctrl_enqueue_after(struct k8c_ctrl *c, const char *key, long delay_ms);
/* The runtime's clock: CLOCK_MONOTONIC in milliseconds (for delays and grace periods). */
int64_t k8c_ctrl_now_ms(void);
/* Queue the key of an object ("ns/name" or "name"). */
void k8c_ctrl_enqueue_obj(struct k8c_ctrl *c, const json_t *obj);

/* The controller's API client (its thread only). */
struct k8c_kube *k8c_ctrl_kube(struct k8c_ctrl *c);
const char *k8c_ctrl_name(const struct k8c_ctrl *c);
/* The kubeconfig the controller runs with, for clients of its own (e.g. parallel writers). */
const struct k8c_kubeconfig *k8c_ctrl_config(const struct k8c_ctrl *c);
void *k8c_ctrl_data(const struct k8c_ctrl *c);
void k8c_ctrl_set_data(struct k8c_ctrl *c, void *data);

/*
 * Record an Event (core/v1) about `obj` (its kind, namespace, name, uid, apiVersion,
 * resourceVersion) from this controller's component: type "Normal" or "Warning", a reason
 * ("SuccessfulCreate", "ScalingReplicaSet"...) and a message. Asynchronous, as client-go's
 * recorder: the Event is queued for the process' event broadcaster (one thread with a client of
 * its own) and the call returns at once; when 1,000 Events per running controller wait already
 * it is dropped (counted, logged now and then). The broadcaster aggregates: a repeat of the same (component, object,
 * type, reason, message) within 10 minutes bumps count and lastTimestamp of the existing Event
 * instead of creating a new one. Failures are logged, never returned: an Event is never worth
 * failing a sync for. Any thread may call it (e.g. a controller's worker threads).
 */
void k8c_ctrl_event(struct k8c_ctrl *c, const json_t *obj, const char *type, const char *reason,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The manager: runs a set of controllers, with leader election. */
struct k8c_ctrl_manager_opts {
	const struct k8c_kubeconfig *cfg;
	const char *const *controllers; /* NULL-terminated names; NULL: every registered one */
	bool leader_elect;
	const char *lease_namespace; /* default kube-system */
	const char *lease_name;	     /* default k8c-controller-manager */
	const char *identity;	     /* default hostname_<random> */
	int lease_duration_s;	     /* 15 */
	int renew_deadline_s;	     /* 10 */
	int retry_period_s;	     /* 2 */
	const char *user_agent;
};

struct k8c_ctrl_manager;

/*
 * defs: the registry of controllers this process knows (NULL-terminated array of pointers).
 * Starts a thread that acquires the lease (if asked) and then starts the chosen controllers.
 */
struct k8c_ctrl_manager *k8c_ctrl_manager_start(const struct k8c_ctrl_manager_opts *opts,
						const struct k8c_controller_def *const *defs,
						struct k8c_error *err);
/* True once the manager leads (always true without leader election) and controllers run. */
bool k8c_ctrl_manager_leading(const struct k8c_ctrl_manager *m);
/* Readable when the manager lost its lease (the process should exit, as kube does). */
int k8c_ctrl_manager_lost_fd(const struct k8c_ctrl_manager *m);
/* Stops every controller, releases the lease (so a standby takes over at once), frees. */
void k8c_ctrl_manager_stop(struct k8c_ctrl_manager *m);

#endif

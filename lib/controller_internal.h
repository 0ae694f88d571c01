/* Between the controller runtime (controller.c) and the manager (controller_manager.c). */
#ifndef K8C_CONTROLLER_INTERNAL_H
#define K8C_CONTROLLER_INTERNAL_H

#include "controller.h"

/* Start one controller on its own thread (init, informers, queue). */
struct k8c_ctrl *k8c_ctrl_start(const struct k8c_controller_def *def,
				const struct k8c_kubeconfig *cfg, const char *user_agent,
				struct k8c_error *err);
/* Stop its thread (interrupting a request in flight), fini, free everything. NULL: nothing. */
void k8c_ctrl_stop(struct k8c_ctrl *c);
/* Syncs run and syncs that failed so far (its thread, or after it stopped). */
void k8c_ctrl_counters(const struct k8c_ctrl *c, unsigned long *syncs, unsigned long *failed);

/* The process' event broadcaster (k8c_ctrl_event), for tests and logs. */
struct k8c_ctrl_event_stats {
	unsigned long queued_total; /* accepted into the queue */
	unsigned long created;	    /* POSTed as new Events */
	unsigned long patched;	    /* aggregated: count bumped on an existing Event */
	unsigned long failed;	    /* not written (API error, or left when stopped) */
	unsigned long dropped;	    /* the queue was full (or no controller running) */
	size_t queued;		    /* waiting now */
};
void k8c_ctrl_event_stats(struct k8c_ctrl_event_stats *st);
/* Tests: hold (true) or resume (false) the broadcaster's writes; queued Events wait. */
void k8c_ctrl_events_hold(bool hold);

#endif

/*
 * k8c_ctrl_tool: drives lib/controller.c's runtime with a probe controller against a real API
 * server, for ctrl_runtime.sh. `k8c_ctrl_tool KUBECONFIG NAMESPACE` runs the probe (no leader
 * election) until every scripted key is done, then prints one line per sync:
 *
 *   sync KEY T_US RESULT SYNCED   (T_US microseconds since the start; RESULT ok|fail; SYNCED 1 when every
 *                                  informer had synced at that moment)
 *
 * The probe's first init fails (after asking for an informer and enqueueing
 * "from-failed-init"): the runtime undoes it and retries. At init, it also enqueues "dup" five times (and once more by object), "fail" (whose first
 * four syncs fail: back-off), "later" after 10 min then 100 ms (the earlier wins), "keep" after
 * 200 ms then 10 min (the earlier is kept); it ends when both and "flood" were synced (or after 30 s). Syncing "dup" records the same Event about NAMESPACE
 * twice (count aggregation) and a sync of "dup" re-enqueues "dup" from inside once (synced
 * again after it returns). Syncing "flood" (queued by "keep") holds the event broadcaster, records FLOOD distinct
 * Events (reason ProbeFlood) and resumes it: the bounded queue drops what does not fit. After
 * the stop it prints the broadcaster's counters:
 *
 *   events queued_total=N created=N patched=N failed=N dropped=N
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "controller_internal.h"
#include "kubeconfig.h"
#include "log.h"
#include "objutil.h"

static struct timespec t0;
static const char *probe_ns;
static struct k8c_informer *ns_inf;
static char lines[256][128];
static volatile int n_lines, done;
static int fails, dup_syncs, inits;

#define FLOOD 1200 /* more than the broadcaster's queue holds for one controller (1000) */

static long us_since(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000;
}

static int probe_init(struct k8c_ctrl *c, struct k8c_error *err)
{
	struct k8c_informer_opts o = {.gvr = K8C_GVR_NAMESPACES};
	json_t *obj;

	if (!(ns_inf = k8c_ctrl_informer(c, &o, NULL, err)))
		return -1;
	if (inits == 0)
		k8c_ctrl_enqueue(c, "from-failed-init");
	if (++inits == 1) /* the runtime retries a failed init, after undoing it */
		return k8c_error_set(err, 0, "probe init fails once");
	for (int i = 0; i < 5; i++)
		k8c_ctrl_enqueue(c, "dup");
	obj = json_pack("{s:{s:s}}", "metadata", "name", "dup");
	k8c_ctrl_enqueue_obj(c, obj);
	json_decref(obj);
	k8c_ctrl_enqueue(c, "fail");
	k8c_ctrl_enqueue_after(c, "later", 600000);
	k8c_ctrl_enqueue_after(c, "later", 100);
	k8c_ctrl_enqueue_after(c, "keep", 200);
	k8c_ctrl_enqueue_after(c, "keep", 600000);
	return 0;
}

static int probe_sync(struct k8c_ctrl *c, const char *key, struct k8c_error *err)
{
	int r = 0;

	if (strcmp(key, "fail") == 0 && fails < 4) {
		fails++;
		r = k8c_error_set(err, 0, "probe failure %d", fails);
	}
	if (strcmp(key, "dup") == 0) {
		json_t *ns = k8c_informer_get(ns_inf, NULL, probe_ns);

		if (ns) {
			k8c_ctrl_event(c, ns, "Normal", "ProbeSynced", "probe synced %s", key);
			k8c_ctrl_event(c, ns, "Normal", "ProbeSynced", "probe synced %s", key);
		}
		if (++dup_syncs == 1)
			k8c_ctrl_enqueue(c, "dup");
	}
	if (strcmp(key, "flood") == 0) {
		json_t *ns = k8c_informer_get(ns_inf, NULL, probe_ns);

		k8c_ctrl_events_hold(true);
		for (int i = 0; ns && i < FLOOD; i++)
			k8c_ctrl_event(c, ns, "Normal", "ProbeFlood", "flood %d", i);
		k8c_ctrl_events_hold(false);
	}
	if (n_lines < 256)
		snprintf(lines[n_lines], sizeof(lines[0]), "sync %s %ld %s %d", key, us_since(),
			 r < 0 ? "fail" : "ok", k8c_informer_has_synced(ns_inf) ? 1 : 0);
	__atomic_add_fetch(&n_lines, 1, __ATOMIC_SEQ_CST);
	if (strcmp(key, "keep") == 0) {
		done |= 1;
		k8c_ctrl_enqueue(c, "flood"); /* last: its drops must not hit other Events */
	}
	if (strcmp(key, "flood") == 0)
		done |= 4;
	if (strcmp(key, "later") == 0)
		done |= 2;
	return r;
}

static const struct k8c_controller_def probe_def = {
	.name = "probe",
	.component = "probe-controller",
	.init = probe_init,
	.sync = probe_sync,
};

int main(int argc, char **argv)
{
	const struct k8c_controller_def *const defs[] = {&probe_def, NULL};
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ctrl_manager_opts mo = {0};
	struct k8c_ctrl_manager *m;
	struct k8c_ctrl_event_stats st;

	if (argc != 3) {
		fprintf(stderr, "usage: k8c_ctrl_tool KUBECONFIG NAMESPACE\n");
		return 2;
	}
	probe_ns = argv[2];
	k8c_log_init("k8c_ctrl_tool", K8C_LOG_INFO);
	if (k8c_kubeconfig_load(argv[1], NULL, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mo.cfg = &cfg;
	if (!(m = k8c_ctrl_manager_start(&mo, defs, &err))) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < 3000 && __atomic_load_n(&done, __ATOMIC_SEQ_CST) != 7; i++)
		poll(NULL, 0, 10);
	poll(NULL, 0, 200); /* anything extra that would come after */
	/* every queued Event written (the stop would give up after 2 s) */
	for (int i = 0; i < 3000; i++, poll(NULL, 0, 10)) {
		k8c_ctrl_event_stats(&st);
		if (st.created + st.patched + st.failed == st.queued_total)
			break;
	}
	k8c_ctrl_manager_stop(m);
	for (int i = 0; i < n_lines && i < 256; i++)
		printf("%s\n", lines[i]);
	k8c_ctrl_event_stats(&st);
	printf("events queued_total=%lu created=%lu patched=%lu failed=%lu dropped=%lu\n",
	       st.queued_total, st.created, st.patched, st.failed, st.dropped);
	k8c_kubeconfig_free(&cfg);
	return done == 7 ? 0 : 1;
}

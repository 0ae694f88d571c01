/*
 * Internals of the agent's pod handling (docs/agent.md "Pods"), shared by pods.c (state, workers,
 * sync, status), sandbox.c (netns, /etc files), podenv.c (environment), volumes.c and probes.c.
 *
 * Threads: the main thread owns the informers and the table of pods; it marks a pod dirty when
 * its object changes or a timer is due. Worker threads each take one dirty pod that no other
 * worker holds (p->busy) and sync it with their own API client; everything in struct agent_pod
 * below `busy` belongs to the worker holding it.
 */
#ifndef K8C_AGENT_POD_H
#define K8C_AGENT_POD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "agent.h"
#include "cni_runtime.h"
#include "error.h"
#include "image.h"
#include "kube_client.h"
#include "runtime.h"

struct probe_state {
	double next;		 /* monotonic seconds of the next run */
	int successes, failures; /* consecutive */
	bool done;		 /* startup: succeeded once */
};

struct agent_ctr {
	char *name;
	bool init;
	int attempt;	 /* runtime id suffix: restarts so far */
	char *id;	 /* runtime id of the current attempt, NULL before the first start */
	bool created;	 /* id exists in the runtime */
	json_t *last;	 /* lastState.terminated of the previous attempt (or NULL) */
	json_t *term;	 /* state.terminated of the current attempt once it exited */
	char reason[40]; /* waiting reason (ContainerCreating, CrashLoopBackOff, ErrImagePull...) */
	char *message;
	double backoff_until, backoff_s; /* restart back-off (monotonic) */
	double started_mono;		 /* when the current attempt started */
	char started_at[21];
	bool running, ready, started;
	bool finished_ok;     /* init containers: exited 0 */
	char *image_id;	      /* image_ref_id */
	char *image;	      /* spec image the current attempt runs (a change restarts it) */
	bool changed;	      /* killed because its spec changed: restart whatever the policy */
	double kill_deadline; /* liveness kill in progress: SIGKILL after this (0: none) */
	struct probe_state live, readiness, startup;
};

/*
 * Where a pod's first start went (docs/agent.md "Start-up trace"): monotonic times and the
 * seconds each step took, summed over the syncs until the status that first says Running and
 * Ready was written; logged once at debug level ("pod start trace").
 */
struct pod_trace {
	double seen;	/* main thread: the informer delivered the pod */
	double picked;	/* a worker began its first sync */
	double written; /* the Running+Ready status was written (0: not yet) */
	double netns, cni, etc, volumes, image, env, prep, bundle, mount, shim, runc, status,
		events;
	double cpu; /* the workers' thread CPU time in those syncs */
	int syncs;
	bool logged;
};

struct agent_pod {
	char *uid, *ns, *name;
	json_t *pod;   /* latest object from the informer (copy), NULL once gone from the API */
	bool dirty;    /* main thread: needs a sync */
	double due;    /* main thread: sync when monotonic time passes this (0: none) */
	bool busy;     /* a worker holds it */
	bool finished; /* worker: everything torn down, drop it */
	/* --- worker-owned --- */
	bool adopted_checked;
	bool sandbox; /* netns + CNI done */
	char *netns_path;
	char *ip;
	char start_time[21];
	bool volumes_ready;
	double volumes_refresh; /* next secret/configMap refresh */
	struct agent_ctr *ctrs; /* init containers first */
	size_t n_init, n_ctrs;
	bool terminating; /* kill sent */
	double grace_deadline;
	bool network_down; /* terminal pod: sandbox released */
	pid_t prestop_pid;
	json_t *last_status;	/* last status written */
	json_t *pending_events; /* not used across syncs */
	int deleted_in_api;	/* 1 when the object is gone */
	struct pod_trace tr;
};

struct agent {
	const struct k8c_agent_config *cfg;
	const char *node_ip;
	struct k8c_image_store *images;
	struct k8c_runtime *rt;
	struct k8c_cni *cni;
	char *pods_dir; /* <root>/pods */
	char *logs_dir; /* <root>/logs */
};

/* The worker's context. */
struct agent_worker {
	struct agent *a;
	struct k8c_kube *kube;
	int index;
	json_t *pending; /* events made during a sync, posted after it */
};

double agent_now(void);

/* sandbox.c */
int sandbox_netns_create(const char *path, struct k8c_error *err);
int sandbox_netns_delete(const char *path, struct k8c_error *err);
/* /etc/hosts, /etc/resolv.conf, /etc/hostname of the pod in dir. */
int sandbox_write_etc(struct agent *a, json_t *pod, const char *ip, const char *dir,
		      struct k8c_error *err);

/*
 * pods.c: the Services for the service environment variables, from an informer on every
 * namespace's Services (as the kubelet's lister): those of namespace ns when all, then
 * default/kubernetes; a new array of copies. Any thread.
 */
json_t *agent_services_for_env(const char *ns, bool all);

/* podenv.c: the container's environment ("K=V", NULL-terminated) or NULL with err (code 1 for
 * CreateContainerConfigError). */
char **podenv_build(struct agent_worker *w, json_t *pod, json_t *ctr, const char *pod_ip,
		    const char *const *image_env, struct k8c_error *err);
/* $(VAR) expansion of s against env ("K=V"), as Kubernetes' expansion.Expand. */
char *podenv_expand(const char *s, char *const *env);

/* volumes.c: set up every volume of the pod under <pod dir>/volumes; refresh: rewrite the
 * secret/configMap/downwardAPI ones. err->code 1: FailedMount (retry later). */
int volumes_setup(struct agent_worker *w, struct agent_pod *p, json_t *pod, bool refresh,
		  struct k8c_error *err);
/* The host path of a volume for a mount, or NULL (err). */
char *volumes_path(struct agent_worker *w, struct agent_pod *p, json_t *pod, const char *vol,
		   struct k8c_error *err);
/* Unmount tmpfs volumes and remove the pod's directory. */
int volumes_teardown(struct agent *a, const char *uid, struct k8c_error *err);

/* probes.c: run one probe (liveness/readiness/startup object); 1 success, 0 failure (msg). */
int probe_run(struct agent_worker *w, struct agent_pod *p, struct agent_ctr *c, json_t *ctr,
	      json_t *probe, char *msg, size_t msglen);

/*
 * For the node server (logs, exec): the runtime id and CRI log file of a container of a pod of
 * this node (of its previous instance with previous), malloc'd. Any thread. -1 with err->code 404.
 */
int agent_container_lookup(const char *ns, const char *pod, const char *container, bool previous,
			   char **id, char **log, struct k8c_error *err);

/* Quantities ("100m", "64Mi") to milli-units or bytes. */
int quantity_parse(const char *s, bool milli, long long *out);
void ctr_event(struct agent_worker *w, json_t *pod, const char *type, const char *reason,
	       const char *fieldpath, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif

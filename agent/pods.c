/*
 * The pods of this node (docs/agent.md "Pods"): an informer on pods with spec.nodeName=<node>,
 * a table of pod states, worker threads that each sync one pod at a time (sandbox, volumes, init
 * containers, containers with restart policy and back-off, probes, graceful termination, status
 * through pods/status and Events), adoption of what a previous agent left running, and the
 * start-up sweep of what no pod owns.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "informer.h"
#include "kubeconfig.h"
#include "log.h"
#include "node.h"
#include "objutil.h"
#include "pod.h"
#include "node_glue.h"
#include "node_server.h"

#define BACKOFF_MIN   10.0
#define BACKOFF_MAX   300.0
#define BACKOFF_RESET 600.0 /* a container that ran this long starts its back-off afresh */
#define RESYNC	      1.0   /* seconds between syncs of a running pod (exits, probes) */
#define REFRESH	      10.0  /* secret/configMap volume refresh */

struct table {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct agent_pod **pods;
	size_t n;
	bool ready; /* the start-up sweep is done: workers may run */
	bool stop;
	char **existing; /* runtime container ids at start (adoption); read-only once ready */
	struct agent *agent;
};

static struct table T = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/*
 * The Services (reduced to what the environment needs), kept by the main thread from the
 * services informer and read by the workers: a pod's start costs no API request for them.
 */
static struct {
	pthread_mutex_t mu;
	json_t *by_key; /* "ns/name" -> {metadata: {name, namespace}, spec: {clusterIP, ports}} */
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static json_t *service_reduce(json_t *obj)
{
	json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");

	return json_pack("{s:{s:O*, s:O*, s:O*}, s:{s:O*, s:O*}}", "metadata", "name",
			 json_object_get(md, "name"), "namespace", json_object_get(md, "namespace"),
			 "resourceVersion", json_object_get(md, "resourceVersion"), "spec",
			 "clusterIP", json_object_get(spec, "clusterIP"), "ports",
			 json_object_get(spec, "ports"));
}

static void on_service(const struct k8c_delta *d, void *arg)
{
	(void)arg;
	if (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE && d->type != K8C_DELTA_DELETE)
		return;
	pthread_mutex_lock(&S.mu);
	if (!S.by_key)
		S.by_key = json_object();
	if (d->type == K8C_DELTA_DELETE)
		json_object_del(S.by_key, d->key);
	else
		json_object_set_new(S.by_key, d->key, json_deep_copy(d->new));
	pthread_mutex_unlock(&S.mu);
}

json_t *agent_services_for_env(const char *ns, bool all)
{
	json_t *out = json_array(), *v;
	const char *k;

	pthread_mutex_lock(&S.mu);
	json_object_foreach(S.by_key, k, v)
	{
		if (all && !strcmp(k8c_str_at(v, "metadata.namespace") ?: "", ns))
			json_array_append_new(out, json_deep_copy(v));
	}
	v = json_object_get(S.by_key, "default/kubernetes");
	if (v)
		json_array_append_new(out, json_deep_copy(v));
	pthread_mutex_unlock(&S.mu);
	return out;
}

double agent_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void now_rfc(char buf[21])
{
	k8c_rfc3339(time(NULL), buf);
}

/* Start-up trace: add the time since t0 to *acc (until the trace is logged); returns now. */
static double tr_add(struct agent_pod *p, double *acc, double t0)
{
	double t = agent_now();

	if (!p->tr.logged)
		*acc += t - t0;
	return t;
}

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tr_log(struct agent_pod *p)
{
	struct pod_trace *t = &p->tr;

	t->logged = true;
	k8c_log_debug("pod start trace",
		      "pod=%s/%s seen=%.6f written=%.6f total_ms=%.1f queue_ms=%.1f netns_ms=%.1f "
		      "cni_ms=%.1f etc_ms=%.1f volumes_ms=%.1f image_ms=%.1f env_ms=%.1f "
		      "prep_ms=%.1f bundle_ms=%.1f mount_ms=%.1f shim_ms=%.1f runc_ms=%.1f "
		      "status_ms=%.1f events_ms=%.1f cpu_ms=%.1f syncs=%d",
		      p->ns, p->name, t->seen, t->written, (t->written - t->seen) * 1e3,
		      (t->picked - t->seen) * 1e3, t->netns * 1e3, t->cni * 1e3, t->etc * 1e3,
		      t->volumes * 1e3, t->image * 1e3, t->env * 1e3, t->prep * 1e3,
		      t->bundle * 1e3, t->mount * 1e3, t->shim * 1e3, t->runc * 1e3,
		      t->status * 1e3, t->events * 1e3, t->cpu * 1e3, t->syncs);
}

int quantity_parse(const char *s, bool milli, long long *out)
{
	char *end;
	double v = strtod(s, &end);
	static const struct {
		const char *suf;
		double mul;
	} sufs[] = {{"Ki", 1024.0},	  {"Mi", 1048576.0},
		    {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
		    {"k", 1e3},		  {"M", 1e6},
		    {"G", 1e9},		  {"T", 1e12},
		    {"m", 1e-3},	  {"", 1}};

	if (end == s || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++)
		if (!strcmp(end, sufs[i].suf)) {
			v *= sufs[i].mul;
			*out = (long long)(milli ? v * 1000 + 0.999 : v + 0.5);
			return 0;
		}
	return -1;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* --- events --- */

void ctr_event(struct agent_worker *w, json_t *pod, const char *type, const char *reason,
	       const char *fieldpath, const char *fmt, ...)
{
	va_list ap;
	char msg[1024], now[21], micro[28];
	struct timespec ts;
	struct k8c_error err = K8C_ERROR_INIT;
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	_cleanup_json_ json_t *ev = NULL;
	_cleanup_free_ char *name = NULL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_rfc(now);
	k8c_rfc3339_micro(&ts, micro);
	name = k8c_xasprintf("%s.%llx%04x", k8c_str_at(pod, "metadata.name"),
			     (unsigned long long)ts.tv_sec * 1000000000ULL +
				     (unsigned long long)ts.tv_nsec,
			     (unsigned)random() & 0xffff);
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s, "
		       "s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s, s:s}",
		       "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
		       ns, "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", ns,
		       "name", k8c_str_at(pod, "metadata.name"), "uid",
		       k8c_str_at(pod, "metadata.uid") ?: "", "resourceVersion",
		       k8c_str_at(pod, "metadata.resourceVersion") ?: "", "reason", reason,
		       "message", msg, "type", type, "source", "component", "kubelet", "host",
		       w->a->cfg->node_name, "firstTimestamp", now, "lastTimestamp", now, "count",
		       1, "reportingComponent", "kubelet", "reportingInstance",
		       w->a->cfg->node_name, "eventTime", micro);
	if (fieldpath)
		json_object_set_new(json_object_get(ev, "involvedObject"), "fieldPath",
				    json_string(fieldpath));
	json_object_del(ev, "eventTime"); /* core/v1 events of the kubelet carry none */
	/* posted after the sync (events_flush), so that the status goes out first */
	if (!w->pending)
		w->pending = json_array();
	json_array_append(w->pending, ev);
	k8c_log_info("event", "pod=%s/%s type=%s reason=%s", ns, k8c_str_at(pod, "metadata.name"),
		     type, reason);
	k8c_error_clear(&err);
}

/*
 * Events are posted by one thread of their own, in the order they were made, as the kubelet's
 * event broadcaster does: a worker hands its sync's events over (after the status write) and
 * goes on with the next pod instead of waiting for their POSTs. At most EVENTS_MAX wait; more
 * are dropped (debug log), as client-go's broadcaster drops when its queue is full.
 */
#define EVENTS_MAX 1000

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	json_t *queue;
	bool stop;
	struct k8c_kube *kube;
} E = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void events_flush(struct agent_worker *w)
{
	size_t i, dropped = 0;
	json_t *ev;

	if (!json_array_size(w->pending))
		return;
	pthread_mutex_lock(&E.mu);
	if (!E.queue)
		E.queue = json_array();
	json_array_foreach(w->pending, i, ev)
	{
		if (json_array_size(E.queue) < EVENTS_MAX)
			json_array_append(E.queue, ev);
		else
			dropped++;
	}
	pthread_cond_signal(&E.cv);
	pthread_mutex_unlock(&E.mu);
	if (dropped)
		k8c_log_debug("events dropped (queue full)", "count=%zu", dropped);
	json_array_clear(w->pending);
}

static void *events_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&E.mu);
	for (;;) {
		json_t *batch, *ev;
		size_t i;

		while (!E.stop && !json_array_size(E.queue))
			pthread_cond_wait(&E.cv, &E.mu);
		if (!json_array_size(E.queue))
			break;
		batch = E.queue;
		E.queue = json_array();
		pthread_mutex_unlock(&E.mu);
		json_array_foreach(batch, i, ev)
		{
			struct k8c_error err = K8C_ERROR_INIT;

			if (k8c_kube_create(E.kube, K8C_GVR_EVENTS,
					    k8c_str_at(ev, "metadata.namespace"), ev, NULL,
					    &err) < 0)
				k8c_log_debug("event not recorded", "reason=%s error=\"%s\"",
					      k8c_str_at(ev, "reason"), err.msg);
			k8c_error_clear(&err);
		}
		json_decref(batch);
		pthread_mutex_lock(&E.mu);
	}
	pthread_mutex_unlock(&E.mu);
	return NULL;
}

/* --- containers --- */

static json_t *ctr_json(json_t *pod, struct agent_ctr *c)
{
	size_t i;
	json_t *x;

	json_array_foreach(k8c_at(pod, c->init ? "spec.initContainers" : "spec.containers"), i, x)
	{
		if (!strcmp(json_string_value(json_object_get(x, "name")) ?: "", c->name))
			return x;
	}
	return NULL;
}

static char *fieldpath(struct agent_ctr *c)
{
	return k8c_xasprintf("spec.%s{%s}", c->init ? "initContainers" : "containers", c->name);
}

static void set_waiting(struct agent_ctr *c, const char *reason, const char *msg)
{
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	free(c->message);
	c->message = msg && *msg ? k8c_xstrdup(msg) : NULL;
}

static char *ctr_id(struct agent_pod *p, struct agent_ctr *c, int attempt)
{
	return k8c_xasprintf("%s-%s-%d", p->uid, c->name, attempt);
}

static char *log_path(struct agent *a, struct agent_pod *p, struct agent_ctr *c, int attempt)
{
	return k8c_xasprintf("%s/%s_%s_%s/%s/%d.log", a->logs_dir, p->ns, p->name, p->uid, c->name,
			     attempt);
}

/* Pull auth for ref from the pod's imagePullSecrets (kubernetes.io/dockerconfigjson). */
static bool pull_auth(struct agent_worker *w, json_t *pod, const char *ref, char **user,
		      char **pass)
{
	size_t i;
	json_t *s;
	const char *slash = strchr(ref, '/');
	_cleanup_free_ char *host = NULL;

	if (!slash)
		return false;
	host = strndup(ref, (size_t)(slash - ref));
	json_array_foreach(k8c_at(pod, "spec.imagePullSecrets"), i, s)
	{
		_cleanup_json_ json_t *sec = NULL, *cfg = NULL;
		struct k8c_error err = K8C_ERROR_INIT;
		const char *b = NULL, *k;
		json_t *v;
		size_t n;
		_cleanup_free_ char *raw = NULL;

		if (k8c_kube_get(w->kube, K8C_GVR_SECRETS, k8c_str_at(pod, "metadata.namespace"),
				 json_string_value(json_object_get(s, "name")) ?: "", &sec,
				 &err) < 0) {
			k8c_error_clear(&err);
			continue;
		}
		b = json_string_value(json_object_get(k8c_at(sec, "data"), ".dockerconfigjson"));
		if (!b || !(raw = k8c_base64_decode(b, &n)) || !(cfg = json_loadb(raw, n, 0, NULL)))
			continue;
		json_object_foreach(json_object_get(cfg, "auths"), k, v)
		{
			const char *kh = strstr(k, "://") ? strstr(k, "://") + 3 : k;
			const char *auth = json_string_value(json_object_get(v, "auth"));

			if (strncmp(kh, host, strlen(host)) != 0)
				continue;
			if (json_string_value(json_object_get(v, "username"))) {
				*user = k8c_xstrdup(
					json_string_value(json_object_get(v, "username")));
				*pass = k8c_xstrdup(
					json_string_value(json_object_get(v, "password")) ?: "");
				return true;
			}
			if (auth) {
				size_t an;
				char *d = k8c_base64_decode(auth, &an), *colon;

				if (d && (colon = strchr(d, ':'))) {
					*colon = 0;
					*user = k8c_xstrdup(d);
					*pass = k8c_xstrdup(colon + 1);
					free(d);
					return true;
				}
				free(d);
			}
		}
	}
	return false;
}

/* The image in the store, pulled as imagePullPolicy says. 1 ok, 0 failed (waiting reason set). */
static int ensure_image(struct agent_worker *w, struct agent_pod *p, json_t *pod,
			struct agent_ctr *c, json_t *cj, struct k8c_image *img)
{
	const char *ref = json_string_value(json_object_get(cj, "image")) ?: "";
	const char *policy = json_string_value(json_object_get(cj, "imagePullPolicy"));
	const char *last = strrchr(ref, '/') ? strrchr(ref, '/') : ref;
	bool latest = !strchr(last, ':') ||
		      (strlen(ref) > 7 && !strcmp(ref + strlen(ref) - 7, ":latest"));
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *fp = fieldpath(c), *user = NULL, *pass = NULL;
	int have;

	if (!policy)
		policy = latest && !strchr(ref, '@') ? "Always" : "IfNotPresent";
	have = k8c_image_get(w->a->images, ref, img, &err) == 0;
	k8c_error_clear(&err);
	if (have && strcmp(policy, "Always") != 0) {
		ctr_event(w, pod, "Normal", "Pulled", fp,
			  "Container image \"%s\" already present on machine", ref);
		return 1;
	}
	if (!strcmp(policy, "Never")) {
		if (have)
			return 1;
		set_waiting(c, "ErrImageNeverPull", "");
		free(c->message);
		c->message =
			k8c_xasprintf("Container image \"%s\" is not present with pull policy of "
				      "Never",
				      ref);
		ctr_event(w, pod, "Warning", "ErrImageNeverPull", fp, "%s", c->message);
		return 0;
	}
	if (have)
		k8c_image_clear(img);
	if (agent_now() < c->backoff_until && c->reason[0] &&
	    (!strcmp(c->reason, "ErrImagePull") || !strcmp(c->reason, "ImagePullBackOff"))) {
		set_waiting(c, "ImagePullBackOff", NULL);
		free(c->message);
		c->message = k8c_xasprintf("Back-off pulling image \"%s\"", ref);
		return 0;
	}
	{
		struct k8c_pull_auth auth = {.insecure = w->a->cfg->insecure_registry};
		double t0 = agent_now();

		if (pull_auth(w, pod, ref, &user, &pass)) {
			auth.username = user;
			auth.password = pass;
		}
		ctr_event(w, pod, "Normal", "Pulling", fp, "Pulling image \"%s\"", ref);
		if (k8c_image_pull(w->a->images, ref, &auth, &err) < 0 ||
		    k8c_image_get(w->a->images, ref, img, &err) < 0) {
			set_waiting(c, "ErrImagePull", err.msg);
			ctr_event(w, pod, "Warning", "Failed", fp,
				  "Failed to pull image \"%s\": %s", ref, err.msg);
			c->backoff_s = c->backoff_s ? c->backoff_s * 2 : BACKOFF_MIN;
			if (c->backoff_s > BACKOFF_MAX)
				c->backoff_s = BACKOFF_MAX;
			c->backoff_until = agent_now() + c->backoff_s;
			k8c_error_clear(&err);
			return 0;
		}
		ctr_event(w, pod, "Normal", "Pulled", fp,
			  "Successfully pulled image \"%s\" in %.3fs", ref, agent_now() - t0);
	}
	return 1;
}

static char **json_strv(json_t *a)
{
	size_t n = json_array_size(a), i;
	char **v = k8c_xcalloc(n + 1, sizeof(char *));

	for (i = 0; i < n; i++)
		v[i] = k8c_xstrdup(json_string_value(json_array_get(a, i)) ?: "");
	return v;
}

static char **strv_dup(char *const *s)
{
	size_t n = 0;
	char **v;

	while (s && s[n])
		n++;
	v = k8c_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = k8c_xstrdup(s[i]);
	return v;
}

static void strv_append(char ***v, size_t *n, char *s)
{
	*v = k8c_xrealloc(*v, (*n + 2) * sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* Start the next attempt of c. 1 started, 0 not (waiting reason set, event sent). */
static int start_ctr(struct agent_worker *w, struct agent_pod *p, json_t *pod, struct agent_ctr *c)
{
	struct agent *a = w->a;
	json_t *cj = ctr_json(pod, c), *sc, *psc, *mounts, *m;
	struct k8c_image img = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	char **env = NULL, **argv = NULL;
	size_t nargv = 0, i, nm = 0;
	struct k8c_mount *mv = NULL;
	char **mstr = NULL; /* owned strings of the mounts */
	size_t nms = 0;
	int attempt = c->id ? c->attempt + 1 : c->attempt, rc = 0;
	_cleanup_free_ char *id = NULL, *lp = NULL, *fp = fieldpath(c), *etc = NULL;
	_cleanup_free_ char *ldir = NULL;
	struct k8c_container_spec spec = {0};
	long long v;

	struct k8c_start_times times = {0};
	double t0 = agent_now();

	if (!cj)
		return 0;
	if (!ensure_image(w, p, pod, c, cj, &img))
		return 0;
	t0 = tr_add(p, &p->tr.image, t0);
	env = podenv_build(w, pod, cj, p->ip, (const char *const *)img.env, &err);
	t0 = tr_add(p, &p->tr.env, t0);
	if (!env) {
		set_waiting(c,
			    err.code == 1 ? "CreateContainerConfigError" : "CreateContainerError",
			    err.msg);
		ctr_event(w, pod, "Warning", "Failed", fp, "Error: %s", err.msg);
		goto out;
	}
	/* command and args, as the kubelet resolves them against the image */
	{
		json_t *cmd = json_object_get(cj, "command"), *args = json_object_get(cj, "args");
		char **base = json_array_size(cmd) ? json_strv(cmd) : strv_dup(img.entrypoint);
		char **rest = json_array_size(args)  ? json_strv(args)
			      : json_array_size(cmd) ? k8c_xcalloc(1, sizeof(char *))
						     : strv_dup(img.cmd);

		for (i = 0; base[i]; i++)
			strv_append(&argv, &nargv, podenv_expand(base[i], env));
		for (i = 0; rest[i]; i++)
			strv_append(&argv, &nargv, podenv_expand(rest[i], env));
		strv_free(base);
		strv_free(rest);
		if (!nargv) {
			set_waiting(c, "CreateContainerError", "no command specified");
			ctr_event(w, pod, "Warning", "Failed", fp, "Error: no command specified");
			goto out;
		}
	}
	/* mounts: volumes, then the pod's /etc files */
	mounts = json_object_get(cj, "volumeMounts");
	mv = k8c_xcalloc(json_array_size(mounts) + 3, sizeof(*mv));
	mstr = k8c_xcalloc(json_array_size(mounts) * 2 + 8, sizeof(char *));
	json_array_foreach(mounts, i, m)
	{
		const char *vol = json_string_value(json_object_get(m, "name")) ?: "";
		const char *sub = json_string_value(json_object_get(m, "subPath"));
		char *src = volumes_path(w, p, pod, vol, &err);

		if (!src) {
			set_waiting(c, "CreateContainerConfigError", err.msg);
			ctr_event(w, pod, "Warning", "Failed", fp, "Error: %s", err.msg);
			goto out;
		}
		if (sub && *sub) {
			char *full;

			if (sub[0] == '/' || strstr(sub, "..")) {
				free(src);
				set_waiting(c, "CreateContainerConfigError", "invalid subPath");
				ctr_event(w, pod, "Warning", "Failed", fp,
					  "Error: subPath %s must be a relative path without ..",
					  sub);
				goto out;
			}
			full = k8c_xasprintf("%s/%s", src, sub);
			free(src);
			src = full;
			/* as the kubelet: a missing subPath is a new directory */
			if (access(src, F_OK) < 0 && k8c_mkdir_p(src, 0755) == 0)
				chmod(src, 0777);
		}
		mstr[nms++] = src;
		mv[nm++] = (struct k8c_mount){
			.source = src,
			.destination = json_string_value(json_object_get(m, "mountPath")) ?: "/",
			.type = "bind",
			.readonly = json_is_true(json_object_get(m, "readOnly")),
		};
	}
	etc = k8c_xasprintf("%s/%s/etc", a->pods_dir, p->uid);
	{
		static const char *const files[] = {"hosts", "resolv.conf", "hostname"};

		for (i = 0; i < 3; i++) {
			char *src = k8c_xasprintf("%s/%s", etc, files[i]);
			char *dst = k8c_xasprintf("/etc/%s", files[i]);

			mstr[nms++] = src;
			mstr[nms++] = dst;
			mv[nm++] = (struct k8c_mount){
				.source = src, .destination = dst, .type = "bind"};
		}
	}
	/* security context: the container's over the pod's */
	sc = json_object_get(cj, "securityContext");
	psc = k8c_at(pod, "spec.securityContext");
	spec.uid = 0;
	spec.gid = 0;
	if (img.user && *img.user && isdigit((unsigned char)img.user[0])) {
		unsigned u = 0, g = 0;
		int k = sscanf(img.user, "%u:%u", &u, &g);

		spec.uid = u;
		spec.gid = k == 2 ? g : 0;
	}
	if ((v = k8c_int_at(psc, "runAsUser", -1)) >= 0)
		spec.uid = (uint32_t)v;
	if ((v = k8c_int_at(sc, "runAsUser", -1)) >= 0)
		spec.uid = (uint32_t)v;
	if ((v = k8c_int_at(psc, "runAsGroup", -1)) >= 0)
		spec.gid = (uint32_t)v;
	if ((v = k8c_int_at(sc, "runAsGroup", -1)) >= 0)
		spec.gid = (uint32_t)v;
	if (json_is_true(json_object_get(sc, "runAsNonRoot")) ||
	    (json_is_true(json_object_get(psc, "runAsNonRoot")) &&
	     !json_is_false(json_object_get(sc, "runAsNonRoot")))) {
		if (spec.uid == 0) {
			set_waiting(c, "CreateContainerConfigError",
				    "container has runAsNonRoot and image will run as root");
			ctr_event(w, pod, "Warning", "Failed", fp, "Error: %s", c->message);
			goto out;
		}
	}
	char **add = json_strv(k8c_at(sc, "capabilities.add"));
	char **drop = json_strv(k8c_at(sc, "capabilities.drop"));

	spec.add_caps = (const char *const *)add;
	spec.drop_caps = (const char *const *)drop;
	spec.privileged = json_is_true(json_object_get(sc, "privileged"));
	spec.readonly_rootfs = json_is_true(json_object_get(sc, "readOnlyRootFilesystem"));
	spec.tty = json_is_true(json_object_get(cj, "tty"));
	spec.stdin_open = json_is_true(json_object_get(cj, "stdin"));
	/* resources */
	{
		const char *cl =
			json_string_value(json_object_get(k8c_at(cj, "resources.limits"), "cpu"));
		const char *cr =
			json_string_value(json_object_get(k8c_at(cj, "resources.requests"), "cpu"));
		const char *ml = json_string_value(
			json_object_get(k8c_at(cj, "resources.limits"), "memory"));
		long long q;

		if (cl && quantity_parse(cl, true, &q) == 0 && q > 0) {
			spec.cpu_period_us = 100000;
			spec.cpu_quota_us = q * 100000 / 1000;
			if (spec.cpu_quota_us < 1000)
				spec.cpu_quota_us = 1000;
		}
		if ((cr || cl) && quantity_parse(cr ? cr : cl, true, &q) == 0)
			spec.cpu_shares = q * 1024 / 1000 < 2 ? 2 : q * 1024 / 1000;
		else
			spec.cpu_shares = 2; /* BestEffort */
		if (ml && quantity_parse(ml, false, &q) == 0 && q > 0)
			spec.memory_limit_bytes = q;
	}
	id = ctr_id(p, c, attempt);
	lp = log_path(a, p, c, attempt);
	ldir = k8c_xstrdup(lp);
	*strrchr(ldir, '/') = 0;
	{
		_cleanup_free_ char *cmd = k8c_xasprintf("%s", ldir);

		for (char *s = cmd + 1; *s; s++)
			if (*s == '/') {
				*s = 0;
				mkdir(cmd, 0755);
				*s = '/';
			}
		mkdir(cmd, 0755);
	}
	spec.id = id;
	spec.rootfs_lower = (const char *const *)img.layers;
	spec.argv = (const char *const *)argv;
	spec.env = (const char *const *)env;
	spec.cwd = json_string_value(json_object_get(cj, "workingDir"));
	if (!spec.cwd || !*spec.cwd)
		spec.cwd = img.working_dir && *img.working_dir ? img.working_dir : "/";
	spec.mounts = mv;
	spec.n_mounts = nm;
	spec.hostname = k8c_str_at(pod, "spec.hostname") ?: p->name;
	spec.netns_path = p->netns_path;
	spec.log_path = lp;
	spec.times = &times;
	/* a leftover of this id (a start that failed half-way) goes first */
	{
		struct k8c_error e2 = K8C_ERROR_INIT;

		k8c_container_remove(a->rt, id, &e2);
		k8c_error_clear(&e2);
	}
	double t_start = tr_add(p, &p->tr.prep, t0);

	if (k8c_container_start(a->rt, &spec, &err) < 0) {
		struct k8c_error e2 = K8C_ERROR_INIT;

		set_waiting(c, "RunContainerError", err.msg);
		ctr_event(w, pod, "Warning", "Failed", fp, "Error: %s", err.msg);
		k8c_container_remove(a->rt, id, &e2);
		k8c_error_clear(&e2);
		/* a failed start is a crash for the back-off */
		c->attempt = attempt;
		free(c->id);
		c->id = NULL;
		json_decref(c->last);
		{
			char now[21];

			now_rfc(now);
			c->last =
				json_pack("{s:{s:i, s:s, s:s, s:s, s:s}}", "terminated", "exitCode",
					  128, "reason", "StartError", "message", err.msg,
					  "startedAt", "1970-01-01T00:00:00Z", "finishedAt", now);
		}
		c->backoff_s = c->backoff_s ? c->backoff_s * 2 : BACKOFF_MIN;
		if (c->backoff_s > BACKOFF_MAX)
			c->backoff_s = BACKOFF_MAX;
		c->backoff_until = agent_now() + c->backoff_s;
		strv_free(add);
		strv_free(drop);
		goto out;
	}
	strv_free(add);
	strv_free(drop);
	if (!p->tr.logged) {
		p->tr.bundle += times.bundle;
		p->tr.mount += times.mount;
		p->tr.shim += times.shim;
		p->tr.runc += times.runc;
	}
	/* the attempt before the previous one is removed (one dead container is kept) */
	if (attempt >= 2) {
		_cleanup_free_ char *old = ctr_id(p, c, attempt - 2);
		struct k8c_error e2 = K8C_ERROR_INIT;

		k8c_container_remove(a->rt, old, &e2);
		k8c_error_clear(&e2);
	}
	if (attempt > 0) {
		/* back-off from this restart on (kubelet: measured from the restart) */
		c->backoff_s = c->backoff_s ? c->backoff_s * 2 : BACKOFF_MIN;
		if (c->backoff_s > BACKOFF_MAX)
			c->backoff_s = BACKOFF_MAX;
		c->backoff_until = agent_now() + c->backoff_s;
	}
	free(c->id);
	c->id = k8c_steal_ptr(id);
	c->attempt = attempt;
	c->created = true;
	c->running = true;
	c->ready = false;
	c->started = false;
	json_decref(c->term);
	c->term = NULL;
	c->started_mono = agent_now();
	now_rfc(c->started_at);
	c->reason[0] = 0;
	free(c->message);
	c->message = NULL;
	free(c->image_id);
	c->image_id = k8c_xstrdup(img.image_ref_id ? img.image_ref_id : img.id ? img.id : "");
	free(c->image);
	c->image = k8c_xstrdup(json_string_value(json_object_get(cj, "image")) ?: "");
	c->changed = false;
	memset(&c->live, 0, sizeof(c->live));
	memset(&c->readiness, 0, sizeof(c->readiness));
	memset(&c->startup, 0, sizeof(c->startup));
	k8c_log_debug("container started", "pod=%s/%s container=%s ms=%.1f", p->ns, p->name,
		      c->name, (agent_now() - t_start) * 1e3);
	ctr_event(w, pod, "Normal", "Created", fp, "Created container %s", c->name);
	ctr_event(w, pod, "Normal", "Started", fp, "Started container %s", c->name);
	rc = 1;
out:
	k8c_error_clear(&err);
	k8c_image_clear(&img);
	strv_free(env);
	strv_free(argv);
	for (i = 0; i < nms; i++)
		free(mstr[i]);
	free(mstr);
	free(mv);
	return rc;
}

/* Read the runtime's state of c into c (running, term). */
static void ctr_refresh(struct agent_worker *w, struct agent_ctr *c)
{
	struct k8c_container_status st;
	struct k8c_error err = K8C_ERROR_INIT;
	char s[21], f[21];

	if (!c->id || !c->created || !c->running)
		return;
	if (k8c_container_status(w->a->rt, c->id, &st, &err) < 0) {
		k8c_log_warn("container status", "id=%s error=\"%s\"", c->id, err.msg);
		k8c_error_clear(&err);
		/* gone from the runtime: count it as an unknown exit */
		st.state = K8C_CTR_EXITED;
		st.exit_code = 255;
		snprintf(st.reason, sizeof(st.reason), "Unknown");
		st.started_ns = st.finished_ns = 0;
	}
	if (st.state == K8C_CTR_RUNNING || st.state == K8C_CTR_CREATED)
		return;
	c->running = false;
	c->ready = false;
	c->kill_deadline = 0;
	k8c_rfc3339(st.started_ns ? (time_t)(st.started_ns / 1000000000) : time(NULL), s);
	k8c_rfc3339(st.finished_ns ? (time_t)(st.finished_ns / 1000000000) : time(NULL), f);
	json_decref(c->term);
	c->term = json_pack("{s:i, s:s, s:s, s:s, s:s}", "exitCode", st.exit_code, "reason",
			    st.reason[0] ? st.reason : (st.exit_code ? "Error" : "Completed"),
			    "startedAt", c->started_at[0] ? c->started_at : s, "finishedAt", f,
			    "containerID", "");
	json_object_set_new(c->term, "containerID", json_sprintf("k8c://%s", c->id));
	if (agent_now() - c->started_mono >= BACKOFF_RESET) {
		c->backoff_s = 0;
		c->backoff_until = 0;
	}
}

static void ctr_kill(struct agent_worker *w, struct agent_ctr *c, int sig)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (c->id && c->running && k8c_container_kill(w->a->rt, c->id, sig, &err) < 0)
		k8c_log_debug("kill", "id=%s error=\"%s\"", c->id, err.msg);
	k8c_error_clear(&err);
}

/* --- status --- */

static json_t *ctr_status(json_t *pod, struct agent_ctr *c)
{
	json_t *cj = ctr_json(pod, c);
	json_t *st = json_pack("{s:s, s:s, s:s, s:b, s:i}", "name", c->name, "image",
			       /* the image the container runs, the spec's before it ran */
			       c->image && c->created ? c->image
						      : json_string_value(json_object_get(cj, "image")) ?: "",
			       "imageID",
			       c->image_id ? c->image_id : "", "ready", c->ready, "restartCount",
			       c->attempt);

	if (c->id && c->created)
		json_object_set_new(st, "containerID", json_sprintf("k8c://%s", c->id));
	json_object_set_new(st, "started", json_boolean(c->running && c->started));
	if (c->running)
		json_object_set_new(st, "state",
				    json_pack("{s:{s:s}}", "running", "startedAt", c->started_at));
	else if (c->term)
		json_object_set_new(st, "state", json_pack("{s:O}", "terminated", c->term));
	else {
		json_t *wt = json_pack("{s:s}", "reason",
				       c->reason[0] ? c->reason : "ContainerCreating");

		if (c->message)
			json_object_set_new(wt, "message", json_string(c->message));
		json_object_set_new(st, "state", json_pack("{s:o}", "waiting", wt));
	}
	json_object_set_new(st, "lastState", c->last ? json_deep_copy(c->last) : json_object());
	return st;
}

/*
 * A condition of the status, with lastTransitionTime kept from old (a pod's status object, not
 * the pod) while its status stays.
 */
static json_t *cond(json_t *old, const char *type, bool ok, const char *reason, const char *msg)
{
	_cleanup_json_ json_t *holder = json_pack("{s:O*}", "status", old);
	json_t *o = k8c_condition(holder, type);
	char now[21];
	json_t *c;

	now_rfc(now);
	c = json_pack("{s:s, s:s, s:n}", "type", type, "status", ok ? "True" : "False",
		      "lastProbeTime");
	if (o &&
	    !strcmp(json_string_value(json_object_get(o, "status")) ?: "", ok ? "True" : "False") &&
	    json_string_value(json_object_get(o, "lastTransitionTime")))
		json_object_set(c, "lastTransitionTime", json_object_get(o, "lastTransitionTime"));
	else
		json_object_set_new(c, "lastTransitionTime", json_string(now));
	if (!ok && reason) {
		json_object_set_new(c, "reason", json_string(reason));
		json_object_set_new(c, "message", json_string(msg));
	}
	return c;
}

static const char *restart_policy(json_t *pod)
{
	return k8c_str_at(pod, "spec.restartPolicy") ?: "Always";
}

/* The pod's phase from its containers (kubelet's getPhase). */
static const char *pod_phase(struct agent_pod *p, json_t *pod, bool *init_done)
{
	const char *rp = restart_policy(pod);
	size_t running = 0, waiting = 0, stopped = 0, succeeded = 0;

	*init_done = true;
	for (size_t i = 0; i < p->n_init; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		if (c->finished_ok)
			continue;
		*init_done = false;
		if (c->term && json_integer_value(json_object_get(c->term, "exitCode")) != 0 &&
		    !strcmp(rp, "Never"))
			return "Failed";
	}
	if (!*init_done)
		return "Pending";
	for (size_t i = p->n_init; i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		if (c->running)
			running++;
		else if (c->term) {
			stopped++;
			if (json_integer_value(json_object_get(c->term, "exitCode")) == 0)
				succeeded++;
		} else if (c->last)
			stopped++; /* restarting */
		else
			waiting++;
	}
	if (waiting)
		return "Pending";
	if (running)
		return "Running";
	if (!stopped)
		return "Pending";
	if (!strcmp(rp, "Always"))
		return "Running";
	if (succeeded == stopped)
		return "Succeeded";
	if (!strcmp(rp, "OnFailure"))
		return "Running";
	return "Failed";
}

static int write_status(struct agent_worker *w, struct agent_pod *p, json_t *pod,
			const char **phase_out)
{
	bool init_done;
	const char *phase = pod_phase(p, pod, &init_done);
	json_t *old = p->last_status ? p->last_status : json_object_get(pod, "status");
	_cleanup_json_ json_t *st = NULL, *patch = NULL;
	json_t *conds, *ics = json_array(), *cs = json_array();
	_cleanup_free_ char *unready = k8c_xstrdup(""), *uninit = k8c_xstrdup("");
	bool all_ready = true;
	struct k8c_error err = K8C_ERROR_INIT;

	for (size_t i = 0; i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];
		char *t;

		json_array_append_new(c->init ? ics : cs, ctr_status(pod, c));
		if (c->init && !c->finished_ok) {
			t = k8c_xasprintf("%s%s%s", uninit, *uninit ? " " : "", c->name);
			free(uninit);
			uninit = t;
		}
		if (!c->init && !c->ready) {
			all_ready = false;
			t = k8c_xasprintf("%s%s%s", unready, *unready ? " " : "", c->name);
			free(unready);
			unready = t;
		}
	}
	{
		_cleanup_free_ char *m1 =
			k8c_xasprintf("containers with incomplete status: [%s]", uninit);
		_cleanup_free_ char *m2 =
			k8c_xasprintf("containers with unready status: [%s]", unready);
		bool terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");

		conds = json_pack(
			"[o, o, o, o, o]",
			cond(old, "PodReadyToStartContainers", p->sandbox && !p->network_down, NULL,
			     NULL),
			cond(old, "Initialized", init_done, "ContainersNotInitialized", m1),
			cond(old, "Ready", all_ready && !terminal,
			     terminal ? "PodCompleted" : "ContainersNotReady", m2),
			cond(old, "ContainersReady", all_ready && !terminal,
			     terminal ? "PodCompleted" : "ContainersNotReady", m2),
			cond(old, "PodScheduled", true, NULL, NULL));
	}
	st = json_pack("{s:s, s:o, s:s, s:[{s:s}]}", "phase", phase, "conditions", conds, "hostIP",
		       w->a->node_ip, "hostIPs", "ip", w->a->node_ip);
	if (p->ip) {
		json_object_set_new(st, "podIP", json_string(p->ip));
		json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
	}
	if (p->start_time[0])
		json_object_set_new(st, "startTime", json_string(p->start_time));
	if (json_array_size(ics))
		json_object_set_new(st, "initContainerStatuses", ics);
	else
		json_decref(ics);
	json_object_set_new(st, "containerStatuses", cs);
	*phase_out = phase;
	if (p->last_status && json_equal(p->last_status, st))
		return 0;
	patch = json_pack("{s:O}", "status", st);
	double t0 = agent_now();

	if (k8c_kube_patch(w->kube, K8C_GVR_PODS, p->ns, p->name, "status", K8C_PATCH_MERGE, patch,
			   NULL, &err) < 0) {
		int code = err.code;

		if (code != 404)
			k8c_log_warn("pod status update failed", "pod=%s/%s error=\"%s\"", p->ns,
				     p->name, err.msg);
		k8c_error_clear(&err);
		return code == 404 ? 1 : -1;
	}
	t0 = tr_add(p, &p->tr.status, t0);
	if (!p->tr.written && all_ready && !strcmp(phase, "Running"))
		p->tr.written = t0;
	json_decref(p->last_status);
	p->last_status = json_incref(st);
	return 0;
}

/* --- sandbox --- */

static int ensure_sandbox(struct agent_worker *w, struct agent_pod *p, json_t *pod)
{
	struct agent *a = w->a;
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_json_ json_t *res = NULL;
	_cleanup_free_ char *etc = NULL;
	struct k8c_cni_att att = {.container_id = p->uid,
				  .ifname = "eth0",
				  .pod_namespace = p->ns,
				  .pod_name = p->name,
				  .pod_uid = p->uid};
	double t0 = agent_now();

	if (p->sandbox)
		return 0;
	if (json_is_true(k8c_at(pod, "spec.hostNetwork"))) {
		free(p->netns_path);
		p->netns_path = k8c_xasprintf("/proc/%d/ns/net", (int)getpid());
		free(p->ip);
		p->ip = k8c_xstrdup(a->node_ip);
	} else {
		if (!p->netns_path)
			p->netns_path = k8c_xasprintf("%s/%s", a->cfg->netns_dir, p->uid);
		att.netns = p->netns_path;
		if (access(p->netns_path, F_OK) < 0 &&
		    sandbox_netns_create(p->netns_path, &err) < 0)
			goto fail;
		t0 = tr_add(p, &p->tr.netns, t0);
		if (k8c_cni_add(a->cni, &att, &res, &err) < 0)
			goto fail;
		t0 = tr_add(p, &p->tr.cni, t0);
		{
			const char *addr = json_string_value(json_object_get(
				json_array_get(json_object_get(res, "ips"), 0), "address"));

			free(p->ip);
			p->ip = addr ? strndup(addr, strcspn(addr, "/")) : NULL;
		}
	}
	etc = k8c_xasprintf("%s/%s/etc", a->pods_dir, p->uid);
	if (sandbox_write_etc(a, pod, p->ip, etc, &err) < 0)
		goto fail;
	tr_add(p, &p->tr.etc, t0);
	p->sandbox = true;
	return 0;
fail:
	ctr_event(w, pod, "Warning", "FailedCreatePodSandBox", NULL,
		  "Failed to create pod sandbox: %s", err.msg);
	k8c_error_clear(&err);
	return -1;
}

static void release_network(struct agent_worker *w, struct agent_pod *p)
{
	struct k8c_error err = K8C_ERROR_INIT;
	_cleanup_free_ char *path = k8c_xasprintf("%s/%s", w->a->cfg->netns_dir, p->uid);
	struct k8c_cni_att att = {.container_id = p->uid,
				  .ifname = "eth0",
				  .pod_namespace = p->ns,
				  .pod_name = p->name,
				  .pod_uid = p->uid};

	att.netns = access(path, F_OK) == 0 ? path : NULL;
	if (k8c_cni_del(w->a->cni, &att, &err) < 0)
		k8c_log_warn("CNI DEL failed", "pod=%s/%s error=\"%s\"", p->ns, p->name, err.msg);
	k8c_error_clear(&err);
	if (sandbox_netns_delete(path, &err) < 0)
		k8c_log_warn("netns removal failed", "pod=%s/%s error=\"%s\"", p->ns, p->name,
			     err.msg);
	k8c_error_clear(&err);
	p->network_down = true;
}

/* --- adoption of what a previous agent left --- */

static void adopt(struct agent_worker *w, struct agent_pod *p, json_t *pod)
{
	struct agent *a = w->a;
	_cleanup_free_ char *ns_path = k8c_xasprintf("%s/%s", a->cfg->netns_dir, p->uid);
	json_t *st = json_object_get(pod, "status");
	const char *start = k8c_str_at(pod, "status.startTime");

	p->adopted_checked = true;
	if (start)
		snprintf(p->start_time, sizeof(p->start_time), "%s", start);
	if (access(ns_path, F_OK) == 0) {
		struct k8c_error err = K8C_ERROR_INIT;
		_cleanup_json_ json_t *res = k8c_cni_cached_result(a->cni, p->uid, "eth0", &err);
		const char *addr = json_string_value(
			json_object_get(json_array_get(json_object_get(res, "ips"), 0), "address"));

		k8c_error_clear(&err);
		if (addr) {
			p->netns_path = k8c_steal_ptr(ns_path);
			p->ip = strndup(addr, strcspn(addr, "/"));
			p->sandbox = true;
		}
	}
	for (size_t i = 0; i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];
		_cleanup_free_ char *prefix = k8c_xasprintf("%s-%s-", p->uid, c->name);
		size_t pl = strlen(prefix);
		int best = -1;
		json_t *cs, *x;
		size_t k;

		for (size_t j = 0; T.existing && T.existing[j]; j++) {
			char *end;
			long n;

			if (strncmp(T.existing[j], prefix, pl) != 0)
				continue;
			n = strtol(T.existing[j] + pl, &end, 10);
			if (*end || end == T.existing[j] + pl)
				continue;
			if (n > best)
				best = (int)n;
		}
		if (best < 0)
			continue;
		c->id = ctr_id(p, c, best);
		c->attempt = best;
		c->created = true;
		c->running = true; /* ctr_refresh finds out */
		c->started_mono = agent_now();
		c->started = true;
		cs = k8c_at(pod,
			    c->init ? "status.initContainerStatuses" : "status.containerStatuses");
		json_array_foreach(cs, k, x)
		{
			if (strcmp(json_string_value(json_object_get(x, "name")) ?: "", c->name))
				continue;
			c->image_id =
				k8c_xstrdup(json_string_value(json_object_get(x, "imageID")) ?: "");
			if (json_string_value(json_object_get(x, "image")))
				c->image =
					k8c_xstrdup(json_string_value(json_object_get(x, "image")));
			if (k8c_at(x, "lastState.terminated"))
				c->last = json_pack("{s:O}", "terminated",
						    k8c_at(x, "lastState.terminated"));
			if (k8c_str_at(x, "state.running.startedAt"))
				snprintf(c->started_at, sizeof(c->started_at), "%s",
					 k8c_str_at(x, "state.running.startedAt"));
			c->ready = json_is_true(json_object_get(x, "ready"));
		}
		{
			struct k8c_container_status cst;
			struct k8c_error err = K8C_ERROR_INIT;

			if (k8c_container_status(a->rt, c->id, &cst, &err) == 0 &&
			    !c->started_at[0])
				k8c_rfc3339((time_t)(cst.started_ns / 1000000000), c->started_at);
			k8c_error_clear(&err);
		}
		if (c->init) {
			ctr_refresh(w, c);
			if (c->term &&
			    json_integer_value(json_object_get(c->term, "exitCode")) == 0)
				c->finished_ok = true;
		}
		k8c_log_info("container adopted", "pod=%s/%s container=%s id=%s", p->ns, p->name,
			     c->name, c->id);
	}
	(void)st;
}

/* --- probes --- */

/* Run the probes of a running container that are due; returns the next due time. */
static double run_probes(struct agent_worker *w, struct agent_pod *p, json_t *pod,
			 struct agent_ctr *c)
{
	json_t *cj = ctr_json(pod, c);
	json_t *sp = json_object_get(cj, "startupProbe"),
	       *lp = json_object_get(cj, "livenessProbe");
	json_t *rp = json_object_get(cj, "readinessProbe");
	double now = agent_now(), next = now + 3600;
	char msg[512];
	_cleanup_free_ char *fp = fieldpath(c);
	struct {
		json_t *probe;
		struct probe_state *s;
		const char *kind;
	} pr[3] = {{sp, &c->startup, "Startup"},
		   {lp, &c->live, "Liveness"},
		   {rp, &c->readiness, "Readiness"}};

	if (!sp)
		c->startup.done = true;
	c->started = c->startup.done;
	if (!rp)
		c->ready = c->started;
	for (int i = 0; i < 3; i++) {
		json_t *probe = pr[i].probe;
		struct probe_state *s = pr[i].s;
		long long period = k8c_int_at(probe, "periodSeconds", 10);
		long long fail_th = k8c_int_at(probe, "failureThreshold", 3);
		long long succ_th = k8c_int_at(probe, "successThreshold", 1);
		int ok;

		if (!probe || !c->running || c->kill_deadline)
			continue;
		if (i == 0 && s->done)
			continue;
		if (i > 0 && !c->startup.done)
			continue;
		if (s->next == 0)
			s->next = c->started_mono +
				  (double)k8c_int_at(probe, "initialDelaySeconds", 0);
		if (s->next > now) {
			if (s->next < next)
				next = s->next;
			continue;
		}
		ok = probe_run(w, p, c, cj, probe, msg, sizeof(msg));
		s->next = agent_now() + (double)(period > 0 ? period : 10);
		if (s->next < next)
			next = s->next;
		if (ok) {
			s->successes++;
			s->failures = 0;
		} else {
			s->failures++;
			s->successes = 0;
			ctr_event(w, pod, "Warning", "Unhealthy", fp, "%s probe failed: %s",
				  pr[i].kind, msg);
		}
		if (i == 0) {
			if (ok) {
				s->done = true;
				c->started = true;
				if (!rp)
					c->ready = true;
			}
		} else if (i == 2) {
			if (ok && s->successes >= succ_th)
				c->ready = true;
			if (!ok && s->failures >= fail_th)
				c->ready = false;
		}
		if ((i == 0 || i == 1) && !ok && s->failures >= fail_th) {
			/* restart the container: SIGTERM now, SIGKILL after the grace period */
			long long grace = k8c_int_at(
				probe, "terminationGracePeriodSeconds",
				k8c_int_at(pod, "spec.terminationGracePeriodSeconds", 30));

			ctr_event(w, pod, "Normal", "Killing", fp,
				  "Container %s failed %s probe, will be restarted", c->name,
				  i == 0 ? "startup" : "liveness");
			ctr_kill(w, c, SIGTERM);
			c->kill_deadline = agent_now() + (double)grace;
			c->ready = false;
			if (c->kill_deadline < next)
				next = c->kill_deadline;
		}
	}
	return next;
}

/* --- termination --- */

static void run_prestop(struct agent_worker *w, struct agent_pod *p, json_t *pod,
			struct agent_ctr *c, double deadline)
{
	json_t *cmd = k8c_at(ctr_json(pod, c), "lifecycle.preStop.exec.command");
	json_t *probe;
	char msg[256];
	double left = deadline - agent_now();

	if (!json_array_size(cmd) || !c->running || left <= 0)
		return;
	probe = json_pack("{s:{s:O}, s:I}", "exec", "command", cmd, "timeoutSeconds",
			  (json_int_t)(left < 1 ? 1 : left));
	if (!probe_run(w, p, c, ctr_json(pod, c), probe, msg, sizeof(msg))) {
		_cleanup_free_ char *fp = fieldpath(c);

		ctr_event(w, pod, "Warning", "FailedPreStopHook", fp, "PreStopHook failed: %s",
			  msg);
	}
	json_decref(probe);
}

/* Tear everything of the pod down; 1 when done, 0 when still waiting for containers. */
static int terminate(struct agent_worker *w, struct agent_pod *p, json_t *pod)
{
	struct agent *a = w->a;
	struct k8c_error err = K8C_ERROR_INIT;
	bool alive = false;

	if (!p->terminating) {
		long long grace =
			k8c_int_at(pod, "metadata.deletionGracePeriodSeconds",
				   k8c_int_at(pod, "spec.terminationGracePeriodSeconds", 30));

		if (p->deleted_in_api || !pod)
			grace = 0;
		p->terminating = true;
		p->grace_deadline = agent_now() + (double)grace;
		for (size_t i = 0; i < p->n_ctrs; i++)
			ctr_refresh(w, &p->ctrs[i]);
		for (size_t i = 0; i < p->n_ctrs; i++) {
			struct agent_ctr *c = &p->ctrs[i];
			_cleanup_free_ char *fp = fieldpath(c);

			if (!c->running)
				continue;
			if (pod)
				ctr_event(w, pod, "Normal", "Killing", fp, "Stopping container %s",
					  c->name);
			if (pod && grace > 0)
				run_prestop(w, p, pod, c, p->grace_deadline);
			ctr_kill(w, c, grace > 0 ? SIGTERM : SIGKILL);
		}
	}
	for (size_t i = 0; i < p->n_ctrs; i++) {
		ctr_refresh(w, &p->ctrs[i]);
		alive |= p->ctrs[i].running;
	}
	if (alive && agent_now() < p->grace_deadline)
		return 0;
	if (alive) {
		for (size_t i = 0; i < p->n_ctrs; i++)
			ctr_kill(w, &p->ctrs[i], SIGKILL);
		p->grace_deadline = agent_now() + 3600; /* wait for the exits now */
		for (size_t i = 0; i < p->n_ctrs; i++)
			ctr_refresh(w, &p->ctrs[i]);
		for (size_t i = 0; i < p->n_ctrs; i++)
			if (p->ctrs[i].running)
				return 0;
	}
	/* every container of every attempt we know of */
	for (size_t i = 0; i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		for (int k = c->attempt; k >= 0 && k >= c->attempt - 2; k--) {
			_cleanup_free_ char *id = ctr_id(p, c, k);

			if (k8c_container_remove(a->rt, id, &err) < 0)
				k8c_log_warn("container removal failed", "id=%s error=\"%s\"", id,
					     err.msg);
			k8c_error_clear(&err);
		}
	}
	if (!p->network_down && !json_is_true(k8c_at(pod, "spec.hostNetwork")))
		release_network(w, p);
	if (volumes_teardown(a, p->uid, &err) < 0)
		k8c_log_warn("volume teardown", "pod=%s/%s error=\"%s\"", p->ns, p->name, err.msg);
	k8c_error_clear(&err);
	{
		_cleanup_free_ char *logs =
			k8c_xasprintf("%s/%s_%s_%s", a->logs_dir, p->ns, p->name, p->uid);
		_cleanup_free_ char *cmd = NULL;
		DIR *d = opendir(logs);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			_cleanup_free_ char *sub = NULL;
			DIR *d2;
			struct dirent *e2;

			if (e->d_name[0] == '.')
				continue;
			sub = k8c_xasprintf("%s/%s", logs, e->d_name);
			d2 = opendir(sub);
			while (d2 && (e2 = readdir(d2))) {
				_cleanup_free_ char *f = NULL;

				if (e2->d_name[0] == '.')
					continue;
				f = k8c_xasprintf("%s/%s", sub, e2->d_name);
				unlink(f);
			}
			if (d2)
				closedir(d2);
			rmdir(sub);
		}
		if (d)
			closedir(d);
		rmdir(logs);
	}
	if (!p->deleted_in_api) {
		_cleanup_json_ json_t *opts =
			json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion",
				  "v1", "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
		const char *phase;

		write_status(w, p, pod, &phase);
		if (k8c_kube_delete(w->kube, K8C_GVR_PODS, p->ns, p->name, opts, NULL, &err) < 0 &&
		    err.code != 404 && err.code != 409)
			k8c_log_warn("pod deletion failed", "pod=%s/%s error=\"%s\"", p->ns,
				     p->name, err.msg);
		k8c_error_clear(&err);
	}
	k8c_log_info("pod removed", "pod=%s/%s uid=%s", p->ns, p->name, p->uid);
	return 1;
}

/* --- the sync of one pod --- */

static void init_ctrs(struct agent_pod *p, json_t *pod)
{
	json_t *ic = k8c_at(pod, "spec.initContainers"), *cc = k8c_at(pod, "spec.containers"), *x;
	size_t i, n = 0;

	p->n_init = json_array_size(ic);
	p->n_ctrs = p->n_init + json_array_size(cc);
	p->ctrs = k8c_xcalloc(p->n_ctrs ? p->n_ctrs : 1, sizeof(*p->ctrs));
	json_array_foreach(ic, i, x)
	{
		p->ctrs[n].init = true;
		p->ctrs[n++].name =
			k8c_xstrdup(json_string_value(json_object_get(x, "name")) ?: "");
	}
	json_array_foreach(cc, i, x) p->ctrs[n++].name =
		k8c_xstrdup(json_string_value(json_object_get(x, "name")) ?: "");
}

/* Returns the next time the pod wants a sync (0: only on change), or -1 when finished. */
static double sync_pod(struct agent_worker *w, struct agent_pod *p, json_t *pod)
{
	double now = agent_now(), next = now + RESYNC;
	const char *rp, *phase = "Pending";
	struct k8c_error err = K8C_ERROR_INIT;
	bool gone = p->deleted_in_api || !pod;

	if (!p->ctrs && pod)
		init_ctrs(p, pod);
	if (!p->adopted_checked && pod)
		adopt(w, p, pod);
	if (gone || k8c_str_at(pod, "metadata.deletionTimestamp")) {
		if (terminate(w, p, pod))
			return -1;
		return now + 0.2;
	}
	rp = restart_policy(pod);
	if (!p->start_time[0])
		now_rfc(p->start_time);
	{
		_cleanup_free_ char *pdir = k8c_xasprintf("%s/%s", w->a->pods_dir, p->uid);

		mkdir(pdir, 0750);
	}
	for (size_t i = 0; i < p->n_ctrs; i++)
		ctr_refresh(w, &p->ctrs[i]);
	/* a terminal pod: nothing runs any more; its network is released */
	{
		/* what this agent wrote, or (after a restart) what the API has */
		const char *lp =
			p->last_status ? json_string_value(json_object_get(p->last_status, "phase"))
				       : k8c_str_at(pod, "status.phase");

		if (lp && (!strcmp(lp, "Succeeded") || !strcmp(lp, "Failed"))) {
			if (!p->network_down && p->sandbox &&
			    !json_is_true(k8c_at(pod, "spec.hostNetwork")))
				release_network(w, p);
			return 0;
		}
	}
	if (ensure_sandbox(w, p, pod) < 0) {
		write_status(w, p, pod, &phase);
		return now + 2;
	}
	if (!p->volumes_ready || now >= p->volumes_refresh) {
		double t0 = agent_now();
		int r = volumes_setup(w, p, pod, p->volumes_ready, &err);

		tr_add(p, &p->tr.volumes, t0);
		if (r < 0) {
			ctr_event(w, pod, "Warning", "FailedMount", NULL,
				  "MountVolume.SetUp failed: %s", err.msg);
			k8c_error_clear(&err);
			if (!p->volumes_ready) {
				write_status(w, p, pod, &phase);
				return now + 2;
			}
		}
		p->volumes_ready = true;
		p->volumes_refresh = now + REFRESH;
	}
	/* init containers, one after the other */
	for (size_t i = 0; i < p->n_init; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		if (c->finished_ok)
			continue;
		if (c->running)
			goto status;
		if (c->term) {
			if (json_integer_value(json_object_get(c->term, "exitCode")) == 0) {
				c->finished_ok = true;
				continue;
			}
			if (!strcmp(rp, "Never"))
				goto status; /* the pod failed */
			json_decref(c->last);
			c->last = json_pack("{s:O}", "terminated", c->term);
			json_decref(c->term);
			c->term = NULL;
		}
		if (now < c->backoff_until && c->last) {
			_cleanup_free_ char *fp = fieldpath(c);

			if (strcmp(c->reason, "CrashLoopBackOff") != 0)
				ctr_event(
					w, pod, "Warning", "BackOff", fp,
					"Back-off restarting failed container %s in pod %s_%s(%s)",
					c->name, p->name, p->ns, p->uid);
			set_waiting(c, "CrashLoopBackOff", NULL);
			free(c->message);
			c->message = k8c_xasprintf(
				"back-off %.0fs restarting failed container=%s pod=%s_%s(%s)",
				c->backoff_s, c->name, p->name, p->ns, p->uid);
			next = c->backoff_until;
			goto status;
		}
		if (!start_ctr(w, p, pod, c) && c->backoff_until > now)
			next = c->backoff_until;
		goto status;
	}
	for (size_t i = p->n_init; i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		if (c->running) {
			double pn;
			const char *want =
				json_string_value(json_object_get(ctr_json(pod, c), "image"));

			if (c->image && want && strcmp(c->image, want) != 0 && !c->changed) {
				/* as the kubelet: a changed definition restarts, whatever the policy */
				_cleanup_free_ char *fp = fieldpath(c);

				ctr_event(w, pod, "Normal", "Killing", fp,
					  "Container %s definition changed, will be restarted",
					  c->name);
				c->changed = true;
				ctr_kill(w, c, SIGTERM);
				c->kill_deadline =
					now +
					(double)k8c_int_at(
						pod, "spec.terminationGracePeriodSeconds", 30);
				c->ready = false;
			}
			if (c->kill_deadline && now >= c->kill_deadline) {
				ctr_kill(w, c, SIGKILL);
				c->kill_deadline = now + 3600;
			}
			pn = run_probes(w, p, pod, c);
			if (pn < next)
				next = pn;
			continue;
		}
		if (c->term) {
			long long code = json_integer_value(json_object_get(c->term, "exitCode"));
			bool restart = !strcmp(rp, "Always") ||
				       (!strcmp(rp, "OnFailure") && code != 0) || c->changed;

			if (!restart)
				continue;
			if (c->changed)
				c->backoff_until = 0; /* not a crash: no back-off */
			json_decref(c->last);
			c->last = json_pack("{s:O}", "terminated", c->term);
			json_decref(c->term);
			c->term = NULL;
		}
		if (c->last && now < c->backoff_until) {
			_cleanup_free_ char *fp = fieldpath(c);

			if (strcmp(c->reason, "CrashLoopBackOff") != 0)
				ctr_event(
					w, pod, "Warning", "BackOff", fp,
					"Back-off restarting failed container %s in pod %s_%s(%s)",
					c->name, p->name, p->ns, p->uid);
			set_waiting(c, "CrashLoopBackOff", NULL);
			free(c->message);
			c->message = k8c_xasprintf(
				"back-off %.0fs restarting failed container=%s pod=%s_%s(%s)",
				c->backoff_s, c->name, p->name, p->ns, p->uid);
			if (c->backoff_until < next)
				next = c->backoff_until;
			continue;
		}
		if (!start_ctr(w, p, pod, c)) {
			if (c->backoff_until > now && c->backoff_until < next + 30)
				next = c->backoff_until > next ? next : c->backoff_until;
		} else {
			double pn = run_probes(w, p, pod, c);

			if (pn < next)
				next = pn;
		}
	}
status:
	if (write_status(w, p, pod, &phase) == 1)
		return 0; /* the pod is gone; the informer's DELETE follows */
	if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) {
		if (!p->network_down && !json_is_true(k8c_at(pod, "spec.hostNetwork")))
			release_network(w, p);
		return 0;
	}
	return next < now + 0.05 ? now + 0.05 : next;
}

/* --- table, workers, loop --- */

static void pod_free(struct agent_pod *p)
{
	for (size_t i = 0; p->ctrs && i < p->n_ctrs; i++) {
		struct agent_ctr *c = &p->ctrs[i];

		free(c->name);
		free(c->id);
		json_decref(c->last);
		json_decref(c->term);
		free(c->message);
		free(c->image_id);
		free(c->image);
	}
	free(p->ctrs);
	free(p->uid);
	free(p->ns);
	free(p->name);
	json_decref(p->pod);
	free(p->netns_path);
	free(p->ip);
	json_decref(p->last_status);
	free(p);
}

static struct agent_pod *find_pod(const char *uid)
{
	for (size_t i = 0; i < T.n; i++)
		if (!strcmp(T.pods[i]->uid, uid))
			return T.pods[i];
	return NULL;
}

static void *worker_main(void *arg)
{
	struct agent_worker *w = arg;

	pthread_mutex_lock(&T.mu);
	while (!T.stop) {
		struct agent_pod *p = NULL;
		json_t *pod;
		double next;

		for (size_t i = 0; T.ready && i < T.n && !p; i++)
			if (T.pods[i]->dirty && !T.pods[i]->busy && !T.pods[i]->finished)
				p = T.pods[i];
		if (!p) {
			pthread_cond_wait(&T.cv, &T.mu);
			continue;
		}
		p->busy = true;
		p->dirty = false;
		pod = json_incref(p->pod);
		pthread_mutex_unlock(&T.mu);
		double cpu0 = thread_cpu(), t0 = agent_now();
		bool written = p->tr.written > 0;

		if (!p->tr.picked)
			p->tr.picked = t0;
		next = sync_pod(w, p, pod);
		t0 = agent_now();
		events_flush(w);
		if (!p->tr.logged) {
			if (!written && p->tr.written > 0)
				tr_add(p, &p->tr.events, t0);
			p->tr.cpu += thread_cpu() - cpu0;
			p->tr.syncs++;
			if (p->tr.written > 0)
				tr_log(p);
		}
		json_decref(pod);
		pthread_mutex_lock(&T.mu);
		p->busy = false;
		if (next < 0)
			p->finished = true;
		else if (!p->dirty)
			p->due = next;
	}
	pthread_mutex_unlock(&T.mu);
	return NULL;
}

/* The object without status, resourceVersion and managedFields (shallow copies). */
static json_t *without_status(json_t *pod)
{
	json_t *c = json_copy(pod), *md = json_copy(json_object_get(pod, "metadata"));

	json_object_del(c, "status");
	json_object_del(md, "resourceVersion");
	json_object_del(md, "managedFields");
	json_object_set_new(c, "metadata", md);
	return c;
}

/*
 * An update that changed only the status (above all the agent's own status writes coming back)
 * calls for no sync: nothing the agent acts on is in the status (no readiness gates).
 */
static bool status_only(json_t *old, json_t *new)
{
	_cleanup_json_ json_t *a = NULL, *b = NULL;

	if (!old || !new)
		return false;
	a = without_status(old);
	b = without_status(new);
	return json_equal(a, b);
}

static void on_pod(const struct k8c_delta *d, void *arg)
{
	json_t *obj = d->type == K8C_DELTA_DELETE ? (d->old ? d->old : d->new) : d->new;
	const char *uid = k8c_str_at(obj, "metadata.uid");
	struct agent_pod *p;

	if (d->type == K8C_DELTA_ERROR) {
		k8c_log_warn("pod watch error (retrying)", "error=\"%s\"", d->msg ? d->msg : "?");
		return;
	}
	if (!uid || (d->type != K8C_DELTA_ADD && d->type != K8C_DELTA_UPDATE &&
		     d->type != K8C_DELTA_DELETE))
		return;
	pthread_mutex_lock(&T.mu);
	p = find_pod(uid);
	if (!p && d->type != K8C_DELTA_DELETE) {
		p = k8c_xcalloc(1, sizeof(*p));
		p->uid = k8c_xstrdup(uid);
		p->ns = k8c_xstrdup(k8c_str_at(obj, "metadata.namespace") ?: "default");
		p->name = k8c_xstrdup(k8c_str_at(obj, "metadata.name") ?: "");
		p->tr.seen = agent_now();
		T.pods = k8c_xrealloc(T.pods, (T.n + 1) * sizeof(*T.pods));
		T.pods[T.n++] = p;
	}
	if (p) {
		bool sync = true;

		if (d->type == K8C_DELTA_DELETE) {
			p->deleted_in_api = 1;
		} else {
			sync = d->type != K8C_DELTA_UPDATE || !status_only(p->pod, obj);
			json_decref(p->pod);
			p->pod = json_deep_copy(obj);
		}
		if (sync) {
			p->dirty = true;
			pthread_cond_signal(&T.cv);
		}
	}
	pthread_mutex_unlock(&T.mu);
}

int agent_container_lookup(const char *ns, const char *pod, const char *container, bool previous,
			   char **id, char **log, struct k8c_error *err)
{
	int rc = -1;

	pthread_mutex_lock(&T.mu);
	for (size_t i = 0; i < T.n && rc < 0; i++) {
		struct agent_pod *p = T.pods[i];
		struct agent_ctr *ctrs = p->ctrs;

		if (p->finished || strcmp(p->ns, ns) != 0 || strcmp(p->name, pod) != 0 || !ctrs)
			continue;
		for (size_t k = 0; k < p->n_ctrs; k++) {
			/* attempt is an int the worker updates: read once, never a worker's pointer */
			int attempt = __atomic_load_n(&ctrs[k].attempt, __ATOMIC_RELAXED);

			if (strcmp(ctrs[k].name, container) != 0)
				continue;
			if (previous)
				attempt--;
			if (attempt < 0) {
				k8c_error_set(
					err, 404,
					"previous terminated container \"%s\" in pod \"%s\" not "
					"found",
					container, pod);
				goto out;
			}
			if (id)
				*id = ctr_id(p, &ctrs[k], attempt);
			if (log)
				*log = log_path(T.agent, p, &ctrs[k], attempt);
			rc = 0;
			goto out;
		}
		k8c_error_set(err, 404, "container %s is not valid for pod %s", container, pod);
		goto out;
	}
	k8c_error_set(err, 404, "pod %s/%s is not on this node", ns, pod);
out:
	pthread_mutex_unlock(&T.mu);
	return rc;
}

static bool uid_known(json_t *cache, const char *uid)
{
	const char *k;
	json_t *v;

	json_object_foreach(cache, k, v)
	{
		if (!strcmp(k8c_str_at(v, "metadata.uid") ?: "", uid))
			return true;
	}
	return false;
}

/* What no pod owns any more: containers, pod directories (their netns, CNI, volumes, logs). */
static void startup_sweep(struct agent *a, json_t *cache)
{
	struct k8c_error err = K8C_ERROR_INIT;
	const char **valid = k8c_xcalloc(json_object_size(cache) + 1, sizeof(char *));
	size_t nv = 0;
	const char *k;
	json_t *v;
	DIR *d;
	struct dirent *e;

	for (size_t i = 0; T.existing && T.existing[i]; i++) {
		const char *id = T.existing[i];
		char uid[37];

		if (strlen(id) < 37 || id[36] != '-')
			continue;
		memcpy(uid, id, 36);
		uid[36] = 0;
		if (uid_known(cache, uid))
			continue;
		k8c_container_kill(a->rt, id, SIGKILL, &err);
		k8c_error_clear(&err);
		if (k8c_container_remove(a->rt, id, &err) < 0)
			k8c_log_warn("orphan container removal failed", "id=%s error=\"%s\"", id,
				     err.msg);
		else
			k8c_log_info("orphan container removed", "id=%s", id);
		k8c_error_clear(&err);
	}
	d = opendir(a->pods_dir);
	while (d && (e = readdir(d))) {
		_cleanup_free_ char *ns_path = NULL;
		struct k8c_cni_att att = {.container_id = e->d_name, .ifname = "eth0"};

		if (e->d_name[0] == '.' || uid_known(cache, e->d_name))
			continue;
		ns_path = k8c_xasprintf("%s/%s", a->cfg->netns_dir, e->d_name);
		att.netns = access(ns_path, F_OK) == 0 ? ns_path : NULL;
		if (k8c_cni_del(a->cni, &att, &err) < 0)
			k8c_log_warn("orphan CNI DEL failed", "uid=%s error=\"%s\"", e->d_name,
				     err.msg);
		k8c_error_clear(&err);
		sandbox_netns_delete(ns_path, &err);
		k8c_error_clear(&err);
		volumes_teardown(a, e->d_name, &err);
		k8c_error_clear(&err);
		k8c_log_info("orphan pod state removed", "uid=%s", e->d_name);
	}
	if (d)
		closedir(d);
	json_object_foreach(cache, k, v)
	{
		if (k8c_str_at(v, "metadata.uid"))
			valid[nv++] = k8c_str_at(v, "metadata.uid");
	}
	if (k8c_cni_gc(a->cni, valid, "eth0", &err) < 0)
		k8c_log_warn("CNI GC failed", "error=\"%s\"", err.msg);
	k8c_error_clear(&err);
	free(valid);
}

int k8c_agent_run(struct k8c_agent_config *cfg, struct k8c_error *err)
{
	struct agent a = {.cfg = cfg};
	struct agent_node *node = NULL;
	struct agent_worker *workers = NULL;
	pthread_t *threads = NULL, events_thread;
	bool events_started = false;
	struct k8c_informer *inf = NULL, *svc_inf = NULL;
	struct k8c_node_server *streams = NULL;
	_cleanup_free_ char *selector = k8c_xasprintf("spec.nodeName=%s", cfg->node_name);
	_cleanup_free_ char *state = k8c_xasprintf("%s/containers", cfg->root_dir);
	_cleanup_free_ char *ipam = k8c_xasprintf("%s/cni-ipam", cfg->root_dir);
	struct k8c_informer_opts io = {
		.gvr = K8C_GVR_PODS, .field_selector = selector, .user_agent = "k8c-agent"};
	struct k8c_informer_opts so = {
		.gvr = K8C_GVR_SERVICES, .transform = service_reduce, .user_agent = "k8c-agent"};
	struct k8c_cni_opts co = {cfg->cni_bin_dir, cfg->cni_conf_dir, cfg->cni_cache_dir};
	struct k8c_runtime_opts ro = {.state_dir = state,
				      .runc_root = cfg->runc_root,
				      .runc_memfd = cfg->runc_memfd,
				      .cgroup_parent = cfg->cgroup_parent,
				      .log_max_bytes = 10 << 20,
				      .log_max_files = 5};
	sigset_t mask;
	_cleanup_close_ int sfd = -1;
	int rc = -1, started = 0;
	bool swept = false;

	T.agent = &a;
	a.pods_dir = k8c_xasprintf("%s/pods", cfg->root_dir);
	a.logs_dir = k8c_xasprintf("%s/logs", cfg->root_dir);
	if (k8c_mkdir_p(a.pods_dir, 0755) < 0 || k8c_mkdir_p(a.logs_dir, 0755) < 0 ||
	    k8c_mkdir_p(state, 0755) < 0 || k8c_mkdir_p(cfg->netns_dir, 0755) < 0) {
		k8c_error_errno(err, 0, errno, "state directories under %s", cfg->root_dir);
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		k8c_error_errno(err, 0, errno, "signalfd");
		goto out;
	}
	node = agent_node_register(cfg, err);
	if (!node)
		goto out;
	a.node_ip = agent_node_ip(node);
	if (agent_node_pod_cidr(node)) {
		int r = k8c_cni_write_default_conf(cfg->cni_conf_dir, "k8c0",
						   agent_node_pod_cidr(node), ipam,
						   cfg->cluster_cidr, err);

		if (r < 0)
			goto out;
		if (r)
			k8c_log_info("CNI configuration written", "dir=%s podCIDR=%s",
				     cfg->cni_conf_dir, agent_node_pod_cidr(node));
	}
	a.cni = k8c_cni_new(&co, err);
	if (!a.cni)
		goto out;
	a.images = k8c_image_store_open(cfg->image_root, err);
	if (!a.images)
		goto out;
	a.rt = k8c_runtime_new(&ro, err);
	if (!a.rt)
		goto out;
	T.existing = k8c_container_list(a.rt, err);
	if (!T.existing)
		goto out;
	streams = agent_streams_start(&a, err);
	if (!streams)
		goto out;
	agent_node_set_ready(node, true, "kubelet is posting ready status");
	if (agent_node_start(node, err) < 0)
		goto out;
	inf = k8c_informer_new(&cfg->kc, &io, err);
	if (!inf || k8c_informer_start(inf, err) < 0)
		goto out;
	svc_inf = k8c_informer_new(&cfg->kc, &so, err);
	if (!svc_inf || k8c_informer_start(svc_inf, err) < 0)
		goto out;
	E.kube = k8c_kube_new(&cfg->kc, "k8c-agent/" K8C_VERSION, err);
	if (!E.kube)
		goto out;
	if (pthread_create(&events_thread, NULL, events_main, NULL)) {
		k8c_error_set(err, 0, "cannot start the events thread");
		goto out;
	}
	events_started = true;
	workers = k8c_xcalloc((size_t)cfg->workers, sizeof(*workers));
	threads = k8c_xcalloc((size_t)cfg->workers, sizeof(*threads));
	for (int i = 0; i < cfg->workers; i++) {
		workers[i] = (struct agent_worker){.a = &a, .index = i};
		workers[i].kube = k8c_kube_new(&cfg->kc, "k8c-agent/" K8C_VERSION, err);
		if (!workers[i].kube ||
		    pthread_create(&threads[i], NULL, worker_main, &workers[i])) {
			if (workers[i].kube)
				k8c_error_set(err, 0, "cannot start worker thread");
			goto out;
		}
		started++;
	}
	k8c_log_info("agent running", "node=%s pods_dir=%s workers=%d", cfg->node_name, a.pods_dir,
		     cfg->workers);
	for (;;) {
		struct pollfd pf[3] = {{.fd = sfd, .events = POLLIN},
				       {.fd = k8c_informer_fd(inf), .events = POLLIN},
				       {.fd = k8c_informer_fd(svc_inf), .events = POLLIN}};
		double now = agent_now(), soonest = now + 1.0;
		int timeout;

		pthread_mutex_lock(&T.mu);
		for (size_t i = 0; i < T.n;) {
			struct agent_pod *p = T.pods[i];

			if (p->finished && !p->busy) {
				T.pods[i] = T.pods[--T.n];
				pod_free(p);
				continue;
			}
			if (!p->dirty && !p->busy && p->due > 0) {
				if (p->due <= now) {
					p->dirty = true;
					p->due = 0;
					pthread_cond_signal(&T.cv);
				} else if (p->due < soonest) {
					soonest = p->due;
				}
			}
			i++;
		}
		pthread_cond_broadcast(&T.cv);
		pthread_mutex_unlock(&T.mu);
		timeout = (int)((soonest - now) * 1000) + 1;
		if (poll(pf, 3, timeout) < 0 && errno != EINTR) {
			k8c_error_errno(err, 0, errno, "poll");
			goto out;
		}
		if (pf[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) > 0 && si.ssi_signo == SIGPIPE)
				continue;
			k8c_log_info("stopping; pods keep running", "signal=%u", si.ssi_signo);
			rc = 0;
			goto out;
		}
		k8c_informer_dispatch(svc_inf, on_service, NULL);
		k8c_informer_dispatch(inf, on_pod, NULL);
		/* as the kubelet, no pod starts before the services were read once (environment) */
		if (!swept && k8c_informer_has_synced(inf) && k8c_informer_has_synced(svc_inf)) {
			startup_sweep(&a, k8c_informer_cache(inf));
			swept = true;
			pthread_mutex_lock(&T.mu);
			T.ready = true;
			pthread_cond_broadcast(&T.cv);
			pthread_mutex_unlock(&T.mu);
			k8c_log_info("pods synced", "pods=%zu", T.n);
		}
	}
out:
	pthread_mutex_lock(&T.mu);
	T.stop = true;
	pthread_cond_broadcast(&T.cv);
	pthread_mutex_unlock(&T.mu);
	for (int i = 0; i < started; i++)
		k8c_kube_interrupt(workers[i].kube);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	/* the events still queued get up to 2 s to go out */
	pthread_mutex_lock(&E.mu);
	E.stop = true;
	pthread_cond_broadcast(&E.cv);
	pthread_mutex_unlock(&E.mu);
	if (events_started) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 2;
		if (pthread_timedjoin_np(events_thread, NULL, &ts) != 0) {
			k8c_kube_interrupt(E.kube);
			pthread_join(events_thread, NULL);
		}
	}
	k8c_kube_free(E.kube);
	E.kube = NULL;
	json_decref(E.queue);
	E.queue = NULL;
	for (int i = 0; workers && i < cfg->workers; i++) {
		k8c_kube_free(workers[i].kube);
		json_decref(workers[i].pending);
	}
	free(workers);
	free(threads);
	k8c_informer_free(inf);
	k8c_informer_free(svc_inf);
	pthread_mutex_lock(&S.mu);
	json_decref(S.by_key);
	S.by_key = NULL;
	pthread_mutex_unlock(&S.mu);
	if (streams)
		k8c_node_server_stop(streams);
	agent_node_free(node);
	for (size_t i = 0; i < T.n; i++)
		pod_free(T.pods[i]);
	free(T.pods);
	strv_free(T.existing);
	if (a.rt)
		k8c_runtime_free(a.rt);
	if (a.images)
		k8c_image_store_close(a.images);
	k8c_cni_free(a.cni);
	free(a.pods_dir);
	free(a.logs_dir);
	return rc;
}

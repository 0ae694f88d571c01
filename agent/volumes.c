/*
 * Pod volumes (docs/agent.md "Volumes"): emptyDir (disk, or tmpfs for medium Memory), hostPath
 * with its type checks, secret / configMap / downwardAPI / projected written as Kubernetes'
 * AtomicWriter does (files in a ..<timestamp> directory, a ..data symlink swapped by rename, the
 * visible names symlinks through ..data), persistentVolumeClaim resolved to its bound
 * PersistentVolume (hostPath, local). Everything lives under <root>/pods/<uid>/volumes/<name>.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "kubeconfig.h"
#include "log.h"
#include "objutil.h"
#include "pod.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

char *podenv_resource_value(struct agent *a, json_t *ctr, json_t *ref);

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm -rf that neither follows symlinks nor crosses into another filesystem. */
static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	rmdir(path);
}

static json_t *find_volume(json_t *pod, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(k8c_at(pod, "spec.volumes"), i, v)
	{
		if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", name))
			return v;
	}
	return NULL;
}

static char *vol_dir(struct agent *a, const char *uid, const char *name)
{
	return k8c_xasprintf("%s/%s/volumes/%s", a->pods_dir, uid, name);
}

/* --- payloads: relative path -> {"data": bytes, "mode": int} --- */

static bool safe_rel(const char *p)
{
	if (!*p || *p == '/' || !strncmp(p, "..", 2))
		return false;
	return strstr(p, "/../") == NULL && strstr(p, "/..") == NULL;
}

static void payload_add(json_t *pl, const char *path, const char *data, size_t len, int mode)
{
	if (safe_rel(path))
		json_object_set_new(
			pl, path,
			json_pack("{s:o, s:i}", "data", json_stringn(data, len), "mode", mode));
}

/*
 * The Secrets and ConfigMaps that volumes read, shared by the pods of the node for SHARED_TTL
 * seconds: the periodic refresh of N pods that mount one object costs one GET per SHARED_TTL,
 * not N (the kubelet's "Cache" strategy). A pod's first setup always reads the API (and renews
 * the entry), as the kubelet does when a pod registers a reference, so a new pod never starts
 * with content older than its creation.
 */
#define SHARED_TTL  5.0
#define SHARED_DROP 60.0 /* entries unused this long are dropped */

static struct {
	pthread_mutex_t mu;
	json_t *by_key; /* "secret/ns/name" -> {"t": monotonic seconds, "obj": object or null} */
} VC = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* 0 with *obj (a new reference), or -1 with err (code 404: not found). */
static int shared_get(struct agent_worker *w, bool secret, const char *ns, const char *name,
		      bool fresh, json_t **obj, struct k8c_error *err)
{
	_cleanup_free_ char *key =
		k8c_xasprintf("%s/%s/%s", secret ? "secret" : "configmap", ns, name);
	double now = agent_now();
	json_t *e, *o = NULL;
	const char *k;
	void *tmp;
	int rc;

	pthread_mutex_lock(&VC.mu);
	e = json_object_get(VC.by_key, key);
	if (!fresh && e && now - json_real_value(json_object_get(e, "t")) < SHARED_TTL) {
		o = json_object_get(e, "obj");
		json_incref(o);
	}
	pthread_mutex_unlock(&VC.mu);
	if (o) {
		if (json_is_null(o)) {
			json_decref(o);
			return k8c_error_set(err, 404, "%s %s/%s not found",
					     secret ? "secret" : "configmap", ns, name);
		}
		*obj = o;
		return 0;
	}
	rc = k8c_kube_get(w->kube, secret ? K8C_GVR_SECRETS : K8C_GVR_CONFIGMAPS, ns, name, &o,
			  err);
	if (rc < 0 && err->code != 404)
		return -1;
	pthread_mutex_lock(&VC.mu);
	if (!VC.by_key)
		VC.by_key = json_object();
	json_object_foreach_safe(VC.by_key, tmp, k, e)
	{
		if (now - json_real_value(json_object_get(e, "t")) > SHARED_DROP)
			json_object_del(VC.by_key, k);
	}
	json_object_set_new(VC.by_key, key,
			    json_pack("{s:f, s:O}", "t", now, "obj", rc == 0 ? o : json_null()));
	pthread_mutex_unlock(&VC.mu);
	if (rc < 0)
		return -1;
	*obj = o;
	return 0;
}

/* secret or configMap source (volume or projected) into pl; 1 when the object is missing. */
static int payload_keyed(struct agent_worker *w, const char *ns, json_t *src, bool secret,
			 int def_mode, json_t *pl, bool fresh, struct k8c_error *err)
{
	const char *name = json_string_value(json_object_get(src, secret ? "secretName" : "name"));
	bool optional = json_is_true(json_object_get(src, "optional"));
	json_t *items = json_object_get(src, "items"), *it;
	_cleanup_json_ json_t *obj = NULL, *all = json_object();
	const char *k;
	json_t *v;
	size_t i;

	if (!name)
		name = json_string_value(json_object_get(src, "name")) ?: "";
	if (json_is_integer(json_object_get(src, "defaultMode")))
		def_mode = (int)json_integer_value(json_object_get(src, "defaultMode"));
	if (shared_get(w, secret, ns, name, fresh, &obj, err) < 0) {
		if (err->code != 404)
			return -1;
		k8c_error_clear(err);
		if (optional)
			return 0;
		return k8c_error_set(err, 1, "%s \"%s\" not found", secret ? "secret" : "configmap",
				     name);
	}
	json_object_foreach(json_object_get(obj, "data"), k, v)
	{
		if (secret) {
			size_t n;
			_cleanup_free_ char *d = k8c_base64_decode(json_string_value(v) ?: "", &n);

			if (d)
				json_object_set_new(all, k, json_stringn(d, n));
		} else {
			json_object_set(all, k, v);
		}
	}
	json_object_foreach(json_object_get(obj, "binaryData"), k, v)
	{
		size_t n;
		_cleanup_free_ char *d = k8c_base64_decode(json_string_value(v) ?: "", &n);

		if (d)
			json_object_set_new(all, k, json_stringn(d, n));
	}
	if (!json_array_size(items)) {
		json_object_foreach(all, k, v)
			payload_add(pl, k, json_string_value(v), json_string_length(v), def_mode);
		return 0;
	}
	json_array_foreach(items, i, it)
	{
		const char *key = json_string_value(json_object_get(it, "key")) ?: "";
		const char *path = json_string_value(json_object_get(it, "path")) ?: key;
		json_t *m = json_object_get(it, "mode");

		v = json_object_get(all, key);
		if (!v) {
			if (optional)
				continue;
			return k8c_error_set(
				err, 1, "configmap references non-existent config key: %s", key);
		}
		payload_add(pl, path, json_string_value(v), json_string_length(v),
			    json_is_integer(m) ? (int)json_integer_value(m) : def_mode);
	}
	return 0;
}

static void payload_downward(struct agent_worker *w, json_t *pod, json_t *items, int def_mode,
			     json_t *pl)
{
	size_t i;
	json_t *it;

	json_array_foreach(items, i, it)
	{
		const char *path = json_string_value(json_object_get(it, "path")) ?: "";
		json_t *m = json_object_get(it, "mode");
		int mode = json_is_integer(m) ? (int)json_integer_value(m) : def_mode;
		_cleanup_free_ char *val = NULL;
		const char *fp = k8c_str_at(it, "fieldRef.fieldPath");

		if (fp) {
			json_t *x = k8c_at(pod, fp);

			if (!strcmp(fp, "metadata.labels") || !strcmp(fp, "metadata.annotations")) {
				const char *k;
				json_t *v;

				val = k8c_xstrdup("");
				json_object_foreach(x, k, v)
				{
					char *t = k8c_xasprintf("%s%s=\"%s\"\n", val, k,
								json_string_value(v) ?: "");
					free(val);
					val = t;
				}
			} else {
				char key[256];

				if (sscanf(fp, "metadata.labels['%255[^']']", key) == 1)
					x = json_object_get(k8c_at(pod, "metadata.labels"), key);
				else if (sscanf(fp, "metadata.annotations['%255[^']']", key) == 1)
					x = json_object_get(k8c_at(pod, "metadata.annotations"),
							    key);
				val = k8c_xstrdup(json_string_value(x) ?: "");
			}
		} else if (json_object_get(it, "resourceFieldRef")) {
			json_t *ref = json_object_get(it, "resourceFieldRef"), *c, *target = NULL;
			const char *cname =
				json_string_value(json_object_get(ref, "containerName"));
			size_t j;

			json_array_foreach(k8c_at(pod, "spec.containers"), j, c)
			{
				if (!target ||
				    (cname &&
				     !strcmp(json_string_value(json_object_get(c, "name")) ?: "",
					     cname)))
					target = c;
			}
			val = podenv_resource_value(w->a, target, ref);
		}
		if (val)
			payload_add(pl, path, val, strlen(val), mode);
	}
}

static int write_file(const char *path, const char *data, size_t len, int mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return fchmod(fd, (mode_t)mode & 07777);
}

/* Whether dir/..data already holds exactly pl. */
static bool payload_same(const char *dir, json_t *pl)
{
	_cleanup_free_ char *data = k8c_xasprintf("%s/..data", dir);
	const char *k;
	json_t *v;
	size_t n = 0;
	struct stat st;

	if (lstat(data, &st) < 0)
		return false;
	json_object_foreach(pl, k, v)
	{
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", data, k);
		const char *want = json_string_value(json_object_get(v, "data"));
		size_t wl = json_string_length(json_object_get(v, "data"));
		_cleanup_fclose_ FILE *f = fopen(p, "re");
		char *buf;
		size_t got;
		bool eq;

		if (!f || stat(p, &st) < 0 || (size_t)st.st_size != wl ||
		    (int)(st.st_mode & 07777) !=
			    (int)json_integer_value(json_object_get(v, "mode")))
			return false;
		buf = k8c_xmalloc(wl + 1);
		got = fread(buf, 1, wl + 1, f);
		eq = got == wl && memcmp(buf, want, wl) == 0;
		free(buf);
		if (!eq)
			return false;
		n++;
	}
	/* the same set of top-level names */
	{
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *e;
		size_t tops = 0, want = 0;
		_cleanup_json_ json_t *names = json_object();

		json_object_foreach(pl, k, v)
		{
			_cleanup_free_ char *top = strndup(k, strcspn(k, "/"));

			json_object_set_new(names, top, json_true());
		}
		want = json_object_size(names);
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				tops++;
		return tops == want;
	}
	return n == json_object_size(pl);
}

/* AtomicWriter: write pl into dir with the ..data symlink swap. */
static int atomic_write(const char *dir, json_t *pl, struct k8c_error *err)
{
	struct timespec ts;
	char stamp[64];
	_cleanup_free_ char *tsdir = NULL, *old = NULL, *data = NULL, *tmp = NULL;
	char link[PATH_MAX];
	ssize_t ll;
	const char *k;
	json_t *v;

	if (payload_same(dir, pl))
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(stamp, sizeof(stamp), "..%lld_%09ld", (long long)ts.tv_sec, ts.tv_nsec);
	tsdir = k8c_xasprintf("%s/%s", dir, stamp);
	if (mkdir(tsdir, 0755) < 0)
		return k8c_error_errno(err, 0, errno, "mkdir %s", tsdir);
	json_object_foreach(pl, k, v)
	{
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", tsdir, k);
		char *slash = strrchr(p, '/');

		*slash = 0;
		k8c_mkdir_p(p, 0755);
		*slash = '/';
		if (write_file(p, json_string_value(json_object_get(v, "data")),
			       json_string_length(json_object_get(v, "data")),
			       (int)json_integer_value(json_object_get(v, "mode"))) < 0)
			return k8c_error_errno(err, 0, errno, "write %s", p);
	}
	data = k8c_xasprintf("%s/..data", dir);
	tmp = k8c_xasprintf("%s/..data_tmp", dir);
	ll = readlink(data, link, sizeof(link) - 1);
	if (ll > 0) {
		link[ll] = 0;
		old = k8c_xasprintf("%s/%s", dir, link);
	}
	unlink(tmp);
	if (symlink(stamp, tmp) < 0 || rename(tmp, data) < 0)
		return k8c_error_errno(err, 0, errno, "swap %s", data);
	/* the visible names: symlinks through ..data */
	json_object_foreach(pl, k, v)
	{
		_cleanup_free_ char *top = strndup(k, strcspn(k, "/"));
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", dir, top);
		_cleanup_free_ char *target = k8c_xasprintf("..data/%s", top);
		struct stat st;

		if (lstat(p, &st) == 0)
			continue;
		if (symlink(target, p) < 0)
			return k8c_error_errno(err, 0, errno, "symlink %s", p);
	}
	{
		_cleanup_closedir_ DIR *d = opendir(dir);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			bool keep = false;

			if (e->d_name[0] == '.')
				continue;
			json_object_foreach(pl, k, v)
			{
				size_t tl = strcspn(k, "/");

				if (strlen(e->d_name) == tl && !strncmp(k, e->d_name, tl))
					keep = true;
			}
			if (!keep) {
				_cleanup_free_ char *p = k8c_xasprintf("%s/%s", dir, e->d_name);

				unlink(p);
			}
		}
	}
	if (old && strcmp(old, tsdir) != 0)
		rm_rf(old);
	return 0;
}

static int sa_token(struct agent_worker *w, json_t *pod, json_t *src, json_t *pl,
		    struct k8c_error *err)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	const char *sa = k8c_str_at(pod, "spec.serviceAccountName") ?: "default";
	const char *path = json_string_value(json_object_get(src, "path")) ?: "token";
	const char *aud = json_string_value(json_object_get(src, "audience"));
	long long exp = k8c_int_at(src, "expirationSeconds", 3600);
	_cleanup_free_ char *url =
		k8c_xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
	_cleanup_json_ json_t *req = json_pack(
		"{s:s, s:s, s:{s:I, s:{s:s, s:s, s:s, s:s}}}", "apiVersion",
		"authentication.k8s.io/v1", "kind", "TokenRequest", "spec", "expirationSeconds",
		(json_int_t)exp, "boundObjectRef", "kind", "Pod", "apiVersion", "v1", "name",
		k8c_str_at(pod, "metadata.name"), "uid", k8c_str_at(pod, "metadata.uid"));
	_cleanup_json_ json_t *resp = NULL;
	const char *tok;

	if (aud)
		json_object_set_new(json_object_get(req, "spec"), "audiences",
				    json_pack("[s]", aud));
	if (k8c_kube_request(w->kube, "POST", url, NULL, req, NULL, &resp, err) < 0) {
		/* the TokenRequest API may be absent on this server: no token, no failure */
		k8c_log_debug("no service account token", "pod=%s/%s error=\"%s\"", ns,
			      k8c_str_at(pod, "metadata.name"), err->msg);
		k8c_error_clear(err);
		return 0;
	}
	tok = k8c_str_at(resp, "status.token");
	if (tok)
		payload_add(pl, path, tok, strlen(tok), 0644);
	return 0;
}

int volumes_setup(struct agent_worker *w, struct agent_pod *p, json_t *pod, bool refresh,
		  struct k8c_error *err)
{
	const char *ns = k8c_str_at(pod, "metadata.namespace");
	size_t i;
	json_t *vol;

	json_array_foreach(k8c_at(pod, "spec.volumes"), i, vol)
	{
		const char *name = json_string_value(json_object_get(vol, "name")) ?: "";
		_cleanup_free_ char *dir = vol_dir(w->a, p->uid, name);
		json_t *src;
		_cleanup_json_ json_t *pl = NULL;

		if ((src = json_object_get(vol, "emptyDir"))) {
			const char *medium = json_string_value(json_object_get(src, "medium"));
			const char *limit = json_string_value(json_object_get(src, "sizeLimit"));
			struct statfs sf;

			if (refresh)
				continue;
			if (k8c_mkdir_p(dir, 0777) < 0)
				return k8c_error_errno(err, 1, errno, "emptyDir %s", dir);
			chmod(dir, 0777);
			if (medium && !strcmp(medium, "Memory") &&
			    (statfs(dir, &sf) < 0 || sf.f_type != TMPFS_MAGIC)) {
				long long sz = 0;
				_cleanup_free_ char *opt = NULL;

				if (limit)
					quantity_parse(limit, false, &sz);
				opt = sz > 0 ? k8c_xasprintf("mode=0777,size=%lld", sz)
					     : k8c_xstrdup("mode=0777");
				if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opt) < 0)
					return k8c_error_errno(err, 1, errno,
							       "emptyDir %s: mount tmpfs", name);
			}
			continue;
		}
		if ((src = json_object_get(vol, "hostPath"))) {
			const char *path = json_string_value(json_object_get(src, "path")) ?: "";
			const char *type = json_string_value(json_object_get(src, "type")) ?: "";
			struct stat st;
			int r;

			if (refresh)
				continue;
			if (!strcmp(type, "DirectoryOrCreate")) {
				if (k8c_mkdir_p(path, 0755) < 0)
					return k8c_error_errno(err, 1, errno,
							       "hostPath %s: create directory",
							       path);
			} else if (!strcmp(type, "FileOrCreate")) {
				int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

				if (fd < 0)
					return k8c_error_errno(err, 1, errno,
							       "hostPath %s: create file", path);
				close(fd);
			}
			r = stat(path, &st);
			if (*type && strcmp(type, "DirectoryOrCreate") &&
			    strcmp(type, "FileOrCreate")) {
				bool ok = r == 0 &&
					  ((!strcmp(type, "Directory") && S_ISDIR(st.st_mode)) ||
					   (!strcmp(type, "File") && S_ISREG(st.st_mode)) ||
					   (!strcmp(type, "Socket") && S_ISSOCK(st.st_mode)) ||
					   (!strcmp(type, "CharDevice") && S_ISCHR(st.st_mode)) ||
					   (!strcmp(type, "BlockDevice") && S_ISBLK(st.st_mode)));

				if (!ok)
					return k8c_error_set(
						err, 1,
						"hostPath type check failed: %s is not a %s", path,
						!strcmp(type, "Directory") ? "directory"
						: !strcmp(type, "File")	   ? "file"
									   : type);
			}
			continue;
		}
		if ((src = json_object_get(vol, "persistentVolumeClaim"))) {
			_cleanup_free_ char *path = NULL;

			if (refresh)
				continue;
			path = volumes_path(w, p, pod, name, err);
			if (!path)
				return -1;
			continue;
		}
		pl = json_object();
		if ((src = json_object_get(vol, "secret"))) {
			if (payload_keyed(w, ns, src, true, 0644, pl, !refresh, err) < 0)
				return -1;
		} else if ((src = json_object_get(vol, "configMap"))) {
			if (payload_keyed(w, ns, src, false, 0644, pl, !refresh, err) < 0)
				return -1;
		} else if ((src = json_object_get(vol, "downwardAPI"))) {
			int mode = (int)k8c_int_at(src, "defaultMode", 0644);

			payload_downward(w, pod, json_object_get(src, "items"), mode, pl);
		} else if ((src = json_object_get(vol, "projected"))) {
			int mode = (int)k8c_int_at(src, "defaultMode", 0644);
			size_t j;
			json_t *s;

			json_array_foreach(json_object_get(src, "sources"), j, s)
			{
				json_t *x;

				if ((x = json_object_get(s, "secret")) &&
				    payload_keyed(w, ns, x, true, mode, pl, !refresh, err) < 0)
					return -1;
				if ((x = json_object_get(s, "configMap")) &&
				    payload_keyed(w, ns, x, false, mode, pl, !refresh, err) < 0) {
					/* kube-root-ca.crt may not be published by this server */
					if (strcmp(json_string_value(json_object_get(x, "name"))
							   ?: "",
						   "kube-root-ca.crt") != 0)
						return -1;
					k8c_error_clear(err);
				}
				if ((x = json_object_get(s, "downwardAPI")))
					payload_downward(w, pod, json_object_get(x, "items"), mode,
							 pl);
				if ((x = json_object_get(s, "serviceAccountToken")) && !refresh &&
				    sa_token(w, pod, x, pl, err) < 0)
					return -1;
			}
			if (refresh)
				continue; /* a token is not re-requested on a refresh */
		} else {
			continue; /* other volume types: not supported, left out */
		}
		if (k8c_mkdir_p(dir, 0755) < 0)
			return k8c_error_errno(err, 1, errno, "volume %s", dir);
		if (atomic_write(dir, pl, err) < 0)
			return k8c_error_wrap(err, "volume %s", name);
	}
	return 0;
}

char *volumes_path(struct agent_worker *w, struct agent_pod *p, json_t *pod, const char *name,
		   struct k8c_error *err)
{
	json_t *vol = find_volume(pod, name), *src;

	if (!vol) {
		k8c_error_set(err, 1, "volume \"%s\" is not a volume of the pod", name);
		return NULL;
	}
	if ((src = json_object_get(vol, "hostPath")))
		return k8c_xstrdup(json_string_value(json_object_get(src, "path")) ?: "/");
	if ((src = json_object_get(vol, "persistentVolumeClaim"))) {
		const char *claim = json_string_value(json_object_get(src, "claimName")) ?: "";
		_cleanup_json_ json_t *pvc = NULL, *pv = NULL;
		const char *pvname, *path;

		if (k8c_kube_get(w->kube, K8C_GVR("", "v1", "persistentvolumeclaims"),
				 k8c_str_at(pod, "metadata.namespace"), claim, &pvc, err) < 0) {
			err->code = 1;
			return NULL;
		}
		pvname = k8c_str_at(pvc, "spec.volumeName");
		if (!pvname || !*pvname ||
		    strcmp(k8c_str_at(pvc, "status.phase") ?: "Bound", "Bound") != 0) {
			k8c_error_set(err, 1, "persistentvolumeclaim \"%s\" is not bound", claim);
			return NULL;
		}
		if (k8c_kube_get(w->kube, K8C_GVR("", "v1", "persistentvolumes"), NULL, pvname, &pv,
				 err) < 0) {
			err->code = 1;
			return NULL;
		}
		path = k8c_str_at(pv, "spec.hostPath.path");
		if (!path)
			path = k8c_str_at(pv, "spec.local.path");
		if (!path) {
			k8c_error_set(
				err, 1,
				"persistentvolume \"%s\": only hostPath and local volumes are "
				"supported",
				pvname);
			return NULL;
		}
		if (k8c_str_at(pv, "spec.hostPath.path") &&
		    !strcmp(k8c_str_at(pv, "spec.hostPath.type") ?: "", "DirectoryOrCreate"))
			k8c_mkdir_p(path, 0755);
		return k8c_xstrdup(path);
	}
	return vol_dir(w->a, p->uid, name);
}

int volumes_teardown(struct agent *a, const char *uid, struct k8c_error *err)
{
	_cleanup_free_ char *vols = k8c_xasprintf("%s/%s/volumes", a->pods_dir, uid);
	_cleanup_free_ char *pdir = k8c_xasprintf("%s/%s", a->pods_dir, uid);
	_cleanup_closedir_ DIR *d = opendir(vols);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (e->d_name[0] == '.')
			continue;
		p = k8c_xasprintf("%s/%s", vols, e->d_name);
		while (umount2(p, MNT_DETACH) == 0)
			;
	}
	rm_rf(pdir);
	if (access(pdir, F_OK) == 0)
		return k8c_error_set(err, 0, "pod directory %s could not be removed", pdir);
	return 0;
}

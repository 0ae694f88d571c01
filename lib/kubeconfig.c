#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "kubeconfig.h"
#include "yaml_json.h"

#define SA_DIR	 "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_FILE (16u << 20)

char *k8c_base64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in), o = 0;
	char *out = k8c_xmalloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad; /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (bits >= 6 || pad > 2)
		goto bad; /* a lone sextet cannot encode a byte */
	out[o] = '\0';
	*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* Read a whole (small) file; NUL-terminated. */
static int read_file(const char *path, char **out, size_t *out_len, int *errnum)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0) {
		*errnum = errno;
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > MAX_FILE) {
				*errnum = EFBIG;
				return -1;
			}
			buf = k8c_xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*errnum = errno;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (!buf)
		buf = k8c_xmalloc(1);
	buf[len] = '\0';
	*out = k8c_steal_ptr(buf);
	*out_len = len;
	return 0;
}

static int yaml_load(const char *name, const char *text, size_t len, json_t **out,
		     struct k8c_error *err)
{
	*out = k8c_yaml_to_json(text, len, false, err);
	if (!*out)
		return k8c_error_wrap(err, "kubeconfig %s", name);
	if (json_is_null(*out)) {
		json_decref(*out);
		*out = json_object();
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return k8c_error_set(err, 0,
				     "kubeconfig %s: not a mapping of clusters, users and contexts",
				     name);
	}
	return 0;
}

/* The entry of list `key` (clusters, users, contexts) called `name`, and its `inner` object. */
static int find_named(const char *src, json_t *root, const char *key, const char *inner,
		      const char *what, const char *name, json_t **out, struct k8c_error *err)
{
	json_t *list = json_object_get(root, key), *e;
	size_t i;

	if (list && !json_is_array(list) && !json_is_null(list))
		return k8c_error_set(err, 0, "kubeconfig %s: %s: expected a list", src, key);
	json_array_foreach(list, i, e)
	{
		json_t *n = json_object_get(e, "name");
		json_t *v;

		if (!json_is_string(n) || strcmp(json_string_value(n), name))
			continue;
		v = json_object_get(e, inner);
		if (v && !json_is_object(v) && !json_is_null(v))
			return k8c_error_set(err, 0,
					     "kubeconfig %s: %s \"%s\": %s: expected a mapping",
					     src, what, name, inner);
		*out = json_is_object(v) ? v : NULL; /* NULL: an empty entry */
		return 1;
	}
	return 0;
}

static int get_str(const char *src, const char *what, const char *name, json_t *obj,
		   const char *key, const char **out, struct k8c_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return k8c_error_set(err, 0, "kubeconfig %s: %s \"%s\": %s: expected a string", src,
				     what, name, key);
	*out = json_string_value(v);
	if (!**out)
		*out = NULL;
	return 0;
}

static char *resolve(const char *base_dir, const char *file)
{
	if (file[0] == '/' || !base_dir)
		return k8c_xstrdup(file);
	return k8c_xasprintf("%s/%s", base_dir, file);
}

/*
 * A PEM blob from `data_key` (base64) or else `file_key` (a file name) of obj; both absent leaves
 * *out NULL.
 */
static int get_blob(const char *src, const char *what, const char *name, json_t *obj,
		    const char *data_key, const char *file_key, const char *base_dir, char **out,
		    size_t *out_len, struct k8c_error *err)
{
	const char *data, *file;
	int errnum;

	if (get_str(src, what, name, obj, data_key, &data, err) < 0 ||
	    get_str(src, what, name, obj, file_key, &file, err) < 0)
		return -1;
	if (data) {
		*out = k8c_base64_decode(data, out_len);
		if (!*out)
			return k8c_error_set(err, 0,
					     "kubeconfig %s: %s \"%s\": %s: not valid base64", src,
					     what, name, data_key);
		return 0;
	}
	if (file) {
		_cleanup_free_ char *p = resolve(base_dir, file);

		if (read_file(p, out, out_len, &errnum) < 0)
			return k8c_error_errno(err, 0, errnum, "kubeconfig %s: %s \"%s\": %s %s",
					       src, what, name, file_key, p);
	}
	return 0;
}

static int check_server(const char *src, const char *what, const char *name, const char *server,
			struct k8c_error *err)
{
	if (!server)
		return k8c_error_set(err, 0, "kubeconfig %s: %s \"%s\": server is not set", src,
				     what, name);
	if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))
		return k8c_error_set(err, 0,
				     "kubeconfig %s: %s \"%s\": server \"%s\": not an http(s) URL",
				     src, what, name, server);
	return 0;
}

static void strip_slash(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
}

int k8c_kubeconfig_parse(const char *src, const char *text, size_t len, const char *base_dir,
			 const char *context, struct k8c_kubeconfig *out, struct k8c_error *err)
{
	_cleanup_json_ json_t *root = NULL;
	json_t *ctx = NULL, *cluster = NULL, *user = NULL, *cur;
	const char *cluster_name, *user_name, *ns, *server, *sni, *token, *token_file;
	struct k8c_kubeconfig c = {0};
	json_t *insecure;
	int r;

	memset(out, 0, sizeof(*out));
	if (yaml_load(src, text, len, &root, err) < 0)
		return -1;
	if (!context) {
		cur = json_object_get(root, "current-context");
		if (!json_is_string(cur) || !json_string_length(cur))
			return k8c_error_set(err, 0,
					     "kubeconfig %s: current-context is not set (and no "
					     "context was given)",
					     src);
		context = json_string_value(cur);
	}
	r = find_named(src, root, "contexts", "context", "context", context, &ctx, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return k8c_error_set(err, 0, "kubeconfig %s: context \"%s\" not found", src,
				     context);
	if (get_str(src, "context", context, ctx, "cluster", &cluster_name, err) < 0 ||
	    get_str(src, "context", context, ctx, "user", &user_name, err) < 0 ||
	    get_str(src, "context", context, ctx, "namespace", &ns, err) < 0)
		return -1;
	if (!cluster_name)
		return k8c_error_set(err, 0, "kubeconfig %s: context \"%s\": cluster is not set",
				     src, context);
	r = find_named(src, root, "clusters", "cluster", "cluster", cluster_name, &cluster, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return k8c_error_set(err, 0,
				     "kubeconfig %s: context \"%s\": cluster \"%s\" not found", src,
				     context, cluster_name);
	if (user_name) {
		r = find_named(src, root, "users", "user", "user", user_name, &user, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return k8c_error_set(err, 0,
					     "kubeconfig %s: context \"%s\": user \"%s\" not found",
					     src, context, user_name);
	}

	if (get_str(src, "cluster", cluster_name, cluster, "server", &server, err) < 0 ||
	    check_server(src, "cluster", cluster_name, server, err) < 0 ||
	    get_str(src, "cluster", cluster_name, cluster, "tls-server-name", &sni, err) < 0)
		return -1;
	insecure = json_object_get(cluster, "insecure-skip-tls-verify");
	if (insecure && !json_is_boolean(insecure) && !json_is_null(insecure))
		return k8c_error_set(err, 0,
				     "kubeconfig %s: cluster \"%s\": insecure-skip-tls-verify: "
				     "expected true or false",
				     src, cluster_name);
	c.source = k8c_xstrdup(src);
	c.context = k8c_xstrdup(context);
	c.server = k8c_xstrdup(server);
	strip_slash(c.server);
	c.tls_server_name = sni ? k8c_xstrdup(sni) : NULL;
	c.insecure = json_is_true(insecure);
	c.namespace = k8c_xstrdup(ns ? ns : "default");
	if (get_blob(src, "cluster", cluster_name, cluster, "certificate-authority-data",
		     "certificate-authority", base_dir, &c.ca, &c.ca_len, err) < 0)
		goto fail;
	if (user) {
		if (get_blob(src, "user", user_name, user, "client-certificate-data",
			     "client-certificate", base_dir, &c.cert, &c.cert_len, err) < 0 ||
		    get_blob(src, "user", user_name, user, "client-key-data", "client-key",
			     base_dir, &c.key, &c.key_len, err) < 0 ||
		    get_str(src, "user", user_name, user, "token", &token, err) < 0 ||
		    get_str(src, "user", user_name, user, "tokenFile", &token_file, err) < 0)
			goto fail;
		if (!c.cert != !c.key) {
			k8c_error_set(err, 0, "kubeconfig %s: user \"%s\": %s without %s", src,
				      user_name,
				      c.cert ? "client-certificate(-data)" : "client-key(-data)",
				      c.cert ? "client-key(-data)" : "client-certificate(-data)");
			goto fail;
		}
		if (token) {
			c.token = k8c_xstrdup(token);
		} else if (token_file) {
			size_t n;
			int errnum;

			c.token_file = resolve(base_dir, token_file);
			if (read_file(c.token_file, &c.token, &n, &errnum) < 0) {
				k8c_error_errno(err, 0, errnum,
						"kubeconfig %s: user \"%s\": tokenFile %s", src,
						user_name, c.token_file);
				goto fail;
			}
			while (n > 0 && (c.token[n - 1] == '\n' || c.token[n - 1] == '\r' ||
					 c.token[n - 1] == ' '))
				c.token[--n] = '\0';
		}
	}
	*out = c;
	return 0;
fail:
	k8c_kubeconfig_free(&c);
	return -1;
}

int k8c_kubeconfig_load(const char *path, const char *context, struct k8c_kubeconfig *out,
			struct k8c_error *err)
{
	_cleanup_free_ char *text = NULL, *copy = k8c_xstrdup(path);
	size_t len;
	int errnum;

	memset(out, 0, sizeof(*out));
	if (read_file(path, &text, &len, &errnum) < 0)
		return k8c_error_errno(err, 0, errnum, "kubeconfig %s", path);
	return k8c_kubeconfig_parse(path, text, len, dirname(copy), context, out, err);
}

int k8c_kubeconfig_in_cluster(const char *dir, struct k8c_kubeconfig *out, struct k8c_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct k8c_kubeconfig c = {0};
	_cleanup_free_ char *ns_path = NULL, *ca_path = NULL;
	char *ns = NULL;
	size_t n;
	int errnum;

	memset(out, 0, sizeof(*out));
	if (!dir)
		dir = SA_DIR;
	if (!host || !*host || !port || !*port)
		return k8c_error_set(err, 0,
				     "in-cluster config: KUBERNETES_SERVICE_HOST and "
				     "KUBERNETES_SERVICE_PORT must be set");
	c.source = k8c_xstrdup("in-cluster config");
	c.server = strchr(host, ':') ? k8c_xasprintf("https://[%s]:%s", host, port)
				     : k8c_xasprintf("https://%s:%s", host, port);
	c.token_file = k8c_xasprintf("%s/token", dir);
	if (read_file(c.token_file, &c.token, &n, &errnum) < 0) {
		k8c_error_errno(err, 0, errnum, "in-cluster config: token %s", c.token_file);
		goto fail;
	}
	while (n > 0 && (c.token[n - 1] == '\n' || c.token[n - 1] == ' '))
		c.token[--n] = '\0';
	ca_path = k8c_xasprintf("%s/ca.crt", dir);
	if (read_file(ca_path, &c.ca, &c.ca_len, &errnum) < 0) {
		k8c_error_errno(err, 0, errnum, "in-cluster config: CA %s", ca_path);
		goto fail;
	}
	ns_path = k8c_xasprintf("%s/namespace", dir);
	if (read_file(ns_path, &ns, &n, &errnum) == 0) {
		while (n > 0 && (ns[n - 1] == '\n' || ns[n - 1] == ' '))
			ns[--n] = '\0';
	}
	c.namespace = ns && *ns ? ns : (free(ns), k8c_xstrdup("default"));
	*out = c;
	return 0;
fail:
	k8c_kubeconfig_free(&c);
	return -1;
}

int k8c_kubeconfig_default(const char *path, const char *context, struct k8c_kubeconfig *out,
			   struct k8c_error *err)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME"), *host;
	_cleanup_free_ char *first = NULL, *def = NULL;

	if (path && *path)
		return k8c_kubeconfig_load(path, context, out, err);
	if (env && *env) {
		first = strndup(env,
				strcspn(env, ":")); /* kubectl merges the list; we read the first */
		if (!first)
			abort();
		return k8c_kubeconfig_load(first, context, out, err);
	}
	host = getenv("KUBERNETES_SERVICE_HOST");
	if (host && *host)
		return k8c_kubeconfig_in_cluster(NULL, out, err);
	def = k8c_xasprintf("%s/.kube/config", home ? home : "");
	return k8c_kubeconfig_load(def, context, out, err);
}

static void free_secret(char *p, size_t n)
{
	if (p)
		explicit_bzero(p, n);
	free(p);
}

void k8c_kubeconfig_free(struct k8c_kubeconfig *c)
{
	free(c->source);
	free(c->context);
	free(c->server);
	free(c->tls_server_name);
	free(c->ca);
	free(c->cert);
	free_secret(c->key, c->key_len);
	free_secret(c->token, c->token ? strlen(c->token) : 0);
	free(c->token_file);
	free(c->namespace);
	memset(c, 0, sizeof(*c));
}

/*
 * Pulling from a registry: the distribution API v2 (OCI distribution spec) over libcurl.
 *
 *   GET /v2/                          ping: picks https or (insecure, loopback) plain http and
 *                                     learns the auth challenge
 *   GET /v2/<name>/manifests/<ref>    OCI or Docker schema 2 manifest, or an index / manifest
 *                                     list (then the linux/<arch> entry's manifest)
 *   GET /v2/<name>/blobs/<digest>     config and layers (redirects followed), sha256 checked
 *
 * Auth: a 401 with "WWW-Authenticate: Bearer realm=...,service=...,scope=..." sends us to the
 * realm for a token (with the username and password as Basic when given, anonymous otherwise);
 * "Basic" challenges get the username and password directly (docker-registry's htpasswd).
 * Errors read as containerd's, which kubelet shows in ErrImagePull events.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "image_int.h"

#define MANIFEST_MAX (4u << 20)

struct registry {
	struct k8c_image_store *s;
	const struct image_ref *ref;
	const struct k8c_pull_auth *auth;
	CURL *curl;
	char *host; /* registry-1.docker.io for docker.io */
	char *base; /* "https://host" or "http://host" */
	char *token;
	bool basic; /* send username/password as Basic */
	bool plain_http, verify_tls;
};

struct response {
	long status;
	char *content_type, *www_auth;
	/* the body: into fd when >= 0 (2xx only), else into buf (up to MANIFEST_MAX) */
	int fd;
	char *buf;
	size_t len;
	bool too_big, write_failed;
};

static void response_clear(struct response *r)
{
	free(r->content_type);
	free(r->www_auth);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static char *header_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *v, *end = line + n;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct response *r = ud;
	size_t len = size * n;
	char *v;

	/* A new response (after a redirect): forget the previous one's headers. */
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		free(r->content_type);
		free(r->www_auth);
		r->content_type = r->www_auth = NULL;
	} else if ((v = header_value(data, len, "Content-Type"))) {
		free(r->content_type);
		v[strcspn(v, "; ")] = '\0';
		r->content_type = v;
	} else if ((v = header_value(data, len, "WWW-Authenticate"))) {
		free(r->www_auth);
		r->www_auth = v;
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct response *r = ((void **)ud)[0];
	CURL *curl = ((void **)ud)[1];
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (r->fd >= 0 && status >= 200 && status < 300) {
		for (size_t off = 0; off < len;) {
			ssize_t w = write(r->fd, data + off, len - off);

			if (w < 0) {
				r->write_failed = true;
				return 0;
			}
			off += (size_t)w;
		}
		return len;
	}
	if (r->len + len > MANIFEST_MAX) {
		r->too_big = true;
		return 0;
	}
	r->buf = k8c_xrealloc(r->buf, r->len + len + 1);
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	r->buf[r->len] = '\0';
	return len;
}

/* One GET; err only for transport failures (the status is the caller's to judge). */
static int http_get(struct registry *g, const char *url, const char *accept, bool use_auth,
		    struct response *r, struct k8c_error *err)
{
	struct curl_slist *hdrs = NULL;
	_cleanup_free_ char *authz = NULL;
	void *ud[2] = {r, g->curl};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	curl_easy_reset(g->curl);
	curl_easy_setopt(g->curl, CURLOPT_URL, url);
	curl_easy_setopt(g->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(g->curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled transfer (no byte for a minute) fails instead of hanging the pull. */
	curl_easy_setopt(g->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(g->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g->curl, CURLOPT_USERAGENT, "k8c/" K8C_VERSION);
	curl_easy_setopt(g->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(g->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(g->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, ud);
	if (!g->verify_tls) {
		curl_easy_setopt(g->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(g->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (accept) {
		_cleanup_free_ char *h = k8c_xasprintf("Accept: %s", accept);

		hdrs = curl_slist_append(hdrs, h);
	}
	if (use_auth && g->token) {
		/* libcurl drops a custom Authorization header on redirects to another host (blob
		 * storage), as it should. */
		authz = k8c_xasprintf("Authorization: Bearer %s", g->token);
		hdrs = curl_slist_append(hdrs, authz);
	} else if (use_auth && g->basic && g->auth && g->auth->username) {
		curl_easy_setopt(g->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(g->curl, CURLOPT_USERNAME, g->auth->username);
		curl_easy_setopt(g->curl, CURLOPT_PASSWORD,
				 g->auth->password ? g->auth->password : "");
	}
	curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(g->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (r->write_failed)
			return k8c_error_errno(err, EIO, errno, "write");
		if (r->too_big)
			return k8c_error_set(err, EINVAL, "GET %s: answer larger than %u bytes",
					     url, MANIFEST_MAX);
		return k8c_error_set(err, EIO, "failed to do request: GET %s: %s", url,
				     *errbuf ? errbuf : curl_easy_strerror(rc));
	}
	return 0;
}

/* The value of param in a challenge ('Bearer realm="...",service="..."'), or NULL. */
static char *challenge_param(const char *ch, const char *param)
{
	size_t pl = strlen(param);
	const char *p = strchr(ch, ' ');

	while (p && *p) {
		const char *key, *val;
		char *out;
		size_t o = 0;

		while (*p == ' ' || *p == ',')
			p++;
		key = p;
		while (*p && *p != '=' && *p != ',')
			p++;
		if (*p != '=')
			continue;
		val = ++p;
		out = k8c_xcalloc(1, strlen(val) + 1);
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				out[o++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',')
				out[o++] = *p++;
		}
		if ((size_t)(val - 1 - key) == pl && strncasecmp(key, param, pl) == 0)
			return out;
		free(out);
	}
	return NULL;
}

static int fetch_token(struct registry *g, const char *challenge, struct k8c_error *err)
{
	_cleanup_free_ char *realm = challenge_param(challenge, "realm");
	_cleanup_free_ char *service = challenge_param(challenge, "service");
	_cleanup_free_ char *scope = challenge_param(challenge, "scope");
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ json_t *j = NULL;
	struct response r = {.fd = -1};
	const char *tok;
	bool save_basic = g->basic;
	char *esc_svc, *esc_scope;

	if (!realm)
		return k8c_error_set(err, EACCES, "Bearer challenge without a realm: %s",
				     challenge);
	if (!scope)
		scope = k8c_xasprintf("repository:%s:pull", g->ref->path);
	esc_svc = curl_easy_escape(g->curl, service ? service : "", 0);
	esc_scope = curl_easy_escape(g->curl, scope, 0);
	url = k8c_xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", esc_scope,
			    service ? "&service=" : "", service ? esc_svc : "");
	curl_free(esc_svc);
	curl_free(esc_scope);
	free(g->token);
	g->token = NULL;
	g->basic = g->auth && g->auth->username; /* credentials go to the realm, as Basic */
	if (http_get(g, url, "application/json", true, &r, err) < 0) {
		g->basic = save_basic;
		response_clear(&r);
		return k8c_error_wrap(err, "failed to fetch %s token",
				      g->basic ? "oauth" : "anonymous");
	}
	g->basic = false;
	if (r.status != 200) {
		k8c_error_set(err, EACCES, "failed to fetch %s token: %s answered %ld",
			      g->auth && g->auth->username ? "oauth" : "anonymous", realm,
			      r.status);
		response_clear(&r);
		return -1;
	}
	j = r.buf ? json_loadb(r.buf, r.len, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok || !*tok) {
		response_clear(&r);
		return k8c_error_set(err, EACCES, "token server %s answered no token", realm);
	}
	g->token = k8c_xstrdup(tok);
	response_clear(&r);
	return 0;
}

/* A 401 answered: get what the challenge asks for. 1 when a retry may succeed, 0 when not. */
static int authorize(struct registry *g, const struct response *r, struct k8c_error *err)
{
	const char *ch = r->www_auth;

	if (!ch)
		return 0;
	if (strncasecmp(ch, "Bearer", 6) == 0) {
		if (fetch_token(g, ch, err) < 0)
			return -1;
		return 1;
	}
	if (strncasecmp(ch, "Basic", 5) == 0 && g->auth && g->auth->username && !g->basic) {
		g->basic = true;
		return 1;
	}
	return 0;
}

/* GET with auth: one retry after a 401 challenge is answered. */
static int reg_get(struct registry *g, const char *url, const char *accept, struct response *r,
		   struct k8c_error *err)
{
	for (int attempt = 0;; attempt++) {
		int fd = r->fd;

		if (http_get(g, url, accept, true, r, err) < 0)
			return -1;
		if (r->status != 401 || attempt > 0)
			return 0;
		switch (authorize(g, r, err)) {
		case -1:
			return -1;
		case 0:
			return 0;
		}
		/* Start the body again. */
		response_clear(r);
		r->fd = fd;
		if (fd >= 0 && (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0))
			return k8c_error_errno(err, EIO, errno, "truncate");
	}
}

static bool host_is_loopback(const char *host)
{
	_cleanup_free_ char *h = k8c_xstrdup(host);
	char *colon;

	if (h[0] == '[') {
		char *end = strchr(h, ']');

		if (end)
			*end = '\0';
		return strcmp(h + 1, "::1") == 0;
	}
	colon = strrchr(h, ':');
	if (colon)
		*colon = '\0';
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0;
}

/* GET /v2/: choose the scheme; learn (and answer) the challenge. */
static int ping(struct registry *g, struct k8c_error *err)
{
	bool may_plain = (g->auth && g->auth->insecure) || host_is_loopback(g->host);
	struct response r = {.fd = -1};
	_cleanup_free_ char *url = NULL;
	int rc;

	/* Insecure registries, and loopback ones as Docker treats them: TLS unverified first,
	 * then plain HTTP when TLS fails. */
	g->verify_tls = !may_plain;
	g->base = k8c_xasprintf("https://%s", g->host);
	url = k8c_xasprintf("%s/v2/", g->base);
	rc = http_get(g, url, NULL, false, &r, err);
	if (rc < 0 && may_plain) {
		k8c_error_clear(err);
		response_clear(&r);
		free(g->base);
		free(url);
		g->base = k8c_xasprintf("http://%s", g->host);
		g->plain_http = true;
		url = k8c_xasprintf("%s/v2/", g->base);
		rc = http_get(g, url, NULL, false, &r, err);
	}
	if (rc < 0) {
		response_clear(&r);
		return -1;
	}
	if (r.status == 401 && r.www_auth) {
		rc = authorize(g, &r, err);
		response_clear(&r);
		return rc < 0 ? -1 : 0;
	}
	if (r.status != 200 && r.status != 401) {
		k8c_error_set(err, EIO, "%s does not serve the registry API v2 (GET /v2/: %ld)",
			      g->host, r.status);
		response_clear(&r);
		return -1;
	}
	response_clear(&r);
	return 0;
}

static const char *accept_manifests =
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST;

static int status_error(struct registry *g, const struct response *r, const char *what,
			struct k8c_error *err)
{
	_cleanup_free_ char *msg = NULL;
	_cleanup_json_ json_t *j = r->buf ? json_loadb(r->buf, r->len, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);

	if (e)
		msg = k8c_xasprintf("%s: %s",
				    json_string_value(json_object_get(e, "code"))
					    ? json_string_value(json_object_get(e, "code"))
					    : "error",
				    json_string_value(json_object_get(e, "message"))
					    ? json_string_value(json_object_get(e, "message"))
					    : "");
	if (r->status == 401 || r->status == 403)
		return k8c_error_set(err, EACCES,
				     "pull access denied, repository does not exist or may require "
				     "authorization: server message: %s",
				     msg		? msg
				     : r->status == 401 ? "401 Unauthorized"
							: "403 Forbidden");
	if (r->status == 404)
		return k8c_error_set(err, ENOENT, "%s: not found", what);
	return k8c_error_set(err, EIO, "%s: unexpected status %ld%s%s", what, r->status,
			     msg ? ": " : "", msg ? msg : "");
}

/* A manifest or index by tag or digest into memory. */
static int get_manifest(struct registry *g, const char *reference, struct response *r,
			struct k8c_error *err)
{
	_cleanup_free_ char *url =
		k8c_xasprintf("%s/v2/%s/manifests/%s", g->base, g->ref->path, reference);

	const char *what =
		image_digest_valid(reference) && !g->ref->digest ? reference : g->ref->full;

	if (reg_get(g, url, accept_manifests, r, err) < 0)
		return -1;
	if (r->status != 200)
		return status_error(g, r, what, err);
	if (!r->buf)
		return k8c_error_set(err, EIO, "manifest %s: empty answer", reference);
	return 0;
}

static int pull_fetch(void *ctx, const char *digest, const char *media_type, bool manifest,
		      struct k8c_error *err)
{
	struct registry *g = ctx;
	struct response r = {.fd = -1};
	_cleanup_free_ char *url = NULL, *tmp = NULL;
	int rc = -1;

	if (manifest) {
		if (get_manifest(g, digest, &r, err) == 0)
			rc = image_blob_put_mem(g->s, r.buf, r.len, digest, NULL, err);
		response_clear(&r);
		return rc < 0 ? k8c_error_wrap(err, "failed to copy: %s", digest) : 0;
	}
	tmp = image_tmp_name(g->s, "pull");
	r.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (r.fd < 0)
		return k8c_error_errno(err, EIO, errno, "create %s", tmp);
	url = k8c_xasprintf("%s/v2/%s/blobs/%s", g->base, g->ref->path, digest);
	if (reg_get(g, url, NULL, &r, err) < 0)
		goto out;
	if (r.status != 200) {
		status_error(g, &r, digest, err);
		goto out;
	}
	close(r.fd);
	r.fd = -1;
	rc = image_blob_put_file(g->s, tmp, false, digest, NULL, NULL, err);
out:
	if (r.fd >= 0)
		close(r.fd);
	unlink(tmp);
	response_clear(&r);
	return rc < 0 ? k8c_error_wrap(err, "failed to copy: %s", digest) : 0;
}

int image_pull(struct k8c_image_store *s, const struct image_ref *ref,
	       const struct k8c_pull_auth *auth, struct k8c_error *err)
{
	struct registry g = {.s = s, .ref = ref, .auth = auth};
	struct response r = {.fd = -1};
	struct image_source src = {pull_fetch, &g};
	char digest[IMAGE_DIGEST_LEN + 1];
	_cleanup_json_ json_t *m = NULL;
	const char *mt;
	int rc = -1;

	g.curl = curl_easy_init();
	if (!g.curl)
		return k8c_error_set(err, EIO, "curl_easy_init failed");
	g.host = k8c_xstrdup(strcmp(ref->domain, "docker.io") == 0 ? "registry-1.docker.io"
								   : ref->domain);
	if (ping(&g, err) < 0 ||
	    get_manifest(&g, ref->digest ? ref->digest : ref->tag, &r, err) < 0) {
		k8c_error_wrap(err, "failed to resolve reference \"%s\"", ref->full);
		goto out;
	}
	/* Pinned by digest: the registry must give exactly that. */
	if (image_blob_put_mem(s, r.buf, r.len, ref->digest, digest, err) < 0) {
		k8c_error_wrap(err, "failed to resolve reference \"%s\"", ref->full);
		goto out;
	}
	if (image_manifest_parse(r.buf, r.len, r.content_type, &m, err) < 0) {
		k8c_error_wrap(err, "manifest %s", digest);
		goto out;
	}
	mt = json_string_value(json_object_get(m, "mediaType"));
	rc = image_store_tree(s, &src, digest, mt, ref->full, err);
out:
	response_clear(&r);
	free(g.host);
	free(g.base);
	free(g.token);
	curl_easy_cleanup(g.curl);
	if (rc < 0)
		k8c_error_wrap(err, "failed to pull and unpack image \"%s\"", ref->full);
	return rc;
}

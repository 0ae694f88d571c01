/* Routing, discovery, /version, health and the Status errors of the Kubernetes API. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cleanup.h"

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 504:
		return "Gateway Timeout";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static void send_body(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
	req->res.status = status;
	req->res.reason = reason_phrase(status);
	req->res.content_length = len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
		       strlen(ctype));
	h2o_send_inline(req, body, len);
}

void api_send_json(h2o_req_t *req, int status, json_t *body)
{
	_cleanup_free_ char *s = json_dumps(body, JSON_COMPACT);

	if (!s) {
		send_body(req, 500, "text/plain", "json encoding failed\n", 21);
		return;
	}
	send_body(req, status, "application/json", s, strlen(s));
}

json_t *api_status_new(int code, const char *reason, const char *message)
{
	return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
			 "v1", "metadata", "status", "Failure", "message", message, "reason",
			 reason, "code", code);
}

void api_send_status(h2o_req_t *req, int status, const char *reason, json_t *details,
		     const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	_cleanup_json_ json_t *st = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	st = api_status_new(status, reason, msg);
	if (details)
		json_object_set_new(st, "details", details);
	api_send_json(req, status, st);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *url_decode(const char *s, size_t len)
{
	char *out = k8c_xmalloc(len + 1), *o = out;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

char *api_query(h2o_req_t *req, const char *name)
{
	const char *p, *end;
	size_t nlen = strlen(name);

	if (req->query_at == SIZE_MAX)
		return NULL;
	p = req->path.base + req->query_at + 1;
	end = req->path.base + req->path.len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pend = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pend - p));
		const char *kend = eq ? eq : pend;
		_cleanup_free_ char *key = url_decode(p, (size_t)(kend - p));

		if (strlen(key) == nlen && memcmp(key, name, nlen) == 0)
			return eq ? url_decode(eq + 1, (size_t)(pend - eq - 1)) : k8c_xstrdup("");
		p = pend + 1;
	}
	return NULL;
}

void api_send_invalid(h2o_req_t *req, const char *group, const char *kind, const char *name,
		      json_t *causes)
{
	char *buf = NULL;
	size_t len = 0, i, n = json_array_size(causes);
	FILE *f = open_memstream(&buf, &len);
	json_t *c;

	if (!f) {
		json_decref(causes);
		api_send_status(req, 422, "Invalid", NULL, "%s \"%s\" is invalid", kind, name);
		return;
	}
	if (n > 1)
		fputc('[', f);
	json_array_foreach(causes, i, c)
	{
		fprintf(f, "%s%s: %s", i ? ", " : "",
			json_string_value(json_object_get(c, "field")),
			json_string_value(json_object_get(c, "message")));
	}
	if (n > 1)
		fputc(']', f);
	fclose(f);
	api_send_status(req, 422, "Invalid",
			json_pack("{s:s, s:s, s:s, s:o}", "name", name, "group", group, "kind",
				  kind, "causes", causes),
			"%s%s%s \"%s\" is invalid: %s", kind, *group ? "." : "", group, name, buf);
	free(buf);
}

int api_dry_run(h2o_req_t *req, const char *options_kind, bool *dry)
{
	_cleanup_free_ char *v = api_query(req, "dryRun");
	_cleanup_free_ char *msg = NULL;

	*dry = false;
	if (!v || !*v)
		return 0;
	if (strcmp(v, "All") == 0) {
		*dry = true;
		return 0;
	}
	msg = k8c_xasprintf("Unsupported value: \"%s\": supported values: \"All\"", v);
	api_send_invalid(req, "meta.k8s.io", options_kind, "",
			 json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueNotSupported",
				   "message", msg, "field", "dryRun"));
	return -1;
}

bool api_query_bool(h2o_req_t *req, const char *name)
{
	_cleanup_free_ char *v = api_query(req, name);

	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

bool api_wants_table(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
	h2o_iovec_t v;

	if (i < 0)
		return false;
	v = req->headers.entries[i].value;
	/* the first alternative decides: kubectl lists Table before plain JSON */
	for (size_t k = 0; k + 8 <= v.len; k++) {
		if (v.base[k] == ',')
			return false;
		if (memcmp(v.base + k, "as=Table", 8) == 0)
			return memmem(v.base, v.len, "g=meta.k8s.io", 13) != NULL;
	}
	return false;
}

void api_set_resource_version(json_t *obj, int64_t rev)
{
	json_t *meta = json_object_get(obj, "metadata");
	char s[24];

	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(obj, "metadata", meta);
	}
	snprintf(s, sizeof(s), "%lld", (long long)rev);
	json_object_set_new(meta, "resourceVersion", json_string(s));
}

void api_send_store_error(h2o_req_t *req, const struct k8c_error *err, const char *kind,
			  const char *name)
{
	const char *msg = err->msg ? err->msg : "store error";
	json_t *details = json_pack("{s:s, s:s}", "name", name ? name : "", "kind", kind);

	switch (err->code) {
	case STORE_E_NOT_FOUND:
		api_send_status(req, 404, "NotFound", details, "%s \"%s\" not found", kind, name);
		break;
	case STORE_E_EXISTS:
		api_send_status(req, 409, "AlreadyExists", details, "%s \"%s\" already exists",
				kind, name);
		break;
	case STORE_E_CONFLICT:
		api_send_status(req, 409, "Conflict", details,
				"Operation cannot be fulfilled on %s \"%s\": the object has been "
				"modified; please apply your changes to the latest version and try "
				"again",
				kind, name);
		break;
	case STORE_E_EXPIRED:
		json_decref(details);
		api_send_status(req, 410, "Expired", NULL, "%s", msg);
		break;
	case STORE_E_FUTURE:
		json_decref(details);
		api_send_status(req, 504, "Timeout", NULL, "Too large resource version: %s", msg);
		break;
	default:
		json_decref(details);
		api_send_status(req, 500, "InternalError", NULL, "Internal error occurred: %s",
				msg);
	}
}

static void send_version(struct api *api, h2o_req_t *req)
{
	char minor[16], git[32];
	_cleanup_json_ json_t *v = NULL;

	snprintf(minor, sizeof(minor), "%d", api->kube_minor);
	snprintf(git, sizeof(git), "v1.%d.0", api->kube_minor);
	v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor", minor,
		      "gitVersion", git, "gitCommit", "k8c-" K8C_VERSION, "gitTreeState", "clean",
		      "buildDate", "1970-01-01T00:00:00Z", "goVersion", "none", "compiler", "gcc",
		      "platform", "linux/amd64");
	api_send_json(req, 200, v);
}

static void send_api_versions(struct api *api, h2o_req_t *req)
{
	_cleanup_json_ json_t *v =
		json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
			  "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
			  api->server_address);

	api_send_json(req, 200, v);
}

static void send_api_groups(h2o_req_t *req)
{
	_cleanup_json_ json_t *v = api_registry_group_list();

	api_send_json(req, 200, v);
}

static void send_core_resources(h2o_req_t *req)
{
	_cleanup_json_ json_t *v = api_registry_discovery();

	api_send_json(req, 200, v);
}

static bool path_is(h2o_iovec_t p, const char *s)
{
	size_t n = strlen(s);

	return p.len == n && memcmp(p.base, s, n) == 0;
}

static bool method_is(h2o_req_t *req, const char *m)
{
	return path_is(req->method, m);
}

/*
 * /api/v1/... and /apis/{group}/{version}/... : {res}[/{name}[/{sub}]] for cluster-scoped
 * resources and lists across namespaces, namespaces/{ns}/{res}[/{name}[/{sub}]] for namespaced
 * ones. false when the path is not a resource path (the caller answers discovery or 404).
 */
static bool route_resource(struct api *api, h2o_req_t *req, h2o_iovec_t p)
{
	char *all[8], **seg, buf[1024], *save = NULL, *tok;
	const struct api_resource *r;
	const char *group, *version;
	size_t n = 0;

	if (p.len >= sizeof(buf))
		return false;
	memcpy(buf, p.base, p.len);
	buf[p.len] = '\0';
	for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (n == 8)
			return false;
		all[n++] = tok;
	}
	if (n >= 3 && strcmp(all[0], "api") == 0 && strcmp(all[1], "v1") == 0) {
		group = "", version = "v1", seg = all + 2, n -= 2;
	} else if (n >= 4 && strcmp(all[0], "apis") == 0) {
		group = all[1], version = all[2], seg = all + 3, n -= 3;
	} else {
		return false;
	}
	if (*group == '\0' && n == 3 && strcmp(seg[0], "namespaces") == 0 &&
	    strcmp(seg[2], "bindings") == 0)
		return api_pods_serve(api, req, seg[1], NULL, "binding");
	/* namespaces/{ns}/{res}... is a namespaced path, namespaces/{ns}/status|finalize are not */
	if (strcmp(seg[0], "namespaces") == 0 && n >= 3 &&
	    !(*group == '\0' && n == 3 &&
	      (strcmp(seg[2], "status") == 0 || strcmp(seg[2], "finalize") == 0))) {
		r = api_registry_lookup(group, version, seg[2], strlen(seg[2]));
		if (!r || !r->namespaced || n > 5)
			return false;
		api_resource_serve(api, req, r, seg[1], n > 3 ? seg[3] : NULL,
				   n > 4 ? seg[4] : NULL);
		return true;
	}
	r = api_registry_lookup(group, version, seg[0], strlen(seg[0]));
	if (!r || n > 3 || (r->namespaced && n > 1))
		return false;
	api_resource_serve(api, req, r, NULL, n > 1 ? seg[1] : NULL, n > 2 ? seg[2] : NULL);
	return true;
}

/* GET /apis/{group} and /apis/{group}/{version}; false when neither is served. */
static bool send_group_discovery(h2o_req_t *req, h2o_iovec_t p)
{
	char buf[512], *group, *version;
	_cleanup_json_ json_t *v = NULL;

	if (p.len <= 6 || p.len >= sizeof(buf) || memcmp(p.base, "/apis/", 6) != 0)
		return false;
	memcpy(buf, p.base + 6, p.len - 6);
	buf[p.len - 6] = '\0';
	group = buf;
	version = strchr(buf, '/');
	if (version) {
		*version++ = '\0';
		if (strchr(version, '/'))
			return false;
	}
	v = version ? api_registry_discovery_gv(group, version) : api_registry_group(group);
	if (!v)
		return false;
	api_send_json(req, 200, v);
	return true;
}

void api_handle(struct api *api, h2o_req_t *req)
{
	h2o_iovec_t p = req->path_normalized;

	if (p.len > 1 && p.base[p.len - 1] == '/')
		p.len--;
	if (route_resource(api, req, p))
		return;
	if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
		api_send_status(req, 405, "MethodNotAllowed", NULL,
				"the server does not allow this method on the requested resource");
		return;
	}
	if (path_is(p, "/version")) {
		send_version(api, req);
	} else if (path_is(p, "/healthz") || path_is(p, "/livez") || path_is(p, "/readyz")) {
		send_body(req, 200, "text/plain; charset=utf-8", "ok", 2);
	} else if (path_is(p, "/api")) {
		send_api_versions(api, req);
	} else if (path_is(p, "/apis")) {
		send_api_groups(req);
	} else if (path_is(p, "/api/v1")) {
		send_core_resources(req);
	} else if (send_group_discovery(req, p)) {
		/* answered */
	} else if (path_is(p, "/openapi/v3") ||
		   (p.len > 12 && memcmp(p.base, "/openapi/v3/", 12) == 0)) {
		api_openapi_serve(req, p);
	} else if (path_is(p, "/openapi/v2")) {
		/* an empty protobuf document passes kubectl's validation gate (KUBECTL.md) */
		send_body(req, 200, "application/octet-stream", "", 0);
	} else {
		api_send_status(req, 404, "NotFound", NULL,
				"the server could not find the requested resource (path %.*s)",
				(int)(p.len > 256 ? 256 : p.len), p.base);
	}
}

void api_shutdown(struct api *api)
{
	while (api->watches)
		api_watch_close(api->watches);
}

/*
 * Credentials for a pull from imagePullSecrets: a kubernetes.io/dockerconfigjson Secret's
 * .dockerconfigjson ({"auths": {"KEY": {...}}}) or a legacy kubernetes.io/dockercfg .dockercfg
 * ({"KEY": {...}}). KEY is matched against the image as kubelet's keyring does
 * (pkg/credentialprovider): an optional scheme, a host whose dot-separated parts may be globs
 * ("*.example.com"), an optional port that must be equal, and a path that must be a prefix of the
 * repository path, component by component; the longest matching key wins. The Docker Hub keys
 * ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io") name docker.io.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "image_int.h"

struct key {
	char *host, *port, *path; /* port and path may be empty */
};

static void key_clear(struct key *k)
{
	free(k->host);
	free(k->port);
	free(k->path);
}

static void key_parse(const char *s, struct key *k)
{
	const char *p = strstr(s, "://");
	_cleanup_free_ char *hostport = NULL;
	char *colon;
	size_t n;

	p = p ? p + 3 : s;
	n = strcspn(p, "/");
	hostport = strndup(p, n);
	p += n;
	while (*p == '/')
		p++;
	k->path = k8c_xstrdup(p);
	n = strlen(k->path);
	while (n && k->path[n - 1] == '/')
		k->path[--n] = '\0';
	/* Docker Hub's API version suffixes are not repository paths. */
	if (strcmp(k->path, "v1") == 0 || strcmp(k->path, "v2") == 0)
		k->path[0] = '\0';
	colon = strrchr(hostport, ':');
	if (colon && !strchr(colon, ']')) {
		*colon = '\0';
		k->port = k8c_xstrdup(colon + 1);
	} else {
		k->port = k8c_xstrdup("");
	}
	for (char *c = hostport; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (strcmp(hostport, "index.docker.io") == 0 ||
	    strcmp(hostport, "registry-1.docker.io") == 0)
		k->host = k8c_xstrdup("docker.io");
	else
		k->host = k8c_steal_ptr(hostport);
}

/* Host globs match part by part: "*.example.com" matches "a.example.com", not "a.b.example.com". */
static bool host_match(const char *glob, const char *host)
{
	_cleanup_free_ char *g = k8c_xstrdup(glob), *h = k8c_xstrdup(host);
	char *gs = NULL, *hs = NULL, *gp, *hp;

	gp = strtok_r(g, ".", &gs);
	hp = strtok_r(h, ".", &hs);
	while (gp && hp) {
		if (fnmatch(gp, hp, 0) != 0)
			return false;
		gp = strtok_r(NULL, ".", &gs);
		hp = strtok_r(NULL, ".", &hs);
	}
	return !gp && !hp;
}

static bool path_prefix(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	return n == 0 || (strncmp(prefix, path, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static int decode_auth(const char *b64, char **user, char **pass)
{
	size_t n = strlen(b64);
	_cleanup_free_ unsigned char *out = k8c_xmalloc(n / 4 * 3 + 4);
	int len;
	char *colon;

	if (n == 0 || n % 4 != 0)
		return -1;
	len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -1;
	while (len > 0 && n >= 1 && b64[n - 1] == '=') {
		len--;
		n--;
	}
	out[len] = '\0';
	if (memchr(out, '\0', (size_t)len))
		return -1;
	colon = strchr((char *)out, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	*user = k8c_xstrdup((char *)out);
	*pass = k8c_xstrdup(colon + 1);
	return 0;
}

int k8c_image_auth_lookup(const char *docker_config, size_t len, const char *ref, char **username,
			  char **password, struct k8c_error *err)
{
	_cleanup_json_ json_t *j = NULL;
	struct image_ref r;
	json_error_t jerr;
	json_t *auths, *v;
	const char *name;
	size_t best = 0;

	*username = *password = NULL;
	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	j = json_loadb(docker_config, len, 0, &jerr);
	if (!json_is_object(j)) {
		image_ref_clear(&r);
		return k8c_error_set(err, EINVAL, "docker config: %s",
				     j ? "not a JSON object" : jerr.text);
	}
	auths = json_object_get(j, "auths");
	if (!auths)
		auths = j; /* .dockercfg: the keys at the top */
	if (!json_is_object(auths)) {
		image_ref_clear(&r);
		return k8c_error_set(err, EINVAL, "docker config: \"auths\" is not an object");
	}
	json_object_foreach(auths, name, v)
	{
		struct key k = {0};
		_cleanup_free_ char *user = NULL, *pass = NULL, *rhost = NULL;
		const char *rport, *auth;
		size_t score;
		char *colon;

		if (!json_is_object(v))
			continue;
		key_parse(name, &k);
		rhost = k8c_xstrdup(r.domain);
		colon = strrchr(rhost, ':');
		rport = "";
		if (colon && !strchr(colon, ']')) {
			*colon = '\0';
			rport = colon + 1;
		}
		score = strlen(k.host) + strlen(k.port) + strlen(k.path) + 1;
		if (!*k.host || !host_match(k.host, rhost) || strcmp(k.port, rport) != 0 ||
		    !path_prefix(k.path, r.path) || score <= best) {
			key_clear(&k);
			continue;
		}
		key_clear(&k);
		auth = json_string_value(json_object_get(v, "auth"));
		if (auth && *auth) {
			if (decode_auth(auth, &user, &pass) < 0) {
				image_ref_clear(&r);
				free(*username);
				free(*password);
				*username = *password = NULL;
				return k8c_error_set(err, EINVAL,
						     "docker config: %s: \"auth\" is not base64 of "
						     "user:password",
						     name);
			}
		} else if (json_string_value(json_object_get(v, "username"))) {
			user = k8c_xstrdup(json_string_value(json_object_get(v, "username")));
			pass = k8c_xstrdup(
				json_string_value(json_object_get(v, "password"))
					? json_string_value(json_object_get(v, "password"))
					: "");
		} else {
			continue;
		}
		free(*username);
		free(*password);
		*username = k8c_steal_ptr(user);
		*password = k8c_steal_ptr(pass);
		best = score;
	}
	image_ref_clear(&r);
	return 0;
}

/*
 * The image store (docs/agent.md "Images"). Layout under the root directory:
 *
 *   oci-layout, index.json      an OCI image layout: index.json lists one descriptor per tag,
 *                               named by the annotation io.containerd.image.name
 *   blobs/sha256/<hex>          manifests, indexes, configs and layer tarballs, by digest
 *   layers/<diff-id hex>/       each layer unpacked once, overlayfs-ready (whiteouts converted)
 *   tmp/<pid>-...               work in progress; left-overs of dead processes are removed
 *   locks/<diff-id hex>         flock(2) while one process fetches and unpacks that layer
 *   gc.lock, index.lock         flock(2): writers of content hold gc.lock shared, removal holds
 *                               it exclusive; index.json is rewritten under index.lock
 *
 * Every file is written under tmp/ and renamed into place (blobs after their sha256 is checked,
 * layers after they are unpacked and synced), and index.json is replaced last, so a crash never
 * leaves a half image: at worst unreferenced blobs, which the next removal collects.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "fsutil.h"
#include "image.h"
#include "image_int.h"

/* ------------------------------------------------------------------------------------------ */
/* References */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A path component: [a-z0-9]+ separated by ".", "_", "__" or runs of "-". */
static bool path_component_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	while (i < n) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_')) {
			i++;
		} else if (s[i] == '_' && s[i + 1] == '_') {
			i += 2;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool domain_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_';

		if (!word && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

bool image_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != IMAGE_DIGEST_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void image_ref_clear(struct image_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->full);
	free(r->repo);
	memset(r, 0, sizeof(*r));
}

/* As containerd's (distribution/reference) ParseNormalizedNamed followed by TagNameOnly. */
int image_ref_parse(const char *ref, struct image_ref *out, struct k8c_error *err)
{
	_cleanup_free_ char *name = NULL;
	char *at, *slash, *colon, *rest;

	memset(out, 0, sizeof(*out));
	if (!ref || !*ref)
		return k8c_error_set(err, EINVAL, "invalid reference format: empty image name");
	if (strlen(ref) == 64 && strspn(ref, "0123456789abcdef") == 64)
		return k8c_error_set(err, EINVAL,
				     "invalid reference format: \"%s\": cannot specify 64-byte "
				     "hexadecimal strings",
				     ref);
	name = k8c_xstrdup(ref);
	at = strchr(name, '@');
	if (at) {
		*at = '\0';
		if (!image_digest_valid(at + 1))
			return k8c_error_set(err, EINVAL,
					     "invalid reference format: \"%s\": bad digest", ref);
		out->digest = k8c_xstrdup(at + 1);
	}
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!tag_valid(colon + 1)) {
			image_ref_clear(out);
			return k8c_error_set(err, EINVAL,
					     "invalid reference format: \"%s\": bad tag", ref);
		}
		out->tag = k8c_xstrdup(colon + 1);
	}
	slash = strchr(name, '/');
	if (slash) {
		size_t n = (size_t)(slash - name);
		bool upper = false;

		for (size_t i = 0; i < n; i++)
			upper |= name[i] >= 'A' && name[i] <= 'Z';
		if (memchr(name, '.', n) || memchr(name, ':', n) ||
		    (n == 9 && strncmp(name, "localhost", 9) == 0) || upper) {
			*slash = '\0';
			out->domain = k8c_xstrdup(name);
			rest = slash + 1;
		} else {
			out->domain = k8c_xstrdup("docker.io");
			rest = name;
		}
	} else {
		out->domain = k8c_xstrdup("docker.io");
		rest = name;
	}
	if (strcmp(out->domain, "index.docker.io") == 0) {
		free(out->domain);
		out->domain = k8c_xstrdup("docker.io");
	}
	if (strcmp(out->domain, "docker.io") == 0 && !strchr(rest, '/'))
		out->path = k8c_xasprintf("library/%s", rest);
	else
		out->path = k8c_xstrdup(rest);
	if (!domain_valid(out->domain)) {
		image_ref_clear(out);
		return k8c_error_set(err, EINVAL, "invalid reference format: \"%s\": bad registry",
				     ref);
	}
	for (const char *p = out->path;;) {
		const char *e = strchrnul(p, '/');

		if (!path_component_valid(p, (size_t)(e - p))) {
			bool upper = false;

			for (const char *q = out->path; *q; q++)
				upper |= *q >= 'A' && *q <= 'Z';
			image_ref_clear(out);
			return k8c_error_set(err, EINVAL, "invalid reference format: \"%s\": %s",
					     ref,
					     upper ? "repository name must be lowercase"
						   : "bad repository name");
		}
		if (!*e)
			break;
		p = e + 1;
	}
	if (!out->tag && !out->digest)
		out->tag = k8c_xstrdup("latest");
	out->repo = k8c_xasprintf("%s/%s", out->domain, out->path);
	out->full = k8c_xasprintf("%s%s%s%s%s", out->repo, out->tag ? ":" : "",
				  out->tag ? out->tag : "", out->digest ? "@" : "",
				  out->digest ? out->digest : "");
	return 0;
}

int k8c_image_normalize(const char *ref, char **out, struct k8c_error *err)
{
	struct image_ref r;

	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	*out = k8c_steal_ptr(r.full);
	image_ref_clear(&r);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Store, blobs */

#include <ftw.h>

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

int image_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, remove_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

char *image_tmp_name(struct k8c_image_store *s, const char *what)
{
	static unsigned counter;
	unsigned char rnd[6];
	FILE *f = fopen("/dev/urandom", "re");
	unsigned long long r = 0;

	if (f && fread(rnd, 1, sizeof(rnd), f) == sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			r = r << 8 | rnd[i];
	if (f)
		fclose(f);
	return k8c_xasprintf("%s/tmp/%d-%s-%u-%llx", s->root, (int)getpid(), what,
			     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED), r);
}

char *image_blob_path(struct k8c_image_store *s, const char *digest)
{
	return k8c_xasprintf("%s/blobs/sha256/%s", s->root, digest + 7);
}

bool image_blob_exists(struct k8c_image_store *s, const char *digest)
{
	_cleanup_free_ char *p = image_blob_path(s, digest);

	return access(p, F_OK) == 0;
}

static void digest_hex(EVP_MD_CTX *ctx, char *out)
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_DigestFinal_ex(ctx, md, &n);
	strcpy(out, "sha256:");
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static int hash_fd(int fd, char *out, int64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char buf[65536];
	ssize_t n;
	int64_t total = 0;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += n;
	}
	digest_hex(ctx, out);
	EVP_MD_CTX_free(ctx);
	if (size)
		*size = total;
	return n < 0 ? -1 : 0;
}

static int fsync_dir(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -1 : fsync(fd);
}

int image_blob_put_file(struct k8c_image_store *s, const char *path, bool keep, const char *want,
			char *digest_out, int64_t *size_out, struct k8c_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *dst = NULL, *tmp = NULL, *dir = NULL;
	char digest[IMAGE_DIGEST_LEN + 1];
	int64_t size;

	if (fd < 0)
		return k8c_error_errno(err, EIO, errno, "open %s", path);
	if (hash_fd(fd, digest, &size) < 0)
		return k8c_error_errno(err, EIO, errno, "read %s", path);
	if (want && strcmp(want, digest) != 0)
		return k8c_error_set(err, EINVAL, "blob %s: content has digest %s (corrupt)", want,
				     digest);
	if (digest_out)
		strcpy(digest_out, digest);
	if (size_out)
		*size_out = size;
	dst = image_blob_path(s, digest);
	if (access(dst, F_OK) == 0) {
		if (!keep)
			unlink(path);
		return 0;
	}
	if (fsync(fd) < 0)
		return k8c_error_errno(err, EIO, errno, "fsync %s", path);
	if (keep) {
		tmp = image_tmp_name(s, "blob");
		if (link(path, tmp) < 0)
			return k8c_error_errno(err, EIO, errno, "link %s", path);
		path = tmp;
	}
	if (rename(path, dst) < 0) {
		int e = errno;

		if (tmp)
			unlink(tmp);
		return k8c_error_errno(err, EIO, e, "store blob %s", digest);
	}
	dir = k8c_xasprintf("%s/blobs/sha256", s->root);
	fsync_dir(dir);
	return 0;
}

int image_blob_put_mem(struct k8c_image_store *s, const void *buf, size_t len, const char *want,
		       char *digest_out, struct k8c_error *err)
{
	_cleanup_free_ char *tmp = image_tmp_name(s, "blob");
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	const char *p = buf;
	size_t left = len;

	if (fd < 0)
		return k8c_error_errno(err, EIO, errno, "create %s", tmp);
	while (left) {
		ssize_t n = write(fd, p, left);

		if (n < 0) {
			int e = errno;

			unlink(tmp);
			return k8c_error_errno(err, EIO, e, "write %s", tmp);
		}
		p += n;
		left -= (size_t)n;
	}
	if (image_blob_put_file(s, tmp, false, want, digest_out, NULL, err) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A blob into memory, its digest checked. */
static int blob_read(struct k8c_image_store *s, const char *digest, char **out, size_t *len,
		     struct k8c_error *err)
{
	_cleanup_free_ char *path = image_blob_path(s, digest);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0, n = 0;
	EVP_MD_CTX *ctx;
	char got[IMAGE_DIGEST_LEN + 1];

	if (!f)
		return k8c_error_errno(err, errno == ENOENT ? ENOENT : EIO, errno, "blob %s",
				       digest);
	for (;;) {
		size_t r;

		if (n == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (64u << 20))
				return k8c_error_set(err, EINVAL, "blob %s: larger than 64 MiB",
						     digest);
			buf = k8c_xrealloc(buf, cap + 1);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f))
		return k8c_error_errno(err, EIO, errno, "read blob %s", digest);
	buf[n] = '\0';
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, buf, n);
	digest_hex(ctx, got);
	EVP_MD_CTX_free(ctx);
	if (strcmp(got, digest) != 0)
		return k8c_error_set(err, EIO, "blob %s: content has digest %s (corrupt)", digest,
				     got);
	*out = k8c_steal_ptr(buf);
	*len = n;
	return 0;
}

static int lock_open(struct k8c_image_store *s, const char *name, int op, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/%s", s->root, name);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return k8c_error_errno(err, EIO, errno, "open %s", path);
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return k8c_error_errno(err, EIO, errno, "lock %s", path);
	return k8c_steal_fd(fd);
}

static void clean_stale_tmp(struct k8c_image_store *s)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/tmp", s->root);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] == '.' || *end != '-' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", dir, de->d_name);
		image_remove_tree(p);
	}
}

struct k8c_image_store *k8c_image_store_open(const char *root, struct k8c_error *err)
{
	static const char *const dirs[] = {"blobs/sha256", "layers", "tmp", "locks"};
	struct k8c_image_store *s;
	char real[PATH_MAX];
	_cleanup_free_ char *layout = NULL;

	if (k8c_mkdir_p(root, 0711) < 0 || !realpath(root, real)) {
		k8c_error_errno(err, EIO, errno, "image store %s", root);
		return NULL;
	}
	s = k8c_xcalloc(1, sizeof(*s));
	s->root = k8c_xstrdup(real);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", s->root, dirs[i]);

		if (k8c_mkdir_p(p, 0711) < 0) {
			k8c_error_errno(err, EIO, errno, "image store %s: mkdir %s", root, p);
			k8c_image_store_close(s);
			return NULL;
		}
	}
	layout = k8c_xasprintf("%s/oci-layout", s->root);
	if (access(layout, F_OK) < 0) {
		static const char text[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
		_cleanup_free_ char *tmp = image_tmp_name(s, "layout");
		FILE *f = fopen(tmp, "we");

		if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, layout) < 0) {
			k8c_error_errno(err, EIO, errno, "image store %s: write oci-layout", root);
			k8c_image_store_close(s);
			return NULL;
		}
	}
	clean_stale_tmp(s);
	return s;
}

void k8c_image_store_close(struct k8c_image_store *s)
{
	if (!s)
		return;
	free(s->root);
	free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* index.json */

static json_t *index_load(struct k8c_image_store *s, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/index.json", s->root);
	json_error_t jerr;
	json_t *idx, *m;

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
				"manifests");
		return idx;
	}
	idx = json_load_file(path, 0, &jerr);
	if (!idx) {
		k8c_error_set(err, EIO, "image store %s: index.json: %s", s->root, jerr.text);
		return NULL;
	}
	m = json_object_get(idx, "manifests");
	if (!json_is_array(m)) {
		json_decref(idx);
		k8c_error_set(err, EIO, "image store %s: index.json: no manifests array", s->root);
		return NULL;
	}
	return idx;
}

static int index_save(struct k8c_image_store *s, json_t *idx, struct k8c_error *err)
{
	_cleanup_free_ char *path = k8c_xasprintf("%s/index.json", s->root);
	_cleanup_free_ char *tmp = image_tmp_name(s, "index");
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return k8c_error_errno(err, EIO, errno, "create %s", tmp);
	if (json_dumpfd(idx, fd, JSON_INDENT(1)) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return k8c_error_errno(err, EIO, e, "image store %s: write index.json", s->root);
	}
	fsync_dir(s->root);
	return 0;
}

static const char *entry_name(json_t *e)
{
	return json_string_value(
		json_object_get(json_object_get(e, "annotations"), "io.containerd.image.name"));
}

static int index_tag(struct k8c_image_store *s, const char *ref, const char *digest,
		     const char *media_type, int64_t size, struct k8c_error *err)
{
	_cleanup_json_ json_t *idx = NULL;
	struct image_ref r;
	json_t *arr, *e, *ann, *desc;
	size_t i;
	int lock, rc;

	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	lock = lock_open(s, "index.lock", LOCK_EX, err);
	if (lock < 0) {
		image_ref_clear(&r);
		return -1;
	}
	idx = index_load(s, err);
	if (!idx) {
		close(lock);
		image_ref_clear(&r);
		return -1;
	}
	ann = json_pack("{s:s}", "io.containerd.image.name", r.full);
	if (r.tag)
		json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(r.tag));
	desc = json_pack("{s:s,s:s,s:I,s:o}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size, "annotations", ann);
	/* A tag moved keeps its place: index.json changes only where it must. */
	arr = json_object_get(idx, "manifests");
	json_array_foreach(arr, i, e)
	{
		const char *n = entry_name(e);

		if (n && strcmp(n, r.full) == 0)
			break;
	}
	if (i < json_array_size(arr)) {
		if (json_equal(json_array_get(arr, i), desc)) {
			json_decref(desc);
			close(lock);
			image_ref_clear(&r);
			return 0;
		}
		json_array_set_new(arr, i, desc);
	} else {
		json_array_append_new(arr, desc);
	}
	rc = index_save(s, idx, err);
	close(lock);
	image_ref_clear(&r);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Manifests */

static bool is_index_type(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

int image_manifest_parse(const void *buf, size_t len, const char *media_type, json_t **out,
			 struct k8c_error *err)
{
	json_error_t jerr;
	_cleanup_json_ json_t *m = json_loadb(buf, len, 0, &jerr);
	_cleanup_free_ char *mt = NULL;
	const char *v;

	if (!m || !json_is_object(m))
		return k8c_error_set(err, EINVAL, "manifest is not a JSON object%s%s",
				     m ? "" : ": ", m ? "" : jerr.text);
	v = json_string_value(json_object_get(m, "mediaType"));
	if (!v || !*v)
		v = media_type;
	if (!v || !*v)
		v = json_object_get(m, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
	mt = k8c_xstrdup(v);
	if (json_integer_value(json_object_get(m, "schemaVersion")) == 1 ||
	    (strcmp(mt, MT_OCI_INDEX) && strcmp(mt, MT_OCI_MANIFEST) &&
	     strcmp(mt, MT_DOCKER_LIST) && strcmp(mt, MT_DOCKER_MANIFEST)))
		return k8c_error_set(
			err, EINVAL,
			"unsupported manifest media type %s (Docker schema 1 and other "
			"formats are not supported)",
			mt);
	json_object_set_new(m, "mediaType", json_string(mt));
	if (is_index_type(mt) ? !json_is_array(json_object_get(m, "manifests"))
			      : (!json_is_object(json_object_get(m, "config")) ||
				 !json_is_array(json_object_get(m, "layers"))))
		return k8c_error_set(err, EINVAL, "%s without %s", mt,
				     is_index_type(mt) ? "manifests" : "config and layers");
	*out = k8c_steal_ptr(m);
	return 0;
}

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

int image_index_pick(json_t *idx, json_t **out, struct k8c_error *err)
{
	json_t *arr = json_object_get(idx, "manifests"), *e, *only = NULL;
	_cleanup_free_ char *have = k8c_xstrdup("");
	size_t i, n = 0;

	json_array_foreach(arr, i, e)
	{
		json_t *p = json_object_get(e, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));
		const char *mt = json_string_value(json_object_get(e, "mediaType"));

		if (!image_digest_valid(json_string_value(json_object_get(e, "digest"))))
			continue;
		/* Attestations (buildx) are manifests with platform unknown/unknown. */
		if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, host_arch()) == 0 &&
		    !is_index_type(mt)) {
			*out = e;
			return 0;
		}
		if (!p) {
			only = e;
			n++;
		}
		if (os && arch) {
			char *h = k8c_xasprintf("%s%s%s/%s", have, *have ? ", " : "", os, arch);

			free(have);
			have = h;
		}
	}
	if (n == 1 && json_array_size(arr) == 1) {
		*out = only;
		return 0;
	}
	return k8c_error_set(err, ENOENT,
			     "no match for platform linux/%s in manifest list (has %s)",
			     host_arch(), *have ? have : "none");
}

static int source_fetch(const struct image_source *src, struct k8c_image_store *s,
			const char *digest, const char *mt, bool manifest, struct k8c_error *err)
{
	if (image_blob_exists(s, digest))
		return 0;
	if (!src || !src->fetch)
		return k8c_error_set(err, ENOENT, "blob %s is missing", digest);
	return src->fetch(src->ctx, digest, mt, manifest, err);
}

static char *layer_dir(struct k8c_image_store *s, const char *diff_id)
{
	return k8c_xasprintf("%s/layers/%s", s->root, diff_id + 7);
}

static int layer_ensure(struct k8c_image_store *s, const char *digest, const char *diff_id,
			struct k8c_error *err)
{
	_cleanup_free_ char *dst = layer_dir(s, diff_id);
	_cleanup_free_ char *tmp = NULL, *blob = NULL;

	if (access(dst, F_OK) == 0)
		return 0;
	tmp = image_tmp_name(s, "layer");
	if (mkdir(tmp, 0755) < 0)
		return k8c_error_errno(err, EIO, errno, "mkdir %s", tmp);
	blob = image_blob_path(s, digest);
	if (image_layer_unpack(blob, tmp, digest, diff_id, err) < 0) {
		image_remove_tree(tmp);
		return k8c_error_wrap(err, "layer %s", digest);
	}
	{
		_cleanup_close_ int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0)
			syncfs(fd);
	}
	if (rename(tmp, dst) < 0) {
		int e = errno;

		image_remove_tree(tmp);
		/* Another process unpacked the same layer first. */
		if (e == EEXIST || e == ENOTEMPTY)
			return 0;
		return k8c_error_errno(err, EIO, e, "layer %s: rename into place", digest);
	}
	{
		_cleanup_free_ char *layers = k8c_xasprintf("%s/layers", s->root);

		fsync_dir(layers);
	}
	return 0;
}

/* The manifest (not index) an entry resolves to, loaded and parsed. */
static int load_manifest(struct k8c_image_store *s, const char *digest, const char *mt,
			 json_t **out, char *manifest_digest, struct k8c_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	json_t *m, *pick;

	if (blob_read(s, digest, &buf, &len, err) < 0)
		return -1;
	if (image_manifest_parse(buf, len, mt, &m, err) < 0)
		return k8c_error_wrap(err, "manifest %s", digest);
	if (is_index_type(json_string_value(json_object_get(m, "mediaType")))) {
		_cleanup_free_ char *child = NULL;
		const char *cmt;
		int rc;

		if (image_index_pick(m, &pick, err) < 0) {
			json_decref(m);
			return -1;
		}
		child = k8c_xstrdup(json_string_value(json_object_get(pick, "digest")));
		cmt = json_string_value(json_object_get(pick, "mediaType"));
		_cleanup_free_ char *cmt_copy = cmt ? k8c_xstrdup(cmt) : NULL;
		json_decref(m);
		_cleanup_free_ char *cbuf = NULL;
		if (blob_read(s, child, &cbuf, &len, err) < 0)
			return -1;
		rc = image_manifest_parse(cbuf, len, cmt_copy, &m, err);
		if (rc < 0)
			return k8c_error_wrap(err, "manifest %s", child);
		if (is_index_type(json_string_value(json_object_get(m, "mediaType")))) {
			json_decref(m);
			return k8c_error_set(err, EINVAL, "manifest %s: nested index", child);
		}
		if (manifest_digest)
			strcpy(manifest_digest, child);
	} else if (manifest_digest) {
		strcpy(manifest_digest, digest);
	}
	*out = m;
	return 0;
}

/* config.rootfs.diff_ids of a manifest's config, checked against its layers. */
static int load_config(struct k8c_image_store *s, json_t *manifest, json_t **config,
		       struct k8c_error *err)
{
	const char *cd =
		json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"));
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	json_t *c, *diffs;
	size_t len;

	if (!image_digest_valid(cd))
		return k8c_error_set(err, EINVAL, "manifest: config has no sha256 digest");
	if (blob_read(s, cd, &buf, &len, err) < 0)
		return -1;
	c = json_loadb(buf, len, 0, &jerr);
	if (!c)
		return k8c_error_set(err, EINVAL, "config %s: %s", cd, jerr.text);
	diffs = json_object_get(json_object_get(c, "rootfs"), "diff_ids");
	if (!json_is_array(diffs) ||
	    json_array_size(diffs) != json_array_size(json_object_get(manifest, "layers"))) {
		json_decref(c);
		return k8c_error_set(err, EINVAL,
				     "config %s: rootfs.diff_ids does not match the manifest's "
				     "layers",
				     cd);
	}
	for (size_t i = 0; i < json_array_size(diffs); i++)
		if (!image_digest_valid(json_string_value(json_array_get(diffs, i)))) {
			json_decref(c);
			return k8c_error_set(err, EINVAL, "config %s: diff_id %zu is not sha256",
					     cd, i);
		}
	*config = c;
	return 0;
}

int image_store_tree(struct k8c_image_store *s, const struct image_source *src, const char *digest,
		     const char *media_type, const char *ref, struct k8c_error *err)
{
	_cleanup_json_ json_t *top = NULL, *m = NULL, *config = NULL;
	_cleanup_free_ char *buf = NULL;
	const char *mt, *cd;
	json_t *layers, *l, *diffs;
	size_t len, i;
	struct stat st;

	if (source_fetch(src, s, digest, media_type, true, err) < 0)
		return -1;
	if (blob_read(s, digest, &buf, &len, err) < 0)
		return -1;
	if (image_manifest_parse(buf, len, media_type, &top, err) < 0)
		return k8c_error_wrap(err, "manifest %s", digest);
	mt = json_string_value(json_object_get(top, "mediaType"));
	if (is_index_type(mt)) {
		json_t *pick;

		if (image_index_pick(top, &pick, err) < 0)
			return -1;
		if (source_fetch(src, s, json_string_value(json_object_get(pick, "digest")),
				 json_string_value(json_object_get(pick, "mediaType")), true,
				 err) < 0)
			return -1;
	}
	if (load_manifest(s, digest, media_type, &m, NULL, err) < 0)
		return -1;
	cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
	if (!image_digest_valid(cd))
		return k8c_error_set(err, EINVAL, "manifest %s: config has no sha256 digest",
				     digest);
	if (source_fetch(src, s, cd, MT_OCI_CONFIG, false, err) < 0)
		return -1;
	if (load_config(s, m, &config, err) < 0)
		return -1;
	layers = json_object_get(m, "layers");
	diffs = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	json_array_foreach(layers, i, l)
	{
		const char *ld = json_string_value(json_object_get(l, "digest"));
		const char *diff = json_string_value(json_array_get(diffs, i));
		_cleanup_free_ char *dir = NULL;
		char *lockname;
		int lk;

		if (!image_digest_valid(ld))
			return k8c_error_set(err, EINVAL,
					     "manifest %s: layer %zu has no sha256 digest", digest,
					     i);
		dir = layer_dir(s, diff);
		if (access(dir, F_OK) == 0)
			continue;
		/* One process fetches and unpacks a layer; the others wait for it, then find it. */
		lockname = k8c_xasprintf("locks/%s", diff + 7);
		lk = lock_open(s, lockname, LOCK_EX, err);
		free(lockname);
		if (lk < 0)
			return -1;
		if (access(dir, F_OK) == 0) {
			close(lk);
			continue;
		}
		if (source_fetch(src, s, ld, json_string_value(json_object_get(l, "mediaType")),
				 false, err) < 0 ||
		    layer_ensure(s, ld, diff, err) < 0) {
			close(lk);
			return -1;
		}
		close(lk);
	}
	{
		_cleanup_free_ char *p = image_blob_path(s, digest);

		if (stat(p, &st) < 0)
			return k8c_error_errno(err, EIO, errno, "blob %s", digest);
	}
	if (ref && index_tag(s, ref, digest, mt, st.st_size, err) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Lookup */

static char **strv_from_json(json_t *arr)
{
	char **v;
	size_t i, n = 0;
	json_t *e;

	if (!json_is_array(arr))
		return NULL;
	v = k8c_xcalloc(json_array_size(arr) + 1, sizeof(char *));
	json_array_foreach(arr, i, e) if (json_is_string(e)) v[n++] =
		k8c_xstrdup(json_string_value(e));
	return v;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void k8c_image_clear(struct k8c_image *img)
{
	if (!img)
		return;
	free(img->ref);
	free(img->id);
	free(img->image_ref_id);
	strv_free(img->layers);
	strv_free(img->entrypoint);
	strv_free(img->cmd);
	strv_free(img->env);
	free(img->working_dir);
	free(img->user);
	memset(img, 0, sizeof(*img));
}

static int image_fill(struct k8c_image_store *s, json_t *entry, const char *name,
		      struct k8c_image *out, struct k8c_error *err)
{
	_cleanup_json_ json_t *m = NULL, *config = NULL;
	const char *digest = json_string_value(json_object_get(entry, "digest"));
	const char *mt = json_string_value(json_object_get(entry, "mediaType"));
	json_t *diffs, *cfg, *layers, *l;
	struct image_ref r;
	size_t i;
	long long size;

	if (!image_digest_valid(digest))
		return k8c_error_set(err, EIO, "image %s: index.json entry has no digest", name);
	if (load_manifest(s, digest, mt, &m, NULL, err) < 0 || load_config(s, m, &config, err) < 0)
		return k8c_error_wrap(err, "image %s", name);
	if (image_ref_parse(name, &r, err) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->ref = k8c_xstrdup(name);
	out->id = k8c_xstrdup(
		json_string_value(json_object_get(json_object_get(m, "config"), "digest")));
	out->image_ref_id = k8c_xasprintf("%s@%s", r.repo, digest);
	image_ref_clear(&r);
	diffs = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	out->layers = k8c_xcalloc(json_array_size(diffs) + 1, sizeof(char *));
	for (i = 0; i < json_array_size(diffs); i++) {
		out->layers[i] = layer_dir(s, json_string_value(json_array_get(diffs, i)));
		if (access(out->layers[i], F_OK) < 0) {
			k8c_image_clear(out);
			return k8c_error_set(err, EIO,
					     "image %s: layer %s is missing from the store", name,
					     json_string_value(json_array_get(diffs, i)));
		}
	}
	size = json_integer_value(json_object_get(json_object_get(m, "config"), "size"));
	layers = json_object_get(m, "layers");
	json_array_foreach(layers, i, l) size += json_integer_value(json_object_get(l, "size"));
	out->size = size;
	cfg = json_object_get(config, "config");
	out->entrypoint = strv_from_json(json_object_get(cfg, "Entrypoint"));
	out->cmd = strv_from_json(json_object_get(cfg, "Cmd"));
	out->env = strv_from_json(json_object_get(cfg, "Env"));
	if (json_string_length(json_object_get(cfg, "WorkingDir")))
		out->working_dir =
			k8c_xstrdup(json_string_value(json_object_get(cfg, "WorkingDir")));
	if (json_string_length(json_object_get(cfg, "User")))
		out->user = k8c_xstrdup(json_string_value(json_object_get(cfg, "User")));
	return 0;
}

/* The entry for r: by name, or for a reference pinned by digest any tag of the same repository
 * whose manifest (or index) has that digest. */
static json_t *index_find(json_t *idx, const struct image_ref *r)
{
	json_t *arr = json_object_get(idx, "manifests"), *e;
	size_t i;

	json_array_foreach(arr, i, e)
	{
		const char *n = entry_name(e);

		if (n && strcmp(n, r->full) == 0)
			return e;
	}
	if (!r->digest)
		return NULL;
	json_array_foreach(arr, i, e)
	{
		const char *n = entry_name(e);
		const char *d = json_string_value(json_object_get(e, "digest"));
		size_t rl = strlen(r->repo);

		if (n && d && strcmp(d, r->digest) == 0 && strncmp(n, r->repo, rl) == 0 &&
		    (n[rl] == ':' || n[rl] == '@'))
			return e;
	}
	return NULL;
}

int k8c_image_get(struct k8c_image_store *s, const char *ref, struct k8c_image *out,
		  struct k8c_error *err)
{
	_cleanup_json_ json_t *idx = NULL;
	struct image_ref r;
	json_t *e;
	int rc;

	memset(out, 0, sizeof(*out));
	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	idx = index_load(s, err);
	if (!idx) {
		image_ref_clear(&r);
		return -1;
	}
	e = index_find(idx, &r);
	if (!e) {
		k8c_error_set(err, ENOENT, "image %s: not found in the store", r.full);
		image_ref_clear(&r);
		return -1;
	}
	rc = image_fill(s, e, r.full, out, err);
	image_ref_clear(&r);
	return rc;
}

static int image_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8c_image *)a)->ref, ((const struct k8c_image *)b)->ref);
}

int k8c_image_list(struct k8c_image_store *s, struct k8c_image **out, size_t *n,
		   struct k8c_error *err)
{
	_cleanup_json_ json_t *idx = index_load(s, err);
	struct k8c_image *v;
	json_t *arr, *e;
	size_t i, k = 0;

	if (!idx)
		return -1;
	arr = json_object_get(idx, "manifests");
	v = k8c_xcalloc(json_array_size(arr) + 1, sizeof(*v));
	json_array_foreach(arr, i, e)
	{
		const char *name = entry_name(e);

		if (!name)
			continue;
		if (image_fill(s, e, name, &v[k], err) < 0) {
			k8c_image_list_free(v, k);
			return -1;
		}
		k++;
	}
	qsort(v, k, sizeof(*v), image_cmp);
	*out = v;
	*n = k;
	return 0;
}

void k8c_image_list_free(struct k8c_image *imgs, size_t n)
{
	if (!imgs)
		return;
	for (size_t i = 0; i < n; i++)
		k8c_image_clear(&imgs[i]);
	free(imgs);
}

/* ------------------------------------------------------------------------------------------ */
/* Removal and garbage collection */

static void mark(json_t *keep, const char *digest)
{
	if (digest)
		json_object_set_new(keep, digest + 7, json_true());
}

/* Every blob and layer an index entry reaches, into keep_blobs and keep_layers. */
static void mark_entry(struct k8c_image_store *s, json_t *e, json_t *keep_blobs,
		       json_t *keep_layers)
{
	const char *digest = json_string_value(json_object_get(e, "digest"));
	_cleanup_json_ json_t *m = NULL, *config = NULL;
	struct k8c_error err = K8C_ERROR_INIT;
	char md[IMAGE_DIGEST_LEN + 1];
	json_t *l, *diffs;
	size_t i;

	if (!image_digest_valid(digest))
		return;
	mark(keep_blobs, digest);
	if (load_manifest(s, digest, json_string_value(json_object_get(e, "mediaType")), &m, md,
			  &err) < 0) {
		k8c_error_clear(&err);
		return;
	}
	mark(keep_blobs, md);
	mark(keep_blobs,
	     json_string_value(json_object_get(json_object_get(m, "config"), "digest")));
	json_array_foreach(json_object_get(m, "layers"), i, l)
		mark(keep_blobs, json_string_value(json_object_get(l, "digest")));
	if (load_config(s, m, &config, &err) == 0) {
		diffs = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
		json_array_foreach(diffs, i, l) mark(keep_layers, json_string_value(l));
	}
	k8c_error_clear(&err);
}

static void sweep(struct k8c_image_store *s, const char *sub, json_t *keep)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/%s", s->root, sub);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || json_object_get(keep, de->d_name))
			continue;
		_cleanup_free_ char *p = k8c_xasprintf("%s/%s", dir, de->d_name);
		/* A layer leaves layers/ in one rename, then is deleted at leisure. */
		_cleanup_free_ char *tmp = image_tmp_name(s, "gc");
		if (rename(p, tmp) == 0)
			image_remove_tree(tmp);
	}
}

int k8c_image_remove(struct k8c_image_store *s, const char *ref, struct k8c_error *err)
{
	_cleanup_json_ json_t *idx = NULL, *keep_blobs = json_object(),
			      *keep_layers = json_object();
	_cleanup_close_ int gc = -1, ilock = -1;
	struct image_ref r;
	json_t *arr, *e;
	size_t i;
	bool found = false;

	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	gc = lock_open(s, "gc.lock", LOCK_EX, err);
	if (gc < 0)
		goto fail;
	ilock = lock_open(s, "index.lock", LOCK_EX, err);
	if (ilock < 0)
		goto fail;
	idx = index_load(s, err);
	if (!idx)
		goto fail;
	arr = json_object_get(idx, "manifests");
	while ((e = index_find(idx, &r))) {
		for (i = 0; i < json_array_size(arr); i++)
			if (json_array_get(arr, i) == e) {
				json_array_remove(arr, i);
				break;
			}
		found = true;
	}
	if (!found) {
		k8c_error_set(err, ENOENT, "image %s: not found in the store", r.full);
		goto fail;
	}
	if (index_save(s, idx, err) < 0)
		goto fail;
	json_array_foreach(arr, i, e) mark_entry(s, e, keep_blobs, keep_layers);
	sweep(s, "blobs/sha256", keep_blobs);
	sweep(s, "layers", keep_layers);
	/* No import or pull runs (gc.lock is ours): nobody holds a layer lock. */
	sweep(s, "locks", NULL);
	image_ref_clear(&r);
	return 0;
fail:
	image_ref_clear(&r);
	return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Import */

/* An archive entry name made relative and checked: no "..", no empty result. */
static char *clean_name(const char *name)
{
	char *rel = image_entry_rel(name);

	if (rel && !*rel) {
		free(rel);
		return NULL;
	}
	return rel;
}

struct import_ctx {
	struct k8c_image_store *s;
	const char *archive;
	char *dir;     /* where the archive's files were written */
	json_t *links; /* name -> symlink target, for docker-archives that link layers */
};

static int extract_archive(struct import_ctx *c, struct k8c_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc, ret = -1;

	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, c->archive, 65536) != ARCHIVE_OK) {
		k8c_error_set(err, EINVAL, "archive %s: %s", c->archive, archive_error_string(a));
		goto out;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		_cleanup_free_ char *name = clean_name(archive_entry_pathname(e));
		_cleanup_free_ char *path = NULL, *parent = NULL;
		mode_t type = archive_entry_filetype(e);

		if (!name)
			continue;
		path = k8c_xasprintf("%s/%s", c->dir, name);
		parent = k8c_xstrdup(path);
		*strrchr(parent, '/') = '\0';
		if (type == AE_IFDIR) {
			if (k8c_mkdir_p(path, 0700) < 0) {
				k8c_error_errno(err, EIO, errno, "mkdir %s", path);
				goto out;
			}
			continue;
		}
		if (k8c_mkdir_p(parent, 0700) < 0) {
			k8c_error_errno(err, EIO, errno, "mkdir %s", parent);
			goto out;
		}
		if (archive_entry_hardlink(e)) {
			_cleanup_free_ char *t = clean_name(archive_entry_hardlink(e));
			_cleanup_free_ char *tp = t ? k8c_xasprintf("%s/%s", c->dir, t) : NULL;

			if (!tp || link(tp, path) < 0) {
				k8c_error_set(err, EINVAL, "archive %s: bad hard link %s",
					      c->archive, name);
				goto out;
			}
		} else if (type == AE_IFLNK) {
			json_object_set_new(c->links, name, json_string(archive_entry_symlink(e)));
		} else if (type == AE_IFREG) {
			_cleanup_close_ int fd = open(
				path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

			if (fd < 0) {
				k8c_error_errno(err, EINVAL, errno, "archive %s: %s", c->archive,
						name);
				goto out;
			}
			if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
				k8c_error_set(err, EINVAL, "archive %s: %s: %s", c->archive, name,
					      archive_error_string(a));
				goto out;
			}
		}
	}
	if (rc != ARCHIVE_EOF) {
		k8c_error_set(err, EINVAL, "archive %s: %s", c->archive, archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	archive_read_free(a);
	return ret;
}

/* The file an archive name designates, following the archive's symlinks; NULL if none. */
static char *archive_file(struct import_ctx *c, const char *name_in)
{
	_cleanup_free_ char *name = clean_name(name_in);

	for (int hops = 0; name && hops < 16; hops++) {
		_cleanup_free_ char *path = k8c_xasprintf("%s/%s", c->dir, name);
		const char *target;
		struct stat st;
		char *joined, *slash;

		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			return k8c_steal_ptr(path);
		target = json_string_value(json_object_get(c->links, name));
		if (!target)
			return NULL;
		slash = strrchr(name, '/');
		if (target[0] == '/' || !slash) {
			joined = k8c_xstrdup(target);
		} else {
			*slash = '\0';
			joined = k8c_xasprintf("%s/%s", name, target);
		}
		/* Resolve ".." textually (clean_name refuses it). */
		{
			char *parts[256];
			size_t np = 0;
			_cleanup_free_ char *res = NULL;
			char *save = NULL;

			for (char *t = strtok_r(joined, "/", &save); t && np < 256;
			     t = strtok_r(NULL, "/", &save)) {
				if (strcmp(t, "..") == 0) {
					if (np)
						np--;
				} else if (strcmp(t, ".") != 0) {
					parts[np++] = t;
				}
			}
			res = k8c_xstrdup("");
			for (size_t i = 0; i < np; i++) {
				char *r = k8c_xasprintf("%s%s%s", res, i ? "/" : "", parts[i]);

				free(res);
				res = r;
			}
			free(name);
			name = *res ? k8c_steal_ptr(res) : NULL;
		}
		free(joined);
	}
	return NULL;
}

static int oci_fetch(void *ctx, const char *digest, const char *media_type, bool manifest,
		     struct k8c_error *err)
{
	struct import_ctx *c = ctx;
	_cleanup_free_ char *name = k8c_xasprintf("blobs/sha256/%s", digest + 7);
	_cleanup_free_ char *path = archive_file(c, name);

	if (!path)
		return k8c_error_set(err, EINVAL, "archive %s: blob %s is missing", c->archive,
				     digest);
	if (image_blob_put_file(c->s, path, true, digest, NULL, NULL, err) < 0)
		return k8c_error_wrap(err, "archive %s", c->archive);
	return 0;
}

/* The reference an OCI index entry names, normalised; NULL when it names none (or only a tag). */
static char *oci_entry_ref(json_t *e)
{
	json_t *ann = json_object_get(e, "annotations");
	const char *n = json_string_value(json_object_get(ann, "io.containerd.image.name"));
	char *out = NULL;
	struct k8c_error err = K8C_ERROR_INIT;

	if (!n) {
		n = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
		/* By the image-spec, ref.name may be only a tag ("latest"). */
		if (n && !strchr(n, '/') && !strchr(n, ':'))
			n = NULL;
	}
	if (n && k8c_image_normalize(n, &out, &err) < 0)
		k8c_error_clear(&err);
	return out;
}

static int import_oci(struct import_ctx *c, const char *ref, struct k8c_error *err)
{
	_cleanup_free_ char *path = archive_file(c, "index.json");
	_cleanup_json_ json_t *idx = NULL;
	struct image_source src = {oci_fetch, c};
	json_error_t jerr;
	json_t *arr, *e;
	size_t i, tagged = 0;

	idx = path ? json_load_file(path, 0, &jerr) : NULL;
	if (!idx)
		return k8c_error_set(err, EINVAL, "archive %s: index.json: %s", c->archive,
				     path ? jerr.text : "missing");
	arr = json_object_get(idx, "manifests");
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return k8c_error_set(err, EINVAL, "archive %s: index.json lists no manifests",
				     c->archive);
	if (ref && json_array_size(arr) != 1)
		return k8c_error_set(err, EINVAL,
				     "archive %s: holds %zu images; a reference can name only one",
				     c->archive, json_array_size(arr));
	json_array_foreach(arr, i, e)
	{
		_cleanup_free_ char *name = ref ? k8c_xstrdup(ref) : oci_entry_ref(e);
		const char *digest = json_string_value(json_object_get(e, "digest"));

		if (!image_digest_valid(digest))
			return k8c_error_set(
				err, EINVAL,
				"archive %s: index.json entry %zu has no sha256 digest", c->archive,
				i);
		if (!name)
			return k8c_error_set(err, EINVAL,
					     "archive %s: image %s has no name; give a reference",
					     c->archive, digest);
		if (image_store_tree(c->s, &src, digest,
				     json_string_value(json_object_get(e, "mediaType")), name,
				     err) < 0)
			return k8c_error_wrap(err, "archive %s: image %s", c->archive, name);
		tagged++;
	}
	return 0;
}

static bool file_is_gzip(const char *path)
{
	unsigned char m[2] = {0, 0};
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd >= 0 && read(fd, m, 2) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int import_docker(struct import_ctx *c, const char *ref, struct k8c_error *err)
{
	_cleanup_free_ char *path = archive_file(c, "manifest.json");
	_cleanup_json_ json_t *list = NULL;
	json_error_t jerr;
	json_t *img;
	size_t i;

	list = path ? json_load_file(path, 0, &jerr) : NULL;
	if (!list || !json_is_array(list) || json_array_size(list) == 0)
		return k8c_error_set(err, EINVAL, "archive %s: manifest.json: %s", c->archive,
				     !path  ? "missing"
				     : list ? "not a list of images"
					    : jerr.text);
	if (ref && json_array_size(list) != 1)
		return k8c_error_set(err, EINVAL,
				     "archive %s: holds %zu images; a reference can name only one",
				     c->archive, json_array_size(list));
	json_array_foreach(list, i, img)
	{
		const char *cfg_name = json_string_value(json_object_get(img, "Config"));
		json_t *tags = json_object_get(img, "RepoTags"), *lnames, *ln, *layers, *t;
		_cleanup_free_ char *cfg_path = cfg_name ? archive_file(c, cfg_name) : NULL;
		_cleanup_json_ json_t *manifest = NULL;
		_cleanup_free_ char *mbuf = NULL;
		char cd[IMAGE_DIGEST_LEN + 1], md[IMAGE_DIGEST_LEN + 1];
		int64_t csize;
		size_t j;

		if (!cfg_path)
			return k8c_error_set(err, EINVAL,
					     "archive %s: image %zu: config %s missing", c->archive,
					     i, cfg_name ? cfg_name : "(unnamed)");
		if (!ref && json_array_size(tags) == 0)
			return k8c_error_set(
				err, EINVAL,
				"archive %s: image %zu has no RepoTags; give a reference",
				c->archive, i);
		if (image_blob_put_file(c->s, cfg_path, true, NULL, cd, &csize, err) < 0)
			return -1;
		lnames = json_object_get(img, "Layers");
		layers = json_array();
		manifest =
			json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
				  MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest",
				  cd, "size", (json_int_t)csize, "layers", layers);
		json_array_foreach(lnames, j, ln)
		{
			_cleanup_free_ char *lp =
				json_is_string(ln) ? archive_file(c, json_string_value(ln)) : NULL;
			char ld[IMAGE_DIGEST_LEN + 1];
			int64_t lsize;

			if (!lp)
				return k8c_error_set(err, EINVAL,
						     "archive %s: image %zu: layer %zu missing",
						     c->archive, i, j);
			if (image_blob_put_file(c->s, lp, true, NULL, ld, &lsize, err) < 0)
				return -1;
			json_array_append_new(
				layers, json_pack("{s:s,s:s,s:I}", "mediaType",
						  file_is_gzip(lp) ? MT_OCI_LAYER_GZ : MT_OCI_LAYER,
						  "digest", ld, "size", (json_int_t)lsize));
		}
		mbuf = json_dumps(manifest, JSON_COMPACT);
		if (image_blob_put_mem(c->s, mbuf, strlen(mbuf), NULL, md, err) < 0)
			return -1;
		if (ref) {
			if (image_store_tree(c->s, NULL, md, MT_OCI_MANIFEST, ref, err) < 0)
				return k8c_error_wrap(err, "archive %s: image %s", c->archive, ref);
			continue;
		}
		json_array_foreach(tags, j, t)
		{
			const char *tag = json_string_value(t);

			if (!tag)
				continue;
			if (image_store_tree(c->s, NULL, md, MT_OCI_MANIFEST, tag, err) < 0)
				return k8c_error_wrap(err, "archive %s: image %s", c->archive, tag);
		}
	}
	return 0;
}

int k8c_image_pull(struct k8c_image_store *s, const char *ref, const struct k8c_pull_auth *auth,
		   struct k8c_error *err)
{
	_cleanup_close_ int gc = -1;
	struct image_ref r;
	int rc;

	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	gc = lock_open(s, "gc.lock", LOCK_SH, err);
	rc = gc < 0 ? -1 : image_pull(s, &r, auth, err);
	image_ref_clear(&r);
	return rc;
}

int k8c_image_import(struct k8c_image_store *s, const char *archive, const char *ref,
		     struct k8c_error *err)
{
	struct import_ctx c = {.s = s, .archive = archive};
	_cleanup_free_ char *norm = NULL, *idx = NULL, *man = NULL;
	_cleanup_close_ int gc = -1;
	int rc = -1;

	if (ref && k8c_image_normalize(ref, &norm, err) < 0)
		return -1;
	if (access(archive, R_OK) < 0)
		return k8c_error_errno(err, ENOENT, errno, "archive %s", archive);
	gc = lock_open(s, "gc.lock", LOCK_SH, err);
	if (gc < 0)
		return -1;
	c.dir = image_tmp_name(s, "import");
	c.links = json_object();
	if (mkdir(c.dir, 0700) < 0) {
		k8c_error_errno(err, EIO, errno, "mkdir %s", c.dir);
		goto out;
	}
	if (extract_archive(&c, err) < 0)
		goto out;
	idx = archive_file(&c, "index.json");
	man = archive_file(&c, "manifest.json");
	if (idx)
		rc = import_oci(&c, norm, err);
	else if (man)
		rc = import_docker(&c, norm, err);
	else
		k8c_error_set(err, EINVAL,
			      "archive %s: neither an OCI image layout (index.json) nor a "
			      "docker-archive (manifest.json)",
			      archive);
out:
	image_remove_tree(c.dir);
	free(c.dir);
	json_decref(c.links);
	return rc;
}

/*
 * mkimage: build an OCI image archive (an OCI image layout in a tar) from a spec file, with no
 * network and no container engine. The output is reproducible: every entry has the same owner
 * (0:0) and time, layers are gzip'd without a timestamp, so the digests depend only on content.
 *
 *   mkimage [-D NAME=VALUE]... SPEC OUT.tar
 *
 * Spec lines (# comments; ${NAME} is replaced by a -D value):
 *   ref REF                    the image's name (io.containerd.image.name annotation)
 *   entrypoint / cmd JSON      a JSON array of strings
 *   env K=V                    one environment variable (repeatable)
 *   workdir DIR, user USER
 *   include FILE               read another spec (relative to this one)
 *   layer                      start a new layer; the lines below fill it
 *   dir PATH MODE
 *   file PATH SRC MODE         a regular file copied from SRC
 *   text PATH MODE TEXT        a file holding TEXT ("\n" for newlines)
 *   symlink PATH TARGET
 *   applets BUSYBOX DEST       a symlink to DEST for each applet of `BUSYBOX --list-full`
 *   whiteout PATH              PATH is deleted (the AUFS-style ".wh.NAME" entry images carry)
 *   opaque DIR                 DIR hides what lower layers have in it (".wh..wh..opq")
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <archive.h>
#include <archive_entry.h>

#define EPOCH 1577836800 /* 2020-01-01T00:00:00Z */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("mkimage: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("out of memory");
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static la_ssize_t buf_write(struct archive *a, void *ud, const void *p, size_t n)
{
	buf_add(ud, p, n);
	return (la_ssize_t)n;
}

static void sha256_hex(const void *p, size_t n, char out[72])
{
	unsigned char md[32];
	unsigned int len;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* One layer being written. */
struct layer {
	struct archive *a;
	struct buf tar;
	json_t *seen; /* paths already written (parent directories are added once) */
};

static struct archive_entry *entry_new(const char *path, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, EPOCH, 0);
	return e;
}

static void layer_write(struct layer *l, struct archive_entry *e, const void *data, size_t n)
{
	if (archive_write_header(l->a, e) != ARCHIVE_OK)
		die("%s: %s", archive_entry_pathname(e), archive_error_string(l->a));
	if (n && archive_write_data(l->a, data, n) != (la_ssize_t)n)
		die("%s: %s", archive_entry_pathname(e), archive_error_string(l->a));
	json_object_set_new(l->seen, archive_entry_pathname(e), json_true());
	archive_entry_free(e);
}

/* Relative tar path ("bin/sh") of an image path ("/bin/sh"); parents get directory entries. */
static char *layer_path(struct layer *l, const char *path)
{
	char *rel;

	while (*path == '/')
		path++;
	rel = strdup(path);
	for (char *s = rel; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (!json_object_get(l->seen, rel))
			layer_write(l, entry_new(rel, AE_IFDIR, 0755), NULL, 0);
		*s = '/';
	}
	return rel;
}

static void layer_begin(struct layer *l)
{
	memset(l, 0, sizeof(*l));
	l->seen = json_object();
	l->a = archive_write_new();
	archive_write_set_format_pax_restricted(l->a);
	archive_write_set_bytes_in_last_block(l->a, 1);
	if (archive_write_open(l->a, &l->tar, NULL, buf_write, NULL) != ARCHIVE_OK)
		die("layer: %s", archive_error_string(l->a));
}

static char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	char tmp[65536];
	size_t r;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, r);
	fclose(f);
	buf_add(&b, "", 1);
	*n = b.len - 1;
	return (char *)b.p;
}

static struct buf gzip_buf(const struct buf *in)
{
	struct buf out = {0};
	z_stream z = {0};
	unsigned char chunk[65536];
	int rc;

	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2");
	z.next_in = in->p;
	z.avail_in = (uInt)in->len;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = deflate(&z, Z_FINISH);
		buf_add(&out, chunk, sizeof(chunk) - z.avail_out);
	} while (rc == Z_OK);
	if (rc != Z_STREAM_END)
		die("deflate: %d", rc);
	deflateEnd(&z);
	return out;
}

struct image {
	const char *ref;
	json_t *config; /* the "config" object of the image config */
	json_t *diff_ids, *layers, *history;
	struct buf *blobs; /* layer blobs */
	size_t nblobs;
	bool in_layer;
	struct layer cur;
	char **defs; /* NAME=VALUE */
	size_t ndefs;
};

static void layer_end(struct image *img)
{
	struct layer *l = &img->cur;
	char diff[72], dig[72];
	struct buf gz;

	if (!img->in_layer)
		return;
	archive_write_close(l->a);
	archive_write_free(l->a);
	json_decref(l->seen);
	sha256_hex(l->tar.p, l->tar.len, diff);
	gz = gzip_buf(&l->tar);
	free(l->tar.p);
	sha256_hex(gz.p, gz.len, dig);
	json_array_append_new(img->diff_ids, json_string(diff));
	json_array_append_new(img->layers, json_pack("{s:s,s:s,s:I}", "mediaType",
						     "application/vnd.oci.image.layer.v1.tar+gzip",
						     "digest", dig, "size", (json_int_t)gz.len));
	json_array_append_new(img->history,
			      json_pack("{s:s,s:s}", "created", "2020-01-01T00:00:00Z",
					"created_by", "k8c tests/images/mkimage"));
	img->blobs = realloc(img->blobs, (img->nblobs + 1) * sizeof(*img->blobs));
	img->blobs[img->nblobs++] = gz;
	img->in_layer = false;
}

static char *expand(struct image *img, const char *s)
{
	struct buf b = {0};

	while (*s) {
		const char *end;

		if (s[0] == '$' && s[1] == '{' && (end = strchr(s, '}'))) {
			size_t n = (size_t)(end - s - 2);
			const char *val = NULL;

			for (size_t i = 0; i < img->ndefs; i++)
				if (strncmp(img->defs[i], s + 2, n) == 0 && img->defs[i][n] == '=')
					val = img->defs[i] + n + 1;
			if (!val)
				die("${%.*s} is not defined (-D)", (int)n, s + 2);
			buf_add(&b, val, strlen(val));
			s = end + 1;
			continue;
		}
		buf_add(&b, s, 1);
		s++;
	}
	buf_add(&b, "", 1);
	return (char *)b.p;
}

static mode_t parse_mode(const char *s)
{
	char *end;
	unsigned long m = strtoul(s ? s : "", &end, 8);

	if (!s || *end || m > 07777)
		die("bad mode %s", s ? s : "(none)");
	return (mode_t)m;
}

static json_t *parse_array(const char *s)
{
	json_error_t jerr;
	json_t *a = json_loads(s, 0, &jerr);

	if (!json_is_array(a))
		die("not a JSON array: %s", s);
	return a;
}

static void add_applets(struct image *img, const char *busybox, const char *dest)
{
	char *cmd, line[512];
	FILE *p;

	if (asprintf(&cmd, "'%s' --list-full", busybox) < 0)
		die("asprintf");
	p = popen(cmd, "r");
	if (!p)
		die("%s: %s", cmd, strerror(errno));
	while (fgets(line, sizeof(line), p)) {
		char *rel;

		line[strcspn(line, "\n")] = '\0';
		if (!*line || strcmp(line, dest + 1) == 0)
			continue;
		rel = layer_path(&img->cur, line);
		if (!json_object_get(img->cur.seen, rel)) {
			struct archive_entry *e = entry_new(rel, AE_IFLNK, 0777);

			archive_entry_set_symlink(e, dest);
			layer_write(&img->cur, e, NULL, 0);
		}
		free(rel);
	}
	if (pclose(p) != 0)
		die("%s failed", cmd);
	free(cmd);
}

static void read_spec(struct image *img, const char *path);

static void spec_line(struct image *img, const char *spec, char *line)
{
	char *save = NULL, *kw = strtok_r(line, " \t", &save);
	char *a1, *a2, *a3;

	if (!kw || kw[0] == '#')
		return;
	if (strcmp(kw, "ref") == 0) {
		img->ref = strdup(strtok_r(NULL, " \t", &save));
	} else if (strcmp(kw, "entrypoint") == 0 || strcmp(kw, "cmd") == 0) {
		json_object_set_new(img->config, kw[0] == 'e' ? "Entrypoint" : "Cmd",
				    parse_array(save));
	} else if (strcmp(kw, "env") == 0) {
		json_t *env = json_object_get(img->config, "Env");

		if (!env)
			json_object_set_new(img->config, "Env", env = json_array());
		json_array_append_new(env, json_string(save));
	} else if (strcmp(kw, "workdir") == 0 || strcmp(kw, "user") == 0) {
		json_object_set_new(img->config, kw[0] == 'w' ? "WorkingDir" : "User",
				    json_string(strtok_r(NULL, " \t", &save)));
	} else if (strcmp(kw, "include") == 0) {
		char *dir = strdup(spec), *slash = strrchr(dir, '/'), *inc;

		a1 = strtok_r(NULL, " \t", &save);
		if (slash)
			*slash = '\0';
		if (asprintf(&inc, "%s/%s", slash ? dir : ".", a1) < 0)
			die("asprintf");
		read_spec(img, inc);
		free(inc);
		free(dir);
	} else if (strcmp(kw, "layer") == 0) {
		layer_end(img);
		layer_begin(&img->cur);
		img->in_layer = true;
	} else {
		char *rel;

		if (!img->in_layer)
			die("%s: \"%s\" outside a layer", spec, kw);
		a1 = strtok_r(NULL, " \t", &save);
		if (!a1)
			die("%s: %s needs a path", spec, kw);
		if (strcmp(kw, "applets") == 0) {
			add_applets(img, a1, strtok_r(NULL, " \t", &save));
			return;
		}
		rel = layer_path(&img->cur, a1);
		if (strcmp(kw, "dir") == 0) {
			layer_write(
				&img->cur,
				entry_new(rel, AE_IFDIR, parse_mode(strtok_r(NULL, " \t", &save))),
				NULL, 0);
		} else if (strcmp(kw, "file") == 0) {
			size_t n;
			char *data;
			struct archive_entry *e;

			a2 = strtok_r(NULL, " \t", &save);
			a3 = strtok_r(NULL, " \t", &save);
			data = read_file(a2, &n);
			e = entry_new(rel, AE_IFREG, parse_mode(a3));
			archive_entry_set_size(e, (la_int64_t)n);
			layer_write(&img->cur, e, data, n);
			free(data);
		} else if (strcmp(kw, "text") == 0) {
			struct buf b = {0};
			struct archive_entry *e;

			a2 = strtok_r(NULL, " \t", &save);
			for (const char *s = save; s && *s; s++) {
				if (s[0] == '\\' && s[1] == 'n') {
					buf_add(&b, "\n", 1);
					s++;
				} else {
					buf_add(&b, s, 1);
				}
			}
			e = entry_new(rel, AE_IFREG, parse_mode(a2));
			archive_entry_set_size(e, (la_int64_t)b.len);
			layer_write(&img->cur, e, b.p, b.len);
			free(b.p);
		} else if (strcmp(kw, "whiteout") == 0 || strcmp(kw, "opaque") == 0) {
			char *slash = strrchr(rel, '/'), *wh;
			struct archive_entry *e;

			if (kw[0] == 'w' &&
			    asprintf(&wh, "%.*s.wh.%s", slash ? (int)(slash - rel + 1) : 0, rel,
				     slash ? slash + 1 : rel) < 0)
				die("asprintf");
			if (kw[0] == 'o' && asprintf(&wh, "%s/.wh..wh..opq", rel) < 0)
				die("asprintf");
			e = entry_new(wh, AE_IFREG, 0644);
			archive_entry_set_size(e, 0);
			layer_write(&img->cur, e, NULL, 0);
			free(wh);
		} else if (strcmp(kw, "symlink") == 0) {
			struct archive_entry *e = entry_new(rel, AE_IFLNK, 0777);

			archive_entry_set_symlink(e, strtok_r(NULL, " \t", &save));
			layer_write(&img->cur, e, NULL, 0);
		} else {
			die("%s: unknown directive %s", spec, kw);
		}
		free(rel);
	}
}

static void read_spec(struct image *img, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		die("%s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		char *x;

		line[strcspn(line, "\n")] = '\0';
		x = expand(img, line);
		spec_line(img, path, x);
		free(x);
	}
	free(line);
	fclose(f);
}

static void out_entry(struct archive *a, const char *name, mode_t type, const void *p, size_t n)
{
	struct archive_entry *e = entry_new(name, type, type == AE_IFDIR ? 0755 : 0644);

	archive_entry_set_size(e, (la_int64_t)n);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (n && archive_write_data(a, p, n) != (la_ssize_t)n))
		die("%s: %s", name, archive_error_string(a));
	archive_entry_free(e);
}

static void out_blob(struct archive *a, const void *p, size_t n, char digest[72])
{
	char name[100];

	sha256_hex(p, n, digest);
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	out_entry(a, name, AE_IFREG, p, n);
}

int main(int argc, char **argv)
{
	struct image img = {0};
	json_t *cfg, *manifest, *index;
	struct archive *a;
	char *cfg_s, *man_s, *idx_s, *tmp;
	char cfg_d[72], man_d[72], sink[72];
	const char *tag;
	int i = 1;

	for (; i + 1 < argc && strcmp(argv[i], "-D") == 0; i += 2) {
		img.defs = realloc(img.defs, (img.ndefs + 1) * sizeof(char *));
		img.defs[img.ndefs++] = argv[i + 1];
	}
	if (argc - i != 2 || strcmp(argv[1], "--help") == 0) {
		fputs("Usage: mkimage [-D NAME=VALUE]... SPEC OUT.tar\n"
		      "Build an OCI image archive from a spec file (see tests/images/mkimage.c).\n",
		      argc == 2 ? stdout : stderr);
		return argc == 2 ? 0 : 2;
	}
	img.config = json_object();
	img.diff_ids = json_array();
	img.layers = json_array();
	img.history = json_array();
	read_spec(&img, argv[i]);
	layer_end(&img);
	if (!img.ref)
		die("%s: no ref", argv[i]);

	cfg = json_pack("{s:s,s:s,s:s,s:O,s:{s:s,s:O},s:O}", "created", "2020-01-01T00:00:00Z",
			"architecture", "amd64", "os", "linux", "config", img.config, "rootfs",
			"type", "layers", "diff_ids", img.diff_ids, "history", img.history);
	cfg_s = json_dumps(cfg, JSON_COMPACT);
	sha256_hex(cfg_s, strlen(cfg_s), cfg_d);
	manifest = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType",
			     "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
			     "application/vnd.oci.image.config.v1+json", "digest", cfg_d, "size",
			     (json_int_t)strlen(cfg_s), "layers", img.layers);
	man_s = json_dumps(manifest, JSON_COMPACT);
	sha256_hex(man_s, strlen(man_s), man_d);
	tag = strrchr(img.ref, ':');
	index = json_pack("{s:i,s:s,s:[{s:s,s:s,s:I,s:{s:s,s:s}}]}", "schemaVersion", 2,
			  "mediaType", "application/vnd.oci.image.index.v1+json", "manifests",
			  "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
			  man_d, "size", (json_int_t)strlen(man_s), "annotations",
			  "io.containerd.image.name", img.ref, "org.opencontainers.image.ref.name",
			  tag && !strchr(tag, '/') ? tag + 1 : "latest");
	idx_s = json_dumps(index, JSON_COMPACT);

	if (asprintf(&tmp, "%s.tmp", argv[i + 1]) < 0)
		die("asprintf");
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, tmp) != ARCHIVE_OK)
		die("%s: %s", tmp, archive_error_string(a));
	out_entry(a, "oci-layout", AE_IFREG, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	out_entry(a, "index.json", AE_IFREG, idx_s, strlen(idx_s));
	out_entry(a, "blobs", AE_IFDIR, NULL, 0);
	out_entry(a, "blobs/sha256", AE_IFDIR, NULL, 0);
	out_blob(a, man_s, strlen(man_s), sink);
	out_blob(a, cfg_s, strlen(cfg_s), sink);
	for (size_t l = 0; l < img.nblobs; l++)
		out_blob(a, img.blobs[l].p, img.blobs[l].len, sink);
	if (archive_write_close(a) != ARCHIVE_OK)
		die("%s: %s", tmp, archive_error_string(a));
	archive_write_free(a);
	if (rename(tmp, argv[i + 1]) < 0)
		die("rename %s: %s", tmp, strerror(errno));
	printf("%s %s\n", img.ref, man_d);
	return 0;
}

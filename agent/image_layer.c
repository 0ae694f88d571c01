/*
 * Unpacking one layer: the blob is read once; zlib inflates it (gzip layers) so that both the
 * blob digest and the uncompressed diff_id are checked in the same pass that libarchive extracts
 * the tar from. Whiteouts become what overlayfs expects of a lower directory: ".wh.NAME" a
 * character device 0:0 named NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its
 * directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "image_int.h"

#define BUFSZ 65536

struct layer_reader {
	int fd;
	bool gzip, zdone, eof;
	z_stream z;
	EVP_MD_CTX *blob_sha, *diff_sha;
	int err;	  /* errno of a failed read */
	const char *zerr; /* inflate's complaint */
	unsigned char in[BUFSZ], out[BUFSZ];
};

/* The rest of the blob after the last gzip member: only hashed. */
static void drain(struct layer_reader *r)
{
	ssize_t n;

	while ((n = read(r->fd, r->in, BUFSZ)) > 0)
		EVP_DigestUpdate(r->blob_sha, r->in, (size_t)n);
	if (n < 0)
		r->err = errno;
	r->eof = true;
	r->z.avail_in = 0;
}

static la_ssize_t layer_read(struct archive *a, void *ud, const void **buf)
{
	struct layer_reader *r = ud;

	*buf = r->out;
	if (!r->gzip) {
		ssize_t n = read(r->fd, r->out, BUFSZ);

		if (n < 0) {
			r->err = errno;
			archive_set_error(a, errno, "read layer");
			return -1;
		}
		EVP_DigestUpdate(r->blob_sha, r->out, (size_t)n);
		EVP_DigestUpdate(r->diff_sha, r->out, (size_t)n);
		return n;
	}
	for (;;) {
		int zr;
		size_t produced;

		if (r->zdone)
			return 0;
		if (r->z.avail_in == 0 && !r->eof) {
			ssize_t n = read(r->fd, r->in, BUFSZ);

			if (n < 0) {
				r->err = errno;
				archive_set_error(a, errno, "read layer");
				return -1;
			}
			if (n == 0)
				r->eof = true;
			EVP_DigestUpdate(r->blob_sha, r->in, (size_t)n);
			r->z.next_in = r->in;
			r->z.avail_in = (uInt)n;
		}
		r->z.next_out = r->out;
		r->z.avail_out = BUFSZ;
		zr = inflate(&r->z, Z_NO_FLUSH);
		produced = BUFSZ - r->z.avail_out;
		if (zr == Z_STREAM_END) {
			/* Another gzip member may follow; anything else (tar writers pad
			 * their output with zeros) is hashed as part of the blob and ignored. */
			if (r->z.avail_in == 0 && !r->eof) {
				ssize_t n = read(r->fd, r->in, BUFSZ);

				if (n < 0) {
					r->err = errno;
					archive_set_error(a, errno, "read layer");
					return -1;
				}
				if (n == 0)
					r->eof = true;
				EVP_DigestUpdate(r->blob_sha, r->in, (size_t)n);
				r->z.next_in = r->in;
				r->z.avail_in = (uInt)n;
			}
			if (r->z.avail_in >= 2 && r->z.next_in[0] == 0x1f &&
			    r->z.next_in[1] == 0x8b) {
				inflateReset(&r->z);
			} else {
				r->zdone = true;
				if (!r->eof)
					drain(r);
			}
		} else if (zr == Z_BUF_ERROR && r->eof && r->z.avail_in == 0) {
			r->zerr = "truncated gzip stream";
			archive_set_error(a, EIO, "%s", r->zerr);
			return -1;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			r->zerr = r->z.msg ? r->z.msg : "bad gzip data";
			archive_set_error(a, EIO, "gzip: %s", r->zerr);
			return -1;
		}
		if (produced) {
			EVP_DigestUpdate(r->diff_sha, r->out, produced);
			return (la_ssize_t)produced;
		}
	}
}

static void hex_of(EVP_MD_CTX *ctx, char *out)
{
	unsigned char md[32];
	unsigned n = 0;

	EVP_DigestFinal_ex(ctx, md, &n);
	strcpy(out, "sha256:");
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

char *image_entry_rel(const char *name)
{
	_cleanup_free_ char *out = k8c_xcalloc(1, strlen(name) + 1);
	const char *p = name;
	size_t n = 0;

	while (*p) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		len = (size_t)(e - p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return NULL;
		if (len && !(len == 1 && p[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = e;
	}
	out[n] = '\0';
	return k8c_steal_ptr(out);
}

static int open_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
}

/* Mark rel (relative to the layer root) opaque, creating it when the tar did not. */
static int set_opaque(int rootfd, const char *rel, struct k8c_error *err)
{
	_cleanup_close_ int fd = open_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY);

	if (fd < 0 && errno == ENOENT) {
		_cleanup_free_ char *p = k8c_xstrdup(rel);

		for (char *s = p;; s++) {
			if (*s == '/' || !*s) {
				char c = *s;
				_cleanup_close_ int parent = -1;
				char *slash;

				*s = '\0';
				slash = strrchr(p, '/');
				parent = open_beneath(rootfd, slash ? (*slash = '\0', p) : "",
						      O_RDONLY | O_DIRECTORY);
				if (slash)
					*slash = '/';
				if (parent < 0 ||
				    (mkdirat(parent, slash ? slash + 1 : p, 0755) < 0 &&
				     errno != EEXIST))
					return k8c_error_errno(err, EIO, errno, "opaque dir %s",
							       rel);
				*s = c;
				if (!c)
					break;
			}
		}
		fd = open_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY);
	}
	if (fd < 0)
		return k8c_error_errno(err, EIO, errno, "opaque dir %s", rel);
	if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return k8c_error_errno(err, EIO, errno, "opaque dir %s: set trusted.overlay.opaque",
				       rel);
	return 0;
}

/*
 * Parents of rel made real directories of the layer, without libarchive's
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS (which opens every component of the absolute path for every
 * entry: 13 openat per file here): each parent is checked once, top down, with fstatat (its own
 * parents already checked, so nothing is followed) and remembered in dirs; a missing one is made
 * 0755, a symlink or file in the way replaced, as SECURE_SYMLINKS with UNLINK would.
 */
static int ensure_parents(int rootfd, json_t *dirs, const char *rel, struct k8c_error *err)
{
	_cleanup_free_ char *p = k8c_xstrdup(rel);
	char *slash = strrchr(p, '/');

	if (!slash)
		return 0;
	*slash = '\0';
	if (json_object_get(dirs, p))
		return 0;
	for (char *s = p;; s++) {
		char c = *s;
		struct stat st;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (!json_object_get(dirs, p)) {
			if (fstatat(rootfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode)) {
				unlinkat(rootfd, p, 0);
				if (mkdirat(rootfd, p, 0755) < 0)
					return k8c_error_errno(err, EIO, errno,
							       "entry %s: mkdir %s", rel, p);
			}
			json_object_set_new(dirs, p, json_true());
		}
		*s = c;
		if (!c)
			return 0;
	}
}

/* rel is about to become something else than a directory: forget it and what was below it. */
static void forget_dir(json_t *dirs, const char *rel)
{
	size_t n = strlen(rel);
	const char *key;
	json_t *v;
	void *tmp;

	if (!json_object_get(dirs, rel))
		return;
	json_object_foreach_safe(dirs, tmp, key, v)
	{
		if (strncmp(key, rel, n) == 0 && (key[n] == '\0' || key[n] == '/'))
			json_object_del(dirs, key);
	}
}

static int copy_data(struct archive *r, struct archive *w)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	int rc;

	while ((rc = archive_read_data_block(r, &buf, &size, &off)) == ARCHIVE_OK)
		if (archive_write_data_block(w, buf, size, off) < ARCHIVE_OK)
			return -2;
	return rc == ARCHIVE_EOF ? 0 : -1;
}

int image_layer_unpack(const char *blob_path, const char *dest, const char *digest,
		       const char *diff_id, struct k8c_error *err)
{
	struct layer_reader *r = k8c_xcalloc(1, sizeof(*r));
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	_cleanup_close_ int rootfd = -1;
	_cleanup_json_ json_t *dirs = json_object();
	char **opaque = NULL;
	size_t nopaque = 0;
	unsigned char magic[4] = {0};
	char got[IMAGE_DIGEST_LEN + 1];
	int rc, ret = -1;

	r->fd = open(blob_path, O_RDONLY | O_CLOEXEC);
	r->blob_sha = EVP_MD_CTX_new();
	r->diff_sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(r->blob_sha, EVP_sha256(), NULL);
	EVP_DigestInit_ex(r->diff_sha, EVP_sha256(), NULL);
	if (r->fd < 0) {
		k8c_error_errno(err, EIO, errno, "open %s", blob_path);
		goto out;
	}
	if (pread(r->fd, magic, 4, 0) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 &&
	    magic[2] == 0x2f && magic[3] == 0xfd) {
		k8c_error_set(err, EINVAL, "zstd-compressed layers are not supported");
		goto out;
	}
	if (magic[0] == 0x1f && magic[1] == 0x8b) {
		r->gzip = true;
		if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
			k8c_error_set(err, EIO, "inflateInit failed");
			goto out;
		}
	}
	rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		k8c_error_errno(err, EIO, errno, "open %s", dest);
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(
		w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
			   ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
			   ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
	if (archive_read_open(a, r, NULL, layer_read, NULL) != ARCHIVE_OK) {
		k8c_error_set(err, EINVAL, "not a tar archive: %s", archive_error_string(a));
		goto out;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		_cleanup_free_ char *rel = image_entry_rel(archive_entry_pathname(e));
		_cleanup_free_ char *abs = NULL;
		const char *base;

		if (!rel) {
			k8c_error_set(err, EINVAL, "entry %s: path leaves the layer",
				      archive_entry_pathname(e));
			goto out;
		}
		base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
		if (strncmp(base, ".wh.", 4) == 0) {
			size_t dirlen = (size_t)(base - rel);

			if (strcmp(base, ".wh..wh..opq") == 0) {
				opaque = k8c_xrealloc(opaque, (nopaque + 1) * sizeof(char *));
				opaque[nopaque++] =
					k8c_xasprintf("%.*s", (int)(dirlen ? dirlen - 1 : 0), rel);
				continue;
			}
			if (strncmp(base, ".wh..wh.", 8) == 0 || !base[4])
				continue; /* aufs bookkeeping (.wh..wh.plnk...) */
			abs = k8c_xasprintf("%s/%.*s%s", dest, (int)dirlen, rel, base + 4);
			archive_entry_set_hardlink(e, NULL);
			archive_entry_set_symlink(e, NULL);
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_perm(e, 0);
			archive_entry_set_rdev(e, makedev(0, 0));
			archive_entry_set_size(e, 0);
			archive_entry_xattr_clear(e);
		} else {
			abs = *rel ? k8c_xasprintf("%s/%s", dest, rel) : k8c_xstrdup(dest);
		}
		archive_entry_set_pathname(e, abs);
		if (*rel) {
			/* What libarchive will write at abs: a real directory, no symlink on the way. */
			_cleanup_free_ char *target = k8c_xstrdup(abs + strlen(dest) + 1);
			struct stat st;

			if (ensure_parents(rootfd, dirs, target, err) < 0)
				goto out;
			if (archive_entry_filetype(e) == AE_IFDIR && !archive_entry_hardlink(e)) {
				if (fstatat(rootfd, target, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    !S_ISDIR(st.st_mode))
					unlinkat(rootfd, target, 0);
			} else {
				forget_dir(dirs, target);
			}
		}
		if (archive_entry_hardlink(e)) {
			_cleanup_free_ char *t = image_entry_rel(archive_entry_hardlink(e));
			_cleanup_free_ char *tabs = NULL, *tdir = NULL;
			_cleanup_close_ int tfd = -1;

			if (!t || !*t) {
				k8c_error_set(err, EINVAL,
					      "entry %s: hard link target %s leaves the layer", rel,
					      archive_entry_hardlink(e));
				goto out;
			}
			/* The target's directory must be reached without a symlink. */
			tdir = k8c_xstrdup(t);
			*(strrchr(tdir, '/') ? strrchr(tdir, '/') : tdir) = '\0';
			tfd = open_beneath(rootfd, tdir, O_PATH | O_DIRECTORY);
			if (tfd < 0) {
				k8c_error_errno(err, EINVAL, errno, "entry %s: hard link target %s",
						rel, t);
				goto out;
			}
			tabs = k8c_xasprintf("%s/%s", dest, t);
			archive_entry_set_hardlink(e, tabs);
		}
		rc = archive_write_header(w, e);
		if (rc < ARCHIVE_WARN) {
			k8c_error_set(err, EINVAL, "entry %s: %s", rel, archive_error_string(w));
			goto out;
		}
		if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
			int cr = copy_data(a, w);

			if (cr < 0) {
				k8c_error_set(err, EINVAL, "entry %s: %s", rel,
					      archive_error_string(cr == -2 ? w : a));
				goto out;
			}
		}
		if (archive_write_finish_entry(w) < ARCHIVE_WARN) {
			k8c_error_set(err, EINVAL, "entry %s: %s", rel, archive_error_string(w));
			goto out;
		}
		if (*rel && archive_entry_filetype(e) == AE_IFDIR && !archive_entry_hardlink(e))
			json_object_set_new(dirs, abs + strlen(dest) + 1, json_true());
	}
	if (rc != ARCHIVE_EOF) {
		k8c_error_set(err, EINVAL, "%s", r->zerr ? r->zerr : archive_error_string(a));
		goto out;
	}
	if (archive_write_close(w) < ARCHIVE_WARN) {
		k8c_error_set(err, EIO, "%s", archive_error_string(w));
		goto out;
	}
	/* The tar end may come before the end of the stream (padding): hash the rest. */
	for (;;) {
		const void *buf;
		la_ssize_t n = layer_read(a, r, &buf);

		if (n < 0) {
			k8c_error_set(err, EINVAL, "%s", r->zerr ? r->zerr : strerror(r->err));
			goto out;
		}
		if (n == 0)
			break;
	}
	for (size_t i = 0; i < nopaque; i++)
		if (set_opaque(rootfd, opaque[i], err) < 0)
			goto out;
	hex_of(r->blob_sha, got);
	if (digest && strcmp(got, digest) != 0) {
		k8c_error_set(err, EINVAL, "blob has digest %s (corrupt)", got);
		goto out;
	}
	hex_of(r->diff_sha, got);
	if (diff_id && strcmp(got, diff_id) != 0) {
		k8c_error_set(err, EINVAL,
			      "uncompressed layer has digest %s, the image config says %s", got,
			      diff_id);
		goto out;
	}
	ret = 0;
out:
	archive_read_free(a);
	archive_write_free(w);
	for (size_t i = 0; i < nopaque; i++)
		free(opaque[i]);
	free(opaque);
	if (r->gzip)
		inflateEnd(&r->z);
	if (r->fd >= 0)
		close(r->fd);
	EVP_MD_CTX_free(r->blob_sha);
	EVP_MD_CTX_free(r->diff_sha);
	free(r);
	return ret;
}

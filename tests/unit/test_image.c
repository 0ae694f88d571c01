/* agent/image*.c: reference normalisation and layer unpacking (whiteouts, links, modes). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include <archive.h>
#include <archive_entry.h>

#include "image.h"
#include "image_int.h"

static void test_normalize(void **state)
{
	static const char *const ok[][2] = {
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"index.docker.io/library/busybox:x", "docker.io/library/busybox:x"},
		{"foo/bar", "docker.io/foo/bar:latest"},
		{"k8s.gcr.io/pause:3.9", "k8s.gcr.io/pause:3.9"},
		{"registry.k8s.io/e2e-test-images/agnhost:2.43",
		 "registry.k8s.io/e2e-test-images/agnhost:2.43"},
		{"localhost/foo", "localhost/foo:latest"},
		{"localhost:5000/foo", "localhost:5000/foo:latest"},
		{"127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"},
		{"k8c.io/netserver", "k8c.io/netserver:latest"},
		{"a/b_c-d__e.f---g:Tag.1-x", "docker.io/a/b_c-d__e.f---g:Tag.1-x"},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "docker.io/library/"
		 "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{"quay.io/x/"
		 "y:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "quay.io/x/"
		 "y:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	};
	static const char *const bad[] = {
		"",
		"Busybox",
		"docker.io/Library/busybox",
		"a//b",
		"busybox:",
		"busybox:-x",
		"-busybox",
		"busy_-box",
		"busybox@sha256:abc",
		"busybox@md5:0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"bad host!/x",
		"x/",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct k8c_error err = K8C_ERROR_INIT;
		char *out = NULL;

		if (k8c_image_normalize(ok[i][0], &out, &err) < 0)
			fail_msg("%s: %s", ok[i][0], err.msg);
		assert_string_equal(out, ok[i][1]);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct k8c_error err = K8C_ERROR_INIT;
		char *out = NULL;

		if (k8c_image_normalize(bad[i], &out, &err) == 0)
			fail_msg("\"%s\" accepted as %s", bad[i], out);
		assert_int_equal(err.code, EINVAL);
		assert_non_null(strstr(err.msg, "invalid reference format"));
		k8c_error_clear(&err);
	}
}

static void test_ref_parts(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct image_ref r;

	assert_int_equal(image_ref_parse("127.0.0.1:5000/team/app:v2", &r, &err), 0);
	assert_string_equal(r.domain, "127.0.0.1:5000");
	assert_string_equal(r.path, "team/app");
	assert_string_equal(r.tag, "v2");
	assert_null(r.digest);
	assert_string_equal(r.repo, "127.0.0.1:5000/team/app");
	image_ref_clear(&r);
}

/* ---- layers ---- */

struct buf {
	char *p;
	size_t len;
};

static la_ssize_t buf_write(struct archive *a, void *ud, const void *p, size_t n)
{
	struct buf *b = ud;

	b->p = realloc(b->p, b->len + n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return (la_ssize_t)n;
}

static void add(struct archive *a, const char *path, mode_t type, mode_t perm, const char *data,
		const char *link, int uid, int gid)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = data ? strlen(data) : 0;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, 1600000000, 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	archive_entry_set_size(e, (la_int64_t)n);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (n)
		assert_int_equal(archive_write_data(a, data, n), (la_ssize_t)n);
	archive_entry_free(e);
}

static void digest_of(const struct buf *b, char *out)
{
	unsigned char md[32];
	unsigned n;

	EVP_Digest(b->p, b->len, md, &n, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* The crafted layer, uncompressed (tar) and gzip'd (gz). */
static void craft(struct buf *tar, struct buf *gz, bool escape)
{
	for (int pass = 0; pass < 2; pass++) {
		struct archive *a = archive_write_new();

		archive_write_set_format_pax_restricted(a);
		/* The gzip'd one keeps libarchive's zero padding after the gzip stream (as
		 * some tar tools write), the plain one is the bare tar stream (its diff_id). */
		if (pass)
			archive_write_add_filter_gzip(a);
		else
			archive_write_set_bytes_in_last_block(a, 1);
		assert_int_equal(archive_write_open(a, pass ? gz : tar, NULL, buf_write, NULL),
				 ARCHIVE_OK);
		add(a, "./", AE_IFDIR, 0755, NULL, NULL, 0, 0);
		add(a, "./a/", AE_IFDIR, 0750, NULL, NULL, 0, 0);
		add(a, "./a/keep", AE_IFREG, 0644, "kept\n", NULL, 0, 0);
		add(a, "./a/.wh.gone", AE_IFREG, 0644, NULL, NULL, 0, 0);
		add(a, "./a/hl", AE_IFREG, 0644, NULL, "./a/keep", 0, 0);
		add(a, "./a/sl", AE_IFLNK, 0777, NULL, "/etc/nowhere", 0, 0);
		add(a, "./a/suid", AE_IFREG, 04755, "#!/bin/sh\n", NULL, 1000, 2000);
		add(a, "b/", AE_IFDIR, 0755, NULL, NULL, 0, 0);
		add(a, "b/.wh..wh..opq", AE_IFREG, 0644, NULL, NULL, 0, 0);
		add(a, "b/new", AE_IFREG, 0600, "new\n", NULL, 33, 33);
		add(a, "c/d/.wh..wh..opq", AE_IFREG, 0644, NULL, NULL, 0, 0);
		if (escape)
			add(a, "../escape", AE_IFREG, 0644, "out\n", NULL, 0, 0);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
	}
}

static char *write_blob(const struct buf *b)
{
	char *path = strdup("/tmp/k8c-test-image-blob-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
	close(fd);
	return path;
}

static void check_layer(const char *dir)
{
	char p[512], v[8];
	struct stat st, st2;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/a/gone", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 0);
	assert_int_equal(minor(st.st_rdev), 0);
	snprintf(p, sizeof(p), "%s/a/.wh.gone", dir);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/b/.wh..wh..opq", dir);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/b", dir);
	n = getxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	assert_int_equal(n, 1);
	assert_int_equal(v[0], 'y');
	snprintf(p, sizeof(p), "%s/c/d", dir);
	n = getxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	assert_int_equal(n, 1);
	snprintf(p, sizeof(p), "%s/a", dir);
	n = getxattr(p, "trusted.overlay.opaque", v, sizeof(v));
	assert_int_equal(n, -1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(p, sizeof(p), "%s/a/keep", dir);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/a/hl", dir);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	snprintf(p, sizeof(p), "%s/a/sl", dir);
	{
		char t[64] = "";

		assert_int_equal(readlink(p, t, sizeof(t) - 1), 12);
		assert_string_equal(t, "/etc/nowhere");
	}
	snprintf(p, sizeof(p), "%s/a/suid", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 2000);
	snprintf(p, sizeof(p), "%s/b/new", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 33);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_mtime, 1600000000);
}

static char *fresh_dir(void)
{
	char *d = strdup("/tmp/k8c-test-image-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void test_unpack(void **state)
{
	struct buf tar = {0}, gz = {0};
	char diff[72], dig[72];

	if (geteuid() != 0)
		skip(); /* trusted.* xattrs, device nodes and ownership need root */
	craft(&tar, &gz, false);
	digest_of(&tar, diff);
	digest_of(&gz, dig);
	for (int compressed = 0; compressed < 2; compressed++) {
		struct k8c_error err = K8C_ERROR_INIT;
		char *blob = write_blob(compressed ? &gz : &tar);
		char *dir = fresh_dir();

		if (image_layer_unpack(blob, dir, compressed ? dig : diff, diff, &err) < 0)
			fail_msg("unpack: %s", err.msg);
		check_layer(dir);
		image_remove_tree(dir);
		unlink(blob);
		free(blob);
		free(dir);
	}
	free(tar.p);
	free(gz.p);
}

static void test_unpack_bad(void **state)
{
	struct buf tar = {0}, gz = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	char diff[72], dig[72];
	char *blob, *dir;

	if (geteuid() != 0)
		skip();
	/* A diff_id that does not match. */
	craft(&tar, &gz, false);
	digest_of(&tar, diff);
	digest_of(&gz, dig);
	blob = write_blob(&gz);
	dir = fresh_dir();
	diff[10] = diff[10] == '0' ? '1' : '0';
	assert_int_equal(image_layer_unpack(blob, dir, dig, diff, &err), -1);
	assert_non_null(strstr(err.msg, "the image config says"));
	k8c_error_clear(&err);
	image_remove_tree(dir);
	unlink(blob);
	free(blob);
	free(dir);
	free(tar.p);
	free(gz.p);

	/* A path that leaves the layer. */
	memset(&tar, 0, sizeof(tar));
	memset(&gz, 0, sizeof(gz));
	craft(&tar, &gz, true);
	blob = write_blob(&gz);
	dir = fresh_dir();
	assert_int_equal(image_layer_unpack(blob, dir, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "leaves the layer"));
	k8c_error_clear(&err);
	image_remove_tree(dir);
	unlink(blob);
	free(blob);
	free(dir);

	/* A truncated gzip stream. */
	gz.len /= 2;
	blob = write_blob(&gz);
	dir = fresh_dir();
	assert_int_equal(image_layer_unpack(blob, dir, NULL, NULL, &err), -1);
	k8c_error_clear(&err);
	image_remove_tree(dir);
	unlink(blob);
	free(blob);
	free(dir);
	free(tar.p);
	free(gz.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_ref_parts),
		cmocka_unit_test(test_unpack),
		cmocka_unit_test(test_unpack_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

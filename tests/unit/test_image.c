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

/* user:password for ref from config, "-" when none matches, "!" when it is refused. */
static void auth_is(const char *config, const char *ref, const char *want)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char *u = NULL, *p = NULL, got[256];

	if (k8c_image_auth_lookup(config, strlen(config), ref, &u, &p, &err) < 0) {
		assert_non_null(err.msg);
		snprintf(got, sizeof(got), "!");
		k8c_error_clear(&err);
	} else if (!u) {
		assert_null(p);
		snprintf(got, sizeof(got), "-");
	} else {
		snprintf(got, sizeof(got), "%s:%s", u, p);
	}
	if (strcmp(got, want) != 0)
		fail_msg("%s with %s: got %s, want %s", ref, config, got, want);
	free(u);
	free(p);
}

static void test_auth_lookup(void **state)
{
	/* "auth" is base64 of user:password: dTE6cDE= is u1:p1, dTI6cDI= u2:p2, dTM6cDM= u3:p3. */
	static const char hub[] =
		"{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTE6cDE=\"}}}";
	static const char many[] =
		"{\"auths\":{"
		"\"registry.example.com\":{\"auth\":\"dTE6cDE=\"},"
		"\"registry.example.com/team\":{\"auth\":\"dTI6cDI=\"},"
		"\"*.corp.example.com\":{\"username\":\"u3\",\"password\":\"p3\"},"
		"\"127.0.0.1:5000\":{\"auth\":\"dTI6cDI=\"},"
		"\"http://localhost:5000/v2/\":{\"username\":\"u1\",\"password\":\"p1\"}}}";

	auth_is(hub, "busybox", "u1:p1");
	auth_is(hub, "docker.io/foo/bar:1", "u1:p1");
	auth_is(hub, "quay.io/foo/bar", "-");
	auth_is("{\"docker.io\":{\"auth\":\"dTI6cDI=\"}}", "busybox", "u2:p2"); /* .dockercfg */
	auth_is("{\"auths\":{\"registry-1.docker.io\":{\"auth\":\"dTM6cDM=\"}}}", "library/x",
		"u3:p3");
	auth_is(many, "registry.example.com/other/x", "u1:p1");
	auth_is(many, "registry.example.com/team/x:1", "u2:p2");
	auth_is(many, "registry.example.com/teamx/y", "u1:p1");
	auth_is(many, "a.corp.example.com/x", "u3:p3");
	auth_is(many, "a.b.corp.example.com/x", "-");
	auth_is(many, "corp.example.com/x", "-");
	auth_is(many, "127.0.0.1:5000/x", "u2:p2");
	auth_is(many, "127.0.0.1:5001/x", "-");
	auth_is(many, "127.0.0.1/x", "-");
	auth_is(many, "localhost:5000/x/y", "u1:p1");
	auth_is(many, "example.com/x", "-");
	auth_is("{\"auths\":{}}", "busybox", "-");
	auth_is("{\"auths\":{\"docker.io\":{\"auth\":\"not base64!\"}}}", "busybox", "!");
	auth_is("{\"auths\":{\"docker.io\":{\"auth\":\"bm9jb2xvbg==\"}}}", "busybox", "!");
	auth_is("{\"auths\":[]}", "busybox", "!");
	auth_is("[1]", "busybox", "!");
	auth_is("{", "busybox", "!");
	auth_is(hub, "Bad", "!");
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

/* A symlink to a directory outside, then a file "through" it: nothing is written outside. */
static void test_unpack_symlink_escape(void **state)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct buf tar = {0};
	struct archive *a = archive_write_new();
	char *outside = fresh_dir(), *dir = fresh_dir(), *blob, p[512];
	struct stat st;

	if (geteuid() != 0)
		skip();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open(a, &tar, NULL, buf_write, NULL), ARCHIVE_OK);
	add(a, "esc", AE_IFLNK, 0777, NULL, outside, 0, 0);
	add(a, "esc/pwned", AE_IFREG, 0644, "x\n", NULL, 0, 0);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	blob = write_blob(&tar);
	/* libarchive (SECURE_SYMLINKS with UNLINK) replaces the symlink by a directory. */
	if (image_layer_unpack(blob, dir, NULL, NULL, &err) < 0)
		fail_msg("unpack: %s", err.msg);
	snprintf(p, sizeof(p), "%s/pwned", outside);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/esc", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(p, sizeof(p), "%s/esc/pwned", dir);
	assert_int_equal(lstat(p, &st), 0);
	image_remove_tree(dir);
	unlink(blob);
	free(blob);
	free(tar.p);

	/* A hard link whose target goes through a symlink to the outside file: refused. */
	{
		struct stat out_st;
		int fd;

		snprintf(p, sizeof(p), "%s/secret", outside);
		fd = open(p, O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(stat(p, &out_st), 0);
		memset(&tar, 0, sizeof(tar));
		a = archive_write_new();
		archive_write_set_format_pax_restricted(a);
		assert_int_equal(archive_write_open(a, &tar, NULL, buf_write, NULL), ARCHIVE_OK);
		add(a, "esc2", AE_IFLNK, 0777, NULL, outside, 0, 0);
		add(a, "hl", AE_IFREG, 0644, NULL, "esc2/secret", 0, 0);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		blob = write_blob(&tar);
		mkdir(dir, 0700);
		if (image_layer_unpack(blob, dir, NULL, NULL, &err) == 0) {
			snprintf(p, sizeof(p), "%s/hl", dir);
			if (lstat(p, &st) == 0 && st.st_ino == out_st.st_ino)
				fail_msg("hl is a hard link to %s/secret", outside);
			print_message(
				"hard link through a symlink: extracted, not to the outside\n");
		} else {
			print_message("hard link through a symlink: %s\n", err.msg);
		}
		k8c_error_clear(&err);
		image_remove_tree(dir);
		unlink(blob);
		free(blob);
		free(tar.p);
	}

	/* A directory replaced by a symlink to the outside, then a file and a directory below it. */
	memset(&tar, 0, sizeof(tar));
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open(a, &tar, NULL, buf_write, NULL), ARCHIVE_OK);
	add(a, "d/", AE_IFDIR, 0755, NULL, NULL, 0, 0);
	add(a, "d", AE_IFLNK, 0777, NULL, outside, 0, 0);
	add(a, "d/x", AE_IFREG, 0644, "x\n", NULL, 0, 0);
	add(a, "e", AE_IFLNK, 0777, NULL, outside, 0, 0);
	add(a, "e/", AE_IFDIR, 0751, NULL, NULL, 0, 0);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	blob = write_blob(&tar);
	mkdir(dir, 0700);
	if (image_layer_unpack(blob, dir, NULL, NULL, &err) < 0)
		print_message("directory replaced by a symlink: %s\n", err.msg);
	k8c_error_clear(&err);
	snprintf(p, sizeof(p), "%s/x", outside);
	assert_int_equal(lstat(p, &st), -1);
	assert_int_equal(stat(outside, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700); /* mkdtemp's: e/'s 0751 did not go there */
	snprintf(p, sizeof(p), "%s/e", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0751);
	image_remove_tree(dir);
	unlink(blob);
	free(blob);
	free(tar.p);
	image_remove_tree(outside);
	free(dir);
	free(outside);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),   cmocka_unit_test(test_ref_parts),
		cmocka_unit_test(test_auth_lookup), cmocka_unit_test(test_unpack),
		cmocka_unit_test(test_unpack_bad),  cmocka_unit_test(test_unpack_symlink_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

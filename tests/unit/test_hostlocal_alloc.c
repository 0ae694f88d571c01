/* k8c-host-local allocation and store: round robin, exhaustion, requested IPs, release, GC,
 * reboot reclaim, interop with reservations written by the reference, locking. Each test works
 * in its own mkdtemp data dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cleanup.h"
#include "hl_alloc.h"

struct fixture {
	char dir[64];
	struct hl_config cfg;
	struct hl_boot boot;
};

static const struct hl_boot boot_a = {"boot-a", 1000};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/hl-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->boot = boot_a;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = k8c_xasprintf("rm -rf '%s'", f->dir);

	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", f->dir);
	free(cmd);
	hl_config_free(&f->cfg);
	free(f);
	return 0;
}

/* Load an ipam section (JSON text) with dataDir pointing at the fixture. */
static void load(struct fixture *f, const char *ipam_fields, const char *env_ip)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char *text = k8c_xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"net\",\"ipam\":{%s,"
				   "\"dataDir\":\"%s\",\"lockTimeoutMs\":300}}",
				   ipam_fields, f->dir);
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	hl_config_free(&f->cfg);
	if (hl_config_parse(j, env_ip, &f->cfg, &err) < 0)
		fail_msg("config: %s", err.msg);
	json_decref(j);
	free(text);
}

/* ADD; returns the addresses "a/p,b/p" (static buffer) or NULL with err set. */
static const char *add(struct fixture *f, const char *cid, struct k8c_error *err)
{
	static char out[512];
	struct cni_result res;
	size_t i;

	out[0] = '\0';
	if (hl_alloc_add(&f->cfg, &f->boot, cid, "eth0", &res, err) < 0)
		return NULL;
	for (i = 0; i < res.n_ips; i++) {
		char buf[K8C_IPNET_STRLEN];

		if (i)
			strcat(out, ",");
		strcat(out, k8c_ipnet_format(&res.ips[i].address, buf));
	}
	cni_result_free(&res);
	return out;
}

static void add_ok(struct fixture *f, const char *cid, const char *want)
{
	struct k8c_error err = K8C_ERROR_INIT;
	const char *got = add(f, cid, &err);

	if (!got)
		fail_msg("ADD %s: %s", cid, err.msg);
	assert_string_equal(got, want);
}

static void add_fails(struct fixture *f, const char *cid, const char *needle)
{
	struct k8c_error err = K8C_ERROR_INIT;

	assert_null(add(f, cid, &err));
	if (!strstr(err.msg, needle))
		fail_msg("ADD %s: \"%s\" lacks \"%s\"", cid, err.msg, needle);
	k8c_error_clear(&err);
}

static void del_ok(struct fixture *f, const char *cid)
{
	struct k8c_error err = K8C_ERROR_INIT;

	if (hl_alloc_del(&f->cfg, &f->boot, cid, "eth0", &err) < 0)
		fail_msg("DEL %s: %s", cid, err.msg);
}

static bool file_exists(struct fixture *f, const char *name)
{
	char *p = k8c_xasprintf("%s/net/%s", f->dir, name);
	bool r = access(p, F_OK) == 0;

	free(p);
	return r;
}

static void write_file(struct fixture *f, const char *name, const char *content, time_t mtime)
{
	char *p = k8c_xasprintf("%s/net/%s", f->dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	if (mtime) {
		struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};

		utimensat(AT_FDCWD, p, ts, 0);
	}
	free(p);
}

static size_t count_reservations(struct fixture *f)
{
	char *cmd = k8c_xasprintf("ls '%s/net' | grep -c '^[0-9a-f.:]*[0-9a-f]$'", f->dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	assert_non_null(p);
	if (fscanf(p, "%zu", &n) != 1)
		n = 0;
	pclose(p);
	free(cmd);
	return n;
}

static void round_robin(void **state)
{
	struct fixture *f = *state;

	load(f, "\"subnet\":\"10.0.0.0/29\"", NULL);
	add_ok(f, "c1", "10.0.0.2/29"); /* .1 is the gateway */
	add_ok(f, "c2", "10.0.0.3/29");
	del_ok(f, "c1");
	/* Round robin continues after the last reserved address, not at the freed one. */
	add_ok(f, "c3", "10.0.0.4/29");
	add_ok(f, "c4", "10.0.0.5/29");
	add_ok(f, "c5", "10.0.0.6/29");
	add_ok(f, "c6", "10.0.0.2/29"); /* wraps, skipping the gateway */
	add_fails(f, "c7", "no IP addresses available in range set: 10.0.0.1-10.0.0.6");
	assert_int_equal(count_reservations(f), 5);
	/* The files are the reference's format. */
	{
		char *p = k8c_xasprintf("%s/net/10.0.0.2", f->dir), buf[64] = {0};
		int fd = open(p, O_RDONLY);

		assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
		close(fd);
		assert_string_equal(buf, "c6\r\neth0");
		free(p);
	}
}

static void dual_stack_and_rollback(void **state)
{
	struct fixture *f = *state;

	load(f, "\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/126\"}]]", NULL);
	add_ok(f, "c1", "10.0.0.2/24,fd00::2/126");
	add_ok(f, "c2", "10.0.0.3/24,fd00::3/126");
	/* The v6 set is full: the v4 address reserved first must be released again. */
	add_fails(f, "c3", "failed to allocate for range 1");
	assert_false(file_exists(f, "10.0.0.4"));
	assert_int_equal(count_reservations(f), 4);
	del_ok(f, "c1");
	assert_int_equal(count_reservations(f), 2);
	/* As in the reference, the rolled-back attempt still moved last_reserved_ip.0 on. */
	add_ok(f, "c3", "10.0.0.5/24,fd00::2/126");
}

static void requested(void **state)
{
	struct fixture *f = *state;

	load(f, "\"subnet\":\"10.0.0.0/24\"", "10.0.0.50");
	add_ok(f, "c1", "10.0.0.50/24");
	add_fails(f, "c2", "requested IP address 10.0.0.50 is not available");
	load(f, "\"subnet\":\"10.0.0.0/24\"", "10.0.0.1");
	add_fails(f, "c2", "is subnet's gateway");
	/* An address in no range set: nothing may stay reserved. */
	load(f, "\"subnet\":\"10.0.0.0/24\"", "10.9.9.9");
	add_fails(f, "c2", "failed to allocate all requested IPs: 10.9.9.9");
	assert_int_equal(count_reservations(f), 1);
	/* Round robin goes on from the last reservation: the rolled-back 10.0.0.51. */
	load(f, "\"subnet\":\"10.0.0.0/24\"", NULL);
	add_ok(f, "c3", "10.0.0.52/24");
	add_fails(f, "c3", "duplicate allocation is not allowed");
}

static void del_idempotent_and_check(void **state)
{
	struct fixture *f = *state;
	struct k8c_error err = K8C_ERROR_INIT;

	load(f, "\"subnet\":\"10.0.0.0/24\"", NULL);
	del_ok(f, "nobody");
	add_ok(f, "c1", "10.0.0.2/24");
	assert_true(file_exists(f, ".k8c/by-id/c1:eth0#0"));
	assert_int_equal(hl_alloc_check(&f->cfg, &f->boot, "c1", "eth0", &err), 0);
	assert_int_equal(hl_alloc_check(&f->cfg, &f->boot, "c1", "eth1", &err), -1);
	assert_int_equal(err.code, CNI_ERR_UNKNOWN_CONTAINER);
	k8c_error_clear(&err);
	del_ok(f, "c1");
	del_ok(f, "c1");
	assert_false(file_exists(f, "10.0.0.2"));
	assert_false(file_exists(f, ".k8c/by-id/c1:eth0#0"));
	assert_int_equal(hl_alloc_check(&f->cfg, &f->boot, "c1", "eth0", &err), -1);
	k8c_error_clear(&err);
}

static void reference_reservations(void **state)
{
	struct fixture *f = *state;
	struct k8c_error err = K8C_ERROR_INIT;

	load(f, "\"subnet\":\"10.0.0.0/24\"", NULL);
	add_ok(f, "c1", "10.0.0.2/24");
	/* Written behind our back, as the reference plugin would: current and old format. */
	write_file(f, "10.0.0.20", "ref1\r\neth0", 0);
	write_file(f, "10.0.0.21", "ref2", 0);
	assert_int_equal(hl_alloc_check(&f->cfg, &f->boot, "ref1", "eth0", &err), 0);
	add_fails(f, "ref1", "duplicate allocation");
	del_ok(f, "ref1");
	assert_false(file_exists(f, "10.0.0.20"));
	del_ok(f, "ref2");
	assert_false(file_exists(f, "10.0.0.21"));
	/* An address the reference handed to someone else is not ours to release. */
	write_file(f, "10.0.0.2", "other\r\neth0", 0);
	del_ok(f, "c1");
	assert_true(file_exists(f, "10.0.0.2"));
}

static void reboot_reclaim(void **state)
{
	struct fixture *f = *state;
	time_t now = time(NULL);

	load(f, "\"subnet\":\"10.0.0.0/24\"", NULL);
	add_ok(f, "c1", "10.0.0.2/24");
	write_file(f, "10.0.0.30", "old\r\neth0", now - 3600);
	write_file(f, "10.0.0.31", "new\r\neth0", now + 3600);
	/* Same boot: nothing is reclaimed. */
	add_ok(f, "c2", "10.0.0.3/24");
	assert_int_equal(count_reservations(f), 4);
	/* Reboot: our reservations go by boot id, foreign ones by mtime < boot time. */
	f->boot.boot_id = "boot-b";
	f->boot.boot_time = now;
	add_ok(f, "c3", "10.0.0.4/24");
	assert_false(file_exists(f, "10.0.0.2"));
	assert_false(file_exists(f, "10.0.0.3"));
	assert_false(file_exists(f, "10.0.0.30"));
	assert_true(file_exists(f, "10.0.0.31"));
	assert_false(file_exists(f, ".k8c/by-id/c1:eth0#0"));
	assert_true(file_exists(f, ".k8c/by-id/c3:eth0#0"));
	/* Once per boot: a file dated before the boot that appears now survives. */
	write_file(f, "10.0.0.40", "late\r\neth0", now - 3600);
	add_ok(f, "c4", "10.0.0.5/24");
	assert_true(file_exists(f, "10.0.0.40"));
}

static bool valid_only_c2(void *ctx, const char *cid, const char *ifname)
{
	return !strcmp(cid, "c2") && (!ifname || !strcmp(ifname, "eth0"));
}

static void gc(void **state)
{
	struct fixture *f = *state;
	struct k8c_error err = K8C_ERROR_INIT;

	load(f, "\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]", NULL);
	add_ok(f, "c1", "10.0.0.2/24,fd00::2/64");
	add_ok(f, "c2", "10.0.0.3/24,fd00::3/64");
	write_file(f, "10.0.0.9", "ref\r\neth0", 0);
	assert_int_equal(hl_alloc_gc(&f->cfg, &f->boot, valid_only_c2, NULL, &err), 3);
	assert_int_equal(count_reservations(f), 2);
	assert_true(file_exists(f, "fd00::3"));
	assert_false(file_exists(f, ".k8c/by-id/c1:eth0#0"));
	assert_true(file_exists(f, ".k8c/by-id/c2:eth0#0"));
}

static void status(void **state)
{
	struct fixture *f = *state;
	struct k8c_error err = K8C_ERROR_INIT;
	char *file;

	load(f, "\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/126\"}]]", NULL);
	assert_int_equal(hl_alloc_status(&f->cfg, &err), 0);
	add_ok(f, "c1", "10.0.0.2/24,fd00::2/126");
	assert_int_equal(hl_alloc_status(&f->cfg, &err), 0);
	add_ok(f, "c2", "10.0.0.3/24,fd00::3/126");
	assert_int_equal(hl_alloc_status(&f->cfg, &err), -1);
	assert_int_equal(err.code, CNI_ERR_NOT_AVAILABLE);
	assert_non_null(strstr(err.msg, "range set 1"));
	k8c_error_clear(&err);
	/* A dataDir that cannot be created. */
	file = k8c_xasprintf("%s/file", f->dir);
	close(open(file, O_WRONLY | O_CREAT, 0644));
	free(f->cfg.data_dir);
	f->cfg.data_dir = file;
	assert_int_equal(hl_alloc_status(&f->cfg, &err), -1);
	assert_int_equal(err.code, CNI_ERR_NOT_AVAILABLE);
	k8c_error_clear(&err);
}

static void lock_timeout(void **state)
{
	struct fixture *f = *state;
	struct k8c_error err = K8C_ERROR_INIT;
	struct timespec t0, t1;
	char *lock;
	int fd;

	load(f, "\"subnet\":\"10.0.0.0/24\"", NULL);
	add_ok(f, "c1", "10.0.0.2/24");
	lock = k8c_xasprintf("%s/net/lock", f->dir);
	/* flock locks belong to the open file description: a second open conflicts. */
	fd = open(lock, O_RDWR);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_null(add(f, "c2", &err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(err.code, CNI_ERR_TRY_AGAIN);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 250);
	k8c_error_clear(&err);
	close(fd);
	free(lock);
	add_ok(f, "c2", "10.0.0.3/24");
}

static void parallel_adds(void **state)
{
	struct fixture *f = *state;
	const int procs = 6, each = 10;
	int i, status;

	load(f, "\"subnet\":\"10.0.0.0/24\",\"lockTimeoutMs\":20000", NULL);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			int j, bad = 0;

			for (j = 0; j < each; j++) {
				struct k8c_error err = K8C_ERROR_INIT;
				char cid[32];

				snprintf(cid, sizeof(cid), "p%d-%d", i, j);
				if (!add(f, cid, &err))
					bad++;
			}
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0; i < procs; i++) {
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* Every ADD got its own address (a lost race would overwrite or fail). */
	assert_int_equal(count_reservations(f), (size_t)(procs * each));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(dual_stack_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(requested, setup, teardown),
		cmocka_unit_test_setup_teardown(del_idempotent_and_check, setup, teardown),
		cmocka_unit_test_setup_teardown(reference_reservations, setup, teardown),
		cmocka_unit_test_setup_teardown(reboot_reclaim, setup, teardown),
		cmocka_unit_test_setup_teardown(gc, setup, teardown),
		cmocka_unit_test_setup_teardown(status, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(parallel_adds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

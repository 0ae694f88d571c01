#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "cleanup.h"
#include "cni_types.h"
#include "hl_store.h"

#define IO_ERR	    CNI_ERR_IO
#define INDEX_DIR   ".k8c/by-id"
#define STATE_FILE  ".k8c/state"
#define INDEX_MAGIC "k8c-host-local-index 1"
/* On a reservation file: "boot <id>\nip <ip>\n", so that an index link leads to its address. */
#define INDEX_XATTR    "user.k8c-host-local"
#define STATE_MAGIC    "k8c-host-local-state 1"
#define LAST_IP_PREFIX "last_reserved_ip."
#define SMALL_FILE_MAX 4096

/* ---- small helpers ---- */

static int mkdir_p(const char *path, struct k8c_error *err)
{
	_cleanup_free_ char *copy = k8c_xstrdup(path);
	char *p;

	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return k8c_error_errno(err, IO_ERR, errno, "mkdir %s", copy);
		*p = '/';
	}
	if (mkdir(copy, 0755) < 0 && errno != EEXIST)
		return k8c_error_errno(err, IO_ERR, errno, "mkdir %s", copy);
	return 0;
}

/* Read a file of at most SMALL_FILE_MAX-1 bytes into buf (NUL-terminated); length or -1. */
static ssize_t read_small(int dirfd, const char *name, char *buf)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (len < SMALL_FILE_MAX - 1) {
		n = read(fd, buf + len, SMALL_FILE_MAX - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write a file that should not exist yet (an index entry of a new attachment), created with
 * O_EXCL instead of a temporary file renamed over it: one ext4 operation less per ADD. A torn
 * entry (crash mid-write) fails to parse, and a lookup then falls back as for a missing one.
 */
static int write_new(int dirfd, const char *name, const char *data, struct k8c_error *err)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		unlinkat(dirfd, name, 0);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
	}
	if (fd < 0)
		return k8c_error_errno(err, IO_ERR, errno, "create %s", name);
	if (write_all(fd, data, strlen(data)) < 0) {
		int e = errno;

		unlinkat(dirfd, name, 0);
		return k8c_error_errno(err, IO_ERR, e, "write %s", name);
	}
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parse a reservation file: "cid\r\nifname", or the older "cid" (*ifname = NULL). */
static bool parse_owner(char *content, char **cid, char **ifname)
{
	char *s = trim(content), *sep = strstr(s, "\r\n");

	if (!*s)
		return false;
	*cid = s;
	*ifname = NULL;
	if (sep) {
		*sep = '\0';
		*ifname = sep + 2;
	}
	return true;
}

/* Whether a reservation file's content names the attachment. The reference compares the
 * trimmed content with "cid\r\nifname", and with "cid" alone for files of older versions. */
static bool owner_matches(char *content, const char *cid, const char *ifname)
{
	char *c, *i;

	if (!parse_owner(content, &c, &i))
		return false;
	return !strcmp(c, cid) && (!i || !strcmp(i, ifname));
}

static bool ip_owned_by(struct hl_store *s, const char *ipname, const char *cid, const char *ifname)
{
	char buf[SMALL_FILE_MAX];

	if (read_small(s->dirfd, ipname, buf) < 0)
		return false;
	return owner_matches(buf, cid, ifname);
}

/* The index file name: cid and ifname with '%', ':', '/' and non-graphic bytes escaped, joined
 * by ':' (which neither may then contain), so any attachment maps to one safe file name. */
static char *index_name(const char *cid, const char *ifname)
{
	const char *parts[2] = {cid, ifname};
	size_t cap = strlen(INDEX_DIR) + 2 + 3 * (strlen(cid) + strlen(ifname)) + 2;
	char *out = k8c_xmalloc(cap), *p;
	int i;

	p = out + sprintf(out, "%s/", INDEX_DIR);
	for (i = 0; i < 2; i++) {
		const unsigned char *c;

		if (i)
			*p++ = ':';
		for (c = (const unsigned char *)parts[i]; *c; c++) {
			if (isalnum(*c) || *c == '.' || *c == '-' || *c == '_')
				*p++ = (char)*c;
			else
				p += sprintf(p, "%%%02X", *c);
		}
	}
	*p = '\0';
	return out;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Inverse of index_name for a base name (with or without a "#<set>" link suffix); false when it
 * is not one of ours. */
static bool index_name_parse(const char *base, char *cid, char *ifname, size_t len)
{
	const char *end = strchr(base, '#');
	char *out = cid;
	size_t n = 0;
	int part = 0;

	if (!end)
		end = base + strlen(base);
	for (; base < end; base++) {
		if (n + 1 >= len)
			return false;
		if (*base == ':') {
			if (part++)
				return false;
			out[n] = '\0';
			out = ifname;
			n = 0;
		} else if (*base == '%') {
			int h = unhex(base[1]), l = h < 0 ? -1 : unhex(base[2]);

			if (h < 0 || l < 0)
				return false;
			out[n++] = (char)(h * 16 + l);
			base += 2;
		} else {
			out[n++] = *base;
		}
	}
	out[n] = '\0';
	return part == 1 && *cid;
}

struct index_entry {
	bool present;
	char boot[HL_BOOT_ID_MAX];
	struct k8c_ipnet ips[HL_MAX_SETS];
	size_t n;
};

/* Parse "boot <id>" and "ip <ip>" lines into e. */
static void index_parse_lines(char *buf, struct index_entry *e)
{
	char *line, *save = NULL;

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "boot ", 5))
			snprintf(e->boot, sizeof(e->boot), "%s", line + 5);
		else if (!strncmp(line, "ip ", 3) && e->n < HL_MAX_SETS &&
			 k8c_ipnet_parse(line + 3, 0, &e->ips[e->n]) == 0)
			e->n++;
	}
}

/*
 * The index of an attachment is a hard link per address, "<cid:ifname>#<set>", to its
 * reservation file, whose extended attribute names the address and the boot: creating a link
 * allocates no inode, which is what creating a file costs most on ext4 (and more as a busy
 * filesystem fills). Where xattrs are not supported the index is a small file instead.
 */
static bool index_read_links(struct hl_store *s, const char *name, struct index_entry *e)
{
	size_t i;

	for (i = 0; i < HL_MAX_SETS; i++) {
		_cleanup_free_ char *link = k8c_xasprintf("%s#%zu", name, i);
		_cleanup_close_ int fd = openat(s->dirfd, link, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		char buf[SMALL_FILE_MAX];
		ssize_t len;

		if (fd < 0)
			break;
		len = fgetxattr(fd, INDEX_XATTR, buf, sizeof(buf) - 1);
		if (len < 0)
			continue;
		buf[len] = '\0';
		e->present = true;
		index_parse_lines(buf, e);
	}
	return e->present;
}

static void index_read(struct hl_store *s, const char *cid, const char *ifname,
		       struct index_entry *e)
{
	_cleanup_free_ char *name = index_name(cid, ifname);
	char buf[SMALL_FILE_MAX], *line, *save = NULL;

	memset(e, 0, sizeof(*e));
	if (index_read_links(s, name, e))
		return;
	if (read_small(s->dirfd, name, buf) < 0)
		return;
	line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, INDEX_MAGIC))
		return;
	e->present = true;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (!strncmp(line, "boot ", 5))
			snprintf(e->boot, sizeof(e->boot), "%s", line + 5);
		else if (!strncmp(line, "ip ", 3) && e->n < HL_MAX_SETS &&
			 k8c_ipnet_parse(line + 3, 0, &e->ips[e->n]) == 0)
			e->n++;
	}
}

static DIR *opendir_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* ---- boot and state ---- */

int hl_boot_read(char *boot_id, size_t len, long long *boot_time, struct k8c_error *err)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	char buf[SMALL_FILE_MAX];
	size_t cap = 0;

	if (read_small(AT_FDCWD, "/proc/sys/kernel/random/boot_id", buf) < 0)
		return k8c_error_errno(err, IO_ERR, errno, "read /proc/sys/kernel/random/boot_id");
	snprintf(boot_id, len, "%s", trim(buf));
	if (!boot_time)
		return 0;
	*boot_time = 0;
	f = fopen("/proc/stat", "re");
	if (!f)
		return k8c_error_errno(err, IO_ERR, errno, "open /proc/stat");
	while (getline(&line, &cap, f) >= 0)
		if (sscanf(line, "btime %lld", boot_time) == 1)
			return 0;
	return k8c_error_set(err, IO_ERR, "/proc/stat: no btime line");
}

struct state {
	char boot[HL_BOOT_ID_MAX];
	bool legacy;
	long long mtime_sec, mtime_nsec;
};

static bool state_read(struct hl_store *s, struct state *st)
{
	char buf[SMALL_FILE_MAX], *line, *save = NULL;
	int legacy = 1;

	memset(st, 0, sizeof(*st));
	st->legacy = true;
	if (read_small(s->dirfd, STATE_FILE, buf) < 0)
		return false;
	line = strtok_r(buf, "\n", &save);
	if (!line || strcmp(line, STATE_MAGIC))
		return false;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (!strncmp(line, "boot ", 5))
			snprintf(st->boot, sizeof(st->boot), "%s", line + 5);
		else if (sscanf(line, "legacy %d", &legacy) == 1)
			st->legacy = legacy != 0;
		else
			sscanf(line, "mtime %lld %lld", &st->mtime_sec, &st->mtime_nsec);
	}
	return st->boot[0] != '\0';
}

static void state_write(struct hl_store *s)
{
	_cleanup_free_ char *data = NULL;
	_cleanup_close_ int fd = -1;
	struct k8c_error err = K8C_ERROR_INIT;
	struct stat sb;

	if (fstat(s->dirfd, &sb) < 0)
		return;
	data = k8c_xasprintf("%s\nboot %s\nlegacy %d\nmtime %lld %lld\n", STATE_MAGIC, s->boot_id,
			     s->legacy ? 1 : 0, (long long)sb.st_mtim.tv_sec,
			     (long long)sb.st_mtim.tv_nsec);
	/* Rewritten in place, not renamed over: creating an inode on every ADD cost ext4 more
	 * than all else here. A torn state (crash mid-write) fails to parse, which only costs a
	 * sweep of this boot's reservations (none is stale) and scans: safe. */
	fd = openat(s->dirfd, STATE_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || pwrite(fd, data, strlen(data), 0) != (ssize_t)strlen(data) ||
	    ftruncate(fd, (off_t)strlen(data)) < 0)
		unlinkat(s->dirfd, STATE_FILE, 0);
	k8c_error_clear(&err);
}

/*
 * Reclaim what earlier boots reserved: our reservations by the boot id in their index entry,
 * the reference's (no index) by an mtime older than the boot. Counts what survives without an
 * index to decide whether lookups must keep scanning.
 */
static int sweep(struct hl_store *s, struct k8c_error *err)
{
	_cleanup_closedir_ DIR *d = opendir_at(s->dirfd, ".");
	_cleanup_closedir_ DIR *idx = NULL;
	size_t foreign = 0;
	struct dirent *de;

	/* The boot time is read only here: /proc/stat is costly to generate, and this runs once
	 * per boot. */
	if (!s->boot_time) {
		char id[HL_BOOT_ID_MAX];

		if (hl_boot_read(id, sizeof(id), &s->boot_time, err) < 0)
			return -1;
	}

	if (!d)
		return k8c_error_errno(err, IO_ERR, errno, "open %s", s->dir);
	while ((de = readdir(d))) {
		char buf[SMALL_FILE_MAX], *cid, *ifname;
		struct index_entry e = {0};
		struct k8c_ipnet ip;
		struct stat sb;
		bool stale;

		if (k8c_ipnet_parse(de->d_name, 0, &ip) < 0)
			continue;
		if (fstatat(s->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || read_small(s->dirfd, de->d_name, buf) < 0)
			continue;
		if (parse_owner(buf, &cid, &ifname) && ifname)
			index_read(s, cid, ifname, &e);
		if (e.present)
			stale = strcmp(e.boot, s->boot_id) != 0;
		else
			stale = (long long)sb.st_mtim.tv_sec < s->boot_time;
		if (stale) {
			if (unlinkat(s->dirfd, de->d_name, 0) == 0)
				s->changed = true;
		} else if (!e.present) {
			foreign++;
		}
	}
	idx = opendir_at(s->dirfd, INDEX_DIR);
	while (idx && (de = readdir(idx))) {
		char cid[256], ifname[256];
		struct index_entry e;

		if (!index_name_parse(de->d_name, cid, ifname, sizeof(cid)))
			continue;
		index_read(s, cid, ifname, &e);
		if (!e.present || strcmp(e.boot, s->boot_id) != 0)
			unlinkat(dirfd(idx), de->d_name, 0);
	}
	s->legacy = foreign > 0;
	s->state_dirty = true;
	return 0;
}

/* ---- locking ---- */

static void alarm_noop(int sig)
{
	(void)sig;
}

/*
 * Block in flock() until the lock is ours or the timer fires: SIGALRM without SA_RESTART makes
 * flock fail with EINTR. The timer repeats, so a signal that lands just before flock starts
 * waiting does not leave us blocked forever.
 */
static int lock_timeout(int fd, const char *path, long timeout_ms, struct k8c_error *err)
{
	struct sigaction sa = {0}, old_sa;
	struct itimerval it = {0}, off = {0};
	sigset_t alrm, old_mask;
	int r, e;

	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return k8c_error_errno(err, IO_ERR, errno, "lock %s", path);
	sa.sa_handler = alarm_noop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old_sa);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, &old_mask);
	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
	it.it_interval.tv_usec = 50 * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
	r = flock(fd, LOCK_EX);
	e = errno;
	setitimer(ITIMER_REAL, &off, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGALRM, &old_sa, NULL);
	if (r == 0)
		return 0;
	if (e == EINTR)
		return k8c_error_set(err, CNI_ERR_TRY_AGAIN,
				     "lock %s: still held by another process after %ld ms", path,
				     timeout_ms);
	return k8c_error_errno(err, IO_ERR, e, "lock %s", path);
}

/* ---- open / close ---- */

int hl_store_open(struct hl_store *s, const char *data_dir, const char *name,
		  const struct hl_boot *boot, long lock_timeout_ms, struct k8c_error *err)
{
	_cleanup_free_ char *lockpath = NULL;
	struct state st;
	struct stat sb;

	memset(s, 0, sizeof(*s));
	s->dirfd = s->idxfd = s->lockfd = -1;
	s->dir = k8c_xasprintf("%s/%s", data_dir, name);
	/* Open first: mkdir of an existing path costs a lookup per component under each parent's
	 * lock, on every ADD of every pod. */
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0 && errno == ENOENT) {
		if (mkdir_p(s->dir, err) < 0)
			goto fail;
		s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->dirfd < 0) {
		k8c_error_errno(err, IO_ERR, errno, "open %s", s->dir);
		goto fail;
	}
	lockpath = k8c_xasprintf("%s/lock", s->dir);
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lockfd < 0) {
		k8c_error_errno(err, IO_ERR, errno, "open %s", lockpath);
		goto fail;
	}
	if (lock_timeout(s->lockfd, lockpath, lock_timeout_ms, err) < 0)
		goto fail;
	if (faccessat(s->dirfd, INDEX_DIR, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	    ((mkdirat(s->dirfd, ".k8c", 0755) < 0 && errno != EEXIST) ||
	     (mkdirat(s->dirfd, INDEX_DIR, 0755) < 0 && errno != EEXIST))) {
		k8c_error_errno(err, IO_ERR, errno, "mkdir %s/%s", s->dir, INDEX_DIR);
		goto fail;
	}

	if (boot && boot->boot_id) {
		snprintf(s->boot_id, sizeof(s->boot_id), "%s", boot->boot_id);
		s->boot_time = boot->boot_time;
	} else if (hl_boot_read(s->boot_id, sizeof(s->boot_id), NULL, err) < 0) {
		goto fail;
	}
	if (boot && boot->boot_time)
		s->boot_time = boot->boot_time;

	if (!state_read(s, &st) || strcmp(st.boot, s->boot_id) != 0) {
		if (sweep(s, err) < 0)
			goto fail;
	} else {
		s->legacy = st.legacy;
		/* Someone else (the reference plugin) changed the directory since our last write:
		 * reservations without an index may exist. */
		if (fstat(s->dirfd, &sb) == 0 && !s->legacy &&
		    ((long long)sb.st_mtim.tv_sec != st.mtime_sec ||
		     (long long)sb.st_mtim.tv_nsec != st.mtime_nsec)) {
			s->legacy = true;
			s->state_dirty = true;
		}
	}
	return 0;
fail:
	k8c_error_wrap(err, "store %s", s->dir);
	hl_store_close(s);
	return -1;
}

void hl_store_close(struct hl_store *s)
{
	if (s->dirfd >= 0 && s->lockfd >= 0 && (s->changed || s->state_dirty))
		state_write(s);
	/* Closing the last fd of the open file description drops the flock. */
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->idxfd >= 0)
		close(s->idxfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	memset(s, 0, sizeof(*s));
	s->dirfd = s->idxfd = s->lockfd = -1;
}

/* ---- reservations ---- */

int hl_store_reserve(struct hl_store *s, const char *cid, const char *ifname,
		     const struct k8c_ipnet *ip, size_t set_idx, struct k8c_error *err)
{
	_cleanup_free_ char *content = k8c_xasprintf("%s\r\n%s", cid, ifname);
	_cleanup_free_ char *last = k8c_xasprintf(LAST_IP_PREFIX "%zu", set_idx);
	_cleanup_close_ int fd = -1, lfd = -1;
	char name[K8C_IPNET_STRLEN];

	k8c_ip_format(ip, name);
	/* O_EXCL makes the file itself the reservation, as in the reference. */
	fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0)
		return k8c_error_errno(err, IO_ERR, errno, "reserve %s/%s", s->dir, name);
	s->changed = true;
	if (write_all(fd, content, strlen(content)) < 0) {
		int e = errno;

		unlinkat(s->dirfd, name, 0);
		return k8c_error_errno(err, IO_ERR, e, "write %s/%s", s->dir, name);
	}
	if (!s->no_xattr) {
		_cleanup_free_ char *x = k8c_xasprintf("boot %s\nip %s\n", s->boot_id, name);

		/* Only where the filesystem refuses xattrs does the index fall back to files. */
		if (fsetxattr(fd, INDEX_XATTR, x, strlen(x), 0) < 0)
			s->no_xattr = true;
	}
	/* Rewritten in place (not renamed) as the reference does: one inode for both plugins.
	 * Overwritten and then cut to length rather than opened with O_TRUNC: truncating to zero
	 * frees the data block and costs ext4 a journal transaction (0.25 ms, the most expensive
	 * call of an ADD here). */
	lfd = openat(s->dirfd, last, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0 || pwrite(lfd, name, strlen(name), 0) != (ssize_t)strlen(name) ||
	    ftruncate(lfd, (off_t)strlen(name)) < 0) {
		int e = errno;

		unlinkat(s->dirfd, name, 0);
		return k8c_error_errno(err, IO_ERR, e, "write %s/%s", s->dir, last);
	}
	return 1;
}

int hl_store_last_reserved(struct hl_store *s, size_t set_idx, struct k8c_ipnet *ip)
{
	_cleanup_free_ char *last = k8c_xasprintf(LAST_IP_PREFIX "%zu", set_idx);
	char buf[SMALL_FILE_MAX];

	if (read_small(s->dirfd, last, buf) < 0)
		return -1;
	return k8c_ipnet_parse(trim(buf), 0, ip);
}

void hl_store_unreserve(struct hl_store *s, const char *cid, const char *ifname,
			const struct k8c_ipnet *ip)
{
	char name[K8C_IPNET_STRLEN];

	k8c_ip_format(ip, name);
	if (ip_owned_by(s, name, cid, ifname) && unlinkat(s->dirfd, name, 0) == 0)
		s->changed = true;
}

/* Walk every reservation file: fn returns true to release it. Used only in legacy mode, by GC
 * and the boot sweep, never on the common path. */
typedef bool (*scan_fn)(void *ctx, const struct k8c_ipnet *ip, char *cid, char *ifname);

static int scan(struct hl_store *s, scan_fn fn, void *ctx, struct k8c_error *err)
{
	_cleanup_closedir_ DIR *d = opendir_at(s->dirfd, ".");
	struct dirent *de;
	int released = 0;

	if (!d)
		return k8c_error_errno(err, IO_ERR, errno, "open %s", s->dir);
	while ((de = readdir(d))) {
		char buf[SMALL_FILE_MAX], *cid, *ifname;
		struct k8c_ipnet ip;

		if (k8c_ipnet_parse(de->d_name, 0, &ip) < 0 ||
		    read_small(s->dirfd, de->d_name, buf) < 0 || !parse_owner(buf, &cid, &ifname))
			continue;
		if (fn(ctx, &ip, cid, ifname) && unlinkat(s->dirfd, de->d_name, 0) == 0) {
			s->changed = true;
			released++;
		}
	}
	return released;
}

struct match_ctx {
	const char *cid, *ifname;
	bool old_format; /* match "cid" alone instead of "cid\r\nifname" */
	bool release;
	struct k8c_ipnet *ips;
	size_t n;
};

static bool match_cb(void *ctx, const struct k8c_ipnet *ip, char *cid, char *ifname)
{
	struct match_ctx *m = ctx;

	if (strcmp(cid, m->cid))
		return false;
	if (m->old_format ? ifname != NULL : (!ifname || strcmp(ifname, m->ifname)))
		return false;
	m->ips = k8c_xrealloc(m->ips, (m->n + 1) * sizeof(*m->ips));
	m->ips[m->n++] = *ip;
	return m->release;
}

int hl_store_get_by_id(struct hl_store *s, const char *cid, const char *ifname,
		       struct k8c_ipnet **ips, size_t *n, struct k8c_error *err)
{
	struct match_ctx m = {cid, ifname, false, false, NULL, 0};
	struct index_entry e;
	size_t i;

	*ips = NULL;
	*n = 0;
	index_read(s, cid, ifname, &e);
	if (e.present && !strcmp(e.boot, s->boot_id)) {
		for (i = 0; i < e.n; i++) {
			char name[K8C_IPNET_STRLEN];

			if (!ip_owned_by(s, k8c_ip_format(&e.ips[i], name), cid, ifname))
				continue;
			m.ips = k8c_xrealloc(m.ips, (m.n + 1) * sizeof(*m.ips));
			m.ips[m.n++] = e.ips[i];
		}
	} else if (s->legacy) {
		if (scan(s, match_cb, &m, err) < 0)
			goto fail;
		m.old_format = true;
		if (scan(s, match_cb, &m, err) < 0)
			goto fail;
	}
	*ips = m.ips;
	*n = m.n;
	return 0;
fail:
	free(m.ips);
	return -1;
}

/* Remove every form of the attachment's index (links of up to n sets, and the file). */
static void index_remove(struct hl_store *s, const char *name, size_t n)
{
	size_t i;

	/* The first n surely exist; past them, stop at the first that does not. */
	for (i = 0; i < HL_MAX_SETS; i++) {
		_cleanup_free_ char *link = k8c_xasprintf("%s#%zu", name, i);

		if (unlinkat(s->dirfd, link, 0) < 0 && errno == ENOENT && i >= n)
			break;
	}
	unlinkat(s->dirfd, name, 0);
}

static int index_link(struct hl_store *s, const char *name, const struct k8c_ipnet *ips, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		_cleanup_free_ char *link = k8c_xasprintf("%s#%zu", name, i);
		char ipname[K8C_IPNET_STRLEN];

		k8c_ip_format(&ips[i], ipname);
		if (linkat(s->dirfd, ipname, s->dirfd, link, 0) < 0 &&
		    (errno != EEXIST || unlinkat(s->dirfd, link, 0) < 0 ||
		     linkat(s->dirfd, ipname, s->dirfd, link, 0) < 0))
			return -1;
	}
	return 0;
}

int hl_store_index_write(struct hl_store *s, const char *cid, const char *ifname,
			 const struct k8c_ipnet *ips, size_t n, struct k8c_error *err)
{
	_cleanup_free_ char *name = index_name(cid, ifname);
	_cleanup_free_ char *data = k8c_xasprintf("%s\nboot %s\n", INDEX_MAGIC, s->boot_id);
	size_t i;

	if (n == 0) {
		index_remove(s, name, 0);
		return 0;
	}
	if (!s->no_xattr && index_link(s, name, ips, n) == 0)
		return 0;
	index_remove(s, name, n);
	for (i = 0; i < n && i < HL_MAX_SETS; i++) {
		char buf[K8C_IPNET_STRLEN];
		char *next = k8c_xasprintf("%sip %s\n", data, k8c_ip_format(&ips[i], buf));

		free(data);
		data = next;
	}
	if (write_new(s->dirfd, name, data, err) < 0)
		return k8c_error_wrap(err, "index of %s/%s", cid, ifname);
	return 0;
}

int hl_store_release_by_id(struct hl_store *s, const char *cid, const char *ifname,
			   struct k8c_error *err)
{
	_cleanup_free_ char *name = index_name(cid, ifname);
	struct match_ctx m = {cid, ifname, false, true, NULL, 0};
	struct index_entry e;
	int released = 0, r;
	size_t i;

	index_read(s, cid, ifname, &e);
	if (e.present) {
		for (i = 0; i < e.n; i++) {
			char ipname[K8C_IPNET_STRLEN];

			k8c_ip_format(&e.ips[i], ipname);
			/* The reference may have released and handed the address out since. */
			if (!ip_owned_by(s, ipname, cid, ifname))
				continue;
			if (unlinkat(s->dirfd, ipname, 0) < 0 && errno != ENOENT)
				return k8c_error_errno(err, IO_ERR, errno, "release %s/%s", s->dir,
						       ipname);
			s->changed = true;
			released++;
		}
		index_remove(s, name, e.n);
		if (released > 0 || !s->legacy)
			return released;
	}
	if (!s->legacy)
		return 0;
	/* Same order as the reference: the current format first, the old one if none matched. */
	r = scan(s, match_cb, &m, err);
	if (r == 0) {
		m.old_format = true;
		r = scan(s, match_cb, &m, err);
	}
	free(m.ips);
	return r < 0 ? -1 : released + r;
}

struct gc_ctx {
	struct hl_store *s;
	hl_valid_fn valid;
	void *ctx;
	size_t foreign;
};

static bool gc_cb(void *ctx, const struct k8c_ipnet *ip, char *cid, char *ifname)
{
	struct gc_ctx *g = ctx;
	struct index_entry e;

	if (!g->valid(g->ctx, cid, ifname))
		return true;
	if (!ifname) {
		g->foreign++;
		return false;
	}
	index_read(g->s, cid, ifname, &e);
	if (!e.present)
		g->foreign++;
	return false;
}

int hl_store_gc(struct hl_store *s, hl_valid_fn valid, void *ctx, struct k8c_error *err)
{
	struct gc_ctx g = {s, valid, ctx, 0};
	_cleanup_closedir_ DIR *idx = NULL;
	struct dirent *de;
	int released;

	released = scan(s, gc_cb, &g, err);
	if (released < 0)
		return -1;
	idx = opendir_at(s->dirfd, INDEX_DIR);
	while (idx && (de = readdir(idx))) {
		char cid[256], ifname[256];

		if (index_name_parse(de->d_name, cid, ifname, sizeof(cid)) &&
		    !valid(ctx, cid, ifname))
			unlinkat(dirfd(idx), de->d_name, 0);
	}
	/* A full scan tells exactly whether reservations without an index remain. */
	s->legacy = g.foreign > 0;
	s->state_dirty = true;
	return released;
}

int hl_store_count(const char *data_dir, const char *name, size_t n_sets,
		   bool (*in_set)(void *ctx, size_t set, const struct k8c_ipnet *ip), void *ctx,
		   unsigned long long *counts, struct k8c_error *err)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/%s", data_dir, name);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t i;

	memset(counts, 0, n_sets * sizeof(*counts));
	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return k8c_error_errno(err, IO_ERR, errno, "open %s", dir);
	while ((de = readdir(d))) {
		struct k8c_ipnet ip;

		if (k8c_ipnet_parse(de->d_name, 0, &ip) < 0)
			continue;
		for (i = 0; i < n_sets; i++)
			if (in_set(ctx, i, &ip))
				counts[i]++;
	}
	return 0;
}

int hl_store_probe_writable(const char *data_dir, const char *name, struct k8c_error *err)
{
	_cleanup_free_ char *dir = k8c_xasprintf("%s/%s/.k8c", data_dir, name);
	_cleanup_free_ char *probe = k8c_xasprintf("%s/status.XXXXXX", dir);
	_cleanup_close_ int fd = -1;

	if (mkdir_p(dir, err) < 0)
		return k8c_error_wrap(err, "dataDir %s is not writable", data_dir);
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0)
		return k8c_error_errno(err, IO_ERR, errno, "dataDir %s is not writable: create %s",
				       data_dir, probe);
	unlink(probe);
	return 0;
}

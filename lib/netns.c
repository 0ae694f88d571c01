#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "netns.h"

int k8c_netns_open(const char *path, struct k8c_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "open netns %s", path);
	return fd;
}

int k8c_netns_enter(int fd, int *saved, struct k8c_error *err)
{
	_cleanup_close_ int cur = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	if (cur < 0)
		return k8c_error_errno(err, 0, errno, "open current netns");
	if (setns(fd, CLONE_NEWNET) < 0)
		return k8c_error_errno(err, 0, errno, "setns");
	*saved = k8c_steal_fd(cur);
	return 0;
}

void k8c_netns_restore(int *saved)
{
	if (*saved < 0)
		return;
	if (setns(*saved, CLONE_NEWNET) < 0)
		abort();
	close(*saved);
	*saved = -1;
}

int k8c_sysctl_write(const char *key, const char *value, struct k8c_error *err)
{
	char path[512];
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "sysctl %s", key);
	if (write(fd, value, len) != (ssize_t)len)
		return k8c_error_errno(err, 0, errno, "sysctl %s=%s", key, value);
	return 0;
}

int k8c_sysctl_read(const char *key, char *buf, size_t len, struct k8c_error *err)
{
	char path[512];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "sysctl %s", key);
	n = read(fd, buf, len - 1);
	if (n < 0)
		return k8c_error_errno(err, 0, errno, "sysctl %s", key);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

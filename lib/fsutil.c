#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

int k8c_mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = k8c_xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

int k8c_mkdir_p(const char *path, mode_t mode)
{
	if (k8c_mkdir_parents(path, mode) < 0)
		return -1;
	return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

void k8c_close_fds_except(int keep)
{
	if (keep < 3) {
		close_range(3, ~0U, 0);
		return;
	}
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

int k8c_execv_fd(int fd, const char *path, char *const argv[])
{
	extern char **environ;

	return fd >= 0 ? fexecve(fd, argv, environ) : execv(path, argv);
}

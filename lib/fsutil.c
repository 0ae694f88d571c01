#include <errno.h>
#include <sys/stat.h>

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

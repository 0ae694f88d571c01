/* Small file-system helpers shared by the node agent's parts. */
#ifndef K8C_FSUTIL_H
#define K8C_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: path and every missing parent with mode; existing ones are fine. -1 with errno. */
int k8c_mkdir_p(const char *path, mode_t mode);
/* The missing parents of path (not path itself), with mode. -1 with errno. */
int k8c_mkdir_parents(const char *path, mode_t mode);
/*
 * In a child before exec: close every descriptor from 3 on except keep (-1: none). The runtime
 * keeps its sealed runc memfd (close-on-exec) this way, so that an exec of /proc/self/fd/<keep>
 * finds it while the exec'd program inherits nothing.
 */
void k8c_close_fds_except(int keep);
/* exec argv from the open executable fd (fexecve) when fd >= 0, else from path. -1 with errno. */
int k8c_execv_fd(int fd, const char *path, char *const argv[]);

#endif

/* Small file-system helpers shared by the node agent's parts. */
#ifndef K8C_FSUTIL_H
#define K8C_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: path and every missing parent with mode; existing ones are fine. -1 with errno. */
int k8c_mkdir_p(const char *path, mode_t mode);
/* The missing parents of path (not path itself), with mode. -1 with errno. */
int k8c_mkdir_parents(const char *path, mode_t mode);

#endif

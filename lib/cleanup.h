/* Scope-bound cleanup for locals, in the manner of crun and systemd. */
#ifndef K8C_CLEANUP_H
#define K8C_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <jansson.h>

static inline void k8c_freep(void *p)
{
	free(*(void **)p);
}

static inline void k8c_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void k8c_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void k8c_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static inline void k8c_json_decrefp(json_t **j)
{
	json_decref(*j);
}

/* Define name(type **p) calling fn(*p) when it is not NULL, for a cleanup attribute. */
#define K8C_DEFINE_CLEANUP(name, type, fn)                                                         \
	static inline void name(type **p)                                                          \
	{                                                                                          \
		if (*p)                                                                            \
			fn(*p);                                                                    \
	}

#define _cleanup_free_	   __attribute__((cleanup(k8c_freep)))
#define _cleanup_close_	   __attribute__((cleanup(k8c_closep)))
#define _cleanup_fclose_   __attribute__((cleanup(k8c_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(k8c_closedirp)))
#define _cleanup_json_	   __attribute__((cleanup(k8c_json_decrefp)))

/* Hand ownership of a pointer or fd to the caller: the local's cleanup then does nothing. */
#define k8c_steal_ptr(p)                                                                           \
	({                                                                                         \
		__typeof__(p) _tmp = (p);                                                          \
		(p) = NULL;                                                                        \
		_tmp;                                                                              \
	})
#define k8c_steal_fd(fd)                                                                           \
	({                                                                                         \
		int _tmp = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_tmp;                                                                              \
	})

/* Allocation failure aborts (as crun's xmalloc): nobody threads ENOMEM. */
void *k8c_xmalloc(size_t n);
void *k8c_xcalloc(size_t n, size_t size);
void *k8c_xrealloc(void *p, size_t n);
char *k8c_xstrdup(const char *s);
char *k8c_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"

void *k8c_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

void *k8c_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}

void *k8c_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *k8c_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();
	return d;
}

char *k8c_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static int error_vset(struct k8c_error *err, int code, int errnum, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static int error_vset(struct k8c_error *err, int code, int errnum, const char *fmt, va_list ap)
{
	char *msg;

	if (!err)
		return -1;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	if (errnum) {
		char *full = k8c_xasprintf("%s: %s", msg, strerror(errnum));

		free(msg);
		msg = full;
	}
	free(err->msg);
	err->msg = msg;
	err->code = code;
	return -1;
}

int k8c_error_set(struct k8c_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int k8c_error_errno(struct k8c_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int k8c_error_wrap(struct k8c_error *err, const char *fmt, ...)
{
	va_list ap;
	char *ctx, *full;

	if (!err)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		abort();
	va_end(ap);
	full = k8c_xasprintf("%s: %s", ctx, err->msg ? err->msg : "unknown error");
	free(ctx);
	free(err->msg);
	err->msg = full;
	return -1;
}

void k8c_error_clear(struct k8c_error *err)
{
	if (!err)
		return;
	free(err->msg);
	err->msg = NULL;
	err->code = 0;
}

/*
 * One error style for every component: a fallible function takes `struct k8c_error *err` last,
 * returns a negative int on failure, and callers add context on the way up with
 * k8c_error_wrap(), so the user reads "bridge k8c0: add address 10.0.0.1/24: File exists".
 * Library code never prints and never exits.
 */
#ifndef K8C_ERROR_H
#define K8C_ERROR_H

#include <stdarg.h>

struct k8c_error {
	int code;  /* domain code (a CNI error code, an HTTP status...), 0 when unset */
	char *msg; /* owned; NULL when no error */
};

#define K8C_ERROR_INIT                                                                             \
	{                                                                                          \
		0, NULL                                                                            \
	}

/* Set err (replacing any previous one) and return -1. */
int k8c_error_set(struct k8c_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As k8c_error_set, appending ": strerror(errnum)". */
int k8c_error_errno(struct k8c_error *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prefix the message with context ("ctx: old"), keep the code, return -1. */
int k8c_error_wrap(struct k8c_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Release the message and reset. */
void k8c_error_clear(struct k8c_error *err);

#endif

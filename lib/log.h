/*
 * One log style for every daemon: logfmt lines on stderr,
 *
 *   time=2026-11-27T11:50:00.123Z level=info component=k8c-server msg="listening" addr=...
 *
 * one write(2) per line (lines of several threads never interleave). The level is chosen once
 * at start (--log-level debug|info|warn|error; info by default); messages below it cost a
 * comparison. The key=value part is printf-formatted by the caller; k8c_log_quote() makes a
 * value that may hold spaces or quotes safe.
 */
#ifndef K8C_LOG_H
#define K8C_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum k8c_log_level { K8C_LOG_DEBUG, K8C_LOG_INFO, K8C_LOG_WARN, K8C_LOG_ERROR };

/* The component name and the threshold (before any thread logs). */
void k8c_log_init(const char *component, enum k8c_log_level level);

/* "debug", "info", "warn"/"warning", "error" (case-insensitive); <0 when s is none of them. */
int k8c_log_parse_level(const char *s, enum k8c_log_level *out);

bool k8c_log_enabled(enum k8c_log_level level);

/* One line: msg (quoted) then the formatted key=value pairs (kv may be NULL). */
void k8c_log(enum k8c_log_level level, const char *msg, const char *kv, ...)
	__attribute__((format(printf, 3, 4)));

/* s as a logfmt value: unchanged when it needs no quoting, else quoted with \" and \\ escaped
 * and control characters as \n, \t or \xNN; truncated to fit buf (size >= 4). */
const char *k8c_log_quote(char *buf, size_t size, const char *s);

#define k8c_log_debug(...) k8c_log(K8C_LOG_DEBUG, __VA_ARGS__)
#define k8c_log_info(...)  k8c_log(K8C_LOG_INFO, __VA_ARGS__)
#define k8c_log_warn(...)  k8c_log(K8C_LOG_WARN, __VA_ARGS__)
#define k8c_log_error(...) k8c_log(K8C_LOG_ERROR, __VA_ARGS__)

#endif

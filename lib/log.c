#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_component = "k8c";
static enum k8c_log_level log_threshold = K8C_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void k8c_log_init(const char *component, enum k8c_log_level level)
{
	log_component = component;
	log_threshold = level;
}

int k8c_log_parse_level(const char *s, enum k8c_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum k8c_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = K8C_LOG_WARN;
		return 0;
	}
	return -1;
}

bool k8c_log_enabled(enum k8c_log_level level)
{
	return level >= log_threshold;
}

const char *k8c_log_quote(char *buf, size_t size, const char *s)
{
	size_t o = 0;
	bool plain = *s != '\0';

	for (const char *p = s; *p && plain; p++)
		plain = (unsigned char)*p > ' ' && *p != '"' && *p != '=' && *p != '\\' &&
			*p != 0x7f;
	if (plain && strlen(s) < size)
		return s;
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[5];
		size_t n;

		if (*p == '"' || *p == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (*p == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (*p < ' ' || *p == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
		else
			esc[0] = (char)*p, n = 1;
		if (o + n + 2 > size)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void k8c_log(enum k8c_log_level level, const char *msg, const char *kv, ...)
{
	char line[4096], ts[32], q[1024];
	struct timespec now;
	struct tm tm;
	size_t len;
	int n;

	if (level < log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime_r(&now.tv_sec, &tm));
	n = snprintf(line, sizeof(line), "time=%s.%03ldZ level=%s component=%s msg=%s", ts,
		     now.tv_nsec / 1000000, level_names[level], log_component,
		     k8c_log_quote(q, sizeof(q), msg));
	len = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
	if (kv && *kv && len + 2 < sizeof(line)) {
		va_list ap;

		line[len++] = ' ';
		va_start(ap, kv);
		n = vsnprintf(line + len, sizeof(line) - len, kv, ap);
		va_end(ap);
		len += n < 0				 ? 0
		       : (size_t)n >= sizeof(line) - len ? sizeof(line) - len - 1
							 : (size_t)n;
	}
	line[len++] = '\n';
	/* one write: a line is never split by another thread's */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

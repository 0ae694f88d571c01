/*
 * The access log of k8c-ingress (--access-log PATH, docs/ingress.md "Access log"): one line per
 * request in nginx's "combined" format followed by our fields:
 *
 *   ADDR - - [27/Nov/2026:18:03:00 +0000] "GET /p HTTP/1.1" 200 6 "REFERER" "USER-AGENT"
 *   SECONDS INGRESS RULE-HOST UPSTREAM
 *
 * (one line), SECONDS the request's duration (ms resolution, as nginx's $request_time),
 * INGRESS "ns/name" of the rule ("-" when none matched), RULE-HOST the rule's host ("-" for
 * none, "*.foo.com" for a wildcard), UPSTREAM "addr:port" of the endpoint ("-" when not
 * proxied). Bytes outside printable ASCII, '"' and '\' in quoted fields are written \xHH, as
 * nginx does. Lines are buffered per serving thread and written whole (O_APPEND).
 */
#ifndef K8C_INGRESS_ACCESSLOG_H
#define K8C_INGRESS_ACCESSLOG_H

#include <stddef.h>
#include <h2o.h>

struct ing_alog {
	char buf[65536];
	size_t len;
	time_t sec; /* the second whose "[...]" text is in stamp */
	char stamp[32];
};

/* Append the line of req (flushing first when the buffer is full). */
void ing_alog_request(struct ing_alog *a, int fd, h2o_req_t *req, const char *ingress,
		      const char *host, const char *upstream);
/* Write what is buffered. */
void ing_alog_flush(struct ing_alog *a, int fd);

#endif

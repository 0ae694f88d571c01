/* The access log (accesslog.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"

void ing_alog_flush(struct ing_alog *a, int fd)
{
	size_t off = 0;

	while (off < a->len) {
		ssize_t n = write(fd, a->buf + off, a->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a full disk loses lines, never requests */
		off += (size_t)n;
	}
	a->len = 0;
}

/* Append s (n bytes) escaped as nginx does in quoted fields; "-" when empty. */
static char *escaped(char *p, char *end, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (!n && p < end)
		*p++ = '-';
	for (size_t i = 0; i < n && p + 4 <= end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	return p;
}

/* snprintf at p, never past end. */
#define PUTF(...)                                                                                  \
	do {                                                                                       \
		int n_ = p < end ? snprintf(p, (size_t)(end - p), __VA_ARGS__) : 0;                \
		p = n_ > 0 && n_ < end - p ? p + n_ : end;                                         \
	} while (0)

static h2o_iovec_t header(h2o_req_t *req, const h2o_token_t *token)
{
	ssize_t i = h2o_find_header(&req->headers, token, -1);

	return i >= 0 ? req->headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

void ing_alog_request(struct ing_alog *a, int fd, h2o_req_t *req, const char *ingress,
		      const char *host, const char *upstream)
{
	char line[8192], addr[INET6_ADDRSTRLEN] = "-", *p = line, *end = line + sizeof(line) - 2;
	struct sockaddr_storage ss;
	int64_t usec = 0;
	h2o_iovec_t ref = header(req, H2O_TOKEN_REFERER), ua = header(req, H2O_TOKEN_USER_AGENT);
	time_t sec = req->timestamps.request_begin_at.tv_sec;

	if (req->conn->callbacks->get_peername &&
	    req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss)) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
				  sizeof(addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
				  sizeof(addr));
	}
	if (sec != a->sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(a->stamp, sizeof(a->stamp), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
		a->sec = sec;
	}
	if (!h2o_time_compute_duration(req, &usec))
		usec = 0;
	PUTF("%s - - %s \"", addr, a->stamp);
	p = escaped(p, end, req->input.method.base, req->input.method.len);
	if (p < end)
		*p++ = ' ';
	p = escaped(p, end, req->input.path.base, req->input.path.len);
	PUTF(" HTTP/%d.%d\" %d %zu \"", req->version >> 8, req->version & 0xff, req->res.status,
	     req->bytes_sent);
	p = escaped(p, end, ref.base, ref.len);
	PUTF("\" \"");
	p = escaped(p, end, ua.base, ua.len);
	PUTF("\" %lld.%03lld %s %s %s", (long long)(usec / 1000000),
	     (long long)(usec % 1000000 / 1000), *ingress ? ingress : "-", *host ? host : "-",
	     upstream && *upstream ? upstream : "-");
	*p++ = '\n'; /* end leaves room for it */
	if (a->len + (size_t)(p - line) > sizeof(a->buf))
		ing_alog_flush(a, fd);
	memcpy(a->buf + a->len, line, (size_t)(p - line));
	a->len += (size_t)(p - line);
}

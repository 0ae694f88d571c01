/* k8c-proxy's /healthz and /metrics (Prometheus text format) on a small single-threaded HTTP/1.0
 * responder polled by the event loop. */
#ifndef K8C_PROXY_METRICS_H
#define K8C_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "error.h"
#include "model.h"

#define PROXY_HIST_BUCKETS 8

struct proxy_hist {
	unsigned long long counts[PROXY_HIST_BUCKETS + 1]; /* the last one: +Inf */
	double sum;
	unsigned long long n;
};

struct proxy_metrics {
	struct proxy_hist sync_seconds; /* duration of a sync (model -> kernel ACK) */
	struct proxy_hist
		latency_seconds; /* first delta after a sync -> its changes in the kernel */
	unsigned long long syncs_ok, syncs_failed, conntrack_deleted, conflicts;
	size_t elements; /* map elements owned after the last sync */
	bool synced_once, last_failed;
};

void proxy_hist_observe(struct proxy_hist *h, double seconds);

/* Listen on "host:port" (IPv4 or [IPv6]); returns a non-blocking fd or -1 with err set. */
int proxy_http_listen(const char *hostport, struct k8c_error *err);
/* Accept and answer one request on lfd (GET /healthz, GET /metrics; 404 otherwise). */
void proxy_http_serve(int lfd, const struct proxy_metrics *mt, const struct proxy_model *m);

#endif

/*
 * Request statistics of k8c-ingress for /metrics (Prometheus text format 0.0.4): per serving
 * thread, keyed by (Ingress, rule host); rendered by summing over the threads (docs/ingress.md).
 */
#ifndef K8C_INGRESS_METRICS_H
#define K8C_INGRESS_METRICS_H

#include <stdint.h>
#include <stdio.h>

struct ing_stats;

struct ing_stats *ing_stats_new(void);
void ing_stats_free(struct ing_stats *s);
/* One answered request: ingress "ns/name" ("" when no rule matched), the rule's host ("" for
 * none, "*.foo.com" for a wildcard), the status sent and the time from the request's first byte to
 * the response's last, in microseconds. Called by the thread that owns s. */
void ing_stats_request(struct ing_stats *s, const char *ingress, const char *host, int status,
		       int64_t usec);
/* One failed connection attempt to an endpoint of ingress's backend (refused, timed out). */
void ing_stats_upstream_error(struct ing_stats *s, const char *ingress, const char *host);
/* One route table build took seconds (k8c_ingress_config_build_seconds; any thread). */
void ing_stats_build(double seconds);
/* The metrics of all threads' stats, summed, and the build histogram, in the Prometheus text
 * format. */
void ing_stats_render(struct ing_stats *const *all, size_t n, FILE *out);

#endif

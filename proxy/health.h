/*
 * Health-check node ports (spec.healthCheckNodePort of Services with externalTrafficPolicy
 * Local), as kube-proxy serves them for external load balancers: HTTP on the node's network
 * namespace answering 200 with {"service":{"namespace","name"},"localEndpoints":N,
 * "serviceProxyHealthy":true} when this node has ready endpoints of the service and the proxy
 * is healthy, 503 otherwise.
 */
#ifndef K8C_PROXY_HEALTH_H
#define K8C_PROXY_HEALTH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct proxy_health;

/* netns_fd: the namespace the listeners are opened in (the node's), -1 for the current one;
 * it is not closed by the health server. */
struct proxy_health *proxy_health_new(int netns_fd);
void proxy_health_free(struct proxy_health *h);
/* Open listeners for new health-check ports, close those of ports no service has, and take the
 * services' local ready endpoint counts from the model. A port that cannot be opened is logged
 * and retried at the next update. */
void proxy_health_update(struct proxy_health *h, const struct proxy_model *m);
/* Fill p (room for max) with the listeners; returns how many. */
size_t proxy_health_pollfds(const struct proxy_health *h, struct pollfd *p, size_t max);
size_t proxy_health_count(const struct proxy_health *h);
/* Answer one request on listener i (as filled by proxy_health_pollfds). */
void proxy_health_serve(struct proxy_health *h, size_t i, bool proxy_healthy);

#endif

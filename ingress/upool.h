/*
 * Upstream keep-alive pools of k8c-ingress (docs/ingress.md "Upstream keep-alive pools").
 *
 * h2o 2.2.5's socketpool detaches an idle connection from the event loop when it is returned
 * (h2o_socket_export: epoll DEL) and attaches it again when it is taken (h2o_socket_import:
 * fcntl, epoll ADD), after a recv(MSG_PEEK) liveness check: five system calls per proxied
 * request that nginx does not make. upool.c defines h2o_socketpool_connect, _return and
 * _cancel_connect in the executable, which libh2o's HTTP client calls through its PLT, so h2o's
 * proxy uses these pools: per serving thread, idle connections stay attached to the loop with a
 * read callback (a close by the endpoint, or stray bytes, close them at once), taken most recent
 * first. Every h2o_socketpool_t of k8c-ingress must come from ing_pool_new().
 */
#ifndef K8C_INGRESS_UPOOL_H
#define K8C_INGRESS_UPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <h2o.h>

/* A pool of connections to one address, used only by the thread that runs loop. */
h2o_socketpool_t *ing_pool_new(h2o_loop_t *loop, const struct sockaddr *sa, socklen_t len,
			       bool https, uint64_t keepalive_ms);
/* Whether a connection is idle in it (the next request needs no connect). */
bool ing_pool_has_idle(h2o_socketpool_t *pool);
/* Whether every connection it made is idle in it (none leased, none connecting). */
bool ing_pool_unused(h2o_socketpool_t *pool);
/* Close the idle connections returned more than keepalive_ms ago. */
void ing_pool_expire(h2o_socketpool_t *pool);
/* Close its idle connections and free it (at once when ing_pool_unused(), else when its last
 * leased or closing connection is closed). */
void ing_pool_free(h2o_socketpool_t *pool);
/*
 * h2o_socket_read_stop and _start are ours too (upool.c "Lazy read stop": a stop leaves the
 * epoll registration until an event comes), and h2o_socket_getnumerichost (IPv4 without
 * sprintf); call before any h2o socket is made, with the read callback of the listening
 * sockets (always stopped h2o's way).
 */
void ing_read_stop_init(h2o_socket_cb listener_cb);
/* The calling thread's h2o loop runs the sockets of an epoll batch in the order they became
 * ready (h2o's own order is the reverse: upool.c "Event order"). */
void ing_loop_fifo(void);
/* Whether libh2o's calls reach these pools and read stop (the interposition works here). */
bool ing_pool_interposed(void);

#endif

/*
 * Stale UDP conntrack entries: after a UDP endpoint leaves a service, flows already NATed to it
 * keep going there for as long as the client sends (kubernetes #19029, #48370). The backend
 * deletes them over ctnetlink (libmnl, on its netfilter socket) once its transaction committed.
 */
#ifndef K8C_PROXY_CONNTRACK_H
#define K8C_PROXY_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "nft_batch.h"

/* A frontend (IPv4 address, or 0.0.0.0: any, for NodePorts) whose flows to an endpoint must go. */
struct proxy_ct_stale {
	uint8_t front[4];
	uint16_t front_port; /* host order */
	uint8_t ep[4];
	uint16_t ep_port;
};

/* Delete the UDP entries matching any of st (original destination = front:front_port, reply
 * source = ep:ep_port). *deleted counts them. */
int proxy_ct_delete_udp(struct nft_sock *s, const struct proxy_ct_stale *st, size_t n,
			size_t *deleted, struct k8c_error *err);

#endif

/*
 * The proxy's service model: Services and EndpointSlices (Kubernetes JSON, as an informer
 * delivers them) resolved into one record per service port, with a hash of the resolved content
 * so that a sync touches only the records that changed. Backends (nftables, eBPF) read it.
 */
#ifndef K8C_PROXY_MODEL_H
#define K8C_PROXY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "ipaddr.h"

#define PROXY_DEFAULT_AFFINITY_TIMEOUT 10800

struct proxy_endpoint {
	struct k8c_ipnet ip;
	uint16_t port;
	bool ready, serving, terminating;
	const char *node; /* nodeName, or NULL (owned by the model) */
};

/* One port of one Service, with everything a backend programs for it. */
struct proxy_svcport {
	char *key;	 /* "ns/name/tcp/portname" (or "#port" when the port has no name): unique */
	char *port_name; /* "" when the port has no name */
	uint8_t proto;	 /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t port, node_port;
	struct k8c_ipnet *cluster_ips; /* spec.clusterIPs (or clusterIP), every family */
	size_t n_cluster_ips;
	struct k8c_ipnet *external_ips; /* spec.externalIPs and status.loadBalancer.ingress[].ip */
	size_t n_external_ips;
	bool affinity;		    /* sessionAffinity ClientIP */
	uint32_t affinity_timeout;  /* seconds */
	bool etp_local, itp_local;  /* externalTrafficPolicy / internalTrafficPolicy Local */
	uint16_t health_port;	    /* spec.healthCheckNodePort (etp Local only), or 0 */
	struct proxy_endpoint *eps; /* from every slice of the service, sorted, no duplicates */
	size_t n_eps;
	uint64_t hash; /* of all of the above */
};

struct proxy_model;

/* node_name: this node (for traffic policy Local); may be NULL. */
struct proxy_model *proxy_model_new(const char *node_name);
void proxy_model_free(struct proxy_model *m);

/*
 * Add, replace (deleted false) or remove (deleted true) a Service or EndpointSlice (by its
 * "kind", or kind_hint when the object has none, as in a typed list's items). The object is
 * referenced, not copied. Returns -1 with err set only when the object cannot be identified
 * (no kind, no name); bad contents inside a valid object are skipped entry by entry.
 */
int proxy_model_apply(struct proxy_model *m, json_t *obj, const char *kind_hint, bool deleted,
		      struct k8c_error *err);
/* Replace the whole content with the objects of a JSON array or a List ("items"); objects no
 * longer present are removed. Returns the number of objects that could not be identified. */
int proxy_model_replace(struct proxy_model *m, json_t *list, struct k8c_error *err);

/* The record for a key, or NULL. */
const struct proxy_svcport *proxy_model_port(const struct proxy_model *m, const char *key);
size_t proxy_model_count(const struct proxy_model *m);
/* Call fn for every record. */
void proxy_model_each(const struct proxy_model *m,
		      void (*fn)(const struct proxy_svcport *p, void *arg), void *arg);
/* Call fn for every record key changed since the last proxy_model_clear_dirty(), with the
 * version of that time (old, NULL if there was none: what the backends programmed) and the
 * current one (p, NULL when the record is gone). */
size_t proxy_model_dirty_count(const struct proxy_model *m);
void proxy_model_each_dirty(const struct proxy_model *m,
			    void (*fn)(const char *key, const struct proxy_svcport *old,
				       const struct proxy_svcport *p, void *arg),
			    void *arg);
void proxy_model_clear_dirty(struct proxy_model *m);
const char *proxy_model_node(const struct proxy_model *m);

/*
 * The endpoints traffic goes to, of family af: those on this node only when local; the ready
 * ones, or when none is ready the serving and terminating ones (as kube-proxy). Fills out (room
 * for p->n_eps) and returns the count.
 */
size_t proxy_svcport_usable(const struct proxy_model *m, const struct proxy_svcport *p, int af,
			    bool local, const struct proxy_endpoint **out);
/* "tcp", "udp", "sctp". */
const char *proxy_proto_name(uint8_t proto);

#endif

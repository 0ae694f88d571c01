/*
 * The endpoints controllers' pure part (docs/controllers.md, "Endpoints and EndpointSlices"):
 * which pods of a Service count and how, the Endpoints object of a Service (subsets repacked as
 * kube's RepackSubsets), the endpoints of its EndpointSlices, and the plan that turns the
 * existing slices of a Service into the desired ones with the fewest writes (endpoints stay in
 * the slice they are in; new ones fill slices with room, at most 100 per slice). No I/O.
 * Unit-tested in tests/unit/test_eps.c.
 */
#ifndef K8C_EPS_H
#define K8C_EPS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define EPS_MAX_PER_SLICE	    100
#define EPS_MANAGED_BY		    "endpointslice.kubernetes.io/managed-by"
#define EPS_SERVICE_NAME	    "kubernetes.io/service-name"
#define EPS_CONTROLLER		    "endpointslice-controller.k8s.io"
#define EPS_MIRRORING		    "endpointslicemirroring-controller.k8s.io"
#define EPS_OVER_CAPACITY	    "endpoints.kubernetes.io/over-capacity"
#define EPS_MAX_ENDPOINTS_ADDRESSES 1000

/* The Service selects pods: a selector with at least one label (empty or absent: none). */
bool eps_service_has_selector(const json_t *svc);
/* The Service is headless (clusterIP None). */
bool eps_service_headless(const json_t *svc);
/* "IPv4" or "IPv6": the Service's first IP family (default IPv4). */
const char *eps_service_address_type(const json_t *svc);

/*
 * A pod goes into endpoints: it has an IP, it is not terminal for its restart policy, and (unless
 * include_terminating) it is not being deleted (endpointutil.ShouldPodBeInEndpoints).
 */
bool eps_pod_included(const json_t *pod, bool include_terminating);
/* The pod's IP of this address type ("IPv4"/"IPv6") from status.podIPs/podIP, or NULL. */
const char *eps_pod_ip(const json_t *pod, const char *address_type);
/* The container port a Service port targets in pod (named ports resolved), or -1. */
int eps_find_port(const json_t *pod, const json_t *svc_port);
/* The endpoint ports ({name, port, protocol[, appProtocol]}) of the pod for the Service. */
json_t *eps_pod_ports(const json_t *svc, const json_t *pod);

/*
 * The Endpoints object a selector Service should have from its selected pods (pods[n]):
 * addresses / notReadyAddresses with targetRef, nodeName, hostname; ports by name; labels of the
 * Service plus service.kubernetes.io/headless for headless ones. Over 1000 addresses it keeps
 * 1000 (ready ones first) and sets the annotation endpoints.kubernetes.io/over-capacity:
 * truncated, as kube does.
 */
json_t *eps_endpoints_want(const json_t *svc, json_t *const *pods, size_t n);
/* Whether have (the stored Endpoints) differs from want in labels or subsets. */
bool eps_endpoints_differ(const json_t *have, const json_t *want);

/* The EndpointSlice endpoint of a pod (node may be NULL: no zone), or NULL without an IP. */
json_t *eps_slice_endpoint(const json_t *svc, const json_t *pod, const json_t *node,
			   const char *address_type);

/* The metadata every slice of one owner gets. */
struct eps_slice_meta {
	const char *ns;
	const char *generate_name; /* "<service>-" */
	json_t *labels;		   /* the exact labels */
	json_t *owner_refs;	   /* the exact ownerReferences */
	const char *placeholder;   /* address type of the empty slice kept when nothing is
				      desired, or NULL for none */
};

/*
 * desired: an array of {"addressType", "ports", "endpoint"}; existing: the owner's slices now.
 * Out: *create (slices to POST), *update (full slices to PUT, resourceVersion kept), *del
 * (names). Slices that need no change are left alone.
 */
void eps_slices_plan(const struct eps_slice_meta *meta, const json_t *desired,
		     const json_t *existing, size_t max_per_slice, json_t **create, json_t **update,
		     json_t **del);

/* The desired entries for a selector Service's slices from its pods; node_of gives the node. */
json_t *eps_slices_desired(const json_t *svc, json_t *const *pods, size_t n,
			   json_t *(*node_of)(void *arg, const char *name), void *arg);
/* The desired entries mirrored from a hand-made Endpoints object (at most 1000 addresses). */
json_t *eps_mirror_desired(const json_t *endpoints);
/*
 * The labels of the slices of service svc_name made from src (the Service, or the mirrored
 * Endpoints): src's own labels, service-name, managed-by, and the headless label if headless.
 */
json_t *eps_slice_labels(const json_t *src, const char *svc_name, const char *managed_by,
			 bool headless);
/* [ {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} ] */
json_t *eps_owner_refs(const char *api_version, const char *kind, const json_t *owner);

#endif

/*
 * Legacy versions served from another version's storage: extensions/v1beta1 Ingress, stored as
 * networking.k8s.io/v1 (kube-apiserver's conversion, k8s.io/kubernetes/pkg/apis/networking).
 */
#include <string.h>

#include "api_kind.h"
#include "api_registry.h"

/* v1beta1 {serviceName, servicePort, resource} -> v1 {service {name, port}, resource}. */
static void backend_to_v1(json_t *b)
{
	json_t *name = json_object_get(b, "serviceName"), *port = json_object_get(b, "servicePort");
	json_t *svc, *p;

	if (!json_is_object(b) || (!name && !port))
		return;
	svc = json_object();
	if (json_is_string(name))
		json_object_set(svc, "name", name);
	p = json_object();
	if (json_is_integer(port))
		json_object_set(p, "number", port);
	else if (json_is_string(port))
		json_object_set(p, "name", port);
	if (json_object_size(p))
		json_object_set_new(svc, "port", p);
	else
		json_decref(p);
	json_object_del(b, "serviceName");
	json_object_del(b, "servicePort");
	json_object_set_new(b, "service", svc);
}

/* v1 {service {name, port {number | name}}, resource} -> v1beta1 {serviceName, servicePort}. */
static void backend_to_v1beta1(json_t *b)
{
	json_t *svc = json_object_get(b, "service"), *name, *port;

	if (!json_is_object(b) || !json_is_object(svc))
		return;
	json_incref(svc);
	json_object_del(b, "service");
	name = json_object_get(svc, "name");
	port = json_object_get(svc, "port");
	if (json_is_string(name))
		json_object_set(b, "serviceName", name);
	if (json_is_integer(json_object_get(port, "number")))
		json_object_set(b, "servicePort", json_object_get(port, "number"));
	else if (json_is_string(json_object_get(port, "name")))
		json_object_set(b, "servicePort", json_object_get(port, "name"));
	json_decref(svc);
}

/* Rename spec.from to spec.to, then convert every backend with conv. */
static void convert(json_t *obj, const char *api_version, const char *from, const char *to,
		    void (*conv)(json_t *), bool default_path_type)
{
	json_t *spec = json_object_get(obj, "spec"), *b, *rule, *p;
	size_t i, j;

	json_object_set_new(obj, "apiVersion", json_string(api_version));
	if (!json_is_object(spec))
		return;
	b = json_object_get(spec, from);
	if (b) {
		json_object_set(spec, to, b);
		json_object_del(spec, from);
		conv(json_object_get(spec, to));
	}
	json_array_foreach(json_object_get(spec, "rules"), i, rule)
	{
		json_array_foreach(api_jget(rule, "http.paths"), j, p)
		{
			if (!json_is_object(p))
				continue;
			conv(json_object_get(p, "backend"));
			if (default_path_type && !json_object_get(p, "pathType"))
				json_object_set_new(p, "pathType",
						    json_string("ImplementationSpecific"));
		}
	}
}

void api_ingress_to_v1(json_t *obj)
{
	convert(obj, "networking.k8s.io/v1", "backend", "defaultBackend", backend_to_v1, true);
}

void api_ingress_to_v1beta1(json_t *obj)
{
	convert(obj, "extensions/v1beta1", "defaultBackend", "backend", backend_to_v1beta1, false);
}

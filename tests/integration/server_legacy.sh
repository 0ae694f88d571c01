#!/bin/bash
# k8c-server's extensions/v1beta1 Ingress (the shape older manifests use): discovery of the
# extensions group, `kubectl apply` of a v1beta1 manifest, the same object read as
# networking.k8s.io/v1 (defaultBackend.service, port.number) with kubectl and back as v1beta1
# (serviceName/servicePort) with curl, a v1-created Ingress read through v1beta1, a merge patch
# in the v1beta1 shape, and a v1beta1 watch. No root needed.
#
#   kubectl / curl ──TLS (admin client cert)──► k8c-server 127.0.0.1:$PORT
#                                                └─ $D/data (state.db, pki)
# Usage: server_legacy.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup legacy
srv_instance "$D"
srv_start 31
L=$U/apis/extensions/v1beta1/namespaces/x/ingresses

# Discovery: the extensions group with v1beta1 and its one resource.
[[ $(C "$U/apis" | jq -r '.groups[] | select(.name=="extensions") | .preferredVersion.groupVersion') == extensions/v1beta1 ]] ||
	fail "/apis lacks extensions"
disc=$(C "$U/apis/extensions/v1beta1")
[[ $(jq -r '[.resources[] | select(.name=="ingresses") | .kind, (.namespaced|tostring), .shortNames[0]] | join(" ")' <<<"$disc") == "Ingress true ing" ]] ||
	fail "/apis/extensions/v1beta1: $disc"
ar=$(k api-resources 2>&1) || fail "api-resources: $ar"
grep -Eq '^ingresses +ing +extensions/v1beta1 ' <<<"$ar" || fail "api-resources lacks extensions: $ar"

k create namespace x >/dev/null || fail "create namespace"
cat >"$D/legacy.yaml" <<'YAML'
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: old
  namespace: x
spec:
  backend:
    serviceName: fallback
    servicePort: 8080
  rules:
  - host: old.example.com
    http:
      paths:
      - path: /
        backend:
          serviceName: web
          servicePort: 80
      - path: /api
        pathType: Prefix
        backend:
          serviceName: api
          servicePort: http
YAML
out=$(k apply -f "$D/legacy.yaml" 2>&1) || fail "kubectl apply of the v1beta1 manifest: $out"
grep -q 'ingress.extensions/old created' <<<"$out" || fail "apply: $out"

# kubectl's "ingress" is networking.k8s.io/v1: the v1 shape.
v1=$(k get ingress old -n x -o json) || fail "kubectl get ingress"
[[ $(jq -r .apiVersion <<<"$v1") == networking.k8s.io/v1 ]] || fail "apiVersion: $v1"
[[ $(jq -r '.spec.defaultBackend.service.name + ":" + (.spec.defaultBackend.service.port.number|tostring)' <<<"$v1") == fallback:8080 ]] ||
	fail "defaultBackend: $v1"
[[ $(jq -r '.spec.backend // "none"' <<<"$v1") == none ]] || fail "v1 keeps backend: $v1"
p=$(jq -c '.spec.rules[0].http.paths' <<<"$v1")
[[ $(jq -r '.[0].pathType + " " + .[0].backend.service.name + ":" + (.[0].backend.service.port.number|tostring)' <<<"$p") == "ImplementationSpecific web:80" ]] ||
	fail "paths[0]: $p"
[[ $(jq -r '.[1].pathType + " " + .[1].backend.service.port.name' <<<"$p") == "Prefix http" ]] || fail "paths[1]: $p"
tbl=$(k get ingress -n x 2>&1)
grep -Eq '^old +.*old\.example\.com +80 ' <<<"$tbl" || fail "kubectl get ingress table: $tbl"

# The same object through extensions/v1beta1.
b=$(C "$L/old")
[[ $(jq -r .apiVersion <<<"$b") == extensions/v1beta1 ]] || fail "v1beta1 apiVersion: $b"
[[ $(jq -r '.spec.backend.serviceName + ":" + (.spec.backend.servicePort|tostring)' <<<"$b") == fallback:8080 ]] ||
	fail "v1beta1 backend: $b"
[[ $(jq -r '.spec.defaultBackend // "none"' <<<"$b") == none ]] || fail "v1beta1 defaultBackend: $b"
[[ $(jq -r '.spec.rules[0].http.paths[1].backend | .serviceName + ":" + .servicePort' <<<"$b") == api:http ]] ||
	fail "v1beta1 named port: $b"
[[ $(jq -r '.spec.rules[0].http.paths[0].backend.servicePort | type' <<<"$b") == number ]] || fail "servicePort type: $b"
[[ $(jq -r '.metadata.resourceVersion' <<<"$b") == $(jq -r '.metadata.resourceVersion' <<<"$v1") ]] ||
	fail "one object, one resourceVersion"
lst=$(C "$L")
[[ $(jq -r '.kind + " " + .apiVersion + " " + .items[0].spec.backend.serviceName' <<<"$lst") == "IngressList extensions/v1beta1 fallback" ]] ||
	fail "v1beta1 list: $lst"

# A v1-created Ingress reads through v1beta1, and a v1beta1 merge patch changes it for both.
cat >"$D/new.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: new
  namespace: x
spec:
  ingressClassName: k8c
  defaultBackend:
    service:
      name: dflt
      port:
        name: web
YAML
k apply -f "$D/new.yaml" >/dev/null || fail "apply v1"
b=$(C "$L/new")
[[ $(jq -r '.spec.backend.serviceName + ":" + .spec.backend.servicePort + " " + .spec.ingressClassName' <<<"$b") == "dflt:web k8c" ]] ||
	fail "v1-created through v1beta1: $b"
b=$(C -X PATCH -H 'Content-Type: application/merge-patch+json' \
	-d '{"spec":{"backend":{"serviceName":"other","servicePort":9090}}}' "$L/new")
[[ $(jq -r '.spec.backend.serviceName + ":" + (.spec.backend.servicePort|tostring)' <<<"$b") == other:9090 ]] ||
	fail "v1beta1 patch: $b"
[[ $(k get ingress new -n x -o jsonpath='{.spec.defaultBackend.service.name}:{.spec.defaultBackend.service.port.number}:{.spec.defaultBackend.service.port.name}') == other:9090: ]] ||
	fail "patched through v1: $(k get ingress new -n x -o json)"
# A v1beta1 body in the v1 shape is invalid there (no backend given).
code=$(C -o "$D/bad.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-d '{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"bad"},"spec":{}}' "$L")
[[ $code == 422 ]] || fail "empty v1beta1 spec: $code $(cat "$D/bad.json")"

# Watch events come in v1beta1 too.
ev=$(C "$L?watch=1&timeoutSeconds=1")
[[ $(jq -rs '[.[] | .object.apiVersion + ":" + (.object.spec.backend.serviceName // "-")] | sort | join(" ")' <<<"$ev") == "extensions/v1beta1:fallback extensions/v1beta1:other" ]] ||
	fail "v1beta1 watch: $ev"

# Deleting through v1beta1 removes the one object; Ingress deletes answer a Success Status
# naming the resource of the request's group (kube-apiserver's finalizeDelete).
[[ $(C -X DELETE "$L/old" | jq -r '"\(.status) \(.details.group) \(.details.kind) \(.details.name)"') == "Success extensions ingresses old" ]] || fail "v1beta1 delete"
k get ingress old -n x >/dev/null 2>&1 && fail "deleted object still readable through v1"
srv_stop
echo "PASS"

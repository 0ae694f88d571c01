#!/bin/bash
# PATCH with the real clients, kubectl 1.31 and 1.33 in turn (the server's --kube-minor picks the
# kubectl), then the Python client: `kubectl apply` sequences on a Deployment (its three-way
# strategic merge patches: add, remove and reorder containers, change an env var, remove a label,
# re-apply unchanged), `kubectl patch --type json|merge|strategic`, `set image`, `label
# --overwrite`, `annotate`, `edit` with EDITOR a sed command; raw patches for the answers kube
# gives: a failed JSON patch test, a stale resourceVersion, a missing object, a bad directive.
#
#   kubectl 1.3x / python3 kubernetes / curl ──TLS──► k8c-server 127.0.0.1:$PORT
# Usage: server_patch.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup server-patch
srv_instance "$D"

# deploy NS CONTAINERS... : a Deployment manifest "web"; a container is name=image[:ENV=VALUE].
manifest() {
	local ns=$1 labels=$2
	shift 2
	cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: $ns
  labels:
$labels
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
YAML
	for c in "$@"; do
		local name=${c%%=*} rest=${c#*=} image env=
		image=${rest%%:ENV*}
		[[ $rest == *:ENV* ]] && env=${rest#*:ENV}
		printf '      - name: %s\n        image: %s\n' "$name" "$image"
		if [[ -n $env ]]; then
			printf '        env:\n        - {name: A, value: "1"}\n        - {name: B, value: "%s"}\n' "$env"
		fi
	done
}

# The containers of web as "name=image" joined by spaces.
containers() {
	k -n "$1" get deploy web -o json | jq -r '[.spec.template.spec.containers[] | .name + "=" + .image] | join(" ")'
}

suite() {
	local minor=$1 ns=p$1 out rv
	k create ns "$ns" >/dev/null || fail "create ns $ns"

	# kubectl apply, three-way strategic merge patches
	manifest "$ns" "    app: web
    tier: fe" c1=nginx:1.25:ENV2 c2=busybox:1.36 >"$D/d.yaml"
	k apply -f "$D/d.yaml" | grep -q 'deployment.apps/web created' || fail "$minor: apply create"
	out=$(k apply -f "$D/d.yaml") || fail "$minor: re-apply: $out"
	grep -q 'deployment.apps/web unchanged' <<<"$out" || fail "$minor: re-apply unchanged: $out"
	manifest "$ns" "    app: web
    tier: fe" c1=nginx:1.25:ENV2 c3=redis:7 c2=busybox:1.36 >"$D/d.yaml"
	k apply -f "$D/d.yaml" | grep -q configured || fail "$minor: apply add"
	[[ $(containers "$ns") == "c1=nginx:1.25 c3=redis:7 c2=busybox:1.36" ]] || fail "$minor: add container: $(containers "$ns")"
	manifest "$ns" "    app: web
    tier: fe" c1=nginx:1.25:ENV2 c3=redis:7 >"$D/d.yaml"
	k apply -f "$D/d.yaml" >/dev/null || fail "$minor: apply remove"
	[[ $(containers "$ns") == "c1=nginx:1.25 c3=redis:7" ]] || fail "$minor: remove container: $(containers "$ns")"
	manifest "$ns" "    app: web
    tier: fe" c3=redis:7 c1=nginx:1.25:ENV2 >"$D/d.yaml"
	k apply -f "$D/d.yaml" >/dev/null || fail "$minor: apply reorder"
	[[ $(containers "$ns") == "c3=redis:7 c1=nginx:1.25" ]] || fail "$minor: reorder: $(containers "$ns")"
	manifest "$ns" "    app: web
    tier: fe" c3=redis:7 c1=nginx:1.25:ENV5 >"$D/d.yaml"
	k apply -f "$D/d.yaml" >/dev/null || fail "$minor: apply env"
	out=$(k -n "$ns" get deploy web -o json | jq -c '.spec.template.spec.containers[1].env')
	[[ $out == '[{"name":"A","value":"1"},{"name":"B","value":"5"}]' ]] || fail "$minor: env: $out"
	manifest "$ns" "    app: web" c3=redis:7 c1=nginx:1.25:ENV5 >"$D/d.yaml"
	k apply -f "$D/d.yaml" >/dev/null || fail "$minor: apply label"
	out=$(k -n "$ns" get deploy web -o json | jq -c .metadata.labels)
	[[ $out == '{"app":"web"}' ]] || fail "$minor: labels: $out"
	k apply -f "$D/d.yaml" | grep -q unchanged || fail "$minor: re-apply after changes"

	# apply switching the strategy and a volume's source: kubectl's $retainKeys clear the old
	# ones; removing an env var
	cat >"$D/s.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: s, namespace: $ns}
spec:
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec:
      containers:
      - name: c
        image: nginx
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        volumeMounts: [{name: v, mountPath: /v}]
      volumes: [{name: v, emptyDir: {}}]
YAML
	k apply -f "$D/s.yaml" >/dev/null || fail "$minor: apply s"
	[[ $(k -n "$ns" get deploy s -o jsonpath='{.spec.strategy.rollingUpdate.maxSurge}') == 25% ]] || fail "$minor: s defaults"
	sed -i 's/^spec:/spec:\n  strategy: {type: Recreate}/; s/env: .*/env: [{name: B, value: "2"}]/; s/emptyDir: {}/configMap: {name: cm}/' "$D/s.yaml"
	k apply -f "$D/s.yaml" >/dev/null || fail "$minor: apply s changes"
	out=$(k -n "$ns" get deploy s -o json | jq -c '[.spec.strategy, (.spec.template.spec.volumes[0] | del(.configMap.defaultMode)), .spec.template.spec.containers[0].env]')
	[[ $out == '[{"type":"Recreate"},{"configMap":{"name":"cm"},"name":"v"},[{"name":"B","value":"2"}]]' ]] || fail "$minor: retainKeys apply: $out"

	# kubectl set image, label, annotate
	k -n "$ns" set image deploy/web c1=nginx:1.27 >/dev/null || fail "$minor: set image"
	[[ $(containers "$ns") == "c3=redis:7 c1=nginx:1.27" ]] || fail "$minor: set image: $(containers "$ns")"
	k -n "$ns" label deploy web app=web2 --overwrite >/dev/null || fail "$minor: label"
	k -n "$ns" annotate deploy web note=hello >/dev/null || fail "$minor: annotate"
	out=$(k -n "$ns" get deploy web -o jsonpath='{.metadata.labels.app}/{.metadata.annotations.note}')
	[[ $out == web2/hello ]] || fail "$minor: label/annotate: $out"
	out=$(k -n "$ns" label deploy web app=x 2>&1) && fail "$minor: label without --overwrite"

	# kubectl patch, each type
	k -n "$ns" patch deploy web --type merge -p '{"spec":{"replicas":3}}' >/dev/null || fail "$minor: patch merge"
	k -n "$ns" patch deploy web --type json -p '[{"op":"test","path":"/spec/replicas","value":3},{"op":"replace","path":"/spec/replicas","value":2},{"op":"add","path":"/metadata/annotations/a~1b","value":"c"}]' >/dev/null || fail "$minor: patch json"
	out=$(k -n "$ns" get deploy web -o jsonpath='{.spec.replicas} {.metadata.annotations.a/b}')
	[[ $out == "2 c" ]] || fail "$minor: patch json result: $out"
	out=$(k -n "$ns" patch deploy web --type json -p '[{"op":"test","path":"/spec/replicas","value":9}]' 2>&1) && fail "$minor: failed test applied"
	grep -q 'the server rejected our request due to an error in our request' <<<"$out" || fail "$minor: failed test: $out"
	k -n "$ns" patch deploy web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"c1","env":[{"name":"C","value":"3"}]}]}}}}' >/dev/null || fail "$minor: patch strategic"
	out=$(k -n "$ns" get deploy web -o json | jq -c '[.spec.template.spec.containers[] | select(.name=="c1") | .env[].name]')
	[[ $out == '["C","A","B"]' ]] || fail "$minor: strategic env merge: $out"
	out=$(k -n "$ns" patch deploy nope --type merge -p '{"spec":{}}' 2>&1) && fail "$minor: patched a missing object"
	grep -q 'NotFound\|not found' <<<"$out" || fail "$minor: missing object: $out"

	# kubectl edit, non-interactively
	EDITOR="sed -i s/nginx:1.27/nginx:1.28/" k -n "$ns" edit deploy/web >/dev/null || fail "$minor: edit"
	[[ $(containers "$ns") == "c3=redis:7 c1=nginx:1.28" ]] || fail "$minor: edit: $(containers "$ns")"

	# raw: a stale resourceVersion is a conflict, the current one applies
	rv=$(C "$U/apis/apps/v1/namespaces/$ns/deployments/web" | jq -r .metadata.resourceVersion)
	P() { C -X PATCH -H "Content-Type: $1" -d "$2" "$U/apis/apps/v1/namespaces/$ns/deployments/web"; }
	out=$(P application/merge-patch+json '{"metadata":{"resourceVersion":"1","labels":{"x":"1"}}}')
	[[ $(jq -r '.code,.reason' <<<"$out" | xargs) == "409 Conflict" ]] || fail "$minor: stale rv: $out"
	out=$(P application/strategic-merge-patch+json "{\"metadata\":{\"resourceVersion\":\"$rv\",\"labels\":{\"x\":\"1\"}}}")
	[[ $(jq -r .metadata.labels.x <<<"$out") == 1 ]] || fail "$minor: current rv: $out"
	out=$(P application/json-patch+json '[{"op":"test","path":"/spec/replicas","value":7}]')
	[[ $(jq -c '[.code,.reason,.message,.details]' <<<"$out") == '[422,"Invalid","the server rejected our request due to an error in our request",{}]' ]] || fail "$minor: json patch test: $out"
	out=$(P application/strategic-merge-patch+json '{"metadata":{"labels":{"$patch":"frob"}}}')
	[[ $(jq -r .code <<<"$out") == 500 && $(jq -r .message <<<"$out") == "unknown patch type: frob in map: map[\$patch:frob]" ]] || fail "$minor: bad directive: $out"
	out=$(P application/strategic-merge-patch+json '{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}')
	[[ $(jq -r '.code,.message' <<<"$out" | xargs) == "400 invalid patch format of retainKeys" ]] || fail "$minor: retainKeys: $out"
	out=$(P application/apply-patch+yaml '{}')
	[[ $(jq -r .code <<<"$out") == 415 ]] || fail "$minor: apply-patch: $out"
	out=$(P application/merge-patch+json '{"spec":{"replicas":-1}}')
	[[ $(jq -r '.code,.reason' <<<"$out" | xargs) == "422 Invalid" ]] || fail "$minor: invalid result: $out"
	[[ $(C "$U/apis/apps/v1/namespaces/$ns/deployments/web" | jq -r .spec.replicas) == 2 ]] || fail "$minor: invalid patch stored"

	# the /scale subresource takes every patch type
	k -n "$ns" patch deploy web --subresource=scale --type=json -p '[{"op":"replace","path":"/spec/replicas","value":4}]' >/dev/null || fail "$minor: json patch of /scale"
	[[ $(k -n "$ns" get deploy web -o jsonpath='{.spec.replicas}') == 4 ]] || fail "$minor: /scale json patch result"
	out=$(C -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' -d '{"spec":{"replicas":2}}' "$U/apis/apps/v1/namespaces/$ns/deployments/web/scale")
	[[ $(jq -r '.kind,.spec.replicas' <<<"$out" | xargs) == "Scale 2" ]] || fail "$minor: /scale strategic patch: $out"

	# concurrent patches without a resourceVersion all apply (kube retries them on a conflict)
	local pids=()
	for i in $(seq 12); do
		P application/merge-patch+json "{\"metadata\":{\"annotations\":{\"par-$i\":\"$i\"}}}" >"$D/par.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 12); do
		[[ $(jq -r ".metadata.annotations[\"par-$i\"]" "$D/par.$i") == "$i" ]] || fail "$minor: concurrent patch $i: $(cat "$D/par.$i")"
	done
	out=$(C "$U/apis/apps/v1/namespaces/$ns/deployments/web" | jq '[.metadata.annotations | keys[] | select(startswith("par-"))] | length')
	[[ $out == 12 ]] || fail "$minor: concurrent patches kept $out of 12 annotations"
}

srv_start 31
suite 31
srv_stop
srv_start 33
suite 33

# The Python client: a dict is sent as a strategic merge patch, a list as a JSON patch.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
apps = client.AppsV1Api()
d = apps.patch_namespaced_deployment("web", "p33", {"spec": {"template": {"spec": {
    "containers": [{"name": "c3", "env": [{"name": "PY", "value": "1"}]}]}}}})
cs = d.spec.template.spec.containers
assert [c.name for c in cs] == ["c3", "c1"], cs
assert [(e.name, e.value) for e in cs[0].env] == [("PY", "1")], cs[0].env
assert cs[1].image == "nginx:1.28", cs[1]
d = apps.patch_namespaced_deployment("web", "p33", [
    {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "redis:7.2"},
    {"op": "remove", "path": "/metadata/labels/x"}])
assert d.spec.template.spec.containers[0].image == "redis:7.2", d.spec.template.spec.containers
assert "x" not in d.metadata.labels, d.metadata.labels
try:
    apps.patch_namespaced_deployment("web", "p33", [{"op": "remove", "path": "/nope"}])
    raise SystemExit("a JSON patch removing a missing member applied")
except client.exceptions.ApiException as e:
    assert e.status == 422, e
PYTHON
srv_stop
echo PASS

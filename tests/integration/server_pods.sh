#!/bin/bash
# k8c-server's pods/binding (what a scheduler posts), the checks of pods/log, label selectors and
# healthCheckNodePort allocation, with curl, kubectl 1.31 and the Python client. No root needed.
#
#   kubectl / python3 kubernetes / curl ──TLS──► k8c-server 127.0.0.1:$PORT ($D/data)
# Usage: server_pods.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup pods
srv_instance "$D"
srv_start 31

P=$U/api/v1/namespaces/default/pods
pod() { J -X POST -d "{\"metadata\":{\"name\":\"$1\"},\"spec\":{\"containers\":[$2]}}" "$P" >/dev/null; }
pod web '{"name":"c","image":"busybox:1"}'
pod two '{"name":"a","image":"busybox:1"},{"name":"b","image":"busybox:1"}'

# Discovery lists both subresources with their verbs.
[[ $(C "$U/api/v1" | jq -c '[.resources[] | select(.name == "pods/binding" or .name == "pods/log" or .name == "pods/exec") | [.name, .kind, .verbs]]') == '[["pods/binding","Binding",["create"]],["pods/log","Pod",["get"]],["pods/exec","PodExecOptions",["create","get"]]]' ]] ||
	fail "discovery of pods/binding, pods/log: $(C "$U/api/v1" | jq -c '.resources[] | select(.name | startswith("pods/"))')"

# A Binding puts the pod on its node: spec.nodeName, PodScheduled True, the annotations.
rv0=$(C "$P/web" | jq -r .metadata.resourceVersion)
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web","annotations":{"k8c.io/scheduled-by":"test"}},"target":{"apiVersion":"v1","kind":"Node","name":"node-1"}}' "$P/web/binding")
[[ $code == 201 && $(jq -r '"\(.kind) \(.status) \(.code)"' "$D/out") == "Status Success 201" ]] || fail "binding: $code $(cat "$D/out")"
got=$(C "$P/web" | jq -r '[.spec.nodeName, (.status.conditions[] | select(.type == "PodScheduled") | .status), .metadata.annotations["k8c.io/scheduled-by"]] | join(" ")')
[[ $got == "node-1 True test" ]] || fail "bound pod: $got"
[[ $(C "$P/web" | jq -r .metadata.resourceVersion) != "$rv0" ]] || fail "binding did not write"
out=$(k get pod web -o wide 2>&1) || fail "get -o wide: $out"
grep -Eq '^web .* node-1 ' <<<"$out" || fail "kubectl does not show the node: $out"

# A bound pod cannot be bound again; the Binding must name the pod and a node.
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"web"},"target":{"name":"node-2"}}' "$P/web/binding")
[[ $code == 409 ]] && jq -r .message "$D/out" | grep -q 'pod web is already assigned to node "node-1"' ||
	fail "second binding: $code $(cat "$D/out")"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"other"},"target":{"name":"node-2"}}' "$P/two/binding")
[[ $code == 400 ]] || fail "binding with another name: $code $(cat "$D/out")"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"two"},"target":{}}' "$P/two/binding")
[[ $code == 422 && $(jq -r '.details.causes[0].field' "$D/out") == target.name ]] || fail "binding without a node: $code $(cat "$D/out")"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"two"},"target":{"kind":"Pod","name":"x"}}' "$P/two/binding")
[[ $code == 422 ]] || fail "binding to a Pod: $code $(cat "$D/out")"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"nope"},"target":{"name":"node-1"}}' "$P/nope/binding")
[[ $code == 404 ]] || fail "binding of a missing pod: $code $(cat "$D/out")"
code=$(C -o "$D/out" -w '%{http_code}' "$P/web/binding")
[[ $code == 405 ]] || fail "GET binding: $code"
[[ $(C "$P/two" | jq -r '.spec.nodeName // "none"') == none ]] || fail "a refused binding wrote"

# The Python client binds as a scheduler does (create_namespaced_binding).
$PY - "$SRV_DIR/data/admin.kubeconfig" <<'PYEOF' || fail "python binding"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
body = client.V1Binding(metadata=client.V1ObjectMeta(name="two"),
                        target=client.V1ObjectReference(kind="Node", name="node-2"))
try:
    v1.create_namespaced_binding("default", body, _preload_content=False)
except client.ApiException as e:
    sys.exit(f"binding failed: {e.status} {e.body}")
assert v1.read_namespaced_pod("two", "default").spec.node_name == "node-2"
PYEOF

# pods/log: kube-apiserver's checks and messages, then the pod's Node (none here: 404; the
# stream from a node agent is streams_logs.sh's).
pod pending '{"name":"c","image":"busybox:1"}'
out=$(k logs pending 2>&1) && fail "logs of an unscheduled pod: $out"
grep -q 'pod pending does not have a host assigned' <<<"$out" || fail "logs unscheduled: $out"
# (kubectl picks the first container itself; the server's answer is for other clients)
code=$(C -o "$D/out" -w '%{http_code}' "$P/two/log")
[[ $code == 400 ]] && jq -r .message "$D/out" | grep -q 'a container name must be specified for pod two, choose one of: \[a b\]' ||
	fail "logs container choice: $code $(cat "$D/out")"
out=$(k logs two 2>&1) && fail "logs of a pod without an agent: $out"
grep -q 'Defaulted container "a"' <<<"$out" && grep -q 'nodes "node-2" not found' <<<"$out" || fail "kubectl logs two: $out"
out=$(k logs two -c zzz 2>&1) && fail "logs of a missing container: $out"
grep -q 'container zzz is not valid for pod two' <<<"$out" || fail "logs bad container: $out"
code=$(C -o "$D/out" -w '%{http_code}' "$P/web/log")
[[ $code == 404 ]] && jq -r .message "$D/out" | grep -q 'nodes "node-1" not found' || fail "log of a bound pod: $code $(cat "$D/out")"
code=$(C -o "$D/out" -w '%{http_code}' "$P/nope/log")
[[ $code == 404 ]] || fail "log of a missing pod: $code"

# Label selectors, set-based too (kubectl sends them as written).
k label pod web tier=front >/dev/null && k label pod two tier=back >/dev/null && k label pod pending tier=db >/dev/null
sel() { k get pods -l "$1" -o name | sed 's#pod/##' | sort | tr '\n' ' '; }
[[ $(sel 'tier in (front,back)') == "two web " ]] || fail "in: $(sel 'tier in (front,back)')"
[[ $(sel 'tier notin (front, back)') == "pending " ]] || fail "notin: $(sel 'tier notin (front, back)')"
[[ $(sel 'tier notin (front),tier!=db') == "two " ]] || fail "notin + !=: $(sel 'tier notin (front),tier!=db')"
[[ $(sel 'tier,!nope') == "pending two web " ]] || fail "exists: $(sel 'tier,!nope')"
[[ $(sel '!tier') == "" ]] || fail "!tier: $(sel '!tier')"
code=$(C -o "$D/out" -w '%{http_code}' -G --data-urlencode 'labelSelector=tier in (a' "$P")
[[ $code == 400 ]] || fail "unclosed set: $code $(cat "$D/out")"
code=$(C -o "$D/out" -w '%{http_code}' -G --data-urlencode 'fieldSelector=metadata.name in (web)' "$P")
[[ $code == 400 ]] || fail "set-based field selector: $code $(cat "$D/out")"

# healthCheckNodePort: allocated for LoadBalancer + externalTrafficPolicy Local, kept on update,
# dropped when the policy goes back to Cluster, refused on other types, never shared.
SVC=$U/api/v1/namespaces/default/services
lb() { J -X POST -d "{\"metadata\":{\"name\":\"$1\"},\"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\",\"selector\":{\"app\":\"x\"},\"ports\":[{\"port\":80}]$2}}" "$SVC"; }
hc1=$(lb lb1 | jq -r .spec.healthCheckNodePort)
(( hc1 >= 30000 && hc1 <= 32767 )) || fail "no healthCheckNodePort: $hc1"
code=$(lb lb2 ",\"healthCheckNodePort\":$hc1" | jq -r .code)
[[ $code == 422 ]] || fail "a taken healthCheckNodePort was given again: $code"
[[ $(C "$SVC/lb1" | jq '.spec.ports[0].nodePort') != "$hc1" ]] || fail "health check port equals the node port"
out=$(k label svc lb1 x=y 2>&1) && [[ $(C "$SVC/lb1" | jq -r .spec.healthCheckNodePort) == "$hc1" ]] || fail "update lost the health check port: $out"
out=$(k patch svc lb1 -p '{"spec":{"externalTrafficPolicy":"Cluster"}}' 2>&1) || fail "patch to Cluster: $out"
[[ $(C "$SVC/lb1" | jq -r '.spec.healthCheckNodePort // "none"') == none ]] || fail "health check port kept with policy Cluster"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"np1"},"spec":{"type":"NodePort","healthCheckNodePort":31999,"ports":[{"port":80}]}}' "$SVC")
[[ $code == 422 ]] && jq -r .message "$D/out" | grep -q "may only be set when" || fail "healthCheckNodePort on a NodePort service: $code $(cat "$D/out")"

srv_stop
echo PASS

#!/bin/bash
# The endpoint, endpointslice and endpointslicemirroring controllers inside k8c-server: Endpoints
# and EndpointSlices follow the pods of a Service (the test plays the agent: it sets podIP,
# phase and Ready through pods/status), ports by name, ready/serving/terminating, zone and
# nodeName, publishNotReadyAddresses, headless, slices of 100, placeholder slices, hand-made
# Endpoints kept and mirrored, cleanup with the Service. docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup ctrleps
srv_instance "$D"
export K8C_CONTROLLERS=endpoint,endpointslice,endpointslicemirroring
srv_start 31

wait_for() {
	local desc=$1
	shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $desc"
}

NS=eps$$
k create ns "$NS" >/dev/null
J -X POST -d '{"apiVersion":"v1","kind":"Node","metadata":{"name":"zn1","labels":
	{"topology.kubernetes.io/zone":"z1"}}}' "$U/api/v1/nodes" | jq -e .metadata.uid >/dev/null ||
	fail "create node"

# mkpod NAME APP IP [NODE]: a pod of app APP with a container port named http (8080), Running
# with IP, not Ready yet
mkpod() {
	jq -n --arg n "$1" --arg app "$2" --arg node "${4:-zn1}" '{apiVersion:"v1",kind:"Pod",
		metadata:{name:$n,labels:{app:$app}},spec:{nodeName:$node,containers:[{name:"c",
		image:"example.invalid/x",ports:[{name:"http",containerPort:8080}]}]}}' |
		J -X POST -d @- "$U/api/v1/namespaces/$NS/pods" | jq -e .metadata.uid >/dev/null ||
		fail "create pod $1"
	status "$1" "$3" False
}
# status NAME IP READY: phase Running, podIP, Ready condition
status() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -d "{\"status\":{
		\"phase\":\"Running\",\"podIP\":\"$2\",\"podIPs\":[{\"ip\":\"$2\"}],
		\"conditions\":[{\"type\":\"Ready\",\"status\":\"$3\"}]}}" \
		"$U/api/v1/namespaces/$NS/pods/$1/status" | jq -e .status.podIP >/dev/null ||
		fail "status of pod $1"
}
ep() { k -n "$NS" get endpoints "$1" -o json; }
slices() { k -n "$NS" get endpointslices -l "kubernetes.io/service-name=$1" -o json; }
# the slices' endpoints as "ip ready serving terminating" lines, sorted
slice_eps() {
	slices "$1" | jq -r '.items[].endpoints[]? | "\(.addresses[0]) \(.conditions.ready)
		\(.conditions.serving) \(.conditions.terminating)"' | tr -s ' \n\t' ' ' | sed 's/ $//'
}

k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, labels: {team: a}}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: 9090}
YAML
# no pods yet: empty Endpoints and a placeholder slice
wait_for "Endpoints web" ep web
one_slice() { [[ $(slices web | jq ".items | length") == 1 ]]; }
wait_for "placeholder slice" one_slice
[[ $(slices web | jq '.items[0].endpoints | length') == 0 ]] || fail "placeholder has endpoints"

mkpod web-1 web 10.9.0.1
mkpod web-2 web 10.9.0.2
status web-1 10.9.0.1 True
want_eps() { [[ $(ep web | jq -c '[.subsets[]? | {a: [.addresses[]?.ip], n: [.notReadyAddresses[]?.ip],
	p: [.ports[] | "\(.name)=\(.port)"] | sort}]') == "$1" ]]; }
wait_for "Endpoints web-1 ready, web-2 not" want_eps \
	'[{"a":["10.9.0.1"],"n":["10.9.0.2"],"p":["http=8080","metrics=9090"]}]'
ep web | jq -e '.subsets[0].addresses[0] | .nodeName == "zn1" and .targetRef.kind == "Pod" and
	.targetRef.name == "web-1"' >/dev/null || fail "address fields: $(ep web)"
ep web | jq -e '.metadata.labels.team == "a"' >/dev/null || fail "labels not copied"

want_slice() { [[ $(slice_eps web) == "$1" ]]; }
wait_for "slice web-1 ready, web-2 not" want_slice "10.9.0.1 true true false 10.9.0.2 false false false"
s=$(slices web)
[[ $(jq '.items | length' <<<"$s") == 1 ]] || fail "slices: $s"
jq -e '.items[0] | .addressType == "IPv4" and
	.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io" and
	.metadata.labels.team == "a" and
	.metadata.ownerReferences[0].kind == "Service" and .metadata.ownerReferences[0].name == "web" and
	.metadata.ownerReferences[0].controller == true and
	([.ports[] | "\(.name)=\(.port)/\(.protocol)"] | sort) == ["http=8080/TCP","metrics=9090/TCP"] and
	(.endpoints[0] | .zone == "z1" and .nodeName == "zn1" and .targetRef.name == "web-1")' \
	<<<"$s" >/dev/null || fail "slice fields: $s"

# readiness flips
status web-2 10.9.0.2 True
wait_for "slice both ready" want_slice "10.9.0.1 true true false 10.9.0.2 true true false"
wait_for "Endpoints both ready" want_eps '[{"a":["10.9.0.1","10.9.0.2"],"n":[],"p":["http=8080","metrics=9090"]}]'
k -n "$NS" get endpoints web | grep -q "10.9.0.1:8080" || fail "kubectl get endpoints: $(k -n "$NS" get endpoints web)"
k -n "$NS" get endpointslices | grep -q "^web-" || fail "kubectl get endpointslices: $(k -n "$NS" get endpointslices)"

# terminating: deleted with a grace period (no agent confirms it), serving but not ready
k -n "$NS" delete pod web-2 --wait=false >/dev/null
wait_for "slice web-2 terminating" want_slice "10.9.0.1 true true false 10.9.0.2 false true true"
wait_for "Endpoints without web-2" want_eps '[{"a":["10.9.0.1"],"n":[],"p":["http=8080","metrics=9090"]}]'
k -n "$NS" delete pod web-2 --grace-period=0 --force >/dev/null 2>&1
wait_for "slice without web-2" want_slice "10.9.0.1 true true false"

# a pod without the named port: only in the metrics port set, a slice of its own
jq -n '{apiVersion:"v1",kind:"Pod",metadata:{name:"bare",labels:{app:"web"}},spec:{nodeName:"zn1",
	containers:[{name:"c",image:"example.invalid/x"}]}}' |
	J -X POST -d @- "$U/api/v1/namespaces/$NS/pods" >/dev/null
status bare 10.9.0.3 True
two_slices() { [[ $(slices web | jq '.items | length') == 2 ]]; }
wait_for "a second slice for the other port set" two_slices
slices web | jq -e '[.items[] | select(.endpoints[0].addresses[0] == "10.9.0.3") | .ports | length] == [1]' \
	>/dev/null || fail "port set of bare: $(slices web)"

# ---- publishNotReadyAddresses + headless ----
k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: db}
  ports: [{name: sql, port: 5432}]
YAML
mkpod db-0 db 10.9.1.1
dbready() { [[ $(ep db | jq -c '[.subsets[]?.addresses[]?.ip]') == '["10.9.1.1"]' ]]; }
wait_for "not-ready db-0 published" dbready
ep db | jq -e '.metadata.labels["service.kubernetes.io/headless"] == ""' >/dev/null ||
	fail "headless label on Endpoints: $(ep db)"
db_slice() { [[ $(slice_eps db) == "10.9.1.1 true true false" ]]; }
wait_for "db slice ready (published)" db_slice
slices db | jq -e '.items[0].metadata.labels["service.kubernetes.io/headless"] == ""' >/dev/null ||
	fail "headless label on slice"

# ---- 120 pods: two slices, 100 + 20 ----
k -n "$NS" create service clusterip many --tcp=80:8080 >/dev/null
for i in $(seq 1 120); do
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"m-$i\",\"labels\":{\"app\":\"many\"}},
		\"spec\":{\"nodeName\":\"zn1\",\"containers\":[{\"name\":\"c\",\"image\":\"example.invalid/x\"}]}}" \
		>"$D/m-$i.json"
done
# shellcheck disable=SC2016
seq 1 120 | xargs -P 4 -I{} sh -c 'curl -s --cacert "$1/ca.crt" --cert "$1/admin.crt" --key "$1/admin.key" \
	-H "Content-Type: application/json" -d @"$2/m-{}.json" "$3/api/v1/namespaces/$4/pods" >/dev/null &&
	curl -s --cacert "$1/ca.crt" --cert "$1/admin.crt" --key "$1/admin.key" -X PATCH \
	-H "Content-Type: application/merge-patch+json" \
	-d "{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.9.2.{}\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" \
	"$3/api/v1/namespaces/$4/pods/m-{}/status" >/dev/null' _ "$SRV_DIR/data/pki" "$D" "$U" "$NS"
split_ok() { [[ $(slices many | jq -c '[.items[].endpoints | length] | sort') == '[20,100]' ]]; }
wait_for "120 endpoints in slices of 100 and 20" split_ok
many_eps() { [[ $(ep many | jq '[.subsets[]?.addresses[]?] | length') == 120 ]]; }
wait_for "120 addresses in Endpoints" many_eps

# ---- no selector: hand-made Endpoints kept, mirrored to a slice ----
k -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: ext, labels: {origin: hand}}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{name: pg, port: 5432}]
YAML
mirrored() {
	slices ext | jq -e '.items | length == 1 and (.[0] | .metadata.labels["endpointslice.kubernetes.io/managed-by"] ==
		"endpointslicemirroring-controller.k8s.io" and .metadata.labels.origin == "hand" and
		.endpoints[0].addresses[0] == "192.0.2.10" and .ports[0].port == 5432 and
		.metadata.ownerReferences[0].kind == "Endpoints")'
}
wait_for "mirrored slice of ext" mirrored
sleep 1
[[ $(ep ext | jq -c '[.subsets[].addresses[].ip]') == '["192.0.2.10"]' ]] || fail "hand-made Endpoints changed: $(ep ext)"
# the hand-made Endpoints changes: the mirror follows
k -n "$NS" patch endpoints ext --type=merge -p '{"subsets":[{"addresses":[{"ip":"192.0.2.11"}],"ports":[{"name":"pg","port":5432}]}]}' >/dev/null
remirrored() { slices ext | jq -e '.items[0].endpoints[0].addresses[0] == "192.0.2.11"'; }
wait_for "mirror follows" remirrored

# ---- repaired: a deleted Endpoints comes back, a hand-edited slice is rewritten ----
k -n "$NS" delete endpoints web >/dev/null
wait_for "Endpoints web recreated" want_eps '[{"a":["10.9.0.1"],"n":[],"p":["http=8080","metrics=9090"]},{"a":["10.9.0.3"],"n":[],"p":["metrics=9090"]}]'
sl=$(slices web | jq -r '.items[] | select(.endpoints[0].addresses[0] == "10.9.0.1") | .metadata.name')
k -n "$NS" patch endpointslice "$sl" --type=merge -p '{"endpoints":[]}' >/dev/null
repaired() { slices web | jq -e --arg n "$sl" '.items[] | select(.metadata.name == $n) | .endpoints[0].addresses[0] == "10.9.0.1"'; }
wait_for "slice $sl repaired" repaired

# ---- the Service goes: its Endpoints and slices go ----
k -n "$NS" delete service web >/dev/null
no_web() { ! ep web && [[ $(slices web | jq '.items | length') == 0 ]]; }
wait_for "web's Endpoints and slices removed" no_web
srv_stop
echo "PASS: ctrl_endpoints"

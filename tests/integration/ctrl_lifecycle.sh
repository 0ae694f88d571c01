#!/bin/bash
# The nodelifecycle controller inside k8c-server (grace period 2 s) with fake nodes (Node
# objects with no agent) whose Lease and Ready condition the test renews or not, and the
# server's DefaultTolerationSeconds admission. docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
. "$(dirname "$0")/ctrl_lib.sh"
srv_setup ctrllife
srv_instance "$D"
# only the controllers under test: workload controllers or a scheduler would act on its objects
export K8C_CONTROLLERS=nodelifecycle
FLAGS=(--node-monitor-grace-period=2s)
srv_start 31 "${FLAGS[@]}"

# ---- nodelifecycle (grace period 2 s): Lease not renewed -> Unknown, unreachable taints,
# pods not ready, evicted after their toleration; Ready False -> not-ready taints ----
mklease() {
	J -X POST -d "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"kube-node-lease\"},\"spec\":{\"holderIdentity\":\"$1\",\"leaseDurationSeconds\":40,\"renewTime\":\"$(now_micro)\"}}" \
		"$U/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" >/dev/null
}
renew() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -d "{\"spec\":{\"renewTime\":\"$(now_micro)\"}}" \
		"$U/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$1" >/dev/null
}
# set_ready NODE True|False
set_ready() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' \
		-d "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"$2\",\"reason\":\"KubeletReady\",\"lastHeartbeatTime\":\"$(now_s)\",\"lastTransitionTime\":\"$(now_s)\"}]}}" \
		"$U/api/v1/nodes/$1/status" >/dev/null
}
taints() { k get node "$1" -o json | jq -r '[.spec.taints[]? | .key + ":" + .effect] | sort | join(",")'; }
ready_status() { k get node "$1" -o json | jq -r '.status.conditions[]? | select(.type == "Ready") | .status + "/" + (.reason // "")'; }
mknode lc1
mklease lc1
set_ready lc1 True
k create ns lc >/dev/null
mkpod() { # NAME NODE TOLERATIONS-JSON
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"nodeName\":\"$2\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}],\"tolerations\":$3}}" \
		"$U/api/v1/namespaces/lc/pods" | jq -e .metadata.uid >/dev/null || fail "pod $1 not created"
	C -X PATCH -H 'Content-Type: application/merge-patch+json' \
		-d '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}' \
		"$U/api/v1/namespaces/lc/pods/$1/status" >/dev/null
}
mkpod p-default lc1 null
mkpod p-short lc1 '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":1}]'
mkpod p-forever lc1 '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]'
# DefaultTolerationSeconds: 300 s for both taints when the pod has none for them
tols=$(k -n lc get pod p-default -o json | jq -c '[.spec.tolerations[] | .key + "/" + .effect + "/" + (.tolerationSeconds|tostring)] | sort')
[[ $tols == '["node.kubernetes.io/not-ready/NoExecute/300","node.kubernetes.io/unreachable/NoExecute/300"]' ]] ||
	fail "default tolerations: $tols"
tols=$(k -n lc get pod p-forever -o json | jq -c '[.spec.tolerations[] | .key + "/" + (.tolerationSeconds|tostring)] | sort')
[[ $tols == '["node.kubernetes.io/not-ready/300","node.kubernetes.io/unreachable/null"]' ]] ||
	fail "p-forever tolerations: $tols"
# the lease is not renewed: Unknown, unreachable taints
is_unknown() { [[ $(ready_status lc1) == Unknown/NodeStatusUnknown ]]; }
wait_for "lc1 Ready=Unknown" is_unknown
unreachable() { [[ $(taints lc1) == node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/unreachable:NoSchedule ]]; }
wait_for "lc1 unreachable taints" unreachable
[[ $(k get node lc1 -o json | jq -r '.spec.taints[] | select(.effect == "NoExecute") | .timeAdded') != null ]] ||
	fail "NoExecute taint without timeAdded"
pod_not_ready() { [[ $(k -n lc get pod p-forever -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == False ]]; }
wait_for "pods on lc1 not ready" pod_not_ready
# p-short tolerates it for 1 s: evicted; p-default (300 s) and p-forever stay
evicted() { ! k -n lc get pod p-short >/dev/null 2>&1 || [[ -n $(k -n lc get pod p-short -o jsonpath='{.metadata.deletionTimestamp}') ]]; }
wait_for "p-short evicted" evicted
for p in p-default p-forever; do
	[[ -z $(k -n lc get pod $p -o jsonpath='{.metadata.deletionTimestamp}') ]] || fail "$p evicted"
done
evicted_event() { k -n lc get events -o json | jq -e '.items[] | select(.reason == "TaintManagerEviction" and .involvedObject.name == "p-short" and .source.component == "node-controller")'; }
wait_for "TaintManagerEviction event from node-controller" evicted_event
# a node back (lease renewed, Ready True): taints removed
back() { renew lc1; set_ready lc1 True; [[ -z $(taints lc1) ]]; }
wait_for "lc1 untainted" back
# Ready False while the lease is renewed: not-ready taints
notready() { renew lc1; [[ $(taints lc1) == node.kubernetes.io/not-ready:NoExecute,node.kubernetes.io/not-ready:NoSchedule ]]; }
set_ready lc1 False
wait_for "lc1 not-ready taints" notready
# a node that never had a Lease nor a Ready condition: NodeStatusNeverUpdated
mknode lc2
never() { [[ $(ready_status lc2) == Unknown/NodeStatusNeverUpdated ]]; }
wait_for "lc2 NodeStatusNeverUpdated" never
k delete node lc1 lc2 >/dev/null

srv_stop
echo PASS

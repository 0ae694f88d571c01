#!/bin/bash
# The scheduler inside k8c-server (K8C_CONTROLLERS=scheduler) on fake nodes: Node objects with
# capacity, allocatable and a Ready condition, and no agent. Binding by requests, nodeSelector,
# taints and tolerations, the accounting of a burst on one node, PodScheduled=False with kube's
# message and a FailedScheduling Event, then bound once a node that fits appears or a pod goes.
# docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup ctrlsched
srv_instance "$D"
export K8C_CONTROLLERS=scheduler
srv_start 31

# wait_for DESC CMD...: poll CMD (up to 30 s) until it succeeds
wait_for() {
	local desc=$1
	shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $desc"
}

# mknode NAME CPU MEMORY LABELS-JSON TAINTS-JSON: a Ready fake node
mknode() {
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\",
		\"labels\":$4},\"spec\":{\"taints\":$5}}" "$U/api/v1/nodes" | jq -e .metadata.uid >/dev/null ||
		fail "create node $1"
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -d "{\"status\":{
		\"capacity\":{\"cpu\":\"$2\",\"memory\":\"$3\",\"pods\":\"110\"},
		\"allocatable\":{\"cpu\":\"$2\",\"memory\":\"$3\",\"pods\":\"110\"},
		\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}]}}" \
		"$U/api/v1/nodes/$1/status" | jq -e '.status.allocatable.cpu' >/dev/null ||
		fail "status of node $1"
}

NS=sched$$
# mkpod NAME CPU [SPEC-EXTRA-JSON]: a pod in $NS requesting CPU and 64Mi
mkpod() {
	local extra=${3:-'{}'}
	jq -n --arg n "$1" --arg cpu "$2" --argjson x "$extra" '{apiVersion:"v1",kind:"Pod",
		metadata:{name:$n},spec:({containers:[{name:"c",image:"example.invalid/x",
		resources:{requests:{cpu:$cpu,memory:"64Mi"}}}]} + $x)}' |
		k -n "$NS" apply -f - >/dev/null || fail "create pod $1"
}
node_of() { k -n "$NS" get pod "$1" -o jsonpath='{.spec.nodeName}'; }
bound_to() { [[ $(node_of "$1") == "$2" ]]; }
bound() { [[ -n $(node_of "$1") ]]; }
unsched_msg() {
	k -n "$NS" get pod "$1" -o json |
		jq -r '.status.conditions[]? | select(.type=="PodScheduled" and .status=="False"
			and .reason=="Unschedulable") | .message'
}
has_unsched() { [[ -n $(unsched_msg "$1") ]]; }

k create ns "$NS" >/dev/null
mknode n1 2 4Gi '{"disk":"ssd"}' '[]'
mknode n2 1 2Gi '{}' '[]'
mknode n3 8 16Gi '{}' '[{"key":"dedicated","value":"gpu","effect":"NoSchedule"}]'

# ---- requests: only n1 has 1500m free (n3 is tainted) ----
mkpod big 1500m
wait_for "big bound" bound big
[[ $(node_of big) == n1 ]] || fail "big on $(node_of big), want n1"
ev() {
	k -n "$NS" get events --field-selector "involvedObject.name=$1,reason=$2" -o json |
		jq -r '.items[0].message // empty'
}
has_ev() { [[ -n $(ev "$1" "$2") ]]; }
wait_for "Scheduled event" has_ev big Scheduled
[[ $(ev big Scheduled) == "Successfully assigned $NS/big to n1" ]] || fail "event: $(ev big Scheduled)"
# from kube's scheduler name (kubectl describe's From column)
k -n "$NS" describe pod big | grep -Eq "Normal +Scheduled +[^ ]+ +default-scheduler +Successfully assigned $NS/big to n1" ||
	fail "describe pod big: $(k -n "$NS" describe pod big)"
k -n "$NS" get pod big -o json | jq -e '.status.conditions[] | select(.type=="PodScheduled") |
	.status=="True"' >/dev/null || fail "PodScheduled not True on big"

# ---- nodeSelector ----
mkpod sel 100m '{"nodeSelector":{"disk":"ssd"}}'
wait_for "sel bound" bound sel
[[ $(node_of sel) == n1 ]] || fail "sel on $(node_of sel), want n1"

# ---- required node affinity by metadata.name ----
mkpod aff 100m '{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
	{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["n2"]}]}]}}}}'
wait_for "aff bound" bound aff
[[ $(node_of aff) == n2 ]] || fail "aff on $(node_of aff), want n2"

# ---- nothing fits: Unschedulable with kube's message, then a node appears ----
mkpod huge 3
wait_for "huge unschedulable" has_unsched huge
want="0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
[[ $(unsched_msg huge) == "$want" ]] || fail "message: $(unsched_msg huge)"
wait_for "FailedScheduling event" has_ev huge FailedScheduling
[[ $(ev huge FailedScheduling) == "$want" ]] || fail "event: $(ev huge FailedScheduling)"
bound huge && fail "huge bound without room"
mknode n4 4 8Gi '{}' '[]'
wait_for "huge bound on the new node" bound_to huge n4

# ---- tolerations ----
mkpod gpu 5 '{"tolerations":[{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}]}'
wait_for "gpu bound" bound_to gpu n3

# ---- a burst on one node: n2 has 900m left, four pods of 400m ----
for i in 1 2 3 4; do mkpod burst$i 400m '{"nodeSelector":{"kubernetes.io/hostname":"n2"}}'; done
# n2 has no hostname label: nothing matches yet
wait_for "burst1 unschedulable" has_unsched burst1
k label node n2 kubernetes.io/hostname=n2 >/dev/null
count_bound() {
	local n=0
	for i in 1 2 3 4; do bound burst$i && n=$((n + 1)); done
	echo $n
}
two_bound() { [[ $(count_bound) == 2 ]]; }
wait_for "two burst pods bound" two_bound
two_unsched() {
	local n=0
	for i in 1 2 3 4; do
		[[ $(unsched_msg burst$i) == *"1 Insufficient cpu"* ]] && n=$((n + 1))
	done
	[[ $n == 2 ]]
}
wait_for "two burst pods Insufficient cpu" two_unsched
sleep 1
[[ $(count_bound) == 2 ]] || fail "n2 overbooked: $(count_bound) burst pods bound"
# a bound one goes (force: no agent confirms the deletion): one more fits
gone=
for i in 1 2 3 4; do
	if bound burst$i; then
		gone=burst$i
		k -n "$NS" delete pod "$gone" --grace-period=0 --force >/dev/null 2>&1
		break
	fi
done
two_left_bound() {
	local n=0
	for i in 1 2 3 4; do [[ burst$i != "$gone" ]] && bound burst$i && n=$((n + 1)); done
	[[ $n == 2 ]]
}
wait_for "a waiting burst pod bound after a delete" two_left_bound

# ---- pods of another scheduler are left alone ----
mkpod other 100m '{"schedulerName":"my-scheduler"}'
sleep 1
bound other && fail "a pod of my-scheduler was bound"

# kubectl shows where pods run
k -n "$NS" get pods -o wide | grep -q "big .*n1" || fail "kubectl get pods -o wide: $(k -n "$NS" get pods -o wide)"
srv_stop
echo "PASS: ctrl_sched"

#!/bin/bash
# Agent restarts and leaks (docs/agent.md "Restarts"): pods keep running while the agent is
# killed (SIGKILL) and while it is down; a new agent adopts them (same container, IP, restart
# count), keeps serving them (a crash is restarted; a deletion made while it was down is carried
# out), sweeps what no pod owns (a pod deleted for good while it was down); then N create/delete
# cycles (AG_CYCLES, default 5) leave nothing: netns, links, mounts, cgroups, runc containers,
# address reservations, CNI cache entries, pod dirs.
# Usage: agent_restart.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-restart
ag_node node1 1
CYCLES=${AG_CYCLES:-5}

k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  nodeName: node1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo ok > /tmp/i; httpd -f -p 8080 -h /tmp"]}
---
apiVersion: v1
kind: Pod
metadata: {name: flaky}
spec:
  nodeName: node1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "sleep 3; exit 1"]}
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 0
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: later}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"]}
Y
for p in keep gone later; do ag_wait pod/$p '{.status.phase}' Running; done
ag_wait pod/flaky '{.status.containerStatuses[0].restartCount}' 1
ip=$(k get pod keep -o jsonpath='{.status.podIP}')
cid=$(k get pod keep -o jsonpath='{.status.containerStatuses[0].containerID}')
gone_uid=$(k get pod gone -o jsonpath='{.metadata.uid}')

log "SIGKILL the agent: pods keep running"
ag_kill node1 KILL
assert_eq "pod still answers" ok "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/i" 2>&1)"
# while the agent is down: one pod is deleted for good, one is marked for deletion
k delete pod gone --grace-period=0 --force >/dev/null 2>&1
k delete pod later --wait=false >/dev/null
assert_eq "gone's container still runs" 1 "$(runc --root "$D/node1/runc" list -q | grep -c "^$gone_uid-")"

log "a new agent adopts the pods"
ag_start node1 1
for _ in $(seq 100); do
	[[ -z $(k get pod later -o name 2>/dev/null) ]] && break
	sleep 0.2
done
assert_eq "deletion made while down is carried out" "" "$(k get pod later -o name 2>/dev/null)"
for _ in $(seq 100); do
	[[ $(runc --root "$D/node1/runc" list -q | grep -c "^$gone_uid-") == 0 ]] && break
	sleep 0.2
done
assert_eq "the pod no one owns is swept" 0 "$(runc --root "$D/node1/runc" list -q | grep -c "^$gone_uid-")"
assert_eq "its netns is gone" no "$([[ -e $D/node1/netns/$gone_uid ]] && echo yes || echo no)"
assert_eq "its CNI cache entry is gone" no "$([[ -e $D/node1/cni/cache/results/k8c-$gone_uid-eth0 ]] && echo yes || echo no)"
assert_eq "same container" "$cid" "$(k get pod keep -o jsonpath='{.status.containerStatuses[0].containerID}')"
assert_eq "same IP" "$ip" "$(k get pod keep -o jsonpath='{.status.podIP}')"
assert_eq "still Ready" True "$(k get pod keep -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
assert_eq "still answers" ok "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/i" 2>&1)"
n=$(k get pod flaky -o jsonpath='{.status.containerStatuses[0].restartCount}')
ag_wait pod/flaky '{.status.containerStatuses[0].restartCount}' $((n + 1))
pass "the crashing pod is still restarted, counting on from $n"

log "SIGTERM: the agent stops, pods keep running"
ag_kill node1 TERM
assert_eq "pod still answers" ok "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/i" 2>&1)"
ag_start node1 1
k delete pod --all --wait=false >/dev/null
for _ in $(seq 300); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done
assert_eq "pods deleted" "" "$(k get pods -o name)"

log "$CYCLES create/delete cycles leave nothing"
for _ in $(seq 50); do [[ $(ag_leaks node1 1) == *"netns=0 "*"runc=0 "* ]] && break; sleep 0.2; done
N0=$(ag_leaks node1 1)
log "the node holds: $N0"
for c in $(seq "$CYCLES"); do
	for i in 1 2 3; do
		printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: cyc-%s}\nspec:\n  nodeName: node1\n  terminationGracePeriodSeconds: 0\n  volumes: [{name: m, emptyDir: {medium: Memory}}]\n  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"], volumeMounts: [{name: m, mountPath: /m}]}]\n---\n' "$i"
	done | k apply -f - >/dev/null
	for i in 1 2 3; do ag_wait pod/cyc-$i '{.status.phase}' Running; done
	k delete pod cyc-1 cyc-2 cyc-3 --wait=false >/dev/null
	for _ in $(seq 150); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done
done
for _ in $(seq 50); do [[ $(ag_leaks node1 1) == "$N0" ]] && break; sleep 0.2; done
assert_eq "after $CYCLES cycles of 3 pods" "$N0" "$(ag_leaks node1 1)"

#!/bin/bash
# The course walk-through as a test (docs/up.md): `k8c up --nodes N`, then scripts/walkthrough,
# the same steps as scripts/up (kubectl on examples/, and the Python client for listing pods,
# creating a Service, reading its Endpoints and watching a rollout); on 3 nodes also:
#  - a node's agent killed (-9) and started again: its pods keep running (same containers, no
#    restart) and it runs new ones;
#  - a node removed (`kubectl drain`, its agent stopped, `kubectl delete node`): its Deployment
#    pods are made again on the other nodes, the DaemonSet shrinks;
# and `k8c down` leaves no namespace, runc container or process.
# Usage: walkthrough.sh <build>/bin NODES [STEPS]   (STEPS: scripts/walkthrough --only, e.g. 1,2,7)
set -e
. "$(dirname "$0")/e2e_lib.sh"
NODES=${2:?usage: $0 <build>/bin NODES [STEPS]}
ONLY=${3:-}
ROOT=$(realpath "$(dirname "$0")/../..")
[[ -x $BIN/k8c-ingress ]] || skip "$BIN/k8c-ingress not built"
e2e_need netserver busybox
WALK_ARGS=(--no-bench)
[[ -n $ONLY ]] && WALK_ARGS+=(--only "$ONLY")
if ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null; then
	echo "(python3-kubernetes is not installed: the Python client step is skipped)" >&2
	WALK_ARGS+=(--no-python)
fi
kc() { k -n course "$@"; }
# the pods of a node: name=containerID/restarts, sorted
pods_on() {
	k get pods -A --field-selector "spec.nodeName=$1,status.phase=Running" -o json |
		jq -r '.items[] | "\(.metadata.name)=\(.status.containerStatuses[0].containerID)/\(.status.containerStatuses[0].restartCount)"' | sort | xargs
}

e2e_up --nodes "$NODES"

log "scripts/walkthrough ${WALK_ARGS[*]}"
if K8C_COURSE_DATA=$S/course-data "$ROOT/scripts/walkthrough" --name "$NAME" --state-dir "$S" --k8c "$BIN/k8c" \
	"${WALK_ARGS[@]}" >"$S/walk" 2>&1; then
	pass "every step of the walk-through passed"
else
	cat "$S/walk" >&2
	fail "the walk-through"
fi
sed -n '/^#   step/,$p' "$S/walk" >&2
[[ -n $ONLY ]] || assert_eq "13 steps run" 13 "$(grep -cE '^[0-9]+ +.* (passed|FAILED|skipped) +[0-9]+\.[0-9]s' "$S/walk")"

if ((NODES >= 3)) && [[ -z $ONLY ]]; then
	log "node2's agent killed (-9) and started again"
	before=$(pods_on node2 | xargs -n1 | grep -v -e '^node-agent-' -e '^liveness-exec=' | xargs)
	[[ -n $before ]] || fail "no running pod on node2 to watch"
	read -r pid _ <"$C/run/agent-node2.pid"
	mapfile -d '' argv <"/proc/$pid/cmdline"
	[[ ${argv[0]} == "$BIN/k8c-agent" ]] || die "agent-node2.pid names ${argv[0]}"
	regs=$(grep -c "msg=\"agent running\"" "$C/logs/agent-node2.log" || true)
	kill -9 "$pid"
	wait_for "the agent gone" 10 bash -c "! kill -0 $pid"
	# as k8c up starts it: in the node's network namespace only, a session of its own, its log
	nsenter --net="/run/netns/k8c-$NAME-node2" setsid "${argv[@]}" >>"$C/logs/agent-node2.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid $(awk '{print $22}' "/proc/$pid/stat") $BIN/k8c-agent" >"$C/run/agent-node2.pid"
	wait_for "the new agent running" 30 bash -c "(( \$(grep -c 'msg=\"agent running\"' $C/logs/agent-node2.log) > $regs ))"
	ds=$(k -n course get pods -l app=node-agent --field-selector spec.nodeName=node2 -o name)
	k -n course delete "$ds" --wait=false >/dev/null
	wait_for "a new DaemonSet pod Running on node2 (run by the new agent)" 60 bash -c \
		"[[ \$(kubectl --kubeconfig $C/kubeconfig -n course get pods -l app=node-agent --field-selector spec.nodeName=node2,status.phase=Running -o name) =~ pod/ && \$(kubectl --kubeconfig $C/kubeconfig -n course get pods -l app=node-agent --field-selector spec.nodeName=node2 -o name) != $ds ]]"
	assert_eq "node2 Ready" True "$(k get node node2 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
	# by now the new agent has synced its pods: the old ones are the same containers, not restarted
	assert_eq "node2's other pods after the agent's restart: same containers, no restart" "$before" \
		"$(pods_on node2 | xargs -n1 | grep -v -e '^node-agent-' -e '^liveness-exec=' | xargs)"

	log "a node removed: kubectl drain, its agent stopped, kubectl delete node"
	# node1 holds the ingress; take the last node with a web pod. Drained first, as an admin
	# removes a node: k8c has no pod GC of pods bound to a deleted node yet (docs/up.md)
	gone=
	for n in node3 node2; do
		[[ -n $(kc get pods -l app=web --field-selector "spec.nodeName=$n" -o name) ]] && { gone=$n; break; }
	done
	[[ -n $gone ]] || gone=node3
	echo "  removing $gone (web pods on: $(kc get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName} {end}'))" >&2
	k drain "$gone" --ignore-daemonsets --delete-emptydir-data --force --timeout=90s >"$S/drain" 2>&1 ||
		fail "kubectl drain $gone: $(tail -3 "$S/drain")"
	read -r pid _ <"$C/run/agent-$gone.pid"
	kill "$pid"
	wait_for "$gone's agent stopped" 15 bash -c "! kill -0 $pid"
	k delete node "$gone" >/dev/null
	wait_for "no pod but the DaemonSet's bound to $gone" 60 bash -c "[[ -z \$(kubectl --kubeconfig $C/kubeconfig get pods -A --field-selector spec.nodeName=$gone -o name | grep -v node-agent-) ]]"
	wait_for "web: 3 replicas available again" 90 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig -n course get deploy web -o jsonpath='{.status.availableReplicas}/{.status.updatedReplicas}') == 3/3 ]]"
	assert_eq "web's pods on the remaining nodes" "" \
		"$(kc get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName} {end}' | xargs -n1 | grep -x "$gone")"
	assert_eq "the DaemonSet on the 2 remaining nodes" "2/2" \
		"$(kc get ds node-agent -o jsonpath='{.status.desiredNumberScheduled}/{.status.numberReady}')"
	np=$(kc get svc web-nodeport -o jsonpath='{.spec.ports[0].nodePort}')
	n1=$(k get node node1 -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
	wait_for "the NodePort still answers" 20 curl -sf -m 2 "http://$n1:$np/healthz"
fi

log "k8c down"
"$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2 || fail "k8c down: exit $?"
UPPED=
assert_eq "no node namespace left" 0 "$(ip netns list | grep -c "^k8c-$NAME-node" || true)"
assert_eq "no process left" 0 "$(grep -l -s -e "${S}[/]" /proc/[0-9]*/cmdline | grep -vc "^/proc/$$/" || true)"
assert_eq "the cluster's dir is gone" "" "$(ls -d "$C" 2>/dev/null)"

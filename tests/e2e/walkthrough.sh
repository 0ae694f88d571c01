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
BIN=$(realpath "${1:?usage: $0 <build>/bin NODES [STEPS]}")
NODES=${2:?usage: $0 <build>/bin NODES [STEPS]}
ONLY=${3:-}
ROOT=$(realpath "$(dirname "$0")/../..")
IMAGES=$(realpath -m "$BIN/../images")
FAILS=0

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
[[ $(id -u) == 0 ]] || skip "needs root"
for t in kubectl jq runc nsenter ip curl nft setsid; do
	command -v "$t" >/dev/null || skip "needs $t"
done
for b in k8c k8c-server k8c-agent k8c-shim k8c-proxy k8c-bridge k8c-host-local k8c-ingress; do
	[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
done
for i in netserver busybox; do
	[[ -f $IMAGES/$i.tar ]] || skip "$IMAGES/$i.tar not built (target images)"
done
WALK_ARGS=(--no-bench)
[[ -n $ONLY ]] && WALK_ARGS+=(--only "$ONLY")
if ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null; then
	echo "(python3-kubernetes is not installed: the Python client step is skipped)" >&2
	WALK_ARGS+=(--no-python)
fi

NAME=e2e-walk-$$
S=$(mktemp -d /tmp/k8c-e2e-walk.XXXXXX)
C=$S/$NAME
UPPED=

log() { echo "== $*" >&2; }
pass() { echo "  ok: $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	return 0
}
assert_eq() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected [$2] got [$3]"; fi; }
die() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	exit 1
}

cleanup() {
	local rc=$?
	set +e
	if ((rc != 0 || FAILS > 0)); then
		for f in "$C"/logs/*.log; do
			[[ -f $f ]] || continue
			echo "--- $f:" >&2
			tail -15 "$f" >&2
		done
	fi
	[[ -n $UPPED && -f $C/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2
	rm -rf "$S"
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}
trap cleanup EXIT

k() { kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" "$@"; }
kc() { k -n course "$@"; }
# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 n=$(($2 * 5))
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "$what: not within $((n / 5)) s"
	return 1
}
# the pods of a node: name=containerID/restarts, sorted
pods_on() {
	k get pods -A --field-selector "spec.nodeName=$1,status.phase=Running" -o json |
		jq -r '.items[] | "\(.metadata.name)=\(.status.containerStatuses[0].containerID)/\(.status.containerStatuses[0].restartCount)"' | sort | xargs
}

log "k8c up --nodes $NODES"
UPPED=1
"$BIN/k8c" up --name "$NAME" --state-dir "$S" --nodes "$NODES" >&2 || die "k8c up failed"

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

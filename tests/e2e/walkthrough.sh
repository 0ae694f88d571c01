#!/bin/bash
# The course walk-through as a test (docs/up.md): `k8c up --nodes N [--proxy-mode M]`, then
# scripts/walkthrough, the same steps as scripts/up (kubectl on examples/, and the Python client
# for listing pods, creating a Service, reading its Endpoints and watching a rollout); then, on
# the cluster the walk-through left:
#  - pod to pod across nodes (the client pod's own address seen: no masquerade), pod to the web
#    Service answered by pods of other nodes, a process of every node to every node's NodePort,
#    a client outside the cluster (a namespace on the underlay) to every NodePort and the Ingress;
# and on 3 nodes also:
#  - a node's agent killed (-9) and started again: its pods keep running (same containers, no
#    restart) and it runs new ones;
#  - a node removed (`kubectl drain`, its agent stopped, `kubectl delete node`): its Deployment
#    pods are made again on the other nodes, the DaemonSet shrinks;
# and `k8c down` leaves nothing (namespaces, links, routes, mounts, cgroups, runc containers,
# processes; the host's nftables tables and routes as before).
# Usage: walkthrough.sh <build>/bin NODES [--only STEPS] [--proxy-mode M]
#        (STEPS: scripts/walkthrough --only, e.g. 1,2,7)
set -e
. "$(dirname "$0")/e2e_lib.sh"
NODES=${2:?usage: $0 <build>/bin NODES [--only STEPS] [--proxy-mode M]}
shift 2
ONLY=
UP_ARGS=(--nodes "$NODES")
while (($#)); do
	case $1 in
	--only) ONLY=$2; shift 2 ;;
	--proxy-mode) UP_ARGS+=("$1" "$2"); shift 2 ;;
	*) echo "$0: unknown argument $1" >&2; exit 2 ;;
	esac
done
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

NFT0=$(host_nft)
ROUTES0=$(host_routes)
e2e_up "${UP_ARGS[@]}"

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

# whether the walk-through ran step N
ran() { [[ -z $ONLY || ,$ONLY, == *,$1,* ]]; }
if ran 2 && ran 8 && ran 9; then
	log "traffic on the walk-through's cluster: pod to pod, pod to Service, node and outside to NodePorts and Ingress"
	web=$(kc get pods -l app=web -o json)
	np=$(kc get svc web-nodeport -o jsonpath='{.spec.ports[0].nodePort}')
	vip=$(kc get svc web -o jsonpath='{.spec.clusterIP}')
	mapfile -t nips < <(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
	# a web pod (on node an) and a client pod placed on another node (with 2 nodes or more):
	# placed by nodeName, so the checks do not depend on where the scheduler put the web pods
	read -r an aip < <(jq -r '.items[0] | "\(.spec.nodeName) \(.status.podIP)"' <<<"$web")
	cli=shop-frontend
	if ((NODES >= 2)); then
		cn=$(k get nodes -o json | jq -r --arg n "$an" '[.items[].metadata.name | select(. != $n)][0]')
		cli=xnode-client
		kc apply -f - >/dev/null <<-EOF
			apiVersion: v1
			kind: Pod
			metadata: {name: $cli}
			spec:
			  nodeName: $cn
			  containers:
			  - {name: c, image: k8c.io/netserver:latest, imagePullPolicy: IfNotPresent}
		EOF
		kc wait --for=condition=Ready "pod/$cli" --timeout=60s >/dev/null ||
			fail "pod $cli on $cn is not Ready"
		read -r cip cuid < <(kc get pod "$cli" -o json | jq -r '"\(.status.podIP) \(.metadata.uid)"')
		assert_match "pod on $cn -> pod on $an, the client's own address seen (no masquerade)" "^${cip//./\\.}:[0-9]+\$" \
			"$(nsenter --net="$C/nodes/$cn/netns/$cuid" curl -s -m 5 "http://$aip:8080/clientip")"
	fi
	# from the client pod to the Service: 30 requests in one exec; with several nodes, answers
	# from web pods of another node than the client's (the web pod on $an is one)
	fe=$(kc get pod "$cli" -o jsonpath='{.spec.nodeName}')
	got=$(timeout 60 kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" -n course exec "$cli" -- sh -c \
		"for i in \$(seq 30); do printf 'GET /hostname HTTP/1.0\r\n\r\n' | nc -w 2 $vip 80 | tail -1; echo; done" | tr -d '\r' | grep '^web-' | sort -u | xargs)
	assert_match "pod -> ClusterIP $vip answered by web pods" "^web-" "$got"
	if ((NODES >= 2)); then
		other=$(jq -r --arg n "$fe" '[.items[] | select(.spec.nodeName != $n) | .metadata.name] | join(" ")' <<<"$web")
		seen=
		for p in $got; do [[ " $other " == *" $p "* ]] && seen=$p; done
		assert_match "pod on $fe -> ClusterIP -> a web pod of another node (of $other)" "^web-" "$seen"
		kc delete pod "$cli" --grace-period=1 >/dev/null
	fi
	e2e_outside
	for nn in "${nips[@]}"; do
		for from in "${nips[@]}"; do
			assert_match "node ${from%%=*} -> NodePort on ${nn%%=*}" "^web-" "$(node_get "${from%%=*}" "http://${nn#*=}:$np/hostname")"
		done
		assert_match "outside -> NodePort on ${nn%%=*}" "^web-" "$(ip netns exec "$OUTNS" curl -s -m 5 "http://${nn#*=}:$np/hostname")"
	done
	addr=$(kc get ingress simple-fanout-example -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
	assert_match "outside -> Ingress $addr (foo.bar.com/hostname)" "^web-" \
		"$(ip netns exec "$OUTNS" curl -s -m 5 -H "Host: foo.bar.com" "http://$addr/hostname")"
fi

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

e2e_down

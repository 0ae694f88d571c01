#!/bin/bash
# `k8c up --nodes 2` end to end (docs/up.md): both nodes Ready; a Deployment of 2 netserver
# replicas spread over the nodes; pod to pod across nodes (not masqueraded); a ClusterIP Service from a pod and
# from the host; a NodePort from the host's shell on either node, and NodePorts and the Ingress
# from a namespace standing for a client outside the cluster; the ingress class; the host's
# routes into the underlay only; `up` again after a kill -9 of the server and an agent cleans
# the leftovers and comes up; `k8c down` leaves nothing (namespaces, links, routes, nftables
# tables, mounts, cgroups, runc containers, processes).
# Without the deployment, replicaset, scheduler and endpointslice controllers in k8c-server
# (they land with issue 5), the two pods are pinned to the nodes and the EndpointSlice is
# written by the test; everything else is the same.
# Usage: up_cluster.sh <build>/bin
set -e
. "$(dirname "$0")/e2e_lib.sh"
e2e_need netserver

NFT0=$(host_nft)
ROUTES0=$(host_routes)
e2e_up --nodes 2
CIDR=$(jq -r .clusterCIDR "$C/state.json")
assert_eq "k8c kubeconfig prints the path" "$C/kubeconfig" "$("$BIN/k8c" kubeconfig --name "$NAME" --state-dir "$S")"
"$BIN/k8c" status --name "$NAME" --state-dir "$S" >"$S/status" || fail "k8c status: not every daemon runs: $(cat "$S/status")"
assert_eq "status: 2 nodes Ready" 2 "$(grep -c ' Ready ' "$S/status")"
assert_eq "kubectl: both nodes Ready" "node1=True node2=True" \
	"$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}' | xargs)"
N1=$(k get node node1 -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
N2=$(k get node node2 -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
assert_match "InternalIPs on the underlay" '^10\.250\.[0-9]+\.11 10\.250\.[0-9]+\.12$' "$N1 $N2"
assert_eq "IngressClass k8c, the default" "k8c.io/ingress true" \
	"$(k get ingressclass k8c -o jsonpath='{.spec.controller} {.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class}')"
b=${CIDR%%/*}
assert_match "a pod address of no node does not go out by the default route" "unreachable|No route to host" \
	"$(ip route get "${b%.*.*}.250.1" 2>&1)"
assert_eq "the nodes have no default route" "" "$(ip -n "k8c-$NAME-node1" route show default)"

known=$("$BIN/k8c-server" --help | grep -o 'known:.*')
FULL=1
for ctl in deployment replicaset scheduler endpointslice; do
	[[ $known =~ (^|[ ,:])$ctl(,|$) ]] || FULL=
done
if [[ -n $FULL ]]; then
	# one per node for sure: the scheduler's NodePorts filter keeps two pods with the same
	# hostPort apart (its spreading score alone could race with its own binding of the first)
	log "a Deployment of 2 netserver replicas, spread over the nodes"
	k apply -f - >/dev/null <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata: {name: net}
spec:
  replicas: 2
  selector: {matchLabels: {app: net}}
  template:
    metadata: {labels: {app: net}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: s, image: "k8c.io/netserver:latest", imagePullPolicy: Never, args: ["--http-port", "8080"],
         ports: [{containerPort: 8080, hostPort: 18080}],
         readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}}
Y
	wait_for "Deployment available" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get deploy net -o jsonpath='{.status.availableReplicas}') == 2 ]]"
else
	log "2 netserver pods pinned to the nodes (no deployment/scheduler controllers in k8c-server)"
	for n in 1 2; do
		k apply -f - >/dev/null <<Y
apiVersion: v1
kind: Pod
metadata: {name: net-$n, labels: {app: net}}
spec:
  nodeName: node$n
  terminationGracePeriodSeconds: 1
  containers:
  - {name: s, image: "k8c.io/netserver:latest", imagePullPolicy: Never, args: ["--http-port", "8080"]}
Y
	done
	wait_for "pods Running" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get pods -l app=net -o jsonpath='{.items[*].status.phase}') == 'Running Running' ]]"
fi
pods=$(k get pods -l app=net -o json)
assert_eq "one replica per node" "node1 node2" "$(jq -r '[.items[].spec.nodeName] | sort | join(" ")' <<<"$pods")"
P1=$(jq -r '.items[] | select(.spec.nodeName=="node1") | .metadata.name' <<<"$pods")
P2=$(jq -r '.items[] | select(.spec.nodeName=="node2") | .metadata.name' <<<"$pods")
IP1=$(jq -r '.items[] | select(.spec.nodeName=="node1") | .status.podIP' <<<"$pods")
IP2=$(jq -r '.items[] | select(.spec.nodeName=="node2") | .status.podIP' <<<"$pods")
C1=$(k get node node1 -o jsonpath='{.spec.podCIDR}')
C2=$(k get node node2 -o jsonpath='{.spec.podCIDR}')
assert_match "pod IPs in their nodes' podCIDRs" "^${C1%.0/24}\.[0-9]+ ${C2%.0/24}\.[0-9]+$" "$IP1 $IP2"
NS1=$C/nodes/node1/netns/$(jq -r '.items[] | select(.spec.nodeName=="node1") | .metadata.uid' <<<"$pods")

log "pod to pod across nodes, host to pods"
assert_match "pod on node1 -> pod on node2" "^$P2 " "$(nsenter --net="$NS1" curl -s -m 5 "http://$IP2:8080/")"
# Kubernetes' network model: pod-to-pod traffic is never NATed (the agent's conflist excepts
# the cluster CIDR from the bridge's masquerade)
assert_match "the pod on node2 sees the client pod's own address" "^${IP1//./\\.}:[0-9]+\$" \
	"$(nsenter --net="$NS1" curl -s -m 5 "http://$IP2:8080/clientip")"
assert_match "host -> pod on node1" "^$P1 " "$(curl -s -m 5 "http://$IP1:8080/")"
assert_match "host -> pod on node2" "^$P2 " "$(curl -s -m 5 "http://$IP2:8080/")"

log "k8c routes (docs/deploy.md): node2's route to node1's pods removed, then made again by it"
ip -n "k8c-$NAME-node2" route del "$C1"
assert_eq "k8c routes prints node2's route to node1's pods" "ip route replace $C1 via $N1 proto 140" \
	"$(ip netns exec "k8c-$NAME-node2" "$BIN/k8c" routes --kubeconfig "$C/kubeconfig" --node node2 2>/dev/null | sed 's/ *#.*//')"
ip netns exec "k8c-$NAME-node2" "$BIN/k8c" routes --kubeconfig "$C/kubeconfig" --node node2 --apply 2>/dev/null ||
	fail "k8c routes --apply"
assert_match "node2's route to node1's podCIDR made again" "via $N1 " "$(ip -n "k8c-$NAME-node2" route show "$C1")"
assert_match "pod on node2 -> pod on node1 again" "^$P1 " \
	"$(nsenter --net="$C/nodes/node2/netns/$(jq -r '.items[] | select(.spec.nodeName=="node2") | .metadata.uid' <<<"$pods")" curl -s -m 5 "http://$IP1:8080/")"

log "Services: ClusterIP from a pod, NodePort from the host"
k apply -f - >/dev/null <<'Y'
apiVersion: v1
kind: Service
metadata: {name: net}
spec:
  type: NodePort
  selector: {app: net}
  ports: [{name: http, port: 80, targetPort: 8080}]
Y
if [[ -z $FULL ]]; then
	k apply -f - >/dev/null <<Y
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: net-e2e, labels: {kubernetes.io/service-name: net}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [$IP1], conditions: {ready: true}, nodeName: node1}
- {addresses: [$IP2], conditions: {ready: true}, nodeName: node2}
Y
fi
VIP=$(k get svc net -o jsonpath='{.spec.clusterIP}')
NP=$(k get svc net -o jsonpath='{.spec.ports[0].nodePort}')
wait_for "ClusterIP $VIP from the pod on node1" 30 nsenter --net="$NS1" curl -sf -m 2 "http://$VIP/healthz"
# both backends answer through the service (random choice: a few tries)
seen=
for _ in $(seq 40); do
	seen+=" $(nsenter --net="$NS1" curl -s -m 2 "http://$VIP/hostname")"
	[[ $seen == *"$P1"* && $seen == *"$P2"* ]] && break
done
if [[ $seen == *"$P1"* && $seen == *"$P2"* ]]; then
	pass "ClusterIP reaches both replicas (across nodes)"
else
	fail "ClusterIP backends seen: [$seen]"
fi
if [[ $(jq -r .serviceRoute "$C/state.json") == true ]]; then
	assert_match "ClusterIP from the host" "^($P1|$P2)\$" "$(curl -s -m 5 "http://$VIP/hostname")"
else
	echo "  (the host's route to the service CIDR belongs to another cluster: not tried)" >&2
fi
wait_for "NodePort $N1:$NP from the host" 20 curl -sf -m 2 "http://$N1:$NP/healthz"
assert_match "NodePort on node1 from the host" "^($P1|$P2)\$" "$(curl -s -m 5 "http://$N1:$NP/hostname")"
assert_match "NodePort on node2 from the host" "^($P1|$P2)\$" "$(curl -s -m 5 "http://$N2:$NP/hostname")"

if [[ -x $BIN/k8c-ingress ]]; then
	log "Ingress through k8c-ingress on node1, from the host"
	k apply -f - >/dev/null <<'Y'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: net}
spec:
  ingressClassName: k8c
  rules:
  - host: net.example
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: net, port: {number: 80}}}}]
Y
	wait_for "Ingress on http://$N1/ (Host net.example)" 20 curl -sf -m 2 -H "Host: net.example" "http://$N1/healthz"
	assert_match "Ingress from the host" "^($P1|$P2)\$" "$(curl -s -m 5 -H "Host: net.example" "http://$N1/hostname")"
	wait_for "the Ingress's status has node1's address" 20 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get ingress net -o jsonpath='{.status.loadBalancer.ingress[0].ip}') == $N1 ]]"
fi

log "a client outside the cluster (a namespace of its own on the underlay) to NodePorts and Ingress"
e2e_outside
assert_match "outside -> NodePort on node1" "^($P1|$P2)\$" "$(ip netns exec "$OUTNS" curl -s -m 5 "http://$N1:$NP/hostname")"
assert_match "outside -> NodePort on node2" "^($P1|$P2)\$" "$(ip netns exec "$OUTNS" curl -s -m 5 "http://$N2:$NP/hostname")"
if [[ -x $BIN/k8c-ingress ]]; then
	assert_match "outside -> Ingress" "^($P1|$P2)\$" \
		"$(ip netns exec "$OUTNS" curl -s -m 5 -H "Host: net.example" "http://$N1/hostname")"
fi
ip netns del "$OUTNS"

log "k8c bench (0.1 s a test): every path answers, results written, its namespace removed"
if "$BIN/k8c" bench --name "$NAME" --state-dir "$S" --seconds 0.1 --rounds 1 --out "$S/bench" >"$S/bench.out" 2>&1; then
	pass "k8c bench ran"
else
	fail "k8c bench: $(tail -5 "$S/bench.out")"
fi
npaths=3
[[ -x $BIN/k8c-ingress ]] && npaths=4
assert_eq "bench: pod IP, ClusterIP, NodePort (and Ingress), same node and cross node, 3 measures each" \
	"$((npaths * 2 * 3)) 0" \
	"$(jq -r '"\(.results | length) \([.results[] | select(.error != null or .value <= 0)] | length)"' "$S/bench/bench.json")"
assert_eq "bench: the table has a row per path" $((npaths * 2)) "$(grep -cE '^(pod IP|ClusterIP|NodePort|Ingress) +(same|cross) node' "$S/bench.out")"
assert_eq "bench: a CSV line per result" $((npaths * 6 + 1)) "$(wc -l <"$S/bench/bench.csv")"
assert_eq "bench: its namespace is gone" "" "$(k get ns -l k8c.io/bench-run -o name)"

# the second `up` is in vxlan mode: pod to pod across nodes over the overlay (docs/up.md)
log "kill -9 of the server and an agent, then k8c up again (--pod-network vxlan): the leftovers are removed first"
for role in server agent-node2; do
	read -r pid _ <"$C/run/$role.pid"
	[[ $(readlink "/proc/$pid/exe") == "$BIN/"k8c-* ]] && kill -9 "$pid"
done
up --nodes 2 --pod-network vxlan >"$S/up2" 2>&1 || die "k8c up after kill -9: $(cat "$S/up2")"
assert_match "up said it removed what was left" "removing what a previous run left" "$(cat "$S/up2")"
assert_eq "both nodes Ready again" "node1=True node2=True" \
	"$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}' | xargs)"
assert_eq "a fresh cluster: no pods" "" "$(k get pods -o name)"
k apply -f - >/dev/null <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: again}
spec:
  nodeName: node2
  terminationGracePeriodSeconds: 1
  containers: [{name: s, image: "k8c.io/netserver:latest", imagePullPolicy: Never}]
Y
k apply -f - >/dev/null <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: again1}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers: [{name: s, image: "k8c.io/netserver:latest", imagePullPolicy: Never}]
Y
wait_for "a pod Running after the restart" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get pod again -o jsonpath='{.status.phase}') == Running ]]"
wait_for "a pod on node1 Running" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get pod again1 -o jsonpath='{.status.phase}') == Running ]]"
IPV=$(k get pod again -o jsonpath='{.status.podIP}')
NSV=$C/nodes/node1/netns/$(k get pod again1 -o jsonpath='{.metadata.uid}')
assert_match "vxlan: node1 reaches node2's pods by its k8cvx0" "dev k8cvx0" "$(ip -n "k8c-$NAME-node1" route get "$IPV")"
assert_match "vxlan: pod on node1 -> pod on node2 across the overlay" "^again " "$(nsenter --net="$NSV" curl -s -m 5 "http://$IPV:8080/")"
assert_match "vxlan: node2's k8cvx0 received it" "^[1-9]" "$(ip netns exec "k8c-$NAME-node2" cat /sys/class/net/k8cvx0/statistics/rx_packets)"
before=$(held)
assert_match "what a running cluster holds" "netns=2 links=3 .* runc=[1-9]" "$before"

e2e_down
assert_eq "status of a cluster that is down" 1 "$("$BIN/k8c" status --name "$NAME" --state-dir "$S" >/dev/null 2>&1; echo $?)"

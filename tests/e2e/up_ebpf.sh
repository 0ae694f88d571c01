#!/bin/bash
# `k8c up --nodes 2 --proxy-mode ebpf --pod-network vxlan` end to end (docs/up.md "Proxy modes"):
# each node's k8c-proxy
# balances by cgroup sock_addr programs attached to the node's own cgroup v2 subtree, where the
# agent puts the pods, with its pins on a bpffs of its own; a ClusterIP from a pod (kubectl exec);
# a NodePort on the node's InternalIP from a process of the node (its namespace and its cgroup);
# from the host (outside the nodes) a NodePort and the ClusterIP route to a backend on the node
# addressed (tc on the pod bridge) and to one on the other node across the vxlan overlay (its
# replies come back to the masquerade address over k8cvx0, where the proxy's tc programs are
# too); a pod to a pod and to a ClusterIP across nodes over the overlay; no nftables table in the
# node; a `k8c join-config` token kubeconfig works with kubectl and is
# refused once its Secret is deleted; `k8c down` removes the pins, the bpffs, the cgroups and the
# rest (nothing left).
# Usage: up_ebpf.sh <build>/bin
set -e
. "$(dirname "$0")/e2e_lib.sh"
e2e_need netserver
command -v timeout >/dev/null || skip "needs timeout"
V2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $V2 ]] || skip "no cgroup v2 hierarchy"

NFT0=$(host_nft)
ROUTES0=$(host_routes)
e2e_up --nodes 2 --proxy-mode ebpf --pod-network vxlan
NS=k8c-$NAME-node1
CG=$V2/k8c-$NAME/node1
PIN=$C/nodes/node1/bpffs/k8c
assert_eq "state.json: proxy mode" ebpf "$(jq -r .proxyMode "$C/state.json")"
assert_match "the proxy runs with the node's cgroup and pin dir, tc on k8cvx0 too" \
	"--mode ebpf.*--cgroup-path $CG --bpf-pin-dir $PIN --tc-interfaces k8cu0,k8c0,k8cvx0" \
	"$(read -r pid _ <"$C/run/proxy-node1.pid" && tr '\0' ' ' <"/proc/$pid/cmdline")"
assert_eq "the node's bpffs is a bpf mount" bpf "$(awk -v m="$C/nodes/node1/bpffs" '$5 == m {print $9}' /proc/self/mountinfo)"
wait_for "pinned connect4 link" 20 test -e "$PIN/link_connect4_v1"
wait_for "tc link pinned on k8cvx0" 20 test -e "$PIN/link_tc_ingress_k8cvx0_v1"
assert_eq "no nftables table in the node (ebpf mode)" "" "$(ip netns exec "$NS" nft list tables)"

log "a netserver pod on each node and a NodePort Service for each"
# net_yaml NAME NODE: a netserver pod on NODE and its NodePort Service
net_yaml() {
	cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: $1}}
spec:
  nodeName: $2
  terminationGracePeriodSeconds: 1
  containers:
  - {name: s, image: "k8c.io/netserver:latest", imagePullPolicy: Never, args: ["--http-port", "8080"]}
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  type: NodePort
  selector: {app: $1}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
Y
}
{ net_yaml net node1; net_yaml net2 node2; } | k apply -f - >/dev/null
wait_for "pod on node2 Running" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get pod net2 -o jsonpath='{.status.phase}') == Running ]]"
wait_for "pod Running" 60 bash -c "[[ \$(kubectl --kubeconfig $C/kubeconfig get pod net -o jsonpath='{.status.phase}') == Running ]]"
assert_match "the pod's processes are in the node's cgroup v2 subtree" "^[1-9]" \
	"$(find "$CG" -mindepth 1 -name cgroup.procs -exec cat {} + | wc -l)"
VIP=$(k get svc net -o jsonpath='{.spec.clusterIP}')
NP=$(k get svc net -o jsonpath='{.spec.ports[0].nodePort}')
N1=$(jq -r '.nodes[0].ip' "$C/state.json")

log "ClusterIP $VIP from the pod (connect4 rewrites it), NodePort $N1:$NP from the node"
# (busybox-static's wget -T crashes, SIGSEGV: the time limit is timeout's)
pod_get() { timeout 5 kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" exec net -- wget -q -O - "$1"; }
wait_for "ClusterIP from the pod" 30 pod_get "http://$VIP/healthz"
assert_eq "ClusterIP from the pod answers its hostname" net "$(pod_get "http://$VIP/hostname")"
# a process of the node: its network namespace and its cgroup (the programs' scope)
node_get() { bash -c 'echo $$ >"$1/cgroup.procs" && exec timeout 5 nsenter --net="/run/netns/$2" curl -sf -m 2 "$3"' _ "$CG" "$NS" "$1"; }
wait_for "NodePort from the node" 30 node_get "http://$N1:$NP/healthz"
assert_eq "NodePort on the node's InternalIP from the node" net "$(node_get "http://$N1:$NP/hostname")"
assert_match "the backend sees the pod's own address (no NAT: socket LB)" "^10\.2[0-9][0-9]\." \
	"$(pod_get "http://$VIP/clientip")"
# the host's shell is outside every node: its packets meet the tc programs on k8cu0, and the
# local backend's replies to the masquerade address come back through the pod bridge k8c0
host_get() { curl -sf -m 2 "$1"; }
wait_for "NodePort from the host (tc)" 30 host_get "http://$N1:$NP/healthz"
assert_eq "NodePort from the host to the node's own backend" net "$(host_get "http://$N1:$NP/hostname")"

log "across nodes over the vxlan overlay: pod to pod, pod to ClusterIP, host to NodePorts and the ClusterIP route"
VIP2=$(k get svc net2 -o jsonpath='{.spec.clusterIP}')
NP2=$(k get svc net2 -o jsonpath='{.spec.ports[0].nodePort}')
IP2=$(k get pod net2 -o jsonpath='{.status.podIP}')
N2=$(jq -r '.nodes[1].ip' "$C/state.json")
IP1=$(k get pod net -o jsonpath='{.status.podIP}')
assert_match "pod on node1 -> pod on node2, its own address seen" "^${IP1//./\\.}:[0-9]+\$" "$(pod_get "http://$IP2:8080/clientip")"
assert_eq "pod on node1 -> ClusterIP of the pod on node2" net2 "$(pod_get "http://$VIP2/hostname")"
wait_for "NodePort on node1 from the host, backend on node2" 30 host_get "http://$N1:$NP2/healthz"
assert_eq "host -> node1's NodePort -> node2's pod (replies over k8cvx0)" net2 "$(host_get "http://$N1:$NP2/hostname")"
assert_eq "host -> node2's NodePort -> node2's pod" net2 "$(host_get "http://$N2:$NP2/hostname")"
assert_eq "host -> node2's NodePort -> node1's pod (replies over k8cvx0)" net "$(host_get "http://$N2:$NP/hostname")"
if [[ $(jq -r .serviceRoute "$C/state.json") == true ]]; then
	assert_eq "host -> ClusterIP (routed to node1) -> node2's pod" net2 "$(host_get "http://$VIP2/hostname")"
fi
assert_match "node1's k8cvx0 took packets" "^[1-9]" "$(ip netns exec "$NS" cat /sys/class/net/k8cvx0/statistics/rx_packets)"

log "k8c join-config: a token kubeconfig for another machine's node daemons (docs/deploy.md)"
"$BIN/k8c" join-config --kubeconfig "$C/kubeconfig" --node joiner --out "$S/join.kubeconfig" 2>/dev/null ||
	fail "k8c join-config failed"
assert_eq "the join kubeconfig is private" 600 "$(stat -c %a "$S/join.kubeconfig")"
assert_match "it holds a token, not a certificate" "token: ey" "$(grep 'token:' "$S/join.kubeconfig")"
assert_eq "kubectl with the join kubeconfig" "node/node1 node/node2" \
	"$(kubectl --kubeconfig "$S/join.kubeconfig" --cache-dir "$S/kcache2" get nodes -o name | xargs)"
assert_eq "again: the same token" "$(cat "$S/join.kubeconfig")" \
	"$("$BIN/k8c" join-config --kubeconfig "$C/kubeconfig" --node joiner 2>/dev/null)"
k -n kube-system delete secret k8c-node-joiner-token >/dev/null
wait_for "the token refused once its Secret is deleted" 10 bash -c \
	"! kubectl --kubeconfig $S/join.kubeconfig --cache-dir $S/kcache2 get nodes" &&
	pass "the token is refused once its Secret is deleted"

e2e_down

#!/bin/bash
# k8c-proxy watching k8c-server: Services and EndpointSlices made with kubectl end up in the
# nftables of a node namespace of our own (--netns: the proxy reaches the server on the host's
# loopback, its netlink socket lives in the node namespace; nothing is programmed in the host's).
set -e
. "$(dirname "$0")/server_lib.sh"
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
command -v nft >/dev/null || { echo "SKIP: nft not installed"; exit 77; }
[[ -x $BIN/k8c-proxy && -x $BIN/k8c-server ]] || { echo "SKIP: not built"; exit 77; }

NODE=k8c-pxs-node-$$ NODE2=k8c-pxs-np-$$
PROXY_PID='' PROXY2_PID=''
cleanup_all() {
	set +e
	for p in $PROXY_PID $PROXY2_PID; do kill "$p" 2>/dev/null; done
	for p in $PROXY_PID $PROXY2_PID; do wait "$p" 2>/dev/null; done
	ip netns del "$NODE" 2>/dev/null
	ip netns del "$NODE2" 2>/dev/null
	srv_cleanup
}
srv_setup proxy-server
trap cleanup_all EXIT
srv_instance "$D"
srv_start 31
ip netns add "$NODE"
ip -n "$NODE" link set lo up

MPORT=$(srv_port)
M=http://127.0.0.1:$MPORT
"$BIN/k8c-proxy" --kubeconfig "$KUBECONFIG" --netns "/var/run/netns/$NODE" --node-name node-1 \
	--min-sync-period 0 --metrics-bind-address "127.0.0.1:$MPORT" 2>"$D/proxy.log" &
PROXY_PID=$!
pfail() { echo "--- proxy log:" >&2; cat "$D/proxy.log" >&2; fail "$@"; }
ok() { echo "  ok: $*" >&2; }

# wait_for WHAT CMD...: until CMD succeeds (the proxy works asynchronously); 20 s at most.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 200); do
		"$@" >/dev/null 2>&1 && { ok "$what"; return 0; }
		kill -0 "$PROXY_PID" 2>/dev/null || pfail "k8c-proxy exited"
		sleep 0.1
	done
	pfail "$what: not seen"
}
elements() {
	local kind=map
	[[ $1 == cluster-ips ]] && kind=set
	ip netns exec "$NODE" nft list "$kind" ip k8c-proxy "$1"
}
has() { elements "$1" | grep -qF -- "$2"; }
hasnt() { local out; out=$(elements "$1") && ! grep -qF -- "$2" <<<"$out"; }

k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
IP=$(k get svc web -o jsonpath='{.spec.clusterIP}')
[[ $IP =~ ^10\. ]] || fail "no clusterIP allocated: [$IP]"
wait_for "a service without endpoints: rejected ($IP)" has no-endpoint-services "$IP . tcp . 80"

k apply -f - >/dev/null <<'YAML'
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.0.5]
  conditions: {ready: true}
  nodeName: node-1
- addresses: [10.244.0.6]
  conditions: {ready: true}
  nodeName: node-2
YAML
wait_for "endpoints arrive: balanced over two" has service-ips "$IP . tcp . 80 : 0x01000002"
has backends "10.244.0.6 . 8080" || pfail "backend 10.244.0.6 missing"
hasnt no-endpoint-services "$IP" || pfail "still rejected"

k apply -f - >/dev/null <<'YAML'
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.0.5]
  conditions: {ready: true}
  nodeName: node-1
- addresses: [10.244.0.6]
  conditions: {ready: false}
  nodeName: node-2
YAML
wait_for "an endpoint not ready: no longer used" hasnt backends "10.244.0.6 . 8080"

metrics=$(curl -s "$M/metrics")
[[ $(curl -s "$M/healthz") == ok ]] || pfail "/healthz: $(curl -s -i "$M/healthz")"
ok "/healthz: ok after a sync"
# the server's own `kubernetes` service (one endpoint) and web (two, one not ready)
grep -qx 'k8c_proxy_service_ports 2' <<<"$metrics" || pfail "/metrics service ports: $metrics"
grep -qx 'k8c_proxy_endpoints 3' <<<"$metrics" || pfail "/metrics endpoints: $metrics"
grep -qE '^k8c_proxy_syncs_total\{result="ok"\} [1-9]' <<<"$metrics" || pfail "/metrics syncs: $metrics"
grep -qE '^k8c_proxy_programming_latency_seconds_count [1-9]' <<<"$metrics" ||
	pfail "/metrics latency: $metrics"
grep -qE '^k8c_proxy_nftables_elements [1-9]' <<<"$metrics" || pfail "/metrics elements: $metrics"
ok "/metrics: service ports, endpoints, syncs, programming latency, elements"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$M/nothing") == 404 ]] || pfail "unknown path: not 404"

# health-check node port (externalTrafficPolicy Local): served in the node's namespace, 200 with
# kube-proxy's JSON while this node has a ready endpoint of the service, 503 otherwise
HCP=32123
hc() { ip netns exec "$NODE" curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$HCP/healthz"; }
hc_is() { [[ $(hc) == "$1" ]]; }
lb_slice() { # lb_slice NODE READY
	k apply -f - >/dev/null <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: lb-abc
  namespace: default
  labels: {kubernetes.io/service-name: lb}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.0.7]
  conditions: {ready: $2}
  nodeName: $1
- addresses: [10.244.0.8]
  conditions: {ready: true}
  nodeName: node-2
YAML
}
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: $HCP
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
[[ $(k get svc lb -o jsonpath='{.spec.healthCheckNodePort}') == "$HCP" ]] ||
	fail "healthCheckNodePort not kept: $(k get svc lb -o json)"
lb_slice node-1 true
want='{"service":{"namespace":"default","name":"lb"},"localEndpoints":1,"serviceProxyHealthy":true} 200'
wait_for "health-check node port: 200 with one local endpoint" hc_is "$want"
hdrs=$(ip netns exec "$NODE" curl -s -m 5 -o /dev/null -D - "http://127.0.0.1:$HCP/anything")
grep -qi '^Content-Type: application/json' <<<"$hdrs" || pfail "health check headers: $hdrs"
grep -qi '^X-Load-Balancing-Endpoint-Weight: 1' <<<"$hdrs" || pfail "health check headers: $hdrs"
ok "health check: JSON, endpoint weight header, any path"
[[ $(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HCP/") != 200 ]] ||
	pfail "the health-check port answered in the host's namespace"
ok "health check: not in the host's namespace"
lb_slice node-1 false
want='{"service":{"namespace":"default","name":"lb"},"localEndpoints":0,"serviceProxyHealthy":true} 503'
wait_for "local endpoint not ready (another node's is): 503" hc_is "$want"
lb_slice node-2 true
wait_for "local endpoint moved to another node: 503" hc_is "$want"
k delete svc lb >/dev/null
k delete endpointslice lb-abc >/dev/null
hc_gone() { ! ip netns exec "$NODE" curl -s -m 2 "http://127.0.0.1:$HCP/" >/dev/null; }
wait_for "service deleted: health-check port closed" hc_gone

log_n() { grep -c "$1" "$D/proxy.log" || true; }
# someone deletes the table under the proxy: the next sync fails, is retried with back-off,
# reads the kernel state back and rebuilds everything
ip netns exec "$NODE" nft delete table ip k8c-proxy
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec:
  ports: [{name: http, port: 81, targetPort: 8081}]
YAML
IP2=$(k get svc other -o jsonpath='{.spec.clusterIP}')
wait_for "table deleted behind its back: rebuilt, with the new service" has no-endpoint-services "$IP2 . tcp . 81"
has service-ips "$IP . tcp . 80" || pfail "the old service was not rebuilt"
(($(log_n 'msg="sync failed') >= 1)) || pfail "the failed sync was not logged"
ok "the failure was logged and retried"

k delete svc web >/dev/null
wait_for "service deleted: its elements go" hasnt service-ips "$IP"
hasnt cluster-ips "$IP" || pfail "cluster IP still known"

# --nodeport-addresses CIDR,primary: a second proxy for node "np-node" (its own namespace)
# answers NodePorts on its local addresses inside 10.0.0.0/8, followed as they come and go, and
# on the InternalIP of its Node object, followed as the Node changes
ip netns add "$NODE2"
ip -n "$NODE2" link set lo up
ip -n "$NODE2" addr add 10.55.0.1/32 dev lo
ip -n "$NODE2" addr add 172.16.0.1/32 dev lo
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: np-node}
YAML
k patch node np-node --subresource=status --type=merge \
	-p '{"status":{"addresses":[{"type":"InternalIP","address":"192.168.77.7"},{"type":"Hostname","address":"np-node"}]}}' >/dev/null
"$BIN/k8c-proxy" --kubeconfig "$KUBECONFIG" --netns "/var/run/netns/$NODE2" --node-name np-node \
	--nodeport-addresses 10.0.0.0/8,primary --min-sync-period 0 --metrics-bind-address "" \
	2>"$D/proxy2.log" &
PROXY2_PID=$!
np_ips() { ip netns exec "$NODE2" nft list set ip k8c-proxy nodeport-ips 2>/dev/null | tr -d '\n\t ' | sed -n 's/.*elements={\([^}]*\)}.*/\1/p'; }
np_is() { [[ $(np_ips) == "$1" ]]; }
wait_for "NodePorts on the local address in the CIDR and the Node's InternalIP" np_is "10.55.0.1,192.168.77.7"
ip -n "$NODE2" addr add 10.55.0.2/32 dev lo
wait_for "an address added to the node: NodePorts there too" np_is "10.55.0.1,10.55.0.2,192.168.77.7"
ip -n "$NODE2" addr del 10.55.0.1/32 dev lo
wait_for "an address removed: gone" np_is "10.55.0.2,192.168.77.7"
k patch node np-node --subresource=status --type=merge \
	-p '{"status":{"addresses":[{"type":"InternalIP","address":"192.168.77.8"}]}}' >/dev/null
wait_for "the Node's InternalIP changed: followed" np_is "10.55.0.2,192.168.77.8"
grep -q 'msg="nodeport addresses" count=2' "$D/proxy2.log" || pfail "no nodeport addresses log line: $(cat "$D/proxy2.log")"
kill -TERM "$PROXY2_PID"
wait "$PROXY2_PID" || pfail "the second proxy did not exit 0"
PROXY2_PID=

kill -TERM "$PROXY_PID"
rc=0
wait "$PROXY_PID" || rc=$?
PROXY_PID=
[[ $rc == 0 ]] || pfail "k8c-proxy exit status $rc after SIGTERM"
ip netns exec "$NODE" nft list table ip k8c-proxy >/dev/null || fail "the rules must stay after a stop"
ok "SIGTERM: exit 0, rules kept for the next proxy"
grep -q 'msg=synced' "$D/proxy.log" || pfail "no sync logged"
echo PASS >&2

#!/bin/bash
# k8c-proxy --mode ebpf watching k8c-server: Services and EndpointSlices made with kubectl are
# balanced for the processes of a cgroup v2 directory of this test (never the root), with real
# TCP connections in a node namespace of our own; pins in a private bpffs. A --tc-interfaces
# interface that does not exist at start gets the tc programs when it appears, and again when it
# is deleted and made again; without tc interfaces the idle daemon waits with no timeout (never
# woken: its main thread's poll(2) in /proc/PID/syscall). On every exit path: the
# proxy and servers stopped (by PID), --cleanup, bpffs unmounted, cgroup and namespace removed.
set -e
. "$(dirname "$0")/server_lib.sh"
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
[[ -x $BIN/k8c-proxy && -x $BIN/k8c-server ]] || { echo "SKIP: not built"; exit 77; }
V2=/sys/fs/cgroup/unified
[[ -e $V2/cgroup.procs ]] || V2=/sys/fs/cgroup
[[ -e $V2/cgroup.procs ]] || { echo "SKIP: no cgroup v2 hierarchy"; exit 77; }
command -v bpftool >/dev/null || { echo "SKIP: bpftool not installed"; exit 77; }

NODE=k8c-pxe-node-$$
CG=$V2/k8c-test-pxe-$$
PROXY_PID= SERVE_PID=
cleanup_all() {
	local rc=$?
	set +e
	for p in $PROXY_PID $SERVE_PID; do kill "$p" 2>/dev/null; done
	for p in $PROXY_PID $SERVE_PID; do wait "$p" 2>/dev/null; done
	if [[ -n $PIN && -d $PIN ]]; then
		"$BIN/k8c-proxy" --mode ebpf --cgroup-path "$CG" --bpf-pin-dir "$PIN" --cleanup
	fi
	[[ -n $BPFFS ]] && mountpoint -q "$BPFFS" && umount "$BPFFS"
	[[ -d $CG ]] && rmdir "$CG"
	ip netns del "$NODE" 2>/dev/null
	(exit "$rc")
	srv_cleanup
}
srv_setup proxy-server-ebpf
trap cleanup_all EXIT
BPFFS=$D/bpffs PIN=$D/bpffs/k8c
mkdir "$CG" "$BPFFS"
mount -t bpf bpf "$BPFFS"
srv_instance "$D"
srv_start 31
ip netns add "$NODE"
ip -n "$NODE" link set lo up
ip -n "$NODE" addr add 10.244.0.5/32 dev lo
ip -n "$NODE" addr add 10.244.0.6/32 dev lo

cat >"$D/serve.py" <<'PYEOF'
import socket, sys, threading
def tcp(ip):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 8080)); s.listen(64)
    while True:
        c, _ = s.accept(); c.sendall((ip + "\n").encode()); c.close()
for ip in sys.argv[2:]:
    threading.Thread(target=tcp, args=(ip,), daemon=True).start()
open(sys.argv[1], "w").close()
threading.Event().wait()
PYEOF
cat >"$D/client.py" <<'PYEOF'
import errno, socket, sys
for _ in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=2)
        print(s.makefile().readline().strip()); s.close()
    except socket.timeout: print("TIMEOUT")
    except OSError as e: print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
ip netns exec "$NODE" "$PY" "$D/serve.py" "$D/ready" 10.244.0.5 10.244.0.6 &
SERVE_PID=$!
for _ in $(seq 100); do [[ -e $D/ready ]] && break; sleep 0.05; done
# client IP N: N connections to IP:80 from a process in the test's cgroup, in the node namespace;
# the distinct answers, sorted
client() {
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
		ip netns exec "$NODE" "$PY" "$D/client.py" "$1" "$2" | sort -u | tr '\n' ' ' | sed 's/ $//'
}

MPORT=$(srv_port)
M=http://127.0.0.1:$MPORT
TCIF=k8ctc$$ # a tc interface that does not exist yet when the proxy starts
"$BIN/k8c-proxy" --mode ebpf --kubeconfig "$KUBECONFIG" --netns "/var/run/netns/$NODE" \
	--cgroup-path "$CG" --bpf-pin-dir "$PIN" --node-name node-1 --min-sync-period 0 \
	--nodeport-addresses 10.244.0.0/16 --tc-interfaces "$TCIF" \
	--metrics-bind-address "127.0.0.1:$MPORT" 2>"$D/proxy.log" &
PROXY_PID=$!
pfail() { echo "--- proxy log:" >&2; cat "$D/proxy.log" >&2; fail "$@"; }
ok() { echo "  ok: $*" >&2; }
# wait_for WHAT EXPECTED IP N: until client IP N answers EXPECTED; 20 s at most
wait_for() {
	local got
	for _ in $(seq 100); do
		got=$(client "$3" "$4")
		[[ $got == "$2" ]] && { ok "$1"; return 0; }
		kill -0 "$PROXY_PID" 2>/dev/null || pfail "k8c-proxy exited"
		sleep 0.2
	done
	pfail "$1: expected [$2], last got [$got]"
}

k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
IP=$(k get svc web -o jsonpath='{.spec.clusterIP}')
[[ $IP =~ ^10\. ]] || fail "no clusterIP allocated: [$IP]"
wait_for "a service without endpoints: connect refused ($IP)" ECONNREFUSED "$IP" 1

slice() { # slice READY_OF_SECOND
	k apply -f - >/dev/null <<YAML
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
- addresses: [10.244.0.6]
  conditions: {ready: $1}
YAML
}
slice true
wait_for "endpoints arrive: balanced over two" "10.244.0.5 10.244.0.6" "$IP" 40
slice false
wait_for "an endpoint not ready: no longer used" "10.244.0.5" "$IP" 20

metrics=$(curl -s "$M/metrics")
[[ $(curl -s "$M/healthz") == ok ]] || pfail "/healthz: $(curl -s -i "$M/healthz")"
grep -qE '^k8c_proxy_syncs_total\{result="ok"\} [1-9]' <<<"$metrics" || pfail "/metrics syncs: $metrics"
grep -qE '^k8c_proxy_nftables_elements [1-9]' <<<"$metrics" || pfail "/metrics elements: $metrics"
ok "/healthz and /metrics as in nftables mode"
[[ -z $(ip netns exec "$NODE" nft list ruleset 2>/dev/null) ]] || pfail "nftables touched in ebpf mode"
ok "no nftables rules made"

# --nodeport-addresses CIDR: NodePorts on the node's addresses inside it, followed as they come
np_ips() {
	bpftool -j map dump pinned "$PIN/k8c_nodeip4_v1" | jq -r '.[] | (.formatted // .) | .key' |
		while read -r a; do echo "$((a & 255)).$((a >> 8 & 255)).$((a >> 16 & 255)).$((a >> 24))"; done |
		sort | tr '\n' ' ' | sed 's/ $//'
}
np_wait() {
	local got
	for _ in $(seq 100); do
		got=$(np_ips)
		[[ $got == "$2" ]] && { ok "$1"; return 0; }
		sleep 0.2
	done
	pfail "$1: expected [$2], last got [$got]"
}
np_wait "NodePort addresses: the node's inside the CIDR" "10.244.0.5 10.244.0.6"
ip -n "$NODE" addr add 10.244.0.7/32 dev lo
np_wait "an address added to the node: followed" "10.244.0.5 10.244.0.6 10.244.0.7"
ip -n "$NODE" addr del 10.244.0.7/32 dev lo
np_wait "and removed" "10.244.0.5 10.244.0.6"

# tc interfaces that come later or are made again: the programs follow (bpf_tick, once a second)
# (bpftool 7.1 does not decode a tcx link's interface: the proxy logs the ifindex it attached
# the pinned links to, after both were made)
tc_wait() { # WHAT IFINDEX: both links of $TCIF pinned, attached to IFINDEX
	for _ in $(seq 100); do
		if grep -q "tc programs attached\" interface=$TCIF ifindex=$2\$" "$D/proxy.log" &&
			[[ -e $PIN/link_tc_ingress_${TCIF}_v1 && -e $PIN/link_tc_egress_${TCIF}_v1 ]]; then
			ok "$1"
			return 0
		fi
		sleep 0.1
	done
	pfail "$1: no links attached to ifindex $2"
}
grep -q "tc interface not there yet.*interface=$TCIF" "$D/proxy.log" ||
	pfail "no log line for the missing --tc-interfaces $TCIF"
ok "a listed tc interface missing at start: logged, the proxy serves"
ip -n "$NODE" link add "$TCIF" type veth peer name "${TCIF}p"
tc_wait "the interface appears: tc programs attached to it" "$(ip -n "$NODE" -j link show "$TCIF" | jq '.[0].ifindex')"
first=$(ip -n "$NODE" -j link show "$TCIF" | jq '.[0].ifindex')
ip -n "$NODE" link del "$TCIF"
ip -n "$NODE" link add "$TCIF" type veth peer name "${TCIF}p"
again=$(ip -n "$NODE" -j link show "$TCIF" | jq '.[0].ifindex')
[[ $again != "$first" ]] || fail "the new interface has the old ifindex $first"
tc_wait "made again (ifindex $first -> $again): attached to the new one" "$again"
wait_for "services still balanced" "10.244.0.5" "$IP" 20
# main_poll PID: the timeout (ms; -1: none) of the poll(2) the main thread of PID waits in,
# once it waits there (/proc/PID/syscall: poll is x86-64's syscall 7, its timeout the 3rd
# argument, an int)
main_poll() {
	local s=()
	for _ in $(seq 100); do
		read -ra s <"/proc/$1/syscall" || true
		[[ ${s[0]:-} == 7 ]] && { echo $(((${s[3]} << 32) >> 32)); return; }
		sleep 0.1
	done
	echo "not in poll: ${s[*]}"
}
if [[ $(uname -m) == x86_64 ]]; then
	t=$(main_poll "$PROXY_PID")
	[[ $t =~ ^[0-9]+$ && $t -le 1001 ]] || pfail "with tc interfaces the loop must wake to follow them: poll timeout $t"
	ok "with tc interfaces the daemon wakes to follow them (poll timeout $t ms)"
fi

k delete svc web >/dev/null
wait_for "service deleted: its IP is unallocated (EPERM, nothing sent)" EPERM "$IP" 1

kill -TERM "$PROXY_PID"
rc=0
wait "$PROXY_PID" || rc=$?
PROXY_PID=
[[ $rc == 0 ]] || pfail "SIGTERM: exit status $rc"
[[ $(bpftool cgroup show "$CG" | grep -c k8c_) == 8 ]] ||
	fail "the programs must stay attached after a stop: $(bpftool cgroup show "$CG")"
ls "$PIN/link_connect4_v1" >/dev/null || fail "the links must stay pinned after a stop"
ok "stopped: programs, links and maps stay"

# without tc interfaces nothing is followed outside the API: once synced, the idle daemon
# waits in poll(2) with no timeout (no wake-up at all)
if [[ $(uname -m) == x86_64 ]]; then
	"$BIN/k8c-proxy" --mode ebpf --kubeconfig "$KUBECONFIG" --netns "/var/run/netns/$NODE" \
		--cgroup-path "$CG" --bpf-pin-dir "$PIN" --node-name node-1 --min-sync-period 0 \
		--nodeport-addresses 10.244.0.0/16 --metrics-bind-address "127.0.0.1:$MPORT" 2>>"$D/proxy.log" &
	PROXY_PID=$!
	for _ in $(seq 200); do
		[[ $(curl -s "$M/healthz") == ok ]] && break
		kill -0 "$PROXY_PID" 2>/dev/null || pfail "k8c-proxy (no tc interfaces) exited"
		sleep 0.1
	done
	[[ $(curl -s "$M/healthz") == ok ]] || pfail "k8c-proxy (no tc interfaces) never synced"
	for _ in $(seq 100); do
		t=$(main_poll "$PROXY_PID")
		[[ $t == -1 ]] && break
		sleep 0.1
	done
	[[ $t == -1 ]] || pfail "without tc interfaces the idle daemon still wakes: poll timeout $t"
	ok "without tc interfaces the idle daemon waits with no timeout (no wake-up)"
	kill -TERM "$PROXY_PID"
	rc=0
	wait "$PROXY_PID" || rc=$?
	PROXY_PID=
	[[ $rc == 0 ]] || pfail "SIGTERM (no tc interfaces): exit status $rc"
fi
"$BIN/k8c-proxy" --mode ebpf --cgroup-path "$CG" --bpf-pin-dir "$PIN" --cleanup ||
	fail "--cleanup failed"
[[ ! -e $PIN ]] || fail "--cleanup left $PIN"
ok "--cleanup removed the pins"

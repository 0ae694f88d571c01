#!/bin/bash
# k8c-proxy --mode ebpf, traffic from OUTSIDE the node: the tc programs (tcx links on the node's
# interfaces) translate NodePorts, externalIPs and LoadBalancer IPs to backends (DNAT, SNAT to the
# node's address under externalTrafficPolicy Cluster, reverse NAT of the replies), reject services
# without endpoints (ICMP port unreachable built by the program) and drop unallocated service
# IPs; everything else passes. Real TCP and UDP in namespaces of our own;
# the outside client runs outside the test's cgroup, so the socket load balancer never sees it.
#
#   out ns  eth0 192.0.2.2/24 --- pxext 192.0.2.1/24 \
#   s1 ns   eth0 10.244.0.3/32 --- pxs1  169.254.1.1  > node ns (ip_forward, routes /32 per pod)
#   s2 ns   eth0 10.244.0.4/32 --- pxs2  169.254.1.1 /
#
# Usage: proxy_ebpf_tc.sh [BINDIR]. On every exit path: processes stopped by PID, --cleanup
# (links unpinned: programs detached), bpffs unmounted, cgroup and namespaces removed.
set -e
. "$(dirname "$0")/lib.sh"
need_root
need_tools ip bpftool jq
PROXY=$OURS_DIR/k8c-proxy
[[ -x $PROXY ]] || skip "$PROXY not built yet"
. "$(dirname "$0")/proxy_ebpf_lib.sh"
. "$(dirname "$0")/proxy_test_lib.sh"

NODE=k8c-pxt-node-$TAG OUT=k8c-pxt-out-$TAG S1=k8c-pxt-s1-$TAG S2=k8c-pxt-s2-$TAG
D=$(tmpdir_new)
netns_new "$NODE"
proxy_pod "$NODE" "$S1" 10.244.0.3 pxs1
proxy_pod "$NODE" "$S2" 10.244.0.4 pxs2
proxy_outside "$NODE" "$OUT"
for ns in "$NODE" "$OUT" "$S1" "$S2"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done

proxy_client_py "$D/client.py"
export TIMEOUT=1 # (a drop is a timeout)
proxy_servers "$D" "$S1:s1" "$S2:s2"

# from NETNS ARGS...: client.py in NETNS, from this shell's original cgroup (not the test's: no
# socket hook sees it); outside ARGS...: from the outside namespace
from() { ebpf_uncaged ip netns exec "$1" "$PY" "$D/client.py" "${@:2}"; }
outside() { from "$OUT" "$@"; }
names() { outside "$@" | sed 's/:.*//' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
peers() { outside "$@" | cut -d' ' -f2 | sort -u | tr '\n' ' ' | sed 's/ $//'; }
proxy() { "$PROXY" --mode ebpf --netns "/var/run/netns/$NODE" "${EBPF_ARGS[@]}" "$@"; }
# tc_links: the pinned tcx links (bpftool 7.1 does not list tcx attachments; the behaviour
# checks below show what is attached where)
tc_links() { (cd "$EBPF_PIN" 2>/dev/null && ls -d link_tc_* 2>/dev/null | tr '\n' ' ' | sed 's/ $//'); }
prog_ids() { for f in "$EBPF_PIN"/link_tc_*; do bpftool -j link show pinned "$f" | jq -r .prog_id; done | sort -u | tr '\n' ' '; }
link_ids() { for f in "$EBPF_PIN"/link_tc_*; do bpftool -j link show pinned "$f" | jq -r .id; done | sort | tr '\n' ' '; }

WEBP='[{"name":"http","port":80,"nodePort":30080},{"name":"dns","protocol":"UDP","port":53,"nodePort":30053},{"name":"bulk","port":99,"nodePort":30099}]'
WEBT='[{"name":"http","port":8080},{"name":"dns","protocol":"UDP","port":5353},{"name":"bulk","port":9099}]'
AFF='"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}}'
LB='{"kind":"Service","metadata":{"namespace":"t","name":"lb"},"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.70","ports":[{"name":"http","port":80,"nodePort":30070}]},"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.70"}]}}}'
objects "$D/a.json" \
	"$(svc web 10.96.0.10 "$WEBP" '"type":"NodePort","externalIPs":["198.51.100.50"]')" \
	"$(slice web-1 web "$WEBT" 10.244.0.3 10.244.0.4:node-2)" \
	"$(svc etp 10.96.0.52 '[{"name":"http","port":80,"nodePort":30052}]' '"type":"NodePort","externalTrafficPolicy":"Local"')" \
	"$(slice etp-1 etp '[{"name":"http","port":8080}]' 10.244.0.3:node-1 10.244.0.4:node-2)" \
	"$(svc etpnone 10.96.0.53 '[{"name":"http","port":80,"nodePort":30054}]' '"type":"NodePort","externalTrafficPolicy":"Local"')" \
	"$(slice etpnone-1 etpnone '[{"name":"http","port":8080}]' 10.244.0.4:node-2)" \
	"$(svc empty 10.96.0.11 '[{"name":"http","port":80,"nodePort":30011},{"name":"dns","protocol":"UDP","port":53,"nodePort":30012}]' '"type":"NodePort","externalIPs":["198.51.100.11"]')" \
	"$(svc sticky 10.96.0.40 '[{"name":"http","port":80,"nodePort":30040}]' "\"type\":\"NodePort\",$AFF")" \
	"$(slice sticky-1 sticky '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)" \
	"$LB" "$(slice lb-1 lb '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"

log "before the proxy: the node forwards nothing to services"
assert_eq "NodePort from outside: nothing listens" "ECONNREFUSED" "$(outside tcp 192.0.2.1 30080 1)"

log "tc programs on the node's interfaces (default: those holding node addresses, not lo)"
out=$(proxy --node-name node-1 --objects "$D/a.json")
assert_match "first sync programs" 'messages=[1-9]' "$out"
ALL_LINKS="link_tc_egress_pxext_v1 link_tc_egress_pxs1_v1 link_tc_egress_pxs2_v1 link_tc_ingress_pxext_v1 link_tc_ingress_pxs1_v1 link_tc_ingress_pxs2_v1"
assert_eq "tcx ingress and egress links on pxext, pxs1, pxs2" "$ALL_LINKS" "$(tc_links)"
assert_eq "a pod's packet to an unallocated service IP: dropped at pxs1's ingress" "TIMEOUT" \
	"$(from "$S1" tcp 10.96.0.99 80 1)"
assert_eq "NodePort TCP from outside reaches both endpoints" "s1 s2" "$(names tcp 192.0.2.1 30080 40)"
assert_eq "NodePort: masqueraded to the node's address toward the pod" "169.254.1.1" \
	"$(peers tcp 192.0.2.1 30080 6)"
assert_eq "NodePort UDP (connected socket: replies come from the NodePort)" "s1 s2" \
	"$(names udp 192.0.2.1 30053 40)"
bulk='import socket; s = socket.create_connection(("192.0.2.1", 30099), timeout=5)
s.sendall(b"x" * (8 << 20)); s.shutdown(socket.SHUT_WR); print(s.makefile().readline().strip())'
assert_eq "a bulk TCP stream (8 MiB, GSO segments) through the NodePort arrives whole" "8388608" \
	"$(ebpf_uncaged ip netns exec "$OUT" "$PY" -c "$bulk" 2>&1)"
assert_eq "externalIP from outside reaches both endpoints" "s1 s2" "$(names tcp 198.51.100.50 80 40)"
assert_eq "externalIP: masqueraded" "169.254.1.1" "$(peers tcp 198.51.100.50 80 6)"
assert_eq "LoadBalancer ingress IP from outside" "s1 s2" "$(names tcp 198.51.100.70 80 40)"
assert_eq "its NodePort" "s1 s2" "$(names tcp 192.0.2.1 30070 40)"
assert_eq "ClusterIP from outside (routed to the node)" "s1 s2" "$(names tcp 10.96.0.10 80 40)"
assert_eq "externalTrafficPolicy Local: this node's endpoint only" "s1" "$(names tcp 192.0.2.1 30052 20)"
assert_eq "externalTrafficPolicy Local: client address kept" "192.0.2.2" "$(peers tcp 192.0.2.1 30052 4)"
assert_eq "externalTrafficPolicy Local, no endpoint here: dropped" "TIMEOUT" "$(outside tcp 192.0.2.1 30054 1)"
# (kube-proxy's nftables rules `reject`: ICMP port unreachable, which fails a TCP connect and a
# connected UDP socket's receive with ECONNREFUSED at once; TIMEOUT=1 would show a drop)
# snmp NETNS GROUP FIELD: a counter of /proc/net/snmp in NETNS
snmp() { ip netns exec "$1" awk -v g="$2:" -v f="$3" '$1 == g && !n {for (i = 2; i <= NF; i++) k[i] = $i; n = 1; next}
	$1 == g {for (i = 2; i <= NF; i++) if (k[i] == f) print $i}' /proc/net/snmp; }
unreach0=$(snmp "$OUT" Icmp InDestUnreachs) rst0=$(snmp "$NODE" Tcp OutRsts) noports0=$(snmp "$NODE" Udp NoPorts)
assert_eq "no endpoints, NodePort TCP: rejected (ICMP port unreachable from the tc program)" \
	"ECONNREFUSED" "$(outside tcp 192.0.2.1 30011 1)"
assert_eq "no endpoints, NodePort UDP: rejected" "ECONNREFUSED" "$(outside udp 192.0.2.1 30012 1)"
assert_eq "... both by ICMP errors the client received" "2" $(($(snmp "$OUT" Icmp InDestUnreachs) - unreach0))
assert_eq "... and not by the node's stack (no TCP reset, no UDP datagram to a closed port)" "0 0" \
	"$(($(snmp "$NODE" Tcp OutRsts) - rst0)) $(($(snmp "$NODE" Udp NoPorts) - noports0))"
assert_eq "no endpoints, externalIP: rejected" "ECONNREFUSED" "$(outside tcp 198.51.100.11 80 1)"
assert_eq "no endpoints, ClusterIP from outside: rejected" "ECONNREFUSED" "$(outside tcp 10.96.0.11 80 1)"
assert_eq "unallocated service IP: dropped" "TIMEOUT" "$(outside tcp 10.96.0.99 80 1)"
assert_eq "a port the ClusterIP does not have: rejected" "ECONNREFUSED" "$(outside tcp 10.96.0.10 81 1)"
assert_eq "unused NodePort: passed to the node (nothing listens)" "ECONNREFUSED" "$(outside tcp 192.0.2.1 30081 1)"
assert_eq "non-service traffic passes untouched (pod IP, client kept)" "s1:8080 192.0.2.2" \
	"$(outside tcp 10.244.0.3 8080 1)"
assert_match "ClientIP affinity from outside: one endpoint" '^s[12]$' "$(names tcp 192.0.2.1 30040 20)"
ct=$(bpftool -j map dump pinned "$EBPF_PIN/k8c_ct4_v1" | jq 'length')
assert_match "connection tracking entries made" '^[1-9][0-9]*$' "$ct"

log "restart: links kept, programs replaced"
ids=$(link_ids) p0=$(prog_ids)
out=$(proxy --node-name node-1 --objects "$D/a.json")
assert_match "restart: no map write" 'messages=0 ' "$out"
assert_eq "restart: the same tcx links" "$ids" "$(link_ids)"
p1=$(prog_ids)
if [[ -n $p1 && $p1 != "$p0" ]]; then pass "the programs behind them are new ($p0-> $p1)"; else
	fail "the programs were not replaced: before [$p0] after [$p1]"
fi
assert_eq "... ours" "k8c_tc_egress k8c_tc_ingress" \
	"$(for id in $p1; do bpftool -j prog show id "$id" | jq -r .name; done | sort -u | tr '\n' ' ' | sed 's/ $//')"
assert_eq "still translated" "s1 s2" "$(names tcp 192.0.2.1 30080 40)"

log "a long-lived connection survives a restart"
ebpf_uncaged ip netns exec "$OUT" "$PY" -c '
import socket, sys, time, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect(("192.0.2.1", 30053))
s.send(b"q"); a = s.recv(100).decode().split(":")[0]
open(sys.argv[1] + ".1", "w").write(a)
while not os.path.exists(sys.argv[2]): time.sleep(0.05)
s.send(b"q"); b = s.recv(100).decode().split(":")[0]
open(sys.argv[1] + ".2", "w").write(b)' "$D/flow" "$D/go" &
FLOW=$!
LIB_PIDS+=("$FLOW")
for _ in $(seq 100); do [[ -s $D/flow.1 ]] && break; sleep 0.05; done
proxy --node-name node-1 --objects "$D/a.json" >/dev/null
touch "$D/go"
wait "$FLOW" || true
assert_match "a UDP flow keeps its endpoint across a restart" '^(s[12]) \1$' \
	"$(cat "$D/flow.1" 2>/dev/null) $(cat "$D/flow.2" 2>/dev/null)"

log "--tc-interfaces"
out=$(proxy --node-name node-1 --tc-interfaces pxext --objects "$D/a.json")
assert_eq "only the listed interface keeps programs" "link_tc_egress_pxext_v1 link_tc_ingress_pxext_v1" "$(tc_links)"
assert_match "pxs1 has none: a pod's packet to an unallocated service IP is routed (unreachable)" \
	'^E(NET|HOST)UNREACH$' "$(from "$S1" tcp 10.96.0.99 80 1)"
assert_eq "externalTrafficPolicy Local still works (replies un-NATed at pxext's egress)" "s1" \
	"$(names tcp 192.0.2.1 30052 10)"
assert_fails "an unknown interface is refused" proxy --tc-interfaces nosuchif0 --objects "$D/a.json"
proxy --node-name node-1 --objects "$D/a.json" >/dev/null
assert_eq "default interfaces again" "$ALL_LINKS" "$(tc_links)"
assert_eq "pxs1 drops again" "TIMEOUT" "$(from "$S1" tcp 10.96.0.99 80 1)"

log "dual-stack sockets (AF_INET6) of the node's processes: IPv4 services at IPv4-mapped addresses"
# (this shell is in the test's cgroup: the socket hooks see these clients)
# c6 tcp|udp|sendto IPV4 PORT N: the distinct "name peer ADDR:PORT" of N tries at ::ffff:IPV4
c6() {
	PEER=1 ip netns exec "$NODE" "$PY" "$D/client.py" "$1" "::ffff:$2" "$3" "$4" |
		sed -E 's/^(s[12]):[0-9]+ [^ ]+ /\1 /' | sort -u | tr '\n' ',' | sed 's/,$//'
}
assert_eq "TCP to ::ffff:ClusterIP reaches both endpoints; getpeername shows the service" \
	"s1 peer ::ffff:10.96.0.10:80,s2 peer ::ffff:10.96.0.10:80" "$(c6 tcp 10.96.0.10 80 40)"
assert_eq "connected UDP: replies from the service address" \
	"s1 peer ::ffff:10.96.0.10:53,s2 peer ::ffff:10.96.0.10:53" "$(c6 udp 10.96.0.10 53 40)"
assert_eq "unconnected UDP: recvfrom shows the service address" \
	"s1 peer ::ffff:10.96.0.10:53,s2 peer ::ffff:10.96.0.10:53" "$(c6 sendto 10.96.0.10 53 40)"
assert_eq "NodePort at a mapped node address" "s1 peer ::ffff:192.0.2.1:30080,s2 peer ::ffff:192.0.2.1:30080" \
	"$(c6 tcp 192.0.2.1 30080 40)"
assert_eq "no endpoints: refused" "ECONNREFUSED" "$(c6 tcp 10.96.0.11 80 1)"
assert_eq "unallocated service IP: dropped (EPERM)" "EPERM" "$(c6 tcp 10.96.0.99 80 1)"

log "UDP sockets connected to a removed endpoint are destroyed (bpf_sock_destroy)"
cat >"$D/udpflow.py" <<'PYEOF'
import errno, os, socket, sys, time
out, go = sys.argv[1], sys.argv[2]
ips = {"s1": "10.244.0.3", "s2": "10.244.0.4"}
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.settimeout(2); a.connect(("10.96.0.60", 53))
a.send(b"q"); name = a.recv(100).decode().split(":")[0]
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.settimeout(2); b.connect((ips[name], 5353))
with open(out + ".tmp", "w") as f: f.write(name + "\n")
os.rename(out + ".tmp", out)
while not os.path.exists(go): time.sleep(0.05)
res = []
for s in (a, b):
    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    res.append(errno.errorcode.get(e, str(e)))
for s in (a, b):
    try: s.send(b"q"); res.append(s.recv(100).decode().split(":")[0])
    except OSError as e: res.append(errno.errorcode.get(e.errno, str(e.errno)))
with open(out, "a") as f: f.write(" ".join(res) + "\n")
PYEOF
U1='[{"name":"dns","protocol":"UDP","port":53}]' U2='[{"name":"dns","protocol":"UDP","port":5353}]'
objects "$D/u1.json" "$(svc udp 10.96.0.60 "$U1")" "$(slice udp-1 udp "$U2" 10.244.0.3 10.244.0.4)"
proxy --objects "$D/u1.json" >/dev/null
ip netns exec "$NODE" "$PY" "$D/udpflow.py" "$D/uflow" "$D/ugo" &
UFLOW=$!
LIB_PIDS+=("$UFLOW")
for _ in $(seq 100); do [[ -s $D/uflow ]] && break; sleep 0.05; done
first=$(sed -n 1p "$D/uflow")
assert_match "a connected UDP socket gets an endpoint" '^s[12]$' "$first"
if [[ $first == s1 ]]; then other_ip=10.244.0.4; else other_ip=10.244.0.3; fi
objects "$D/u2.json" "$(svc udp 10.96.0.60 "$U1")" "$(slice udp-1 udp "$U2" "$other_ip")"
assert_match "endpoint removed: its socket destroyed (counted as a deleted UDP flow)" \
	'conntrack_deleted=1 ' "$(proxy --objects "$D/u2.json")"
touch "$D/ugo"
wait "$UFLOW" || true
assert_eq "the balanced socket failed with ECONNABORTED (and is disconnected); a socket connected to the pod IP itself is untouched" \
	"ECONNABORTED 0 EDESTADDRREQ $first" "$(sed -n 2p "$D/uflow")"

log "cleanup"
assert_ok "--cleanup" proxy --cleanup
assert_eq "no tc program left" "" "$(tc_links)"
assert_fails "pins gone" ls "$EBPF_PIN"
assert_eq "NodePort from outside: nothing there again" "ECONNREFUSED" "$(outside tcp 192.0.2.1 30080 1)"

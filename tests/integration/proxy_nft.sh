#!/bin/bash
# k8c-proxy's backends against the kernel with real TCP and UDP traffic, in namespaces of
# our own (nothing is created in the host's namespace). Usage: proxy_nft.sh [BINDIR [MODE]], MODE
# nftables (default) or ebpf: one suite, two backends. Where the semantics differ by design the
# expected values depend on the mode (a socket-level balancer never masquerades and cannot make a
# dropped connection time out: it fails at once with EPERM).
#
#   client ns eth0 10.244.0.2/32 --- k8c-px-c  \
#   s1 ns     eth0 10.244.0.3/32 --- k8c-px-s1  > node ns (169.254.1.1 on every veth, routes /32
#   s2 ns     eth0 10.244.0.4/32 --- k8c-px-s2 /   per pod, the proxy's table ip k8c-proxy)
#
# Pods route everything via 169.254.1.1, so every packet crosses the node's IP stack (no bridge:
# replies are un-NATed by the node's conntrack). The servers answer "<name> <peer address>".
set -e
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy_test_lib.sh"
need_root
need_tools ip nft
PROXY=$OURS_DIR/k8c-proxy
[[ -x $PROXY ]] || skip "$PROXY not built yet"
MODE=${2:-nftables}
if [[ $MODE == ebpf ]]; then
	need_tools bpftool
	. ./proxy_ebpf_lib.sh # the cgroup this shell and its children run in, a private bpffs
	DROPPED=EPERM
else
	DROPPED=TIMEOUT
fi
# masq WHAT: the source address a backend sees for a masqueraded client (nftables) or the
# client's own (ebpf: nothing is rewritten but the destination)
masq() { if [[ $MODE == ebpf ]]; then echo "$1"; else echo 169.254.1.1; fi; }

NODE=k8c-px-node-$TAG CL=k8c-px-cl-$TAG S1=k8c-px-s1-$TAG S2=k8c-px-s2-$TAG
D=$(tmpdir_new)
netns_new "$NODE"
for p in "$CL:10.244.0.2:c" "$S1:10.244.0.3:s1" "$S2:10.244.0.4:s2"; do
	IFS=: read -r ns ip short <<<"$p"
	proxy_pod "$NODE" "$ns" "$ip" "px$short"
done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
# The node's own connections to service IPs need a route before the nat output hook runs. As a
# node's default route would, it leads out of the node: to a veth pair whose far end counts what
# leaves (nothing for service IPs may).
ip -n "$NODE" link add pxup type veth peer name pxupeer
for l in pxup pxupeer; do
	ip netns exec "$NODE" sysctl -qw "net.ipv6.conf.$l.disable_ipv6=1" # no IPv6 chatter
	ip -n "$NODE" link set "$l" up
done
ip -n "$NODE" route add 10.96.0.0/12 dev pxup
ip -n "$NODE" route add 198.51.100.0/24 dev pxup
leaked() { ip netns exec "$NODE" cat /sys/class/net/pxupeer/statistics/rx_packets; }

# The clients: tcp|udp IP PORT COUNT is proxy_test_lib.sh's (one connection, or datagram from
# a new socket, per try; one line per try: the answer, or ECONNREFUSED, or TIMEOUT: what a drop
# looks like); client.py has this test's own modes below.
proxy_client_py "$D/pclient.py"
cat >"$D/client.py" <<'PYEOF'
import errno, os, socket, sys, time
if sys.argv[1] == "udpflow":  # udpflow IP PORT OUT GO: one socket, one query, wait for GO, another
    ip, port, out, go = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect((ip, port))
    for i in range(2):
        if i:
            while not os.path.exists(go): time.sleep(0.05)
        s.send(b"q")
        try: line = s.recv(100).decode().strip()
        except socket.timeout: line = "TIMEOUT"
        with open(out, "a") as f: f.write(line + "\n")
    sys.exit(0)
if sys.argv[1] == "flows":  # flows IP TCPPORT UDPPORT N OUT GO: N TCP connections and a
    ip, port, uport, n, out, go = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
    ss = [socket.create_connection((ip, port), timeout=3) for _ in range(n)]  # connected UDP
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.connect((ip, uport))
    def udp():  # socket, each exchanging a line every 50 ms until GO exists; then writes
        u.send(b"q"); return u.recv(100).decode().split(":")[0]  # to OUT how many rounds
    first, rounds, bad = udp(), 0, []  # went through and what broke (UDP: moved or lost)
    open(out + ".ready", "w").close()
    while not os.path.exists(go) and not bad:
        for i, s in enumerate(ss):
            try:
                s.sendall(b"x\n"); got = b""
                while not got.endswith(b"\n"):
                    d = s.recv(10)
                    if not d: raise OSError(0, "closed")
                    got += d
            except socket.timeout: bad.append("tcp%d:TIMEOUT" % i)
            except OSError as e: bad.append("tcp%d:%s" % (i, errno.errorcode.get(e.errno, str(e))))
        try:
            now = udp()
            if now != first: bad.append("udp:moved-%s-to-%s" % (first, now))
        except socket.timeout: bad.append("udp:TIMEOUT")
        rounds += 1; time.sleep(0.05)
    with open(out, "w") as f: f.write("rounds=%d broken=%s\n" % (rounds, ",".join(bad) or "none"))
    sys.exit(0)
if sys.argv[1] == "peer":  # peer IP TCPPORT UDPPORT: the peer address a TCP socket
    ip, port, uport = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])  # (getpeername) and an
    s = socket.create_connection((ip, port), timeout=2)  # unconnected UDP socket (recvfrom) see
    t = "%s:%d" % s.getpeername()
    s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
    u.sendto(b"q", (ip, uport))
    data, peer = u.recvfrom(100)
    print("tcp %s udp %s:%d" % (t, peer[0], peer[1]))
    sys.exit(0)
if sys.argv[1] == "sendto":  # sendto IP PORT N: one unconnected UDP socket, N datagrams;
    ip, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])  # per reply: the server's
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)  # name and the
    for _ in range(n):  # address recvfrom shows
        u.sendto(b"q", (ip, port))
        data, peer = u.recvfrom(100)
        print("%s %s:%d" % (data.decode().split(":")[0], peer[0], peer[1]))
    sys.exit(0)
sys.exit("client.py: unknown mode " + sys.argv[1])
PYEOF
proxy_servers "$D" "$S1:s1" "$S2:s2" # the servers of proxy_test_lib.sh (TCP 7070: line echo)

# from NETNS MODE ARGS...: a client in NETNS (tcp|udp: proxy_test_lib.sh's, else client.py);
# client: from the client namespace
from() {
	local py=$D/client.py
	[[ $2 == tcp || $2 == udp ]] && py=$D/pclient.py
	ip netns exec "$1" "$PY" "$py" "${@:2}"
}
client() { from "$CL" "$@"; }
# names NETNS ARGS...: the distinct server names answering, sorted, space separated
names() { from "$@" | sed 's/:.*//' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
if [[ $MODE == ebpf ]]; then
	# (not under ip netns exec: it mounts its own /sys, without the cgroup hierarchy)
	proxy() { "$PROXY" --mode ebpf --netns "/var/run/netns/$NODE" "${EBPF_ARGS[@]}" "$@"; }
else
	proxy() { ip netns exec "$NODE" "$PROXY" "$@"; }
fi
if [[ $MODE == ebpf ]]; then
	kernel_state() {
		bpftool -j map dump pinned "$EBPF_PIN/k8c_lb4_v1" | jq -S -c "map(.formatted // .) | sort_by(.key)"
		for h in $EBPF_HOOKS; do
			bpftool -j link show pinned "$EBPF_PIN/link_${h}_v1" | jq -c '{id, cgroup_id}'
		done
	}
	ebpf_prog_ids() {
		for h in $EBPF_HOOKS; do
			bpftool -j link show pinned "$EBPF_PIN/link_${h}_v1" | jq -r .prog_id
		done | sort | tr '\n' ' '
	}
	# the map's integers: an address and a port in network order, read as host integers
	ip_u32() { local IFS=. a; read -ra a <<<"$1"; echo $((a[0] | a[1] << 8 | a[2] << 16 | a[3] << 24)); }
	port_u16() { echo $((($1 >> 8) | ($1 & 255) << 8)); }
else
	kernel_state() { ip netns exec "$NODE" nft -a list table ip k8c-proxy; }
fi

WEB_PORTS='[{"name":"http","port":80},{"name":"alt","port":90},{"name":"dns","protocol":"UDP","port":53}]'
WEB_TARGETS='[{"name":"http","port":8080},{"name":"alt","port":9090},{"name":"dns","protocol":"UDP","port":5353}]'

log "ClusterIP, multiport, UDP, no endpoints, unallocated service IP"
objects "$D/a.json" \
	"$(svc web 10.96.0.10 "$WEB_PORTS")" \
	"$(slice web-1 web "$WEB_TARGETS" 10.244.0.3 10.244.0.4)" \
	"$(svc other 10.96.0.20 '[{"name":"http","port":80}]')" \
	"$(slice other-1 other '[{"name":"http","port":8080}]' 10.244.0.4)" \
	"$(svc empty 10.96.0.11 '[{"port":80}]')" \
	"$(svc two 10.96.0.12 '[{"name":"http","port":80}]')" \
	"$(slice two-1 two '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
out=$(proxy --objects "$D/a.json")
assert_match "first sync programs" 'messages=[1-9]' "$out"
assert_eq "ClusterIP TCP reaches both endpoints" "s1 s2" "$(names "$CL" tcp 10.96.0.10 80 40)"
assert_eq "second port goes to the second target port" "s1:9090 s2:9090" \
	"$(client tcp 10.96.0.10 90 40 | cut -d' ' -f1 | sort -u | tr '\n' ' ' | sed 's/ $//')"
assert_eq "ClusterIP UDP reaches both endpoints" "s1 s2" "$(names "$CL" udp 10.96.0.10 53 40)"
assert_eq "getpeername and UDP replies show the service address" "tcp 10.96.0.10:80 udp 10.96.0.10:53" \
	"$(client peer 10.96.0.10 80 53)"
client sendto 10.96.0.10 53 40 >"$D/sendto"
assert_eq "one unconnected UDP socket, 40 datagrams: every reply from the service address" \
	"10.96.0.10:53" "$(cut -d' ' -f2 "$D/sendto" | sort -u)"
if [[ $MODE == ebpf ]]; then # (nftables: the socket's one conntrack flow keeps one endpoint)
	assert_eq "... balanced per datagram: both endpoints (two reverse NAT entries of one socket)" \
		"s1 s2" "$(cut -d' ' -f1 "$D/sendto" | sort -u | tr '\n' ' ' | sed 's/ $//')"
fi
assert_eq "client address kept (no masquerade for pods)" "10.244.0.2" \
	"$(client tcp 10.96.0.10 80 4 | cut -d' ' -f2 | sort -u)"
assert_eq "other service: its one endpoint" "s2" "$(names "$CL" tcp 10.96.0.20 80 10)"
assert_eq "no endpoints: rejected" "ECONNREFUSED" "$(client tcp 10.96.0.11 80 1)"
assert_eq "port the service does not have: rejected" "ECONNREFUSED" "$(client tcp 10.96.0.10 81 1)"
assert_eq "unallocated service IP: dropped" "$DROPPED" "$(client tcp 10.96.0.99 80 1)"
assert_eq "from the node itself too" "s1 s2" "$(names "$NODE" tcp 10.96.0.10 80 40)"
assert_eq "node: no endpoints rejected" "ECONNREFUSED" "$(from "$NODE" tcp 10.96.0.11 80 1)"
assert_eq "node: unallocated dropped" "$DROPPED" "$(from "$NODE" tcp 10.96.0.99 80 1)"
up0=$(leaked)
from "$NODE" tcp 10.96.0.99 80 1 >/dev/null
from "$CL" tcp 10.96.0.98 80 1 >/dev/null
assert_eq "unallocated service IPs never leave the node" "$up0" "$(leaked)"
from "$NODE" udp 198.51.100.1 80 1 >/dev/null
# (it would have sent ARP requests for it at least: so does this address, which is routed there)
if (($(leaked) > up0)); then pass "(other addresses do leave: the counter works)"; else
	fail "the counter of what leaves the node did not move"
fi

log "restart with nothing changed sends nothing"
before=$(kernel_state)
out=$(proxy --objects "$D/a.json")
assert_match "restart: no message" 'messages=0 ' "$out"
if [[ $MODE == ebpf ]]; then
	assert_eq "restart: maps and links unchanged (programs replaced behind the same links)" \
		"$before" "$(kernel_state)"
	assert_eq "restart: the new programs are attached" "$(ebpf_prog_ids)" \
		"$(bpftool cgroup show "$EBPF_CG" | awk 'NR > 1 {print $1}' | sort | tr '\n' ' ')"
	# (k8c_rnat4_v1: the LRU hash of reverse NAT before socket-local storage)
	bpftool map create "$EBPF_PIN/k8c_rnat4_v1" type hash key 4 value 4 entries 1 name k8c_rnat4_v1
	proxy --objects "$D/a.json" >/dev/null
	assert_fails "restart: a map of an earlier layout is removed" ls "$EBPF_PIN/k8c_rnat4_v1"
	assert_eq "... nothing else changed" "$before" "$(kernel_state)"
else
	assert_eq "restart: table unchanged (rule handles included)" "$before" "$(kernel_state)"
fi

log "an endpoint removed, incrementally in one process; only that service changes"
objects "$D/b.json" \
	"$(svc web 10.96.0.10 "$WEB_PORTS")" \
	"$(slice web-1 web "$WEB_TARGETS" 10.244.0.3)" \
	"$(svc other 10.96.0.20 '[{"name":"http","port":80}]')" \
	"$(slice other-1 other '[{"name":"http","port":8080}]' 10.244.0.4)" \
	"$(svc empty 10.96.0.11 '[{"port":80}]')" \
	"$(svc two 10.96.0.12 '[{"name":"http","port":80}]')" \
	"$(slice two-1 two '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
if [[ $MODE == nftables ]]; then
	ip netns exec "$NODE" nft monitor >"$D/monitor" 2>&1 &
	MON=$!
	LIB_PIDS+=("$MON")
	sleep 0.2 # nft monitor has no readiness signal; a missed event would only make the test fail
fi
out=$(proxy --objects "$D/a.json" --objects "$D/b.json" | tail -1)
if [[ $MODE == nftables ]]; then
	sleep 0.2
	kill "$MON"
	wait "$MON" 2>/dev/null || true
fi
assert_match "incremental sync: three records (web's ports)" 'records=3 ' "$out"
assert_eq "endpoint removed: no longer used" "s1" "$(names "$CL" tcp 10.96.0.10 80 30)"
assert_eq "UDP too" "s1" "$(names "$CL" udp 10.96.0.10 53 30)"
assert_eq "other service untouched" "s2" "$(names "$CL" tcp 10.96.0.20 80 5)"
if [[ $MODE == ebpf ]]; then
	# per port of web: its entry (count 2 -> 1) rewritten, its second backend deleted
	assert_match "kernel: six map writes, web's only" 'messages=6 transactions=1 added=3 deleted=3 ' "$out"
else
changed=$(grep -E '^(add|delete) ' "$D/monitor" || true)
assert_match "kernel saw changes of web" '10\.96\.0\.10' "$changed"
if grep -qE '10\.96\.0\.(20|11|12)' <<<"$changed"; then
	fail "the kernel saw changes of other services: $changed"
else
	pass "no change to other services in the kernel"
fi
# web goes from 2 endpoints to 1: classes lb-2 and lb-1 stay in use (two, other): no rule changes
assert_eq "kernel: only element changes" "" "$(grep -E '^(add|delete) ' "$D/monitor" | grep -vE '^(add|delete) element ' || true)"
fi

log "restarts and changes under load: no connection fails"
from "$CL" tcp 10.96.0.10 80 300 >"$D/load" &
LOAD=$!
LIB_PIDS+=("$LOAD")
restarts=0
while kill -0 "$LOAD" 2>/dev/null; do # alternately with and without the second endpoint
	proxy --objects "$D/$( ((restarts % 2)) && echo b || echo a).json" >/dev/null
	restarts=$((restarts + 1))
done
wait "$LOAD"
assert_match "restarts happened during the load" '^[1-9]' "$restarts"
assert_eq "300 connections during $restarts restarts, each answered" "300" "$(grep -c '^s[12]:' "$D/load")"
proxy --objects "$D/b.json" >/dev/null

log "kill -9 and restarts: established TCP flows and a UDP flow of unchanged services survive"
EP='[{"name":"echo","port":7},{"name":"dns","protocol":"UDP","port":53}]'
ET='[{"name":"echo","port":7070},{"name":"dns","protocol":"UDP","port":5353}]'
objects "$D/fl.json" \
	"$(svc web 10.96.0.10 "$WEB_PORTS")" "$(slice web-1 web "$WEB_TARGETS" 10.244.0.3 10.244.0.4)" \
	"$(svc echo 10.96.0.80 "$EP")" "$(slice echo-1 echo "$ET" 10.244.0.3 10.244.0.4)"
objects "$D/fl2.json" \
	"$(svc web 10.96.0.10 "$WEB_PORTS")" "$(slice web-1 web "$WEB_TARGETS" 10.244.0.3 10.244.0.4)" \
	"$(svc echo 10.96.0.80 "$EP")" "$(slice echo-1 echo "$ET" 10.244.0.3 10.244.0.4)" \
	"$(svc more 10.96.0.81 "$EP")" "$(slice more-1 more "$ET" 10.244.0.4)"
proxy --objects "$D/fl.json" >/dev/null
# the same program as proxy(), as one process (its PID is the proxy's own: kill -9 hits it)
if [[ $MODE == ebpf ]]; then
	PX=("$PROXY" --mode ebpf --netns "/var/run/netns/$NODE" "${EBPF_ARGS[@]}")
else
	PX=(ip netns exec "$NODE" "$PROXY")
fi
bg_in "$CL" "$PY" "$D/client.py" flows 10.96.0.80 7 53 8 "$D/flows" "$D/flows.go"
for _ in $(seq 100); do [[ -e $D/flows.ready ]] && break; sleep 0.05; done
assert_ok "8 TCP flows and a UDP flow established" test -e "$D/flows.ready"
for _ in $(seq 8); do # killed at some point of a run of syncs (services added and removed)
	"${PX[@]}" --objects "$D/fl2.json" --objects "$D/fl.json" --objects "$D/fl2.json" >/dev/null &
	px=$!
	sleep "0.0$((RANDOM % 10))"
	kill -KILL "$px" 2>/dev/null || true
	wait "$px" 2>/dev/null || true
done
proxy --objects "$D/fl.json" >/dev/null
assert_eq "after 8 kill -9: new connections still reach both endpoints" "s1 s2" "$(names "$CL" tcp 10.96.0.10 80 40)"
sleep 0.3 # a few more rounds on the final state
touch "$D/flows.go"
for _ in $(seq 100); do [[ -s $D/flows ]] && break; sleep 0.05; done
assert_match "every flow kept working through the kills and restarts" '^rounds=[1-9][0-9]* broken=none$' \
	"$(cat "$D/flows")"

log "NodePort (masqueraded), hairpin"
objects "$D/c.json" \
	"$(svc web 10.96.0.10 '[{"name":"http","port":80,"nodePort":30080}]')" \
	"$(slice web-1 web '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)" \
	"$(svc self 10.96.0.30 '[{"name":"http","port":80}]')" \
	"$(slice self-1 self '[{"name":"http","port":8080}]' 10.244.0.3)"
out=$(proxy --objects "$D/c.json")
assert_eq "NodePort reaches both endpoints" "s1 s2" "$(names "$CL" tcp 169.254.1.1 30080 40)"
assert_eq "NodePort: masqueraded to the node's address (ebpf: the client's)" "$(masq 10.244.0.2)" \
	"$(client tcp 169.254.1.1 30080 4 | cut -d' ' -f2 | sort -u)"
assert_eq "unused NodePort: nothing there" "ECONNREFUSED" "$(client tcp 169.254.1.1 30081 1)"
assert_eq "hairpin: a pod reaches itself through its service" "s1" "$(names "$S1" tcp 10.96.0.30 80 3)"
assert_eq "hairpin: masqueraded (ebpf: the pod's own address)" "$(masq 10.244.0.3)" "$(from "$S1" tcp 10.96.0.30 80 2 | cut -d' ' -f2 | sort -u)"
assert_eq "services removed: the old one's clusterIP is now unallocated" "$DROPPED" \
	"$(client tcp 10.96.0.20 80 1)"

log "--nodeport-addresses"
proxy --nodeport-addresses 169.254.1.1/32 --objects "$D/c.json" >/dev/null
assert_eq "NodePort on a listed address" "s1 s2" "$(names "$CL" tcp 169.254.1.1 30080 40)"
proxy --nodeport-addresses 192.0.2.77 --objects "$D/c.json" >/dev/null
assert_eq "not on other local addresses (nothing listens there)" "ECONNREFUSED" \
	"$(client tcp 169.254.1.1 30080 1)"
assert_eq "ClusterIPs unaffected" "s1 s2" "$(names "$CL" tcp 10.96.0.10 80 40)"
ip -n "$NODE" addr add 10.99.0.1/32 dev lo # a second node address, in 10.0.0.0/8
proxy --nodeport-addresses 10.0.0.0/8 --objects "$D/c.json" >/dev/null
assert_eq "a CIDR: NodePort on the node's address inside it" "s1 s2" "$(names "$CL" tcp 10.99.0.1 30080 40)"
assert_eq "a CIDR: not on the node's addresses outside it" "ECONNREFUSED" "$(client tcp 169.254.1.1 30080 1)"
proxy --nodeport-addresses 169.254.0.0/16,10.99.0.1 --objects "$D/c.json" >/dev/null
assert_eq "a CIDR and an address: both" "s1 s2 s1 s2" \
	"$(names "$CL" tcp 169.254.1.1 30080 40) $(names "$CL" tcp 10.99.0.1 30080 40)"
assert_fails "not a CIDR: refused" proxy --nodeport-addresses 10.0.0.0/33 --objects "$D/c.json"
ip -n "$NODE" addr del 10.99.0.1/32 dev lo
proxy --objects "$D/c.json" >/dev/null
assert_eq "back to every local address" "s1 s2" "$(names "$CL" tcp 169.254.1.1 30080 40)"

log "externalIPs (external traffic: masqueraded)"
objects "$D/x.json" \
	"$(svc web 10.96.0.10 '[{"name":"http","port":80}]' '"externalIPs":["192.0.2.50"]')" \
	"$(slice web-1 web '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/x.json" >/dev/null
assert_eq "externalIP reaches both endpoints" "s1 s2" "$(names "$CL" tcp 192.0.2.50 80 40)"
assert_eq "externalIP: masqueraded (ebpf: client kept)" "$(masq 10.244.0.2)" "$(client tcp 192.0.2.50 80 3 | cut -d' ' -f2 | sort -u)"
LB='{"kind":"Service","metadata":{"namespace":"t","name":"lb"},"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.70","ports":[{"name":"http","port":80,"nodePort":30070}]},"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.70"}]}}}'
objects "$D/lb.json" "$LB" "$(slice lb-1 lb '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/lb.json" >/dev/null
assert_eq "LoadBalancer ingress IP reaches both endpoints" "s1 s2" "$(names "$CL" tcp 198.51.100.70 80 40)"
assert_eq "and its NodePort" "s1 s2" "$(names "$CL" tcp 169.254.1.1 30070 40)"

if [[ $MODE == ebpf ]]; then
	log "UDP flow moved: not in ebpf mode yet (a connected UDP socket keeps its backend)"
else
log "UDP: a flow to a removed endpoint is moved (its conntrack entry deleted)"
U1='[{"name":"dns","protocol":"UDP","port":53}]' U2='[{"name":"dns","protocol":"UDP","port":5353}]'
objects "$D/u1.json" "$(svc udp 10.96.0.60 "$U1")" "$(slice udp-1 udp "$U2" 10.244.0.3 10.244.0.4)"
proxy --objects "$D/u1.json" >/dev/null
bg_in "$CL" "$PY" "$D/client.py" udpflow 10.96.0.60 53 "$D/flow" "$D/go"
for _ in $(seq 100); do [[ -s $D/flow ]] && break; sleep 0.05; done
first=$(sed -n 1p "$D/flow" | cut -d: -f1)
assert_match "a UDP flow gets an endpoint" '^s[12]$' "$first"
if [[ $first == s1 ]]; then other=s2 other_ip=10.244.0.4; else other=s1 other_ip=10.244.0.3; fi
objects "$D/u2.json" "$(svc udp 10.96.0.60 "$U1")" "$(slice udp-1 udp "$U2" "$other_ip")"
assert_match "restart, endpoint removed: its UDP flow deleted" 'conntrack_deleted=1 ' \
	"$(proxy --objects "$D/u2.json")"
touch "$D/go"
for _ in $(seq 100); do (($(wc -l <"$D/flow") >= 2)) && break; sleep 0.05; done
assert_eq "the same socket now reaches the remaining endpoint" "$other" "$(sed -n 2p "$D/flow" | cut -d: -f1)"
fi

log "session affinity"
AFF='"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}}'
objects "$D/d.json" \
	"$(svc sticky 10.96.0.40 '[{"name":"http","port":80}]' "$AFF")" \
	"$(slice sticky-1 sticky '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)" \
	"$(svc web 10.96.0.10 '[{"name":"http","port":80}]')" \
	"$(slice web-1 web '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/d.json" >/dev/null
first=$(names "$CL" tcp 10.96.0.40 80 30)
assert_match "ClientIP affinity: one endpoint for one client" '^s[12]$' "$first"
assert_eq "without affinity the same endpoints are both used" "s1 s2" "$(names "$CL" tcp 10.96.0.10 80 40)"
if [[ $MODE == ebpf ]]; then
	assert_eq "the kernel remembers the client (its network namespace) for the frontend" 1 \
		"$(bpftool -j map dump pinned "$EBPF_PIN/k8c_aff4_v1" |
			jq "[.[] | (.formatted // .) | select(.key.addr == $(ip_u32 10.96.0.40) and .key.port == $(port_u16 80))] | length")"
else
assert_match "the kernel remembers the client, with a timeout" \
	'10\.244\.0\.2 \. 10\.96\.0\.40 \. tcp \. 80 \. 0x0000000[01] (timeout 10m )?expires' \
	"$(ip netns exec "$NODE" nft list set ip k8c-proxy affinity)"
fi
if [[ $first == s1 ]]; then other=s2 other_ip=10.244.0.4; else other=s1 other_ip=10.244.0.3; fi
objects "$D/e.json" \
	"$(svc sticky 10.96.0.40 '[{"name":"http","port":80}]' "$AFF")" \
	"$(slice sticky-1 sticky '[{"name":"http","port":8080}]' "$other_ip")"
proxy --objects "$D/e.json" >/dev/null
assert_eq "its endpoint removed: the client moves to another" "$other" "$(names "$CL" tcp 10.96.0.40 80 10)"
objects "$D/f.json" \
	"$(svc sticky 10.96.0.40 '[{"name":"http","port":80}]')" \
	"$(slice sticky-1 sticky '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/f.json" >/dev/null
assert_eq "affinity switched off: both endpoints again" "s1 s2" "$(names "$CL" tcp 10.96.0.40 80 40)"
objects "$D/g.json" \
	"$(svc sticky 10.96.0.40 '[{"name":"http","port":80,"nodePort":30040}]' "$AFF")" \
	"$(slice sticky-1 sticky '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/g.json" >/dev/null
assert_match "affinity on a NodePort too" '^s[12]$' "$(names "$CL" tcp 169.254.1.1 30040 30)"
# operators read the rules with nft: every chain we write must be printable by it
[[ $MODE == ebpf ]] || assert_ok "nft lists the whole ruleset" ip netns exec "$NODE" nft list ruleset

log "traffic policies Local (this node is node-1: s1 runs here, s2 on node-2)"
nslice() { # nslice NAME SERVICE PORTS_JSON IP:NODE...
	local name=$1 svcname=$2 ports=$3 eps="" e
	shift 3
	for e in "$@"; do
		eps+="${eps:+,}{\"addresses\":[\"${e%%:*}\"],\"conditions\":{\"ready\":true},\"nodeName\":\"${e##*:}\"}"
	done
	printf '{"kind":"EndpointSlice","metadata":{"namespace":"t","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":%s,"endpoints":[%s]}' \
		"$name" "$svcname" "$ports" "$eps"
}
objects "$D/h.json" \
	"$(svc itp 10.96.0.50 '[{"name":"http","port":80}]' '"internalTrafficPolicy":"Local"')" \
	"$(nslice itp-1 itp '[{"name":"http","port":8080}]' 10.244.0.3:node-1 10.244.0.4:node-2)" \
	"$(svc itp2 10.96.0.51 '[{"name":"http","port":80}]' '"internalTrafficPolicy":"Local"')" \
	"$(nslice itp2-1 itp2 '[{"name":"http","port":8080}]' 10.244.0.4:node-2)" \
	"$(svc etp 10.96.0.52 '[{"name":"http","port":80,"nodePort":30052}]' '"type":"NodePort","externalTrafficPolicy":"Local"')" \
	"$(nslice etp-1 etp '[{"name":"http","port":8080}]' 10.244.0.3:node-1 10.244.0.4:node-2)"
proxy --node-name node-1 --objects "$D/h.json" >/dev/null
assert_eq "internalTrafficPolicy Local: only this node's endpoint" "s1" "$(names "$CL" tcp 10.96.0.50 80 20)"
assert_eq "internalTrafficPolicy Local, none here: dropped" "$DROPPED" "$(client tcp 10.96.0.51 80 1)"
assert_eq "externalTrafficPolicy Local: NodePort to this node's endpoint" "s1" "$(names "$CL" tcp 169.254.1.1 30052 20)"
assert_eq "externalTrafficPolicy Local: client address kept" "10.244.0.2" \
	"$(client tcp 169.254.1.1 30052 3 | cut -d' ' -f2 | sort -u)"
assert_eq "externalTrafficPolicy Local: its ClusterIP still reaches all" "s1 s2" "$(names "$CL" tcp 10.96.0.52 80 40)"

log "a cold start split into small transactions"
assert_ok "--cleanup" proxy --cleanup
out=$(proxy --max-transaction 4 --objects "$D/c.json")
[[ $MODE == ebpf ]] || assert_match "several transactions" 'transactions=([2-9]|[1-9][0-9]+) ' "$out"
assert_eq "and the result works" "s1 s2" "$(names "$CL" tcp 10.96.0.10 80 40)"
assert_match "restart after it: nothing to send" 'messages=0 ' "$(proxy --objects "$D/c.json")"

log "an endpoint at 127.0.0.1 (the API server's kubernetes service) leaves loopback alone"
objects "$D/lo.json" \
	"$(svc kubernetes 10.96.0.1 '[{"name":"https","port":443}]')" \
	"$(slice kubernetes kubernetes '[{"name":"https","port":6443}]' 127.0.0.1)" \
	"$(svc web 10.96.0.10 '[{"name":"http","port":80}]')" \
	"$(slice web-1 web '[{"name":"http","port":8080}]' 10.244.0.3 10.244.0.4)"
proxy --objects "$D/lo.json" >/dev/null
bg_in "$NODE" "$PY" "$D/server.py" node "$D/node.ready"
for _ in $(seq 100); do [[ -e $D/node.ready ]] && break; sleep 0.05; done
# (hairpin masquerading once matched every 127.0.0.1 -> 127.0.0.1 packet, and such flows hung)
assert_eq "node loopback connections still work" "node:8080 127.0.0.1" "$(from "$NODE" tcp 127.0.0.1 8080 1)"
assert_eq "hairpin still masqueraded (ebpf: not rewritten)" "$(masq 10.244.0.3)" "$(from "$S1" tcp 10.96.0.10 80 20 | grep '^s1' | cut -d' ' -f2 | sort -u)"

log "cleanup"
assert_ok "--cleanup" proxy --cleanup
if [[ $MODE == ebpf ]]; then
	assert_fails "pins gone" ls "$EBPF_PIN"
	assert_eq "nothing attached to the cgroup" "" "$(bpftool cgroup show "$EBPF_CG")"
	assert_eq "connections to ClusterIPs are no longer balanced (they leave the node)" "TIMEOUT" "$(client tcp 10.96.0.10 80 1)"
else
	assert_fails "table gone" ip netns exec "$NODE" nft list table ip k8c-proxy
fi
assert_ok "--cleanup again is fine" proxy --cleanup

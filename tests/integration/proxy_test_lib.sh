# shellcheck shell=bash
# Pieces of the k8c-proxy tests, sourced after lib.sh (by proxy_nft.sh and proxy_ebpf_tc.sh;
# tests/bench/proxy_dp_bench.sh repeats them and could source this too):
#   proxy_pod NODE NS IP IFNAME   a pod namespace NS (made and registered) with IP/32 on eth0,
#                                 joined to the node namespace NODE by a veth IFNAME holding
#                                 169.254.1.1, its default route (every packet crosses the node)
#   proxy_outside NODE NS         a namespace NS (made and registered) outside the node: eth0
#                                 192.0.2.2/24, default route via the node's uplink pxext
#                                 192.0.2.1/24 (forwarding on in NODE)
#   proxy_server_py FILE          writes the test server: python3 FILE NAME READYFILE answers
#                                 "NAME:PORT PEER" on TCP 8080 and 9090 and UDP 5353; TCP
#                                 7070 echoes every line until the client closes (long-lived
#                                 flows); TCP 9099 reads until EOF and answers the byte count
#   proxy_servers DIR NS:NAME... writes DIR/server.py, runs it as NAME in each NS (registered for
#                                 cleanup) and waits until each is ready
#   proxy_client_py FILE          writes the test client: python3 FILE tcp|udp|sendto IP PORT N:
#                                 N connections (udp: connected sockets; sendto: unconnected,
#                                 recvfrom), one line each: the answer, ECONNREFUSED, TIMEOUT...;
#                                 an IP with ':' (::ffff:a.b.c.d) uses AF_INET6; env TIMEOUT
#                                 (seconds, default 2), PEER=1 appends " peer ADDR:PORT" (what
#                                 getpeername or recvfrom shows)
#   svc, slice, objects           Service / EndpointSlice JSON and a file of them (--objects)

proxy_pod() {
	local node=$1 ns=$2 ip=$3 ifname=$4
	netns_new "$ns"
	ip link add "$ifname" netns "$node" type veth peer name eth0 netns "$ns"
	ip -n "$node" addr add 169.254.1.1/32 dev "$ifname"
	ip -n "$node" link set "$ifname" up
	ip -n "$node" route add "$ip/32" dev "$ifname"
	ip -n "$ns" addr add "$ip/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 169.254.1.1 dev eth0
	ip -n "$ns" route add default via 169.254.1.1 dev eth0
}

proxy_outside() {
	local node=$1 ns=$2
	netns_new "$ns"
	ip link add pxext netns "$node" type veth peer name eth0 netns "$ns"
	ip -n "$node" addr add 192.0.2.1/24 dev pxext
	ip -n "$node" link set pxext up
	ip -n "$ns" addr add 192.0.2.2/24 dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via 192.0.2.1 dev eth0
	ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
}

proxy_server_py() {
	cat >"$1" <<'PYEOF'
import socket, sys, threading
name = sys.argv[1]
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, peer = s.accept()
        c.sendall(("%s:%d %s\n" % (name, port, peer[0])).encode()); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(("%s:%d %s\n" % (name, port, peer[0])).encode(), peer)
def echo(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    def one(c):
        for data in iter(lambda: c.recv(100), b""): c.sendall(data)
    while True:
        c, _ = s.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()
def sink(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8)
    def one(c):
        n = 0
        while True:
            b = c.recv(1 << 16)
            if not b: break
            n += len(b)
        c.sendall(b"%d\n" % n); c.close()
    while True:
        c, _ = s.accept(); threading.Thread(target=one, args=(c,), daemon=True).start()
ts = [threading.Thread(target=tcp, args=(p,), daemon=True) for p in (8080, 9090)]
ts.append(threading.Thread(target=udp, args=(5353,), daemon=True))
ts.append(threading.Thread(target=echo, args=(7070,), daemon=True))
ts.append(threading.Thread(target=sink, args=(9099,), daemon=True))
for t in ts: t.start()
open(sys.argv[2], "w").close()
ts[0].join()
PYEOF
}

proxy_servers() {
	local dir=$1 s
	shift
	proxy_server_py "$dir/server.py"
	for s in "$@"; do bg_in "${s%%:*}" "$PY" "$dir/server.py" "${s##*:}" "$dir/${s##*:}.ready"; done
	for s in "$@"; do
		for _ in $(seq 100); do [[ -e $dir/${s##*:}.ready ]] && break; sleep 0.05; done
		[[ -e $dir/${s##*:}.ready ]] || { fail "server ${s##*:} did not start"; exit 1; }
	done
}

proxy_client_py() {
	cat >"$1" <<'PYEOF'
import errno, os, socket, sys
proto, ip, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
t, show = float(os.environ.get("TIMEOUT", "2")), os.environ.get("PEER")
for _ in range(count):
    try:
        if proto == "tcp":
            s = socket.socket(fam); s.settimeout(t); s.connect((ip, port))
            line, peer = s.makefile().readline().strip(), s.getpeername()
        elif proto == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(t); s.connect((ip, port))
            s.send(b"q"); line, peer = s.recv(100).decode().strip(), s.getpeername()
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(t); s.sendto(b"q", (ip, port))
            data, peer = s.recvfrom(100); line = data.decode().strip()
        print(line + (" peer %s:%d" % peer[:2] if show else ""))
        s.close()
    except socket.timeout:
        print("TIMEOUT")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
}

svc() { # svc NAME IP PORTS_JSON [EXTRA_SPEC_JSON]
	printf '{"kind":"Service","metadata":{"namespace":"t","name":"%s"},"spec":{"clusterIP":"%s","ports":%s%s}}' \
		"$1" "$2" "$3" "${4:+,$4}"
}
slice() { # slice NAME SERVICE PORTS_JSON IP[:NODE]... (ready endpoints; NODE: nodeName)
	local name=$1 svcname=$2 ports=$3 eps="" e node
	shift 3
	for e in "$@"; do
		node=
		[[ $e == *:* ]] && node=",\"nodeName\":\"${e#*:}\""
		eps+="${eps:+,}{\"addresses\":[\"${e%%:*}\"],\"conditions\":{\"ready\":true}$node}"
	done
	printf '{"kind":"EndpointSlice","metadata":{"namespace":"t","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":%s,"endpoints":[%s]}' \
		"$name" "$svcname" "$ports" "$eps"
}
objects() { # objects FILE OBJECT...
	local f=$1
	shift
	(IFS=,; echo "[$*]") >"$f"
}

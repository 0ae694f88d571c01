#!/bin/bash
# k8c-proxy restarted under load (issue 6: "kill -9 and restart during 1,000 connections/s to
# services: zero failed connections, zero reset established flows"). Root; everything happens in
# namespaces this script creates (removed on every exit path by tests/integration/lib.sh):
#
#   client ns eth0 10.244.0.2 --- node ns (routes /32 per pod, forwarding, k8c-proxy's table)
#   s1..s3 ns eth0 10.244.0.3-5 --/
#
# k8c-server runs on the host's loopback (a data directory of this run); k8c-proxy watches it
# (--netns: it programs the node namespace). A client (proxy_dp churn) makes RATE new
# connections/s to a ClusterIP and keeps FLOWS long-lived TCP connections to another port of the
# same service exchanging data every 20 ms. Meanwhile k8c-proxy is killed with SIGKILL RESTARTS
# times, at a random moment (often in the middle of its start-up read-back and sync) and
# restarted; every other time the service's endpoints change while it is down (s3 added or
# removed with kubectl), so the restarted proxy has a delta to program. EXTRA more services
# (two endpoints each) make the read-back and first sync last long enough to be hit.
#
#   tests/bench/proxy_restart_bench.sh [BUILD/bin] [RESTARTS] [RATE] [FLOWS]
#                                                            (defaults build/bin 10 1000 32)
#   MODES="nftables ebpf" (default), EXTRA=1000, KILL_MS=250 (kills 0..KILL_MS ms after a start)
# Prints per mode: `=> [MODE] restart under load: failed connections N of M, broken flows B of
# F, goal 0, ratio ...` (ratio: 1 - (failed + broken)/(connections + flows), 1.000 = the goal).
# Needs build/bin/{k8c-proxy,k8c-server,proxy_dp}.
set -e
BIN=$(realpath -m "${1:-$(dirname "$0")/../../build/bin}")
RESTARTS=${2:-10} RATE=${3:-1000} FLOWS=${4:-32} EXTRA=${EXTRA:-1000} KILL_MS=${KILL_MS:-250}
. "$(dirname "$0")/../integration/lib.sh" "$BIN"
need_root
need_tools ip nft kubectl curl jq
for b in k8c-proxy k8c-server proxy_dp; do [[ -x $BIN/$b ]] || skip "$BIN/$b not built"; done
MODES=${MODES:-nftables ebpf}
PROXY=$BIN/k8c-proxy
if [[ $MODES == *ebpf* ]]; then
	need_tools bpftool
	. ./proxy_ebpf_lib.sh # this shell (and the client) in a cgroup of its own, a private bpffs
fi

NODE=k8c-pxr-node-$TAG CL=k8c-pxr-cl-$TAG
D=$(tmpdir_new)
netns_new "$NODE"
pods=("$CL:10.244.0.2:c")
for i in 1 2 3; do pods+=("k8c-pxr-s$i-$TAG:10.244.0.$((i + 2)):s$i"); done
for p in "${pods[@]}"; do
	IFS=: read -r ns ip short <<<"$p"
	netns_new "$ns"
	ip link add "pxr$short" netns "$NODE" type veth peer name eth0 netns "$ns"
	ip -n "$NODE" addr add 169.254.1.1/32 dev "pxr$short"
	ip -n "$NODE" link set "pxr$short" up
	ip -n "$NODE" route add "$ip/32" dev "pxr$short"
	ip -n "$ns" addr add "$ip/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 169.254.1.1 dev eth0
	ip -n "$ns" route add default via 169.254.1.1 dev eth0
done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$CL" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
ip netns exec "$NODE" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 2>/dev/null ||
	true

# k8c-server (no controllers: the EndpointSlices are ours), on a free loopback port
SRV=$D/server PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$SRV"
"$BIN/k8c-server" --data-dir "$SRV/data" --secure-port "$PORT" --bind-address 127.0.0.1 \
	--controllers= 2>>"$SRV/server.log" &
LIB_PIDS+=($!)
for _ in $(seq 100); do
	curl -sk "https://127.0.0.1:$PORT/healthz" 2>/dev/null | grep -qx ok && break
	sleep 0.1
done
export KUBECONFIG=$SRV/data/admin.kubeconfig
k() { kubectl --cache-dir "$SRV/cache" "$@"; }
k get ns default >/dev/null || { fail "k8c-server did not start: $(tail "$SRV/server.log")"; exit 1; }

# servers: s1..s3 each serve 5301 (sink), 5302 (accept and close), 5303 (echo)
for i in 1 2 3; do
	bg_in "k8c-pxr-s$i-$TAG" "$BIN/proxy_dp" serve 5301 >"$D/serve.$i"
done
for i in 1 2 3; do
	for _ in $(seq 100); do [[ -s $D/serve.$i ]] && break; sleep 0.05; done
	[[ -s $D/serve.$i ]] || { fail "server s$i did not start"; exit 1; }
done

# slice NAME SERVICE IP...: an EndpointSlice with ports c (5302) and e (5303)
slice() {
	local name=$1 svc=$2 eps="" e
	shift 2
	for e in "$@"; do eps+="${eps:+,}{\"addresses\":[\"$e\"],\"conditions\":{\"ready\":true}}"; done
	printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"default","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"c","port":5302,"protocol":"TCP"},{"name":"e","port":5303,"protocol":"TCP"}],"endpoints":[%s]}' \
		"$name" "$svc" "$eps"
}
svc() { # svc NAME CLUSTERIP
	printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"%s"},"spec":{"clusterIP":"%s","ports":[{"name":"c","port":80,"targetPort":5302},{"name":"e","port":81,"targetPort":5303}]}}' \
		"$1" "$2"
}
{
	echo '{"apiVersion":"v1","kind":"List","items":['
	svc web 10.96.0.10
	echo ","
	slice web-1 web 10.244.0.3 10.244.0.4
	for ((i = 1; i <= EXTRA; i++)); do
		ip=10.100.$((i >> 8)).$((i & 255))
		printf ',%s,%s\n' "$(svc "x$i" "$ip")" "$(slice "x$i-1" "x$i" "10.200.$((i >> 7)).$(((i & 127) * 2))" "10.200.$((i >> 7)).$(((i & 127) * 2 + 1))")"
	done
	echo ']}'
} >"$D/objects.json"
t0=$(date +%s.%N)
k create --save-config -f "$D/objects.json" >/dev/null
log "$((EXTRA + 1)) services created in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s"
with_s3=false
set_endpoints() { # while the proxy is down: web's endpoints with or without s3
	if $with_s3; then
		slice web-1 web 10.244.0.3 10.244.0.4
	else
		slice web-1 web 10.244.0.3 10.244.0.4 10.244.0.5
	fi | k apply -f - >/dev/null
	if $with_s3; then with_s3=false; else with_s3=true; fi
}

PROXY_PID=
start_proxy() {
	local -a args=(--kubeconfig "$KUBECONFIG" --netns "/var/run/netns/$NODE" --node-name node-1
		--min-sync-period 0 --metrics-bind-address "")
	[[ $MODE == ebpf ]] && args+=(--mode ebpf "${EBPF_ARGS[@]}")
	"$PROXY" "${args[@]}" 2>>"$D/proxy-$MODE.log" &
	PROXY_PID=$!
	LIB_PIDS+=("$PROXY_PID")
}
synced_n() { grep -c 'msg=synced' "$D/proxy-$MODE.log" || true; }
# wait_synced N: until the log has more than N "synced" lines (the proxy programmed its state)
wait_synced() {
	for _ in $(seq 600); do
		(($(synced_n) > $1)) && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || { fail "k8c-proxy exited: $(tail -3 "$D/proxy-$MODE.log")"; return 1; }
		sleep 0.05
	done
	fail "k8c-proxy did not sync"
	return 1
}
kill9() {
	kill -KILL "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
}

for MODE in $MODES; do
	log "[$MODE] first start"
	: >"$D/proxy-$MODE.log"
	start_proxy
	wait_synced 0 || exit 1
	ip netns exec "$CL" "$BIN/proxy_dp" churn 10.96.0.10 80 81 1 1 "$D/probe-stop" >"$D/probe" &
	probe=$!
	sleep 0.5
	touch "$D/probe-stop"
	wait "$probe"
	rm -f "$D/probe-stop"
	[[ $(cat "$D/probe") == *" failed=0 "*" broken=0 "* ]] ||
		{ fail "[$MODE] the service does not work before the test: $(cat "$D/probe")"; exit 1; }
	rm -f "$D/stop-$MODE"
	ip netns exec "$CL" "$BIN/proxy_dp" churn 10.96.0.10 80 81 "$RATE" "$FLOWS" "$D/stop-$MODE" \
		>"$D/churn-$MODE" 2>"$D/churn-$MODE.err" &
	CHURN=$!
	LIB_PIDS+=("$CHURN")
	sleep 1
	mid=0 changed=0
	for r in $(seq "$RESTARTS"); do
		# kill at a random moment: during start-up (informers, read-back, first sync) or later
		n=$(synced_n)
		if ((r > 1)); then
			sleep "0.$(printf '%03d' $((RANDOM % KILL_MS)))"
			(($(synced_n) == n)) && mid=$((mid + 1)) # killed before its first sync ended
		else
			sleep 0.5
		fi
		kill9
		if ((r % 2 == 0)); then
			set_endpoints
			changed=$((changed + 1))
		fi
		start_proxy
	done
	wait_synced "$(synced_n)" || true
	sleep 1 # let the last state carry traffic
	touch "$D/stop-$MODE"
	wait "$CHURN"
	kill -TERM "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
	res=$(tail -1 "$D/churn-$MODE")
	field() { tr ' ' '\n' <<<"$res" | sed -n "s/^$1=//p"; }
	conns=$(field conns) failed=$(field failed) slow=$(field slow) rate=$(field rate)
	broken=$(field broken) exchanges=$(field exchanges)
	{
		echo "[$MODE] $RESTARTS kill -9 + restarts ($mid before the first sync had finished," \
			"$changed with an endpoint change made while down), $EXTRA+1 services: $res"
		echo "=> [$MODE] restart under load: failed connections $failed of $conns at $rate/s," \
			"broken established flows $broken of $FLOWS ($exchanges exchanges)," \
			"SYN retransmitted $slow; goal 0 and 0," \
			"ratio $(awk "BEGIN{printf \"%.3f\", 1 - ($failed + $broken) / ($conns + $FLOWS)}")"
	} | tee -a "$D/result" >&2
	echo "[$MODE] the proxy's syncs (records, kernel messages, ms):" \
		"$(grep 'msg=synced' "$D/proxy-$MODE.log" | sed -E 's/.*records=([0-9]+).*messages=([0-9]+).* ms=([0-9.]+).*/\1,\2,\3/' | tr '\n' ' ')" >&2
	if [[ -s $D/churn-$MODE.err ]]; then
		echo "[$MODE] failures seen by the client (first 10):" >&2
		sort "$D/churn-$MODE.err" | uniq -c | sort -rn | head -10 >&2
	fi
	((rate >= RATE * 9 / 10)) || echo "[$MODE] WARNING: the client made only $rate of $RATE connections/s" >&2
	# the next backend starts from a node without this one's state
	if [[ $MODE == ebpf ]]; then
		"$PROXY" --mode ebpf "${EBPF_ARGS[@]}" --cleanup
	else
		ip netns exec "$NODE" "$PROXY" --cleanup
	fi
done
echo "== summary" >&2
cat "$D/result" >&2
pass "done"

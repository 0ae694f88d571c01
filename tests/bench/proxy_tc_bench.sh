#!/bin/bash
# k8c-proxy's path for traffic from OUTSIDE the node (issue 7's tc programs, beside nftables): TCP
# throughput and new connections/s from a client namespace behind the node's uplink to a server
# pod through a NodePort (DNAT and masquerade: externalTrafficPolicy Cluster), against direct to
# the pod IP (the node only forwards), in interleaved rounds. Root; everything happens in
# namespaces this script creates (removed on every exit path by tests/integration/lib.sh):
#
#   out ns eth0 192.0.2.2/24 --- pxext 192.0.2.1/24  node ns  pxs1 169.254.1.1 --- s1 ns 10.244.0.3
#
#   tests/bench/proxy_tc_bench.sh [BUILD/bin] [ROUNDS] [SECONDS]    (defaults build/bin 5 3)
#   MODES="ebpf nftables" (default): each backend in turn; the client runs outside the cgroup of
#   the eBPF socket hooks (only tc sees its packets). Prints "=> name: value, ..., ratio" lines.
# Needs build/bin/k8c-proxy and build/bin/proxy_dp (cmake --build build --target proxy_dp).
set -e
BIN=$(realpath -m "${1:-$(dirname "$0")/../../build/bin}")
ROUNDS=${2:-5} SECS=${3:-3}
. "$(dirname "$0")/../integration/lib.sh" "$BIN"
need_root
need_tools ip nft bpftool jq
for b in k8c-proxy proxy_dp; do [[ -x $BIN/$b ]] || skip "$BIN/$b not built"; done
MODES=${MODES:-ebpf nftables}
PROXY=$BIN/k8c-proxy
. "$(dirname "$0")/../integration/proxy_ebpf_lib.sh"
. "$(dirname "$0")/../integration/proxy_test_lib.sh"

NODE=k8c-ptb-node-$TAG OUT=k8c-ptb-out-$TAG S1=k8c-ptb-s1-$TAG
D=$(tmpdir_new)
netns_new "$NODE"
proxy_pod "$NODE" "$S1" 10.244.0.3 pxs1
proxy_outside "$NODE" "$OUT"
ip netns exec "$OUT" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
# many short connections: keep the node's conntrack table small (the nftables paths cross it)
ip netns exec "$NODE" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 2>/dev/null || true

# One server program, a port pair per path (direct 5201, nftables 5301, eBPF 5401): a SYN of
# one path reusing a client port the other left in TIME_WAIT would fail PAWS (see
# proxy_dp_bench.sh). serve PORT: PORT is a sink, PORT+1 accepts and closes.
declare -A SPORT=([nftables]=5301 [ebpf]=5401)
for port in 5201 5301 5401; do
	bg_in "$S1" "$BIN/proxy_dp" serve "$port" >"$D/serve.$port"
	for _ in $(seq 100); do [[ -s $D/serve.$port ]] && break; sleep 0.05; done
	[[ -s $D/serve.$port ]] || { fail "server on $port did not start"; exit 1; }
done
dp() { ebpf_uncaged ip netns exec "$OUT" "$BIN/proxy_dp" "$@"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
program() {
	if [[ $MODE == ebpf ]]; then
		"$PROXY" --mode ebpf --netns "/var/run/netns/$NODE" "${EBPF_ARGS[@]}" --objects "$1"
	else
		ip netns exec "$NODE" "$PROXY" --objects "$1"
	fi | sed 's/^/  /' >&2
}
cleanup_mode() {
	if [[ $MODE == ebpf ]]; then
		"$PROXY" --mode ebpf "${EBPF_ARGS[@]}" --cleanup
	else
		ip netns exec "$NODE" "$PROXY" --cleanup
	fi
}

for MODE in $MODES; do
	declare -A T=() C=()
	p=${SPORT[$MODE]}
	objects "$D/$MODE.json" \
		"$(svc web 10.96.0.10 '[{"name":"s","port":80,"nodePort":30080},{"name":"c","port":81,"nodePort":30081}]' '"type":"NodePort"')" \
		"$(slice web-1 web "[{\"name\":\"s\",\"port\":$p},{\"name\":\"c\",\"port\":$((p + 1))}]" 10.244.0.3)"
	log "[$MODE] NodePort 30080 -> 10.244.0.3:$p"
	program "$D/$MODE.json"
	# paths: direct = the pod IP (forwarded by the node); nodeport = the node's address
	for r in $(seq "$ROUNDS"); do
		T[direct]+=" $(dp tput 10.244.0.3 5201 "$SECS")"
		T[nodeport]+=" $(dp tput 192.0.2.1 30080 "$SECS")"
		C[direct]+=" $(dp conns 10.244.0.3 5201 "$SECS")"
		C[nodeport]+=" $(dp conns 192.0.2.1 30080 "$SECS")"
		echo "round $r: Gbit/s direct${T[direct]##* } nodeport${T[nodeport]##* };" \
			"conn/s direct${C[direct]##* } nodeport${C[nodeport]##* }" >&2
	done
	td=$(median <<<"${T[direct]}") tn=$(median <<<"${T[nodeport]}")
	cd_=$(median <<<"${C[direct]}") cn=$(median <<<"${C[nodeport]}")
	{
		echo "=> [$MODE] outside->NodePort TCP throughput: $tn Gbit/s, direct $td Gbit/s (median of $ROUNDS x ${SECS} s), ratio $(awk "BEGIN{printf \"%.3f\", $tn/$td}")"
		echo "=> [$MODE] outside->NodePort new connections/s: $cn, direct $cd_ (median of $ROUNDS x ${SECS} s), ratio $(awk "BEGIN{printf \"%.3f\", $cn/$cd_}")"
	} | tee -a "$D/result" >&2
	cleanup_mode
done
echo "== summary (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
cat "$D/result"
pass "done"

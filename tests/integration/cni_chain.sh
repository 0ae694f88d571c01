#!/bin/bash
# Chaining, as libcni runs a conflist: bridge first (no prevResult), then the reference portmap
# and tuning plugins with prevResult = the previous result; DEL in reverse order. Run with the
# reference bridge and with k8c-bridge, cniVersion 1.0.0 (the highest the reference portmap and
# tuning support).
#
#   ┌───────────────────────┐
#   │ $pod eth0 10.92.0.2   │  listener :8080
#   └──────────┬────────────┘
#   ┌──────────┴─────────────────────────┐    ┌──────────────────────┐
#   │ $node bridge $br 10.92.0.1/24      │    │ $out                 │
#   │       portmap DNAT :18080 -> :8080 ├────┤ 192.168.92.2/24      │
#   │       veth 192.168.92.1/24         │    │ connects to .1:18080 │
#   └────────────────────────────────────┘    └──────────────────────┘
# Usage: cni_chain.sh <build>/bin
set -e
OURS_DIR=$(realpath -m "${1:-$(dirname "$0")/../../build/bin}")
cd "$(dirname "$0")"
. ./lib.sh
trap lib_cleanup EXIT

need_root
need_tools ip jq iptables-save "$PY"
for p in bridge host-local portmap tuning; do
	[[ -x $REF_DIR/$p ]] || skip "reference plugin $REF_DIR/$p missing"
done

declare -A PM_OUT TU_OUT
n=0
run_chain() {
	impl_set "$1" 1.0.0
	n=$((n + 1))
	log "chain with $BRIDGE"
	NODE=k8cn$n-$TAG
	local pod=k8cp$n-$TAG out=k8co$n-$TAG br=k8cbr$TAG cid=c$n-$TAG d
	d=$(tmpdir_new)
	netns_new "$NODE"
	netns_new "$pod"
	netns_new "$out"
	ip -n "$NODE" link add k8cup$TAG type veth peer name k8cdn$TAG netns "$out"
	ip -n "$NODE" addr add 192.168.92.1/24 dev k8cup$TAG
	ip -n "$NODE" link set k8cup$TAG up
	ip -n "$out" addr add 192.168.92.2/24 dev k8cdn$TAG
	ip -n "$out" link set k8cdn$TAG up

	local bconf r pconf pr tconf tr
	bconf=$(bridge_conf "$br" 10.92.0.0/24 "$d" '{"ipMasq": true}')
	r=$(cni_ok "$PDIR" "$BRIDGE" ADD "$cid" "$pod" eth0 "$bconf")
	assert_eq "first in chain (no prevResult): address" 10.92.0.2/24 "$(jget "$r" '.ips[0].address')"

	# CNI_PATH must find both plugins: the reference dir holds portmap; ours holds k8c-*.
	pconf=$(jq -n -c --argjson prev "$r" '{cniVersion: "1.0.0", name: "k8ctest", type: "portmap",
	    capabilities: {portMappings: true}, snat: true,
	    runtimeConfig: {portMappings: [{hostPort: 18080, containerPort: 8080, protocol: "tcp"}]},
	    prevResult: $prev}')
	pr=$(cni_ok "$REF_DIR" portmap ADD "$cid" "$pod" eth0 "$pconf")
	assert_json_eq "portmap passes the bridge result on" "$r" "$pr"
	PM_OUT[$IMPL]=$(comparable "$pr")

	tcp_listen "$pod" 8080 "$d/peer"
	assert_eq "outside -> node:18080 reaches the pod" hello "$(tcp_get "$out" 192.168.92.1 18080)"
	wait_file "$d/peer" || true
	assert_eq "pod sees the outside client" 192.168.92.2 "$(cat "$d/peer" 2>&1)"

	tconf=$(jq -n -c --argjson prev "$pr" '{cniVersion: "1.0.0", name: "k8ctest", type: "tuning",
	    mtu: 1300, sysctl: {"net.ipv4.conf.eth0.arp_announce": "2"}, prevResult: $prev}')
	tr=$(cni_ok "$REF_DIR" tuning ADD "$cid" "$pod" eth0 "$tconf")
	TU_OUT[$IMPL]=$(comparable "$tr")
	assert_json_eq "tuning passes the result on" "$pr" "$tr"
	assert_match "tuning set the MTU after $BRIDGE" "mtu 1300" "$(ip -n "$pod" link show eth0)"
	assert_eq "tuning set the sysctl" 2 "$(ip netns exec "$pod" cat /proc/sys/net/ipv4/conf/eth0/arp_announce)"
	assert_ok "pod still reaches the gateway" ping1 "$pod" 10.92.0.1

	# CHECK through the chain, with the final result as prevResult.
	assert_ok "bridge CHECK with the chain's final result" \
		cni_run "$PDIR" "$BRIDGE" CHECK "$cid" "$pod" eth0 "$(with_prev "$bconf" "$tr")"
	# No portmap CHECK: portmap 1.1.1 fails it on IPv4-only results ("could not check ipv6 dnat:
	# chain CNI-DN-... not found"), whatever the bridge.

	# DEL in reverse order, each with the final result.
	assert_ok "tuning DEL" cni_run "$REF_DIR" tuning DEL "$cid" "$pod" eth0 "$(with_prev "$tconf" "$tr")"
	assert_ok "portmap DEL" cni_run "$REF_DIR" portmap DEL "$cid" "$pod" eth0 "$(with_prev "$pconf" "$tr")"
	assert_ok "bridge DEL" cni_run "$PDIR" "$BRIDGE" DEL "$cid" "$pod" eth0 "$(with_prev "$bconf" "$tr")"
	assert_eq "no DNAT rule for 18080 left" 0 \
		"$(ip netns exec "$NODE" iptables-save -t nat | grep -c 'dport 18080' || true)"
	assert_eq "reservation released" absent "$([[ -e $d/k8ctest/10.92.0.2 ]] && echo present || echo absent)"
	assert_eq "pod has only lo" "lo " "$(links "$pod")"
	for x in "$pod" "$out" "$NODE"; do netns_del "$x"; done
}

run_chain ref
need_ours "$OURS_DIR"
run_chain ours
assert_json_eq "portmap output: ours vs reference" "${PM_OUT[ref]}" "${PM_OUT[ours]}"
assert_json_eq "tuning output: ours vs reference" "${TU_OUT[ref]}" "${TU_OUT[ours]}"

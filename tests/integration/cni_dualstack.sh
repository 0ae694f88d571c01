#!/bin/bash
# Dual stack: one IPv4 and one IPv6 range set, default routes for both families, isGateway and
# ipMasq. The reference at cniVersion 1.0.0, ours at 1.1.0; the same assertions for both: both
# families in the result and on the pods, both gateway addresses on the bridge, ping and ping -6
# pod -> pod and pod -> gateway, masquerade of pod -> outside in both families, CHECK, and DEL
# leaving nothing (no masquerade element or rule for either family).
#
#   ┌──────────────────┐  ┌──────────────────┐
#   │ $p1              │  │ $p2              │
#   │ eth0 10.82.0.2   │  │ eth0 10.82.0.3   │
#   │      fd00:82::2  │  │      fd00:82::3  │
#   └────────┬─────────┘  └────────┬─────────┘      ┌──────────────────────┐
#   ┌────────┴─────────────────────┴───────────┐   │ $out                 │
#   │ $node  bridge $br 10.82.0.1/24           │   │ 192.168.82.2/24      │
#   │                   fd00:82::1/64          │   │ fd01:82::2/64        │
#   │        masquerade, forwarding (4 and 6)  ├───┤ (no route to pods)   │
#   │        veth 192.168.82.1/24 fd01:82::1/64│   └──────────────────────┘
#   └──────────────────────────────────────────┘
#
# pod -> $out succeeds only through masquerade: $out must see the node's address as the source.
# Usage: cni_dualstack.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip jq nft ping iptables-save ip6tables-save "$PY"
[[ -x $REF_DIR/bridge && -x $REF_DIR/host-local ]] || skip "reference plugins not in $REF_DIR"

declare -A RESULT
n=0

ds_conf() {
	jq -n -c --arg ver "$VER" --arg type "$BRIDGE" --arg ipam "$IPAM" --arg br "$1" --arg dir "$2" '{
	    cniVersion: $ver, name: "k8ctest", type: $type, bridge: $br,
	    isGateway: true, ipMasq: true,
	    ipam: { type: $ipam, dataDir: $dir,
	            ranges: [ [ { subnet: "10.82.0.0/24" } ], [ { subnet: "fd00:82::/64" } ] ],
	            routes: [ { dst: "0.0.0.0/0" }, { dst: "::/0" } ] } }'
}

run_case() {
	impl_set "$1" "$2"
	n=$((n + 1))
	log "dual stack: $IMPL cniVersion $VER"
	local node=k8cn$n-$TAG p1=k8cp1-$n-$TAG p2=k8cp2-$n-$TAG out=k8co$n-$TAG br=k8cbr$TAG
	local up=k8cup$TAG c1=c1-$n-$TAG c2=c2-$n-$TAG d conf r1 r2 x
	NODE=$node
	d=$(tmpdir_new)
	for x in "$node" "$p1" "$p2" "$out"; do netns_new "$x"; done
	outside_host "$node" "$out" 192.168.82.1/24 192.168.82.2/24 fd01:82::1/64 fd01:82::2/64

	conf=$(ds_conf "$br" "$d")
	r1=$(cni_ok "$PDIR" "$BRIDGE" ADD "$c1" "$p1" eth0 "$conf")
	r2=$(cni_ok "$PDIR" "$BRIDGE" ADD "$c2" "$p2" eth0 "$conf")
	RESULT[$IMPL]=$(comparable "$r1")
	jq -c . <<<"$r1" >&2

	# The result: one address per family, both routes.
	assert_eq "result cniVersion" "$VER" "$(jget "$r1" .cniVersion)"
	assert_eq "ips: one IPv4 and one IPv6" "10.82.0.2/24 gw 10.82.0.1 if 2,fd00:82::2/64 gw fd00:82::1 if 2" \
		"$(jget "$r1" '[.ips[] | "\(.address) gw \(.gateway) if \(.interface)"] | join(",")')"
	assert_eq "second pod's addresses" "10.82.0.3/24 fd00:82::3/64" "$(jget "$r2" '[.ips[].address] | join(" ")')"
	assert_json_eq "routes" '[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]' "$(jget "$r1" .routes)"

	# The kernel state.
	assert_match "pod IPv4 address" "inet 10\.82\.0\.2/24" "$(ip -n "$p1" -o -4 addr show dev eth0)"
	assert_match "pod IPv6 address" "inet6 fd00:82::2/64" "$(ip -n "$p1" -o -6 addr show dev eth0 scope global)"
	assert_match "pod IPv4 default route" "^default via 10\.82\.0\.1 dev eth0" "$(ip -n "$p1" -4 route show default)"
	assert_match "pod IPv6 default route" "^default via fd00:82::1 dev eth0" "$(ip -n "$p1" -6 route show default)"
	assert_match "bridge IPv4 gateway" "inet 10\.82\.0\.1/24" "$(ip -n "$node" -o -4 addr show dev "$br")"
	assert_match "bridge IPv6 gateway" "inet6 fd00:82::1/64" "$(ip -n "$node" -o -6 addr show dev "$br" scope global)"
	assert_eq "node IPv4 forwarding" 1 "$(ip netns exec "$node" sysctl -n net.ipv4.ip_forward)"
	assert_eq "node IPv6 forwarding" 1 "$(ip netns exec "$node" sysctl -n net.ipv6.conf.all.forwarding)"
	if [[ $IMPL == ours ]]; then
		local t
		t=$(ip netns exec "$node" nft list table inet k8c_cni 2>&1)
		assert_match "nft masq4 element for pod 1" "10\.82\.0\.2 comment \"k8ctest/$c1/eth0\"" "$t"
		assert_match "nft masq6 element for pod 1" "fd00:82::2 comment \"k8ctest/$c1/eth0\"" "$t"
	fi

	# Traffic. Duplicate address detection (on the bridge's gateway address, for example) must
	# end first; it is the kernel's, not asserted for the pods' addresses.
	assert_ok "IPv6 DAD done on the bridge" wait_no_tentative "$node" "$br"
	assert_ok "IPv6 DAD done in pod 1" wait_no_tentative "$p1" eth0
	assert_ok "IPv6 DAD done in pod 2" wait_no_tentative "$p2" eth0
	assert_ok "ping pod1 -> gateway" ping1 "$p1" 10.82.0.1
	assert_ok "ping pod1 -> pod2" ping1 "$p1" 10.82.0.3
	assert_ok "ping -6 pod1 -> gateway" ping1 "$p1" fd00:82::1
	assert_ok "ping -6 pod1 -> pod2" ping1 "$p1" fd00:82::3
	assert_ok "ping -6 pod2 -> pod1" ping1 "$p2" fd00:82::2
	tcp_listen6 "$out" 8086 "$d/peer6"
	assert_eq "pod1 -> outside over IPv6, through masquerade" hello "$(tcp_get "$p1" fd01:82::2 8086)"
	wait_file "$d/peer6" || true
	assert_eq "outside sees the node's IPv6 address" fd01:82::1 "$(cat "$d/peer6" 2>&1)"
	tcp_listen "$out" 8084 "$d/peer4"
	assert_eq "pod2 -> outside over IPv4, through masquerade" hello "$(tcp_get "$p2" 192.168.82.2 8084)"
	wait_file "$d/peer4" || true
	assert_eq "outside sees the node's IPv4 address" 192.168.82.1 "$(cat "$d/peer4" 2>&1)"

	# CHECK, then DEL of both pods.
	assert_ok "CHECK pod 1" cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$(with_prev "$conf" "$r1")"
	assert_ok "CHECK pod 2" cni_run "$PDIR" "$BRIDGE" CHECK "$c2" "$p2" eth0 "$(with_prev "$conf" "$r2")"
	assert_ok "DEL pod 1" cni_run "$PDIR" "$BRIDGE" DEL "$c1" "$p1" eth0 "$(with_prev "$conf" "$r1")"
	assert_ok "DEL pod 2" cni_run "$PDIR" "$BRIDGE" DEL "$c2" "$p2" eth0 "$(with_prev "$conf" "$r2")"
	assert_eq "node links after DEL" "$br $up lo " "$(links "$node")"
	assert_eq "pod 1 has only lo" "lo " "$(links "$p1")"
	assert_eq "pod 2 has only lo" "lo " "$(links "$p2")"
	assert_eq "no reservation left" "" \
		"$(find "$d" -mindepth 2 -maxdepth 2 -type f ! -name lock ! -name 'last_reserved_ip*' -printf '%f ')"
	if [[ $IMPL == ours ]]; then
		local s
		for s in masq4 nomasq4 masq6 nomasq6; do
			assert_eq "no $s element left" 0 \
				"$(ip netns exec "$node" nft -j list set inet k8c_cni $s | jq '[.nftables[] | .set? // empty | .elem // [] | .[]] | length')"
		done
	fi
	assert_eq "no IPv4 masquerade rule left" "" "$(ip netns exec "$node" iptables-save -t nat | grep -E -- "$c1|$c2" || true)"
	assert_eq "no IPv6 masquerade rule left" "" "$(ip netns exec "$node" ip6tables-save -t nat | grep -E -- "$c1|$c2" || true)"

	for x in "$p1" "$p2" "$out" "$node"; do netns_del "$x"; done
}

run_case ref 1.0.0
need_ours "$OURS_DIR"
run_case ours 1.1.0

log "ours (1.1.0) vs reference (1.0.0): same result for the same input"
assert_json_eq "ADD result" "$(jq -c '.cniVersion = "1.1.0"' <<<"${RESULT[ref]}")" \
	"$(jq -c 'del(.interfaces[]?.mtu)' <<<"${RESULT[ours]}")"

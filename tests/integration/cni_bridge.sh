#!/bin/bash
# k8c-bridge + k8c-host-local against the reference bridge + host-local: ADD, traffic, masquerade,
# CHECK (and its tamper detection), DEL (idempotent, and without a netns).
#
# Each case (implementation x cniVersion) gets its own node namespace:
#
#   ┌──────────────┐   ┌──────────────┐
#   │ $p1          │   │ $p2          │
#   │ eth0 .2/24   │   │ eth0 .3/24   │           ┌──────────────────────┐
#   └──────┬───────┘   └──────┬───────┘           │ $out                 │
#          │ veth             │ veth              │ veth 192.168.99.2/24 │
#   ┌──────┴──────────────────┴───────────────┐   │ (no route to pods)   │
#   │ $node   bridge $br 10.99.0.1/24         │   └──────────┬───────────┘
#   │         masquerade, ip_forward          ├──────────────┘
#   │         veth 192.168.99.1/24            │
#   └─────────────────────────────────────────┘
#
# pod -> $out succeeds only through masquerade: $out must see 192.168.99.1 as the source.
# Usage: cni_bridge.sh <build>/bin   (runs the reference half, then exits 77 if ours is not built)
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip jq nft ping "$PY"
[[ -x $REF_DIR/bridge && -x $REF_DIR/host-local ]] || skip "reference plugins not in $REF_DIR"

SUBNET=10.99.0.0/24
declare -A RESULT

n=0
run_case() {
	impl_set "$1" "$2"
	n=$((n + 1))
	log "case $IMPL cniVersion $VER"
	node=k8cn$n-$TAG p1=k8cp1-$n-$TAG p2=k8cp2-$n-$TAG out=k8co$n-$TAG
	br=k8cbr$TAG
	NODE=$node
	local d c1=c1-$n-$TAG c2=c2-$n-$TAG
	d=$(tmpdir_new)
	netns_new "$node"
	netns_new "$p1"
	netns_new "$p2"
	netns_new "$out"
	outside_host "$node" "$out" 192.168.99.1/24 192.168.99.2/24

	local conf r1 r2
	conf=$(bridge_conf "$br" "$SUBNET" "$d" '{"ipMasq": true}')
	r1=$(cni_ok "$PDIR" "$BRIDGE" ADD "$c1" "$p1" eth0 "$conf")
	r2=$(cni_ok "$PDIR" "$BRIDGE" ADD "$c2" "$p2" eth0 "$conf")
	RESULT[$IMPL-$VER]=$(comparable "$r1")
	echo "$r1" | jq -c . >&2

	# Result content.
	assert_eq "result cniVersion" "$VER" "$(jget "$r1" .cniVersion)"
	assert_eq "interfaces count" 3 "$(jget "$r1" '.interfaces | length')"
	assert_eq "interfaces[0] is the bridge" "$br" "$(jget "$r1" '.interfaces[0].name')"
	local hveth
	hveth=$(jget "$r1" '.interfaces[1].name')
	assert_eq "interfaces[1] host veth has no sandbox" null "$(jget "$r1" '.interfaces[1].sandbox')"
	assert_match "host veth enslaved to $br" "master $br" "$(ip -n "$node" -o link show "$hveth" 2>&1)"
	assert_eq "interfaces[2] is eth0" eth0 "$(jget "$r1" '.interfaces[2].name')"
	assert_eq "interfaces[2].sandbox" "/var/run/netns/$p1" "$(jget "$r1" '.interfaces[2].sandbox')"
	assert_eq "container MAC matches result" "$(jget "$r1" '.interfaces[2].mac')" \
		"$(ip -n "$p1" -j link show eth0 | jq -r '.[0].address')"
	assert_eq "bridge MAC matches result" "$(jget "$r1" '.interfaces[0].mac')" \
		"$(ip -n "$node" -j link show "$br" | jq -r '.[0].address')"
	assert_eq "ips[0].address" 10.99.0.2/24 "$(jget "$r1" '.ips[0].address')"
	assert_eq "ips[0].gateway" 10.99.0.1 "$(jget "$r1" '.ips[0].gateway')"
	assert_eq "second pod address" 10.99.0.3/24 "$(jget "$r2" '.ips[0].address')"
	if [[ $VER == 0.3.* || $VER == 0.4.0 ]]; then
		assert_eq "ips[0].version (<1.0)" 4 "$(jget "$r1" '.ips[0].version')"
	else
		assert_eq "no ips[0].version (>=1.0)" null "$(jget "$r1" '.ips[0].version')"
	fi
	assert_eq "ips[0].interface" 2 "$(jget "$r1" '.ips[0].interface')"
	assert_json_eq "routes" '[{"dst":"0.0.0.0/0"}]' "$(jget "$r1" '.routes')"

	# State in the namespaces and the data dir.
	assert_match "pod address on eth0" "inet 10.99.0.2/24" "$(ip -n "$p1" -o addr show eth0)"
	assert_match "pod default route via gateway" "default via 10.99.0.1 dev eth0" "$(ip -n "$p1" route show)"
	assert_match "gateway address on bridge" "inet 10.99.0.1/24" "$(ip -n "$node" -o addr show "$br")"
	assert_eq "reservation file" "$c1" "$(head -n1 "$d/k8ctest/10.99.0.2" 2>&1 | tr -d '\r')"
	if [[ $IMPL == ours ]]; then
		assert_match "nft masquerade element for pod" "10\.99\.0\.2([^0-9]|$)" \
			"$(ip netns exec "$node" nft list table inet k8c_cni 2>&1)"
	fi

	# Traffic.
	assert_ok "pod1 -> gateway" ping1 "$p1" 10.99.0.1
	assert_ok "pod1 -> pod2 over the bridge" ping1 "$p1" 10.99.0.3
	tcp_listen "$out" 8080 "$d/peer"
	assert_eq "pod1 -> outside host through masquerade" hello "$(tcp_get "$p1" 192.168.99.2 8080)"
	wait_file "$d/peer" || true
	assert_eq "outside host sees the node address" 192.168.99.1 "$(cat "$d/peer" 2>&1)"

	# CHECK (spec >= 0.4.0).
	if [[ $VER != 0.3.* ]]; then
		local cconf rc out
		cconf=$(with_prev "$conf" "$r1")
		assert_ok "CHECK after ADD" cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$cconf"
		ip -n "$p1" route del default
		CNI_STDERR=/dev/null assert_fails "CHECK without the default route" \
			cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$cconf"
		ip -n "$p1" route add default via 10.99.0.1 dev eth0
		assert_ok "CHECK after restoring the route" cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$cconf"
		ip -n "$p1" link set eth0 address 02:00:00:00:be:ef
		rc=0
		out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$cconf") || rc=$?
		if ((rc == 0)); then fail "CHECK with a changed MAC: succeeded"; else
			pass "CHECK with a changed MAC fails: $(jq -c . <<<"$out" 2>/dev/null || echo "$out")"
		fi
	fi

	# DEL twice (idempotent), then DEL without a netns.
	local dconf1 dconf2
	dconf1=$(with_prev "$conf" "$r1")
	dconf2=$(with_prev "$conf" "$r2")
	assert_ok "DEL" cni_run "$PDIR" "$BRIDGE" DEL "$c1" "$p1" eth0 "$dconf1"
	assert_ok "DEL again" cni_run "$PDIR" "$BRIDGE" DEL "$c1" "$p1" eth0 "$dconf1"
	assert_eq "reservation released" absent "$([[ -e $d/k8ctest/10.99.0.2 ]] && echo present || echo absent)"
	assert_eq "host veth removed" absent "$(ip -n "$node" link show "$hveth" >/dev/null 2>&1 && echo present || echo absent)"
	assert_eq "no veth pair left being deleted" 0 "$(links "$node" | grep -c k8cdel)"
	assert_eq "container eth0 removed" absent "$(ip -n "$p1" link show eth0 >/dev/null 2>&1 && echo present || echo absent)"
	assert_eq "bridge kept after DEL" present "$(ip -n "$node" link show "$br" >/dev/null 2>&1 && echo present || echo absent)"
	assert_ok "DEL without CNI_NETNS" cni_run "$PDIR" "$BRIDGE" DEL "$c2" "" eth0 "$dconf2"
	assert_eq "reservation released (no netns)" absent "$([[ -e $d/k8ctest/10.99.0.3 ]] && echo present || echo absent)"
	assert_ok "DEL without CNI_NETNS again" cni_run "$PDIR" "$BRIDGE" DEL "$c2" "" eth0 "$dconf2"
	if [[ $IMPL == ours ]]; then
		local t
		t=$(ip netns exec "$node" nft list table inet k8c_cni 2>&1 || true)
		if [[ $t =~ 10\.99\.0\.[23]([^0-9]|$) ]]; then
			fail "masquerade element left after DEL: $t"
		else
			pass "no masquerade element left after DEL (with and without netns)"
		fi
	else
		# The reference leaks its rules when DEL has no netns (containernetworking/plugins#810).
		log "reference iptables nat rules left: $(ip netns exec "$node" iptables-save -t nat | grep -c -- '-A CNI-' || true)"
	fi

	for x in "$p1" "$p2" "$out" "$node"; do netns_del "$x"; done
}

for v in 1.0.0 0.4.0 0.3.1; do run_case ref "$v"; done

# The reference (1.1.1) refuses 1.1.0; ours accepts it (asserted below).
impl_set ref 1.1.0
NODE=k8cn0-$TAG
netns_new "$NODE"
rc=0
out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD x-$TAG "$NODE" eth0 \
	"$(bridge_conf k8cbrx$TAG $SUBNET /nonexistent)") || rc=$?
assert_cni_error "reference rejects cniVersion 1.1.0" "" 1 "$out" "$rc"
netns_del "$NODE"

if [[ ! -x $OURS_DIR/k8c-bridge || ! -x $OURS_DIR/k8c-host-local ]]; then
	skip "reference half passed; $OURS_DIR/k8c-bridge not built"
fi

for v in 1.0.0 1.1.0 0.4.0 0.3.1; do run_case ours "$v"; done

log "ours vs reference: same results for the same input"
for v in 1.0.0 0.4.0 0.3.1; do
	assert_json_eq "ADD result, cniVersion $v" "${RESULT[ref-$v]}" "${RESULT[ours-$v]}"
done
# 1.1.0 is ours only: same content as 1.0.0 (interface "mtu" is a 1.1 field and may be added).
assert_json_eq "ADD result, ours 1.1.0 vs reference 1.0.0" \
	"$(jq -c '.cniVersion = "1.1.0"' <<<"${RESULT[ref-1.0.0]}")" \
	"$(jq -c 'del(.interfaces[]?.mtu)' <<<"${RESULT[ours-1.1.0]}")"

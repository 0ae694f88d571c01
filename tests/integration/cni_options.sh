#!/bin/bash
# Each k8c-bridge option, one scenario per option: ADD, the kernel state it must produce (ip,
# bridge, nft, sysctl) and real traffic where cheap, CHECK, DEL, and that DEL leaves nothing.
# The same scenario runs against the reference bridge where the reference (1.1.1) has the
# option, with the same assertions; vlanTrunk, preserveDefaultVlan, portIsolation,
# disableContainerInterface and GC are ours only.
#
# Every scenario gets a fresh node namespace and two pod namespaces:
#
#   ┌──────────────┐   ┌──────────────┐
#   │ $p1 eth0 .2  │   │ $p2 eth0 .3  │
#   └──────┬───────┘   └──────┬───────┘
#          │ veth             │ veth
#   ┌──────┴──────────────────┴───────────────┐
#   │ $node   bridge $br 10.81.0.1/24         │
#   │         (fd00:81::1/64 for enabledad)   │
#   └─────────────────────────────────────────┘
#
# Options the kernel cannot support here (vlan and vlanTrunk need CONFIG_BRIDGE_VLAN_FILTERING)
# are logged as SKIP lines; nothing is asserted for them except that ours fails cleanly.
# Usage: cni_options.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip bridge jq nft ping "$PY"
[[ -x $REF_DIR/bridge && -x $REF_DIR/host-local ]] || skip "reference plugins not in $REF_DIR"

SUBNET=10.81.0.0/24
GW=10.81.0.1
n=0

# ---- per-scenario setup ----------------------------------------------------------------------

# begin WHAT: fresh $node, $p1, $p2, data dir $d; NODE for cni_run.
begin() {
	n=$((n + 1))
	log "$IMPL: $1"
	node=k8cn$n-$TAG p1=k8cp$n-1-$TAG p2=k8cp$n-2-$TAG br=k8cbr$TAG
	NODE=$node
	d=$(tmpdir_new)
	netns_new "$node"
	netns_new "$p1"
	netns_new "$p2"
}
end() { for x in "$p1" "$p2" "$node"; do netns_del "$x"; done; }

# conf EXTRA_JSON: the bridge config of the current impl on $br, $SUBNET, merged with EXTRA.
conf() {
	local extra=${1:-'{}'}
	bridge_conf "$br" "$SUBNET" "$d" "$extra"
}

# add_error WHAT OUT RC: a failed ADD with the spec's error JSON (code, msg; ours: cniVersion).
add_error() {
	local what=$1 out=$2 rc=$3
	if ((rc == 0)); then
		fail "$what: expected a failure, got exit 0: $out"
	elif ! jq -e 'type == "object" and (.code | type == "number") and (.msg | length > 0)' >/dev/null 2>&1 <<<"$out"; then
		fail "$what: expected error JSON with code and msg, got [$out] (rc $rc)"
	else
		pass "$what: $(jq -c . <<<"$out")"
		[[ $IMPL != ours ]] || assert_eq "$what: cniVersion" "$VER" "$(jq -r .cniVersion <<<"$out")"
	fi
}

# add CID POD CONF: ADD must succeed; sets R (result) and HV (host veth).
add() {
	R=$(cni_ok "$PDIR" "$BRIDGE" ADD "$1" "$2" eth0 "$3")
	HV=$(jget "$R" '.interfaces[] | select(.sandbox == null and .name != "'"$br"'") | .name' | head -n1)
}
check_ok() { assert_ok "$1: CHECK" cni_run "$PDIR" "$BRIDGE" CHECK "$2" "$3" eth0 "$(with_prev "$4" "$5")"; }
del_ok() { assert_ok "$1: DEL" cni_run "$PDIR" "$BRIDGE" DEL "$2" "$3" eth0 "$(with_prev "$4" "$5")"; }

exists() { ip -n "$1" link show "$2" >/dev/null 2>&1 && echo present || echo absent; }
reservations() { find "$d" -mindepth 2 -maxdepth 2 -type f ! -name lock ! -name 'last_reserved_ip*' -printf '%f ' 2>/dev/null; }
# owned CID: lines of the node's nftables ruleset naming the attachment CID (ours tags every
# element with "<network>/<cid>/<ifname>"; the reference's iptables rules carry "id: <cid>").
owned() {
	{
		ip netns exec "$node" nft list ruleset 2>/dev/null
		ip netns exec "$node" iptables-save 2>/dev/null
		ip netns exec "$node" ip6tables-save 2>/dev/null
	} | grep -F -- "$1" || true
}

# clean WHAT NODE_LINKS CID...: after DEL, the node has only NODE_LINKS, the pods only lo, no
# reservation, no nftables element or rule owned by the attachments.
clean() {
	local what=$1 want=$2 c
	shift 2
	assert_eq "$what: node links after DEL" "$want" "$(links "$node")"
	assert_eq "$what: pod $p1 has only lo" "lo " "$(links "$p1")"
	assert_eq "$what: pod $p2 has only lo" "lo " "$(links "$p2")"
	assert_eq "$what: no reservation left" "" "$(reservations)"
	for c in "$@"; do assert_eq "$what: nothing owned by $c left" "" "$(owned "$c")"; done
}

link_json() { ip -n "$1" -d -j link show "$2" | jq -c '.[0]'; }
addrs4() { ip -n "$node" -4 -j addr show dev "$1" | jq -r '[.[0].addr_info[] | "\(.local)/\(.prefixlen)"] | join(" ")'; }
brport() { bridge -n "$1" -d link show dev "$2" 2>&1 | tr -s ' \n' ' '; }

# ---- scenarios ------------------------------------------------------------------------------

t_mtu() {
	begin "mtu 1400"
	local c=mtu-$TAG cf
	cf=$(conf '{"mtu": 1400}')
	add "$c" "$p1" "$cf"
	assert_eq "mtu: bridge" 1400 "$(link_json "$node" "$br" | jq -r .mtu)"
	assert_eq "mtu: host veth" 1400 "$(link_json "$node" "$HV" | jq -r .mtu)"
	assert_eq "mtu: container eth0" 1400 "$(link_json "$p1" eth0 | jq -r .mtu)"
	assert_ok "mtu: a 1400-byte unfragmented ping to the gateway" \
		ip netns exec "$p1" ping -c 1 -W 2 -q -M "do" -s 1372 $GW
	assert_fails "mtu: a 1401-byte unfragmented ping cannot leave the pod" \
		ip netns exec "$p1" ping -c 1 -W 1 -q -M "do" -s 1373 $GW
	check_ok mtu "$c" "$p1" "$cf" "$R"
	del_ok mtu "$c" "$p1" "$cf" "$R"
	clean mtu "$br lo " "$c"
	end
}

t_hairpin() {
	begin "hairpinMode"
	local c=hp-$TAG cf
	cf=$(conf '{"hairpinMode": true}')
	add "$c" "$p1" "$cf"
	assert_match "hairpinMode: port $HV has hairpin on" "hairpin on" "$(brport "$node" "$HV")"
	assert_ok "hairpinMode: pod -> gateway" ping1 "$p1" $GW
	check_ok hairpinMode "$c" "$p1" "$cf" "$R"
	if [[ $IMPL == ours ]]; then
		# docs/cni.md: CHECK verifies the port's hairpin mode (the reference's CHECK does not).
		bridge -n "$node" link set dev "$HV" hairpin off
		CNI_STDERR=/dev/null assert_fails "hairpinMode: CHECK notices hairpin turned off" \
			cni_run "$PDIR" "$BRIDGE" CHECK "$c" "$p1" eth0 "$(with_prev "$cf" "$R")"
	fi
	del_ok hairpinMode "$c" "$p1" "$cf" "$R"
	clean hairpinMode "$br lo " "$c"
	end
}

t_promisc() {
	begin "promiscMode"
	local c=pm-$TAG cf
	cf=$(conf '{"promiscMode": true}')
	add "$c" "$p1" "$cf"
	assert_match "promiscMode: bridge has PROMISC" "PROMISC" "$(link_json "$node" "$br" | jq -r '.flags | join(",")')"
	assert_eq "promiscMode: bridge promiscuity" 1 "$(link_json "$node" "$br" | jq -r .promiscuity)"
	assert_ok "promiscMode: pod -> gateway" ping1 "$p1" $GW
	check_ok promiscMode "$c" "$p1" "$cf" "$R"
	del_ok promiscMode "$c" "$p1" "$cf" "$R"
	clean promiscMode "$br lo " "$c"
	end
}

# other_address: $br exists with 10.81.9.1/24, an IPv4 address that is not the gateway.
other_address() {
	ip -n "$node" link add "$br" type bridge
	ip -n "$node" addr add 10.81.9.1/24 dev "$br"
	ip -n "$node" link set "$br" up
}

t_force_address() {
	begin "forceAddress"
	local c=fa-$TAG cf out rc=0 mac0 mac1
	other_address
	mac0=$(link_json "$node" "$br" | jq -r .address)
	cf=$(conf)
	out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf") || rc=$?
	add_error "forceAddress false: ADD with another IPv4 address on the bridge" "$out" "$rc"
	assert_match "forceAddress false: message names the bridge or the address" \
		"$br|10\.81\.9\.1|10\.81\.0\.1" "$(jq -r '[.msg, .details] | join(" ")' <<<"$out" 2>/dev/null)"
	assert_eq "forceAddress false: bridge keeps its address" "10.81.9.1/24" "$(addrs4 "$br")"
	mac1=$(link_json "$node" "$br" | jq -r .address)
	if [[ $IMPL == ours ]]; then
		clean "forceAddress false: failed ADD" "$br lo " "$c"
		# A port that joins and leaves a bridge whose MAC the kernel chose (addr_assign_type
		# random) turns the bridge's MAC into 00:00:00:00:00:00 once it has no port.
		assert_eq "forceAddress false: failed ADD leaves the bridge MAC as it was" "$mac0" "$mac1"
	else
		# The reference fails after creating the veth pair and leaves it: logged, not asserted.
		log "reference after the failed ADD: node [$(links "$node")] pod [$(links "$p1")] reservations [$(reservations)] bridge MAC $mac0 -> $mac1"
	fi
	# forceAddress on the same node, after that failed ADD.
	cf=$(conf '{"forceAddress": true}')
	rc=0
	out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf") || rc=$?
	if [[ $IMPL == ours ]]; then
		if ((rc == 0)); then
			pass "forceAddress true after the failed ADD on the same bridge"
			assert_eq "forceAddress true (same node): the gateway replaced the other address" "10.81.0.1/24" "$(addrs4 "$br")"
			del_ok "forceAddress (same node)" "$c" "$p1" "$cf" "$out"
		else
			fail "forceAddress true after the failed ADD on the same bridge (MAC $mac0 -> $mac1): ADD exited $rc: $(jq -c . <<<"$out" 2>/dev/null || echo "$out")"
		fi
	else
		log "reference, forceAddress true after its failed ADD on the same bridge: rc=$rc $(jq -c . <<<"$out" 2>/dev/null || echo "$out")"
	fi
	end

	begin "forceAddress (fresh node)"
	other_address
	add "$c" "$p1" "$cf"
	assert_eq "forceAddress true: the gateway replaced the other address" "10.81.0.1/24" "$(addrs4 "$br")"
	assert_ok "forceAddress true: pod -> gateway" ping1 "$p1" $GW
	check_ok forceAddress "$c" "$p1" "$cf" "$R"
	del_ok forceAddress "$c" "$p1" "$cf" "$R"
	clean forceAddress "$br lo " "$c"
	end
}

t_default_gw() {
	begin "isDefaultGateway"
	local c=dg-$TAG cf
	cf=$(conf '{"isGateway": false, "isDefaultGateway": true, "ipam": {"routes": []}}')
	add "$c" "$p1" "$cf"
	assert_match "isDefaultGateway: default route via the gateway in the pod" \
		"^default via $GW dev eth0" "$(ip -n "$p1" route show default)"
	assert_match "isDefaultGateway: implies the gateway address on the bridge" "inet $GW/24" \
		"$(ip -n "$node" -o -4 addr show dev "$br")"
	assert_eq "isDefaultGateway: the result has the default route" 1 \
		"$(jget "$R" '[.routes[]? | select(.dst == "0.0.0.0/0")] | length')"
	assert_eq "isDefaultGateway: ip_forward on" 1 "$(ip netns exec "$node" sysctl -n net.ipv4.ip_forward)"
	assert_ok "isDefaultGateway: pod -> gateway" ping1 "$p1" $GW
	check_ok isDefaultGateway "$c" "$p1" "$cf" "$R"
	del_ok isDefaultGateway "$c" "$p1" "$cf" "$R"
	clean isDefaultGateway "$br lo " "$c"
	end
}

# The kernel here may lack VLAN filtering on bridges (CONFIG_BRIDGE_VLAN_FILTERING, which needs
# CONFIG_VLAN_8021Q): then vlan and vlanTrunk cannot work for any plugin.
vlan_supported() {
	local ns=k8cvl-$TAG rc=0
	netns_new "$ns"
	ip -n "$ns" link add k8cvlbr type bridge vlan_filtering 1 2>/dev/null || rc=1
	netns_del "$ns"
	return $rc
}

t_vlan() {
	begin "vlan 10"
	local c=vl-$TAG cf out rc=0
	br=k8cv$TAG # "<bridge>.10" must fit in 15 characters
	cf=$(conf '{"vlan": 10}')
	if ! vlan_supported; then
		echo "SKIP: vlan ($IMPL): this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING unset: $(zcat /proc/config.gz 2>/dev/null | grep -m1 'CONFIG_VLAN_8021Q' || echo 'no /proc/config.gz'))" >&2
		if [[ $IMPL == ours ]]; then
			out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf") || rc=$?
			add_error "vlan without kernel support: ADD fails" "$out" "$rc"
			local bl
			bl=$(links "$node")
			[[ $bl == "$br lo " ]] && bl="lo "
			assert_eq "vlan without kernel support: failed ADD leaves no link but (maybe) the bridge" "lo " "$bl"
			assert_eq "vlan without kernel support: pod has only lo" "lo " "$(links "$p1")"
			assert_eq "vlan without kernel support: no reservation" "" "$(reservations)"
		fi
		end
		return 0
	fi
	add "$c" "$p1" "$cf"
	assert_eq "vlan: bridge vlan_filtering 1" 1 "$(link_json "$node" "$br" | jq -r .linkinfo.info_data.vlan_filtering)"
	assert_eq "vlan: port $HV pvid untagged 10" '10 PVID Egress Untagged' \
		"$(bridge -n "$node" -j vlan show dev "$HV" | jq -r '.[0].vlans[] | select(.vlan == 10) | "\(.vlan) \(.flags | join(" "))"')"
	assert_match "vlan: gateway on $br.10" "inet $GW/24" "$(ip -n "$node" -o -4 addr show dev "$br.10" 2>&1)"
	assert_eq "vlan: gateway not on the bridge itself" "" "$(ip -n "$node" -o -4 addr show dev "$br")"
	assert_ok "vlan: pod -> gateway through VLAN 10" ping1 "$p1" $GW
	check_ok vlan "$c" "$p1" "$cf" "$R"
	del_ok vlan "$c" "$p1" "$cf" "$R"
	# The VLAN gateway interface belongs to the bridge, like the bridge it stays.
	assert_eq "vlan: pod has only lo" "lo " "$(links "$p1")"
	assert_eq "vlan: host veth gone" absent "$(exists "$node" "$HV")"
	assert_eq "vlan: no reservation left" "" "$(reservations)"
	end
}

t_vlan_trunk() {
	begin "vlanTrunk (ours)"
	local c=vt-$TAG cf out rc=0
	cf=$(conf '{"isGateway": false, "ipam": {"routes": []}, "preserveDefaultVlan": false,
	            "vlanTrunk": [{"id": 20}, {"minID": 30, "maxID": 32}]}')
	if ! vlan_supported; then
		echo "SKIP: vlanTrunk/preserveDefaultVlan ($IMPL): this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING unset)" >&2
		out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf") || rc=$?
		add_error "vlanTrunk without kernel support: ADD fails" "$out" "$rc"
		local bl
		bl=$(links "$node")
		[[ $bl == "$br lo " ]] && bl="lo "
		assert_eq "vlanTrunk without kernel support: failed ADD leaves no link but (maybe) the bridge" "lo " "$bl"
		assert_eq "vlanTrunk without kernel support: pod has only lo" "lo " "$(links "$p1")"
		assert_eq "vlanTrunk without kernel support: no reservation" "" "$(reservations)"
		end
		return 0
	fi
	add "$c" "$p1" "$cf"
	assert_eq "vlanTrunk: bridge vlan_filtering 1" 1 "$(link_json "$node" "$br" | jq -r .linkinfo.info_data.vlan_filtering)"
	assert_eq "vlanTrunk: tagged VLANs 20 30 31 32 on the port, VLAN 1 removed" "20 30 31 32" \
		"$(bridge -n "$node" -j vlan show dev "$HV" | jq -r '[.[0].vlans[] | if .vlanEnd then range(.vlan; .vlanEnd + 1) else .vlan end] | sort | map(tostring) | join(" ")')"
	assert_eq "vlanTrunk: no VLAN untagged on the port" 0 \
		"$(bridge -n "$node" -j vlan show dev "$HV" | jq '[.[0].vlans[] | select((.flags // []) | index("Egress Untagged"))] | length')"
	check_ok vlanTrunk "$c" "$p1" "$cf" "$R"
	del_ok vlanTrunk "$c" "$p1" "$cf" "$R"
	clean vlanTrunk "$br lo " "$c"
	# preserveDefaultVlan true (the default) keeps VLAN 1 as the port's pvid.
	cf=$(conf '{"isGateway": false, "ipam": {"routes": []}, "vlanTrunk": [{"id": 20}]}')
	add "$c" "$p1" "$cf"
	assert_eq "preserveDefaultVlan: VLAN 1 kept, 20 added" "1 20" \
		"$(bridge -n "$node" -j vlan show dev "$HV" | jq -r '[.[0].vlans[].vlan] | sort | map(tostring) | join(" ")')"
	del_ok preserveDefaultVlan "$c" "$p1" "$cf" "$R"
	clean preserveDefaultVlan "$br lo " "$c"
	end
}

t_macspoof() {
	begin "macspoofchk"
	local c=ms-$TAG cf mac t
	cf=$(conf '{"macspoofchk": true}')
	add "$c" "$p1" "$cf"
	mac=$(jget "$R" '.interfaces[] | select(.sandbox != null) | .mac')
	assert_eq "macspoofchk: result MAC is the pod's" "$mac" "$(link_json "$p1" eth0 | jq -r .address)"
	if [[ $IMPL == ours ]]; then
		t=$(ip netns exec "$node" nft list table bridge k8c_cni_macspoof 2>&1)
		assert_match "macspoofchk: ports set has $HV" "\"$HV\"" "$(grep -A3 'set ports' <<<"$t" | tr -s ' \n\t' ' ')"
		assert_match "macspoofchk: allowed set has $HV . $mac" "\"$HV\" \. $mac" "$t"
		assert_match "macspoofchk: elements carry the owner" "k8ctest/$c/eth0" "$t"
	fi
	assert_ok "macspoofchk: pod -> gateway with its own MAC" ping1 "$p1" $GW
	ip -n "$p1" link set eth0 address 02:00:00:81:be:ef
	ip -n "$node" neigh flush dev "$br" 2>/dev/null || true
	assert_fails "macspoofchk: pod -> gateway with a changed MAC is dropped" ping1 "$p1" $GW
	ip -n "$p1" link set eth0 address "$mac"
	assert_ok "macspoofchk: pod -> gateway after restoring the MAC" ping1 "$p1" $GW
	check_ok macspoofchk "$c" "$p1" "$cf" "$R"
	del_ok macspoofchk "$c" "$p1" "$cf" "$R"
	clean macspoofchk "$br lo " "$c"
	if [[ $IMPL == ours ]]; then
		t=$(ip netns exec "$node" nft list table bridge k8c_cni_macspoof 2>&1)
		assert_eq "macspoofchk: no element for $HV after DEL" "" "$(grep -F -- "$HV" <<<"$t" || true)"
	fi
	end
}

t_isolation() {
	begin "portIsolation (ours)"
	local c1=pi1-$TAG c2=pi2-$TAG cf r1 h1 r2
	cf=$(conf '{"portIsolation": true}')
	add "$c1" "$p1" "$cf"
	r1=$R h1=$HV
	add "$c2" "$p2" "$cf"
	r2=$R
	assert_match "portIsolation: port $h1 isolated on" "isolated on" "$(brport "$node" "$h1")"
	assert_match "portIsolation: port $HV isolated on" "isolated on" "$(brport "$node" "$HV")"
	assert_ok "portIsolation: pod1 -> gateway" ping1 "$p1" $GW
	assert_fails "portIsolation: pod1 -> pod2 blocked" ping1 "$p1" 10.81.0.3
	check_ok portIsolation "$c1" "$p1" "$cf" "$r1"
	# docs/cni.md: CHECK verifies the port's isolation.
	bridge -n "$node" link set dev "$h1" isolated off
	CNI_STDERR=/dev/null assert_fails "portIsolation: CHECK notices isolation turned off" \
		cni_run "$PDIR" "$BRIDGE" CHECK "$c1" "$p1" eth0 "$(with_prev "$cf" "$r1")"
	bridge -n "$node" link set dev "$h1" isolated on
	check_ok portIsolation "$c1" "$p1" "$cf" "$r1"
	del_ok portIsolation "$c1" "$p1" "$cf" "$r1"
	del_ok portIsolation "$c2" "$p2" "$cf" "$r2"
	clean portIsolation "$br lo " "$c1" "$c2"
	end
}

t_no_container_if() {
	begin "disableContainerInterface (ours)"
	local c=dc-$TAG cf out rc=0
	cf=$(conf '{"isGateway": false, "disableContainerInterface": true}' | jq -c '.ipam = {}')
	add "$c" "$p1" "$cf"
	assert_eq "disableContainerInterface: eth0 exists" present "$(exists "$p1" eth0)"
	assert_eq "disableContainerInterface: eth0 is down" "no" \
		"$(link_json "$p1" eth0 | jq -r 'if (.flags | index("UP")) then "yes" else "no" end')"
	assert_eq "disableContainerInterface: host veth is a port of $br" "$br" "$(link_json "$node" "$HV" | jq -r .master)"
	check_ok disableContainerInterface "$c" "$p1" "$cf" "$R"
	del_ok disableContainerInterface "$c" "$p1" "$cf" "$R"
	clean disableContainerInterface "$br lo " "$c"
	cf=$(conf '{"isGateway": false, "disableContainerInterface": true}')
	out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf") || rc=$?
	assert_cni_error "disableContainerInterface with an IPAM type" "$VER" 7 "$out" "$rc"
	assert_eq "disableContainerInterface with IPAM: node untouched" "$br lo " "$(links "$node")"
	assert_eq "disableContainerInterface with IPAM: pod untouched" "lo " "$(links "$p1")"
	end
}

t_dad() {
	begin "enabledad (IPv6)"
	local c=dad-$TAG cf a
	cf=$(bridge_conf "$br" fd00:81::/64 "$d" '{"enabledad": true, "ipam": {"routes": [{"dst": "::/0"}]}}')
	add "$c" "$p1" "$cf"
	a=$(ip -n "$p1" -6 addr show dev eth0 scope global)
	assert_match "enabledad: pod has fd00:81::2" "inet6 fd00:81::2/64" "$a"
	assert_eq "enabledad: no tentative address right after ADD" "" "$(grep -E 'tentative|dadfailed' <<<"$a" || true)"
	assert_eq "enabledad: accept_dad on in the pod" 1 "$(ip netns exec "$p1" sysctl -n net.ipv6.conf.eth0.accept_dad)"
	assert_match "enabledad: default route via fd00:81::1" "^default via fd00:81::1 dev eth0" "$(ip -n "$p1" -6 route show default)"
	check_ok enabledad "$c" "$p1" "$cf" "$R"
	del_ok enabledad "$c" "$p1" "$cf" "$R"
	clean enabledad "$br lo " "$c"
	end
}

# mac CASE WANT RUNTIME ARGS ENVMAC: the pod's MAC from runtimeConfig.mac / args.cni.mac /
# CNI_ARGS MAC= ("" = not given). CNI_ARGS carries IgnoreUnknown=1, as runtimes send it: the
# IPAM plugin gets the same CNI_ARGS and host-local (ours and the reference) rejects MAC.
mac_case() {
	local what=$1 want=$2 rt=$3 ar=$4 cargs=${5:+IgnoreUnknown=1;MAC=$5} c=mac-$n-$TAG cf extra='{}'
	[[ -n $rt ]] && extra=$(jq -c --arg m "$rt" '. + {runtimeConfig: {mac: $m}, capabilities: {mac: true}}' <<<"$extra")
	[[ -n $ar ]] && extra=$(jq -c --arg m "$ar" '. + {args: {cni: {mac: $m}}}' <<<"$extra")
	cf=$(conf "$extra")
	R=$(CNI_ARGS_OPT=$cargs cni_ok "$PDIR" "$BRIDGE" ADD "$c" "$p1" eth0 "$cf")
	assert_eq "MAC $what: pod eth0" "$want" "$(link_json "$p1" eth0 | jq -r .address)"
	assert_eq "MAC $what: result" "$want" "$(jget "$R" '.interfaces[] | select(.sandbox != null) | .mac')"
	CNI_ARGS_OPT=$cargs check_ok "MAC $what" "$c" "$p1" "$cf" "$R"
	CNI_ARGS_OPT=$cargs del_ok "MAC $what" "$c" "$p1" "$cf" "$R"
	clean "MAC $what" "$br lo " "$c"
}

t_mac() {
	begin "MAC from runtimeConfig / args / CNI_ARGS"
	local m1=02:81:00:00:00:01 m2=02:81:00:00:00:02 m3=02:81:00:00:00:03
	mac_case "runtimeConfig.mac" $m1 $m1 "" ""
	mac_case "args.cni.mac" $m2 "" $m2 ""
	mac_case "runtimeConfig > args" $m1 $m1 $m2 ""
	if [[ $IMPL == ref ]]; then
		echo "SKIP: MAC from CNI_ARGS (ref): the reference 1.1.1 has no MAC= key (without IgnoreUnknown its ADD fails: unknown args; with it the MAC is ignored)" >&2
	else
		mac_case "CNI_ARGS MAC=" $m3 "" "" $m3
		mac_case "runtimeConfig > args > CNI_ARGS" $m1 $m1 $m2 $m3
		mac_case "args > CNI_ARGS" $m2 "" $m2 $m3
	fi
	end
}

t_l2() {
	begin "ipam {} (layer 2 only)"
	local c=l2-$TAG cf
	cf=$(conf '{"isGateway": false}' | jq -c '.ipam = {}')
	add "$c" "$p1" "$cf"
	assert_eq "ipam {}: no ips in the result" 0 "$(jget "$R" '.ips // [] | length')"
	assert_eq "ipam {}: container eth0 up" yes \
		"$(link_json "$p1" eth0 | jq -r 'if (.flags | index("UP")) then "yes" else "no" end')"
	assert_eq "ipam {}: no IPv4 address in the pod" "" "$(ip -n "$p1" -o -4 addr show dev eth0)"
	assert_eq "ipam {}: host veth is a port of $br" "$br" "$(link_json "$node" "$HV" | jq -r .master)"
	if [[ $IMPL == ours ]]; then
		check_ok "ipam {}" "$c" "$p1" "$cf" "$R"
	else
		# The reference 1.1.1 runs IPAM CHECK with an empty type: "no plugin name provided".
		log "reference CHECK with ipam {}: $(cni_run "$PDIR" "$BRIDGE" CHECK "$c" "$p1" eth0 "$(with_prev "$cf" "$R")" 2>&1 | jq -c . 2>/dev/null)"
	fi
	del_ok "ipam {}" "$c" "$p1" "$cf" "$R"
	clean "ipam {}" "$br lo " "$c"
	end
}

t_gc() {
	begin "GC at 1.1.0 (ours)"
	local ca=gca-$TAG cb=gcb-$TAG cf ha rb hb gconf
	cf=$(conf '{"ipMasq": true, "macspoofchk": true}')
	add "$ca" "$p1" "$cf"
	ha=$HV
	add "$cb" "$p2" "$cf"
	rb=$R hb=$HV
	assert_match "GC: pod A has nftables elements before GC" . "$(owned "$ca")"
	assert_eq "GC: pod A reservation before GC" "$ca" "$(head -n1 "$d/k8ctest/10.81.0.2" 2>&1 | tr -d '\r')"
	# The runtime lost pod A (a leak): GC with only pod B valid.
	gconf=$(jq -c --arg b "$cb" '. + {"cni.dev/valid-attachments": [{containerID: $b, ifname: "eth0"}]}' <<<"$cf")
	assert_ok "GC" cni_run "$PDIR" "$BRIDGE" GC "" "" "" "$gconf"
	assert_eq "GC: pod A host veth $ha gone" absent "$(exists "$node" "$ha")"
	assert_eq "GC: pod A container eth0 gone with the pair" "lo " "$(links "$p1")"
	assert_eq "GC: pod A nftables elements gone" "" "$(owned "$ca")"
	assert_eq "GC: pod A reservation gone" absent "$([[ -e $d/k8ctest/10.81.0.2 ]] && echo present || echo absent)"
	assert_eq "GC: pod B host veth $hb kept" present "$(exists "$node" "$hb")"
	assert_eq "GC: pod B eth0 kept" present "$(exists "$p2" eth0)"
	assert_match "GC: pod B masquerade element kept" "10\.81\.0\.3 .*$cb" "$(owned "$cb")"
	assert_eq "GC: pod B reservation kept" "$cb" "$(head -n1 "$d/k8ctest/10.81.0.3" 2>&1 | tr -d '\r')"
	assert_ok "GC: pod B -> gateway" ping1 "$p2" $GW
	check_ok "GC: pod B" "$cb" "$p2" "$cf" "$rb"
	del_ok "GC: pod B" "$cb" "$p2" "$cf" "$rb"
	clean GC "$br lo " "$ca" "$cb"
	end
}

run_all() {
	t_mtu
	t_hairpin
	t_promisc
	t_force_address
	t_default_gw
	t_vlan
	t_macspoof
	t_dad
	t_mac
	t_l2
}

impl_set ref 1.0.0
run_all

need_ours "$OURS_DIR"
impl_set ours 1.0.0
run_all
t_vlan_trunk
t_isolation
t_no_container_if
impl_set ours 1.1.0
t_gc

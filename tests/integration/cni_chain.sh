#!/bin/bash
# Chaining, as libcni runs a conflist: bridge first (no prevResult), then the reference portmap,
# tuning, bandwidth and firewall plugins with prevResult = the previous result; DEL in reverse
# order. Run with the reference bridge and with k8c-bridge, cniVersion 1.0.0 (the highest the
# reference plugins support). bandwidth needs ifb devices (it is skipped, with a SKIP line, when
# the kernel cannot create one); firewall uses its iptables backend. For firewall the node's
# FORWARD policy is DROP: pod -> outside works only through the firewall's accept rules.
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
. "$(dirname "$0")/lib.sh"
need_tools ip jq iptables iptables-save tc "$PY"
for p in bridge host-local portmap tuning; do
	[[ -x $REF_DIR/$p ]] || skip "reference plugin $REF_DIR/$p missing"
done

# The kernel must create ifb devices for bandwidth's egress shaping (CONFIG_IFB).
BW_SKIP=""
if [[ ! -x $REF_DIR/bandwidth ]]; then
	BW_SKIP="reference plugin $REF_DIR/bandwidth missing"
else
	probe=k8cifb-$TAG
	netns_new "$probe"
	if ! err=$(ip -n "$probe" link add k8cifb type ifb 2>&1); then BW_SKIP="the kernel cannot create an ifb device ($err)"; fi
	netns_del "$probe"
fi
FW_SKIP=""
[[ -x $REF_DIR/firewall ]] || FW_SKIP="reference plugin $REF_DIR/firewall missing"

declare -A PM_OUT TU_OUT BW_OUT FW_OUT
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
	outside_host "$NODE" "$out" 192.168.92.1/24 192.168.92.2/24

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

	# bandwidth: ingress (to the pod) shaped by a tbf on the host veth, egress (from the pod) by
	# a tbf on an ifb device that the host veth's ingress redirects to. It finds the host veth
	# in the interfaces of the result.
	local hv bwconf bwr=$tr fwconf fwr
	hv=$(jget "$tr" '.interfaces[] | select(.sandbox == null and (.name | startswith("veth"))) | .name')
	if [[ -n $BW_SKIP ]]; then
		echo "SKIP: bandwidth after $BRIDGE: $BW_SKIP" >&2
	else
		bwconf=$(jq -n -c --argjson prev "$tr" '{cniVersion: "1.0.0", name: "k8ctest", type: "bandwidth",
		    ingressRate: 8000000, ingressBurst: 800000, egressRate: 4000000, egressBurst: 400000,
		    prevResult: $prev}')
		bwr=$(cni_ok "$REF_DIR" bandwidth ADD "$cid" "$pod" eth0 "$bwconf")
		# The ifb's name comes from the container ID, which differs between the two runs.
		BW_OUT[$IMPL]=$(comparable "$(jq -c '(.interfaces[] | select(.name | startswith("bwp")) | .name) = "bwp*"' <<<"$bwr")")
		assert_json_eq "bandwidth passes the result on, plus its ifb" "$tr" "$(jq -c '.interfaces |= .[:-1]' <<<"$bwr")"
		assert_match "bandwidth: tbf 8Mbit on host veth $hv (to the pod)" "tbf .*rate 8Mbit" \
			"$(ip netns exec "$NODE" tc qdisc show dev "$hv")"
		assert_match "bandwidth: ingress qdisc on $hv" "qdisc ingress" "$(ip netns exec "$NODE" tc qdisc show dev "$hv")"
		local ifb
		ifb=$(ip -n "$NODE" -j link show type ifb | jq -r '.[0].ifname // empty')
		assert_match "bandwidth: an ifb device in the node" . "$ifb"
		assert_eq "bandwidth: the ifb is the result's last interface" "$ifb" "$(jget "$bwr" '.interfaces[-1].name')"
		if [[ -n $ifb ]]; then
			assert_match "bandwidth: tbf 4Mbit on $ifb (from the pod)" "tbf .*rate 4Mbit" \
				"$(ip netns exec "$NODE" tc qdisc show dev "$ifb")"
			assert_match "bandwidth: $hv ingress redirected to $ifb" "mirred.*Redirect to device $ifb" \
				"$(ip netns exec "$NODE" tc filter show dev "$hv" parent ffff: | tr -s '\n' ' ')"
		fi
		assert_ok "bandwidth: pod still reaches the gateway" ping1 "$pod" 10.92.0.1
		assert_ok "bandwidth CHECK" cni_run "$REF_DIR" bandwidth CHECK "$cid" "$pod" eth0 "$(with_prev "$bwconf" "$bwr")"
	fi

	# firewall (iptables backend), with FORWARD dropping everything else.
	fwr=$bwr
	if [[ -n $FW_SKIP ]]; then
		echo "SKIP: firewall after $BRIDGE: $FW_SKIP" >&2
	else
		ip netns exec "$NODE" iptables -P FORWARD DROP
		tcp_listen "$out" 8090 "$d/fwpeer"
		assert_eq "FORWARD DROP, no firewall: pod -> outside blocked" "" \
			"$(tcp_get "$pod" 192.168.92.2 8090 | grep -x hello || true)"
		fwconf=$(jq -n -c --argjson prev "$bwr" '{cniVersion: "1.0.0", name: "k8ctest", type: "firewall",
		    backend: "iptables", prevResult: $prev}')
		fwr=$(cni_ok "$REF_DIR" firewall ADD "$cid" "$pod" eth0 "$fwconf")
		FW_OUT[$IMPL]=$(comparable "$(jq -c '(.interfaces[] | select(.name | startswith("bwp")) | .name) = "bwp*"' <<<"$fwr")")
		assert_json_eq "firewall passes the result on" "$bwr" "$fwr"
		local rules
		rules=$(ip netns exec "$NODE" iptables-save -t filter)
		assert_match "firewall: FORWARD jumps to CNI-FORWARD" "-A FORWARD .*-j CNI-FORWARD" "$rules"
		assert_match "firewall: accepts from the pod" "-A CNI-FORWARD -s 10\.92\.0\.2/32 .*-j ACCEPT" "$rules"
		assert_match "firewall: accepts established traffic to the pod" \
			"-A CNI-FORWARD -d 10\.92\.0\.2/32 .*RELATED,ESTABLISHED -j ACCEPT" "$rules"
		assert_eq "firewall: pod -> outside through the firewall" hello "$(tcp_get "$pod" 192.168.92.2 8090)"
		wait_file "$d/fwpeer" || true
		assert_eq "firewall: outside sees the node address" 192.168.92.1 "$(cat "$d/fwpeer" 2>&1)"
		assert_ok "firewall CHECK" cni_run "$REF_DIR" firewall CHECK "$cid" "$pod" eth0 "$(with_prev "$fwconf" "$fwr")"
	fi
	tr=$fwr

	# CHECK through the chain, with the final result as prevResult.
	assert_ok "bridge CHECK with the chain's final result" \
		cni_run "$PDIR" "$BRIDGE" CHECK "$cid" "$pod" eth0 "$(with_prev "$bconf" "$tr")"
	# No portmap CHECK: portmap 1.1.1 fails it on IPv4-only results ("could not check ipv6 dnat:
	# chain CNI-DN-... not found"), whatever the bridge.

	# DEL in reverse order, each with the final result.
	if [[ -z $FW_SKIP ]]; then
		assert_ok "firewall DEL" cni_run "$REF_DIR" firewall DEL "$cid" "$pod" eth0 "$(with_prev "$fwconf" "$tr")"
		assert_eq "firewall: no rule for the pod left" "" \
			"$(ip netns exec "$NODE" iptables-save -t filter | grep -F 10.92.0.2 || true)"
	fi
	if [[ -z $BW_SKIP ]]; then
		assert_ok "bandwidth DEL" cni_run "$REF_DIR" bandwidth DEL "$cid" "$pod" eth0 "$(with_prev "$bwconf" "$tr")"
		assert_eq "bandwidth: ifb device removed" "" "$(ip -n "$NODE" -j link show type ifb | jq -r '.[].ifname')"
	fi
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
[[ -n $BW_SKIP ]] || assert_json_eq "bandwidth output: ours vs reference" "${BW_OUT[ref]}" "${BW_OUT[ours]}"
[[ -n $FW_SKIP ]] || assert_json_eq "firewall output: ours vs reference" "${FW_OUT[ref]}" "${FW_OUT[ours]}"

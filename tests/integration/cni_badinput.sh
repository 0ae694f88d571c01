#!/bin/bash
# Bad input to k8c-bridge: each case must print the spec's error JSON (cniVersion, code, msg) with
# the right code, exit non-zero, and leave nothing behind: no new link in the node namespace or
# the pod, no reservation file, no change to the nftables table. The reference's codes are
# logged for comparison, not asserted (it answers 999 for most of these and omits cniVersion).
#
#   ┌──────────────┐  ┌──────────────┐
#   │ $p0 (valid)  │  │ $p1 (target) │
#   └──────┬───────┘  └──────────────┘
#   ┌──────┴─────────────────────────┐
#   │ $node bridge $br 10.91.0.1/24  │  masquerade on, so a leak would show in nft
#   └────────────────────────────────┘
# Usage: cni_badinput.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip jq nft iptables-save

# state: what must not change when a bad ADD fails.
state() {
	echo "node links: $(links "$NODE")"
	echo "pod links: $(links "$P1")"
	echo "files: $(ls "$D/k8ctest" 2>/dev/null | tr '\n' ' ')"
	echo "nft: $(ip netns exec "$NODE" nft list table inet k8c_cni 2>/dev/null | tr -s ' \n\t' ' ')"
	echo "iptables: $(ip netns exec "$NODE" iptables-save -t nat 2>/dev/null | grep -c -- '^-A' || true)"
}

# bad WHAT CODE CONF [CID IFNAME NETNS]: ADD must fail with CODE (a regex for ours; "" = only log).
bad() {
	local what=$1 code=$2 conf=$3 cid=${4:-bad-$TAG} ifname=${5:-eth0} ns=${6-@pod}
	local before after out rc=0
	# A fresh target pod per case, so one case's leak cannot change the next one's error.
	P1=k8cp1-$IMPL-$((++NCASE))-$TAG
	netns_new "$P1"
	[[ $ns == @pod ]] && ns=$P1
	before=$(state)
	out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD "$cid" "$ns" "$ifname" "$conf") || rc=$?
	after=$(state)
	if [[ $IMPL == ref ]]; then
		log "reference, $what: rc=$rc $(jq -c . <<<"$out" 2>/dev/null || echo "$out")"
		[[ $before == "$after" ]] || log "reference, $what: left behind: $(diff <(echo "$before") <(echo "$after") | grep '^>' | tr '\n' ' ')"
		netns_del "$P1"
		return 0
	fi
	local ver
	ver=$(jq -r '.cniVersion // empty' <<<"$conf" 2>/dev/null || true)
	if ((rc == 0)); then
		fail "$what: expected failure, got exit 0: $out"
	elif ! jq -e 'type == "object"' >/dev/null 2>&1 <<<"$out"; then
		fail "$what: expected error JSON on stdout, got [$out]"
	else
		assert_match "$what: code (got $(jq -c . <<<"$out"))" "^($code)\$" "$(jq -r .code <<<"$out")"
		if [[ -n $ver ]]; then
			assert_eq "$what: cniVersion" "$ver" "$(jq -r .cniVersion <<<"$out")"
		else
			assert_match "$what: cniVersion present" '^[0-9]+\.[0-9]+\.[0-9]+$' "$(jq -r .cniVersion <<<"$out")"
		fi
		assert_match "$what: msg" . "$(jq -r '.msg // empty' <<<"$out")"
	fi
	assert_eq "$what: nothing left behind" "$before" "$after"
	netns_del "$P1"
}
NCASE=0

run_bad() {
	impl_set "$1" "$2"
	log "bad input, $IMPL cniVersion $VER"
	NODE=k8cn-$1-$TAG P0=k8cp0-$1-$TAG P1=k8cp1-$1-$TAG
	D=$(tmpdir_new)
	netns_new "$NODE"
	netns_new "$P0"
	local br=k8cbr$TAG conf
	conf=$(bridge_conf "$br" 10.91.0.0/24 "$D" '{"ipMasq": true}')
	# One valid pod first: the bridge, the table and the data dir exist, so leaks are visible.
	cni_ok "$PDIR" "$BRIDGE" ADD ok-$TAG "$P0" eth0 "$conf" >/dev/null

	bad "malformed JSON" 6 "${conf%?}"
	bad "not an object" 6 '[1,2]'
	bad "wrong-typed key (ipMasq: \"yes\")" '6|7' "$(jq -c '.ipMasq = "yes"' <<<"$conf")"
	bad "wrong-typed key (mtu: \"1500\")" '6|7' "$(jq -c '.mtu = "1500"' <<<"$conf")"
	bad "bad CIDR" 7 "$(jq -c '.ipam.subnet = "10.91.0.0/33"' <<<"$conf")"
	bad "bad CIDR (not an address)" 7 "$(jq -c '.ipam.subnet = "banana"' <<<"$conf")"
	bad "missing name" 7 "$(jq -c 'del(.name)' <<<"$conf")"
	bad "unsupported cniVersion" 1 "$(jq -c '.cniVersion = "9.9.9"' <<<"$conf")"
	bad "bridge name over 15 chars" 7 "$(jq -c '.bridge = "k8cbridgetoolong0"' <<<"$conf")"
	bad "ifname over 15 chars" 4 "$conf" bad-$TAG eth0123456789abc
	bad "ifname with a slash" 4 "$conf" bad-$TAG "e/0"
	bad "container ID with a slash" 4 "$conf" "../x$TAG"
	CNI_ARGS_OPT="K8S_POD_NAME=x" bad "unknown CNI_ARGS without IgnoreUnknown" 4 "$conf"
	CNI_ARGS_OPT="garbage" bad "CNI_ARGS not K=V" 4 "$conf"
	bad "nonexistent netns" 4 "$conf" bad-$TAG eth0 /var/run/netns/nonexistent-$TAG
	bad "netns path is not a netns" 4 "$conf" bad-$TAG eth0 /etc/hostname
	bad "missing netns" 4 "$conf" bad-$TAG eth0 ""
	bad "IPAM plugin not in CNI_PATH" '.+' "$(jq -c '.ipam.type = "nonexistent-ipam"' <<<"$conf")"

	# Known args with IgnoreUnknown=1 must work (libcni sends K8S_POD_* this way).
	P1=k8cp1-$IMPL-ok-$TAG
	netns_new "$P1"
	CNI_ARGS_OPT="IgnoreUnknown=1;K8S_POD_NAME=x;K8S_POD_NAMESPACE=y" \
		assert_ok "$IMPL: unknown CNI_ARGS with IgnoreUnknown=1" \
		cni_run "$PDIR" "$BRIDGE" ADD good-$TAG "$P1" eth0 "$conf"
	for x in "$P0" "$P1" "$NODE"; do netns_del "$x"; done
}

run_bad ref 1.0.0
need_ours "$OURS_DIR"
run_bad ours 1.0.0
run_bad ours 1.1.0

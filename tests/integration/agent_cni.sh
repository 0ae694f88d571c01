#!/bin/bash
# The agent's CNI runtime side (agent/cni_runtime.c) through `k8c-agent cni`, inside a node
# namespace: the default conflist, ADD with the result cached in libcni's format, CHECK, a chain
# with prevResult (k8c-bridge then the reference tuning plugin), DEL in reverse order with the
# cached result, GC of attachments no pod owns, errors from the plugin's JSON, nothing left.
# Usage: agent_cni.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_root
need_tools ip jq
need_ours "$OURS_DIR"
[[ -x $OURS_DIR/k8c-agent ]] || skip "k8c-agent not built"

NODE=k8can-$TAG
P1=k8cap1-$TAG
P2=k8cap2-$TAG
d=$(tmpdir_new)
netns_new "$NODE"
netns_new "$P1"
netns_new "$P2"
agent() { ip netns exec "$NODE" "$OURS_DIR/k8c-agent" --cni-bin-dir "$OURS_DIR:$REF_DIR" \
	--cni-conf-dir "$d/conf" --cni-cache-dir "$d/cache" cni "$@" 2>>"$d/agent.err"; }

log "default conflist"
assert_eq "written when the conf dir is empty" written "$(agent conf 10.78.1.0/24 "$d/ipam")"
assert_eq "kept when one is there" present "$(agent conf 10.78.2.0/24 "$d/ipam")"
assert_eq "subnet of the node" 10.78.1.0/24 "$(jq -r '.plugins[0].ipam.ranges[0][0].subnet' "$d/conf/10-k8c.conflist")"

log "ADD, cache, CHECK"
r1=$(agent add uid-1 /var/run/netns/$P1 default pod-a uid-1)
r2=$(agent add uid-2 /var/run/netns/$P2 default pod-b uid-2)
a1=$(jget "$r1" '.ips[0].address')
a2=$(jget "$r2" '.ips[0].address')
assert_eq "first pod's address" 10.78.1.2/24 "$a1"
assert_eq "pod namespace has it" "${a1}" "$(ip -n "$P1" -j addr show eth0 | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')"
c=$d/cache/results/k8c-uid-1-eth0
assert_eq "cache kind" cniCacheV1 "$(jq -r .kind "$c")"
assert_eq "cache containerId" uid-1 "$(jq -r .containerId "$c")"
assert_eq "cache config is the conflist (base64)" "$(jq -c . "$d/conf/10-k8c.conflist")" "$(jq -r .config "$c" | base64 -d | jq -c .)"
assert_eq "cache result" "$r1" "$(jq -c .result "$c")"
assert_eq "cache cniArgs" pod-a "$(jq -r '.cniArgs[] | select(.[0]=="K8S_POD_NAME") | .[1]' "$c")"
assert_ok "CHECK passes" agent check uid-1 /var/run/netns/$P1
assert_ok "pod to pod" ping1 "$P1" "${a2%/*}"
assert_ok "node to pod" ping1 "$NODE" "${a1%/*}"

log "CHECK fails when the interface is gone"
ip -n "$P2" link set eth0 name eth9
assert_fails "CHECK reports the plugin's error" agent check uid-2 /var/run/netns/$P2
assert_match "error names the plugin" "plugin k8c-bridge CHECK" "$(tail -1 "$d/agent.err")"
ip -n "$P2" link set eth9 name eth0

log "GC: uid-2 is owned by no pod"
assert_eq "one attachment deleted" "deleted 1" "$(agent gc uid-1)"
assert_eq "its cache entry is gone" "k8c-uid-1-eth0" "$(ls "$d/cache/results")"
assert_eq "its reservation is gone" "" "$(ls "$d/ipam/k8c" | grep -x "${a2%/*}" || true)"
assert_eq "its interface is gone" "" "$(ip -n "$P2" -o link show eth0 2>/dev/null || true)"

log "DEL"
assert_ok "DEL" agent del uid-1 /var/run/netns/$P1
assert_ok "DEL again (idempotent)" agent del uid-1 /var/run/netns/$P1
assert_eq "cache empty" "" "$(ls "$d/cache/results")"
assert_eq "no reservation left" "" "$(ls "$d/ipam/k8c" | grep -v -e lock -e last_reserved || true)"

log "a failed ADD leaves nothing"
assert_fails "ADD into a missing netns" agent add uid-3 /var/run/netns/none-$TAG
assert_match "error from the plugin's JSON" "cannot open network namespace" "$(tail -1 "$d/agent.err")"
assert_eq "no cache entry" "" "$(ls "$d/cache/results")"
assert_eq "no reservation" "" "$(ls "$d/ipam/k8c" | grep -v -e lock -e last_reserved || true)"

if [[ -x $REF_DIR/tuning ]]; then
	log "chain: k8c-bridge then tuning (prevResult)"
	jq '.cniVersion = "1.0.0" | .plugins += [{type: "tuning", mtu: 1300}]' "$d/conf/10-k8c.conflist" >"$d/conf/05-chain.conflist"
	r=$(agent add uid-4 /var/run/netns/$P1 default pod-c uid-4)
	assert_match "result of the chain carries the bridge's address" "^10\.78\.1\.[0-9]+/24$" "$(jget "$r" '.ips[0].address')"
	assert_match "tuning ran after the bridge" "mtu 1300" "$(ip -n "$P1" link show eth0)"
	assert_ok "CHECK through the chain" agent check uid-4 /var/run/netns/$P1
	assert_ok "DEL through the chain" agent del uid-4 /var/run/netns/$P1
	assert_eq "no reservation" "" "$(ls "$d/ipam/k8c" | grep -v -e lock -e last_reserved || true)"
	assert_eq "pod interface gone" "" "$(ip -n "$P1" -o link show eth0 2>/dev/null || true)"
else
	echo "SKIP part: $REF_DIR/tuning missing" >&2
fi

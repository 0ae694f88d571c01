#!/bin/bash
# k8c-host-local against the reference host-local (called directly, as an IPAM plugin), a data
# dir shared between the two (drop-in upgrade), and the 1.1 commands of ours: GC and STATUS
# through k8c-bridge.
#
#   ┌───────────────┐   ┌───────────────┐
#   │ $p1  eth0 .2  │   │ $p2  eth0 .3  │     (GC/STATUS part only)
#   └──────┬────────┘   └──────┬────────┘
#   ┌──────┴───────────────────┴────────┐
#   │ $node  bridge $br 10.97.0.1/24    │     every plugin runs inside $node
#   └───────────────────────────────────┘
# Usage: cni_hostlocal.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip jq nft ping "$PY"
[[ -x $REF_DIR/host-local ]] || skip "reference plugins not in $REF_DIR"

NODE=k8cn-$TAG
netns_new "$NODE"
declare -A SEQ

# ipam_conf SUBNET_OR_RANGES_JSON DATADIR [EXTRA]: a network config whose ipam is the current
# implementation's host-local. The first argument is either a CIDR or a "ranges" JSON array.
ipam_conf() {
	local ranges=$1
	[[ $ranges == \[* ]] || ranges="[[{\"subnet\":\"$1\"}]]"
	jq -n -c --arg ver "$VER" --arg ipam "$IPAM" --argjson ranges "$ranges" --arg dir "$2" \
		--argjson extra "${3:-{\}}" '{
	    cniVersion: $ver, name: "k8ctest", type: "irrelevant",
	    ipam: { type: $ipam, ranges: $ranges, dataDir: $dir, routes: [ { dst: "0.0.0.0/0" } ] }
	  } * $extra'
}

# ipam CMD CID CONF: run the IPAM plugin directly; prints "rc<TAB>stdout" on one line.
ipam() {
	local rc=0 out
	out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$IPAM" "$1" "$2" "$NODE" eth0 "$3") || rc=$?
	# Error texts differ between implementations: keep only the code.
	printf '%s\t%s\n' "$rc" "$(jq -c 'if .code then {code} else . end' <<<"$out" 2>/dev/null |
		{ read -r j && comparable "$j" || echo "$out"; })"
}

# A fixed sequence of IPAM operations; the reference and ours must print the same lines.
sequence() {
	local d s
	d=$(tmpdir_new)
	s+="add a: $(ipam ADD a "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="add b: $(ipam ADD b "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="del a: $(ipam DEL a "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="add c (round robin): $(ipam ADD c "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="add c again (same container and ifname): $(ipam ADD c "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="del unknown: $(ipam DEL nosuch "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="files: $(cd "$d/k8ctest" && for f in *; do printf '%s=%s ' "$f" "$(tr '\r\n' '|;' <"$f")"; done)"$'\n'
	s+="add IP= arg: $(CNI_ARGS_OPT="IgnoreUnknown=1;IP=10.98.0.50" ipam ADD e "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="add runtimeConfig.ips: $(ipam ADD f "$(ipam_conf 10.98.0.0/24 "$d" '{"runtimeConfig":{"ips":["10.98.0.60/24"]}}')")"$'\n'
	s+="add taken IP: $(CNI_ARGS_OPT="IgnoreUnknown=1;IP=10.98.0.50" ipam ADD g "$(ipam_conf 10.98.0.0/24 "$d")")"$'\n'
	s+="range start/end: $(ipam ADD h "$(ipam_conf '[[{"subnet":"10.96.0.0/24","rangeStart":"10.96.0.100","rangeEnd":"10.96.0.101","gateway":"10.96.0.254"}]]' "$d")")"$'\n'
	s+="dual stack: $(ipam ADD i "$(ipam_conf '[[{"subnet":"10.95.0.0/24"}],[{"subnet":"fd00:95::/64"}]]' "$d")")"$'\n'
	s+="/30 first: $(ipam ADD j "$(ipam_conf 10.94.0.0/30 "$d")")"$'\n'
	s+="/30 exhausted: $(ipam ADD k "$(ipam_conf 10.94.0.0/30 "$d")")"$'\n'
	printf '%s' "$s"
}

impl_set ref 1.0.0
log "reference host-local sequence"
SEQ[ref]=$(sequence)
echo "${SEQ[ref]}" >&2
assert_match "reference sequence sane" 'add c \(round robin\): 0.*10\.98\.0\.4/24' "${SEQ[ref]}"

need_ours "$OURS_DIR"

impl_set ours 1.0.0
log "our host-local sequence"
SEQ[ours]=$(sequence)
echo "${SEQ[ours]}" >&2
diff_out=$(diff <(echo "${SEQ[ref]}") <(echo "${SEQ[ours]}")) || true
assert_eq "same IPAM results as the reference (diff ref ours)" "" "$diff_out"

log "drop-in: ours continues a data dir the reference wrote"
d=$(tmpdir_new)
impl_set ref 1.0.0
ipam ADD a "$(ipam_conf 10.98.0.0/24 "$d")" >/dev/null
ipam ADD b "$(ipam_conf 10.98.0.0/24 "$d")" >/dev/null
impl_set ours 1.0.0
r=$(ipam ADD c "$(ipam_conf 10.98.0.0/24 "$d")")
assert_match "ours allocates after the reference's last reservation" '^0.*"10\.98\.0\.4/24"' "$r"
r=$(ipam DEL a "$(ipam_conf 10.98.0.0/24 "$d")")
assert_match "ours DEL releases a reference reservation" '^0' "$r"
assert_eq "reference reservation file removed" absent "$([[ -e $d/k8ctest/10.98.0.2 ]] && echo present || echo absent)"
impl_set ref 1.0.0
r=$(ipam ADD e "$(ipam_conf 10.98.0.0/24 "$d")")
assert_match "the reference continues a data dir ours wrote" '^0.*"10\.98\.0\.5/24"' "$r"

log "ours: 1.1.0 GC and STATUS through k8c-bridge"
impl_set ours 1.1.0
br=k8cbr$TAG p1=k8cp1-$TAG p2=k8cp2-$TAG
netns_new "$p1"
netns_new "$p2"
d=$(tmpdir_new)
conf=$(bridge_conf "$br" 10.97.0.0/24 "$d" '{"ipMasq": true}')
r1=$(cni_ok "$PDIR" "$BRIDGE" ADD c1-$TAG "$p1" eth0 "$conf")
r2=$(cni_ok "$PDIR" "$BRIDGE" ADD c2-$TAG "$p2" eth0 "$conf")
assert_eq "pod addresses" "10.97.0.2/24 10.97.0.3/24" "$(jget "$r1" '.ips[0].address') $(jget "$r2" '.ips[0].address')"
assert_ok "STATUS ok" cni_run "$PDIR" "$BRIDGE" STATUS "" "" "" "$conf"
gc=$(jq -c --arg c "c1-$TAG" '. + {"cni.dev/valid-attachments": [{containerID: $c, ifname: "eth0"}]}' <<<"$conf")
assert_ok "GC keeping c1" cni_run "$PDIR" "$BRIDGE" GC "" "" "" "$gc"
assert_eq "GC released c2's IP" absent "$([[ -e $d/k8ctest/10.97.0.3 ]] && echo present || echo absent)"
assert_eq "GC kept c1's IP" "c1-$TAG" "$(head -n1 "$d/k8ctest/10.97.0.2" 2>&1 | tr -d '\r')"
t=$(ip netns exec "$NODE" nft list table inet k8c_cni 2>&1 || true)
assert_match "GC kept c1's masquerade element" '10\.97\.0\.2([^0-9]|$)' "$t"
if [[ $t =~ 10\.97\.0\.3([^0-9]|$) ]]; then fail "GC left c2's masquerade element: $t"; else pass "GC removed c2's masquerade element"; fi
assert_ok "c1 still reaches the gateway after GC" ping1 "$p1" 10.97.0.1
# libcni also sends the older key.
gc_old=$(jq -c '. + {"cni.dev/attachments": [] }' <<<"$conf")
assert_ok "GC with the older key and an empty list" cni_run "$PDIR" "$BRIDGE" GC "" "" "" "$gc_old"
assert_eq "GC with an empty list released c1's IP" absent "$([[ -e $d/k8ctest/10.97.0.2 ]] && echo present || echo absent)"
assert_ok "GC on k8c-host-local directly" cni_run "$PDIR" "$IPAM" GC "" "" "" "$gc"

# Fresh pods: p1 still has eth0 and its default route (GC releases IPAM, not the interface).
p1=k8cp3-$TAG p2=k8cp4-$TAG
netns_new "$p1"
netns_new "$p2"
d=$(tmpdir_new)
conf=$(bridge_conf k8cbs$TAG 10.93.0.0/30 "$d")
assert_ok "STATUS on an empty /30" cni_run "$PDIR" "$BRIDGE" STATUS "" "" "" "$conf"
cni_ok "$PDIR" "$BRIDGE" ADD c3-$TAG "$p1" eth1 "$conf" >/dev/null
rc=0
out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" STATUS "" "" "" "$conf") || rc=$?
assert_cni_error "STATUS on an exhausted /30" 1.1.0 50 "$out" "$rc"
rc=0
out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$IPAM" STATUS "" "" "" "$conf") || rc=$?
assert_cni_error "k8c-host-local STATUS on an exhausted /30" 1.1.0 50 "$out" "$rc"
rc=0
node_links=$(links "$NODE")
out=$(CNI_STDERR=/dev/null cni_run "$PDIR" "$BRIDGE" ADD c4-$TAG "$p2" eth1 "$conf") || rc=$?
assert_eq "ADD on an exhausted pool fails" 1 "$((rc != 0))"
log "ADD on exhausted pool: $out"
assert_eq "failed ADD left no veth in $p2" "lo " "$(links "$p2")"
assert_eq "failed ADD left no host veth in the node" "$node_links" "$(links "$NODE")"
cni_ok "$PDIR" "$BRIDGE" DEL c3-$TAG "$p1" eth1 "$conf" >/dev/null
assert_ok "STATUS ok again after DEL" cni_run "$PDIR" "$BRIDGE" STATUS "" "" "" "$conf"
assert_fails "STATUS refused at cniVersion 1.0.0" cni_run "$PDIR" "$BRIDGE" STATUS "" "" "" \
	"$(jq -c '.cniVersion = "1.0.0"' <<<"$conf")"

#!/bin/bash
# cni/nft_masq and cni/nft_macspoof against the kernel, in namespaces of our own.
#
#   pod ns                  router ns (our nftables)            outside ns
#   eth0 10.22.0.5/24 ---- rpod [br0 10.22.0.1/24]  rout 192.0.2.1/24 ---- eth0 192.0.2.2/24
#                                                   rpeer 10.22.0.129/25 -- peer ns eth0 10.22.0.130/25
#
# outside has no route back to 10.22.0.0/24, so a ping from the pod only comes back if the
# router masqueraded it; peer is inside the pod's own subnet and must see the pod's address.
set -e
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v nft >/dev/null || { echo "SKIP: nft not installed"; exit 77; }
BIN=${1:-$(dirname "$0")/../../build/bin}
TOOL=$BIN/k8c_nft_tool
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built"; exit 77; }

pod=k8c-nft-pod-$$ router=k8c-nft-rt-$$ outside=k8c-nft-out-$$ peer=k8c-nft-peer-$$
cleanup() {
	set +e
	for ns in $pod $router $outside $peer; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
np() { ip netns exec $pod "$@"; }
nr() { ip netns exec $router "$@"; }
no() { ip netns exec $outside "$@"; }
npe() { ip netns exec $peer "$@"; }
tool() { nr "$TOOL" "$@"; }
elements() { nr nft -j list set inet k8c_cni "$1" | /usr/bin/python3 -c '
import json, sys
out = []
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        v = e["elem"]
        out.append(str(v["val"]) + "=" + v.get("comment", ""))
print(" ".join(sorted(out)))'; }

for ns in $pod $router $outside $peer; do ip netns add $ns; ip netns exec $ns ip link set lo up; done
ip link add rpod netns $router type veth peer name eth0 netns $pod
ip link add rout netns $router type veth peer name eth0 netns $outside
ip link add rpeer netns $router type veth peer name eth0 netns $peer
nr ip link add br0 type bridge
nr ip link set rpod master br0
nr ip addr add 10.22.0.1/24 dev br0
nr ip addr add 192.0.2.1/24 dev rout
nr ip addr add 10.22.0.129/25 dev rpeer
for l in br0 rpod rout rpeer; do nr ip link set $l up; done
nr sysctl -qw net.ipv4.ip_forward=1
np ip addr add 10.22.0.5/24 dev eth0
np ip link set eth0 up
np ip route add default via 10.22.0.1
np ip route add 10.22.0.128/25 via 10.22.0.1
no ip addr add 192.0.2.2/24 dev eth0
no ip link set eth0 up
npe ip addr add 10.22.0.130/25 dev eth0
npe ip link set eth0 up
npe ip route add default via 10.22.0.129
POD_MAC=$(np cat /sys/class/net/eth0/address)

# Count what arrives, by source address, with counters in the receiving namespaces.
for n in no npe; do
	$n nft add table ip watch
	$n nft add chain ip watch in '{ type filter hook input priority 0; }'
	$n nft add rule ip watch in ip saddr 10.22.0.5 icmp type echo-request counter
	$n nft add rule ip watch in ip saddr 192.0.2.1 icmp type echo-request counter
done
counts() { "$1" nft list chain ip watch in | awk '/counter/ { printf "%s=%s ", $3, $(NF-2) }'; }

echo "== without masquerade the outside cannot answer"
np ping -c1 -W1 192.0.2.2 >/dev/null && fail "ping answered without masquerade"

echo "== add two pods (one fake), re-add is idempotent"
tool masq-add net1 c1 eth0 10.22.0.5/24 fd00:22::5/64
tool masq-add net1 c1 eth0 10.22.0.5/24 fd00:22::5/64
tool masq-add net1 c2 eth0 10.22.0.6/24
tool masq-check net1 c1 eth0 10.22.0.5/24 fd00:22::5/64
tool masq-check net1 c2 eth0 10.22.0.6/24
tool masq-check net1 c2 eth0 10.22.0.7/24 2>/dev/null && fail "check passed for a missing element"
nr nft list table inet k8c_cni
[ "$(nr nft list chain inet k8c_cni postrouting | grep -c masquerade)" = 2 ] || fail "rules duplicated"
got=$(elements masq4)
[ "$got" = "10.22.0.5=net1/c1/eth0 10.22.0.6=net1/c2/eth0" ] || fail "masq4: $got"

echo "== traffic: masqueraded to the outside, not within the pod's own subnet"
np ping -c2 -W2 192.0.2.2 >/dev/null || fail "ping to outside through masquerade"
np ping -c2 -W2 10.22.0.130 >/dev/null || fail "ping to peer in own subnet"
echo "outside: $(counts no)  peer: $(counts npe)"
# the one unanswered ping before the rules existed arrived with the pod's address
counts no | grep -q "10.22.0.5=1 192.0.2.1=2" || fail "outside saw: $(counts no)"
counts npe | grep -q "10.22.0.5=2 192.0.2.1=0" || fail "peer saw: $(counts npe)"

echo "== the address re-used by another owner moves to it; DEL of the old owner leaves it"
tool masq-add net1 c3 eth0 10.22.0.6/24
tool masq-del net1 c2 eth0 10.22.0.6/24
tool masq-check net1 c3 eth0 10.22.0.6/24

echo "== DEL by owner without addresses, twice"
tool masq-del net1 c1 eth0
tool masq-del net1 c1 eth0
got=$(elements masq4)
[ "$got" = "10.22.0.6=net1/c3/eth0" ] || fail "after del: $got"
[ -z "$(elements masq6)" ] || fail "masq6 not empty: $(elements masq6)"
np ping -c1 -W1 192.0.2.2 >/dev/null && fail "still masqueraded after DEL"

echo "== GC keeps listed containers, and only touches its own network"
tool masq-add net2 c4 eth0 10.23.0.4/24
tool masq-add net1 c5 eth0 10.22.0.9/24
out=$(tool masq-gc net1 c5)
[ "$out" = "removed 2" ] || fail "gc: $out"
got=$(elements masq4)
[ "$got" = "10.22.0.9=net1/c5/eth0 10.23.0.4=net2/c4/eth0" ] || fail "after gc: $got"

echo "== ipMasqExceptions: toward an exception (the cluster CIDR) the pod keeps its address"
# 192.0.2.0/24 stands for the other nodes' pods; 10.22.0.0/16 holds the pod's own subnet (so
# only the /16 element is added: the kernel refuses overlapping intervals)
tool masq-add net1 c7 eth0 10.22.0.5/24 except 192.0.2.0/24 10.22.0.0/16 fd00::/8
tool masq-add net1 c7 eth0 10.22.0.5/24 except 192.0.2.0/24 10.22.0.0/16 fd00::/8
tool masq-check net1 c7 eth0 10.22.0.5/24 except 192.0.2.0/24 10.22.0.0/16
tool masq-check net1 c7 eth0 10.22.0.5/24 except 198.51.100.0/24 2>/dev/null &&
	fail "check passed for a missing exception"
got=$(elements nomasq4 | tr ' ' '\n' | grep -c "net1/c7/eth0")
[ "$got" = 2 ] || fail "nomasq4 elements of c7: $got ($(elements nomasq4))"
before=$(counts no | grep -o '10.22.0.5=[0-9]*')
np ping -c1 -W1 192.0.2.2 >/dev/null && fail "ping answered: masqueraded toward an exception"
after=$(counts no | grep -o '10.22.0.5=[0-9]*')
[ "${after#*=}" = $((${before#*=} + 1)) ] || fail "outside saw the pod's address ${before} -> ${after}"
np ping -c1 -W2 10.22.0.130 >/dev/null || fail "ping to peer in own subnet with exceptions"
tool masq-del net1 c7 eth0
[ -z "$(elements nomasq4 | tr ' ' '\n' | grep "net1/c7/eth0")" ] || fail "c7 left: $(elements nomasq4)"
tool masq-add net1 c7 eth0 10.22.0.5/24
np ping -c1 -W2 192.0.2.2 >/dev/null || fail "masquerade without the exception again"
tool masq-del net1 c7 eth0

echo "== MAC spoof check on the bridge port"
tool macspoof-add net1 c1 eth0 rpod "$POD_MAC"
tool macspoof-add net1 c1 eth0 rpod "$POD_MAC"
tool macspoof-check net1 c1 eth0 rpod "$POD_MAC"
nr nft list table bridge k8c_cni_macspoof
np ping -c1 -W2 10.22.0.1 >/dev/null || fail "ping with the pod's own MAC"
np ip link set eth0 address 02:00:00:00:00:99
np ip neigh flush dev eth0
np ping -c1 -W1 10.22.0.1 >/dev/null && fail "spoofed MAC not dropped"
np ip link set eth0 address "$POD_MAC"
tool macspoof-del net1 c1 eth0
tool macspoof-del net1 c1 eth0
np ip link set eth0 address 02:00:00:00:00:99
np ip neigh flush dev eth0
np ping -c1 -W2 10.22.0.1 >/dev/null || fail "MAC check still active after DEL"
tool macspoof-add net1 c6 eth0 rpod "$POD_MAC"
out=$(tool macspoof-gc net1)
[ "$out" = "removed 2" ] || fail "macspoof gc: $out"

echo "== our tables only"
nr nft list tables
echo PASS

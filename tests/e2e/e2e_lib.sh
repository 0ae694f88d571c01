# shellcheck shell=bash
# Shared set-up of the e2e tests (a `k8c up` cluster). A test starts with
#
#   set -e
#   . "$(dirname "$0")/e2e_lib.sh"    # its first argument: <build>/bin
#   e2e_need netserver busybox        # root, tools, binaries, these images (else exit 77)
#   e2e_up --nodes 2                  # k8c up of the cluster $NAME in the state dir $S
#
# The cluster is $NAME (e2e-<test>-PID) with its dir $C = $S/$NAME; k runs kubectl on it. The EXIT
# trap prints the daemons' last log lines after a failure, runs `k8c down` if the cluster is up
# ($UPPED), deletes the namespaces of $E2E_NETNS, removes $S and turns failed assertions into a
# failed exit.

BIN=$(realpath "${1:?usage: $0 <build>/bin ...}")
IMAGES=$(realpath -m "$BIN/../images")
FAILS=0
NAME=e2e-$(basename "$0" .sh | tr '_' '-')-$$
S=
C=
UPPED=
E2E_NETNS=() # namespaces a test made, deleted on exit

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
# e2e_need IMAGE...: root, the tools, our binaries, the images of build/images
e2e_need() {
	[[ $(id -u) == 0 ]] || skip "needs root"
	for t in kubectl jq runc nsenter ip curl nft setsid; do
		command -v "$t" >/dev/null || skip "needs $t"
	done
	for b in k8c k8c-server k8c-agent k8c-shim k8c-proxy k8c-bridge k8c-host-local; do
		[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
	done
	for i in "$@"; do
		[[ -f $IMAGES/$i.tar ]] || skip "$IMAGES/$i.tar not built (target images)"
	done
	S=$(mktemp -d /tmp/k8c-e2e.XXXXXX)
	C=$S/$NAME
	trap e2e_cleanup EXIT
}

log() { echo "== $*" >&2; }
pass() { echo "  ok: $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	return 0
}
assert_eq() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected [$2] got [$3]"; fi; }
assert_match() { if [[ "$3" =~ $2 ]]; then pass "$1"; else fail "$1: expected to match /$2/ got [$3]"; fi; }
die() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	exit 1
}

e2e_cleanup() {
	local rc=$?
	set +e
	if ((rc != 0 || FAILS > 0)); then
		for f in "$C"/logs/*.log; do
			[[ -f $f ]] || continue
			echo "--- $f:" >&2
			tail -15 "$f" >&2
		done
	fi
	for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[[ -n $UPPED && -f $C/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2
	rm -rf "$S"
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}

k() { kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" "$@"; }
up() { "$BIN/k8c" up --name "$NAME" --state-dir "$S" "$@"; }
e2e_up() {
	log "k8c up $*"
	UPPED=1
	up "$@" >&2 || die "k8c up failed"
}

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 n=$(($2 * 5))
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "$what: not within $((n / 5)) s"
	return 1
}

# held: what the cluster holds in the kernel and in processes, by the names its state.json gives
# (read at the first call: call it while the cluster is up, then again after `k8c down`).
HELD_BR=
HELD_CIDR=
held() {
	if [[ -z $HELD_BR ]]; then
		HELD_BR=$(jq -r .bridge "$C/state.json")
		HELD_CIDR=$(jq -r .clusterCIDR "$C/state.json")
	fi
	echo "netns=$(ip netns list | grep -c "^k8c-$NAME-node")" \
		"links=$(ip -o link show | grep -c -e "${HELD_BR}[:@]" -e "k8cv${HELD_BR#k8cb}-")" \
		"routes=$(ip route show | grep -c -e "dev $HELD_BR" -e "^unreachable $HELD_CIDR")" \
		"mounts=$(grep -c " $S/" /proc/self/mountinfo)" \
		"cgroups=$(for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
			[[ -d $m/k8c-$NAME ]] && find "$m/k8c-$NAME" -type d; done | wc -l)" \
		"runc=$(for r in "$C"/nodes/*/runc; do [[ -d $r ]] && runc --root "$r" list -q; done 2>/dev/null | wc -l)" \
		"procs=$(grep -l -s -e "${S}[/]" /proc/[0-9]*/cmdline | grep -vc "^/proc/$$/")"
}
# the host's nftables tables and routes but those of k8c clusters (another one may come and go
# on a shared machine; ours are counted by held)
host_nft() { nft list tables | sort; }
host_routes() { ip route show | grep -v -e ' dev k8cb' -e '^unreachable 10\.2[0-9][0-9]\.0\.0/16' | sort; }
# e2e_down: `k8c down`, then nothing of the cluster is left and the host's nftables tables and
# routes are as in $NFT0 and $ROUTES0 (taken before `up`)
e2e_down() {
	log "k8c down"
	held >/dev/null
	"$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2 || fail "k8c down: exit $?"
	UPPED=
	assert_eq "nothing left" "netns=0 links=0 routes=0 mounts=0 cgroups=0 runc=0 procs=0" "$(held)"
	assert_eq "the host's nftables tables as before" "$NFT0" "$(host_nft)"
	assert_eq "the host's routes as before" "$ROUTES0" "$(host_routes)"
	assert_eq "the cluster's dir is gone" "" "$(ls -d "$C" 2>/dev/null)"
}

# e2e_outside: a namespace standing for a client outside the cluster, on the underlay bridge
# with the address .250 (deleted at exit); its name in $OUTNS
e2e_outside() {
	local br host
	br=$(jq -r .bridge "$C/state.json")
	host=$(jq -r .hostIP "$C/state.json")
	OUTNS=k8c-e2e-out-$$
	E2E_NETNS+=("$OUTNS")
	ip netns add "$OUTNS"
	ip link add "k8co$$" type veth peer name eth0 netns "$OUTNS"
	ip link set "k8co$$" master "$br" up
	ip -n "$OUTNS" addr add "${host%.*}.250/24" dev eth0
	ip -n "$OUTNS" link set eth0 up
	ip -n "$OUTNS" link set lo up
}
# node_get NODE URL: curl -sf from a process of the node (its network namespace; in ebpf mode
# also its cgroup v2 subtree, the socket programs' scope)
node_get() {
	local cg=
	if [[ $(jq -r .proxyMode "$C/state.json") == ebpf ]]; then
		cg=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)/k8c-$NAME/$1
	fi
	bash -c '[[ -z $1 ]] || echo $$ >"$1/cgroup.procs" || exit 1
		exec timeout 5 nsenter --net="/run/netns/$2" curl -sf -m 2 "$3"' _ "$cg" "k8c-$NAME-$1" "$2"
}

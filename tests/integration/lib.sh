# shellcheck shell=bash
# Shared helpers for the CNI integration tests. A test script starts with
#
#   set -e
#   . "$(dirname "$0")/lib.sh"     # its arguments: [<build>/bin]
#
# which sets OURS_DIR (our plugins: the first argument, or ../../build/bin), moves to the tests'
# folder, needs root (else exit 77, skipped) and installs `trap lib_cleanup EXIT`.
#
# Everything a test creates (network namespaces, temp directories, background processes) is
# registered here and removed by lib_cleanup. The bridge, host veths and masquerade rules live inside a "node"
# namespace created by the test, so deleting that namespace takes them with it; nothing is
# created in the host's own namespace.

OURS_DIR=$(realpath -m "${1:-$(dirname "${BASH_SOURCE[0]}")/../../build/bin}")
cd "$(dirname "${BASH_SOURCE[0]}")"

REF_DIR=${REF_DIR:-/usr/lib/cni}
PY=/usr/bin/python3
TAG=${TAG:-$$}
FAILS=0

declare -A PKG_OF=([ping]=iputils-ping [ip]=iproute2 [nft]=nftables)
LIB_NETNS=()
LIB_DIRS=()
LIB_PIDS=()

skip() { echo "SKIP: $*" >&2; exit 77; }
log() { echo "== $*" >&2; }

# need_root and need_tools exit 77 (skipped) when the test cannot run here.
need_root() { [[ $(id -u) == 0 ]] || skip "needs root"; }
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "needs $t (apt-get install -y ${PKG_OF[$t]:-$t})"
	done
}

# need_ours BINDIR: our plugins must have been built.
need_ours() {
	local b
	for b in k8c-bridge k8c-host-local; do
		[[ -x $1/$b ]] || skip "$1/$b not built yet (cmake --build build)"
	done
}

lib_cleanup() {
	local rc=$? p n d
	set +e
	for p in "${LIB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${LIB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# Delete pods before nodes so no veth peer lingers in a dying node namespace.
	for ((n = ${#LIB_NETNS[@]} - 1; n >= 0; n--)); do
		ip netns del "${LIB_NETNS[n]}" 2>/dev/null
	done
	for d in "${LIB_DIRS[@]}"; do rm -rf -- "$d"; done
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}

# netns_new NAME: create and register a namespace with lo up.
netns_new() {
	ip netns add "$1"
	LIB_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# tmpdir_new: a fresh directory under one per-test base directory (registered here, in the main
# shell, so calling tmpdir_new inside $(...) cannot leak).
LIB_BASE=$(mktemp -d "/tmp/k8c-cni-test.$TAG.XXXXXX")
LIB_DIRS+=("$LIB_BASE")
tmpdir_new() { mktemp -d "$LIB_BASE/d.XXXXXX"; }

# bg_in NETNS CMD...: run a command in the background inside NETNS, registered for cleanup.
# Sets BG_PID.
bg_in() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	BG_PID=$!
	LIB_PIDS+=("$BG_PID")
}

# cni_run PLUGIN_DIR TYPE COMMAND CONTAINERID NETNS IFNAME CONFIG_JSON
# Runs the plugin inside the node namespace $NODE. NETNS is a namespace name, a path, or ""
# (CNI_NETNS unset). Optional CNI_ARGS come from $CNI_ARGS_OPT. Empty CONTAINERID/IFNAME leave
# the variable unset (GC, STATUS). Prints the plugin's stdout; returns its exit status.
# Its stderr goes to $CNI_STDERR (default: the test's stderr).
cni_run() {
	local dir=$1 type=$2 cmd=$3 cid=$4 ns=$5 ifname=$6 conf=$7
	local -a env=(CNI_COMMAND="$cmd" CNI_PATH="$dir")
	[[ -n $cid ]] && env+=(CNI_CONTAINERID="$cid")
	if [[ -n $ns ]]; then
		[[ $ns == /* ]] || ns=/var/run/netns/$ns
		env+=(CNI_NETNS="$ns")
	fi
	[[ -n $ifname ]] && env+=(CNI_IFNAME="$ifname")
	[[ -n ${CNI_ARGS_OPT:-} ]] && env+=(CNI_ARGS="$CNI_ARGS_OPT")
	ip netns exec "$NODE" env -i PATH="$PATH" "${env[@]}" "$dir/$type" <<<"$conf" 2>>"${CNI_STDERR:-/dev/stderr}"
}

# cni_ok ...: like cni_run, but a failure is a test failure; prints stdout.
cni_ok() {
	local out rc=0
	out=$(cni_run "$@") || rc=$?
	if ((rc != 0)); then
		echo "FAIL: $2 $3 cid=$4 exited $rc: $out" >&2
		exit 1
	fi
	printf '%s\n' "$out"
}

# ---- assertions: each prints what it expected and what it got --------------------------------

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	[[ -n ${FAIL_FAST:-} ]] && exit 1
	return 0
}
pass() { echo "  ok: $*" >&2; }

# assert_eq WHAT EXPECTED GOT
assert_eq() {
	if [[ "$2" == "$3" ]]; then pass "$1"; else
		fail "$1: expected [$2] got [$3]"
	fi
}
# assert_match WHAT REGEX GOT
assert_match() {
	if [[ "$3" =~ $2 ]]; then pass "$1"; else
		fail "$1: expected to match /$2/ got [$3]"
	fi
}
# assert_ok WHAT CMD...: the command must succeed.
assert_ok() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$what"; else
		fail "$what: command failed: $* -> $out"
	fi
}
# assert_fails WHAT CMD...: the command must fail.
assert_fails() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$what: command unexpectedly succeeded: $* -> $out"; else
		pass "$what"
	fi
}
# assert_json_eq WHAT EXPECTED_JSON GOT_JSON: compared after sorting keys.
assert_json_eq() {
	local a b
	a=$(jq -S -c . <<<"$2" 2>&1) || a="(not JSON) $2"
	b=$(jq -S -c . <<<"$3" 2>&1) || b="(not JSON) $3"
	assert_eq "$1" "$a" "$b"
}

# assert_cni_error WHAT VERSION CODE OUTPUT RC: OUTPUT must be the spec's error object.
assert_cni_error() {
	local what=$1 ver=$2 code=$3 out=$4 rc=$5
	if ((rc == 0)); then
		fail "$what: expected a failure with code $code, got exit 0: $out"
		return 0
	fi
	if ! jq -e 'type == "object"' >/dev/null 2>&1 <<<"$out"; then
		fail "$what: expected error JSON on stdout, got [$out] (rc $rc)"
		return 0
	fi
	assert_eq "$what: code" "$code" "$(jq -r '.code' <<<"$out")"
	# The reference omits cniVersion from its errors; pass VERSION "" to not check it.
	[[ -z $ver ]] || assert_eq "$what: cniVersion" "$ver" "$(jq -r '.cniVersion' <<<"$out")"
	assert_match "$what: msg" '.' "$(jq -r '.msg // empty' <<<"$out")"
}

# ---- JSON helpers ----------------------------------------------------------------------------

# jget JSON FILTER: jq -r on a string.
jget() { jq -r "$2" <<<"$1"; }

# shape JSON: the sorted set of key paths, arrays collapsed (".ips[].address"), for comparing
# result shapes between implementations.
shape() {
	jq -c '[paths(scalars) | map(if type == "number" then "[]" else . end) | join(".")] | unique' <<<"$1"
}

# normalize_result JSON: what must match between the reference and ours for the same input:
# host veth names and MACs are random, sandbox paths name different namespaces.
normalize_result() {
	jq -S -c '
	  if type != "object" or (has("interfaces") | not) then . else
	  .interfaces |= (if . then map(
	      .name |= (if test("^veth") then "veth*" else . end)
	    | .mac |= (if . then "mac" else . end)
	    | .sandbox |= (if . then "sandbox" else . end)) else . end) end' <<<"$1"
}

# ---- network helpers -------------------------------------------------------------------------

# in_ns NETNS CMD...
in_ns() { ip netns exec "$@"; }

ping1() { ip netns exec "$1" ping -c 1 -W 2 -q "$2" >/dev/null 2>&1; }

# tcp_listen NETNS PORT OUTFILE: accept one TCP connection, write the peer address to OUTFILE,
# reply "hello". Returns once the socket listens.
tcp_listen() {
	local ns=$1 port=$2 out=$3
	rm -f "$out" "$out.ready"
	bg_in "$ns" "$PY" -c '
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(8); s.settimeout(20)
open(out + ".ready", "w").close()
c, peer = s.accept()
c.sendall(b"hello\n"); c.close()
open(out, "w").write(peer[0] + "\n")
' "$port" "$out"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -e $out.ready ]] && return 0
		sleep 0.05
	done
	echo "listener in $ns:$port did not start" >&2
	return 1
}

# tcp_get NETNS ADDR PORT: connect, print what the server sent ("hello" on success).
tcp_get() {
	ip netns exec "$1" "$PY" -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(c.recv(64).decode().strip())
' "$2" "$3" 2>&1 || true
}

# wait_file FILE: up to 5 s.
wait_file() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

# links NETNS: sorted link names (without @peer suffix).
# outside_host NODE OUT NODE_CIDR OUT_CIDR [NODE_CIDR6 OUT_CIDR6]: a host outside the node (the
# namespace OUT, made by the caller) on a veth k8cup$TAG (node side) / k8cdn$TAG (outside side).
outside_host() {
	ip -n "$1" link add k8cup$TAG type veth peer name k8cdn$TAG netns "$2"
	ip -n "$1" addr add "$3" dev k8cup$TAG
	ip -n "$2" addr add "$4" dev k8cdn$TAG
	if [[ -n ${5:-} ]]; then
		ip -n "$1" addr add "$5" dev k8cup$TAG nodad
		ip -n "$2" addr add "$6" dev k8cdn$TAG nodad
	fi
	ip -n "$1" link set k8cup$TAG up
	ip -n "$2" link set k8cdn$TAG up
}

# The links of a namespace. k8c-bridge's DEL renames a veth pair "k8cdel<hex>" and deletes it in
# the background (the kernel's unregister waits for RCU grace periods): wait up to 3 s for such
# pairs to be gone, so that what is listed is what stays.
links() {
	local i out
	for ((i = 0; i < 60; i++)); do
		out=$(ip -n "$1" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
		[[ $out == *k8cdel* ]] || break
		sleep 0.05
	done
	echo "$out"
}

# ---- implementations -------------------------------------------------------------------------
# impl_set ref|ours VERSION: sets IMPL, PDIR, BRIDGE, IPAM, VER.
impl_set() {
	IMPL=$1
	VER=$2
	if [[ $1 == ref ]]; then
		PDIR=$REF_DIR BRIDGE=bridge IPAM=host-local
	else
		PDIR=$OURS_DIR BRIDGE=k8c-bridge IPAM=k8c-host-local
	fi
}

# bridge_conf BRNAME SUBNET DATADIR [EXTRA_JSON]: a bridge config for the current impl.
# EXTRA_JSON is merged into the top level (e.g. '{"ipMasq": true}').
bridge_conf() {
	local extra=${4:-'{}'}
	jq -n -c --arg ver "$VER" --arg type "$BRIDGE" --arg ipam "$IPAM" --arg br "$1" \
		--arg subnet "$2" --arg dir "$3" --argjson extra "$extra" '{
	    cniVersion: $ver, name: "k8ctest", type: $type, bridge: $br,
	    isGateway: true, ipMasq: false,
	    ipam: { type: $ipam, subnet: $subnet, dataDir: $dir,
	            routes: [ { dst: "0.0.0.0/0" } ] }
	  } * $extra'
}

# netns_del NAME: delete early (cleanup tolerates it being gone).
netns_del() { ip netns del "$1" 2>/dev/null || true; }

# with_prev CONF RESULT: CONF with prevResult set (CHECK, DEL, chained plugins).
with_prev() { jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"; }

# comparable RESULT: normalize_result, plus an empty "dns" object counts as absent.
comparable() { normalize_result "$(jq -c 'if .dns == {} then del(.dns) else . end' <<<"$1")"; }

# tcp_listen6 NETNS PORT OUTFILE: tcp_listen on the IPv6 wildcard (IPv6 clients only).
tcp_listen6() {
	local ns=$1 port=$2 out=$3 i
	rm -f "$out" "$out.ready"
	bg_in "$ns" "$PY" -c '
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::", port)); s.listen(8); s.settimeout(20)
open(out + ".ready", "w").close()
c, peer = s.accept()
c.sendall(b"hello\n"); c.close()
open(out, "w").write(peer[0] + "\n")
' "$port" "$out"
	for ((i = 0; i < 100; i++)); do
		[[ -e $out.ready ]] && return 0
		sleep 0.05
	done
	echo "listener in $ns:[$port] did not start" >&2
	return 1
}

# wait_no_tentative NETNS DEV: up to 5 s for IPv6 duplicate address detection on DEV to end
# (a gateway address on a bridge is tentative for about a second). Fails if it does not.
wait_no_tentative() {
	local i
	for ((i = 0; i < 100; i++)); do
		ip -n "$1" -6 addr show dev "$2" 2>/dev/null | grep -q tentative || return 0
		sleep 0.05
	done
	return 1
}

trap lib_cleanup EXIT
need_root

# shellcheck shell=bash
# Shared harness for the node agent's integration tests (agent_*.sh). Root, real runc, real
# network namespaces. A test starts with
#
#   set -e
#   . "$(dirname "$0")/agent_lib.sh"   # its arguments: <build>/bin
#   ag_setup NAME                       # D, the server in a namespace of its own, the trap
#   ag_node node1 1                     # node namespace k8cN1-$TAG, link to the server, agent up
#   k apply -f ...; ag_wait_phase default/p Running; ...
#
# Layout: the API server runs in the namespace $SRVNS (binds 0.0.0.0 there; nothing listens in
# the host's namespaces). Node N is the namespace k8cnN-$TAG with a veth to $SRVNS
# (10.255.N.1/30 server side, 10.255.N.2/30 node side; the server listens on 10.255.0.1, routed
# there; no default route: no route out); its
# agent runs there (nsenter --net, so it shares the host's mount namespace and its pods' netns
# files under $D/nodeN/netns are visible to the test) with every state path below $D/nodeN and
# its cgroups below /k8c-ag-$TAG-N. kubectl (k) runs in $SRVNS with the admin kubeconfig.
#
# ag_cleanup (the EXIT trap) stops the agents and the server (by PID), removes every runc
# container of our runc roots, unmounts whatever is mounted below $D, deletes the pods' and the
# nodes' namespaces and our cgroups, then $D.

BIN=${1:?usage: $0 <build>/bin}
BIN=$(realpath "$BIN")
PY=/usr/bin/python3
IMAGES=$(realpath -m "$BIN/../images")
TAG=${TAG:-$$}
FAILS=0

skip() { echo "SKIP: $*" >&2; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root"
for t in kubectl jq runc nsenter ip curl; do
	command -v "$t" >/dev/null || skip "needs $t"
done
for b in k8c-server k8c-agent k8c-shim k8c-bridge k8c-host-local k8c; do
	[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
done
[[ -f $IMAGES/busybox.tar ]] || skip "$IMAGES/busybox.tar not built (target images)"

D=
SRVNS=k8cs-$TAG
SRV_PID=
PORT=6443
declare -A AG_PID AG_NS AG_CIDR
AG_NODES=()

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

k() { nsenter --net="/run/netns/$SRVNS" kubectl --cache-dir "$D/kcache" "$@"; }

ag_setup() {
	D=$(mktemp -d "${AG_TMPDIR:-/tmp}/k8c-$1-test.XXXXXX")
	trap ag_cleanup EXIT
	ip netns add "$SRVNS"
	ip -n "$SRVNS" link set lo up
	ip -n "$SRVNS" addr add 10.255.0.1/32 dev lo
	nsenter --net="/run/netns/$SRVNS" "$BIN/k8c-server" --data-dir "$D/server" --secure-port "$PORT" \
		--bind-address 10.255.0.1 --kube-minor 32 2>>"$D/server.log" &
	SRV_PID=$!
	for _ in $(seq 100); do
		nsenter --net="/run/netns/$SRVNS" curl -sk "https://10.255.0.1:$PORT/healthz" 2>/dev/null | grep -qx ok && break
		kill -0 "$SRV_PID" 2>/dev/null || die "k8c-server exited at start: $(tail -3 "$D/server.log")"
		sleep 0.1
	done
	sed "s#https://127.0.0.1:$PORT#https://10.255.0.1:$PORT#" "$D/server/admin.kubeconfig" >"$D/kubeconfig"
	export KUBECONFIG=$D/kubeconfig
	"$BIN/k8c" image import "$IMAGES/busybox.tar" --root "$D/images" >/dev/null
	[[ -f $IMAGES/netserver.tar ]] && "$BIN/k8c" image import "$IMAGES/netserver.tar" --root "$D/images" >/dev/null
	return 0
}

# ag_node NAME N [AGENT FLAGS...]: node namespace, link to the server, agent started. The agent
# gets --pod-cidr 10.244.N.0/24 unless AG_NODE_IPAM=1 (then the server's nodeipam assigns one).
ag_node() {
	local name=$1 n=$2 ns=k8cn$2-$TAG
	shift 2
	AG_CIDR[$name]=10.244.$n.0/24
	[[ ${AG_NODE_IPAM:-} == 1 ]] && AG_CIDR[$name]=
	ip netns add "$ns"
	AG_NS[$name]=$ns
	AG_NODES+=("$name")
	ip -n "$ns" link set lo up
	ip -n "$SRVNS" link add "k8cs$n" type veth peer name "k8cup" netns "$ns"
	ip -n "$SRVNS" addr add "10.255.$n.1/30" dev "k8cs$n"
	ip -n "$SRVNS" link set "k8cs$n" up
	ip -n "$ns" addr add "10.255.$n.2/30" dev k8cup
	ip -n "$ns" link set k8cup up
	ip -n "$ns" route add 10.255.0.1/32 via "10.255.$n.1"
	mkdir -p "$D/$name"
	cp "$D/kubeconfig" "$D/$name/kubeconfig"
	AG_FLAGS_EXTRA=("$@")
	ag_start "$name" "$n"
}

# ag_start NAME N: (re)start the agent of node NAME.
ag_start() {
	local name=$1 n=$2 ns=${AG_NS[$1]} cidr=()
	[[ -n ${AG_CIDR[$1]} ]] && cidr=(--pod-cidr "${AG_CIDR[$1]}")
	nsenter --net="/run/netns/$ns" "$BIN/k8c-agent" --kubeconfig "$D/$name/kubeconfig" --node-name "$name" \
		--node-ip "10.255.$n.2" --root-dir "$D/$name/root" --runc-root "$D/$name/runc" \
		--cni-bin-dir "$BIN" --cni-conf-dir "$D/$name/cni/conf" --cni-cache-dir "$D/$name/cni/cache" \
		--netns-dir "$D/$name/netns" --cgroup-parent "/k8c-ag-$TAG-$n" --image-root "$D/images" \
		"${cidr[@]}" --workers 4 --log-level debug "${AG_FLAGS_EXTRA[@]}" \
		</dev/null >/dev/null 2>>"$D/$name/agent.log" &
	AG_PID[$name]=$!
	for _ in $(seq 100); do
		[[ $(k get node "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] && return 0
		kill -0 "${AG_PID[$name]}" 2>/dev/null || die "agent $name exited: $(tail -5 "$D/$name/agent.log")"
		sleep 0.2
	done
	die "node $name not Ready"
}

# ag_kill NAME [SIGNAL]: stop the agent (pods keep running).
ag_kill() {
	local pid=${AG_PID[$1]}
	[[ -n $pid ]] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	AG_PID[$1]=
}

ag_cleanup() {
	local rc=$? name m id
	set +e
	for name in "${AG_NODES[@]}"; do ag_kill "$name" KILL; done
	if [[ -n $SRV_PID ]]; then kill "$SRV_PID"; wait "$SRV_PID"; fi
	for name in "${AG_NODES[@]}"; do
		for id in $(runc --root "$D/$name/runc" list -q 2>/dev/null); do
			runc --root "$D/$name/runc" kill "$id" KILL 2>/dev/null
			runc --root "$D/$name/runc" delete --force "$id" 2>/dev/null
		done
	done
	# shims outlive the agent: stop those of our containers (their state dir is under $D)
	for m in $(grep -l "$D/" /proc/[0-9]*/cmdline 2>/dev/null); do
		m=${m#/proc/}
		m=${m%/cmdline}
		[[ $m == "$$" ]] || kill -9 "$m" 2>/dev/null
	done
	for m in $(awk '$5 ~ "^'"$D"'" {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
	for name in "${AG_NODES[@]}"; do ip netns del "${AG_NS[$name]}" 2>/dev/null; done
	ip netns del "$SRVNS" 2>/dev/null
	for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		for d in "$m"/k8c-ag-"$TAG"-*; do
			[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	if ((rc != 0 || FAILS > 0)) && [[ -n ${AG_DEBUG:-} ]]; then
		for name in "${AG_NODES[@]}"; do echo "--- agent $name:" >&2; tail -40 "$D/$name/agent.log" >&2; done
	fi
	# a caller's own clean-up (e.g. the benchmark's cpuacct cgroup), once everything is stopped
	declare -F ag_cleanup_extra >/dev/null && ag_cleanup_extra
	[[ -z $D ]] || rm -rf "$D"
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}

# ag_wait JSONPATH-CHECK: poll (30 s) until `k get "$1" -o jsonpath="$2"` prints $3.
ag_wait() {
	local obj=$1 path=$2 want=$3 got i
	for ((i = 0; i < 150; i++)); do
		got=$(k get $obj -o jsonpath="$path" 2>/dev/null) || true
		[[ $got == "$want" ]] && return 0
		sleep 0.2
	done
	fail "$obj $path: expected [$want], got [$got] after 30 s"
	return 1
}

# ag_pod_netns NODE POD: the path of the pod's network namespace.
ag_pod_netns() { echo "$D/$1/netns/$(k get pod "$2" -o jsonpath='{.metadata.uid}')"; }

# ag_in_pod NODE POD CMD...: run a host command in the pod's network namespace.
ag_in_pod() {
	local n=$1 p=$2
	shift 2
	nsenter --net="$(ag_pod_netns "$n" "$p")" "$@"
}

# ag_leaks NODE: what a node holds (netns files, links, mounts, cgroups, runc containers, address
# reservations, CNI cache entries, pod dirs, processes in our cgroups).
ag_leaks() {
	local n=$1 num=${2} ns=${AG_NS[$1]} cg=0 m
	for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		[[ -d $m/k8c-ag-$TAG-$num ]] && cg=$((cg + $(find "$m/k8c-ag-$TAG-$num" -mindepth 1 -type d | wc -l)))
	done
	echo "netns=$(ls "$D/$n/netns" 2>/dev/null | wc -l)" \
		"links=$(ip -n "$ns" -o link show | grep -v -e k8cdel -e "k8c0:" -c)" \
		"mounts=$(awk '$5 ~ "^'"$D/$n"'" {print $5}' /proc/self/mountinfo | wc -l)" \
		"cgroups=$cg runc=$(runc --root "$D/$n/runc" list -q 2>/dev/null | wc -l)" \
		"ipam=$(ls "$D/$n/root/cni-ipam/k8c" 2>/dev/null | grep -vc -e lock -e last_reserved)" \
		"cni_cache=$(ls "$D/$n/cni/cache/results" 2>/dev/null | wc -l)" \
		"pods=$(ls "$D/$n/root/pods" 2>/dev/null | wc -l)" \
		"containers=$(ls "$D/$n/root/containers" 2>/dev/null | wc -l)"
}

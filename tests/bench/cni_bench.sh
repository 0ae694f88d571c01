#!/bin/bash
# CNI ADD/DEL latency: the reference bridge + host-local against k8c-bridge + k8c-host-local, same
# config, same run. Run on demand (never by ctest):
#
#   sudo tests/bench/cni_bench.sh build/bin            # N=100 BIG=250 by default
#   N=20 BIG=50 tests/bench/cni_bench.sh build/bin     # quick
#
#   ┌────────────┐ ┌────────────┐     ┌──────────────┐
#   │ k8cbp-1-$$ │ │ k8cbp-2-$$ │ ... │ k8cbp-BIG-$$ │   pod namespaces, reused by every case
#   └─────┬──────┘ └─────┬──────┘     └──────┬───────┘
#   ┌─────┴──────────────┴───────────────────┴───────┐
#   │ k8cbn-$$  bridge k8cbb$$ 10.200.0.0/16          │   a fresh node namespace per case and
#   │ the timing driver and the plugins run here     │   implementation (first ADD makes the bridge)
#   └────────────────────────────────────────────────┘
#
# Timing: cni_bench.c (built here with cc) spawns each plugin with posix_spawn, writes the config
# on a pipe and waits; latency = spawn to exit, CLOCK_MONOTONIC. Sequential cases run one call at a
# time; parallel cases start all N at once and time each call from its own spawn. The spawn
# cost itself is shown as a baseline (/bin/true through the same path).
set -e
BINDIR=$(realpath -m "${1:-$(dirname "$0")/../../build/bin}")
cd "$(dirname "$0")"
SRC=$PWD
N=${N:-100}
BIG=${BIG:-250}
REF_DIR=${REF_DIR:-/usr/lib/cni}
TAG=$$

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root" >&2; exit 77; }
for t in ip jq cc; do command -v $t >/dev/null || { echo "SKIP: needs $t" >&2; exit 77; }; done
[[ -x $REF_DIR/bridge ]] || { echo "SKIP: no reference plugins in $REF_DIR" >&2; exit 77; }

NETNS=()
NODE=
WORK=$(mktemp -d "/tmp/k8c-cni-bench.$TAG.XXXXXX")
cleanup() {
	local rc=$? ns
	set +e
	[[ -n $NODE ]] && ip netns del "$NODE" 2>/dev/null
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf -- "$WORK"
	exit $rc
}
trap cleanup EXIT

cc -O2 -Wall -D_GNU_SOURCE -o "$WORK/cni_bench" "$SRC/cni_bench.c"

IMPLS=(ref)
if [[ -x $BINDIR/k8c-bridge && -x $BINDIR/k8c-host-local ]]; then
	IMPLS+=(ours)
else
	echo "note: $BINDIR/k8c-bridge not built; reference only" >&2
fi

PODS=$((BIG > N ? BIG : N))
echo "creating $PODS pod namespaces" >&2
for ((i = 1; i <= PODS; i++)); do
	ip netns add "k8cbp-$i-$TAG"
	NETNS+=("k8cbp-$i-$TAG")
done

conf_for() { # IMPL MASQ DATADIR
	local type=bridge ipam=host-local
	[[ $1 == ours ]] && type=k8c-bridge ipam=k8c-host-local
	jq -n -c --arg type "$type" --arg ipam "$ipam" --argjson masq "$2" --arg dir "$3" \
		--arg br "k8cbb$TAG" '{cniVersion: "1.0.0", name: "bench", type: $type, bridge: $br,
	    isGateway: true, ipMasq: $masq,
	    ipam: {type: $ipam, subnet: "10.200.0.0/16", dataDir: $dir, routes: [{dst: "0.0.0.0/0"}]}}'
}
dir_for() { [[ $1 == ours ]] && echo "$BINDIR" || echo "$REF_DIR"; }
plugin_for() { [[ $1 == ours ]] && echo "$BINDIR/k8c-bridge" || echo "$REF_DIR/bridge"; }

# drive IMPL CONF CMD FIRST COUNT PARALLEL: prints the driver's summary line; latencies go to
# $WORK/last.lat.
drive() {
	local out
	mkdir -p "$WORK/out"
	out=$(ip netns exec "$NODE" "$WORK/cni_bench" "$(plugin_for "$1")" "$(dir_for "$1")" "$2" \
		"/var/run/netns/k8cbp-%d-$TAG" "bench-%d-$TAG" "$3" "$4" "$5" "$6" "$WORK/out")
	sed -n 2p <<<"$out" >"$WORK/last.lat"
	sed -n 1p <<<"$out"
}

fresh_node() {
	[[ -n $NODE ]] && ip netns del "$NODE"
	NODE=k8cbn-$TAG
	ip netns add "$NODE"
	ip -n "$NODE" link set lo up
	rm -rf "$WORK/data" && mkdir -p "$WORK/data"
}

declare -A R # R[case,impl,ADD|DEL] = "p50 p99 max first last wall"

run_case() { # NAME MASQ PARALLEL
	local name=$1 masq=$2 par=$3 impl conf a d
	for impl in "${IMPLS[@]}"; do
		fresh_node
		conf_for "$impl" "$masq" "$WORK/data" >"$WORK/conf.json"
		a=$(drive "$impl" "$WORK/conf.json" ADD 1 "$N" "$par")
		d=$(drive "$impl" "$WORK/conf.json" DEL 1 "$N" "$par")
		R[$name,$impl,ADD]=${a#* }
		R[$name,$impl,DEL]=${d#* }
		echo "$name $impl ADD: $a | DEL: $d" >&2
	done
}

# Spawn baseline: /bin/true through the same driver.
fresh_node
echo '{}' >"$WORK/true.json"
base=$(ip netns exec "$NODE" "$WORK/cni_bench" /bin/true / "$WORK/true.json" - "x-%d" ADD 1 "$N" 0 "$WORK" | head -1)
echo "spawn baseline (/bin/true): $base" >&2

run_case "sequential, no masq" false 0
run_case "sequential, ipMasq" true 0
run_case "$N parallel, no masq" false 1
run_case "$N parallel, ipMasq" true 1

# BIG pods on one bridge: the BIG-th sequential ADD against the first (and the medians of the
# first and last ten, excluding the first, which also creates the bridge).
declare -A BIGR
for impl in "${IMPLS[@]}"; do
	fresh_node
	conf_for "$impl" false "$WORK/data" >"$WORK/conf.json"
	a=$(drive "$impl" "$WORK/conf.json" ADD 1 "$BIG" 0)
	BIGR[$impl]=$(jq -R -r 'split(" ") | map(tonumber) as $v | ($v | length) as $n
	    | ($v[1:11] | sort | .[5]) as $f10 | ($v[$n-10:] | sort | .[5]) as $l10
	    | "\($v[0]) \($v[$n-1]) \($f10) \($l10)"' "$WORK/last.lat")
	echo "$BIG pods $impl: first last first10-p50 last10-p50 = ${BIGR[$impl]}" >&2
	drive "$impl" "$WORK/conf.json" DEL 1 "$BIG" 0 >/dev/null
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }
f() { awk -v x="$1" 'BEGIN { if (x == "") printf "-"; else printf "%.1f", x }'; }

echo
echo "CNI bench: $(nproc) CPUs, N=$N, cniVersion 1.0.0, IPv4, ms (spawn to exit)."
echo "spawn baseline /bin/true: p50 $(f "$(cut -d' ' -f2 <<<"$base")") p99 $(f "$(cut -d' ' -f3 <<<"$base")")"
printf '%-24s %-4s %17s %17s %13s\n' case op "reference p50/p99" "ours p50/p99" "ours/ref"
for c in "sequential, no masq" "sequential, ipMasq" "$N parallel, no masq" "$N parallel, ipMasq"; do
	for op in ADD DEL; do
		read -r rp50 rp99 _ <<<"${R[$c,ref,$op]}"
		read -r op50 op99 _ <<<"${R[$c,ours,$op]:-}"
		printf '%-24s %-4s %17s %17s %13s\n' "$c" "$op" "$(f "$rp50") / $(f "$rp99")" \
			"$(f "$op50") / $(f "$op99")" "$(ratio "$op50" "$rp50") / $(ratio "$op99" "$rp99")"
	done
done
read -r rf rl rf10 rl10 <<<"${BIGR[ref]}"
read -r of ol of10 ol10 <<<"${BIGR[ours]:-}"
printf '%-24s %-4s %17s %17s\n' "$BIG pods on one bridge" "" "reference" "ours"
printf '%-24s %-4s %17s %17s\n' "  1st ADD" "" "$(f "$rf")" "$(f "$of")"
printf '%-24s %-4s %17s %17s\n' "  ${BIG}th ADD" "" "$(f "$rl")" "$(f "$ol")"
printf '%-24s %-4s %17s %17s\n' "  ${BIG}th / 1st" "" "$(ratio "$rl" "$rf")" "$(ratio "$ol" "$of")"
printf '%-24s %-4s %17s %17s\n' "  last10 / first10 p50" "" "$(ratio "$rl10" "$rf10")" "$(ratio "$ol10" "$of10")"

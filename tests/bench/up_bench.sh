#!/bin/bash
# k8c up/down benchmark (docs/BENCHMARKS.md "k8c up"), run on demand, root:
#   tests/bench/up_bench.sh <build>/bin [NODES] [RUNS]
# RUNS times (default 3): `k8c up --nodes NODES` (default 3) timed from the command's start to its
# return (it returns once every node is Ready, routes are in and the default ServiceAccount
# exists), then after IDLE seconds (default 10) the RSS and PSS of every daemon the cluster runs
# (server, agents, proxies, ingress), then `k8c down` timed. A cluster of its own name and state
# dir; removed on every exit path.
set -e
BIN=$(realpath "${1:?usage: $0 <build>/bin [NODES] [RUNS]}")
NODES=${2:-3}
RUNS=${3:-3}
IDLE=${IDLE:-10}
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 77; }
NAME=bench-$$
S=$(mktemp -d /tmp/k8c-upbench.XXXXXX)
trap '[[ -f $S/$NAME/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >/dev/null; rm -rf "$S"' EXIT
now() { date +%s.%N; }
printf '%-4s %8s %8s %9s %9s\n' run "up s" "down s" "RSS MiB" "PSS MiB"
for r in $(seq "$RUNS"); do
	t=$(now)
	"$BIN/k8c" up --name "$NAME" --nodes "$NODES" --state-dir "$S" >"$S/up.log" 2>&1 || { cat "$S/up.log"; exit 1; }
	up=$(echo "$(now) - $t" | bc)
	sleep "$IDLE"
	rss=0 pss=0
	for f in "$S/$NAME"/run/*.pid; do
		read -r pid _ <"$f"
		rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
		pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")))
	done
	t=$(now)
	"$BIN/k8c" down --name "$NAME" --state-dir "$S" >/dev/null
	down=$(echo "$(now) - $t" | bc)
	printf '%-4s %8.2f %8.2f %9.1f %9.1f\n' "$r" "$up" "$down" "$(echo "$rss / 1024" | bc -l)" "$(echo "$pss / 1024" | bc -l)"
done

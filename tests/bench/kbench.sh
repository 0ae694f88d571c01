#!/bin/bash
# `k8c bench` in both proxy modes (docs/BENCHMARKS.md "k8c bench"), run on demand, root:
#   tests/bench/kbench.sh <build>/bin [SECONDS] [ROUNDS] [NODES]
# For each proxy mode (MODES, default "nftables ebpf"): `k8c up --nodes NODES` (default 2) of a
# name and state dir of its own, `k8c bench --seconds SECONDS --rounds ROUNDS` (default 1 s, 3
# rounds: the median of 3) with its table, then
# one `=>` line per path and measure (value, and the ratio to pod IP on the same placement), and
# `k8c down`. The clusters are removed on every exit path.
set -e
BIN=$(realpath "${1:?usage: $0 <build>/bin [SECONDS] [ROUNDS] [NODES]}")
SECS=${2:-1}
ROUNDS=${3:-3}
NODES=${4:-2}
MODES=${MODES:-nftables ebpf}
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 77; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 77; }
S=$(mktemp -d /tmp/k8c-kbench.XXXXXX)
NAME=
cleanup() {
	[[ -n $NAME && -f $S/$NAME/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >/dev/null
	rm -rf "$S"
}
trap cleanup EXIT
for mode in $MODES; do
	NAME=kb-$mode-$$
	"$BIN/k8c" up --name "$NAME" --nodes "$NODES" --proxy-mode "$mode" --state-dir "$S" >"$S/up.log" 2>&1 ||
		{ cat "$S/up.log"; exit 1; }
	"$BIN/k8c" bench --name "$NAME" --state-dir "$S" --seconds "$SECS" --rounds "$ROUNDS" --out "$S/out-$mode" |
		sed -n '/^k8c bench:/,/^$/p'
	jq -r --arg mode "$mode" '.results[] | select(.value != null) |
		"=> k8c bench \($mode) \(.path) \(.placement) \(.kind): \(.value * 100 | round / 100) \(.unit), goal: recorded (no goal), ratio to pod IP \(if .ratioToPodIP == null then "-" else (.ratioToPodIP * 100 | round / 100 | tostring) end)"' \
		"$S/out-$mode/bench.json"
	jq -r --arg mode "$mode" '.results[] | select(.error != null) | "=> k8c bench \($mode) \(.path) \(.placement) \(.kind): FAILED \(.error)"' \
		"$S/out-$mode/bench.json"
	# SYNs the client retransmitted (a second each: a server's TIME_WAIT refused them, PAWS);
	# 0 expected since the client runs without random timestamp offsets (docs/up.md)
	jq -r --arg mode "$mode" '"=> k8c bench \($mode) SYN retransmissions: \([.results[] | .synRetrans // 0] | add), goal: 0, ratio -"' \
		"$S/out-$mode/bench.json"
	"$BIN/k8c" down --name "$NAME" --state-dir "$S" >/dev/null
	NAME=
done

#!/bin/bash
# Container start/remove latency through agent/runtime.c (runc + k8c-shim) and the shims' memory;
# figures in docs/BENCHMARKS.md. Run on demand (never by ctest), as root:
#
#   tests/bench/runtime_bench.sh build/bin          # N=50
#   N=10 tests/bench/runtime_bench.sh build/bin
#
# A busybox-static rootfs, a network namespace and a temp dir are made here and removed on exit.
set -e
BINDIR=$(realpath -m "${1:-$(dirname "$0")/../../build/bin}")
N=${N:-50}
TAG=$$
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root" >&2; exit 77; }
for t in ip runc busybox; do command -v $t >/dev/null || { echo "SKIP: needs $t" >&2; exit 77; }; done
[[ -x $BINDIR/runtime_bench && -x $BINDIR/k8c-shim ]] || { echo "SKIP: build runtime_bench and k8c-shim" >&2; exit 77; }

DIR=$(mktemp -d /tmp/k8c-rt-bench.XXXXXX)
NS=k8crtb-$TAG
export CGROUP_PARENT=/k8c-rt-bench-$TAG
cleanup() {
	local m
	set +e
	for id in $(runc --root "$DIR/runc" list -q 2>/dev/null); do runc --root "$DIR/runc" delete --force "$id"; done
	for m in $(awk '$5 ~ "^'"$DIR"'" {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
	for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		[[ -d $m$CGROUP_PARENT ]] && find "$m$CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR/lower/bin" "$DIR/lower/etc" "$DIR/logs"
cp "$(command -v busybox)" "$DIR/lower/bin/busybox"
for a in $(busybox --list); do [[ $a == busybox ]] || ln -s busybox "$DIR/lower/bin/$a"; done
ip netns add "$NS"

"$BINDIR/runtime_bench" --rootfs "$DIR/lower" --netns "/var/run/netns/$NS" --dir "$DIR" --n "$N"

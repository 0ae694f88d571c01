# shellcheck shell=bash
# For k8c-proxy --mode ebpf tests, sourced after lib.sh: a cgroup v2 directory of this test under
# the unified hierarchy (never the root) that this shell moves into, so every process it starts
# (clients in any network namespace, the proxy) is balanced by the programs attached there; a
# private bpffs mounted under the test's temp directory for the pinned maps and links. Sets
# EBPF_CG, EBPF_PIN, EBPF_ARGS (k8c-proxy's --cgroup-path and --bpf-pin-dir) and EBPF_HOOKS. On
# every exit path: the test's processes are stopped, the programs detached (pins removed), the
# bpffs unmounted, this shell moved back to its own cgroup and the directory removed.

EBPF_V2=/sys/fs/cgroup/unified
[[ -e $EBPF_V2/cgroup.procs ]] || EBPF_V2=/sys/fs/cgroup
[[ -e $EBPF_V2/cgroup.procs ]] || skip "no cgroup v2 hierarchy"
EBPF_HOME=$(sed -n 's/^0:://p' /proc/self/cgroup)
EBPF_CG=$EBPF_V2/k8c-test-ebpf-$TAG
EBPF_BPFFS=$LIB_BASE/bpffs
EBPF_PIN=$EBPF_BPFFS/k8c
EBPF_ARGS=(--cgroup-path "$EBPF_CG" --bpf-pin-dir "$EBPF_PIN")
# the cgroup hooks k8c-proxy attaches (a link pinned as link_<hook>_v1 each)
EBPF_HOOKS="connect4 sendmsg4 recvmsg4 getpeername4 connect6 sendmsg6 recvmsg6 getpeername6"

# ebpf_uncaged CMD...: run CMD in this shell's original cgroup, where no program of the test's
# sees its sockets (a client outside the node)
ebpf_uncaged() { sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$EBPF_V2$EBPF_HOME" "$@"; }

ebpf_cleanup() {
	local rc=$? p
	set +e
	for p in "${LIB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${LIB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	LIB_PIDS=()
	echo $$ >"$EBPF_V2$EBPF_HOME/cgroup.procs" 2>/dev/null || echo $$ >"$EBPF_V2/cgroup.procs"
	if [[ -d $EBPF_PIN ]]; then
		"$PROXY" --mode ebpf "${EBPF_ARGS[@]}" --cleanup 2>/dev/null || rm -rf -- "$EBPF_PIN"
	fi
	mountpoint -q "$EBPF_BPFFS" && umount "$EBPF_BPFFS"
	if [[ -d $EBPF_CG ]]; then
		for _ in $(seq 50); do rmdir "$EBPF_CG" 2>/dev/null && break; sleep 0.1; done
		[[ -d $EBPF_CG ]] && echo "WARN: $EBPF_CG not removed: $(cat "$EBPF_CG/cgroup.procs")" >&2
	fi
	(exit "$rc")
	lib_cleanup
}
trap ebpf_cleanup EXIT
mkdir "$EBPF_CG"
mkdir -p "$EBPF_BPFFS"
mount -t bpf bpf "$EBPF_BPFFS"
echo $$ >"$EBPF_CG/cgroup.procs"

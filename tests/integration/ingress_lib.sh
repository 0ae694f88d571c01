# shellcheck shell=bash
# Shared set-up of the k8c-ingress integration tests (ingress_*.sh), on top of server_lib.sh:
#
#   set -e
#   . "$(dirname "$0")/ingress_lib.sh"   # its argument: <build>/bin; skips without the binaries
#   ing_setup NAME                        # D, a k8c-server (--kube-minor 31), cleanup_all on exit
#   ... "$BIN/k8c-ingress" ... & ING_PID=$!; $PY backend.py & BACK_PIDS+=($!)
#
# cleanup_all stops the ingress controller and the backends the test recorded (by PID), then
# the server (srv_cleanup). ifail prints the ingress log ($D/ingress.log) before failing; ok
# reports a passed check.
. "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh"
[[ -x $BIN/k8c-ingress && -x $BIN/k8c-server ]] || { echo "SKIP: not built"; exit 77; }

ING_PID=
BACK_PIDS=()
cleanup_all() {
	set +e
	for p in $ING_PID "${BACK_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	srv_cleanup
}

# ing_setup NAME: the test's temp dir, the cleanup trap and a running k8c-server.
ing_setup() {
	srv_setup "$1"
	trap cleanup_all EXIT
	srv_instance "$D"
	srv_start 31
}

ifail() { echo "--- ingress log:" >&2; cat "$D/ingress.log" >&2; fail "$@"; }
ok() { echo "  ok: $*" >&2; }

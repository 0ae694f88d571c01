# shellcheck shell=bash
# Shared harness for the k8c-server integration tests (server_*.sh). No root needed. A test
# script starts with
#
#   set -e
#   . "$(dirname "$0")/server_lib.sh"   # its arguments: <build>/bin
#   srv_need_pyclient                    # if it runs the Python client
#   srv_setup NAME                       # D=/tmp/k8c-NAME-test.XXXXXX, removed at exit
#   srv_instance "$D"                    # data dir, log, port, URL, KUBECONFIG below $D
#   srv_start 31 [FLAGS...]              # k8c-server --kube-minor 31 FLAGS..., up on /healthz
#   ... k get ns; C "$U/api"; J -X POST -d '{...}' "$U/api/v1/namespaces"; fail "why" ...
#   srv_stop                             # SIGTERM; a non-zero exit status is a failure
#
# Sourcing sets BIN (the first argument, required) and PY, and exits 77 (skipped) without
# kubectl, curl or jq. srv_setup installs `trap srv_cleanup EXIT`, which stops only the server
# this test started (PID) and removes $D.
#
# One server runs at a time. Its instance, chosen by srv_instance DIR, is
#   DIR/data         --data-dir (state.db, pki/, admin.kubeconfig)
#   DIR/server.log   the server's stderr, appended across restarts: LOG, printed by fail
#   PORT, U          a free loopback port and https://127.0.0.1:PORT, kept across restarts
# so a test restarts the same instance with srv_stop; srv_start [another minor or flags], or
# runs several minors side by side in their own DIRs (srv_instance "$D/32").
#
# Controllers: k8c-server runs its controllers in-process by default (docs/controllers.md); srv_start
# turns them off (--controllers=) so that server tests see only what they do themselves. A test
# of controllers sets K8C_CONTROLLERS before srv_start: its value is passed as --controllers
# ("*" for all, "serviceaccount,nodeipam"...), together with whatever flags the test gives.
#
# k is kubectl with a --cache-dir of its own per instance and minor (SRV_CACHE, set by
# srv_start): kubectl's dispatcher caches the server's version per URL, and a restart with
# another --kube-minor must pick that kubectl. C is curl with the admin client cert; J is C
# with a JSON body.

BIN=${1:?usage: $0 <build>/bin}
PY=/usr/bin/python3
for t in kubectl curl jq; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done

D=
PID=
LOG=
SRV_DIR=
SRV_CACHE=

# srv_need_pyclient: the official Python client must be importable by $PY, else skip.
srv_need_pyclient() {
	$PY -c 'import kubernetes' 2>/dev/null || { echo "SKIP: $PY has no kubernetes module"; exit 77; }
}

# srv_setup NAME: the test's temp dir D and the cleanup trap.
srv_setup() {
	D=$(mktemp -d "/tmp/k8c-$1-test.XXXXXX")
	trap srv_cleanup EXIT
}
srv_cleanup() {
	if [[ -n $PID ]]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
	fi
	[[ -z $D ]] || rm -rf "$D"
}

fail() {
	echo "FAIL: $*" >&2
	echo "--- server log:" >&2
	cat "$LOG" >&2 || true
	exit 1
}

# srv_port: print a free loopback TCP port.
srv_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# srv_instance DIR: the server's files below DIR, a new free port, U and KUBECONFIG for it.
srv_instance() {
	SRV_DIR=$1
	mkdir -p "$SRV_DIR"
	LOG=$SRV_DIR/server.log
	PORT=$(srv_port)
	U=https://127.0.0.1:$PORT
	export KUBECONFIG=$SRV_DIR/data/admin.kubeconfig
}

# srv_start MINOR [FLAGS...]: run the server in the background and wait for /healthz.
srv_start() {
	local minor=$1
	shift
	SRV_CACHE=$SRV_DIR/cache.$minor
	"$BIN/k8c-server" --data-dir "$SRV_DIR/data" --secure-port "$PORT" --bind-address 127.0.0.1 \
		--kube-minor "$minor" --controllers="${K8C_CONTROLLERS-}" "$@" 2>>"$LOG" &
	PID=$!
	for _ in $(seq 100); do
		curl -sk "$U/healthz" 2>/dev/null | grep -qx ok && return 0
		kill -0 "$PID" 2>/dev/null || fail "server (--kube-minor $minor) exited at start"
		sleep 0.1
	done
	fail "server (--kube-minor $minor) not healthy on $U"
}

# srv_stop: SIGTERM, and the server must exit 0 (under ASan this is where leaks are reported).
srv_stop() {
	local pid=$PID
	PID=
	srv_term_ok "$pid" server fail
}

# srv_term_ok PID NAME FAIL: SIGTERM to the child PID; unless it exits 0, FAIL (a function such
# as fail) "NAME exit status N after SIGTERM".
srv_term_ok() {
	local rc=0
	kill -TERM "$1"
	wait "$1" || rc=$?
	[[ $rc == 0 ]] || "$3" "$2 exit status $rc after SIGTERM"
}

k() { kubectl --cache-dir "$SRV_CACHE" "$@"; }
C() { curl -s --cacert "$SRV_DIR/data/pki/ca.crt" --cert "$SRV_DIR/data/pki/admin.crt" --key "$SRV_DIR/data/pki/admin.key" "$@"; }
J() { C -H 'Content-Type: application/json' "$@"; }

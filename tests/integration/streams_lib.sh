# shellcheck shell=bash
# Shared by streams_logs.sh and streams_exec.sh: k8c-server (server_lib.sh) plus
# k8c_node_server_tool (agent/node_server.c serving log files from $LOGS and running exec'd
# commands on this host in $D/work) registered as Node $NODE (InternalIP 127.0.0.1,
# kubeletEndpoint port = the tool's port), and pods bound to it.
#
#   . "$(dirname "$0")/streams_lib.sh" <build>/bin
#   st_setup NAME MINOR        server + node tool up, node registered; NPORT, LOGS, NODE set
#   st_node NAME [FLAGS...]    another node tool (e.g. --reaper) registered as Node NAME
#   st_pod NAME NODE C1 [C2..] a Running pod with those containers on NODE ("" = unscheduled)
#   st_log POD CONTAINER LINE  append a CRI line ("<now> stdout F LINE") to the container's log
#   wait_for CMD...            poll CMD until it succeeds (20 s), else fail

. "$(dirname "$0")/server_lib.sh"

NPIDS=()
NPORT=
LOGS=
NODE=

st_cleanup() {
	local p
	for p in "${NPIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	NPIDS=()
	srv_cleanup
}

wait_for() {
	for _ in $(seq 200); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $*"
}

# st_node NAME [TOOL FLAGS...]: another k8c_node_server_tool (logs in $LOGS), registered as Node
# NAME; NPORT is its port.
st_node() {
	local name=$1
	shift
	rm -f "$D/$name.port"
	"$BIN/k8c_node_server_tool" --client-ca "$SRV_DIR/data/pki/ca.crt" --cert-dir "$D/nodepki" \
		--log-dir "$LOGS" --port 0 --port-file "$D/$name.port" --exec-cwd "$D/work" "$@" \
		2>>"${ST_NODE_LOG:-$D/node.log}" &
	NPIDS+=($!)
	for _ in $(seq 200); do
		[[ -s $D/$name.port ]] && break
		kill -0 "${NPIDS[-1]}" 2>/dev/null || fail "k8c_node_server_tool $* exited at start"
		sleep 0.1
	done
	NPORT=$(cat "$D/$name.port")
	J -X POST "$U/api/v1/nodes" -d '{"metadata":{"name":"'"$name"'"},"status":{
		"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"'"$name"'"}],
		"daemonEndpoints":{"kubeletEndpoint":{"Port":'"$NPORT"'}}}}' >/dev/null
	[[ $(C "$U/api/v1/nodes/$name" | jq -r .status.daemonEndpoints.kubeletEndpoint.Port) == "$NPORT" ]] ||
		fail "node $name was not registered with port $NPORT"
}

st_setup() {
	srv_setup "$1"
	trap st_cleanup EXIT
	srv_instance "$D"
	srv_start "$2"
	LOGS=$D/logs
	mkdir -p "$LOGS" "$D/work"
	NODE=node-$RANDOM
	st_node "$NODE"
}

st_pod() {
	local name=$1 node=$2 cs="" c
	shift 2
	for c in "$@"; do
		cs+="${cs:+,}{\"name\":\"$c\",\"image\":\"busybox\"}"
		: >"$LOGS/default_${name}_$c.log"
		: >"$LOGS/default_${name}_$c.running"
	done
	J -X POST "$U/api/v1/namespaces/default/pods" -d '{"metadata":{"name":"'"$name"'"},"spec":{
		"nodeName":"'"$node"'","containers":['"$cs"']}}' >/dev/null
	C -X PATCH -H "Content-Type: application/merge-patch+json" \
		"$U/api/v1/namespaces/default/pods/$name/status" -d '{"status":{"phase":"Running"}}' |
		jq -e '.status.phase == "Running"' >/dev/null || fail "pod $name status not set"
}

st_log() {
	printf '%s stdout F %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$3" >>"$LOGS/default_$1_$2.log"
}

#!/bin/bash
# kubectl logs and the Python client's read_namespaced_pod_log through k8c-server's pods/log to a
# node agent's /containerLogs (agent/node_server.c in k8c_node_server_tool): --tail, --limit-bytes,
# --timestamps, --since, -f (lines appended and a rotation while it streams; the end when the
# container stops; a client that goes away closes the server's connection to the node),
# --previous, -c, and the errors (container choice, unscheduled pod, unreachable node).
set -e
. "$(dirname "$0")/streams_lib.sh"
srv_need_pyclient
st_setup streams-logs 32

st_pod p1 "$NODE" c1
old=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%S.%NZ)
printf '%s stdout F from two hours ago\n' "$old" >>"$LOGS/default_p1_c1.log"
st_log p1 c1 "first line"
# a partial entry continues in the next one
printf '%s stderr P part-a \n%s stderr F part-b\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	"$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" >>"$LOGS/default_p1_c1.log"
st_log p1 c1 "last line"

out=$(k logs p1)
[[ $out == $'from two hours ago\nfirst line\npart-a part-b\nlast line' ]] || fail "logs: $out"
[[ $(k logs p1 --tail=1) == "last line" ]] || fail "--tail=1: $(k logs p1 --tail=1)"
[[ $(k logs p1 --tail=2) == $'part-a part-b\nlast line' ]] || fail "--tail=2: $(k logs p1 --tail=2)"
[[ $(k logs p1 --limit-bytes=1) == "f" ]] || fail "--limit-bytes=1: $(k logs p1 --limit-bytes=1)"
out=$(k logs p1 --timestamps | head -1)
[[ $out == "$old from two hours ago" ]] || fail "--timestamps: $out"
k logs p1 --timestamps | grep -Eq '^20[0-9-]+T[0-9:.]+Z part-a part-b$' || fail "--timestamps partial"
out=$(k logs p1 --since=1h)
[[ $out == $'first line\npart-a part-b\nlast line' ]] || fail "--since=1h: $out"

# the previous instance
printf '2026-01-01T00:00:00Z stdout F the previous run\n' >"$LOGS/default_p1_c1.previous.log"
[[ $(k logs p1 --previous) == "the previous run" ]] || fail "--previous: $(k logs p1 --previous)"
rm "$LOGS/default_p1_c1.previous.log"
out=$(k logs p1 --previous 2>&1) && fail "--previous without one succeeded: $out"
[[ $out == *'previous terminated container "c1" in pod "p1" not found'* ]] || fail "--previous: $out"

# several containers: -c, and the error without it
st_pod p2 "$NODE" a b
st_log p2 a "from a"
st_log p2 b "from b"
[[ $(k logs p2 -c b) == "from b" ]] || fail "-c b: $(k logs p2 -c b)"
out=$(C "$U/api/v1/namespaces/default/pods/p2/log")
[[ $(jq -r .message <<<"$out") == "a container name must be specified for pod p2, choose one of: [a b]" ]] ||
	fail "no container: $out"
[[ $(jq -r .code <<<"$out") == 400 ]] || fail "no container code: $out"
out=$(k logs p2 -c zz 2>&1) && fail "-c zz succeeded"
[[ $out == *"container zz is not valid for pod p2"* ]] || fail "-c zz: $out"
out=$(k logs nosuchpod 2>&1) && fail "logs of a missing pod succeeded"
[[ $out == *'pods "nosuchpod" not found'* ]] || fail "missing pod: $out"

# not scheduled; a node whose agent does not answer
st_pod p3 "" c1
out=$(k logs p3 2>&1) && fail "logs of an unscheduled pod succeeded"
[[ $out == *"pod p3 does not have a host assigned"* ]] || fail "unscheduled: $out"
dead=$(srv_port)
J -X POST "$U/api/v1/nodes" -d '{"metadata":{"name":"dead-'"$NODE"'"},"status":{
	"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],
	"daemonEndpoints":{"kubeletEndpoint":{"Port":'"$dead"'}}}}' >/dev/null
st_pod p4 "dead-$NODE" c1
out=$(k logs p4 2>&1) && fail "logs from an unreachable node succeeded"
[[ $out == *"the node agent of node dead-$NODE is unreachable at 127.0.0.1:$dead"* ]] ||
	fail "unreachable: $out"

# -f: streams what is appended (also across a rotation), ends when the container stopped
k logs p1 -f --tail=1 >"$D/follow.out" 2>"$D/follow.err" &
FPID=$!
wait_for grep -qx "last line" "$D/follow.out"
st_log p1 c1 "appended while following"
wait_for grep -qx "appended while following" "$D/follow.out"
mv "$LOGS/default_p1_c1.log" "$LOGS/default_p1_c1.log.20260101-000000"
st_log p1 c1 "after the rotation"
wait_for grep -qx "after the rotation" "$D/follow.out"
kill -0 "$FPID" 2>/dev/null || fail "kubectl logs -f ended while the container runs"
rm "$LOGS/default_p1_c1.running"
rc=0
wait_for bash -c "! kill -0 $FPID 2>/dev/null"
wait "$FPID" || rc=$?
[[ $rc == 0 ]] || fail "kubectl logs -f exit status $rc: $(cat "$D/follow.err")"
[[ $(cat "$D/follow.out") == $'last line\nappended while following\nafter the rotation' ]] ||
	fail "follow output: $(cat "$D/follow.out")"
# --tail reaches into the rotated file
[[ $(k logs p1 --tail=2) == $'appended while following\nafter the rotation' ]] ||
	fail "--tail=2 across the rotation: $(k logs p1 --tail=2)"

# a follower that goes away: the server closes its connection to the node, and the node its own
: >"$LOGS/default_p1_c1.running"
# (either end open: established or close-wait on the node's side)
node_conns() {
	test "$(ss -Htn state established state close-wait "( sport = :$NPORT )" | wc -l)" "$1" "$2"
}
(exec kubectl --cache-dir "$SRV_CACHE" logs p1 -f >/dev/null 2>&1) &
FPID=$!
wait_for node_conns -ge 1
kill "$FPID"
wait "$FPID" 2>/dev/null || true
wait_for node_conns -eq 0

# the Python client
$PY - "$KUBECONFIG" <<'EOF' || fail "python read_namespaced_pod_log"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
out = v1.read_namespaced_pod_log("p1", "default", tail_lines=1)
assert out == "after the rotation\n", repr(out)
out = v1.read_namespaced_pod_log("p2", "default", container="a")
assert out == "from a\n", repr(out)
out = v1.read_namespaced_pod_log("p1", "default", limit_bytes=5)
assert out == "after", repr(out)
try:
    v1.read_namespaced_pod_log("p2", "default")
    raise SystemExit("no error without a container")
except client.rest.ApiException as e:
    assert e.status == 400, e.status
EOF
echo "streams_logs: ok"

#!/bin/bash
# kubectl exec (WebSocket v5.channel.k8s.io) and the Python client's stream() (v4) through
# k8c-server's pods/exec to a node agent's /exec (agent/node_server.c in k8c_node_server_tool,
# which runs the command on this host in $D/work): stdout and stderr, exit codes, -i with stdin
# (closed by v5's channel 255), -c, a tty, and the errors; kubectl 1.29 over SPDY/3.1.
set -e
. "$(dirname "$0")/streams_lib.sh"
srv_need_pyclient
$PY -c 'import websocket' 2>/dev/null || { echo "SKIP: $PY has no websocket module"; exit 77; }
st_setup streams-exec 32
st_pod p1 "$NODE" c1

rc=0
out=$(k exec p1 -- sh -c 'echo hi; exit 3' 2>"$D/err") || rc=$?
[[ $out == hi ]] || fail "exec stdout: $out"
[[ $rc == 3 ]] || fail "exec exit status $rc, want 3: $(cat "$D/err")"
grep -q "command terminated with exit code 3" "$D/err" || fail "exec stderr: $(cat "$D/err")"
[[ $(k exec p1 -- pwd) == "$D/work" ]] || fail "exec pwd: $(k exec p1 -- pwd)"
out=$(k exec p1 -- sh -c 'echo to-out; echo to-err >&2' 2>"$D/err")
[[ $out == to-out ]] || fail "exec stdout: $out"
[[ $(cat "$D/err") == to-err ]] || fail "exec stderr: $(cat "$D/err")"
# -i: stdin reaches the command, and its end (v5 close) ends cat
out=$(printf 'line 1\nline 2\n' | k exec -i p1 -- cat)
[[ $out == $'line 1\nline 2' ]] || fail "exec -i: $out"
out=$(head -c 300000 /dev/zero | tr '\0' x | k exec -i p1 -- wc -c)
[[ $out == 300000 ]] || fail "exec -i of 300000 bytes: $out"
# kubectl cp: binary data both ways (tar through exec's stdin and stdout)
head -c 1000000 /dev/urandom >"$D/blob"
k cp "$D/blob" "p1:$D/work/blob.in" >/dev/null 2>&1 || fail "kubectl cp to the pod"
cmp -s "$D/blob" "$D/work/blob.in" || fail "kubectl cp to the pod: contents differ"
k cp "p1:$D/work/blob.in" "$D/blob.out" >/dev/null 2>&1 || fail "kubectl cp from the pod"
cmp -s "$D/blob" "$D/blob.out" || fail "kubectl cp from the pod: contents differ"
out=$(k exec -v=6 p1 -- true 2>&1)
[[ $out == *"The subprotocol is v5.channel.k8s.io"* ]] || fail "not v5: $out"

# several containers
st_pod p2 "$NODE" a b
[[ $(k exec p2 -c b -- echo in-b) == in-b ]] || fail "exec -c b"
out=$(k exec p2 -c zz -- true 2>&1) && fail "exec -c zz succeeded"
[[ $out == *"container zz is not valid for pod p2"* ]] || fail "exec -c zz: $out"
out=$(C -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: v5.channel.k8s.io' \
	--http1.1 "$U/api/v1/namespaces/default/pods/p2/exec?command=true&stdout=true")
[[ $(jq -r .message <<<"$out") == "a container name must be specified for pod p2, choose one of: [a b]" ]] ||
	fail "exec without a container: $out"
# a request without an upgrade, and SPDY without a protocol the node speaks, get a 400 that says why
out=$(C --http1.1 "$U/api/v1/namespaces/default/pods/p1/exec?command=true&stdout=true")
[[ $(jq -r .code <<<"$out") == 400 && $(jq -r .message <<<"$out") == "Upgrade request required"* ]] ||
	fail "no upgrade: $out"
out=$(C -X POST -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' --http1.1 \
	"$U/api/v1/namespaces/default/pods/p1/exec?command=true&stdout=true")
[[ $(jq -r .code <<<"$out") == 400 && $(jq -r .message <<<"$out") == *"v4.channel.k8s.io only"* ]] ||
	fail "SPDY without a protocol: $out"
# a completed pod
C -X PATCH -H "Content-Type: application/merge-patch+json" \
	"$U/api/v1/namespaces/default/pods/p2/status" -d '{"status":{"phase":"Succeeded"}}' >/dev/null
out=$(C -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: v5.channel.k8s.io' \
	--http1.1 "$U/api/v1/namespaces/default/pods/p2/exec?command=true&stdout=true&container=a")
[[ $(jq -r .message <<<"$out") == "cannot exec into a container in a completed pod; current phase is Succeeded" ]] ||
	fail "completed pod: $out"

# the Python client: v4, output, exit codes, stdin, a tty
$PY - "$KUBECONFIG" "$D/work" <<'EOF' || fail "python stream() exec"
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
out = stream(v1.connect_get_namespaced_pod_exec, "p1", "default",
             command=["sh", "-c", "echo py-out; pwd"], stderr=True, stdin=False, stdout=True, tty=False)
assert out == "py-out\n" + sys.argv[2] + "\n", repr(out)
r = stream(v1.connect_get_namespaced_pod_exec, "p1", "default",
           command=["sh", "-c", "echo e >&2; exit 5"], stderr=True, stdin=False, stdout=True,
           tty=False, _preload_content=False)
r.run_forever(timeout=20)
assert r.returncode == 5, r.returncode
assert r.read_stderr() == "e\n"
r = stream(v1.connect_get_namespaced_pod_exec, "p1", "default",
           command=["sh", "-c", "read x; echo got $x"], stderr=True, stdin=True, stdout=True,
           tty=False, _preload_content=False)
r.write_stdin("hello\n")
r.run_forever(timeout=20)
assert r.read_stdout() == "got hello\n", "stdin"
assert r.returncode == 0, r.returncode
r = stream(v1.connect_get_namespaced_pod_exec, "p1", "default", command=["tty"], stderr=True,
           stdin=True, stdout=True, tty=True, _preload_content=False)
r.run_forever(timeout=20)
out = r.read_stdout()
assert out.startswith("/dev/pts/"), repr(out)
EOF
# an embedder that reaps its children itself (ops.wait_exit): exit codes still come through
st_node "reaper-$NODE" --reaper
st_pod p5 "reaper-$NODE" c1
rc=0
out=$(k exec p5 -- sh -c 'echo from-reaper; exit 7' 2>/dev/null) || rc=$?
[[ $out == from-reaper && $rc == 7 ]] || fail "exec with --reaper: $out, exit status $rc"
[[ $(k exec p5 -- true; echo $?) == 0 ]] || fail "exec true with --reaper"

# kubectl 1.29 speaks SPDY/3.1 (remotecommand v4 over SPDY streams)
srv_stop
srv_start 29
rc=0
out=$(k exec p1 -- sh -c 'echo hi; exit 3' 2>"$D/err") || rc=$?
[[ $out == hi && $rc == 3 ]] || fail "SPDY exec: $out, exit status $rc: $(cat "$D/err")"
out=$(k exec -v=8 p1 -- true 2>&1)
[[ $out == *"Upgrade: [SPDY/3.1]"* || $out == *"SPDY/3.1"* ]] || fail "kubectl 1.29 did not use SPDY: $out"
out=$(k exec p1 -- sh -c 'echo to-out; echo to-err >&2' 2>"$D/err")
[[ $out == to-out && $(cat "$D/err") == to-err ]] || fail "SPDY stdout/stderr: $out"
out=$(head -c 300000 /dev/zero | tr '\0' x | k exec -i p1 -- wc -c)
[[ $out == 300000 ]] || fail "SPDY exec -i of 300000 bytes: $out"
rm -f "$D/blob.out"
k cp "p1:$D/work/blob.in" "$D/blob.out" >/dev/null 2>&1 || fail "kubectl cp over SPDY"
cmp -s "$D/blob" "$D/blob.out" || fail "kubectl cp over SPDY: contents differ"
out=$(k exec p1 -c zz -- true 2>&1) && fail "SPDY exec -c zz succeeded"
[[ $out == *"container zz is not valid for pod p1"* ]] || fail "SPDY exec -c zz: $out"
echo "streams_exec: ok"

#!/bin/bash
# k8c-server against the real clients: kubectl (the dispatcher picks kubectl 1.<minor> from the
# server's /version) and the official Python client, for Namespaces. No root needed.
#
#   kubectl / python3 kubernetes ──TLS (admin client cert)──► k8c-server 127.0.0.1:$PORT
#                                                              └─ $D/state.db, $D/pki
# Usage: server_kubectl.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup server
srv_instance "$D"

# Flags.
"$BIN/k8c-server" --help | grep -q -- --data-dir || fail "--help"
rc=0; "$BIN/k8c-server" --no-such-flag 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "unknown flag: exit $rc, want 2"
rc=0; "$BIN/k8c-server" --secure-port 70000 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "bad port: exit $rc, want 2"
rc=0; "$BIN/k8c-server" --bind-address nowhere 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "bad bind address: exit $rc, want 2"

srv_start 31
grep -q "level=info component=k8c-server msg=listening url=https://127.0.0.1:$PORT kube_minor=31" "$D/server.log" || fail "no listening log line"
grep -q "msg=\"admin kubeconfig\" path=$KUBECONFIG" "$D/server.log" || fail "no kubeconfig log line"

# Discovery and errors, raw.
[[ $(C "$U/version" | jq -r .gitVersion) == v1.31.0 ]] || fail "/version"
[[ $(C "$U/api" | jq -r '.versions[0]') == v1 ]] || fail "/api"
[[ $(C "$U/apis" | jq -r .kind) == APIGroupList ]] || fail "/apis"
[[ $(C "$U/api/v1" | jq -r '.resources[] | select(.name=="namespaces") | .shortNames[0]') == ns ]] || fail "/api/v1"
[[ $(C -o /dev/null -w '%{http_code} %{size_download} %{content_type}' "$U/openapi/v2") == "200 0 application/octet-stream" ]] || fail "/openapi/v2"
[[ $(C "$U/no/such/path" | jq -r '.reason + " " + (.code|tostring)') == "NotFound 404" ]] || fail "unknown path"
out=$(curl -sk -w ' %{http_code}' "$U/api")
[[ $out == *'"reason":"Unauthorized"'*' 401' ]] || fail "no client cert: $out"
[[ $(curl -sk --http1.1 -o /dev/null -w '%{http_code}' "$U/api/v1/namespaces") == 401 ]] || fail "401 over HTTP/1.1"
[[ $(C --http2 -o /dev/null -w '%{http_version}' "$U/version") == 2 ]] || fail "HTTP/2 not negotiated"
[[ $(C -X POST -H 'Content-Type: application/json' -d '{bad' "$U/api/v1/namespaces" | jq -r .code) == 400 ]] || fail "bad JSON"
[[ $(C -X POST -H 'Content-Type: application/json' -d '[1]' "$U/api/v1/namespaces" | jq -r .code) == 400 ]] || fail "JSON array"
[[ $(C -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":7}}' "$U/api/v1/namespaces" | jq -r .code) == 400 ]] || fail "name not a string"
[[ $(C -X POST -H 'Content-Type: application/json' -d '{}' "$U/api/v1/namespaces" | jq -r .reason) == Invalid ]] || fail "no name"
[[ $(C -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' -d 'k8s' "$U/api/v1/namespaces" | jq -r .code) == 400 ]] || fail "protobuf without the k8s\\0 magic"
[[ $(head -c 4000000 /dev/zero | C --http1.1 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @- "$U/api/v1/namespaces") == 413 ]] || fail "4 MB body"
[[ $(C "$U/api/v1/namespaces?labelSelector=a+in+(b" | jq -r .code) == 400 ]] || fail "malformed set selector"
gen=$(C -X POST -H 'Content-Type: application/json' -d '{"metadata":{"generateName":"gen-"}}' "$U/api/v1/namespaces" | jq -r .metadata.name)
[[ $gen =~ ^gen-[a-z0-9]{5}$ ]] || fail "generateName gave '$gen'"
# PUT: stale resourceVersion is a Conflict, a current one updates the labels.
rv=$(C "$U/api/v1/namespaces/$gen" | jq -r .metadata.resourceVersion)
put() { C -X PUT -H 'Content-Type: application/json' -d "{\"metadata\":{\"name\":\"$gen\",\"resourceVersion\":\"$1\",\"labels\":{\"k\":\"v\"}}}" "$U/api/v1/namespaces/$gen"; }
[[ $(put "$rv" | jq -r .metadata.labels.k) == v ]] || fail "PUT"
[[ $(put "$rv" | jq -r .reason) == Conflict ]] || fail "stale PUT"
# DELETE answers the namespace Terminating; the server's namespace finalizer then removes it.
[[ $(C -X DELETE "$U/api/v1/namespaces/$gen" | jq -r '"\(.metadata.name) \(.status.phase)"') == "$gen Terminating" ]] || fail "DELETE"
for _ in $(seq 100); do
	[[ $(C "$U/api/v1/namespaces/$gen" | jq -r .reason) == NotFound ]] && break
	sleep 0.1
done
[[ $(C "$U/api/v1/namespaces/$gen" | jq -r .reason) == NotFound ]] || fail "GET after DELETE"

# kubectl.
out=$(k get ns)
for ns in default kube-system kube-public kube-node-lease; do
	grep -Eq "^$ns +Active +[0-9]" <<<"$out" || fail "kubectl get ns: no $ns Active in: $out"
done
cat >"$D/ns.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: x
  labels:
    team: a
YAML
k create -f "$D/ns.yaml" | grep -q 'namespace/x created' || fail "kubectl create"
k get ns x -o json >"$D/x.json"
jq -e '(.metadata.uid | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))
	and (.metadata.creationTimestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))
	and (.metadata.resourceVersion | test("^[0-9]+$"))
	and .status.phase == "Active" and .spec.finalizers == ["kubernetes"]' "$D/x.json" >/dev/null \
	|| fail "kubectl get ns x -o json: $(cat "$D/x.json")"
[[ $(k get ns x -o jsonpath='{.status.phase}') == Active ]] || fail "jsonpath"
k get ns -l team=a --no-headers | grep -q '^x ' || fail "label selector"
[[ $(k get ns --field-selector metadata.name=x -o name) == namespace/x ]] || fail "field selector"
out=$(k create -f "$D/ns.yaml" 2>&1) && fail "second create succeeded"
grep -q AlreadyExists <<<"$out" || fail "second create: $out"
sed 's/name: x/name: Bad_Name/' "$D/ns.yaml" >"$D/bad.yaml"
out=$(k create -f "$D/bad.yaml" 2>&1) && fail "invalid name accepted"
grep -q 'is invalid: metadata.name: Invalid value: "Bad_Name"' <<<"$out" || fail "invalid name: $out"
# PATCH: kubectl label (merge patch) and apply (strategic merge patch) on the existing object.
k label ns x foo=bar >/dev/null || fail "kubectl label"
sed 's/team: a/team: b/' "$D/ns.yaml" >"$D/ns2.yaml"
k apply -f "$D/ns2.yaml" 2>/dev/null | grep -q 'namespace/x configured' || fail "kubectl apply"
[[ $(k get ns x -o jsonpath='{.metadata.labels.team}/{.metadata.labels.foo}') == b/bar ]] || fail "labels after patch"
k delete ns x | grep -q 'namespace "x" deleted' || fail "kubectl delete"
out=$(k get ns x 2>&1) && fail "x still there"
grep -q NotFound <<<"$out" || fail "get after delete: $out"

# kubectl get -w: the list, then a watch answered with one-row Tables.
timeout 4 kubectl --cache-dir "$SRV_CACHE" get ns -w >"$D/getw.out" 2>&1 &
WPID=$!
sleep 1.5
C -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"w0"}}' "$U/api/v1/namespaces" >/dev/null
wait $WPID || true
grep -Eq '^default +Active' "$D/getw.out" && grep -Eq '^w0 +Active' "$D/getw.out" || fail "kubectl get -w: $(cat "$D/getw.out")"
C -X DELETE "$U/api/v1/namespaces/w0" >/dev/null

# The Python client, watch included.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys, threading, time
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
names = {n.metadata.name for n in v1.list_namespace().items}
assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names, names
ns = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py1")))
assert ns.status.phase == "Active" and ns.metadata.uid, ns
assert v1.read_namespace("py1").metadata.name == "py1"
def later():
    time.sleep(1)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py2")))
threading.Thread(target=later).start()
seen = []
t0 = time.time()
for ev in watch.Watch().stream(v1.list_namespace, timeout_seconds=5):
    seen.append((ev["type"], ev["object"].metadata.name))
assert ("ADDED", "py2") in seen, seen
assert time.time() - t0 < 15, "watch did not end at its timeout"
v1.delete_namespace("py1")
v1.delete_namespace("py2")
# they go Terminating, then the server's namespace finalizer removes them
for _ in range(100):
    names = {n.metadata.name for n in v1.list_namespace().items}
    if "py1" not in names and "py2" not in names:
        break
    time.sleep(0.1)
assert "py1" not in names and "py2" not in names, names
print("python: list, create, read, watch, delete ok")
PYTHON

# A watch from a given revision sees MODIFIED and DELETED, over HTTP/1.1 and HTTP/2.
rv=$(C "$U/api/v1/namespaces" | jq -r .metadata.resourceVersion)
for v in --http1.1 --http2; do
	C $v -N "$U/api/v1/namespaces?watch=true&resourceVersion=$rv&timeoutSeconds=3" >"$D/watch$v" &
done
sleep 0.5
C -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"w1"}}' "$U/api/v1/namespaces" >/dev/null
C -X PUT -H 'Content-Type: application/json' -d '{"metadata":{"name":"w1","labels":{"x":"y"}}}' "$U/api/v1/namespaces/w1" >/dev/null
C -X DELETE "$U/api/v1/namespaces/w1" >/dev/null
wait $(jobs -p | grep -v "^$PID\$") 2>/dev/null || true
for v in --http1.1 --http2; do
	got=$(jq -r '.type + " " + .object.metadata.name' "$D/watch$v" | tr '\n' ,)
	# the label, then Terminating; the finalize that empties spec.finalizers deletes it
	[[ $got == "ADDED w1,MODIFIED w1,MODIFIED w1,DELETED w1," ]] || fail "watch $v: $got"
done

# Restart on the same data dir keeps what was created; other kubectl minors work.
k create -f "$D/ns.yaml" >/dev/null || fail "create before restart"
srv_stop
grep -q "msg=stopping signal=SIGTERM" "$D/server.log" || fail "no stop log line"
for MINOR in 27 33; do
	srv_start $MINOR
	[[ $(k version -o json 2>/dev/null | jq -r '.clientVersion.minor + "/" + .serverVersion.minor') == "$MINOR/$MINOR" ]] || fail "kubectl 1.$MINOR not picked"
	out=$(k get ns)
	grep -Eq '^x +Active' <<<"$out" || fail "kubectl 1.$MINOR after restart: $out"
	srv_stop
done

# Compaction every second: a watch from a compacted revision is 200, then an ERROR event with a
# 410 Expired Status, which the Python client turns into ApiException 410.
srv_start 31 --compact-interval 1
C -X POST -H 'Content-Type: application/json' -d '{"metadata":{"name":"c1"}}' "$U/api/v1/namespaces" >/dev/null
sleep 2.5
out=$(C "$U/api/v1/namespaces?watch=1&resourceVersion=1&timeoutSeconds=1" | jq -r '.type + " " + .object.reason + " " + (.object.code|tostring) + " " + .object.message')
[[ $out =~ ^"ERROR Expired 410 too old resource version: 1 ("[0-9]+")"$ ]] || fail "watch of a compacted revision: $out"
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python watch of a compacted revision"
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
try:
    for ev in watch.Watch().stream(client.CoreV1Api().list_namespace, resource_version="1",
                                   timeout_seconds=2):
        pass
    sys.exit("no exception")
except client.exceptions.ApiException as e:
    assert e.status == 410, e
PYTHON
srv_stop
echo "server_kubectl: ok"

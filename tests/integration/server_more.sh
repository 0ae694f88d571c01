#!/bin/bash
# k8c-server's list pagination (limit/continue, 410 after compaction), the `kubernetes` Service
# with its Endpoints/EndpointSlice, NodePort allocation, field selectors and kubectl describe,
# against the real kubectl and the Python client. No root needed.
#
#   kubectl / python3 kubernetes / curl ──TLS──► k8c-server 127.0.0.1:$PORT --compact-interval 1
#                                                 └─ $D/data (state.db, pki)
# Usage: server_more.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup more
srv_instance "$D"
srv_start 31 --compact-interval 1

# The kubernetes Service, its Endpoints and EndpointSlice.
out=$(k get svc kubernetes -n default 2>&1) || fail "get svc kubernetes: $out"
grep -Eq '^kubernetes +ClusterIP +10\.96\.0\.1 +<none> +443/TCP' <<<"$out" || fail "svc kubernetes: $out"
out=$(k get endpoints kubernetes 2>&1) || fail "get endpoints kubernetes: $out"
grep -q "127.0.0.1:$PORT" <<<"$out" || fail "endpoints kubernetes: $out"
[[ $(C "$U/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes" | jq -r '[.addressType, .endpoints[0].addresses[0], .ports[0].port, .metadata.labels["kubernetes.io/service-name"]] | join(" ")') == "IPv4 127.0.0.1 $PORT kubernetes" ]] || fail "endpointslice kubernetes"
[[ $(C "$U/api/v1/namespaces/default/services/kubernetes" | jq -r '.spec.ports[0] | "\(.name) \(.targetPort)"') == "https $PORT" ]] || fail "kubernetes targetPort"
# 10.96.0.1 is never given to another Service.
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"steal"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":80}]}}' "$U/api/v1/namespaces/default/services")
[[ $code == 422 ]] || fail "10.96.0.1 handed out: $code $(cat "$D/out")"

# Pagination: kubectl --chunk-size, curl with limit/continue.
for i in 1 2 3 4 5; do
	J -X POST -d "{\"metadata\":{\"name\":\"p$i\"},\"spec\":{\"nodeName\":\"n$((i % 2))\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}" "$U/api/v1/namespaces/default/pods" >/dev/null
done
out=$(k get pods --chunk-size=2 -v=6 2>&1) || fail "get --chunk-size: $out"
[[ $(grep -c '^p[1-5] ' <<<"$out") == 5 ]] || fail "chunked get: $out"
grep -q 'pods?continue=.*limit=2 200' <<<"$out" || fail "kubectl did not page: $out"
names=() tok= pages=0
while :; do
	q="limit=2"
	[[ -n $tok ]] && q="$q&continue=$tok"
	page=$(C "$U/api/v1/namespaces/default/pods?$q")
	names+=($(jq -r '.items[].metadata.name' <<<"$page"))
	pages=$((pages + 1))
	tok=$(jq -r '.metadata.continue // empty' <<<"$page")
	[[ -n $tok ]] || break
	[[ $(jq -r '.items | length' <<<"$page") == 2 ]] || fail "short page: $page"
done
[[ ${names[*]} == "p1 p2 p3 p4 p5" && $pages == 3 ]] || fail "paged list: ${names[*]} in $pages pages"
# A page with a field selector is filled up to the limit.
page=$(C "$U/api/v1/namespaces/default/pods?limit=2&fieldSelector=spec.nodeName%3Dn1")
[[ $(jq -r '[.items[].metadata.name] | join(" ")' <<<"$page") == "p1 p3" ]] || fail "paged filter: $page"
tok=$(jq -r '.metadata.continue' <<<"$page")
page=$(C "$U/api/v1/namespaces/default/pods?limit=2&fieldSelector=spec.nodeName%3Dn1&continue=$tok")
[[ $(jq -r '([.items[].metadata.name] | join(" ")) + "|" + (.metadata.continue // "")' <<<"$page") == "p5|" ]] || fail "paged filter 2: $page"
# A bad token is 400; resourceVersion reads.
[[ $(C -o /dev/null -w '%{http_code}' "$U/api/v1/pods?limit=2&continue=garbage") == 400 ]] || fail "bad continue token"
rv=$(C "$U/api/v1/namespaces/default/pods" | jq -r .metadata.resourceVersion)
[[ $(C -o /dev/null -w '%{http_code}' "$U/api/v1/pods?resourceVersion=$((rv + 1000))") == 504 ]] || fail "future resourceVersion"
[[ $(C "$U/api/v1/namespaces/default/pods?resourceVersion=$rv&resourceVersionMatch=Exact" | jq -r '.metadata.resourceVersion') == "$rv" ]] || fail "exact resourceVersion"

# Python client: list_namespaced_pod(limit=2) following _continue.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
names, tok, pages = [], None, 0
while True:
    kw = {"limit": 2}
    if tok:
        kw["_continue"] = tok
    l = v1.list_namespaced_pod("default", **kw)
    names += [p.metadata.name for p in l.items]
    pages += 1
    tok = l.metadata._continue
    if not tok:
        break
assert names == ["p1", "p2", "p3", "p4", "p5"] and pages == 3, (names, pages)
l = v1.list_namespaced_pod("default", field_selector="spec.nodeName=n0")
assert [p.metadata.name for p in l.items] == ["p2", "p4"], l.items
try:
    v1.list_namespaced_pod("default", field_selector="spec.bogus=1")
    sys.exit("bogus field selector accepted")
except client.exceptions.ApiException as e:
    assert e.status == 400 and "spec.bogus" in e.body, e
print("python: paged list and field selectors ok")
PYTHON

# Field selectors: metadata.name everywhere, type for secrets, an unsupported key is 400.
[[ $(C "$U/api/v1/namespaces?fieldSelector=metadata.name%3Dkube-system" | jq -r '[.items[].metadata.name] | join(",")') == kube-system ]] || fail "metadata.name selector"
k create secret generic s1 --from-literal=a=b >/dev/null
k create secret docker-registry s2 --docker-server=r --docker-username=u --docker-password=p >/dev/null
[[ $(C "$U/api/v1/namespaces/default/secrets?fieldSelector=type%3DOpaque" | jq -r '[.items[].metadata.name] | join(",")') == s1 ]] || fail "secret type selector"
C -o "$D/out" "$U/api/v1/namespaces/default/configmaps?fieldSelector=type%3Dx"
[[ $(jq -r '"\(.code) \(.reason) \(.message)"' "$D/out") == "400 BadRequest field label not supported: type" ]] || fail "unsupported field selector: $(cat "$D/out")"

# The continue token of a compacted revision is 410 Expired.
page=$(C "$U/api/v1/namespaces/default/pods?limit=2")
tok=$(jq -r .metadata.continue <<<"$page")
# p1 is scheduled (spec.nodeName): a plain delete would wait for its node agent's grace period
k delete pod p1 --grace-period=0 --force >/dev/null 2>&1
k label pod p2 x=1 >/dev/null
sleep 3
C -o "$D/out" "$U/api/v1/namespaces/default/pods?limit=2&continue=$tok"
[[ $(jq -r '"\(.code) \(.reason)"' "$D/out") == "410 Expired" ]] || fail "continue after compaction: $(cat "$D/out")"

# NodePorts: allocated in range, a taken one is 422 naming the field, released on delete.
cat >"$D/np.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: np1
spec:
  type: NodePort
  selector: {app: a}
  ports:
  - port: 80
YAML
k create -f "$D/np.yaml" >/dev/null || fail "create NodePort service"
np=$(k get svc np1 -o jsonpath='{.spec.ports[0].nodePort}')
((np >= 30000 && np <= 32767)) || fail "nodePort $np"
k get svc np1 | grep -q "80:$np/TCP" || fail "get svc np1: $(k get svc np1)"
sed -e 's/np1/np2/' -e "s/- port: 80/- port: 80\n    nodePort: $np/" "$D/np.yaml" >"$D/np2.yaml"
out=$(k create -f "$D/np2.yaml" 2>&1) && fail "taken nodePort accepted: $out"
grep -q 'spec.ports\[0\].nodePort: Invalid value: '"$np"': provided port is already allocated' <<<"$out" || fail "taken nodePort: $out"
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"np3"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":80}]}}' "$U/api/v1/namespaces/default/services")
[[ $code == 422 && $(jq -r '.details.causes[0].field' "$D/out") == "spec.ports[0].nodePort" ]] || fail "out-of-range nodePort: $code $(cat "$D/out")"
# An update keeps the port; back to ClusterIP releases it.
k label svc np1 x=1 >/dev/null
[[ $(k get svc np1 -o jsonpath='{.spec.ports[0].nodePort}') == "$np" ]] || fail "nodePort changed on update"
k delete svc np1 >/dev/null
k create -f "$D/np2.yaml" >/dev/null || fail "nodePort not released on delete"
[[ $(k get svc np2 -o jsonpath='{.spec.ports[0].nodePort}') == "$np" ]] || fail "requested nodePort"
k patch svc np2 -p '{"spec":{"type":"ClusterIP"}}' >/dev/null || fail "patch to ClusterIP"
[[ $(k get svc np2 -o jsonpath='{.spec.ports[0].nodePort}') == "" ]] || fail "nodePort kept on ClusterIP"
k create -f "$D/np2.yaml" -o name 2>/dev/null | grep -q . && fail "np2 created twice"
sed 's/np2/np4/' "$D/np2.yaml" | k create -f - >/dev/null || fail "nodePort not released by ClusterIP update"

# kubectl describe (lists events with fieldSelector involvedObject.*).
uid=$(k get pod p3 -o jsonpath='{.metadata.uid}')
J -X POST -d '{"metadata":{"name":"ev1"},"involvedObject":{"kind":"Pod","name":"p3","namespace":"default","uid":"'"$uid"'"},"reason":"Testing","message":"hello from the test","type":"Normal","source":{"component":"test"},"count":1}' "$U/api/v1/namespaces/default/events" >/dev/null
out=$(k describe pod p3 -v=6 2>&1) || fail "describe pod: $out"
grep -q 'events?fieldSelector=involvedObject' <<<"$out" || fail "describe pod did not list events: $out"
grep -q 'hello from the test' <<<"$out" || fail "describe pod events: $out"
k create deployment web --image=nginx:1 >/dev/null || fail "create deployment"
out=$(k describe deployment web 2>&1) || fail "describe deployment: $out"
grep -q 'web' <<<"$out" || fail "describe deployment: $out"
out=$(k describe namespace default 2>&1) || fail "describe namespace: $out"
grep -q 'Status: *Active' <<<"$out" || fail "describe namespace: $out"
[[ $(C "$U/api/v1/events?fieldSelector=involvedObject.name%3Dp3,involvedObject.kind%3DPod" | jq -r '.items | length') == 1 ]] || fail "involvedObject selector"

# A restart keeps the kubernetes Service and the allocations (bootstrap is idempotent).
srv_stop
srv_start 31 --compact-interval 1
[[ $(C "$U/api/v1/namespaces/default/services?fieldSelector=metadata.name%3Dkubernetes" | jq -r '.items | length') == 1 ]] || fail "kubernetes service after restart"
[[ $(k get svc np4 -o jsonpath='{.spec.ports[0].nodePort}') == "$np" ]] || fail "nodePort after restart"
srv_stop
! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$D/server.log" || fail "sanitizer report"
echo "server_more: ok"

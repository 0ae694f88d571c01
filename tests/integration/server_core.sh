#!/bin/bash
# k8c-server's core v1 resources against the real clients: kubectl create/apply/get/delete of
# ConfigMaps, Secrets, Pods, Services, ServiceAccounts in a namespace, defaults, validation, and
# the Python client's CRUD and watch on ConfigMaps and Pods. No root needed.
#
#   kubectl / python3 kubernetes ──TLS (admin client cert)──► k8c-server 127.0.0.1:$PORT
#                                                              └─ $D/data (state.db, pki)
# Usage: server_core.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup core
srv_instance "$D"
srv_start 31

# Discovery from the registry.
disc=$(C "$U/api/v1")
for r in pods:po services:svc configmaps:cm serviceaccounts:sa endpoints:ep events:ev nodes:no \
	persistentvolumes:pv persistentvolumeclaims:pvc resourcequotas:quota limitranges:limits \
	replicationcontrollers:rc namespaces:ns; do
	[[ $(jq -r ".resources[] | select(.name==\"${r%%:*}\") | .shortNames[0]" <<<"$disc") == "${r##*:}" ]] || fail "discovery of $r"
done
[[ $(jq -r '.resources[] | select(.name=="nodes") | .namespaced' <<<"$disc") == false ]] || fail "nodes scope"
[[ $(jq -r '.resources[] | select(.name=="pods") | .categories[0]' <<<"$disc") == all ]] || fail "pods category"
[[ $(jq -r '.resources[] | select(.name=="pods/status") | .kind' <<<"$disc") == Pod ]] || fail "pods/status"

k create namespace x >/dev/null 2>&1 || k create -f - >/dev/null <<<'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}' || fail "namespace x"

cat >"$D/app.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  a: "1"
  b: two
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
stringData:
  password: hunter2
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: robot
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.25
    ports:
    - containerPort: 80
  - name: side
    image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
YAML
out=$(k create -n x -f "$D/app.yaml") || fail "kubectl create -f: $out"
for o in configmap/cfg secret/sec serviceaccount/robot pod/web service/web; do
	grep -q "^$o created" <<<"$out" || fail "create $o: $out"
done

# Table columns as Kubernetes prints them.
out=$(k get pods -n x)
grep -Eq '^NAME +READY +STATUS +RESTARTS +AGE$' <<<"$out" || fail "pod columns: $out"
grep -Eq '^web +0/2 +Pending +0 +[0-9]+s$' <<<"$out" || fail "pod row: $out"
out=$(k get pods -n x -o wide)
grep -Eq '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES$' <<<"$out" || fail "pod wide columns: $out"
grep -Eq '^web +0/2 +Pending +0 +[0-9]+s +<none> +<none> +<none> +<none>$' <<<"$out" || fail "pod wide row: $out"
out=$(k get svc,cm,secrets,sa -n x)
grep -Eq '^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE$' <<<"$out" || fail "svc columns: $out"
grep -Eq '^service/web +ClusterIP +10\.[0-9.]+ +<none> +80/TCP +[0-9]+s$' <<<"$out" || fail "svc row: $out"
grep -Eq '^NAME +DATA +AGE$' <<<"$out" && grep -Eq '^configmap/cfg +2 +[0-9]+s$' <<<"$out" || fail "cm: $out"
grep -Eq '^NAME +TYPE +DATA +AGE$' <<<"$out" && grep -Eq '^secret/sec +Opaque +1 +[0-9]+s$' <<<"$out" || fail "secret: $out"
grep -Eq '^NAME +SECRETS +AGE$' <<<"$out" && grep -Eq '^serviceaccount/robot +0 +[0-9]+s$' <<<"$out" || fail "sa: $out"
out=$(k get svc web -n x -o wide)
grep -Eq '^web +ClusterIP .* app=web$' <<<"$out" || fail "svc wide: $out"
out=$(k get all -n x)
grep -q '^pod/web ' <<<"$out" && grep -q '^service/web ' <<<"$out" || fail "get all: $out"

# Defaults.
k get pod web -n x -o yaml >"$D/pod.yaml"
k get pod web -n x -o json | jq -e '.spec.restartPolicy == "Always" and .spec.dnsPolicy == "ClusterFirst"
	and .spec.terminationGracePeriodSeconds == 30 and .spec.schedulerName == "default-scheduler"
	and .spec.containers[0].imagePullPolicy == "IfNotPresent" and .spec.containers[1].imagePullPolicy == "Always"
	and .spec.containers[0].terminationMessagePath == "/dev/termination-log"
	and .spec.containers[0].terminationMessagePolicy == "File"
	and .spec.containers[0].ports[0].protocol == "TCP"
	and .status.phase == "Pending" and .metadata.namespace == "x" and .metadata.generation == 1' >/dev/null \
	|| fail "pod defaults: $(cat "$D/pod.yaml")"
grep -q 'restartPolicy: Always' "$D/pod.yaml" || fail "pod -o yaml"
k get svc web -n x -o json | jq -e '.spec.type == "ClusterIP" and .spec.sessionAffinity == "None"
	and .spec.ports[0].protocol == "TCP" and .spec.ports[0].targetPort == 80' >/dev/null || fail "service defaults"
[[ $(k get secret sec -n x -o jsonpath='{.data.password}' | base64 -d) == hunter2 ]] || fail "stringData"

# ClusterIPs: allocated in 10.96.0.0/12, a taken or out-of-range request is a 422, headless gets none.
ip=$(k get svc web -n x -o jsonpath='{.spec.clusterIP}')
$PY -c "import ipaddress,sys; sys.exit(ipaddress.ip_address('$ip') not in ipaddress.ip_network('10.96.0.0/12'))" || fail "clusterIP $ip"
[[ $(k get svc web -n x -o jsonpath='{.spec.clusterIPs[0]}') == "$ip" ]] || fail "clusterIPs"
svc() { J -X POST -d "{\"metadata\":{\"name\":\"$1\"},\"spec\":{\"clusterIP\":\"$2\",\"ports\":[{\"port\":80}]}}" "$U/api/v1/namespaces/x/services"; }
[[ $(svc taken "$ip" | jq -r '.code, .details.causes[0].field' | tr '\n' ' ') == "422 spec.clusterIPs " ]] || fail "taken clusterIP"
[[ $(svc far 192.168.0.1 | jq -r .code) == 422 ]] || fail "clusterIP out of range"
[[ $(svc fixed 10.96.0.10 | jq -r .spec.clusterIP) == 10.96.0.10 ]] || fail "requested clusterIP"
[[ $(svc headless None | jq -r .spec.clusterIP) == None ]] || fail "headless"
C -X DELETE "$U/api/v1/namespaces/x/services/fixed" >/dev/null
[[ $(svc fixed2 10.96.0.10 | jq -r .spec.clusterIP) == 10.96.0.10 ]] || fail "clusterIP not released on delete"
C -X DELETE "$U/api/v1/namespaces/x/services/fixed2" >/dev/null
C -X DELETE "$U/api/v1/namespaces/x/services/headless" >/dev/null
[[ $(k get secret sec -n x -o jsonpath='{.type}') == Opaque ]] || fail "secret type"

# apply: unchanged is a no-op, a changed image is a strategic merge patch keeping the rest.
k apply -n x -f "$D/app.yaml" >/dev/null 2>&1 || true
sed 's/nginx:1.25/nginx:1.26/' "$D/app.yaml" >"$D/app2.yaml"
out=$(k apply -n x -f "$D/app2.yaml" 2>&1) || fail "apply: $out"
grep -q 'pod/web configured' <<<"$out" || fail "apply pod: $out"
k get pod web -n x -o json | jq -e '.spec.containers[0].image == "nginx:1.26" and
	.spec.containers[0].ports[0].containerPort == 80 and (.spec.containers | length) == 2' >/dev/null \
	|| fail "pod after apply: $(k get pod web -n x -o json)"
out=$(k apply -n x -f "$D/app2.yaml" 2>&1) || fail "re-apply: $out"
grep -q 'pod/web unchanged' <<<"$out" || fail "re-apply: $out"

# Errors: a missing namespace, a namespace mismatch, an invalid pod, bad base64, immutability.
out=$(k create -n nosuch -f - 2>&1 <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}') && fail "create in a missing namespace"
grep -q 'namespaces "nosuch" not found' <<<"$out" || fail "missing namespace: $out"
[[ $(J -X POST -d '{"metadata":{"name":"c","namespace":"y"}}' "$U/api/v1/namespaces/x/configmaps" | jq -r .code) == 400 ]] || fail "namespace mismatch"
out=$(k create -n x -f - 2>&1 <<<'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"containers":[]}}') && fail "pod without containers"
grep -q 'spec.containers: Required value' <<<"$out" || fail "pod without containers: $out"
st=$(J -X POST -d '{"metadata":{"name":"bad"},"spec":{"containers":[{"name":"c"}]}}' "$U/api/v1/namespaces/x/pods")
[[ $(jq -r '.code, .reason, .details.causes[0].field' <<<"$st" | tr '\n' ' ') == "422 Invalid spec.containers[0].image " ]] || fail "pod without image: $st"
st=$(J -X POST -d '{"metadata":{"name":"s2"},"data":{"k":"not base64!"}}' "$U/api/v1/namespaces/x/secrets")
[[ $(jq -r '.code, .details.causes[0].field' <<<"$st" | tr '\n' ' ') == "422 data[k] " ]] || fail "bad base64: $st"
J -X POST -d '{"metadata":{"name":"frozen"},"data":{"a":"1"},"immutable":true}' "$U/api/v1/namespaces/x/configmaps" >/dev/null
st=$(C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"data":{"a":"2"}}' "$U/api/v1/namespaces/x/configmaps/frozen")
[[ $(jq -r '.code, .details.causes[0].field' <<<"$st" | tr '\n' ' ') == "422 data " ]] || fail "immutable configmap: $st"
st=$(C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"spec":{"restartPolicy":"Never"}}' "$U/api/v1/namespaces/x/pods/web")
[[ $(jq -r .code <<<"$st") == 422 ]] || fail "pod spec update: $st"
[[ $(J -X POST -d '{"metadata":{"name":"Bad_Name"}}' "$U/api/v1/namespaces/x/configmaps" | jq -r .reason) == Invalid ]] || fail "bad name"
[[ $(J -X POST -d '{"metadata":{"name":"1svc"},"spec":{"ports":[{"port":80}]}}' "$U/api/v1/namespaces/x/services" | jq -r .reason) == Invalid ]] || fail "DNS-1035 service name"

# /status: a status update changes only the status; a main-resource update keeps the status.
J -X PUT -d '{"metadata":{"name":"web","namespace":"x"},"status":{"phase":"Running","podIP":"10.0.0.5"}}' "$U/api/v1/namespaces/x/pods/web/status" >/dev/null
[[ $(k get pod web -n x -o jsonpath='{.status.phase}/{.status.podIP}/{.spec.containers[0].name}') == Running/10.0.0.5/nginx ]] || fail "pods/status"

# Cluster-scoped resources and cross-namespace lists.
J -X POST -d '{"metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":""}},"status":{"conditions":[{"type":"Ready","status":"True"}],"nodeInfo":{"kubeletVersion":"v1.31.0"}}}' "$U/api/v1/nodes" >/dev/null
out=$(k get nodes)
grep -Eq '^n1 +Ready +control-plane +[0-9]+s +v1.31.0$' <<<"$out" || fail "nodes (a create may set their status): $out"
J -X POST -d '{"metadata":{"name":"pv1"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/tmp"}},"status":{"phase":"Bound"}}' "$U/api/v1/persistentvolumes" >/dev/null
out=$(k get pv)
grep -Eq '^pv1 +1Gi +RWO +Retain +Pending +<unset> +[0-9]+s$' <<<"$out" || fail "pv (status reset on create): $out"
k get pods -A | grep -Eq '^x +web +0/2 +Running' || fail "get pods -A: $(k get pods -A)"
J -X POST -d '{"metadata":{"name":"cfg"},"data":{}}' "$U/api/v1/namespaces/default/configmaps" >/dev/null
[[ $(C "$U/api/v1/configmaps?fieldSelector=metadata.namespace=x" | jq -r '[.items[].metadata.name] | join(",")') == cfg,frozen ]] || fail "field selector metadata.namespace"
[[ $(C "$U/api/v1/configmaps" | jq -r '.items | length') == 3 ]] || fail "cross-namespace list"

# The Python client.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys, threading, time
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
cm = v1.create_namespaced_config_map("x", client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="py"), data={"k": "v"}))
assert cm.metadata.namespace == "x" and cm.data == {"k": "v"}, cm
assert "py" in [c.metadata.name for c in v1.list_namespaced_config_map("x").items]
cm = v1.patch_namespaced_config_map("py", "x", {"data": {"k2": "v2"}})
assert cm.data == {"k": "v", "k2": "v2"}, cm.data
pod = client.V1Pod(metadata=client.V1ObjectMeta(name="pyp", labels={"a": "b"}),
                   spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
p = v1.create_namespaced_pod("x", pod)
assert p.status.phase == "Pending" and p.spec.containers[0].image_pull_policy == "IfNotPresent", p
p = v1.patch_namespaced_pod("pyp", "x", {"metadata": {"labels": {"c": "d"}}})
assert p.metadata.labels == {"a": "b", "c": "d"}, p.metadata.labels
names = {(q.metadata.namespace, q.metadata.name) for q in v1.list_pod_for_all_namespaces().items}
assert ("x", "pyp") in names and ("x", "web") in names, names
assert [q.metadata.name for q in v1.list_namespaced_pod("x", label_selector="a=b").items] == ["pyp"]
def later():
    time.sleep(1)
    v1.delete_namespaced_pod("pyp", "x")
threading.Thread(target=later).start()
seen = []
for ev in watch.Watch().stream(v1.list_namespaced_pod, "x", timeout_seconds=4):
    seen.append((ev["type"], ev["object"].metadata.name))
assert ("ADDED", "pyp") in seen and ("DELETED", "pyp") in seen, seen
v1.delete_namespaced_config_map("py", "x")
try:
    v1.read_namespaced_config_map("py", "x")
    sys.exit("configmap still there")
except client.exceptions.ApiException as e:
    assert e.status == 404, e
try:
    v1.create_namespaced_pod("x", client.V1Pod(metadata=client.V1ObjectMeta(name="bad"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="")])))
    sys.exit("invalid pod accepted")
except client.exceptions.ApiException as e:
    assert e.status == 422, e
print("python: configmap and pod create, list, patch, delete, watch ok")
PYTHON

# kubectl delete -f, deletecollection, and a namespace's objects going with it.
out=$(k delete -n x -f "$D/app2.yaml" 2>&1) || fail "delete -f: $out"
grep -q 'pod "web" deleted' <<<"$out" && grep -q 'service "web" deleted' <<<"$out" || fail "delete -f: $out"
[[ $(k get pods,svc,sa -n x -o name) == "" ]] || fail "left after delete -f: $(k get pods,svc,sa -n x -o name)"
J -X POST -d '{"metadata":{"name":"e1","labels":{"g":"1"}}}' "$U/api/v1/namespaces/x/endpoints" >/dev/null
J -X POST -d '{"metadata":{"name":"e2","labels":{"g":"1"}}}' "$U/api/v1/namespaces/x/endpoints" >/dev/null
[[ $(C -X DELETE "$U/api/v1/namespaces/x/endpoints?labelSelector=g%3D1" | jq -r '.items | length') == 2 ]] || fail "deletecollection"
k delete ns x >/dev/null || fail "delete ns"
[[ $(C "$U/api/v1/configmaps" | jq -r '[.items[].metadata.namespace] | unique | join(",")') == default ]] || fail "namespace contents not deleted"
# A clean stop (under ASan this is where leaks are reported).
srv_stop
! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$D/server.log" || fail "sanitizer report"
echo "server_core: ok"

#!/bin/bash
# k8c-server's named API groups against the real clients: discovery (/apis, api-resources with
# short names), kubectl create/apply/get of a Deployment, a DaemonSet, an Ingress, a StorageClass
# and a Role+RoleBinding with kubectl's columns, `kubectl scale` through the /scale subresource,
# a strategic-merge apply of a changed image, a 422 for a selector that misses the template's
# labels, and the Python client's AppsV1Api / NetworkingV1Api. No root needed.
#
#   kubectl / python3 kubernetes ──TLS (admin client cert)──► k8c-server 127.0.0.1:$PORT
#                                                              └─ $D/data (state.db, pki)
# Usage: server_groups.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup groups
srv_instance "$D"
srv_start 31

# Discovery: the group list, one group, one group version, and kubectl's view of it.
groups=$(C "$U/apis")
[[ $(jq -r .kind <<<"$groups") == APIGroupList ]] || fail "/apis: $groups"
for g in apps networking.k8s.io discovery.k8s.io storage.k8s.io coordination.k8s.io \
	events.k8s.io rbac.authorization.k8s.io; do
	[[ $(jq -r ".groups[] | select(.name==\"$g\") | .preferredVersion.groupVersion" <<<"$groups") == "$g/v1" ]] || fail "/apis lacks $g"
done
[[ $(C "$U/apis/apps" | jq -r '.kind + " " + .versions[0].version') == "APIGroup v1" ]] || fail "/apis/apps"
apps=$(C "$U/apis/apps/v1")
[[ $(jq -r .groupVersion <<<"$apps") == apps/v1 ]] || fail "/apis/apps/v1: $apps"
[[ $(jq -r '.resources[] | select(.name=="deployments/scale") | .group + "/" + .version + " " + .kind' <<<"$apps") == "autoscaling/v1 Scale" ]] || fail "deployments/scale"
[[ $(C -o /dev/null -w '%{http_code}' "$U/apis/nope/v1") == 404 ]] || fail "unknown group"
ar=$(k api-resources 2>&1) || fail "api-resources: $ar"
for r in deployments:deploy:apps/v1 replicasets:rs:apps/v1 daemonsets:ds:apps/v1 \
	statefulsets:sts:apps/v1 ingresses:ing:networking.k8s.io/v1 \
	networkpolicies:netpol:networking.k8s.io/v1 storageclasses:sc:storage.k8s.io/v1; do
	IFS=: read -r name short gv <<<"$r"
	grep -Eq "^$name +$short +$gv " <<<"$ar" || fail "api-resources lacks $r: $ar"
done
for r in ingressclasses endpointslices leases roles rolebindings clusterroles clusterrolebindings; do
	grep -Eq "^$r " <<<"$ar" || fail "api-resources lacks $r"
done

cat >"$D/app.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
      - name: side
        image: busybox:1.36
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      nodeSelector:
        kubernetes.io/os: linux
      containers:
      - name: agent
        image: busybox:1.36
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  ingressClassName: k8c
  rules:
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: k8c.io/local
volumeBindingMode: WaitForFirstConsumer
YAML
cat >"$D/rbac.yaml" <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read-pods
subjects:
- kind: User
  name: jane
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: Role
  name: reader
  apiGroup: rbac.authorization.k8s.io
YAML
out=$(k create -f "$D/app.yaml" 2>&1) || fail "create -f: $out"
grep -q 'deployment.apps/web created' <<<"$out" && grep -q 'storageclass.storage.k8s.io/local created' <<<"$out" || fail "create -f: $out"
out=$(k apply -f "$D/rbac.yaml" 2>&1) || fail "apply -f rbac: $out"
grep -q 'rolebinding.rbac.authorization.k8s.io/read-pods created' <<<"$out" || fail "apply -f rbac: $out"

# Defaults.
dep=$(k get deploy web -o json)
[[ $(jq -r '[.spec.replicas, .spec.strategy.type, .spec.strategy.rollingUpdate.maxSurge, .spec.strategy.rollingUpdate.maxUnavailable, .spec.revisionHistoryLimit, .spec.progressDeadlineSeconds, .metadata.generation, .spec.template.spec.restartPolicy, .spec.template.spec.containers[0].imagePullPolicy] | join(" ")' <<<"$dep") == "1 RollingUpdate 25% 25% 10 600 1 Always IfNotPresent" ]] || fail "deployment defaults: $dep"
[[ $(k get ds agent -o jsonpath='{.spec.updateStrategy.type} {.spec.updateStrategy.rollingUpdate.maxUnavailable}') == "RollingUpdate 1" ]] || fail "daemonset defaults"
[[ $(k get sc local -o jsonpath='{.reclaimPolicy}') == Delete ]] || fail "storageclass defaults"

# kubectl's columns.
out=$(k get deploy,rs,ds,ing,sc -A 2>&1) || fail "get -A: $out"
grep -Eq '^NAMESPACE +NAME +READY +UP-TO-DATE +AVAILABLE +AGE' <<<"$out" || fail "deploy columns: $out"
grep -Eq '^default +deployment.apps/web +0/1 +0 +0 ' <<<"$out" || fail "deploy row: $out"
grep -Eq '^NAMESPACE +NAME +DESIRED +CURRENT +READY +UP-TO-DATE +AVAILABLE +NODE SELECTOR +AGE' <<<"$out" || fail "ds columns: $out"
grep -Eq '^default +daemonset.apps/agent +0 +0 +0 +0 +0 +kubernetes.io/os=linux ' <<<"$out" || fail "ds row: $out"
grep -Eq '^default +ingress.networking.k8s.io/web +k8c +web.example.com +80 ' <<<"$out" || fail "ing row: $out"
grep -Eq 'storageclass.storage.k8s.io/local \(default\) +k8c.io/local +Delete +WaitForFirstConsumer +false ' <<<"$out" || fail "sc row: $out"
out=$(k get deploy web -o wide)
grep -Eq '^web +0/1 +0 +0 +[0-9]+s +nginx,side +nginx:1.25,busybox:1.36 +app=web$' <<<"$out" || fail "deploy -o wide: $out"
out=$(k get rolebinding read-pods -o wide)
grep -Eq '^read-pods +Role/reader +[0-9]+s +jane ' <<<"$out" || fail "rolebinding -o wide: $out"
grep -Eq '^reader +20' <<<"$(k get role)" || fail "role: $(k get role)"

# kubectl scale through /scale, with and without --current-replicas (GET + PUT of the Scale).
out=$(k scale deploy web --replicas=3 2>&1) || fail "scale: $out"
[[ $(k get deploy web -o jsonpath='{.spec.replicas}') == 3 ]] || fail "replicas after scale"
[[ $(k get deploy web -o jsonpath='{.metadata.generation}') == 2 ]] || fail "generation after scale"
out=$(k scale deploy web --current-replicas=3 --replicas=2 2>&1) || fail "scale --current-replicas: $out"
[[ $(k get deploy web -o jsonpath='{.spec.replicas}') == 2 ]] || fail "replicas after PUT scale"
! k scale deploy web --current-replicas=7 --replicas=1 >/dev/null 2>&1 || fail "scale precondition ignored"
sc=$(C "$U/apis/apps/v1/namespaces/default/deployments/web/scale")
[[ $(jq -r '[.kind, .apiVersion, .spec.replicas, .status.selector] | join(" ")' <<<"$sc") == "Scale autoscaling/v1 2 app=web" ]] || fail "GET scale: $sc"
[[ $(C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"spec":{"replicas":-1}}' -o /dev/null -w '%{http_code}' "$U/apis/apps/v1/namespaces/default/deployments/web/scale") == 422 ]] || fail "negative replicas"

# apply of a changed image: a strategic merge on containers by name keeps the other container.
sed 's/nginx:1.25/nginx:1.26/' "$D/app.yaml" >"$D/app2.yaml"
out=$(k apply -f "$D/app2.yaml" 2>&1) || fail "apply: $out"
[[ $(k get deploy web -o jsonpath='{.spec.template.spec.containers[*].image}') == "nginx:1.26 busybox:1.36" ]] || fail "apply image: $(k get deploy web -o yaml)"
[[ $(k get deploy web -o jsonpath='{.metadata.generation}') == 4 ]] || fail "generation after apply: $(k get deploy web -o jsonpath='{.metadata.generation}')"
out=$(k apply -f "$D/app2.yaml" 2>&1) || fail "apply again: $out"
[[ $(k get deploy web -o jsonpath='{.metadata.generation}') == 4 ]] || fail "generation bumped without a spec change"

# A selector that does not match the template's labels is a 422 and nothing is written.
out=$(k create -f - 2>&1 <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels:
      app: one
  template:
    metadata:
      labels:
        app: two
    spec:
      containers:
      - name: c
        image: busybox
YAML
) && fail "invalid deployment accepted"
grep -qF 'spec.template.metadata.labels: Invalid value: map[string]string{"app":"two"}: `selector` does not match template `labels`' <<<"$out" || fail "422 message: $out"
st=$(C -H 'Content-Type: application/json' -X POST -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad"},"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}' "$U/apis/apps/v1/namespaces/default/deployments")
[[ $(jq -r '[.code, .reason, .details.group, .details.causes[0].field] | join(" ")' <<<"$st") == "422 Invalid apps spec.selector" ]] || fail "selector required: $st"
[[ $(C -o /dev/null -w '%{http_code}' "$U/apis/apps/v1/namespaces/default/deployments/bad") == 404 ]] || fail "invalid deployment stored"
st=$(C -H 'Content-Type: application/json' -X POST -d '{"apiVersion":"v1","kind":"Deployment","metadata":{"name":"x"}}' "$U/apis/apps/v1/namespaces/default/deployments")
[[ $(jq -r .code <<<"$st") == 400 ]] || fail "wrong apiVersion accepted: $st"

# events.k8s.io Events are stored apart from core Events.
C -H 'Content-Type: application/json' -X POST -d '{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e1"},"eventTime":"2026-01-01T00:00:00.000000Z","type":"Normal","reason":"Test","note":"hello","reportingController":"t","reportingInstance":"t","action":"Test","regarding":{"kind":"Pod","name":"p"}}' "$U/apis/events.k8s.io/v1/namespaces/default/events" >/dev/null
[[ $(C "$U/apis/events.k8s.io/v1/events" | jq -r '.items[0].note') == hello ]] || fail "events.k8s.io event"
[[ $(C "$U/api/v1/namespaces/default/events" | jq -r '.items | length') == 0 ]] || fail "events.k8s.io event in core events"

# The Python client.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
apps = client.AppsV1Api()
dep = client.V1Deployment(metadata=client.V1ObjectMeta(name="py"),
    spec=client.V1DeploymentSpec(selector=client.V1LabelSelector(match_labels={"app": "py"}),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))))
d = apps.create_namespaced_deployment("default", dep)
assert d.spec.replicas == 1 and d.spec.strategy.type == "RollingUpdate", d.spec
assert "py" in [x.metadata.name for x in apps.list_namespaced_deployment("default").items]
assert {"py", "web"} <= {x.metadata.name for x in apps.list_deployment_for_all_namespaces().items}
d = apps.patch_namespaced_deployment("py", "default", {"spec": {"replicas": 2}})
assert d.spec.replicas == 2 and d.metadata.generation == 2, (d.spec.replicas, d.metadata.generation)
s = apps.read_namespaced_deployment_scale("py", "default")
assert s.spec.replicas == 2 and s.status.selector == "app=py", s
s = apps.patch_namespaced_deployment_scale("py", "default", {"spec": {"replicas": 5}})
assert s.spec.replicas == 5, s
apps.delete_namespaced_deployment("py", "default")
try:
    apps.read_namespaced_deployment("py", "default")
    sys.exit("deployment still there")
except client.exceptions.ApiException as e:
    assert e.status == 404, e
net = client.NetworkingV1Api()
assert [i.metadata.name for i in net.list_ingress_for_all_namespaces().items] == ["web"]
assert [i.metadata.name for i in net.list_namespaced_ingress("default").items] == ["web"]
rbac = client.RbacAuthorizationV1Api()
assert [r.metadata.name for r in rbac.list_namespaced_role("default").items] == ["reader"]
print("python: deployment create, list, patch, scale, delete; ingress and role list ok")
PYTHON

# delete -f, and a namespace's objects of the named groups going with it.
out=$(k delete -f "$D/app2.yaml" -f "$D/rbac.yaml" 2>&1) || fail "delete -f: $out"
[[ $(k get deploy,ds,ing,role,rolebinding -o name) == "" ]] || fail "left after delete -f"
[[ $(k get sc -o name) == "" ]] || fail "storageclass left"
k create namespace y >/dev/null
k create -n y -f "$D/app.yaml" >/dev/null 2>&1 || true
k delete ns y >/dev/null || fail "delete ns"
[[ $(C "$U/apis/apps/v1/deployments" | jq -r '.items | length') == 0 ]] || fail "namespace's deployments not deleted"

srv_stop
! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$D/server.log" || fail "sanitizer report"
echo "server_groups: ok"

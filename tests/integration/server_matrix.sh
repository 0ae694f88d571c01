#!/bin/bash
# k8c-server against kubectl 1.27, 1.31 and 1.33 (one server per minor, --kube-minor picks the
# kubectl) and the official Python client: apply (create, change, unchanged), get (-o wide with
# kubectl's columns for every kind, -o yaml, -o jsonpath, -w), describe, label, annotate, patch
# (merge, strategic), scale, delete -f --wait, the typed `kubectl create` commands, run, get all,
# kube's validation messages through kubectl, and the course's manifests (tests/integration/
# course/*.yaml) applied, listed and deleted. No root needed.
#
#   kubectl 1.<minor> / python3 kubernetes ──TLS──► k8c-server --kube-minor <minor> 127.0.0.1:$PORT
#                                                    └─ $D/<minor>/data
# Usage: server_matrix.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup matrix
COURSE=$(cd "$(dirname "$0")/course" && pwd)

# header KIND: the header line of `kubectl get KIND -o wide`, single-spaced.
header() { k get "$@" -o wide 2>&1 | head -1 | tr -s ' ' | sed 's/ $//'; }
# want_header KIND WANT...: kubectl's columns of KIND as a real cluster prints them.
want_header() {
	local kind=$1 want=$2 got
	got=$(header "$kind")
	[[ $got == "$want" ]] || fail "kubectl 1.$minor get $kind -o wide: header '$got', want '$want'"
}
jp() { k get "$1" "$2" -o jsonpath="$3"; }

matrix() {
	minor=$1
	srv_instance "$D/$minor"
	srv_start "$minor"
	[[ $(k version -o json | jq -r .serverVersion.minor) == "$minor" ]] || fail "server minor"
	k version --client -o json | jq -e ".clientVersion.minor == \"$minor\"" >/dev/null ||
		fail "the dispatcher did not pick kubectl 1.$minor: $(k version --client -o json)"

	# apply: created, configured, unchanged.
	cat >"$D/web.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{name: http, containerPort: 80}]
        resources:
          limits: {cpu: 500m, memory: 256Mi}
YAML
	out=$(k apply -f "$D/web.yaml" 2>&1) || fail "apply (create): $out"
	[[ $out == "deployment.apps/web created" ]] || fail "apply (create): $out"
	sed -i 's/nginx:1.25/nginx:1.26/' "$D/web.yaml"
	out=$(k apply -f "$D/web.yaml" 2>&1) || fail "apply (change): $out"
	[[ $out == "deployment.apps/web configured" ]] || fail "apply (change): $out"
	out=$(k apply -f "$D/web.yaml" 2>&1) || fail "apply (unchanged): $out"
	[[ $out == "deployment.apps/web unchanged" ]] || fail "apply (unchanged): $out"
	[[ $(jp deploy web '{.spec.template.spec.containers[0].image}') == nginx:1.26 ]] || fail "apply: image"
	# Quantities come back canonical (0.5 -> 500m) as kube stores them, so that a re-apply of
	# "0.5" is "configured" each time, as with kube (kubernetes/kubernetes#116135).
	sed -i 's/cpu: 500m/cpu: "0.5"/' "$D/web.yaml"
	out=$(k apply -f "$D/web.yaml" 2>&1) || fail "apply (0.5): $out"
	[[ $(jp deploy web '{.spec.template.spec.containers[0].resources.limits.cpu}') == 500m ]] ||
		fail "canonical quantity: $(jp deploy web '{.spec.template.spec.containers[0].resources}')"
	out=$(k apply -f "$D/web.yaml" 2>&1) || fail "apply (0.5 again): $out"
	[[ $out == "deployment.apps/web configured" ]] || fail "apply (0.5 again): $out"
	k get deploy web -o yaml | grep -q '^  strategy:' || fail "get -o yaml"
	k get deploy web -o yaml | grep -q 'maxSurge: 25%' || fail "get -o yaml: no defaulted maxSurge"

	# run, describe, label, annotate, the QoS class.
	out=$(k run r1 --image=nginx --labels=app=r1 2>&1) || fail "run: $out"
	[[ $out == "pod/r1 created" ]] || fail "run: $out"
	[[ $(jp pod r1 '{.status.qosClass}') == BestEffort ]] || fail "qosClass of r1"
	cat >"$D/g.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: g1}
spec:
  containers:
  - name: c
    image: nginx
    resources: {limits: {cpu: "1", memory: 1Gi}}
    livenessProbe: {httpGet: {port: 80}}
YAML
	k apply -f "$D/g.yaml" >/dev/null || fail "apply g1"
	[[ $(jp pod g1 '{.status.qosClass}') == Guaranteed ]] || fail "qosClass of g1"
	[[ $(jp pod g1 '{.spec.containers[0].resources.requests.memory}') == 1Gi ]] || fail "requests from limits"
	[[ $(jp pod g1 '{.spec.containers[0].livenessProbe.periodSeconds} {.spec.containers[0].livenessProbe.httpGet.path}') == "10 /" ]] ||
		fail "probe defaults"
	out=$(k describe pod g1) || fail "describe pod: $out"
	grep -Eq '^QoS Class: +Guaranteed' <<<"$out" || fail "describe pod: $out"
	grep -Eq 'Liveness: +http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3' <<<"$out" ||
		fail "describe pod (probe): $out"
	out=$(k describe deployment web) || fail "describe deployment: $out"
	grep -Eq '^Replicas: +1 desired' <<<"$out" || fail "describe deployment: $out"
	grep -Eq '^RollingUpdateStrategy: +25% max unavailable, 25% max surge' <<<"$out" || fail "describe deployment: $out"
	k label pod r1 tier=front >/dev/null || fail "label"
	[[ $(jp pod r1 '{.metadata.labels.tier}') == front ]] || fail "label not set"
	k label pod r1 tier- >/dev/null || fail "label removal"
	[[ -z $(jp pod r1 '{.metadata.labels.tier}') ]] || fail "label not removed"
	k annotate pod r1 example.com/note=hello >/dev/null || fail "annotate"
	[[ $(k get pod r1 -o json | jq -r '.metadata.annotations["example.com/note"]') == hello ]] || fail "annotation"

	# patch: merge and strategic (the containers merge by name).
	k patch deploy web --type merge -p '{"spec":{"revisionHistoryLimit":3}}' >/dev/null || fail "merge patch"
	[[ $(jp deploy web '{.spec.revisionHistoryLimit}') == 3 ]] || fail "merge patch not applied"
	k patch deploy web -p '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}' >/dev/null ||
		fail "strategic patch"
	[[ $(jp deploy web '{.spec.template.spec.containers[*].image} {.spec.template.spec.containers[0].ports[0].name}') == "nginx:1.27 http" ]] ||
		fail "strategic patch: $(jp deploy web '{.spec.template.spec.containers}')"
	out=$(k patch deploy web --type merge -p '{"spec":{"replicas":-1}}' 2>&1) && fail "patch to replicas -1 accepted"
	grep -q 'spec.replicas: Invalid value: -1: must be greater than or equal to 0' <<<"$out" || fail "patch replicas -1: $out"

	# scale.
	k scale deploy web --replicas=3 >/dev/null || fail "scale"
	[[ $(jp deploy web '{.spec.replicas}') == 3 ]] || fail "scale: replicas"

	# get -o wide, -o jsonpath, -w.
	out=$(k get pods -o wide) || fail "get pods -o wide: $out"
	grep -Eq '^r1 +0/1 +Pending +0 +[0-9]+s +<none> +<none> +<none> +<none>$' <<<"$out" || fail "get pods -o wide: $out"
	[[ $(k get pods -o jsonpath='{.items[*].metadata.name}') == "g1 r1" ]] || fail "jsonpath over a list"
	timeout 5 kubectl --cache-dir "$SRV_CACHE" get pods -w >"$D/watch.out" 2>&1 &
	wpid=$!
	for _ in $(seq 100); do
		grep -q '^r1 ' "$D/watch.out" && break
		sleep 0.1
	done
	k run w1 --image=nginx >/dev/null || fail "run w1"
	k delete pod w1 --wait >/dev/null || fail "delete w1"
	rc=0
	wait $wpid || rc=$?
	[[ $rc == 124 ]] || fail "get -w ended with $rc before its timeout: $(cat "$D/watch.out")"
	grep -Eq '^w1 +0/1 +Pending' "$D/watch.out" || fail "get -w did not show w1: $(cat "$D/watch.out")"
	[[ $(grep -c '^w1 ' "$D/watch.out") -ge 2 ]] || fail "get -w: no deletion of w1: $(cat "$D/watch.out")"

	# The typed create commands (1.32+ send protobuf) and get all.
	printf 'a=1\nb=2\n' >"$D/app.properties"
	k create secret generic s1 --from-literal=password=pw >/dev/null || fail "create secret"
	[[ $(jp secret s1 '{.data.password}' | base64 -d) == pw ]] || fail "secret data"
	k create configmap c1 --from-file="$D/app.properties" >/dev/null || fail "create configmap"
	[[ $(k get cm c1 -o json | jq -r '.data["app.properties"]') == $'a=1\nb=2' ]] || fail "configmap data"
	k create namespace n1 >/dev/null || fail "create namespace"
	k create deployment d1 --image=nginx --replicas=2 >/dev/null || fail "create deployment"
	[[ $(jp deploy d1 '{.spec.replicas} {.spec.selector.matchLabels.app}') == "2 d1" ]] || fail "create deployment: spec"
	k create service clusterip s1 --tcp=80:8080 >/dev/null || fail "create service"
	[[ $(jp svc s1 '{.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].name}') == "80 8080 80-8080" ]] ||
		fail "create service: ports $(jp svc s1 '{.spec.ports}')"
	k create quota q1 --hard=pods=10,cpu=4,limits.memory=2Gi >/dev/null || fail "create quota"
	out=$(k get all) || fail "get all: $out"
	for o in pod/r1 pod/g1 service/s1 service/kubernetes deployment.apps/web deployment.apps/d1; do
		grep -q "^$o " <<<"$out" || fail "get all lacks $o: $out"
	done

	# kube's validation messages, as kubectl prints them.
	cat >"$D/bad.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: bad
  labels: {app: -x}
spec:
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: c
    image: nginx
    env: [{name: 1X, value: a}]
    ports: [{name: http_x, containerPort: 80}]
    resources: {requests: {cpu: "2"}, limits: {cpu: "1"}}
    volumeMounts: [{name: nope, mountPath: /d}]
YAML
	out=$(k apply -f "$D/bad.yaml" 2>&1) && fail "invalid pod accepted"
	for want in 'The Pod "bad" is invalid' \
		"metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" \
		'spec.containers[0].ports[0].name: Invalid value: "http_x": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)' \
		'spec.containers[0].env[0].name: Invalid value: "1X": a valid environment variable name' \
		'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1' \
		'spec.containers[0].volumeMounts[0].name: Not found: "nope"'; do
		grep -qF -- "$want" <<<"$out" || fail "kubectl 1.$minor: no '$want' in: $out"
	done
	out=$(k create deployment bad --image=nginx --replicas=-1 2>&1) && fail "replicas -1 accepted"

	# The course's manifests: the storage demo, then the application, then the examples.
	k apply -f "$COURSE/mysql-pv.yaml" >/dev/null || fail "apply mysql-pv.yaml"
	k apply -f "$COURSE/mysql-pod.yaml" >/dev/null || fail "apply mysql-pod.yaml"
	[[ $(jp pvc mysql-pv-claim '{.spec.resources.requests.storage}') == 20Gi ]] || fail "mysql-pv-claim"
	k get pv mysql-pv >/dev/null || fail "get pv mysql-pv"
	k delete -f "$COURSE/mysql-pv.yaml" --wait >/dev/null || fail "delete mysql-pv.yaml"
	k delete -f "$COURSE/mysql-pod.yaml" --wait >/dev/null || fail "delete mysql-pod.yaml"
	k create secret generic mysql-pass --from-literal=password=YOUR_PASSWORD >/dev/null || fail "mysql-pass"
	k get secrets | grep -Eq '^mysql-pass +Opaque +1 ' || fail "get secrets: $(k get secrets)"
	k apply -f "$COURSE/mysql-service.yaml" >/dev/null || fail "apply mysql-service.yaml"
	out=$(k get services -o wide) || fail "get services -o wide"
	grep -Eq '^wordpress-mysql +ClusterIP +None +<none> +3306/TCP +[0-9]+s +app=wordpress,tier=mysql$' <<<"$out" ||
		fail "get services -o wide: $out"
	k apply -f "$COURSE/mysql-all.yaml" >/dev/null || fail "apply mysql-all.yaml"
	k get deploy | grep -Eq '^wordpress-mysql +0/1 +0 +0 ' || fail "get deploy: $(k get deploy)"
	k apply -f "$COURSE/app.yaml" >/dev/null || fail "apply app.yaml"
	out=$(k get services wordpress) || fail "get services wordpress"
	grep -Eq '^wordpress +LoadBalancer +10\.[0-9.]+ +<pending> +80:3[0-9]{4}/TCP ' <<<"$out" || fail "get services wordpress: $out"
	for f in mysql-all.yaml mysql-service.yaml app.yaml; do
		k delete -f "$COURSE/$f" --wait >/dev/null || fail "delete -f $f"
	done
	for o in deploy/wordpress deploy/wordpress-mysql svc/wordpress svc/wordpress-mysql pvc/wp-pv-claim pv/mysql-pv-volume; do
		out=$(k get "$o" 2>&1) && fail "$o left after delete -f: $out"
		grep -q NotFound <<<"$out" || fail "get $o after delete: $out"
	done
	for f in storageclass secret configmap pv ebs-pod secret-env-pod configmap-env-pod liveness-pod counter-pod ingress ingress-fanout; do
		k apply -f "$COURSE/$f.yaml" >/dev/null || fail "apply course/$f.yaml"
	done
	[[ $(jp pod liveness-exec '{.spec.containers[0].livenessProbe.timeoutSeconds} {.spec.containers[0].livenessProbe.failureThreshold}') == "1 3" ]] ||
		fail "liveness-exec probe defaults"
	[[ $(jp pod secret-env-pod '{.spec.restartPolicy}') == Never ]] || fail "secret-env-pod"
	[[ $(jp ing simple-fanout-example '{.spec.rules[0].http.paths[1].backend.service.port.number}') == 8080 ]] || fail "fan-out ingress"
	[[ $(k get cm game-config -o json | jq -r '.data | keys | join(",")') == game.properties,ui.properties ]] || fail "game-config"

	# -o wide columns, as kubectl prints them for a real cluster (printers.go).
	k apply -f "$COURSE/mysql-pv.yaml" >/dev/null || fail "apply mysql-pv.yaml again"
	cat >"$D/more.yaml" <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds1}
spec:
  selector: {matchLabels: {app: ds1}}
  template:
    metadata: {labels: {app: ds1}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs1}
spec:
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: v1
kind: Event
metadata: {name: ev1}
involvedObject: {kind: Pod, name: r1, namespace: default}
reason: Testing
message: a test event
type: Normal
YAML
	k apply -f "$D/more.yaml" >/dev/null || fail "apply more.yaml"
	want_header pods "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
	want_header deployments "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
	want_header replicasets "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR"
	want_header daemonsets "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE CONTAINERS IMAGES SELECTOR"
	want_header services "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR"
	want_header endpoints "NAME ENDPOINTS AGE"
	want_header nodes "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"
	want_header namespaces "NAME STATUS AGE"
	want_header secrets "NAME TYPE DATA AGE"
	want_header configmaps "NAME DATA AGE"
	want_header pv "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE VOLUMEMODE"
	want_header pvc "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE VOLUMEMODE"
	want_header storageclasses "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE"
	want_header ingresses "NAME CLASS HOSTS ADDRESS PORTS AGE"
	want_header events "LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME"
	want_header resourcequotas "NAME AGE REQUEST LIMIT"
	out=$(k get quota q1 -o wide) || fail "get quota"
	grep -Eq '^q1 +[0-9]+s +cpu: 0/4, pods: 0/10 +limits.memory: 0/2Gi$' <<<"$out" || fail "get quota: $out"
	out=$(k get pv mysql-pv -o wide) || fail "get pv"
	grep -Eq '^mysql-pv +20Gi +RWO +Retain +Pending +manual +<unset> +[0-9]+s +Filesystem$' <<<"$out" || fail "get pv -o wide: $out"
	out=$(k get ing -o wide) || fail "get ing"
	grep -Eq '^simple-fanout-example +<none> +foo.bar.com +80 +[0-9]+s$' <<<"$out" || fail "get ing: $out"
	grep -Eq '^test-ingress +<none> +\* +80 +[0-9]+s$' <<<"$out" || fail "get ing: $out"
	out=$(k get sc) || fail "get sc"
	grep -Eq '^standard +kubernetes.io/aws-ebs +Retain +Immediate +false +[0-9]+s$' <<<"$out" || fail "get sc: $out"

	# delete -f --wait of everything applied from files.
	for f in "$D/more.yaml" "$D/web.yaml" "$D/g.yaml" "$COURSE/mysql-pv.yaml"; do
		k delete -f "$f" --wait >/dev/null || fail "delete -f $f"
	done
	out=$(k get deploy web 2>&1) && fail "deploy web left: $out"
	srv_stop
}

for m in 27 31 33; do
	matrix $m
done

# The Python client against the last minor's data: pods, services, deployments.
srv_instance "$D/py"
srv_start 31
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(sys.argv[1])
core, apps = client.CoreV1Api(), client.AppsV1Api()
ns = "default"
pod = {"metadata": {"name": "p1", "labels": {"app": "p"}},
       "spec": {"containers": [{"name": "c", "image": "nginx",
                                "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}]}}
svc = {"metadata": {"name": "s1"}, "spec": {"selector": {"app": "p"}, "ports": [{"port": 80, "targetPort": "http"}]}}
dep = {"metadata": {"name": "d1"},
       "spec": {"selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "d"}},
                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
for kind, create, read, patch, delete, lst, body in (
        ("pod", core.create_namespaced_pod, core.read_namespaced_pod, core.patch_namespaced_pod,
         core.delete_namespaced_pod, core.list_namespaced_pod, pod),
        ("service", core.create_namespaced_service, core.read_namespaced_service,
         core.patch_namespaced_service, core.delete_namespaced_service,
         core.list_namespaced_service, svc),
        ("deployment", apps.create_namespaced_deployment, apps.read_namespaced_deployment,
         apps.patch_namespaced_deployment, apps.delete_namespaced_deployment,
         apps.list_namespaced_deployment, dep)):
    name = body["metadata"]["name"]
    created = create(ns, body)
    assert created.metadata.name == name, kind
    rv = created.metadata.resource_version
    names = [o.metadata.name for o in lst(ns).items]
    assert name in names, (kind, names)
    patched = patch(name, ns, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels["patched"] == "yes", kind
    # a replace with the stale resourceVersion of the create is a 409 Conflict
    obj = read(name, ns)
    obj.metadata.resource_version = rv
    replace = getattr(core if kind != "deployment" else apps, "replace_namespaced_" + kind)
    try:
        replace(name, ns, obj)
        raise SystemExit("%s: stale replace accepted" % kind)
    except ApiException as e:
        assert e.status == 409, (kind, e.status, e.body)
    # watch from the list: the deletion arrives
    start = lst(ns).metadata.resource_version
    delete(name, ns)
    seen = []
    for ev in watch.Watch().stream(lst, ns, resource_version=start, timeout_seconds=3):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED" and ev["object"].metadata.name == name:
            break
    assert ("DELETED", name) in seen, (kind, seen)
    try:
        read(name, ns)
        raise SystemExit("%s: still there after delete" % kind)
    except ApiException as e:
        assert e.status == 404, (kind, e.status)
p = core.create_namespaced_pod(ns, pod)
assert p.status.qos_class == "Guaranteed", p.status.qos_class
assert p.spec.containers[0].resources.requests == {"cpu": "250m", "memory": "64Mi"}
try:
    core.create_namespaced_pod(ns, {"metadata": {"name": "Bad"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    raise SystemExit("invalid name accepted")
except ApiException as e:
    assert e.status == 422, e.status
print("python: pods, services, deployments: create, list, patch, 409, watch, delete ok")
PYTHON
srv_stop
echo "server_matrix: ok"

#!/bin/bash
# ResourceQuota and LimitRange: the resourcequota controller (status.hard/status.used promptly
# calculated, the life of configmaps, secrets, services, pods, replication controllers and claims
# captured and released), the quota admission (kube's 403 messages, compute requests required,
# scopes BestEffort/NotBestEffort and Terminating/NotTerminating, a concurrent burst never
# overshoots), LimitRange defaults and min/max checks, and the course's examples. Through the
# real kubectl and curl. No root needed.
#
#   kubectl / curl ──TLS──► k8c-server 127.0.0.1:$PORT --controllers=resourcequota
# Usage: ctrl_quota.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup quota
srv_instance "$D"
K8C_CONTROLLERS=resourcequota srv_start 31

NS=quota-$$
k create ns $NS >/dev/null
Q="$U/api/v1/namespaces/$NS/resourcequotas"

# wait_used QUOTA JQ-CONDITION: poll until the quota's status satisfies the condition.
wait_used() {
	local q=$1 cond=$2 st
	for _ in $(seq 300); do
		st=$(C "$Q/$q" | jq -c .status)
		jq -e "$cond" <<<"$st" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "quota $q: status $st never satisfied $cond"
}

# expect_forbidden MESSAGE CMD...: the command fails with exactly this server message.
expect_forbidden() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "allowed, want Forbidden: $*: $out"
	fi
	grep -qF "$want" <<<"$out" || fail "want '$want', got: $out"
}

pod_json() { # name cpu-request [extra spec json]
	printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s"},"spec":{%s"containers":[{"name":"c","image":"busybox:1","resources":{"requests":{"cpu":"%s","memory":"10Mi"},"limits":{"cpu":"%s","memory":"10Mi"}}}]}}' "$1" "${3:+$3,}" "$2" "$2"
}

# --- Status promptly calculated; object counts (conformance "capture the life of ...").
k create quota objects -n $NS \
	--hard=configmaps=2,secrets=1,services=2,services.nodeports=1,services.loadbalancers=0,replicationcontrollers=1,resourcequotas=3,count/configmaps=2 >/dev/null
wait_used objects '.hard.configmaps == "2" and .used.configmaps == "0" and .used.resourcequotas == "1" and .used.services == "0"'

k create configmap cm1 -n $NS --from-literal=a=b >/dev/null
wait_used objects '.used.configmaps == "1" and .used["count/configmaps"] == "1"'
k create configmap cm2 -n $NS >/dev/null
expect_forbidden 'configmaps "cm3" is forbidden: exceeded quota: objects, requested: configmaps=1,count/configmaps=1, used: configmaps=2,count/configmaps=2, limited: configmaps=2,count/configmaps=2' \
	k create configmap cm3 -n $NS
k delete configmap cm1 -n $NS >/dev/null
wait_used objects '.used.configmaps == "1"'
k create configmap cm3 -n $NS >/dev/null

k create secret generic s1 -n $NS --from-literal=k=v >/dev/null
wait_used objects '.used.secrets == "1"'
expect_forbidden 'secrets "s2" is forbidden: exceeded quota: objects, requested: secrets=1, used: secrets=1, limited: secrets=1' \
	k create secret generic s2 -n $NS
k delete secret s1 -n $NS >/dev/null
wait_used objects '.used.secrets == "0"'

k create service clusterip svc1 -n $NS --tcp=80:80 >/dev/null
k create service nodeport np1 -n $NS --tcp=81:81 >/dev/null
wait_used objects '.used.services == "2" and .used["services.nodeports"] == "1"'
expect_forbidden 'exceeded quota: objects, requested: services=1, used: services=2, limited: services=2' \
	k create service clusterip svc3 -n $NS --tcp=80:80
k delete service svc1 -n $NS >/dev/null
wait_used objects '.used.services == "1"'
expect_forbidden 'services "lb1" is forbidden: exceeded quota: objects, requested: services.loadbalancers=1,services.nodeports=1, used: services.loadbalancers=0,services.nodeports=1, limited: services.loadbalancers=0,services.nodeports=1' \
	k create service loadbalancer lb1 -n $NS --tcp=82:82
# an update that raises usage is checked too: ClusterIP -> NodePort
k create service clusterip svc4 -n $NS --tcp=80:80 >/dev/null
expect_forbidden 'services "svc4" is forbidden: exceeded quota: objects, requested: services.nodeports=1' \
	k patch service svc4 -n $NS -p '{"spec":{"type":"NodePort"}}'

J -X POST -d '{"metadata":{"name":"rc1"},"spec":{"replicas":0,"selector":{"app":"x"},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}}}' \
	"$U/api/v1/namespaces/$NS/replicationcontrollers" >/dev/null
wait_used objects '.used.replicationcontrollers == "1"'
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"rc2"},"spec":{"replicas":0,"selector":{"app":"y"},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}}}' \
	"$U/api/v1/namespaces/$NS/replicationcontrollers")
[[ $code == 403 ]] || fail "rc over quota: $code $(cat "$D/out")"
jq -e '.reason == "Forbidden" and .code == 403 and .details.kind == "replicationcontrollers" and .details.name == "rc2" and (.message | startswith("replicationcontrollers \"rc2\" is forbidden: exceeded quota: objects, requested: replicationcontrollers=1"))' "$D/out" >/dev/null ||
	fail "rc Status: $(cat "$D/out")"

# replica sets are counted as count/replicasets.apps (conformance "capture the life of a replica set")
k create quota apps -n $NS --hard=count/replicasets.apps=1,count/deployments.apps=0 >/dev/null
wait_used apps '.used["count/replicasets.apps"] == "0" and .used["count/deployments.apps"] == "0"'
rs() { printf '{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"%s"},"spec":{"replicas":0,"selector":{"matchLabels":{"rs":"%s"}},"template":{"metadata":{"labels":{"rs":"%s"}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}}}' "$1" "$1" "$1"; }
rs rs1 | k apply -n $NS -f - >/dev/null
wait_used apps '.used["count/replicasets.apps"] == "1"'
expect_forbidden 'replicasets.apps "rs2" is forbidden: exceeded quota: apps, requested: count/replicasets.apps=1, used: count/replicasets.apps=1, limited: count/replicasets.apps=1' \
	k apply -n $NS -f <(rs rs2)
expect_forbidden 'deployments.apps "d1" is forbidden: exceeded quota: apps, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0' \
	k create deployment d1 -n $NS --image=busybox:1
k delete rs rs1 -n $NS >/dev/null
wait_used apps '.used["count/replicasets.apps"] == "0" and (.k8cPendingCharges // {} | length) == 0'
k delete quota apps -n $NS >/dev/null

# --- Compute resources: pods must state what the quota constrains; usage released when pods end.
k create quota compute -n $NS --hard=pods=3,requests.cpu=1,requests.memory=1Gi,limits.cpu=2,limits.memory=2Gi >/dev/null
wait_used compute '.used.pods == "0" and .used["requests.cpu"] == "0"'
expect_forbidden 'pods "naked" is forbidden: failed quota: compute: must specify limits.cpu for: naked; limits.memory for: naked; requests.cpu for: naked; requests.memory for: naked' \
	k run naked -n $NS --image=busybox:1 --restart=Never
pod_json p1 400m | k apply -n $NS -f - >/dev/null
pod_json p2 400m | k apply -n $NS -f - >/dev/null
wait_used compute '.used.pods == "2" and .used["requests.cpu"] == "800m" and .used["limits.memory"] == "20Mi"'
expect_forbidden 'pods "p3" is forbidden: exceeded quota: compute, requested: requests.cpu=400m, used: requests.cpu=800m, limited: requests.cpu=1' \
	k apply -n $NS -f <(pod_json p3 400m)
# a pod that ended is not charged any more
C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Succeeded"}}' \
	"$U/api/v1/namespaces/$NS/pods/p1/status" >/dev/null
wait_used compute '.used.pods == "1" and .used["requests.cpu"] == "400m"'
pod_json p3 400m | k apply -n $NS -f - >/dev/null
wait_used compute '.used.pods == "2" and .used["requests.cpu"] == "800m"'
k delete pod p2 -n $NS --grace-period=0 --force >/dev/null 2>&1
wait_used compute '.used.pods == "1" and .used["requests.cpu"] == "400m"'
# kubectl describe shows the quota's table
out=$(k describe quota compute -n $NS)
grep -Eq '^requests.cpu +400m +1$' <<<"$out" || fail "describe quota: $out"
# update and delete (conformance "update and delete")
k patch quota compute -n $NS -p '{"spec":{"hard":{"requests.cpu":"500m"}}}' >/dev/null
wait_used compute '.hard["requests.cpu"] == "500m"'
expect_forbidden 'exceeded quota: compute, requested: requests.cpu=400m, used: requests.cpu=400m, limited: requests.cpu=500m' \
	k apply -n $NS -f <(pod_json p4 400m)
k delete quota compute -n $NS >/dev/null
wait_used objects '.used.resourcequotas == "1"'
pod_json p4 400m | k apply -n $NS -f - >/dev/null

# --- Scopes (conformance "BestEffort and Terminating scopes").
NS2=$NS-scopes
k create ns $NS2 >/dev/null
Q="$U/api/v1/namespaces/$NS2/resourcequotas"
out=$(k create quota bad -n $NS2 --hard=pods=1,cpu=1 --scopes=BestEffort 2>&1) && fail "BestEffort with cpu accepted"
grep -qF 'ResourceQuota "bad" is invalid: spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource' <<<"$out" ||
	fail "scope validation: $out"
k create quota be -n $NS2 --hard=pods=1 --scopes=BestEffort >/dev/null
k create quota notbe -n $NS2 --hard=pods=1 --scopes=NotBestEffort >/dev/null
k create quota term -n $NS2 --hard=pods=1 --scopes=Terminating >/dev/null
k create quota notterm -n $NS2 --hard=pods=2 --scopes=NotTerminating >/dev/null
for q in be notbe term notterm; do wait_used $q '.used.pods == "0"'; done
k run be1 -n $NS2 --image=busybox:1 --restart=Never >/dev/null
wait_used be '.used.pods == "1"'
wait_used notterm '.used.pods == "1"'
wait_used notbe '.used.pods == "0"'
expect_forbidden 'pods "be2" is forbidden: exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1' \
	k run be2 -n $NS2 --image=busybox:1 --restart=Never
pod_json nbe1 100m | k apply -n $NS2 -f - >/dev/null
wait_used notbe '.used.pods == "1"'
wait_used notterm '.used.pods == "2"'
wait_used be '.used.pods == "1"'
# activeDeadlineSeconds makes a pod Terminating: only `term` (and notbe) see it
expect_forbidden 'exceeded quota: notbe' k apply -n $NS2 -f <(pod_json t1 100m '"activeDeadlineSeconds":60')
k delete pod nbe1 -n $NS2 --grace-period=0 --force >/dev/null 2>&1
wait_used notbe '.used.pods == "0"'
pod_json t1 100m '"activeDeadlineSeconds":60' | k apply -n $NS2 -f - >/dev/null
wait_used term '.used.pods == "1"'
wait_used notterm '.used.pods == "1"'
k delete ns $NS2 --wait=false >/dev/null

# --- A burst never overshoots: 12 concurrent creates against count/secrets=4.
NS3=$NS-burst
k create ns $NS3 >/dev/null
Q="$U/api/v1/namespaces/$NS3/resourcequotas"
k create quota burst -n $NS3 --hard=count/secrets=4 >/dev/null
wait_used burst '.used["count/secrets"] == "0"'
pids=()
for i in $(seq 12); do
	J -o "$D/burst.$i" -w '%{http_code}\n' -X POST -d "{\"metadata\":{\"name\":\"s$i\"}}" \
		"$U/api/v1/namespaces/$NS3/secrets" >"$D/code.$i" &
	pids+=($!)
done
wait "${pids[@]}"
ok=$(cat "$D"/code.* | grep -c '^201$' || true)
no=$(cat "$D"/code.* | grep -c '^403$' || true)
[[ $ok == 4 && $no == 8 ]] || fail "burst: $ok created, $no forbidden: $(cat "$D"/code.*)"
[[ $(k get secrets -n $NS3 -o name | wc -l) == 4 ]] || fail "burst: $(k get secrets -n $NS3)"
wait_used burst '.used["count/secrets"] == "4"'

# --- Storage quota, per StorageClass (the course's list).
k create quota storage -n $NS3 --hard=persistentvolumeclaims=2,requests.storage=3Gi,gold.storageclass.storage.k8s.io/requests.storage=1Gi >/dev/null
wait_used storage '.used["requests.storage"] == "0"'
pvc() { printf '{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"%s"},"spec":{"storageClassName":"%s","accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"%s"}}}}' "$@"; }
pvc c1 gold 1Gi | k apply -n $NS3 -f - >/dev/null
wait_used storage '.used["requests.storage"] == "1Gi" and .used["gold.storageclass.storage.k8s.io/requests.storage"] == "1Gi"'
expect_forbidden 'persistentvolumeclaims "c2" is forbidden: exceeded quota: storage, requested: gold.storageclass.storage.k8s.io/requests.storage=1Gi, used: gold.storageclass.storage.k8s.io/requests.storage=1Gi, limited: gold.storageclass.storage.k8s.io/requests.storage=1Gi' \
	k apply -n $NS3 -f <(pvc c2 gold 1Gi)
pvc c2 silver 2Gi | k apply -n $NS3 -f - >/dev/null
expect_forbidden 'exceeded quota: storage, requested: persistentvolumeclaims=1,requests.storage=1Gi, used: persistentvolumeclaims=2,requests.storage=3Gi, limited: persistentvolumeclaims=2,requests.storage=3Gi' \
	k apply -n $NS3 -f <(pvc c3 silver 1Gi)
k delete ns $NS3 --wait=false >/dev/null

# --- LimitRange: defaults, then min/max/ratio with kube's messages.
k apply -n $NS -f - >/dev/null <<'EOF'
apiVersion: v1
kind: LimitRange
metadata:
  name: limits
spec:
  limits:
  - type: Container
    default: {cpu: 300m, memory: 200Mi}
    defaultRequest: {cpu: 100m, memory: 100Mi}
    max: {cpu: "1", memory: 1Gi}
    min: {cpu: 50m}
    maxLimitRequestRatio: {cpu: "4"}
  - type: PersistentVolumeClaim
    max: {storage: 2Gi}
EOF
k run lr1 -n $NS --image=busybox:1 --restart=Never >/dev/null
got=$(k get pod lr1 -n $NS -o json | jq -c '[.spec.containers[0].resources, .metadata.annotations["kubernetes.io/limit-ranger"]]')
[[ $got == '[{"limits":{"cpu":"300m","memory":"200Mi"},"requests":{"cpu":"100m","memory":"100Mi"}},"LimitRanger plugin set: cpu, memory request for container lr1; cpu, memory limit for container lr1"]' ]] ||
	fail "LimitRange defaults: $got"
expect_forbidden 'pods "lr2" is forbidden: Maximum cpu usage per Container is 1, but limit is 2.' \
	k apply -n $NS -f <(pod_json lr2 2)
expect_forbidden 'pods "lr3" is forbidden: cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000.' \
	k run lr3 -n $NS --image=busybox:1 --restart=Never --overrides='{"spec":{"containers":[{"name":"lr3","image":"busybox:1","resources":{"requests":{"cpu":"50m"},"limits":{"cpu":"500m"}}}]}}'
expect_forbidden 'pods "lr4" is forbidden: [Minimum cpu usage per Container is 50m, but request is 10m., cpu max limit to request ratio per Container is 4, but provided ratio is 30.000000.]' \
	k run lr4 -n $NS --image=busybox:1 --restart=Never --overrides='{"spec":{"containers":[{"name":"lr4","image":"busybox:1","resources":{"requests":{"cpu":"10m"}}}]}}'
expect_forbidden 'persistentvolumeclaims "big" is forbidden: Maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi.' \
	k apply -n $NS -f <(pvc big "" 5Gi)

srv_stop
echo "ctrl_quota: ok"

#!/bin/bash
# k8c-server's deletion semantics against the real clients (kubectl 1.31 and 1.33, curl, the
# Python client): finalizers and deletionTimestamp (the object stays, an update removing the last
# finalizer deletes it, a watch sees DELETED, `kubectl delete --wait` waits for it), graceful pod
# deletion (spec.nodeName, terminationGracePeriodSeconds, a shorter grace period, --grace-period=0
# --force, unscheduled and terminal pods at once), DeleteOptions (preconditions → 409, dryRun,
# propagationPolicy values and their finalizers, kube's 422 messages), deletecollection with
# options, namespaces (Terminating, 403 for new content, contents removed, a scheduled pod holding
# the namespace, /finalize, immortal namespaces, resuming after a restart), `kubectl delete -f
# --wait`, the Python client's delete with V1DeleteOptions, and the Events' TTL (--event-ttl).
#
#   kubectl / curl / python3 kubernetes ──TLS──► k8c-server 127.0.0.1:$PORT ─ $D/data
# Usage: server_delete.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup delete
srv_instance "$D"
srv_start 31

NS=$U/api/v1/namespaces/default
jv() { jq -r "$1" <<<"$2"; }
# wait_gone URL: poll until GET is 404 (bounded: the server's worker acts at once).
wait_gone() {
	for _ in $(seq 200); do
		[[ $(C -o /dev/null -w '%{http_code}' "$1") == 404 ]] && return 0
		sleep 0.1
	done
	fail "still there: $1: $(C "$1")"
}

# --- Finalizers: DELETE marks, the object stays; removing the last finalizer deletes it.
out=$(J -X POST -d '{"metadata":{"name":"held","finalizers":["example.com/hold"]},"data":{"a":"b"}}' "$NS/configmaps")
rv=$(jv .metadata.resourceVersion "$out")
C -N "$NS/configmaps?watch=true&resourceVersion=$rv&fieldSelector=metadata.name%3Dheld&timeoutSeconds=30" >"$D/watch.held" &
WPID=$!
out=$(C -X DELETE -w '\n%{http_code}' "$NS/configmaps/held")
[[ $(tail -1 <<<"$out") == 200 ]] || fail "DELETE with a finalizer: $out"
del=$(head -1 <<<"$out")
[[ $(jv '"\(.metadata.name) \(.metadata.deletionGracePeriodSeconds) \(.metadata.finalizers[0])"' "$del") == "held 0 example.com/hold" ]] || fail "DELETE answer: $del"
ts=$(jv .metadata.deletionTimestamp "$del")
[[ $ts =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || fail "deletionTimestamp '$ts'"
got=$(C "$NS/configmaps/held")
[[ $(jv .metadata.deletionTimestamp "$got") == "$ts" ]] || fail "GET after DELETE: $got"
# a second DELETE changes nothing (no new revision) and answers the object
again=$(C -X DELETE "$NS/configmaps/held")
[[ $(jv .metadata.resourceVersion "$again") == $(jv .metadata.resourceVersion "$del") ]] || fail "second DELETE wrote: $again"
[[ $(jv .metadata.deletionTimestamp "$again") == "$ts" ]] || fail "second DELETE: $again"
# no new finalizer once deleting; deletionTimestamp cannot be changed by an update
out=$(J -X PUT -d '{"metadata":{"name":"held","finalizers":["example.com/hold","example.com/more"]},"data":{"a":"b"}}' "$NS/configmaps/held")
[[ $(jv .message "$out") == 'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/more"}' ]] || fail "new finalizer while deleting: $out"
out=$(J -X PUT -d '{"metadata":{"name":"held","finalizers":["example.com/hold"],"deletionTimestamp":"2030-01-01T00:00:00Z"},"data":{"a":"c"}}' "$NS/configmaps/held")
[[ $(jv '"\(.metadata.deletionTimestamp) \(.data.a)"' "$out") == "$ts c" ]] || fail "update changed deletionTimestamp: $out"
# finalizer names: a name without a domain must be a standard one
out=$(J -X POST -d '{"metadata":{"name":"badfin","finalizers":["mine"]}}' "$NS/configmaps")
[[ $(jv '"\(.code) \(.details.causes[0].field) \(.details.causes[0].message)"' "$out") == "422 metadata.finalizers[0] Invalid value: \"mine\": name is neither a standard finalizer name nor is it fully qualified" ]] || fail "finalizer name: $out"
# kubectl patch removes the finalizer: the object is deleted, the watch sees DELETED
out=$(k patch cm held --type=merge -p '{"metadata":{"finalizers":null}}' 2>&1) || fail "patch finalizers off: $out"
[[ $(C -o /dev/null -w '%{http_code}' "$NS/configmaps/held") == 404 ]] || fail "held still there after its last finalizer went"
wait $WPID || true
[[ $(jq -r .type "$D/watch.held" | tr '\n' ,) == "MODIFIED,MODIFIED,DELETED," ]] || fail "watch of held: $(cat "$D/watch.held")"

# kubectl delete --wait (the default) waits for the finalizer to go.
J -X POST -d '{"metadata":{"name":"held2","finalizers":["example.com/hold"]}}' "$NS/configmaps" >/dev/null
k delete cm held2 --timeout=60s >"$D/kdel.out" 2>&1 &
KPID=$!
for _ in $(seq 100); do
	[[ $(C "$NS/configmaps/held2" | jq -r .metadata.deletionTimestamp) != null ]] && break
	sleep 0.1
done
kill -0 $KPID 2>/dev/null || fail "kubectl delete did not wait for the finalizer: $(cat "$D/kdel.out")"
C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"finalizers":[]}}' "$NS/configmaps/held2" >/dev/null
wait $KPID || fail "kubectl delete --wait: $(cat "$D/kdel.out")"
grep -q 'configmap "held2" deleted' "$D/kdel.out" || fail "kubectl delete --wait: $(cat "$D/kdel.out")"

# --- Graceful pod deletion.
pod() { # pod NAME NODE [GRACE]
	J -X POST -d "{\"metadata\":{\"name\":\"$1\"},\"spec\":{\"nodeName\":\"$2\",${3:+\"terminationGracePeriodSeconds\":$3,}\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}" "$NS/pods"
}
secs() { date -u -d "$1" +%s; }
created=$(pod gp n1 | jq -r .metadata.creationTimestamp)
k delete pod gp --wait=false >/dev/null || fail "delete pod gp"
got=$(C "$NS/pods/gp")
[[ $(jv .metadata.deletionGracePeriodSeconds "$got") == 30 ]] || fail "grace of a scheduled pod: $got"
dts=$(jv .metadata.deletionTimestamp "$got")
(($(secs "$dts") - $(secs "$created") >= 30)) || fail "deletionTimestamp $dts is not 30s after the delete (created $created)"
k get pod gp | grep -q Terminating || fail "kubectl get pod gp: $(k get pod gp)"
# a longer grace period changes nothing, a shorter one moves the deadline back
[[ $(J -X DELETE -d '{"gracePeriodSeconds":60}' "$NS/pods/gp" | jq -r .metadata.deletionTimestamp) == "$dts" ]] || fail "longer grace"
out=$(C -X DELETE "$NS/pods/gp?gracePeriodSeconds=5")
[[ $(jv .metadata.deletionGracePeriodSeconds "$out") == 5 ]] || fail "shorter grace: $out"
(($(secs "$dts") - $(secs "$(jv .metadata.deletionTimestamp "$out")") == 25)) || fail "shorter grace moved $dts to $(jv .metadata.deletionTimestamp "$out")"
# the node agent's final delete (grace 0): kubectl --grace-period=0 --force sends the same
k delete pod gp --grace-period=0 --force >/dev/null 2>&1 || fail "force delete"
[[ $(C -o /dev/null -w '%{http_code}' "$NS/pods/gp") == 404 ]] || fail "gp after --force"
# the terminationGracePeriodSeconds of the pod, and a terminal pod goes at once
pod g7 n1 7 >/dev/null
[[ $(C -X DELETE "$NS/pods/g7" | jq -r .metadata.deletionGracePeriodSeconds) == 7 ]] || fail "terminationGracePeriodSeconds 7"
pod done1 n1 >/dev/null
C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Succeeded"}}' "$NS/pods/done1/status" >/dev/null
C -X DELETE "$NS/pods/done1" >/dev/null
[[ $(C -o /dev/null -w '%{http_code}' "$NS/pods/done1") == 404 ]] || fail "a Succeeded pod is not deleted at once"
# an unscheduled pod goes at once: kubectl returns, its watch sees the grace 0 mark then DELETED
rv=$(pod up "" | jq -r .metadata.resourceVersion)
C -N "$NS/pods?watch=true&resourceVersion=$rv&fieldSelector=metadata.name%3Dup&timeoutSeconds=3" >"$D/watch.up" &
WPID=$!
sleep 0.3
k delete pod up >/dev/null || fail "delete unscheduled pod"
[[ $(C -o /dev/null -w '%{http_code}' "$NS/pods/up") == 404 ]] || fail "unscheduled pod still there"
wait $WPID || true
[[ $(jq -r '"\(.type) \(.object.metadata.deletionGracePeriodSeconds)"' "$D/watch.up" | tr '\n' ,) == "MODIFIED 0,DELETED 0," ]] || fail "watch of up: $(cat "$D/watch.up")"
k delete pod g7 --grace-period=0 --force >/dev/null 2>&1

# --- DeleteOptions.
J -X POST -d '{"metadata":{"name":"o1"}}' "$NS/configmaps" >/dev/null
uid=$(C "$NS/configmaps/o1" | jq -r .metadata.uid)
out=$(J -X DELETE -d '{"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}' "$NS/configmaps/o1")
[[ $(jv '"\(.code) \(.reason) \(.message)"' "$out") == "409 Conflict Operation cannot be fulfilled on ConfigMap \"o1\": the UID in the precondition (00000000-0000-0000-0000-000000000000) does not match the UID in record ($uid). The object might have been deleted and then recreated" ]] || fail "uid precondition: $out"
out=$(J -X DELETE -d '{"preconditions":{"resourceVersion":"1"}}' "$NS/configmaps/o1")
[[ $(jv .code "$out") == 409 && $(jv .message "$out") == *"the ResourceVersion in the precondition (1) does not match"* ]] || fail "rv precondition: $out"
for bad in Bogus orphan; do
	out=$(C -X DELETE "$NS/configmaps/o1?propagationPolicy=$bad")
	[[ $(jv '"\(.code) \(.reason) \(.message)"' "$out") == "422 Invalid DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"$bad\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"" ]] || fail "propagationPolicy $bad: $out"
done
out=$(J -X DELETE -d '{"orphanDependents":true,"propagationPolicy":"Orphan"}' "$NS/configmaps/o1")
[[ $(jv .message "$out") == *"orphanDependents and deletionPropagation cannot be both set" ]] || fail "both: $out"
[[ $(J -X DELETE -d '{"gracePeriodSeconds":"x"}' "$NS/configmaps/o1" | jq -r .code) == 400 ]] || fail "bad gracePeriodSeconds type"
# dry run: answered as if deleted, nothing written
out=$(k delete cm o1 --dry-run=server 2>&1) || fail "dry-run delete: $out"
[[ $(C "$NS/configmaps/o1" | jq -r .metadata.uid) == "$uid" ]] || fail "dry run deleted o1"
[[ $(C -X DELETE "$NS/configmaps/o1?dryRun=All" | jq -r .status) == Success ]] || fail "dryRun=All"
[[ $(C -X DELETE "$NS/configmaps/o1?dryRun=Some" | jq -r .code) == 422 ]] || fail "dryRun=Some"
# the right preconditions delete
[[ $(J -X DELETE -d "{\"preconditions\":{\"uid\":\"$uid\"}}" "$NS/configmaps/o1" | jq -r .status) == Success ]] || fail "uid precondition met"
# Orphan and Foreground leave the object to the garbage collector (its finalizer), Background not
for p in Orphan:orphan Foreground:foregroundDeletion; do
	J -X POST -d '{"metadata":{"name":"gc"}}' "$NS/configmaps" >/dev/null
	out=$(J -X DELETE -d "{\"propagationPolicy\":\"${p%%:*}\"}" "$NS/configmaps/gc")
	[[ $(jv '.metadata.finalizers | join(",")' "$out") == "${p##*:}" && $(jv .metadata.deletionTimestamp "$out") != null ]] || fail "${p%%:*}: $out"
	# Background takes the garbage collector's finalizer off again: gone
	[[ $(J -X DELETE -d '{"propagationPolicy":"Background"}' "$NS/configmaps/gc" | jq -r .status) == Success ]] || fail "Background after ${p%%:*}"
	[[ $(C -o /dev/null -w '%{http_code}' "$NS/configmaps/gc") == 404 ]] || fail "gc after Background"
done
k create deployment dep --image=busybox:1 >/dev/null
out=$(k delete deployment dep --cascade=orphan --wait=false 2>&1) || fail "cascade=orphan: $out"
[[ $(k get deployment dep -o jsonpath='{.metadata.finalizers[0]}') == orphan ]] || fail "cascade=orphan: no orphan finalizer"
k patch deployment dep --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null 2>&1 ||
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"finalizers":null}}' "$U/apis/apps/v1/namespaces/default/deployments/dep" >/dev/null
wait_gone "$U/apis/apps/v1/namespaces/default/deployments/dep"

# deletecollection applies the options to each selected item.
for i in 1 2 3; do pod "dc$i" n1 | jq -r .metadata.name >/dev/null; done
k label pod dc1 dc2 grp=a >/dev/null
out=$(J -X DELETE -d '{"dryRun":["All"]}' "$NS/pods?labelSelector=grp%3Da")
[[ $(jv '.items | length' "$out") == 2 && $(k get pods -o name | grep -c dc) == 3 ]] || fail "deletecollection dryRun: $out"
out=$(C -X DELETE "$NS/pods?labelSelector=grp%3Da")
[[ $(jv '[.items[].metadata.name] | sort | join(",")' "$out") == dc1,dc2 ]] || fail "deletecollection: $out"
[[ $(C "$NS/pods/dc1" | jq -r .metadata.deletionGracePeriodSeconds) == 30 ]] || fail "deletecollection is not graceful"
J -X DELETE -d '{"gracePeriodSeconds":0}' "$NS/pods?labelSelector=grp%3Da" >/dev/null
[[ $(k get pods -o name | tr '\n' ,) == "pod/dc3," ]] || fail "deletecollection grace 0: $(k get pods -o name)"
out=$(C -X DELETE "$NS/pods?propagationPolicy=Bogus")
[[ $(jv .code "$out") == 422 ]] || fail "deletecollection options not validated: $out"
k delete pod dc3 --grace-period=0 --force >/dev/null 2>&1

# --- Namespaces.
out=$(k delete ns default 2>&1) && fail "deleted default"
[[ $out == *'namespaces "default" is forbidden: this namespace may not be deleted'* ]] || fail "delete default: $out"
[[ $(J -X POST -d '{"metadata":{"name":"c"}}' "$U/api/v1/namespaces/nope/configmaps" | jq -r '"\(.code) \(.message)"') == '404 namespaces "nope" not found' ]] || fail "create in a missing namespace"
# a namespace with content: kubectl delete ns waits until it is gone
k create ns n1 >/dev/null
k create cm c -n n1 --from-literal=a=b >/dev/null
k create secret generic s -n n1 --from-literal=a=b >/dev/null
k create deployment d -n n1 --image=busybox:1 >/dev/null
k run unscheduled -n n1 --image=busybox:1 >/dev/null
out=$(k delete ns n1 --timeout=60s 2>&1) || fail "kubectl delete ns n1: $out"
[[ $(C -o /dev/null -w '%{http_code}' "$U/api/v1/namespaces/n1") == 404 ]] || fail "n1 after kubectl delete --wait"
[[ $(C "$U/api/v1/configmaps" | jq -r '[.items[] | select(.metadata.namespace=="n1")] | length') == 0 ]] || fail "n1's configmaps left"
[[ $(C "$U/apis/apps/v1/deployments" | jq -r '[.items[] | select(.metadata.namespace=="n1")] | length') == 0 ]] || fail "n1's deployments left"
# a scheduled pod holds its namespace Terminating until the pod is gone; new content is refused
k create ns n2 >/dev/null
k create cm c -n n2 --from-literal=a=b >/dev/null
J -X POST -d '{"metadata":{"name":"sp"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox:1"}]}}' "$U/api/v1/namespaces/n2/pods" >/dev/null
out=$(C -X DELETE "$U/api/v1/namespaces/n2")
[[ $(jv '"\(.status.phase) \(.spec.finalizers | join(","))"' "$out") == "Terminating kubernetes" && $(jv .metadata.deletionTimestamp "$out") != null ]] || fail "DELETE ns n2: $out"
wait_gone "$U/api/v1/namespaces/n2/configmaps/c"
[[ $(C "$U/api/v1/namespaces/n2/pods/sp" | jq -r .metadata.deletionGracePeriodSeconds) == 30 ]] || fail "n2's pod not deleted gracefully"
k get ns n2 | grep -q Terminating || fail "kubectl get ns n2: $(k get ns n2)"
out=$(k create cm late -n n2 --from-literal=a=b 2>&1) && fail "created in a Terminating namespace"
[[ $out == *'configmaps "late" is forbidden: unable to create new content in namespace n2 because it is being terminated'* ]] || fail "create in Terminating: $out"
out=$(J -X POST -d '{"metadata":{"name":"late"}}' "$U/api/v1/namespaces/n2/configmaps")
[[ $(jv '"\(.code) \(.reason) \(.details.causes[0].reason) \(.details.causes[0].field)"' "$out") == "403 Forbidden NamespaceTerminating metadata.namespace" ]] || fail "403 details: $out"
# a second DELETE of a Terminating namespace answers it unchanged
[[ $(C -X DELETE "$U/api/v1/namespaces/n2" | jq -r .status.phase) == Terminating ]] || fail "second DELETE of n2"
# ... and it is finalized again after a restart
srv_stop
srv_start 31
k get ns n2 | grep -q Terminating || fail "n2 after restart: $(k get ns n2)"
k delete pod sp -n n2 --grace-period=0 --force >/dev/null 2>&1
k wait --for=delete ns/n2 --timeout=60s >/dev/null || fail "n2 not finalized after its pod went"
# /finalize sets spec.finalizers; the namespace goes when none is left
k create ns n3 >/dev/null
out=$(k get ns n3 -o json | jq '.spec.finalizers=["example.com/keep"]' | k replace --raw /api/v1/namespaces/n3/finalize -f - 2>&1)
[[ $(jv '.spec.finalizers | join(",")' "$out") == example.com/keep ]] || fail "finalize: $out"
out=$(k get ns n3 -o json | jq '.spec.finalizers=["bad"]' | k replace --raw /api/v1/namespaces/n3/finalize -f - 2>&1) && fail "finalize with a bad name"
[[ $out == *'spec.finalizers[0]: Invalid value: \"bad\": name is neither a standard finalizer name nor is it fully qualified'* || $out == *'name is neither a standard finalizer name'* ]] || fail "finalize bad name: $out"
k delete ns n3 --wait=false >/dev/null
k get ns n3 | grep -q Terminating || fail "n3 not Terminating"
k get ns n3 -o json | jq '.spec.finalizers=[]' | k replace --raw /api/v1/namespaces/n3/finalize -f - >/dev/null
[[ $(C -o /dev/null -w '%{http_code}' "$U/api/v1/namespaces/n3") == 404 ]] || fail "n3 after its last finalizer"

# --- kubectl delete -f --wait, kubectl 1.33 too.
cat >"$D/app.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  a: "1"
---
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  containers:
  - name: c
    image: busybox:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: c
        image: busybox:1
YAML
k apply -f "$D/app.yaml" >/dev/null
out=$(k delete -f "$D/app.yaml" --wait --timeout=60s 2>&1) || fail "delete -f: $out"
[[ $(grep -c deleted <<<"$out") == 3 ]] || fail "delete -f: $out"
[[ $(k get cm,pod,deploy -o name | grep -c app) == 0 ]] || fail "left after delete -f"
srv_stop
srv_start 33
k apply -f "$D/app.yaml" >/dev/null
out=$(k delete -f "$D/app.yaml" --wait --timeout=60s 2>&1) || fail "delete -f (1.33): $out"
[[ $(k get cm,pod,deploy -o name | grep -c app) == 0 ]] || fail "left after delete -f (1.33)"

# --- The Python client: V1DeleteOptions.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py"),
                   spec=client.V1PodSpec(node_name="n1", containers=[client.V1Container(name="c", image="busybox:1")]))
v1.create_namespaced_pod("default", pod)
p = v1.delete_namespaced_pod("py", "default")
assert p.metadata.deletion_grace_period_seconds == 30 and p.metadata.deletion_timestamp, p.metadata
try:
    v1.delete_namespaced_pod("py", "default", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid="not-the-uid")))
    sys.exit("precondition ignored")
except client.exceptions.ApiException as e:
    assert e.status == 409 and "the UID in the precondition (not-the-uid)" in e.body, e.body
try:
    v1.delete_namespaced_pod("py", "default", propagation_policy="Sideways")
    sys.exit("bad propagationPolicy accepted")
except client.exceptions.ApiException as e:
    assert e.status == 422 and "Unsupported value" in e.body, e.body
p = v1.delete_namespaced_pod("py", "default", body=client.V1DeleteOptions(grace_period_seconds=0))
assert p.metadata.name == "py"
try:
    v1.read_namespaced_pod("py", "default")
    sys.exit("pod still there after grace 0")
except client.exceptions.ApiException as e:
    assert e.status == 404
v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="pycm")))
st = v1.delete_namespaced_config_map("pycm", "default", body=client.V1DeleteOptions(propagation_policy="Background"))
assert st.status == "Success" and st.details.name == "pycm" and st.details.kind == "configmaps", st
print("python: delete with V1DeleteOptions ok")
PYTHON

# --- Events' TTL: an Event goes --event-ttl after its last write.
srv_stop
srv_start 31 --event-ttl 8s
ev='{"metadata":{"name":"ev1"},"involvedObject":{"kind":"Pod","name":"x","namespace":"default"},"reason":"R","message":"m","type":"Normal"}'
J -X POST -d "$ev" "$NS/events" >/dev/null
J -X POST -d '{"metadata":{"name":"ev2"},"eventTime":"2026-01-01T00:00:00.000000Z","reportingController":"t","reportingInstance":"t","action":"A","reason":"R","type":"Normal","regarding":{"kind":"Pod","name":"x"}}' "$U/apis/events.k8s.io/v1/namespaces/default/events" >/dev/null
[[ $(C -o /dev/null -w '%{http_code}' "$NS/events/ev1") == 200 ]] || fail "ev1 not created"
for _ in $(seq 600); do
	[[ $(C -o /dev/null -w '%{http_code}' "$NS/events/ev1") == 404 &&
		$(C -o /dev/null -w '%{http_code}' "$U/apis/events.k8s.io/v1/namespaces/default/events/ev2") == 404 ]] && break
	sleep 0.1
done
[[ $(C -o /dev/null -w '%{http_code}' "$NS/events/ev1") == 404 ]] || fail "core Event not expired"
[[ $(C -o /dev/null -w '%{http_code}' "$U/apis/events.k8s.io/v1/namespaces/default/events/ev2") == 404 ]] || fail "events.k8s.io Event not expired"
grep -Eq "msg=\"expired events deleted\" deleted=[0-9]+ ttl_seconds=8 " "$LOG" || fail "no sweep in the log"
[[ $("$BIN/k8c-server" --event-ttl 1x 2>&1; echo "rc=$?") == *"rc=2" ]] || fail "--event-ttl 1x accepted"
srv_stop
echo "PASS"

#!/bin/bash
# The garbagecollector controller inside k8c-server: Background, Orphan, Foreground with
# blockOwnerDeletion, several owners, dangling owners, cycles; then as the conformance tests
# with Deployments/ReplicaSets and a ReplicationController and its pods. docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
. "$(dirname "$0")/ctrl_lib.sh"
srv_setup ctrlgc
srv_instance "$D"
# only the controllers under test: workload controllers or a scheduler would act on its objects
export K8C_CONTROLLERS=garbagecollector
srv_start 31

# ---- garbagecollector: Background, Orphan, Foreground (blockOwnerDeletion), cycles ----
k create ns gc >/dev/null
uidof() { k -n gc get "$1" "$2" -o jsonpath='{.metadata.uid}'; }
# mkdep KIND NAME OWNER-REFS-JSON [FINALIZERS-JSON]: a ConfigMap or Pod with ownerReferences
mkdep() {
	local meta="{\"name\":\"$2\",\"ownerReferences\":$3${4:+,\"finalizers\":$4}}"
	if [[ $1 == cm ]]; then
		J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":$meta}" "$U/api/v1/namespaces/gc/configmaps"
	else
		J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":$meta,\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}" "$U/api/v1/namespaces/gc/pods"
	fi | jq -e .metadata.uid >/dev/null || fail "$1 $2 not created"
}
ref() { echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"$1\",\"uid\":\"$(uidof cm "$1")\"${2:+,\"blockOwnerDeletion\":$2}}"; }
gone() { ! k -n gc get "$1" "$2" >/dev/null 2>&1; }
# Background: the owner goes at once, its dependents after it (a ConfigMap and a Pod)
k -n gc create cm bg-owner >/dev/null
mkdep cm bg-dep1 "[$(ref bg-owner)]"
mkdep pod bg-dep2 "[$(ref bg-owner)]"
k -n gc delete cm bg-owner >/dev/null
wait_for "bg-dep1 collected" gone cm bg-dep1
wait_for "bg-dep2 collected" gone pod bg-dep2
# an object whose owner never existed (uid not found) is collected too
mkdep cm dangling '[{"apiVersion":"v1","kind":"ConfigMap","name":"nosuch","uid":"00000000-0000-0000-0000-000000000000"}]'
wait_for "dangling collected" gone cm dangling
# two owners, one goes: the dependent stays, without the reference to the gone one
k -n gc create cm two-a >/dev/null
k -n gc create cm two-b >/dev/null
mkdep cm two-dep "[$(ref two-a), $(ref two-b)]"
k -n gc delete cm two-a >/dev/null
one_ref() { [[ $(k -n gc get cm two-dep -o jsonpath='{.metadata.ownerReferences[*].name}') == two-b ]]; }
wait_for "two-dep keeps only two-b" one_ref
# Orphan: the dependents stay, without their ownerReference; the owner goes
k -n gc create cm or-owner >/dev/null
mkdep cm or-dep1 "[$(ref or-owner)]"
mkdep cm or-dep2 "[$(ref or-owner true)]"
k -n gc delete cm or-owner --cascade=orphan >/dev/null
wait_for "or-owner deleted" gone cm or-owner
for d in or-dep1 or-dep2; do
	[[ -z $(k -n gc get cm $d -o jsonpath='{.metadata.ownerReferences}') ]] || fail "$d keeps its ownerReference"
done
# Foreground: the owner stays (deletionTimestamp, finalizer foregroundDeletion) while a
# dependent with blockOwnerDeletion exists; a held dependent (finalizer of the test) keeps it
k -n gc create cm fg-owner >/dev/null
mkdep cm fg-block "[$(ref fg-owner true)]" '["k8c.test/hold"]'
mkdep cm fg-free "[$(ref fg-owner false)]"
mkdep pod fg-pod "[$(ref fg-owner true)]"
k -n gc delete cm fg-owner --cascade=foreground --wait=false >/dev/null
wait_for "fg-free collected" gone cm fg-free
wait_for "fg-pod collected" gone pod fg-pod
blocking_deleting() { [[ -n $(k -n gc get cm fg-block -o jsonpath='{.metadata.deletionTimestamp}') ]]; }
wait_for "fg-block being deleted" blocking_deleting
o=$(k -n gc get cm fg-owner -o json) || fail "fg-owner gone while a blocking dependent exists"
[[ $(jq -r .metadata.deletionTimestamp <<<"$o") != null ]] || fail "fg-owner not being deleted"
[[ $(jq -c .metadata.finalizers <<<"$o") == '["foregroundDeletion"]' ]] || fail "fg-owner finalizers: $o"
k -n gc patch cm fg-block --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
wait_for "fg-owner deleted after its dependents" gone cm fg-owner
# a circle of blockOwnerDeletion (c1 <- c2 <- c3 <- c1), deleted in the foreground: all go
k -n gc create cm c1 >/dev/null
mkdep cm c2 "[$(ref c1 true)]"
mkdep cm c3 "[$(ref c2 true)]"
k -n gc patch cm c1 --type=merge -p "{\"metadata\":{\"ownerReferences\":[$(ref c3 true)]}}" >/dev/null
k -n gc delete cm c1 --cascade=foreground --wait=false >/dev/null
for c in c1 c2 c3; do wait_for "$c of the circle deleted" gone cm $c; done

# as the conformance tests, with their kinds (no workload controller runs here, so the
# ReplicaSets and pods are made by hand with their ownerReferences)
mkrs() { # NAME DEPLOYMENT
	local uid
	uid=$(k -n gc get deploy "$2" -o jsonpath='{.metadata.uid}')
	k -n gc create -f - >/dev/null <<Y
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: $1
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: $2, uid: $uid, controller: true, blockOwnerDeletion: true}]
spec:
  replicas: 0
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: busybox}]}
Y
}
# "delete RS created by deployment when not orphaning"
k -n gc create deployment gcd --image=busybox --replicas=0 >/dev/null
mkrs gcd-rs gcd
k -n gc delete deployment gcd >/dev/null
wait_for "ReplicaSet of a deleted Deployment collected" gone rs gcd-rs
# "orphan RS created by deployment when deleteOptions.PropagationPolicy is Orphan"
k -n gc create deployment gco --image=busybox --replicas=0 >/dev/null
mkrs gco-rs gco
k -n gc delete deployment gco --cascade=orphan >/dev/null
wait_for "orphaning Deployment deleted" gone deploy gco
[[ -z $(k -n gc get rs gco-rs -o jsonpath='{.metadata.ownerReferences}') ]] || fail "gco-rs keeps its owner"
# "keep the rc around until all its pods are deleted if the deleteOptions says so"
k -n gc create -f - >/dev/null <<'Y'
apiVersion: v1
kind: ReplicationController
metadata: {name: gcrc}
spec:
  replicas: 0
  selector: {app: gcrc}
  template:
    metadata: {labels: {app: gcrc}}
    spec: {containers: [{name: c, image: busybox}]}
Y
rcref="{\"apiVersion\":\"v1\",\"kind\":\"ReplicationController\",\"name\":\"gcrc\",\"uid\":\"$(uidof rc gcrc)\",\"controller\":true,\"blockOwnerDeletion\":true}"
mkdep pod gcrc-1 "[$rcref]"
mkdep pod gcrc-2 "[$rcref]" '["k8c.test/hold"]'
k -n gc delete rc gcrc --cascade=foreground --wait=false >/dev/null
wait_for "gcrc-1 collected" gone pod gcrc-1
held_deleting() { [[ -n $(k -n gc get pod gcrc-2 -o jsonpath='{.metadata.deletionTimestamp}') ]]; }
wait_for "gcrc-2 being deleted" held_deleting
[[ $(k -n gc get rc gcrc -o jsonpath='{.metadata.finalizers}') == '["foregroundDeletion"]' ]] ||
	fail "the RC did not wait for its pods"
k -n gc patch pod gcrc-2 --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
wait_for "gcrc deleted after its pods" gone rc gcrc

srv_stop
echo PASS

#!/bin/bash
# Storage: the persistentvolume-binder controller against fake nodes (Node objects without an
# agent): the default StorageClass `standard` and the DefaultStorageClass admission, static
# binding (class, capacity: smallest fit, access modes, volumeMode, selector, pre-bound volumes
# and claims), phases Available/Bound/Released/Failed, reclaim Retain and Delete, dynamic
# hostPath provisioning with Immediate and WaitForFirstConsumer (the scheduler's selected-node
# annotation), events; the conformance "PV and PVC lifecycle" and "StorageClass lifecycle".
# Through the real kubectl and curl. No root needed.
#
#   kubectl / curl ──TLS──► k8c-server 127.0.0.1:$PORT --controllers=persistentvolume-binder,scheduler
# Usage: ctrl_storage.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup storage
srv_instance "$D"
K8C_CONTROLLERS=persistentvolume-binder,scheduler srv_start 31 --provision-root "$D/volumes"

NS=storage-$$
k create ns $NS >/dev/null

# wait_for DESCRIPTION CMD...: poll until the command succeeds.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 300); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "never: $what"
}
jq_is() { # URL-path JQ-condition
	C "$U$1" | jq -e "$2"
}
pv_is() { jq_is "/api/v1/persistentvolumes/$1" "$2"; }
pv_gone() { [[ $(C -o /dev/null -w '%{http_code}' "$U/api/v1/persistentvolumes/$1") == 404 ]]; }
pvc_is() { jq_is "/api/v1/namespaces/$NS/persistentvolumeclaims/$1" "$2"; }
has_event() { # object reason
	k get events -n "${3:-$NS}" --field-selector "involvedObject.name=$1" -o json |
		jq -e --arg r "$2" '[.items[] | select(.reason == $r)] | length > 0'
}

# Two fake Ready nodes.
for n in node1 node2; do
	J -X POST -d "{\"metadata\":{\"name\":\"$n\",\"labels\":{\"kubernetes.io/hostname\":\"$n\"}},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"allocatable\":{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"110\"}}}" \
		"$U/api/v1/nodes" >/dev/null
done

# --- The default StorageClass, and claims without a class get it.
wait_for "default class standard" jq_is /apis/storage.k8s.io/v1/storageclasses/standard \
	'.provisioner == "k8c.io/hostpath" and .metadata.annotations["storageclass.kubernetes.io/is-default-class"] == "true" and .volumeBindingMode == "WaitForFirstConsumer" and .reclaimPolicy == "Delete"'
out=$(k get storageclass)
grep -Eq '^standard \(default\) +k8c.io/hostpath +Delete +WaitForFirstConsumer' <<<"$out" || fail "get sc: $out"
pvc() { # name class size [extra spec]
	local cls=
	[[ $2 == - ]] || cls="\"storageClassName\":\"$2\","
	printf '{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"%s"},"spec":{%s%s"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"%s"}}}}' "$1" "$cls" "${4:+$4,}" "$3"
}
pv() { # name class size [extra spec] [labels]
	printf '{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"%s","labels":{%s}},"spec":{"storageClassName":"%s",%s"capacity":{"storage":"%s"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/tmp/%s"}}}' "$1" "${5:-}" "$2" "${4:+$4,}" "$3" "$1"
}
pvc dflt - 1Gi | k apply -n $NS -f - >/dev/null
pvc_is dflt '.spec.storageClassName == "standard"' >/dev/null || fail "default class not set: $(k get pvc dflt -n $NS -o json)"
pvc none "" 1Gi | k apply -n $NS -f - >/dev/null
pvc_is none '.spec.storageClassName == ""' >/dev/null || fail "explicit empty class changed"

# --- Static binding: the smallest volume that fits, class and access modes.
pv pv-big manual 5Gi | k apply -f - >/dev/null
pv pv-small manual 2Gi | k apply -f - >/dev/null
pv pv-rwx manual 1Gi '"volumeMode":"Block"' | k apply -f - >/dev/null
wait_for "pv-small Available" pv_is pv-small '.status.phase == "Available"'
pvc c1 manual 1Gi | k apply -n $NS -f - >/dev/null
wait_for "c1 Bound" pvc_is c1 '.status.phase == "Bound"'
pvc_is c1 '.spec.volumeName == "pv-small" and .status.capacity.storage == "2Gi" and .status.accessModes == ["ReadWriteOnce"] and .metadata.annotations["pv.kubernetes.io/bind-completed"] == "yes"' >/dev/null ||
	fail "c1: $(k get pvc c1 -n $NS -o json)"
wait_for "pv-small Bound" pv_is pv-small ".status.phase == \"Bound\" and .spec.claimRef.name == \"c1\" and .spec.claimRef.namespace == \"$NS\""
out=$(k get pv pv-small)
grep -Eq "^pv-small +2Gi +RWO +Retain +Bound +$NS/c1 +manual" <<<"$out" || fail "get pv: $out"
out=$(k get pvc c1 -n $NS)
grep -Eq '^c1 +Bound +pv-small +2Gi +RWO +manual' <<<"$out" || fail "get pvc: $out"
# RWX fits nothing (and class manual has no StorageClass to provision from)
J -X POST -d '{"metadata":{"name":"rwx"},"spec":{"storageClassName":"manual","accessModes":["ReadWriteMany"],"resources":{"requests":{"storage":"1Gi"}}}}' \
	"$U/api/v1/namespaces/$NS/persistentvolumeclaims" >/dev/null
wait_for "rwx Pending + event" has_event rwx ProvisioningFailed
pvc_is rwx '.status.phase == "Pending" and (.spec.volumeName // "") == ""' >/dev/null || fail "rwx bound"
# Block mode only with a Block claim
pvc blk manual 1Gi '"volumeMode":"Block"' | k apply -n $NS -f - >/dev/null
wait_for "blk Bound to pv-rwx" pvc_is blk '.status.phase == "Bound" and .spec.volumeName == "pv-rwx"'

# Selector
pv pv-fast manual 10Gi "" '"tier":"fast"' | k apply -f - >/dev/null
pvc sel manual 1Gi '"selector":{"matchLabels":{"tier":"fast"}}' | k apply -n $NS -f - >/dev/null
wait_for "sel Bound to pv-fast" pvc_is sel '.status.phase == "Bound" and .spec.volumeName == "pv-fast"'

# A volume pre-bound to a claim by claimRef, and a claim pre-bound by volumeName.
pv pv-pre manual 3Gi "\"claimRef\":{\"namespace\":\"$NS\",\"name\":\"pre\"}" | k apply -f - >/dev/null
pvc pre manual 1Gi | k apply -n $NS -f - >/dev/null
wait_for "pre Bound to pv-pre" pvc_is pre '.status.phase == "Bound" and .spec.volumeName == "pv-pre"'
pv pv-named manual 1Gi | k apply -f - >/dev/null
pvc named manual 1Gi '"volumeName":"pv-named"' | k apply -n $NS -f - >/dev/null
wait_for "named Bound" pvc_is named '.status.phase == "Bound"'
wait_for "pv-named Bound to named" pv_is pv-named '.status.phase == "Bound" and .spec.claimRef.name == "named"'

# A bound claim whose volume is deleted is Lost.
pv pv-lost manual 1Gi | k apply -f - >/dev/null
pvc lost manual 1Gi '"volumeName":"pv-lost"' | k apply -n $NS -f - >/dev/null
wait_for "lost Bound" pvc_is lost '.status.phase == "Bound"'
k delete pv pv-lost >/dev/null
wait_for "lost Lost" pvc_is lost '.status.phase == "Lost"'
wait_for "ClaimLost event" has_event lost ClaimLost
k delete pvc lost -n $NS >/dev/null

# --- Release and reclaim: Retain keeps a Released volume; Delete of a static one is Failed.
k delete pvc c1 -n $NS >/dev/null
wait_for "pv-small Released" pv_is pv-small '.status.phase == "Released"'
k patch pv pv-big -p '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}' >/dev/null
pvc big manual 4Gi | k apply -n $NS -f - >/dev/null
wait_for "big Bound" pvc_is big '.status.phase == "Bound" and .spec.volumeName == "pv-big"'
k delete pvc big -n $NS >/dev/null
wait_for "pv-big Failed" pv_is pv-big '.status.phase == "Failed"'
wait_for "VolumeFailedDelete event" has_event pv-big VolumeFailedDelete default

# --- Dynamic provisioning, Immediate.
k apply -f - >/dev/null <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast
provisioner: k8c.io/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
pvc dyn fast 3Gi | k apply -n $NS -f - >/dev/null
wait_for "dyn Bound" pvc_is dyn '.status.phase == "Bound"'
uid=$(C "$U/api/v1/namespaces/$NS/persistentvolumeclaims/dyn" | jq -r .metadata.uid)
pv_is "pvc-$uid" ".spec.hostPath.path == \"$D/volumes/pvc-$uid\" and .spec.hostPath.type == \"DirectoryOrCreate\" and .spec.capacity.storage == \"3Gi\" and .spec.persistentVolumeReclaimPolicy == \"Delete\" and .spec.storageClassName == \"fast\" and (.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0] | .key == \"kubernetes.io/hostname\" and (.values[0] | test(\"^node[12]$\"))) and .metadata.annotations[\"pv.kubernetes.io/provisioned-by\"] == \"k8c.io/hostpath\" and .status.phase == \"Bound\"" >/dev/null ||
	fail "provisioned pv: $(k get pv pvc-$uid -o json)"
wait_for "ProvisioningSucceeded" has_event dyn ProvisioningSucceeded
k describe pvc dyn -n $NS | grep -q "ProvisioningSucceeded.*Successfully provisioned volume pvc-$uid using k8c.io/hostpath" ||
	fail "describe pvc: $(k describe pvc dyn -n $NS)"
# reclaim Delete removes the provisioned volume
k delete pvc dyn -n $NS >/dev/null
wait_for "pvc-$uid deleted" pv_gone "pvc-$uid"

# --- WaitForFirstConsumer: nothing until the scheduler names a node.
wait_for "dflt waits" has_event dflt WaitForFirstConsumer
pvc_is dflt '.status.phase == "Pending"' >/dev/null || fail "dflt not Pending"
k annotate pvc dflt -n $NS volume.kubernetes.io/selected-node=node2 >/dev/null
wait_for "dflt Bound" pvc_is dflt '.status.phase == "Bound"'
uid=$(C "$U/api/v1/namespaces/$NS/persistentvolumeclaims/dflt" | jq -r .metadata.uid)
pv_is "pvc-$uid" '.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values == ["node2"] and .spec.storageClassName == "standard"' >/dev/null ||
	fail "WaitForFirstConsumer pv: $(k get pv pvc-$uid -o json)"

# --- With the scheduler: a pod's WaitForFirstConsumer claim is provisioned on the pod's node.
pvc data - 1Gi | k apply -n $NS -f - >/dev/null
J -X POST -d '{"metadata":{"name":"user"},"spec":{"containers":[{"name":"c","image":"busybox:1"}],"volumes":[{"name":"d","persistentVolumeClaim":{"claimName":"data"}}]}}' \
	"$U/api/v1/namespaces/$NS/pods" >/dev/null
wait_for "data Bound" pvc_is data '.status.phase == "Bound"'
wait_for "user scheduled" jq_is "/api/v1/namespaces/$NS/pods/user" '.spec.nodeName != null'
node=$(C "$U/api/v1/namespaces/$NS/pods/user" | jq -r .spec.nodeName)
vol=$(C "$U/api/v1/namespaces/$NS/persistentvolumeclaims/data" | jq -r .spec.volumeName)
pv_is "$vol" ".spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values == [\"$node\"]" >/dev/null ||
	fail "pod on $node, volume: $(k get pv "$vol" -o json)"
k delete pod user -n $NS --grace-period=0 --force >/dev/null 2>&1

# --- StorageClass lifecycle: with another default, a deleted `standard` is not made again.
k patch storageclass fast -p '{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}' >/dev/null
k delete storageclass standard >/dev/null
pvc after - 1Gi | k apply -n $NS -f - >/dev/null
pvc_is after '.spec.storageClassName == "fast"' >/dev/null || fail "default after patch: $(k get pvc after -n $NS -o json)"
[[ $(C -o /dev/null -w '%{http_code}' "$U/apis/storage.k8s.io/v1/storageclasses/standard") == 404 ]] || fail "standard made again"
# without any default, `standard` comes back
k patch storageclass fast -p '{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"false"}}}' >/dev/null
wait_for "standard again" jq_is /apis/storage.k8s.io/v1/storageclasses/standard '.provisioner == "k8c.io/hostpath"'

# --- PV and PVC lifecycle (conformance): patch, list by label, status, delete a collection.
k label pv pv-fast lifecycle=yes >/dev/null
[[ $(k get pv -l lifecycle=yes -o name) == persistentvolume/pv-fast ]] || fail "pv list by label"
k patch pvc sel -n $NS -p '{"metadata":{"labels":{"lifecycle":"yes"}}}' >/dev/null
[[ $(k get pvc -n $NS -l lifecycle=yes -o name) == persistentvolumeclaim/sel ]] || fail "pvc list by label"
k delete pvc -n $NS -l lifecycle=yes >/dev/null
wait_for "pv-fast Released" pv_is pv-fast '.status.phase == "Released"'
k delete pv pv-fast pv-small pv-big >/dev/null

srv_stop
echo "ctrl_storage: ok"

#!/bin/bash
# The workload controllers (control/ctrl_{replicaset,daemonset,statefulset}.c) through the API and
# the real kubectl, on fake nodes: Node objects with no agent; the test binds pods that no
# scheduler bound and marks pods Running+Ready through pods/status (ctrl_wl_lib.sh).
# ReplicaSet adopt/release and replacement, ReplicationController, DaemonSet on 3 fake nodes with
# a tainted one (RollingUpdate, ControllerRevisions, rollout history/undo), StatefulSet (ordered,
# PVCs, scale down from the top). Deployments: ctrl_deployment.sh.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup wl
. "$(dirname "$0")/ctrl_wl_lib.sh"

# ---- ReplicaSet: adoption, release, replacement ----
J -X POST -d '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","labels":{"app":"rs1"}},"spec":{"containers":[{"name":"c","image":"x"}]}}' \
	"$U/api/v1/namespaces/$NS/pods" | jq -e .metadata.uid >/dev/null || fail "orphan pod"
cat >"$D/rs.yaml" <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs1, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec: {containers: [{name: c, image: "x"}]}
EOF
k apply -f "$D/rs.yaml" >/dev/null
wait_for "the orphan adopted" sh -c "curl -s --cacert '$SRV_DIR/data/pki/ca.crt' --cert '$SRV_DIR/data/pki/admin.crt' --key '$SRV_DIR/data/pki/admin.key' \
	'$U/api/v1/namespaces/$NS/pods/orphan' | jq -e '.metadata.ownerReferences[0].name == \"rs1\" and .metadata.ownerReferences[0].controller'"
wait_for "rs1 at 2 pods" pods_are app=rs1 2
ready_all app=rs1
wait_for "rs1 status" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get rs rs1 -o json | jq -e '.status.replicas == 2 and .status.readyReplicas == 2 and
	.status.availableReplicas == 2 and .status.fullyLabeledReplicas == 2 and .status.observedGeneration == .metadata.generation'"
# relabel the orphan: released, and replaced
k -n $NS label pod orphan app=gone --overwrite >/dev/null
wait_for "orphan released" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get pod orphan -o json | jq -e '.metadata.ownerReferences == null'"
wait_for "a replacement pod" pods_are app=rs1 2
# a deleted pod is replaced
VICTIM=$(pods_json app=rs1 | jq -r '.items[0].metadata.name')
k -n $NS delete pod "$VICTIM" --wait=false >/dev/null
wait_for "replacement after delete" sh -c "[ \"\$(curl -s --cacert '$SRV_DIR/data/pki/ca.crt' --cert '$SRV_DIR/data/pki/admin.crt' --key '$SRV_DIR/data/pki/admin.key' \
	'$U/api/v1/namespaces/$NS/pods?labelSelector=app=rs1' | jq '[.items[] | select(.metadata.name != \"$VICTIM\")] | length')\" = 2 ]"
k -n $NS scale rs rs1 --replicas=0 >/dev/null
wait_for "rs1 scaled to 0" pods_are app=rs1 0

# ---- a create refused by a ResourceQuota: condition ReplicaFailure, Event FailedCreate ----
NS=wlq
k create namespace $NS >/dev/null
J -X POST -d '{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"two"},"spec":{"hard":{"count/pods":"2","pods":"2"}}}' \
	"$U/api/v1/namespaces/$NS/resourcequotas" | jq -e .metadata.uid >/dev/null || fail "quota"
quota_seen() { C "$U/api/v1/namespaces/$NS/resourcequotas/two" | jq -e '.status.hard.pods == "2"'; }
wait_for "quota status" quota_seen
cat >"$D/rsq.yaml" <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rsq, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: rsq}}
  template:
    metadata: {labels: {app: rsq}}
    spec: {containers: [{name: c, image: "x"}]}
EOF
k apply -f "$D/rsq.yaml" >/dev/null
rsq_failed() { apps replicasets/rsq | jq -e '.status.conditions[] | select(.type == "ReplicaFailure" and .status == "True" and .reason == "FailedCreate" and (.message | test("exceeded quota")))'; }
wait_for "ReplicaFailure on rsq" rsq_failed
pods_are app=rsq 2 || fail "rsq: $(count_pods app=rsq) pods under a quota of 2"
wait_for "FailedCreate event for rsq" event_seen rsq FailedCreate '^Error creating: .*exceeded quota'
[[ $(k -n $NS get events --field-selector involvedObject.name=rsq,reason=FailedCreate -o jsonpath='{.items[0].source.component}') == replicaset-controller ]] ||
	fail "FailedCreate source: $(k -n $NS get events --field-selector involvedObject.name=rsq -o json)"
k -n $NS delete resourcequota two >/dev/null
rsq_ok() { pods_are app=rsq 3 && apps replicasets/rsq | jq -e '.status.conditions == null and .status.replicas == 3'; }
wait_for "rsq at 3 without ReplicaFailure" rsq_ok
NS=wl

# ---- ReplicationController ----
cat >"$D/rc.yaml" <<EOF
apiVersion: v1
kind: ReplicationController
metadata: {name: rc1, namespace: $NS}
spec:
  replicas: 2
  selector: {app: rc1}
  template:
    metadata: {labels: {app: rc1}}
    spec: {containers: [{name: c, image: "x"}]}
EOF
k apply -f "$D/rc.yaml" >/dev/null
wait_for "rc1 pods" pods_are app=rc1 2
pods_json app=rc1 | jq -e '[.items[] | .metadata.ownerReferences[0] | select(.kind == "ReplicationController" and .apiVersion == "v1")] | length == 2' \
	>/dev/null || fail "rc pods' owner"
ready_all app=rc1
wait_for "rc1 status" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get rc rc1 -o json | jq -e '.status.readyReplicas == 2 and .status.availableReplicas == 2'"

# ---- DaemonSet: n3 is tainted ----
cat >"$D/ds.yaml" <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: $NS}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: "a:1"}]}
EOF
k apply -f "$D/ds.yaml" >/dev/null
wait_for "2 daemon pods" pods_are app=agent 2
pods_json app=agent | jq -e '[.items[].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0] |
	select(.key == "metadata.name" and .operator == "In") | .values[0]] | sort == ["n1", "n2"]' >/dev/null || fail "daemon pods' node affinity"
pods_json app=agent | jq -e '[.items[].spec.tolerations[] | select(.key == "node.kubernetes.io/unreachable")] | length == 2' \
	>/dev/null || fail "daemon pods' tolerations"
# bind them to their nodes as the scheduler would, then ready
pods_json app=agent | jq -r '.items[] | "\(.metadata.name) \(.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0])"' |
	while read -r p n; do
		J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$p\"},\"target\":{\"kind\":\"Node\",\"name\":\"$n\"}}" \
			"$U/api/v1/namespaces/$NS/pods/$p/binding" >/dev/null
	done
ready_all app=agent
wait_for "ds status" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get ds agent -o json | jq -e '.status.desiredNumberScheduled == 2 and
	.status.currentNumberScheduled == 2 and .status.numberReady == 2 and .status.numberAvailable == 2 and .status.updatedNumberScheduled == 2 and
	.status.numberMisscheduled == 0 and .status.observedGeneration == .metadata.generation'"
k -n $NS get controllerrevisions -o json | jq -e '[.items[] | select(.metadata.ownerReferences[0].name == "agent")] | length == 1' \
	>/dev/null || fail "no ControllerRevision for the DaemonSet"
# tolerate the taint: a third pod, on n3
k -n $NS patch ds agent --type=merge -p '{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}]}}}}' >/dev/null
for _ in $(seq 300); do
	pods_json app=agent | jq -r '.items[] | select(.spec.nodeName == null and .metadata.deletionTimestamp == null) |
		"\(.metadata.name) \(.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0])"' |
		while read -r p n; do
			J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$p\"},\"target\":{\"kind\":\"Node\",\"name\":\"$n\"}}" \
				"$U/api/v1/namespaces/$NS/pods/$p/binding" >/dev/null
		done
	ready_all app=agent
	apps daemonsets/agent | jq -e '.status.observedGeneration == .metadata.generation and .status.desiredNumberScheduled == 3 and
		.status.updatedNumberScheduled == 3 and .status.numberAvailable == 3' >/dev/null && break
	sleep 0.2
done
k -n $NS get ds agent -o json | jq -e '.status.updatedNumberScheduled == 3 and .status.numberAvailable == 3' >/dev/null ||
	fail "ds rolling update: $(k -n $NS get ds agent -o json | jq -c .status)"
pods_json app=agent | jq -e '[.items[] | select(.metadata.deletionTimestamp == null) | .spec.nodeName] | sort == ["n1", "n2", "n3"]' \
	>/dev/null || fail "daemon pods not one per node: $(pods_json app=agent | jq -c '[.items[] | [.metadata.name, .spec.nodeName, .status.phase, .metadata.deletionTimestamp]]')"
k -n $NS rollout status ds/agent --timeout=30s | grep -q 'successfully rolled out' || fail "ds rollout status"
k -n $NS rollout history ds/agent | grep -qE '^2 ' || fail "ds rollout history"
# undo: the first template comes back and its ControllerRevision becomes revision 3
k -n $NS rollout undo ds/agent >/dev/null || fail "ds rollout undo"
apps daemonsets/agent | jq -e '.spec.template.spec.tolerations == null' >/dev/null || fail "ds undo: template"
ds_rev3() { k -n $NS rollout history ds/agent | grep -qE '^3 ' && ! k -n $NS rollout history ds/agent | grep -qE '^1 '; }
wait_for "ds revision 3" ds_rev3

# a failed daemon pod is deleted and replaced
pick_n1() {
	ready_all app=agent
	FAILED=$(pods_json app=agent | jq -r '[.items[] | select(.metadata.deletionTimestamp == null and .spec.nodeName == "n1" and .status.phase == "Running")][0].metadata.name // empty')
	[[ -n $FAILED ]]
}
wait_for "a running daemon pod on n1" pick_n1
C -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Failed"}}' \
	"$U/api/v1/namespaces/$NS/pods/$FAILED/status" >/dev/null
replaced() {
	ready_all app=agent
	pods_json app=agent | jq -e --arg f "$FAILED" '[.items[] | select(.metadata.name == $f)] | length == 0' >/dev/null &&
		pods_json app=agent | jq -e '[.items[] | select(.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0] == "n1")] | length == 1'
}
wait_for "failed daemon pod replaced" replaced
k -n $NS get events -o json | jq -e '[.items[] | select(.reason == "FailedDaemonPod")] | length >= 1' >/dev/null || fail "no FailedDaemonPod event"

# a nodeSelector follows node labels: a pod appears when a node gets the label, and goes
cat >"$D/ds2.yaml" <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: blue, namespace: $NS}
spec:
  selector: {matchLabels: {app: blue}}
  template:
    metadata: {labels: {app: blue}}
    spec: {nodeSelector: {color: blue}, containers: [{name: c, image: "b:1"}]}
EOF
k apply -f "$D/ds2.yaml" >/dev/null
blue_seen() { apps daemonsets/blue | jq -e '.status.observedGeneration == 1 and .status.desiredNumberScheduled == 0'; }
wait_for "blue observed" blue_seen
pods_are app=blue 0 || fail "a daemon pod without a blue node"
k label node n2 color=blue >/dev/null
blue_on_n2() { pods_json app=blue | jq -e '[.items[].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]] == ["n2"]'; }
wait_for "a blue pod on n2" blue_on_n2
k label node n2 color=green --overwrite >/dev/null
blue_gone() { ready_all app=blue; pods_are app=blue 0; }
wait_for "the blue pod removed" blue_gone

# maxSurge: the new pod starts next to the old one, which goes once the new one is available
cat >"$D/ds3.yaml" <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: surge, namespace: $NS}
spec:
  selector: {matchLabels: {app: surge}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: surge}}
    spec: {containers: [{name: c, image: "s:1"}]}
EOF
k apply -f "$D/ds3.yaml" >/dev/null
surge_ready() { ready_all app=surge; apps daemonsets/surge | jq -e '.status.numberAvailable == 2'; }
wait_for "surge available" surge_ready
k -n $NS patch ds surge --type=merge -p '{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"s:2"}]}}}}' >/dev/null
live() { pods_json app=surge | jq -c '[.items[] | select(.metadata.deletionTimestamp == null) | .spec.containers[0].image] | sort'; }
surged() { [[ $(live) == '["s:1","s:1","s:2"]' ]]; }
wait_for "one node surged (old pods all kept)" surged
sleep 0.3
surged || fail "surge: $(live)"
surge_done() { ready_all app=surge; [[ $(live) == '["s:2","s:2"]' ]] && apps daemonsets/surge | jq -e '.status.updatedNumberScheduled == 2 and .status.numberAvailable == 2'; }
wait_for "surge rollout done" surge_done

# ---- StatefulSet: ordered, PVCs, scale down from the top ----
cat >"$D/sts.yaml" <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: $NS}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: "db:1"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
k apply -f "$D/sts.yaml" >/dev/null
wait_for "db-0" k -n $NS get pod db-0
sleep 0.5
k -n $NS get pod db-1 >/dev/null 2>&1 && fail "db-1 created before db-0 is ready"
k -n $NS get pvc data-db-0 >/dev/null || fail "no PVC data-db-0"
k -n $NS get pod db-0 -o json | jq -e '.spec.hostname == "db-0" and .spec.subdomain == "db" and
	.metadata.labels["statefulset.kubernetes.io/pod-name"] == "db-0" and
	(.spec.volumes[] | select(.name == "data") | .persistentVolumeClaim.claimName == "data-db-0")' >/dev/null || fail "db-0 identity or volume"
for _ in $(seq 300); do
	ready_all app=db
	[[ $(count_pods app=db) == 3 ]] && apps statefulsets/db | jq -e '.status.readyReplicas == 3' >/dev/null && break
	sleep 0.2
done
k -n $NS get sts db -o json | jq -e '.status.replicas == 3 and .status.readyReplicas == 3 and .status.currentRevision == .status.updateRevision' \
	>/dev/null || fail "sts status: $(k -n $NS get sts db -o json | jq -c .status)"
k -n $NS get pvc data-db-1 data-db-2 >/dev/null || fail "PVCs of db-1 and db-2"
# rolling update with a partition: only db-2 moves to the new revision; a deleted db-0 comes
# back at the current one
k -n $NS patch sts db --type=merge -p '{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}},"template":{"spec":{"containers":[{"name":"c","image":"db:2"}]}}}}' >/dev/null
img() { C "$U/api/v1/namespaces/$NS/pods/$1" | jq -r '.spec.containers[0].image'; }
sts_part() {
	ready_all app=db
	[[ $(img db-2) == db:2 && $(img db-1) == db:1 && $(img db-0) == db:1 ]] &&
		apps statefulsets/db | jq -e '.status.updatedReplicas == 1 and .status.readyReplicas == 3 and .status.currentRevision != .status.updateRevision'
}
wait_for "partitioned rolling update" sts_part
k -n $NS delete pod db-0 --wait=false >/dev/null
# the kubelet's part: the deletion finished; the controller recreates db-0 (not ready yet)
J -X DELETE -d '{"gracePeriodSeconds":0}' "$U/api/v1/namespaces/$NS/pods/db-0" >/dev/null
db0_back() {
	C "$U/api/v1/namespaces/$NS/pods/db-0" | jq -e '.metadata.deletionTimestamp == null and .spec.containers[0].image == "db:1"'
}
wait_for "db-0 recreated at the current revision" db0_back
# OrderedReady scale-down (as kube's): nothing is deleted while a replica that stays (db-0) is
# not Running and Ready. The sync that observed the new generation wrote it after deciding.
k -n $NS scale sts db --replicas=1 >/dev/null
gen=$(apps statefulsets/db | jq .metadata.generation)
scale_seen() { apps statefulsets/db | jq -e --argjson g "$gen" '.status.observedGeneration >= $g'; }
wait_for "scale to 1 observed" scale_seen
pods_json app=db | jq -e '[.items[] | select(.metadata.deletionTimestamp != null)] | length == 0' >/dev/null ||
	fail "scaled down while db-0 is not ready: $(pods_json app=db | jq -c '[.items[] | [.metadata.name, .metadata.deletionTimestamp]]')"
# db-0 Running and Ready (this pod only: ready_all also finishes deletions); then one at a time
# from the top: db-2 terminates, db-1 stays while it does
ready_all statefulset.kubernetes.io/pod-name=db-0
db2_state() { pods_json app=db | jq -c '[.items[] | [.metadata.name, .metadata.deletionTimestamp, .status.phase]]'; apps statefulsets/db | jq -c .status; }
db2_terminating() { C "$U/api/v1/namespaces/$NS/pods/db-2" | jq -e '.metadata.deletionTimestamp'; }
WAIT_DUMP=db2_state wait_for "db-2 terminating" db2_terminating
sleep 0.5
k -n $NS get pod db-1 -o json | jq -e '.metadata.deletionTimestamp == null' >/dev/null || fail "db-1 deleted while db-2 terminates"
db_at_1() { ready_all app=db; [[ $(pods_json app=db | jq -c '[.items[].metadata.name]') == '["db-0"]' ]]; }
wait_for "db at 1" db_at_1
k -n $NS get pod db-0 >/dev/null || fail "db-0 deleted on scale down"
k -n $NS get pvc data-db-2 >/dev/null || fail "the PVC of db-2 must stay (Retain)"

# the pod on the tainted n3 stays (NoSchedule keeps running pods) but is not desired
ds_mis() { ready_all app=agent; apps daemonsets/agent | jq -e '.status.desiredNumberScheduled == 2 and .status.numberMisscheduled == 1'; }
wait_for "ds: n3 misscheduled" ds_mis

echo "PASS"

#!/bin/bash
# The workload controllers (control/ctrl_{replicaset,deployment,daemonset,statefulset}.c)
# through the API and the real kubectl, on fake nodes: Node objects with no agent; the test binds
# pods that no scheduler bound and marks pods Running+Ready through pods/status.
# Deployment (apply, scale, rollout with a new image, rollout status/history/undo, Recreate,
# ProgressDeadlineExceeded), ReplicaSet adopt/release and replacement, ReplicationController,
# DaemonSet on 3 fake nodes with a tainted one (RollingUpdate, ControllerRevisions), StatefulSet
# (ordered, PVCs, scale down from the top).
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup wl
srv_instance "$D"
K8C_CONTROLLERS=replicaset,replicationcontroller,deployment,daemonset,statefulset
srv_start 31

NS=wl
k create namespace $NS >/dev/null
for n in n1 n2 n3; do
	taint=
	[[ $n == n3 ]] && taint=',"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}'
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$n\",\"labels\":{\"kubernetes.io/hostname\":\"$n\"}}$taint}" \
		"$U/api/v1/nodes" | jq -e '.metadata.uid' >/dev/null || fail "node $n"
done

# wait_for DESC CMD...: poll CMD (quietly) up to 60 s.
wait_for() {
	local desc=$1
	shift
	for _ in $(seq 600); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $desc"
}

pods_json() { C "$U/api/v1/namespaces/$NS/pods?labelSelector=$1"; }
pods_are() { [[ $(count_pods "$1") == "$2" ]]; }
rs_count_is() { [[ $(apps "replicasets?labelSelector=$1" | jq '.items | length') == "$2" ]]; }
count_pods() { pods_json "$1" | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length'; }

# ready_all SELECTOR: as kubelets would: finish the deletion of terminating pods, bind unbound
# pods round-robin to n1/n2 and mark every pod Running+Ready.
ready_all() {
	local now i=0
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	pods_json "$1" | jq -r '.items[] | select(.metadata.deletionTimestamp != null) | .metadata.name' |
		while read -r name; do
			J -X DELETE -d '{"gracePeriodSeconds":0}' "$U/api/v1/namespaces/$NS/pods/$name" >/dev/null
		done
	pods_json "$1" | jq -r '.items[] | select(.metadata.deletionTimestamp == null) |
		select(.status.phase != "Running" or ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length == 0)) |
		"\(.metadata.name) \(.spec.nodeName // "")"' |
		while read -r name node; do
			if [[ -z $node ]]; then
				node=n$((i % 2 + 1))
				i=$((i + 1))
				J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$name\"},\"target\":{\"kind\":\"Node\",\"name\":\"$node\"}}" \
					"$U/api/v1/namespaces/$NS/pods/$name/binding" >/dev/null
			fi
			C -X PATCH -H 'Content-Type: application/merge-patch+json' \
				-d "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$now\"}]}}" \
				"$U/api/v1/namespaces/$NS/pods/$name/status" >/dev/null
		done
}

# deploy_done NAME: observed, all replicas updated and available (as kubectl rollout status).
apps() { C "$U/apis/apps/v1/namespaces/$NS/$1"; }
deploy_done() {
	apps "deployments/$1" | jq -e '.status.observedGeneration >= .metadata.generation and
		.status.updatedReplicas == .spec.replicas and .status.replicas == .spec.replicas and
		.status.availableReplicas == .spec.replicas' >/dev/null
}
# roll NAME SELECTOR: keep marking pods ready until the rollout is done.
roll() {
	for _ in $(seq 300); do
		ready_all "$2"
		deploy_done "$1" && return 0
		sleep 0.2
	done
	k -n $NS get deploy,rs,pods -o wide >&2
	fail "deployment $1 did not finish its rollout"
}

# ---- Deployment: create, pods, ownership, status ----
cat >"$D/web.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "nginx:1"}]}
EOF
k apply -f "$D/web.yaml" >/dev/null
wait_for "3 pods of web" pods_are app=web 3
RS1=$(k -n $NS get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
HASH=$(k -n $NS get rs "$RS1" -o jsonpath='{.metadata.labels.pod-template-hash}')
[[ $RS1 == "web-$HASH" ]] || fail "replica set name $RS1, hash $HASH"
k -n $NS get rs "$RS1" -o json | jq -e --arg h "$HASH" '.spec.selector.matchLabels["pod-template-hash"] == $h and
	.metadata.annotations["deployment.kubernetes.io/revision"] == "1" and
	.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "3" and
	.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "4" and
	.metadata.ownerReferences[0].kind == "Deployment" and .metadata.ownerReferences[0].controller == true' \
	>/dev/null || fail "replica set $RS1 labels, annotations or owner"
pods_json app=web | jq -e --arg rs "$RS1" '[.items[] | select(.metadata.ownerReferences[0].name == $rs and
	.metadata.ownerReferences[0].blockOwnerDeletion == true and (.metadata.name | startswith($rs + "-")))] | length == 3' \
	>/dev/null || fail "pods are not named and owned by $RS1"
k -n $NS get deploy web -o json | jq -e '.status.conditions[] | select(.type == "Available" and .status == "False")' \
	>/dev/null || fail "Available should be False before pods are ready"
roll web app=web
k -n $NS rollout status deploy/web --timeout=30s | grep -q 'successfully rolled out' || fail "rollout status"
k -n $NS get deploy web -o json | jq -e '.metadata.annotations["deployment.kubernetes.io/revision"] == "1" and
	(.status.conditions[] | select(.type == "Progressing") | .reason == "NewReplicaSetAvailable") and
	(.status.conditions[] | select(.type == "Available") | .status == "True") and .status.readyReplicas == 3' \
	>/dev/null || fail "deployment status after the rollout: $(k -n $NS get deploy web -o json | jq -c .status)"
k -n $NS get events -o json | jq -e '[.items[] | select(.reason == "ScalingReplicaSet" and .involvedObject.name == "web")] | length >= 1' \
	>/dev/null || fail "no ScalingReplicaSet event"
k -n $NS get events -o json | jq -e --arg rs "$RS1" '[.items[] | select(.reason == "SuccessfulCreate" and .involvedObject.name == $rs)] | length >= 1' \
	>/dev/null || fail "no SuccessfulCreate event"

# ---- scale ----
k -n $NS scale deploy web --replicas=5 >/dev/null
wait_for "5 pods" pods_are app=web 5
roll web app=web
k -n $NS scale deploy web --replicas=2 >/dev/null
wait_for "2 pods" pods_are app=web 2
roll web app=web

# ---- rollout of a new image, history, undo ----
k -n $NS set image deploy/web c=nginx:2 >/dev/null
wait_for "a second replica set" rs_count_is app=web 2
roll web app=web
RS2=$(k -n $NS get rs -l app=web -o json | jq -r '.items[] | select(.spec.template.spec.containers[0].image == "nginx:2") | .metadata.name')
[[ -n $RS2 && $RS2 != "$RS1" ]] || fail "no new replica set for nginx:2"
k -n $NS get rs "$RS1" -o json | jq -e '.spec.replicas == 0' >/dev/null || fail "old replica set not scaled to 0"
k -n $NS get rs "$RS2" -o json | jq -e '.spec.replicas == 2 and .metadata.annotations["deployment.kubernetes.io/revision"] == "2"' \
	>/dev/null || fail "new replica set size or revision"
pods_json app=web | jq -e '[.items[] | select(.metadata.deletionTimestamp == null) | .spec.containers[0].image] | unique == ["nginx:2"]' \
	>/dev/null || fail "pods still run the old image"
k -n $NS rollout history deploy/web >"$D/hist" || fail "rollout history"
grep -qE '^1 ' "$D/hist" && grep -qE '^2 ' "$D/hist" || fail "rollout history: $(cat "$D/hist")"
k -n $NS rollout undo deploy/web >/dev/null || fail "rollout undo"
roll web app=web
k -n $NS get deploy web -o json | jq -c .spec.template >&2; k -n $NS get rs -o json | jq -c ".items[].spec.template" >&2
k -n $NS get deploy web -o json | jq -e '.spec.template.spec.containers[0].image == "nginx:1" and
	.metadata.annotations["deployment.kubernetes.io/revision"] == "3"' >/dev/null || fail "undo: deployment"
k -n $NS get rs "$RS1" -o json | jq -e '.spec.replicas == 2 and .metadata.annotations["deployment.kubernetes.io/revision"] == "3" and
	.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"' >/dev/null || fail "undo: the old replica set is not revision 3: $(k -n $NS get rs "$RS1" -o json | jq -c "[.spec.replicas, .metadata.annotations]")"
k -n $NS get rs "$RS2" -o json | jq -e '.spec.replicas == 0' >/dev/null || fail "undo: revision 2 not scaled down"

# ---- pause: a template change makes no new replica set ----
k -n $NS rollout pause deploy/web >/dev/null
k -n $NS set image deploy/web c=nginx:3 >/dev/null
wait_for "Progressing DeploymentPaused" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get deploy web -o json |
	jq -e '.status.conditions[] | select(.type == \"Progressing\" and .reason == \"DeploymentPaused\")'"
[[ $(k -n $NS get rs -l app=web -o name | wc -l) == 2 ]] || fail "a paused deployment rolled out"
k -n $NS rollout resume deploy/web >/dev/null
wait_for "a replica set for nginx:3" rs_count_is app=web 3
roll web app=web

# ---- Recreate: the old pods are gone before the new replica set exists ----
cat >"$D/rec.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: rec, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: rec}}
  strategy: {type: Recreate}
  template:
    metadata: {labels: {app: rec}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
EOF
k apply -f "$D/rec.yaml" >/dev/null
wait_for "2 rec pods" pods_are app=rec 2
roll rec app=rec
k -n $NS set image deploy/rec c=busybox:2 >/dev/null
roll rec app=rec
k -n $NS get rs -l app=rec -o json | jq -e '[.items[] | select(.spec.replicas > 0)] | length == 1' >/dev/null ||
	fail "recreate: more than one active replica set"
OLD_DEL=$(k -n $NS get events -o json | jq -r '[.items[] | select(.reason == "ScalingReplicaSet" and .involvedObject.name == "rec" and (.message | test("down")))][0].firstTimestamp')
NEW_RS=$(k -n $NS get rs -l app=rec -o json | jq -r '.items[] | select(.spec.template.spec.containers[0].image == "busybox:2") | .metadata.creationTimestamp')
[[ -n $OLD_DEL && $OLD_DEL != null && ! $NEW_RS < $OLD_DEL ]] || fail "recreate: new replica set ($NEW_RS) before the scale down ($OLD_DEL)"

# ---- a rollout that never becomes ready ends in ProgressDeadlineExceeded ----
k -n $NS create deployment stuck --image=nginx:1 --replicas=1 >/dev/null
k -n $NS patch deploy stuck -p '{"spec":{"progressDeadlineSeconds":1}}' >/dev/null
wait_for "ProgressDeadlineExceeded" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get deploy stuck -o json |
	jq -e '.status.conditions[] | select(.type == \"Progressing\" and .status == \"False\" and .reason == \"ProgressDeadlineExceeded\")'"
if k -n $NS rollout status deploy/stuck --timeout=20s >"$D/stuck" 2>&1; then fail "rollout status of a stuck deployment succeeded"; fi
grep -q 'exceeded its progress deadline' "$D/stuck" || fail "rollout status: $(cat "$D/stuck")"

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
	>/dev/null || fail "daemon pods not one per node"
k -n $NS rollout status ds/agent --timeout=30s | grep -q 'successfully rolled out' || fail "ds rollout status"
k -n $NS rollout history ds/agent | grep -qE '^2 ' || fail "ds rollout history"

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
k -n $NS scale sts db --replicas=1 >/dev/null
# one at a time from the top: db-1 stays while db-2 terminates
wait_for "db-2 terminating" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get pod db-2 -o json | jq -e '.metadata.deletionTimestamp'"
sleep 0.5
k -n $NS get pod db-1 -o json | jq -e '.metadata.deletionTimestamp == null' >/dev/null || fail "db-1 deleted while db-2 terminates"
db_at_1() { ready_all app=db; [[ $(pods_json app=db | jq -c '[.items[].metadata.name]') == '["db-0"]' ]]; }
wait_for "db at 1" db_at_1
k -n $NS get pod db-0 >/dev/null || fail "db-0 deleted on scale down"
k -n $NS get pvc data-db-2 >/dev/null || fail "the PVC of db-2 must stay (Retain)"

echo "PASS"

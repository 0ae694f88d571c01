#!/bin/bash
# The Deployment controller (control/ctrl_deployment.c, with the ReplicaSet controller) through
# the API and the real kubectl, on fake nodes (ctrl_wl_lib.sh): kubectl apply, names, labels,
# annotations, owners, status and Events; scale; a rollout to a new image with kubectl rollout
# status/history/undo; pause/resume; Recreate; ProgressDeadlineExceeded.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup wldeploy
. "$(dirname "$0")/ctrl_wl_lib.sh"

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
wait_for "ScalingReplicaSet event" event_seen web ScalingReplicaSet
wait_for "SuccessfulCreate event" event_seen "$RS1" SuccessfulCreate
# kubectl describe: each Event from its controller's component, as kube's
out=$(k -n $NS describe deploy web)
grep -Eq 'Normal +ScalingReplicaSet +[^ ]+ +deployment-controller +Scaled up replica set' <<<"$out" ||
	fail "describe deployment: $out"
out=$(k -n $NS describe rs "$RS1")
grep -Eq 'Normal +SuccessfulCreate +[^ ]+ +replicaset-controller +Created pod: ' <<<"$out" ||
	fail "describe replicaset: $out"

# ---- scale ----
# a restart right after the change loses nothing: the controllers resume from the store
k -n $NS scale deploy web --replicas=5 >/dev/null
srv_stop
srv_start 31
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
k -n $NS get deploy web -o json | jq -e '.spec.template.spec.containers[0].image == "nginx:1" and
	.metadata.annotations["deployment.kubernetes.io/revision"] == "3"' >/dev/null || fail "undo: deployment"
k -n $NS get rs "$RS1" -o json | jq -e '.spec.replicas == 2 and .metadata.annotations["deployment.kubernetes.io/revision"] == "3" and
	.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"' >/dev/null || fail "undo: the old replica set is not revision 3: $(k -n $NS get rs "$RS1" -o json | jq -c "[.spec.replicas, .metadata.annotations]")"
k -n $NS get rs "$RS2" -o json | jq -e '.spec.replicas == 0' >/dev/null || fail "undo: revision 2 not scaled down"

# ---- proportional scaling during a rollout ----
# web has 2 ready pods (maxSurge 1, maxUnavailable 0); a new image whose pods never get ready
# stops at old 2 + new 1. Scaled to 6 then, with max-replicas 3 on both: allowed 6+1 = 7, old
# gets round(2*7/3) = 5, new round(1*7/3) = 2.
k -n $NS set image deploy/web c=nginx:4 >/dev/null
rs_of() { apps "replicasets?labelSelector=app=web" | jq -r --arg i "$1" '.items[] | select(.spec.template.spec.containers[0].image == $i) | .spec.replicas'; }
step1() { [[ $(rs_of nginx:4) == 1 && $(rs_of nginx:1) == 2 ]]; }
wait_for "the first rollout step" step1
sleep 0.3
step1 || fail "the rollout went on without ready pods"
k -n $NS scale deploy web --replicas=6 >/dev/null
prop() { [[ $(rs_of nginx:4) == 2 && $(rs_of nginx:1) == 5 ]]; }
wait_for "proportional scaling (old 5, new 2)" prop
k -n $NS rollout undo deploy/web >/dev/null
k -n $NS scale deploy web --replicas=2 >/dev/null
roll web app=web

# ---- pause: a template change makes no new replica set ----
k -n $NS rollout pause deploy/web >/dev/null
k -n $NS set image deploy/web c=nginx:3 >/dev/null
wait_for "Progressing DeploymentPaused" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get deploy web -o json |
	jq -e '.status.conditions[] | select(.type == \"Progressing\" and .reason == \"DeploymentPaused\")'"
rs_count_is app=web 3 || fail "a paused deployment rolled out"
k -n $NS rollout resume deploy/web >/dev/null
wait_for "a replica set for nginx:3" rs_count_is app=web 4
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
wait_for "rec scaled down event" event_seen rec ScalingReplicaSet down
OLD_DEL=$(k -n $NS get events -o json | jq -r '[.items[] | select(.reason == "ScalingReplicaSet" and .involvedObject.name == "rec" and (.message | test("down")))][0].firstTimestamp')
NEW_RS=$(k -n $NS get rs -l app=rec -o json | jq -r '.items[] | select(.spec.template.spec.containers[0].image == "busybox:2") | .metadata.creationTimestamp')
[[ -n $OLD_DEL && $OLD_DEL != null && ! $NEW_RS < $OLD_DEL ]] || fail "recreate: new replica set ($NEW_RS) before the scale down ($OLD_DEL)"

# ---- minReadySeconds: available only minReadySeconds after Ready ----
J -X POST -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"mrs"},"spec":{"replicas":1,"minReadySeconds":2,"selector":{"matchLabels":{"app":"mrs"}},"template":{"metadata":{"labels":{"app":"mrs"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}}' \
	"$U/apis/apps/v1/namespaces/$NS/deployments" | jq -e .metadata.uid >/dev/null || fail "deployment mrs"
wait_for "mrs pod" pods_are app=mrs 1
ready_all app=mrs
READY_AT=$(pods_json app=mrs | jq -r '.items[0].status.conditions[] | select(.type == "Ready") | .lastTransitionTime')
mrs_avail() { apps deployments/mrs | jq -e '.status.availableReplicas == 1 and (.status.conditions[] | select(.type == "Available") | .status == "True")'; }
wait_for "mrs available" mrs_avail
AVAIL_AT=$(apps deployments/mrs | jq -r '.status.conditions[] | select(.type == "Available") | .lastTransitionTime')
[[ $(( $(date -d "$AVAIL_AT" +%s) - $(date -d "$READY_AT" +%s) )) -ge 2 ]] ||
	fail "available at $AVAIL_AT, ready at $READY_AT: less than minReadySeconds"
apps replicasets?labelSelector=app=mrs | jq -e '.items[0].spec.minReadySeconds == 2' >/dev/null || fail "minReadySeconds not on the replica set"

# ---- revisionHistoryLimit: old replica sets beyond it are deleted ----
J -X POST -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"hist"},"spec":{"replicas":1,"revisionHistoryLimit":1,"selector":{"matchLabels":{"app":"hist"}},"template":{"metadata":{"labels":{"app":"hist"}},"spec":{"containers":[{"name":"c","image":"h:1"}]}}}}' \
	"$U/apis/apps/v1/namespaces/$NS/deployments" | jq -e .metadata.uid >/dev/null || fail "deployment hist"
wait_for "hist pod" pods_are app=hist 1
roll hist app=hist
for v in 2 3 4; do
	k -n $NS set image deploy/hist c=h:$v >/dev/null
	roll hist app=hist
done
hist_kept() { [[ $(apps "replicasets?labelSelector=app=hist" | jq -c '[.items[].spec.template.spec.containers[0].image] | sort') == '["h:3","h:4"]' ]]; }
wait_for "only the newest old replica set kept" hist_kept

# ---- a rollout that never becomes ready ends in ProgressDeadlineExceeded ----
k -n $NS create deployment stuck --image=nginx:1 --replicas=1 >/dev/null
k -n $NS patch deploy stuck -p '{"spec":{"progressDeadlineSeconds":1}}' >/dev/null
wait_for "ProgressDeadlineExceeded" sh -c "kubectl --cache-dir '$SRV_CACHE' -n $NS get deploy stuck -o json |
	jq -e '.status.conditions[] | select(.type == \"Progressing\" and .status == \"False\" and .reason == \"ProgressDeadlineExceeded\")'"
if k -n $NS rollout status deploy/stuck --timeout=20s >"$D/stuck" 2>&1; then fail "rollout status of a stuck deployment succeeded"; fi
grep -q 'exceeded its progress deadline' "$D/stuck" || fail "rollout status: $(cat "$D/stuck")"

# ---- deletion with the garbage collector: background and foreground ----
k -n $NS delete deploy rec --wait=false >/dev/null
rec_gone() { ready_all app=rec; pods_are app=rec 0 && rs_count_is app=rec 0; }
wait_for "rec's replica sets and pods collected" rec_gone
k -n $NS delete deploy stuck --cascade=foreground --wait=false >/dev/null
stuck_gone() { ready_all app=stuck; ! apps deployments/stuck | jq -e .metadata.name && rs_count_is app=stuck 0 && pods_are app=stuck 0; }
wait_for "stuck deleted in the foreground" stuck_gone

echo "PASS"

# shellcheck shell=bash
# Shared by ctrl_workloads.sh and ctrl_deployment.sh (sourced after server_lib.sh and srv_setup):
# a k8c-server with the workload controllers, namespace $NS, fake nodes n1, n2 and n3 (n3
# tainted dedicated=db:NoSchedule), and the helpers that stand in for a scheduler and kubelets.
srv_instance "$D"
K8C_CONTROLLERS=replicaset,replicationcontroller,deployment,daemonset,statefulset,garbagecollector,resourcequota
srv_start 31

NS=wl
k create namespace $NS >/dev/null
for n in n1 n2 n3; do
	taint=
	[[ $n == n3 ]] && taint=',"spec":{"taints":[{"key":"dedicated","value":"db","effect":"NoSchedule"}]}'
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$n\",\"labels\":{\"kubernetes.io/hostname\":\"$n\"}}$taint}" \
		"$U/api/v1/nodes" | jq -e '.metadata.uid' >/dev/null || fail "node $n"
done

# wait_for DESC CMD...: poll CMD (quietly) up to 90 s; on a time-out, the output of $WAIT_DUMP
# (a command that prints the state, if set) goes with the failure.
wait_for() {
	local desc=$1 end=$((SECONDS + 90))
	shift
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	[[ -z ${WAIT_DUMP:-} ]] || $WAIT_DUMP >&2 || true
	fail "timed out waiting for: $desc"
}

# event_seen OBJECT REASON [MESSAGE-REGEX]: an Event in $NS (Events are written asynchronously:
# poll it with wait_for)
event_seen() {
	k -n $NS get events -o json | jq -e --arg o "$1" --arg r "$2" --arg m "${3:-}" \
		'[.items[] | select(.involvedObject.name == $o and .reason == $r and (.message | test($m)))] | length >= 1'
}

pods_json() { C "$U/api/v1/namespaces/$NS/pods?labelSelector=$1"; }
pods_are() { [[ $(count_pods "$1") == "$2" ]]; }
rs_count_is() { [[ $(apps "replicasets?labelSelector=$1" | jq '.items | length') == "$2" ]]; }
count_pods() { pods_json "$1" | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length'; }

# ready_all SELECTOR: as a scheduler and kubelets would: finish the deletion of terminating pods,
# bind unbound pods (to the node their required matchFields affinity names, else round-robin to
# n1/n2) and mark every pod that has not failed or succeeded Running+Ready.
ready_all() {
	local now i=0
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	pods_json "$1" | jq -r '.items[] | select(.metadata.deletionTimestamp != null) | .metadata.name' |
		while read -r name; do
			J -X DELETE -d '{"gracePeriodSeconds":0}' "$U/api/v1/namespaces/$NS/pods/$name" >/dev/null
		done
	pods_json "$1" | jq -r '.items[] | select(.metadata.deletionTimestamp == null) |
		select(.status.phase != "Failed" and .status.phase != "Succeeded") |
		select(.status.phase != "Running" or ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length == 0)) |
		"\(.metadata.name)|\(.spec.nodeName // "")|\(.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0] // "")"' |
		while IFS='|' read -r name node want; do
			[[ -z $node && -n $want ]] && node=$want && J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"$name\"},\"target\":{\"kind\":\"Node\",\"name\":\"$node\"}}" \
				"$U/api/v1/namespaces/$NS/pods/$name/binding" >/dev/null
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
	local end=$((SECONDS + 90))
	while ((SECONDS < end)); do
		ready_all "$2"
		deploy_done "$1" && return 0
		sleep 0.2
	done
	k -n $NS get deploy,rs,pods -o wide >&2
	fail "deployment $1 did not finish its rollout"
}


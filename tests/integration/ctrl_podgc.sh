#!/bin/bash
# The podgc controller inside k8c-server (quarantine 2 s) with fake nodes (Node objects with no
# agent): a pod bound to a Node that is deleted is force-deleted once the node has been gone for
# the quarantine; a pod on a node that exists stays; a pod bound to a node that appears within
# the quarantine stays. docs/controllers.md. No root needed.
set -e
. "$(dirname "$0")/server_lib.sh"
. "$(dirname "$0")/ctrl_lib.sh"
srv_setup ctrlpodgc
srv_instance "$D"
export K8C_CONTROLLERS=podgc
srv_start 31 --pod-gc-quarantine=2s

mkpod() { # NAME NODE
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"nodeName\":\"$2\",\"terminationGracePeriodSeconds\":30,\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}" \
		"$U/api/v1/namespaces/gc/pods" | jq -e .metadata.uid >/dev/null || fail "pod $1 not created"
}
gone() { ! k -n gc get pod "$1" >/dev/null 2>&1; }
k create ns gc >/dev/null
mknode gc1
mknode gc2
mkpod on-gc1 gc1
mkpod on-gc2 gc2
mkpod early gc3 # bound before its Node exists
mknode gc3
k delete node gc1 >/dev/null
wait_for "pod on-gc1 force-deleted after its node went" gone on-gc1
grep -q 'msg="pod garbage-collected" pod=gc/on-gc1 reason="node gone"' "$LOG" ||
	fail "no log line for on-gc1"
# the others stay, well past the quarantine
sleep 4
k -n gc get pod on-gc2 >/dev/null || fail "pod on-gc2 (node exists) was deleted"
k -n gc get pod early >/dev/null || fail "pod early (node appeared in time) was deleted"
# a node gone for good while its pod is graceful-deleting (no agent will confirm): forced too
k -n gc delete pod on-gc2 --wait=false >/dev/null
[[ $(k -n gc get pod on-gc2 -o jsonpath='{.metadata.deletionTimestamp}') ]] || fail "on-gc2 not terminating"
k delete node gc2 >/dev/null
wait_for "pod on-gc2 (terminating, node gone) force-deleted" gone on-gc2
srv_stop
echo PASS

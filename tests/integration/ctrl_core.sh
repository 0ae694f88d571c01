#!/bin/bash
# The controllers of ctrlcore inside k8c-server (its default): serviceaccount and tokens, node
# IPAM, node lifecycle, garbage collector. Fake nodes: Node objects with no agent, whose Lease the
# test renews or not. Through kubectl and curl; docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup ctrlcore
srv_instance "$D"
export K8C_CONTROLLERS='*'
srv_start 31 --leader-elect-retry-period=1s

# wait_for DESC CMD...: poll CMD (up to 30 s) until it succeeds
wait_for() {
	local desc=$1
	shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $desc"
}

# ---- serviceaccount: a default ServiceAccount in every namespace, recreated when deleted ----
for ns in default kube-system kube-public kube-node-lease; do
	wait_for "default SA in $ns" k -n "$ns" get sa default
done
k create ns sa1 >/dev/null
wait_for "default SA in sa1" k -n sa1 get sa default
uid=$(k -n sa1 get sa default -o jsonpath='{.metadata.uid}')
k -n sa1 delete sa default >/dev/null
sa_recreated() { [[ $(k -n sa1 get sa default -o jsonpath='{.metadata.uid}') != "$uid" ]]; }
wait_for "default SA recreated" sa_recreated

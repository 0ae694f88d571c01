#!/bin/bash
# Benchmark (on demand, not in ctest): a Deployment of N replicas (default 1000) on fake nodes
# (Node objects, no agent). Prints the seconds from the create until all N pods exist, until
# all are bound to a node (only when a scheduler runs: K8C_BENCH_SCHEDULER=1 adds "scheduler"
# to the server's --controllers), and until the Deployment's status counts them.
#   tests/bench/ctrl_deploy_bench.sh <build>/bin [N] [NODES]
set -e
. "$(dirname "$0")/../integration/server_lib.sh"
N=${2:-1000}
NODES=${3:-100}
srv_setup wlbench
srv_instance "$D"
CTRLS=replicaset,deployment
[[ -n ${K8C_BENCH_SCHEDULER:-} ]] && CTRLS=$CTRLS,scheduler
K8C_CONTROLLERS=$CTRLS
srv_start 31
for i in $(seq "$NODES"); do
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"fake-$i\",\"labels\":{\"kubernetes.io/hostname\":\"fake-$i\"}},\"status\":{\"allocatable\":{\"cpu\":\"64\",\"memory\":\"256Gi\",\"pods\":\"110\"},\"capacity\":{\"cpu\":\"64\",\"memory\":\"256Gi\",\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >"$D/node.json"
	J -X POST --data-binary @"$D/node.json" "$U/api/v1/nodes" >/dev/null
done
J -X POST -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}' "$U/api/v1/namespaces" >/dev/null
now() { date +%s.%N; }
T0=$(now)
J -X POST -d "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"big\"},\"spec\":{\"replicas\":$N,\"selector\":{\"matchLabels\":{\"app\":\"big\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"big\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"pause\"}]}}}}" \
	"$U/apis/apps/v1/namespaces/bench/deployments" >/dev/null
T_EXIST= T_BOUND= T_STATUS=
for _ in $(seq 1200); do
	t=$(now)
	read -r n b < <(C "$U/api/v1/namespaces/bench/pods" | jq -r '[(.items | length), ([.items[] | select(.spec.nodeName != null)] | length)] | @tsv')
	[[ -z $T_EXIST && $n -ge $N ]] && T_EXIST=$t
	[[ -z $T_BOUND && $b -ge $N ]] && T_BOUND=$t
	if [[ -z $T_STATUS ]]; then
		r=$(C "$U/apis/apps/v1/namespaces/bench/deployments/big" | jq '.status.replicas // 0')
		[[ $r -ge $N ]] && T_STATUS=$(now)
	fi
	[[ -n $T_EXIST && -n $T_STATUS && ( -n $T_BOUND || -z ${K8C_BENCH_SCHEDULER:-} ) ]] && break
	sleep 0.05
done
el() { [[ -n $1 ]] && echo "$1 - $T0" | bc || echo "not reached"; }
echo "deployment of $N replicas on $NODES fake nodes:"
echo "  all pods exist:            $(el "$T_EXIST") s"
echo "  all pods bound:            $(el "$T_BOUND") s${K8C_BENCH_SCHEDULER:+}"
echo "  deployment status counts:  $(el "$T_STATUS") s"

#!/bin/bash
# Benchmark (on demand, not in ctest): a Deployment of N replicas (default 1000) on fake nodes
# (Node objects, no agent). Prints the seconds from the create until all N pods exist, until
# all are bound to a node (only when a scheduler runs: K8C_BENCH_SCHEDULER=1 adds "scheduler"
# to the server's --controllers), and until the Deployment's status counts them; the CPU the
# server (API and controllers in one process) used meanwhile, and the load average.
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
	# a create drops the status: Ready and allocatable come through nodes/status
	C -X PATCH -H 'Content-Type: application/merge-patch+json' --data-binary @"$D/node.json" \
		"$U/api/v1/nodes/fake-$i/status" >/dev/null
done
J -X POST -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}' "$U/api/v1/namespaces" >/dev/null
# A watch on the namespace's pods timestamps the moments (no polling load on the server).
C -N "$U/api/v1/namespaces/bench/pods?watch=1&allowWatchBookmarks=false" | $PY -c '
import json, sys, time
n, want_bound = int(sys.argv[1]), sys.argv[2] == "1"
seen, bound, t_exist, t_bound = set(), set(), None, None
for line in sys.stdin:
    ev = json.loads(line)
    o = ev["object"]; name = o["metadata"]["name"]
    if ev["type"] == "DELETED":
        continue
    seen.add(name)
    if o.get("spec", {}).get("nodeName"):
        bound.add(name)
    now = time.time()
    if t_exist is None and len(seen) >= n:
        t_exist = now; print("exist", now, flush=True)
    if t_bound is None and len(bound) >= n:
        t_bound = now; print("bound", now, flush=True)
    if t_exist and (t_bound or not want_bound):
        break
' "$N" "${K8C_BENCH_SCHEDULER:+1}" >"$D/watch.out" &
WATCH=$!
sleep 0.5
# utime + stime of the server, in clock ticks (fields 14 and 15 of /proc/PID/stat)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
CPU0=$(cpu_ticks)
T0=$(date +%s.%N)
J -X POST -d "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"big\"},\"spec\":{\"replicas\":$N,\"selector\":{\"matchLabels\":{\"app\":\"big\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"big\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"pause\"}]}}}}" \
	"$U/apis/apps/v1/namespaces/bench/deployments" >/dev/null
T_STATUS=
for _ in $(seq 1200); do
	r=$(C "$U/apis/apps/v1/namespaces/bench/deployments/big" | jq '.status.replicas // 0')
	[[ $r -ge $N ]] && { T_STATUS=$(date +%s.%N); break; }
	sleep 0.1
done
for _ in $(seq 300); do
	grep -q exist "$D/watch.out" && { [[ -z ${K8C_BENCH_SCHEDULER:-} ]] || grep -q bound "$D/watch.out"; } && break
	sleep 0.1
done
CPU1=$(cpu_ticks)
kill "$WATCH" 2>/dev/null || true
el() { [[ -n $1 ]] && echo "$1 - $T0" | bc || echo "not reached"; }
echo "deployment of $N replicas on $NODES fake nodes (seconds from the create):"
echo "  all pods exist:            $(el "$(awk '$1 == "exist" {print $2}' "$D/watch.out")")"
[[ -z ${K8C_BENCH_SCHEDULER:-} ]] || echo "  all pods bound:            $(el "$(awk '$1 == "bound" {print $2}' "$D/watch.out")")"
echo "  deployment status counts:  $(el "$T_STATUS") (polled every 0.1 s)"
echo "  server CPU (user+system):  $(echo "scale=2; ($CPU1 - $CPU0) / $(getconf CLK_TCK)" | bc) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ -n ${K8C_BENCH_SCHEDULER:-} ]]; then
	b=$(el "$(awk '$1 == "bound" {print $2}' "$D/watch.out")")
	[[ $b == "not reached" ]] ||
		printf '=> deploy_%s_bound: %.2f s, goal <= 5 s, ratio %.2f\n' "$N" "$b" "$(echo "scale=4; 5 / $b" | bc)"
fi

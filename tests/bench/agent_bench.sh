#!/bin/bash
# k8c-agent benchmark (docs/BENCHMARKS.md "Node agent"), run on demand, root:
#   tests/bench/agent_bench.sh <build>/bin [PODS] [CYCLES]
# One node (tests/integration/agent_lib.sh: server and node in namespaces of their own). PODS
# (default 50) busybox pods are created at once with one kubectl apply; a watch started before
# timestamps each pod's ADDED and the first event where it is Running and Ready: the start-up
# latency is the difference (create -> Running observed by a watch). The agent's RSS is sampled
# while they run. Then CYCLES pods (default 200) are created and deleted, 10 at a time, and the
# node's kernel objects and files are counted before and after.
set -e
. "$(dirname "$0")/../integration/agent_lib.sh"
PODS=${2:-50}
CYCLES=${3:-200}
ag_setup agent-bench
ag_node node1 1 --max-pods 250 --workers "${AG_WORKERS:-16}"
W=$D/watch.txt

pods_yaml() { # PREFIX FROM TO
	for i in $(seq "$2" "$3"); do
		printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s-%s}\nspec:\n  nodeName: node1\n  terminationGracePeriodSeconds: 0\n  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"]}]\n---\n' "$1" "$i"
	done
}

k get pods -w --output-watch-events -o jsonpath='{.type} {.object.metadata.name} {.object.status.phase} {.object.status.conditions[?(@.type=="Ready")].status}{"\n"}' 2>/dev/null |
	"$PY" -u -c '
import sys, time
for line in sys.stdin:
    print("%.6f %s" % (time.monotonic(), line.strip()), flush=True)
' >"$W" &
WPID=$!
sleep 1
pods_yaml b 1 "$PODS" | k apply -f - >/dev/null
rss=0
for _ in $(seq 300); do
	r=$(awk '/VmRSS/ {print $2}' "/proc/${AG_PID[node1]}/status")
	((r > rss)) && rss=$r
	[[ $(grep -c ' Running True$' "$W") -ge $PODS ]] && break
	sleep 0.2
done
for _ in $(seq 10); do
	r=$(awk '/VmRSS/ {print $2}' "/proc/${AG_PID[node1]}/status")
	((r > rss)) && rss=$r
	sleep 0.2
done
kill "$WPID" 2>/dev/null || true
cpu=$(awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/${AG_PID[node1]}/stat")
"$PY" - "$W" "$PODS" <<'P'
import sys
added, running = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 3:
        continue
    t, typ, name = float(f[0]), f[1], f[2]
    if typ == "ADDED" and name not in added:
        added[name] = t
    if len(f) >= 5 and f[3] == "Running" and f[4] == "True" and name not in running:
        running[name] = t
lat = sorted(running[n] - added[n] for n in running if n in added)
n = len(lat)
if n < int(sys.argv[2]):
    print("only %d of %s pods reached Running" % (n, sys.argv[2]))
if n:
    pct = lambda p: lat[min(n - 1, int(round(p / 100.0 * n + 0.5)) - 1)]
    print("pods=%d create->Running p50=%.3fs p90=%.3fs p99=%.3fs max=%.3fs" % (n, pct(50), pct(90), pct(99), lat[-1]))
P
echo "agent RSS max=$((rss / 1024)) MiB ($rss kB) with $PODS pods; agent CPU so far ${cpu}s; load average $(cut -d' ' -f1 /proc/loadavg)"
k delete pods --all --wait=false >/dev/null
for _ in $(seq 600); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done

for _ in $(seq 50); do [[ $(ag_leaks node1 1) == *"netns=0 "*"runc=0 "* ]] && break; sleep 0.2; done
N0=$(ag_leaks node1 1)
t0=$(date +%s)
for ((c = 0; c < CYCLES; c += 10)); do
	pods_yaml cyc $((c + 1)) $((c + 10)) | k apply -f - >/dev/null
	for _ in $(seq 300); do [[ $(k get pods --field-selector=status.phase=Running -o name | wc -l) -ge 10 ]] && break; sleep 0.2; done
	k delete pods --all --wait=false >/dev/null
	for _ in $(seq 300); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done
done
for _ in $(seq 50); do [[ $(ag_leaks node1 1) == "$N0" ]] && break; sleep 0.2; done
N1=$(ag_leaks node1 1)
echo "cycles=$CYCLES seconds=$(($(date +%s) - t0))"
echo "before: $N0"
echo "after:  $N1"
cp "$D/node1/agent.log" /tmp/agent-bench.log 2>/dev/null || true
[[ $N0 == "$N1" ]] && echo "leaks: none" || { echo "leaks: DIFFERENT"; FAILS=1; }

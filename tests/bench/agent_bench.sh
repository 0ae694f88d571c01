#!/bin/bash
# k8c-agent benchmark (docs/BENCHMARKS.md "Node agent"), run on demand, root:
#   tests/bench/agent_bench.sh <build>/bin [PODS] [CYCLES]
# One node (tests/integration/agent_lib.sh: server and node in namespaces of their own). PODS
# (default 50) busybox pods are created at once with one kubectl apply (--validate=false unless
# AG_VALIDATE=1, below); a watch started before
# timestamps each pod's ADDED and the first event where it is Running and Ready: the start-up
# latency is the difference (create -> Running observed by a watch). The agent's RSS is sampled
# while they run. Then CYCLES pods (default 200) are created and deleted, 10 at a time, and the
# node's kernel objects and files are counted before and after.
#
# CPU of the burst (from the apply until every pod is Running): the script runs in a cpuacct
# cgroup of its own (cgroup v1; the server, the agent, kubectl, the shims, runc and the CNI plugins
# inherit it; runc moves each container's init to its own cgroup, counted too), split by process
# from /proc/PID/stat: server, agent (threads; its waited-for children are the CNI plugins and the
# shims' first stage), shims (own; their children are runc), the rest (kubectl, the watch, this
# script). The agent logs a "pod start trace" per pod (debug): the time of each step of its first
# start; the medians and 90th percentiles of those are printed too, with the watch's view.
set -e
. "$(dirname "$0")/../integration/agent_lib.sh"
PODS=${2:-50}
CYCLES=${3:-200}
CG=
CGROOT=/sys/fs/cgroup/cpuacct
if [[ -w $CGROOT/cgroup.procs ]]; then
	CG=$CGROOT/k8c-agent-bench-$$
	mkdir "$CG"
	echo $$ >"$CG/cgroup.procs"
fi
ag_cleanup_extra() {
	[[ -n $CG && -d $CG ]] || return 0
	echo $$ >"$CGROOT/cgroup.procs"
	rmdir "$CG" 2>/dev/null || true
}
ag_setup agent-bench
# AG_AGENT_FLAGS: more agent flags, e.g. --runc-memfd=false (docs/BENCHMARKS.md)
# shellcheck disable=SC2086
ag_node node1 1 --max-pods 250 --workers "${AG_WORKERS:-16}" ${AG_AGENT_FLAGS:-}
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

# CPU seconds: "cgroup server agent agent_children shims shims_children containers watch".
# Processes and their reaped children from /proc/PID/stat (clock ticks), the shims' and the
# watch's threads from /proc/PID/task/*/schedstat (ns), cgroups from cpuacct.usage (ns).
task_ns() { # PID...: run time of every thread of those processes, ns
	local p t n=0 v
	for p in "$@"; do
		for t in /proc/"$p"/task/*/schedstat; do
			read -r v _ 2>/dev/null <"$t" && n=$((n + v))
		done
	done
	echo "$n"
}
TCK=$(getconf CLK_TCK)
cpu_snap() {
	local cg=0 c=0 f v shims=() wpids=() sc=0 comm args st av me sv
	[[ -n $CG ]] && read -r cg <"$CG/cpuacct.usage"
	for f in "$CGROOT"/k8c-ag-"$TAG"-1/*/cpuacct.usage; do [[ -f $f ]] && read -r v <"$f" && c=$((c + v)); done
	# bash builtins only: this runs inside the measured window
	for f in /proc/[0-9]*; do
		comm=
		read -r comm 2>/dev/null <"$f/comm" || continue
		case $comm in
		k8c-shim | kubectl)
			mapfile -d '' args 2>/dev/null <"$f/cmdline"
			[[ " ${args[*]} " == *"$D/"* ]] || continue
			if [[ $comm == k8c-shim ]]; then
				shims+=("${f#/proc/}")
				read -r -a st 2>/dev/null <"$f/stat" && sc=$((sc + st[15] + st[16]))
			elif [[ " ${args[*]} " == *" --output-watch-events "* ]]; then
				wpids+=("${f#/proc/}")
			fi
			;;
		esac
	done
	read -r -a av <"/proc/${AG_PID[node1]}/stat"
	read -r -a me <"/proc/$$/stat"
	read -r -a sv <"/proc/$SRV_PID/stat"
	awk -v tck="$TCK" -v cg="$cg" -v c="$c" -v sv=$((sv[13] + sv[14])) -v ao=$((av[13] + av[14])) \
		-v ac=$((av[15] + av[16])) -v so="$(task_ns "${shims[@]}")" -v sc="$sc" -v w="$(task_ns "${wpids[@]}" "$WPID")" \
		-v me=$((me[13] + me[14] + me[15] + me[16])) \
		'BEGIN { printf "%.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", cg / 1e9, sv / tck, ao / tck, ac / tck, so / 1e9, sc / tck, c / 1e9, w / 1e9, me / tck }'
}
CPU0=$(cpu_snap)
# AG_PERF=FILE: a perf profile of the server and the agent during the burst (by hand)
PERF_PID=
if [[ -n ${AG_PERF:-} ]]; then
	perf record -q -g -F 2000 -o "$AG_PERF" -p "$SRV_PID,${AG_PID[node1]}" 2>/dev/null &
	PERF_PID=$!
	sleep 0.3
fi
pods_yaml b 1 "$PODS" >"$D/pods.yaml"
# kubectl's client-side validation (it fetches and parses the OpenAPI schema of core/v1) costs
# about 1 s of CPU per invocation, on the node's own 2 cores here, in the middle of the burst;
# a real node does not run the client. AG_VALIDATE=1 keeps it (figures in docs/BENCHMARKS.md).
VALIDATE=--validate=false
[[ ${AG_VALIDATE:-0} == 1 ]] && VALIDATE=
/usr/bin/time -f "%e %U %S" -o "$D/apply.time" nsenter --net="/run/netns/$SRVNS" kubectl --cache-dir "$D/kcache" apply $VALIDATE -f "$D/pods.yaml" >/dev/null
echo "kubectl apply ${VALIDATE:-(validating)} of $PODS pods: wall, user, sys: $(cat "$D/apply.time") s"
rss=0
for _ in $(seq 300); do
	r=$(awk '/VmRSS/ {print $2}' "/proc/${AG_PID[node1]}/status")
	((r > rss)) && rss=$r
	[[ $(awk '$4 == "Running" && $5 == "True" {print $3}' "$W" | sort -u | wc -l) -ge $PODS ]] && break
	sleep 0.2
done
for _ in $(seq 10); do
	r=$(awk '/VmRSS/ {print $2}' "/proc/${AG_PID[node1]}/status")
	((r > rss)) && rss=$r
	sleep 0.2
done
CPU1=$(cpu_snap)
[[ -z $PERF_PID ]] || { kill -INT "$PERF_PID"; wait "$PERF_PID" || true; }
kill "$WPID" 2>/dev/null || true
cpu=$(awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/${AG_PID[node1]}/stat")
grep 'msg="pod start trace"' "$D/node1/agent.log" >"$D/trace.txt" || true
"$PY" - "$W" "$PODS" "$D/trace.txt" "$CPU0" "$CPU1" <<'P'
import re, sys
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
mods = [line.split()[1] for line in open(sys.argv[1]) if len(line.split()) > 2]
print("watch events per pod: %.2f (ADDED, MODIFIED...)" % (len(mods) / max(1, len(added))))
n = len(lat)
if n < int(sys.argv[2]):
    print("only %d of %s pods reached Running" % (n, sys.argv[2]))
if n:
    pct = lambda p: lat[min(n - 1, int(round(p / 100.0 * n + 0.5)) - 1)]
    print("pods=%d create->Running p50=%.3fs p90=%.3fs p99=%.3fs max=%.3fs" % (n, pct(50), pct(90), pct(99), lat[-1]))
    print("=> agent pod start-up p99 (%s pods at once): %.3f s, goal 1 s, ratio %.2f" % (sys.argv[2], pct(99), pct(99) / 1.0))

# the agent's per-pod trace, with the watch's view of each pod around it
rows = []
for line in open(sys.argv[3]):
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    name = kv.get("pod", "").split("/")[-1]
    if name not in added or name not in running:
        continue
    r = {k[:-3]: float(v) for k, v in kv.items() if k.endswith("_ms")}
    r["watch->agent"] = (float(kv["seen"]) - added[name]) * 1e3
    r["status->watch"] = (running[name] - float(kv["written"])) * 1e3
    rows.append(r)
if rows:
    keys = ["watch->agent", "queue", "netns", "cni", "etc", "volumes", "image", "env", "prep",
            "bundle", "mount", "shim", "runc", "status", "status->watch", "events", "cpu", "total"]
    print("per-pod steps, ms (%d pods): %-13s %7s %7s %7s" % (len(rows), "step", "mean", "p50", "p90"))
    for k in keys:
        v = sorted(r.get(k, 0.0) for r in rows)
        m = len(v)
        print("  %-13s %7.1f %7.1f %7.1f" % (k, sum(v) / m, v[m // 2], v[min(m - 1, int(m * 0.9))]))
c0 = [float(x) for x in sys.argv[4].split()]
c1 = [float(x) for x in sys.argv[5].split()]
d = [b - a for a, b in zip(c0, c1)]
total = d[0] + d[6]
names = ["server", "agent", "agent children (CNI plugins, shim start)", "shims", "runc (shims' children)", "containers' cgroups", "the watch (kubectl get -w, python)", "this script and its children (kubectl apply)"]
pods = int(sys.argv[2])
print("burst CPU: total %.2f s (%.1f ms per pod)" % (total, total * 1e3 / pods))
for nm, v in zip(names, d[1:]):
    print("  %-42s %6.2f s %6.1f ms/pod" % (nm, v, v * 1e3 / pods))
rest = d[0] - sum(d[1:6]) - d[7] - d[8]
print("  %-42s %6.2f s %6.1f ms/pod" % ("rest (not attributed)", rest, rest * 1e3 / pods))
node = d[2] + d[3] + d[4] + d[5] + d[6]
print("=> agent burst CPU on the node (agent, CNI, shims, runc): %.1f ms per pod" % (node * 1e3 / pods))
P
echo "agent RSS max=$((rss / 1024)) MiB ($rss kB) with $PODS pods; agent CPU so far ${cpu}s; load average $(cut -d' ' -f1 /proc/loadavg)"
# steady state: what the running pods cost the agent and the server per second (resyncs)
read -r -a i0 <"/proc/${AG_PID[node1]}/stat"
read -r -a s0 <"/proc/$SRV_PID/stat"
sleep 5
read -r -a i1 <"/proc/${AG_PID[node1]}/stat"
read -r -a s1 <"/proc/$SRV_PID/stat"
echo "idle with $PODS running pods: agent $(((i1[13] + i1[14] - i0[13] - i0[14]) * 1000 / TCK / 5)) ms/s, server $(((s1[13] + s1[14] - s0[13] - s0[14]) * 1000 / TCK / 5)) ms/s of CPU"
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
cp "$W" /tmp/agent-bench-watch.txt 2>/dev/null || true
[[ $N0 == "$N1" ]] && echo "leaks: none" || { echo "leaks: DIFFERENT"; FAILS=1; }

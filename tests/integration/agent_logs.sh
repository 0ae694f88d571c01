#!/bin/bash
# kubectl logs and exec on pods of k8c-agent (docs/agent.md "Logs and exec"): the API server's
# pods/log and pods/exec reach the agent's node endpoint, which reads the CRI files of the current
# and the previous attempt and execs through the runtime. Skipped when this k8c-agent was built
# without the node server.
# Usage: agent_logs.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-logs
ag_node node1 1
ip netns exec "${AG_NS[node1]}" ss -ltn | grep -q ':10250 ' || skip "k8c-agent has no node server (agent/node_server.c not in this tree)"

k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  nodeName: node1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "for i in 1 2 3; do echo line $i; done; echo err >&2; sleep 3600"]}
  - {name: side, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo side-$(cat /proc/self/cgroup >/dev/null; echo up); sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  nodeName: node1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo run-$RANDOM$RANDOM; sleep 1; exit 1"]}
Y
ag_wait pod/talk '{.status.phase}' Running
for _ in $(seq 50); do [[ $(k logs talk -c main 2>/dev/null | wc -l) -ge 4 ]] && break; sleep 0.2; done
assert_eq "kubectl logs" "line 1
line 2
line 3
err" "$(k logs talk -c main)"
assert_eq "--tail" "err" "$(k logs talk -c main --tail 1)"
assert_eq "-c side" "side-up" "$(k logs talk -c side)"
assert_eq "kubectl exec" "hello 3" "$(k exec talk -c main -- sh -c 'echo hello $(( 1 + 2 ))')"
set +e
k exec talk -c main -- sh -c 'exit 7' >/dev/null 2>&1
rc=$?
set -e
assert_eq "exec exit code" 7 "$rc"
assert_eq "exec -i" "piped" "$(echo piped | k exec -i talk -c main -- cat)"

ag_wait pod/crashy '{.status.containerStatuses[0].restartCount}' 1
prev=$(k logs crashy --previous)
cur=$(k logs crashy)
assert_match "--previous: the first attempt" '^run-[0-9]+$' "$prev"
[[ $prev != "$cur" ]] && pass "current differs from previous" || fail "current [$cur] = previous [$prev]"

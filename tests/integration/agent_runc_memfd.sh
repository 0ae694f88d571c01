#!/bin/bash
# runc from a sealed memfd (docs/agent.md "runc from a sealed memfd"): the agent holds one sealed
# in-memory copy of runc (exactly F_SEAL_SEAL|SHRINK|GROW|WRITE, as runc 1.1 checks; nobody can
# write to it); the shims start containers from it and close it once runc has run; exec probes
# and kubectl exec (runc exec) use it too; the agent's count of memfds stays one. With
# --runc-memfd=false the agent holds none and the shims run the binary.
# Usage: agent_runc_memfd.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-memfd
ag_node node1 1

# memfds held by a process: "fd target" lines
memfds() { for f in /proc/"$1"/fd/*; do
	t=$(readlink "$f" 2>/dev/null) || continue
	[[ $t == /memfd:* ]] && echo "${f##*/} $t"
done; true; }
# the shim log line of pod $1's container: runc=memfd or runc=binary
shim_runc() {
	local uid
	uid=$(k get pod "$1" -o jsonpath='{.metadata.uid}')
	grep -ho 'msg="container started".* runc=[a-z]*' "$D"/node1/root/containers/"$uid"-*/shim.log 2>/dev/null |
		grep -o 'runc=[a-z]*' | tail -1
}
pods() { # PREFIX: a sleeper and one with an exec readiness probe every second
	local c='{name: main, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"]'
	k apply -f - >/dev/null <<Y
# $1: two pods
{apiVersion: v1, kind: Pod, metadata: {name: $1-sleep},
 spec: {nodeName: node1, terminationGracePeriodSeconds: 0, containers: [$c}]}}
---
{apiVersion: v1, kind: Pod, metadata: {name: $1-probe},
 spec: {nodeName: node1, terminationGracePeriodSeconds: 0,
  containers: [$c, readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}}]}}
Y
	ag_wait pod/"$1"-sleep '{.status.phase}' Running
	ag_wait pod/"$1"-probe '{.status.conditions[?(@.type=="Ready")].status}' True
}

log "default: runc from one sealed memfd"
assert_match "agent log" 'msg="runc runs from a sealed memfd"' "$(grep 'sealed memfd' "$D/node1/agent.log")"
pods m
apid=${AG_PID[node1]}
m=$(memfds "$apid")
assert_eq "the agent holds one memfd" 1 "$(wc -l <<<"$m")"
assert_match "it is runc's copy" '^[0-9]+ /memfd:runc' "$m"
fd=${m%% *}
assert_eq "its size is runc's" "$(stat -Lc %s "$(command -v runc)")" "$(stat -Lc %s "/proc/$apid/fd/$fd")"
assert_eq "its seals are runc's (SEAL|SHRINK|GROW|WRITE)" 15 "$("$PY" -c '
import fcntl, os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
print(fcntl.fcntl(f, fcntl.F_GET_SEALS))' "/proc/$apid/fd/$fd")"
assert_match "nobody can write to it" 'EPERM|Operation not permitted' "$("$PY" -c '
import os, sys
f = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(f, b"x")
    print("written")
except OSError as e:
    print(e)' "/proc/$apid/fd/$fd" 2>&1)"
assert_eq "the shim ran runc from it" runc=memfd "$(shim_runc m-sleep)"
assert_eq "kubectl exec (runc exec)" "hello 3" "$(k exec m-sleep -- sh -c 'echo hello $(( 1 + 2 ))')"
set +e
k exec m-sleep -- sh -c 'exit 7' >/dev/null 2>&1
rc=$?
set -e
assert_eq "kubectl exec exit code" 7 "$rc"
sleep 2 # two more probe execs
# the whole list, so that a failure shows what else is there
assert_eq "still one memfd in the agent after starts, probes and execs" "$m" "$(memfds "$apid")"
held=0 shims=0
for s in $(grep -l "$D/" /proc/[0-9]*/cmdline 2>/dev/null); do
	s=${s#/proc/}
	s=${s%/cmdline}
	[[ $(cat "/proc/$s/comm" 2>/dev/null) == k8c-shim ]] || continue
	shims=$((shims + 1))
	held=$((held + $(memfds "$s" | wc -l)))
done
assert_eq "shims looked at" 2 "$shims"
assert_eq "no shim holds a memfd" 0 "$held"

log "--runc-memfd=false: the binary"
ag_kill node1
# shellcheck disable=SC2034 # read by ag_start (agent_lib.sh)
AG_FLAGS_EXTRA=(--runc-memfd=false)
ag_start node1 1
assert_match "agent log" 'msg="runc runs from its binary".*--runc-memfd=false' "$(grep 'runc runs from' "$D/node1/agent.log" | tail -1)"
pods b
assert_eq "the agent holds no memfd" 0 "$(memfds "${AG_PID[node1]}" | wc -l)"
assert_eq "the shim ran the binary" runc=binary "$(shim_runc b-sleep)"
assert_eq "kubectl exec (runc exec)" ok "$(k exec b-probe -- echo ok)"
assert_eq "the pods started by the memfd agent run on" Running "$(k get pod m-probe -o jsonpath='{.status.phase}')"
k delete pods --all --wait=false >/dev/null
for _ in $(seq 300); do [[ $(ag_leaks node1 1) == *"netns=0 "*"runc=0 "* ]] && break; sleep 0.2; done
assert_match "nothing left" 'netns=0 .*runc=0 ' "$(ag_leaks node1 1)"

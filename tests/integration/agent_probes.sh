#!/bin/bash
# Probes (docs/agent.md "Probes") on real pods: a liveness exec probe that starts failing restarts
# the container (Unhealthy, Killing, restartCount); a readiness httpGet probe (named port, path,
# header) drives Ready both ways; a tcpSocket probe against a closed port keeps a pod unready; a
# startup probe holds liveness and readiness back until it succeeds.
# Usage: agent_probes.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-probes
ag_node node1 1

k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600"]
    livenessProbe: {exec: {command: ["test", "-f", "/tmp/healthy"]}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  nodeName: node1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    ports: [{name: web, containerPort: 8080}]
    command: ["sh", "-c", "mkdir /www; httpd -p 8080 -h /www; sleep 2; touch /www/ok; sleep 4; rm /www/ok; sleep 3600"]
    readinessProbe:
      httpGet: {path: /ok, port: web, httpHeaders: [{name: X-Probe, value: "1"}]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {name: closed}
spec:
  nodeName: node1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: startup}
spec:
  nodeName: node1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    command: ["sh", "-c", "sleep 2; touch /tmp/up; sleep 3600"]
    startupProbe: {exec: {command: ["test", "-f", "/tmp/up"]}, periodSeconds: 1, failureThreshold: 30}
    livenessProbe: {exec: {command: ["test", "-f", "/tmp/up"]}, periodSeconds: 1}
Y

log "startup probe"
ag_wait pod/startup '{.status.phase}' Running
assert_eq "not started before the startup probe succeeds" "false false" "$(k get pod startup -o jsonpath='{.status.containerStatuses[0].started} {.status.containerStatuses[0].ready}')"
ag_wait pod/startup '{.status.containerStatuses[0].started}' true
ag_wait pod/startup '{.status.conditions[?(@.type=="Ready")].status}' True
assert_eq "no restart" 0 "$(k get pod startup -o jsonpath='{.status.containerStatuses[0].restartCount}')"

log "readiness httpGet: not ready, ready, not ready again"
ag_wait pod/ready '{.status.conditions[?(@.type=="Ready")].status}' True
assert_eq "ContainersReady" True "$(k get pod ready -o jsonpath='{.status.conditions[?(@.type=="ContainersReady")].status}')"
ag_wait pod/ready '{.status.conditions[?(@.type=="Ready")].status}' False
assert_match "Unhealthy event with the status code" "Readiness probe failed: HTTP probe failed with statuscode: 404" "$(k get events --field-selector involvedObject.name=ready -o jsonpath='{.items[*].message}')"
assert_eq "readiness never restarts" 0 "$(k get pod ready -o jsonpath='{.status.containerStatuses[0].restartCount}')"

log "tcpSocket against a closed port"
ag_wait pod/closed '{.status.phase}' Running
for _ in $(seq 50); do
	m=$(k get events --field-selector involvedObject.name=closed -o jsonpath='{.items[*].message}')
	[[ $m == *"Readiness probe failed"* ]] && break
	sleep 0.2
done
assert_match "connection refused" "Readiness probe failed: dial tcp [0-9.]+:9999: connect: Connection refused" "$m"
assert_eq "not ready" False "$(k get pod closed -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"

log "liveness exec: the container is restarted"
ag_wait pod/live '{.status.containerStatuses[0].restartCount}' 1
ev=$(k get events --field-selector involvedObject.name=live -o jsonpath='{.items[*].message}')
assert_match "Unhealthy event" "Liveness probe failed: command failed with exit code 1" "$ev"
assert_match "Killing event" "Container main failed liveness probe, will be restarted" "$ev"
assert_match "lastState: killed" "^(137|143)$" "$(k get pod live -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')"
ag_wait pod/live '{.status.containerStatuses[0].state.running.startedAt}' "$(k get pod live -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}')"
assert_eq "running again" Running "$(k get pod live -o jsonpath='{.status.phase}')"

k delete pod --all --wait=false >/dev/null
for _ in $(seq 300); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done
assert_eq "pods gone" "" "$(k get pods -o name)"

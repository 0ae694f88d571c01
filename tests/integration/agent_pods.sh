#!/bin/bash
# k8c-agent on a node namespace of its own (docs/agent.md): the Node and its Lease; pods created
# with kubectl run with runc and our CNI plugins: command, args and $(VAR) expansion, status,
# traffic to the pod's IP from the node and from another pod, init containers, restart policies
# with back-off (CrashLoopBackOff), bad input (missing image, missing Secret key, a command that
# does not exist) with Kubernetes' reasons and Events while other pods keep running, deletion,
# and nothing left behind.
# Usage: agent_pods.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-pods
ag_node node1 1 --node-labels zone=a,k8c.io/test=yes --register-with-taints dedicated=test:PreferNoSchedule --max-pods 50 --cpu 2 --memory 4Gi
N0=$(ag_leaks node1 1)

log "Node"
node=$(k get node node1 -o json)
assert_eq "InternalIP" 10.255.1.2 "$(jq -r '.status.addresses[] | select(.type=="InternalIP") | .address' <<<"$node")"
assert_eq "capacity" "2 4Gi 50" "$(jq -r '.status.capacity | "\(.cpu) \(.memory) \(.pods)"' <<<"$node")"
assert_eq "kubelet port" 10250 "$(jq -r '.status.daemonEndpoints.kubeletEndpoint.Port' <<<"$node")"
assert_eq "labels" "a yes node1" "$(jq -r '.metadata.labels | "\(.zone) \(."k8c.io/test") \(."kubernetes.io/hostname")"' <<<"$node")"
assert_eq "taint" "dedicated=test:PreferNoSchedule" "$(jq -r '.spec.taints[0] | "\(.key)=\(.value):\(.effect)"' <<<"$node")"
assert_eq "podCIDR" 10.244.1.0/24 "$(jq -r '.spec.podCIDR' <<<"$node")"
assert_eq "Lease holder" node1 "$(k -n kube-node-lease get lease node1 -o jsonpath='{.spec.holderIdentity}')"

log "a pod: command, env, status, traffic"
k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node1
  containers:
  - name: httpd
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c"]
    args: ["echo started $(GREETING) $(UNDEFINED); mkdir -p /www; echo hello-from-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www"]
    env: [{name: NAME, value: world}, {name: GREETING, value: "hi-$(NAME)"}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"]}
Y
ag_wait pod/web '{.status.phase}' Running
ag_wait pod/client '{.status.phase}' Running
pod=$(k get pod web -o json)
ip=$(jq -r .status.podIP <<<"$pod")
assert_match "podIP in the node's podCIDR" '^10\.244\.1\.[0-9]+$' "$ip"
assert_eq "hostIP" 10.255.1.2 "$(jq -r .status.hostIP <<<"$pod")"
assert_eq "conditions" "True True True True" "$(jq -r '[.status.conditions[] | select(.type=="PodScheduled" or .type=="Initialized" or .type=="ContainersReady" or .type=="Ready") | .status] | join(" ")' <<<"$pod")"
cs=$(jq -c '.status.containerStatuses[0]' <<<"$pod")
assert_eq "containerStatus ready/started/restarts" "true true 0" "$(jq -r '"\(.ready) \(.started) \(.restartCount)"' <<<"$cs")"
assert_match "containerID" '^k8c://' "$(jq -r .containerID <<<"$cs")"
assert_match "imageID" '^docker.io/library/busybox@sha256:' "$(jq -r .imageID <<<"$cs")"
assert_match "startedAt" '^20' "$(jq -r .state.running.startedAt <<<"$cs")"
logf=$(ls "$D"/node1/root/logs/default_web_*/httpd/0.log)
assert_match "CRI log has the expanded args" 'stdout F started hi-world' "$(cat "$logf")"
assert_match "an undefined \$(VAR) is left as is (sh then runs it)" 'stderr F sh: UNDEFINED: not found' "$(cat "$logf")"
assert_eq "node -> pod" "hello-from-web" "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/" 2>&1)"
assert_eq "pod -> pod" "hello-from-web" "$(ag_in_pod node1 client wget -qO- -T 5 "http://$ip:8080/" 2>&1)"
assert_match "/etc/hosts of the pod" "$ip[[:space:]]+web" "$(cat "$D"/node1/root/pods/$(jq -r .metadata.uid <<<"$pod")/etc/hosts)"
ev=$(k get events --field-selector involvedObject.name=web -o json | jq -r '[.items[].reason] | join(",")')
assert_match "events Pulled, Created, Started" "Pulled.*Created.*Started" "$ev"

log "init containers, emptyDir, restartPolicy Never"
k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  nodeName: node1
  restartPolicy: Never
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - {name: one, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo one > /w/log"], volumeMounts: [{name: work, mountPath: /w}]}
  - {name: two, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo two >> /w/log"], volumeMounts: [{name: work, mountPath: /w}]}
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "cat /w/log; test \"$(cat /w/log | tr '\\n' ,)\" = one,two,"], volumeMounts: [{name: work, mountPath: /w}]}
---
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "exit 3"]}
Y
ag_wait pod/init '{.status.phase}' Succeeded
assert_eq "init containers ran in order and exited 0" "0 0" "$(k get pod init -o jsonpath='{.status.initContainerStatuses[0].state.terminated.exitCode} {.status.initContainerStatuses[1].state.terminated.exitCode}')"
assert_eq "main saw both" "Completed 0" "$(k get pod init -o jsonpath='{.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}')"
ag_wait pod/fails '{.status.phase}' Failed
assert_eq "exit code and reason" "3 Error" "$(k get pod fails -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}')"

log "restartPolicy Always: back-off, CrashLoopBackOff"
k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: node1
  containers:
  - {name: main, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo boom; exit 2"]}
Y
ag_wait pod/crash '{.status.containerStatuses[0].state.waiting.reason}' CrashLoopBackOff
cs=$(k get pod crash -o jsonpath='{.status.containerStatuses[0]}')
assert_match "restarted at least once" '^[1-9]' "$(jq -r .restartCount <<<"$cs")"
assert_eq "lastState" "2 Error" "$(jq -r '"\(.lastState.terminated.exitCode) \(.lastState.terminated.reason)"' <<<"$cs")"
assert_match "back-off message" "back-off 10s restarting failed container=main pod=crash_default" "$(jq -r .state.waiting.message <<<"$cs")"
assert_eq "phase stays Running" Running "$(k get pod crash -o jsonpath='{.status.phase}')"
ag_wait pod/crash '{.status.containerStatuses[0].restartCount}' 2
assert_match "BackOff event" BackOff "$(k get events --field-selector involvedObject.name=crash -o jsonpath='{.items[*].reason}')"

log "bad input: missing image, missing Secret key, command not found"
k create secret generic s1 --from-literal=present=yes >/dev/null
k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  nodeName: node1
  containers: [{name: main, image: "127.0.0.1:1/missing:1", command: ["true"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: nokey}
spec:
  nodeName: node1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    env: [{name: X, valueFrom: {secretKeyRef: {name: s1, key: absent}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  nodeName: node1
  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["/no/such/binary"]}]
Y
ag_wait pod/noimage '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
assert_match "ErrImagePull event" "Failed to pull image" "$(k get events --field-selector involvedObject.name=noimage -o jsonpath='{.items[*].message}')"
ag_wait pod/nokey '{.status.containerStatuses[0].state.waiting.reason}' CreateContainerConfigError
assert_match "its message" "couldn't find key absent in Secret default/s1" "$(k get pod nokey -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')"
for _ in $(seq 150); do
	r=$(k get pod nocmd -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}')
	[[ $r == RunContainerError || $r == CrashLoopBackOff ]] && break
	sleep 0.2
done
assert_match "command not found" "^(RunContainerError|CrashLoopBackOff)$" "$r"
assert_match "a Failed event" "Failed" "$(k get events --field-selector involvedObject.name=nocmd -o jsonpath='{.items[*].reason}')"
log "a key added later: the pod starts"
k patch secret s1 -p '{"stringData": {"absent": "now"}}' >/dev/null
ag_wait pod/nokey '{.status.phase}' Running
assert_eq "other pods unaffected" "hello-from-web" "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/" 2>&1)"

log "a changed image restarts the container"
k patch pod client -p '{"spec": {"containers": [{"name": "c", "image": "k8c.io/netserver:latest"}]}}' >/dev/null
ag_wait pod/client '{.status.containerStatuses[0].image}' k8c.io/netserver:latest
ag_wait pod/client '{.status.containerStatuses[0].ready}' true
assert_eq "restarted once" 1 "$(k get pod client -o jsonpath='{.status.containerStatuses[0].restartCount}')"
assert_match "Killing event names the change" "definition changed" "$(k get events --field-selector involvedObject.name=client -o jsonpath='{.items[*].message}')"

log "a second agent on the same machine, in its own node namespace, podCIDR from the server"
AG_NODE_IPAM=1 ag_node node2 2
cidr2=$(k get node node2 -o jsonpath='{.spec.podCIDR}')
assert_match "node2 got a podCIDR from nodeipam" '^10\.244\.[0-9]+\.0/24$' "$cidr2"
[[ $cidr2 != 10.244.1.0/24 ]] && pass "not node1's" || fail "node2 got node1's podCIDR"
N2=$(ag_leaks node2 2)
k apply -f - <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: web2}
spec:
  nodeName: node2
  containers:
  - {name: httpd, image: busybox, imagePullPolicy: Never, command: ["sh", "-c", "echo two > /tmp/i; exec httpd -f -p 8080 -h /tmp"]}
Y
ag_wait pod/web2 '{.status.phase}' Running
ip2=$(k get pod web2 -o jsonpath='{.status.podIP}')
assert_match "node2's pod is in node2's podCIDR" "^${cidr2%.0/24}\.[0-9]+$" "$ip2"
assert_eq "node2 -> its pod" two "$(ip netns exec "${AG_NS[node2]}" wget -qO- -T 5 "http://$ip2:8080/i" 2>&1)"
assert_eq "node1's pods unaffected" "hello-from-web" "$(ip netns exec "${AG_NS[node1]}" wget -qO- -T 5 "http://$ip:8080/" 2>&1)"
k delete pod web2 --wait=false >/dev/null
for _ in $(seq 150); do [[ -z $(k get pod web2 -o name 2>/dev/null) ]] && break; sleep 0.2; done
for _ in $(seq 50); do [[ $(ag_leaks node2 2) == "$N2" ]] && break; sleep 0.2; done
assert_eq "node2 left nothing" "$N2" "$(ag_leaks node2 2)"

log "deletion: graceful, then the pod is gone and nothing is left"
k delete pod --all --wait=false >/dev/null
for _ in $(seq 300); do
	[[ -z $(k get pods -o name) ]] && break
	sleep 0.2
done
assert_eq "pods deleted for good" "" "$(k get pods -o name)"
for _ in $(seq 50); do
	[[ $(ag_leaks node1 1) == "$N0" ]] && break
	sleep 0.2
done
assert_eq "nothing left on the node" "$N0" "$(ag_leaks node1 1)"
assert_eq "the agent is still running" 0 "$(kill -0 "${AG_PID[node1]}"; echo $?)"

#!/bin/bash
# The agent's environment and volumes (docs/agent.md "Environment", "Volumes") on real pods:
# env from Secrets and ConfigMaps (optional honoured), fieldRef, resourceFieldRef, envFrom with a
# prefix, service environment variables; secret and configMap volumes (items, defaultMode, the
# ..data symlink swapped on update), downwardAPI, emptyDir (disk and Memory), hostPath with type
# checks, a persistentVolumeClaim bound to a hostPath PersistentVolume, subPath and readOnly.
# Usage: agent_volumes.sh <build>/bin
set -e
. "$(dirname "$0")/agent_lib.sh"
ag_setup agent-volumes
ag_node node1 1
HP=$D/hostpath
mkdir -p "$HP/dir" "$D/pv"
echo from-host >"$HP/dir/file"

k create secret generic sec --from-literal=user=alice --from-literal=pass=s3cret >/dev/null
k create configmap cfg --from-literal=mode=fast --from-literal=level=3 >/dev/null
k apply -f - <<Y
apiVersion: v1
kind: Service
metadata: {name: db-main}
spec: {clusterIP: 10.96.7.7, ports: [{name: sql, port: 5432, protocol: TCP}]}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: $D/pv}
  claimRef: {namespace: default, name: claim1}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim1}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  volumeName: pv1
  storageClassName: ""
Y
# no PV binder in this test: mark the claim Bound as the binder would
k patch pvc claim1 --subresource=status --type=merge -p '{"status": {"phase": "Bound"}}' >/dev/null
k apply -f - <<Y
apiVersion: v1
kind: Pod
metadata: {name: vol, labels: {app: vol, tier: back}, annotations: {note: hello}}
spec:
  nodeName: node1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: Never
    command: ["sh", "-c", "env > /out/env; sleep 3600"]
    resources: {limits: {cpu: 500m, memory: 64Mi}, requests: {cpu: 250m, memory: 32Mi}}
    env:
    - {name: USER, valueFrom: {secretKeyRef: {name: sec, key: user}}}
    - {name: MODE, valueFrom: {configMapKeyRef: {name: cfg, key: mode}}}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: nothere, key: x, optional: true}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: TIER, valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}}
    - {name: CPU_LIMIT_M, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: MEM_REQ, valueFrom: {resourceFieldRef: {resource: requests.memory}}}
    - {name: COMBINED, value: "\$(USER)-\$(MODE)"}
    envFrom:
    - {prefix: CFG_, configMapRef: {name: cfg}}
    - {secretRef: {name: missing, optional: true}}
    volumeMounts:
    - {name: out, mountPath: /out}
    - {name: sec, mountPath: /sec, readOnly: true}
    - {name: cfg, mountPath: /cfg}
    - {name: down, mountPath: /down}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: claim, mountPath: /data}
    - {name: out, mountPath: /sub, subPath: nested/dir}
  volumes:
  - {name: out, emptyDir: {}}
  - {name: sec, secret: {secretName: sec, defaultMode: 0400, items: [{key: user, path: u/name}]}}
  - {name: cfg, configMap: {name: cfg}}
  - name: down
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: name, fieldRef: {fieldPath: metadata.name}}, {path: cpu, resourceFieldRef: {containerName: main, resource: limits.cpu, divisor: 1m}}]}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: host, hostPath: {path: $HP/dir, type: Directory}}
  - {name: claim, persistentVolumeClaim: {claimName: claim1}}
Y
ag_wait pod/vol '{.status.phase}' Running
uid=$(k get pod vol -o jsonpath='{.metadata.uid}')
ip=$(k get pod vol -o jsonpath='{.status.podIP}')
V=$D/node1/root/pods/$uid/volumes
for _ in $(seq 50); do [[ -s $V/out/env ]] && break; sleep 0.1; done
env=$(cat "$V/out/env")
getenv() { sed -n "s/^$1=//p" <<<"$env"; }

log "environment"
assert_eq "secretKeyRef" alice "$(getenv USER)"
assert_eq "configMapKeyRef" fast "$(getenv MODE)"
assert_eq "optional missing ConfigMap: unset" "" "$(getenv OPT)"
assert_eq "fieldRef name" vol "$(getenv POD_NAME)"
assert_eq "fieldRef podIP" "$ip" "$(getenv POD_IP)"
assert_eq "fieldRef nodeName" node1 "$(getenv NODE)"
assert_eq "fieldRef label" back "$(getenv TIER)"
assert_eq "resourceFieldRef limits.cpu in m" 500 "$(getenv CPU_LIMIT_M)"
assert_eq "resourceFieldRef requests.memory" 33554432 "$(getenv MEM_REQ)"
assert_eq "\$(VAR) expansion" alice-fast "$(getenv COMBINED)"
assert_eq "envFrom with prefix" "fast 3" "$(getenv CFG_mode) $(getenv CFG_level)"
assert_eq "service env HOST" 10.96.7.7 "$(getenv DB_MAIN_SERVICE_HOST)"
assert_eq "service env PORT" 5432 "$(getenv DB_MAIN_SERVICE_PORT)"
assert_eq "service env named port" 5432 "$(getenv DB_MAIN_SERVICE_PORT_SQL)"
assert_eq "docker link var" tcp://10.96.7.7:5432 "$(getenv DB_MAIN_PORT_5432_TCP)"
assert_match "the kubernetes service is there too" '^[0-9.]+$' "$(getenv KUBERNETES_SERVICE_HOST)"

log "volumes"
assert_eq "secret item path" alice "$(cat "$V/sec/u/name")"
assert_eq "secret defaultMode" 400 "$(stat -L -c %a "$V/sec/u/name")"
assert_eq "secret through ..data" "..data/u" "$(readlink "$V/sec/u")"
assert_eq "configMap keys" "fast 3" "$(cat "$V/cfg/mode") $(cat "$V/cfg/level")"
assert_match "downwardAPI labels" 'tier="back"' "$(cat "$V/down/labels")"
assert_eq "downwardAPI name" vol "$(cat "$V/down/name")"
assert_eq "downwardAPI resource" 500 "$(cat "$V/down/cpu")"
assert_eq "emptyDir Memory is tmpfs" tmpfs "$(stat -f -c %T "$V/mem")"
assert_eq "subPath created in the volume" yes "$([[ -d $V/out/nested/dir ]] && echo yes)"
pid=$(jq -r .pid "$D/node1/root/containers/$uid-main-0/shim.json")
croot=/proc/$pid/root
assert_eq "hostPath seen in the container" from-host "$(cat "$croot/host/file")"
assert_eq "readOnly hostPath" refused "$(nsenter -t "$pid" -m -U --preserve-credentials sh -c 'echo x > /host/new' 2>/dev/null && echo written || echo refused)"
echo in-pv >"$D/pv/f"
assert_eq "PVC -> PV hostPath" in-pv "$(cat "$croot/data/f")"
assert_eq "secret file in the container" alice "$(cat "$croot/sec/u/name")"

log "updates reach the files through the ..data swap"
before=$(readlink "$V/cfg/..data")
k patch configmap cfg -p '{"data": {"mode": "slow", "new": "n"}}' >/dev/null
for _ in $(seq 150); do [[ $(cat "$V/cfg/mode" 2>/dev/null) == slow ]] && break; sleep 0.2; done
assert_eq "configMap update visible in the container" "slow n" "$(cat "$croot/cfg/mode") $(cat "$croot/cfg/new")"
assert_match "..data now points elsewhere" '^\.\.[0-9]' "$(readlink "$V/cfg/..data")"
[[ $(readlink "$V/cfg/..data") != "$before" ]] && pass "new timestamped dir" || fail "..data did not change"
assert_eq "old timestamped dir removed" 1 "$(ls -a "$V/cfg" | grep -c '^\.\.[0-9]')"

log "projected service account token"
k apply -f - <<Y
apiVersion: v1
kind: Pod
metadata: {name: tok}
spec:
  nodeName: node1
  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"], volumeMounts: [{name: t, mountPath: /t}]}]
  volumes:
  - name: t
    projected:
      sources:
      - serviceAccountToken: {path: token, audience: test-aud, expirationSeconds: 3600}
      - configMap: {name: cfg, items: [{key: level, path: level}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
Y
ag_wait pod/tok '{.status.phase}' Running
tuid=$(k get pod tok -o jsonpath='{.metadata.uid}')
TV=$D/node1/root/pods/$tuid/volumes/t
assert_eq "projected configMap and downwardAPI" "3 default" "$(cat "$TV/level") $(cat "$TV/ns")"
for _ in $(seq 50); do k get sa default >/dev/null 2>&1 && break; sleep 0.2; done
# (kubectl create token sends protobuf, which this server's TokenRequest does not decode: JSON)
if echo '{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}' |
	k create --raw /api/v1/namespaces/default/serviceaccounts/default/token -f - >/dev/null 2>&1; then
	assert_match "token is a JWT" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$(cat "$TV/token")"
	aud=$(cut -d. -f2 "$TV/token" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r '.aud | if type == "array" then .[0] else . end' 2>/dev/null || true)
	assert_eq "its audience" test-aud "$aud"
else
	assert_eq "no TokenRequest API: the token is left out, the pod runs" no "$([[ -e $TV/token ]] && echo yes || echo no)"
fi

log "hostPath type checks: FailedMount, other pods unaffected"
k apply -f - <<Y
apiVersion: v1
kind: Pod
metadata: {name: badhost}
spec:
  nodeName: node1
  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["true"], volumeMounts: [{name: h, mountPath: /h}]}]
  volumes: [{name: h, hostPath: {path: $HP/dir/file, type: Directory}}]
---
apiVersion: v1
kind: Pod
metadata: {name: mkhost}
spec:
  nodeName: node1
  containers: [{name: main, image: busybox, imagePullPolicy: Never, command: ["sleep", "3600"], volumeMounts: [{name: h, mountPath: /h}]}]
  volumes: [{name: h, hostPath: {path: $HP/created/sub, type: DirectoryOrCreate}}]
Y
ag_wait pod/mkhost '{.status.phase}' Running
assert_eq "DirectoryOrCreate made it" yes "$([[ -d $HP/created/sub ]] && echo yes)"
for _ in $(seq 100); do
	ev=$(k get events --field-selector involvedObject.name=badhost -o jsonpath='{.items[*].reason}')
	[[ $ev == *FailedMount* ]] && break
	sleep 0.2
done
assert_match "FailedMount event" FailedMount "$ev"
assert_match "its message" "is not a directory" "$(k get events --field-selector involvedObject.name=badhost -o jsonpath='{.items[*].message}')"
assert_eq "the pod stays Pending" Pending "$(k get pod badhost -o jsonpath='{.status.phase}')"

log "deletion leaves no mount"
k delete pod --all --wait=false >/dev/null
for _ in $(seq 300); do [[ -z $(k get pods -o name) ]] && break; sleep 0.2; done
assert_eq "pods gone" "" "$(k get pods -o name)"
assert_eq "no mount left below the node's dirs" 0 "$(awk '$5 ~ "^'"$D/node1"'" {print $5}' /proc/self/mountinfo | wc -l)"
assert_eq "pod dirs removed" 0 "$(ls "$D/node1/root/pods" | wc -l)"
assert_eq "hostPath data untouched" from-host "$(cat "$HP/dir/file")"
assert_eq "PV data untouched" in-pv "$(cat "$D/pv/f")"

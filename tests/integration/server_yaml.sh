#!/bin/bash
# application/yaml request bodies (as kube-apiserver takes them on create and update): typed
# scalars, 400 for malformed YAML, aliases and non-mappings. No root needed.
# Usage: server_yaml.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup yaml
srv_instance "$D"
srv_start 31

Y() { C -H 'Content-Type: application/yaml' "$@"; }
DEP=$U/apis/apps/v1/namespaces/default/deployments
code=$(Y -o "$D/out" -w '%{http_code}' -X POST --data-binary @- "$DEP" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, "on": "yes"}
spec:
  replicas: 3
  paused: false
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: nginx:1.27
        args: ["--port", "8080"]
        ports: [{containerPort: 8080}]
YAML
)
[[ $code == 201 ]] || fail "YAML create: $code $(cat "$D/out")"
got=$(C "$DEP/web" | jq -c '[.spec.replicas, .spec.paused, .metadata.labels.on, .spec.template.spec.containers[0].ports[0].containerPort, .spec.template.spec.containers[0].args]')
[[ $got == '[3,false,"yes",8080,["--port","8080"]]' ]] || fail "YAML types: $got"
rv=$(C "$DEP/web" | jq -r .metadata.resourceVersion)
code=$(C "$DEP/web" | jq '.spec.replicas = 5' | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d))' |
	Y -o "$D/out" -w '%{http_code}' -X PUT --data-binary @- "$DEP/web")
[[ $code == 200 && $(jq -r .spec.replicas "$D/out") == 5 ]] || fail "YAML (JSON is YAML) update: $code $(cat "$D/out")"

# malformed, an alias, not a mapping: 400 with the cause; nothing written
code=$(printf 'metadata:\n  name: [x\n' | Y -o "$D/out" -w '%{http_code}' -X POST --data-binary @- "$U/api/v1/namespaces/default/configmaps")
[[ $code == 400 ]] && jq -r .message "$D/out" | grep -q 'could not be decoded as YAML: line ' || fail "malformed YAML: $code $(cat "$D/out")"
code=$(printf 'a: &x [1]\nmetadata: {name: al}\ndata: *x\n' | Y -o "$D/out" -w '%{http_code}' -X POST --data-binary @- "$U/api/v1/namespaces/default/configmaps")
[[ $code == 400 ]] && jq -r .message "$D/out" | grep -q 'aliases are not supported' || fail "YAML alias: $code $(cat "$D/out")"
code=$(printf -- '- a\n- b\n' | Y -o "$D/out" -w '%{http_code}' -X POST --data-binary @- "$U/api/v1/namespaces/default/configmaps")
[[ $code == 400 ]] || fail "YAML list body: $code $(cat "$D/out")"
[[ $(C "$U/api/v1/namespaces/default/configmaps" | jq '.items | length') == 0 ]] || fail "a bad YAML body wrote"
code=$(C -o "$D/out" -w '%{http_code}' -H 'Content-Type: text/plain' -X POST -d 'x' "$U/api/v1/namespaces/default/configmaps")
[[ $code == 415 ]] && jq -r .message "$D/out" | grep -q 'application/yaml' || fail "415: $code $(cat "$D/out")"

srv_stop
echo PASS

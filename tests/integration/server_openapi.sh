#!/bin/bash
# k8c-server's OpenAPI v3 and server-side field validation against the real kubectl (1.27, 1.31
# and 1.33 by --kube-minor) and curl: `kubectl explain`, /openapi/v3 discovery and documents
# with their hashes and caching headers, fieldValidation Strict/Warn/Ignore on create, update
# and patch (unknown and duplicate fields), and apply of valid manifests of many kinds. No root.
#
# Usage: server_openapi.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup openapi

# A valid manifest of many kinds and features: it must apply, then re-apply unchanged.
cat >"$D/valid.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, labels: {app: web}}
data: {a: "1"}
binaryData: {b: aGk=}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, protocol: TCP}]
  sessionAffinity: None
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, annotations: {note: x}}
spec:
  replicas: 2
  revisionHistoryLimit: 3
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      os: {name: linux}
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      initContainers:
      - {name: side, image: busybox, restartPolicy: Always}
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: A, value: "1"}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {cpu: "1", memory: 128Mi}
        resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 5}
        livenessProbe: {grpc: {port: 9000}}
        lifecycle: {preStop: {sleep: {seconds: 1}}}
        volumeMounts: [{name: data, mountPath: /data}, {name: cfg, mountPath: /cfg}]
      volumes:
      - {name: data, emptyDir: {sizeLimit: 1Gi}}
      - {name: cfg, configMap: {name: cfg, items: [{key: a, path: a}]}}
      tolerations: [{key: k, operator: Exists, effect: NoSchedule}]
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}}, matchLabelKeys: [pod-template-hash]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
  volumeClaimTemplates:
  - metadata: {name: pgdata}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
EOF

# A Deployment with two unknown fields (one deep in the pod template).
cat >"$D/unknown.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: 1
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
      - {name: c, image: nginx, imagePullPolicyy: Always}
  foo: 1
EOF

for minor in 27 31 33; do
	srv_instance "$D/$minor"
	srv_start "$minor"

	# kubectl explain reads the OpenAPI v3 documents.
	out=$(k explain pods) || fail "$minor: explain pods"
	[[ $out == *"KIND:"*"Pod"* && $out == *"collection of containers"* && $out == *"spec"*"<PodSpec>"* ]] ||
		fail "$minor: explain pods: $out"
	out=$(k explain pods.spec.containers.ports) || fail "$minor: explain ports"
	[[ $out == *"containerPort"*"<integer>"*"-required-"* && $out == *"hostPort"* ]] ||
		fail "$minor: explain pods.spec.containers.ports: $out"
	out=$(k explain services.spec.ports.targetPort) || fail "$minor: explain targetPort"
	[[ $out == *"targetPort <IntOrString>"* ]] || fail "$minor: explain targetPort: $out"
	out=$(k explain pods.spec.containers.resources) || fail "$minor: explain resources"
	[[ $out == *"limits"*"<map[string]Quantity>"* ]] || fail "$minor: explain resources: $out"
	out=$(k explain deployment --recursive) || fail "$minor: explain --recursive"
	for f in maxSurge imagePullPolicy containerPort matchExpressions resizePolicy; do
		[[ $out == *"$f"* ]] || fail "$minor: explain deployment --recursive lacks $f"
	done
	[[ $out != *volumeClaimTemplates* ]] || fail "$minor: a Deployment shows StatefulSet fields"
	out=$(k explain ingresses.spec.rules.http.paths.backend --api-version=extensions/v1beta1) ||
		fail "$minor: explain extensions/v1beta1 ingress"
	[[ $out == *servicePort* && $out == *serviceName* ]] || fail "$minor: extensions ingress backend: $out"

	# kubectl apply: strict server-side validation names both unknown fields.
	rc=0
	out=$(k apply -f "$D/unknown.yaml" 2>&1) || rc=$?
	[[ $rc != 0 ]] || fail "$minor: apply of unknown fields succeeded"
	[[ $out == *'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].imagePullPolicyy"'* ]] ||
		fail "$minor: apply of unknown fields: $out"
	k get deployment bad >/dev/null 2>&1 && fail "$minor: the rejected Deployment exists"
	# --validate=warn: created with warnings, the unknown fields dropped.
	out=$(k apply --validate=warn -f "$D/unknown.yaml" 2>&1) || fail "$minor: apply --validate=warn: $out"
	[[ $out == *'Warning: unknown field "spec.foo"'* ]] || fail "$minor: no warning: $out"
	[[ $(k get deployment bad -o json | jq -c '[.spec.foo, .spec.template.spec.containers[0].imagePullPolicyy]') == '[null,null]' ]] ||
		fail "$minor: unknown fields were stored"

	# Valid manifests apply, then re-apply unchanged.
	out=$(k apply -f "$D/valid.yaml" 2>&1) || fail "$minor: apply valid: $out"
	[[ $out != *Warning* ]] || fail "$minor: warnings on a valid manifest: $out"
	out=$(k apply -f "$D/valid.yaml" 2>&1) || fail "$minor: re-apply valid: $out"
	[[ $(grep -c unchanged <<<"$out") == 6 ]] || fail "$minor: re-apply: $out"
	[[ $(k get deploy web -o jsonpath='{.spec.template.spec.containers[0].resizePolicy[0].resourceName}') == cpu ]] ||
		fail "$minor: a post-1.22 field was dropped"
	srv_stop
done

# The documents themselves, and the validation over curl (kubectl 1.31).
srv_instance "$D/raw"
srv_start 31
disc=$(C "$U/openapi/v3")
jq -e '.paths["api/v1"].serverRelativeURL and .paths["apis/apps/v1"].serverRelativeURL and .paths["apis/extensions/v1beta1"]' <<<"$disc" >/dev/null ||
	fail "/openapi/v3 discovery: $disc"
for gv in $(jq -r '.paths | keys[]' <<<"$disc"); do
	url=$(jq -r --arg gv "$gv" '.paths[$gv].serverRelativeURL' <<<"$disc")
	[[ $url =~ ^/openapi/v3/$gv\?hash=[0-9A-F]{128}$ ]] || fail "$gv: URL $url"
	C -o "$D/doc.json" -D "$D/doc.hdr" "$U$url"
	jq -e '.openapi == "3.0.0" and (.paths | length > 0) and
		([.components.schemas[] | select(."x-kubernetes-group-version-kind")] | length > 0)' "$D/doc.json" >/dev/null ||
		fail "$gv: not an OpenAPI 3.0 document with kinds"
	hash=${url##*hash=}
	[[ $(sha512sum "$D/doc.json" | cut -d' ' -f1 | tr a-f A-F) == "$hash" ]] || fail "$gv: hash is not the SHA-512 of the body"
	grep -qi '^cache-control: public, immutable' "$D/doc.hdr" || fail "$gv: no immutable caching with the hash"
	grep -qi "^etag: \"$hash\"" "$D/doc.hdr" || fail "$gv: ETag"
done
core=$(C "$U/openapi/v3/api/v1")
jq -e '.components.schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [{"group":"","kind":"Pod","version":"v1"}]' <<<"$core" >/dev/null ||
	fail "Pod's x-kubernetes-group-version-kind"
jq -e '.components.schemas["io.k8s.api.core.v1.PodSpec"].properties.containers |
	."x-kubernetes-patch-merge-key" == "name" and ."x-kubernetes-patch-strategy" == "merge"' <<<"$core" >/dev/null ||
	fail "containers' patch tags"
jq -e '.components.schemas["io.k8s.api.core.v1.ContainerPort"].required == ["containerPort"]' <<<"$core" >/dev/null ||
	fail "required fields"
jq -e '.paths["/api/v1/namespaces/{namespace}/pods/{name}"].patch |
	."x-kubernetes-group-version-kind".kind == "Pod" and ([.parameters[] | select(.name == "fieldValidation" and .in == "query")] | length == 1)' <<<"$core" >/dev/null ||
	fail "PATCH pods lacks the fieldValidation parameter"
apps=$(C "$U/openapi/v3/apis/apps/v1")
jq -e '.components.schemas["io.k8s.api.apps.v1.DeploymentSpec"].properties.strategy."x-kubernetes-patch-strategy" == "retainKeys"' <<<"$apps" >/dev/null ||
	fail "Deployment strategy retainKeys"
jq -e '.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"].put."x-kubernetes-group-version-kind".kind == "Scale"' <<<"$apps" >/dev/null ||
	fail "deployments/scale"
# A stale hash is redirected to the current one; If-None-Match gives 304; protobuf only is 406.
url=$(jq -r '.paths["apis/apps/v1"].serverRelativeURL' <<<"$disc")
out=$(C -o /dev/null -w '%{http_code} %{redirect_url}' "$U/openapi/v3/apis/apps/v1?hash=0123")
[[ $out == "301 $U$url" ]] || fail "stale hash: $out"
[[ $(C -o /dev/null -w '%{http_code}' -H "If-None-Match: \"${url##*hash=}\"" "$U$url") == 304 ]] || fail "If-None-Match"
[[ $(C -o /dev/null -w '%{http_code}' -H 'Accept: application/com.github.proto-openapi.spec.v3.v1.0+protobuf' "$U$url") == 406 ]] ||
	fail "protobuf-only Accept"
[[ $(C "$U/openapi/v3/apis/nosuch/v1" | jq -r .code) == 404 ]] || fail "unknown group-version"
[[ $(C -o /dev/null -w '%{http_code} %{size_download} %{content_type}' "$U/openapi/v2") == "200 0 application/octet-stream" ]] ||
	fail "/openapi/v2 changed"

# fieldValidation over curl: Warn (the default) warns per field and drops them; Strict is a 400
# naming them, duplicates included; Ignore is silent.
cm='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"NAME","labelz":{}},"data":{"a":"1"},"extra":true}'
post() { J -D "$D/hdr" -o "$D/body" -w '%{http_code}' -X POST -d "${cm/NAME/$1}" "$U/api/v1/namespaces/default/configmaps$2"; }
[[ $(post w1 "") == 201 ]] || fail "default validation: $(cat "$D/body")"
grep -qi '^warning: 299 - "unknown field \\"metadata.labelz\\""' "$D/hdr" || fail "no Warning header: $(cat "$D/hdr")"
grep -qi '^warning: 299 - "unknown field \\"extra\\""' "$D/hdr" || fail "no Warning for extra"
[[ $(C "$U/api/v1/namespaces/default/configmaps/w1" | jq -c '[.extra, .metadata.labelz, .data.a]') == '[null,null,"1"]' ]] ||
	fail "Warn stored unknown fields"
[[ $(post w2 "?fieldValidation=Warn") == 201 ]] || fail "Warn"
[[ $(post s1 "?fieldValidation=Strict") == 400 ]] || fail "Strict accepted unknown fields"
[[ $(jq -r .message "$D/body") == 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.labelz", unknown field "extra"' ]] ||
	fail "Strict message: $(cat "$D/body")"
[[ $(jq -r '.reason + " " + (.code|tostring)' "$D/body") == "BadRequest 400" ]] || fail "Strict status"
[[ $(post i1 "?fieldValidation=Ignore") == 201 ]] || fail "Ignore"
! grep -qi '^warning:' "$D/hdr" || fail "Ignore warned"
[[ $(post b1 "?fieldValidation=Bogus") == 400 ]] || fail "bad directive accepted"
dup='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d1","name":"d1"},"data":{"a":"1","a":"2"}}'
[[ $(J -o "$D/body" -w '%{http_code}' -X POST -d "$dup" "$U/api/v1/namespaces/default/configmaps?fieldValidation=Strict") == 400 ]] ||
	fail "Strict accepted duplicate fields"
[[ $(jq -r .message "$D/body") == *'strict decoding error: duplicate field "metadata.name", duplicate field "data.a"' ]] ||
	fail "duplicate message: $(cat "$D/body")"
J -D "$D/hdr" -o /dev/null -X POST -d "$dup" "$U/api/v1/namespaces/default/configmaps"
grep -qi '^warning: 299 - "duplicate field \\"data.a\\""' "$D/hdr" || fail "no Warning for a duplicate"
[[ $(C "$U/api/v1/namespaces/default/configmaps/d1" | jq -r .data.a) == 2 ]] || fail "the last duplicate wins"
# PUT and PATCH are validated too.
obj=$(C "$U/api/v1/namespaces/default/configmaps/w1" | jq -c '.spec = {"x": 1}')
[[ $(J -o "$D/body" -w '%{http_code}' -X PUT -d "$obj" "$U/api/v1/namespaces/default/configmaps/w1?fieldValidation=Strict") == 400 ]] ||
	fail "PUT Strict"
[[ $(jq -r .message "$D/body") == *'unknown field "spec"' ]] || fail "PUT message: $(cat "$D/body")"
patch() { C -D "$D/hdr" -o "$D/body" -w '%{http_code}' -X PATCH -H "Content-Type: application/$1" -d "$2" "$U/api/v1/namespaces/default/configmaps/w1$3"; }
# A strict patch error is kube's patcher's 422: the patched object (merge patch) or the patch
# as Go prints its map (strategic; integers int64, other numbers float64) is the invalid value of field "patch".
[[ $(patch merge-patch+json '{"data":{"b":"2"},"bogus":{"x":1}}' "?fieldValidation=Strict") == 422 ]] || fail "PATCH Strict"
[[ $(jq -r .message "$D/body") == ' "" is invalid: patch: Invalid value: "{\"apiVersion\":\"v1\",\"bogus\":{\"x\":1},\"data\":{\"a\":\"1\",\"b\":\"2\"},'*'}": strict decoding error: unknown field "bogus"' ]] ||
	fail "PATCH message: $(cat "$D/body")"
[[ $(jq -c '[.reason, .details.causes[0].field, .details.causes[0].reason]' "$D/body") == '["Invalid","patch","FieldValueInvalid"]' ]] ||
	fail "PATCH status: $(cat "$D/body")"
[[ $(patch strategic-merge-patch+json '{"data":{"n":"x"},"spec":{"r":1000000,"f":0.5,"e":1.5e7,"l":[true,null]}}' "?fieldValidation=Strict") == 422 ]] ||
	fail "strategic PATCH Strict"
[[ $(jq -r .message "$D/body") == ' "" is invalid: patch: Invalid value: "map[data:map[n:x] spec:map[e:1.5e+07 f:0.5 l:[true <nil>] r:1000000]]": strict decoding error: unknown field "spec"' ]] ||
	fail "strategic PATCH message: $(cat "$D/body")"
[[ $(patch strategic-merge-patch+json '{"data":{"b":"2"},"bogus":1}' "") == 200 ]] || fail "PATCH Warn"
grep -qi '^warning: 299 - "unknown field \\"bogus\\""' "$D/hdr" || fail "PATCH: no Warning"
[[ $(jq -c '[.data.b, .bogus]' "$D/body") == '["2",null]' ]] || fail "PATCH Warn result: $(cat "$D/body")"
# A strategic merge patch of a Deployment with $setElementOrder directives is not "unknown".
k apply -f "$D/valid.yaml" >/dev/null || fail "apply valid (raw instance)"
sed -i 's/nginx:1.27/nginx:1.28/' "$D/valid.yaml"
out=$(k apply -f "$D/valid.yaml" 2>&1) || fail "apply of a change: $out"
[[ $out == *"deployment.apps/web configured"* && $out != *Warning* ]] || fail "apply of a change: $out"
[[ $(k get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}') == nginx:1.28 ]] || fail "changed image"
# An unknown field in a change: kubectl's strategic merge patch is refused as kube refuses it.
sed -i 's/^  revisionHistoryLimit: 3/  revisionHistoryLimit: 3\n  bogus: 1/' "$D/valid.yaml"
rc=0
out=$(k apply -f "$D/valid.yaml" 2>&1) || rc=$?
[[ $rc != 0 && $out == *'The request is invalid: patch: Invalid value: "map[metadata:map[annotations:map[kubectl.kubernetes.io/last-applied-configuration:'*' spec:map[bogus:1]]": strict decoding error: unknown field "spec.bogus"'* ]] ||
	fail "apply of a change with an unknown field: $out"
srv_stop
echo PASS

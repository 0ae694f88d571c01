#!/bin/bash
# dryRun=All on create, update and patch writes nothing and answers what would be written:
# kubectl --dry-run=server, kubectl diff, curl. No root needed.
#
#   kubectl / curl ──TLS──► k8c-server 127.0.0.1:$PORT ($D/data)
# Usage: server_dryrun.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup dryrun
srv_instance "$D"
srv_start 31

rev() { C "$U/api/v1/namespaces/default/configmaps" | jq -r .metadata.resourceVersion; }

# create
r0=$(rev)
out=$(k create configmap x --from-literal=a=1 --dry-run=server -o json 2>&1) || fail "create --dry-run=server: $out"
[[ $(jq -r '.data.a' <<<"$out") == 1 && -n $(jq -r '.metadata.uid' <<<"$out") ]] || fail "dry-run answer: $out"
out=$(k get configmap x 2>&1) && fail "a dry-run create was stored: $out"
[[ $(rev) == "$r0" ]] || fail "a dry-run create moved the revision"
# a Service gets its ClusterIP in the answer, and the IP stays free
out=$(k create service clusterip web --tcp=80:8080 --dry-run=server -o json 2>&1) || fail "svc dry-run: $out"
[[ $(jq -r .spec.clusterIP <<<"$out") == 10.* ]] || fail "dry-run svc has no ClusterIP: $out"
k get svc web >/dev/null 2>&1 && fail "a dry-run service was stored"

# update and patch on a real object
k create configmap yc --from-literal=a=1 >/dev/null
rv=$(C "$U/api/v1/namespaces/default/configmaps/yc" | jq -r .metadata.resourceVersion)
out=$(k patch configmap yc -p '{"data":{"a":"2"}}' --dry-run=server -o json 2>&1) || fail "patch --dry-run: $out"
[[ $(jq -r '.data.a' <<<"$out") == 2 && $(jq -r .metadata.resourceVersion <<<"$out") == "$rv" ]] || fail "patch dry-run answer: $out"
cat >"$D/y.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: yc}
data: {a: "3"}
YAML
out=$(k apply -f "$D/y.yaml" --dry-run=server 2>&1) || fail "apply --dry-run=server: $out"
out=$(k diff -f "$D/y.yaml" 2>&1) && fail "kubectl diff saw no difference: $out"
grep -q '^+  a: "3"' <<<"$out" || fail "kubectl diff: $out"
out=$(C -X PUT -H 'Content-Type: application/json' -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"yc"},"data":{"a":"4"}}' "$U/api/v1/namespaces/default/configmaps/yc?dryRun=All")
[[ $(jq -r .data.a <<<"$out") == 4 ]] || fail "PUT dry-run answer: $out"
[[ $(C "$U/api/v1/namespaces/default/configmaps/yc" | jq -r '"\(.data.a) \(.metadata.resourceVersion)"') == "1 $rv" ]] || fail "a dry-run update or patch was stored"

# a bad dryRun value is a 422 that writes nothing
code=$(J -o "$D/out" -w '%{http_code}' -X POST -d '{"metadata":{"name":"z"}}' "$U/api/v1/namespaces/default/configmaps?dryRun=Some")
[[ $code == 422 ]] && jq -r .message "$D/out" | grep -q 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: "Some"' || fail "bad dryRun: $code $(cat "$D/out")"
k get configmap z >/dev/null 2>&1 && fail "a bad dry run wrote"

srv_stop
echo PASS

#!/bin/bash
# k8c-ingress memory under endpoint churn (docs/BENCHMARKS.md "Ingress"), on demand, loopback only:
#   tests/bench/ingress_churn_rss.sh <build>/bin [ROUNDS] [ENDPOINTS]
# The Service's EndpointSlice is replaced ROUNDS times (default 40) by ENDPOINTS (default 100) new
# endpoints (127.0.0.1 on ports nothing listens on: each connect is refused at once), and each
# round sends one request per endpoint (round robin reaches all): one upstream pool per endpoint
# ever seen. Prints the ingress' VmRSS after each tenth round. K8C_INGRESS=path runs another
# binary (e.g. one built from an older commit) for a before/after comparison.
set -e
. "$(dirname "$0")/../integration/server_lib.sh"
ROUNDS=${2:-40}
EPS=${3:-100}
ING=${K8C_INGRESS:-$BIN/k8c-ingress}
ING_PID=
cleanup_all() {
	set +e
	[[ -z $ING_PID ]] || { kill "$ING_PID"; wait "$ING_PID"; }
	srv_cleanup
}
srv_setup ingress-rss
trap cleanup_all EXIT
srv_instance "$D"
srv_start 31
k create namespace rss >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: k8c}
spec: {controller: k8c.io/ingress}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: rss}
spec: {ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: rss}
spec:
  ingressClassName: k8c
  rules:
  - host: rss.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF
IP=$(srv_port)
extra=()
"$ING" --help | grep -q -- --metrics-addr && extra=(--metrics-addr "") # older binaries: none
"$ING" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" --listen-https "" "${extra[@]}" 2>"$D/ingress.log" &
ING_PID=$!
rss() { awk '/^VmRSS/ {print $2}' "/proc/$ING_PID/status"; }
slice() { # FIRST_PORT: ENDPOINTS endpoints on 127.0.0.1, one port each (one slice per port)
	local i
	for ((i = 0; i < EPS; i++)); do
		printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-%d, namespace: rss, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: %d}]\nendpoints: [{addresses: [127.0.0.1]}]\n' "$i" $(($1 + i))
	done
}
sleep 1
echo "round rss_kib"
echo "0 $(rss)"
for ((r = 1; r <= ROUNDS; r++)); do
	slice $((20000 + (r % 400) * EPS)) | k apply -f - >/dev/null
	# wait for the new table: any endpoint of this round answers (502: refused upstream)
	sleep 0.5
	urls=()
	for ((i = 0; i < EPS; i++)); do urls+=("http://rss.test:$IP/$i"); done
	curl -s --resolve "rss.test:$IP:127.0.0.1" "${urls[@]}" >/dev/null || true
	((r % 10)) || echo "$r $(rss)"
done

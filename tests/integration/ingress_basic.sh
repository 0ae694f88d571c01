#!/bin/bash
# k8c-ingress against k8c-server, loopback only (no root): an IngressClass of ours and one of
# another controller, Services and EndpointSlices pointing at echo backends on 127.0.0.x, Ingresses
# with hosts and Exact/Prefix paths made with kubectl; curl --resolve checks routing, precedence,
# wildcard hosts, 404, 503, round robin, X-Forwarded-*, status.loadBalancer and live changes.
set -e
. "$(dirname "$0")/ingress_lib.sh"

ing_setup ingress-basic

# echo backends (ingress_lib.sh) answering who they are and what they saw; /slow answers once
# the test creates $D/release
PA=$(srv_port)
PB=$(srv_port)
ing_echo --headers a1 127.0.0.2 "$PA"
ing_echo --headers a2 127.0.0.4 "$PA"
ing_echo --headers b 127.0.0.3 "$PB"

k create namespace ing >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: k8c}
spec: {controller: k8c.io/ingress}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: other}
spec: {controller: example.com/other}
---
apiVersion: v1
kind: Service
metadata: {name: svc-a, namespace: ing}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-b, namespace: ing}
spec: {ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-empty, namespace: ing}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-a-1, namespace: ing, labels: {kubernetes.io/service-name: svc-a}}
addressType: IPv4
ports: [{name: http, port: $PA}]
endpoints:
- addresses: [127.0.0.2]
  conditions: {ready: true}
- addresses: [127.0.0.4]
- addresses: [127.0.0.9]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-b-1, namespace: ing, labels: {kubernetes.io/service-name: svc-b}}
addressType: IPv4
ports: [{port: $PB}]
endpoints:
- addresses: [127.0.0.3]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: ing
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  ingressClassName: k8c
  tls:
  - {hosts: [foo.test], secretName: foo-tls}
  rules:
  - host: foo.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
      - {path: /app, pathType: Prefix, backend: {service: {name: svc-a, port: {name: http}}}}
      - {path: /app, pathType: Exact, backend: {service: {name: svc-b, port: {number: 8080}}}}
      - {path: /api/, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 8080}}}}
      - {path: /empty, pathType: Prefix, backend: {service: {name: svc-empty, port: {number: 80}}}}
      - {path: /gone, pathType: Prefix, backend: {service: {name: svc-gone, port: {number: 80}}}}
  - host: "*.wild.test"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 8080}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: ing}
spec:
  ingressClassName: k8c
  tls:
  - {hosts: [sec.test], secretName: foo-tls}
  rules:
  - host: sec.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 8080}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: theirs, namespace: ing}
spec:
  ingressClassName: other
  rules:
  - host: other.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: svc-a, port: {number: 80}}}}
EOF

IP=$(srv_port)
SP=$(srv_port)
MP=$(srv_port)
"$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" --listen-https "127.0.0.1:$SP" \
	--metrics-addr "127.0.0.1:$MP" --upstream-keepalive-timeout 600000 2>"$D/ingress.log" &
ING_PID=$!

# get HOST PATH: the body (or the status code line for non-2xx) for HOST's PATH through the ingress.
get() {
	curl -s --max-time 10 --resolve "$1:$IP:127.0.0.1" -o "$D/body" -w '%{http_code}' \
		"http://$1:$IP$2" >"$D/code" || true
	if [[ $(cat "$D/code") == 200 ]]; then cat "$D/body"; else echo "status=$(cat "$D/code")"; fi
}
# expect HOST PATH PATTERN: the answer matches the grep -E pattern.
expect() {
	local got
	got=$(get "$1" "$2")
	grep -Eq -- "$3" <<<"$got" || ifail "$1$2: got '$got', want /$3/"
	ok "$1$2 -> $3"
}
# wait_until WHAT HOST PATH PATTERN: the controller works asynchronously; 60 s at most.
wait_until() {
	for _ in $(seq 600); do
		get "$2" "$3" | grep -Eq -- "$4" && { ok "$1"; return 0; }
		kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
		sleep 0.1
	done
	ifail "$1: $2$3 never matched /$4/ (last: $(get "$2" "$3"))"
}

wait_until "routes served" foo.test /x "backend=a"
# precedence and element-wise prefixes
expect foo.test /app "backend=b "		# Exact beats Prefix on a tie
expect foo.test /app/x "backend=a"		# only the Prefix matches
expect foo.test /apple "backend=a.* path=/apple" # /app does not match /apple: falls to /
expect foo.test /api "backend=b .*path=/api "	# the rule's trailing slash is ignored
expect foo.test /api/v1/x?q=1 "backend=b .*path=/api/v1/x\?q=1 "
expect FOO.test /api "backend=b"		# host case is not significant
# what the backend saw
expect foo.test /hdr "host=foo.test:$IP path=/hdr xfh=foo.test:$IP xff=127.0.0.1 xfp=http"
# a client's own X-Forwarded-Host is replaced (the echo shows the first one it got)
curl -s --max-time 10 --resolve "foo.test:$IP:127.0.0.1" -H 'X-Forwarded-Host: evil.test' "http://foo.test:$IP/xfh" |
	grep -q "xfh=foo.test:$IP " || ifail "a client's X-Forwarded-Host was passed on"
ok "a client's X-Forwarded-Host is replaced"
# X-Request-ID: generated (32 hex digits, another per request) unless the client sent one
r1=$(get foo.test /rid | grep -oE 'rid=[0-9a-f]{32}$')
r2=$(get foo.test /rid | grep -oE 'rid=[0-9a-f]{32}$')
[[ -n $r1 && -n $r2 && $r1 != "$r2" ]] || ifail "X-Request-ID: got '$r1' and '$r2'"
curl -s --max-time 10 --resolve "foo.test:$IP:127.0.0.1" -H 'X-Request-ID: mine-1' "http://foo.test:$IP/rid" |
	grep -q 'rid=mine-1$' || ifail "a client's X-Request-ID was not passed on"
ok "X-Request-ID ($r1, $r2; a client's own passed on)"
# upstream keep-alive: two requests in a row to svc-b's one endpoint come over one connection
p1=$(get foo.test /api | grep -oE 'peer=[0-9]+')
p2=$(get foo.test /api | grep -oE 'peer=[0-9]+')
[[ -n $p1 && $p1 == "$p2" ]] || ifail "upstream connection not reused: '$p1' then '$p2'"
ok "upstream keep-alive ($p1 twice)"
# wildcard hosts: one label only
expect x.wild.test / "backend=b"
expect y.x.wild.test / "status=404"
expect wild.test / "status=404"
# other hosts and classes, missing endpoints and Services
expect nothing.test / "status=404"
expect other.test / "status=404"
expect foo.test /empty "status=503"
expect foo.test /gone "status=503"
# round robin over the ready endpoints of svc-a (127.0.0.9 is not ready)
seen=""
for _ in 1 2 3 4; do seen+=$(get foo.test /rr | grep -oE 'backend=a[0-9]')" "; done
grep -q "a1" <<<"$seen" && grep -q "a2" <<<"$seen" || ifail "round robin: saw only $seen"
ok "round robin: $seen"

# status.loadBalancer: ours gets the listen address, theirs nothing
for _ in $(seq 600); do
	[[ $(k -n ing get ingress web -o jsonpath='{.status.loadBalancer.ingress[0].ip}') == 127.0.0.1 ]] && break
	sleep 0.1
done
[[ $(k -n ing get ingress web -o jsonpath='{.status.loadBalancer.ingress[0].ip}') == 127.0.0.1 ]] ||
	ifail "status.loadBalancer of ing/web: $(k -n ing get ingress web -o jsonpath='{.status}')"
ok "status.loadBalancer.ingress of ing/web"
[[ -z $(k -n ing get ingress theirs -o jsonpath='{.status.loadBalancer.ingress}') ]] ||
	ifail "ing/theirs (another class) got a status"
ok "no status on another class' Ingress"

# TLS: the Secret named by the Ingress does not exist yet, so the default certificate answers;
# once it is created, foo.test's own certificate is served (picked up live, chosen by SNI)
command -v openssl >/dev/null || fail "openssl not found"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=foo.test \
	-addext subjectAltName=DNS:foo.test -keyout "$D/foo.key" -out "$D/foo.crt" 2>/dev/null
tls() { curl -s --max-time 10 --resolve "$1:$SP:127.0.0.1" "${@:3}" "https://$1:$SP$2"; }
tls foo.test /api -k | grep -q "backend=b .*xfp=https" || ifail "HTTPS with the default certificate"
ok "HTTPS before the Secret exists (default certificate)"
tls foo.test /api --cacert "$D/foo.crt" >/dev/null && ifail "foo.test's certificate served before its Secret exists"
k -n ing create secret tls foo-tls --cert "$D/foo.crt" --key "$D/foo.key" >/dev/null
for _ in $(seq 600); do
	tls foo.test /api --cacert "$D/foo.crt" | grep -q "backend=b" && break
	sleep 0.1
done
tls foo.test /api --cacert "$D/foo.crt" | grep -q "backend=b .*xfp=https" ||
	ifail "foo.test's certificate not served after its Secret was created"
ok "the Secret's certificate is picked up live and verifies"
[[ $(tls foo.test /api --cacert "$D/foo.crt" --http2 -o /dev/null -w '%{http_version}') == 2 ]] ||
	ifail "no HTTP/2 over TLS"
ok "HTTP/2 over TLS"
tls x.wild.test / --cacert "$D/foo.crt" >/dev/null && ifail "x.wild.test got foo.test's certificate"
tls x.wild.test / -k | grep -q "backend=b" || ifail "x.wild.test over HTTPS (default certificate)"
ok "a host without TLS gets the default certificate"
# the Secret's certificate replaced, then back: each picked up live (certificates are cached by
# the informer's Secret object, so a changed Secret must be loaded again), the old one not served
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=foo.test \
	-addext subjectAltName=DNS:foo.test -keyout "$D/foo2.key" -out "$D/foo2.crt" 2>/dev/null
for c in foo2:foo foo:foo2; do
	new=${c%:*} old=${c#*:}
	k -n ing create secret tls foo-tls --cert "$D/$new.crt" --key "$D/$new.key" --dry-run=client \
		-o yaml | k apply -f - >/dev/null 2>&1
	for _ in $(seq 600); do
		tls foo.test /api --cacert "$D/$new.crt" | grep -q "backend=b" && break
		sleep 0.1
	done
	tls foo.test /api --cacert "$D/$new.crt" | grep -q "backend=b" ||
		ifail "foo.test's certificate not replaced by $new.crt"
	tls foo.test /api --cacert "$D/$old.crt" >/dev/null && ifail "$old.crt still served"
done
ok "a changed certificate is picked up live, the old one not served"

# ssl-redirect: on by default for a TLS host (sec.test), off by annotation (foo.test, above)
r=$(curl -s --max-time 10 --resolve "sec.test:$IP:127.0.0.1" -o /dev/null -w '%{http_code} %{redirect_url}' \
	"http://sec.test:$IP/p/q?x=1")
[[ $r == "308 https://sec.test:$SP/p/q?x=1" ]] || ifail "ssl-redirect of sec.test: got '$r'"
ok "ssl-redirect: $r"
tls sec.test /p -k | grep -q "backend=b .*xfp=https" || ifail "sec.test over HTTPS"
ok "sec.test over HTTPS"

# live changes, no restart: a new Ingress on a new host, a path moved, endpoints removed
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: late, namespace: ing}
spec:
  ingressClassName: k8c
  rules:
  - host: late.test
    http:
      paths:
      - {path: /only, pathType: Exact, backend: {service: {name: svc-b, port: {number: 8080}}}}
EOF
wait_until "a new Ingress is served" late.test /only "backend=b"
expect late.test /only/not "status=404"
# a route change while a request is in flight (/slow waits for $D/release) and while a client
# holds a keep-alive connection: neither is dropped, the new request on the old connection
# takes the new route
cat >"$D/client.py" <<'EOF'
import http.client, os, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
def get():
    c.request("GET", "/keep", headers={"Host": "foo.test"})
    r = c.getresponse()
    return "%d %s" % (r.status, r.read().decode().strip())
first = get()
port = c.sock.getsockname()[1]
open(sys.argv[2] + "/client-ready", "w").close()
while not os.path.exists(sys.argv[2] + "/go"):
    time.sleep(0.05)
second = get()
print("%s | %s | same-connection=%s" % (first, second, c.sock.getsockname()[1] == port))
EOF
curl -s --max-time 120 --resolve "foo.test:$IP:127.0.0.1" -w ' code=%{http_code}' "http://foo.test:$IP/slow" >"$D/slow.out" &
SLOW_PID=$!
BACK_PIDS+=("$SLOW_PID")
$PY "$D/client.py" "$IP" "$D" >"$D/client.out" &
CLIENT_PID=$!
BACK_PIDS+=("$CLIENT_PID")
for _ in $(seq 600); do [[ -e $D/client-ready ]] && break; sleep 0.1; done
[[ -e $D/client-ready ]] || ifail "the keep-alive client did not start"
k -n ing patch ingress web --type=json \
	-p '[{"op":"replace","path":"/spec/rules/0/http/paths/0/backend/service","value":{"name":"svc-b","port":{"number":8080}}}]' >/dev/null
wait_until "a changed backend is served" foo.test /x "backend=b"
[[ ! -s $D/slow.out ]] || ifail "the slow request answered before it was released: $(cat "$D/slow.out")"
touch "$D/release" "$D/go"
wait "$SLOW_PID" || ifail "the in-flight request failed: $(cat "$D/slow.out")"
wait "$CLIENT_PID" || ifail "the keep-alive client failed: $(cat "$D/client.out")"
{ grep -Eq '^backend=a[12] .*path=/slow ' "$D/slow.out" && grep -q '^ code=200$' "$D/slow.out"; } ||
	ifail "in-flight request across the change: $(cat "$D/slow.out")"
ok "a request in flight during the change finished on its old route"
grep -Eq '^200 backend=a[12] .*\| 200 backend=b .*\| same-connection=True$' "$D/client.out" ||
	ifail "keep-alive client across the change: $(cat "$D/client.out")"
ok "a keep-alive connection survived the change and took the new route"
k -n ing patch endpointslice svc-b-1 --type=merge -p '{"endpoints":[]}' >/dev/null
wait_until "an emptied EndpointSlice answers 503" foo.test /x "status=503"
k -n ing patch ingress theirs --type=merge -p '{"spec":{"ingressClassName":"k8c"}}' >/dev/null
wait_until "an Ingress moved to our class is served" other.test / "backend=a"
st() { k -n ing get ingress "$1" -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
for _ in $(seq 600); do [[ $(st theirs) == 127.0.0.1 ]] && break; sleep 0.1; done
[[ $(st theirs) == 127.0.0.1 ]] || ifail "ing/theirs moved to our class has no status"
ok "an Ingress moved to our class gets our status"
k -n ing patch ingress theirs --type=merge -p '{"spec":{"ingressClassName":"other"}}' >/dev/null
wait_until "an Ingress moved to another class is no longer served" other.test / "status=404"
for _ in $(seq 600); do [[ -z $(st theirs) ]] && break; sleep 0.1; done
[[ -z $(st theirs) ]] || ifail "ing/theirs moved away still shows our address: $(st theirs)"
ok "an Ingress moved to another class has our status cleared"
k -n ing delete ingress late >/dev/null
wait_until "a deleted Ingress is no longer served" late.test /only "status=404"

grep -q 'msg="backend not served (503)" ingress=ing/web service=ing/svc-gone port=80 error="service ing/svc-gone not found"' "$D/ingress.log" ||
	ifail "no log line for the missing Service"
[[ $(grep -c 'service=ing/svc-gone' "$D/ingress.log") == 1 ]] || ifail "the missing Service was logged more than once"
ok "a missing Service is logged once"
# Services and EndpointSlices created and deleted after the start reach the backends (the
# build resolves again the Services their deltas name, and only those)
ing_yaml_service ing svc-gone "$PA" 127.0.0.2 | k apply -f - >/dev/null
wait_until "a Service and its EndpointSlice created later are served" foo.test /gone "backend=a"
k -n ing delete endpointslice svc-gone-1 >/dev/null
wait_until "its EndpointSlice deleted: 503" foo.test /gone "status=503"
k -n ing delete service svc-gone >/dev/null
for _ in $(seq 600); do
	[[ $(grep -c 'error="service ing/svc-gone not found"' "$D/ingress.log") == 2 ]] && break
	sleep 0.1
done
[[ $(grep -c 'error="service ing/svc-gone not found"' "$D/ingress.log") == 2 ]] ||
	ifail "the Service deleted again is not logged missing again"
ok "the Service deleted: not found again"

# /healthz and /metrics on --metrics-addr (Prometheus text: requests by Ingress, rule host and
# status; the latency histogram; the config generation)
[[ $(curl -s --max-time 10 "http://127.0.0.1:$MP/healthz") == ok ]] || ifail "/healthz is not ok"
ok "/healthz"
curl -s --max-time 10 "http://127.0.0.1:$MP/metrics" >"$D/metrics.1"
for n in 1 2 3; do expect foo.test "/app/m$n" "backend=a"; done
expect foo.test /gone "status=503"
expect none.test / "status=404"
curl -s --max-time 10 "http://127.0.0.1:$MP/metrics" >"$D/metrics.2"
# metric FILE 'NAME{LABELS}': its value (0 when absent)
metric() { awk -v k="$2" '$1 == k {v = $2} END {print v + 0}' "$1"; }
delta() { echo $(($(metric "$D/metrics.2" "$1") - $(metric "$D/metrics.1" "$1"))); }
ok200='k8c_ingress_requests_total{ingress="ing/web",host="foo.test",status="200"}'
[[ $(delta "$ok200") == 3 ]] || ifail "3 requests to foo.test counted $(delta "$ok200") times: $(cat "$D/metrics.2")"
[[ $(delta 'k8c_ingress_requests_total{ingress="ing/web",host="foo.test",status="503"}') == 1 ]] ||
	ifail "the 503 was not counted once: $(cat "$D/metrics.2")"
[[ $(delta 'k8c_ingress_requests_total{ingress="",host="",status="404"}') == 1 ]] ||
	ifail "the 404 was not counted once: $(cat "$D/metrics.2")"
[[ $(metric "$D/metrics.2" 'k8c_ingress_requests_total{ingress="ing/web",host="*.wild.test",status="200"}') -ge 1 ]] ||
	ifail "no count for the wildcard host: $(cat "$D/metrics.2")"
ok "k8c_ingress_requests_total by ingress, host, status"
hc='k8c_ingress_request_duration_seconds_count{ingress="ing/web",host="foo.test"}'
hinf='k8c_ingress_request_duration_seconds_bucket{ingress="ing/web",host="foo.test",le="+Inf"}'
[[ $(delta "$hc") == 4 && $(delta "$hinf") == 4 ]] ||
	ifail "the latency histogram of foo.test did not count 4 requests: $(grep duration "$D/metrics.2")"
ok "the latency histogram"
g=$(metric "$D/metrics.2" k8c_ingress_config_generation)
[[ $g -ge 1 ]] || ifail "k8c_ingress_config_generation is $g"
grep -q '^# TYPE k8c_ingress_request_duration_seconds histogram$' "$D/metrics.2" || ifail "no histogram TYPE line"
ok "k8c_ingress_config_generation $g"
# one build time observed per table built (the generation counts them; a build observed but not
# yet published while scraping makes one more)
bc=$(metric "$D/metrics.2" k8c_ingress_config_build_seconds_count)
[[ ($bc == "$g" || $bc == $((g + 1))) &&
	$(metric "$D/metrics.2" 'k8c_ingress_config_build_seconds_bucket{le="+Inf"}') == "$bc" ]] ||
	ifail "k8c_ingress_config_build_seconds counted $bc builds for generation $g: $(grep build_seconds "$D/metrics.2")"
ok "k8c_ingress_config_build_seconds: $bc builds"
ing_stop_ok
ok "k8c-ingress stopped cleanly"

# restart with two serving threads: the routes come back from the informers alone, the statuses
# already right are not written again, and it serves with two threads
"$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" --listen-https "127.0.0.1:$SP" \
	--metrics-addr "127.0.0.1:$MP" --threads 2 2>"$D/ingress.log" &
ING_PID=$!
wait_until "routes served after a restart" foo.test /app/x "backend=a"
for n in $(seq 16); do
	expect foo.test /app/$n "backend=a[12] .*path=/app/$n " 2>/dev/null
done
ok "16 requests with two serving threads (16 connections)"
# the counts of both threads are summed: 16 requests (and those of wait_until) to /app/*
curl -s --max-time 10 "http://127.0.0.1:$MP/metrics" >"$D/metrics.3"
[[ $(metric "$D/metrics.3" "$ok200") -ge 17 && $(grep -c "^k8c_ingress_requests_total{ingress=\"ing/web\",host=\"foo.test\",status=\"200\"}" "$D/metrics.3") == 1 ]] ||
	ifail "metrics of two threads: $(cat "$D/metrics.3")"
ok "metrics summed over two threads"
[[ $(tls foo.test /app/1 --cacert "$D/foo.crt" -o /dev/null -w '%{http_code}') == 200 ]] ||
	ifail "HTTPS with the Secret's certificate after a restart"
ok "HTTPS with the Secret's certificate after a restart"
grep -q 'msg="status updated"' "$D/ingress.log" && ifail "statuses were rewritten after a restart"
ok "no status rewritten after a restart"
ing_stop_ok

# --node-name: the status gets the Node's ExternalIP (else InternalIP), as ingress-nginx reports
# its node's; a Node that does not exist is a clear error at start
if "$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" --listen-https "" \
	--metrics-addr "" --node-name ing-node-x 2>"$D/ingress.log"; then
	ifail "k8c-ingress started with a missing --node-name Node"
fi
grep -q 'node-name ing-node-x.*not found' "$D/ingress.log" || ifail "no clear error for a missing Node"
ok "a missing --node-name Node is an error at start: $(grep -o 'node-name ing-node-x.*' "$D/ingress.log")"
echo '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ing-node-x"}}' | k apply -f - >/dev/null
k patch node ing-node-x --subresource=status --type=merge \
	-p '{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.10"},{"type":"ExternalIP","address":"198.51.100.7"}]}}' >/dev/null
"$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" --listen-https "" \
	--metrics-addr "" --node-name ing-node-x 2>"$D/ingress.log" &
ING_PID=$!
for _ in $(seq 600); do [[ $(st web) == 198.51.100.7 ]] && break; sleep 0.1; done
[[ $(st web) == 198.51.100.7 ]] || ifail "status of ing/web with --node-name: $(st web)"
ok "--node-name: status.loadBalancer.ingress is the Node's ExternalIP"
ing_stop_ok
srv_stop
echo PASS

#!/bin/bash
# k8c-ingress annotations (k8c.io/ and nginx.ingress.kubernetes.io/ names) and
# --default-ssl-certificate, loopback only: use-regex with rewrite-target and capture groups, an
# invalid regex (that rule 503, a log line and an Event, the others served), a prefix
# rewrite-target, proxy-body-size (413), whitelist-source-range (403), force-ssl-redirect (308),
# limit-rps (503), enable-cors, affinity cookie, proxy-read-timeout, backend-protocol HTTPS, an
# invalid annotation value (log line and Event).
set -e
. "$(dirname "$0")/ingress_lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not found"; exit 77; }

ing_setup ingress-ann

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=backend \
	-keyout "$D/be.key" -out "$D/be.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=default.test \
	-addext subjectAltName=DNS:nocert.test -keyout "$D/def.key" -out "$D/def.crt" 2>/dev/null
P=$(srv_port)
PS=$(srv_port)
# echo backends (ingress_lib.sh); /hang never answers
ing_echo a1 127.0.0.2 "$P"
ing_echo a2 127.0.0.4 "$P"
ing_echo tls 127.0.0.3 "$PS" "$D/be.crt" "$D/be.key"

k create namespace ann >/dev/null
k -n ann create secret tls default-cert --cert "$D/def.crt" --key "$D/def.key" >/dev/null
ing() { # NAME HOST ANNOTATIONS(flow map) [PATHS(flow list), default / to web]
	ing_yaml_ingress ann "$1" "$2" "${4:-[$(ing_path / Prefix web)]}" "$3"
}
{
	ing_yaml_class
	ing_yaml_svc ann web
	ing_yaml_svc ann secure
	ing_yaml_slice ann web-1 web "$P" 127.0.0.2 127.0.0.4
	ing_yaml_slice ann secure-1 secure "$PS" 127.0.0.3
	ing regex regex.test '{nginx.ingress.kubernetes.io/use-regex: "true", nginx.ingress.kubernetes.io/rewrite-target: "/$2"}' \
		"[$(ing_path '/api(/|$)(.*)' ImplementationSpecific web), $(ing_path '/bad(' ImplementationSpecific web), $(ing_path /exact Exact web)]"
	ing rw rw.test '{k8c.io/rewrite-target: /new}' "[$(ing_path /old Prefix web)]"
	ing body body.test '{nginx.ingress.kubernetes.io/proxy-body-size: 1k}'
	ing deny deny.test '{nginx.ingress.kubernetes.io/whitelist-source-range: "10.0.0.0/8, 192.168.0.0/16"}'
	ing allow allow.test '{k8c.io/whitelist-source-range: "10.0.0.0/8,127.0.0.0/8"}'
	ing force force.test '{nginx.ingress.kubernetes.io/force-ssl-redirect: "true"}'
	ing rps rps.test '{nginx.ingress.kubernetes.io/limit-rps: "1"}'
	ing cors cors.test '{nginx.ingress.kubernetes.io/enable-cors: "true"}'
	ing aff aff.test '{nginx.ingress.kubernetes.io/affinity: cookie, nginx.ingress.kubernetes.io/session-cookie-name: route}'
	ing slow slow.test '{nginx.ingress.kubernetes.io/proxy-read-timeout: "1"}'
	ing tls tls.test '{nginx.ingress.kubernetes.io/backend-protocol: HTTPS}' "[$(ing_path / Prefix secure)]"
	ing bad bad.test '{nginx.ingress.kubernetes.io/proxy-body-size: lots}'
	ing plain nocert.test '{}'
} | k apply -f - >/dev/null

SP=$(srv_port)
ing_start --listen-https "127.0.0.1:$SP" --metrics-addr "" --default-ssl-certificate ann/default-cert

expect() { # HOST PATH PATTERN [CURL ARGS...]
	local got
	got=$(ing_req "$1" "$2" "${@:4}")
	grep -Eq -- "$3" <<<"$got" || ifail "$1$2: got '$got', want /$3/"
	ok "$1$2 -> $3"
}
for _ in $(seq 600); do
	ing_req plain.test / >/dev/null
	[[ $(ing_req nocert.test /) == "200 backend="* ]] && break
	kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
	sleep 0.1
done

# use-regex + rewrite-target with capture groups (case-insensitive like nginx's ~*)
expect regex.test '/api/v1/items?q=1' '^200 backend=a[12] path=/v1/items\?q=1$'
expect regex.test /API/x '^200 backend=a[12] path=/x$'
expect regex.test /api '^200 backend=a[12] path=/$'
expect regex.test /apix '^404 '
expect regex.test /exact '^200 backend=a[12] path=/$'
# the invalid regex: that rule 503 (matched as a literal prefix), a log line and an Event
expect regex.test '/bad(' '^503 '
grep -q 'msg="backend not served (503)" ingress=ann/regex .*invalid regex path /bad(' "$D/ingress.log" ||
	ifail "no log line for the invalid regex"
for _ in $(seq 100); do
	k -n ann get events --field-selector involvedObject.name=regex -o jsonpath='{.items[*].message}' |
		grep -q 'invalid regex path /bad(' && break
	sleep 0.1
done
k -n ann get events --field-selector involvedObject.name=regex -o jsonpath='{.items[*].reason} {.items[*].message}' |
	grep -q 'BackendNotServed.*invalid regex' || ifail "no Event for the invalid regex"
ok "an invalid regex: 503, a log line and an Event"
# a rewrite-target without use-regex: the whole path is replaced (nginx's rewrite), the query kept
expect rw.test /old/a/b?x=2 '^200 backend=a[12] path=/new\?x=2$'
expect rw.test /old '^200 backend=a[12] path=/new$'
# proxy-body-size
head -c 2000 /dev/zero | tr '\0' x >"$D/big"
expect body.test /up '^413 ' --data-binary @"$D/big"
expect body.test /up '^200 backend=a[12] path=/up body=10$' --data-binary 0123456789
# whitelist-source-range
expect deny.test / '^403 '
expect allow.test / '^200 backend='
# force-ssl-redirect on a host without TLS
r=$(curl -s --max-time 10 --resolve "force.test:$IP:127.0.0.1" -o /dev/null -w '%{http_code} %{redirect_url}' "http://force.test:$IP/p?q=1")
[[ $r == "308 https://force.test:$SP/p?q=1" ]] || ifail "force-ssl-redirect: got '$r'"
ok "force-ssl-redirect: $r"
# limit-rps 1 (burst 5): 30 requests back to back on one connection
urls=()
for i in $(seq 30); do urls+=(-o /dev/null "http://rps.test:$IP/$i"); done
curl -s --max-time 60 --resolve "rps.test:$IP:127.0.0.1" -w '%{http_code}\n' "${urls[@]}" >"$D/rps" || true
[[ $(head -1 "$D/rps") == 200 && $(grep -c '^503$' "$D/rps") -ge 1 && $(grep -c '^200$' "$D/rps") -ge 5 ]] ||
	ifail "limit-rps: $(sort "$D/rps" | uniq -c | tr '\n' ' ')"
ok "limit-rps: $(sort "$D/rps" | uniq -c | tr '\n' ' ')"
# enable-cors: preflight answered here, CORS headers on the proxied answer
h=$(curl -s --max-time 10 --resolve "cors.test:$IP:127.0.0.1" -X OPTIONS -D - -o /dev/null "http://cors.test:$IP/x")
grep -q '^HTTP/1.1 204' <<<"$h" && grep -qi '^access-control-allow-origin: \*' <<<"$h" || ifail "CORS preflight: $h"
h=$(curl -s --max-time 10 --resolve "cors.test:$IP:127.0.0.1" -D - "http://cors.test:$IP/x")
grep -qi '^access-control-allow-methods: GET' <<<"$h" && grep -q 'backend=a' <<<"$h" || ifail "CORS on GET: $h"
ok "enable-cors"
# affinity cookie: the first answer sets it, then every request with it goes to one endpoint
h=$(curl -s --max-time 10 --resolve "aff.test:$IP:127.0.0.1" -D - "http://aff.test:$IP/")
cookie=$(grep -i '^set-cookie: route=' <<<"$h" | sed 's/^[^:]*: //; s/;.*//' | tr -d '\r')
first=$(grep -o 'backend=a[12]' <<<"$h")
[[ $cookie =~ ^route=[0-9a-f]{16}$ && -n $first ]] || ifail "affinity: no cookie: $h"
seen=""
for _ in 1 2 3 4 5 6; do seen+="$(ing_req aff.test / -H "Cookie: other=1; $cookie" | grep -o 'backend=a[12]') "; done
[[ $(tr ' ' '\n' <<<"$seen" | sort -u | grep -c .) == 1 && $seen == "$first "* ]] || ifail "affinity: $first then $seen"
seen=""
for _ in 1 2 3 4; do seen+="$(ing_req aff.test / | grep -o 'backend=a[12]') "; done
grep -q a1 <<<"$seen" && grep -q a2 <<<"$seen" || ifail "without the cookie, round robin: $seen"
ok "affinity cookie ($cookie: $first every time; without it: $seen)"
# proxy-read-timeout 1 s: a backend that never answers gets a gateway error, not a hang
expect slow.test /hang '^50[24] '
expect slow.test /fine '^200 backend='
# backend-protocol HTTPS
expect tls.test /s '^200 backend=tls path=/s$'
# an invalid annotation value: ignored, a log line and an Event; the Ingress is served
expect bad.test / '^200 backend='
grep -q "msg=\"annotation ignored\" ingress=ann/bad error=\"proxy-body-size 'lots': want bytes" "$D/ingress.log" ||
	ifail "no log line for the invalid annotation"
for _ in $(seq 100); do
	k -n ann get events --field-selector involvedObject.name=bad -o jsonpath='{.items[*].reason}' | grep -q InvalidAnnotation && break
	sleep 0.1
done
k -n ann get events --field-selector involvedObject.name=bad -o jsonpath='{.items[*].reason}' | grep -q InvalidAnnotation ||
	ifail "no Event for the invalid annotation"
ok "an invalid annotation: ignored, a log line and an Event"
# --default-ssl-certificate answers a name without a certificate of its own
curl -s --max-time 10 --resolve "nocert.test:$SP:127.0.0.1" --cacert "$D/def.crt" "https://nocert.test:$SP/" | grep -q backend= ||
	ifail "the default certificate from ann/default-cert does not verify for nocert.test"
ok "--default-ssl-certificate"
ing_stop_ok
srv_stop
echo PASS

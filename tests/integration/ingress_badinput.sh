#!/bin/bash
# k8c-ingress and bad input, loopback only: request smuggling attempts (Content-Length with
# Transfer-Encoding) never reach an endpoint as a hidden request, an oversized header is
# answered by h2o (4xx) and not passed on, a slow client's incomplete request is not passed on
# and is closed by h2o while others are served, a kubernetes.io/tls Secret that is not a valid
# certificate leaves its host on the default certificate with a log line and an Event, an
# Ingress pointing at a missing Service port answers 503 with an Event.
set -e
. "$(dirname "$0")/ingress_lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not found"; exit 77; }

ing_setup ingress-bad

# an echo backend (ingress_lib.sh) recording every request it gets: "METHOD PATH cl=.. te=..
# body=N" lines in $D/seen
P=$(srv_port)
ing_echo --seen "$D/seen" web 127.0.0.2 "$P"

k create namespace bad >/dev/null
printf 'not a certificate' >"$D/garbage"
ing() { # NAME HOST PORT [TLS-SECRET]
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, namespace: bad}
spec:
  ingressClassName: k8c
  ${4:+tls: [{hosts: [$2], secretName: $4\}]}
  rules:
  - host: $2
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: $3}}}}]
EOF
}
{
	ing_yaml_class
	ing_yaml_service bad web "$P" 127.0.0.2
	cat <<EOF
---
apiVersion: v1
kind: Secret
metadata: {name: garbage, namespace: bad}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$D/garbage"), tls.key: $(base64 -w0 "$D/garbage")}
EOF
	ing web bad.test 80
	ing noport noport.test 9999
	ing badtls badtls.test 80 garbage
} | k apply -f - >/dev/null

SP=$(srv_port)
ing_start --listen-https "127.0.0.1:$SP" --metrics-addr ""
for _ in $(seq 600); do
	[[ $(curl -s --max-time 5 -H 'Host: bad.test' "http://127.0.0.1:$IP/ready") == "backend=web path=/ready" ]] && break
	kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
	sleep 0.1
done

# raw NAME: send $D/NAME.req on one connection, the answers into $D/NAME.out (until closed or 5 s)
raw() {
	$PY - "$IP" "$D/$1.req" "$D/$1.out" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(5)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    pass
open(sys.argv[3], "wb").write(out)
EOF
}
# smuggling: CL.TE and TE.CL, a hidden request to a host no rule serves (a backend that honours
# the other length would see /smuggled)
printf 'POST /cl-te HTTP/1.1\r\nHost: bad.test\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: nohost.test\r\n\r\n' >"$D/clte.req"
printf 'POST /te-cl HTTP/1.1\r\nHost: bad.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n2e\r\nGET /smuggled HTTP/1.1\r\nHost: nohost.test\r\n\r\n\r\n0\r\n\r\n' >"$D/tecl.req"
printf 'POST /te-obf HTTP/1.1\r\nHost: bad.test\r\nContent-Length: 48\r\nTransfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: nohost.test\r\n\r\n' >"$D/teobf.req"
for r in clte tecl teobf; do
	raw $r
	[[ -s $D/$r.out ]] || ifail "$r: no answer"
	ok "$r: answered $(grep -ao 'HTTP/1.1 [0-9]*' "$D/$r.out" | tr '\n' ' ')"
done
curl -s --max-time 5 -H 'Host: bad.test' "http://127.0.0.1:$IP/after-smuggling" >/dev/null
grep -q '^GET /after-smuggling ' "$D/seen" || ifail "backend log: $(cat "$D/seen")"
! grep -q smuggled "$D/seen" || ifail "a smuggled request reached the backend: $(cat "$D/seen")"
! grep -E -v 'cl=None|te=None' "$D/seen" | grep -q . ||
	ifail "a request reached the backend with both Content-Length and Transfer-Encoding: $(cat "$D/seen")"
ok "no smuggled request and no conflicting lengths reached the backend"

# an oversized header (100 KiB): answered by h2o, never passed on
printf 'GET /big-header HTTP/1.1\r\nHost: bad.test\r\nX-Big: %s\r\n\r\n' "$(head -c 102400 /dev/zero | tr '\0' a)" >"$D/big.req"
raw big
grep -aq '^HTTP/1.1 4[0-9][0-9]' "$D/big.out" || ifail "oversized header: $(head -c 200 "$D/big.out")"
! grep -q big-header "$D/seen" || ifail "the oversized request reached the backend"
ok "oversized header: $(grep -ao '^HTTP/1.1 [0-9]* [A-Za-z ]*' "$D/big.out" | head -1)"

# a slow client: an incomplete request is held by h2o (not passed on), others are served, and
# h2o closes it (its request timeout)
$PY - "$IP" >"$D/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow-client HTTP/1.1\r\nHost: bad.test\r\nX-A: 1\r\n")
t0 = time.monotonic()
s.settimeout(60)
try:
    data = s.recv(65536)
    print("closed after %.0f s: %r" % (time.monotonic() - t0, data[:40]))
except socket.timeout:
    print("still open after 60 s")
EOF
SLOW=$!
BACK_PIDS+=("$SLOW")
sleep 1
[[ $(curl -s --max-time 5 -H 'Host: bad.test' "http://127.0.0.1:$IP/while-slow") == "backend=web path=/while-slow" ]] ||
	ifail "not served while a slow client holds a connection"
wait "$SLOW" || true
grep -q '^closed after' "$D/slow.out" || ifail "slow client: $(cat "$D/slow.out")"
! grep -q slow-client "$D/seen" || ifail "the incomplete request reached the backend"
ok "slow client: $(cat "$D/slow.out"); others served meanwhile; nothing passed on"

# a Secret that is not a certificate: the default certificate answers, a log line and an Event
subj=$(openssl s_client -connect "127.0.0.1:$SP" -servername badtls.test </dev/null 2>/dev/null |
	openssl x509 -noout -subject 2>/dev/null)
[[ $subj == *"k8c-ingress default"* ]] || ifail "badtls.test certificate: '$subj'"
[[ $(curl -sk --max-time 5 --resolve "badtls.test:$SP:127.0.0.1" "https://badtls.test:$SP/x") == "backend=web path=/x" ]] ||
	ifail "badtls.test not served over HTTPS"
grep -q 'msg="TLS secret not usable, the default certificate answers" secret=bad/garbage host=badtls.test ingress=bad/badtls' "$D/ingress.log" ||
	ifail "no log line for the bad Secret"
ing_expect_event bad badtls TLSSecretNotUsable 'TLS Secret bad/garbage not usable'
# rebuilds (another Ingress changes) do not repeat the log line
k -n bad annotate ingress web k8c.io/touch=1 >/dev/null
k -n bad annotate ingress web k8c.io/touch=2 --overwrite >/dev/null
sleep 1
[[ $(grep -c 'TLS secret not usable' "$D/ingress.log") == 1 ]] || ifail "the bad Secret logged more than once"
ok "a bad TLS Secret: the default certificate ($subj), one log line, an Event"

# a missing Service port: 503, a log line and an Event; the other rules keep working
[[ $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Host: noport.test' "http://127.0.0.1:$IP/") == 503 ]] ||
	ifail "noport.test is not 503"
grep -q 'msg="backend not served (503)" ingress=bad/noport service=bad/web port=9999 error="service bad/web has no port 9999"' "$D/ingress.log" ||
	ifail "no log line for the missing port"
ing_expect_event bad noport BackendNotServed 'has no port 9999'
[[ $(curl -s --max-time 5 -H 'Host: bad.test' "http://127.0.0.1:$IP/still") == "backend=web path=/still" ]] || ifail "bad.test broken"
ok "a missing Service port: 503, a log line, an Event; other rules served"
kill -0 "$ING_PID" || ifail "k8c-ingress exited"
echo PASS

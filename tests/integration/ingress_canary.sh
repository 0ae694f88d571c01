#!/bin/bash
# k8c-ingress canary annotations (ingress-nginx's canary, canary-by-header,
# canary-by-header-value, canary-by-header-pattern, canary-by-cookie, canary-weight,
# canary-weight-total), loopback only: a canary Ingress' rule is the alternative of the main
# Ingress' rule with the same host, path and pathType; header > cookie > weight; "always" and
# "never"; a canary rule without a main rule is not served (an Event); the canary removed live.
set -e
. "$(dirname "$0")/ingress_lib.sh"

ing_setup ingress-canary

P=$(srv_port)
ing_echo stable 127.0.0.2 "$P"
ing_echo canary 127.0.0.4 "$P"

k create namespace can >/dev/null
ing() { # NAME HOST ANNOTATIONS(flow map) SERVICE [PATH]: an Ingress of one Prefix rule
	ing_yaml_ingress can "$1" "$2" "[$(ing_path "${5:-/}" Prefix "$4")]" "$3"
}
C='nginx.ingress.kubernetes.io/canary: "true"'
{
	ing_yaml_class
	ing_yaml_service can stable "$P" 127.0.0.2
	ing_yaml_service can canary "$P" 127.0.0.4
	for h in hdr val pat weight all; do ing "$h-main" "$h.test" '{}' stable; done
	ing hdr-canary hdr.test "{$C, nginx.ingress.kubernetes.io/canary-by-header: X-Canary, nginx.ingress.kubernetes.io/canary-by-cookie: beta}" canary
	ing val-canary val.test "{$C, nginx.ingress.kubernetes.io/canary-by-header: X-Version, nginx.ingress.kubernetes.io/canary-by-header-value: v2}" canary
	ing pat-canary pat.test "{k8c.io/canary: \"true\", k8c.io/canary-by-header: X-Version, k8c.io/canary-by-header-pattern: '^v(2|3)\$', k8c.io/canary-weight: \"2\", k8c.io/canary-weight-total: \"4\"}" canary
	ing weight-canary weight.test "{$C, nginx.ingress.kubernetes.io/canary-weight: \"50\", nginx.ingress.kubernetes.io/canary-by-header: X-Canary}" canary
	ing all-canary all.test "{$C, nginx.ingress.kubernetes.io/canary-weight: \"100\"}" canary
	ing orphan-canary orphan.test "{$C, nginx.ingress.kubernetes.io/canary-weight: \"100\"}" canary
} | k apply -f - >/dev/null

ing_start --listen-https "" --metrics-addr "" --access-log "$D/access.log"

# who HOST [CURL ARGS...]: the backend that answered, or the status code
who() {
	local h=$1 out
	shift
	out=$(curl -s --max-time 10 --resolve "$h:$IP:127.0.0.1" -w ' %{http_code}' "$@" "http://$h:$IP/x") || true
	if [[ $out == *" 200" ]]; then sed -n 's/^backend=\([a-z]*\) .*/\1/p' <<<"$out"; else echo "${out##* }"; fi
}
expect() { # WANT HOST [CURL ARGS...]
	local got
	got=$(who "${@:2}")
	[[ $got == "$1" ]] || ifail "$2 ${*:3}: got '$got', want '$1'"
	ok "$2 ${*:3} -> $1"
}
# many HOST N [CURL ARGS...]: "stable=S canary=C" over N requests on one connection
many() {
	local h=$1 n=$2 urls=()
	shift 2
	for ((i = 0; i < n; i++)); do urls+=("http://$h:$IP/$i"); done
	curl -s --max-time 60 --resolve "$h:$IP:127.0.0.1" "$@" "${urls[@]}" >"$D/many" || true
	echo "stable=$(grep -c '^backend=stable' "$D/many") canary=$(grep -c '^backend=canary' "$D/many")"
}
for _ in $(seq 600); do
	[[ $(who all.test) == canary ]] && break
	kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
	sleep 0.1
done

# canary-by-header (no value): always / never / anything else -> the cookie, then weight (0)
expect stable hdr.test
expect canary hdr.test -H 'X-Canary: always'
expect stable hdr.test -H 'X-Canary: never'
expect stable hdr.test -H 'X-Canary: yes'
# canary-by-cookie, below the header
expect canary hdr.test -H 'Cookie: a=1; beta=always'
expect stable hdr.test -H 'Cookie: beta=never'
expect stable hdr.test -H 'X-Canary: never' -H 'Cookie: beta=always'
expect canary hdr.test -H 'X-Canary: other' -H 'Cookie: beta=always'
# canary-by-header-value: only that value; "always" is just another value then
expect canary val.test -H 'X-Version: v2'
expect stable val.test -H 'X-Version: always'
expect stable val.test -H 'X-Version: v3'
# canary-by-header-pattern (ours: POSIX ERE), else the weight 2 of 4
expect canary pat.test -H 'X-Version: v3'
r=$(many pat.test 40 -H 'X-Version: v4')
[[ $r =~ stable=([0-9]+)\ canary=([0-9]+) ]] && ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0 &&
	BASH_REMATCH[1] + BASH_REMATCH[2] == 40)) || ifail "pattern miss, weight 2 of 4: $r"
ok "pat.test X-Version: v4 (weight 2 of 4): $r"
# canary-weight 50: both over 60 requests (each one missing has a probability of 2^-60)
r=$(many weight.test 60)
[[ $r =~ stable=([0-9]+)\ canary=([0-9]+) ]] && ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0 &&
	BASH_REMATCH[1] + BASH_REMATCH[2] == 60)) || ifail "weight 50: $r"
ok "weight.test canary-weight 50: $r"
# ... and "never" in the header beats the weight
r=$(many weight.test 30 -H 'X-Canary: never')
[[ $r == "stable=30 canary=0" ]] || ifail "weight 50 with X-Canary: never: $r"
ok "weight.test X-Canary: never: $r"
# canary-weight 100: all
r=$(many all.test 20)
[[ $r == "stable=0 canary=20" ]] || ifail "weight 100: $r"
ok "all.test canary-weight 100: $r"
# a canary rule without a main rule: not served (404), a log line and an Event
expect 404 orphan.test
grep -q 'msg="annotation ignored" ingress=can/orphan-canary .*no rule of a main Ingress' "$D/ingress.log" ||
	ifail "no log line for the canary without a main rule"
ing_expect_event can orphan-canary InvalidAnnotation 'no rule of a main Ingress'
ok "a canary without a main rule: 404, a log line and an Event"
# the access log (docs/ingress.md): nginx's combined format, the duration, the Ingress of the
# rule (the canary's), the rule host and the endpoint; a request no rule matches has "-"
al='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \+0000\] "GET /x HTTP/1\.1" 200 [0-9]+ "-" "ua/1" [0-9]+\.[0-9]{3} can/hdr-canary hdr\.test 127\.0\.0\.4:'"$P"'$'
an='^127\.0\.0\.1 - - \[[^]]*\] "GET /x\\x22q HTTP/1\.1" 404 [0-9]+ "-" "-" [0-9.]+ - - -$'
curl -s -o /dev/null --max-time 5 --resolve "hdr.test:$IP:127.0.0.1" -A ua/1 -H 'X-Canary: always' "http://hdr.test:$IP/x"
printf 'GET /x"q HTTP/1.1\r\nHost: none.test\r\nConnection: close\r\n\r\n' >"$D/q.req"
$PY -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(open(sys.argv[2],"rb").read()); s.recv(4096)' "$IP" "$D/q.req"
for _ in $(seq 100); do grep -Eq "$an" "$D/access.log" 2>/dev/null && break; sleep 0.1; done
grep -Eq "$al" "$D/access.log" || ifail "no access log line for the canary request: $(tail -3 "$D/access.log")"
grep -Eq "$an" "$D/access.log" || ifail "no access log line for the unmatched request: $(tail -3 "$D/access.log")"
ok "access log: $(grep -E "$al" "$D/access.log" | tail -1)"
# the canary Ingress removed: its header no longer chooses it (live, no restart)
k -n can delete ingress hdr-canary >/dev/null
for _ in $(seq 300); do
	[[ $(who hdr.test -H 'X-Canary: always') == stable ]] && break
	sleep 0.1
done
expect stable hdr.test -H 'X-Canary: always'
kill -0 "$ING_PID" || ifail "k8c-ingress exited"
echo PASS

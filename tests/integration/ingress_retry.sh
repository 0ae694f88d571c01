#!/bin/bash
# k8c-ingress retries and passive health (loopback only): a Service with two live endpoints and two
# that refuse connections. Every request is answered by a live one (a refused connect goes to
# another endpoint), round robin still alternates over the live ones, each dead endpoint is tried
# once and then skipped (--upstream-fail-timeout), the failures are counted in /metrics, and when
# every endpoint refuses the answer is 502.
set -e
. "$(dirname "$0")/ingress_lib.sh"

ing_setup ingress-retry

ing_echo_ports 2 "$D/ports"
read -r L1 L2 <"$D/ports"
[[ -n $L2 ]] || fail "backend ports: $(cat "$D/ports")"
X1=$(srv_port) # nothing listens on these: connections are refused
X2=$(srv_port)

k create namespace retry >/dev/null
{
	ing_yaml_class
	ing_yaml_svc retry web http
	ing_yaml_svc retry dead http
	# one slice per endpoint (their ports differ), dead and live interleaved in round-robin order
	for p in "$X1" "$L1" "$X2" "$L2"; do ing_yaml_slice retry "web-$p" web "http:$p" 127.0.0.1; done
	for p in "$X1" "$X2"; do ing_yaml_slice retry "dead-$p" dead "http:$p" 127.0.0.1; done
	ing_yaml_ingress retry web retry.test "[$(ing_path / Prefix web http), $(ing_path /dead Prefix dead http)]"
} | k apply -f - >/dev/null

MP=$(srv_port)
ing_start --listen-https "" --metrics-addr "127.0.0.1:$MP" --upstream-fail-timeout 600000
get() { ing_req retry.test "$1"; }
# the table is served once all four endpoints are in it: wait for a request that reached L2
for _ in $(seq 600); do
	[[ $(grep -c 'port=' <<<"$(for _ in 1 2 3 4; do get /w; done)") == 4 ]] &&
		[[ -n $(k -n retry get endpointslice "web-$L2" -o name 2>/dev/null) ]] && break
	kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
	sleep 0.1
done
: >"$D/answers"
for i in $(seq 12); do get "/r$i" >>"$D/answers"; done
[[ $(grep -c '^200 port=' "$D/answers") == 12 ]] || ifail "not every request answered 200: $(cat "$D/answers")"
ok "12 requests, all answered by a live endpoint"
grep -q "^200 port=$L1 " "$D/answers" && grep -q "^200 port=$L2 " "$D/answers" ||
	ifail "round robin lost a live endpoint: $(cat "$D/answers")"
ok "round robin over the live endpoints ($(grep -c "port=$L1 " "$D/answers") / $(grep -c "port=$L2 " "$D/answers"))"
for p in "$X1" "$X2"; do
	n=$(grep -c "msg=\"upstream connect failed\" ingress=retry/web service=retry/web endpoint=127.0.0.1:$p " "$D/ingress.log" || true)
	[[ $n == 1 ]] || ifail "the refusing endpoint $p was tried $n times (want once, then skipped)"
done
ok "each refusing endpoint was tried once, then skipped (passive health)"
[[ $(get /dead/x) == "502 "* ]] || ifail "a backend whose endpoints all refuse: $(get /dead/x)"
ok "502 when every endpoint refuses"
curl -s --max-time 10 "http://127.0.0.1:$MP/metrics" >"$D/metrics"
e=$(awk '$1 == "k8c_ingress_upstream_errors_total{ingress=\"retry/web\",host=\"retry.test\"}" {print $2}' "$D/metrics")
[[ $e -ge 4 ]] || ifail "k8c_ingress_upstream_errors_total: $(grep upstream_errors "$D/metrics")"
ok "k8c_ingress_upstream_errors_total $e"
ing_stop_ok
srv_stop
echo PASS

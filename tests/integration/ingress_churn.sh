#!/bin/bash
# k8c-ingress under endpoint churn (loopback only): the Service's one endpoint moves over N
# backend ports, one request each; the upstream keep-alive pool (and its idle connection) of every
# endpoint that left the table is freed, not the current one, and not one that a request in flight
# still uses until that request is done (docs/ingress.md, "Threads, swap and lifetime").
set -e
. "$(dirname "$0")/ingress_lib.sh"
command -v ss >/dev/null || { echo "SKIP: ss not found"; exit 77; }

ing_setup ingress-churn

N=12
# One backend process listening on N ports of 127.0.0.1 (ingress_lib.sh); each answers with its
# port. /slow waits for the file $D/release.
ing_echo_ports "$N" "$D/ports"
read -ra PORTS <"$D/ports"
[[ ${#PORTS[@]} == "$N" ]] || fail "backend ports: ${PORTS[*]}"

k create namespace churn >/dev/null
{
	ing_yaml_class
	ing_yaml_service churn web "${PORTS[0]}" 127.0.0.1
	ing_yaml_ingress churn web churn.test "[$(ing_path / Prefix web)]"
} | k apply -f - >/dev/null

MP=$(srv_port)
ing_start --listen-https "" --metrics-addr "127.0.0.1:$MP" --upstream-keepalive-timeout 600000 \
	--log-level debug

# the endpoint is 127.0.0.1:PORT (a merge patch straight to the API: kubectl is slow to start)
move() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -o /dev/null -w '%{http_code}' \
		-d "{\"ports\":[{\"port\":$1}]}" "$U/apis/discovery.k8s.io/v1/namespaces/churn/endpointslices/web-1" |
		grep -q 200 || fail "patch of the EndpointSlice to port $1"
}
wait_port() { ing_wait_served churn.test "/$2" "^200 port=$1 "; }
# upstream connections to PORT from the ingress that are established
conns() { ss -Htn state established "( dport = :$1 )" | wc -l; }
freed() { grep -c "msg=\"upstream pool freed\" endpoint=\"127.0.0.1 $1\"" "$D/ingress.log" || true; }

wait_port "${PORTS[0]}" first
[[ $(conns "${PORTS[0]}") == 1 ]] || ifail "no kept-alive upstream connection to ${PORTS[0]}"
ok "one idle upstream connection to the first endpoint"
for i in $(seq 1 $((N - 3))); do
	move "${PORTS[i]}"
	wait_port "${PORTS[i]}" "step$i"
done
ok "the endpoint moved over $((N - 2)) ports"
# a request in flight to the current endpoint while it leaves the table
last=$((N - 3))
curl -s --max-time 60 --resolve "churn.test:$IP:127.0.0.1" "http://churn.test:$IP/slow" >"$D/slow.out" &
SLOW_PID=$!
BACK_PIDS+=("$SLOW_PID")
for _ in $(seq 600); do [[ $(conns "${PORTS[last]}") -ge 1 ]] && break; sleep 0.1; done
move "${PORTS[N - 2]}"
wait_port "${PORTS[N - 2]}" after-slow
move "${PORTS[N - 1]}"
wait_port "${PORTS[N - 1]}" final
# every earlier pool is freed, with its idle connection, but not the busy one
for _ in $(seq 600); do
	[[ $(grep -c 'msg="upstream pool freed"' "$D/ingress.log") -ge $((N - 2)) ]] && break
	sleep 0.1
done
for i in $(seq 0 $((N - 2))); do
	[[ $i == "$last" ]] && continue
	[[ $(freed "${PORTS[i]}") == 1 ]] || ifail "the pool of 127.0.0.1:${PORTS[i]} was not freed once"
	[[ $(conns "${PORTS[i]}") == 0 ]] || ifail "a connection to ${PORTS[i]} is still open"
done
ok "the pools (and idle connections) of $((N - 2)) endpoints gone are freed"
[[ $(freed "${PORTS[last]}") == 0 ]] || ifail "the pool of a request in flight was freed"
[[ $(conns "${PORTS[last]}") -ge 1 ]] || ifail "the request in flight lost its connection"
ok "the pool of the request in flight is kept"
touch "$D/release"
wait "$SLOW_PID" || ifail "the request in flight failed"
grep -q "^port=${PORTS[last]} path=/slow" "$D/slow.out" || ifail "slow request: $(cat "$D/slow.out")"
for _ in $(seq 600); do [[ $(freed "${PORTS[last]}") == 1 ]] && break; sleep 0.1; done
[[ $(freed "${PORTS[last]}") == 1 ]] || ifail "the pool of the finished request was not freed"
for _ in $(seq 100); do [[ $(conns "${PORTS[last]}") == 0 ]] && break; sleep 0.1; done
[[ $(conns "${PORTS[last]}") == 0 ]] || ifail "the finished request's connection is still open"
ok "its pool is freed once the request is done"
[[ $(freed "${PORTS[N - 1]}") == 0 && $(conns "${PORTS[N - 1]}") == 1 ]] ||
	ifail "the current endpoint's pool was freed"
ok "the current endpoint keeps its pool and connection"
curl -s --max-time 10 "http://127.0.0.1:$MP/metrics" >"$D/metrics"
grep -qx 'k8c_ingress_upstream_pools 1' "$D/metrics" && grep -qx "k8c_ingress_upstream_pools_freed_total $((N - 1))" "$D/metrics" ||
	ifail "metrics after the churn: $(grep pools "$D/metrics")"
ok "/metrics: 1 pool live, $((N - 1)) freed"
ing_stop_ok
srv_stop
echo PASS

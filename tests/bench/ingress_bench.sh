#!/bin/bash
# k8c-ingress against Debian's nginx-light and haproxy, all proxying to the same backend in one run
# (docs/BENCHMARKS.md "Ingress"), on demand, loopback only, root not needed:
#   tests/bench/ingress_bench.sh <build>/bin [SECONDS] [CONNECTIONS]
#   K8C_INGRESS_BASE=/path/to/an/older/k8c-ingress ROUNDS=3 tests/bench/ingress_bench.sh ...
# The backend is an nginx (one worker) answering "hello" on 127.0.0.2 and 127.0.0.3; each proxy
# runs THREADS (default 1) workers/threads (k8c-ingress --threads, nginx worker_processes,
# haproxy nbthread) with keep-alive to the backend and round robin over both addresses.
# 1. keep-alive: wrk -t THREADS -c CONNECTIONS (default 32) for SECONDS (default 10) against each proxy:
#    requests/s, p99 latency, and the proxy's CPU time per request (user+system of its worker
#    process from /proc/PID/stat over the run, in microseconds: the figure that a loaded machine
#    disturbs least). ROUNDS (default 1) repeats the runs, alternating the proxies. With
#    K8C_INGRESS_BASE another k8c-ingress binary (say, the build before a change) runs beside
#    ours on its own port and is measured the same way ("k8c-base").
# 2. churn for 2*SECONDS: k8c-ingress with one Ingress change a second and an EndpointSlice change
#    every 100 ms (always one endpoint or more, all alive); nginx with one reload a second
#    (its upstream list changed): socket errors and non-2xx answers counted by wrk.
# Needs wrk, nginx-light and haproxy (scripts/packages.txt).
set -e
. "$(dirname "$0")/../integration/ingress_lib.sh" # server_lib.sh and the YAML of ing_yaml_*
SECS=${2:-10}
CONNS=${3:-32}
for t in wrk nginx haproxy; do command -v $t >/dev/null || { echo "SKIP: $t not found"; exit 77; }; done
ing_setup ingress-bench # every process started is in BACK_PIDS: cleanup_all stops them

PB=$(srv_port) # backend
PN=$(srv_port) # nginx proxy
PH=$(srv_port) # haproxy
PI=$(srv_port) # k8c-ingress
PIB=$(srv_port) # K8C_INGRESS_BASE
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-1} # serving threads / worker processes of each proxy
mkdir -p "$D/be" "$D/ngx"
nginx_conf() { # DIR BODY [WORKERS]
	cat >"$1/nginx.conf" <<EOF
worker_processes ${3:-1};
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $1/tmp;
  proxy_temp_path $1/tmp;
  $2
}
EOF
}
nginx_conf "$D/be" "server { listen 127.0.0.2:$PB; listen 127.0.0.3:$PB; keepalive_requests 100000;
  location / { return 200 \"hello\\n\"; } }"
ngx_proxy() { # the upstream servers
	nginx_conf "$D/ngx" "upstream be { $1 keepalive 64; }
  server { listen 127.0.0.1:$PN; keepalive_requests 100000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }" "$THREADS"
}
ngx_proxy "server 127.0.0.2:$PB; server 127.0.0.3:$PB;"
nginx -c "$D/be/nginx.conf" -e "$D/be/error.log" & BACK_PIDS+=($!)
nginx -c "$D/ngx/nginx.conf" -e "$D/ngx/error.log" & NGX=$!
BACK_PIDS+=($NGX)
cat >"$D/haproxy.cfg" <<EOF
global
  nbthread $THREADS
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind 127.0.0.1:$PH
  default_backend b
backend b
  balance roundrobin
  http-reuse always
  server s1 127.0.0.2:$PB
  server s2 127.0.0.3:$PB
EOF
haproxy -f "$D/haproxy.cfg" -db >"$D/haproxy.log" 2>&1 & BACK_PIDS+=($!)

k create namespace bench >/dev/null
{
	ing_yaml_class
	ing_yaml_service bench web "$PB" 127.0.0.2 127.0.0.3
	ing_yaml_ingress bench web bench.test "[$(ing_path / Prefix web)]"
} | k apply -f - >/dev/null
"$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$PI" --listen-https "" \
	--metrics-addr "" --threads "$THREADS" 2>"$D/ingress.log" & ING=$!
BACK_PIDS+=($ING)
HAP=${BACK_PIDS[2]}
PROXIES=("k8c-ingress $PI $ING" "nginx $PN" "haproxy $PH $HAP")
if [[ -n ${K8C_INGRESS_BASE:-} ]]; then
	"$K8C_INGRESS_BASE" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$PIB" --listen-https "" \
		--metrics-addr "" --threads "$THREADS" 2>"$D/ingress-base.log" & BACK_PIDS+=($!)
	PROXIES=("k8c-ingress $PI $ING" "k8c-base $PIB $!" "nginx $PN" "haproxy $PH $HAP")
fi
for u in "127.0.0.2:$PB" "127.0.0.1:$PN" "127.0.0.1:$PH" "127.0.0.1:$PI" ${K8C_INGRESS_BASE:+"127.0.0.1:$PIB"}; do
	for _ in $(seq 300); do
		[[ $(curl -s -H 'Host: bench.test' "http://$u/") == hello ]] && break
		sleep 0.1
	done
	[[ $(curl -s -H "Host: bench.test" "http://$u/") == hello ]] ||
		fail "$u does not answer: $(cat "$D/haproxy.log" "$D/ngx/error.log" "$D/ingress.log" 2>&1 | tail -20)"
done

# the CPU ticks (user + system) of processes PID[,PID...]
ticks() { local p; for p in ${1//,/ }; do cat "/proc/$p/stat"; done | awk '{t += $14 + $15} END {print t}'; }
# run NAME PORT SECONDS [PID]: wrk's figures as "NAME rps p99 socket_errors non2xx [cpu_us/req]"
run() {
	local t0=0 t1=0
	[[ -z ${4:-} ]] || t0=$(ticks "$4")
	wrk -t"$THREADS" -c"$CONNS" -d"$3"s --latency -H 'Host: bench.test' "http://127.0.0.1:$2/" >"$D/wrk.$1" 2>&1
	[[ -z ${4:-} ]] || t1=$(ticks "$4")
	awk -v n="$1" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v cpu="${4:+1}" '
		/requests in/ {req = $1}
		/Requests\/sec:/ {rps = $2}
		/^ +99%/ {p99 = $2}
		/Socket errors:/ {gsub(",", ""); err = $4 + $6 + $8 + $10}
		/Non-2xx or 3xx responses:/ {bad = $5}
		END {printf "%-12s %10s %10s %8d %8d %10s\n", n, rps, p99, err, bad,
			cpu && req ? sprintf("%.2f", t * 1e6 / hz / req) : "-"}' "$D/wrk.$1"
}
# milliseconds of a wrk latency ("812.00us", "1.08ms", "2.01s")
ms() { awk -v v="$1" 'BEGIN {x = v + 0; if (v ~ /us$/) x /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) x *= 1000; printf "%.3f", x}'; }
NGXW=$(tr -s ' ' ',' <"/proc/$NGX/task/$NGX/children" | sed 's/,$//') # nginx's workers
PROXIES=("${PROXIES[@]/#nginx $PN/nginx $PN $NGXW}")
echo "# keep-alive, ${SECS}s, $CONNS connections, $THREADS thread(s)/worker(s) each, $ROUNDS round(s) (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-12s %10s %10s %8s %8s %10s\n" proxy req/s p99 sockerr non2xx cpu_us/req
for p in "${PROXIES[@]}"; do
	set -- $p
	wrk -t"$THREADS" -c"$CONNS" -d2s -H 'Host: bench.test' "http://127.0.0.1:$2/" >/dev/null 2>&1 # warm-up
done
: >"$D/keepalive"
for ((r = 0; r < ROUNDS; r++)); do
	for p in "${PROXIES[@]}"; do
		set -- $p
		run "$1" "$2" "$SECS" "${3:-}" | tee -a "$D/keepalive"
	done
done
# medians over the rounds: NAME COLUMN
median() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$D/keepalive" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
KI=$(median k8c-ingress 2) KN=$(median nginx 2)
PI99=$(ms "$(median k8c-ingress 3)") PN99=$(ms "$(median nginx 3)")
CI=$(median k8c-ingress 6) CN=$(median nginx 6)
echo "=> ingress keep-alive req/s: $KI, goal >= nginx's $KN, ratio $(awk -v a="$KI" -v b="$KN" 'BEGIN {printf "%.2f", a / b}')"
echo "=> ingress keep-alive p99: $PI99 ms, goal <= nginx's $PN99 ms, ratio $(awk -v a="$PI99" -v b="$PN99" 'BEGIN {printf "%.2f", a / b}')"
echo "=> ingress keep-alive CPU per request: $CI us, nginx $CN us, ratio $(awk -v a="$CI" -v b="$CN" 'BEGIN {printf "%.2f", a / b}')"
if [[ -n ${K8C_INGRESS_BASE:-} ]]; then
	CB=$(median k8c-base 6)
	echo "=> ingress CPU per request, this build vs K8C_INGRESS_BASE: $CI us vs $CB us, ratio $(awk -v a="$CI" -v b="$CB" 'BEGIN {printf "%.2f", a / b}')"
fi

# churn
CH=$((2 * SECS))
echo "# churn, ${CH}s"
printf "%-12s %10s %10s %8s %8s %10s %s\n" proxy req/s p99 sockerr non2xx cpu_us/req changes
patch() { # KIND NAME JSON
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -o /dev/null -d "$3" \
		"$U/apis/$1/namespaces/bench/$2" || true
}
(
	end=$((SECONDS + CH))
	i=0
	while ((SECONDS < end)); do
		case $((i % 3)) in
		0) eps='[{"addresses":["127.0.0.2"]}]' ;;
		1) eps='[{"addresses":["127.0.0.2"]},{"addresses":["127.0.0.3"]}]' ;;
		2) eps='[{"addresses":["127.0.0.3"]}]' ;;
		esac
		patch discovery.k8s.io/v1 endpointslices/web-1 "{\"endpoints\":$eps}"
		if ((i % 10 == 0)); then
			patch networking.k8s.io/v1 ingresses/web "{\"metadata\":{\"annotations\":{\"k8c.io/bench\":\"$i\"}},\"spec\":{\"rules\":[{\"host\":\"bench.test\",\"http\":{\"paths\":[{\"path\":\"/\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"web\",\"port\":{\"number\":80}}}},{\"path\":\"/v$i\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"web\",\"port\":{\"number\":80}}}}]}}]}}"
		fi
		i=$((i + 1))
		sleep 0.1
	done
	echo "$i" >"$D/churn.count"
) &
CP=$!
g0=$(grep -c 'msg="routes published"' "$D/ingress.log")
line=$(run k8c-ingress "$PI" "$CH" "$ING")
wait "$CP"
echo "$line  $(cat "$D/churn.count") endpoint changes, $(($(grep -c 'msg="routes published"' "$D/ingress.log") - g0)) tables published"
read -r _ _ _ ierr ibad _ <<<"$line"
(
	end=$((SECONDS + CH))
	i=0
	while ((SECONDS < end)); do
		if ((i % 2)); then ngx_proxy "server 127.0.0.2:$PB; server 127.0.0.3:$PB;"; else ngx_proxy "server 127.0.0.3:$PB;"; fi
		kill -HUP "$NGX"
		i=$((i + 1))
		sleep 1
	done
	echo "$i" >"$D/reload.count"
) &
CP=$!
line=$(run nginx "$PN" "$CH")
wait "$CP"
echo "$line  $(cat "$D/reload.count") reloads"
read -r _ _ _ nerr nbad _ <<<"$line"
echo "=> ingress churn socket errors: $ierr, goal 0 (nginx with reloads: $nerr)"
echo "=> ingress churn non-2xx: $ibad, goal 0 (nginx: $nbad)"

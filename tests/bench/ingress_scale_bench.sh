#!/bin/bash
# k8c-ingress with 10,000 Ingresses and 10,000 hosts (docs/BENCHMARKS.md "Ingress at scale"), on
# demand, loopback only, root not needed:
#   tests/bench/ingress_scale_bench.sh <build>/bin [INGRESSES] [CHANGES] [SECONDS]
# One k8c-server; a backend nginx (one worker) answering "hello" on 127.0.0.2; two k8c-ingress
# side by side, each --threads 1: "big" serves the IngressClass big, INGRESSES (default 10000)
# Ingresses with a host each (h1.scale.test ...), all to one Service; "one" serves the class
# one, a single Ingress. Measured:
# 1. the time from starting "big" (Ingresses already in the API) to its first full table, and
#    the build time of one table (its log);
# 2. idle RSS of both after the sync;
#    then the time until the status of all is written;
# 3. CHANGES (default 50) changes one after the other: a new Ingress with a new host is created
#    in the API (t0, before the POST) and a keep-alive client polls that host through "big"
#    until it answers 200 (t1): t1 - t0, p50/p99/max; the POST's own time printed beside it;
#    the build_ms of the tables built meanwhile (p50/p99) and the CPU "big" used per change;
# 4. throughput: wrk -t1 -c32 for SECONDS (default 10) on one host of the 10,000 against the
#    single Ingress of "one", alternately twice, and CPU per request of each.
# Needs wrk and nginx-light (scripts/packages.txt).
set -e
. "$(dirname "$0")/../integration/server_lib.sh"
N=${2:-10000}
CHANGES=${3:-50}
SECS=${4:-10}
for t in wrk nginx; do command -v $t >/dev/null || { echo "SKIP: $t not found"; exit 77; }; done
PIDS=()
cleanup_all() {
	set +e
	[[ -z ${KEEP_LOGS:-} ]] || cp "$D"/*.log "$KEEP_LOGS"/ # KEEP_LOGS=DIR: the logs kept there
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	srv_cleanup
}
srv_setup ingress-scale
trap cleanup_all EXIT
srv_instance "$D"
srv_start 31

PB=$(srv_port)
PBIG=$(srv_port)
PONE=$(srv_port)
mkdir -p "$D/be"
cat >"$D/be/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $D/be/nginx.pid;
error_log $D/be/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $D/be/tmp;
  server { listen 127.0.0.2:$PB; keepalive_requests 100000; location / { return 200 "hello\\n"; } }
}
EOF
nginx -c "$D/be/nginx.conf" -e "$D/be/error.log" & PIDS+=($!)

k create namespace scale >/dev/null
k apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: big}
spec: {controller: k8c.io/big}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: one}
spec: {controller: k8c.io/one}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: scale}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: scale, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: $PB}]
endpoints: [{addresses: [127.0.0.2]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: one, namespace: scale}
spec:
  ingressClassName: one
  rules:
  - host: one.scale.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
EOF

# the API driver: create N Ingresses (16 connections), then the timed changes
cat >"$D/drive.py" <<'EOF'
import http.client, json, ssl, sys, threading, time
d, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=d + "/pki/ca.crt")
ctx.load_cert_chain(d + "/pki/admin.crt", d + "/pki/admin.key")
PATH = "/apis/networking.k8s.io/v1/namespaces/scale/ingresses"
def body(name, host):
    return json.dumps({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "scale"},
        "spec": {"ingressClassName": "big", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
def api():
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
def post(c, name, host):
    for attempt in (0, 1):  # once more on a new connection if the server closed this one
        try:
            c.request("POST", PATH, body(name, host), {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            break
        except (OSError, http.client.HTTPException):
            if attempt:
                raise
            c.close()
            c.connect()
    if r.status != 201:
        sys.exit("create %s: %d" % (name, r.status))
if mode == "create":
    n = int(sys.argv[4])
    def work(k):
        c = api()
        for i in range(k, n, 16):
            post(c, "h%d" % (i + 1), "h%d.scale.test" % (i + 1))
    ts = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    [t.start() for t in ts]
    [t.join() for t in ts]
else:  # changes M INGRESS_PORT
    m, ip = int(sys.argv[4]), int(sys.argv[5])
    c, lat, writes = api(), [], []
    h = http.client.HTTPConnection("127.0.0.1", ip)
    log = open(d + "/../changes.log", "w")  # per change: wall-clock start, POST, served (ms)
    for j in range(m):
        host = "new%d.scale.test" % j
        t0 = time.monotonic()
        post(c, "new%d" % j, host)
        writes.append(time.monotonic() - t0)
        while True:
            h.request("GET", "/", headers={"Host": host})
            r = h.getresponse()
            r.read()
            if r.status == 200:
                break
            if time.monotonic() - t0 > 30:
                sys.exit("%s not served after 30 s" % host)
        lat.append(time.monotonic() - t0)
        log.write("%s %.3f %.1f %.1f\n" % (host, time.time() - lat[-1], writes[-1] * 1000, lat[-1] * 1000))
        time.sleep(0.05)
    q = lambda v, p: sorted(v)[min(len(v) - 1, int(p * len(v)))] * 1000
    print("%.1f %.1f %.1f %.1f" % (q(lat, 0.5), q(lat, 0.99), max(lat) * 1000, q(writes, 0.5)))
EOF
t0=$(date +%s.%N)
$PY "$D/drive.py" "$SRV_DIR/data" "$PORT" create "$N"
t1=$(date +%s.%N)
echo "# $N Ingresses created in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s (16 connections; load: $(cut -d' ' -f1-3 /proc/loadavg))"

ing() { # CLASS PORT LOG PUBLISH-ADDRESS (each its own: else each clears the other's status)
	exec "$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$2" --listen-https "" \
		--metrics-addr "" --threads 1 --controller-class "k8c.io/$1" --publish-address "$4" 2>"$D/$3"
}
t0=$(date +%s.%N)
ing big "$PBIG" big.log 127.0.0.10 & BIG=$!
PIDS+=($BIG)
ing one "$PONE" one.log 127.0.0.11 & ONE=$!
PIDS+=($ONE)
for _ in $(seq 1200); do
	grep -q "msg=\"routes published\".*ingresses=$N " "$D/big.log" && break
	kill -0 "$BIG" || fail "k8c-ingress (big) exited: $(tail "$D/big.log")"
	sleep 0.05
done
t1=$(date +%s.%N)
grep -q "msg=\"routes published\".*ingresses=$N " "$D/big.log" || fail "no table with $N Ingresses: $(tail -3 "$D/big.log")"
SYNC=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
BUILD=$(grep -o "ingresses=$N .*build_ms=[0-9.]*" "$D/big.log" | tail -1 | sed 's/.*build_ms=//')
for h in h$((N / 2)).scale.test one.scale.test; do
	p=$PBIG
	[[ $h == one.* ]] && p=$PONE
	for _ in $(seq 100); do [[ $(curl -s -H "Host: $h" "http://127.0.0.1:$p/") == hello ]] && break; sleep 0.1; done
	[[ $(curl -s -H "Host: $h" "http://127.0.0.1:$p/") == hello ]] || fail "$h not served"
done
# the status of every Ingress is written (by a thread of its own, while routes are served)
for _ in $(seq 6000); do
	(($(grep -c 'msg="status updated"' "$D/big.log") >= N)) && break
	sleep 0.1
done
t2=$(date +%s.%N)
echo "# statuses written: $(grep -c 'msg="status updated"' "$D/big.log") in $(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.1f", b - a}') s after the full table"
sleep 3
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
RSS_BIG=$(rss "$BIG") RSS_ONE=$(rss "$ONE")
echo "# start to a full table: $SYNC s (one table: $BUILD ms); idle RSS: $RSS_BIG KiB with $N, $RSS_ONE KiB with 1"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
NB0=$(grep -c 'msg="routes published"' "$D/big.log")
C0=$(ticks "$BIG")
read -r P50 P99 MAX W50 <<<"$($PY "$D/drive.py" "$SRV_DIR/data" "$PORT" changes "$CHANGES" "$PBIG")"
C1=$(ticks "$BIG")
NB1=$(grep -c 'msg="routes published"' "$D/big.log")
# the builds of the changes: their build_ms (incremental: compiled=1 each) and the CPU of "big"
grep 'msg="routes published"' "$D/big.log" | tail -n +$((NB0 + 1)) | grep -o 'build_ms=[0-9.]*' | sed 's/.*=//' | sort -g >"$D/builds"
B50=$(awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}' "$D/builds")
B99=$(awk '{v[NR] = $1} END {i = int(NR * 0.99 + 0.999); print v[i < 1 ? 1 : i]}' "$D/builds")
# the main thread's CPU time of those builds (a long build_ms with a short cpu_ms was preempted)
grep 'msg="routes published"' "$D/big.log" | tail -n +$((NB0 + 1)) | grep -o 'cpu_ms=[0-9.]*' | sed 's/.*=//' | sort -g >"$D/build_cpu"
BC50=$(awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}' "$D/build_cpu")
BC99=$(awk '{v[NR] = $1} END {i = int(NR * 0.99 + 0.999); print v[i < 1 ? 1 : i]}' "$D/build_cpu")
CPU=$(awk -v t="$((C1 - C0))" -v hz="$(getconf CLK_TCK)" -v n="$CHANGES" 'BEGIN {printf "%.1f", t * 1000 / hz / n}')
echo "# $CHANGES changes (a new Ingress and host each): API write to served p50 $P50 ms, p99 $P99 ms, max $MAX ms (the POST alone p50 $W50 ms); $((NB1 - NB0)) tables built, build p50 $B50 ms, p99 $B99 ms (its CPU p50 $BC50 ms, p99 $BC99 ms); CPU of big per change $CPU ms (load: $(cut -d' ' -f1-3 /proc/loadavg))"

run() { # NAME PORT HOST PID: "NAME rps cpu_us/req"
	local t0 t1
	t0=$(ticks "$4")
	wrk -t1 -c32 -d"$SECS"s -H "Host: $3" "http://127.0.0.1:$2/" >"$D/wrk.$1" 2>&1
	t1=$(ticks "$4")
	awk -v n="$1" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '
		/requests in/ {req = $1} /Requests\/sec:/ {rps = $2}
		END {printf "%s %s %.2f\n", n, rps, t * 1e6 / hz / req}' "$D/wrk.$1"
}
: >"$D/tput"
for r in 1 2; do
	run big "$PBIG" "h$((N / 2)).scale.test" "$BIG" | tee -a "$D/tput"
	run one "$PONE" one.scale.test "$ONE" | tee -a "$D/tput"
done
avg() { awk -v n="$1" -v c="$2" '$1 == n {s += $c; k++} END {printf "%.2f", s / k}' "$D/tput"; }
RB=$(avg big 2) RO=$(avg one 2) CB=$(avg big 3) CO=$(avg one 3)
echo "=> ingress scale: change to data path p99: $P99 ms, goal <= 100 ms, ratio $(awk -v a="$P99" 'BEGIN {printf "%.2f", a / 100}')"
echo "=> ingress scale: table build per change with $N Ingresses p50: $B50 ms, p99 $B99 ms (CPU p50 $BC50 ms, p99 $BC99 ms; CPU of the controller per change $CPU ms)"
echo "=> ingress scale: idle RSS with $N Ingresses: $((RSS_BIG / 1024)) MiB, goal <= 150 MiB, ratio $(awk -v a="$RSS_BIG" 'BEGIN {printf "%.2f", a / 1024 / 150}')"
echo "=> ingress scale: req/s on one host of $N vs a single Ingress: $RB vs $RO, goal >= 0.95, ratio $(awk -v a="$RB" -v b="$RO" 'BEGIN {printf "%.2f", a / b}')"
echo "=> ingress scale: CPU per request on one host of $N vs a single Ingress: $CB us vs $CO us, ratio $(awk -v a="$CB" -v b="$CO" 'BEGIN {printf "%.2f", a / b}')"

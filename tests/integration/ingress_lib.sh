# shellcheck shell=bash
# Shared set-up of the k8c-ingress integration tests (ingress_*.sh), on top of server_lib.sh:
#
#   set -e
#   . "$(dirname "$0")/ingress_lib.sh"   # its argument: <build>/bin; skips without the binaries
#   ing_setup NAME                        # D, a k8c-server (--kube-minor 31), cleanup_all on exit
#   ... "$BIN/k8c-ingress" ... & ING_PID=$!; $PY backend.py & BACK_PIDS+=($!)
#
# cleanup_all stops the ingress controller and the backends the test recorded (by PID), then
# the server (srv_cleanup). ifail prints the ingress log ($D/ingress.log) before failing; ok
# reports a passed check.
. "$(dirname "${BASH_SOURCE[0]}")/server_lib.sh"
[[ -x $BIN/k8c-ingress && -x $BIN/k8c-server ]] || { echo "SKIP: not built"; exit 77; }

ING_PID=
BACK_PIDS=()
cleanup_all() {
	set +e
	for p in $ING_PID "${BACK_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	srv_cleanup
}

# ing_setup NAME: the test's temp dir, the cleanup trap and a running k8c-server.
ing_setup() {
	srv_setup "$1"
	trap cleanup_all EXIT
	srv_instance "$D"
	srv_start 31
}

ifail() { echo "--- ingress log:" >&2; cat "$D/ingress.log" >&2; fail "$@"; }
ok() { echo "  ok: $*" >&2; }

# ing_yaml_class [NAME [CONTROLLER]]: an IngressClass (default k8c, k8c.io/ingress) as YAML.
ing_yaml_class() {
	printf -- '---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: %s}\nspec: {controller: %s}\n' \
		"${1:-k8c}" "${2:-k8c.io/ingress}"
}

# ing_yaml_svc NS NAME [PORTNAME]: a Service with port 80 (named PORTNAME when given) as YAML.
ing_yaml_svc() {
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: {ports: [{%sport: 80}]}\n' \
		"$2" "$1" "${3:+name: $3, }"
}

# ing_yaml_slice NS SLICE SERVICE [PORTNAME:]PORT ADDR...: an EndpointSlice of SERVICE (the ready
# endpoints ADDR... on PORT, its port named PORTNAME when given) as YAML.
ing_yaml_slice() {
	local ns=$1 slice=$2 svc=$3 port=${4##*:} pname="" eps="" a
	[[ $4 == *:* ]] && pname="name: ${4%%:*}, "
	shift 4
	for a in "$@"; do eps+="${eps:+, }{addresses: [$a]}"; done
	cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $slice, namespace: $ns, labels: {kubernetes.io/service-name: $svc}}
addressType: IPv4
ports: [{${pname}port: $port}]
endpoints: [$eps]
EOF
}

# ing_yaml_service NS NAME PORT ADDR...: a Service (port 80) and its EndpointSlice NAME-1 (the
# endpoints ADDR... on PORT) as YAML.
ing_yaml_service() {
	local ns=$1 name=$2 port=$3
	shift 3
	ing_yaml_svc "$ns" "$name"
	ing_yaml_slice "$ns" "$name-1" "$name" "$port" "$@"
}

# ing_be SERVICE [PORTNAME]: a backend (flow map) for port 80, or the port named PORTNAME.
ing_be() {
	if [[ -n ${2:-} ]]; then
		echo "{service: {name: $1, port: {name: $2}}}"
	else
		echo "{service: {name: $1, port: {number: 80}}}"
	fi
}

# ing_path PATH TYPE SERVICE [PORTNAME]: a path rule (flow map) to ing_be SERVICE [PORTNAME].
ing_path() { echo "{path: '$1', pathType: $2, backend: $(ing_be "$3" "${4:-}")}"; }

# ing_yaml_ingress NS NAME HOST PATHS [ANNOTATIONS]: an Ingress of class k8c with one rule for
# HOST; PATHS a flow list of ing_path, ANNOTATIONS a flow map (default none).
ing_yaml_ingress() {
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $2, namespace: $1, annotations: ${5:-"{}"}}
spec:
  ingressClassName: k8c
  rules:
  - host: $3
    http:
      paths: $4
EOF
}

# The echo backend of ing_echo and ing_echo_ports (Python's http.server, HTTP/1.1 keep-alive):
# GET and POST answer "backend=NAME path=PATH" ("port=PORT path=PATH" for ing_echo_ports; POST
# adds " body=LENGTH", a Content-Length or chunked body); /hang never answers, /slow answers once
# the file $D/release exists. Options of ing_echo: --headers answers what the backend saw,
# "backend=NAME host=HOST path=PATH xfh=X-Forwarded-Host xff=X-Forwarded-For
# xfp=X-Forwarded-Proto peer=CLIENT-PORT rid=X-Request-ID"; --seen FILE appends a line "METHOD
# PATH cl=CONTENT-LENGTH te=TRANSFER-ENCODING body=LENGTH" to FILE for every request.
ing_echo_script() {
	[[ -e $D/ing-echo.py ]] || cat >"$D/ing-echo.py" <<'PY'
import http.server, os, ssl, sys, threading, time
release = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def body(self):  # the request body's length: chunked (as named), else Content-Length
        cl, te = self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding")
        n = 0
        if te and "chunked" in te.lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                n += len(self.rfile.read(size + 2)) - 2 if size else 0
                if not size:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
        elif cl:
            n = len(self.rfile.read(int(cl)))
        if self.server.seen:
            with open(self.server.seen, "a") as f:
                f.write("%s %s cl=%s te=%s body=%d\n" % (self.command, self.path, cl, te, n))
        return n
    def answer(self, extra=""):
        if self.path == "/hang":
            threading.Event().wait(120)
        if self.path == "/slow":
            while not os.path.exists(release):
                time.sleep(0.05)
        who = self.server.who or "port=%d" % self.server.server_address[1]
        h = self.headers
        if self.server.show:
            who += " host=%s" % h.get("Host")
            extra += " xfh=%s xff=%s xfp=%s peer=%d rid=%s" % (
                h.get("X-Forwarded-Host"), h.get("X-Forwarded-For"),
                h.get("X-Forwarded-Proto"), self.client_address[1], h.get("X-Request-ID"))
        body = ("%s path=%s%s\n" % (who, self.path, extra)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.body()
        self.answer()
    def do_POST(self):
        self.answer(" body=%d" % self.body())
    def log_message(self, *a):
        pass
args, show, seen = sys.argv[1:], False, None
while args[0] in ("--headers", "--seen"):
    if args[0] == "--headers":
        show, args = True, args[1:]
    else:
        seen, args = args[1], args[2:]
def server(addr, port, who):
    s = http.server.ThreadingHTTPServer((addr, port), H)
    s.who, s.show, s.seen = who, show, seen
    return s
if args[0] == "--ports":  # --ports N FILE: N servers on 127.0.0.1, their ports into FILE
    n, out = int(args[1]), args[2]
    servers = [server("127.0.0.1", 0, None) for _ in range(n)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(out + ".tmp", "w") as f:
        f.write(" ".join(str(s.server_address[1]) for s in servers) + "\n")
    os.rename(out + ".tmp", out)
    threading.Event().wait()
srv = server(args[1], int(args[2]), "backend=" + args[0])
if len(args) > 4:  # HTTPS
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(args[3], args[4])
    srv.socket = c.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
}

# ing_echo [--headers] [--seen FILE] NAME ADDR PORT [CERT KEY]: an echo backend (ing_echo_script)
# answering "backend=NAME path=PATH", over HTTPS when given a certificate (started, recorded in
# BACK_PIDS, up when this returns).
ing_echo() {
	local opts=()
	while [[ $1 == --headers || $1 == --seen ]]; do
		if [[ $1 == --seen ]]; then opts+=("$1" "$2"); shift; else opts+=("$1"); fi
		shift
	done
	local u="http://$2:$3/"
	[[ -z ${4:-} ]] || u="https://$2:$3/"
	ing_echo_script
	$PY "$D/ing-echo.py" "${opts[@]}" "$@" &
	BACK_PIDS+=($!)
	ing_wait_backend "$u"
}

# ing_wait_backend URL: wait (10 s) until URL answers a body with "backend=", else fail.
ing_wait_backend() {
	for _ in $(seq 100); do curl -sk "$1" | grep -q backend= && return; sleep 0.1; done
	fail "backend $1 not up"
}

# ing_echo_ports N FILE: one echo process listening on N ports of 127.0.0.1, each answering
# "port=PORT path=PATH"; the ports (space-separated) are in FILE when this returns.
ing_echo_ports() {
	ing_echo_script
	$PY "$D/ing-echo.py" --ports "$1" "$2" &
	BACK_PIDS+=($!)
	for _ in $(seq 100); do [[ -s $2 ]] && return; sleep 0.1; done
	fail "echo backends on $1 ports not up"
}

# ing_start ARGS...: start k8c-ingress on --listen-http 127.0.0.1:$IP (IP: a free port, set
# here) with ARGS, logging to $D/ingress.log; ING_PID is its PID.
ing_start() {
	IP=$(srv_port)
	"$BIN/k8c-ingress" --kubeconfig "$KUBECONFIG" --listen-http "127.0.0.1:$IP" "$@" 2>"$D/ingress.log" &
	ING_PID=$!
}

# ing_stop_ok: SIGTERM to k8c-ingress; fail unless it exits with status 0.
ing_stop_ok() {
	local pid=$ING_PID
	ING_PID=
	srv_term_ok "$pid" k8c-ingress ifail
}

# ing_req HOST PATH [CURL ARGS...]: "CODE BODY" of a request to k8c-ingress ($IP) for HOST.
ing_req() {
	local h=$1 p=$2
	shift 2
	curl -s --max-time 30 --resolve "$h:$IP:127.0.0.1" -o "$D/body" -w '%{http_code}' "$@" \
		"http://$h:$IP$p" >"$D/code" || true
	echo "$(cat "$D/code") $(cat "$D/body" 2>/dev/null)"
}

# ing_wait_served HOST PATH PATTERN: wait (60 s) until ing_req HOST PATH matches PATTERN
# (grep -E on "CODE BODY"), else fail; fail at once when k8c-ingress exited.
ing_wait_served() {
	for _ in $(seq 600); do
		ing_req "$1" "$2" | grep -Eq -- "$3" && return
		kill -0 "$ING_PID" 2>/dev/null || ifail "k8c-ingress exited"
		sleep 0.1
	done
	ifail "$1$2 never matched /$3/ (last: $(ing_req "$1" "$2"))"
}

# ing_expect_event NS OBJECT REASON MESSAGE-PATTERN: wait (10 s) for an Event on OBJECT with
# REASON, then fail unless one of its Events' messages matches MESSAGE-PATTERN (grep -E).
ing_expect_event() {
	for _ in $(seq 100); do
		k -n "$1" get events --field-selector "involvedObject.name=$2" -o jsonpath='{.items[*].reason}' |
			grep -q "$3" && break
		sleep 0.1
	done
	k -n "$1" get events --field-selector "involvedObject.name=$2" -o jsonpath='{.items[*].message}' |
		grep -Eq -- "$4" || ifail "no Event $3 on $1/$2 with '$4'"
}

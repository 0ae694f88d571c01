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

# ing_yaml_service NS NAME PORT ADDR...: a Service (port 80) and its EndpointSlice NAME-1 (the
# endpoints ADDR... on PORT) as YAML.
ing_yaml_service() {
	local ns=$1 name=$2 port=$3 eps="" a
	shift 3
	for a in "$@"; do eps+="${eps:+, }{addresses: [$a]}"; done
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: $ns}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-1, namespace: $ns, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
ports: [{port: $port}]
endpoints: [$eps]
EOF
}

# ing_echo NAME ADDR PORT: an HTTP/1.1 echo backend answering "backend=NAME path=PATH" (started,
# recorded in BACK_PIDS, up when this returns).
ing_echo() {
	[[ -e $D/ing-echo.py ]] || cat >"$D/ing-echo.py" <<'PY'
import http.server, sys
name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("backend=%s path=%s\n" % (name, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((addr, port), H).serve_forever()
PY
	$PY "$D/ing-echo.py" "$1" "$2" "$3" &
	BACK_PIDS+=($!)
	for _ in $(seq 100); do curl -s "http://$2:$3/" | grep -q backend= && return; sleep 0.1; done
	fail "echo backend $1 on $2:$3 not up"
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

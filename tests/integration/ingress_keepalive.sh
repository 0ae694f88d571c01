#!/bin/bash
# k8c-ingress client connections around a proxied request (loopback only). h2o stops reading a
# client connection from a parsed request until its response is done; k8c-ingress leaves the
# socket in epoll meanwhile and stops it for real only when bytes or a close come (docs/ingress.md
# "Lazy read stop"). Checked over raw sockets: two requests pipelined in one write; a second
# request sent while the first is still waiting on its backend; a client that half-closes its
# connection while its request is in flight still gets the answer, then the connection closes;
# and the connection stays usable for requests after all that.
set -e
. "$(dirname "$0")/ingress_lib.sh"

ing_setup ingress-ka
P=$(srv_port)
ing_echo ka 127.0.0.2 "$P" # /slow answers once $D/release exists
k create namespace ka >/dev/null
{
	ing_yaml_class
	ing_yaml_service ka web "$P" 127.0.0.2
	ing_yaml_ingress ka web ka.test "[$(ing_path / Prefix web)]"
} | k apply -f - >/dev/null
ing_start --listen-https "" --metrics-addr ""
ing_wait_served ka.test /up '^200 backend=ka path=/up'

# client.py MODE: one connection to k8c-ingress; prints the answers' bodies, one a line, then
# "eof" when the ingress closed the connection.
cat >"$D/client.py" <<'EOF'
import os, socket, sys, time
mode, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def req(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: ka.test\r\n%s\r\n" % (path, "Connection: close\r\n" if close else "")).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=30)
buf = b""
def answer():
    global buf
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(buf) < n:
        buf += s.recv(65536)
    body, buf = buf[:n], buf[n:]
    return head.split(b"\r\n")[0].decode() + " " + body.decode().strip()
def eof():
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
if mode == "pipelined":
    s.sendall(req("/p1") + req("/p2"))
    print(answer()); print(answer())
    s.sendall(req("/p3", close=True))
    print(answer())
    print("eof" if eof() else "open")
elif mode == "during":
    s.sendall(req("/slow"))
    time.sleep(0.5)  # the first request is with the backend: the second comes while it waits
    s.sendall(req("/d2"))
    open(d + "/release", "w").close()
    print(answer()); print(answer())
    s.sendall(req("/d3"))
    print(answer())
elif mode == "halfclose":
    s.sendall(req("/slow"))
    time.sleep(0.5)
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5)  # the close comes while the request is with the backend
    open(d + "/release", "w").close()
    print(answer())
    print("eof" if eof() else "open")
EOF
run() { # MODE: the client's output, one line per answer
	rm -f "$D/release"
	timeout 60 $PY "$D/client.py" "$1" "$IP" "$D" 2>&1 || echo "client failed: $?"
}
want() { # MODE GOT WANT
	[[ $2 == "$3" ]] || ifail "$1: got
$2
want
$3"
	ok "$1"
}
want pipelined "$(run pipelined)" "HTTP/1.1 200 OK backend=ka path=/p1
HTTP/1.1 200 OK backend=ka path=/p2
HTTP/1.1 200 OK backend=ka path=/p3
eof"
want "a request while another waits on its backend" "$(run during)" "HTTP/1.1 200 OK backend=ka path=/slow
HTTP/1.1 200 OK backend=ka path=/d2
HTTP/1.1 200 OK backend=ka path=/d3"
want "a half-close while the request is in flight" "$(run halfclose)" "HTTP/1.1 200 OK backend=ka path=/slow
eof"
# and it still serves (nothing stuck in its loop)
[[ $(ing_req ka.test /after) == "200 backend=ka path=/after" ]] || ifail "not served after: $(ing_req ka.test /after)"
ok "served afterwards"
ing_stop_ok
srv_stop
echo PASS

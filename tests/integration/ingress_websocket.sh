#!/bin/bash
# k8c-ingress passes websockets through (h2o's proxy with a websocket timeout), loopback only: a
# client upgrades through the ingress and exchanges messages with the backend; the Ingress is then
# changed to another Service and the old EndpointSlice emptied while the session is open: the
# session keeps working on its backend, and a new session takes the new route.
set -e
. "$(dirname "$0")/ingress_lib.sh"

ing_setup ingress-ws

# A websocket backend NAME ADDR PORT: answers the upgrade (RFC 6455 accept key) and then echoes
# every text frame as "NAME:text" (client frames are masked, server frames are not).
cat >"$D/ws.py" <<'EOF'
import base64, hashlib, socket, struct, sys, threading
name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b
def serve(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                return
            req += d
        head = req.split(b"\r\n\r\n")[0].decode()
        hdr = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:]}
        if hdr.get("upgrade", "").lower() != "websocket":
            body = ("backend=%s plain\n" % name).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            return
        acc = base64.b64encode(hashlib.sha1((hdr["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        while True:
            b0, b1 = recv_exact(c, 2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack("!H", recv_exact(c, 2))[0]
            mask = recv_exact(c, 4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(recv_exact(c, n)))
            if b0 & 0x0f == 8:
                return
            out = (name + ":").encode() + data
            c.sendall(bytes([0x81, len(out)]) + out)
    except (EOFError, OSError):
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
# The client: PORT HOST DIR: upgrade, one message, DIR/ready, wait for DIR/go, another message.
cat >"$D/client.py" <<'EOF'
import base64, os, socket, sys, time
port, host, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = socket.create_connection(("127.0.0.1", port), timeout=60)
key = base64.b64encode(os.urandom(16)).decode()
c.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, key)).encode())
resp = b""
while b"\r\n\r\n" not in resp:
    d2 = c.recv(4096)
    if not d2:
        print("closed before the upgrade: %r" % resp)
        sys.exit(1)
    resp += d2
status = resp.split(b"\r\n")[0].decode()
rest = resp.split(b"\r\n\r\n", 1)[1]
def send(text):
    m = os.urandom(4)
    p = text.encode()
    c.sendall(bytes([0x81, 0x80 | len(p)]) + m + bytes(x ^ m[i % 4] for i, x in enumerate(p)))
def recv():
    global rest
    while len(rest) < 2 or len(rest) < 2 + rest[1]:
        d2 = c.recv(4096)
        if not d2:
            raise EOFError("closed")
        rest += d2
    n = rest[1]
    out, rest = rest[2:2 + n].decode(), rest[2 + n:]
    return out
send("one")
first = recv()
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
send("two")
print("%s | %s | %s" % (status, first, recv()))
EOF
PW=$(srv_port)
$PY "$D/ws.py" ws-a 127.0.0.2 "$PW" & BACK_PIDS+=($!)
$PY "$D/ws.py" ws-b 127.0.0.3 "$PW" & BACK_PIDS+=($!)
ing_wait_backend "http://127.0.0.2:$PW/"
ing_wait_backend "http://127.0.0.3:$PW/"

k create namespace ws >/dev/null
{
	ing_yaml_class
	ing_yaml_service ws a "$PW" 127.0.0.2
	ing_yaml_service ws b "$PW" 127.0.0.3
	ing_yaml_ingress ws chat chat.test "[$(ing_path / Prefix a)]"
} | k apply -f - >/dev/null
ing_start --listen-https "" --metrics-addr ""
ing_wait_served chat.test / backend=ws-a

mkdir "$D/s1" "$D/s2"
$PY "$D/client.py" "$IP" chat.test "$D/s1" >"$D/s1/out" 2>&1 &
C1=$!
BACK_PIDS+=("$C1")
for _ in $(seq 600); do [[ -e $D/s1/ready ]] && break; kill -0 "$C1" 2>/dev/null || break; sleep 0.1; done
[[ -e $D/s1/ready ]] || ifail "the websocket session did not start: $(cat "$D/s1/out")"
ok "a websocket session is open through the ingress"
# the route moves to Service b and a's endpoints go away while the session is open
k -n ws patch ingress chat --type=json \
	-p '[{"op":"replace","path":"/spec/rules/0/http/paths/0/backend/service/name","value":"b"}]' >/dev/null
k -n ws patch endpointslice a-1 --type=merge -p '{"endpoints":[]}' >/dev/null
ing_wait_served chat.test / backend=ws-b
touch "$D/s1/go"
wait "$C1" || ifail "the websocket session failed across the change: $(cat "$D/s1/out")"
grep -qx 'HTTP/1.1 101 Switching Protocols | ws-a:one | ws-a:two' "$D/s1/out" ||
	ifail "websocket session across the change: $(cat "$D/s1/out")"
ok "the session survived the route change on its backend: $(cat "$D/s1/out")"
touch "$D/s2/go"
$PY "$D/client.py" "$IP" chat.test "$D/s2" >"$D/s2/out" 2>&1 || ifail "a new websocket session failed: $(cat "$D/s2/out")"
grep -qx 'HTTP/1.1 101 Switching Protocols | ws-b:one | ws-b:two' "$D/s2/out" ||
	ifail "a new session after the change: $(cat "$D/s2/out")"
ok "a new session takes the new route"
ing_stop_ok
srv_stop
echo PASS

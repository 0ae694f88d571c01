#!/bin/bash
# lib/kube_client and lib/informer (through k8c_client_tool) against the real k8c-server: an
# informer on ConfigMaps sees what kubectl does, survives a server restart (resumes from its
# resourceVersion: no relist, no duplicate ADD) and a compaction while it was away (410 → relist
# whose difference gives the missed deletes), and its cache equals `kubectl get cm -A -o json`;
# a fieldSelector informer on pods (spec.nodeName, as the agent uses); the client's errors
# (404, 409, a wrong CA) and writes (status, lease, event, patches, delete options). No root needed.
#
#   k8c_client_tool informer ──TLS/HTTP2──► k8c-server 127.0.0.1:$PORT ◄── kubectl
#     stdin: $D/cmd (fifo)  stdout: $D/deltas
# Usage: client_informer.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup client
srv_instance "$D"
srv_start 31 --compact-interval 0 3>&-
TOOL=$BIN/k8c_client_tool
[[ -x $TOOL ]] || fail "$TOOL not built"

TPIDS=()
# Stop the informers this test started (by PID), then the harness' cleanup.
cleanup() {
	local p
	for p in "${TPIDS[@]}"; do
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	srv_cleanup
}
trap cleanup EXIT

# wait_line FILE REGEX WHAT: wait (generous deadline, no timing assertion) for a line in FILE.
wait_line() {
	local i
	for i in $(seq 600); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.1
	done
	echo "--- $1:" >&2
	cat "$1" >&2
	fail "$3: no line matching /$2/ in $1"
}

tool() { "$TOOL" --kubeconfig "$KUBECONFIG" "$@"; }

# The informer on ConfigMaps of all namespaces, indexed by label app.
mkfifo "$D/cmd"
"$TOOL" --kubeconfig "$KUBECONFIG" informer v1/configmaps - "" "" app <"$D/cmd" >"$D/deltas" 2>"$D/informer.err" &
TPID=$!
TPIDS+=("$TPID")
exec 3>"$D/cmd"
NDUMP=0
# ask CMD REPLYREGEX: send a command to the informer and wait for a new answer.
ask() {
	local n i
	n=$(grep -Ec "$2" "$D/deltas" || true)
	echo "$1" >&3
	for i in $(seq 600); do
		[[ $(grep -Ec "$2" "$D/deltas" || true) -gt $n ]] && return 0
		sleep 0.1
	done
	fail "informer command '$1': no answer /$2/ in $D/deltas"
}
stats() { # prints "lists watches relists_410 errors" (the latest STATS line)
	ask stats '^STATS '
	grep '^STATS ' "$D/deltas" | tail -1 | cut -d' ' -f2-
}

wait_line "$D/deltas" '^SYNCED$' "informer sync"
k create ns t >/dev/null || fail "create ns t"
rv=$(k create cm a1 -n t --from-literal=k=1 -o jsonpath='{.metadata.resourceVersion}') || fail "create a1"
wait_line "$D/deltas" "^ADD t/a1 $rv\$" "ADD a1"
rv2=$(k create cm a2 -n t --from-literal=k=2 -o jsonpath='{.metadata.resourceVersion}') || fail "create a2"
wait_line "$D/deltas" "^ADD t/a2 $rv2\$" "ADD a2"
k label cm a1 -n t app=web >/dev/null || fail "label a1"
rv3=$(k get cm a1 -n t -o jsonpath='{.metadata.resourceVersion}') || fail "get a1"
wait_line "$D/deltas" "^UPDATE t/a1 $rv $rv3\$" "UPDATE a1"
k delete cm a2 -n t >/dev/null || fail "delete a2"
wait_line "$D/deltas" "^DELETE t/a2 " "DELETE a2"
ask "index web" '^INDEX web'
[[ $(grep '^INDEX web' "$D/deltas" | tail -1) == "INDEX web t/a1" ]] || fail "index web: $(grep '^INDEX' "$D/deltas")"

# compare_cache: the informer's cache (dump) equals kubectl's list, object for object.
compare_cache() {
	NDUMP=$((NDUMP + 1))
	ask "dump $D/cache.$NDUMP.json" "^DUMPED $D/cache.$NDUMP.json\$"
	jq -S '[.[] | del(.kind, .apiVersion)] | sort_by(.metadata.namespace + "/" + .metadata.name)' \
		"$D/cache.$NDUMP.json" >"$D/cache.norm"
	k get cm -A -o json | jq -S '[.items[] | del(.kind, .apiVersion)] | sort_by(.metadata.namespace + "/" + .metadata.name)' >"$D/kubectl.norm"
	[[ $(jq length "$D/kubectl.norm") -gt 0 ]] || fail "kubectl lists no ConfigMaps"
	diff -u "$D/kubectl.norm" "$D/cache.norm" >&2 || fail "informer cache ($1) differs from kubectl get cm -A"
}
compare_cache "after add/update/delete"

# Server restart: the informer reconnects and resumes from its resourceVersion (no relist).
read -r lists0 watches0 _ _ <<<"$(stats)"
srv_stop
srv_start 31 --compact-interval 0 3>&-
rv=$(k create cm a3 -n t --from-literal=k=3 -o jsonpath='{.metadata.resourceVersion}') || fail "create a3"
k delete cm a1 -n t >/dev/null || fail "delete a1"
wait_line "$D/deltas" "^ADD t/a3 $rv\$" "ADD a3 after the restart"
wait_line "$D/deltas" "^DELETE t/a1 " "DELETE a1 after the restart"
read -r lists1 watches1 relists1 _ <<<"$(stats)"
[[ $watches1 -gt $watches0 ]] || fail "no new watch after the restart ($watches0 → $watches1)"
[[ $lists1 == "$lists0" && $relists1 == 0 ]] || fail "relisted after a restart without compaction (lists $lists0 → $lists1, 410s $relists1)"
compare_cache "after the server restart"

# Compaction while the informer is away: stop it, restart the server with compaction every
# second, change things (deletes it must learn of, a ConfigMap created and deleted meanwhile),
# wait until its resourceVersion is compacted, let it go on: 410, relist, the difference.
RV0=$(C "$U/api/v1/configmaps?limit=1" | jq -r .metadata.resourceVersion)
[[ $RV0 =~ ^[0-9]+$ ]] || fail "list resourceVersion: $RV0"
kill -STOP "$TPID"
srv_stop
srv_start 31 --compact-interval 1 3>&- # fd 3 (the fifo) stays ours alone
k delete cm a3 -n t >/dev/null || fail "delete a3"
for i in 1 2 3 4 5; do
	k create cm "b$i" -n t --from-literal=k="$i" >/dev/null || fail "create b$i"
done
k create cm c1 -n t >/dev/null && k delete cm c1 -n t >/dev/null || fail "create/delete c1"
k label cm b1 -n t app=web >/dev/null || fail "label b1"
for i in $(seq 300); do
	C -m 5 "$U/api/v1/configmaps?watch=1&resourceVersion=$RV0&timeoutSeconds=1" | grep -q '"code":410' && break
	[[ $i != 300 ]] || fail "resourceVersion $RV0 never compacted"
	sleep 0.1
done
kill -CONT "$TPID"
wait_line "$D/deltas" "^DELETE t/a3 " "DELETE a3 missed while away"
for i in 1 2 3 4 5; do
	wait_line "$D/deltas" "^ADD t/b$i " "ADD b$i after the relist"
done
read -r lists2 _ relists2 _ <<<"$(stats)"
[[ $relists2 -ge 1 && $lists2 -gt $lists1 ]] || fail "no relist after compaction (lists $lists1 → $lists2, 410s $relists2)"
! grep -q ' t/c1 ' "$D/deltas" || fail "a ConfigMap created and deleted while away was delivered"
ask "index web" '^INDEX web'
[[ $(grep '^INDEX web' "$D/deltas" | tail -1) == "INDEX web t/b1" ]] || fail "index web after relist: $(grep '^INDEX' "$D/deltas" | tail -1)"
# And it keeps watching live after the relist.
rv=$(k create cm b6 -n t -o jsonpath='{.metadata.resourceVersion}') || fail "create b6"
wait_line "$D/deltas" "^ADD t/b6 $rv\$" "ADD b6 after the relist"
compare_cache "after compaction and relist"

# The delta log alone is consistent: no ADD of a present key, no UPDATE/DELETE of an absent one,
# and what it leaves is exactly kubectl's list.
awk '$1 == "ADD" { if ($2 in have) { print "duplicate ADD " $2; bad = 1 } have[$2] = $3 }
	$1 == "UPDATE" { if (!($2 in have)) { print "UPDATE of absent " $2; bad = 1 } have[$2] = $4 }
	$1 == "DELETE" { if (!($2 in have)) { print "DELETE of absent " $2; bad = 1 } delete have[$2] }
	END { for (k in have) print "HAVE " k " " have[k] > "/dev/stderr"; exit bad }' \
	"$D/deltas" 2>"$D/replay" || fail "delta log inconsistent: $(cat "$D/replay")"
sort "$D/replay" >"$D/replay.sorted"
k get cm -A -o json | jq -r '.items[] | "HAVE \(.metadata.namespace)/\(.metadata.name) \(.metadata.resourceVersion)"' | sort >"$D/kubectl.have"
diff -u "$D/kubectl.have" "$D/replay.sorted" >&2 || fail "replaying the deltas does not give kubectl's list"

# EOF on its stdin: the informer stops its thread (interrupting the watch) and exits 0.
exec 3>&-
wait "$TPID" || fail "informer exit status $?: $(cat "$D/informer.err")"
TPIDS=()

# A pods informer with fieldSelector spec.nodeName (as k8c-agent): only that node's pods.
: >"$D/pods"
mkfifo "$D/cmd2"
# Its transform drops each pod's status before caching (as a proxy would trim what it never reads).
"$TOOL" --kubeconfig "$KUBECONFIG" informer v1/pods t "" spec.nodeName=n1 "" status <"$D/cmd2" >"$D/pods" 2>"$D/pods.err" &
TPIDS+=($!)
exec 4>"$D/cmd2"
wait_line "$D/pods" '^SYNCED$' "pods informer sync"
for n in 0 1; do
	J -X POST -d "{\"metadata\":{\"name\":\"p$n\"},\"spec\":{\"nodeName\":\"n$n\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\"}]}}" \
		"$U/api/v1/namespaces/t/pods" >/dev/null || fail "create pod p$n"
done
rv=$(k create cm marker -n t -o jsonpath='{.metadata.resourceVersion}') || fail "create marker"
wait_line "$D/pods" '^ADD t/p1 ' "ADD pod p1 on n1"
# p0 was created before p1 and must never arrive (the server filters; our query carries it).
! grep -q 't/p0' "$D/pods" || fail "pod on n0 delivered to the spec.nodeName=n1 informer: $(cat "$D/pods")"
echo "dump $D/pods.json" >&4
wait_line "$D/pods" "^DUMPED $D/pods.json\$" "pods dump"
[[ $(jq -c '[keys, (.[] | [.spec.nodeName, has("status")])]' "$D/pods.json") == '[["t/p1"],["n1",false]]' ]] || fail "pods cache: $(cat "$D/pods.json")"
k get pod p1 -n t -o json | jq -e .status >/dev/null || fail "the server's pod p1 has no status to drop"
exec 4>&-
wait "${TPIDS[0]}" || fail "pods informer exit status"
TPIDS=()

# A cluster-scoped resource: Nodes are keyed by name alone; one listed, one watched.
J -X POST -d '{"metadata":{"name":"node-a"}}' "$U/api/v1/nodes" >/dev/null || fail "create node-a"
mkfifo "$D/cmd3"
"$TOOL" --kubeconfig "$KUBECONFIG" informer v1/nodes - <"$D/cmd3" >"$D/nodes" 2>"$D/nodes.err" &
TPIDS+=($!)
exec 5>"$D/cmd3"
wait_line "$D/nodes" '^SYNCED$' "nodes informer sync"
grep -Eq '^ADD node-a [0-9]+$' "$D/nodes" || fail "node-a not listed: $(cat "$D/nodes")"
J -X POST -d '{"metadata":{"name":"node-b"}}' "$U/api/v1/nodes" >/dev/null || fail "create node-b"
wait_line "$D/nodes" '^ADD node-b [0-9]+$' "ADD node-b"
exec 5>&-
wait "${TPIDS[0]}" || fail "nodes informer exit status"
TPIDS=()

# Client errors carry the HTTP code and the Status message.
out=$(tool get v1/namespaces - nope 2>&1) && fail "get of a missing namespace succeeded"
grep -Fq 'error (code 404): GET /api/v1/namespaces/nope: 404 NotFound: namespaces "nope" not found' <<<"$out" || fail "404 message: $out"
out=$(echo '{"metadata":{"name":"b1"}}' | tool create v1/configmaps t 2>&1) && fail "create of an existing ConfigMap succeeded"
grep -Eq 'code 409.*AlreadyExists.*"b1" already exists' <<<"$out" || fail "409 message: $out"
# A kubeconfig with file fields (relative to its directory) works; with another CA it fails
# with a message naming the kubeconfig.
cp "$SRV_DIR/data/pki/ca.crt" "$SRV_DIR/data/pki/admin.crt" "$SRV_DIR/data/pki/admin.key" "$D/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca \
	-days 1 -keyout "$D/other-ca.key" -out "$D/other-ca.crt" 2>/dev/null || fail "openssl req"
for ca in ca.crt other-ca.crt; do
	cat >"$D/$ca.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: $U
    certificate-authority: $ca
users:
- name: u
  user:
    client-certificate: admin.crt
    client-key: $D/admin.key
contexts:
- name: x
  context: {cluster: c, user: u, namespace: t}
current-context: x
EOF
done
out=$(K8C_TOOL_PROTO=1 "$TOOL" --kubeconfig "$D/ca.crt.kubeconfig" get v1/configmaps t b1 2>"$D/err") || fail "file-field kubeconfig: $(cat "$D/err")"
# With K8C_TOOL_PROTO, k8c_client_tool says "http2" when the answer came over HTTP/2 (ALPN).
grep -qx http2 "$D/err" || fail "the client did not use HTTP/2: $(cat "$D/err")"
[[ $(jq -r .data.k <<<"$out") == 1 ]] || fail "get b1 with the file-field kubeconfig: $out"
out=$("$TOOL" --kubeconfig "$D/other-ca.crt.kubeconfig" get v1/configmaps t b1 2>&1) && fail "a server certificate not signed by the kubeconfig's CA was accepted"
grep -q "certificate" <<<"$out" && grep -Fq "not trusted with the CA of $D/other-ca.crt.kubeconfig" <<<"$out" || fail "wrong CA message: $out"

# Writes: patches of each type the server takes, a status update, a lease, an event, delete
# with DeleteOptions.
out=$(tool patch v1/configmaps t b2 merge '{"data":{"m":"1"}}') || fail "merge patch: $out"
out=$(tool patch v1/configmaps t b2 strategic '{"data":{"s":"1"}}') || fail "strategic patch: $out"
[[ $(k get cm b2 -n t -o jsonpath='{.data.m}{.data.s}') == 11 ]] || fail "patches not applied"
out=$(echo '{"metadata":{"name":"s1"},"spec":{"ports":[{"port":80}]}}' | tool create v1/services t) || fail "create svc: $out"
out=$(tool get v1/services t s1 | jq -c '.status.loadBalancer.ingress=[{"ip":"192.0.2.7"}]' | tool update-status v1/services t) || fail "update status: $out"
[[ $(k get svc s1 -n t -o jsonpath='{.status.loadBalancer.ingress[0].ip}') == 192.0.2.7 ]] || fail "status not written"
out=$(echo '{"metadata":{"name":"n1"},"spec":{"holderIdentity":"n1","leaseDurationSeconds":40}}' | tool create coordination.k8s.io/v1/leases kube-node-lease) || fail "create lease: $out"
[[ $(k get lease n1 -n kube-node-lease -o jsonpath='{.spec.holderIdentity}') == n1 ]] || fail "lease"
out=$(echo '{"metadata":{"name":"s1.1"},"involvedObject":{"kind":"Service","name":"s1","namespace":"t"},"reason":"Tested","message":"by client_informer.sh","type":"Normal"}' | tool create v1/events t) || fail "create event: $out"
k get events -n t | grep -q 'Tested' || fail "event not listed by kubectl"
out=$(tool delete v1/configmaps t b2 '{"propagationPolicy":"Background"}') || fail "delete b2: $out"
! k get cm b2 -n t >/dev/null 2>&1 || fail "b2 still there"
# Pagination: a list of 1 per page gathers them all, with the list's resourceVersion.
n=$(k get cm -n t -o json | jq '.items | length')
out=$(tool list v1/configmaps t 1) || fail "paginated list: $out"
[[ $(jq '.items | length' <<<"$out") == "$n" && $(jq -r '.resourceVersion | test("^[0-9]+$")' <<<"$out") == true ]] || fail "paginated list gave $(jq -c '[.resourceVersion, (.items | length)]' <<<"$out"), kubectl $n"
srv_stop
echo PASS

#!/bin/bash
# Watch semantics of k8c-server on two event-loop threads: sendInitialEvents (the streaming
# list) with its initial-events-end BOOKMARK, BOOKMARK before timeoutSeconds and resuming from a
# bookmark's resourceVersion, the ListOptions validation of watches, the same events for watchers
# on many connections (both threads), over HTTP/1.1 and HTTP/2; the Python client's watch with
# allow_watch_bookmarks and resource_version resume; concurrent Service creates never share a
# ClusterIP or NodePort. No root needed.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_need_pyclient
srv_setup watch
srv_instance "$D"
srv_start 31 --threads 2
grep -q ' threads=2' "$LOG" || fail "the server does not report 2 threads"

J -X POST -d '{"metadata":{"name":"w"}}' "$U/api/v1/namespaces" >/dev/null
for n in a b; do
	J -X POST -d "{\"metadata\":{\"name\":\"$n\"},\"data\":{\"k\":\"$n\"}}" \
		"$U/api/v1/namespaces/w/configmaps" >/dev/null
done
CM=$U/api/v1/namespaces/w/configmaps

# The streaming list: ADDED a, ADDED b, the initial-events-end BOOKMARK at the list's revision,
# then the changes; with timeoutSeconds=4 a BOOKMARK 2 s before the end, then the end.
for v in --http1.1 --http2; do
	timeout 30 curl -s --cacert "$D/data/pki/ca.crt" --cert "$D/data/pki/admin.crt" \
		--key "$D/data/pki/admin.key" $v -N \
		"$CM?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=4" \
		>"$D/init$v" || fail "streaming list $v did not end at its timeout (curl $?)"
	# (c is created by the first pass, so the second sees it in its initial events)
	if [[ $v == --http1.1 ]]; then
		got=$(jq -r '.type + " " + (.object.metadata.name // "")' "$D/init$v" | head -3 | tr '\n' ,)
		[[ $got == "ADDED a,ADDED b,BOOKMARK ," ]] || fail "streaming list $v: $got"
	else
		got=$(jq -r '.type + " " + (.object.metadata.name // "")' "$D/init$v" | head -4 | tr '\n' ,)
		[[ $got == "ADDED a,ADDED b,ADDED c,BOOKMARK ," ]] || fail "streaming list $v: $got"
	fi
	bm=$(jq -c 'select(.type == "BOOKMARK")' "$D/init$v" | head -1)
	[[ $(jq -r '.object.metadata.annotations["k8s.io/initial-events-end"]' <<<"$bm") == true ]] ||
		fail "initial-events-end bookmark $v: $bm"
	[[ $(jq -r '.object.kind + " " + .object.apiVersion' <<<"$bm") == "ConfigMap v1" ]] ||
		fail "bookmark kind $v: $bm"
	last=$(jq -r 'select(.type == "ADDED") | .object.metadata.resourceVersion' "$D/init$v" | sort -n | tail -1)
	[[ $(jq -r '.object.metadata.resourceVersion' <<<"$bm") -ge $last ]] ||
		fail "initial-events-end bookmark $v older than the objects: $bm"
	# the periodic bookmark (2 s before the timeout), without the annotation
	tail=$(jq -c 'select(.type == "BOOKMARK")' "$D/init$v" | tail -n +2 | head -1)
	[[ -n $tail && $(jq -r '.object.metadata.annotations' <<<"$tail") == null ]] ||
		fail "no bookmark before the timeout $v: $(cat "$D/init$v")"
	if [[ $v == --http1.1 ]]; then
		J -X POST -d '{"metadata":{"name":"c"}}' "$CM" >/dev/null
	fi
done

# Resuming from the last bookmark's resourceVersion: only what came after it.
rv=$(jq -r 'select(.type == "BOOKMARK") | .object.metadata.resourceVersion' "$D/init--http2" | tail -1)
J -X POST -d '{"metadata":{"name":"d"}}' "$CM" >/dev/null
got=$(C -N "$CM?watch=true&resourceVersion=$rv&timeoutSeconds=2" | jq -r '.type + " " + .object.metadata.name' | tr '\n' ,)
[[ $got == "ADDED d," ]] || fail "watch from bookmark $rv: $got"

# Without allowWatchBookmarks no BOOKMARK, also before the timeout.
got=$(C -N "$CM?watch=true&resourceVersion=$rv&timeoutSeconds=3" | jq -r .type | sort -u | tr '\n' ,)
[[ $got == "ADDED," ]] || fail "bookmarks not asked for: $got"

# ListOptions validation of watches (kube-apiserver's wording).
for q in "sendInitialEvents=true&allowWatchBookmarks=true" \
	"sendInitialEvents=true&resourceVersionMatch=NotOlderThan" \
	"resourceVersionMatch=NotOlderThan"; do
	out=$(C -w '\n%{http_code}' "$CM?watch=true&$q")
	[[ $(tail -1 <<<"$out") == 422 ]] || fail "watch?$q: $out"
	[[ $(head -1 <<<"$out" | jq -r .reason) == Invalid ]] || fail "watch?$q: $out"
done
out=$(C "$CM?watch=true&sendInitialEvents=true&allowWatchBookmarks=true")
grep -q 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan' <<<"$out" ||
	fail "message: $out"

# 24 watchers on 24 connections (accepted by both threads) all get the same events.
rv=$(C "$CM" | jq -r .metadata.resourceVersion)
pids=()
for i in $(seq 24); do
	C -N "$CM?watch=true&resourceVersion=$rv&timeoutSeconds=3" >"$D/fan$i" &
	pids+=($!)
done
sleep 0.5
J -X POST -d '{"metadata":{"name":"e"},"data":{"x":"1"}}' "$CM" >/dev/null
C -X DELETE "$CM/e" >/dev/null
for p in "${pids[@]}"; do wait "$p"; done
for i in $(seq 24); do
	got=$(jq -r '.type + " " + .object.metadata.name + " " + (.object.data.x // "")' "$D/fan$i" | tr '\n' ,)
	[[ $got == "ADDED e 1,DELETED e 1," ]] || fail "watcher $i: $got"
done

# The Python client: bookmarks surface as BOOKMARK events; resuming from one's resourceVersion.
$PY - "$KUBECONFIG" <<'PYTHON' || fail "python client"
import sys, threading, time
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
rv = v1.list_namespaced_config_map("w").metadata.resource_version

def later():
    time.sleep(0.5)
    v1.create_namespaced_config_map("w", {"metadata": {"name": "py1"}})

threading.Thread(target=later).start()
types, bookmark = [], None
for ev in watch.Watch().stream(v1.list_namespaced_config_map, "w", resource_version=rv,
                               allow_watch_bookmarks=True, timeout_seconds=4):
    if ev["type"] == "BOOKMARK":
        # this client passes a BOOKMARK's object through undecoded
        assert ev["object"]["kind"] == "ConfigMap", ev
        bookmark = ev["object"]["metadata"]["resourceVersion"]
    else:
        types.append((ev["type"], ev["object"].metadata.name))
assert ("ADDED", "py1") in types, types
assert bookmark, "no bookmark: %s" % types
v1.create_namespaced_config_map("w", {"metadata": {"name": "py2"}})
names = [ev["object"].metadata.name
         for ev in watch.Watch().stream(v1.list_namespaced_config_map, "w",
                                        resource_version=bookmark, timeout_seconds=2)]
assert names == ["py2"], names
print("python: bookmarks and resume ok")
PYTHON

# The LIST fast path (stored JSON with resourceVersion spliced in) answers what the decoding
# path (taken with a selector) answers, also in pages.
a=$(C "$CM" | jq -S .items)
b=$(C "$CM?fieldSelector=metadata.namespace%3Dw" | jq -S .items)
[[ -n $a && $a != null && $a == "$b" ]] || fail "LIST fast path differs: $a / $b"
[[ $(jq '[.[] | select(.metadata.resourceVersion | test("^[0-9]+$"))] | length' <<<"$a") == $(jq length <<<"$a") ]] ||
	fail "LIST items without resourceVersion: $a"
page=$(C "$CM?limit=2")
[[ $(jq '.items | length' <<<"$page") == 2 && $(jq -r .metadata.continue <<<"$page") != null ]] ||
	fail "LIST page: $page"
rest=$(C "$CM?limit=100&continue=$(jq -r .metadata.continue <<<"$page")")
[[ $(jq -S -s '.[0].items + .[1].items' <(echo "$page") <(echo "$rest")) == "$a" ]] ||
	fail "LIST pages differ from the whole"

# Concurrent Service creates (two threads): no ClusterIP or NodePort is handed out twice.
pids=()
for i in $(seq 30); do
	J -X POST -d "{\"metadata\":{\"name\":\"s$i\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}}" \
		"$U/api/v1/namespaces/w/services" >"$D/svc$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
C "$U/api/v1/namespaces/w/services" >"$D/svcs"
[[ $(jq '.items | length' "$D/svcs") == 30 ]] || fail "services: $(jq -c '.items[].metadata.name' "$D/svcs")"
[[ $(jq -r '.items[].spec.clusterIP' "$D/svcs" | sort -u | wc -l) == 30 ]] ||
	fail "a ClusterIP was given twice: $(jq -r '.items[].spec.clusterIP' "$D/svcs" | sort | uniq -d)"
[[ $(jq -r '.items[].spec.ports[].nodePort' "$D/svcs" | sort -u | wc -l) == 30 ]] ||
	fail "a NodePort was given twice: $(jq -r '.items[].spec.ports[].nodePort' "$D/svcs" | sort | uniq -d)"

srv_stop
echo "server_watch: ok"

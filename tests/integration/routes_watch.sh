#!/bin/bash
# k8c routes --apply and --watch (cli/routes.c, docs/deploy.md "Pod traffic between machines")
# in a network namespace of the test's own, against a k8c-server with Node objects: the routes to
# the other nodes' podCIDRs via their InternalIPs are made (proto 140); --watch follows a changed
# address, a deleted Node and a new one, and, restarted, removes the route of a Node deleted while
# it was down; routes of other protocols are never touched; SIGTERM stops it with exit status 0.
# The whole test runs inside that namespace (the server on its own loopback).
set -e
if [[ -z ${K8C_RTW_NS:-} ]]; then
	[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (ip route in a network namespace)"; exit 77; }
	NS=k8c-rtw-$$
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	rc=0
	K8C_RTW_NS=$NS ip netns exec "$NS" "$0" "$@" || rc=$?
	exit $rc
fi
. "$(dirname "$0")/server_lib.sh"
W=
cleanup() {
	set +e
	if [[ -n $W ]]; then
		kill "$W" 2>/dev/null
		wait "$W" 2>/dev/null
	fi
	srv_cleanup
}
srv_setup routes-watch
trap cleanup EXIT
srv_instance "$D"
srv_start 31

# the machine: one link with 192.0.2.1/24, so that every gateway below is on-link
ip link add rtw0 type veth peer name rtw1
ip addr add 192.0.2.1/24 dev rtw0
ip link set rtw0 up
ip link set rtw1 up
ip route add 10.98.5.0/24 via 192.0.2.50 proto static # not ours: left alone

node() { # NAME PODCIDR INTERNALIP
	echo "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"podCIDR\":\"$2\"}}" |
		k apply -f - >/dev/null
	k patch node "$1" --subresource=status --type=merge \
		-p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$3\"}]}}" >/dev/null
}
node me 10.98.0.0/24 192.0.2.1
node n1 10.98.1.0/24 192.0.2.11
node n2 10.98.2.0/24 192.0.2.12
routes() { ip route show proto 140 | sed 's/ *$//' | sort | tr '\n' ';'; }
want_routes() { # WHAT ROUTES: polls until `ip route show proto 140` is ROUTES (30 s)
	for _ in $(seq 300); do [[ $(routes) == "$2" ]] && break; sleep 0.1; done
	[[ $(routes) == "$2" ]] || fail "$1: routes are '$(routes)', want '$2' (log: $(cat "$D/routes.log" 2>/dev/null))"
	echo "  ok: $1" >&2
}
rt() { "$BIN/k8c" routes --kubeconfig "$KUBECONFIG" --node me "$@"; }

out=$(rt)
[[ $out == *"ip route replace 10.98.1.0/24 via 192.0.2.11 proto 140"* &&
	$out == *"ip route replace 10.98.2.0/24 via 192.0.2.12 proto 140"* && $out != *10.98.0.0* ]] ||
	fail "k8c routes printed: $out"
echo "  ok: the commands printed, this node's own podCIDR left out" >&2
rt --apply 2>/dev/null || fail "k8c routes --apply"
want_routes "--apply made both routes" "10.98.1.0/24 via 192.0.2.11 dev rtw0;10.98.2.0/24 via 192.0.2.12 dev rtw0;"

"$BIN/k8c" routes --kubeconfig "$KUBECONFIG" --node me --watch 2>"$D/routes.log" &
W=$!
k patch node n1 --subresource=status --type=merge \
	-p '{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.21"}]}}' >/dev/null
want_routes "--watch: a changed InternalIP moves the route" "10.98.1.0/24 via 192.0.2.21 dev rtw0;10.98.2.0/24 via 192.0.2.12 dev rtw0;"
k delete node n2 >/dev/null
want_routes "--watch: a deleted Node's route is removed" "10.98.1.0/24 via 192.0.2.21 dev rtw0;"
node n3 10.98.3.0/24 192.0.2.13
want_routes "--watch: a new Node gets its route" "10.98.1.0/24 via 192.0.2.21 dev rtw0;10.98.3.0/24 via 192.0.2.13 dev rtw0;"
kill -TERM "$W"
wait "$W" || fail "k8c routes --watch exited $? on SIGTERM: $(cat "$D/routes.log")"
W=
[[ $(routes) == "10.98.1.0/24 via 192.0.2.21 dev rtw0;10.98.3.0/24 via 192.0.2.13 dev rtw0;" ]] ||
	fail "routes after SIGTERM: $(routes)"
echo "  ok: SIGTERM: exit 0, routes kept" >&2

k delete node n3 >/dev/null # while no watcher runs
"$BIN/k8c" routes --kubeconfig "$KUBECONFIG" --node me --watch 2>"$D/routes.log" &
W=$!
want_routes "--watch restarted: the route of a Node deleted meanwhile is removed" "10.98.1.0/24 via 192.0.2.21 dev rtw0;"
grep -q 'msg="route removed" dst=10.98.3.0/24 via=192.0.2.13' "$D/routes.log" || fail "no log line for the removed route: $(cat "$D/routes.log")"
[[ $(ip route show 10.98.5.0/24) == "10.98.5.0/24 via 192.0.2.50 dev rtw0 proto static"* ]] ||
	fail "a route of another protocol was touched: $(ip route show)"
echo "  ok: a route of another protocol left alone" >&2
kill -TERM "$W"
wait "$W" || fail "k8c routes --watch exited $? on SIGTERM"
W=
srv_stop
echo PASS

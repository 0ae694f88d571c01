#!/bin/bash
# The controller runtime (lib/controller.c) and k8c-controller-manager against a real
# k8c-server: init retried after a failure, queue dedup, re-enqueue during a sync, per-key back-off, enqueue_after, no sync
# before the informers synced, Event count aggregation, the Events' source and the bounded
# asynchronous event queue (k8c_ctrl_tool's probe controller); then
# leader election between two managers: one leads, a stop hands over, a stolen lease makes the
# leader exit.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup ctrlrt
srv_instance "$D"
srv_start 31
CM1= CM2=
cleanup_cms() {
	for p in $CM1 $CM2; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	srv_cleanup
}
trap cleanup_cms EXIT

k create ns probe >/dev/null
"$BIN/k8c_ctrl_tool" "$KUBECONFIG" probe >"$D/probe.out" 2>"$D/probe.log" ||
	fail "probe controller: $(cat "$D/probe.out" "$D/probe.log")"
out=$(cat "$D/probe.out")
echo "$out"
# the first init failed and was retried; what it had queued was dropped with it
grep -q 'controller init failed, retrying.*probe init fails once' "$D/probe.log" || fail "init not retried"
! grep -q '^sync from-failed-init ' <<<"$out" || fail "a key of the failed init was synced"
# every sync ran after the informers synced
[[ $(grep -c ' 0$' <<<"$out" || true) == 0 ]] || fail "a sync before the informers synced"
# six enqueues of "dup" before the first sync: one sync, plus one for the enqueue made inside it
[[ $(grep -c '^sync dup ' <<<"$out") == 2 ]] || fail "dup synced other than twice"
# "fail": four failures then success, each retry at least 5, 10, 20, 40 ms after the previous
mapfile -t ft < <(awk '$2 == "fail" {print $3}' <<<"$out")
[[ ${#ft[@]} == 5 ]] || fail "fail synced ${#ft[@]} times, not 5"
[[ $(awk '$2 == "fail" {print $4}' <<<"$out" | tr '\n' ' ') == "fail fail fail fail ok " ]] ||
	fail "fail results"
d=5
for i in 1 2 3 4; do
	(( ft[i] - ft[i-1] >= d * 1000 )) || fail "retry $i came $((ft[i] - ft[i-1])) us after, back-off $d ms"
	d=$((d * 2))
done
# enqueue_after: "later" (10 min, then 100 ms) and "keep" (200 ms, then 10 min) each synced once,
# not before their delay
[[ $(grep -c '^sync later ' <<<"$out") == 1 && $(grep -c '^sync keep ' <<<"$out") == 1 ]] ||
	fail "delayed keys"
(( $(awk '$2 == "later" {print $3}' <<<"$out") >= 100000 )) || fail "later synced early"
(( $(awk '$2 == "keep" {print $3}' <<<"$out") >= 200000 )) || fail "keep synced early"
grep -q 'retry_ms=40 ' "$D/probe.log" || fail "back-off not logged"
# four identical Events about Namespace probe: one Event, count 4 (cluster-scoped: in default)
ev=$(k -n default get events -o json | jq -c '[.items[] | select(.reason == "ProbeSynced")]')
[[ $(jq length <<<"$ev") == 1 ]] || fail "events: $ev"
[[ $(jq -r '.[0].count' <<<"$ev") == 4 ]] || fail "event count: $ev"
# from the controller's own component (its def's), in source and reportingComponent
[[ $(jq -r '.[0].source.component + " " + .[0].reportingComponent' <<<"$ev") == "probe-controller probe-controller" ]] ||
	fail "source: $ev"
[[ $(jq -r '.[0].involvedObject.kind + "/" + .[0].involvedObject.name' <<<"$ev") == Namespace/probe ]] ||
	fail "involvedObject: $ev"
k -n default describe ns probe >/dev/null
# Events are asynchronous through a bounded queue (1000 per controller): 1200 recorded while the broadcaster was
# held; what did not fit was dropped and counted, the rest written, nothing failed
st=$(grep '^events ' <<<"$out") || fail "no event counters"
dropped=$(sed -n 's/.* dropped=\([0-9]*\).*/\1/p' <<<"$st")
(( dropped >= 200 )) || fail "flood: $st"
[[ $st == *" failed=0 "* ]] || fail "events failed: $st"
nflood=$(k -n default get events -o json | jq '[.items[] | select(.reason == "ProbeFlood")] | length')
(( nflood == 1200 - dropped )) || fail "flood: $nflood Events written, counters $st"

# ---- leader election: two managers, one server ----
LE=(--controllers=serviceaccount --leader-elect-lease-duration=3s --leader-elect-renew-deadline=2s
	--leader-elect-retry-period=1s --leader-elect-resource-name=ctrl-rt-test)
"$BIN/k8c-controller-manager" --kubeconfig "$KUBECONFIG" "${LE[@]}" 2>"$D/cm1.log" &
CM1=$!
for _ in $(seq 100); do grep -q 'msg=leading' "$D/cm1.log" && break; sleep 0.1; done
grep -q 'msg=leading' "$D/cm1.log" || fail "manager 1 does not lead: $(cat "$D/cm1.log")"
"$BIN/k8c-controller-manager" --kubeconfig "$KUBECONFIG" "${LE[@]}" 2>"$D/cm2.log" &
CM2=$!
for _ in $(seq 100); do grep -q 'waiting for the leader lease' "$D/cm2.log" && break; sleep 0.1; done
grep -q 'waiting for the leader lease' "$D/cm2.log" || fail "manager 2 not waiting: $(cat "$D/cm2.log")"
id1=$(sed -n 's/.*msg=leading .*identity=\([^ ]*\).*/\1/p' "$D/cm1.log")
[[ $(k -n kube-system get lease ctrl-rt-test -o jsonpath='{.spec.holderIdentity}') == "$id1" ]] ||
	fail "lease holder is not manager 1"
# the leader acts: a new namespace gets its default ServiceAccount
k create ns le1 >/dev/null
for _ in $(seq 100); do k -n le1 get sa default >/dev/null 2>&1 && break; sleep 0.1; done
k -n le1 get sa default >/dev/null || fail "no default ServiceAccount in le1"
# still only one leader after a few renewals
sleep 2
! grep -q 'msg=leading' "$D/cm2.log" || fail "two leaders"
# stop the leader: it releases the lease, manager 2 takes over and acts
kill -TERM "$CM1"
wait "$CM1" || fail "manager 1 exit status $?"
CM1=
grep -q 'leader lease released' "$D/cm1.log" || fail "lease not released: $(cat "$D/cm1.log")"
for _ in $(seq 100); do grep -q 'msg=leading' "$D/cm2.log" && break; sleep 0.1; done
grep -q 'msg=leading' "$D/cm2.log" || fail "manager 2 did not take over: $(cat "$D/cm2.log")"
id2=$(sed -n 's/.*msg=leading .*identity=\([^ ]*\).*/\1/p' "$D/cm2.log")
[[ $id2 != "$id1" ]] || fail "same identity"
[[ $(k -n kube-system get lease ctrl-rt-test -o jsonpath='{.spec.holderIdentity}') == "$id2" ]] ||
	fail "lease holder is not manager 2"
[[ $(k -n kube-system get lease ctrl-rt-test -o jsonpath='{.spec.leaseTransitions}') -ge 1 ]] ||
	fail "leaseTransitions not counted"
k -n le1 delete sa default >/dev/null
for _ in $(seq 100); do k -n le1 get sa default >/dev/null 2>&1 && break; sleep 0.1; done
k -n le1 get sa default >/dev/null || fail "default ServiceAccount not recreated by manager 2"
# someone else takes the lease: manager 2 loses it and exits 1
k -n kube-system patch lease ctrl-rt-test --type=merge \
	-p '{"spec":{"holderIdentity":"intruder","leaseDurationSeconds":3600}}' >/dev/null
rc=0
wait "$CM2" || rc=$?
CM2=
[[ $rc == 1 ]] || fail "manager 2 exit status $rc after losing its lease"
grep -q 'leader lease lost' "$D/cm2.log" || fail "loss not logged"
# bad flags
! "$BIN/k8c-controller-manager" --controllers=nosuch 2>"$D/err" || fail "unknown controller accepted"
grep -q '"nosuch" is not a known controller' "$D/err" || fail "message: $(cat "$D/err")"
! "$BIN/k8c-controller-manager" --leader-elect-retry-period=x 2>"$D/err" || fail "bad duration"
"$BIN/k8c-controller-manager" --help | grep -q -- --node-cidr-mask-size || fail "--help"
srv_stop
echo PASS

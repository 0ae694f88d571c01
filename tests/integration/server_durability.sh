#!/bin/bash
# k8c-server keeps every acknowledged write: (a) creates answered 201, then SIGTERM and a restart:
# each object is there with the resourceVersion it was acknowledged with; (b) several concurrent
# writers (curl loops) record each create answered 201 while the server is killed with SIGKILL
# in the middle of the load: after a restart every recorded object is there with its
# resourceVersion, no two acknowledged creates share a revision, and the revisions go on above
# every revision handed out before the kill (none is reused).
#
#   curl writers ──TLS──► k8c-server 127.0.0.1:$PORT ─ $D/data/state.db
# Usage: server_durability.sh <build>/bin
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup durability
srv_instance "$D"
srv_start 31

NS=$U/api/v1/namespaces/default/configmaps
WRITERS=4
N=200      # creates of part (a)
PER=100000 # creates per writer in part (b): far more than can happen before the kill

# create NAME: one create; on 201 print "NAME RV".
create() {
	local body code
	body=$(J -w '\n%{http_code}' -X POST -d "{\"metadata\":{\"name\":\"$1\"},\"data\":{\"k\":\"$1\"}}" "$NS" 2>/dev/null) || return 0
	code=$(tail -1 <<<"$body")
	[[ $code == 201 ]] || return 0
	echo "$1 $(head -1 <<<"$body" | jq -r .metadata.resourceVersion)"
}

# check FILE: every "NAME RV" line of FILE is stored with that resourceVersion.
check() {
	local bad
	C "$NS?limit=0" | jq -r '.items[] | "\(.metadata.name) \(.metadata.resourceVersion)"' >"$D/stored"
	bad=$(awk 'NR == FNR { s[$1] = $2; next }
		!($1 in s) { print $1 " acknowledged with " $2 ", missing after the restart"; next }
		s[$1] != $2 { print $1 " acknowledged with " $2 ", after the restart " s[$1] }' \
		"$D/stored" "$1")
	[[ -z $bad ]] || fail "lost or changed: $(head -5 <<<"$bad")"
}

# (a) SIGTERM after N acknowledged creates.
for i in $(seq $N); do create "a$i"; done >"$D/acked.a"
[[ $(wc -l <"$D/acked.a") == "$N" ]] || fail "part (a): only $(wc -l <"$D/acked.a") of $N creates acknowledged"
srv_stop
srv_start 31
check "$D/acked.a"
echo "(a) $N acknowledged creates kept across SIGTERM and restart"

# (b) concurrent writers, SIGKILL under load.
WPIDS=()
for w in $(seq $WRITERS); do
	(for i in $(seq $PER); do create "b$w-$i"; done >"$D/acked.b$w") &
	WPIDS+=("$!")
done
# kill once the writers have together been acknowledged a few hundred creates
for _ in $(seq 600); do
	(($(cat "$D"/acked.b* | wc -l) >= 400)) && break
	sleep 0.1
done
(($(cat "$D"/acked.b* | wc -l) >= 400)) || fail "part (b): the writers were not acknowledged 400 creates"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=
# the writers now fail to connect: they record nothing more and run out
for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
wait "${WPIDS[@]}" 2>/dev/null || true
cat "$D"/acked.b* | awk 'NF == 2' >"$D/acked.b"
acked=$(wc -l <"$D/acked.b")
max=$(cut -d' ' -f2 "$D/acked.b" | sort -n | tail -1)
[[ $(cut -d' ' -f2 "$D/acked.b" | sort | uniq -d) == "" ]] || fail "two acknowledged creates share a revision"
srv_start 31
check "$D/acked.a"
check "$D/acked.b"
# revisions continue: a new write gets a revision above all acknowledged ones
rv=$(create after | cut -d' ' -f2)
if [[ -z $rv ]] || ((rv <= max)); then
	fail "revision after the restart '$rv' is not above $max"
fi
srv_stop
echo "(b) $acked acknowledged creates of $WRITERS concurrent writers kept across SIGKILL; next revision $rv > $max"
echo "PASS"

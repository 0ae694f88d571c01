# shellcheck shell=bash
# The set-up of the e2e scripts, sourced after `set -e` with the script's arguments: BIN (from
# $1, <build>/bin) and IMAGES; the checks that skip (exit 77) when root, a tool (E2E_TOOLS), a
# binary or the netserver image is missing; a cluster NAME (E2E_PREFIX-PID) in a state dir S of
# its own (C=$S/$NAME); assertions that count failures; on every exit path the daemons' last log
# lines when something failed, `k8c down` while UPPED is set, and the state dir removed.
BIN=$(realpath "${1:?usage: $0 <build>/bin}")
IMAGES=$(realpath -m "$BIN/../images")
FAILS=0

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
[[ $(id -u) == 0 ]] || skip "needs root"
for t in kubectl jq runc nsenter ip curl nft ${E2E_TOOLS:-}; do
	command -v "$t" >/dev/null || skip "needs $t"
done
for b in k8c k8c-server k8c-agent k8c-shim k8c-proxy k8c-bridge k8c-host-local; do
	[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
done
[[ -f $IMAGES/netserver.tar ]] || skip "$IMAGES/netserver.tar not built (target images)"

NAME=${E2E_PREFIX:-e2e}-$$
S=$(mktemp -d "/tmp/k8c-${E2E_PREFIX:-e2e}.XXXXXX")
C=$S/$NAME
UPPED=

log() { echo "== $*" >&2; }
pass() { echo "  ok: $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	return 0
}
assert_eq() { if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected [$2] got [$3]"; fi; }
assert_match() { if [[ "$3" =~ $2 ]]; then pass "$1"; else fail "$1: expected to match /$2/ got [$3]"; fi; }
die() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
	exit 1
}

e2e_cleanup() {
	local rc=$?
	set +e
	if ((rc != 0 || FAILS > 0)); then
		for f in "$C"/logs/*.log; do
			[[ -f $f ]] || continue
			echo "--- $f:" >&2
			tail -15 "$f" >&2
		done
	fi
	[[ -n $UPPED && -f $C/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2
	rm -rf "$S"
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}
trap e2e_cleanup EXIT

k() { kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" "$@"; }
up() { "$BIN/k8c" up --name "$NAME" --state-dir "$S" "$@"; }

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 n=$(($2 * 5))
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "$what: not within $((n / 5)) s"
	return 1
}

# The host's routes but those of k8c clusters (other clusters may come and go meanwhile; the
# test's own are checked by name).
other_routes() { ip route show | grep -v -e ' dev k8cb' -e '^unreachable 10\.2[4-9][0-9]\.0\.0/16' | sort; }

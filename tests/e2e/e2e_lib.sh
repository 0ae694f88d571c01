# shellcheck shell=bash
# Shared set-up of the e2e tests (a `k8c up` cluster). A test starts with
#
#   set -e
#   . "$(dirname "$0")/e2e_lib.sh"    # its first argument: <build>/bin
#   e2e_need netserver busybox        # root, tools, binaries, these images (else exit 77)
#   e2e_up --nodes 2                  # k8c up of the cluster $NAME in the state dir $S
#
# The cluster is $NAME (e2e-<test>-PID) with its dir $C = $S/$NAME; k runs kubectl on it. The EXIT
# trap prints the daemons' last log lines after a failure, runs `k8c down` if the cluster is up
# ($UPPED), deletes the namespaces of $E2E_NETNS, removes $S and turns failed assertions into a
# failed exit.

BIN=$(realpath "${1:?usage: $0 <build>/bin ...}")
IMAGES=$(realpath -m "$BIN/../images")
FAILS=0
NAME=e2e-$(basename "$0" .sh | tr '_' '-')-$$
S=
C=
UPPED=
E2E_NETNS=() # namespaces a test made, deleted on exit

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
# e2e_need IMAGE...: root, the tools, our binaries, the images of build/images
e2e_need() {
	[[ $(id -u) == 0 ]] || skip "needs root"
	for t in kubectl jq runc nsenter ip curl nft setsid; do
		command -v "$t" >/dev/null || skip "needs $t"
	done
	for b in k8c k8c-server k8c-agent k8c-shim k8c-proxy k8c-bridge k8c-host-local; do
		[[ -x $BIN/$b ]] || skip "$BIN/$b not built"
	done
	for i in "$@"; do
		[[ -f $IMAGES/$i.tar ]] || skip "$IMAGES/$i.tar not built (target images)"
	done
	S=$(mktemp -d /tmp/k8c-e2e.XXXXXX)
	C=$S/$NAME
	trap e2e_cleanup EXIT
}

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
	for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[[ -n $UPPED && -f $C/state.json ]] && "$BIN/k8c" down --name "$NAME" --state-dir "$S" >&2
	rm -rf "$S"
	if ((FAILS > 0 && (rc == 0 || rc == 77))); then rc=1; fi
	if ((rc == 0)); then echo "PASS" >&2; elif ((rc != 77)); then echo "FAIL ($FAILS assertion(s), rc=$rc)" >&2; fi
	exit "$rc"
}

k() { kubectl --kubeconfig "$C/kubeconfig" --cache-dir "$S/kcache" "$@"; }
up() { "$BIN/k8c" up --name "$NAME" --state-dir "$S" "$@"; }
e2e_up() {
	log "k8c up $*"
	UPPED=1
	up "$@" >&2 || die "k8c up failed"
}

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

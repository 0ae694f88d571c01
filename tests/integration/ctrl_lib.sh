# shellcheck shell=bash
# Helpers of the controller tests (ctrl_*.sh), sourced after server_lib.sh:
#   wait_for DESC CMD...   poll CMD every 0.1 s (up to 30 s) until it succeeds, else fail DESC
#   mknode NAME            a fake Node (no agent) labelled k8c-test=ctrl
#   now_micro, now_s       the time as a MicroTime (Lease renewTime) and as a metav1.Time

wait_for() {
	local desc=$1
	shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $desc"
}

mknode() {
	k create -f - >/dev/null <<Y
apiVersion: v1
kind: Node
metadata: {name: $1, labels: {k8c-test: ctrl}}
Y
}

now_micro() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
now_s() { date -u +%Y-%m-%dT%H:%M:%SZ; }

#!/bin/bash
# The controllers of ctrlcore inside k8c-server (its default): serviceaccount and tokens, node
# IPAM, node lifecycle, garbage collector. Fake nodes: Node objects with no agent, whose Lease the
# test renews or not. Through kubectl and curl; docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
srv_setup ctrlcore
srv_instance "$D"
export K8C_CONTROLLERS='*'
FLAGS=(--leader-elect-retry-period=1s --cluster-cidr=10.250.0.0/22 --node-cidr-mask-size=24
	--node-monitor-grace-period=2s)
srv_start 31 "${FLAGS[@]}"

# wait_for DESC CMD...: poll CMD (up to 30 s) until it succeeds
wait_for() {
	local desc=$1
	shift
	for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	fail "timed out waiting for: $desc"
}

# ---- serviceaccount: a default ServiceAccount in every namespace, recreated when deleted ----
for ns in default kube-system kube-public kube-node-lease; do
	wait_for "default SA in $ns" k -n "$ns" get sa default
done
k create ns sa1 >/dev/null
wait_for "default SA in sa1" k -n sa1 get sa default
uid=$(k -n sa1 get sa default -o jsonpath='{.metadata.uid}')
k -n sa1 delete sa default >/dev/null
sa_recreated() { [[ $(k -n sa1 get sa default -o jsonpath='{.metadata.uid}') != "$uid" ]]; }
wait_for "default SA recreated" sa_recreated

# ---- service-account tokens ----
[[ -s $D/data/pki/sa.key && -s $D/data/pki/sa.pub ]] || fail "no sa.key/sa.pub"
[[ $(stat -c %a "$D/data/pki/sa.key") == 600 ]] || fail "sa.key mode"
B() { curl -s --cacert "$D/data/pki/ca.crt" -H "Authorization: Bearer $1" "${@:2}"; }
code() { B "$1" -o /dev/null -w '%{http_code}' "${@:2}"; }
jwt_claims() { cut -d. -f2 <<<"$1" | tr '_-' '/+' | { b=$(cat); while (( ${#b} % 4 )); do b+='='; done; base64 -d <<<"$b"; }; }
T=$(k -n sa1 create token default) || fail "kubectl create token"
c=$(jwt_claims "$T")
[[ $(jq -r .sub <<<"$c") == system:serviceaccount:sa1:default ]] || fail "sub: $c"
[[ $(jq -r .iss <<<"$c") == https://kubernetes.default.svc.cluster.local ]] || fail "iss: $c"
[[ $(jq -r '.["kubernetes.io"].serviceaccount.uid' <<<"$c") == $(k -n sa1 get sa default -o jsonpath='{.metadata.uid}') ]] ||
	fail "uid claim: $c"
(( $(jq -r '.exp - .iat' <<<"$c") == 3600 )) || fail "default expiry: $c"
[[ $(B "$T" "$U/api/v1/namespaces/sa1/serviceaccounts" | jq -r .kind) == ServiceAccountList ]] ||
	fail "GET with the token"
# a signature with one byte changed in the middle, a token signed by another key, garbage: 401
sig=${T##*.}
mid=$(( ${#sig} / 2 ))
ch=${sig:mid:1}
[[ $ch == A ]] && nc=B || nc=A
[[ $(code "${T%.*}.${sig:0:mid}$nc${sig:mid+1}" "$U/api/v1/namespaces") == 401 ]] || fail "bad signature accepted"
[[ $(code "not.a.jwt" "$U/api/v1/namespaces") == 401 ]] || fail "garbage accepted"
openssl genrsa -out "$D/other.key" 2048 2>/dev/null
hdr=$(cut -d. -f1 <<<"$T")
forged_sig=$(printf '%s.%s' "$hdr" "$(cut -d. -f2 <<<"$T")" | openssl dgst -sha256 -sign "$D/other.key" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
[[ $(code "$hdr.$(cut -d. -f2 <<<"$T").$forged_sig" "$U/api/v1/namespaces") == 401 ]] || fail "foreign key accepted"
# the same forging with the right key is accepted (the check above can fail for the right reason)
good_sig=$(printf '%s.%s' "$hdr" "$(cut -d. -f2 <<<"$T")" | openssl dgst -sha256 -sign "$D/data/pki/sa.key" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
[[ $(code "$hdr.$(cut -d. -f2 <<<"$T").$good_sig" "$U/api/v1/namespaces") == 200 ]] || fail "re-signed token refused"
# TokenRequest through the API: bound to a pod, other audiences, validation
k -n sa1 run tokpod --image=busybox --restart=Never >/dev/null
puid=$(k -n sa1 get pod tokpod -o jsonpath='{.metadata.uid}')
tr=$(J -X POST -d "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{\"expirationSeconds\":600,\"boundObjectRef\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"name\":\"tokpod\",\"uid\":\"$puid\"}}}" \
	"$U/api/v1/namespaces/sa1/serviceaccounts/default/token")
[[ $(jq -r .kind <<<"$tr") == TokenRequest && $(jq -r .spec.expirationSeconds <<<"$tr") == 600 ]] ||
	fail "TokenRequest answer: $tr"
PT=$(jq -r .status.token <<<"$tr")
[[ $(jwt_claims "$PT" | jq -r '.["kubernetes.io"].pod.name') == tokpod ]] || fail "pod claim"
[[ $(code "$PT" "$U/api/v1/namespaces/sa1/pods") == 200 ]] || fail "pod-bound token refused"
[[ $(J -X POST -d '{"spec":{"expirationSeconds":60}}' -o /dev/null -w '%{http_code}' \
	"$U/api/v1/namespaces/sa1/serviceaccounts/default/token") == 422 ]] || fail "60 s expiry accepted"
[[ $(J -X POST -d '{"spec":{}}' -o /dev/null -w '%{http_code}' \
	"$U/api/v1/namespaces/sa1/serviceaccounts/nosuch/token") == 404 ]] || fail "token of a missing SA"
[[ $(J -X POST -d '{"spec":{"boundObjectRef":{"kind":"Pod","name":"tokpod","uid":"wrong"}}}' -o /dev/null -w '%{http_code}' \
	"$U/api/v1/namespaces/sa1/serviceaccounts/default/token") == 409 ]] || fail "wrong pod uid accepted"
AT=$(J -X POST -d '{"spec":{"audiences":["vault"]}}' "$U/api/v1/namespaces/sa1/serviceaccounts/default/token" | jq -r .status.token)
[[ $(code "$AT" "$U/api/v1/namespaces") == 401 ]] || fail "a token for another audience accepted"
# the pod goes: its bound token is refused
k -n sa1 delete pod tokpod --grace-period=0 --force >/dev/null 2>&1
pod_gone() { ! k -n sa1 get pod tokpod; }
wait_for "pod tokpod deleted" pod_gone
[[ $(code "$PT" "$U/api/v1/namespaces/sa1/pods") == 401 ]] || fail "token of a deleted pod accepted"
# legacy token Secret: filled by serviceaccount-token
k -n sa1 apply -f - >/dev/null <<'Y'
apiVersion: v1
kind: Secret
metadata: {name: legacy, annotations: {kubernetes.io/service-account.name: default}}
type: kubernetes.io/service-account-token
Y
has_token() { [[ -n $(k -n sa1 get secret legacy -o jsonpath='{.data.token}') ]]; }
wait_for "legacy token filled" has_token
s=$(k -n sa1 get secret legacy -o json)
LT=$(jq -r .data.token <<<"$s" | base64 -d)
[[ $(jq -r '.data.namespace' <<<"$s" | base64 -d) == sa1 ]] || fail "secret namespace"
[[ $(jq -r '.data["ca.crt"]' <<<"$s" | base64 -d) == "$(cat "$D/data/pki/ca.crt")" ]] || fail "secret ca.crt"
[[ $(jq -r '.metadata.annotations["kubernetes.io/service-account.uid"]' <<<"$s") == $(k -n sa1 get sa default -o jsonpath='{.metadata.uid}') ]] ||
	fail "secret uid annotation"
[[ $(code "$LT" "$U/api/v1/namespaces/sa1/secrets") == 200 ]] || fail "legacy token refused"
# the service account goes: its tokens are refused, its token Secret deleted (and it comes back
# with a new uid, which does not revive the old tokens)
k -n sa1 delete sa default >/dev/null
[[ $(code "$T" "$U/api/v1/namespaces") == 401 ]] || fail "token of a deleted SA accepted"
[[ $(code "$LT" "$U/api/v1/namespaces") == 401 ]] || fail "legacy token of a deleted SA accepted"
legacy_gone() { ! k -n sa1 get secret legacy; }
wait_for "token secret of a deleted SA deleted" legacy_gone
wait_for "default SA recreated" k -n sa1 get sa default
[[ $(code "$T" "$U/api/v1/namespaces") == 401 ]] || fail "token of the old SA accepted by the new one"

# ---- nodeipam: podCIDRs from --cluster-cidr 10.250.0.0/22 in /24s (4 of them) ----
mknode() { k create -f - >/dev/null <<Y
apiVersion: v1
kind: Node
metadata: {name: $1, labels: {k8c-test: ctrlcore}}
Y
}
cidr() { k get node "$1" -o jsonpath='{.spec.podCIDR}'; }
has_cidr() { [[ -n $(cidr "$1") ]]; }
for n in ipam1 ipam2 ipam3 ipam4; do mknode $n; done
for n in ipam1 ipam2 ipam3 ipam4; do wait_for "podCIDR of $n" has_cidr $n; done
all=$(k get nodes -l k8c-test=ctrlcore -o json | jq -r '.items[].spec.podCIDR' | sort)
[[ $all == $'10.250.0.0/24\n10.250.1.0/24\n10.250.2.0/24\n10.250.3.0/24' ]] || fail "podCIDRs: $all"
[[ $(k get node ipam2 -o jsonpath='{.spec.podCIDRs[0]}') == "$(cidr ipam2)" ]] || fail "podCIDRs[0]"
# the range is full: a fifth node waits (Event CIDRNotAvailable), and gets the CIDR a deleted
# node frees
mknode ipam5
cidr_event() { k get events -o json | jq -e '.items[] | select(.involvedObject.name == "ipam5" and .reason == "CIDRNotAvailable")'; }
wait_for "CIDRNotAvailable event" cidr_event
[[ -z $(cidr ipam5) ]] || fail "ipam5 got a CIDR from a full range"
freed=$(cidr ipam3)
k delete node ipam3 >/dev/null
wait_for "podCIDR of ipam5" has_cidr ipam5
[[ $(cidr ipam5) == "$freed" ]] || fail "ipam5 got $(cidr ipam5), not the freed $freed"
# a restart re-reads the used CIDRs from the nodes: a new node gets only the one freed since
srv_stop
srv_start 31 "${FLAGS[@]}"
freed=$(cidr ipam1)
k delete node ipam1 >/dev/null
mknode ipam6
wait_for "podCIDR of ipam6" has_cidr ipam6
[[ $(cidr ipam6) == "$freed" ]] || fail "after a restart ipam6 got $(cidr ipam6), not the freed $freed"
dups=$(k get nodes -o json | jq -r '.items[].spec.podCIDR // empty' | sort | uniq -d)
[[ -z $dups ]] || fail "podCIDR given twice: $dups"
k delete node ipam2 ipam4 ipam5 ipam6 >/dev/null

# ---- nodelifecycle (grace period 2 s): Lease not renewed -> Unknown, unreachable taints,
# pods not ready, evicted after their toleration; Ready False -> not-ready taints ----
now_micro() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
now_s() { date -u +%Y-%m-%dT%H:%M:%SZ; }
mklease() {
	J -X POST -d "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"kube-node-lease\"},\"spec\":{\"holderIdentity\":\"$1\",\"leaseDurationSeconds\":40,\"renewTime\":\"$(now_micro)\"}}" \
		"$U/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" >/dev/null
}
renew() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' -d "{\"spec\":{\"renewTime\":\"$(now_micro)\"}}" \
		"$U/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$1" >/dev/null
}
# set_ready NODE True|False
set_ready() {
	C -X PATCH -H 'Content-Type: application/merge-patch+json' \
		-d "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"$2\",\"reason\":\"KubeletReady\",\"lastHeartbeatTime\":\"$(now_s)\",\"lastTransitionTime\":\"$(now_s)\"}]}}" \
		"$U/api/v1/nodes/$1/status" >/dev/null
}
taints() { k get node "$1" -o json | jq -r '[.spec.taints[]? | .key + ":" + .effect] | sort | join(",")'; }
ready_status() { k get node "$1" -o json | jq -r '.status.conditions[]? | select(.type == "Ready") | .status + "/" + (.reason // "")'; }
mknode lc1
mklease lc1
set_ready lc1 True
k create ns lc >/dev/null
mkpod() { # NAME NODE TOLERATIONS-JSON
	J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"nodeName\":\"$2\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}],\"tolerations\":$3}}" \
		"$U/api/v1/namespaces/lc/pods" | jq -e .metadata.uid >/dev/null || fail "pod $1 not created"
	C -X PATCH -H 'Content-Type: application/merge-patch+json' \
		-d '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}' \
		"$U/api/v1/namespaces/lc/pods/$1/status" >/dev/null
}
mkpod p-default lc1 null
mkpod p-short lc1 '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":1}]'
mkpod p-forever lc1 '[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute"}]'
# DefaultTolerationSeconds: 300 s for both taints when the pod has none for them
tols=$(k -n lc get pod p-default -o json | jq -c '[.spec.tolerations[] | .key + "/" + .effect + "/" + (.tolerationSeconds|tostring)] | sort')
[[ $tols == '["node.kubernetes.io/not-ready/NoExecute/300","node.kubernetes.io/unreachable/NoExecute/300"]' ]] ||
	fail "default tolerations: $tols"
tols=$(k -n lc get pod p-forever -o json | jq -c '[.spec.tolerations[] | .key + "/" + (.tolerationSeconds|tostring)] | sort')
[[ $tols == '["node.kubernetes.io/not-ready/300","node.kubernetes.io/unreachable/null"]' ]] ||
	fail "p-forever tolerations: $tols"
# the lease is not renewed: Unknown, unreachable taints
is_unknown() { [[ $(ready_status lc1) == Unknown/NodeStatusUnknown ]]; }
wait_for "lc1 Ready=Unknown" is_unknown
unreachable() { [[ $(taints lc1) == node.kubernetes.io/unreachable:NoExecute,node.kubernetes.io/unreachable:NoSchedule ]]; }
wait_for "lc1 unreachable taints" unreachable
[[ $(k get node lc1 -o json | jq -r '.spec.taints[] | select(.effect == "NoExecute") | .timeAdded') != null ]] ||
	fail "NoExecute taint without timeAdded"
pod_not_ready() { [[ $(k -n lc get pod p-forever -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == False ]]; }
wait_for "pods on lc1 not ready" pod_not_ready
# p-short tolerates it for 1 s: evicted; p-default (300 s) and p-forever stay
evicted() { ! k -n lc get pod p-short >/dev/null 2>&1 || [[ -n $(k -n lc get pod p-short -o jsonpath='{.metadata.deletionTimestamp}') ]]; }
wait_for "p-short evicted" evicted
for p in p-default p-forever; do
	[[ -z $(k -n lc get pod $p -o jsonpath='{.metadata.deletionTimestamp}') ]] || fail "$p evicted"
done
k -n lc get events -o json | jq -e '.items[] | select(.reason == "TaintManagerEviction" and .involvedObject.name == "p-short")' >/dev/null ||
	fail "no TaintManagerEviction event"
# a node back (lease renewed, Ready True): taints removed
back() { renew lc1; set_ready lc1 True; [[ -z $(taints lc1) ]]; }
wait_for "lc1 untainted" back
# Ready False while the lease is renewed: not-ready taints
notready() { renew lc1; [[ $(taints lc1) == node.kubernetes.io/not-ready:NoExecute,node.kubernetes.io/not-ready:NoSchedule ]]; }
set_ready lc1 False
wait_for "lc1 not-ready taints" notready
# a node that never had a Lease nor a Ready condition: NodeStatusNeverUpdated
mknode lc2
never() { [[ $(ready_status lc2) == Unknown/NodeStatusNeverUpdated ]]; }
wait_for "lc2 NodeStatusNeverUpdated" never
k delete node lc1 lc2 >/dev/null

# ---- garbagecollector: Background, Orphan, Foreground (blockOwnerDeletion), cycles ----
k create ns gc >/dev/null
uidof() { k -n gc get "$1" "$2" -o jsonpath='{.metadata.uid}'; }
# mkdep KIND NAME OWNER-REFS-JSON [FINALIZERS-JSON]: a ConfigMap or Pod with ownerReferences
mkdep() {
	local meta="{\"name\":\"$2\",\"ownerReferences\":$3${4:+,\"finalizers\":$4}}"
	if [[ $1 == cm ]]; then
		J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":$meta}" "$U/api/v1/namespaces/gc/configmaps"
	else
		J -X POST -d "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":$meta,\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}" "$U/api/v1/namespaces/gc/pods"
	fi | jq -e .metadata.uid >/dev/null || fail "$1 $2 not created"
}
ref() { echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"$1\",\"uid\":\"$(uidof cm "$1")\"${2:+,\"blockOwnerDeletion\":$2}}"; }
gone() { ! k -n gc get "$1" "$2" >/dev/null 2>&1; }
# Background: the owner goes at once, its dependents after it (a ConfigMap and a Pod)
k -n gc create cm bg-owner >/dev/null
mkdep cm bg-dep1 "[$(ref bg-owner)]"
mkdep pod bg-dep2 "[$(ref bg-owner)]"
k -n gc delete cm bg-owner >/dev/null
wait_for "bg-dep1 collected" gone cm bg-dep1
wait_for "bg-dep2 collected" gone pod bg-dep2
# an object whose owner never existed (uid not found) is collected too
mkdep cm dangling '[{"apiVersion":"v1","kind":"ConfigMap","name":"nosuch","uid":"00000000-0000-0000-0000-000000000000"}]'
wait_for "dangling collected" gone cm dangling
# two owners, one goes: the dependent stays, without the reference to the gone one
k -n gc create cm two-a >/dev/null
k -n gc create cm two-b >/dev/null
mkdep cm two-dep "[$(ref two-a), $(ref two-b)]"
k -n gc delete cm two-a >/dev/null
one_ref() { [[ $(k -n gc get cm two-dep -o jsonpath='{.metadata.ownerReferences[*].name}') == two-b ]]; }
wait_for "two-dep keeps only two-b" one_ref
# Orphan: the dependents stay, without their ownerReference; the owner goes
k -n gc create cm or-owner >/dev/null
mkdep cm or-dep1 "[$(ref or-owner)]"
mkdep cm or-dep2 "[$(ref or-owner true)]"
k -n gc delete cm or-owner --cascade=orphan >/dev/null
wait_for "or-owner deleted" gone cm or-owner
for d in or-dep1 or-dep2; do
	[[ -z $(k -n gc get cm $d -o jsonpath='{.metadata.ownerReferences}') ]] || fail "$d keeps its ownerReference"
done
# Foreground: the owner stays (deletionTimestamp, finalizer foregroundDeletion) while a
# dependent with blockOwnerDeletion exists; a held dependent (finalizer of the test) keeps it
k -n gc create cm fg-owner >/dev/null
mkdep cm fg-block "[$(ref fg-owner true)]" '["k8c.test/hold"]'
mkdep cm fg-free "[$(ref fg-owner false)]"
mkdep pod fg-pod "[$(ref fg-owner true)]"
k -n gc delete cm fg-owner --cascade=foreground --wait=false >/dev/null
wait_for "fg-free collected" gone cm fg-free
wait_for "fg-pod collected" gone pod fg-pod
blocking_deleting() { [[ -n $(k -n gc get cm fg-block -o jsonpath='{.metadata.deletionTimestamp}') ]]; }
wait_for "fg-block being deleted" blocking_deleting
o=$(k -n gc get cm fg-owner -o json) || fail "fg-owner gone while a blocking dependent exists"
[[ $(jq -r .metadata.deletionTimestamp <<<"$o") != null ]] || fail "fg-owner not being deleted"
[[ $(jq -c .metadata.finalizers <<<"$o") == '["foregroundDeletion"]' ]] || fail "fg-owner finalizers: $o"
k -n gc patch cm fg-block --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
wait_for "fg-owner deleted after its dependents" gone cm fg-owner
# a circle of blockOwnerDeletion (c1 <- c2 <- c3 <- c1), deleted in the foreground: all go
k -n gc create cm c1 >/dev/null
mkdep cm c2 "[$(ref c1 true)]"
mkdep cm c3 "[$(ref c2 true)]"
k -n gc patch cm c1 --type=merge -p "{\"metadata\":{\"ownerReferences\":[$(ref c3 true)]}}" >/dev/null
k -n gc delete cm c1 --cascade=foreground --wait=false >/dev/null
for c in c1 c2 c3; do wait_for "$c of the circle deleted" gone cm $c; done

srv_stop
echo PASS

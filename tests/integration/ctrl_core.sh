#!/bin/bash
# The serviceaccount, serviceaccount-token and nodeipam controllers inside k8c-server, and
# the server's service-account tokens (TokenRequest, Bearer authentication). Fake nodes: Node
# objects with no agent. Through kubectl and curl; docs/controllers.md.
set -e
. "$(dirname "$0")/server_lib.sh"
. "$(dirname "$0")/ctrl_lib.sh"
srv_setup ctrlcore
srv_instance "$D"
# only the controllers under test: workload controllers or a scheduler would act on its objects
export K8C_CONTROLLERS=serviceaccount,serviceaccount-token,nodeipam
FLAGS=(--leader-elect-retry-period=1s --cluster-cidr=10.250.0.0/22 --node-cidr-mask-size=24)
srv_start 31 "${FLAGS[@]}"

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
cidr() { k get node "$1" -o jsonpath='{.spec.podCIDR}'; }
has_cidr() { [[ -n $(cidr "$1") ]]; }
for n in ipam1 ipam2 ipam3 ipam4; do mknode $n; done
for n in ipam1 ipam2 ipam3 ipam4; do wait_for "podCIDR of $n" has_cidr $n; done
all=$(k get nodes -l k8c-test=ctrl -o json | jq -r '.items[].spec.podCIDR' | sort)
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
# a crash (SIGKILL: the Lease is not released): the restarted server holds the same identity
# and renews its own Lease at once (no takeover: leaseTransitions unchanged)
lease() { k -n kube-system get lease k8c-controller-manager -o jsonpath="{.spec.$1}"; }
id0=$(lease holderIdentity)
tr0=$(lease leaseTransitions)
n0=$(grep -c 'msg=leading' "$LOG")
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
PID=
srv_start 31 "${FLAGS[@]}"
led() { (( $(grep -c 'msg=leading' "$LOG") > n0 )); }
wait_for "leading after the crash" led
[[ $(lease holderIdentity) == "$id0" && $(lease leaseTransitions) == "$tr0" ]] ||
	fail "after a crash: holder $(lease holderIdentity) (was $id0), transitions $(lease leaseTransitions) (was $tr0)"
dups=$(k get nodes -o json | jq -r '.items[].spec.podCIDR // empty' | sort | uniq -d)
[[ -z $dups ]] || fail "podCIDR given twice: $dups"
k delete node ipam2 ipam4 ipam5 ipam6 >/dev/null

srv_stop
echo PASS

#!/bin/bash
# The image store and `k8c image` (docs/agent.md "Images"), as root: layers keep their owners,
# device nodes (whiteouts) and trusted.* xattrs.
#
#   build/images/*.tar --import--> $D/store <--pull-- docker-registry on 127.0.0.1:PORT
#   skopeo: docker-archive made from our OCI archive; pushes to the registry (test set-up only)
#
# Checks: both archive kinds import; layers are shared between images and between imports and
# pulls; bad archives fail with a message naming the archive and the cause and leave the store as
# it was; concurrent imports; rm collects only what no image uses; pulls (tag, digest, manifest
# list, not found with kubelet's wording, htpasswd Basic auth with and without credentials, token
# auth, an imagePullSecret's config.json); concurrent pulls fetch each layer once; netserver works.
# KEEP=1 keeps the work directory (/tmp/k8c-image-test.*) for a look afterwards.
set -euo pipefail
BIN=$(realpath -m "${1:?usage: $0 <build>/bin}")
IMAGES=$(realpath -m "$BIN/../images")
PY=/usr/bin/python3

skip() {
	echo "SKIP: $*"
	exit 77
}
[[ $(id -u) == 0 ]] || skip "needs root"
[[ -x $BIN/k8c ]] || skip "$BIN/k8c not built"
[[ -f $IMAGES/busybox.tar && -f $IMAGES/netserver.tar ]] || skip "$IMAGES not built (target images)"
for t in jq curl skopeo docker-registry; do
	command -v $t >/dev/null || skip "needs $t (scripts/packages.txt)"
done

D=$(mktemp -d /tmp/k8c-image-test.XXXXXX)
PIDS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[[ -n ${KEEP:-} ]] || rm -rf -- "$D"
	((rc == 0)) && echo PASS
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
log() { echo "== $*" >&2; }
S=$D/store
K() { "$BIN/k8c" image --root "$S" "$@"; }
# expect_fail PATTERN CMD...: CMD fails and its stderr contains PATTERN.
expect_fail() {
	local pat=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$* succeeded: $out"
	fi
	grep -qF -- "$pat" <<<"$out" || fail "$*: expected \"$pat\" in: $out"
	echo "   ok: $out" >&2
}
layers() { K inspect "$1" | jq -r '.layers[]'; }
count() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }
# The store's images, layers and work files, to compare before and after a failure. (Blobs a
# failed import verified and stored may stay, unreferenced, until the next rm collects them.)
snapshot() { (cd "$S" && find index.json layers tmp -maxdepth 2 | sort && cat index.json) | sha256sum; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

log "import the OCI archives"
K import "$IMAGES/busybox.tar"
K import "$IMAGES/netserver.tar"
K list
[[ $(K list -q) == $'docker.io/library/busybox:latest\nk8c.io/netserver:latest' ]] || fail "list: $(K list -q)"
bb=$(layers busybox)
[[ $(layers docker.io/library/busybox:latest) == "$bb" ]] || fail "busybox and its full name differ"
mapfile -t ns < <(layers k8c.io/netserver)
((${#ns[@]} == 2)) || fail "netserver has ${#ns[@]} layers"
[[ ${ns[0]} == "$bb" ]] || fail "netserver's base layer is not busybox's: ${ns[0]} vs $bb"
(($(count "$S/layers") == 2)) || fail "$(count "$S/layers") layer directories, want 2"
[[ $(K inspect k8c.io/netserver | jq -c .entrypoint) == '["/netserver"]' ]] || fail "entrypoint"
[[ $(K inspect busybox | jq -r '.imageRefID') == docker.io/library/busybox@sha256:* ]] || fail "imageRefID"
# The unpacked layer is a root filesystem: busybox runs in it.
[[ $(chroot "$bb" /bin/sh -c 'echo $(id -u):$(cat /etc/group | wc -l)') == 0:3 ]] || fail "chroot busybox"
[[ $(stat -c %a "$bb/tmp") == 1777 ]] || fail "/tmp mode $(stat -c %a "$bb/tmp")"
[[ -x ${ns[1]}/netserver ]] || fail "no /netserver in the top layer"
# netserver, run from the unpacked top layer in a network namespace of its own (unshare -n: gone
# with the shell), answers HTTP (hostname and client address, echo, a chosen status), TCP echo,
# discard and source.
out=$(unshare -n sh -c '
	ip link set lo up
	chroot "$1" /netserver --http-port 18080 --echo-port 17 --discard-port 19 --source-port 20 \
		2>/dev/null &
	p=$!
	trap "kill $p" EXIT
	i=0
	until curl -s -o /dev/null http://127.0.0.1:18080/healthz || [ $((i += 1)) -gt 100 ]; do
		sleep 0.1
	done
	curl -s http://127.0.0.1:18080/
	curl -s "http://127.0.0.1:18080/echo?msg=hi%20there"; echo
	curl -s --data-binary posted http://127.0.0.1:18080/echo; echo
	curl -s -o /dev/null -w "%{http_code}\n" http://127.0.0.1:18080/status/503
	printf ping | timeout 5 busybox nc 127.0.0.1 17; echo
	head -c 100000 /dev/zero | timeout 5 busybox nc 127.0.0.1 19 && echo discarded
	timeout 5 busybox nc 127.0.0.1 20 </dev/null | head -c 100000 | wc -c
' sh "${ns[1]}")
want="$(hostname) 127.0.0.1:
hi there
posted
503
ping
discarded
100000"
[[ $(sed -E '1s/:[0-9]+$/:/' <<<"$out") == "$want" ]] || fail "netserver answered: $out"

# Importing again changes nothing.
before=$(snapshot)
K import "$IMAGES/busybox.tar"
[[ $(snapshot) == "$before" ]] || fail "a second import changed the store"

log "whiteouts through overlayfs: a file deleted and a directory made opaque by an upper layer"
MKIMAGE=$(realpath -m "$BIN/../tests/k8c_mkimage")
[[ -x $MKIMAGE ]] || fail "$MKIMAGE not built"
printf '%s\n' 'ref example.com/whiteouts:1' layer 'text /data/a 0644 a' 'text /data/b 0644 b' \
	'text /keep/x 0644 x' layer 'whiteout /data/a' 'dir /keep 0755' 'opaque /keep' \
	'text /keep/y 0644 y' >"$D/wh.spec"
ASAN_OPTIONS=detect_leaks=0 "$MKIMAGE" "$D/wh.spec" "$D/wh.tar" >/dev/null # a one-shot tool
K import "$D/wh.tar"
mapfile -t wl < <(layers example.com/whiteouts:1)
[[ $(stat -c '%F %t:%T' "${wl[1]}/data/a") == "character special file 0:0" ]] ||
	fail "whiteout: $(stat -c '%F %t:%T' "${wl[1]}/data/a")"
# A read-only overlay of the two layers (upper first), in a mount namespace of its own.
mkdir "$D/mnt"
seen=$(unshare -m sh -c "mount -t overlay overlay -o 'lowerdir=${wl[1]}:${wl[0]}' '$D/mnt' &&
	cd '$D/mnt' && find . -type f | sort | tr '\n' ' '")
[[ $seen == "./data/b ./keep/y " ]] || fail "overlay of the layers shows: $seen"
K rm example.com/whiteouts:1

log "docker-archive (docker save format, made by skopeo)"
skopeo --insecure-policy copy -q "oci-archive:$IMAGES/netserver.tar" \
	"docker-archive:$D/ns-docker.tar:k8c.io/netserver:docker"
K import "$D/ns-docker.tar"
[[ $(layers k8c.io/netserver:docker) == "$(layers k8c.io/netserver)" ]] || fail "docker-archive layers not shared"
K import "$D/ns-docker.tar" --ref example.com/team/ns:v1
[[ $(layers example.com/team/ns:v1) == "$(layers k8c.io/netserver)" ]] || fail "--ref import"
(($(count "$S/layers") == 2)) || fail "layers not shared across archive kinds"

log "bad archives: clear errors, nothing half-written"
before=$(snapshot)
expect_fail "No such file" K import "$D/missing.tar"
head -c 100000 /dev/urandom >"$D/random.tar"
expect_fail "archive $D/random.tar" K import "$D/random.tar"
head -c 600000 "$IMAGES/netserver.tar" >"$D/truncated.tar"
expect_fail "archive $D/truncated.tar" K import "$D/truncated.tar" --ref example.com/trunc:1
# A corrupt layer blob (one byte changed, name kept): netserver's own layer, which the store
# does not have (an import skips blobs it has, as containerd does).
K rm k8c.io/netserver k8c.io/netserver:docker example.com/team/ns:v1
before=$(snapshot)
mkdir "$D/x"
tar -xf "$IMAGES/netserver.tar" -C "$D/x"
m=$(jq -r '.manifests[0].digest' "$D/x/index.json")
top=$(jq -r '.layers[1].digest' "$D/x/blobs/sha256/${m#sha256:}")
printf 'X' | dd of="$D/x/blobs/sha256/${top#sha256:}" bs=1 seek=1000 conv=notrunc status=none
jq '.manifests[0].annotations["io.containerd.image.name"] = "example.com/corrupt:1"' \
	"$D/x/index.json" >"$D/x/i" && mv "$D/x/i" "$D/x/index.json"
tar -cf "$D/corrupt.tar" -C "$D/x" .
expect_fail "corrupt" K import "$D/corrupt.tar"
# An image without a name, and an archive that is neither kind.
rm -rf "$D/x" && mkdir "$D/x"
tar -xf "$IMAGES/busybox.tar" -C "$D/x"
jq 'del(.manifests[0].annotations)' "$D/x/index.json" >"$D/x/i" && mv "$D/x/i" "$D/x/index.json"
tar -cf "$D/noname.tar" -C "$D/x" .
expect_fail "has no name; give a reference" K import "$D/noname.tar"
rm "$D/x/index.json"
tar -cf "$D/neither.tar" -C "$D/x" .
expect_fail "neither an OCI image layout" K import "$D/neither.tar"
[[ $(snapshot) == "$before" ]] || fail "a failed import changed the store"
K import "$D/noname.tar" --ref example.com/named:1
K rm example.com/named:1
[[ $(snapshot) == "$before" ]] || fail "import + rm of an image already stored changed the store"
K import "$IMAGES/netserver.tar"
K import "$D/ns-docker.tar"
K import "$D/ns-docker.tar" --ref example.com/team/ns:v1
expect_fail "invalid reference format" K import "$IMAGES/busybox.tar" --ref 'Bad/Name'
expect_fail "not found in the store" K inspect example.com/nothere:1

log "rm collects only what no image uses"
K rm busybox
[[ -d $bb ]] || fail "rm busybox deleted the layer netserver uses"
expect_fail "not found in the store" K inspect busybox
K rm k8c.io/netserver k8c.io/netserver:docker example.com/team/ns:v1
(($(count "$S/layers") == 0 && $(count "$S/blobs/sha256") == 0)) ||
	fail "left after removing every image: $(ls "$S/layers" "$S/blobs/sha256")"
expect_fail "not found in the store" K rm busybox

log "concurrent imports into one store"
S=$D/store2
pids=()
for i in 1 2 3; do
	K import "$IMAGES/netserver.tar" & pids+=($!)
	K import "$IMAGES/busybox.tar" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent import failed"; done
(($(count "$S/layers") == 2 && $(count "$S/tmp") == 0)) || fail "after concurrent imports: $(ls "$S/layers" "$S/tmp")"
[[ $(K list -q | wc -l) == 2 ]] || fail "concurrent imports: $(K list -q)"

# registry NAME [CONFIG-LINES]: start docker-registry on a free loopback port; REG=127.0.0.1:PORT.
registry() {
	local dir=$D/$1 port i
	port=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/config.yml" <<-EOF
		version: 0.1
		log:
		  level: info
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $dir/data
		http:
		  addr: 127.0.0.1:$port
		$2
	EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	PIDS+=($!)
	REG=127.0.0.1:$port
	for ((i = 0; i < 100; i++)); do
		case $(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/") in
		200 | 401) return 0 ;;
		esac
		sleep 0.1
	done
	cat "$dir/log" >&2
	fail "docker-registry did not start"
}

log "pull from docker-registry on loopback (anonymous)"
S=$D/store3
registry open ""
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci-archive:$IMAGES/busybox.tar" \
	"docker://$REG/library/busybox:1.0"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci-archive:$IMAGES/netserver.tar" \
	"docker://$REG/library/busybox:netserver"
K import "$IMAGES/busybox.tar"
out=$(K pull "$REG/library/busybox:1.0")
echo "   $out" >&2
[[ $(layers "$REG/library/busybox:1.0") == "$(layers busybox)" ]] || fail "pulled layer not shared with the imported one"
chroot "$(layers "$REG/library/busybox:1.0")" /bin/true || fail "pulled busybox does not run"
digest=${out##*@}
K pull "$REG/library/busybox@$digest"
[[ $(K inspect "$REG/library/busybox@$digest" | jq -r .id) == $(K inspect "$REG/library/busybox:1.0" | jq -r .id) ]] ||
	fail "pull by digest"
expect_fail "failed to pull and unpack image \"$REG/library/busybox:nope\": failed to resolve reference \"$REG/library/busybox:nope\": $REG/library/busybox:nope: not found" \
	K pull "$REG/library/busybox:nope"
expect_fail "$REG/library/nothere:latest: not found" K pull "$REG/library/nothere"
expect_fail "not found" K pull "$REG/library/busybox@sha256:$(printf x | sha256sum | cut -d' ' -f1)"
dead=$(free_port)
expect_fail "failed to do request" K pull "127.0.0.1:$dead/library/busybox:1.0"

log "concurrent pulls of one image fetch each layer once"
S=$D/store3b
pids=()
for i in 1 2 3 4; do
	K pull "$REG/library/busybox:netserver" >/dev/null & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent pull failed"; done
(($(count "$S/layers") == 2 && $(count "$S/tmp") == 0)) || fail "after concurrent pulls: $(ls "$S/layers" "$S/tmp")"
for l in $(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$REG/v2/library/busybox/manifests/netserver" | jq -r '.layers[].digest'); do
	n=$(grep -c "http.request.method=GET http.request.remoteaddr=[^ ]* http.request.uri=\"/v2/library/busybox/blobs/$l\"" "$D/open/log" || true)
	((n == 1)) || fail "layer $l fetched $n times by 4 concurrent pulls"
done
S=$D/store3

log "pull a manifest list: the linux/amd64 entry"
m_bb=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$REG/v2/library/busybox/manifests/1.0")
m_ns=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$REG/v2/library/busybox/manifests/netserver")
mt=$(jq -r .mediaType <<<"$m_bb")
list_mt=application/vnd.oci.image.index.v1+json
[[ $mt == application/vnd.docker.distribution.manifest.v2+json ]] && list_mt=application/vnd.docker.distribution.manifest.list.v2+json
jq -n --arg lmt "$list_mt" --arg mt "$mt" \
	--arg d1 "sha256:$(printf %s "$m_ns" | sha256sum | cut -d' ' -f1)" --argjson s1 "$(printf %s "$m_ns" | wc -c)" \
	--arg d2 "sha256:$(printf %s "$m_bb" | sha256sum | cut -d' ' -f1)" --argjson s2 "$(printf %s "$m_bb" | wc -c)" \
	'{schemaVersion: 2, mediaType: $lmt, manifests: [
	   {mediaType: $mt, digest: $d1, size: $s1, platform: {architecture: "arm64", os: "linux"}},
	   {mediaType: $mt, digest: $d2, size: $s2, platform: {architecture: "amd64", os: "linux"}}]}' >"$D/list.json"
code=$(curl -s -o "$D/put.out" -w '%{http_code}' -X PUT -H "Content-Type: $list_mt" \
	--data-binary "@$D/list.json" "http://$REG/v2/library/busybox/manifests/multi")
[[ $code == 201 ]] || fail "PUT manifest list: $code $(cat "$D/put.out")"
out=$(K pull "$REG/library/busybox:multi")
[[ ${out##*@} == "sha256:$(sha256sum <"$D/list.json" | cut -d' ' -f1)" ]] || fail "imageRefID is not the list's digest: $out"
[[ $(layers "$REG/library/busybox:multi") == "$(layers busybox)" ]] || fail "manifest list: not the amd64 image"
jq '.manifests |= map(select(.platform.architecture != "amd64"))' "$D/list.json" >"$D/list2.json"
curl -sf -o /dev/null -X PUT -H "Content-Type: $list_mt" --data-binary "@$D/list2.json" \
	"http://$REG/v2/library/busybox/manifests/armonly"
expect_fail "no match for platform linux/amd64" K pull "$REG/library/busybox:armonly"

log "pull with htpasswd (Basic) auth"
S=$D/store4
$PY -W ignore -c 'import crypt; print("k8c:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' >"$D/htpasswd"
registry auth "auth:
  htpasswd:
    realm: k8c-test
    path: $D/htpasswd"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/") == 401 ]] || fail "registry without auth"
skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds k8c:s3cret \
	"oci-archive:$IMAGES/netserver.tar" "docker://$REG/private/netserver:1"
expect_fail "pull access denied" K pull "$REG/private/netserver:1"
expect_fail "pull access denied" K pull --creds k8c:wrong "$REG/private/netserver:1"
K pull --creds k8c:s3cret "$REG/private/netserver:1"
K inspect "$REG/private/netserver:1" | jq -e '.layers | length == 2' >/dev/null || fail "authenticated pull"
# The same through an imagePullSecret's content (a docker config.json): the most specific key wins.
K rm "$REG/private/netserver:1"
jq -n --arg reg "$REG" --arg good "$(printf k8c:s3cret | base64)" --arg bad "$(printf k8c:no | base64)" \
	'{auths: {($reg): {auth: $bad}, ($reg + "/private"): {auth: $good}, "other.example.com": {auth: $bad}}}' \
	>"$D/config.json"
K pull --auth-file "$D/config.json" "$REG/private/netserver:1"
expect_fail "pull access denied" K pull --auth-file "$D/config.json" "$REG/elsewhere/netserver:1"
(($(count "$S/tmp") == 0)) || fail "pulls left files in tmp/: $(ls "$S/tmp")"

log "pull with Bearer token auth (docker-registry token auth, image_token_server.py)"
S=$D/store5
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/token.key" -out "$D/token.crt" -days 1 \
	-subj /CN=k8c-token 2>/dev/null
tport=$(free_port)
$PY "$(dirname "$0")/image_token_server.py" "$tport" "$D/token.key" "$D/token.crt" k8c-issuer \
	k8c:s3cret 2>"$D/token.log" &
PIDS+=($!)
registry token "auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: k8c-registry
    issuer: k8c-issuer
    rootcertbundle: $D/token.crt"
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null "http://127.0.0.1:$tport/token" && break
	sleep 0.1
done
curl -s -D - -o /dev/null "http://$REG/v2/" | grep -qi '^www-authenticate: Bearer' || fail "no Bearer challenge"
for repo in public/busybox private/busybox; do
	skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds k8c:s3cret \
		"oci-archive:$IMAGES/busybox.tar" "docker://$REG/$repo:1"
done
K pull "$REG/public/busybox:1"
chroot "$(layers "$REG/public/busybox:1")" /bin/true || fail "token-pulled busybox does not run"
expect_fail "pull access denied" K pull "$REG/private/busybox:1"
expect_fail "failed to fetch oauth token" K pull --creds k8c:wrong "$REG/private/busybox:1"
K pull --creds k8c:s3cret "$REG/private/busybox:1"
[[ $(layers "$REG/private/busybox:1") == "$(layers "$REG/public/busybox:1")" ]] || fail "token pulls"
grep -q 'GET /token?scope=repository%3Aprivate%2Fbusybox%3Apull&service=k8c-registry' "$D/token.log" ||
	fail "no token request with the pull scope: $(cat "$D/token.log")"

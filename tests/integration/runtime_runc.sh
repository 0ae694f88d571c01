#!/bin/bash
# agent/runtime.c + k8c-shim with the real runc (docs/agent.md "Runtime"), through
# k8c_runtime_tool: every tool call is a new process, so each check also shows that state lives on
# disk and that the shim outlives its caller.
#
# The root filesystem is a busybox lowerdir made here from busybox-static. Containers run in a
# network namespace made here; cgroups go under /k8c-rt-test-$TAG; state, runc root and logs under
# a temp dir. Leaks are counted on those (mounts, cgroup dirs, runc state, bundles, processes),
# before and after 50 start/remove cycles.
# Usage: runtime_runc.sh <build>/bin
set -e
. "$(dirname "$0")/lib.sh"
need_tools ip jq runc busybox
TOOL=$OURS_DIR/k8c_runtime_tool
[[ -x $TOOL && -x $OURS_DIR/k8c-shim ]] || skip "$TOOL or k8c-shim not built yet (cmake --build build)"

BASE=$(tmpdir_new)
CGP=/k8c-rt-test-$TAG
STATE=$BASE/state RUNC_ROOT=$BASE/runc LOGS=$BASE/logs
NS=k8crt-$TAG
# tty execs make their console socket dirs here
export TMPDIR=$BASE/tmp
mkdir -p "$TMPDIR"
RT=("$TOOL" --state-dir "$STATE" --runc-root "$RUNC_ROOT" --cgroup-parent "$CGP")

# Remove every container still known, then our cgroup parent in every hierarchy, then lib_cleanup.
rt_cleanup() {
	local rc=$? id m
	set +e
	if [[ -d $STATE ]]; then
		for id in $("${RT[@]}" list 2>/dev/null); do "${RT[@]}" remove "$id" >/dev/null 2>&1; done
	fi
	for id in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do runc --root "$RUNC_ROOT" delete --force "$id"; done
	for m in $(awk '$5 ~ "^'"$BASE"'" {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m"; done
	for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		[[ -d $m$CGP ]] && find "$m$CGP" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	return "$rc"
}
trap 'rt_cleanup; lib_cleanup' EXIT

# busybox with relative applet links (busybox --install -s would link to this host's path)
LOWER=$BASE/lower
mkdir -p "$LOWER"/{bin,etc,tmp,proc,sys,dev,root,data}
cp "$(command -v busybox)" "$LOWER/bin/busybox"
for a in $("$LOWER/bin/busybox" --list); do
	[[ $a == busybox ]] || ln -s busybox "$LOWER/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$LOWER/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$LOWER/etc/group"
mkdir -p "$LOGS" "$STATE" "$RUNC_ROOT"

netns_new "$NS"
ip -n "$NS" link add rtva$TAG type veth peer name rtvb$TAG
NSPATH=/var/run/netns/$NS

# start ID [OPTIONS] -- ARGV...  (the netns and rootfs are always ours)
start() {
	local id=$1
	shift
	"${RT[@]}" "${GLOBAL_EXTRA[@]}" start "$id" --rootfs "$LOWER" --log "$LOGS/$id.log" --netns "$NSPATH" "$@"
}
GLOBAL_EXTRA=()
st() { "${RT[@]}" status "$1" | jq -r "$2"; }
waitx() { "${RT[@]}" wait "$1" >/dev/null || fail "$1 did not exit"; }
# log lines' text (after "<time> <stream> <tag> ")
logtext() { cut -d' ' -f4- "$LOGS/$1.log"; }

# counts of what a container may leak, for this test only
leaks() {
	local mounts cg runcs bundles procs m
	mounts=$(grep -c " $BASE/" /proc/self/mountinfo || true)
	cg=0
	for m in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		[[ -d $m$CGP ]] && cg=$((cg + $(find "$m$CGP" -mindepth 1 -type d | wc -l)))
	done
	runcs=$(find "$RUNC_ROOT" -mindepth 1 -maxdepth 1 | wc -l)
	bundles=$(find "$STATE" -mindepth 1 -maxdepth 1 | wc -l)
	# live processes in our cgroups (zombies wait for init, which reaps them in its own time)
	procs=0
	for m in $(grep -l "$CGP/" /proc/[0-9]*/cgroup 2>/dev/null); do
		[[ $(awk '{print $3}' "${m%/cgroup}/stat" 2>/dev/null) =~ ^(Z|)$ ]] || procs=$((procs + 1))
	done
	procs=$((procs + $(ps -eo args | grep -c "^[^ ]*k8c-shim .*$STATE" || true)))
	echo "mounts=$mounts cgroups=$cg runc=$runcs bundles=$bundles procs=$procs"
}
BEFORE=$(leaks)
log "before: $BEFORE"

log "network namespace, env, cwd, uid, hostname, CRI log format"
start net -- /bin/sh -c 'ip -o link | cut -d: -f2 | sed "s/@.*//; s/ //g" | sort | tr "\n" " "; echo'
start who --env FOO=bar --cwd /tmp --uid 1000 --gid 1000 --hostname pod-x -- \
	/bin/sh -c 'echo "$FOO $(pwd) $(id -u) $(id -g) $(hostname)"; echo to-stderr >&2'
waitx net
waitx who
assert_eq "container sees only its netns' links" "lo rtva$TAG rtvb$TAG " "$(logtext net)"
assert_eq "env, cwd, uid, gid, hostname" "bar /tmp 1000 1000 pod-x" "$(grep ' stdout ' "$LOGS/who.log" | cut -d' ' -f4-)"
assert_eq "stderr line" "to-stderr" "$(grep ' stderr ' "$LOGS/who.log" | cut -d' ' -f4-)"
assert_match "CRI log line format" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z stdout F bar ' "$(head -1 "$LOGS/who.log")"
assert_eq "exit 0 -> Completed" "exited 0 Completed" "$(st who '"\(.state) \(.exit_code) \(.reason)"')"

log "layers: the image store's busybox (when built) at the bottom, the top layer wins"
IMG_TAR=$OURS_DIR/../images/busybox.tar
bottom=$LOWER
if [[ -x $OURS_DIR/k8c && -f $IMG_TAR ]]; then
	"$OURS_DIR/k8c" image --root "$BASE/images" import "$IMG_TAR" --ref busybox:rt-test >/dev/null
	bottom=$("$OURS_DIR/k8c" image --root "$BASE/images" inspect busybox:rt-test | jq -r '.layers | join(":")')
else
	log "(no image store build: our busybox lowerdir instead)"
fi
mkdir -p "$BASE/l1/etc" "$BASE/l2/etc"
echo low >"$BASE/l1/etc/msg"
echo high >"$BASE/l2/etc/msg"
echo only-low >"$BASE/l1/etc/low"
"${RT[@]}" start layers --rootfs "$bottom:$BASE/l1:$BASE/l2" --log "$LOGS/layers.log" --netns "$NSPATH" -- \
	/bin/sh -c 'echo "$(cat /etc/msg) $(cat /etc/low)" > /etc/written; cat /etc/written'
waitx layers
assert_eq "top layer first, lower ones visible" "high only-low" "$(logtext layers)"
assert_eq "writes go to the container's upper dir" "high only-low" "$(cat "$STATE/layers/upper/etc/written")"
assert_eq "layers untouched" "low " "$(cat "$BASE/l1/etc/msg") $(ls "$BASE/l2/etc/written" 2>/dev/null)"

log "partial lines (16 KiB) and an unterminated last line"
start part -- /bin/sh -c 'head -c 40000 /dev/zero | tr "\0" a; echo; printf tail'
waitx part
assert_eq "tags" "P P F F" "$(cut -d' ' -f3 "$LOGS/part.log" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "partial sizes" "16384 16384 7232 4" "$(cut -d' ' -f4- "$LOGS/part.log" | awk '{printf "%s%d", (NR > 1 ? " " : ""), length($0)}')"

log "rotation at 4096 bytes, 3 files kept"
GLOBAL_EXTRA=(--log-max-bytes 4096 --log-max-files 3)
start rot -- /bin/sh -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "line $i ................................................"; done'
waitx rot
GLOBAL_EXTRA=()
nfiles=$(find "$LOGS" -name 'rot.log*' | wc -l)
assert_eq "files kept (current + 2 rotated)" 3 "$nfiles"
assert_match "rotated file names" "rot\.log\.[0-9]{8}-[0-9]{6}\.[0-9]{9}$" "$(find "$LOGS" -name 'rot.log.*' | head -1)"
big=$(find "$LOGS" -name 'rot.log*' -size +4096c | wc -l)
assert_eq "no file over 4096 bytes" 0 "$big"
assert_match "the current file ends with the last line" 'stdout F line 300 ' "$(tail -1 "$LOGS/rot.log")"
# the kept lines are the newest, without a gap
seqs=$(cat $(find "$LOGS" -name 'rot.log.*' | LC_ALL=C sort) "$LOGS/rot.log" | awk '{print $5}')
first=$(head -1 <<<"$seqs")
assert_eq "kept lines are consecutive up to 300" "$(seq "$first" 300 | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$seqs")"

log "SIGUSR1 reopens the log file (after it was moved away)"
start tick -- /bin/sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.05; done'
for ((i = 0; i < 100; i++)); do [[ -s $LOGS/tick.log ]] && break; sleep 0.05; done
mv "$LOGS/tick.log" "$LOGS/tick.moved"
kill -USR1 "$(jq -r .shim_pid "$STATE/tick/shim.json")"
for ((i = 0; i < 100; i++)); do [[ -s $LOGS/tick.log ]] && break; sleep 0.05; done
"${RT[@]}" remove tick
last_moved=$(tail -1 "$LOGS/tick.moved" | awk '{print $5}')
first_new=$(head -1 "$LOGS/tick.log" | awk '{print $5}')
assert_eq "the reopened file continues where the moved one ended" "$((last_moved + 1))" "$first_new"

log "exit codes: 3, SIGKILL -> 137, SIGTERM caught -> 7"
start three -- /bin/sh -c 'exit 3'
start k9 -- /bin/sleep 1000
# pid 1 of a pid namespace gets only the signals it handles
start k15 -- /bin/sh -c 'trap "exit 7" TERM; sleep 1000 & wait'
for ((i = 0; i < 100; i++)); do [[ $(ps -o comm= --ppid "$(st k15 .pid)") == sleep ]] && break; sleep 0.05; done
assert_eq "running" running "$(st k9 .state)"
"${RT[@]}" kill k9 9
"${RT[@]}" kill k15 15
waitx three
waitx k9
waitx k15
assert_eq "exit 3" "3 Error" "$(st three '"\(.exit_code) \(.reason)"')"
assert_eq "SIGKILL" 137 "$(st k9 .exit_code)"
assert_eq "SIGTERM, handled" 7 "$(st k15 .exit_code)"
assert_ok "kill of an exited container succeeds" "${RT[@]}" kill k9 9
assert_match "finished after started" true "$(st k9 '.finished_ns > .started_ns and .started_ns >= .created_ns')"
assert_fails "a command that does not exist fails to start" start nocmd -- /bin/no-such-command
assert_eq "and leaves no bundle" "" "$(ls "$STATE" | grep nocmd || true)"
assert_fails "a network namespace that does not exist fails the start" \
	"${RT[@]}" start nonet --rootfs "$LOWER" --log "$LOGS/nonet.log" --netns /var/run/netns/no-such-ns-$TAG -- /bin/true
assert_fails "a layer that does not exist fails the start" start nolayer --rootfs "$BASE/no-such-layer" -- /bin/true
assert_fails "a second container with the same id fails" start three -- /bin/true
assert_eq "and leaves the first one alone" "3" "$(st three .exit_code)"

log "OOM kill, a tty, stdin kept open"
start oom --memory 16777216 -- /bin/sh -c 'x=$(head -c 50000000 /dev/zero | tr "\0" a)'
start tty --tty -- /bin/sh -c 'tty; echo to-stderr >&2; exit 4'
start in --stdin -- /bin/sh -c 'read x; echo "read [$x]"'
start noin -- /bin/sh -c 'read x; echo "read [$x] $?"'
waitx oom
waitx tty
waitx noin
assert_eq "OOM killed" "137 OOMKilled" "$(st oom '"\(.exit_code) \(.reason)"')"
assert_match "tty: all output is stdout, no \\r" '^0 /dev/pts/[0-9]+ to-stderr $' "$(grep -c ' stderr ' "$LOGS/tty.log") $(cut -d' ' -f4- "$LOGS/tty.log" | tr '\n' ' ')"
assert_eq "tty exit code" 4 "$(st tty .exit_code)"
assert_eq "stdin /dev/null by default" "read [] 1" "$(logtext noin)"
assert_eq "stdin kept open" running "$(st in .state)"
"${RT[@]}" remove in

log "capabilities; joining another container's ipc and uts namespaces"
start caps --cap-drop net_raw --cap-add CAP_NET_ADMIN --hostname first -- /bin/sh -c '
	c=$(grep CapEff /proc/self/status | cut -f2)
	echo "net_admin=$(( 0x$c >> 12 & 1 )) net_raw=$(( 0x$c >> 13 & 1 )) chown=$(( 0x$c & 1 )) sys_admin=$(( 0x$c >> 21 & 1 ))"
	sleep 1000'
cpid=$(st caps .pid)
start join --ipc "/proc/$cpid/ns/ipc" --uts "/proc/$cpid/ns/uts" --hostname ignored -- /bin/sh -c 'echo "$(hostname) $(readlink /proc/self/ns/ipc)"'
waitx join
for ((i = 0; i < 100; i++)); do [[ -s $LOGS/caps.log ]] && break; sleep 0.05; done
assert_eq "capabilities" "net_admin=1 net_raw=0 chown=1 sys_admin=0" "$(logtext caps)"
assert_eq "joined uts (keeps its hostname) and ipc namespaces" "first $(readlink "/proc/$cpid/ns/ipc")" "$(logtext join)"
assert_fails "unknown capability" start badcap --cap-add NO_SUCH_CAP -- /bin/true
start allcaps --cap-add ALL -- /bin/sh -c 'grep CapEff /proc/self/status | cut -f2'
waitx allcaps
assert_eq "cap-add ALL: the runtime's own bounding set" "$(grep CapBnd /proc/self/status | cut -f2)" "$(logtext allcaps)"
"${RT[@]}" remove allcaps
# /sys's first mount option, and the size of /proc/timer_list (masked: /dev/null over it)
probe='echo "sys=$(grep " /sys sysfs " /proc/mounts | cut -d" " -f4 | cut -d, -f1) timer_list=$(wc -c </proc/timer_list | tr -d " ")"'
# (its own netns: sysfs mounts of one netns share a superblock, and the first, read-only
# mount of an unprivileged container there would make this one read-only too)
netns_new "$NS-p"
start priv --privileged --netns "/var/run/netns/$NS-p" -- /bin/sh -c 'c=$(grep CapEff /proc/self/status | cut -f2); echo "sys_admin=$(( 0x$c >> 21 & 1 ))"; '"$probe"
start unpriv -- /bin/sh -c "$probe"
waitx priv
waitx unpriv
assert_match "privileged: our capabilities, /sys rw, nothing masked" '^sys_admin=1 sys=rw timer_list=[1-9][0-9]*$' "$(logtext priv | tr '\n' ' ' | sed 's/ $//')"
assert_eq "unprivileged: /sys ro, /proc/timer_list masked" "sys=ro timer_list=0" "$(logtext unpriv)"
"${RT[@]}" remove priv
"${RT[@]}" remove unpriv
"${RT[@]}" remove caps
"${RT[@]}" remove join

log "memory limit, cpu, readonly root with a tmpfs and a read-only bind mount"
echo hello-bind >"$BASE/bindsrc"
start mem --memory 33554432 --cpu-shares 512 --cpu-quota 50000 --cpu-period 100000 --readonly \
	--tmpfs /tmp --bind "$BASE/bindsrc:/data/file:ro" -- /bin/sh -c '
	cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	touch /x 2>/dev/null && echo root-writable || echo root-readonly
	touch /tmp/y && echo tmp-writable
	cat /data/file; (echo more >>/data/file) 2>/dev/null && echo bind-writable || echo bind-readonly
	sleep 1000'
for ((i = 0; i < 100; i++)); do [[ $(grep -c . "$LOGS/mem.log" 2>/dev/null) -ge 5 ]] && break; sleep 0.05; done
assert_eq "limit inside" "33554432 root-readonly tmp-writable hello-bind bind-readonly" "$(logtext mem | tr '\n' ' ' | sed 's/ $//')"
assert_eq "memory limit in the host's cgroup" 33554432 "$(cat /sys/fs/cgroup/memory$CGP/mem/memory.limit_in_bytes)"
[[ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]] &&
	assert_eq "no swap beyond the limit" 33554432 "$(cat /sys/fs/cgroup/memory$CGP/mem/memory.memsw.limit_in_bytes)"
assert_eq "cpu shares" 512 "$(cat /sys/fs/cgroup/cpu$CGP/mem/cpu.shares)"
assert_eq "cpu quota" 50000 "$(cat /sys/fs/cgroup/cpu$CGP/mem/cpu.cfs_quota_us)"

log "exec: pipes and tty, exit codes"
out=$("${RT[@]}" exec mem -- /bin/sh -c 'echo out; echo err >&2; exit 42' 2>"$BASE/exec.err") && rc=0 || rc=$?
assert_eq "exec exit code" 42 "$rc"
assert_eq "exec stdout" out "$out"
assert_eq "exec stderr" err "$(cat "$BASE/exec.err")"
out=$("${RT[@]}" exec --tty mem -- /bin/sh -c 'tty; exit 5') && rc=0 || rc=$?
assert_eq "tty exec exit code" 5 "$rc"
assert_match "tty exec has a pty" '^/dev/pts/[0-9]+' "$out"
assert_eq "exec sees the pod's netns" "$(ip -n "$NS" -o link | wc -l)" "$("${RT[@]}" exec mem -- /bin/sh -c 'ip -o link | wc -l')"
assert_fails "exec into an exited container fails" "${RT[@]}" exec k9 -- /bin/true
assert_eq "tty exec of a missing command" 126 "$("${RT[@]}" exec --tty mem -- /bin/no-such-command >/dev/null 2>&1; echo $?)"
assert_fails "tty exec into an exited container fails" "${RT[@]}" exec --tty k9 -- /bin/true
assert_eq "tty execs leave no console socket dirs" "" "$(ls "$TMPDIR")"

log "the shim outlives its caller; a shim that dies leaves runc's word"
spid=$(jq -r .shim_pid "$STATE/mem/shim.json")
cpid=$(st mem .pid)
assert_eq "shim is a live process" 0 "$(kill -0 "$spid" 2>/dev/null && echo 0 || echo 1)"
assert_eq "shim's parent is not the (gone) tool" 1 "$(awk '{print ($4 == '"$$"') ? 0 : 1}' "/proc/$spid/stat")"
assert_eq "status from a new process" running "$(st mem .state)"
kill -9 "$spid"
for ((i = 0; i < 100; i++)); do [[ $(awk '{print $3}' "/proc/$spid/stat" 2>/dev/null) =~ ^(Z|)$ ]] && break; sleep 0.05; done
assert_eq "with the shim dead, runc says running" "running $cpid" "$(st mem '"\(.state) \(.pid)"')"
"${RT[@]}" kill mem 9
for ((i = 0; i < 100; i++)); do [[ $(st mem .state) == exited ]] && break; sleep 0.05; done
assert_eq "its exit then is runc's stopped, code unknown" "exited 255 Error" "$(st mem '"\(.state) \(.exit_code) \(.reason)"')"
assert_ok "remove without a shim" "${RT[@]}" remove mem
# (a zombie until this machine's init reaps it: the shim that would have was killed)
assert_match "container process gone" '^(Z|)$' "$(awk '{print $3}' "/proc/$cpid/stat" 2>/dev/null)"
assert_fails "status after remove" "${RT[@]}" status mem
assert_ok "remove is idempotent" "${RT[@]}" remove mem
# after a reboot: the bundle remains, its shim and runc's state (on /run) are gone
start lost -- /bin/sleep 1000
kill -9 "$(jq -r .shim_pid "$STATE/lost/shim.json")"
runc --root "$RUNC_ROOT" delete --force lost
assert_eq "neither shim nor runc: unknown" "unknown Unknown" "$(st lost '"\(.state) \(.reason)"')"
assert_ok "and it can be removed" "${RT[@]}" remove lost

log "list for adoption"
assert_eq "list" "k15 k9 layers net noin oom part rot three tty who" "$("${RT[@]}" list | sort | tr '\n' ' ' | sed 's/ $//')"
for id in $("${RT[@]}" list); do "${RT[@]}" remove "$id"; done
assert_eq "nothing left after removes" "$BEFORE" "$(leaks)"

log "50 start/remove cycles (running containers)"
for ((i = 0; i < 50; i++)); do
	start "cyc$i" --memory 16777216 -- /bin/sleep 1000 || fail "cycle $i start"
	((i > 0)) || DURING=$(leaks)
	"${RT[@]}" remove "cyc$i" || fail "cycle $i remove"
done
assert_match "the counts see a running container" '^mounts=1 cgroups=[1-9][0-9]* runc=1 bundles=1 procs=2$' "$DURING"
AFTER=$(leaks)
log "after: $AFTER"
assert_eq "no mounts, cgroups, runc state, bundles or processes left" "$BEFORE" "$AFTER"

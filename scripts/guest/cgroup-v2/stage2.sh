# Stage 2 of the cgroup-v2 test guest: PID 1 on the tmpfs root. Sets up a PURE cgroup-v2
# hierarchy (no v1 controller mounted anywhere; the kernel is booted with cgroup_no_v1=all),
# enables memory, pids and cpu for the children, moves itself into a child cgroup (the v2
# "no internal processes" rule: a cgroup with processes cannot enable controllers for its
# children), and runs the test files given as arguments. The last line it prints is
# `CYLO-GUEST-RESULT rc=N`; then it powers the guest off.
B=/.guest/busybox
fail() { echo "CYLO-GUEST stage2: $*"; echo "CYLO-GUEST-RESULT rc=125"; $B poweroff -f; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
$B mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || { $B mkdir -p /dev/pts && $B mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts; } || fail "devpts"
$B mkdir -p /dev/shm && $B mount -t tmpfs -o mode=1777 shm /dev/shm || fail "/dev/shm"
$B mount -t tmpfs -o mode=0755 run /run && $B mount -t tmpfs -o mode=1777 tmp /tmp || fail "tmpfs /run /tmp"
# The project at the same path as on the host (stage 1 mounted it at /.guest/project).
$B mkdir -p "$CYLO_GUEST_PROJECT" && $B mount --bind /.guest/project "$CYLO_GUEST_PROJECT" || fail "bind the project at $CYLO_GUEST_PROJECT"
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
C=/sys/fs/cgroup
echo "+memory +pids +cpu" > $C/cgroup.subtree_control || fail "enable memory pids cpu at the root"
# /runner: the test runner's subtree. PID 1 (this shell) waits in the leaf /runner/init; every
# Node process moves itself into /runner/p-<pid> (own-cgroup.mjs), as a systemd service gets a
# delegated cgroup of its own on a real v2 host.
$B mkdir -p $C/runner/init && echo $$ > $C/runner/init/cgroup.procs || fail "move into /runner/init"
echo "+memory +pids +cpu" > $C/runner/cgroup.subtree_control || fail "enable memory pids cpu in /runner"
export NODE_OPTIONS="--import=file:///.guest/own-cgroup.mjs"
$B hostname cylo-guest
$B ip link set lo up 2>/dev/null || $B ifconfig lo 127.0.0.1 up
echo "CYLO-GUEST up: kernel $($B uname -r); cgroup2 controllers: $(cat $C/cgroup.controllers); subtree: $(cat $C/cgroup.subtree_control); v1 mounts: $($B grep -c ' cgroup ' /proc/mounts)"
cd "$CYLO_GUEST_PROJECT" || fail "no project at $CYLO_GUEST_PROJECT"
if [ -n "$CYLO_GUEST_DOCTOR" ]; then echo "CYLO-GUEST doctor:"; node bin/cylo doctor 2>&1; fi
start=$($B date +%s)
node scripts/run-tests.js "$@"
rc=$?
echo "CYLO-GUEST elapsed: $(( $($B date +%s) - start )) s"
echo "CYLO-GUEST-RESULT rc=$rc"
$B sync
$B poweroff -f

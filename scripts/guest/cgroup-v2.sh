#!/usr/bin/env bash
# Boots the cgroup-v2 test guest and runs cylo test files inside it (test/guest/cgroup-v2.test.ts
# calls this; it also works by hand). The guest sees the host's /usr, /etc (copied), the project
# tree and /root/.cargo READ-ONLY over virtiofs, has no network device, mounts a pure cgroup-v2
# hierarchy with memory, pids and cpu enabled, and prints the tests' TAP on the serial console
# (this script's stdout), ending with `CYLO-GUEST-RESULT rc=N`.
#
#   scripts/guest/cgroup-v2.sh [--env NAME=VALUE]... [--mem MiB] [--smp N] [--doctor] -- FILE...
#     FILE: compiled test files relative to the project (dist/test/...js)
#     --doctor: print `cylo doctor` from inside the guest before the tests
# Needs root (virtiofsd), qemu-system-x86_64, /usr/lib/qemu/virtiofsd and the guest kernel
# (scripts/guest/kernel.sh). Exit status: the guest's test status; 125 when the guest broke,
# 124 on the wall timeout (CYLO_GUEST_TIMEOUT seconds, default 2400).
# Accelerator: KVM only when a hardware-virtualisation module (kvm_intel, kvm_amd) is loaded;
# otherwise software emulation (TCG, multi-threaded).
set -euo pipefail
die() { echo "cylo guest: $*" >&2; exit 125; }
here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "$here/../.." && pwd)"
kernel="${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}/kernel"
virtiofsd="${CYLO_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}"
mem=2560 smp=2 envs=() doctor=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) case "$2" in *[!A-Za-z0-9_=.,:/-]*|*' '*) die "--env $2: only [A-Za-z0-9_=.,:/-] (it goes on the kernel command line)" ;; esac
           envs+=("$2"); shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --smp) smp="$2"; shift 2 ;;
    --doctor) doctor="CYLO_GUEST_DOCTOR=1"; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1 (usage at the top of $0)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "needs root (virtiofsd shares the host tree)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; apt-get install qemu-system-x86"
[ -x "$virtiofsd" ] || die "$virtiofsd not found; apt-get install qemu-system-common"
[ -f "$kernel/vmlinuz" ] || die "no guest kernel in $kernel; run scripts/guest/kernel.sh"
[ -x "$project/dist/native/cylo-helper" ] || die "build first: npm run build"

work="$(mktemp -d /tmp/cylo-guest.XXXXXX)"
fsd_pid=""
# virtiofsd usually exits with the VM: a failed kill is expected (and must not turn, under set -e,
# into the script's exit status or skip the removal).
cleanup() { if [ -n "$fsd_pid" ]; then kill "$fsd_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
"$here/initramfs.sh" --init "$here/cgroup-v2/init.sh" --out "$work/initrd.gz" \
  --module virtio_mmio --module virtiofs --module overlay --add "$here/cgroup-v2/stage2.sh:/stage2.sh" --add "$here/cgroup-v2/own-cgroup.mjs:/own-cgroup.mjs" >&2

# The shared tree: read-only bind mounts in a private mount namespace that only virtiofsd lives
# in (nothing changes in the host's mount table). EROFS stops any write from the guest on the
# host side, whatever the guest mounts.
share="$work/share"
mkdir -p "$share"
cat > "$work/share.sh" <<SH
set -e
mount -t tmpfs -o mode=0755 share "$share"
for d in usr etc project root-cargo; do mkdir "$share/\$d"; done
bindro() { mount --rbind "\$1" "\$2" && mount -o remount,bind,ro "\$2"; }
bindro /usr "$share/usr"; bindro /etc "$share/etc"; bindro "$project" "$share/project"
if [ -d /root/.cargo ]; then bindro /root/.cargo "$share/root-cargo"; else rmdir "$share/root-cargo"; fi
mount -o remount,ro "$share"
exec "$virtiofsd" --socket-path="$work/fs.sock" -o source="$share" -o sandbox=namespace -o cache=always -o allow_root -o log_level=err
SH
unshare -m --propagation private sh "$work/share.sh" &
fsd_pid=$!
for _ in $(seq 100); do [ -S "$work/fs.sock" ] && break; sleep 0.1; done
[ -S "$work/fs.sock" ] || die "virtiofsd did not start"

accel="tcg,thread=multi" cpu=max
if [ -e /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then accel=kvm cpu=host; fi
khz="$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)"
append="console=ttyS0 panic=-1 quiet tsc_early_khz=${khz:-2000000} cgroup_no_v1=all CYLO_GUEST_PROJECT=$project $doctor ${envs[*]:-} -- $*"
[ "${#append}" -lt 2000 ] || die "kernel command line too long (${#append} > 2000): run fewer files per boot"
set +e
timeout --foreground -k 10 "${CYLO_GUEST_TIMEOUT:-2400}" qemu-system-x86_64 -M microvm,rtc=on -accel "$accel" -cpu "$cpu" \
  -m "$mem" -smp "$smp" -nodefaults -no-user-config -no-reboot -nographic -serial stdio \
  -object memory-backend-memfd,id=mem,size="${mem}M",share=on -machine memory-backend=mem \
  -global virtio-mmio.force-legacy=false \
  -chardev socket,id=fs0,path="$work/fs.sock" -device vhost-user-fs-device,chardev=fs0,tag=host \
  -kernel "$kernel/vmlinuz" -initrd "$work/initrd.gz" -append "$append" | tee "$work/console.log"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 124 ] && { echo "cylo guest: timed out after ${CYLO_GUEST_TIMEOUT:-2400} s" >&2; exit 124; }
rc="$(grep -a -o 'CYLO-GUEST-RESULT rc=[0-9]*' "$work/console.log" | tail -n 1 | cut -d= -f2 || true)"
[ -n "$rc" ] || die "the guest ended without a result (qemu status $status)"
exit "$rc"

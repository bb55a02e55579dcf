#!/bin/busybox sh
# Stage 1 of the cgroup-v2 test guest (the initramfs's /init). Builds a normal-looking root in a
# tmpfs from the host tree shared read-only over virtiofs (tag "host": usr, etc, the project,
# root-cargo; see scripts/guest/cgroup-v2.sh), then switch_root's into it and runs stage 2.
# Why a tmpfs root: bubblewrap pivot_root's, and pivot_root fails on the initramfs (rootfs).
# Arguments after `--` on the kernel command line reach this script as "$@" (the test files);
# NAME=VALUE parameters the kernel does not know reach it as environment variables.
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "CYLO-GUEST stage1: $*"; echo "CYLO-GUEST-RESULT rc=125"; poweroff -f; }
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t devtmpfs dev /dev || fail "cannot mount proc/sys/dev"
while read -r m; do insmod "/lib/modules/$m" || fail "insmod $m"; done < /lib/modules/load-order

R=/newroot
mkdir -p $R && mount -t tmpfs -o mode=0755 root $R || fail "tmpfs root"
mkdir -p $R/host $R/proc $R/sys $R/dev $R/tmp $R/run $R/var/tmp $R/root $R/.guest $R/usr
# Read-only twice over: the host exports read-only bind mounts, and the guest mounts ro.
mount -t virtiofs -o ro host $R/host || fail "virtiofs mount of the host tree (tag host)"
# /usr and /root/.cargo through read-only overlays (two lower layers, no upper): FUSE lets only
# the mounting user (root) through a virtiofs mount, and overlayfs reaches its lower layers with
# the mounter's credentials, so the sandboxes' uids can run /usr/bin/bwrap and the runtimes.
mkdir -p $R/.guest/empty
rooverlay() { mount -t overlay -o "ro,lowerdir=$1:$R/.guest/empty" overlay "$2"; }
rooverlay $R/host/usr $R/usr || fail "overlay /usr"
for l in bin lib lib64 sbin; do ln -s usr/$l $R/$l; done
# /etc: a writable copy (small) so the guest never needs to write the host's.
cp -a $R/host/etc $R/etc || fail "copy /etc"
echo cylo-guest > $R/etc/hostname
: > $R/etc/resolv.conf
if [ -d $R/host/root-cargo ]; then mkdir -p $R/root/.cargo && { rooverlay $R/host/root-cargo $R/root/.cargo || fail "overlay /root/.cargo"; }; fi
# The project at the same path as on the host, read-only, with a tmpfs upper layer (overlayfs)
# so tests that write next to it write into guest memory, never into the host's tree.
P="${CYLO_GUEST_PROJECT:?}"
mkdir -p $R/.guest/project-upper && mount -t tmpfs -o mode=0755 upper $R/.guest/project-upper || fail "tmpfs upper"
# Mounted at /.guest/project here and bound at its host path by stage 2, after stage 2's own
# tmpfs mounts: a project under /tmp or /run (a CI clone in /tmp) would be hidden by them.
mkdir -p $R/.guest/project-upper/u $R/.guest/project-upper/w $R/.guest/project
mount -t overlay -o "lowerdir=$R/host/project,upperdir=$R/.guest/project-upper/u,workdir=$R/.guest/project-upper/w" overlay $R/.guest/project || fail "overlay of the project"
chmod 1777 $R/tmp $R/var/tmp
cp /bin/busybox $R/.guest/busybox && cp /stage2.sh /own-cgroup.mjs $R/.guest/ || fail "stage 2 copy"
mount --move /proc $R/proc && mount --move /sys $R/sys && mount --move /dev $R/dev || fail "move mounts"
exec switch_root $R /.guest/busybox sh /.guest/stage2.sh "$@"

#!/bin/busybox sh
# The microVM guest's /init (PID 1): mounts what the agent needs, attaches the read-only runtime
# image, and runs the guest agent (native/guest/agent.c). Whatever ends the agent powers the VM
# off: a VM runs one execution and is then destroyed by the host.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sys /sys
mount -t devtmpfs -o nosuid,noexec dev /dev
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
# Under Firecracker (cylo.vsock= on the command line, written by the host): the vsock modules
# (the agent's channel; never loaded under QEMU, where no vsock device exists), and virtio_mmio
# gets the devices Firecracker lists on the command line (insmod, unlike modprobe, does not read
# module parameters from it). Under QEMU the microvm machine describes its devices itself.
vsock="" mmio=""
for arg in $(cat /proc/cmdline); do case "$arg" in cylo.vsock=*) vsock=1 ;; virtio_mmio.device=*) mmio="$mmio device=${arg#virtio_mmio.device=}" ;; esac; done
while read m; do
  args=""
  case "$m" in *vsock*) [ -n "$vsock" ] || continue ;; virtio_mmio.ko) [ -n "$vsock" ] && args="$mmio" ;; esac
  insmod /lib/modules/$m $args || echo "cylo-init: insmod $m failed"
done < /lib/modules/load-order
# The guest's randomness: the kernel seeds itself from RDRAND/jitter; the host adds fresh bytes
# on the command line of every boot (cylo.seed=...), credited to nobody but mixed in.
for arg in $(cat /proc/cmdline); do case "$arg" in cylo.seed=*) echo "${arg#cylo.seed=}" > /dev/urandom ;; esac; done
# The disks, found by the serial the host gave each (their probe order is not fixed): the language
# runtimes (the host's /usr tree) and, where present, the runtimes' npm packages (TypeScript's
# compiler) at {nodeModules}; both read-only, never journalled, no devices or setuid honoured.
# Firecracker gives no serial of our choosing: there the disk is found by its ext4 label
# (cylo-runtimes, cylo-node: set by the host's image builders).
disk() {
  for s in /sys/block/vd*/serial; do [ "$(cat "$s" 2>/dev/null)" = "$1" ] && { d=${s%/serial}; echo "/dev/${d##*/}"; return; }; done
  [ -n "$vsock" ] && findfs "LABEL=$2" 2>/dev/null
}
for i in $(seq 1 100); do [ -n "$(disk cylo-usr cylo-runtimes)" ] && break; sleep 0.02; done
mkdir -p /usr /work /.cylo/node_modules
usr=$(disk cylo-usr cylo-runtimes)
[ -n "$usr" ] && mount -t ext4 -o ro,nodev,nosuid,noload "$usr" /usr || { echo "cylo-init: no runtime image (disk cylo-usr)"; poweroff -f; }
node=$(disk cylo-node cylo-node)
if [ -n "$node" ]; then mount -t ext4 -o ro,nodev,nosuid,noload "$node" /.cylo/node_modules || { echo "cylo-init: the npm packages disk did not mount"; poweroff -f; }; fi
# Controllers the agent gives each stage's cgroup.
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
# Warm-up while the VM is still off any request's path: the first run of the interpreters pulls
# their files into the guest's page cache (and, under software emulation, their code into QEMU's
# translation cache). Only the runtime's own binaries run here, with no
# input from any request (-I: no user site, no environment); nothing of it stays but caches.
[ -x /usr/bin/python3 ] && env -i /usr/bin/python3 -I -c 'import os, sys, io, re, json' >/dev/null 2>&1
/sbin/cylo-agent
echo "cylo-init: the agent ended ($?)"
poweroff -f

#!/usr/bin/env bash
# Fetches Debian's cloud kernel for guest VMs and extracts it into cylo's guest directory
# WITHOUT installing it (nothing goes to /boot, the host's bootloader and initramfs are never
# touched). Shared by every guest cylo boots: the microVM backend and the cgroup-v2 test guest.
#
#   scripts/guest/kernel.sh            # into ${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}
#
# Result (root-owned, read-only to everyone else):
#   $GUEST_DIR/kernel/vmlinuz       the kernel image (bzImage)
#   $GUEST_DIR/kernel/config        its build configuration
#   $GUEST_DIR/kernel/modules/      lib/modules/<version> (virtio, virtiofs, squashfs... are modules)
#   $GUEST_DIR/kernel/version       the kernel release (uname -r inside the guest)
# Safe to run again: an up-to-date kernel is kept as it is.
# Why the cloud flavour: it is small (26 MB .deb), boots fast on QEMU's microvm machine and has
# cgroup v2 (memory, pids, cpu), user namespaces, seccomp and Landlock built in.
set -euo pipefail

GUEST_DIR="${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}"
META_PACKAGE="${CYLO_GUEST_KERNEL_PACKAGE:-linux-image-cloud-amd64}"

die() { echo "cylo guest kernel: $*" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || die "guests are built for x86_64 only (this host is $(uname -m))"
command -v apt-get >/dev/null || die "apt-get not found: the guest kernel comes from Debian's archive"

# The versioned package the meta-package points at (linux-image-6.1.0-NN-cloud-amd64).
resolve() { apt-cache depends "$META_PACKAGE" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
pkg="$(resolve)"
if [ -z "$pkg" ]; then
  [ "$(id -u)" = 0 ] || die "cannot resolve $META_PACKAGE; run as root: apt-get update"
  apt-get update -qq
  pkg="$(resolve)"
fi
[ -n "$pkg" ] || die "apt knows no $META_PACKAGE; add Debian's main archive to the apt sources"
release="${pkg#linux-image-}"

dest="$GUEST_DIR/kernel"
if [ -f "$dest/version" ] && [ "$(cat "$dest/version")" = "$release" ] && [ -f "$dest/vmlinuz" ]; then
  echo "cylo guest kernel: $release already in $dest"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"   # apt's download user (_apt) must be able to write here
echo "cylo guest kernel: downloading $pkg"
(cd "$work" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
  apt-get update -qq && (cd "$work" && apt-get download -q "$pkg" >/dev/null)
} || die "could not download $pkg from Debian's archive"
dpkg-deb -x "$work"/*.deb "$work/x"

new="$GUEST_DIR/kernel.new"
rm -rf "$new"
mkdir -p "$new"
install -m 0644 "$work/x/boot/vmlinuz-$release" "$new/vmlinuz"
install -m 0644 "$work/x/boot/config-$release" "$new/config"
mv "$work/x/lib/modules/$release" "$new/modules"
echo "$release" > "$new/version"
chmod -R go-w "$new"
rm -rf "$dest"
mv "$new" "$dest"
chmod 0755 "$GUEST_DIR" "$(dirname "$GUEST_DIR")"
echo "cylo guest kernel: $release in $dest"

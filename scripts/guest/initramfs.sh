#!/usr/bin/env bash
# Builds a guest initramfs (a gzip'd cpio "newc" archive) from busybox-static, the kernel
# modules a guest needs (their dependencies resolved from each module's own `depends=` field,
# since the extracted kernel has no modules.dep) and the caller's /init and files. Shared by every
# guest cylo boots: the microVM backend (its /init starts the guest agent) and the cgroup-v2 test
# guest (its /init mounts the host's /usr and runs the suites).
#
#   scripts/guest/initramfs.sh --init FILE --out FILE [--module NAME]... [--add SRC:DEST]...
#       [--symlink TARGET:LINK]...   (LINK, absolute, a symbolic link to TARGET, e.g. /lib64 -> usr/lib64)
#       [--kernel DIR]    (default ${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}/kernel)
#
# In the archive:
#   /init                       the caller's init (mode 0755)
#   /bin/busybox                static; /init runs `/bin/busybox --install -s` for the applets
#   /lib/modules/<name>.ko      the modules, and /lib/modules/load-order: one file name per line,
#                               dependencies first; /init loads them with `insmod` in that order
#   DEST for each --add SRC:DEST
# The archive's root is mode 0755 and every file root-owned (cpio -R 0:0), whoever builds it.
set -euo pipefail

die() { echo "cylo initramfs: $*" >&2; exit 1; }
kernel="${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}/kernel"
init="" out="" modules=() adds=() links=()
while [ $# -gt 0 ]; do
  case "$1" in
    --init) init="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    --add) adds+=("$2"); shift 2 ;;
    --symlink) links+=("$2"); shift 2 ;;
    --kernel) kernel="$2"; shift 2 ;;
    *) die "unknown argument: $1 (see the usage at the top of $0)" ;;
  esac
done
[ -n "$init" ] && [ -f "$init" ] || die "--init FILE is required (the guest's /init)"
[ -n "$out" ] || die "--out FILE is required"
[ -d "$kernel/modules" ] || die "no guest kernel in $kernel; run scripts/guest/kernel.sh"
busybox=/bin/busybox
[ -x "$busybox" ] && file_is_static=$(LC_ALL=C ldd "$busybox" 2>&1 | grep -c 'not a dynamic') || true
[ "${file_is_static:-0}" -ge 1 ] || die "$busybox is missing or not static; apt-get install busybox-static"
command -v cpio >/dev/null || die "cpio not found; apt-get install cpio"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules,etc}
install -m 0755 "$busybox" "$stage/bin/busybox"
install -m 0755 "$init" "$stage/init"

# Module path (relative to $kernel/modules) for a module name; names use _ and - alike.
module_path() {
  local pattern="/${1//[_-]/[_-]}\\.ko\$"
  grep -E "$pattern" "$kernel/modules/modules.order" | head -n 1
}
declare -A loaded=()
order=()
# Depth-first: a module's dependencies go into the load order before it.
add_module() {
  local name="${1//-/_}" path deps dep
  [ -n "${loaded[$name]:-}" ] && return 0
  grep -qE "/${1//[_-]/[_-]}\\.ko\$" "$kernel/modules/modules.builtin" 2>/dev/null && { loaded[$name]=builtin; return 0; }
  path="$(module_path "$1")"
  [ -n "$path" ] || die "no module '$1' in $kernel (neither a module nor built in)"
  loaded[$name]=pending
  # The .modinfo strings are NUL-separated; `depends=` lists the modules this one needs.
  deps="$(tr '\0' '\n' < "$kernel/modules/$path" | grep -a '^depends=' | head -n 1 | cut -d= -f2 || true)"
  for dep in ${deps//,/ }; do add_module "$dep"; done
  install -m 0644 "$kernel/modules/$path" "$stage/lib/modules/$name.ko"
  order+=("$name.ko")
  loaded[$name]=done
}
for m in "${modules[@]}"; do add_module "$m"; done
printf '%s\n' "${order[@]}" > "$stage/lib/modules/load-order"

for a in "${adds[@]}"; do
  src="${a%%:*}" dst="${a#*:}"
  [ -e "$src" ] || die "--add: $src does not exist"
  case "$dst" in /*) ;; *) die "--add: the destination must be absolute: $dst" ;; esac
  mkdir -p "$stage$(dirname "$dst")"
  cp -a "$src" "$stage$dst"
done

for l in "${links[@]}"; do
  target="${l%%:*}" link="${l#*:}"
  case "$link" in /*) ;; *) die "--symlink: the link must be absolute: $link" ;; esac
  mkdir -p "$stage$(dirname "$link")"
  ln -sfn "$target" "$stage$link"
done

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
echo "cylo initramfs: $out ($(du -k "$out" | cut -f1) KiB; modules: ${order[*]:-none})"

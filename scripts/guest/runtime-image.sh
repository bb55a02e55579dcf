#!/usr/bin/env bash
# Builds the microVM guest's runtime image: a read-only ext4 filesystem holding the host's /usr
# files of the languages the guest runs (their Debian packages and every package they depend on,
# as installed on this host), attached to each VM as a read-only virtio-blk disk and mounted at
# /usr by the guest's /init (native/guest/init.sh).
#
#   scripts/guest/runtime-image.sh [--package NAME]... [--force]   (default: python3 bash nodejs gcc libc6-dev)
#       -> ${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}/runtimes.ext4 (+ runtimes.packages, runtimes.inputs)
#
# Safe to run again: the image is rebuilt only when one of its inputs changed, i.e. when
# runtimes.inputs (written after each build) differs from what this run computes: this script's
# own content, mkfs.ext4's version, the asked packages, every package of their closure with its
# installed version and architecture (an upgrade, an added or removed dependency) and the time
# dpkg last unpacked it (a reinstall), and the image file's size and modification time as the last build left it (an image replaced or
# truncated since). --force rebuilds anyway. runtimes.packages lists the closure, one
# "name version" line per package (cylo doctor counts them).
#
# Why a block image and not virtiofs: a disk image is a file QEMU reads (no second daemon, no
# shared host directory: the guest sees bytes of one file, never the host's filesystem), it can
# be opened read-only, and a VM with only block devices can be snapshotted and restored (a
# virtiofs device blocks migration, so snapshots). Why ext4: mkfs.ext4 -d builds it unprivileged
# from a directory, and the guest kernel has ext4 built in (squashfs would need squashfs-tools).
# Only the files of packages are copied (dpkg -L): nothing the host added by hand, no /etc.
set -euo pipefail
die() { echo "cylo runtime image: $*" >&2; exit 1; }
GUEST_DIR="${CYLO_GUEST_DIR:-/usr/local/lib/cylo/guest}"
packages=() force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --package) packages+=("$2"); shift 2 ;;
    --force) force=1; shift ;;
    *) die "unknown argument: $1 (see the usage at the top of $0)" ;;
  esac
done
[ ${#packages[@]} -gt 0 ] || packages=(python3 bash nodejs gcc libc6-dev)
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found; apt-get install e2fsprogs"
[ -L /lib ] && [ -L /bin ] || die "this host's /usr is not merged (/lib, /bin are not links): only merged-/usr hosts are supported"

# Every installed package the asked ones need (Depends and Pre-Depends, recursively).
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || die "package $p is not installed (apt-get install $p)"
done
# One apt-cache call for all of them (the union of their closures; ~1 s, where one call per
# package took ~1 s each).
closure="$({ printf '%s\n' "${packages[@]}"
  apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "${packages[@]}" 2>/dev/null | grep -v '^[ <]'
} | sed 's/:amd64$//' | sort -u)"

out="$GUEST_DIR/runtimes.ext4"
stamp="$GUEST_DIR/runtimes.inputs"
# The closure with installed versions ("name:arch version" per line, sorted); a package dpkg no
# longer knows simply drops out, which changes the list too.
# shellcheck disable=SC2086 # $closure: one package name per word
versions="$(dpkg-query -W -f='${Package}:${Architecture} ${Version}\n' $closure 2>/dev/null | sort || true)"
# When dpkg last unpacked each of them (its file list's mtime): a reinstall of the same version
# (apt-get install --reinstall, after a hand edit of its files) counts as a change too.
unpacked="$(for p in $closure; do stat -c 'list %n %.9Y' /var/lib/dpkg/info/"$p".list /var/lib/dpkg/info/"$p":*.list 2>/dev/null || true; done)"
inputs="$(printf 'script %s\nmkfs %s\nasked %s\n%s\n%s\n' "$(sha256sum < "${BASH_SOURCE[0]}" | cut -d' ' -f1)" "$(mkfs.ext4 -V 2>&1 | head -n 1)" "${packages[*]}" "$versions" "$unpacked")"
# The image as the last build left it (size, mtime in ns): a replaced or truncated file is rebuilt.
image_state() { stat -c 'image %s %.9Y' "$out" 2>/dev/null || echo 'image none'; }
if [ "$force" = 0 ] && [ -f "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs"$'\n'"$(image_state)" ]; then
  echo "cylo runtime image: $out is up to date (same script, mkfs and $(echo $closure | wc -w) package versions as its last build; --force rebuilds)"
  exit 0
fi
if [ -f "$stamp" ] && [ -f "$out" ]; then
  # Say which input changed (the first differing line of the record), so a rebuild is explained.
  if [ "$force" = 1 ]; then why='--force'; else
    why="changed since the last build: $(diff <(cat "$stamp") <(printf '%s\n%s\n' "$inputs" "$(image_state)") | grep -m 1 '^>' | cut -c3- || true)"
  fi
  echo "cylo runtime image: rebuilding ($why)"
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
list="$stage/files"
# Paths of the packages, mapped onto merged /usr (/lib/x -> /usr/lib/x), regular files and links
# under /usr only (directories come with them).
for p in $closure; do dpkg -L "$p" 2>/dev/null || true; done \
  | sed -E 's#^/(bin|sbin|lib|lib32|lib64|libx32)/#/usr/\1/#' | grep '^/usr/' | sort -u \
  | while IFS= read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then printf "%s\n" "${f#/}"; fi; done > "$list"
mkdir "$stage/root"
tar -C / --no-recursion -cf - -T "$list" | tar -C "$stage/root" -xf -
[ -x "$stage/root/usr/bin/python3" ] || echo "cylo runtime image: note: no /usr/bin/python3 in the image" >&2
size_kib=$(( $(du -sk "$stage/root/usr" | cut -f1) * 5 / 4 + 65536 ))
mkdir -p "$GUEST_DIR"
rm -f "$out.tmp" "$stamp"
# -d: the image's root is the host's /usr (mounted at /usr in the guest); no journal (read-only).
mkfs.ext4 -q -F -O ^has_journal -L cylo-runtimes -E root_owner=0:0 -d "$stage/root/usr" "$out.tmp" "${size_kib}k"
chmod 0644 "$out.tmp"
mv "$out.tmp" "$out"
printf '%s\n' "$versions" | sed 's/:[^ ]* / /' > "$GUEST_DIR/runtimes.packages"
# Written last: an interrupted build leaves no record, so the next run rebuilds.
printf '%s\n%s\n' "$inputs" "$(image_state)" > "$stamp"
echo "cylo runtime image: $out ($(du -k "$out" | cut -f1) KiB used; $(wc -l < "$list") files of $(echo $closure | wc -w) packages)"

#!/usr/bin/env bash
# cylo setup: installs everything cylo needs on a Debian/Ubuntu machine with Node.js >= 20,
# then builds it. Safe to run again. As root it installs system packages with apt-get; as
# another user it prints the exact sudo line to run and goes on with what it can do.
#   scripts/setup.sh            # system packages + npm dependencies + build
#   CYLO_SETUP_DATASCI=0 scripts/setup.sh   # without Debian's numpy/pandas/matplotlib (the datasci environment)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: the sandbox (bubblewrap), the compiler for the native helper, and the
# language toolchains that Debian packages and that are not installed yet.
packages=(bubblewrap gcc libc6-dev util-linux)  # util-linux: flock(1), which holds each instance's uid-range lock
# python3-dev: Python's headers, for the Python zygote's extension module (native/zygote/zygote.c; option zygote)
packages+=(python3-dev)
# better-sqlite3 (the submission database of cylo serve) builds its native addon with node-gyp
# when no prebuilt binary can be downloaded: make, plus g++ and python3 (checked below).
packages+=(make)
# chromium: the real browser the playground's end-to-end tests drive with playwright-core (an
# npm package that downloads no browser); about 45 s more on a first setup, nothing after.
# Without it those tests skip, saying why.
packages+=(chromium)
# Guest VMs (the microVM backend, the cgroup-v2 test guest): QEMU (the microvm machine type),
# busybox-static and cpio for the guests' initramfs; the guest kernel itself is Debian's cloud
# kernel, extracted below by scripts/guest/kernel.sh, never installed into /boot.
packages+=(qemu-system-x86 busybox-static cpio)
# redis-server: queue mode (cylo serve --queue, cylo worker; docs/scaling.md) runs on Redis. The
# tests start their own redis-server on a free loopback port with a temporary directory and stop
# it after; the system service Debian enables is never used by them (without the binary, the
# queue tests skip, saying why).
packages+=(redis-server)
# openssl: the queue's TLS test (test/queue/security.test.ts) makes a throwaway CA and a server
# certificate for its TLS-only redis-server with the openssl CLI.
packages+=(openssl)

# slirp4netns: `cylo env build --network` (docs/environments.md) gives the build sandbox outbound
# HTTP(S) through this user-mode network stack in the sandbox's own network namespace; without
# it --network is refused, saying so (builds from --from DIR need nothing).
packages+=(slirp4netns)
# nftables: the same builds' output filter (native/netfilter.c loads it with nft in the build's
# network namespace); without it --network is refused, saying so.
packages+=(nftables)
# lz4: the microVM backend under Firecracker boots an uncompressed kernel; Debian's vmlinuz has
# an LZ4 payload, which src/microvm/vmlinux.ts decompresses with this tool (xz and zstd likewise).
packages+=(lz4)
need() { command -v "$1" >/dev/null 2>&1 || [ -x "${2:-/nonexistent}" ]; }
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# --- toolchains (added by the languages work) ---
# Each line: a toolchain already present anywhere (on PATH, or where version managers put it:
# rustup under ~/.cargo, a tarball Go under /usr/local/go, pyenv shims on PATH) is kept as it is;
# only a missing one is installed from the distribution. TypeScript comes with npm ci below (the
# `typescript` package is a runtime dependency of cylo). Go: Debian's golang-go ships the
# standard library prebuilt in GOROOT/pkg, which the sandbox binds read-only, so `go build`
# needs no warm-up (see docs/runtimes.md).
need python3 /usr/bin/python3 || missing+=(python3)
need g++ /usr/bin/g++ || missing+=(g++)
need go /usr/local/go/bin/go || missing+=(golang-go)
need rustc "${HOME:-/root}/.cargo/bin/rustc" || need rustc /usr/local/cargo/bin/rustc || missing+=(rustc)
need javac /usr/bin/javac || missing+=(default-jdk-headless)
need perl /usr/bin/perl || missing+=(perl)
# --- end toolchains ---
# The built-in `datasci` environment (docs/environments.md): Debian's numpy, pandas and
# matplotlib, visible only to requests that select it. On by default, so that CI proves
# `import numpy, pandas` (measured on a Debian 12 host: python3-pandas alone, with numpy and
# matplotlib already there, took 18 s); CYLO_SETUP_DATASCI=0 leaves them out (the tests that
# need them then skip, saying why).
if [ "${CYLO_SETUP_DATASCI:-1}" != 0 ]; then
  for p in python3-numpy python3-pandas python3-matplotlib; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "cylo setup: system packages already installed (nothing for apt-get to do)"
else
  if [ "$(id -u)" = 0 ]; then
    echo "cylo setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "cylo setup: missing system packages; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

# The guest kernel (Debian's cloud kernel, extracted into /usr/local/lib/cylo/guest; root only,
# since it writes there; about 10 s and 27 MB on a first setup, nothing after).
# The microVM backend's read-only runtime image (the languages' packages as installed here,
# about 40 s and 650 MB sparse on a first setup; after that rebuilt only when the script or a
# package's installed version changed, so that it follows the host's packages: about 1 s to check).
if [ "$(id -u)" = 0 ]; then
  scripts/guest/kernel.sh
  scripts/guest/runtime-image.sh
else
  echo "cylo setup: the guest kernel and runtime image need root; run: sudo scripts/guest/kernel.sh && sudo scripts/guest/runtime-image.sh" >&2
fi

# npm dependencies, exactly as locked. Skipped when node_modules was installed (npm ci writes
# node_modules/.package-lock.json last) after the last change of package.json and the lock file:
# a second setup does not spend minutes reinstalling the same tree.
if [ node_modules/.package-lock.json -nt package-lock.json ] && [ node_modules/.package-lock.json -nt package.json ]; then
  echo "cylo setup: npm dependencies already installed as locked (rm -rf node_modules to reinstall)"
else
  npm ci --no-audit --no-fund
fi
# TypeScript build, the native helper, the CLI bundle and the playground; skipped when no source,
# lock file, node or compiler changed since the last build this made (scripts/build-if-changed.sh).
scripts/build-if-changed.sh
echo "cylo setup: done. Try: bin/cylo doctor"

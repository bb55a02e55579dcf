#!/usr/bin/env bash
# Runs `npm run build` (the native helper, tsc, the CLI bundle, the playground) in the current
# directory unless nothing the build reads changed since this script last built: scripts/setup.sh
# calls it so that a second setup does not spend half a minute rebuilding the same dist/.
#
#   scripts/build-if-changed.sh [--force]
#
# The record, dist/.build-inputs (written after a successful build, removed before one), holds:
#   - the versions of node and of the C compiler ($CC, default cc), and $CC itself;
#   - the SHA-256 of every file under src, native, web, test, bench and scripts (the sources tsc,
#     esbuild and the C compiler read, and the build scripts), of package.json, package-lock.json,
#     tsconfig.json and node_modules/.package-lock.json (what npm ci installed);
#   - the size and modification time of one output of each build step (dist/native/cylo-helper,
#     dist/src/cli/main.js, dist/src/cli-bundle/inputs.json, dist/web/index.html): a build run
#     any other way since (npm run build, npm test, one step alone) rewrites them, so the record
#     no longer describes dist/ and the next run builds. A missing output is a change too.
# Any difference builds, and the first differing line says why. Not covered: a hand edit of a
# file in dist/ that keeps its size and mtime, a changed system header (touch a source, or --force).
set -euo pipefail
stamp=dist/.build-inputs
outputs=(dist/native/cylo-helper dist/src/cli/main.js dist/src/cli-bundle/inputs.json dist/web/index.html)
force=0
[ "${1:-}" = --force ] && force=1

inputs() {
  echo "node $(node --version)"
  echo "CC ${CC:-cc}: $("${CC:-cc}" --version 2>/dev/null | head -n 1 || true)"
  local dirs=() d
  for d in src native web test bench scripts; do [ -d "$d" ] && dirs+=("$d"); done
  { [ ${#dirs[@]} -eq 0 ] || find "${dirs[@]}" -type f ! -path '*/node_modules/*' -print0; } | sort -z | xargs -0 -r sha256sum
  local f
  for f in package.json package-lock.json tsconfig.json node_modules/.package-lock.json; do
    if [ -f "$f" ]; then sha256sum "$f"; else echo "missing $f"; fi
  done
}
outputs_state() {
  local f
  for f in "${outputs[@]}"; do stat -c 'output %n %s %.9Y' "$f" 2>/dev/null || echo "output $f missing"; done
}

now="$(inputs; outputs_state)"
if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$now" ]; then
  echo "cylo setup: build up to date (no source, lock file, node or compiler change since the last setup build; scripts/build-if-changed.sh --force rebuilds)"
  exit 0
fi
if [ "$force" = 1 ]; then
  echo "cylo setup: building (--force)"
elif [ -f "$stamp" ]; then
  echo "cylo setup: building (changed since the last setup build: $(diff "$stamp" <(printf '%s\n' "$now") | grep -m 1 '^>' | cut -c3- || true))"
fi
rm -f "$stamp"
npm run build
# Written last, from the inputs as they were before the build (an edit during it builds again).
mkdir -p dist
{ printf '%s\n' "$now" | grep -v '^output '; outputs_state; } > "$stamp"

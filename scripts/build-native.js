#!/usr/bin/env node
// Compiles the native sandbox helper (native/*.c, one file per mechanism) with the system C
// compiler into dist/native/cylo-helper. Landlock must be applied between fork and exec and
// rlimits/cgroup membership must be set before bubblewrap starts, which Node cannot do; this
// small C program does exactly that.
import { mkdirSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const cc = process.env.CC || 'cc';
const sources = readdirSync('native')
  .filter((name) => name.endsWith('.c'))
  .sort()
  .map((name) => `native/${name}`);
mkdirSync('dist/native', { recursive: true });
const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', '-static-pie', '-o', 'dist/native/cylo-helper', ...sources];
let r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.status !== 0) {
  // Not every libc ships static-pie support; a dynamic build works as well (the sandbox binds /usr).
  r = spawnSync(cc, args.filter((a) => a !== '-static-pie'), { stdio: 'inherit' });
}
if (r.error || r.status !== 0) {
  console.error(`cylo: could not compile the native helper with "${cc}". Install a C compiler (Debian: apt-get install -y gcc libc6-dev) and run "npm run build:native".`);
  process.exit(1);
}

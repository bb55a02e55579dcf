// The built native helper carries the hardening scripts/build-native.js asks for: each check
// reads the binary itself (readelf, objdump from binutils), so it fails when a flag is dropped
// from the build or ignored by the toolchain (each was checked against a build without the
// flags: `cc -D_GNU_SOURCE -O2 -fPIE -static-pie native/*.c` fails every check but PIE).
// Stack-clash probes (-fstack-clash-protection) leave no mark that can be told apart from
// ordinary code in functions with small frames, so they are not checked here.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { defaultHelperPath } from '../../src/sandbox/host-check.js';

const HELPER = defaultHelperPath();

function tool(name: string, args: string[]): string {
  const r = spawnSync(name, [...args, HELPER], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`${name} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

function skipped(t: TestContext, needs: string[] = ['readelf']): boolean {
  if (process.platform !== 'linux') t.skip(`needs Linux (this is ${process.platform})`);
  else if (!existsSync(HELPER)) t.skip(`${HELPER} is missing: build it with npm run build:native`);
  else {
    const missing = needs.find((n) => spawnSync(n, ['--version']).status !== 0);
    if (missing === undefined) return false;
    t.skip(`${missing} is not installed (Debian: apt-get install -y binutils)`);
  }
  return true;
}

/** The disassembly of one function of the helper's own code. */
const disassembly = (fn: string): string => tool('objdump', ['-d', `--disassemble=${fn}`]);

test('the helper is a position-independent executable (ASLR applies to its code: -fPIE -pie)', (t) => {
  if (skipped(t)) return;
  assert.match(tool('readelf', ['-hW']), /Type:\s+DYN \(Position-Independent Executable file\)/);
});

test('full RELRO: a read-only segment after relocation and immediate binding (-z relro -z now)', (t) => {
  if (skipped(t)) return;
  // proves: without -z relro there is no GNU_RELRO segment; without -z now the GOT stays
  // writable for lazy binding, an overwrite target (no BIND_NOW / NOW flag)
  assert.match(tool('readelf', ['-lW']), /^\s+GNU_RELRO\s/m);
  assert.match(tool('readelf', ['-dW']), /\(FLAGS\)\s+BIND_NOW|\(FLAGS_1\)\s+Flags:.*\bNOW\b/);
});

test('no executable stack and no text relocations', (t) => {
  if (skipped(t)) return;
  const segments = tool('readelf', ['-lW']);
  assert.match(segments, /^\s+GNU_STACK\s.*\sRW\s/m, 'the stack segment is RW, not RWE');
  assert.doesNotMatch(tool('readelf', ['-dW']), /TEXTREL/);
});

test('stack protector: a function with a buffer checks the canary and calls __stack_chk_fail', (t) => {
  if (skipped(t, ['objdump'])) return;
  if (process.arch !== 'x64') {
    t.skip(`the canary's location (%fs:0x28) is x86_64's (this is ${process.arch})`);
    return;
  }
  // unpack_bundle (native/job.c) holds a PATH_MAX name buffer filled from the job pipe:
  // -fstack-protector-strong guards it; without the flag neither the load nor the call exists.
  const code = disassembly('unpack_bundle');
  assert.match(code, /<unpack_bundle>:/, 'the helper has its symbols (not stripped)');
  assert.match(code, /%fs:0x28/, 'the canary is loaded and compared');
  assert.match(code, /call\s+\S+\s+<__stack_chk_fail>/);
});

test('_FORTIFY_SOURCE: formatted writes into fixed buffers go through the checked libc calls', (t) => {
  if (skipped(t, ['objdump'])) return;
  // fail() (native/util.c) formats an untrusted-length message into a 1 KiB buffer: fortified,
  // vsnprintf becomes __vsnprintf_chk, which aborts rather than overflow.
  assert.match(disassembly('fail'), /call\s+\S+\s+<_*vsnprintf_chk>/);
});

test('control-flow protection (x86 CET): every function of the helper starts with endbr64', (t) => {
  if (skipped(t, ['objdump'])) return;
  if (process.arch !== 'x64') {
    t.skip(`-fcf-protection is x86's (this is ${process.arch})`);
    return;
  }
  // proves: -fcf-protection=full is in the build (without it no landing pad is emitted)
  for (const fn of ['main', 'fail', 'unpack_bundle', 'read_job', 'run_inner', 'run_outer']) {
    const code = disassembly(fn);
    const first = /<[^>]+>:\n\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*(\S+)/.exec(code);
    assert.equal(first?.[1], 'endbr64', `${fn} starts with endbr64`);
  }
});

// Hostile corpus, files: reading host files and the service's own files, config and
// environment; writing outside the workspace; files persisting into the next run; devices;
// /proc/sys and /sys; setuid binaries; symlinks and hard links planted for the host to follow
// after the run (the Judge0 CVEs, REFERENCE.md section 2); file names that try traversal.
//
// SAFETY: every test calls skipWithoutPreflight(t) first, has a 20 s timeout and tight limits.
import { scriptCompiler } from '../support/runtimes.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecutionResult } from '../../src/api/result.js';
import { SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { strayProcesses, uniqueMarker } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { assertHostClean, attack, attackAll, LANGS, startService, T, useService } from './attacks.js';
import { slow } from '../support/slow.js';

const service = useService();
let secrets: string;

/** The service's own files: its package.json (a stand-in for its code) and a config file with a
 *  token, created by this test. */
const PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));

before(() => {
  secrets = mkdtempSync(join(tmpdir(), 'cylo-sec-secrets-'));
  writeFileSync(join(secrets, 'config.json'), JSON.stringify({ token: 'cylo-secret-token-0123456789' }), { mode: 0o644 });
  writeFileSync(join(secrets, 'token'), 'cylo-secret-token-0123456789\n', { mode: 0o644 });
});

after(() => {
  if (secrets !== undefined) rmSync(secrets, { recursive: true, force: true });
});

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

// ------------------------------------------------------------------------------------------
// reading
// ------------------------------------------------------------------------------------------

test('host files, the service\'s own files and config, /proc of PID 1 and of the service: nothing readable', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const expected: Record<string, string> = {
    '/etc/shadow': 'ENOENT',
    '/etc/passwd': 'ENOENT',
    '/root': 'ENOENT',
    '/home': 'ENOENT',
    [PACKAGE_JSON]: 'ENOENT',
    [join(secrets, 'config.json')]: 'ENOENT',
    [join(secrets, 'token')]: 'ENOENT',
    '/var/cache/cylo/compile': 'ENOENT',
    // PID 1 inside is the supervisor: not dumpable, so not even its environ or root link
    '/proc/1/environ': 'EACCES',
    '/proc/1/root/etc/shadow': 'EACCES',
    // the service's pid does not exist in the sandbox's PID namespace
    [`/proc/${process.pid}/environ`]: 'ENOENT',
    [`/proc/${process.pid}/cmdline`]: 'ENOENT',
    // The sandbox's procfs is the same kernel's: where it has /proc/kcore (the cgroup-v2 guest's
    // Debian kernel), it is root's 0400, refused; where it has none (this host), absent.
    '/proc/kcore': existsSync('/proc/kcore') ? 'EACCES' : 'ENOENT',
    '/sys/kernel/notes': 'ENOENT',
  };
  // Positive control: these exist on the host.
  for (const p of ['/etc/shadow', '/etc/passwd', '/root', PACKAGE_JSON, join(secrets, 'token')]) assert.ok(existsSync(p), `${p} exists on the host`);
  const before = { shadow: sha256('/etc/shadow'), token: sha256(join(secrets, 'token')) };
  const r = await attackAll(service, LANGS, 'read', Object.keys(expected));
  for (const lang of LANGS) {
    assert.equal(r[lang].result.status, 'ok', `${lang}: ${r[lang].run.stderr}`);
    assert.deepEqual(r[lang].out, expected, lang);
    assert.ok(!r[lang].run.stdout.includes('cylo-secret-token'), `${lang}: the token never appears`);
  }
  assert.deepEqual({ shadow: sha256('/etc/shadow'), token: sha256(join(secrets, 'token')) }, before);
  await assertHostClean(service, Object.values(r).map((a) => a.marker));
});

test('the service\'s environment variables never reach the program (environ, /proc/self/environ, /proc/1/environ)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const name = 'CYLO_SEC_CANARY_TOKEN';
  const value = `canary-${uniqueMarker()}`;
  process.env[name] = value;
  try {
    const r = await Promise.all((['python', 'javascript', 'bash'] as const).map((l) => attack(service, l, 'env')));
    for (const a of r) {
      assert.equal(a.result.status, 'ok', `${a.lang}: ${a.run.stderr}`);
      assert.ok(!a.run.stdout.includes(value) && !a.run.stdout.includes(name), `${a.lang}: the canary is absent`);
      const names = a.out.environ?.split(';') ?? [];
      assert.ok(names.includes('PATH') && names.includes('HOME'), `${a.lang}: the allowlisted variables are there (${a.out.environ})`);
      assert.ok(!names.some((n) => /TOKEN|SECRET|KEY|PASSWORD|CYLO_/.test(n)), `${a.lang}: ${a.out.environ}`);
      assert.equal(a.out.proc_1_environ, 'EACCES', `${a.lang}: PID 1's environment`);
    }
  } finally {
    delete process.env[name];
  }
});

// ------------------------------------------------------------------------------------------
// writing
// ------------------------------------------------------------------------------------------

test('writes outside the workspace fail (/, /usr, /etc, /dev, /proc/sys, /sys, the helper); /tmp is the workspace', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const planted = `/tmp/${uniqueMarker('cylo-planted-')}`;
  const expected: Record<string, string> = {
    '/x': 'EROFS',
    '/usr/x': 'EROFS',
    '/usr/bin/python3': 'EROFS',
    '/etc/x': 'EROFS',
    '/etc/ld.so.cache': 'EROFS',
    '/.cylo/helper': 'EROFS',
    '/dev/shm/x': 'EROFS',
    '/var/tmp/x': 'ENOENT',
    '/root/x': 'ENOENT',
    [`${PACKAGE_JSON}.planted`]: 'ENOENT',
    // procfs is mounted read-write by bubblewrap; Landlock (and the kernel's own checks) refuse
    '/proc/sys/kernel/hostname': 'EACCES',
    '/proc/sys/vm/drop_caches': 'EACCES',
    '/proc/self/oom_score_adj': 'EACCES',
    // root's 0200 where the kernel has it (the guest), else absent (this host)
    '/proc/sysrq-trigger': existsSync('/proc/sysrq-trigger') ? 'EACCES' : 'ENOENT',
    '/sys/kernel/x': 'ENOENT',
    '/sys/fs/cgroup/x': 'ENOENT',
    // /tmp inside is a link into the workspace: the write "works", and stays there
    [planted]: 'ok',
    '/dev/null': 'ok',
    '/work/ok': 'ok',
  };
  const r = await attackAll(service, LANGS, 'write', Object.keys(expected));
  for (const lang of LANGS) {
    assert.equal(r[lang].result.status, 'ok', `${lang}: ${r[lang].run.stderr}`);
    assert.deepEqual(r[lang].out, expected, lang);
  }
  // Nothing appeared on the host.
  for (const p of [planted, '/x', '/usr/x', '/etc/x', '/var/tmp/x', '/root/x', `${PACKAGE_JSON}.planted`, '/work/ok']) assert.equal(existsSync(p), false, `${p} on the host`);
  await assertHostClean(service, Object.values(r).map((a) => a.marker));
});

test('files written in one run are gone in the next on the same worker (/tmp, /var/tmp, /dev/shm, workspace)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // One worker: the second run reuses the first one's slot (same uid, same cgroup).
  const cylo: Cylo = createCylo({ concurrency: 1, uidBase: SECURITY_UIDS.fresh, uidCount: SECURITY_UID_COUNT, runtimesFile: false });
  const single = await startService(cylo);
  const name = uniqueMarker('persist-');
  const paths = [`/tmp/${name}`, `/var/tmp/${name}`, `/dev/shm/${name}`, `/work/${name}`, `/work/.tmp/${name}.2`];
  try {
    for (const lang of LANGS) {
      const first = await attack(single, lang, 'write', paths);
      assert.deepEqual(first.out, { [`/tmp/${name}`]: 'ok', [`/var/tmp/${name}`]: 'ENOENT', [`/dev/shm/${name}`]: 'EROFS', [`/work/${name}`]: 'ok', [`/work/.tmp/${name}.2`]: 'ok' }, `${lang}: first run`);
      const second = await attack(single, lang, 'read', paths);
      assert.deepEqual(second.out, Object.fromEntries(paths.map((p) => [p, 'ENOENT'])), `${lang}: second run sees none of them`);
    }
    assert.equal(cylo.stats().retiredSlots, 0);
    for (const p of [`/tmp/${name}`, `/work/${name}`]) assert.equal(existsSync(p), false, `${p} on the host`);
    assert.ok(!readdirSync('/tmp').some((f) => f.includes(name)));
  } finally {
    await single.close();
    await cylo.close();
  }
  assert.deepEqual(strayProcesses(SECURITY_UIDS.fresh, SECURITY_UID_COUNT), []);
});

// ------------------------------------------------------------------------------------------
// devices, setuid
// ------------------------------------------------------------------------------------------

test('devices: /dev/mem, /dev/kvm and block devices are absent, mknod fails, /dev holds only the harmless nodes', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const [c, sh] = await Promise.all([attack(service, 'c', 'devices'), attack(service, 'bash', 'read', ['/dev/mem', '/dev/kvm', '/dev/sda', '/dev/vda', '/dev/nvme0n1'])]);
  assert.equal(c.result.status, 'ok', c.run.stderr);
  const { dev_entries: entries, ...opened } = c.out;
  assert.deepEqual(opened, {
    '/dev/mem': 'ENOENT',
    '/dev/kmem': 'ENOENT',
    '/dev/port': 'ENOENT',
    '/dev/kvm': 'ENOENT',
    '/dev/sda': 'ENOENT',
    '/dev/vda': 'ENOENT',
    '/dev/nvme0n1': 'ENOENT',
    '/dev/loop0': 'ENOENT',
    '/dev/fuse': 'ENOENT',
    '/dev/net/tun': 'ENOENT',
    '/dev/kmsg': 'ENOENT',
    '/dev/vsock': 'ENOENT',
    '/dev/vhost-vsock': 'ENOENT',
    // device nodes: Landlock refuses (and without it: no CAP_MKNOD, nodev workspace)
    mknod_char_mem: 'EACCES',
    mknod_block_sda: 'EACCES',
    mknod_dev: 'EROFS',
    // a FIFO in the workspace is harmless and allowed
    mknod_fifo_work: 'ok',
  });
  assert.deepEqual((entries ?? '').split(',').filter(Boolean).sort(), ['core', 'fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  assert.deepEqual(sh.out, { '/dev/mem': 'ENOENT', '/dev/kvm': 'ENOENT', '/dev/sda': 'ENOENT', '/dev/vda': 'ENOENT', '/dev/nvme0n1': 'ENOENT' });
  await assertHostClean(service, [c.marker, sh.marker]);
});

test('setuid binaries (su, passwd, mount, umount, newgrp, chsh) gain nothing: nosuid, NoNewPrivs, root unmapped', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const present = ['/usr/bin/su', '/usr/bin/mount'].filter((p) => existsSync(p) && (statSync(p).mode & 0o4000) !== 0);
  if (present.length === 0) t.diagnostic('no setuid su or mount on this host: the probes still run but prove less');
  const a = await attack(service, 'bash', 'setuid');
  assert.equal(a.result.status, 'ok', a.run.stderr);
  // One line, one uid: 1000 inside. (Its outside id is the parent namespace's: bubblewrap's
  // --disable-userns nests the sandbox's namespace in one whose only id is the execution's
  // unprivileged host uid; test/integration/isolation.test.ts reads that uid from the host.)
  const [inside, , count] = (a.out.uid_map ?? '').split(':');
  assert.deepEqual([inside, count], ['1000', '1'], `only uid 1000 is mapped: ${a.out.uid_map}`);
  assert.ok(!(a.out.uid_map ?? '').includes(','), 'a single mapping line');
  assert.deepEqual(
    { ...a.out, uid_map: undefined },
    { no_new_privs: '1', mounts_without_nosuid: '', uid_map: undefined, su: 'failed', passwd: 'failed', mount: 'failed', umount: 'failed', newgrp: 'failed', chsh: 'failed', id: '1000,1000' },
  );
  await assertHostClean(service, [a.marker]);
});

// ------------------------------------------------------------------------------------------
// links planted for the host (Judge0 CVE-2024-28185 / CVE-2024-28189)
// ------------------------------------------------------------------------------------------

/** An operator-defined "compiler" that is a shell script from the request: it can plant anything
 *  a compiler could at the artifact path, which PID 1 streams out without following links. */
const PLANT = scriptCompiler('plant-build');

test('links planted at the artifact path (symlink, parent symlink, hard link, nested link): compile_error, host untouched, nothing cached', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const cacheDir = mkdtempSync(join(tmpdir(), 'cylo-sec-cache-'));
  const cylo: Cylo = createCylo({ runtimes: [PLANT], runtimesFile: false, cacheDir, uidBase: SECURITY_UIDS.fresh, uidCount: SECURITY_UID_COUNT, defaultLimits: { timeoutMs: slow(5000), workspaceBytes: 8 * MiB, memoryBytes: 128 * MiB, pids: 32 } });
  const watched = ['/etc/passwd', '/etc/shadow', '/usr/bin/bash'];
  const before = watched.map((p) => [p, sha256(p), statSync(p).mtimeMs]);
  const cached = (): string[] => readdirSync(cacheDir).filter((f) => f.endsWith('.artifact'));
  try {
    const cases: Array<{ script: string; message: RegExp }> = [
      { script: 'ln -s /etc/passwd .build/out', message: /\.build\/out is not a regular file or directory/ },
      { script: 'ln -s /proc/1/root .build/out', message: /\.build\/out is not a regular file or directory/ },
      { script: 'rm -rf .build && ln -s /etc .build', message: /a parent is not a directory/ },
      { script: 'rm -rf .build && ln -s /usr/bin .build && true', message: /a parent is not a directory/ },
      { script: 'mkdir -p .build/out/a/b && echo x > .build/out/a/f && ln -s /etc/shadow .build/out/a/b/link', message: /\.build\/out\/a\/b\/link is not a regular file/ },
      { script: 'mkfifo .build/out', message: /not a regular file or directory/ },
    ];
    for (const c of cases) {
      const r = await cylo.execute({ language: 'plant-build', code: c.script });
      assert.equal(r.status, 'compile_error', `${c.script}: ${JSON.stringify(r.compile)}`);
      assert.match(r.compile?.message ?? '', c.message, c.script);
      assert.equal(r.run, null, 'no run stage');
      assert.deepEqual(cached(), [], `${c.script}: the cache stored nothing`);
    }
    // A hard link to a host file cannot even be made: the trees are other mounts (EXDEV), and
    // the host files the sandbox can see are read-only binds.
    const hard = await cylo.execute({ language: 'plant-build', code: 'ln /usr/bin/bash .build/out' });
    assert.equal(hard.status, 'compile_error');
    assert.match(hard.compile?.stderr ?? '', /Invalid cross-device link/);
    const hardEtc = await cylo.execute({ language: 'plant-build', code: 'ln /etc/ld.so.cache .build/out' });
    assert.equal(hardEtc.status, 'compile_error');
    assert.match(hardEtc.compile?.stderr ?? '', /Invalid cross-device link/);
    assert.deepEqual(cached(), []);
    // Positive control: a real file comes out, is cached, and reaches the run stage.
    const good = await cylo.execute({ language: 'plant-build', code: 'echo built > .build/out' });
    assert.equal(good.status, 'ok', JSON.stringify(good));
    assert.equal(good.run?.stdout, 'built\n');
    assert.equal(cached().length, 1, 'the clean artifact was cached');
    const again = await cylo.execute({ language: 'plant-build', code: 'echo built > .build/out' });
    assert.equal(again.compile?.cached, true, 'served from the cache');
    assert.equal(again.run?.stdout, 'built\n');
    assert.deepEqual(watched.map((p) => [p, sha256(p), statSync(p).mtimeMs]), before, 'the host files are untouched');
  } finally {
    await cylo.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  assert.deepEqual(strayProcesses(SECURITY_UIDS.fresh, SECURITY_UID_COUNT), []);
});

test('the run stage plants links in its workspace; the host has no workspace folder to follow them into', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8');
  const marker = uniqueMarker();
  const r: ExecutionResult = await service.exec({
    language: 'bash',
    code: 'ln -s /etc/passwd /work/out && ln -s / /work/root && ln /work/main.sh /work/hard && mkdir -p /work/.build && ln -s /etc/shadow /work/.build/main && ls -la /work | wc -l; echo "$1" >/dev/null',
    args: [marker],
  });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  // Nothing to follow: no host directory holds the sandbox's files, and the host's mount table
  // did not change (the tmpfs lived and died in the sandbox's own mount namespace).
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore);
  for (const dir of ['/tmp', '/var/tmp', '/dev/shm', '/run']) {
    if (!existsSync(dir)) continue;
    const owned = readdirSync(dir).filter((f) => {
      try {
        const uid = statSync(join(dir, f)).uid;
        return uid >= 2_000_000_000;
      } catch {
        return false;
      }
    });
    assert.deepEqual(owned, [], `no file of a sandbox uid in ${dir}`);
  }
  await assertHostClean(service, [marker]);
});

test('C sources that include or embed host files fail to compile, leaking nothing', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const cases = [
    { code: '#include "/etc/shadow"\nint main(void) { return 0; }\n', message: /\/etc\/shadow: No such file or directory/ },
    { code: `#include "${PACKAGE_JSON}"\nint main(void) { return 0; }\n`, message: /No such file or directory/ },
    { code: '__asm__(".incbin \\"/etc/passwd\\"");\nint main(void) { return 0; }\n', message: /\/etc\/passwd/ },
    { code: '#include "/proc/1/environ"\nint main(void) { return 0; }\n', message: /Permission denied/ },
  ];
  for (const c of cases) {
    const r = await service.exec({ language: 'c', code: `/* ${uniqueMarker()} */\n${c.code}` });
    assert.equal(r.status, 'compile_error', JSON.stringify(r.compile));
    assert.match(r.compile?.stderr ?? '', c.message);
    assert.ok(!(r.compile?.stderr ?? '').includes('root:'), 'no line of a host account file');
  }
  await assertHostClean(service, []);
});

// ------------------------------------------------------------------------------------------
// file names in requests
// ------------------------------------------------------------------------------------------

test('file names that try traversal are refused with CYLO_E_VALIDATION (400) and nothing is written', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const target = uniqueMarker('cylo-traversal-');
  const names = [
    `../${target}`,
    `../../../../../../tmp/${target}`,
    `/tmp/${target}`,
    `a/../../${target}`,
    `./${target}`,
    `a//${target}`,
    `${target}/..`,
    '..',
    '.',
    '',
    `${target}\0.py`,
    `${target}\n`,
    `${target}\u001b[31m`,
    `a\\..\\${target}`,
    'x'.repeat(2000),
  ];
  for (const name of names) {
    const res = await fetch(`${service.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', files: [{ name: 'main.sh', content: 'true' }, { name, content: 'planted' }] }) });
    const body = (await res.json()) as { error?: { code: string; field?: string } };
    assert.equal(res.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, 'CYLO_E_VALIDATION', JSON.stringify(name));
    assert.equal(body.error?.field, 'files[1].name', JSON.stringify(name));
  }
  // 10,000 files: refused as a whole, before anything runs.
  const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `${target}-${i}`, content: '' }));
  const res = await fetch(`${service.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', files: many }) });
  const body = (await res.json()) as { error?: { code: string; field?: string } };
  assert.equal(res.status, 400);
  assert.deepEqual([body.error?.code, body.error?.field], ['CYLO_E_VALIDATION', 'files']);
  // Where a careless host-side write could land (/work: the sandbox's workspace path, when the
  // host has such a directory; a guest or another machine may not).
  for (const dir of ['/tmp', '/work', fileURLToPath(new URL('../../..', import.meta.url)), process.cwd()].filter((d) => existsSync(d))) {
    assert.ok(!readdirSync(dir).some((f) => f.includes(target)), `nothing named after the request in ${dir}`);
  }
  await service.healthz();
});

// The resident cylo (`cylo daemon`, docs/resident.md) through real processes and a real socket:
// bin/cylo hands `cylo exec` to it, and what the user sees (stdout, stderr, exit code) is what the
// in-process path (CYLO_RESIDENT=0) gives; signals end the run cleanly; a different configuration,
// a stale socket and another uid keep the client off it; a resident that dies mid-run is reported,
// never silently run again. Which path ran is told by the resident's count of accepted commands
// (its status, as cylo doctor reads it): a client falling back in-process by mistake fails the
// count checks. Two commands at once each keep their own working directory, stdin, stdout, exit
// code and signals. Costs about 10 to 25 s in CI at load 10 to 16 (three daemons started, ~30
// short runs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { isPreparedSandboxProcess, processesWith, uniqueMarker } from '../support/processes.js';
import { typeNameDialogue } from '../support/tty.js';
import { waitFor } from '../support/wait.js';
import { residentStatus } from '../../src/cli/resident/server.js';

const T = { timeout: 120_000 };
const CYLO = resolve('bin/cylo');
// This file's uids: the resident (+176), the in-process comparisons (+184), a second resident (+192).
const RESIDENT_BASE = TEST_UID_BASE + TEST_UID_COUNT + 176;
const LOCAL_BASE = RESIDENT_BASE + 8;
const SECOND_BASE = RESIDENT_BASE + 16;
const COUNT = 8;
const skip = sandboxSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'cylo-resident-'));
const work = join(dir, 'work'); // the clients' working directory (relative file arguments)
mkdirSync(work);
const SOCKET = join(dir, 'run', 'resident.sock');

/** The environment of a client or resident with this uid range and socket. */
function envFor(base: number, socket = SOCKET, extra: Record<string, string> = {}): Record<string, string> {
  // Two slots whatever the core count: the concurrent tests run two commands at once.
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(base), CYLO_UID_COUNT: String(COUNT), CYLO_CONCURRENCY: '2', CYLO_RESIDENT_SOCKET: socket, ...extra };
}
const RESIDENT_ENV = envFor(RESIDENT_BASE);
/** In-process: the resident is not asked, and the run takes its own uid range. */
const LOCAL_ENV = envFor(LOCAL_BASE, SOCKET, { CYLO_RESIDENT: '0' });

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/cylo ARGS` in `work` to its end; `onStdout` sees the output so far as it comes. */
function cylo(args: string[], env: Record<string, string>, stdin = '', onStdout: (sofar: string) => void = () => undefined): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CYLO, ...args], { cwd: work, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => onStdout((stdout += s)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.end(stdin);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Starts `cylo daemon` with `env` and waits until it listens; returns the child. */
async function startResident(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CYLO, 'daemon'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  await waitFor(`cylo daemon to listen (log: ${log})`, () => log.includes('listening on') || child.exitCode !== null, 60_000);
  assert.ok(log.includes('listening on'), `cylo daemon started (log: ${log})`);
  return child;
}

const inRange = (uid: number, base: number): boolean => uid >= base && uid < base + COUNT;

/** How many commands the resident on `socket` accepted so far. */
async function served(socket = SOCKET): Promise<number> {
  const status = await residentStatus(socket, 30_000);
  assert.ok(status !== undefined, `the resident on ${socket} answers`);
  return status.served;
}

/** Runs `bin/cylo ARGS` and says whether the resident on `socket` accepted it. */
async function cyloCounted(args: string[], env: Record<string, string>, stdin = '', socket = SOCKET): Promise<Outcome & { viaResident: boolean }> {
  const before = await served(socket);
  const outcome = await cylo(args, env, stdin);
  return { ...outcome, viaResident: (await served(socket)) === before + 1 };
}

let resident: ChildProcess | undefined;

before(async () => {
  if (skip !== undefined) return;
  resident = await startResident(RESIDENT_ENV);
});

after(async () => {
  if (resident !== undefined && resident.exitCode === null) {
    const gone = new Promise((r) => resident?.once('close', r));
    resident.kill('SIGTERM');
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

test('the resident socket is 0600 in a 0700 directory, and a client of the same configuration is served by it', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  assert.equal(statSync(SOCKET).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
  // Proves the hand-over happened (the resident accepted it), and that CYLO_RESIDENT=0 skips it.
  const viaResident = await cyloCounted(['exec', '--lang', 'python', 'print(1)'], RESIDENT_ENV);
  assert.deepEqual(viaResident, { code: 0, stdout: '1\n', stderr: '', viaResident: true });
  const local = await cyloCounted(['exec', '--lang', 'python', 'print(1)'], LOCAL_ENV);
  assert.deepEqual(local, { code: 0, stdout: '1\n', stderr: '', viaResident: false });
});

// Each case runs through the resident and in-process; the user sees the same bytes and code.
const SAME: Array<{ name: string; args: string[]; stdin?: string; files?: Record<string, string>; timed?: boolean }> = [
  { name: 'hello world', args: ['exec', '--lang', 'python', 'print("hello")'] },
  { name: 'a nonzero exit with stderr', args: ['exec', '--lang', 'python', 'import sys; print("out"); print("err", file=sys.stderr); sys.exit(3)'] },
  { name: 'a signal death (the shell\'s line)', args: ['exec', '--lang', 'bash', 'echo before; kill -SEGV $$'] },
  { name: 'a --json error', args: ['exec', '--json', '--memory', '128', '--lang', 'python', 'print(1)'] },
  { name: 'a usage error', args: ['exec', '--lang', 'python', 'main.py', '--verbose'] },
  { name: 'a file argument (relative to the client\'s cwd) with args after --', args: ['exec', 'sub/args.py', '--', '--flag', 'x y'], files: { 'sub/args.py': 'import sys\nprint(sys.argv[1:])\n' } },
  { name: 'piped stdin to a file program', args: ['exec', 'rev.py'], stdin: 'hello\nworld\n', files: { 'rev.py': 'import sys\nfor line in sys.stdin: print(line.strip()[::-1])\n' } },
  { name: 'code from stdin (-)', args: ['exec', '--lang', 'python', '-'], stdin: 'print(6 * 7)\n' },
  // Relative paths of flags, read from the client's directory (the resident never changes its own).
  { name: '--stdin-file relative to the client\'s cwd', args: ['exec', 'dbl.py', '--stdin-file', 'in/x.txt'], files: { 'dbl.py': 'print(int(input()) * 2)\n', 'in/x.txt': '5\n' } },
  { name: '--tests relative to the client\'s cwd', args: ['exec', 'dbl.py', '--tests', 'cases'], files: { 'dbl.py': 'print(int(input()) * 2)\n', 'cases/1.in': '2\n', 'cases/1.out': '4\n', 'cases/2.in': '3\n', 'cases/2.out': '7\n' }, timed: true },
];

for (const c of SAME) {
  test(`cylo exec through the resident = in-process: ${c.name}`, T, async (t) => {
    if (skip !== undefined) return t.skip(skip);
    for (const [name, text] of Object.entries(c.files ?? {})) {
      mkdirSync(join(work, name, '..'), { recursive: true });
      writeFileSync(join(work, name), text);
    }
    // A test-case report gives each case's time (9.5 ms, 85 ms) and memory (3600K, 4M): those
    // differ from run to run.
    const untimed = (o: Outcome): Outcome => (c.timed === true ? { ...o, stdout: o.stdout.replace(/\d+(\.\d+)? ms/g, 'N ms').replace(/\b\d+[BKMGT]\b/g, 'N') } : o);
    const { viaResident, ...viaSocket } = await cyloCounted(c.args, RESIDENT_ENV, c.stdin);
    const resident = untimed(viaSocket);
    const local = untimed(await cylo(c.args, LOCAL_ENV, c.stdin));
    assert.ok(viaResident, 'the resident ran it');
    assert.deepEqual(resident, local);
    assert.notEqual(local.stdout + local.stderr, '', 'the case prints something to compare');
  });
}

for (const [sig, exitCode] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  test(`${sig} to a client mid-run ends the program in the resident: exit ${exitCode}, no process or cgroup of the run left`, T, async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const marker = uniqueMarker('');
    const child = spawn(process.execPath, [CYLO, 'exec', '--lang', 'bash', '--timeout', '60s', `sleep 30.${marker}`], { cwd: work, env: RESIDENT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdout.resume();
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
    try {
      const sleeper = await waitFor('the sandboxed sleep to start', () => processesWith(marker).find((p) => /(^|\/)sleep$/.test(p.cmdline[0] ?? '')), 30_000);
      assert.ok(inRange(sleeper.uids[0] ?? 0, RESIDENT_BASE), 'the program runs in the resident (its uid range)');
      const cgroup = readFileSync(`/proc/${sleeper.pid}/cgroup`, 'utf8');
      assert.match(cgroup, new RegExp(`x-${resident?.pid}-`), "the program is in one of the resident's execution cgroups");
      const runCgroup = /x-[^/\n]+/.exec(cgroup)?.[0] as string;
      const runProcs = readCgroups().split('\n').find((p) => p.endsWith(`/${runCgroup}`));
      assert.ok(runProcs !== undefined, `the run's cgroup ${runCgroup} is found under /sys/fs/cgroup`);
      child.kill(sig);
      assert.deepEqual(await closed, { code: exitCode, signal: null }, `the client exits ${exitCode} (stderr: ${stderr})`);
      assert.equal(stderr, '', 'nothing printed for the signal, as in-process');
      // The resident cleaned up before answering; the polls only give the kernel time to reap.
      await waitFor('no process of the run left', () => processesWith(marker).length === 0);
      // A pool slot's cgroup is reused by the next prepared sandbox: the run's own processes are gone from it.
      await waitFor(`nothing of the run left in its cgroup ${runCgroup}`, () => cgroupProcs(runProcs).every((pid) => isPreparedSandboxProcess(pid)));
      // The resident prepares the next sandbox right after the run: its helper holds a uid for an
      // instant before it is bubblewrap; wait for the pool to settle rather than sample once.
      const strays = (): string[] => processesWith('').filter((p) => inRange(p.uids[0] ?? 0, RESIDENT_BASE) && !isPreparedSandboxProcess(p.pid)).map((p) => p.cmdline.join(' '));
      await waitFor('only the resident\'s idle prepared sandboxes to hold its uids', () => strays().length === 0, 30_000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

/** The pids in a cgroup directory and its children ([] once it is gone). */
function cgroupProcs(path: string): number[] {
  const r = spawnSync('find', [path, '-name', 'cgroup.procs'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).flatMap((f) => {
    try {
      return readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** Every cgroup path on the host that holds an execution cgroup name (x-...). */
function readCgroups(): string {
  const r = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '6', '-type', 'd', '-name', 'x-*'], { encoding: 'utf8' });
  return r.stdout;
}

test('a client whose configuration differs (another CYLO_UID_BASE) runs in-process', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  // Proves the fingerprint check: without it the resident would accept it.
  const other = await cyloCounted(['exec', '--lang', 'python', 'print(2)'], envFor(LOCAL_BASE));
  assert.deepEqual(other, { code: 0, stdout: '2\n', stderr: '', viaResident: false });
  // A config file named by CYLO_CONFIG that the resident does not have: in-process too.
  writeFileSync(join(work, 'config.json'), '{}\n');
  const withFile = await cyloCounted(['exec', '--lang', 'python', 'print(3)'], envFor(RESIDENT_BASE, SOCKET, { CYLO_CONFIG: join(work, 'config.json') }));
  assert.equal(withFile.viaResident, false);
});

test('a uid other than the resident\'s cannot connect to its socket', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv (util-linux) is not available to connect as nobody');
  const probe = `require('net').connect(${JSON.stringify(SOCKET)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', probe], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin' } });
  assert.equal(r.stdout.trim(), 'EACCES', `nobody is refused by the file permissions (stderr: ${r.stderr})`);
});

test('a resident killed mid-run is reported (exit 125, not run again); its stale socket sends clients in-process; a new resident replaces it', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const socket = join(dir, 'run2', 'resident.sock');
  const env = envFor(SECOND_BASE, socket);
  const second = await startResident(env);
  const marker = uniqueMarker('');
  let started = false;
  const client = cylo(['exec', '--lang', 'bash', '--timeout', '60s', `echo started; sleep 30.${marker}`], env, '', (sofar) => (started = sofar === 'started\n'));
  await waitFor('the sandboxed sleep to start', () => processesWith(marker).some((p) => /(^|\/)sleep$/.test(p.cmdline[0] ?? '')), 30_000);
  await waitFor('the client to print the output from before', () => started, 30_000);
  second.kill('SIGKILL');
  const lost = await client;
  assert.equal(lost.code, 125);
  assert.equal(lost.stdout, 'started\n', 'output from before the resident died arrived');
  assert.match(lost.stderr, /resident cylo .* ended before the command did; its outcome is unknown and it was not run again/);
  // The socket is stale now: nobody listens, the client runs the command itself.
  assert.ok(existsSync(socket), 'the killed resident left its socket');
  const local = await cylo(['exec', '--lang', 'python', 'print("local")'], env);
  assert.deepEqual(local, { code: 0, stdout: 'local\n', stderr: '' });
  // A new resident removes the stale socket and serves (its start also cleans the killed one's leftovers).
  const third = await startResident(env);
  try {
    const again = await cyloCounted(['exec', '--lang', 'python', 'print(4)'], env, '', socket);
    assert.deepEqual(again, { code: 0, stdout: '4\n', stderr: '', viaResident: true });
    await waitFor('the killed run\'s sleep cleaned up', () => processesWith(marker).length === 0, 30_000);
  } finally {
    third.kill('SIGTERM');
    await new Promise((r) => third.once('close', r));
  }
  assert.ok(!existsSync(socket), 'a stopped resident removes its socket');
});

test('cylo doctor says whether a resident answers', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  const r = await cylo(['doctor', '--json'], envFor(LOCAL_BASE)); // the resident's own range is held by it
  const report = JSON.parse(r.stdout) as { resident: { running: boolean; pid?: number } };
  assert.deepEqual(report.resident.running, true);
  assert.equal(report.resident.pid, resident?.pid);
  const none = await cylo(['doctor', '--json'], envFor(LOCAL_BASE, join(dir, 'nowhere', 'x.sock')));
  assert.equal((JSON.parse(none.stdout) as { resident: { running: boolean } }).resident.running, false);
});

test('on a terminal, through the resident: stdin is live (each typed line reaches the program as typed) and Ctrl-D ends it', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip('script(1) (util-linux) is not installed: no pseudo-terminal to drive');
  // Proves the client tells the resident its stdin is a terminal and streams it on demand: the
  // answer to the first line must come before the rest is typed (not collected first), and the
  // resident ran it (its count). Without the TTY flag the program would get EOF at once.
  // Inline code (-c), whose stdin is live only on a terminal (a file program's is live on a pipe too).
  const code = 'import sys; name = input("name? "); print("hi", name, flush=True); print("rest", repr(sys.stdin.read()))';
  const before = await served();
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CYLO)} exec --lang python -c ${JSON.stringify(code)}; echo "rc=$?"`;
  const out = await typeNameDialogue(cmd, work, { ...RESIDENT_ENV, TERM: 'dumb' });
  assert.match(out, /rest 'more\\n'/, out);
  assert.match(out, /rc=0/, out);
  assert.equal(await served(), before + 1, 'the resident ran it');
});

/** A client started in `cwd` whose stdin stays open until `input` is called. */
function openClient(args: string[], cwd: string): { child: ChildProcess; stdout: () => string; input: (text: string) => void; closed: Promise<Outcome> } {
  const child = spawn(process.execPath, [CYLO, ...args], { cwd, env: RESIDENT_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const closed = new Promise<Outcome>((r) => child.once('close', (code) => r({ code, stdout, stderr })));
  return { child, stdout: () => stdout, input: (text) => child.stdin?.end(text), closed };
}

/** Two directories, each with a prog.py of its own that says which it is, waits for its stdin
 *  and exits with its own code: a command that read the other's file, stdin or code fails. */
function twoPrograms(): { a: string; b: string } {
  const made = { a: join(work, 'conc-a'), b: join(work, 'conc-b') };
  for (const [name, code] of [['a', 3], ['b', 4]] as const) {
    mkdirSync(made[name], { recursive: true });
    writeFileSync(join(made[name], 'prog.py'), `import sys\nprint("${name} ready", flush=True)\nprint("${name} got", sys.stdin.read()[::-1], flush=True)\nsys.exit(${code})\n`);
  }
  return made;
}

test('two cylo exec at once both run in the resident, each with its own working directory, stdin, stdout and exit code', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  // Proves the resident serves a second command while the first runs (before, it declined it:
  // 'busy', and the client ran in-process, so the count rose by one and running stayed <= 1),
  // and that relative paths mean each client's own directory (no process-wide chdir).
  const dirs = twoPrograms();
  const before = await served();
  const a = openClient(['exec', 'prog.py'], dirs.a);
  const b = openClient(['exec', 'prog.py'], dirs.b);
  try {
    await waitFor('both programs to run', () => a.stdout() === 'a ready\n' && b.stdout() === 'b ready\n', 60_000);
    const status = await residentStatus(SOCKET, 30_000);
    assert.deepEqual({ running: status?.running, busy: status?.busy, served: status?.served }, { running: 2, busy: true, served: before + 2 }, 'both run in the resident at once, at its capacity');
    b.input('bbb-input');
    a.input('aaa-input');
    assert.deepEqual(await a.closed, { code: 3, stdout: 'a ready\na got tupni-aaa\n', stderr: '' });
    assert.deepEqual(await b.closed, { code: 4, stdout: 'b ready\nb got tupni-bbb\n', stderr: '' });
  } finally {
    for (const c of [a, b]) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
});

test('Ctrl-C of one of two concurrent commands ends that one (130) and not the other', T, async (t) => {
  if (skip !== undefined) return t.skip(skip);
  // Proves a forwarded signal ends only its own command: with one abort shared by the running
  // commands, b would end too (no 'b got', exit 130 or 129).
  const dirs = twoPrograms();
  const before = await served();
  const a = openClient(['exec', 'prog.py'], dirs.a);
  const b = openClient(['exec', 'prog.py'], dirs.b);
  try {
    await waitFor('both programs to run', () => a.stdout() === 'a ready\n' && b.stdout() === 'b ready\n', 60_000);
    a.child.kill('SIGINT');
    assert.deepEqual(await a.closed, { code: 130, stdout: 'a ready\n', stderr: '' });
    b.input('still here');
    assert.deepEqual(await b.closed, { code: 4, stdout: 'b ready\nb got ereh llits\n', stderr: '' });
    assert.equal(await served(), before + 2, 'both ran in the resident');
  } finally {
    for (const c of [a, b]) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
});

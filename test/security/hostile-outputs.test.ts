// Hostile programs against the output files of a run (a request's `outputs`): links planted
// for PID 1 to follow out of the workspace (to /etc/passwd, to a file and a directory of the
// runtime's tree), a FIFO that would block a reader forever, background processes that keep
// changing a file or swap it for a link while it is read. PID 1 reads the outputs inside the
// sandbox after every other process is dead, never following a link and never opening anything
// but a regular file (native/outputs.c); these tests fail if any of that breaks.
//
// SAFETY: every test calls skipWithoutPreflight(t) first, with a 20 s timeout and the shared
// instance's tight limits; nothing here floods memory, processes or files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Stage } from '../../src/api/result.js';
import { closeSharedCylos, run } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { slow } from '../support/slow.js';

const T = { timeout: slow(20_000) };

test.after(() => closeSharedCylos());

/** Text the standard library's os.py starts with: outside the workspace, readable inside. */
const OS_PY_MARKER = 'OS routines for NT or Posix';

/** Every returned file's bytes, as text. */
const contents = (stage: Stage): string => (stage.files ?? []).map((f) => Buffer.from(f.content, 'base64').toString('latin1')).join('\n');
const skipped = (stage: Stage): Record<string, string> => Object.fromEntries((stage.filesSkipped ?? []).map((s) => [s.name, s.reason]));

test('symlinks to /etc/passwd, to a file and to a directory outside the workspace are skipped, never followed', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: fstatat(AT_SYMLINK_NOFOLLOW) + O_NOFOLLOW: a link is reported as skipped and what it
  // points to is never read, whether the pattern names the link or walks through it
  const code = [
    'import os',
    "os.symlink('/etc/passwd', 'passwd.txt')",
    "os.symlink(os.__file__, 'os.txt')",
    "os.symlink(os.path.dirname(os.__file__), 'lib')",
    "os.symlink('real.txt', 'inside.txt')",
    "open('real.txt', 'w').write('real')",
  ].join('\n');
  const r = await run({ language: 'python', code, outputs: ['*.txt', 'lib/*.py', 'lib'] });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.deepEqual((r.run.files ?? []).map((f) => f.name), ['real.txt']);
  assert.deepEqual(skipped(r.run), { 'passwd.txt': 'symlink', 'os.txt': 'symlink', lib: 'symlink', 'inside.txt': 'symlink' });
  assert.ok(!contents(r.run).includes(OS_PY_MARKER), 'os.py content came back through a link');
  const hostPasswd = readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? 'root:';
  assert.ok(!JSON.stringify(r).includes(hostPasswd), 'the host /etc/passwd came back');
  assert.ok(!contents(r.run).includes('root:'), 'a passwd file came back');
});

test('a symlinked directory in the middle of a "**" walk is not entered', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: the walk opens every directory with O_NOFOLLOW|O_DIRECTORY relative to its parent
  const code = ["import os", "os.makedirs('out')", "open('out/mine.py', 'w').write('# mine')", "os.symlink(os.path.dirname(os.__file__), 'out/stdlib')"].join('\n');
  const r = await run({ language: 'python', code, outputs: ['**/*.py'] });
  assert.deepEqual((r.run.files ?? []).map((f) => f.name).sort(), ['main.py', 'out/mine.py']);
  assert.equal(skipped(r.run)['out/stdlib'], 'symlink');
  assert.ok(!contents(r.run).includes(OS_PY_MARKER));
});

test('a FIFO, a socket and a device node in place of an output do not hang the read: skipped', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: only regular files are opened (an O_RDONLY open of a FIFO with no writer blocks
  // forever; the run would then end only at the host's kill, with no files)
  const code = ['import os, socket', "os.mkfifo('pipe.txt')", "s = socket.socket(socket.AF_UNIX); s.bind('sock.txt')", "os.symlink('/dev/zero', 'zero.txt')", "open('ok.txt', 'w').write('ok')"].join('\n');
  const r = await run({ language: 'python', code, outputs: ['*.txt'] });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.deepEqual((r.run.files ?? []).map((f) => f.name), ['ok.txt']);
  assert.deepEqual(skipped(r.run), { 'pipe.txt': 'fifo', 'sock.txt': 'socket', 'zero.txt': 'symlink' });
  assert.equal(r.run.filesError, null);
});

test('background processes are killed before the read: files they keep rewriting come back whole and stable, a later write never happens', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: PID 1 kills and reaps every other process before reading (supervisor.c): writers
  // still running while 40 files are read would truncate one between its fstatat and its read
  // ("changed while read" / "shrank": filesError) or leave one shorter than its reported size
  const rewriter = "while True:\\n    for i in range(40):\\n        open(f'busy{i:02}.txt', 'w').write('x' * 60000)";
  const code = [
    'import subprocess, sys, time',
    `for _ in range(2): subprocess.Popen([sys.executable, '-c', "${rewriter}"], start_new_session=True)`,
    "subprocess.Popen(['/bin/sh', '-c', 'sleep 2; echo late > late.txt'], start_new_session=True)",
    "import os\nwhile not os.path.exists('busy39.txt'): time.sleep(0.01)",
  ].join('\n');
  for (let i = 0; i < 3; i++) {
    const r = await run({ language: 'python', code, outputs: ['*.txt'] });
    assert.equal(r.status, 'ok', JSON.stringify(r.run).slice(0, 500));
    assert.equal(r.run.filesError, null);
    assert.ok((r.run.files ?? []).length > 0);
    for (const f of r.run.files ?? []) assert.equal(Buffer.from(f.content, 'base64').length, f.size, f.name);
    assert.equal(r.run.files?.find((f) => f.name === 'late.txt'), undefined);
  }
});

test('a background process swapping an output for a link to a file outside: the target never comes back', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: whatever state the swap was in when every process was killed, the link is skipped
  // and a regular file is read only if it is still the one fstatat saw
  const swapper = "import os\\nwhile True:\\n    open('a.tmp', 'w').write('mine')\\n    os.replace('a.tmp', 'a.txt')\\n    os.symlink(os.__file__, 'l.tmp')\\n    os.replace('l.tmp', 'a.txt')";
  // The swapper gets time to start (Python starts in seconds under emulation: CYLO_TEST_SLOW).
  const code = ['import subprocess, sys, time', `subprocess.Popen([sys.executable, '-c', "${swapper}"], start_new_session=True)`, `time.sleep(${slow(200) / 1000})`].join('\n');
  for (let i = 0; i < 3; i++) {
    const r = await run({ language: 'python', code, outputs: ['a.txt'] });
    assert.equal(r.status, 'ok', JSON.stringify(r.run));
    assert.ok(!contents(r.run).includes(OS_PY_MARKER), 'os.py came back through the swapped link');
    const a = r.run.files?.find((f) => f.name === 'a.txt');
    if (a !== undefined) assert.equal(Buffer.from(a.content, 'base64').toString(), 'mine');
    else assert.equal(skipped(r.run)['a.txt'], 'symlink');
  }
});

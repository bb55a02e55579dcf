// `cylo exec` on a terminal (issue 13): driven through a real pseudo-terminal (util-linux
// script(1)), the program reads what is typed while it runs and Ctrl-D ends its input; and the
// compile status line appears on a terminal's stderr, and is erased when the compile ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { typeNameDialogue } from '../support/tty.js';
import { waitFor } from '../support/wait.js';
import { CompileStatus } from '../../src/cli/exec-terminal.js';

const T = { timeout: 60_000 };
const dir = mkdtempSync(join(tmpdir(), 'cylo-tty-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

test('on a terminal, stdin is live: the program reads each typed line while it runs, and Ctrl-D ends its input', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  if (!hasScript) return t.skip('script(1) (util-linux) is not installed: no pseudo-terminal to drive');
  // The program prompts, reads one line, answers, then reads to EOF. The test types the name only
  // after the prompt came out (so the line cannot have been read before the program ran), and the
  // answer must come before Ctrl-D is typed: input given to the program live, not collected first.
  // Without live stdin the program would get EOF at once (EOFError) or wait for the whole input.
  writeFileSync(join(dir, 'ask.py'), 'import sys\nname = input("name? ")\nprint("hi", name, flush=True)\nprint("rest", repr(sys.stdin.read()))\n');
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(resolve('bin/cylo'))} exec ask.py; echo "rc=$?"`;
  const out = await typeNameDialogue(cmd, dir, { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'dumb', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 104), CYLO_UID_COUNT: '8' });
  assert.match(out, /rest 'more\\n'/, out);
  assert.match(out, /rc=0/, out);
});

test('the compile status line: shown on a terminal once a compile runs long, erased when it ends; never on a pipe', T, async () => {
  // A stream that says it is a terminal, to see exactly what CompileStatus writes to one.
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  let written = '';
  tty.setEncoding('utf8').on('data', (s: string) => (written += s));
  const status = new CompileStatus(tty, 'rust');
  status.state('Compiling');
  await waitFor('the status line', () => written.includes('cylo: compiling rust…'), 10_000);
  status.state('Processing');
  await waitFor('the erase', () => written.endsWith('\r\x1b[K'), 10_000);
  // On a pipe nothing is ever scheduled: clear() after Compiling writes nothing either.
  const pipe = new PassThrough();
  let piped = '';
  pipe.setEncoding('utf8').on('data', (s: string) => (piped += s));
  const quiet = new CompileStatus(pipe, 'rust');
  quiet.state('Compiling');
  assert.equal((quiet as unknown as { timer: unknown }).timer, undefined, 'no status line is scheduled for a pipe');
  quiet.clear();
  assert.equal(piped, '');
});

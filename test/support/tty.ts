// Drives a shell command through a pseudo-terminal (util-linux script(1)) the way a person at a
// terminal would: waits for a prompt, types a line, waits for the answer before typing more,
// then Ctrl-D. Used by the CLI's terminal tests (in-process and through the resident).
import { spawn } from 'node:child_process';
import { waitFor } from './wait.js';

/**
 * Runs `cmd` (a shell command line ending in `; echo "rc=$?"`) under script(1) in `cwd` with
 * `env`, and plays the dialogue of a program that prompts "name? ", answers "hi NAME", then reads
 * the rest of its input to EOF: types "bob", waits for "hi bob", types "more", waits for its
 * echo, types Ctrl-D, waits for "rc=". Resolves with everything the terminal showed. Each step
 * waits up to 30 s (a state, not a timing bound).
 */
export async function typeNameDialogue(cmd: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const closed = new Promise<number | null>((done) => child.once('close', done));
  try {
    await waitFor('the prompt', () => out.includes('name? '), 30_000);
    child.stdin.write('bob\n');
    await waitFor('the answer to the typed line', () => out.includes('hi bob'), 30_000);
    child.stdin.write('more\n');
    await waitFor('the second line echoed', () => out.includes('more'), 30_000);
    child.stdin.write('\x04'); // Ctrl-D at the start of a line: end of input
    await waitFor('the program to end', () => out.includes('rc='), 30_000);
  } finally {
    child.stdin.end();
    if (child.exitCode === null) child.kill();
  }
  await closed;
  return out;
}

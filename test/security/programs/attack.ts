// cylo security battery: the TypeScript attack program (compiled to CommonJS by cylo's
// TypeScript runtime, then run by node). Run ONLY inside cylo's sandbox, after the pre-flight
// passed:  node build/main.js ATTACK [ARGS...]
// Each probe prints one line "name=RESULT": "ok" or the errno name (err.code).
import { spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { connect, type NetConnectOpts } from 'node:net';

type Attack = (args: string[]) => void | Promise<void>;

const say = (name: string, result: string | number): void => {
  writeSync(1, `${name}=${result}\n`);
};
const codeOf = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? `error:${(error as Error).message}`;
const attempt = (name: string, fn: () => unknown): void => {
  try {
    fn();
    say(name, 'ok');
  } catch (error) {
    say(name, codeOf(error));
  }
};

const dial = (name: string, options: NetConnectOpts): Promise<void> =>
  new Promise((resolve) => {
    const s = connect(options);
    s.setTimeout(1000, () => s.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    s.once('connect', () => {
      say(name, 'ok');
      s.destroy();
      resolve();
    });
    s.once('error', (e) => {
      say(name, codeOf(e));
      resolve();
    });
  });

const attacks: Record<string, Attack> = {
  hello: () => say('hello', 'ok'),

  'fork-bomb': async () => {
    let reported = false;
    let started = 0;
    for (;;) {
      const child = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
      const failed = await new Promise<Error | undefined>((resolve) => {
        child.once('spawn', () => resolve(undefined));
        child.once('error', (e) => resolve(e));
      });
      if (failed === undefined) started++;
      else if (!reported) {
        reported = true;
        say('spawn', codeOf(failed));
        say('started', started);
      }
    }
  },

  'memory-bomb': () => {
    const keep: Buffer[] = [];
    for (;;) keep.push(Buffer.alloc(1 << 20, 0x5a));
  },

  'fill-bytes': () => {
    const fd = openSync('/work/fill', 'w');
    const chunk = Buffer.alloc(65536, 'x');
    let total = 0;
    try {
      for (;;) total += writeSync(fd, chunk);
    } catch (error) {
      say('write', codeOf(error));
      say('bytes', total);
    }
  },

  read: (paths) => {
    for (const p of paths) attempt(p, () => readFileSync(p));
  },
  write: (paths) => {
    for (const p of paths) attempt(p, () => writeFileSync(p, 'planted\n'));
  },

  net: async ([tcp4, pathname]) => {
    await dial('tcp4_canary', { host: '127.0.0.1', port: Number(tcp4) });
    await dial('unix_pathname', { path: pathname ?? '' });
  },

  kill: async (pids) => {
    attempt('kill_minus_1_alone', () => process.kill(-1, 'SIGKILL'));
    const child = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    attempt('kill_minus_1_with_child', () => process.kill(-1, 'SIGKILL'));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, s) => resolve(s)));
    say('child_killed_by', signal ?? 'nothing');
    attempt('kill_pid1', () => process.kill(1, 'SIGKILL'));
    pids.forEach((p, i) => attempt(`kill_host_${i}`, () => process.kill(Number(p), 'SIGKILL')));
    say('survived', 'ok');
  },
};

function main(): void {
  const [name, ...rest] = process.argv.slice(2);
  // A trailing "cylomark..." argument only marks the process for the host-side checks.
  if (rest.at(-1)?.startsWith('cylomark') === true) rest.pop();
  const fn = name === undefined ? undefined : attacks[name];
  if (fn === undefined) {
    process.stderr.write(`unknown attack ${name ?? ''}\n`);
    process.exit(2);
  }
  void fn(rest);
}

main();

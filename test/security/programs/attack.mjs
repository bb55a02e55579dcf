// cylo security battery: the JavaScript attack program. Run ONLY inside cylo's sandbox, after
// the pre-flight passed:  node main.mjs ATTACK [ARGS...]
// Each probe prints one line "name=RESULT": "ok" or the exact errno name (err.code). Node has no
// raw syscall(): the kernel-surface row goes through the binaries a program could run.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { Worker } from 'node:worker_threads';

const say = (name, result) => writeSync(1, `${name}=${result}\n`);
const attempt = (name, fn) => {
  try {
    fn();
    say(name, 'ok');
  } catch (error) {
    say(name, error.code ?? `error:${error.message}`);
  }
};

/** strerror() texts of the binaries' messages, back to errno names. */
const STRERROR = {
  'Operation not permitted': 'EPERM',
  'Permission denied': 'EACCES',
  'No such file or directory': 'ENOENT',
  'Read-only file system': 'EROFS',
  'No space left on device': 'ENOSPC',
  'Function not implemented': 'ENOSYS',
  'Invalid argument': 'EINVAL',
};
const errnoOf = (text) => Object.entries(STRERROR).find(([msg]) => text.includes(msg))?.[1] ?? `unknown:${text.trim().slice(0, 80)}`;

function runBinary(name, argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.error !== undefined) say(name, `spawn:${r.error.code}`);
  else say(name, r.status === 0 ? 'ok' : errnoOf(r.stderr));
}

const attacks = {
  hello: () => say('hello', 'ok'),

  syscalls: () => {
    runBinary('unshare_user', ['/usr/bin/unshare', '--user', '/usr/bin/true']);
    runBinary('unshare_mount', ['/usr/bin/unshare', '--mount', '/usr/bin/true']);
    runBinary('unshare_net', ['/usr/bin/unshare', '--net', '/usr/bin/true']);
    attempt('setuid_0', () => process.setuid(0));
    attempt('setgid_0', () => process.setgid(0));
    attempt('setgroups', () => process.setgroups([0]));
  },

  'fork-bomb': async () => {
    let reported = false;
    let started = 0;
    for (;;) {
      const child = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
      const failed = await new Promise((resolve) => {
        child.once('spawn', () => resolve(undefined));
        child.once('error', (e) => resolve(e));
      });
      if (failed === undefined) started++;
      else if (!reported) {
        reported = true;
        say('spawn', failed.code);
        say('started', started);
      }
    }
  },

  'thread-bomb': async () => {
    let n = 0;
    for (;;) {
      const w = new Worker('setInterval(() => {}, 1e6)', { eval: true });
      const failed = await new Promise((resolve) => {
        w.once('online', () => resolve(undefined));
        w.once('error', (e) => resolve(e));
      });
      if (failed !== undefined) {
        say('worker', failed.code ?? 'error');
        say('workers', n);
        process.exit(0);
      }
      n++;
    }
  },

  'memory-bomb': () => {
    const keep = [];
    for (;;) keep.push(Buffer.alloc(1 << 20, 0x5a));
  },

  'fill-bytes': () => {
    const fd = openSync('/work/fill', 'w');
    const chunk = Buffer.alloc(65536, 'x');
    let total = 0;
    try {
      for (;;) total += writeSync(fd, chunk);
    } catch (error) {
      say('write', error.code);
      say('bytes', total);
    }
  },

  'fill-inodes': () => {
    let n = 0;
    try {
      for (;;) closeSync(openSync(`/work/i${n++}`, 'wx'));
    } catch (error) {
      say('create', error.code);
      say('files', n - 1);
    }
  },

  'stdout-flood': () => {
    const chunk = Buffer.alloc(65536, 'J');
    for (;;) writeSync(1, chunk);
  },
  'stderr-flood': () => {
    const chunk = Buffer.alloc(65536, 'J');
    for (;;) writeSync(2, chunk);
  },
  busy: () => {
    for (;;);
  },
  sleep: () => setInterval(() => {}, 1 << 30),
  sigstop: () => {
    say('stopping', 'ok');
    process.kill(process.pid, 'SIGSTOP');
    say('resumed', 'ok');
  },

  // A detached (setsid) child that is unref'd, then the program exits at once.
  daemon: (args, marker) => {
    const child = spawn('/usr/bin/sleep', ['1000'], { detached: true, stdio: 'ignore', argv0: marker ?? 'daemon' });
    child.unref();
    child.once('spawn', () => say('daemon', 'started'));
  },

  kill: async (pids) => {
    attempt('kill_minus_1_alone', () => process.kill(-1, 'SIGKILL'));
    const child = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    attempt('kill_minus_1_with_child', () => process.kill(-1, 'SIGKILL'));
    const [, signal] = await new Promise((resolve) => child.once('exit', (...a) => resolve(a)));
    say('child_killed_by', signal ?? 'nothing');
    attempt('kill_pid1', () => process.kill(1, 'SIGKILL'));
    pids.forEach((p, i) => attempt(`kill_host_${i}`, () => process.kill(Number(p), 'SIGKILL')));
    say('survived', 'ok');
  },

  read: (paths) => {
    for (const p of paths) attempt(p, () => readFileSync(p));
  },
  write: (paths) => {
    for (const p of paths) attempt(p, () => writeFileSync(p, 'planted\n'));
  },

  net: async ([tcp4, tcp6, udp, abstract, pathname]) => {
    const dial = (name, options) =>
      new Promise((resolve) => {
        const s = connect(options);
        s.setTimeout(1000, () => s.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
        s.once('connect', () => {
          say(name, 'ok');
          s.destroy();
          resolve();
        });
        s.once('error', (e) => {
          say(name, e.code);
          resolve();
        });
      });
    await dial('tcp4_canary', { host: '127.0.0.1', port: Number(tcp4) });
    if (tcp6 !== '0') await dial('tcp6_canary', { host: '::1', port: Number(tcp6) });
    await new Promise((resolve) => {
      const u = createSocket('udp4');
      let error;
      u.on('error', (e) => (error ??= e));
      u.connect(Number(udp), '127.0.0.1', async () => {
        for (let i = 0; i < 3; i++) {
          await new Promise((r) => u.send('cylo', (e) => r((error ??= e ?? undefined))));
          await new Promise((r) => setTimeout(r, 20));
        }
        say('udp_canary', error?.code ?? 'ok');
        u.close();
        resolve();
      });
    });
    await dial('unix_abstract', { path: `\0${abstract}` });
    await dial('unix_pathname', { path: pathname });
  },

  env: () => {
    say('environ', Object.keys(process.env).sort().join(';'));
    attempt('proc_self_environ', () => say('raw', readFileSync('/proc/self/environ', 'utf8').replaceAll('\0', ';')));
    attempt('proc_1_environ', () => readFileSync('/proc/1/environ'));
  },
};

const [attack, ...rest] = process.argv.slice(2);
// A trailing "cylomark..." argument only marks the process for the host-side checks.
const marker = rest.at(-1)?.startsWith('cylomark') ? rest.pop() : undefined;
const fn = attacks[attack];
if (fn === undefined) {
  process.stderr.write(`unknown attack ${attack}\n`);
  process.exit(2);
}
await fn(rest, marker);

// The JavaScript session driver: run inside the sandbox as `node -e DRIVER OUTPUT_CAP FILE_CAP`
// (argv, never a workspace file). One vm context keeps variables, functions and imports
// (`require`) between runs; the completion value of a run is returned as `result`
// (util.inspect), a Promise being awaited first. Protocol: one JSON request per line on stdin,
// one JSON answer per line written with fs.writeSync to fd 1; the user code's console and
// process.stdout/stderr writes are captured per run instead. A run is interrupted by the vm's
// own timeout or by SIGINT from the host (breakOnSigint). File paths are checked with the
// workspace rule, their directory's real path must be inside /work, and the file is opened with
// O_NOFOLLOW. The host treats every byte this driver writes as untrusted (protocol.ts).
export const JAVASCRIPT_DRIVER = String.raw`
'use strict';
const fs = require('node:fs'), path = require('node:path'), vm = require('node:vm'), util = require('node:util'), readline = require('node:readline');
const { createRequire } = require('node:module');
const OUT_CAP = Number(process.argv[1]), FILE_CAP = Number(process.argv[2]), WS = '/work';
const out = { stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false };
const add = (k, s) => { const room = OUT_CAP - out[k].length; if (s.length > room) { out[k + 'Truncated'] = true; s = s.slice(0, Math.max(room, 0)); } out[k] += s; };
const fmt = (args) => util.formatWithOptions({ colors: false }, ...args) + '\n';
const userConsole = {
  log: (...a) => add('stdout', fmt(a)), info: (...a) => add('stdout', fmt(a)), debug: (...a) => add('stdout', fmt(a)),
  error: (...a) => add('stderr', fmt(a)), warn: (...a) => add('stderr', fmt(a)), trace: (...a) => add('stderr', fmt(a)),
  dir: (o) => add('stdout', util.inspect(o) + '\n'), table: (o) => add('stdout', util.inspect(o) + '\n'),
};
process.stdout.write = (s) => (add('stdout', String(s)), true);
process.stderr.write = (s) => (add('stderr', String(s)), true);
process.on('SIGINT', () => {});
process.on('uncaughtException', (e) => add('stderr', 'Uncaught ' + util.inspect(e) + '\n'));
process.on('unhandledRejection', (e) => add('stderr', 'Unhandled rejection ' + util.inspect(e) + '\n'));
const sandbox = { console: userConsole, require: createRequire(WS + '/'), process, Buffer, URL, URLSearchParams, TextEncoder, TextDecoder, setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask, structuredClone, atob, btoa };
const context = vm.createContext(sandbox);
let cells = 0;
const answer = (m) => fs.writeSync(1, JSON.stringify(m) + '\n');
const errorOf = (e) => e instanceof Error || (e && typeof e === 'object' && 'message' in e)
  ? { type: String(e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT' ? 'TimeoutError' : e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' ? 'KeyboardInterrupt' : (e.name || 'Error')), message: String(e.message).slice(0, OUT_CAP), traceback: String(e.stack || '').slice(0, OUT_CAP) }
  : { type: 'Thrown', message: util.inspect(e).slice(0, OUT_CAP), traceback: '' };
async function exec(code, timeoutMs) {
  cells += 1;
  let result = null, error = null;
  const started = Date.now();
  try {
    let value = new vm.Script(code, { filename: 'cell' + cells + '.js' }).runInContext(context, { timeout: timeoutMs, breakOnSigint: true, displayErrors: false });
    if (value && typeof value.then === 'function') {
      let timer;
      const left = Math.max(1, timeoutMs - (Date.now() - started));
      value = await Promise.race([value, new Promise((_, rej) => { timer = setTimeout(() => rej(Object.assign(new Error('awaiting the result took longer than ' + timeoutMs + ' ms'), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' })), left); })]).finally(() => clearTimeout(timer));
    }
    if (value !== undefined) result = util.inspect(value, { colors: false, depth: 4 }).slice(0, OUT_CAP);
  } catch (e) { error = errorOf(e); }
  const r = { ...out, result, images: [], error };
  Object.assign(out, { stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false });
  return r;
}
class BadPath extends Error {}
function check(p) {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.includes('\\') || /[\u0000-\u001f\u007f]/.test(p)) throw new BadPath('bad path');
  const parts = p.split('/');
  if (parts.some((x) => x === '' || x === '.' || x === '..' || Buffer.byteLength(x) > 255)) throw new BadPath('bad path');
  return parts;
}
function dirOf(parts, create) {
  const dir = path.join(WS, ...parts.slice(0, -1));
  if (create) fs.mkdirSync(dir, { recursive: true });
  const real = fs.realpathSync(dir);
  if (real !== WS && !real.startsWith(WS + '/')) throw new BadPath('leaves the workspace through a symbolic link');
  return real;
}
const { O_NOFOLLOW, O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_NONBLOCK } = fs.constants;
const tooLarge = () => ({ error: { type: 'FileTooLarge', message: 'larger than ' + FILE_CAP + ' bytes' } });
function fileOp(req) {
  if (req.op === 'list') return { files: list() };
  const parts = check(req.path);
  const full = path.join(dirOf(parts, req.op === 'write'), parts[parts.length - 1]);
  if (req.op === 'write') {
    const data = Buffer.from(String(req.content), 'base64');
    if (data.length > FILE_CAP) return tooLarge();
    const fd = fs.openSync(full, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644);
    try { if (!fs.fstatSync(fd).isFile()) throw new BadPath('not a regular file'); fs.writeSync(fd, data); } finally { fs.closeSync(fd); }
    return { size: data.length };
  }
  if (req.op === 'read') {
    const fd = fs.openSync(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new BadPath('not a regular file');
      if (st.size > FILE_CAP) return tooLarge();
      const data = fs.readFileSync(fd);
      if (data.length > FILE_CAP) return tooLarge();
      return { size: data.length, content: data.toString('base64') };
    } finally { fs.closeSync(fd); }
  }
  if (req.op === 'delete') { fs.rmSync(full, { recursive: true }); return {}; }
  throw new BadPath('unknown op');
}
function list() {
  const files = [];
  const walk = (dir, rel) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      if (files.length >= 10000) return;
      const r = rel === '' ? d.name : rel + '/' + d.name;
      if (rel === '' && d.name === '.tmp') continue;
      if (d.isDirectory()) walk(path.join(dir, d.name), r);
      else files.push({ path: r, size: fs.lstatSync(path.join(dir, d.name)).size, type: d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other' });
    }
  };
  walk(WS, '');
  return files;
}
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const queue = [];
let busy = false;
async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length > 0) {
    const line = queue.shift();
    let req;
    try { req = JSON.parse(line); } catch { answer({ id: null, error: { type: 'ProtocolError', message: 'bad request line' } }); continue; }
    let body;
    try {
      if (req.op === 'exec') body = await exec(String(req.code ?? ''), Number(req.timeoutMs) || 1000);
      else if (req.op === 'ping') body = {};
      else body = fileOp(req);
    } catch (e) {
      body = { error: e instanceof BadPath ? { type: 'BadPath', message: e.message } : e && e.code === 'ELOOP' ? { type: 'BadPath', message: 'a symbolic link: links are not followed' } : { type: (e && e.code) || 'Error', message: String(e && e.message).slice(0, 4096) } };
    }
    body.id = req.id;
    answer(body);
  }
  busy = false;
}
rl.on('line', (line) => { queue.push(line); void pump(); });
rl.on('close', () => process.exit(0));
`;

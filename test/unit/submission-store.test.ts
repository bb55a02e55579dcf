// The SQLite submission store on a real file in a temporary directory: the data directory's
// checks (created 0700; a file, a symlink, a group-writable or foreign directory refused with
// CYLO_E_STORAGE), WAL mode and the exclusive lock (a second opener is refused), the schema
// version check, the atomic claim/finish/cancel transitions, delivery records, and the
// retention sweep (through the service, with its clock).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CyloError } from '../../src/errors.js';
import { loadOrCreateSecret, prepareDataDir } from '../../src/submissions/data-dir.js';
import { DB_FILE, openSqliteStore, SCHEMA_VERSION } from '../../src/submissions/sqlite-store.js';
import { SubmissionService } from '../../src/submissions/service.js';
import type { NewSubmission } from '../../src/submissions/store.js';

const root = mkdtempSync(join(tmpdir(), 'cylo-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `d${n++}`);

function storageError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_STORAGE' && pattern.test(e.message), String(pattern));
}

const sub = (id: string, createdAt = 1): NewSubmission => ({ id: id.padEnd(22, 'x'), owner: null, request: { language: 'python', code: `print(${JSON.stringify(id)})` }, callbackUrl: null, adapter: null, createdAt });

test('the data directory is created 0700 at first use; the database file is WAL and versioned', async () => {
  const dir = freshDir();
  const store = openSqliteStore(dir);
  await store.close();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  } finally {
    db.close();
  }
});

test('a data directory that cannot be used is refused with CYLO_E_STORAGE naming the problem and the fix', () => {
  // A file where the directory should be.
  const file = freshDir();
  writeFileSync(file, 'not a directory');
  storageError(() => openSqliteStore(file), /exists and is not a directory/);
  // A symlink (which another user could re-point) in its place.
  const target = freshDir();
  mkdirSync(target, { mode: 0o700 });
  const link = freshDir();
  symlinkSync(target, link);
  storageError(() => prepareDataDir(link), /is a symbolic link/);
  // Group- or world-writable.
  const open = freshDir();
  mkdirSync(open, { mode: 0o700 });
  chmodSync(open, 0o777);
  storageError(() => prepareDataDir(open), /writable by group or others.*chmod 700/);
  // Owned by another user (as root, the test can make one).
  if (process.getuid?.() === 0) {
    const foreign = freshDir();
    mkdirSync(foreign, { mode: 0o700 });
    chownSync(foreign, 12345, 12345);
    storageError(() => prepareDataDir(foreign), /owned by uid 12345/);
  }
  // A parent others can write without the sticky bit (they could swap the directory).
  const parent = freshDir();
  mkdirSync(parent, { mode: 0o777 });
  chmodSync(parent, 0o777);
  storageError(() => prepareDataDir(join(parent, 'data')), /parent directory .* can be written by another user/);
  // A planted symlink where the database file should be.
  const planted = freshDir();
  mkdirSync(planted, { mode: 0o700 });
  symlinkSync('/etc/passwd', join(planted, DB_FILE));
  storageError(() => openSqliteStore(planted), /not a regular file owned by this user/);
});

test('a file that is not a SQLite database, and a newer schema, are refused (never replaced)', () => {
  const garbage = freshDir();
  mkdirSync(garbage, { mode: 0o700 });
  writeFileSync(join(garbage, DB_FILE), 'x'.repeat(4096));
  storageError(() => openSqliteStore(garbage), /cannot be used .*move the file away/);

  const newer = freshDir();
  mkdirSync(newer, { mode: 0o700 });
  const db = new Database(join(newer, DB_FILE));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  storageError(() => openSqliteStore(newer), new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than this cylo understands`));

  // A file that says the current version but lacks a column (a pre-release cylo's): refused with
  // the fix, not an internal error from a statement that does not prepare.
  const older = freshDir();
  mkdirSync(older, { mode: 0o700 });
  const odb = new Database(join(older, DB_FILE));
  odb.exec("CREATE TABLE submissions (id TEXT PRIMARY KEY, owner TEXT, status TEXT NOT NULL, request TEXT NOT NULL, callback_url TEXT, attempts INTEGER NOT NULL DEFAULT 0, result TEXT, error TEXT, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, webhook TEXT, deliveries TEXT NOT NULL DEFAULT '[]')");
  odb.pragma(`user_version = ${SCHEMA_VERSION}`);
  odb.close();
  storageError(() => openSqliteStore(older), /does not have the tables this cylo uses \(table submissions has no column named adapter\); move the file away/);
  // The refused file is closed again: it can be opened (and is not held locked).
  new Database(join(older, DB_FILE)).close();
});

test('one service per database: a second opener is refused while the first holds it, and may open it after', async () => {
  const dir = freshDir();
  const first = openSqliteStore(dir);
  storageError(() => openSqliteStore(dir), /in use by another cylo serve/);
  await first.close();
  const second = openSqliteStore(dir);
  await second.close();
});

test('claim takes the oldest queued one atomically; finish and cancel only change a non-final one', async () => {
  const store = openSqliteStore(freshDir());
  try {
    await store.insert([sub('a'), sub('b'), sub('c')]);
    const a = await store.claimNext(10);
    assert.equal(a?.id, sub('a').id);
    assert.equal(a?.status, 'running');
    assert.equal(a?.attempts, 1);
    assert.equal(a?.startedAt, 10);
    // Cancelling b while queued: claim skips it.
    assert.equal((await store.finish(sub('b').id, { status: 'cancelled' }, 11, ['queued', 'running']))?.status, 'cancelled');
    assert.equal((await store.claimNext(12))?.id, sub('c').id);
    assert.equal(await store.claimNext(13), undefined);
    // A finished one cannot be finished again (a cancel that lost the race changes nothing).
    const done = await store.finish(sub('a').id, { status: 'done', result: null, error: { code: 'CYLO_E_INTERNAL', message: 'x' } }, 14, ['running']);
    assert.equal(done?.status, 'done');
    assert.equal(await store.finish(sub('a').id, { status: 'cancelled' }, 15, ['queued', 'running']), undefined);
    assert.equal((await store.get(sub('a').id))?.status, 'done');
    // Requeue puts a running one back with the given attempt count.
    assert.equal(await store.requeue(sub('c').id, 0), true);
    assert.deepEqual((await store.listByStatus('queued')).map((s) => [s.id, s.attempts]), [[sub('c').id, 0]]);
  } finally {
    await store.close();
  }
});

test('the service retention sweep removes expired final submissions, not fresh or unfinished ones', async () => {
  const dir = freshDir();
  const store = openSqliteStore(dir);
  await store.insert([sub('old'), sub('fresh'), sub('queued')]);
  await store.claimNext(1);
  await store.finish(sub('old').id, { status: 'done', result: null, error: { code: 'CYLO_E_INTERNAL', message: 'x' } }, 1_000, ['running']);
  await store.claimNext(1);
  await store.finish(sub('fresh').id, { status: 'cancelled' }, 9_500, ['running']);
  let now = 10_000;
  // The service's own sweep, with a retention of 5 s at "now" 10 s: `old` (finished at 1 s) goes.
  const service = new SubmissionService({ store, run: () => Promise.reject(new Error('not run')), validate: async () => {}, concurrency: 1, retentionMs: 5_000, now: () => now });
  assert.equal(await service.sweep(), 1);
  assert.equal(await store.get(sub('old').id), undefined);
  assert.equal((await store.get(sub('fresh').id))?.status, 'cancelled');
  now = 20_000;
  assert.equal(await service.sweep(), 1);
  assert.equal(await store.get(sub('fresh').id), undefined);
  assert.equal((await store.get(sub('queued').id))?.status, 'queued', 'a submission that is not final is never swept');
  await store.close();
});

test('the generated webhook secret is 0600, stable across starts, and a linked one is refused', () => {
  const dir = prepareDataDir(freshDir());
  const secret = loadOrCreateSecret(dir);
  assert.ok(secret.length >= 64);
  assert.equal(statSync(join(dir, 'webhook-secret')).mode & 0o777, 0o600);
  assert.equal(loadOrCreateSecret(dir), secret);
  const other = prepareDataDir(freshDir());
  symlinkSync(join(dir, 'webhook-secret'), join(other, 'webhook-secret'));
  storageError(() => loadOrCreateSecret(other), /must be a regular file, not a link/);
});

test('the queue in the database is bounded: a submission beyond maxQueued is refused with 503 CYLO_E_QUEUE_FULL, nothing stored', async () => {
  const store = openSqliteStore(freshDir());
  // run: waits until aborted (the service's close aborts it).
  const run = (_request: unknown, signal: AbortSignal): Promise<never> => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
  const service = new SubmissionService({ store, run, validate: async () => {}, concurrency: 1, maxQueued: 2 });
  const input = { request: { language: 'bash', code: 'true' } };
  await assert.rejects(service.submitBatch(null, [input, input, input]), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_QUEUE_FULL' && e.status === 503 && /the most this server keeps is 2/.test(e.message));
  assert.equal(await store.countQueued(), 0, 'nothing of the refused batch was stored');
  const accepted = await service.submitBatch(null, [input, input]);
  assert.equal(accepted.filter((e) => 'submission' in e).length, 2);
  await service.close({ abortRunning: true });
});

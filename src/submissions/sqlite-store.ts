// The SQLite SubmissionStore (better-sqlite3): one file, `cylo.db`, in the data directory
// (data-dir.ts checks it). WAL journal (a crash mid-write loses nothing committed), EXCLUSIVE
// locking mode (this process holds the database while it runs: a second `cylo serve` on the
// same directory is refused instead of re-running the first one's work as "crashed"), a
// versioned schema (PRAGMA user_version; a newer one is refused). Every race-prone change is one
// conditional UPDATE ... RETURNING.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { CyloError } from '../errors.js';
import { checkDataFile, prepareDataDir } from './data-dir.js';
import type { DeliveryAttempt, Finish, NewSubmission, StoredSubmission, SubmissionStatus, SubmissionStore, WebhookState } from './store.js';

export const SCHEMA_VERSION = 1;
export const DB_FILE = 'cylo.db';

const SCHEMA = `
CREATE TABLE submissions (
  id TEXT PRIMARY KEY,
  owner TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'cancelled')),
  request TEXT NOT NULL,
  callback_url TEXT,
  adapter TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  webhook TEXT,
  deliveries TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX submissions_status ON submissions (status);
CREATE INDEX submissions_finished ON submissions (finished_at);
`;

interface Row {
  id: string;
  owner: string | null;
  status: SubmissionStatus;
  request: string;
  callback_url: string | null;
  adapter: string | null;
  attempts: number;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  webhook: WebhookState | null;
  deliveries: string;
}

function fromRow(row: Row): StoredSubmission {
  return {
    id: row.id,
    owner: row.owner,
    status: row.status,
    request: JSON.parse(row.request) as StoredSubmission['request'],
    callbackUrl: row.callback_url,
    adapter: row.adapter === null ? null : (JSON.parse(row.adapter) as StoredSubmission['adapter']),
    attempts: row.attempts,
    result: row.result === null ? null : (JSON.parse(row.result) as StoredSubmission['result']),
    error: row.error === null ? null : (JSON.parse(row.error) as StoredSubmission['error']),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    webhook: row.webhook,
    deliveries: JSON.parse(row.deliveries) as DeliveryAttempt[],
  };
}

function storage(message: string, cause?: unknown): CyloError {
  return new CyloError('CYLO_E_STORAGE', message, { field: 'dataDir', ...(cause === undefined ? {} : { cause }) });
}

/** Opens the file, takes the exclusive lock and brings the schema to SCHEMA_VERSION. */
function openDatabase(path: string): Database.Database {
  checkDataFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    throw storage(`dataDir: cannot open the submission database ${path} (${(error as Error).message}); check the directory and file permissions, or set --data-dir or CYLO_DATA_DIR`, error);
  }
  try {
    // Set before WAL: exclusive WAL keeps no shared-memory file, and the lock is held until close.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    migrate(db, path);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof CyloError) throw error;
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw storage(`dataDir: the submission database ${path} is in use by another cylo serve; give each service its own --data-dir`, error);
    throw storage(`dataDir: the submission database ${path} cannot be used (${(error as Error).message}); move the file away to start with an empty one`, error);
  }
}

function migrate(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw storage(`dataDir: the submission database ${path} has schema version ${version}, newer than this cylo understands (${SCHEMA_VERSION}); run the newer cylo, or move the file away`);
  }
  if (version === 0) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
}

/** Opens (creating at first use) `<dataDir>/cylo.db`. Throws CYLO_E_STORAGE with the fix. */
export function openSqliteStore(dataDir: string): SqliteSubmissionStore {
  const dir = prepareDataDir(dataDir);
  const path = join(dir, DB_FILE);
  const db = openDatabase(path);
  try {
    return new SqliteSubmissionStore(db);
  } catch (error) {
    // A file whose version says 1 but whose table differs (e.g. written by a pre-release cylo):
    // the statements do not prepare. Refused with the fix instead of an internal error.
    db.close();
    throw storage(`dataDir: the submission database ${path} does not have the tables this cylo uses (${(error as Error).message}); move the file away to start with an empty one`, error);
  }
}

export class SqliteSubmissionStore implements SubmissionStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      insert: db.prepare('INSERT INTO submissions (id, owner, status, request, callback_url, adapter, created_at) VALUES (?, ?, \'queued\', ?, ?, ?, ?)'),
      get: db.prepare('SELECT * FROM submissions WHERE id = ?'),
      claim: db.prepare("UPDATE submissions SET status = 'running', attempts = attempts + 1, started_at = ? WHERE id = (SELECT id FROM submissions WHERE status = 'queued' ORDER BY rowid LIMIT 1) RETURNING *"),
      requeue: db.prepare("UPDATE submissions SET status = 'queued', attempts = ?, started_at = NULL WHERE id = ? AND status = 'running'"),
      countQueued: db.prepare("SELECT count(*) AS n FROM submissions WHERE status = 'queued'"),
      byStatus: db.prepare('SELECT * FROM submissions WHERE status = ? ORDER BY rowid'),
      pendingWebhooks: db.prepare("SELECT * FROM submissions WHERE webhook = 'pending' AND status IN ('done', 'cancelled') ORDER BY finished_at"),
      delivery: db.prepare("UPDATE submissions SET deliveries = json_insert(deliveries, '$[#]', json(?)), webhook = ? WHERE id = ?"),
      sweep: db.prepare("DELETE FROM submissions WHERE status IN ('done', 'cancelled') AND finished_at < ?"),
    };
  }

  async insert(submissions: NewSubmission[]): Promise<void> {
    this.db.transaction(() => {
      for (const s of submissions) this.stmts.insert.run(s.id, s.owner, JSON.stringify(s.request), s.callbackUrl, s.adapter === null ? null : JSON.stringify(s.adapter), s.createdAt);
    })();
  }

  async get(id: string): Promise<StoredSubmission | undefined> {
    const row = this.stmts.get.get(id) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  async claimNext(now: number): Promise<StoredSubmission | undefined> {
    const row = this.stmts.claim.get(now) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  async finish(id: string, outcome: Finish, now: number, from: readonly SubmissionStatus[]): Promise<StoredSubmission | undefined> {
    if (from.length === 0) return undefined;
    const result = outcome.status === 'done' && outcome.result !== null ? JSON.stringify(outcome.result) : null;
    const error = outcome.status === 'done' && outcome.error !== null ? JSON.stringify(outcome.error) : null;
    const marks = from.map(() => '?').join(', ');
    const row = this.db
      .prepare(`UPDATE submissions SET status = ?, result = ?, error = ?, finished_at = ?, webhook = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END WHERE id = ? AND status IN (${marks}) RETURNING *`)
      .get(outcome.status, result, error, now, id, ...from) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  async requeue(id: string, attempts: number): Promise<boolean> {
    return this.stmts.requeue.run(attempts, id).changes > 0;
  }

  async countQueued(): Promise<number> {
    return (this.stmts.countQueued.get() as { n: number }).n;
  }

  async listByStatus(status: SubmissionStatus): Promise<StoredSubmission[]> {
    return (this.stmts.byStatus.all(status) as Row[]).map(fromRow);
  }

  async pendingWebhooks(): Promise<StoredSubmission[]> {
    return (this.stmts.pendingWebhooks.all() as Row[]).map(fromRow);
  }

  async recordDelivery(id: string, attempt: DeliveryAttempt, state: WebhookState): Promise<void> {
    this.stmts.delivery.run(JSON.stringify(attempt), state, id);
  }

  async sweep(finishedBefore: number): Promise<number> {
    return this.stmts.sweep.run(finishedBefore).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

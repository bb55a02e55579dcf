// Builds the submission service of a server (src/submissions): the SQLite store in the data
// directory, the webhook allowlist, secret and dispatcher, the submit-time request check, and
// ServerState.run as the one execution path.
import type { ExecuteRequest } from '../api/request.js';
import { normalizeRequest } from '../api/request.js';
import { CyloError } from '../errors.js';
import { loadOrCreateSecret, prepareDataDir } from '../submissions/data-dir.js';
import { SubmissionService } from '../submissions/service.js';
import { openSqliteStore } from '../submissions/sqlite-store.js';
import { DEFAULT_WEBHOOK_ALLOW, WebhookAllowList, type Resolver } from '../submissions/webhook-allow.js';
import { WebhookDispatcher } from '../submissions/webhook-deliver.js';
import type { ServerState } from './context.js';

export interface SubmissionsOptions {
  /** Where the database (cylo.db) and the generated webhook secret live; created 0700. */
  dataDir: string;
  /** How long a final submission is kept, ms (default 24 h). */
  retentionMs?: number;
  /** Submissions running at once (default: the cylo instance's concurrency). */
  concurrency?: number;
  /** Webhook destinations: IPs, CIDRs, host names, *.domain (default loopback only). */
  webhookAllow?: readonly string[];
  /** HMAC secret (default: generated once into <dataDir>/webhook-secret, mode 0600). */
  webhookSecret?: string;
  /** Attempts per webhook, the first included (default 5). */
  webhookAttempts?: number;
  /** First retry delay, ms, doubled each time (default 2000). */
  webhookBackoffMs?: number;
  /** Per attempt, ms (default 5000). */
  webhookTimeoutMs?: number;
  /** Name resolution for callback hosts (tests). */
  resolver?: Resolver;
}

/** What the gate's admission would refuse, refused at submit time (nothing stored). */
async function validateFor(state: ServerState, request: ExecuteRequest): Promise<void> {
  const { cylo } = state;
  const normalized = normalizeRequest(request, cylo.policy);
  const runtime = await cylo.registry.resolve(normalized.language);
  if (!runtime.available) throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `language: ${runtime.problem ?? `${normalized.language} is not installed`}`, { field: 'language' });
}

type Log = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;

/** Opens the store (throws CYLO_E_STORAGE: a server without its database must not start) and
 *  assembles the service; `start()` it once the server is ready. */
export function createSubmissionService(state: ServerState, options: SubmissionsOptions, log: Log): SubmissionService {
  const allow = new WebhookAllowList(options.webhookAllow ?? DEFAULT_WEBHOOK_ALLOW);
  if (options.webhookSecret !== undefined && options.webhookSecret.length < 32) throw new CyloError('CYLO_E_CONFIG', 'webhookSecret: expected at least 32 characters (e.g. openssl rand -hex 32)', { field: 'webhookSecret' });
  const dir = prepareDataDir(options.dataDir);
  const secret = options.webhookSecret ?? loadOrCreateSecret(dir);
  const store = openSqliteStore(dir);
  const webhooks = new WebhookDispatcher(
    store,
    {
      allow,
      secret,
      ...(options.webhookAttempts === undefined ? {} : { attempts: options.webhookAttempts }),
      ...(options.webhookBackoffMs === undefined ? {} : { backoffMs: options.webhookBackoffMs }),
      ...(options.webhookTimeoutMs === undefined ? {} : { timeoutMs: options.webhookTimeoutMs }),
      ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    },
    log,
  );
  return new SubmissionService({
    store,
    run: (request, signal) => state.run('submissions', request, { signal }),
    validate: (request) => validateFor(state, request),
    concurrency: options.concurrency ?? state.cylo.stats().concurrency,
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    allow,
    webhooks,
    ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    log,
  });
}

// What every measurement gets: the options of the run, one cylo library instance, the resolved
// runtimes, and (lazily) the HTTP service.
import { createCylo, type Cylo, type CyloOptions, type RuntimeInfo } from '../../src/cylo.js';
import type { ResolvedRuntime } from '../../src/runtimes/registry.js';
import { serverUnavailableReason, startServer, type ServerHandle } from './http.js';

/** uids for the benchmark's own sandboxes, apart from the default range that a service or the
 *  test suite running at the same time uses (RLIMIT_NPROC counts per uid). CYLO_BENCH_UID_BASE
 *  moves it (a shared machine where another cylo holds part of it). */
export const BENCH_UID_BASE = Number(process.env.CYLO_BENCH_UID_BASE ?? 2_100_000_000);

export interface BenchContext {
  quick: boolean;
  cylo: Cylo;
  runtimes: RuntimeInfo[];
  /** Resolved runtime (binary, roots) for an available language id. */
  resolved(language: string): Promise<ResolvedRuntime>;
  available(language: string): boolean;
  /** Another library instance with the given options (closed by the context at the end). */
  makeCylo(options: CyloOptions): Cylo;
  /** The HTTP service, started on first use; a string says why it is not available. */
  server(): Promise<ServerHandle | string>;
  log(message: string): void;
  close(): Promise<void>;
}

export async function createContext(quick: boolean): Promise<BenchContext> {
  const extra: Cylo[] = [];
  const makeCylo = (options: CyloOptions): Cylo => {
    const c = createCylo({ uidBase: BENCH_UID_BASE + extra.length * 1024, uidCount: 512, ...options });
    extra.push(c);
    return c;
  };
  const cylo = makeCylo({});
  const runtimes = await cylo.runtimes();
  let server: Promise<ServerHandle | string> | undefined;
  const t0 = performance.now();
  const ctx: BenchContext = {
    quick,
    cylo,
    runtimes,
    resolved: (language) => cylo.registry.resolve(language),
    available: (language) => runtimes.some((r) => r.language === language && r.available),
    makeCylo,
    server() {
      server ??= (async () => {
        const why = serverUnavailableReason();
        if (why !== undefined) return why;
        try {
          return await startServer();
        } catch (error) {
          return (error as Error).message;
        }
      })();
      return server;
    },
    log(message) {
      process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
    },
    async close() {
      ctx.log('closing');
      const s = await server;
      if (s !== undefined && typeof s !== 'string') await s.stop();
      await Promise.all(extra.map((c) => c.close({ graceMs: 5000 })));
    },
  };
  return ctx;
}

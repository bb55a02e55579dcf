// The environments a request can select: the built-in `datasci` (Debian's packages, when
// installed) and those built into the environments directory. Turns `environment: NAME` into
// what the stage adds (read-only trees, variables) and lists them with their packages.
import { CyloError } from '../errors.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { DATASCI, datasciLayer, discoverDatasci } from './debian.js';
import { DEFAULT_PREIMPORTS, type Preimports } from './preimport.js';
import { EnvironmentStore } from './store.js';
import { NODE_MODULES_ENV_IN_SANDBOX, PYTHON_ENV_IN_SANDBOX, type EnvironmentInfo, type EnvironmentLayer, type EnvironmentManifest } from './types.js';

/** Names no built environment may take. */
export const BUILTIN_ENVIRONMENTS: readonly string[] = [DATASCI];

function unknown(message: string): CyloError {
  return new CyloError('CYLO_E_UNKNOWN_ENVIRONMENT', message, { field: 'environment' });
}

function infoOf(m: EnvironmentManifest): EnvironmentInfo {
  return { name: m.name, language: m.language, packages: m.packages, builtin: false, created: m.created, build: m.build };
}

export class EnvironmentCatalog {
  readonly store: EnvironmentStore;
  private datasci: ReturnType<typeof discoverDatasci> | null = null;

  /** `preimports`: the modules pre-started runtimes of each environment import ahead
   *  (preimport.ts; default datasci's numpy and pandas). */
  constructor(dir: string, private readonly preimports: Preimports = DEFAULT_PREIMPORTS) {
    this.store = new EnvironmentStore(dir);
  }

  /** datasci of this host, looked up once (dpkg-query); undefined when not installed. */
  private builtin(): ReturnType<typeof discoverDatasci> {
    if (this.datasci === null) this.datasci = discoverDatasci();
    return this.datasci;
  }

  /** Every environment: the built-in first, then the stored ones by name. Throws
   *  CYLO_E_ENVIRONMENT_STORE when the directory or an environment in it is unsafe. */
  list(): EnvironmentInfo[] {
    const d = this.builtin();
    return [...(d === undefined ? [] : [d.info]), ...this.store.list().map(infoOf)];
  }

  /** The environments of one language (by its canonical id). */
  forLanguage(language: string): EnvironmentInfo[] {
    return this.list().filter((e) => e.language === language);
  }

  /** What `name` adds to a stage of `runtime`. Throws CYLO_E_UNKNOWN_ENVIRONMENT when there is
   *  no such environment, or it is for another language, or (datasci) the runtime is not the
   *  Debian interpreter its packages were built for. */
  layer(runtime: ResolvedRuntime, name: string): EnvironmentLayer {
    const language = runtime.definition.id;
    const available = (): string => {
      const names = this.forLanguage(language).map((e) => e.name);
      return names.length === 0 ? `there are none for ${language} (docs/environments.md: cylo env build)` : `those for ${language}: ${names.join(', ')}`;
    };
    if (name === DATASCI) {
      const d = this.builtin();
      if (d === undefined) throw unknown(`environment: datasci needs Debian's python3-numpy, python3-pandas and python3-matplotlib on the host (scripts/setup.sh installs them); ${available()}`);
      if (language !== 'python') throw unknown(`environment: datasci is a python environment, not one for ${language}; ${available()}`);
      if (runtime.binary === undefined || !/^\/usr\/bin\/python3(\.\d+)?$/.test(runtime.binary)) {
        throw unknown(`environment: datasci holds Debian's packages, built for Debian's /usr/bin/python3; this cylo's python runtime is ${runtime.binary ?? 'not installed'}`);
      }
      return datasciLayer(d.entries);
    }
    if (!this.store.exists(name)) throw unknown(`environment: no environment named ${JSON.stringify(name)}; ${available()}`);
    const m = this.store.read(name);
    if (m.language !== language) throw unknown(`environment: ${name} is a ${m.language} environment, not one for ${language}; ${available()}`);
    const tree = this.store.treeOf(name);
    if (m.language === 'python') return { mounts: [{ source: tree, dest: PYTHON_ENV_IN_SANDBOX }], env: { PYTHONPATH: PYTHON_ENV_IN_SANDBOX } };
    return { mounts: [{ source: `${tree}/node_modules`, dest: NODE_MODULES_ENV_IN_SANDBOX }], env: { NODE_PATH: NODE_MODULES_ENV_IN_SANDBOX } };
  }

  /** `runtime` with environment `name` added (its trees mounted, its variables set); the
   *  runtime itself when name is undefined. */
  apply(runtime: ResolvedRuntime, name: string | undefined): ResolvedRuntime {
    if (name === undefined) return runtime;
    const layer = this.layer(runtime, name);
    return {
      ...runtime,
      mounts: [...runtime.mounts, ...layer.mounts],
      definition: { ...runtime.definition, env: { ...runtime.definition.env, ...layer.env } },
      fingerprint: `${runtime.fingerprint}\0environment:${name}`,
      // Only a Python runtime imports ahead (the stub is sitecustomize.py).
      preimport: runtime.definition.prestart === 'python' ? this.preimports[name] : undefined,
    };
  }
}

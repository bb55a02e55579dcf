// `cylo env build`: installs packages into a new environment IN A SANDBOX of its own. pip and
// npm run package code (setup.py, postinstall scripts): they run as a slot's unprivileged uid
// under every layer (no network, read-only host, seccomp, Landlock, cgroup limits; with
// --network, outbound HTTP(S) only through a user-mode stack: src/sandbox/build-network.ts), writing
// only into the workspace's out/ directory. PID 1 streams out/ back (native/emit.c: regular
// files and directories only, a link anywhere refuses it, never following one); the host then
// writes those files into a root-only staging directory (store.ts) and renames it into place.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { CyloError } from '../errors.js';
import { decodeBundle, type BundleFile } from '../backend/file-bundle.js';
import type { HostMount, StageLimits } from '../backend/backend.js';
import type { NamespaceBackend } from '../sandbox/namespace-backend.js';
import type { ResolvedRuntime, RuntimeRegistry } from '../runtimes/registry.js';
import { stageEnv } from '../engine/stage-env.js';
import { hostCaBundle, nftPath, slirp4netnsPath } from '../sandbox/build-network.js';
import { BUILTIN_ENVIRONMENTS, type EnvironmentCatalog } from './catalog.js';
import { buildTools } from './build-tools.js';
import { environmentPackages } from './packages.js';
import { ENVIRONMENT_LANGUAGES, ENVIRONMENT_NAME, ENVIRONMENT_NAME_RULE, type EnvironmentLanguage, type EnvironmentManifest } from './types.js';

export interface EnvironmentBuildRequest {
  name: string;
  language: string;
  /** Package specifications (pip: "name" or "name==1.2"; npm: a name, or a tarball file name in
   *  `from`). Exactly one of packages and requirements. */
  packages?: readonly string[] | undefined;
  /** The contents of a requirements.txt (python) or package.json (javascript). */
  requirements?: string | undefined;
  /** A host directory of wheels / sdists (pip --find-links) or npm tarballs, bound read-only.
   *  Required without network. */
  from?: string | undefined;
  /** Let the installer download from the public index (PyPI, registry.npmjs.org) through the
   *  build sandbox's own user-mode network; the host's proxy variables are not passed. */
  network?: boolean | undefined;
}

/** What a build may use: its own limits, generous for installers, still bounded. */
export const BUILD_LIMITS: StageLimits = { timeoutMs: 600_000, cpuTimeMs: 600_000, memoryBytes: 2 * 1024 ** 3, pids: 256, outputBytes: 4 * 1024 ** 2, workspaceBytes: 1024 ** 3 };
/** The largest tree a build may bring back. */
export const BUILD_MAX_BYTES = 768 * 1024 ** 2;
const BUILD_MAX_FILES = 100_000;
/** The indexes a build with network installs from (the public ones; a mirror: --from). */
const PYPI_INDEX = 'https://pypi.org/simple';
const NPM_REGISTRY = 'https://registry.npmjs.org/';
/** Where --from appears inside the build sandbox. */
export const FROM_IN_SANDBOX = '/.cylo/from';

export interface BuildDeps {
  backend: () => Promise<NamespaceBackend>;
  registry: RuntimeRegistry;
  catalog: EnvironmentCatalog;
}

function buildError(message: string): CyloError {
  return new CyloError('CYLO_E_ENVIRONMENT_BUILD', message);
}

/** Checks a build request; returns its language and the specs, or throws naming the flag. */
function check(req: EnvironmentBuildRequest): { language: EnvironmentLanguage; specs: string[] } {
  if (!ENVIRONMENT_NAME.test(req.name)) throw new CyloError('CYLO_E_VALIDATION', `NAME: ${JSON.stringify(req.name)} is not a valid environment name (${ENVIRONMENT_NAME_RULE})`, { field: 'name' });
  if (BUILTIN_ENVIRONMENTS.includes(req.name)) throw new CyloError('CYLO_E_VALIDATION', `NAME: ${req.name} is a built-in environment; choose another name`, { field: 'name' });
  if (!(ENVIRONMENT_LANGUAGES as readonly string[]).includes(req.language)) throw new CyloError('CYLO_E_VALIDATION', `--lang: environments are built for ${ENVIRONMENT_LANGUAGES.join(' or ')}, not ${req.language}`, { field: 'language' });
  const specs = [...(req.packages ?? [])];
  if ((specs.length > 0) === (req.requirements !== undefined)) throw new CyloError('CYLO_E_VALIDATION', '--packages / --requirements: give exactly one of them', { field: 'packages' });
  for (const s of specs) {
    if (s === '' || s.startsWith('-') || s.length > 512 || /[\0\n]/.test(s)) throw new CyloError('CYLO_E_VALIDATION', `--packages: ${JSON.stringify(s.slice(0, 80))} is not a package specification (no options, no empty names)`, { field: 'packages' });
  }
  if (req.from === undefined && req.network !== true) throw new CyloError('CYLO_E_VALIDATION', '--from: a directory of wheels/sdists (python) or npm tarballs (javascript) is required (builds run without network unless --network)', { field: 'from' });
  return { language: req.language as EnvironmentLanguage, specs };
}

/** npm: a spec naming a tarball in `from` (exactly, or by its "name-" prefix) becomes its path
 *  inside the sandbox; with network, any other spec goes to the registry as it is. */
function npmSpec(spec: string, from: string | undefined, network: boolean): string {
  if (from === undefined) return spec;
  const names = readdirSync(from).filter((f) => f.endsWith('.tgz'));
  if (names.includes(spec)) return `${FROM_IN_SANDBOX}/${spec}`;
  const prefix = `${spec.replace(/^@/, '').replace('/', '-')}-`;
  const match = names.filter((f) => f.startsWith(prefix) && /^\d/.test(f.slice(prefix.length))).sort();
  if (match.length === 0 && network) return spec;
  if (match.length === 0) throw new CyloError('CYLO_E_VALIDATION', `--packages: no tarball for ${spec} in ${from} (npm pack writes NAME-VERSION.tgz)`, { field: 'packages' });
  return `${FROM_IN_SANDBOX}/${match[match.length - 1] as string}`;
}

/** The build stage's argv, files and extra mounts. */
function plan(language: EnvironmentLanguage, runtime: ResolvedRuntime, specs: string[], req: EnvironmentBuildRequest, from: string | undefined): { argv: string[]; files: BundleFile[]; mounts: HostMount[]; mkdirs: string[] } {
  const bin = runtime.binary ?? '';
  const tools = buildTools(language, runtime);
  const network = req.network === true;
  const mounts: HostMount[] = [...(from === undefined ? [] : [{ source: from, dest: FROM_IN_SANDBOX }]), ...tools.mounts];
  if (language === 'python') {
    const what = req.requirements !== undefined ? ['-r', '/work/requirements.txt'] : specs;
    const files = req.requirements !== undefined ? [{ name: 'requirements.txt', content: Buffer.from(req.requirements) }] : [];
    // --no-index --find-links: only the operator's directory (with network: PyPI, and the
    // directory first when given); --no-build-isolation: an sdist builds with the setuptools
    // revealed here, nothing more downloaded; --target: a plain tree.
    // With network, TLS trusts the host's CA bundle (bound by the backend) when it has one.
    const ca = network ? hostCaBundle() : undefined;
    const index = network ? ['--index-url', PYPI_INDEX, ...(ca === undefined ? [] : ['--cert', ca])] : ['--no-index'];
    const links = from === undefined ? [] : ['--find-links', FROM_IN_SANDBOX];
    const argv = [bin, '-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--no-cache-dir', '--no-compile', '--no-warn-script-location', ...index, ...links, '--no-build-isolation', '--target', '/work/out', ...what];
    return { argv, files, mounts, mkdirs: ['out'] };
  }
  const files = req.requirements !== undefined ? [{ name: 'out/package.json', content: Buffer.from(req.requirements) }] : [];
  // --offline: nothing fetched (with network: the public registry, named so that no npmrc
  // redirects it); --no-bin-links: no .bin symlinks (the tree must hold none).
  const ca = network ? hostCaBundle() : undefined;
  const fetch = network ? ['--registry', NPM_REGISTRY, ...(ca === undefined ? [] : ['--cafile', ca])] : ['--offline'];
  const argv = [bin, tools.npmCli ?? '', 'install', ...fetch, '--no-audit', '--no-fund', '--no-bin-links', '--no-update-notifier', '--cache', '/work/.npm', '--prefix', '/work/out', ...specs.map((s) => npmSpec(s, from, network))];
  return { argv, files, mounts, mkdirs: ['out'] };
}

/** Builds environment `req.name` and stores it (replacing one of the same name). Throws
 *  CYLO_E_VALIDATION for a bad request, CYLO_E_ENVIRONMENT_BUILD when the installer failed
 *  (with the end of its output) or its tree cannot come back (a link in it, too large). */
export async function buildEnvironment(deps: BuildDeps, req: EnvironmentBuildRequest): Promise<EnvironmentManifest> {
  const { language, specs } = check(req);
  const from = req.from === undefined ? undefined : realpathSync(req.from);
  if (from !== undefined && !statSync(from).isDirectory()) throw new CyloError('CYLO_E_VALIDATION', `--from: ${req.from} is not a directory`, { field: 'from' });
  // Refused before anything runs when the network layer cannot be set up (its fix named).
  if (req.network === true) {
    slirp4netnsPath();
    nftPath();
  }
  const runtime = await deps.registry.resolve(language);
  if (!runtime.available) throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `--lang: ${runtime.problem ?? `${language} is not installed`}`, { field: 'language' });
  const p = plan(language, runtime, specs, req, from);
  const backend = await deps.backend();
  const slot = backend.createSlot();
  let report;
  try {
    const env = stageEnv(runtime, { bin: runtime.binary ?? '', entry: '', files: [], args: [], memoryBytes: BUILD_LIMITS.memoryBytes, workspace: '/work' }, 'run', {});
    report = await backend.runStage(slot, { kind: 'compile', roots: runtime.roots, mounts: [...runtime.mounts, ...p.mounts], argv: p.argv, env, files: p.files, mkdirs: p.mkdirs, stdin: Buffer.alloc(0), limits: BUILD_LIMITS, emit: { paths: ['out'], maxBytes: BUILD_MAX_BYTES }, network: req.network === true });
  } finally {
    await slot.destroy().catch(() => {});
  }
  const tail = (b: Buffer): string => b.toString('utf8').slice(-2000).trim();
  if (report.setupError !== null) throw buildError(`the build sandbox could not be set up: ${report.setupError}`);
  if (report.stopReason !== null || report.oomKilled || report.exit?.code !== 0) {
    const why = report.oomKilled ? `it ran out of memory (${BUILD_LIMITS.memoryBytes} bytes)` : report.stopReason !== null ? `it was stopped (${report.stopReason})` : `it exited with ${report.exit?.code ?? `signal ${report.exit?.signalNumber ?? '?'}`}`;
    throw buildError(`${basename(p.argv[language === 'python' ? 2 : 1] ?? 'the installer')} failed in the build sandbox: ${why}\n${tail(report.stderr)}\n${tail(report.stdout)}`.trim());
  }
  if (report.artifact === undefined || (report.artifactError ?? null) !== null) throw buildError(`the built tree could not be brought out of the sandbox: ${report.artifactError ?? 'nothing was emitted'} (symbolic links, devices and trees above ${BUILD_MAX_BYTES} bytes are refused)`);
  const files = decodeBundle(report.artifact, { maxBytes: BUILD_MAX_BYTES + 16 * BUILD_MAX_FILES, maxFiles: BUILD_MAX_FILES });
  const manifest: EnvironmentManifest = {
    name: req.name,
    language,
    packages: environmentPackages(language, files, 'out'),
    created: new Date().toISOString(),
    build: { tool: language === 'python' ? 'pip' : 'npm', requested: req.requirements !== undefined ? req.requirements.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : specs, from: from ?? null, network: req.network === true },
  };
  if (language === 'javascript' && !files.some((f) => f.name.startsWith('out/node_modules/'))) throw buildError('npm installed nothing: the tree has no node_modules');
  deps.catalog.store.install(manifest, files, 'out');
  return manifest;
}

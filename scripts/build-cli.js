#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js, from tsc) into dist/src/cli-bundle/ with
// esbuild, for fast start: loading ~170 separate ES modules (cylo's own and zod's 95) costs more
// CPU than running the sandboxed program; one file per command costs about half of that.
// bin/cylo loads dist/src/cli-bundle/cylo.mjs only when every file the bundle was built from is
// still the file it was built from: INPUTS_FILE records each input's path, size and mtime (tsc
// rewrites every output it emits, so a later tsc run, a copy of another build's dist/src or a
// checkout changes them). Comparing mtimes between the bundle and tsc's output was not exact: a
// stale bundle with a newer mtime (a tarball, a copy) ran old code.
//
// Layout rules the bundle must keep:
// - It sits two directories below dist/ like every compiled module (dist/src/<dir>/), so the
//   paths found relative to `import.meta.url` (the native helper in dist/native, the playground
//   in dist/web, the repository root of the microVM guest scripts) resolve as from dist/src/*/.
// - Code splitting: each command stays its own chunk, loaded by main's dynamic import when that
//   command is asked for (`cylo exec` never loads the server's code).
// - Only pure-JS packages with no files of their own to find are inlined (BUNDLED); every other
//   package stays an external import resolved from node_modules at run time: better-sqlite3 is a
//   native addon, pino/fastify find worker and plugin files by path, and the server's packages
//   must stay out of `cylo exec` (test/integration/cli-start.test.ts checks it by module URL).
// - CommonJS inside the bundle (commander) gets a real `require` (createRequire) for Node's
//   built-in modules.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/src/cli-bundle';
/** Packages inlined into the bundle: what `cylo exec` loads, all pure JS. */
const BUNDLED = new Set(['zod', 'commander', 'p-limit', 'yocto-queue']);

/** The package name of a bare specifier ("@scope/name/x" -> "@scope/name"; "zod/v4" -> "zod"). */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** esbuild plugin: every bare import outside BUNDLED (and every node: built-in) stays external. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || !BUNDLED.has(packageOf(args.path))) return { path: args.path, external: true };
      return undefined;
    });
  },
};

/** esbuild plugin: cylo's `import { z } from 'zod'` (z: the namespace of zod's external.js,
 *  re-exported by name) becomes `import * as z from 'zod'` (the namespace of zod's index.js,
 *  which re-exports all of external.js): the same bindings under the same names, but esbuild
 *  tree-shakes property accesses on a namespace import and not on a re-exported namespace, so
 *  zod's 64 locales (about 500 kB of the exec path) stay out of the bundle. */
const ZOD_IMPORT = /^import \{ z \} from 'zod';$/m;
const zodNamespace = {
  name: 'zod-namespace',
  setup(b) {
    b.onLoad({ filter: /\/dist\/src\/.*\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      return ZOD_IMPORT.test(source) ? { contents: source.replace(ZOD_IMPORT, "import * as z from 'zod';"), loader: 'js' } : undefined;
    });
  },
};

rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: { cylo: 'dist/src/cli/main.js' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  splitting: true,
  outdir: out,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  plugins: [externalPackages, zodNamespace],
  banner: { js: "import { createRequire as __cyloCreateRequire } from 'node:module'; const require = __cyloCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

// The record bin/cylo checks (paths relative to the repository root, as esbuild names them):
// [path, size in bytes, mtime in ms] per input, cylo's compiled modules and the inlined packages.
const inputs = Object.keys(result.metafile.inputs).sort().map((path) => {
  const st = statSync(path);
  return [path, st.size, st.mtimeMs];
});
writeFileSync(`${out}/inputs.json`, `${JSON.stringify({ inputs })}\n`);

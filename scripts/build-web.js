#!/usr/bin/env node
// Builds the web playground (web/) into dist/web/: type-checks it (web/tsconfig.json, strict,
// DOM), bundles web/src/main.ts and its CSS with esbuild (minified, ES2022, no source maps
// served), names the bundles by content hash (dist/web/assets/main-HASH.js, .css) so they can be
// cached forever, writes dist/web/index.html from web/index.html with those names, and adds
// gzip and brotli copies that @fastify/static serves to clients that accept them. No network:
// every module comes from node_modules. Prints the sizes (docs/playground.md reports them).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { spawnSync } from 'node:child_process';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import { build } from 'esbuild';

const out = 'dist/web';
const assets = `${out}/assets`;

const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'web/tsconfig.json'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const result = await build({
  entryPoints: ['web/src/main.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  outdir: assets,
  // Each language's parser is a chunk loaded when that language is picked.
  splitting: true,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs);
const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === 'web/src/main.ts')?.[0];
const js = entry;
const css = outputs.find((p) => p.endsWith('.css'));
if (js === undefined || css === undefined) throw new Error(`build-web: expected one .js and one .css bundle, got ${outputs.join(', ')}`);
const html = readFileSync('web/index.html', 'utf8').replace('%JS%', basename(js)).replace('%CSS%', basename(css));
if (!html.includes('%CSP_NONCE%')) throw new Error('build-web: web/index.html must keep the %CSP_NONCE% mark (the server fills it in)');
writeFileSync(`${out}/index.html`, html);

// What the first load fetches: main and the chunks it imports statically (transitively).
const firstLoad = new Set([js]);
for (const file of firstLoad) for (const i of result.metafile.outputs[file]?.imports ?? []) if (i.kind === 'import-statement') firstLoad.add(i.path);
const sizes = [];
let first = { raw: 0, gz: 0 };
let chunks = { raw: 0, gz: 0 };
for (const file of [js, css, `${out}/index.html`, ...outputs.filter((p) => p !== js && p !== css)]) {
  const bytes = readFileSync(file);
  const gz = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  if (file !== `${out}/index.html`) {
    writeFileSync(`${file}.gz`, gz);
    writeFileSync(`${file}.br`, br);
  }
  if (firstLoad.has(file) || file === css) first = { raw: first.raw + bytes.length, gz: first.gz + gz.length };
  else if (file.includes('/chunk-')) chunks = { raw: chunks.raw + bytes.length, gz: chunks.gz + gz.length };
  if (file.includes('/chunk-')) continue;
  sizes.push(`${basename(file)} ${(bytes.length / 1024).toFixed(1)} KiB (gzip ${(gz.length / 1024).toFixed(1)} KiB, brotli ${(br.length / 1024).toFixed(1)} KiB)`);
}
sizes.unshift(`first load (script + style, shared chunks included) ${(first.raw / 1024).toFixed(1)} KiB (gzip ${(first.gz / 1024).toFixed(1)} KiB)`);
sizes.push(`language chunks (loaded on demand) ${(chunks.raw / 1024).toFixed(1)} KiB (gzip ${(chunks.gz / 1024).toFixed(1)} KiB)`);
console.log(`build-web: ${sizes.join('; ')}`);

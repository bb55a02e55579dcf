// The languages cylo knows out of the box. Adding one is adding an entry here (or in an
// operator's configuration file): see docs/runtimes.md. Everything language-specific lives in
// these definitions; the engine only expands their templates.
import type { RuntimeDefinitionInput } from './definition.js';

const MiB = 1024 * 1024;

/** Compiled artifacts go under this workspace directory (created before the compiler runs). */
const BUILD = '.build';

/**
 * The TypeScript compile stage, run by the sandbox's own node with the `typescript` package of
 * cylo's installation mounted at {nodeModules}. Without a tsconfig.json it transpiles each file
 * on its own (no type checking: fast, like esbuild/swc/tsx); with a tsconfig.json in the request
 * it builds a type-checked program with the user's compiler options, and type errors fail the
 * compile. Output is CommonJS under .build/ (imports of './x', './x.js' and './x.ts' all work).
 */
const TYPESCRIPT_COMPILE = `'use strict';
const ts = require('{nodeModules}/typescript');
const fs = require('fs');
const path = require('path');
const OUT = '${BUILD}';
const files = process.argv.slice(1);
const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => process.cwd(), getNewLine: () => '\\n' };
const report = (diags) => { if (diags.length > 0) process.stderr.write(ts.formatDiagnostics(diags, host)); };
const fatal = (diags) => diags.some((d) => d.category === ts.DiagnosticCategory.Error);
if (fs.existsSync('tsconfig.json')) {
  const read = ts.readConfigFile('tsconfig.json', ts.sys.readFile);
  if (read.error) { report([read.error]); process.exit(1); }
  const forced = { outDir: OUT, rootDir: '.', noEmit: false, noEmitOnError: true, declaration: false, composite: false, incremental: false, sourceMap: false, rewriteRelativeImportExtensions: true, typeRoots: ['{nodeModules}/@types'] };
  const defaults = { strict: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: true, types: ['node'] };
  const config = { ...read.config, compilerOptions: { ...defaults, ...(read.config.compilerOptions || {}) } };
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, process.cwd(), forced, 'tsconfig.json');
  if (fatal(parsed.errors)) { report(parsed.errors); process.exit(1); }
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences });
  const diags = ts.getPreEmitDiagnostics(program);
  report(diags);
  if (fatal(diags)) process.exit(1);
  const emitted = program.emit();
  report(emitted.diagnostics);
  if (emitted.emitSkipped || fatal(emitted.diagnostics)) process.exit(1);
} else {
  const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, rewriteRelativeImportExtensions: true, sourceMap: false };
  let failed = false;
  for (const file of files) {
    const result = ts.transpileModule(fs.readFileSync(file, 'utf8'), { fileName: file, compilerOptions: options, reportDiagnostics: true });
    report(result.diagnostics);
    if (fatal(result.diagnostics)) { failed = true; continue; }
    const out = path.join(OUT, file.replace(/\\.[cm]?tsx?$/, '.js'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, result.outputText);
  }
  if (failed) process.exit(1);
  // The output is CommonJS whatever a package.json in the request says.
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'package.json'), '{"type":"commonjs"}\\n');
}
`;

/** Fast-start JVM flags: one GC thread, C1 only, class-data sharing, no /tmp/hsperfdata. */
const JVM_FLAGS = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-XX:-UsePerfData'];

export const BUILTIN_RUNTIMES: readonly RuntimeDefinitionInput[] = [
  {
    id: 'python',
    aliases: ['py', 'python3'],
    extension: '.py',
    entry: 'main.py',
    package: 'python3',
    // The system interpreter first (fast to start); otherwise whatever `python3` is on PATH,
    // resolved through pyenv-style shims to the real executable and its prefix tree.
    binary: {
      candidates: ['/usr/bin/python3', 'python3'],
      resolve: ['{bin}', '-c', 'import os,sys; print(os.path.realpath(sys.executable)); print(sys.base_prefix)'],
    },
    version: { argv: ['{bin}', '--version'], pattern: 'Python (\\S+)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
    env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
    // A prepared sandbox starts the interpreter ahead, waiting in its sitecustomize stub.
    prestart: 'python',
  },
  {
    id: 'javascript',
    aliases: ['js', 'node', 'nodejs'],
    extension: '.js',
    entry: 'main.js',
    package: 'nodejs',
    binary: { candidates: ['/usr/bin/node', '/usr/local/bin/node', 'node'], resolve: ['{bin}', '-p', 'process.execPath'] },
    version: { argv: ['{bin}', '--version'], pattern: 'v(\\S+)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
    env: { NODE_OPTIONS: '' },
    // A prepared sandbox starts Node ahead, waiting in its --require preload stub.
    prestart: 'node',
  },
  {
    id: 'bash',
    aliases: ['sh', 'shell'],
    extension: '.sh',
    entry: 'main.sh',
    package: 'bash',
    binary: { candidates: ['/usr/bin/bash', '/bin/bash', 'bash'] },
    version: { argv: ['{bin}', '--version'], pattern: 'version (\\S+?)(?:\\(|-|\\s)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
  },
  {
    id: 'c',
    aliases: ['gcc'],
    extension: '.c',
    entry: 'main.c',
    package: 'gcc',
    binary: { candidates: ['/usr/bin/gcc', 'gcc', 'cc'] },
    version: { argv: ['{bin}', '-dumpfullversion'], pattern: '^(\\S+)' },
    // {compilerOptions} after the defaults, so that a request's -O/-std wins (gcc: the last one does).
    compile: { argv: ['{bin}', '-O2', '-pipe', '{compilerOptions}', '-o', `${BUILD}/main`, '{files}', '-lm'], artifact: `${BUILD}/main` },
    run: { argv: [`{workspace}/${BUILD}/main`, '{args}'] },
  },
  {
    id: 'cpp',
    aliases: ['c++', 'g++', 'cxx'],
    extension: '.cpp',
    entry: 'main.cpp',
    package: 'g++',
    binary: { candidates: ['/usr/bin/g++', 'g++', 'c++'] },
    version: { argv: ['{bin}', '-dumpfullversion'], pattern: '^(\\S+)' },
    compile: { argv: ['{bin}', '-std=c++17', '-O2', '-pipe', '{compilerOptions}', '-o', `${BUILD}/main`, '{files}', '-lm'], artifact: `${BUILD}/main` },
    run: { argv: [`{workspace}/${BUILD}/main`, '{args}'] },
  },
  {
    id: 'go',
    aliases: ['golang'],
    extension: '.go',
    entry: 'main.go',
    package: 'golang-go',
    // The real toolchain is GOROOT/bin/go; a GOROOT outside /usr (e.g. /usr/local/go) is bound.
    binary: {
      candidates: ['/usr/bin/go', '/usr/local/go/bin/go', 'go'],
      resolve: ['/bin/sh', '-c', 'r=$("$0" env GOROOT) && echo "$r/bin/go" && echo "$r"', '{bin}'],
    },
    version: { argv: ['{bin}', 'version'], pattern: 'go version go(\\S+)' },
    // The whole workspace is one module (a go.mod is generated when the request has none, so
    // `import "main/util"` reaches ./util); no network: GOPROXY=off, GOSUMDB=off.
    compile: {
      argv: ['/bin/sh', '-c', '[ -f go.mod ] || "$0" mod init main 2>/dev/null; exec "$0" build -o "$1" .', '{bin}', `${BUILD}/main`],
      artifact: `${BUILD}/main`,
      env: {
        // Build cache, module cache and temporary files in the workspace (Go's standard library
        // comes prebuilt from GOROOT/pkg, read-only: see docs/runtimes.md).
        GOCACHE: '{workspace}/.tmp/go-build',
        GOPATH: '{workspace}/.tmp/go',
        GOMODCACHE: '{workspace}/.tmp/go/pkg/mod',
        GOTMPDIR: '{workspace}/.tmp',
        GOENV: 'off',
        GOPROXY: 'off',
        GOSUMDB: 'off',
        GONOSUMDB: '*',
        GOPRIVATE: '*',
        GOTOOLCHAIN: 'local',
        GOTELEMETRY: 'off',
        GOFLAGS: '-buildvcs=false',
        GO111MODULE: 'on',
      },
      // go build of a package that is not main exits 0 and writes an archive, not a program.
      notRunnableHint: 'a Go program needs an entry file that declares `package main` and `func main()`',
    },
    run: { argv: [`{workspace}/${BUILD}/main`, '{args}'] },
  },
  {
    id: 'rust',
    aliases: ['rs', 'rustc'],
    extension: '.rs',
    entry: 'main.rs',
    package: 'rustc',
    // rustup installs a proxy; the real compiler is <sysroot>/bin/rustc, and the sysroot (often
    // under /root/.rustup, a 0700 tree) is bound read-only.
    binary: {
      candidates: ['rustc', '~/.cargo/bin/rustc', '/usr/local/cargo/bin/rustc', '/usr/bin/rustc'],
      resolve: ['/bin/sh', '-c', 's=$("$0" --print sysroot) && echo "$s/bin/rustc" && echo "$s"', '{bin}'],
    },
    version: { argv: ['{bin}', '--version'], pattern: 'rustc (\\S+)' },
    // rustc directly (no cargo, no crates, no network); `mod x;` finds x.rs next to the entry.
    compile: {
      argv: ['{bin}', '--edition', '2021', '-C', 'opt-level=2', '-C', 'strip=debuginfo', '-o', `${BUILD}/main`, '{entry}'],
      artifact: `${BUILD}/main`,
    },
    run: { argv: [`{workspace}/${BUILD}/main`, '{args}'] },
  },
  {
    id: 'java',
    aliases: ['javac', 'jdk'],
    extension: '.java',
    entry: 'Main.java',
    package: 'default-jdk-headless',
    // javac's real path (through /etc/alternatives) and the JDK's configuration tree, which
    // Debian keeps under /etc (lib/jvm.cfg links there; the JVM does not start without it).
    binary: {
      candidates: ['/usr/bin/javac', 'javac'],
      resolve: ['/bin/sh', '-c', 'b=$(readlink -f "$0") && echo "$b" && c=$(readlink -f "${b%/bin/*}/lib/jvm.cfg") && echo "${c%/*}"', '{bin}'],
    },
    version: { argv: ['{bin}', '-version'], pattern: 'javac (\\S+)' },
    // Heaps follow the stage's memory limit, leaving room for the JVM's own memory (metaspace, code, threads).
    compile: {
      argv: ['{bin}', '-J-Xmx{memoryMiB*75%-64}m', ...JVM_FLAGS.map((f) => `-J${f}`), '-encoding', 'UTF-8', '-proc:none', '-d', BUILD, '{files}'],
      artifact: BUILD,
    },
    run: { argv: ['{binDir}/java', '-Xmx{memoryMiB*75%-64}m', '-Xss8m', ...JVM_FLAGS, '-cp', BUILD, '{mainClass}', '{args}'] },
    // Sources are named after their public class (`public class Solution` sent as `code` works)
    // and the class that declares main is the one run (src/runtimes/entry-point.ts).
    entryPoint: 'java-main-class',
    // A prepared sandbox starts the JVM ahead (the same flags), waiting in its JVMTI agent stub
    // before the main class is loaded. Handed over when the compile is a cache hit.
    prestart: 'java',
    // The JVM needs more memory and threads than the defaults allow.
    limits: { memoryBytes: 512 * MiB, pids: 128 },
  },
  {
    id: 'typescript',
    aliases: ['ts'],
    extension: '.ts',
    entry: 'main.ts',
    package: 'nodejs',
    binary: { candidates: ['/usr/bin/node', '/usr/local/bin/node', 'node'], resolve: ['{bin}', '-p', 'process.execPath'] },
    // The version is TypeScript's (the node that runs the output is the javascript runtime's).
    version: { argv: ['{bin}', '-p', "'typescript ' + require('{nodeModules}/typescript/package.json').version"], pattern: 'typescript (\\S+)' },
    nodePackages: ['typescript', '@types/node', 'undici-types'],
    compile: { argv: ['{bin}', '-e', TYPESCRIPT_COMPILE, '{files}'], artifact: BUILD },
    run: { argv: ['{bin}', `${BUILD}/{entryStem}.js`, '{args}'] },
    env: { NODE_OPTIONS: '' },
    // The run stage is Node on the compiled JavaScript: a prepared sandbox (with the compiler's
    // packages bound, as the run stage has them) starts Node ahead, as for javascript. Handed
    // over when the compile is a cache hit (a compile stage that runs uses the slot's cgroup,
    // so the waiting runtime is discarded first).
    prestart: 'node',
  },
];

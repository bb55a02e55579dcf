// Integration tests for the languages: for every language, hello world, stdin, arguments, a
// non-zero exit code, a runtime error, a compile error (compiled languages), unicode output, a
// program split across files, and a compile-cache hit; then the compile stage itself (its own
// limits, artifacts that cannot leave the sandbox), type checking opt-in for TypeScript, and a
// language (perl) added purely by an operator's runtimes file.
//
// Each language has one "modes" program (the first argument picks what it does), so one compile
// serves most tests: the first request compiles, the others are compile-cache hits. A missing
// toolchain skips that language's tests visibly, naming the package to install.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';
import type { ExecutionEvent } from '../../src/engine/lifecycle.js';
import type { StateEvent } from '../../src/engine/state-machine.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason, skipWithoutSandbox } from '../support/host.js';
import { scriptCompiler } from '../support/runtimes.js';
import { MiB } from '../support/units.js';

const T = { timeout: 60_000 };
const UNICODE = 'héllo wörld ✓ 日本語 🚀';

let cacheDir: string;
let cylo: Cylo;

before(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'cylo-langs-cache-'));
  cylo = createCylo({
    cacheDir,
    runtimesFile: false,
    defaultLimits: { timeoutMs: 10_000, cpuTimeMs: 10_000, memoryBytes: 256 * MiB, pids: 64, workspaceBytes: 64 * MiB },
    uidBase: TEST_UID_BASE,
    uidCount: TEST_UID_COUNT,
  });
});

after(async () => {
  await cylo?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

const missing = new Map<string, string | undefined>();

/** Skips visibly when the host cannot sandbox or the language's toolchain is missing. */
async function skipUnless(t: TestContext, language: string): Promise<boolean> {
  if (skipWithoutSandbox(t)) return true;
  if (!missing.has(language)) {
    const r = await cylo.registry.resolve(language);
    missing.set(language, r.available ? undefined : `${language} not installed: apt-get install ${r.definition.package} (${r.problem ?? ''})`);
  }
  const why = missing.get(language);
  if (why === undefined) return false;
  t.skip(why);
  return true;
}

async function exec(request: ExecuteRequest, events?: ExecutionEvent[]): Promise<ExecutionResult> {
  return cylo.execute(request, events === undefined ? {} : { onEvent: (e) => events.push(e) });
}

const states = (events: ExecutionEvent[]): string[] => events.filter((e): e is StateEvent => e.type === 'state').map((e) => e.to);

interface LanguageCase {
  language: string;
  compiled: boolean;
  /** The "modes" program: no args -> "Hello, World!"; stdin -> sum of the integers on stdin;
   *  args -> each further argument as [arg]; exit -> exit code 3; crash -> a runtime error;
   *  unicode -> UNICODE. */
  modes: Array<{ name: string; content: string }>;
  /** What stderr of the crash shows. */
  crash: RegExp;
  /** Split across files; prints "multi 42". */
  multi: Array<{ name: string; content: string }>;
  /** Does not compile; compile.stderr matches `diagnostic`. */
  broken?: { files: Array<{ name: string; content: string }>; diagnostic: RegExp };
}

const CASES: LanguageCase[] = [
  {
    language: 'c',
    compiled: true,
    modes: [
      {
        name: 'main.c',
        content: `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "stdin") == 0) { long sum = 0, v; while (scanf("%ld", &v) == 1) sum += v; printf("sum=%ld\\n", sum); return 0; }
  if (strcmp(mode, "args") == 0) { for (int i = 2; i < argc; i++) printf("[%s]\\n", argv[i]); return 0; }
  if (strcmp(mode, "exit") == 0) return 3;
  if (strcmp(mode, "crash") == 0) { fprintf(stderr, "crashing\\n"); fflush(stderr); abort(); }
  if (strcmp(mode, "unicode") == 0) { printf("${UNICODE}\\n"); return 0; }
  printf("Hello, World!\\n");
  return 0;
}
`,
      },
    ],
    crash: /crashing/,
    multi: [
      { name: 'main.c', content: '#include <stdio.h>\n#include "util.h"\nint main(void) { printf("multi %d\\n", answer()); return 0; }\n' },
      { name: 'util.h', content: '#ifndef UTIL_H\n#define UTIL_H\nint answer(void);\n#endif\n' },
      { name: 'util.c', content: '#include "util.h"\nint answer(void) { return 6 * 7; }\n' },
    ],
    broken: { files: [{ name: 'main.c', content: 'int main(void) { return undefined_thing; }\n' }], diagnostic: /main\.c:1:\d+: error: .undefined_thing. undeclared/ },
  },
  {
    language: 'cpp',
    compiled: true,
    modes: [
      {
        name: 'main.cpp',
        content: `#include <iostream>
#include <stdexcept>
#include <string>
int main(int argc, char **argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "stdin") { long sum = 0, v; while (std::cin >> v) sum += v; std::cout << "sum=" << sum << "\\n"; return 0; }
  if (mode == "args") { for (int i = 2; i < argc; i++) std::cout << "[" << argv[i] << "]\\n"; return 0; }
  if (mode == "exit") return 3;
  if (mode == "crash") throw std::runtime_error("boom from c++");
  if (mode == "unicode") { std::cout << "${UNICODE}" << std::endl; return 0; }
  std::cout << "Hello, World!" << std::endl;
}
`,
      },
    ],
    crash: /boom from c\+\+/,
    multi: [
      { name: 'main.cpp', content: '#include <iostream>\n#include "util.hpp"\nint main() { std::cout << "multi " << util::answer() << std::endl; }\n' },
      { name: 'util.hpp', content: '#pragma once\nnamespace util { int answer(); }\n' },
      { name: 'util.cpp', content: '#include "util.hpp"\nnamespace util { int answer() { return 42; } }\n' },
    ],
    broken: { files: [{ name: 'main.cpp', content: 'int main() { std::string s = 1; }\n' }], diagnostic: /main\.cpp:1:\d+: error: .string. is not a member of .std./ },
  },
  {
    language: 'go',
    compiled: true,
    modes: [
      {
        name: 'main.go',
        content: `package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "stdin":
		sum := 0
		in := bufio.NewScanner(os.Stdin)
		in.Split(bufio.ScanWords)
		for in.Scan() {
			var v int
			fmt.Sscan(in.Text(), &v)
			sum += v
		}
		fmt.Printf("sum=%d\\n", sum)
	case "args":
		for _, a := range os.Args[2:] {
			fmt.Printf("[%s]\\n", a)
		}
	case "exit":
		os.Exit(3)
	case "crash":
		var m map[string]int
		m["boom"] = 1
	case "unicode":
		fmt.Println("${UNICODE}")
	default:
		fmt.Println("Hello, World!")
	}
}
`,
      },
    ],
    crash: /panic: assignment to entry in nil map/,
    // A package of two files, plus a sub-package imported through the generated go.mod.
    multi: [
      { name: 'main.go', content: 'package main\n\nimport (\n\t"fmt"\n\t"main/greet"\n)\n\nfunc main() { fmt.Println(greet.Word(), answer()) }\n' },
      { name: 'util.go', content: 'package main\n\nfunc answer() int { return 6 * 7 }\n' },
      { name: 'greet/greet.go', content: 'package greet\n\nfunc Word() string { return "multi" }\n' },
    ],
    broken: { files: [{ name: 'main.go', content: 'package main\n\nfunc main() {\n\tx := 1\n}\n' }], diagnostic: /main\.go:4:2: x declared (but|and) not used/ },
  },
  {
    language: 'rust',
    compiled: true,
    modes: [
      {
        name: 'main.rs',
        content: `use std::io::Read;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(|s| s.as_str()).unwrap_or("");
    match mode {
        "stdin" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).unwrap();
            let sum: i64 = s.split_whitespace().map(|w| w.parse::<i64>().unwrap()).sum();
            println!("sum={}", sum);
        }
        "args" => for a in &args[2..] { println!("[{}]", a); },
        "exit" => std::process::exit(3),
        "crash" => { let v: Vec<i32> = Vec::new(); let i = args.len() + 7; println!("{}", v[i]); }
        "unicode" => println!("${UNICODE}"),
        _ => println!("Hello, World!"),
    }
}
`,
      },
    ],
    crash: /panicked at .*index out of bounds/s,
    multi: [
      { name: 'main.rs', content: 'mod util;\nfn main() { println!("multi {}", util::answer()); }\n' },
      { name: 'util.rs', content: 'pub fn answer() -> i32 { 6 * 7 }\n' },
    ],
    broken: { files: [{ name: 'main.rs', content: 'fn main() { let x: i32 = "text"; }\n' }], diagnostic: /error\[E0308\]: mismatched types[\s\S]*main\.rs:1:/ },
  },
  {
    language: 'java',
    compiled: true,
    modes: [
      {
        name: 'Main.java',
        content: `import java.io.*;
import java.util.*;
public class Main {
  public static void main(String[] args) throws IOException {
    String mode = args.length > 0 ? args[0] : "";
    switch (mode) {
      case "stdin": {
        long sum = 0;
        Scanner in = new Scanner(System.in);
        while (in.hasNextLong()) sum += in.nextLong();
        System.out.println("sum=" + sum);
        break;
      }
      case "args":
        for (int i = 1; i < args.length; i++) System.out.println("[" + args[i] + "]");
        break;
      case "exit":
        System.exit(3);
      case "crash":
        throw new IllegalStateException("boom from java");
      case "unicode":
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8").println("${UNICODE}");
        break;
      default:
        System.out.println("Hello, World!");
    }
  }
}
`,
      },
    ],
    crash: /IllegalStateException: boom from java/,
    multi: [
      { name: 'Main.java', content: 'public class Main { public static void main(String[] a) { System.out.println("multi " + Helper.answer()); } }\n' },
      { name: 'Helper.java', content: 'class Helper { static int answer() { return 6 * 7; } }\n' },
    ],
    broken: { files: [{ name: 'Main.java', content: 'public class Main { public static void main(String[] a) { int x = "text"; } }\n' }], diagnostic: /Main\.java:1: error: incompatible types: String cannot be converted to int/ },
  },
  {
    language: 'typescript',
    compiled: true,
    modes: [
      {
        name: 'main.ts',
        content: `import { readFileSync } from 'fs';
const args: string[] = process.argv.slice(2);
const mode: string = args[0] ?? '';
switch (mode) {
  case 'stdin': {
    const sum = readFileSync(0, 'utf8').split(/\\s+/).filter(Boolean).map(Number).reduce((a: number, b: number) => a + b, 0);
    console.log(\`sum=\${sum}\`);
    break;
  }
  case 'args':
    for (const a of args.slice(1)) console.log(\`[\${a}]\`);
    break;
  case 'exit':
    process.exit(3);
  case 'crash':
    throw new Error('boom from typescript');
  case 'unicode':
    console.log('${UNICODE}');
    break;
  default:
    console.log('Hello, World!');
}
`,
      },
    ],
    crash: /Error: boom from typescript/,
    multi: [
      { name: 'main.ts', content: "import { answer } from './lib/util';\nimport { word } from './word.ts';\nconsole.log(`${word} ${answer()}`);\n" },
      { name: 'lib/util.ts', content: 'export function answer(): number { return 6 * 7; }\n' },
      { name: 'word.ts', content: "export const word: string = 'multi';\n" },
    ],
    broken: { files: [{ name: 'main.ts', content: 'const x: number = ;\n' }], diagnostic: /main\.ts\(1,19\): error TS1109: Expression expected/ },
  },
  {
    language: 'python',
    compiled: false,
    modes: [
      {
        name: 'main.py',
        content: `import sys
mode = sys.argv[1] if len(sys.argv) > 1 else ''
if mode == 'stdin':
    print('sum=%d' % sum(int(w) for w in sys.stdin.read().split()))
elif mode == 'args':
    for a in sys.argv[2:]:
        print('[%s]' % a)
elif mode == 'exit':
    sys.exit(3)
elif mode == 'crash':
    raise ValueError('boom from python')
elif mode == 'unicode':
    print('${UNICODE}')
else:
    print('Hello, World!')
`,
      },
    ],
    crash: /ValueError: boom from python/,
    multi: [
      { name: 'main.py', content: 'from pkg import util\nprint("multi", util.answer())\n' },
      { name: 'pkg/__init__.py', content: '' },
      { name: 'pkg/util.py', content: 'def answer():\n    return 6 * 7\n' },
    ],
  },
  {
    language: 'javascript',
    compiled: false,
    modes: [
      {
        name: 'main.js',
        content: `const args = process.argv.slice(2);
const mode = args[0] ?? '';
if (mode === 'stdin') console.log('sum=' + require('fs').readFileSync(0, 'utf8').split(/\\s+/).filter(Boolean).map(Number).reduce((a, b) => a + b, 0));
else if (mode === 'args') for (const a of args.slice(1)) console.log('[' + a + ']');
else if (mode === 'exit') process.exit(3);
else if (mode === 'crash') throw new TypeError('boom from javascript');
else if (mode === 'unicode') console.log('${UNICODE}');
else console.log('Hello, World!');
`,
      },
    ],
    crash: /TypeError: boom from javascript/,
    multi: [
      { name: 'main.js', content: "const { answer } = require('./lib/util');\nconsole.log('multi', answer());\n" },
      { name: 'lib/util.js', content: 'exports.answer = () => 6 * 7;\n' },
    ],
  },
  {
    language: 'bash',
    compiled: false,
    modes: [
      {
        name: 'main.sh',
        content: `case "\${1:-}" in
  stdin) sum=0; for w in $(cat); do sum=$((sum + w)); done; echo "sum=$sum" ;;
  args) shift; for a in "$@"; do echo "[$a]"; done ;;
  exit) exit 3 ;;
  crash) echo "boom from bash" >&2; kill -SEGV $$ ;;
  unicode) echo '${UNICODE}' ;;
  *) echo 'Hello, World!' ;;
esac
`,
      },
    ],
    crash: /boom from bash/,
    multi: [
      { name: 'main.sh', content: 'source lib/util.sh\necho "multi $(answer)"\n' },
      { name: 'lib/util.sh', content: 'answer() { echo $((6 * 7)); }\n' },
    ],
  },
];

for (const c of CASES) {
  const modes = (args: string[] = [], stdin?: string): ExecuteRequest => ({ language: c.language, files: c.modes, args, ...(stdin === undefined ? {} : { stdin }) });

  describe(c.language, () => {
    test('hello world', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const events: ExecutionEvent[] = [];
      const started = performance.now();
      const r = await exec(modes(), events);
      const ms = performance.now() - started;
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, 'Hello, World!\n');
      assert.equal(r.run?.exitCode, 0);
      if (c.compiled) {
        assert.equal(r.compile?.status, 'ok');
        assert.equal(r.compile?.cached, false, 'the first request compiles');
        assert.deepEqual(states(events), ['MountRamdisk', 'PrepareExecution', 'Compiling', 'Processing', 'Done']);
        t.diagnostic(`${c.language}: first request ${ms.toFixed(0)} ms (compile stage ${r.compile?.wallMs.toFixed(0)} ms, peak ${((r.compile?.memoryBytes ?? 0) / MiB).toFixed(0)} MiB)`);
      } else {
        assert.equal(r.compile, null);
        assert.deepEqual(states(events), ['MountRamdisk', 'PrepareExecution', 'Processing', 'Done']);
      }
    });

    test('reads stdin', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec(modes(['stdin'], '1 2 3\n40\n'));
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, 'sum=46\n');
    });

    test('receives its arguments verbatim', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec(modes(['args', 'a b', '--flag', '$HOME', '"quoted"', 'ünï']));
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, '[a b]\n[--flag]\n[$HOME]\n["quoted"]\n[ünï]\n');
    });

    test('a non-zero exit code is runtime_error with that code', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec(modes(['exit']));
      assert.equal(r.status, 'runtime_error');
      assert.equal(r.run?.exitCode, 3);
      assert.equal(r.run?.signal, null);
    });

    test('a runtime error is runtime_error with the diagnostic on stderr', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec(modes(['crash']));
      assert.equal(r.status, 'runtime_error', JSON.stringify(r));
      assert.match(r.run?.stderr ?? '', c.crash);
      assert.ok(r.run?.exitCode !== 0, 'not a clean exit');
    });

    test('unicode output arrives intact', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec(modes(['unicode']));
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, `${UNICODE}\n`);
    });

    test('a program split across files', T, async (t) => {
      if (await skipUnless(t, c.language)) return;
      const r = await exec({ language: c.language, files: c.multi });
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, 'multi 42\n');
    });

    if (c.broken !== undefined) {
      const broken = c.broken;
      test('a compile error is compile_error with the compiler message and no run', T, async (t) => {
        if (await skipUnless(t, c.language)) return;
        const events: ExecutionEvent[] = [];
        const r = await exec({ language: c.language, files: broken.files }, events);
        assert.equal(r.status, 'compile_error', JSON.stringify(r));
        assert.equal(r.run, null);
        assert.equal(r.compile?.status, 'compile_error');
        assert.notEqual(r.compile?.exitCode, 0);
        assert.match(r.compile?.stderr ?? '', broken.diagnostic);
        assert.deepEqual(states(events), ['MountRamdisk', 'PrepareExecution', 'Compiling', 'Done']);
        // Failures are not cached: the same request compiles (and fails) again.
        const again = await exec({ language: c.language, files: broken.files });
        assert.equal(again.status, 'compile_error');
        assert.equal(again.compile?.cached, false);
      });
    }

    if (c.compiled) {
      test('compile-cache hit: an identical request skips the compile stage', T, async (t) => {
        if (await skipUnless(t, c.language)) return;
        const first = await exec(modes(['args', 'x'])); // compiled by the hello world test, or now
        assert.equal(first.status, 'ok', JSON.stringify(first));
        const started = performance.now();
        const r = await exec(modes(['args', 'x']));
        const ms = performance.now() - started;
        assert.equal(r.status, 'ok');
        assert.equal(r.compile?.cached, true);
        assert.equal(r.compile?.status, 'ok');
        assert.equal(r.compile?.wallMs, 0);
        assert.equal(r.compile?.stdout, '');
        assert.equal(r.run?.stdout, '[x]\n');
        t.diagnostic(`${c.language}: cached request ${ms.toFixed(0)} ms (run stage ${r.run?.wallMs.toFixed(0)} ms)`);
        // A different file content is a different key: it compiles.
        const changed = c.modes.map((f, i) => (i === 0 ? { ...f, content: `${f.content}\n` } : f));
        const other = await exec({ language: c.language, files: changed });
        assert.equal(other.compile?.cached, false);
        assert.equal(other.run?.stdout, 'Hello, World!\n');
      });
    }
  });
}

// ------------------------------------------------------------------------------------------
// the compile stage itself
// ------------------------------------------------------------------------------------------

describe('compile stage', () => {
  test('a compile longer than compileTimeoutMs ends compile_error with a timeout, no run', T, async (t) => {
    if (await skipUnless(t, 'cpp')) return;
    // Constant evaluation that keeps g++ busy for many seconds.
    // (Nested loops: each constexpr loop is capped at 262144 iterations, not their product.)
    const slow = 'constexpr long f() { long s = 0; for (long i = 0; i < 200000; i++) for (long j = 0; j < 200000; j++) s += (i ^ j) % 7; return s; }\nint main() { constexpr long v = f(); return v == 0; }\n';
    const r = await exec({ language: 'cpp', code: `// ${Date.now()}\n${slow}`, limits: { compileTimeoutMs: 300 } });
    assert.equal(r.status, 'compile_error', JSON.stringify(r));
    assert.equal(r.compile?.status, 'timeout');
    assert.match(r.compile?.message ?? '', /300 ms/);
    assert.equal(r.run, null);
  });

  test('the Java heap follows the memory limit (-Xmx from the definition)', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const code = 'public class Main { public static void main(String[] a) { System.out.println(Runtime.getRuntime().maxMemory() / (1024 * 1024)); } }';
    const r = await exec({ language: 'java', code, limits: { memoryBytes: 400 * MiB } });
    assert.equal(r.status, 'ok', JSON.stringify(r));
    const heapMiB = Number(r.run?.stdout.trim());
    // -Xmx = 75% of 400 MiB - 64 = 236 MiB (the JVM reports a little less).
    assert.ok(heapMiB > 200 && heapMiB <= 236, `max heap ${heapMiB} MiB`);
  });

  test('TypeScript: no type checking by default; a tsconfig.json opts in', T, async (t) => {
    if (await skipUnless(t, 'typescript')) return;
    const wrong = { name: 'main.ts', content: 'const n: number = "not a number" as any as string;\nconsole.log(typeof n);\n' };
    const unchecked = await exec({ language: 'typescript', files: [wrong] });
    assert.equal(unchecked.status, 'ok', JSON.stringify(unchecked));
    assert.equal(unchecked.run?.stdout, 'string\n');
    const checked = await exec({ language: 'typescript', files: [wrong, { name: 'tsconfig.json', content: '{ "compilerOptions": { "strict": true } }' }] });
    assert.equal(checked.status, 'compile_error', JSON.stringify(checked));
    assert.match(checked.compile?.stderr ?? '', /main\.ts\(1,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
    // Node's own types are there for the checker (process, fs).
    const node = { name: 'main.ts', content: "import { readFileSync } from 'fs';\nconst input: string = readFileSync(0, 'utf8');\nprocess.stdout.write(input.toUpperCase());\n" };
    const ok = await exec({ language: 'typescript', files: [node, { name: 'tsconfig.json', content: '{}' }], stdin: 'typed\n' });
    assert.equal(ok.status, 'ok', JSON.stringify(ok));
    assert.equal(ok.run?.stdout, 'TYPED\n');
  });

  // An operator-defined "compiler" that is a shell script from the request: it can do anything a
  // compiler could do inside the sandbox, so it tests what PID 1 accepts as an artifact.
  // Shows what arrived in the run stage: the file, or the directory's files with their modes.
  const shownCompiler = scriptCompiler('script-build', ['/usr/bin/bash', '-c', 'if [ -d .build/out ]; then cd .build/out && find . -type f -printf "%p %m\\n" | sort && ./sub/b; else cat .build/out; fi']);
  let scripted: Cylo | undefined;
  const scriptedCylo = (): Cylo => {
    scripted ??= createCylo({ cacheDir: false, runtimesFile: false, runtimes: [shownCompiler], defaultLimits: { timeoutMs: 5000, workspaceBytes: 8 * MiB }, uidBase: TEST_UID_BASE, uidCount: TEST_UID_COUNT });
    return scripted;
  };
  after(async () => scripted?.close());

  const build = async (script: string): Promise<ExecutionResult> => scriptedCylo().execute({ language: 'script-build', code: script });

  test('artifacts: a directory comes out whole, with its executable bits', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await build('mkdir -p .build/out/sub && echo one > .build/out/a && printf "#!/bin/sh\\necho two\\n" > .build/out/sub/b && chmod 755 .build/out/sub/b');
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.equal(r.compile?.status, 'ok');
    assert.equal(r.run?.stdout, './a 644\n./sub/b 755\ntwo\n');
  });

  test('artifacts: a symlink is refused (nothing outside the workspace is ever read)', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await build('ln -s /etc/passwd .build/out');
    assert.equal(r.status, 'compile_error', JSON.stringify(r));
    assert.match(r.compile?.message ?? '', /not a regular file or directory/);
    assert.equal(r.run, null);
    const nested = await build('mkdir -p .build/out && echo x > .build/out/a && ln -s /etc/shadow .build/out/link');
    assert.equal(nested.status, 'compile_error');
    assert.match(nested.compile?.message ?? '', /\.build\/out\/link is not a regular file/);
  });

  test('artifacts: FIFOs are refused and an oversized artifact is capped', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const fifo = await build('mkfifo .build/out');
    assert.equal(fifo.status, 'compile_error', JSON.stringify(fifo));
    assert.match(fifo.compile?.message ?? '', /not a regular file or directory/);
    // Sparse files take no room in the workspace but would be 14 MiB on the way out (the cap is
    // the 8 MiB workspace; RLIMIT_FSIZE stops any single file at 8 MiB).
    const big = await build('mkdir .build/out && truncate -s 7M .build/out/a && truncate -s 7M .build/out/b');
    assert.equal(big.status, 'compile_error', JSON.stringify(big));
    assert.match(big.compile?.message ?? '', /larger than \d+ bytes/);
    assert.equal(big.run, null);
  });

  test('artifacts: a process left running by the compiler cannot change the artifact afterwards', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await build('echo original > .build/out; (sleep 0.2; echo tampered > .build/out) & disown; exit 0');
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.equal(r.run?.stdout, 'original\n');
  });

  test('artifacts: a compiler that exits 0 without producing the artifact is a compile_error', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await build('true');
    assert.equal(r.status, 'compile_error', JSON.stringify(r));
    assert.match(r.compile?.message ?? '', /could not be collected: \.build\/out: No such file/);
  });
});

// ------------------------------------------------------------------------------------------
// a language added purely by configuration
// ------------------------------------------------------------------------------------------

describe('operator runtimes file', () => {
  let dir: string;
  let configured: Cylo | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cylo-runtimes-file-'));
  });
  after(async () => {
    await configured?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('perl, added by a runtimes file only, runs: hello, stdin, args, exit code', T, async (t) => {
    if (sandboxSkipReason() !== undefined) {
      t.skip(sandboxSkipReason());
      return;
    }
    const file = join(dir, 'runtimes.json');
    writeFileSync(
      file,
      JSON.stringify({
        runtimes: [
          {
            id: 'perl',
            aliases: ['pl'],
            extension: '.pl',
            entry: 'main.pl',
            package: 'perl',
            binary: { candidates: ['/usr/bin/perl', 'perl'] },
            version: { argv: ['{bin}', '-e', 'print $^V'], pattern: 'v(\\S+)' },
            run: { argv: ['{bin}', '{entry}', '{args}'] },
            env: { PERL_UNICODE: 'SAD' },
          },
          // An override of a built-in through `extends`: C with other flags.
          { id: 'c', extends: 'c', aliases: ['c99'], compile: { argv: ['{bin}', '-std=c99', '-O0', '-o', '.build/main', '{files}'], artifact: '.build/main' } },
        ],
      }),
    );
    configured = createCylo({ runtimesFile: file, cacheDir: false, uidBase: TEST_UID_BASE, uidCount: TEST_UID_COUNT });
    const list = await configured.runtimes();
    const perl = list.find((r) => r.language === 'perl');
    assert.ok(perl?.available, JSON.stringify(perl));
    assert.match(perl.version ?? '', /^5\.\d+/);
    assert.deepEqual(perl.aliases, ['pl']);

    const code = 'use strict; my $mode = shift // ""; if ($mode eq "exit") { exit 3 } my @in = <STDIN>; chomp @in; print "hello from perl: @ARGV | @in | \\x{2713}\\n";';
    const r = await configured.execute({ language: 'pl', code, args: ['greet', 'a b', 'c'], stdin: 'x\ny\n' });
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.equal(r.language, 'perl');
    assert.equal(r.run?.stdout, 'hello from perl: a b c | x y | ✓\n');
    const exit = await configured.execute({ language: 'perl', code, args: ['exit'] });
    assert.equal(exit.status, 'runtime_error');
    assert.equal(exit.run?.exitCode, 3);

    if ((await configured.registry.resolve('c')).available) {
      const c99 = await configured.execute({ language: 'c99', code: '#include <stdio.h>\nint main(void) { for (int i = 0; i < 1; i++) printf("c99 %ld\\n", __STDC_VERSION__); return 0; }\n' });
      assert.equal(c99.status, 'ok', JSON.stringify(c99));
      assert.equal(c99.run?.stdout, 'c99 199901\n');
    }
  });
});

// The corpus of the pre-start differential suite (test/integration/prestart-differential.test.ts):
// programs whose every observable (stdout, stderr, exit code, signal, status) must be the same
// whether their runtime started cold or was pre-started and handed the program. Each case names
// what a pre-started runtime could get wrong.
import type { ExecuteRequest } from '../../src/api/request.js';

export interface DifferentialCase {
  name: string;
  request: ExecuteRequest;
}

const ARGS = ['plain', 'with space', '', 'ünïcödé ✓', '--flag', '-c'];

const py = (name: string, code: string, extra: Partial<ExecuteRequest> = {}): DifferentialCase => ({ name: `python: ${name}`, request: { language: 'python', code, args: ARGS, ...extra } });
const js = (name: string, code: string, extra: Partial<ExecuteRequest> = {}): DifferentialCase => ({ name: `javascript: ${name}`, request: { language: 'javascript', code, args: ARGS, ...extra } });

export const PYTHON_CASES: DifferentialCase[] = [
  py('sys.argv and sys.orig_argv', 'import sys\nprint(sys.argv)\nprint(sys.orig_argv[1:])'),
  py('__main__: __name__, __file__, __spec__, __loader__, __package__, __cached__, globals', [
    'import sys',
    'print(__name__, __file__, __spec__, type(__loader__).__name__, __package__, __cached__)',
    'print(sorted(globals()))',
    "print(sys.modules['__main__'] is sys.modules[__name__])",
  ].join('\n')),
  py('the module search path', 'import sys\nprint(sys.path)\nprint(sorted(k for k in sys.path_importer_cache if not k.startswith("/work")))'),
  py('the environment (no PYTHONPATH left behind)', 'import os\nprint(sorted(os.environ.items()))\nimport subprocess\nprint(subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout)'),
  py('a PYTHONPATH of the program\'s own: sys.path, the variable, its modules', 'import os, sys, mod\nprint(sys.path[:3], os.environ["PYTHONPATH"], mod.__file__)\nimport subprocess\nprint(subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout)', {
    code: undefined,
    env: { PYTHONPATH: '/work/lib:/work/other' },
    files: [
      { name: 'main.py', content: 'import os, sys, mod\nprint(sys.path[:4], os.environ["PYTHONPATH"], mod.__file__)\nimport subprocess\nprint(subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout)\n' },
      { name: 'lib/mod.py', content: 'pass\n' },
    ],
  }),
  // P2: the user site directory (HOME is /work) comes from the request's files: a cold start adds
  // it to sys.path and runs its .pth files and its usercustomize at start; a runtime pre-started
  // before those files existed must not skip them (it starts cold instead).
  py('the user site directory in the workspace: its .pth file and usercustomize run as in a cold start', '', {
    code: undefined,
    files: [
      { name: 'main.py', content: 'import sys\nprint([p for p in sys.path if p.startswith("/work")], "usercustomize" in sys.modules)\n' },
      { name: '.local/lib/python3.11/site-packages/cylo-test.pth', content: 'import sys; print("pth ran")\n' },
      { name: '.local/lib/python3.11/site-packages/usercustomize.py', content: 'print("usercustomize ran")\n' },
    ],
  }),
  py('sys.modules: no import of the stub shows', "import sys\nprint(sorted(sys.modules))\nprint(getattr(sys.modules.get('sitecustomize'), '__file__', None))"),
  py('the command line (/proc/self/cmdline, trailing NULs aside: the room a pre-started runtime reserved)', "print(open('/proc/self/cmdline', 'rb').read().rstrip(b'\\0').split(b'\\0'))"),
  py('open descriptors: numbers and kinds (the handover pipe is closed)', 'import os\nprint(sorted(os.listdir("/proc/self/fd")))\nprint(os.open("/work/main.py", os.O_RDONLY))'),
  py('rlimits are the request\'s (lowered at the handover)', [
    'import resource as r',
    'for n in ("RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_MSGQUEUE", "RLIMIT_AS"):',
    '    print(n, r.getrlimit(getattr(r, n)))',
  ].join('\n')),
  py('uncaught exception: traceback lines and exit code 1', 'def inner(x):\n    return 1 / x\n\ndef outer():\n    return inner(0)\n\nprint("before")\nouter()\n'),
  py('exception chaining and a syntax error in an imported module', 'try:\n    import bad\nexcept SyntaxError as e:\n    raise RuntimeError("wrapped") from e\n', {
    code: undefined,
    files: [
      { name: 'main.py', content: 'try:\n    import bad\nexcept SyntaxError as e:\n    raise RuntimeError("wrapped") from e\n' },
      { name: 'bad.py', content: 'def f(:\n    pass\n' },
    ],
  }),
  py('a syntax error in the entry file', 'print("never")\nif True\n    pass\n'),
  py('SystemExit with no argument', 'import sys\nprint("out")\nsys.exit()'),
  py('SystemExit with an int', 'import sys\nsys.exit(42)'),
  py('SystemExit with a string (printed, exit 1)', 'import sys\nsys.exit("fatal: a message")'),
  py('SystemExit with None and with a big int', 'import sys\ntry:\n    sys.exit(None)\nfinally:\n    raise SystemExit(256 + 7)'),
  py('os._exit skips flushing', 'import os, sys\nprint("buffered, lost")\nsys.stderr.write("unbuffered\\n")\nos._exit(9)'),
  py('atexit and non-daemon threads run at exit', 'import atexit, threading, time\natexit.register(lambda: print("atexit"))\nthreading.Thread(target=lambda: (time.sleep(0.05), print("thread"))).start()\nprint("main done")'),
  py('stdin: read all', 'import sys\ndata = sys.stdin.read()\nprint(repr(data), sys.stdin.encoding, sys.stdin.isatty())', { stdin: 'line one\nlïne two ✓\n' }),
  py('stdin: input() then EOFError', 'print(input("prompt> "))\nprint(input())\n', { stdin: 'only one line\n' }),
  py('buffering: stdout (block-buffered on a pipe) vs stderr order, one stream', 'import sys\nprint("out 1")\nsys.stderr.write("err 1\\n")\nprint("out 2", flush=True)\nsys.stderr.write("err 2\\n")\nprint("out 3")\nraise ValueError("at the end")', { redirectStderrToStdout: true }),
  py('buffering and encoding attributes', [
    'import sys, locale',
    'for s in (sys.stdin, sys.stdout, sys.stderr):',
    '    print(s.encoding, s.errors, s.line_buffering, s.isatty(), type(s.buffer).__name__)',
    'print(sys.getfilesystemencoding(), locale.getpreferredencoding(False), sys.flags)',
    'print("héllo wörld ✓ 日本語 🚀")',
  ].join('\n')),
  py('signal dispositions', 'import signal\nfor s in (signal.SIGINT, signal.SIGPIPE, signal.SIGTERM, signal.SIGCHLD, signal.SIGXFSZ):\n    print(s.name, signal.getsignal(s))\nimport os\nprint(sorted(signal.Signals(n).name for n in signal.sigpending()), sorted(signal.Signals(n).name for n in signal.pthread_sigmask(signal.SIG_BLOCK, [])))'),
  py('SIGINT: KeyboardInterrupt traceback, then death by SIGINT', 'import os, signal\nprint("before", flush=True)\nos.kill(os.getpid(), signal.SIGINT)\nprint("never")'),
  py('SIGTERM kills', 'import os, signal\nprint("before", flush=True)\nos.kill(os.getpid(), signal.SIGTERM)'),
  py('a broken pipe is an exception (SIGPIPE ignored)', 'import os\nr, w = os.pipe()\nos.close(r)\ntry:\n    os.write(w, b"x")\nexcept BrokenPipeError as e:\n    print("BrokenPipeError", e.errno)'),
  py('recursion limit and the RecursionError traceback', 'import sys\nprint(sys.getrecursionlimit())\ndef f(n):\n    return f(n + 1)\nf(0)'),
  py('warnings: UserWarning and DeprecationWarning in __main__', 'import warnings\nwarnings.warn("careful")\nwarnings.warn("old", DeprecationWarning)\nprint(warnings.filters[:3])'),
  py('sys.executable, prefix, interpreter identity', 'import sys, os\nprint(sys.executable, sys.prefix, sys.base_prefix, sys.version, os.getcwd(), os.getuid(), os.getppid())'),
];

export const JAVASCRIPT_CASES: DifferentialCase[] = [
  js('process.argv, execArgv, argv0', 'console.log(process.argv, process.execArgv, process.argv0, process.execPath)'),
  js('the main module: require.main, __filename, __dirname, module.paths, require.cache', 'console.log(require.main === module, __filename, __dirname, module.id, module.paths, Object.keys(require.cache), module.children.length, module.parent)'),
  js('ESM entry (package.json type module): import.meta.url, process.argv', '', {
    code: undefined,
    files: [
      { name: 'main.js', content: 'import { argv } from "node:process";\nconsole.log(import.meta.url, argv.slice(1));\nthrow new TypeError("esm boom");\n' },
      { name: 'package.json', content: '{"type":"module"}' },
    ],
  }),
  js('the environment', 'console.log(Object.entries(process.env).sort())'),
  js('the command line (/proc/self/cmdline, trailing NULs aside)', "console.log(require('fs').readFileSync('/proc/self/cmdline', 'latin1').replace(/\\0+$/, '').split('\\0'))"),
  js('open descriptors: numbers and kinds (the handover pipe is closed)', [
    "const fs = require('fs');",
    "const kind = (fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd).replace(/[0-9]+/g, 'N'); } catch { return 'gone'; } };",
    "console.log(fs.readdirSync('/proc/self/fd').map((fd) => fd + ' ' + kind(fd)));",
    "console.log(fs.openSync('/work/main.js', 'r'));",
  ].join('\n')),
  js('uncaught error: source line, caret, stack, exit code 1', 'function inner(x) {\n  return x.y.z;\n}\nfunction outer() {\n  return inner({});\n}\nconsole.log("before");\nouter();\n'),
  js('unhandled rejection', 'console.log("before");\nPromise.reject(new RangeError("rejected"));\n'),
  js('process.exit and process.exitCode', 'process.on("exit", (c) => console.log("exit event", c));\nprocess.exitCode = 4;\nsetTimeout(() => process.exit(), 5);\n'),
  js('stdin: read all', "let d = '';\nprocess.stdin.setEncoding('utf8');\nprocess.stdin.on('data', (c) => (d += c));\nprocess.stdin.on('end', () => console.log(JSON.stringify(d), process.stdin.isTTY));", { stdin: 'line one\nlïne two ✓\n' }),
  js('stdout vs stderr order, one stream', 'console.log("out 1");\nconsole.error("err 1");\nprocess.stdout.write("out 2\\n");\nconsole.error("err 2");\nthrow new Error("at the end");', { redirectStderrToStdout: true }),
  js('SIGTERM kills', "console.log(process.listenerCount('SIGINT'));\nprocess.kill(process.pid, 'SIGTERM');\nsetTimeout(() => console.log('never'), 1000);"),
  js('resource usage shape and limits', "const { execSync } = require('child_process');\nconsole.log(execSync('ulimit -a', { shell: '/bin/sh' }).toString())"),
];

const ts = (name: string, code: string, extra: Partial<ExecuteRequest> = {}): DifferentialCase => ({ name: `typescript: ${name}`, request: { language: 'typescript', code, args: ARGS, ...extra } });

/** TypeScript: the run stage is Node on the compiled JavaScript (handed to a pre-started Node on
 *  a compile-cache hit): file names and line numbers in stack traces are those of the compiled
 *  file, as for a cold run. */
export const TYPESCRIPT_CASES: DifferentialCase[] = [
  ts('process.argv, execArgv, the main module', 'console.log(process.argv, process.execArgv, require.main === module, __filename, module.paths, Object.keys(require.cache));'),
  ts('uncaught error: stack trace file names and line numbers, exit code 1', 'interface P { y?: { z: number } }\nfunction inner(p: P): number {\n  return p.y!.z;\n}\nconsole.log("before");\ninner({});\n'),
  ts('source maps: Error.prepareStackTrace and the stack of a caught error', 'function f(): string {\n  return new Error("here").stack ?? "";\n}\nconsole.log(f().split("\\n").slice(0, 3).join("\\n"), typeof Error.prepareStackTrace, process.sourceMapsEnabled);'),
  ts('process.exit with a code, stdout flushed first', 'console.log("out");\nprocess.exitCode = 3;\nsetTimeout(() => process.exit(5), 5);\n'),
  ts('stdin: read all, stdout vs stderr in one stream', "let d = '';\nprocess.stdin.setEncoding('utf8');\nprocess.stdin.on('data', (c: string) => (d += c));\nprocess.stdin.on('end', () => { console.log(JSON.stringify(d)); console.error('err'); throw new TypeError('end'); });", { stdin: 'one\ntwö ✓\n', redirectStderrToStdout: true }),
  ts('the command line and open descriptors', "const fs = require('fs');\nconsole.log(fs.readFileSync('/proc/self/cmdline', 'latin1').replace(/\\0+$/, '').split('\\0'), fs.readdirSync('/proc/self/fd').length);"),
];

/** The memory limit of the datasci runs: room for the pre-imports (numpy, pandas), which a
 *  runtime only pre-imports under at least src/sandbox/prestart.ts PREIMPORT_MIN_MEMORY_BYTES. */
export const DATASCI_MEMORY_BYTES = 384 * 1024 * 1024;

/** The Python corpus cases whose output shows what a pre-imported runtime unavoidably differs
 *  in (docs/security.md "Pre-imported environments"): the modules already in sys.modules, and
 *  the warning filters numpy adds when it is imported. Checked by DATASCI_DIFFERENCE instead. */
export const DATASCI_DIFFERENT = new Set(['python: sys.modules: no import of the stub shows', 'python: warnings: UserWarning and DeprecationWarning in __main__']);

const ds = (name: string, code: string, extra: Partial<ExecuteRequest> = {}): DifferentialCase => ({ name: `datasci: ${name}`, request: { language: 'python', environment: 'datasci', code, args: ARGS, ...extra } });

/** The Python corpus in the datasci environment (less the cases above), and what only a
 *  pre-imported runtime could get wrong: the pre-imported modules themselves, and a program's
 *  file taking the name of a module the pre-import loaded (a cold start imports the program's). */
export const DATASCI_CASES: DifferentialCase[] = [
  ...PYTHON_CASES.filter((c) => !DATASCI_DIFFERENT.has(c.name)).map((c) => ({ name: c.name.replace(/^python:/, 'datasci:'), request: { ...c.request, environment: 'datasci' } })),
  ds('numpy and pandas: hello, versions, where they come from', 'import numpy as np, pandas as pd\nprint(np.arange(6).reshape(2, 3).sum(axis=0), pd.DataFrame({"a": [1, 2]}).a.sum(), np.__version__, pd.__version__, np.__file__, pd.__file__)\nimport warnings\nwarnings.warn("after numpy")\nprint(warnings.filters[:6])'),
  ds('a program file named like a module numpy imports (json.py) is the one imported', 'import json\nprint(json.__file__, json.VALUE)', {
    code: undefined,
    files: [
      { name: 'main.py', content: 'import json, sys\nprint(json.__file__, json.VALUE, "json" in sys.modules)\n' },
      { name: 'json.py', content: 'VALUE = "the program\'s json"\n' },
    ],
  }),
  ds('a package in a subdirectory put on sys.path (lib/dateutil/)', '', {
    code: undefined,
    files: [
      { name: 'main.py', content: 'import sys\nsys.path.insert(0, "/work/lib")\nimport dateutil\nprint(dateutil.__file__, dateutil.MINE)\n' },
      { name: 'lib/dateutil/__init__.py', content: 'MINE = 1\n' },
    ],
  }),
  // P2: a usercustomize of the program's (here on its PYTHONPATH) runs before the program and,
  // in a cold start, before numpy is imported: it must not find numpy already there.
  ds('a usercustomize of the program\'s runs before numpy is imported, as in a cold start', '', {
    code: undefined,
    env: { PYTHONPATH: '/work/lib' },
    files: [
      { name: 'main.py', content: 'import numpy\nprint("main")\n' },
      { name: 'lib/usercustomize.py', content: 'import sys\nprint("usercustomize sees", sorted(m for m in ("numpy", "pandas") if m in sys.modules))\n' },
    ],
  }),
  ds('an uncaught error inside pandas: the traceback through its frames', 'import pandas as pd\ndf = pd.DataFrame({"a": [1]})\nprint(df["missing"])\n'),
];

/** What a pre-imported datasci runtime shows before the program imports anything: numpy and
 *  pandas are in sys.modules (a cold start has neither). The suite requires exactly this
 *  difference, which also proves the runtime really was pre-imported. */
export const DATASCI_DIFFERENCE: DifferentialCase = ds('the documented difference: numpy and pandas already in sys.modules', 'import sys\nprint(sorted(m for m in ("numpy", "pandas", "matplotlib") if m in sys.modules))');

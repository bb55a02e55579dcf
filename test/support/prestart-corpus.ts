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

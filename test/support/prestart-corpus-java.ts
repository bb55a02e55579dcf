// The Java cases of the pre-start differential suite (test/integration/prestart-differential.test.ts):
// programs whose every observable must be the same whether their JVM started cold or was
// pre-started and handed the program (native/prestart/java/agent.c). The second run of each is a
// compile-cache hit, whose run stage is the one handed over. Each case names what a pre-started
// JVM could get wrong.
import type { ExecuteRequest } from '../../src/api/request.js';
import type { DifferentialCase } from './prestart-corpus.js';

const ARGS = ['plain', 'with space', '', 'ünïcödé ✓', '--flag', '-cp'];
/** The JVM needs more than the suite's tight defaults (the runtime's own minimum). */
const LIMITS = { memoryBytes: 512 * 1024 * 1024, pids: 128 };

const java = (name: string, body: string, extra: Partial<ExecuteRequest> = {}): DifferentialCase => ({
  name: `java: ${name}`,
  request: { language: 'java', code: `import java.io.*;\nimport java.util.*;\n\npublic class Main {\n${body}\n}\n`, args: ARGS, limits: LIMITS, ...extra },
});

export const JAVA_CASES: DifferentialCase[] = [
  java('args, the thread, sun.java.command, the class path, the command line', [
    '  public static void main(String[] args) throws Exception {',
    '    System.out.println(Arrays.toString(args) + " " + args.length);',
    '    Thread t = Thread.currentThread();',
    '    System.out.println(t.getName() + " " + t.getId() + " " + t.getPriority() + " " + t.isDaemon() + " " + t.getThreadGroup().getName());',
    '    System.out.println(System.getProperty("sun.java.command") + "|" + System.getProperty("java.class.path") + "|" + System.getProperty("user.dir"));',
    '    byte[] cmd = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/self/cmdline"));',
    '    int end = cmd.length; while (end > 0 && cmd[end - 1] == 0) end--;',
    '    System.out.println(new String(cmd, 0, end, "UTF-8").replace("\\0", "|"));',
    '    System.out.println(ProcessHandle.current().info().command().orElse("?") + " " + Arrays.toString(ProcessHandle.current().info().arguments().orElse(new String[0])));',
    '  }',
  ].join('\n')),
  java('System properties and the environment (all of them)', [
    '  public static void main(String[] args) {',
    '    new TreeMap<>(System.getProperties()).forEach((k, v) -> System.out.println(k + "=" + v));',
    '    new TreeMap<>(System.getenv()).forEach((k, v) -> System.out.println("env " + k + "=" + v));',
    '  }',
  ].join('\n')),
  java('hello and unicode output, encodings', [
    '  public static void main(String[] args) {',
    '    System.out.println("hello, wörld ✓ 日本語 \\uD83D\\uDE00");',
    '    System.err.println("stderr ünïcödé");',
    '    System.out.println(System.getProperty("file.encoding") + " " + System.getProperty("sun.jnu.encoding") + " " + System.getProperty("sun.stdout.encoding") + " " + java.nio.charset.Charset.defaultCharset() + " " + System.console());',
    '  }',
  ].join('\n')),
  java('the main class\'s static initialiser (user code before main): its trace, the properties it sees, an exception in it', [
    '  static { System.out.println(System.getProperty("sun.java.command") + " " + Thread.currentThread().getName()); new Exception("clinit").printStackTrace(); }',
    '  static int value = Integer.parseInt("not a number");',
    '  public static void main(String[] args) { System.out.println("never"); }',
  ].join('\n')),
  java('System.exit with a code, stdout flushed first', '  public static void main(String[] args) {\n    System.out.println("out");\n    System.out.print("unterminated");\n    System.exit(3);\n  }'),
  java('uncaught exception: trace with a cause and a suppressed one, exit code 1; printStackTrace inside', [
    '  static void inner(int n) { if (n == 0) throw new IllegalStateException("deep"); inner(n - 1); }',
    '  public static void main(String[] args) {',
    '    new Exception("caught").printStackTrace();',
    '    System.out.println(Arrays.toString(new Throwable().getStackTrace()) + " " + StackWalker.getInstance().walk(s -> s.count()));',
    '    try { inner(3); } catch (IllegalStateException e) {',
    '      RuntimeException r = new RuntimeException("wrapped", e);',
    '      r.addSuppressed(new IOException("suppressed"));',
    '      throw r;',
    '    }',
    '  }',
  ].join('\n')),
  java('an uncaught exception reaches the program\'s default handler', [
    '  public static void main(String[] args) {',
    '    Thread.setDefaultUncaughtExceptionHandler((t, e) -> System.out.println("handler " + t.getName() + " " + e));',
    '    throw new UnsupportedOperationException("to the handler");',
    '  }',
  ].join('\n')),
  java('System.exit in another thread while main waits', [
    '  public static void main(String[] args) throws Exception {',
    '    Thread t = new Thread(() -> { System.out.println("thread " + Thread.currentThread().getName()); System.exit(7); });',
    '    t.start();',
    '    t.join();',
    '    System.out.println("never");',
    '  }',
  ].join('\n')),
  java('a non-daemon thread outlives main (the JVM waits for it), and shutdown hooks run', [
    '  public static void main(String[] args) {',
    '    Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("hook")));',
    '    new Thread(() -> {',
    '      try { Thread.sleep(300); } catch (InterruptedException e) { throw new RuntimeException(e); }',
    '      System.out.println("after main: " + Thread.currentThread().getName());',
    '      throw new IllegalArgumentException("in the thread");',
    '    }).start();',
    '    System.out.println("main returns");',
    '  }',
  ].join('\n')),
  java('stdin: System.in read whole, lines and bytes', [
    '  public static void main(String[] args) throws Exception {',
    '    System.out.println(System.in.available() >= 0);',
    '    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));',
    '    String line; while ((line = r.readLine()) != null) System.out.println("[" + line + "]");',
    '    System.err.println("err after");',
    '  }',
  ].join('\n'), { stdin: 'one\ntwö ✓\n\nlast without newline', redirectStderrToStdout: true }),
  java('deep recursion: StackOverflowError caught, then uncaught (its trace)', [
    '  static int depth;',
    '  static void down() { depth++; down(); }',
    '  public static void main(String[] args) {',
    '    try { down(); } catch (StackOverflowError e) { System.out.println("caught " + e + " " + (depth > 10000) + " " + e.getStackTrace().length); }',
    '    down();',
    '  }',
  ].join('\n')),
  java('SIGTERM runs the shutdown hooks and ends with 143', [
    '  public static void main(String[] args) throws Exception {',
    '    Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("hook on TERM")));',
    '    System.out.println("raising");',
    '    sun.misc.Signal.raise(new sun.misc.Signal("TERM"));',
    '    Thread.sleep(5000);',
    '    System.out.println("never");',
    '  }',
  ].join('\n')),
  java('open descriptors, rlimits, processors and memory the JVM sees', [
    '  public static void main(String[] args) throws Exception {',
    '    System.out.println(new File("/proc/self/fd").list().length);',
    '    for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/limits"))) System.out.println(l);',
    '    Runtime rt = Runtime.getRuntime();',
    '    System.out.println(rt.availableProcessors() + " " + rt.maxMemory());',
    '  }',
  ].join('\n')),
];

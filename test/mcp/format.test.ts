// Unit tests (no sandbox): the text block of run_code, the live-output coalescing, the mapping of
// run_code's arguments to a cylo request, and the unknown-language messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import { formatResult, shorten } from '../../src/mcp/format.js';
import { LiveOutput, type LiveSegment } from '../../src/mcp/live-output.js';
import { findAvailable, unknownLanguageMessage, type ToolContext } from '../../src/mcp/schemas.js';
import { toExecuteRequest } from '../../src/mcp/server.js';
import { createCylo, type RuntimeInfo } from '../../src/cylo.js';

function stage(over: Partial<Stage> = {}): Stage {
  return { status: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 12.3, cpuMs: 4.5, memoryBytes: 5 * 1024 * 1024, message: null, limit: null, ...over };
}

function result(over: Partial<ExecutionResult> = {}): ExecutionResult {
  return { id: 'e1', language: 'python', version: '3.11.2', status: 'ok', compile: null, run: stage(), layers: [], backend: 'namespace', outputEncoding: 'utf8', ...over };
}

describe('formatResult', () => {
  it('summarises status, exit code, time, memory, stdout and stderr', () => {
    const text = formatResult(result({ run: stage({ stdout: 'hi\n', stderr: 'warn\n' }) }));
    assert.match(text, /^status: ok: the program ran and exited with code 0$/m);
    assert.match(text, /^exit code: 0$/m);
    assert.match(text, /^time: 12 ms wall clock, 5 ms CPU$/m);
    assert.match(text, /^memory: 5\.0 MiB peak$/m);
    assert.match(text, /--- stdout ---\nhi\n--- end of stdout ---/);
    assert.match(text, /--- stderr ---\nwarn\n--- end of stderr ---/);
  });

  it('says what went wrong for each failure', () => {
    assert.match(formatResult(result({ status: 'runtime_error', run: stage({ status: 'runtime_error', exitCode: 2 }) })), /status: runtime_error: the program failed with exit code 2/);
    assert.match(formatResult(result({ status: 'runtime_error', run: stage({ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }) })), /killed by SIGSEGV[\s\S]*exit code: none \(killed by SIGSEGV\)/);
    const timeout = formatResult(result({ status: 'timeout', run: stage({ status: 'timeout', message: 'wall-clock limit of 500 ms reached' }) }), { timeoutMs: 500 });
    assert.match(timeout, /status: timeout: the program ran past its time limit \(500 ms, timeout_ms\)/);
    assert.match(timeout, /^cylo: wall-clock limit of 500 ms reached$/m);
    assert.match(formatResult(result({ status: 'memory_limit', run: stage({ status: 'memory_limit' }) })), /more memory than allowed/);
  });

  it('shows the compiler output of a compile error', () => {
    const text = formatResult(result({ language: 'c', status: 'compile_error', compile: stage({ status: 'compile_error', exitCode: 1, stderr: "main.c:1: error: 'x' undeclared\n" }), run: null }));
    assert.match(text, /status: compile_error: the program did not compile/);
    assert.match(text, /^compiler exit code: 1$/m);
    assert.match(text, /--- compiler stderr ---\nmain\.c:1: error: 'x' undeclared/);
    assert.doesNotMatch(text, /--- stdout/);
  });

  it('shortens very long output in the text, keeping head and tail, and says so', () => {
    const long = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
    const text = formatResult(result({ run: stage({ stdout: long }) }), { maxStreamChars: 1000 });
    assert.ok(text.length < 2000, `text is ${text.length} chars`);
    assert.match(text, /^line 0$/m);
    assert.match(text, /line 19999/);
    assert.match(text, /characters of stdout omitted here; the full text is in structuredContent/);
    assert.equal(shorten('short', 10, 'x'), 'short');
  });

  it('names the limit that broke the run on a line of its own', () => {
    // proves: the text a model reads carries the machine-readable limit, not only the message
    const text = formatResult(result({ status: 'runtime_error', run: stage({ status: 'runtime_error', exitCode: 1, message: 'the program reached the pids limit of 8 processes and threads', limit: 'pids' }) }));
    assert.match(text, /^cylo: the program reached the pids limit of 8 processes and threads$/m);
    assert.match(text, /^limit: pids \(the limit that ended or broke the run\)$/m);
    assert.doesNotMatch(formatResult(result()), /^limit:/m, 'no limit line when none was hit');
  });

  it('says when cylo cut the output at the output limit', () => {
    const text = formatResult(result({ status: 'output_limit', run: stage({ status: 'output_limit', stdout: 'yyyy', stdoutTruncated: true }) }));
    assert.match(text, /stdout reached the output limit and was cut there/);
  });
});

describe('LiveOutput', () => {
  const event = (type: 'stdout' | 'stderr', data: Buffer | string, stage: 'compile' | 'run' = 'run') => ({ type, stage, executionId: 'e', data: Buffer.from(data) }) as const;

  it('coalesces chunks per stream and never splits a UTF-8 character', async () => {
    const sent: LiveSegment[] = [];
    const live = new LiveOutput({ send: async (s) => void sent.push({ ...s }), intervalMs: 1000 });
    const euro = Buffer.from('€'); // 3 bytes
    live.onEvent(event('stdout', 'a'));
    live.onEvent(event('stdout', euro.subarray(0, 1)));
    live.onEvent(event('stdout', Buffer.concat([euro.subarray(1), Buffer.from('b')])));
    live.onEvent(event('stderr', 'oops'));
    live.onEvent(event('stdout', 'c'));
    await live.finish();
    assert.deepEqual(sent, [
      { stage: 'run', stream: 'stdout', text: 'a€b' },
      { stage: 'run', stream: 'stderr', text: 'oops' },
      { stage: 'run', stream: 'stdout', text: 'c' },
    ]);
  });

  it('flushes after the interval while the program runs', async () => {
    const sent: string[] = [];
    const live = new LiveOutput({ send: async (s) => void sent.push(s.text), intervalMs: 20 });
    live.onEvent(event('stdout', 'early'));
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, ['early']);
    await live.finish();
  });

  it('caps the total streamed and says so once', async () => {
    const sent: LiveSegment[] = [];
    const live = new LiveOutput({ send: async (s) => void sent.push(s), intervalMs: 1000, maxTotalChars: 10 });
    for (let i = 0; i < 100; i++) live.onEvent(event('stdout', 'xxxx'));
    await live.finish();
    assert.equal(sent.filter((s) => s.stream === 'stdout').map((s) => s.text).join(''), 'x'.repeat(10));
    assert.equal(sent.filter((s) => /live output stopped/.test(s.text)).length, 1);
  });

  it('keeps going when a send fails (client gone): later output is still sent, finish() resolves', async () => {
    // The first send fails; every segment after it, in the same flush and in later ones, must
    // still be sent, and finish() must resolve rather than reject.
    const attempts: string[] = [];
    const delivered: string[] = [];
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((resolve) => (firstAttempt = resolve));
    const live = new LiveOutput({
      send: async (s) => {
        attempts.push(s.text);
        firstAttempt();
        if (attempts.length === 1) throw new Error('closed');
        delivered.push(s.text);
      },
      intervalMs: 1,
    });
    live.onEvent(event('stdout', 'lost'));
    await attempted; // the first flush ran, and its send failed
    live.onEvent(event('stdout', 'kept'));
    live.onEvent(event('stderr', 'also kept'));
    await live.finish();
    assert.deepEqual(attempts, ['lost', 'kept', 'also kept']);
    assert.deepEqual(delivered, ['kept', 'also kept']);
  });
});

describe('run_code arguments', () => {
  const context: ToolContext = {
    runtimes: [
      { language: 'python', aliases: ['py', 'python3'], version: '3.11.2', extension: '.py', available: true, compiled: false, problem: null },
      { language: 'rust', aliases: ['rs'], version: null, extension: '.rs', available: false, compiled: true, problem: 'rustc is not installed' },
    ] as RuntimeInfo[],
    defaultTimeoutMs: 10_000,
    maxTimeoutMs: 60_000,
  };

  it('finds a language by id or alias, and explains unknown and missing ones', () => {
    assert.equal(findAvailable(context, 'PY')?.language, 'python');
    assert.equal(findAvailable(context, 'rust'), undefined);
    assert.match(unknownLanguageMessage(context, 'cobol'), /unknown language "cobol"; available languages: python/);
    assert.match(unknownLanguageMessage(context, 'rs'), /rust is known to cylo but not installed on this server \(rustc is not installed\)/);
  });

  it('puts the code first (the entry point), extra files after it, and raises CPU time with the timeout', () => {
    const cylo = createCylo();
    const request = toExecuteRequest(cylo, { language: 'python', code: 'print(1)', files: [{ name: 'data.txt', content: 'x' }], stdin: 'in', args: ['a'], timeout_ms: 30_000 });
    assert.equal(request.files?.[0]?.content, 'print(1)');
    assert.equal(request.files?.[1]?.name, 'data.txt');
    assert.equal(request.stdin, 'in');
    assert.deepEqual(request.args, ['a']);
    assert.deepEqual(request.limits, { timeoutMs: 30_000, cpuTimeMs: 30_000 });
    assert.deepEqual(toExecuteRequest(cylo, { language: 'python', code: '', timeout_ms: 500 }).limits, { timeoutMs: 500 });
    assert.throws(() => toExecuteRequest(cylo, { language: 'python', code: '', files: [{ name: request.files?.[0]?.name ?? '', content: '' }] }), /files\[0\]\.name: .* is where code is saved/);
    void cylo.close();
  });
});

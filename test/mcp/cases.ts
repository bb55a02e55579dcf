// The MCP tool calls every transport must answer the same way: defined once here and run by
// stdio.test.ts (a spawned `cylo mcp`) and http.test.ts (a running `cylo serve`, at /mcp).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { liveProgram, releaseLiveProgram } from '../support/live.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { pngWriterPython, PNG_SIGNATURE } from '../support/png.js';

/** Per-request timeout of the test client: every program here is short. */
export const CALL_TIMEOUT_MS = 20_000;

interface ToolResult {
  content?: unknown;
  structuredContent?: Record<string, unknown> | undefined;
  isError?: boolean | undefined;
}

export function textOf(result: ToolResult): string {
  const content = (result.content ?? []) as { type: string; text?: string }[];
  return content
    .filter((c) => c.type === 'text')
    .map((c) => c.text ?? '')
    .join('\n');
}

interface RunStage {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

function runOf(result: ToolResult): RunStage {
  const run = result.structuredContent?.run as RunStage | null | undefined;
  assert.ok(run, `no run stage in ${JSON.stringify(result.structuredContent)}`);
  return run;
}

export async function runCode(client: Client, args: Record<string, unknown>, onprogress?: (p: Progress) => void, signal?: AbortSignal): Promise<ToolResult> {
  return (await client.callTool({ name: 'run_code', arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS, ...(onprogress === undefined ? {} : { onprogress }), ...(signal === undefined ? {} : { signal }) })) as ToolResult;
}

/** Registers the shared cases (inside a describe); `client()` gives the connected client. */
export function toolCases(client: () => Client): void {
  it('listTools shows run_code, list_runtimes and the session tools with their input and output schemas', async () => {
    const { tools } = await client().listTools();
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['list_runtimes', 'run_code', 'session_close', 'session_create', 'session_list_files', 'session_read_file', 'session_run', 'session_write_file']);
    for (const name of ['session_create', 'session_run', 'session_write_file', 'session_list_files']) assert.ok(tools.find((t) => t.name === name)?.outputSchema, `${name} has an outputSchema`);
    const runCodeTool = tools.find((t) => t.name === 'run_code');
    assert.ok(runCodeTool);
    const props = runCodeTool.inputSchema.properties as Record<string, { type?: string; enum?: string[]; maximum?: number }>;
    assert.deepEqual(Object.keys(props).sort(), ['args', 'code', 'environment', 'files', 'language', 'outputs', 'stdin', 'timeout_ms']);
    assert.deepEqual([...(runCodeTool.inputSchema.required ?? [])].sort(), ['code', 'language']);
    assert.ok(props.language?.enum?.includes('python'), `language enum: ${JSON.stringify(props.language)}`);
    assert.equal(props.timeout_ms?.type, 'integer');
    assert.ok(runCodeTool.outputSchema, 'run_code has an outputSchema');
    const out = runCodeTool.outputSchema.properties as Record<string, { enum?: string[] }>;
    for (const key of ['id', 'language', 'version', 'status', 'compile', 'run', 'layers']) assert.ok(key in out, `outputSchema lacks ${key}`);
    assert.deepEqual(out.status?.enum, ['ok', 'compile_error', 'runtime_error', 'timeout', 'memory_limit', 'output_limit', 'internal_error']);
    const list = tools.find((t) => t.name === 'list_runtimes');
    assert.ok(list?.outputSchema, 'list_runtimes has an outputSchema');
    assert.equal(list.annotations?.readOnlyHint, true);
  });

  it('list_runtimes returns the languages with versions', async () => {
    const result = (await client().callTool({ name: 'list_runtimes', arguments: {} })) as ToolResult;
    assert.notEqual(result.isError, true);
    const runtimes = result.structuredContent?.runtimes as { language: string; version: string | null }[];
    const python = runtimes.find((r) => r.language === 'python');
    assert.ok(python, JSON.stringify(runtimes));
    assert.match(python.version ?? '', /^3\.\d+/);
    assert.match(textOf(result), /python 3\.\d+/);
  });

  it('run_code runs Python and returns its output, in the text and in structuredContent', async () => {
    const result = await runCode(client(), { language: 'python', code: 'print("hello from mcp", 6 * 7)' });
    assert.equal(result.isError, false, textOf(result));
    assert.equal(result.structuredContent?.status, 'ok');
    assert.equal(runOf(result).stdout, 'hello from mcp 42\n');
    const text = textOf(result);
    assert.match(text, /status: ok/);
    assert.match(text, /exit code: 0/);
    assert.match(text, /time: \d+ ms wall clock/);
    assert.match(text, /memory: [\d.]+ (KiB|MiB) peak/);
    assert.match(text, /hello from mcp 42/);
  });

  it('run_code returns a PNG the program wrote as an image block, and a CSV as an embedded text resource', async () => {
    // proves: outputs reach the MCP client as content a model can see (image) or read (resource),
    // with the image found by its bytes and the text file as text, not base64
    const code = `${pngWriterPython('plot.png')}\nopen('data.csv', 'w').write('x,y\\n1,2\\n')`;
    const result = await runCode(client(), { language: 'python', code, outputs: ['*.png', '*.csv'] });
    assert.equal(result.isError, false, textOf(result));
    const content = result.content as Array<{ type: string; data?: string; mimeType?: string; resource?: { uri: string; mimeType?: string; text?: string; blob?: string } }>;
    const image = content.find((c) => c.type === 'image');
    assert.equal(image?.mimeType, 'image/png');
    assert.ok(Buffer.from(image?.data ?? '', 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
    const csv = content.find((c) => c.type === 'resource');
    assert.equal(csv?.resource?.text, 'x,y\n1,2\n');
    assert.match(csv?.resource?.uri ?? '', /^cylo:\/\/execution\/[^/]+\/work\/data\.csv$/);
    assert.match(textOf(result), /--- output files: 2 ---\ndata\.csv \(8 B; a resource block follows\)/);
    assert.match(textOf(result), /plot\.png \(\d+ B; image\/png, an image block follows\)/);
  });

  it('run_code passes stdin, args and extra files, and accepts a language alias', async () => {
    const code = 'import sys, util\nprint(util.shout(sys.stdin.read()), sys.argv[1:])';
    const result = await runCode(client(), { language: 'py', code, stdin: 'quiet', args: ['a', 'b c'], files: [{ name: 'util.py', content: 'def shout(s):\n    return s.upper()\n' }] });
    assert.equal(result.isError, false, textOf(result));
    assert.equal(runOf(result).stdout, "QUIET ['a', 'b c']\n");
  });

  it('a program that exits non-zero comes back with isError and readable text', async () => {
    const result = await runCode(client(), { language: 'python', code: 'import sys\nprint("partial")\nprint("bad input", file=sys.stderr)\nsys.exit(3)' });
    assert.equal(result.isError, true);
    assert.equal(result.structuredContent?.status, 'runtime_error');
    assert.equal(runOf(result).exitCode, 3);
    const text = textOf(result);
    assert.match(text, /status: runtime_error: the program failed with exit code 3/);
    assert.match(text, /exit code: 3/);
    assert.match(text, /partial/);
    assert.match(text, /bad input/);
  });

  it('a program that times out comes back with isError and says so', async () => {
    const result = await runCode(client(), { language: 'python', code: 'import time\nprint("started", flush=True)\ntime.sleep(30)', timeout_ms: 500 });
    assert.equal(result.isError, true);
    assert.equal(result.structuredContent?.status, 'timeout');
    const text = textOf(result);
    assert.match(text, /status: timeout: the program ran past its time limit \(500 ms, timeout_ms\)/);
    assert.match(text, /started/);
  });

  it('a program with a syntax error comes back with isError and the error', async () => {
    const result = await runCode(client(), { language: 'python', code: 'print("unclosed"\n' });
    assert.equal(result.isError, true);
    assert.notEqual(result.structuredContent?.status, 'ok');
    const text = textOf(result);
    assert.match(text, /SyntaxError/);
    assert.match(text, /status: runtime_error/);
  });

  it('an unknown language is rejected with a clear message naming the available ones', async () => {
    const result = await runCode(client(), { language: 'cobol', code: 'DISPLAY "HI".' });
    assert.equal(result.isError, true);
    assert.equal(result.structuredContent, undefined);
    const text = textOf(result);
    assert.match(text, /unknown language "cobol"/);
    assert.match(text, /available languages: .*python/);
    assert.match(text, /CYLO_E_UNKNOWN_LANGUAGE/);
  });

  it('arguments outside the schema are answered with isError naming the field', async () => {
    const result = await runCode(client(), { language: 'python', code: 'print(1)', timeout_ms: 10_000_000 });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /timeout_ms/);
    const missing = await runCode(client(), { language: 'python' });
    assert.equal(missing.isError, true);
    assert.match(textOf(missing), /code/);
  });

  it('a request cylo refuses (a file name leaving the workspace) is isError with the field', async () => {
    const result = await runCode(client(), { language: 'python', code: 'print(1)', files: [{ name: 'ok.txt', content: '' }, { name: '../evil.py', content: 'x' }] });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /files\[1\]\.name: must not contain "\.\."/);
  });

  it('progress notifications carry the output while the program runs', async () => {
    // LIVE_PROGRAM prints "first", then waits for the test's signal, sent only once "first" came
    // in a progress notification: output held back until the end would leave it waiting until
    // its time limit (a timeout result).
    const marker = uniqueMarker('mcplive');
    const seen: { progress: number; message: string }[] = [];
    let released = false;
    const result = await runCode(client(), { language: 'python', code: liveProgram(marker), args: [marker], timeout_ms: 10_000 }, (p) => {
      seen.push({ progress: p.progress, message: p.message ?? '' });
      if (!released && (p.message ?? '').includes('first')) {
        released = true;
        releaseLiveProgram(marker);
      }
    });
    assert.equal(result.isError, false, textOf(result));
    assert.ok(released, `"first" came in a progress notification while the program ran: ${JSON.stringify(seen)}`);
    assert.equal(runOf(result).stdout, 'first\nsecond\n');
    // The server pauses after its last notification so that the SDK client (which drops a
    // notification handled after the response) sees it; on a loaded host it may still lose the
    // last one, so the streamed text must be a prefix of the output, and "first" must be in it.
    const streamed = seen
      .map((s) => s.message)
      .filter((m) => !m.includes('released'))
      .join('');
    assert.ok('first\nsecond\n'.startsWith(streamed) && streamed.startsWith('first\n'), `streamed ${JSON.stringify(seen)}, result ${JSON.stringify(result.structuredContent?.run)}`);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i]?.progress ?? 0) > (seen[i - 1]?.progress ?? 0), 'progress increases');
  });

  it('a call the client cancels stops its program (no process left)', async () => {
    const marker = uniqueMarker('mcpcancel');
    const controller = new AbortController();
    const code = 'import sys, time\nprint("running", sys.argv[1], flush=True)\ntime.sleep(30)';
    const call = runCode(client(), { language: 'python', code, args: [marker], timeout_ms: 20_000 }, (p) => {
      if ((p.message ?? '').includes('running')) controller.abort();
    }, controller.signal);
    await assert.rejects(call, /abort|cancel/i);
    // The sandboxed python (its argv carries the marker) must be gone well before its 20 s limit.
    await waitFor('the cancelled program to be killed', () => processesWith(marker).length === 0);
  });
}

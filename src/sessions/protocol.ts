// The host side of the session driver protocol (drivers: driver-python.ts,
// driver-javascript.ts). Requests go in as one JSON object per line; answers come back as one
// JSON object per line. Everything the driver writes is untrusted (user code shares its process
// and could forge any byte): lines are split under a byte cap (a longer line ends the session),
// parsed with JSON.parse only (never evaluated) and checked against strict schemas with caps on
// every string, so nothing larger or of another shape reaches a caller.
import { z } from 'zod';

/** A request to the driver. `id` matches the answer to its request. */
export type DriverRequest =
  | { id: number; op: 'ping' }
  | { id: number; op: 'exec'; code: string; timeoutMs: number }
  | { id: number; op: 'write'; path: string; content: string }
  | { id: number; op: 'read' | 'delete'; path: string }
  | { id: number; op: 'list' };

/** Caps on what one answer may carry (bytes of text; base64 file content counted as text). */
export interface AnswerCaps {
  /** stdout, stderr, result, error message and traceback each (the run's outputBytes). */
  textChars: number;
  /** A downloaded file's base64 content. */
  contentChars: number;
}

const errorSchema = (max: number) => z.strictObject({ type: z.string().max(200), message: z.string().max(max), traceback: z.string().max(max).optional() });

/** The schema of an answer, given the caps. Unknown keys are refused. */
export function answerSchema(caps: AnswerCaps) {
  const text = z.string().max(caps.textChars);
  return z.strictObject({
    id: z.number().int().nonnegative().nullable(),
    stdout: text.optional(),
    stderr: text.optional(),
    stdoutTruncated: z.boolean().optional(),
    stderrTruncated: z.boolean().optional(),
    result: text.nullable().optional(),
    images: z.array(z.strictObject({ mimeType: z.enum(['image/png']), data: z.string().max(caps.contentChars) })).max(16).optional(),
    error: errorSchema(caps.textChars).nullable().optional(),
    size: z.number().int().nonnegative().optional(),
    content: z.string().max(caps.contentChars).optional(),
    files: z.array(z.strictObject({ path: z.string().max(4096), size: z.number().int().nonnegative(), type: z.enum(['file', 'symlink', 'other']) })).max(10_000).optional(),
  });
}

export type DriverAnswer = z.infer<ReturnType<typeof answerSchema>>;

/** The largest answer line (bytes) for these caps: the five text fields JSON-escaped (a
 *  character becomes at most 6 bytes: \u00XX), base64 (never escaped) of one file or of the
 *  images, and room for the keys and the file list. Bounds what one session's answer can make
 *  the host buffer (with the defaults, 1 MiB output and 16 MiB files: about 75 MiB). */
export function maxAnswerBytes(caps: AnswerCaps): number {
  return 6 * (5 * caps.textChars) + 2 * caps.contentChars + 2 * 1024 * 1024;
}

/**
 * Splits the driver's stdout into lines under a byte cap and parses each one. `onAnswer` gets
 * every valid answer; `onViolation` is called once, with what was wrong, when a line is too
 * long, is not JSON or does not match the schema (the caller ends the session).
 */
export class AnswerReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private broken = false;
  private readonly schema: ReturnType<typeof answerSchema>;

  constructor(
    caps: AnswerCaps,
    private readonly maxLineBytes: number,
    private readonly onAnswer: (answer: DriverAnswer) => void,
    private readonly onViolation: (problem: string) => void,
  ) {
    this.schema = answerSchema(caps);
  }

  push(chunk: Buffer): void {
    let rest = chunk;
    while (!this.broken) {
      const nl = rest.indexOf(0x0a);
      if (nl < 0) {
        this.pending.push(rest);
        this.pendingBytes += rest.length;
        if (this.pendingBytes > this.maxLineBytes) this.violate(`the session driver sent an answer larger than ${this.maxLineBytes} bytes`);
        return;
      }
      const line = Buffer.concat([...this.pending, rest.subarray(0, nl)]);
      this.pending = [];
      this.pendingBytes = 0;
      rest = rest.subarray(nl + 1);
      if (line.length > this.maxLineBytes) return this.violate(`the session driver sent an answer larger than ${this.maxLineBytes} bytes`);
      this.parse(line);
    }
  }

  private parse(line: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      return this.violate('the session driver sent a line that is not JSON (the program wrote to the driver\'s own output channel, or the driver broke)');
    }
    const parsed = this.schema.safeParse(value);
    if (!parsed.success) return this.violate(`the session driver sent an answer of the wrong shape (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})`);
    this.onAnswer(parsed.data);
  }

  private violate(problem: string): void {
    if (this.broken) return;
    this.broken = true;
    this.pending = [];
    this.onViolation(problem);
  }
}

/** One request as the line the driver reads. */
export function encodeRequest(request: DriverRequest): Buffer {
  return Buffer.from(`${JSON.stringify(request)}\n`, 'utf8');
}

// Program output arrives as bytes in arbitrary chunks; every live view (stream events, SSE,
// Piston's streaming, the watcher, MCP progress) shows it as text. One UTF-8 decoder per
// (stage, stream, test case) keeps a multi-byte character split across two chunks whole (the
// cases of a test run write at the same time).
import { StringDecoder } from 'node:string_decoder';

export type OutputStage = 'compile' | 'run';
export type OutputStream = 'stdout' | 'stderr';

export class OutputDecoder {
  private readonly decoders = new Map<string, StringDecoder>();

  /** The text of `data`, minus the bytes of a character that continues in the next chunk. */
  decode(stage: OutputStage, stream: OutputStream, data: Buffer, test?: number): string {
    const key = `${stage}:${stream}:${test ?? ''}`;
    let decoder = this.decoders.get(key);
    if (decoder === undefined) this.decoders.set(key, (decoder = new StringDecoder('utf8')));
    return decoder.write(data);
  }

  /** What is left at the end of the output (an incomplete character, as U+FFFD), per stream;
   *  only `only`'s streams when given. */
  flush(only?: OutputStage): Array<{ stage: OutputStage; stream: OutputStream; text: string; test?: number }> {
    const out: Array<{ stage: OutputStage; stream: OutputStream; text: string; test?: number }> = [];
    for (const [key, decoder] of this.decoders) {
      const [stage, stream, test] = key.split(':') as [OutputStage, OutputStream, string];
      if (only !== undefined && stage !== only) continue;
      this.decoders.delete(key);
      const text = decoder.end();
      if (text !== '') out.push(test === '' ? { stage, stream, text } : { stage, stream, text, test: Number(test) });
    }
    return out;
  }
}

// Output collection under a byte cap: a program's stdout, stderr and a compile stage's artifact
// bundle are kept up to their cap, and the first byte beyond it is reported once (the caller
// stops the sandbox: a program that prints forever must not fill the service's memory).

export class CappedCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** True once more than `cap` bytes arrived (what is kept is the first `cap`). */
  truncated = false;

  /**
   * @param cap bytes kept at most
   * @param onOverflow called once, when the first byte beyond `cap` arrives
   * @param onChunk sees every kept chunk as it arrives (live output)
   */
  constructor(
    private readonly cap: number,
    private readonly onOverflow: () => void,
    private readonly onChunk?: (chunk: Buffer) => void,
    /** false: chunks are counted and passed on, not kept (buffer() is then empty). */
    private readonly retain = true,
  ) {}

  push(chunk: Buffer): void {
    if (this.truncated) return;
    const room = this.cap - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length > 0) {
      if (this.retain) this.chunks.push(kept);
      this.size += kept.length;
      this.onChunk?.(kept);
    }
    if (chunk.length > room) {
      this.truncated = true;
      this.onOverflow();
    }
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

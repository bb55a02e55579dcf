// The host end of the guest agent's framed protocol (native/guest/agent.c has the other end and
// the table of channels), over the Unix socket QEMU connects the virtio-serial port "cylo.job" to.
//   frame: u8 channel, u32 length (little-endian), `length` bytes.
// Everything the guest sends is untrusted (a program may have taken the guest kernel over):
// a frame longer than FRAME_MAX, or a channel this host does not know, ends the channel with a
// protocol error, and the VM is then destroyed; nothing of it is ever parsed beyond its bounds.

/** Largest frame in either direction, in bytes (the agent checks the same bound). */
export const FRAME_MAX = 1 << 20;
/** Host -> guest data frames are cut at this size. */
export const CHUNK_BYTES = 64 * 1024;

/** Channels the guest sends on. */
export type GuestChannel = 'H' | 'O' | 'E' | 'T' | 'A' | 'D' | 'F' | 'C' | 'R';
const GUEST_CHANNELS = new Set<string>(['H', 'O', 'E', 'T', 'A', 'D', 'F', 'C', 'R']);

/** Channels the host sends on: ping, stage, bundle bytes/end, stdin bytes/end, kill, reseed,
 *  signal the program (its number in decimal). */
export type HostChannel = 'P' | 'S' | 'B' | 'b' | 'I' | 'i' | 'K' | 'R' | 'G';

/** One frame for the guest: u8 channel, u32 LE length, the payload. */
export function encodeFrame(channel: HostChannel, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > FRAME_MAX) throw new RangeError(`frame of ${payload.length} bytes (at most ${FRAME_MAX})`);
  const header = Buffer.alloc(5);
  header.write(channel, 0, 'latin1');
  header.writeUInt32LE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Frames for a byte stream on `channel`, cut into CHUNK_BYTES pieces (none for no bytes). */
export function encodeChunks(channel: 'B' | 'I', data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK_BYTES) frames.push(encodeFrame(channel, data.subarray(at, at + CHUNK_BYTES)));
  return frames;
}

/** Splits the guest's byte stream into frames; `onFrame` gets each complete one. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  private failed: string | null = null;

  constructor(private readonly onFrame: (channel: GuestChannel, payload: Buffer) => void) {}

  /** Why the stream was refused (then every later byte is ignored), or null. */
  get error(): string | null {
    return this.failed;
  }

  push(chunk: Buffer): void {
    if (this.failed !== null) return;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const channel = String.fromCharCode(this.buffered[0] as number);
      const length = this.buffered.readUInt32LE(1);
      if (!GUEST_CHANNELS.has(channel)) return this.fail(`unknown channel 0x${(this.buffered[0] as number).toString(16)}`);
      if (length > FRAME_MAX) return this.fail(`a frame of ${length} bytes (at most ${FRAME_MAX})`);
      if (this.buffered.length < 5 + length) return;
      const payload = this.buffered.subarray(5, 5 + length);
      this.buffered = this.buffered.subarray(5 + length);
      this.onFrame(channel as GuestChannel, payload);
    }
  }

  private fail(why: string): void {
    this.failed = `the guest broke the channel protocol: ${why}`;
    this.buffered = Buffer.alloc(0);
  }
}

/** The 'D' frame: the stage's guest cgroup counters once it ended. */
export interface StageDone {
  oomKills: number;
  pidsMax: number;
  memoryPeakBytes: number;
}

/** Parses "oom=N pids=N peak=N code=N"; null when it is anything else. */
export function parseDone(payload: Buffer): StageDone | null {
  const m = /^oom=(\d{1,18}) pids=(\d{1,18}) peak=(\d{1,18}) code=-?\d{1,5}$/.exec(payload.toString('latin1'));
  if (m === null) return null;
  return { oomKills: Number(m[1]), pidsMax: Number(m[2]), memoryPeakBytes: Number(m[3]) };
}

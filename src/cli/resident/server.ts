// The resident's socket (docs/resident.md, docs/security.md "The resident cylo"): a Unix stream
// socket in a directory only its owner can enter (made 0700 when missing; refused when it is a
// symlink, belongs to another user or others can reach it), the socket itself 0600. Connecting to
// a Unix socket needs write permission on it and search permission on its directory, so only the
// resident's own user (and root) can hand it a command: a request runs with the client's files
// and the resident's rights, which are the same user's.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { CyloError } from '../../errors.js';
import { frame, FrameReader, STATUS, STATUS_REPLY, type ResidentStatus } from './frames.js';

const refuse = (message: string): CyloError => new CyloError('CYLO_E_RESIDENT', message, { field: 'CYLO_RESIDENT_SOCKET' });

/** Makes (or checks) the socket's directory: a real directory of this uid, mode 0700 or
 *  stricter. Throws CYLO_E_RESIDENT naming the path and the fix. */
export function prepareSocketDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw refuse(`cannot create the socket directory ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'}); create it (mode 0700) or set CYLO_RESIDENT_SOCKET to a path in one`);
  }
  const st = lstatSync(dir);
  // A symlink or someone else's directory could be swapped to put the socket where another
  // user connects to it (or reads a request); a group- or world-searchable one would let others
  // reach the socket between its creation and its chmod.
  if (!st.isDirectory()) throw refuse(`the socket directory ${dir} is not a directory (a symlink is never followed); remove it or set CYLO_RESIDENT_SOCKET elsewhere`);
  if (st.uid !== process.getuid?.()) throw refuse(`the socket directory ${dir} belongs to uid ${st.uid}, not to this user; use a directory of your own (CYLO_RESIDENT_SOCKET)`);
  if ((st.mode & 0o077) !== 0) throw refuse(`the socket directory ${dir} is reachable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 700 ${dir}`);
}

/** True when a resident answers on `path` (a connection is accepted). */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Listens on `path`, after removing a stale socket a killed resident left (a socket nobody
 *  answers on; anything that is not a socket is refused, never removed). Throws CYLO_E_RESIDENT
 *  when another resident answers there. */
export async function listenOn(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  prepareSocketDir(dirname(path));
  const existing = lstatSync(path, { throwIfNoEntry: false });
  if (existing !== undefined) {
    if (!existing.isSocket()) throw refuse(`${path} exists and is not a socket; remove it or set CYLO_RESIDENT_SOCKET elsewhere`);
    if (await answers(path)) throw refuse(`another resident cylo already listens on ${path} (cylo doctor shows its pid); stop it first, or set CYLO_RESIDENT_SOCKET to another path`);
    unlinkSync(path);
  }
  const server = createServer(onConnection);
  const previous = process.umask(0o177); // the socket is created 0600: never reachable by others, even for a moment
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600);
  return server;
}

/** What the resident on `path` says about itself; undefined when none answers (no socket, a
 *  stale one, or not this user's) within `timeoutMs`. */
export function residentStatus(path: string, timeoutMs = 2000): Promise<ResidentStatus | undefined> {
  return new Promise((resolve) => {
    const s: Socket = connect(path);
    const reader = new FrameReader();
    const give = (value: ResidentStatus | undefined): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => give(undefined), timeoutMs);
    s.once('connect', () => s.write(frame(STATUS, '{}')));
    s.once('error', () => give(undefined));
    s.once('close', () => give(undefined));
    s.on('data', (chunk: Buffer) => {
      try {
        const reply = reader.push(chunk).find((f) => f.kind === STATUS_REPLY);
        if (reply !== undefined) give(JSON.parse(reply.payload.toString('utf8')) as ResidentStatus);
      } catch {
        give(undefined);
      }
    });
  });
}

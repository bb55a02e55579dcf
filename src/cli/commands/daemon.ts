// `cylo daemon`: the resident cylo (docs/resident.md). It listens on a Unix socket of its user
// ($CYLO_RESIDENT_SOCKET, default /run/cylo/resident.sock) and runs the `cylo exec` commands that
// bin/cylo hands to it (./resident/client.ts) with one warm instance: prepared sandboxes and
// pre-started runtimes ready, toolchains resolved, no module to load, so a `cylo exec` costs its
// client's start and the sandboxed run; several at once, up to the instance's concurrency.
// Started explicitly (a terminal, or a service unit), never by `cylo exec`; runs in the foreground until SIGTERM/SIGINT/SIGHUP, then ends the running
// commands (cleaned up as on Ctrl-C), removes its socket and exits 0.
import type { Command } from 'commander';
import { lstatSync, unlinkSync } from 'node:fs';
import { createCylo } from '../../cylo.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { cyloVersion } from '../../version.js';
import { cliConfig } from '../cylo-options.js';
import { configFingerprint } from '../resident/fingerprint.js';
import { listenOn } from '../resident/server.js';
import { serveConnection, type Resident } from '../resident/session.js';
import { configEnv, residentSocketPath } from '../resident/where.js';
import { TERMINATION_SIGNALS } from '../termination.js';

/** Runs the resident until `stop` resolves (a termination signal by default); returns its exit
 *  code. Throws CYLO_E_RESIDENT when the socket cannot be made safely, CYLO_E_CONFIG for a bad
 *  configuration. */
export async function daemonCommand(io: CommandIO, stop: Promise<string> = terminationSignal()): Promise<number> {
  // The resident's configuration is its environment's (CYLO_CONFIG, CYLO_*): the same place a
  // client's comes from, so the two can be compared (fingerprint.ts). No --config flag.
  const config = cliConfig();
  const cylo = createCylo(config.cyloOptions);
  try {
    await cylo.warm();
    const resident: Resident = { cylo, fingerprint: configFingerprint(configEnv(), process.cwd()), version: cyloVersion(), served: 0, capacity: cylo.stats().concurrency, running: new Set() };
    const path = residentSocketPath();
    const server = await listenOn(path, (socket) => serveConnection(socket, resident));
    const inode = lstatSync(path).ino;
    io.stderr.write(`cylo daemon: listening on ${path} (pid ${process.pid}); cylo exec of this user hands its commands here\n`);
    const why = await stop;
    server.close();
    const running = [...resident.running];
    for (const command of running) command.stop();
    await Promise.all(running.map((c) => c.done));
    // Only our own socket: a resident started since on the same path keeps its own.
    if (lstatSync(path, { throwIfNoEntry: false })?.ino === inode) unlinkSync(path);
    io.stderr.write(`cylo daemon: stopped (${why})\n`);
    return 0;
  } finally {
    await cylo.close();
  }
}

/** Resolves with the name of the first SIGTERM, SIGINT or SIGHUP. */
function terminationSignal(): Promise<string> {
  return new Promise((resolve) => {
    const handler = (sig: NodeJS.Signals): void => {
      for (const s of TERMINATION_SIGNALS) process.off(s, handler);
      resolve(sig);
    };
    for (const s of TERMINATION_SIGNALS) process.on(s, handler);
  });
}

/** Declares `cylo daemon` on the program. */
export function register(program: Command): Command {
  return program
    .command('daemon')
    .description('run a resident cylo that `cylo exec` hands its commands to (fast start; docs/resident.md); socket: $CYLO_RESIDENT_SOCKET, default /run/cylo/resident.sock')
    .action(async () => {
      process.exitCode = await daemonCommand(processIO);
    });
}

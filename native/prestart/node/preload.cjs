// cylo's pre-start stub for Node.js (issue 19; docs/security.md "Pre-started runtimes").
//
// A pre-started Node is `node --require THIS ENTRY` started before its request: Node runs its
// whole bootstrap, then this preload, and only then loads ENTRY as the main module (from
// process.argv[1]). Here it blocks reading fd 1000 (PRESTART_HANDOVER_FD in native/prestart.h) for the request's extra arguments; after the
// handover Node goes on exactly as a cold `node ENTRY ARGS...`: it loads the main module
// (CommonJS or ESM), reports uncaught errors and sets the exit code itself, so nothing of this
// stub is on the program's stack.
//
// Trusted only until the handover: it runs with the program's uid, Landlock, seccomp and
// rlimits. It leaves no trace a program relies on: the --require flag is taken out of
// process.execArgv, this file out of require.cache, and it uses only `fs` (loaded by the
// bootstrap already).
'use strict';
(() => {
  const fs = require('fs');
  // Ready: bootstrapped, argv copied (PID 1 may now write the program's argv into this
  // process's command line).
  fs.writeSync(1001, Buffer.from([1]));
  fs.closeSync(1001);
  const chunks = [];
  const buffer = Buffer.allocUnsafe(65536);
  for (;;) {
    let n;
    try {
      n = fs.readSync(1000, buffer, 0, buffer.length, null);
    } catch (error) {
      if (error.code === 'EAGAIN' || error.code === 'EINTR') continue;
      throw error;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  fs.closeSync(1000);
  const data = Buffer.concat(chunks).toString('utf8');
  const args = data === '' ? [] : data.split('\0').slice(0, -1);
  // The last pre-start argument only reserved room for the program's command line.
  process.argv.splice(-1, 1, ...args);
  // `--require THIS` (2 items) is the stub's, not the program's.
  const at = process.execArgv.indexOf('--require');
  if (at >= 0) process.execArgv.splice(at, 2);
  delete require.cache[__filename];
})();

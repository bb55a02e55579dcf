// Loaded into every Node process of the cgroup-v2 test guest (NODE_OPTIONS=--import): moves the
// process into a cgroup of its own, /sys/fs/cgroup/runner/p-<pid>, before any test code runs.
// Why: on cgroup v2 a cgroup that holds processes cannot enable controllers for its children
// (the "no internal processes" rule), so cylo needs a cgroup no other process shares — what a
// systemd service with Delegate=yes gets on a real v2 host. Without this, the test runner's
// parent processes (run-tests.js, node --test) would share the cgroup of every test process.
import { mkdirSync, writeFileSync } from 'node:fs';

const dir = `/sys/fs/cgroup/runner/p-${process.pid}`;
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/cgroup.procs`, String(process.pid));

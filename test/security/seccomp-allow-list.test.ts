// The seccomp filter is default deny (src/sandbox/seccomp/allow-list.ts): in a real sandbox, a
// syscall the kernel has but the allow list leaves out fails with ENOSYS, and the same call
// succeeds with the seccomp layer relaxed, so the refusal is the filter's own (removing the
// allow list — allowing by default — makes the first half fail). Harmless calls only: reading
// the LDT (modify_ldt func 0), the page-cache state of the program's own file (cachestat),
// sysfs(3) (the number of filesystem types), each answered from the caller's own state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { slow } from '../support/slow.js';

const skip = process.arch !== 'x64' ? 'the probe uses x86_64 syscall numbers' : (sandboxSkipReason() ?? false);

const PROBE = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return 'ok' if r >= 0 else os.strerror(ctypes.get_errno()).split()[0] + ':' + str(ctypes.get_errno())
buf = ctypes.create_string_buffer(64)
fd = os.open('/work/main.py', os.O_RDONLY)
rng = (ctypes.c_ulonglong * 2)(0, 0)
stat = (ctypes.c_ulonglong * 5)()
print('modify_ldt', call(154, 0, buf, 64))
print('cachestat', call(451, fd, rng, stat, 0))
print('sysfs', call(139, 3))
print('getpid', call(39))
`;

const probe = async (relax: Array<'seccomp'>): Promise<Record<string, string>> => {
  const r = await run({ language: 'python', code: PROBE, limits: { timeoutMs: slow(10_000) } }, { relax });
  assert.equal(r.status, 'ok', r.run.stderr);
  return Object.fromEntries(r.run.stdout.trim().split('\n').map((l) => l.split(' ') as [string, string]));
};

test('a syscall outside the allow list fails with ENOSYS in the sandbox, and succeeds with seccomp relaxed', { skip, timeout: slow(60_000) }, async () => {
  const enforced = await probe([]);
  const relaxed = await probe(['seccomp']);
  assert.equal(enforced.getpid, 'ok', 'an allowed syscall passes');
  for (const name of ['modify_ldt', 'cachestat', 'sysfs']) {
    assert.match(enforced[name] ?? '', /:38$/, `${name} is ENOSYS under the filter (got ${enforced[name]})`);
    // Without the filter the host kernel answers it (when built with it: a kernel without the
    // syscall also says ENOSYS, which proves nothing, so that case is reported, not asserted).
    if (relaxed[name]?.endsWith(':38') === true) continue;
    assert.equal(relaxed[name], 'ok', `${name} works without the filter (got ${relaxed[name]})`);
  }
  // At least one of them must be implemented by this kernel, or the test proves nothing here.
  assert.ok(['modify_ldt', 'cachestat', 'sysfs'].some((n) => relaxed[n] === 'ok'), `the host kernel implements none of the probes: ${JSON.stringify(relaxed)}`);
});

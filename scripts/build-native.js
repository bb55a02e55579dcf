#!/usr/bin/env node
// Compiles the native sandbox helper (native/*.c, one file per mechanism) with the system C
// compiler into dist/native/cylo-helper. Landlock must be applied between fork and exec and
// rlimits/cgroup membership must be set before bubblewrap starts, which Node cannot do; this
// small C program does exactly that.
//
// It runs as root on the host (outer mode) and as PID 1 of every sandbox (inner mode), so it is
// built hardened: stack protector, fortified libc calls (level 3 where the compiler and libc
// offer it; glibc's features.h lowers it to 2 otherwise), stack-clash probes, control-flow
// protection (x86 CET: endbr64 landing pads and shadow-stack marks, where the compiler offers
// it), format-string checks, full RELRO with immediate binding (the GOT is read-only before
// main), and a position-independent executable. test/unit/helper-hardening.test.ts checks the
// built binary for each. Static PIE is preferred (the binary is also bound into the
// sandbox, where it then needs no loader or libraries); toolchains without static-pie support
// get a dynamic PIE with the same hardening.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const cc = process.env.CC || 'cc';
const output = 'dist/native/cylo-helper';
const sources = readdirSync('native')
  .filter((name) => name.endsWith('.c'))
  .sort()
  .map((name) => `native/${name}`);

const hardening = [
  '-O2', // _FORTIFY_SOURCE needs optimisation
  '-U_FORTIFY_SOURCE', // some compilers predefine it (e.g. to 3): ours, not a redefinition warning
  '-D_FORTIFY_SOURCE=3', // buffer sizes known at run time too (__builtin_dynamic_object_size)
  '-fstack-protector-strong',
  '-fstack-clash-protection',
  '-Wformat',
  '-Wformat-security',
  '-Wl,-z,relro,-z,now',
];
/** Flags only some compilers or architectures accept (e.g. -fcf-protection is x86's): each is
 *  probed with an empty compile and used when accepted. */
const optional = ['-fcf-protection=full'].filter((flag) => {
  const r = spawnSync(cc, ['-Werror', flag, '-x', 'c', '-c', '-o', '/dev/null', '/dev/null'], { encoding: 'utf8' });
  return r.status === 0 && !r.error;
});
const common = ['-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', ...hardening, ...optional, '-fPIE'];
const variants = [
  ['-static-pie'], // no loader, no shared libraries
  ['-pie'], // dynamic PIE where the libc has no static-pie support
];

mkdirSync('dist/native', { recursive: true });
const failures = [];
let built = false;
for (const link of variants) {
  // Quiet unless every variant fails: a missing static-pie is expected on some toolchains.
  const r = spawnSync(cc, [...common, ...link, '-o', output, ...sources], { encoding: 'utf8' });
  if (r.status === 0 && !r.error) {
    built = true;
    break;
  }
  failures.push(`$ ${cc} ${[...common, ...link].join(' ')} ...\n${r.error?.message ?? ''}${r.stderr ?? ''}`);
}
if (!built) {
  console.error(failures.join('\n'));
  console.error(`cylo: could not compile the native helper with "${cc}". Install a C compiler (Debian: apt-get install -y gcc libc6-dev) and run "npm run build:native".`);
  process.exit(1);
}

// The microVM guest agent (native/guest/agent.c): PID 1's job runner inside each guest VM,
// packed into the guest's initramfs (src/microvm/guest-image.ts). Fully static (the guest has no
// libraries of its own outside the read-only runtime image), with the same hardening.
const agent = spawnSync(cc, ['-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', ...hardening, '-static', '-o', 'dist/native/cylo-guest-agent', 'native/guest/agent.c', 'native/guest/channel.c', 'native/guest/cgroup.c', 'native/guest/forward-signal.c'], { encoding: 'utf8' });
if (agent.status !== 0 || agent.error) {
  console.error(`${agent.error?.message ?? ''}${agent.stderr ?? ''}`);
  console.error('cylo: could not compile the microVM guest agent (a static build needs libc6-dev); run "npm run build:native".');
  process.exit(1);
}
// The pre-start stubs (issue 19): trusted code a pre-started runtime runs until its handover,
// bound read-only into every sandbox from next to the helper (src/host-setup.ts prestartDir).
rmSync('dist/native/prestart', { recursive: true, force: true });
cpSync('native/prestart', 'dist/native/prestart', { recursive: true });

// The Java stub is a JVMTI agent (native/prestart/java/agent.c), built as a shared object against
// the installed JDK's jni.h/jvmti.h with the same hardening. Without a JDK there is no Java
// runtime to pre-start: the agent is left out and Java runs cold (src/sandbox/namespace-backend.ts
// checks for the file).
rmSync('dist/native/prestart/java/agent.c', { force: true });
const javac = spawnSync('/bin/sh', ['-c', 'command -v javac >/dev/null && readlink -f "$(command -v javac)"'], { encoding: 'utf8' });
const jdk = javac.status === 0 ? javac.stdout.trim().replace(/\/bin\/javac$/, '') : '';
if (jdk !== '' && existsSync(`${jdk}/include/jvmti.h`)) {
  const so = spawnSync(cc, ['-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', ...hardening, ...optional, '-fPIC', '-shared', '-I', `${jdk}/include`, '-I', `${jdk}/include/linux`, '-o', 'dist/native/prestart/java/libcylo-prestart.so', 'native/prestart/java/agent.c'], { encoding: 'utf8' });
  if (so.status !== 0 || so.error) {
    console.error(`${so.error?.message ?? ''}${so.stderr ?? ''}`);
    console.error('cylo: could not compile the Java pre-start agent (native/prestart/java/agent.c); run "npm run build:native".');
    process.exit(1);
  }
} else {
  rmSync('dist/native/prestart/java', { recursive: true, force: true });
  console.error('cylo: no JDK headers found (javac): Java is not pre-started (install default-jdk-headless and rebuild to pre-start it).');
}

// The Python zygote (issue 19; native/zygote/zygote.c): a CPython extension module the zygote
// process imports (src/sandbox/zygote.ts), built against the system Python's headers with the
// same hardening, with the helper's own landlock.c, util.c and workspace.c compiled in (the
// layers are the helper's code, not copies). Its symbols stay hidden but for PyInit. Kept out of
// the stubs' directory: it is bound only into a zygote's view, never into a sandbox. Without
// the headers (python3-dev) there is no zygote: option `zygote` is then refused at startup.
rmSync('dist/native/zygote', { recursive: true, force: true });
const pyInclude = spawnSync('python3', ['-c', 'import sysconfig; print(sysconfig.get_paths()["include"])'], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin' } });
const include = pyInclude.status === 0 ? pyInclude.stdout.trim() : '';
if (include !== '' && existsSync(`${include}/Python.h`)) {
  mkdirSync('dist/native/zygote', { recursive: true });
  const zsources = ['native/zygote/zygote.c', 'native/zygote/request.c', 'native/zygote/pid1.c', 'native/zygote/runtime.c', 'native/landlock.c', 'native/util.c', 'native/workspace.c'];
  const so = spawnSync(cc, ['-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE', ...hardening, ...optional, '-fPIC', '-shared', '-fvisibility=hidden', '-I', include, '-o', 'dist/native/zygote/_cylo_zygote.so', ...zsources], { encoding: 'utf8' });
  if (so.status !== 0 || so.error) {
    console.error(`${so.error?.message ?? ''}${so.stderr ?? ''}`);
    console.error('cylo: could not compile the Python zygote (native/zygote/zygote.c); run "npm run build:native".');
    process.exit(1);
  }
} else {
  console.error('cylo: no Python headers found (python3-dev): the Python zygote is not built (option zygote needs it).');
}

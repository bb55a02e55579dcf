// Tiny packages made at test time, with no network: a pure-Python wheel, a Python sdist with a
// setup.py of the test's choosing, and an npm tarball (npm pack). The host tools used to pack
// them (python3's zipfile/tarfile, npm pack) run only the test's own harmless files.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function runHost(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr ?? ''}${r.error?.message ?? ''}`);
}

const WHEEL = `
import base64, hashlib, sys, zipfile
out, name, ver, code = sys.argv[1:5]
files = {f'{name}/__init__.py': code, f'{name}-{ver}.dist-info/METADATA': f'Metadata-Version: 2.1\\nName: {name}\\nVersion: {ver}\\n', f'{name}-{ver}.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: cylo-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}
record = []
with zipfile.ZipFile(f'{out}/{name}-{ver}-py3-none-any.whl', 'w') as z:
    for n, c in files.items():
        z.writestr(n, c)
        digest = base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b'=').decode()
        record.append(f'{n},sha256={digest},{len(c)}')
    record.append(f'{name}-{ver}.dist-info/RECORD,,')
    z.writestr(f'{name}-{ver}.dist-info/RECORD', '\\n'.join(record) + '\\n')
`;

/** Writes NAME-VERSION-py3-none-any.whl (module NAME with `code` as its __init__.py) into dir. */
export function makeWheel(dir: string, name: string, version: string, code: string): void {
  runHost('python3', ['-c', WHEEL, dir, name, version, code]);
}

/** Writes NAME-VERSION.tar.gz, an sdist whose setup.py is `setupPy` (it must call setup()). */
export function makeSdist(dir: string, name: string, version: string, setupPy: string, code: string): void {
  const work = mkdtempSync(join(dir, '.sdist-'));
  const root = join(work, `${name}-${version}`);
  mkdirSync(join(root, name), { recursive: true });
  writeFileSync(join(root, 'setup.py'), setupPy);
  writeFileSync(join(root, name, '__init__.py'), code);
  writeFileSync(join(root, 'PKG-INFO'), `Metadata-Version: 1.0\nName: ${name}\nVersion: ${version}\n`);
  runHost('tar', ['czf', join(dir, `${name}-${version}.tar.gz`), '-C', work, `${name}-${version}`]);
  rmSync(work, { recursive: true, force: true });
}

/** Writes NAME-VERSION.tgz (npm pack) of a package with `index` as index.js and `scripts`. */
export function makeNpmTarball(dir: string, name: string, version: string, index: string, scripts: Record<string, string> = {}): void {
  const work = mkdtempSync(join(dir, '.npm-'));
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name, version, main: 'index.js', scripts }));
  writeFileSync(join(work, 'index.js'), index);
  runHost('npm', ['pack', '--silent', '--pack-destination', dir], work);
  rmSync(work, { recursive: true, force: true });
}

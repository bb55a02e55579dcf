// Which paths `cylo watch` ignores: dot-files, dot-directories, dependency folders and the
// temporary files editors write while saving; ordinary source files (also nested) are watched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isIgnoredPath } from '../../src/watch/ignore.js';

test('watch ignore: ordinary source files are watched, at any depth', () => {
  for (const p of ['main.py', 'x.js', 'src/app.ts', join('a', 'b', 'c', 'main.go'), 'my file.rb', 'v1.2.py', '', '.']) {
    assert.equal(isIgnoredPath(p), false, p);
  }
});

test('watch ignore: dot-files and anything inside a dot-directory', () => {
  for (const p of ['.hidden.py', '.env', join('.git', 'HEAD'), join('.git', 'hooks', 'pre-commit.py'), join('.venv', 'lib', 'x.py'), join('src', '.cache', 'a.py'), '.idea']) {
    assert.equal(isIgnoredPath(p), true, p);
  }
});

test('watch ignore: editor temp files (emacs, vim, kate, JetBrains, generic)', () => {
  const temps = [
    '.#x.py', // emacs lock
    'x.py~', // backup
    '#x.py#', // emacs autosave
    '.x.swp', // vim swap
    '.x.py.swp',
    'x.py.swo',
    '4913', // vim's probe file
    join('src', '4913'),
    join('src', '.#main.py'),
    join('src', 'main.py~'),
    'main.py.tmp',
    'main.py.bak',
    'main.py.orig',
    'a.py.kate-swp',
    'main.py___jb_tmp___',
    'main.py___jb_old___',
  ];
  for (const p of temps) assert.equal(isIgnoredPath(p), true, p);
});

test('watch ignore: dependency and build folders', () => {
  for (const p of [join('node_modules', 'x', 'index.js'), join('pkg', '__pycache__', 'a.cpython-312.pyc'), join('target', 'debug', 'main.rs'), 'node_modules']) {
    assert.equal(isIgnoredPath(p), true, p);
  }
});

test('watch ignore: near misses are not ignored', () => {
  // a file merely containing these words, or a number other than vim's probe
  for (const p of ['swap.py', 'tmp.py', 'target.py', 'node_modules_helper.js', '49130', 'x4913', 'a#b.py', 'backup~old.py']) {
    assert.equal(isIgnoredPath(p), false, p);
  }
});

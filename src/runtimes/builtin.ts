// The languages cylo knows out of the box. Adding one is adding an entry here (or in an
// operator's configuration file): see docs/runtimes.md.
import type { RuntimeDefinitionInput } from './definition.js';

export const BUILTIN_RUNTIMES: readonly RuntimeDefinitionInput[] = [
  {
    id: 'python',
    aliases: ['py', 'python3'],
    extension: '.py',
    entry: 'main.py',
    package: 'python3',
    // The system interpreter first (fast to start); otherwise whatever `python3` is on PATH,
    // resolved through pyenv-style shims to the real executable and its prefix tree.
    binary: {
      candidates: ['/usr/bin/python3', 'python3'],
      resolve: ['{bin}', '-c', 'import os,sys; print(os.path.realpath(sys.executable)); print(sys.base_prefix)'],
    },
    version: { argv: ['{bin}', '--version'], pattern: 'Python (\\S+)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
    env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
  },
  {
    id: 'javascript',
    aliases: ['js', 'node', 'nodejs'],
    extension: '.js',
    entry: 'main.js',
    package: 'nodejs',
    binary: { candidates: ['/usr/bin/node', '/usr/local/bin/node', 'node'], resolve: ['{bin}', '-p', 'process.execPath'] },
    version: { argv: ['{bin}', '--version'], pattern: 'v(\\S+)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
    env: { NODE_OPTIONS: '' },
  },
  {
    id: 'bash',
    aliases: ['sh', 'shell'],
    extension: '.sh',
    entry: 'main.sh',
    package: 'bash',
    binary: { candidates: ['/usr/bin/bash', '/bin/bash', 'bash'] },
    version: { argv: ['{bin}', '--version'], pattern: 'version (\\S+?)(?:\\(|-|\\s)' },
    run: { argv: ['{bin}', '{entry}', '{args}'] },
  },
];

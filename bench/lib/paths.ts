// Where things are: the repository root (this file is compiled to dist/bench/lib/).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CYLO_BIN = resolve(REPO_ROOT, 'bin/cylo');
export const DEFAULT_JSON = resolve(REPO_ROOT, 'bench/results/latest.json');

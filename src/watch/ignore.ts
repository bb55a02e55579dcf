// Which paths `cylo watch` ignores: dot-files and dot-directories (.git, .venv, ...),
// dependency folders, and the temporary files editors write while saving.
import { basename, sep } from 'node:path';

const EDITOR_TEMP = [
  /~$/, // emacs/vim/kate backups: main.py~
  /^\.#/, // emacs lock files: .#main.py
  /^#.*#$/, // emacs autosave: #main.py#
  /\.sw[a-p]$/, // vim swap files: .main.py.swp
  /^4913$/, // vim's write-permission probe
  /\.(tmp|temp|bak|orig|part|crdownload)$/i,
  /\.kate-swp$/,
  /___jb_(tmp|old)___$/, // JetBrains safe-write
];

const IGNORED_DIRS = new Set(['node_modules', '__pycache__', 'target']);

/** True for paths the watcher must not run: `relative` is relative to the watched root. */
export function isIgnoredPath(relative: string): boolean {
  if (relative === '' || relative === '.') return false;
  const parts = relative.split(sep);
  for (const part of parts.slice(0, -1)) {
    if (part.startsWith('.') || IGNORED_DIRS.has(part)) return true;
  }
  const name = basename(relative);
  if (IGNORED_DIRS.has(name)) return true;
  if (name.startsWith('.')) return true;
  return EDITOR_TEMP.some((re) => re.test(name));
}

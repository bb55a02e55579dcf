// The one rule for a path inside the workspace (a request's file names, the files of a bundle
// coming out of a sandbox, a runtime's artifact paths): relative, "/" as separator, no NUL or
// control characters, no empty, "." or ".." components, each component at most 255 bytes (the
// kernel's NAME_MAX). native/ applies the same rule again where it writes the files (defence in
// depth: the helper never trusts its input either).

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `name` is not a safe workspace path, in words; undefined when it is. */
export function workspacePathProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (CONTROL.test(name)) return 'must not contain NUL or control characters';
  if (name.startsWith('/')) return 'must be a relative path, not absolute';
  if (name.includes('\\')) return 'must use "/" as separator, not "\\"';
  for (const part of name.split('/')) {
    if (part === '..') return 'must not contain ".." (no leaving the workspace)';
    if (part === '' || part === '.') return 'must not contain empty or "." path components';
    if (Buffer.byteLength(part) > 255) return 'each path component must be at most 255 bytes';
  }
  return undefined;
}

// Per-request compiler options (request field `compilerOptions`, Judge0's `compiler_options`):
// flags a request may add to its compile stage, from an operator-approved allowlist. The
// compiler already runs in the sandbox (no network, read-only toolchain, workspace only), but a
// flag can still make it load and run code that is not the request's source (-fplugin, -B,
// -wrapper, -specs), read files outside the sources (@file, -include, -I), or write where the
// artifact check does not look (-o): such flags are refused by a fixed denylist even when an
// operator's allowlist would match them, and everything not on the allowlist is refused too.
import { CyloError } from '../errors.js';

/** The default allowlist: each entry is a regular expression matched against a whole flag. */
export const DEFAULT_ALLOWED_COMPILER_OPTIONS: readonly string[] = Object.freeze([
  '-O[0-3sg]?',
  '-Ofast',
  '-std=(c|gnu)(89|90|99|9x|11|1x|17|18|2x|23)',
  '-std=(c|gnu)\\+\\+(98|03|0x|11|1y|14|1z|17|2a|20|2b|23)',
  // A macro: an identifier, optionally `=` a value of letters, digits and `_ . + -` (no quotes,
  // spaces, slashes or shell characters: nothing that could name a host path or a file).
  '-D[A-Za-z_][A-Za-z0-9_]{0,63}(=[A-Za-z0-9_.+-]{0,64})?',
  '-U[A-Za-z_][A-Za-z0-9_]{0,63}',
  '-W(all|extra|error|pedantic|shadow|conversion|sign-conversion|unused|no-unused-result|no-unused-variable|no-sign-compare)',
  '-pedantic(-errors)?',
  '-w',
  '-g[0-3]?',
  '-lm',
  '-lpthread',
  '-pthread',
  '-fno-exceptions',
  '-fno-rtti',
  '-ffast-math',
  '-funroll-loops',
  '-fwrapv',
  '-fno-strict-aliasing',
  '-march=native',
]);

/** Refused whatever the allowlist says: each names what it would let the compiler do. */
const DENIED: ReadonlyArray<readonly [RegExp, string]> = [
  [/^@/, 'reads more flags from a file (a way around this list)'],
  [/^-fplugin/, 'loads a compiler plugin: code that is not the request\'s'],
  [/^-B/, 'makes the compiler run its subprograms from another directory'],
  [/^-wrapper/, 'runs the compiler\'s subprograms through another program'],
  [/^--?specs/, 'replaces the compiler driver\'s rules with a file\'s'],
  [/^-(include|imacros|I|iquote|isystem|idirafter|iprefix|iwithprefix|isysroot)|^--sysroot/, 'reads headers from a path outside the sources'],
  [/^-(L|o$|o.|x$|x.|Xlinker|Xassembler|Xpreprocessor|Wl,|Wa,|Wp,)/, 'changes the linker, the assembler, the output or the language'],
  [/^-(save-temps|dumpdir|dumpbase|fdump-|fprofile-|fcallgraph-info|aux-info|M)/, 'writes files beside the artifact'],
];

/** The allowlist compiled once (anchored). Throws CYLO_E_CONFIG for an entry that is not a
 *  valid regular expression (`field`: the option it came from). */
export function compileAllowlist(patterns: readonly string[], field = 'allowedCompilerOptions'): RegExp[] {
  return patterns.map((p, i) => {
    try {
      return new RegExp(`^(?:${p})$`);
    } catch (error) {
      throw new CyloError('CYLO_E_CONFIG', `${field}[${i}]: not a valid regular expression (${(error as Error).message})`, { field: `${field}[${i}]` });
    }
  });
}

/** Joins `-D NAME` and `-U NAME` given as two elements into one flag. */
function joinSplitFlags(options: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const flag = options[i] as string;
    const next = options[i + 1];
    if ((flag === '-D' || flag === '-U') && next !== undefined) {
      out.push(flag + next);
      i++;
    } else out.push(flag);
  }
  return out;
}

/** At most this many flags per request. */
export const MAX_COMPILER_OPTIONS = 32;

/**
 * The request's compiler options checked: every flag on the allowlist and none on the
 * denylist; `-D NAME` given as two elements becomes `-DNAME`. Throws CYLO_E_COMPILER_OPTION
 * naming the flag (and the field, e.g. `compilerOptions[2]`).
 */
export function checkCompilerOptions(options: readonly string[], allow: readonly RegExp[], field = 'compilerOptions'): string[] {
  if (options.length > MAX_COMPILER_OPTIONS) {
    throw new CyloError('CYLO_E_COMPILER_OPTION', `${field}: at most ${MAX_COMPILER_OPTIONS} compiler options (got ${options.length})`, { field });
  }
  const flags = joinSplitFlags(options);
  flags.forEach((flag, i) => {
    const where = `${field}[${i}]`;
    const shown = JSON.stringify(flag.slice(0, 80));
    const denied = DENIED.find(([re]) => re.test(flag));
    if (denied !== undefined) {
      throw new CyloError('CYLO_E_COMPILER_OPTION', `${where}: the compiler option ${shown} is refused: it ${denied[1]}`, { field: where });
    }
    if (!allow.some((re) => re.test(flag))) {
      throw new CyloError('CYLO_E_COMPILER_OPTION', `${where}: the compiler option ${shown} is not on this server's allowlist (optimisation -O0..-O3/-Os, -std=..., -DNAME[=VALUE], warnings, -g, -lm...; see docs/api.md "Compiler options")`, { field: where });
    }
  });
  return flags;
}

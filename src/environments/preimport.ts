// Pre-imported environments (issue 19): which Python modules a pre-started runtime of a named
// environment imports before it waits for its request, so that `import numpy` costs nothing on
// the request's path. Declared by the operator per environment (option `preimport`, config key
// `preimport`, CYLO_PREIMPORT); the built-in datasci pre-imports numpy and pandas by default.
// The runtime side is native/prestart/python/sitecustomize.py, the fit check
// src/sandbox/prestart.ts; what a program can tell is in docs/security.md.
import { z } from 'zod';
import { ENVIRONMENT_NAME, ENVIRONMENT_NAME_RULE } from './types.js';

/** A Python module's dotted name (`numpy`, `matplotlib.pyplot`). */
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}$/;

/** Environment name -> the modules its pre-started runtimes import, in that order. */
export type Preimports = Readonly<Record<string, readonly string[]>>;

/** The default: datasci's two heavy imports (matplotlib is left out: it is slower to import
 *  than both and fewer programs use it). */
export const DEFAULT_PREIMPORTS: Preimports = Object.freeze({ datasci: Object.freeze(['numpy', 'pandas']) });

const moduleList = z.array(z.string().regex(MODULE_NAME, 'expected a Python module name such as numpy or matplotlib.pyplot')).max(32, 'expected at most 32 modules');

/** The option's schema: an object of environment name -> module names. */
export const preimportSchema = z.record(z.string().regex(ENVIRONMENT_NAME, `expected an environment name (${ENVIRONMENT_NAME_RULE})`), moduleList);

/** The text form (CYLO_PREIMPORT, a config file string): `NAME=mod1,mod2;NAME2=mod3`; an empty
 *  list (`datasci=`) turns an environment's pre-imports off. Throws on a malformed item. */
export function parsePreimports(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at <= 0) throw new Error(`"${item}" is not NAME=module,module`);
    out[item.slice(0, at).trim()] = item.slice(at + 1).split(',').map((s) => s.trim()).filter(Boolean);
  }
  return out;
}

/** The config field: an object as in the option, or its text form. */
export const preimportField = z.union([preimportSchema, z.string().transform((s, ctx) => {
  try {
    return parsePreimports(s);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `expected NAME=module,module;NAME=...: ${(error as Error).message}` });
    return z.NEVER;
  }
}).pipe(preimportSchema)]);

/** The pre-imports in force: the defaults with the operator's entries over them. */
export function resolvePreimports(given: Preimports | undefined): Preimports {
  return Object.freeze({ ...DEFAULT_PREIMPORTS, ...given });
}

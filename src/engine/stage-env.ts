// The environment of a stage: the base allowlist (environment.ts), the runtime's
// (and for compile stages the compiler's) variables with their tokens expanded, then the
// request's own (run stage only: a request cannot steer its compiler through the environment).
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { expandEnv, type TokenValues } from '../runtimes/tokens.js';
import { sandboxEnvironment } from './environment.js';

export function stageEnv(runtime: ResolvedRuntime, tokens: TokenValues, stage: 'compile' | 'run', requestEnv: Record<string, string>): Record<string, string> {
  const def = runtime.definition;
  const runtimeEnv = expandEnv(stage === 'compile' ? { ...def.env, ...def.compile?.env } : def.env, tokens);
  return sandboxEnvironment(runtime.binary, runtimeEnv, stage === 'run' ? requestEnv : {});
}

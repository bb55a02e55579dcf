// The program's environment: a small allowlist built from scratch. The host's variables
// (tokens, cloud credentials, CYLO_TOKEN) never enter the sandbox.
import { dirname } from 'node:path';
import { WORKSPACE, WORKSPACE_TMP } from '../backend/backend.js';

const BASE_PATH = '/usr/local/bin:/usr/bin:/bin';

export function sandboxEnvironment(binary: string | undefined, runtimeEnv: Record<string, string>, requestEnv: Record<string, string>): Record<string, string> {
  const binDir = binary === undefined ? undefined : dirname(binary);
  const path = binDir !== undefined && !BASE_PATH.split(':').includes(binDir) ? `${binDir}:${BASE_PATH}` : BASE_PATH;
  return {
    PATH: path,
    HOME: WORKSPACE,
    PWD: WORKSPACE,
    TMPDIR: WORKSPACE_TMP,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    USER: 'sandbox',
    ...runtimeEnv,
    ...requestEnv,
  };
}

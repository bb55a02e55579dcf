// Which languages have a session driver, and the argv that starts it: the driver's source is
// an argument (python -c, node -e), never a file in the workspace, so user code can neither
// read a changed copy nor replace it for a later run.
import { CyloError } from '../errors.js';
import { JAVASCRIPT_DRIVER } from './driver-javascript.js';
import { PYTHON_DRIVER } from './driver-python.js';

/** Runtime ids that have a stateful session driver. */
export const SESSION_LANGUAGES = ['python', 'javascript'] as const;
export type SessionLanguage = (typeof SESSION_LANGUAGES)[number];

export function isSessionLanguage(id: string): id is SessionLanguage {
  return (SESSION_LANGUAGES as readonly string[]).includes(id);
}

/** The driver's argv: `outputBytes` caps each captured stream and result per run, `fileMaxBytes`
 *  each file read or written. Throws CYLO_E_VALIDATION for a language without a driver. */
export function driverArgv(language: string, binary: string, outputBytes: number, fileMaxBytes: number): string[] {
  const caps = [String(outputBytes), String(fileMaxBytes)];
  // -u: unbuffered answers; the interpreter's own flags only (no site tweaks from the env).
  if (language === 'python') return [binary, '-u', '-c', PYTHON_DRIVER, ...caps];
  if (language === 'javascript') return [binary, '-e', JAVASCRIPT_DRIVER, ...caps];
  throw new CyloError('CYLO_E_VALIDATION', `language: sessions are available for ${SESSION_LANGUAGES.join(' and ')}, not ${language}`, { field: 'language' });
}

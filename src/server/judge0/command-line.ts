// Judge0's `command_line_arguments` is one string that Judge0 appends to its run command in a
// shell script. cylo starts programs without a shell, so the string is split into arguments
// here, with the quoting rules of a POSIX shell and nothing else: words are separated by
// whitespace; '...' keeps everything literally; "..." keeps everything but \" \\ \$ \` (which
// lose their backslash); a backslash outside quotes keeps the next character. No expansion of
// any kind ($VAR, $(...), globs, ~) and no operators (; | & > <): they are ordinary characters,
// so `a;b` is one argument. Written here rather than taken from a library because the libraries
// either expand variables and parse operators (shell-quote) or drop backslashes silently.
import { CyloError } from '../../errors.js';

/** Characters a backslash escapes inside double quotes (POSIX). */
const DQUOTE_ESCAPES = new Set(['"', '\\', '$', '`']);

/** Splits `line` into arguments. Throws CYLO_E_VALIDATION (field `field`) for an unterminated
 *  quote or a trailing backslash. */
export function splitCommandLine(line: string, field = 'command_line_arguments'): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  const fail = (why: string): never => {
    throw new CyloError('CYLO_E_VALIDATION', `${field}: ${why}`, { field });
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\' && i + 1 < line.length && DQUOTE_ESCAPES.has(line[i + 1] as string)) current += line[++i];
      else current += ch;
    } else if (/\s/.test(ch)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
    } else {
      inWord = true;
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === '\\') {
        if (i + 1 >= line.length) fail('ends with a backslash that escapes nothing');
        current += line[++i];
      } else current += ch;
    }
  }
  if (quote !== null) fail(`has an unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) args.push(current);
  return args;
}

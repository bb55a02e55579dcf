// Operator-defined languages the tests use (runtimes entries, see docs/runtimes.md).
import type { RuntimeDefinitionInput } from '../../src/runtimes/definition.js';

/**
 * A "compiler" that is a shell script sent with the request (build.sh): it can do anything a
 * compiler could do inside the sandbox (take its time, plant links or directories at the
 * artifact path .build/out), so tests choose what the compile stage does without depending on a
 * real toolchain or the machine's speed. `run` is the run stage's argv (default: print the
 * artifact).
 */
export function scriptCompiler(id = 'script-build', run: string[] = ['/usr/bin/cat', '.build/out']): RuntimeDefinitionInput {
  return {
    id,
    extension: '.sh',
    entry: 'build.sh',
    package: 'bash',
    binary: { candidates: ['/usr/bin/bash'] },
    version: { argv: ['{bin}', '--version'], pattern: 'version (\\S+?)(?:\\(|-|\\s)' },
    compile: { argv: ['{bin}', '{entry}'], artifact: ['.build/out'] },
    run: { argv: run },
  };
}

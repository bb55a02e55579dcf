// Each language's starting text and editor mode, in one place. The ids are cylo's runtime ids
// (GET /v1/runtimes); a language cylo adds later without an entry here gets a plain editor and
// an empty starting text.
import type { Extension } from '@codemirror/state';

const HELLO = 'Hello, world!';

/** Hello world per runtime id. Java's class is Main (cylo names the file after the public class). */
export const HELLO_WORLD: Readonly<Record<string, string>> = {
  python: `print("${HELLO}")\n`,
  javascript: `console.log("${HELLO}");\n`,
  typescript: `const message: string = "${HELLO}";\nconsole.log(message);\n`,
  bash: `echo "${HELLO}"\n`,
  c: `#include <stdio.h>\n\nint main(void) {\n    puts("${HELLO}");\n    return 0;\n}\n`,
  cpp: `#include <iostream>\n\nint main() {\n    std::cout << "${HELLO}" << std::endl;\n    return 0;\n}\n`,
  go: `package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("${HELLO}")\n}\n`,
  rust: `fn main() {\n    println!("${HELLO}");\n}\n`,
  java: `public class Main {\n    public static void main(String[] args) {\n        System.out.println("${HELLO}");\n    }\n}\n`,
  perl: `print "${HELLO}\\n";\n`,
};

/** The editor's syntax mode for a runtime id, loaded on first use (each parser is a chunk of
 *  its own, so the first page load carries none of them); none (plain text) for the others. */
export async function languageMode(id: string): Promise<Extension> {
  switch (id) {
    case 'python':
      return (await import('@codemirror/lang-python')).python();
    case 'javascript':
      return (await import('@codemirror/lang-javascript')).javascript();
    case 'typescript':
      return (await import('@codemirror/lang-javascript')).javascript({ typescript: true });
    case 'c':
    case 'cpp':
      return (await import('@codemirror/lang-cpp')).cpp();
    case 'java':
      return (await import('@codemirror/lang-java')).java();
    case 'rust':
      return (await import('@codemirror/lang-rust')).rust();
    case 'go':
      return (await import('@codemirror/lang-go')).go();
    default:
      return [];
  }
}

/** The starting text of a language ('' when none is defined). */
export function helloWorld(id: string): string {
  return HELLO_WORLD[id] ?? '';
}
